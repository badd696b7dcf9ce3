//! Detached package signatures in the minisign format (Ed25519).
//!
//! A signature of `quote-bot-1.2.0.roseyplug` is the text file
//! `quote-bot-1.2.0.roseyplug.minisig`, byte-for-byte what
//! `minisign -S -m quote-bot-1.2.0.roseyplug` writes, and a signature
//! made here verifies with `minisign -V`. Keys are minisign keys too: a
//! public key is the 56-character base64 line of a `.pub` file.
//!
//! This module only parses, signs and verifies; which keys are trusted and
//! what an unsigned package means is the host's trust policy.

use std::fmt;
use std::io::Cursor;

use ct_codecs::Decoder as _;

/// The suffix of a detached signature file.
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// The largest signature text read (a minisign signature is ~300 bytes;
/// the trusted comment makes up most of the rest).
pub const MAX_SIGNATURE_BYTES: usize = 4096;

/// Why a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key text is not a minisign public key.
    #[error(
        "not a minisign public key: expected the 56-character line of a .pub file \
         (such as one written by `rosey key generate`): {detail}"
    )]
    BadPublicKey {
        /// What was wrong.
        detail: String,
    },
    /// The secret key file cannot be used.
    #[error("the secret key cannot be used: {detail}")]
    BadSecretKey {
        /// What was wrong.
        detail: String,
    },
    /// The signature text is not a minisign signature.
    #[error("the signature is not a minisign signature: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// The signature was made with another key than the one given.
    #[error("the signature was made with key {signed_by}, not with key {expected}")]
    OtherKey {
        /// The key the signature names.
        signed_by: KeyId,
        /// The key it was checked against.
        expected: KeyId,
    },
    /// The signature does not match the bytes: the file was changed after
    /// it was signed, or the signature belongs to another file.
    #[error(
        "the signature does not match the file (key {key}): the file was changed after it was \
         signed, or the signature belongs to another file"
    )]
    Mismatch {
        /// The key it was checked against.
        key: KeyId,
    },
    /// Signing failed.
    #[error("could not sign: {detail}")]
    Sign {
        /// Why.
        detail: String,
    },
}

/// A minisign key id: 8 bytes, shown as 16 hexadecimal digits the way
/// minisign shows them (`minisign public key 1A2B3C4D5E6F7A8B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(KeyId)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

/// A minisign public key.
#[derive(Clone)]
pub struct PublicKey {
    key: minisign::PublicKey,
    id: KeyId,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_base64() == other.to_base64()
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// Parses a public key: the base64 line alone, or a whole `.pub` file
    /// (its `untrusted comment:` line is skipped).
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with("untrusted comment:"))
            .ok_or_else(|| SignatureError::BadPublicKey {
                detail: "the text is empty".into(),
            })?;
        // minisign's parser takes any 42 bytes; an Ed25519 key starts "Ed".
        let decoded = ct_codecs::Base64::decode_to_vec(line, None).unwrap_or_default();
        if !decoded.starts_with(b"Ed") {
            return Err(SignatureError::BadPublicKey {
                detail: "it is not base64 of an Ed25519 minisign key".into(),
            });
        }
        let key =
            minisign::PublicKey::from_base64(line).map_err(|e| SignatureError::BadPublicKey {
                detail: e.to_string(),
            })?;
        Self::new(key)
    }

    fn new(key: minisign::PublicKey) -> Result<Self, SignatureError> {
        let id = KeyId::from_slice(key.keynum()).ok_or_else(|| SignatureError::BadPublicKey {
            detail: "its key id is not 8 bytes".into(),
        })?;
        Ok(Self { key, id })
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The base64 line (what goes into `rosey.yaml`).
    pub fn to_base64(&self) -> String {
        self.key.to_base64()
    }

    /// The whole `.pub` file, as minisign writes it.
    pub fn to_file_text(&self) -> String {
        format!(
            "untrusted comment: minisign public key {}\n{}\n",
            self.id,
            self.to_base64()
        )
    }
}

/// A parsed detached signature.
#[derive(Clone)]
pub struct Signature {
    signature: minisign::SignatureBox,
    key_id: KeyId,
    trusted_comment: String,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature(key {}, {:?})",
            self.key_id, self.trusted_comment
        )
    }
}

