//! SQLite values and their conversions to and from Rust types.

use std::fmt;

use crate::wit::rosey::plugin::sql;
use crate::{Error, Result};

/// A SQLite value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// SQL NULL.
    #[default]
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// The SQL name of this value's type: `null`, `integer`, `real`, `text` or `blob`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }

    fn mismatch(&self, expected: &str) -> Error {
        Error::msg(format!("expected {expected}, found {}", self.type_name()))
    }
}

impl fmt::Display for Value {
    /// SQL-ish rendering: `NULL`, `42`, `1.5`, `text`, `x'00ff'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Real(r) => write!(f, "{r}"),
            Value::Text(t) => f.write_str(t),
            Value::Blob(b) => {
                f.write_str("x'")?;
                b.iter().try_for_each(|byte| write!(f, "{byte:02x}"))?;
                f.write_str("'")
            }
        }
    }
}

impl From<Value> for sql::Value {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => sql::Value::Null,
            Value::Integer(i) => sql::Value::Integer(i),
            Value::Real(r) => sql::Value::Real(r),
            Value::Text(t) => sql::Value::Text(t),
            Value::Blob(b) => sql::Value::Blob(b),
        }
    }
}

impl From<sql::Value> for Value {
    fn from(value: sql::Value) -> Self {
        match value {
            sql::Value::Null => Value::Null,
            sql::Value::Integer(i) => Value::Integer(i),
            sql::Value::Real(r) => Value::Real(r),
            sql::Value::Text(t) => Value::Text(t),
            sql::Value::Blob(b) => Value::Blob(b),
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Integer(i)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Integer(i.into())
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Integer(i.into())
    }
}

impl From<f64> for Value {
    fn from(r: f64) -> Self {
        Value::Real(r)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Integer(b.into())
    }
}

impl From<&str> for Value {
    fn from(t: &str) -> Self {
        Value::Text(t.to_owned())
    }
}

impl From<&String> for Value {
    fn from(t: &String) -> Self {
        Value::Text(t.clone())
    }
}

impl From<String> for Value {
    fn from(t: String) -> Self {
        Value::Text(t)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Blob(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Blob(b.to_vec())
    }
}

impl From<()> for Value {
    fn from((): ()) -> Self {
        Value::Null
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// A Rust type a column [`Value`] converts to, for [`Row::get`](super::Row::get).
///
/// Integers must fit the target type, `bool` reads an integer (non-zero is
/// `true`), `f64` also reads integers, `Vec<u8>` also reads text, and
/// `Option<T>` reads NULL as `None`.
pub trait FromValue: Sized {
    /// Converts `value`, or explains why it does not fit.
    fn from_value(value: &Value) -> Result<Self>;
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Integer(i) => Ok(*i),
            other => Err(other.mismatch("integer")),
        }
    }
}

macro_rules! from_integer {
    ($($ty:ty),*) => {$(
        impl FromValue for $ty {
            fn from_value(value: &Value) -> Result<Self> {
                let i = i64::from_value(value)?;
                <$ty>::try_from(i).map_err(|_| {
                    Error::msg(format!("integer {i} does not fit in {}", stringify!($ty)))
                })
            }
        }
    )*};
}

from_integer!(i32, u32, u64);

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Real(r) => Ok(*r),
            // SQLite stores whole REAL values as integers when it can.
            #[allow(clippy::cast_precision_loss)]
            Value::Integer(i) => Ok(*i as f64),
            other => Err(other.mismatch("real")),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(i64::from_value(value)? != 0)
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(t) => Ok(t.clone()),
            other => Err(other.mismatch("text")),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(other.mismatch("blob")),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_macro_converts_everything() {
        let name = String::from("bob");
        let params = crate::params![
            1_i64,
            2_i32,
            3_u32,
            1.5,
            true,
            "a",
            &name,
            name.clone(),
            vec![1_u8],
            &b"x"[..],
            None::<i64>,
            Some("b"),
            (),
        ];
        assert_eq!(
            params,
            vec![
                Value::Integer(1),
                Value::Integer(2),
                Value::Integer(3),
                Value::Real(1.5),
                Value::Integer(1),
                Value::Text("a".into()),
                Value::Text("bob".into()),
                Value::Text("bob".into()),
                Value::Blob(vec![1]),
                Value::Blob(b"x".to_vec()),
                Value::Null,
                Value::Text("b".into()),
                Value::Null,
            ]
        );
        assert!(crate::params![].is_empty());
    }

    #[test]
    fn from_value_checks_types_and_ranges() {
        assert_eq!(i32::from_value(&Value::Integer(7)).unwrap(), 7);
        assert!(u32::from_value(&Value::Integer(-1)).is_err());
        assert_eq!(f64::from_value(&Value::Integer(2)).unwrap(), 2.0);
        assert!(bool::from_value(&Value::Integer(2)).unwrap());
        assert_eq!(
            String::from_value(&Value::Integer(1))
                .unwrap_err()
                .to_string(),
            "expected text, found integer"
        );
        assert_eq!(Option::<String>::from_value(&Value::Null).unwrap(), None);
        assert_eq!(
            Vec::<u8>::from_value(&Value::Text("hi".into())).unwrap(),
            b"hi"
        );
        assert_eq!(Value::Blob(vec![0, 255]).to_string(), "x'00ff'");
    }
}
