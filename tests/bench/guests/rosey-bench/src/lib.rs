//! The guest of the benchmark suite. Rosey runs it through its full host;
//! the raw wasmtime peer runs the very same component on a bare linker, so
//! the two differ only in what the host does around each call.
//!
//! What it does is chosen by the message's subject (the last token); loop
//! counts arrive as a little-endian u64 payload.

use rosey_sdk::prelude::*;
use rosey_sdk::{bus, config, kv, sql};

struct Bench;

fn count(msg: &Message) -> u64 {
    let mut bytes = [0u8; 8];
    let n = msg.payload.len().min(8);
    bytes[..n].copy_from_slice(&msg.payload[..n]);
    u64::from_le_bytes(bytes)
}

impl Plugin for Bench {
    fn on_message(msg: Message) -> Result<()> {
        let what = msg.subject.rsplit('.').next().unwrap_or_default();
        match what {
            // S1: nothing at all.
            "noop" => Ok(()),
            // S2: the payload straight back.
            "echo" => bus::publish("rosey.plugins.rosey-bench.echo", &msg.payload),
            // S3: the cheapest import there is (a key that is not set), n times.
            "import" => {
                for _ in 0..count(&msg) {
                    let _ = config::get_raw("absent");
                }
                Ok(())
            }
            // S3: kv.get of a stored key, n times.
            "kv" => {
                for _ in 0..count(&msg) {
                    kv::get("bench-key")?;
                }
                Ok(())
            }
            "kvset" => kv::set("bench-key", b"0123456789abcdef0123456789abcdef"),
            "schema" => {
                sql::execute(
                    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, user TEXT NOT NULL, n INTEGER NOT NULL)",
                    vec![],
                )?;
                sql::execute("DELETE FROM events", vec![])?;
                Ok(())
            }
            // S4: n autocommit inserts.
            "insert" => {
                for i in 0..count(&msg) {
                    insert(i)?;
                }
                Ok(())
            }
            // S4: n inserts in one transaction.
            "insert-tx" => {
                sql::execute("BEGIN", vec![])?;
                for i in 0..count(&msg) {
                    insert(i)?;
                }
                sql::execute("COMMIT", vec![])?;
                Ok(())
            }
            // S8: CPU work with no imports (an xorshift walk), n steps.
            "spin" => {
                let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
                for _ in 0..count(&msg) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                if x == 0 {
                    return Err(Error::msg("unreachable: xorshift never reaches 0"));
                }
                Ok(())
            }
            // S9: a chat event round trip: bench.rt.<i> answers on bench.out.<i>.
            _ if msg.subject.starts_with("bench.rt.") => {
                let out = format!("bench.out.{}", &msg.subject["bench.rt.".len()..]);
                bus::publish(&out, &msg.payload)
            }
            other => Err(Error::msg(format!("unknown benchmark `{other}`"))),
        }
    }
}

fn insert(i: u64) -> Result<()> {
    sql::execute(
        "INSERT INTO events (user, n) VALUES (?1, ?2)",
        vec![
            sql::Value::Text("bench-user".into()),
            sql::Value::Integer(i as i64),
        ],
    )?;
    Ok(())
}

export_plugin!(Bench);
