//! The Extism peer's guest: the logic of the rosey-bench guest, written
//! against extism-pdk (Extism's own toolchain, wasm32-unknown-unknown).
#![allow(unsafe_code)] // extism-pdk's host functions are declared `unsafe`

use extism_pdk::*;

#[host_fn]
extern "ExtismHost" {
    fn bench_config_get(key: String) -> Vec<u8>;
    fn bench_kv_get(key: String) -> Vec<u8>;
}

fn count(input: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = input.len().min(8);
    bytes[..n].copy_from_slice(&input[..n]);
    u64::from_le_bytes(bytes)
}

/// S1: nothing at all.
#[plugin_fn]
pub fn noop(_input: Vec<u8>) -> FnResult<()> {
    Ok(())
}

/// S2: the payload straight back.
#[plugin_fn]
pub fn echo(input: Vec<u8>) -> FnResult<Vec<u8>> {
    Ok(input)
}

/// S3: the cheapest lookup there is, n times: a configuration key that
/// is not set (the rosey-bench guest's `config::get_raw("absent")`).
#[plugin_fn]
pub fn import(input: Vec<u8>) -> FnResult<()> {
    for _ in 0..count(&input) {
        let value = unsafe { bench_config_get("absent".to_string())? };
        if !value.is_empty() {
            return Err(WithReturnCode::new(Error::msg("`absent` is set"), 1));
        }
    }
    Ok(())
}

/// S3: a host function that reads a key from SQLite, n times.
#[plugin_fn]
pub fn kv(input: Vec<u8>) -> FnResult<()> {
    for _ in 0..count(&input) {
        let value = unsafe { bench_kv_get("bench-key".to_string())? };
        if value.is_empty() {
            return Err(WithReturnCode::new(Error::msg("bench-key is not set"), 1));
        }
    }
    Ok(())
}
