//! Untrusted bytes as a plugin index, and untrusted text as a signature or
//! a public key: a value or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rosey_package::{Index, PublicKey, SERVED_API, Signature, parse_requirement};

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = Index::from_json(data) {
        for name in index.plugins.keys() {
            let _ = index.newest(name.as_str(), &SERVED_API);
            if let Ok(req) = parse_requirement("^0.1") {
                let _ = index.resolve(name.as_str(), &req, &SERVED_API);
            }
        }
        let _ = index.search("a");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(signature) = Signature::parse(text) {
            let _ = signature.trusted_comment();
        }
        let _ = PublicKey::parse(text);
        let _ = parse_requirement(text);
    }
});
