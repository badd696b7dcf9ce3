//! The admin token: a random secret in `ROSEY_HOME/admin.token`, readable
//! by the home's owner only (0600). The first host that serves the admin
//! API makes it; `rosey admin token [--rotate]` prints or replaces it. A
//! running host reads the file at every check, so a rotation takes effect
//! at once and ends every dashboard session.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::home::{RoseyHome, write_private};

/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;
/// What every token starts with, so a leaked one is easy to recognise.
const PREFIX: &str = "rosey_";

/// `n` random bytes from the operating system, as lowercase hex.
pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("the operating system gave no random bytes: {e}"))?;
    Ok(hex::encode(bytes))
}

fn generate() -> Result<String> {
    Ok(format!("{PREFIX}{}", random_hex(TOKEN_BYTES)?))
}

/// The token in `home`, if there is one. A token file that others can read
/// is refused: whoever read it could run the host.
pub fn read(home: &RoseyHome) -> Result<Option<String>> {
    let path = home.admin_token();
    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} can be read by other users (mode {:o}); make it private with `chmod 600 {}`, \
             or replace it with `rosey admin token --rotate`",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        );
    }
    let text =
        fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
    let token = text.trim();
    if token.len() < PREFIX.len() + 32 {
        bail!(
            "{} does not hold a token; replace it with `rosey admin token --rotate`",
            path.display()
        );
    }
    Ok(Some(token.to_owned()))
}

/// The token in `home`, made (0600, never replacing a file that appeared
/// meanwhile) if there is none yet.
pub fn load_or_create(home: &RoseyHome) -> Result<String> {
    if let Some(token) = read(home)? {
        return Ok(token);
    }
    home.ensure()?;
    let path = home.admin_token();
    let token = generate()?;
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match created {
        Ok(mut file) => {
            file.write_all(format!("{token}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("could not write {}", path.display()))?;
            Ok(token)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(home)?.with_context(|| format!("{} vanished while it was read", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("could not create {}", path.display())),
    }
}

/// Replace the token in `home` with a new one (atomically, 0600).
pub fn rotate(home: &RoseyHome) -> Result<String> {
    home.ensure()?;
    let token = generate()?;
    write_private(&home.admin_token(), format!("{token}\n").as_bytes())?;
    Ok(token)
}

/// A token's fingerprint: what sessions remember instead of the token.
pub fn fingerprint(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `given` is `expected`, in time that does not depend on where
/// they differ (both are hashed first, so lengths leak nothing either).
pub fn matches(expected: &str, given: &str) -> bool {
    let (a, b) = (fingerprint(expected), fingerprint(given));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_private_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let home = RoseyHome::new(dir.path().join("home"));
        assert_eq!(read(&home).unwrap(), None);
        let token = load_or_create(&home).unwrap();
        assert!(token.starts_with(PREFIX) && token.len() == PREFIX.len() + 64);
        let mode = fs::metadata(home.admin_token())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&home).unwrap(), token, "made once");
        let rotated = rotate(&home).unwrap();
        assert_ne!(rotated, token);
        assert_eq!(read(&home).unwrap().as_deref(), Some(rotated.as_str()));
        let mode = fs::metadata(home.admin_token())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "a rotated token stays private");
    }

    #[test]
    fn a_token_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = RoseyHome::new(dir.path().join("home"));
        load_or_create(&home).unwrap();
        fs::set_permissions(home.admin_token(), fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&home).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(matches("rosey_abc", "rosey_abc"));
        assert!(!matches("rosey_abc", "rosey_abd"));
        assert!(!matches("rosey_abc", "rosey_ab"));
        assert!(!matches("rosey_abc", ""));
    }
}