impl Signature {
    /// Parses the text of a `.minisig` file (at most
    /// [`MAX_SIGNATURE_BYTES`]).
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let malformed = |detail: String| SignatureError::Malformed { detail };
        if text.len() > MAX_SIGNATURE_BYTES {
            return Err(malformed(format!(
                "{} bytes is more than the {MAX_SIGNATURE_BYTES} allowed",
                text.len()
            )));
        }
        if text.lines().count() != 4 {
            return Err(malformed(format!(
                "it has {} lines; a minisign signature has 4 (untrusted comment, signature, \
                 trusted comment, global signature)",
                text.lines().count()
            )));
        }
        let signature =
            minisign::SignatureBox::from_string(text).map_err(|e| malformed(e.to_string()))?;
        if !signature.is_prehashed() {
            return Err(malformed(
                "it is a legacy (non-prehashed) signature; sign again with a current minisign \
                 or `rosey plugin sign`"
                    .into(),
            ));
        }
        let key_id = KeyId::from_slice(signature.keynum())
            .ok_or_else(|| malformed("its key id is not 8 bytes".into()))?;
        let trusted_comment = signature
            .trusted_comment()
            .map_err(|e| malformed(format!("its trusted comment is unreadable: {e}")))?;
        Ok(Self {
            signature,
            key_id,
            trusted_comment,
        })
    }

    /// The id of the key that made it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The trusted comment: signed together with the file, so it cannot be
    /// changed without breaking the signature.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    /// Checks that this signature of `bytes` was made with `key`.
    pub fn verify(&self, bytes: &[u8], key: &PublicKey) -> Result<(), SignatureError> {
        if self.key_id != key.id {
            return Err(SignatureError::OtherKey {
                signed_by: self.key_id,
                expected: key.id,
            });
        }
        minisign::verify(
            &key.key,
            &self.signature,
            Cursor::new(bytes),
            true,
            false,
            false,
        )
        .map_err(|_| SignatureError::Mismatch { key: key.id })
    }
}

/// A minisign secret key, decrypted.
pub struct SecretKey {
    key: minisign::SecretKey,
    public: Option<PublicKey>,
}

impl SecretKey {
    /// Whether the text of a `.key` file is encrypted with a password.
    pub fn is_encrypted(text: &str) -> Result<bool, SignatureError> {
        let bad = |detail: String| SignatureError::BadSecretKey { detail };
        let line = text
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with("untrusted comment:"))
            .ok_or_else(|| bad("the file is empty".into()))?;
        let bytes = ct_codecs::Base64::decode_to_vec(line, None)
            .map_err(|_| bad("it is not a minisign secret key (bad base64)".into()))?;
        let key = minisign::SecretKey::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
        Ok(key.is_encrypted())
    }

    /// Reads the text of a minisign `.key` file; `password` is needed if it
    /// is encrypted.
    pub fn parse(text: &str, password: Option<String>) -> Result<Self, SignatureError> {
        let boxed = minisign::SecretKeyBox::from_string(text).map_err(|e| {
            SignatureError::BadSecretKey {
                detail: e.to_string(),
            }
        })?;
        let key = match password {
            Some(password) => boxed.into_secret_key(Some(password)),
            None => boxed.into_unencrypted_secret_key(),
        }
        .map_err(|e| SignatureError::BadSecretKey {
            detail: e.to_string(),
        })?;
        let public = minisign::PublicKey::from_secret_key(&key)
            .ok()
            .and_then(|pk| PublicKey::new(pk).ok());
        Ok(Self { key, public })
    }

    /// The matching public key, if it can be derived.
    pub fn public_key(&self) -> Option<&PublicKey> {
        self.public.as_ref()
    }

    /// Signs `bytes`, with `trusted_comment` signed along; returns the text
    /// of the `.minisig` file.
    pub fn sign(&self, bytes: &[u8], trusted_comment: &str) -> Result<String, SignatureError> {
        if trusted_comment.contains(['\n', '\r']) {
            return Err(SignatureError::Sign {
                detail: "the trusted comment must be one line".into(),
            });
        }
        let signature = minisign::sign(
            self.public.as_ref().map(|p| &p.key),
            &self.key,
            Cursor::new(bytes),
            Some(trusted_comment),
            Some("signature from rosey secret key"),
        )
        .map_err(|e| SignatureError::Sign {
            detail: e.to_string(),
        })?;
        Ok(signature.into_string())
    }
}

