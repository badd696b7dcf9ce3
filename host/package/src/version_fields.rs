//! Deserializers for semver fields that explain the usual YAML mistakes
//! (`version: 1.2` is a float, `rosey_api: 0.1` too).

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

use super::name::quote_for_error;

/// A `semver::Version` from a string, with a hint when YAML read a number.
pub(crate) fn version<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<semver::Version, D::Error> {
    struct VersionVisitor;
    impl Visitor<'_> for VersionVisitor {
        type Value = semver::Version;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a semantic version such as 1.2.0")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            semver::Version::parse(text).map_err(|err| {
                E::custom(format!(
                    "invalid version {}: expected a semantic version such as 1.2.0 ({err})",
                    quote_for_error(text)
                ))
            })
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "invalid version {n}: a version has three parts, such as {n}.0.0"
            )))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "invalid version {n}: expected a semantic version such as 1.2.0"
            )))
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "invalid version {n}: a version has three parts, such as {n}.0"
            )))
        }
    }
    deserializer.deserialize_any(VersionVisitor)
}

/// A `semver::VersionReq` from a string, with a hint when YAML read a number.
pub(crate) fn version_req<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<semver::VersionReq, D::Error> {
    struct ReqVisitor;
    impl Visitor<'_> for ReqVisitor {
        type Value = semver::VersionReq;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a version requirement such as \"^0.1\"")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            semver::VersionReq::parse(text).map_err(|err| {
                E::custom(format!(
                    "invalid version requirement {}: expected something like \"^0.1\" or \">=1.0, <2\" ({err})",
                    quote_for_error(text)
                ))
            })
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "invalid version requirement {n}: quote it, such as \"^{n}\""
            )))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "invalid version requirement {n}: quote it, such as \"^0.1\""
            )))
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "invalid version requirement {n}: quote it, such as \"^{n}\""
            )))
        }
    }
    deserializer.deserialize_any(ReqVisitor)
}
