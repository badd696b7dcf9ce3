//! The error type every fallible SDK call returns, and helpers to build one.

use std::fmt;

use crate::wit::rosey::plugin::types::Error as HostError;

/// The result of a fallible SDK call or plugin handler.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why something failed: a host call that was refused, or an error of the
/// plugin's own.
///
/// The first five variants mirror the host's `error` variant, so a plugin can
/// tell "you may not" ([`Error::Denied`]) from "try again later"
/// ([`Error::Unavailable`], [`Error::Limit`]):
///
/// ```no_run
/// # use rosey_sdk::{Error, Result, sql};
/// # fn f() -> Result<()> {
/// match sql::execute("DELETE FROM quotes", vec![]) {
///     Ok(n) => rosey_sdk::info!("deleted {n} quotes"),
///     Err(Error::Denied(permission)) => rosey_sdk::warn!("not granted: {permission}"),
///     Err(e) => return Err(e.context("clearing quotes")),
/// }
/// # Ok(()) }
/// ```
///
/// `{}` shows the outermost message, `{:#}` the whole chain
/// (`adding quote: limit reached: storage quota`); a handler's error reaches
/// the host as the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The plugin was not granted the permission a call needs (the string
    /// names it, e.g. `database_access`).
    Denied(String),
    /// An argument was malformed: a bad subject, bad SQL, a bad key.
    Invalid(String),
    /// A resource limit was hit: rate, size, storage quota, deadline.
    Limit(String),
    /// A service the host depends on is unavailable (NATS down, a request
    /// timed out).
    Unavailable(String),
    /// Any other host failure, with a human-readable explanation.
    Other(String),
    /// An error of the plugin's own (see [`Error::msg`] and [`bail!`](crate::bail)).
    Message(String),
    /// An error with a note on what was being done (see [`Context`]).
    Context {
        /// What was being done, e.g. `adding quote`.
        context: String,
        /// The error it caused.
        source: Box<Error>,
    },
}

impl Error {
    /// A plugin error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::Message(message.to_string())
    }

    /// Wraps this error with a note on what was being done.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error::Context {
            context: context.to_string(),
            source: Box::new(self),
        }
    }

    /// The innermost error, under any [`Error::Context`] wrappers: match on
    /// this to learn the kind of a wrapped error.
    pub fn root(&self) -> &Error {
        let mut error = self;
        while let Error::Context { source, .. } = error {
            error = source;
        }
        error
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Denied(permission) => write!(f, "permission denied: {permission}"),
            Error::Invalid(message) => write!(f, "invalid argument: {message}"),
            Error::Limit(message) => write!(f, "limit reached: {message}"),
            Error::Unavailable(message) => write!(f, "unavailable: {message}"),
            Error::Other(message) | Error::Message(message) => f.write_str(message),
            Error::Context { context, source } => {
                f.write_str(context)?;
                if f.alternate() {
                    write!(f, ": {source:#}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Context { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<HostError> for Error {
    fn from(error: HostError) -> Self {
        match error {
            HostError::Denied(s) => Error::Denied(s),
            HostError::Invalid(s) => Error::Invalid(s),
            HostError::Limit(s) => Error::Limit(s),
            HostError::Unavailable(s) => Error::Unavailable(s),
            HostError::Other(s) => Error::Other(s),
        }
    }
}

/// Errors of the standard library and `serde_json` become [`Error::Message`],
/// so `?` works on them in a handler.
macro_rules! from_display {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(error: $ty) -> Self {
                Error::msg(error)
            }
        }
    )*};
}

from_display!(
    serde_json::Error,
    std::io::Error,
    std::str::Utf8Error,
    std::string::FromUtf8Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::num::TryFromIntError,
    std::str::ParseBoolError,
    std::time::SystemTimeError,
    std::fmt::Error,
);

/// Adds a note on what was being done to the error of a `Result`, or turns a
/// `None` into an error.
///
/// ```no_run
/// # use rosey_sdk::prelude::*;
/// # fn f() -> Result<()> {
/// let limit: u32 = config::get("limit").context("reading config")?.context("`limit` is not set")?;
/// # Ok(()) }
/// ```
pub trait Context<T> {
    /// Wraps the error (or `None`) with `context`.
    fn context(self, context: impl fmt::Display) -> Result<T>;

    /// Wraps the error (or `None`) with a note computed only on failure.
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(context()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::msg(context()))
    }
}

/// Returns early with an [`Error::Message`] built like `format!`.
///
/// ```
/// # use rosey_sdk::{bail, Result};
/// fn parse_id(text: &str) -> Result<i64> {
///     match text.parse() {
///         Ok(id) if id > 0 => Ok(id),
///         _ => bail!("not a quote number: {text:?}"),
///     }
/// }
/// # assert!(parse_id("x").is_err());
/// ```
#[macro_export]
macro_rules! bail {
    ($($arg:tt)+) => {
        return ::core::result::Result::Err($crate::Error::msg(::std::format!($($arg)+)))
    };
}

/// Returns early with an [`Error::Message`] unless the condition holds.
///
/// ```
/// # use rosey_sdk::{ensure, Result};
/// fn check(text: &str) -> Result<()> {
///     ensure!(text.len() <= 500, "quote is too long ({} bytes)", text.len());
///     Ok(())
/// }
/// # assert!(check("ok").is_ok());
/// ```
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::bail!($($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_outer_message_alternate_shows_chain() {
        let error = Error::Limit("storage quota".into())
            .context("inserting row")
            .context("adding quote");
        assert_eq!(error.to_string(), "adding quote");
        assert_eq!(
            format!("{error:#}"),
            "adding quote: inserting row: limit reached: storage quota"
        );
        assert_eq!(error.root(), &Error::Limit("storage quota".into()));
    }

    #[test]
    fn host_errors_keep_their_kind() {
        let error = Error::from(HostError::Denied("database_access".into()));
        assert_eq!(error, Error::Denied("database_access".into()));
        assert_eq!(error.to_string(), "permission denied: database_access");
    }

    #[test]
    fn context_on_option_and_result() {
        let none: Option<u8> = None;
        assert_eq!(none.context("missing").unwrap_err(), Error::msg("missing"));
        let parsed: Result<u8> = "x".parse::<u8>().context("parsing");
        assert!(format!("{:#}", parsed.unwrap_err()).starts_with("parsing: invalid digit"));
    }
}
