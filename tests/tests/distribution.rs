//! Distribution and trust: installs from files, local git repositories and
//! an index served over real HTTP; minisign signatures under both policies;
//! dependencies; provenance. Everything goes through the real `rosey`
//! binary, real git, real components built from source by the test build,
//! and (for the running host) a real nats-server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use rosey_host::control::Request;
use rosey_host::control::client::ControlClient;
use rosey_host::home::RoseyHome;
use rosey_tests::{ManagedNats, StopOnDrop, package_with, rosey_env};
use sha2::{Digest, Sha256};

// ------------------------------------------------------------- helpers

/// Run `rosey` against `home` with extra environment variables.
fn run(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    rosey_env(home, env, args)
}

fn ok(home: &Path, env: &[(&str, &str)], args: &[&str]) -> (String, String) {
    let out = run(home, env, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "rosey {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

/// Run `rosey`, insist that it fails with exit 1; returns stderr.
fn fails(home: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = run(home, env, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "rosey {args:?} should have failed:\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn info(home: &Path, name: &str) -> serde_json::Value {
    let (out, _) = ok(home, &[], &["--output", "json", "plugin", "info", name]);
    serde_json::from_str(&out).unwrap()
}

fn installed(home: &Path) -> Vec<String> {
    let (out, _) = ok(home, &[], &["--output", "json", "plugin", "list"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    list.iter()
        .map(|p| {
            format!(
                "{}@{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

/// Nothing was installed and nothing is left in the staging area.
fn assert_untouched(home: &Path) {
    if home.join("host.db").exists() {
        assert!(
            installed(home).is_empty(),
            "installed: {:?}",
            installed(home)
        );
    }
    let staging = home.join("plugins/.staging");
    if staging.exists() {
        let left: Vec<_> = std::fs::read_dir(&staging).unwrap().flatten().collect();
        assert!(left.is_empty(), "staging leftovers: {left:?}");
    }
}

/// An example plugin's archive, its manifest edited by `edit`.
fn archive(dir: &Path, plugin: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let package = package_with(&format!("example-plugins/{plugin}"), plugin, edit);
    let path = dir.join(format!(
        "{}-{}.roseyplug",
        package.manifest.name, package.manifest.version
    ));
    std::fs::write(&path, package.write_archive().unwrap()).unwrap();
    path
}

fn echo(dir: &Path) -> PathBuf {
    archive(dir, "echo", |m| m)
}

fn version(v: &str) -> impl Fn(String) -> String {
    let v = v.to_owned();
    move |m| m.replace("version: 0.1.0", &format!("version: {v}"))
}

/// A signing key made with `rosey key generate`: (secret, public base64).
fn key(dir: &Path, name: &str) -> (PathBuf, String) {
    let scratch = dir.join("keys-home");
    ok(
        &scratch,
        &[],
        &[
            "key",
            "generate",
            name,
            "--dir",
            dir.to_str().unwrap(),
            "--no-password",
        ],
    );
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    (
        dir.join(format!("{name}.key")),
        public.lines().nth(1).unwrap().to_owned(),
    )
}

fn sign(file: &Path, key: &Path) {
    let scratch = file.parent().unwrap().join("sign-home");
    ok(
        &scratch,
        &[],
        &[
            "plugin",
            "sign",
            file.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
}

/// Write the home's rosey.yaml: a policy and trusted keys (name, base64).
fn trust(home: &Path, policy: &str, keys: &[(&str, &str)], extra: &str) {
    std::fs::create_dir_all(home).unwrap();
    let mut text = format!("trust:\n  policy: {policy}\n");
    if !keys.is_empty() {
        text.push_str("  keys:\n");
        for (name, key) in keys {
            text.push_str(&format!("    - name: {name}\n      key: {key}\n"));
        }
    }
    text.push_str(extra);
    std::fs::write(home.join("rosey.yaml"), text).unwrap();
}

/// Run git with no user or system configuration.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.org"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository at `dir` with `files` committed (and tagged `v1`).
fn repo(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    for (path, bytes) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "plugin"]);
    git(dir, &["tag", "v1"]);
    dir.to_path_buf()
}

/// A tiny HTTP/1.1 server on a free loopback port: each request's path is
/// answered by `answer` (status, body); `/redirect` loops forever.
struct Http {
    base: String,
}

impl Http {
    fn serve(answer: impl Fn(&str) -> (u16, Vec<u8>) + Send + Sync + 'static) -> Http {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let mut stream = stream;
                    if path == "/redirect" {
                        let _ = stream.write_all(
                            b"HTTP/1.1 302 Found\r\nLocation: /redirect\r\nContent-Length: 0\r\n\
                              Connection: close\r\n\r\n",
                        );
                        return;
                    }
                    let (status, body) = answer(&path);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                });
            }
        });
        Http { base }
    }

    /// Serves the files of `dir` (404 for anything else).
    fn files(dir: &Path) -> Http {
        let dir = dir.to_path_buf();
        Http::serve(move |path| {
            let file = dir.join(path.trim_start_matches('/'));
            match std::fs::read(&file) {
                Ok(bytes) if !path.contains("..") => (200, bytes),
                _ => (404, b"not found".to_vec()),
            }
        })
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ------------------------------------------------------------- files and signatures

#[test]
fn signed_and_unsigned_files_under_both_policies() {
    let work = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = key(work.path(), "alice");
    let (mallory_key, _) = key(work.path(), "mallory");
    let unsigned_dir = work.path().join("unsigned");
    let signed_dir = work.path().join("signed");
    let foreign_dir = work.path().join("foreign");
    let tampered_dir = work.path().join("tampered");
    for dir in [&unsigned_dir, &signed_dir, &foreign_dir, &tampered_dir] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let unsigned = echo(&unsigned_dir);
    let signed = echo(&signed_dir);
    sign(&signed, &alice_key);
    let foreign = echo(&foreign_dir);
    sign(&foreign, &mallory_key);
    // Signed by alice, then changed: a different (valid) package with
    // alice's signature of the original beside it.
    let tampered = archive(&tampered_dir, "echo", |m| {
        m.replace("Repeats", "Repeats (evil)")
    });
    std::fs::copy(
        format!("{}.minisig", signed.display()),
        format!("{}.minisig", tampered.display()),
    )
    .unwrap();

    let cases: [(&str, &Path, Option<&str>, &str); 8] = [
        ("warn", &unsigned, None, "it is not signed"),
        ("warn", &foreign, None, "not among the trusted keys"),
        ("warn", &signed, Some("alice"), ""),
        ("warn", &tampered, Some("!bad"), "bad signature"),
        (
            "require",
            &unsigned,
            Some("!refused"),
            "policy in rosey.yaml is require",
        ),
        (
            "require",
            &foreign,
            Some("!refused"),
            "not among the trusted keys",
        ),
        ("require", &signed, Some("alice"), ""),
        ("require", &tampered, Some("!bad"), "bad signature"),
    ];
    for (policy, file, expect, says) in cases {
        let home = work
            .path()
            .join(format!("home-{policy}-{}", rand_suffix(file)));
        trust(&home, policy, &[("alice", &alice_pub)], "");
        let args = ["plugin", "install", file.to_str().unwrap(), "--yes"];
        match expect {
            Some(bad) if bad.starts_with('!') => {
                let err = fails(&home, &[], &args);
                assert!(err.contains(says), "{policy} {}: {err}", file.display());
                assert!(err.contains("refused"), "{err}");
                assert_untouched(&home);
            }
            Some(signer) => {
                let (_, stderr) = ok(&home, &[], &args);
                assert!(
                    stderr.contains(&format!("signed by: {signer} (key ")),
                    "{stderr}"
                );
                let info = info(&home, "echo");
                assert_eq!(info["provenance"]["signer"]["name"], signer);
                assert_eq!(
                    info["provenance"]["sha256"],
                    sha256(&std::fs::read(file).unwrap())
                );
                assert_eq!(info["provenance"]["origin"]["kind"], "file");
                assert!(
                    info["provenance"]["signer"]["comment"]
                        .as_str()
                        .unwrap()
                        .contains("plugin:echo@0.1.0")
                );
            }
            None => {
                let (_, stderr) = ok(&home, &[], &args);
                assert!(
                    stderr.contains("warning: ") && stderr.contains(says),
                    "{stderr}"
                );
                assert!(info(&home, "echo")["provenance"]["signer"].is_null());
            }
        }
    }

    // verify: exit 0 only for a trusted signature; --key checks one key.
    let home = work.path().join("verify");
    trust(&home, "warn", &[("alice", &alice_pub)], "");
    let (out, _) = ok(&home, &[], &["plugin", "verify", signed.to_str().unwrap()]);
    assert!(out.contains("good signature, signed by alice"), "{out}");
    let err = fails(&home, &[], &["plugin", "verify", foreign.to_str().unwrap()]);
    assert!(err.contains("not trusted"), "{err}");
    let err = fails(
        &home,
        &[],
        &["plugin", "verify", tampered.to_str().unwrap()],
    );
    assert!(err.contains("does not match the file"), "{err}");
    let err = fails(
        &home,
        &[],
        &["plugin", "verify", unsigned.to_str().unwrap()],
    );
    assert!(err.contains("is not signed"), "{err}");
    let mallory_pub = work.path().join("mallory.pub");
    ok(
        &home,
        &[],
        &[
            "plugin",
            "verify",
            foreign.to_str().unwrap(),
            "--key",
            mallory_pub.to_str().unwrap(),
        ],
    );
}

fn rand_suffix(file: &Path) -> String {
    sha256(file.to_str().unwrap().as_bytes())[..8].to_owned()
}

/// Signatures are minisign's: the minisign tool verifies Rosey's, and
/// Rosey verifies minisign's.
#[test]
fn signatures_interoperate_with_minisign() {
    let minisign = Command::new("minisign").arg("-v").output();
    assert!(
        minisign.is_ok(),
        "the minisign tool is missing: scripts/setup.sh installs it (apt-get install minisign)"
    );
    let work = tempfile::tempdir().unwrap();
    let (alice_key, _) = key(work.path(), "alice");
    let file = echo(work.path());
    sign(&file, &alice_key);
    let out = Command::new("minisign")
        .args(["-V", "-q", "-p"])
        .arg(work.path().join("alice.pub"))
        .arg("-m")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minisign -V: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A key and a signature made by minisign itself.
    let out = Command::new("minisign")
        .args(["-G", "-W", "-f", "-p"])
        .arg(work.path().join("m.pub"))
        .arg("-s")
        .arg(work.path().join("m.key"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minisign -G: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = work.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let file = echo(&other);
    let out = Command::new("minisign")
        .args(["-S", "-s"])
        .arg(work.path().join("m.key"))
        .arg("-m")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minisign -S: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(work.path().join("m.pub")).unwrap();
    let home = work.path().join("home");
    trust(
        &home,
        "require",
        &[("minisign-user", public.lines().nth(1).unwrap())],
        "",
    );
    let (_, stderr) = ok(
        &home,
        &[],
        &["plugin", "install", file.to_str().unwrap(), "--yes"],
    );
    assert!(stderr.contains("signed by: minisign-user"), "{stderr}");
}

// ------------------------------------------------------------- git

#[test]
fn a_repository_with_a_signed_archive_installs_at_its_commit() {
    let work = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = key(work.path(), "alice");
    let build = work.path().join("build");
    std::fs::create_dir_all(&build).unwrap();
    let file = echo(&build);
    sign(&file, &alice_key);
    let bytes = std::fs::read(&file).unwrap();
    let sig = std::fs::read(format!("{}.minisig", file.display())).unwrap();
    let repo = repo(
        &work.path().join("echo-repo"),
        &[
            ("echo-0.1.0.roseyplug", &bytes),
            ("echo-0.1.0.roseyplug.minisig", &sig),
            ("README.md", b"# echo\n"),
        ],
    );
    let commit = git(&repo, &["rev-parse", "v1"]);
    // A later commit on main that breaks the archive: #v1 must not see it.
    std::fs::write(repo.join("echo-0.1.0.roseyplug"), b"broken").unwrap();
    git(&repo, &["commit", "-q", "-am", "break it"]);

    let home = work.path().join("home");
    trust(&home, "require", &[("alice", &alice_pub)], "");
    let source = format!("{}#v1", repo.display());
    let (_, stderr) = ok(&home, &[], &["plugin", "install", &source, "--yes"]);
    assert!(stderr.contains("signed by: alice"), "{stderr}");
    let provenance = &info(&home, "echo")["provenance"];
    assert_eq!(provenance["origin"]["kind"], "git");
    assert_eq!(provenance["origin"]["commit"], commit.as_str());
    assert_eq!(provenance["origin"]["reference"], "v1");
    assert_eq!(provenance["origin"]["path"], "echo-0.1.0.roseyplug");
    assert_eq!(provenance["origin"]["built"], false);
    assert_eq!(provenance["sha256"], sha256(&bytes));
    let (text, _) = ok(&home, &[], &["plugin", "info", "echo"]);
    assert!(
        text.contains(&format!("at {commit}")) && text.contains("signed by:   alice"),
        "{text}"
    );
    assert_untouched_staging(&home);

    // The default branch now holds a broken archive: refused, as any
    // broken archive is.
    let other = work.path().join("home2");
    let err = fails(
        &other,
        &[],
        &["plugin", "install", repo.to_str().unwrap(), "--yes"],
    );
    assert!(
        err.contains("neither a .roseyplug archive nor a wasm component"),
        "{err}"
    );
    assert_untouched(&other);
}

fn assert_untouched_staging(home: &Path) {
    let staging = home.join("plugins/.staging");
    if staging.exists() {
        let left: Vec<_> = std::fs::read_dir(&staging).unwrap().flatten().collect();
        assert!(left.is_empty(), "staging leftovers: {left:?}");
    }
}

#[test]
fn a_repository_of_sources_is_built_only_when_the_operator_allows_it() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("hello");
    ok(
        &work.path().join("scratch"),
        &[],
        &[
            "plugin",
            "create",
            "hello",
            "--dir",
            project.to_str().unwrap(),
        ],
    );
    git(&project, &["init", "-q"]);
    git(&project, &["add", "-A"]);
    git(&project, &["commit", "-q", "-m", "hello"]);
    let commit = git(&project, &["rev-parse", "HEAD"]);

    let home = work.path().join("home");
    let err = fails(
        &home,
        &[],
        &["plugin", "install", project.to_str().unwrap(), "--yes"],
    );
    assert!(err.contains("re-run with --build"), "{err}");
    assert_untouched(&home);

    // Under require, a plugin built here is unsigned and refused (after
    // the build, before anything is installed).
    let strict = work.path().join("strict");
    trust(&strict, "require", &[], "");
    let err = fails(
        &strict,
        &[],
        &[
            "plugin",
            "install",
            project.to_str().unwrap(),
            "--yes",
            "--build",
        ],
    );
    assert!(err.contains("it is not signed"), "{err}");
    assert_untouched(&strict);

    let (_, stderr) = ok(
        &home,
        &[],
        &[
            "plugin",
            "install",
            project.to_str().unwrap(),
            "--yes",
            "--build",
        ],
    );
    assert!(stderr.contains("warning: it is not signed"), "{stderr}");
    let provenance = &info(&home, "hello")["provenance"];
    assert_eq!(provenance["origin"]["built"], true);
    assert_eq!(provenance["origin"]["commit"], commit.as_str());
    assert_eq!(installed(&home), ["hello@0.1.0"]);
    assert_untouched_staging(&home);
}

#[test]
fn a_repository_with_a_component_and_its_manifest_installs() {
    let work = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(rosey_tests::guest_wasm("echo")).unwrap();
    let manifest = std::fs::read(rosey_tests::workspace_path(
        "example-plugins/echo/manifest.yaml",
    ))
    .unwrap();
    let repo = repo(
        &work.path().join("repo"),
        &[("manifest.yaml", &manifest), ("plugin.wasm", &wasm)],
    );
    let home = work.path().join("home");
    ok(
        &home,
        &[],
        &["plugin", "install", repo.to_str().unwrap(), "--yes"],
    );
    let provenance = &info(&home, "echo")["provenance"];
    assert_eq!(provenance["origin"]["path"], "plugin.wasm");
    assert_eq!(provenance["origin"]["built"], false);
}

#[test]
fn hostile_repositories_are_refused_and_nothing_of_theirs_runs() {
    let work = tempfile::tempdir().unwrap();
    let good = std::fs::read(echo(work.path())).unwrap();
    let marker = work.path().join("PWNED");
    let touch = format!("touch {}", marker.display());

    // A repository whose own config, hooks and attributes try to run
    // commands when git touches it.
    let booby = repo(
        &work.path().join("booby-trapped"),
        &[
            ("echo.roseyplug", &good),
            (".gitattributes", b"* filter=evil\n"),
        ],
    );
    for (key, value) in [
        ("core.fsmonitor", touch.as_str()),
        ("core.sshCommand", touch.as_str()),
        ("uploadpack.packObjectsHook", touch.as_str()),
        ("filter.evil.smudge", touch.as_str()),
        ("core.hooksPath", "hooks-evil"),
    ] {
        git(&booby, &["config", key, value]);
    }
    for hook in [
        "post-checkout",
        "post-merge",
        "pre-upload",
        "reference-transaction",
    ] {
        for dir in [".git/hooks", "hooks-evil"] {
            let path = booby.join(dir).join(hook);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("#!/bin/sh\n{touch}\n")).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }
    let home = work.path().join("booby-home");
    ok(
        &home,
        &[],
        &["plugin", "install", booby.to_str().unwrap(), "--yes"],
    );
    assert!(!marker.exists(), "something of the repository ran");

    // Each of these is refused with its reason, and installs nothing.
    let symlink = work.path().join("symlink");
    repo(&symlink, &[("echo.roseyplug", &good)]);
    std::os::unix::fs::symlink("/etc/passwd", symlink.join("manifest.yaml")).unwrap();
    git(&symlink, &["add", "-A"]);
    git(&symlink, &["commit", "-q", "-m", "link"]);

    let submodule = repo(&work.path().join("submodule"), &[("echo.roseyplug", &good)]);
    let inner = repo(&work.path().join("inner"), &[("x", b"x")]);
    let inner_commit = git(&inner, &["rev-parse", "HEAD"]);
    git(
        &submodule,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{inner_commit},vendor"),
        ],
    );
    git(&submodule, &["commit", "-q", "-m", "submodule"]);

    let two = repo(
        &work.path().join("two"),
        &[("a.roseyplug", &good), ("b.roseyplug", &good)],
    );
    let nothing = repo(&work.path().join("nothing"), &[("README.md", b"hi")]);
    let manifest_only = repo(
        &work.path().join("manifest-only"),
        &[("manifest.yaml", b"name: x\n")],
    );
    let garbage = repo(
        &work.path().join("garbage"),
        &[("x.roseyplug", b"PK\x03\x04garbage")],
    );
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let large = repo(
        &work.path().join("large"),
        &[("echo.roseyplug", &good), ("blob.bin", &big)],
    );

    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            symlink.display().to_string(),
            vec![],
            "symbolic link, manifest.yaml",
        ),
        (submodule.display().to_string(), vec![], "submodule, vendor"),
        (two.display().to_string(), vec![], "has 2 .roseyplug files"),
        (nothing.display().to_string(), vec![], "holds no plugin"),
        (
            manifest_only.display().to_string(),
            vec![],
            "no plugin.wasm and no sources",
        ),
        (garbage.display().to_string(), vec![], "not a readable ZIP"),
        (
            format!("{}#no-such-tag", nothing.display()),
            vec![],
            "could not fetch no-such-tag",
        ),
        (
            large.display().to_string(),
            vec![("ROSEY_GIT_MAX_SIZE", "1MiB")],
            "larger than the 1 MiB",
        ),
        (
            nothing.display().to_string(),
            vec![("ROSEY_GIT_TIMEOUT", "1ms")],
            "took longer than allowed",
        ),
        (
            "--upload-pack=touch /tmp/x".into(),
            vec![],
            "cannot start with \"-\"",
        ),
        (format!("ext::sh -c {touch}"), vec![], "transport::address"),
        (
            format!("file://{}", nothing.display()),
            vec![],
            "file:// URLs are refused",
        ),
        ("http://example.org/x.git".into(), vec![], "use https://"),
        (
            format!("{}#--output=/tmp/x", nothing.display()),
            vec![],
            "not a branch, tag or commit",
        ),
    ];
    for (source, env, says) in cases {
        let home = work
            .path()
            .join(format!("home-{}", &sha256(source.as_bytes())[..8]));
        let err = fails(&home, &env, &["plugin", "install", "--yes", "--", &source]);
        assert!(err.contains(says), "{source}: expected {says:?} in:\n{err}");
        assert_untouched(&home);
    }
    assert!(!marker.exists(), "something of a repository ran");
}

// ------------------------------------------------------------- index

/// Publishes archives into `dir` and indexes it with `rosey index build`.
fn publish(dir: &Path, files: &[PathBuf]) {
    std::fs::create_dir_all(dir).unwrap();
    for file in files {
        std::fs::copy(file, dir.join(file.file_name().unwrap())).unwrap();
        let sig = PathBuf::from(format!("{}.minisig", file.display()));
        if sig.exists() {
            std::fs::copy(&sig, dir.join(sig.file_name().unwrap())).unwrap();
        }
    }
    ok(
        &dir.join("..").join("publisher"),
        &[],
        &["index", "build", dir.to_str().unwrap()],
    );
}

#[test]
fn an_index_over_http_installs_with_dependencies_updates_and_protects_dependents() {
    let work = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = key(work.path(), "alice");
    let build = work.path().join("build");
    std::fs::create_dir_all(&build).unwrap();
    let echo1 = archive(&build, "echo", |m| m);
    let echo2 = archive(&build, "echo", version("0.2.0"));
    let quote = archive(&build, "quote-bot", |m| {
        format!("{m}\ndependencies:\n  plugins:\n    - {{name: echo, version: \"^0.1\"}}\n")
    });
    for file in [&echo1, &echo2, &quote] {
        sign(file, &alice_key);
    }
    let public = work.path().join("public");
    publish(&public, &[echo1.clone(), quote.clone()]);
    let server = Http::files(&public);
    let index = format!("{}/index.json", server.base);

    let home = work.path().join("home");
    trust(
        &home,
        "require",
        &[("alice", &alice_pub)],
        &format!("index: {index}\n"),
    );

    let (found, _) = ok(&home, &[], &["plugin", "search", "quote"]);
    assert!(
        found.contains("quote-bot") && found.contains("0.1.0"),
        "{found}"
    );
    let (json, _) = ok(&home, &[], &["--output", "json", "plugin", "search"]);
    let json: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(json.len(), 2);

    // quote-bot needs echo: both come, echo first.
    let (_, stderr) = ok(&home, &[], &["plugin", "install", "quote-bot", "--yes"]);
    assert!(stderr.contains("needed by: quote-bot"), "{stderr}");
    assert!(stderr.find("echo 0.1.0").unwrap() < stderr.find("quote-bot 0.1.0").unwrap());
    assert_eq!(installed(&home), ["echo@0.1.0", "quote-bot@0.1.0"]);
    let provenance = &info(&home, "quote-bot")["provenance"];
    assert_eq!(provenance["origin"]["kind"], "index");
    assert_eq!(provenance["origin"]["index"], index.as_str());
    assert_eq!(
        provenance["origin"]["url"],
        format!("{}/quote-bot-0.1.0.roseyplug", server.base)
    );
    assert_eq!(provenance["signer"]["name"], "alice");

    // echo is needed: removal is refused unless forced.
    let err = fails(&home, &[], &["plugin", "remove", "echo", "--yes"]);
    assert!(
        err.contains("quote-bot (which needs ^0.1) needs echo"),
        "{err}"
    );
    assert_eq!(installed(&home).len(), 2);

    // A new version is published.
    publish(&public, &[echo1.clone(), echo2.clone(), quote.clone()]);
    let (out, _) = ok(&home, &[], &["plugin", "outdated"]);
    assert!(out.contains("echo") && out.contains("0.2.0"), "{out}");
    // 0.2.0 does not fit quote-bot's ^0.1: refused unless forced.
    let err = fails(&home, &[], &["plugin", "update", "echo"]);
    assert!(err.contains("and 0.2.0 does not fit"), "{err}");
    ok(&home, &[], &["plugin", "update", "echo", "--force"]);
    assert_eq!(installed(&home), ["echo@0.2.0", "quote-bot@0.1.0"]);
    let (out, _) = ok(&home, &[], &["plugin", "outdated"]);
    assert!(out.contains("up to date"), "{out}");
    let (out, _) = ok(&home, &[], &["plugin", "update", "--all"]);
    assert!(out.contains("up to date"), "{out}");
    ok(
        &home,
        &[],
        &["plugin", "remove", "echo", "--yes", "--force"],
    );
    assert_eq!(installed(&home), ["quote-bot@0.1.0"]);

    // Without its dependency, a file install of quote-bot is refused.
    let bare = work.path().join("bare");
    let err = fails(
        &bare,
        &[],
        &["plugin", "install", quote.to_str().unwrap(), "--yes"],
    );
    assert!(
        err.contains("quote-bot needs echo ^0.1, which is not installed"),
        "{err}"
    );
    assert_untouched(&bare);
}

#[test]
fn hostile_indexes_are_refused_and_install_nothing() {
    let work = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = key(work.path(), "alice");
    let (mallory_key, _) = key(work.path(), "mallory");
    let build = work.path().join("build");
    std::fs::create_dir_all(&build).unwrap();
    let echo = archive(&build, "echo", |m| m);
    let evil = archive(&build, "quote-bot", |m| m);
    sign(&echo, &alice_key);
    let echo_bytes = std::fs::read(&echo).unwrap();
    let echo_sig = std::fs::read_to_string(format!("{}.minisig", echo.display())).unwrap();
    let evil_bytes = std::fs::read(&evil).unwrap();
    sign(&evil, &mallory_key);
    let mallory_sig = std::fs::read_to_string(format!("{}.minisig", evil.display())).unwrap();
    let alice_evil = build.join("alice-evil.roseyplug");
    std::fs::copy(&evil, &alice_evil).unwrap();
    sign(&alice_evil, &alice_key);
    let alice_other_sig =
        std::fs::read_to_string(format!("{}.minisig", alice_evil.display())).unwrap();

    let entry = |url: &str, sha: &str, sig: Option<&str>| {
        let mut e = serde_json::json!({"version": "0.1.0", "url": url, "sha256": sha,
                                       "rosey_api": "^0.1"});
        if let Some(sig) = sig {
            e["signature"] = sig.into();
        }
        serde_json::json!({"rosey_index": 1, "plugins": {"echo": {"versions": [e]}}})
            .to_string()
            .into_bytes()
    };
    let good_sha = sha256(&echo_bytes);
    let indexes: Vec<(&str, Vec<u8>, &str)> = vec![
        // The file was swapped after publishing.
        (
            "swapped",
            entry("evil.roseyplug", &good_sha, None),
            "has sha256",
        ),
        // A listed sha256 that matches a file of another plugin.
        (
            "renamed",
            entry("evil.roseyplug", &sha256(&evil_bytes), None),
            "the index lists echo 0.1.0, but the file is quote-bot",
        ),
        // Right file, garbage signature: refused even under warn.
        (
            "garbage-sig",
            entry(
                "echo.roseyplug",
                &good_sha,
                Some("untrusted comment: x\nAAAA\ntrusted comment: y\nBBBB\n"),
            ),
            "bad signature",
        ),
        // Right file, alice's signature of another file: refused even under warn.
        (
            "alice-other",
            entry("echo.roseyplug", &good_sha, Some(&alice_other_sig)),
            "bad signature",
        ),
        // Right file, signed by a key nobody trusts, under require.
        (
            "untrusted-sig",
            entry("echo.roseyplug", &good_sha, Some(&mallory_sig)),
            "not among the trusted keys",
        ),
        // Entries that point off the index.
        (
            "escape",
            entry("../../etc/passwd", &good_sha, None),
            "may not climb out",
        ),
        (
            "absolute",
            entry("/etc/passwd", &good_sha, None),
            "not an absolute path",
        ),
        (
            "file-url",
            entry("file:///etc/passwd", &good_sha, None),
            "file:// URLs are not accepted",
        ),
        ("missing", entry("nope.roseyplug", &good_sha, None), "404"),
        (
            "redirects",
            entry("redirect", &good_sha, None),
            "could not download",
        ),
        (
            "bad-sha",
            entry("/echo.roseyplug", "ABC", None),
            "not 64 lowercase hexadecimal digits",
        ),
        (
            "not-json",
            b"<html>hello</html>".to_vec(),
            "not a valid Rosey index",
        ),
        (
            "future",
            br#"{"rosey_index": 9, "plugins": {}}"#.to_vec(),
            "format 9",
        ),
        ("huge", vec![b' '; (8 << 20) + 10], "larger than the"),
    ];
    let served: Arc<std::collections::HashMap<String, Vec<u8>>> = Arc::new(
        indexes
            .iter()
            .map(|(name, body, _)| (format!("/{name}.json"), body.clone()))
            .chain([
                ("/echo.roseyplug".to_owned(), echo_bytes.clone()),
                ("/evil.roseyplug".to_owned(), evil_bytes.clone()),
            ])
            .collect(),
    );
    let server = {
        let served = Arc::clone(&served);
        Http::serve(move |path| match served.get(path) {
            Some(body) => (200, body.clone()),
            None => (404, b"no".to_vec()),
        })
    };
    for (name, _, says) in &indexes {
        let home = work.path().join(format!("home-{name}"));
        // The untrusted-key case under require; the others under warn,
        // where only the defence being tested can stop them.
        let policy = if *name == "untrusted-sig" {
            "require"
        } else {
            "warn"
        };
        trust(&home, policy, &[("alice", &alice_pub)], "");
        let index = format!("{}/{name}.json", server.base);
        let err = fails(
            &home,
            &[],
            &["plugin", "install", "echo", "--yes", "--index", &index],
        );
        assert!(err.contains(says), "{name}: expected {says:?} in:\n{err}");
        assert_untouched(&home);
    }
    // The same server, an honest entry: installs.
    let honest = work.path().join("honest-index");
    std::fs::create_dir_all(&honest).unwrap();
    std::fs::write(
        honest.join("index.json"),
        entry("echo.roseyplug", &good_sha, Some(&echo_sig)),
    )
    .unwrap();
    std::fs::write(honest.join("echo.roseyplug"), &echo_bytes).unwrap();
    let home = work.path().join("home-honest");
    trust(&home, "require", &[("alice", &alice_pub)], "");
    // An index may also be a file path.
    let path = honest.join("index.json");
    ok(
        &home,
        &[],
        &[
            "plugin",
            "install",
            "echo@0.1.0",
            "--yes",
            "--index",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(installed(&home), ["echo@0.1.0"]);
}

// ------------------------------------------------------------- running host

/// The running host checks signatures itself: a control request that
/// carries no signature is refused under require, whatever the CLI did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_host_enforces_the_policy_and_records_provenance_through_backups() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url().to_owned();
    let work = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = key(work.path(), "alice");
    let home = work.path().join("home");
    trust(&home, "require", &[("alice", &alice_pub)], "");
    let signed = echo(work.path());
    sign(&signed, &alice_key);
    let env = [("ROSEY_NATS_URL", url.as_str())];
    ok(&home, &env, &["start"]);
    let _stop = StopOnDrop(&home);

    // Straight to the control channel, without the signature.
    let client = ControlClient::connect(&RoseyHome::new(&home)).unwrap();
    let err = client
        .call(&Request::Install {
            path: signed.clone(),
            sha256: None,
            signature: None,
            origin: None,
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy in rosey.yaml is require"), "{err}");
    // With alice's signature of another file.
    let other = work.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let changed = archive(&other, "echo", |m| m.replace("Repeats", "Says"));
    let client = ControlClient::connect(&RoseyHome::new(&home)).unwrap();
    let err = client
        .call(&Request::Install {
            path: changed,
            sha256: None,
            signature: Some(
                std::fs::read_to_string(format!("{}.minisig", signed.display())).unwrap(),
            ),
            origin: None,
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad signature"), "{err}");
    assert!(installed(&home).is_empty());

    // Through the CLI, signed: installed by the host, signer recorded.
    let (out, _) = ok(
        &home,
        &env,
        &["plugin", "install", signed.to_str().unwrap(), "--yes"],
    );
    assert!(out.contains("signed by alice"), "{out}");
    let before = info(&home, "echo")["provenance"].clone();
    assert_eq!(before["signer"]["name"], "alice");

    // An unsigned update loses the signer: it waits for approval.
    trust(&home, "warn", &[("alice", &alice_pub)], "");
    let next = archive(work.path(), "echo", version("0.2.0"));
    let (out, stderr) = ok(&home, &env, &["plugin", "update", next.to_str().unwrap()]);
    assert!(stderr.contains("signer alice"), "{stderr}");
    assert!(out.contains("rosey plugin approve echo"), "{out}");
    assert_eq!(installed(&home), ["echo@0.1.0"]);

    // Provenance is kept in backups.
    let backup = work.path().join("backup.zip");
    ok(&home, &env, &["db", "backup", backup.to_str().unwrap()]);
    ok(&home, &env, &["plugin", "remove", "echo", "--yes"]);
    ok(
        &home,
        &env,
        &["db", "restore", backup.to_str().unwrap(), "--yes"],
    );
    assert_eq!(info(&home, "echo")["provenance"], before);
}
