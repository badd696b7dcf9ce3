//! Untrusted text as `manifest.yaml`: a manifest or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rosey_package::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(manifest) = Manifest::from_yaml(text) {
            // A manifest that parsed must also give limits and display.
            let _ = manifest.limits();
        }
    }
});
