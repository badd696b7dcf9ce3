//! The manifest inside a bare component (a top-level `rosey-manifest` custom
//! section), and the cheap checks that `plugin.wasm` is a component at all.

use std::ops::Range;

use wasmparser::{Parser, Payload};

use super::error::PackageError;

/// The name of the custom section that carries `manifest.yaml`.
pub const MANIFEST_SECTION: &str = "rosey-manifest";

/// The largest `plugin.wasm` accepted, checked before anything else.
pub const MAX_WASM_BYTES: u64 = 64 * 1024 * 1024;

const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version 0x0d and layer 1: the component-model preamble.
const COMPONENT_PREAMBLE: &[u8; 4] = b"\x0d\x00\x01\x00";
/// Version 1 and layer 0: a core module.
const CORE_PREAMBLE: &[u8; 4] = b"\x01\x00\x00\x00";
const HEADER_LEN: usize = 8;
const CUSTOM_SECTION_ID: u8 = 0;

/// Checks that `wasm` is a WebAssembly component small enough to compile:
/// not a core module, not native or precompiled code, and with well-formed
/// top-level section framing. (Full validation happens when the host
/// compiles it.)
pub fn check_component(wasm: &[u8]) -> Result<(), PackageError> {
    let size = wasm.len() as u64;
    if size > MAX_WASM_BYTES {
        return Err(PackageError::WasmTooLarge {
            size,
            max: MAX_WASM_BYTES,
        });
    }
    if is_native_code(wasm) {
        return Err(PackageError::NativeCode);
    }
    match (wasm.get(..4), wasm.get(4..HEADER_LEN)) {
        (Some(magic), Some(preamble)) if magic == WASM_MAGIC && preamble == CORE_PREAMBLE => {
            Err(PackageError::CoreModule)
        }
        (Some(magic), Some(preamble)) if magic == WASM_MAGIC && preamble == COMPONENT_PREAMBLE => {
            top_level_sections(wasm).map(|_| ())
        }
        (Some(magic), _) if magic == WASM_MAGIC => Err(PackageError::NotComponent {
            detail: "unknown wasm version or layer".to_owned(),
        }),
        _ => Err(PackageError::NotComponent {
            detail: "it does not start with \"\\0asm\"".to_owned(),
        }),
    }
}

/// ELF (which is also what wasmtime's `.cwasm` files are), Mach-O, PE.
fn is_native_code(bytes: &[u8]) -> bool {
    const SIGNATURES: [&[u8]; 7] = [
        b"\x7fELF",
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
        b"MZ",
    ];
    SIGNATURES
        .iter()
        .any(|signature| bytes.starts_with(signature))
}

/// One top-level section: its id, its whole byte span (id and size
/// included) and its custom-section name, if it is a custom section.
struct Section<'a> {
    span: Range<usize>,
    custom_name: Option<&'a str>,
}

/// Walks the top-level section framing (id, LEB128 size, payload) without
/// looking inside: nested modules and components are single sections here.
fn top_level_sections(wasm: &[u8]) -> Result<Vec<Section<'_>>, PackageError> {
    let malformed = |offset: usize, what: &str| PackageError::NotComponent {
        detail: format!("malformed section at byte {offset}: {what}"),
    };
    let mut sections = Vec::new();
    let mut at = HEADER_LEN;
    while at < wasm.len() {
        let start = at;
        let id = wasm[at];
        at += 1;
        let (size, used) =
            read_leb128_u32(&wasm[at..]).ok_or_else(|| malformed(start, "bad size"))?;
        at += used;
        let end = at
            .checked_add(size as usize)
            .filter(|end| *end <= wasm.len())
            .ok_or_else(|| malformed(start, "it runs past the end of the file"))?;
        let custom_name = if id == CUSTOM_SECTION_ID {
            let payload = &wasm[at..end];
            let (len, used) = read_leb128_u32(payload)
                .ok_or_else(|| malformed(start, "bad custom section name"))?;
            let name = payload
                .get(used..used + len as usize)
                .and_then(|name| std::str::from_utf8(name).ok())
                .ok_or_else(|| malformed(start, "bad custom section name"))?;
            Some(name)
        } else {
            None
        };
        sections.push(Section {
            span: start..end,
            custom_name,
        });
        at = end;
    }
    Ok(sections)
}

