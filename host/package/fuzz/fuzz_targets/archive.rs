//! Untrusted bytes as a `.roseyplug` archive or a bare component: every
//! input must give a package or an error, never a panic, a hang or an
//! unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rosey_package::{Package, extract_manifest};

fuzz_target!(|data: &[u8]| {
    let _ = Package::read_archive(data);
    let _ = Package::from_wasm(data);
    let _ = extract_manifest(data);
});
