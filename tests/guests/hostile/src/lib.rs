//! A Rosey plugin that attacks its sandbox, for the host's security tests.
//!
//! `!hostile <attack> [arg]` runs one attack. Attacks the sandbox must stop
//! (`spin`, `bomb`, `recurse`, `trap`, `sql-cte`, ...) never reply; the others
//! reply with what happened so a test can assert on it. See README.md.

// Trapping on purpose is this fixture's job.
#![allow(clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use rosey_sdk::prelude::*;

const USAGE: &str = "Usage: !hostile <ping|config <key>|config-changed|spin|spin-import|bomb|recurse|trap|escape|write|\
read-asset|sql-attach|sql-loadext|sql-pragma|sql-vacuum|sql-cte|publish <subject>|flood|connect <addr>|impersonate|request <subject>|\
big-payload <bytes>|big-query|kv-big|fill-disk <MiB>|print|log-flood|sleep <ms>|block <ms>>";

struct Hostile;

impl Plugin for Hostile {
    fn init() -> Result<()> {
        if config::get::<bool>("trap_in_init")? == Some(true) {
            panic!("hostile trap in init");
        }
        Ok(())
    }

    /// With a subscription (tests add one), every 50th message of an
    /// instance traps: a plugin that keeps crashing under load. Events of
    /// other plugins (`rosey.plugins.*`) are kept in kv instead, as
    /// `event:<subject>` → payload, for the plugin-to-plugin tests.
    fn on_message(msg: Message) -> Result<()> {
        if msg.subject.starts_with("rosey.plugins.") {
            return kv::set(&format!("event:{}", msg.subject), &msg.payload);
        }
        static SEEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seen = SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if seen.is_multiple_of(50) {
            panic!("hostile trap on message {seen}");
        }
        Ok(())
    }

    /// Refuses a `greeting` of "refuse me"; otherwise remembers which keys
    /// changed (in kv as `config-changed`), for the config tests.
    fn on_config_changed(keys: Vec<String>) -> Result<()> {
        if config::get::<String>("greeting")?.as_deref() == Some("refuse me") {
            bail!("a greeting of \"refuse me\" is refused");
        }
        kv::set("config-changed", keys.join(","))
    }

    fn on_schedule(name: &str) -> Result<()> {
        bus::publish("rosey.plugins.hostile.tick", name)?;
        Ok(())
    }