/// A new key pair: the public key, and the text of its `.key` file
/// (encrypted with `password` if given).
pub fn generate_key(password: Option<String>) -> Result<(PublicKey, String), SignatureError> {
    let failed = |e: minisign::PError| SignatureError::Sign {
        detail: format!("could not generate a key: {e}"),
    };
    let pair = match password {
        Some(password) => minisign::KeyPair::generate_encrypted_keypair(Some(password)),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(failed)?;
    let public = PublicKey::new(pair.pk)?;
    let secret = pair
        .sk
        .to_box(Some("rosey secret key"))
        .map_err(failed)?
        .into_string();
    Ok((public, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (PublicKey, SecretKey) {
        let (public, secret) = generate_key(None).unwrap();
        (public, SecretKey::parse(&secret, None).unwrap())
    }

    #[test]
    fn a_signature_verifies_and_survives_its_text() {
        let (public, secret) = pair();
        let text = secret.sign(b"package bytes", "plugin:echo@0.1.0").unwrap();
        let signature = Signature::parse(&text).unwrap();
        assert_eq!(signature.key_id(), public.id());
        assert_eq!(signature.trusted_comment(), "plugin:echo@0.1.0");
        signature.verify(b"package bytes", &public).unwrap();
        let again = PublicKey::parse(&public.to_file_text()).unwrap();
        assert_eq!(again, public);
        signature.verify(b"package bytes", &again).unwrap();
    }

    #[test]
    fn a_changed_file_or_another_key_is_refused() {
        let (public, secret) = pair();
        let (other, _) = pair();
        let text = secret.sign(b"package bytes", "c").unwrap();
        let signature = Signature::parse(&text).unwrap();
        assert!(matches!(
            signature.verify(b"package bytez", &public),
            Err(SignatureError::Mismatch { .. })
        ));
        assert!(matches!(
            signature.verify(b"package bytes", &other),
            Err(SignatureError::OtherKey { .. })
        ));
    }

    #[test]
    fn a_tampered_trusted_comment_is_refused() {
        let (public, secret) = pair();
        let text = secret.sign(b"bytes", "plugin:echo@0.1.0").unwrap();
        let tampered = text.replace("plugin:echo@0.1.0", "plugin:echo@9.9.9");
        let signature = Signature::parse(&tampered).unwrap();
        assert!(signature.verify(b"bytes", &public).is_err());
    }

    #[test]
    fn encrypted_keys_need_their_password() {
        let (public, secret) = generate_key(Some("hunter2".into())).unwrap();
        assert!(SecretKey::is_encrypted(&secret).unwrap());
        assert!(SecretKey::parse(&secret, None).is_err());
        assert!(SecretKey::parse(&secret, Some("wrong".into())).is_err());
        let key = SecretKey::parse(&secret, Some("hunter2".into())).unwrap();
        let text = key.sign(b"x", "c").unwrap();
        Signature::parse(&text)
            .unwrap()
            .verify(b"x", &public)
            .unwrap();
        let (_, plain) = generate_key(None).unwrap();
        assert!(!SecretKey::is_encrypted(&plain).unwrap());
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let (_, secret) = pair();
        let good = secret.sign(b"x", "c").unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let cases = [
            String::new(),
            "untrusted comment: x\n".into(),
            "a\nb\nc\nd\n".into(),
            format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]),
            format!("{}\nAAAA\n{}\n{}\n", lines[0], lines[2], lines[3]),
            format!("{}\n{}\ntrusted comment: \n!!!!\n", lines[0], lines[1]),
            format!(
                "{}\n{}\nnot a trusted comment\n{}\n",
                lines[0], lines[1], lines[3]
            ),
            "x".repeat(MAX_SIGNATURE_BYTES + 1),
            good.replace(lines[1], &lines[1][..lines[1].len() - 4]),
        ];
        for case in cases {
            assert!(Signature::parse(&case).is_err(), "accepted {case:?}");
        }
        for key in ["", "RWQ", "untrusted comment: x\n", &"A".repeat(56), "RWQ€"] {
            assert!(PublicKey::parse(key).is_err(), "accepted {key:?}");
        }
        assert!(SecretKey::parse("not a key", None).is_err());
    }

    #[test]
    fn key_ids_print_as_minisign_prints_them() {
        let id = KeyId([0x8b, 0x7a, 0x6f, 0x5e, 0x4d, 0x3c, 0x2b, 0x1a]);
        assert_eq!(id.to_string(), "1A2B3C4D5E6F7A8B");
    }
}
