//! Query results: [`Rows`] of [`Row`]s, read by column index or name.

use std::rc::Rc;

use super::{FromValue, Value};
use crate::wit::rosey::plugin::sql;
use crate::{Context, Error, Result};

/// The rows a query returned, with their column names.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    columns: Rc<[String]>,
    rows: Vec<Row>,
}

impl Rows {
    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the query returned no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&Row> {
        self.rows.get(index)
    }

    /// The rows, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Row> {
        self.rows.iter()
    }
}

impl From<sql::RowSet> for Rows {
    fn from(set: sql::RowSet) -> Self {
        let columns: Rc<[String]> = set.columns.into();
        let rows = set
            .rows
            .into_iter()
            .map(|values| Row {
                columns: Rc::clone(&columns),
                values: values.into_iter().map(Value::from).collect(),
            })
            .collect();
        Rows { columns, rows }
    }
}

impl IntoIterator for Rows {
    type Item = Row;
    type IntoIter = std::vec::IntoIter<Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a Row;
    type IntoIter = std::slice::Iter<'a, Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

/// One row of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Rc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// The value of a column, by index (`0`) or name (`"text"`), converted to `T`.
    pub fn get<T: FromValue>(&self, column: impl ColumnIndex) -> Result<T> {
        let index = column.index(&self.columns)?;
        let value = self
            .values
            .get(index)
            .ok_or_else(|| Error::msg(format!("no column {index}")))?;
        T::from_value(value).with_context(|| match self.columns.get(index) {
            Some(name) => format!("column {index} (`{name}`)"),
            None => format!("column {index}"),
        })
    }

    /// The raw value of a column, if it exists.
    pub fn value(&self, column: impl ColumnIndex) -> Option<&Value> {
        self.values.get(column.index(&self.columns).ok()?)
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How many columns the row has.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Names a column of a [`Row`]: a `usize` index or a `&str` column name.
pub trait ColumnIndex {
    /// The index of this column among `columns`.
    fn index(&self, columns: &[String]) -> Result<usize>;
}

impl ColumnIndex for usize {
    fn index(&self, columns: &[String]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::msg(format!(
                "no column {self} (the row has {})",
                columns.len()
            )))
        }
    }
}

impl ColumnIndex for &str {
    fn index(&self, columns: &[String]) -> Result<usize> {
        columns
            .iter()
            .position(|name| name.eq_ignore_ascii_case(self))
            .ok_or_else(|| Error::msg(format!("no column named `{self}`")))
    }
}

impl ColumnIndex for &String {
    fn index(&self, columns: &[String]) -> Result<usize> {
        self.as_str().index(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        Rows::from(sql::RowSet {
            columns: vec!["id".into(), "text".into()],
            rows: vec![
                vec![sql::Value::Integer(1), sql::Value::Text("one".into())],
                vec![sql::Value::Integer(2), sql::Value::Null],
            ],
        })
    }

    #[test]
    fn get_by_index_and_name() {
        let rows = rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.columns(), ["id", "text"]);
        let first = rows.get(0).unwrap();
        assert_eq!(first.get::<i64>(0).unwrap(), 1);
        assert_eq!(first.get::<String>("TEXT").unwrap(), "one");
        let texts: Vec<Option<String>> = rows.iter().map(|r| r.get("text").unwrap()).collect();
        assert_eq!(texts, [Some("one".into()), None]);
    }

    #[test]
    fn errors_name_the_column() {
        let rows = rows();
        let second = &rows.get(1).unwrap();
        let error = second.get::<String>("text").unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "column 1 (`text`): expected text, found null"
        );
        assert!(second.get::<i64>(5).is_err());
        assert!(second.get::<i64>("nope").is_err());
    }
}