    fn on_command(cmd: Command) -> Result<Option<String>> {
        let reply = match (cmd.arg(0).unwrap_or(""), cmd.arg(1)) {
            ("ping", _) => "pong".to_owned(),
            ("config", Some(key)) => config::get_raw(key).unwrap_or_else(|| "unset".into()),
            ("config-changed", _) => match kv::get("config-changed")? {
                Some(keys) => String::from_utf8_lossy(&keys).into_owned(),
                None => "never".into(),
            },
            ("spin", _) => spin(),
            ("spin-import", _) => spin_import(),
            ("bomb", _) => bomb(),
            ("recurse", _) => recurse(0).to_string(),
            ("trap", _) => panic!("hostile trap"),
            ("escape", _) => escape(),
            ("write", _) => match std::fs::write("/data/hostile.txt", "hostile was here\n") {
                Ok(()) => "wrote".to_owned(),
                Err(e) => format!("write denied: {e}"),
            },
            ("read-asset", _) => match std::fs::read_to_string("/assets/hello.txt") {
                Ok(text) => text.trim_end().to_owned(),
                Err(e) => format!("read-asset failed: {e}"),
            },
            ("sql-attach", _) => sql_execute("ATTACH DATABASE '/tmp/x.db' AS x"),
            ("sql-loadext", _) => sql_query("SELECT load_extension('x')"),
            ("sql-pragma", _) => sql_execute("PRAGMA writable_schema = ON"),
            ("sql-vacuum", _) => sql_execute("VACUUM INTO '/tmp/out.db'"),
            ("sql-cte", _) => sql_query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
            ),
            ("publish", Some(subject)) => match bus::publish(subject, b"hostile") {
                Ok(()) => "published".to_owned(),
                Err(e) => format!("error: {e:#}"),
            },
            ("print", _) => {
                println!("to stdout \x1b[31mred\x1b[0m");
                println!("second stdout line");
                eprintln!("to stderr");
                "printed".to_owned()
            }
            ("log-flood", _) => {
                for i in 0..5_000 {
                    rosey_sdk::log::info(&format!("flood line {i}"));
                }
                "flooded".to_owned()
            }
            ("flood", _) => flood(),
            ("connect", Some(address)) => match std::net::TcpStream::connect(address) {
                Ok(_) => format!("CONNECTED to {address}"),
                Err(e) => format!("connect denied: {e}"),
            },
            ("impersonate", via) => {
                let forged = r#"{"channel": "lobby", "text": "I am echo", "plugin": "echo"}"#;
                let sent = match via {
                    Some("request") => bus::request(
                        "rosey.chat.send_message",
                        forged,
                        Duration::from_millis(100),
                    )
                    .map(|_| ()),
                    _ => bus::publish("rosey.chat.send_message", forged),
                };
                match sent {
                    Ok(()) => "published".to_owned(),
                    Err(e) => format!("error: {e:#}"),
                }
            }
            ("request", Some(subject)) => {
                match bus::request(subject, b"ping", Duration::from_millis(500)) {
                    Ok(reply) => format!("reply: {} bytes", reply.payload.len()),
                    Err(e) => format!("error: {e:#}"),
                }
            }
            ("big-payload", Some(bytes)) => match bytes.parse::<usize>() {
                Ok(bytes) => match bus::publish("rosey.plugins.hostile.big", vec![0u8; bytes]) {
                    Ok(()) => "published".to_owned(),
                    Err(e) => format!("error: {e:#}"),
                },
                Err(_) => USAGE.to_owned(),
            },
            ("big-query", _) => sql_query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 20000) \
                 SELECT x FROM c",
            ),
            ("kv-big", _) => match kv::set("big", vec![0u8; 1_100_000]) {
                Ok(()) => "stored".to_owned(),
                Err(e) => format!("error: {e:#}"),
            },
            ("fill-disk", Some(mib)) => match mib.parse::<usize>() {
                Ok(mib) => fill_disk(mib),
                Err(_) => USAGE.to_owned(),
            },
            ("sleep", Some(ms)) => match ms.parse() {
                Ok(ms) => busy_wait(Duration::from_millis(ms)),
                Err(_) => USAGE.to_owned(),
            },
            // Waits inside a WASI host call (a monotonic-clock pollable),
            // where epochs never fire: only the host's wall-clock limit on
            // the whole call can stop it.
            ("block", Some(ms)) => match ms.parse() {
                Ok(ms) => {
                    std::thread::sleep(Duration::from_millis(ms));
                    "woke".to_owned()
                }
                Err(_) => USAGE.to_owned(),
            },
            _ => USAGE.to_owned(),
        };
        Ok(Some(reply))
    }
}

/// Burns fuel (or wall-clock time) forever without calling the host.
fn spin() -> String {
    let mut i = 0_u64;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

/// Loops forever, calling the host each time round.
fn spin_import() -> String {
    loop {
        rosey_sdk::log::trace("spin");
    }
}

/// Allocates and touches 1 MiB chunks forever, keeping every one.
fn bomb() -> String {
    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        chunk.resize(CHUNK, 0xA5_u8);
        chunks.push(black_box(chunk));
        black_box(&chunks);
    }
}

/// Unbounded, non-tail recursion with a 4 KiB stack buffer per frame.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0_u8; 4096];
    frame[(depth % 4096) as usize] = 1;
    let frame = black_box(frame);
    recurse(black_box(depth + 1)) + u64::from(frame[(depth % 4096) as usize])
}

