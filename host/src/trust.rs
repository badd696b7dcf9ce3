//! Who signed a package, and whether that is enough to install it.
//!
//! The operator lists the keys they trust in `rosey.yaml`:
//!
//! ```yaml
//! trust:
//!   policy: require          # or warn (the default)
//!   keys:
//!     - name: alice
//!       key: RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3
//! ```
//!
//! A signature that does not verify is always refused, whatever the
//! policy: it means the file was changed after signing. A package that is
//! unsigned, or signed by a key not listed, is installed with a warning
//! under `warn` and refused under `require`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::package::{KeyId, PublicKey, Signature, SignatureError};

/// What to do with a package no trusted key signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Install it, saying that it is unsigned.
    #[default]
    Warn,
    /// Refuse it.
    Require,
}

impl Policy {
    /// `warn` or `require`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Warn => "warn",
            Policy::Require => "require",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "warn" => Ok(Policy::Warn),
            "require" => Ok(Policy::Require),
            other => Err(format!(
                "invalid trust policy {other:?}: expected warn (install unsigned plugins with a \
                 warning) or require (refuse them)"
            )),
        }
    }
}

/// A key the operator trusts, with the name shown for what it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// Who the key belongs to, as the operator calls them.
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

/// The trust settings: the policy and the trusted keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trust {
    /// What to do with unsigned packages.
    pub policy: Policy,
    /// The keys whose signatures count.
    pub keys: Vec<TrustedKey>,
}

/// Who signed a package, as recorded in its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// The trusted key's name in `rosey.yaml`.
    pub name: String,
    /// The key's id (16 hex digits, as minisign shows it).
    pub key_id: String,
    /// The signature's trusted comment.
    pub comment: String,
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (key {})", self.name, self.key_id)
    }
}

/// What checking a package's signature found, before the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A trusted key signed it.
    Signed(Signer),
    /// It has no signature.
    Unsigned,
    /// A valid-looking signature by a key the operator does not trust
    /// (it cannot be checked without the key).
    UnknownKey(KeyId),
}

/// Why a package's signature or the policy refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The signature does not verify (or cannot be read).
    #[error("refused: bad signature: {0}; nothing was installed")]
    BadSignature(SignatureError),
    /// The policy requires a trusted signature and there is none.
    #[error(
        "refused: {what}, and trust.policy in rosey.yaml is require: install a package signed \
         by a trusted key, or trust its signer's key (trust.keys)"
    )]
    Untrusted {
        /// What is missing, in words.
        what: String,
    },
}

/// What the policy decided about a package it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// Who signed it, if a trusted key did.
    pub signer: Option<Signer>,
    /// What to tell the operator, if it is admitted without a trusted
    /// signature.
    pub warning: Option<String>,
}

impl Verdict {
    /// The verdict in words.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Signed(signer) => format!("signed by {signer}"),
            Verdict::Unsigned => "it is not signed".into(),
            Verdict::UnknownKey(id) => {
                format!("it is signed by key {id}, which is not among the trusted keys")
            }
        }
    }
}

impl Trust {
    /// Checks `signature` (the text of a `.minisig`, if there is one) of
    /// `bytes` against the trusted keys. A signature that does not verify
    /// is an error whatever the policy.
    pub fn verify(&self, bytes: &[u8], signature: Option<&str>) -> Result<Verdict, TrustError> {
        let Some(text) = signature else {
            return Ok(Verdict::Unsigned);
        };
        let signature = Signature::parse(text).map_err(TrustError::BadSignature)?;
        let Some(trusted) = self.keys.iter().find(|k| k.key.id() == signature.key_id()) else {
            return Ok(Verdict::UnknownKey(signature.key_id()));
        };
        signature
            .verify(bytes, &trusted.key)
            .map_err(TrustError::BadSignature)?;
        Ok(Verdict::Signed(Signer {
            name: trusted.name.clone(),
            key_id: trusted.key.id().to_string(),
            comment: signature.trusted_comment().to_owned(),
        }))
    }

    /// Applies the policy to a verdict.
    pub fn admit(&self, verdict: Verdict) -> Result<Admitted, TrustError> {
        match (verdict, self.policy) {
            (Verdict::Signed(signer), _) => Ok(Admitted {
                signer: Some(signer),
                warning: None,
            }),
            (other, Policy::Require) => Err(TrustError::Untrusted {
                what: other.describe(),
            }),
            (other, Policy::Warn) => Ok(Admitted {
                signer: None,
                warning: Some(format!(
                    "{}: nobody you trust vouches for this file; set trust.policy: require in \
                     rosey.yaml to refuse such plugins",
                    other.describe()
                )),
            }),
        }
    }

    /// [`verify`](Self::verify), then [`admit`](Self::admit).
    pub fn check(&self, bytes: &[u8], signature: Option<&str>) -> Result<Admitted, TrustError> {
        self.admit(self.verify(bytes, signature)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{SecretKey, generate_key};

    fn signer(name: &str) -> (TrustedKey, SecretKey) {
        let (public, secret) = generate_key(None).unwrap();
        (
            TrustedKey {
                name: name.into(),
                key: public,
            },
            SecretKey::parse(&secret, None).unwrap(),
        )
    }

    #[test]
    fn policies_decide_only_what_no_trusted_key_signed() {
        let (alice, alice_secret) = signer("alice");
        let (_, mallory_secret) = signer("mallory");
        let signed = alice_secret.sign(b"pkg", "c").unwrap();
        let foreign = mallory_secret.sign(b"pkg", "c").unwrap();
        for policy in [Policy::Warn, Policy::Require] {
            let trust = Trust {
                policy,
                keys: vec![alice.clone()],
            };
            let ok = trust.check(b"pkg", Some(&signed)).unwrap();
            assert_eq!(ok.signer.unwrap().name, "alice");
            assert!(ok.warning.is_none());
            // A bad signature is refused under either policy.
            let bad = trust.check(b"pkg!", Some(&signed)).unwrap_err();
            assert!(matches!(bad, TrustError::BadSignature(_)), "{bad}");
            let garbage = trust.check(b"pkg", Some("nonsense")).unwrap_err();
            assert!(matches!(garbage, TrustError::BadSignature(_)), "{garbage}");
            for signature in [None, Some(foreign.as_str())] {
                let result = trust.check(b"pkg", signature);
                match policy {
                    Policy::Warn => assert!(result.unwrap().warning.is_some()),
                    Policy::Require => {
                        let err = result.unwrap_err().to_string();
                        assert!(err.contains("policy in rosey.yaml is require"), "{err}");
                    }
                }
            }
        }
    }

    #[test]
    fn policies_parse_and_explain_themselves() {
        assert_eq!("require".parse::<Policy>().unwrap(), Policy::Require);
        assert!(
            "strict"
                .parse::<Policy>()
                .unwrap_err()
                .contains("expected warn")
        );
        assert_eq!(Policy::default(), Policy::Warn);
    }
}