fn read_leb128_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        let bits = u32::from(byte & 0x7f);
        if i == 4 && bits > 0x0f {
            return None;
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn write_leb128_u32(mut value: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Returns `wasm` with any top-level `rosey-manifest` section removed and a
/// new one carrying `manifest_yaml` appended.
pub fn embed_manifest(wasm: &[u8], manifest_yaml: &str) -> Result<Vec<u8>, PackageError> {
    check_component(wasm)?;
    let name = MANIFEST_SECTION.as_bytes();
    let mut name_prefix = Vec::new();
    write_leb128_u32(name.len() as u32, &mut name_prefix);
    let payload_len =
        u32::try_from(name_prefix.len() + name.len() + manifest_yaml.len()).map_err(|_| {
            PackageError::EmbeddedManifest {
                detail: "the manifest is too large".into(),
            }
        })?;

    let mut out = Vec::with_capacity(wasm.len() + payload_len as usize + 6);
    out.extend_from_slice(&wasm[..HEADER_LEN]);
    for section in top_level_sections(wasm)? {
        if section.custom_name != Some(MANIFEST_SECTION) {
            out.extend_from_slice(&wasm[section.span]);
        }
    }
    out.push(CUSTOM_SECTION_ID);
    write_leb128_u32(payload_len, &mut out);
    out.extend_from_slice(&name_prefix);
    out.extend_from_slice(name);
    out.extend_from_slice(manifest_yaml.as_bytes());
    Ok(out)
}

/// The manifest text carried by `wasm`'s top-level `rosey-manifest` section,
/// if any. Sections of nested modules and components are not looked at.
pub fn extract_manifest(wasm: &[u8]) -> Result<Option<String>, PackageError> {
    let mut depth = 0usize;
    let mut found: Option<&[u8]> = None;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|err| PackageError::NotComponent {
            detail: err.message().to_owned(),
        })?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth == 0 => break,
            Payload::End(_) => depth -= 1,
            Payload::CustomSection(section) if depth == 0 && section.name() == MANIFEST_SECTION => {
                if found.is_some() {
                    return Err(PackageError::EmbeddedManifest {
                        detail: format!("there is more than one \"{MANIFEST_SECTION}\" section"),
                    });
                }
                found = Some(section.data());
            }
            _ => {}
        }
    }
    found
        .map(|data| {
            String::from_utf8(data.to_vec()).map_err(|_| PackageError::EmbeddedManifest {
                detail: "it is not UTF-8".into(),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
    const CORE_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

    fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
        let mut payload = Vec::new();
        write_leb128_u32(name.len() as u32, &mut payload);
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(data);
        let mut out = vec![CUSTOM_SECTION_ID];
        write_leb128_u32(payload.len() as u32, &mut out);
        out.extend(payload);
        out
    }

    /// A component holding a nested core module (section id 1) that carries
    /// its own `rosey-manifest` section.
    fn component_with_nested_manifest(text: &str) -> Vec<u8> {
        let mut module = CORE_MODULE.to_vec();
        module.extend(custom_section(MANIFEST_SECTION, text.as_bytes()));
        let mut wasm = EMPTY_COMPONENT.to_vec();
        wasm.push(1);
        write_leb128_u32(module.len() as u32, &mut wasm);
        wasm.extend(module);
        wasm
    }

    #[test]
    fn the_empty_component_passes() {
        assert!(check_component(EMPTY_COMPONENT).is_ok());
    }

    #[test]
    fn a_core_module_is_refused_with_a_fix() {
        let err = check_component(CORE_MODULE).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin.wasm is a core wasm module, not a component: build it for the wasm32-wasip2 \
             target (or wrap it with \"wasm-tools component new\")"
        );
    }

    #[test]
    fn native_code_is_refused() {
        for bytes in [
            &b"\x7fELF\x02\x01\x01\0"[..],
            b"\xcf\xfa\xed\xfe....",
            b"MZ\x90\0",
        ] {
            let err = check_component(bytes).unwrap_err();
            assert_eq!(
                err.to_string(),
                "plugin.wasm is native or precompiled code, not a wasm component"
            );
        }
    }

    #[test]
    fn other_bytes_are_not_components() {
        for bytes in [&b""[..], b"\0as", b"hello world", b"\0asm\x0e\x00\x01\x00"] {
            let err = check_component(bytes).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("plugin.wasm is not a wasm component"),
                "{err}"
            );
        }
        // A section that claims more bytes than there are.
        let mut truncated = EMPTY_COMPONENT.to_vec();
        truncated.extend([0, 100, 1]);
        let err = check_component(&truncated).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin.wasm is not a wasm component: malformed section at byte 8: it runs past the end of the file"
        );
    }

    #[test]
    fn oversized_wasm_is_refused_before_looking_at_it() {
        let big = vec![0u8; MAX_WASM_BYTES as usize + 1];
        assert!(matches!(
            check_component(&big),
            Err(PackageError::WasmTooLarge { .. })
        ));
    }

    #[test]
    fn embed_then_extract() {
        let text = "manifest_version: 1\nname: echo\n";
        let wasm = embed_manifest(EMPTY_COMPONENT, text).unwrap();
        assert!(check_component(&wasm).is_ok());
        assert_eq!(extract_manifest(&wasm).unwrap().as_deref(), Some(text));
        assert_eq!(extract_manifest(EMPTY_COMPONENT).unwrap(), None);
    }

    #[test]
    fn embedding_replaces_the_old_manifest_and_keeps_other_sections() {
        let mut wasm = EMPTY_COMPONENT.to_vec();
        wasm.extend(custom_section("producers", b"keep me"));
        let once = embed_manifest(&wasm, "first").unwrap();
        let twice = embed_manifest(&once, "second").unwrap();
        assert_eq!(extract_manifest(&twice).unwrap().as_deref(), Some("second"));
        assert_eq!(twice.windows(7).filter(|w| w == b"keep me").count(), 1);
        assert_eq!(twice.windows(5).filter(|w| w == b"first").count(), 0);
        // Embedding the same text again changes nothing.
        assert_eq!(embed_manifest(&twice, "second").unwrap(), twice);
    }

    #[test]
    fn large_manifests_use_multi_byte_sizes() {
        let text = "x".repeat(70_000);
        let wasm = embed_manifest(EMPTY_COMPONENT, &text).unwrap();
        assert_eq!(
            extract_manifest(&wasm).unwrap().as_deref(),
            Some(text.as_str())
        );
    }

    #[test]
    fn nested_sections_are_ignored() {
        let wasm = component_with_nested_manifest("nested");
        assert_eq!(extract_manifest(&wasm).unwrap(), None);
        let outer = embed_manifest(&wasm, "outer").unwrap();
        assert_eq!(extract_manifest(&outer).unwrap().as_deref(), Some("outer"));
        // The nested module's section survives embedding.
        assert_eq!(outer.windows(6).filter(|w| w == b"nested").count(), 1);
    }

    #[test]
    fn two_manifest_sections_are_ambiguous() {
        let mut wasm = EMPTY_COMPONENT.to_vec();
        wasm.extend(custom_section(MANIFEST_SECTION, b"a"));
        wasm.extend(custom_section(MANIFEST_SECTION, b"b"));
        assert!(matches!(
            extract_manifest(&wasm),
            Err(PackageError::EmbeddedManifest { .. })
        ));
    }

    #[test]
    fn non_utf8_manifests_are_refused() {
        let mut wasm = EMPTY_COMPONENT.to_vec();
        wasm.extend(custom_section(MANIFEST_SECTION, b"\xff\xfe"));
        let err = extract_manifest(&wasm).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin.wasm: the embedded \"rosey-manifest\" section is unusable: it is not UTF-8"
        );
    }

    #[test]
    fn leb128_round_trip() {
        for value in [0, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut bytes = Vec::new();
            write_leb128_u32(value, &mut bytes);
            assert_eq!(read_leb128_u32(&bytes), Some((value, bytes.len())));
        }
        assert_eq!(read_leb128_u32(&[0x80, 0x80, 0x80, 0x80, 0x80]), None);
        assert_eq!(read_leb128_u32(&[0x80]), None);
    }
}