/// Tries to reach files outside `/data` and `/assets`; one line per attempt.
fn escape() -> String {
    let mut lines = vec![
        read_attempt("read /data/../../etc/passwd", "/data/../../etc/passwd"),
        read_attempt("read /etc/passwd", "/etc/passwd"),
        read_attempt("read /data/../host.db", "/data/../host.db"),
        list_attempt("read_dir /", "/"),
        list_attempt("read_dir /data/..", "/data/.."),
    ];
    let _ = std::fs::remove_file("/data/link");
    lines.push(match symlink("/etc", "/data/link") {
        Ok(()) => "symlink /data/link -> /etc: created".to_owned(),
        Err(e) => format!("symlink /data/link -> /etc: denied ({:?})", e.kind()),
    });
    lines.push(read_attempt("read /data/link/passwd", "/data/link/passwd"));
    let _ = std::fs::remove_file("/data/link");
    lines.join("\n")
}

fn read_attempt(what: &str, path: &str) -> String {
    match std::fs::read(path) {
        Ok(bytes) => format!("{what}: ESCAPED {} bytes", bytes.len()),
        Err(e) => format!("{what}: denied ({:?})", e.kind()),
    }
}

fn list_attempt(what: &str, path: &str) -> String {
    match std::fs::read_dir(path) {
        Ok(entries) => format!("{what}: ESCAPED {} entries", entries.count()),
        Err(e) => format!("{what}: denied ({:?})", e.kind()),
    }
}

/// `symlink(2)` from wasi-libc: `std::os::wasi::fs::symlink_path` is unstable.
#[allow(unsafe_code)]
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    use std::ffi::{CString, c_char, c_int};
    unsafe extern "C" {
        fn symlink(target: *const c_char, link: *const c_char) -> c_int;
    }
    let target = CString::new(target).map_err(std::io::Error::other)?;
    let link = CString::new(link).map_err(std::io::Error::other)?;
    // SAFETY: both pointers are valid NUL-terminated strings for the call.
    if unsafe { symlink(target.as_ptr(), link.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn sql_execute(statement: &str) -> String {
    match sql::execute(statement, params![]) {
        Ok(changed) => format!("ok: {changed} rows changed"),
        Err(e) => format!("error: {e:#}"),
    }
}

fn sql_query(statement: &str) -> String {
    match sql::query(statement, params![]) {
        Ok(rows) => {
            let values: Vec<String> = rows
                .iter()
                .flat_map(|row| row.values().iter().map(ToString::to_string))
                .collect();
            format!("ok: {}", values.join(", "))
        }
        Err(e) => format!("error: {e:#}"),
    }
}

/// Publishes 100 messages as fast as it can; reports how many got through.
fn flood() -> String {
    let mut published = 0;
    let mut refused = 0;
    let mut first_error = None;
    for _ in 0..100 {
        match bus::publish("rosey.plugins.hostile.flood", b"flood") {
            Ok(()) => published += 1,
            Err(e) => {
                refused += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    format!(
        "flood: {published} published, {refused} refused ({})",
        first_error.unwrap_or_default()
    )
}

/// Writes `mib` files of 1 MiB each into /data.
fn fill_disk(mib: usize) -> String {
    let chunk = vec![0xAAu8; 1 << 20];
    for i in 0..mib {
        if let Err(e) = std::fs::write(format!("/data/fill-{i}.bin"), &chunk) {
            return format!("fill-disk: wrote {i} MiB, then {e}");
        }
    }
    format!("fill-disk: wrote {mib} MiB")
}

/// Busy-waits on the monotonic clock (no host sleep) for `duration`.
fn busy_wait(duration: Duration) -> String {
    let start = Instant::now();
    while start.elapsed() < duration {
        black_box(());
    }
    "slept".to_owned()
}

export_plugin!(Hostile);
