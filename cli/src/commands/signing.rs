//! Signatures: `rosey key generate`, `rosey plugin sign`, `rosey plugin
//! verify`. Keys and signatures are minisign's, so `minisign -V` checks
//! what `rosey plugin sign` made and the other way round.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use rosey_host::package::{Package, PublicKey, SIGNATURE_SUFFIX, SecretKey, generate_key};
use rosey_host::source::read_signature;
use rosey_host::trust::{Policy, Trust, TrustedKey, Verdict};
use serde::Serialize;

use super::Context;
use crate::output::{OutputFormat, print_json};

/// Where a key's password comes from when there is no terminal to ask on.
const PASSWORD_ENV: &str = "ROSEY_KEY_PASSWORD";

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a signing key pair: NAME.key (secret, keep it safe) and
    /// NAME.pub (give it to operators, who trust it in rosey.yaml).
    Generate(Generate),
}

impl KeyCommand {
    pub fn run(self, ctx: &Context) -> Result<()> {
        match self {
            Self::Generate(generate) => generate.run(ctx),
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey key generate alice                  # alice.key (asks for a password) and alice.pub
  rosey key generate ci --no-password       # for a CI job that signs releases

The password can also come from ROSEY_KEY_PASSWORD (for generate and sign).")]
pub struct Generate {
    /// The key's name: the files are NAME.key and NAME.pub.
    #[arg(default_value = "rosey")]
    name: String,
    /// Where to write the files [default: the current directory].
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Leave the secret key unencrypted (for automated signing; protect the
    /// file instead).
    #[arg(long)]
    no_password: bool,
}

#[derive(Serialize)]
struct Generated {
    secret_key: PathBuf,
    public_key: PathBuf,
    key_id: String,
    public_key_base64: String,
    encrypted: bool,
}

impl Generate {
    fn run(self, ctx: &Context) -> Result<()> {
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            || self.name.starts_with('.')
        {
            bail!(
                "invalid key name {:?}: use letters, digits, '-', '_' and '.', such as alice",
                self.name
            );
        }
        let secret_path = self.dir.join(format!("{}.key", self.name));
        let public_path = self.dir.join(format!("{}.pub", self.name));
        for path in [&secret_path, &public_path] {
            if path.exists() {
                bail!(
                    "{} already exists; a new key would orphan every signature made with it. \
                     Choose another name, or move the old files away first",
                    path.display()
                );
            }
        }
        let password = if self.no_password {
            None
        } else {
            Some(new_password()?)
        };
        let encrypted = password.is_some();
        let (public, secret) = generate_key(password)?;
        rosey_host::home::write_private(&secret_path, secret.as_bytes())?;
        std::fs::write(&public_path, public.to_file_text())
            .with_context(|| format!("could not write {}", public_path.display()))?;
        let report = Generated {
            secret_key: secret_path,
            public_key: public_path,
            key_id: public.id().to_string(),
            public_key_base64: public.to_base64(),
            encrypted,
        };
        match ctx.output {
            OutputFormat::Json => print_json(&report),
            OutputFormat::Text => {
                println!(
                    "Wrote {} (secret{}, mode 0600: keep it safe) and {} (public)",
                    report.secret_key.display(),
                    if encrypted {
                        ", encrypted"
                    } else {
                        ", NOT encrypted"
                    },
                    report.public_key.display()
                );
                println!(
                    "Key id {}. To trust it, add to rosey.yaml (rosey config edit):",
                    report.key_id
                );
                println!("trust:");
                println!("  keys:");
                println!("    - name: {}", self.name);
                println!("      key: {}", report.public_key_base64);
                println!(
                    "Sign a package with: rosey plugin sign FILE.roseyplug --key {}",
                    report.secret_key.display()
                );
                Ok(())
            }
        }
    }
}

/// A new key's password: ROSEY_KEY_PASSWORD, or asked twice.
fn new_password() -> Result<String> {
    if let Some(password) = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()) {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "a new key needs a password, and there is no terminal to ask on: set \
             {PASSWORD_ENV}, or pass --no-password for an unencrypted key"
        );
    }
    let first = rpassword::prompt_password("Password for the new key: ")?;
    if first.is_empty() {
        bail!("an empty password; pass --no-password for an unencrypted key");
    }
    let second = rpassword::prompt_password("The same password again: ")?;
    if first != second {
        bail!("the passwords differ; nothing was written");
    }
    Ok(first)
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey plugin sign quote-bot-1.2.0.roseyplug --key alice.key
  ROSEY_KEY_PASSWORD=... rosey plugin sign dist/*.roseyplug --key release.key   # in CI

Then publish FILE.minisig beside FILE (or in the index entry's signature).")]
pub struct Sign {
    /// The `.roseyplug` or `.wasm` files to sign.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Your secret key (from `rosey key generate`, or minisign's).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
}

#[derive(Serialize)]
struct Signed {
    file: PathBuf,
    signature: PathBuf,
    key_id: String,
    comment: String,
}

impl Sign {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let text = std::fs::read_to_string(&self.key)
            .with_context(|| format!("could not read the key {}", self.key.display()))?;
        let password = if SecretKey::is_encrypted(&text)? {
            Some(key_password(&self.key)?)
        } else {
            None
        };
        let secret = SecretKey::parse(&text, password)
            .with_context(|| format!("the key {}", self.key.display()))?;
        let key_id = secret
            .public_key()
            .map(|k| k.id().to_string())
            .unwrap_or_default();
        let mut done = Vec::new();
        for file in &self.files {
            let bytes = Package::read_capped(file).map_err(|e| anyhow::anyhow!("{e}"))?;
            // Only what Rosey would install gets a Rosey signature.
            let package = Package::from_bytes(&bytes, file).map_err(|e| anyhow::anyhow!("{e}"))?;
            let comment = format!(
                "timestamp:{}\tfile:{}\tplugin:{}@{}",
                rosey_host::protocol::now_ms() / 1000,
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                package.manifest.name,
                package.manifest.version
            );
            let signature = secret.sign(&bytes, &comment)?;
            let path = signature_path(file);
            std::fs::write(&path, signature)
                .with_context(|| format!("could not write {}", path.display()))?;
            if ctx.output == OutputFormat::Text {
                println!(
                    "Signed {} ({} {}) → {}",
                    file.display(),
                    package.manifest.name,
                    package.manifest.version,
                    path.display()
                );
            }
            done.push(Signed {
                file: file.clone(),
                signature: path,
                key_id: key_id.clone(),
                comment,
            });
        }
        if ctx.output == OutputFormat::Json {
            print_json(&done)?;
        }
        Ok(())
    }
}

/// An existing key's password: ROSEY_KEY_PASSWORD, or asked.
fn key_password(key: &Path) -> Result<String> {
    if let Some(password) = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()) {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{} is encrypted and there is no terminal to ask for its password on: set \
             {PASSWORD_ENV}",
            key.display()
        );
    }
    Ok(rpassword::prompt_password(format!(
        "Password for {}: ",
        key.display()
    ))?)
}

/// `FILE.minisig`.
fn signature_path(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}{SIGNATURE_SUFFIX}", file.display()))
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey plugin verify quote-bot-1.2.0.roseyplug                 # against trust.keys in rosey.yaml
  rosey plugin verify quote-bot-1.2.0.roseyplug --key alice.pub # against one key

Exit status 0 only if a trusted key (or the --key) signed the file.")]
pub struct Verify {
    /// The `.roseyplug` or `.wasm` file.
    file: PathBuf,
    /// Its signature [default: FILE.minisig].
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// Check against this public key (a `.pub` file or its base64 line)
    /// instead of the trusted keys in rosey.yaml.
    #[arg(long, value_name = "PUB")]
    key: Option<String>,
}

#[derive(Serialize)]
struct Verified {
    file: PathBuf,
    signature: PathBuf,
    trusted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    message: String,
}

impl Verify {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let bytes = Package::read_capped(&self.file).map_err(|e| anyhow::anyhow!("{e}"))?;
        let signature_path = self
            .signature
            .clone()
            .unwrap_or_else(|| signature_path(&self.file));
        if !signature_path.is_file() {
            bail!(
                "{} is not signed: there is no {}",
                self.file.display(),
                signature_path.display()
            );
        }
        let signature = read_signature(&signature_path)?;
        let trust = match &self.key {
            Some(key) => {
                let text = if Path::new(key).is_file() {
                    std::fs::read_to_string(key).with_context(|| format!("could not read {key}"))?
                } else {
                    key.clone()
                };
                Trust {
                    policy: Policy::Require,
                    keys: vec![TrustedKey {
                        name: "the key given".into(),
                        key: PublicKey::parse(&text)?,
                    }],
                }
            }
            None => ctx.settings()?.trust(),
        };
        let verdict = trust.verify(&bytes, Some(&signature))?;
        let (trusted, message) = match &verdict {
            Verdict::Signed(_) => (
                true,
                format!(
                    "{}: good signature, {}",
                    self.file.display(),
                    verdict.describe()
                ),
            ),
            Verdict::UnknownKey(id) => (
                false,
                format!(
                    "{}: signed by key {id}, which is not {}",
                    self.file.display(),
                    if self.key.is_some() {
                        "the key given".to_owned()
                    } else {
                        "among the trusted keys (trust.keys in rosey.yaml)".to_owned()
                    }
                ),
            ),
            Verdict::Unsigned => (false, format!("{} is not signed", self.file.display())),
        };
        let signer = match &verdict {
            Verdict::Signed(signer) => Some(signer),
            _ => None,
        };
        let report = Verified {
            file: self.file.clone(),
            signature: signature_path,
            trusted,
            signer: signer.map(|s| s.name.clone()),
            key_id: match &verdict {
                Verdict::Signed(s) => Some(s.key_id.clone()),
                Verdict::UnknownKey(id) => Some(id.to_string()),
                Verdict::Unsigned => None,
            },
            comment: signer.map(|s| s.comment.clone()),
            message: message.clone(),
        };
        match ctx.output {
            OutputFormat::Json => print_json(&report)?,
            OutputFormat::Text => {
                println!("{message}");
                if let Some(comment) = &report.comment {
                    println!("  trusted comment: {comment}");
                }
            }
        }
        if !trusted {
            bail!("the signature of {} is not trusted", self.file.display());
        }
        Ok(())
    }
}
