//! Hostile archives (security.md, "Archives and manifests"), generated here,
//! and round trips through the archive format.

use std::collections::BTreeMap;

use super::test_archives::{COMPONENT, CORE_MODULE, MANIFEST, ZipBuilder, forge_size, replace_all};
use super::*;

fn refusal(bytes: &[u8]) -> PackageError {
    Package::read_archive(bytes).unwrap_err()
}

fn with_entry(name: &str) -> Vec<u8> {
    ZipBuilder::valid().file(name, b"x").finish()
}

#[test]
fn a_valid_archive_reads() {
    let bytes = ZipBuilder::valid()
        .dir("assets/")
        .dir("assets/img/")
        .file("assets/img/logo.png", b"png")
        .file("assets/quotes.txt", b"hello")
        .dir("migrations/")
        .file("migrations/001_init.up.sql", b"CREATE TABLE q (t TEXT);")
        .file("migrations/001_init.down.sql", b"DROP TABLE q;")
        .file("migrations/002_index.up.sql", b"CREATE INDEX i ON q (t);")
        .file("README.md", b"# echo")
        .file("LICENSE", b"MIT")
        .finish();
    let package = Package::read_archive(&bytes).unwrap();
    assert_eq!(package.manifest.name.as_str(), "echo");
    assert_eq!(package.manifest_yaml, MANIFEST);
    assert_eq!(package.wasm, COMPONENT);
    assert_eq!(
        package.assets.keys().collect::<Vec<_>>(),
        ["img/logo.png", "quotes.txt"]
    );
    assert_eq!(package.migrations.len(), 2);
    assert_eq!(package.migrations[0].down.as_deref(), Some("DROP TABLE q;"));
    assert_eq!(package.readme.as_deref(), Some("# echo"));
    assert_eq!(package.license.as_deref(), Some("MIT"));
    assert_eq!(package.digest().len(), 64);
}

#[test]
fn zip_slip_paths() {
    for (name, expected) in [
        ("../x", "archive entry \"../x\": path escapes the package"),
        (
            "assets/../../x",
            "archive entry \"assets/../../x\": path escapes the package",
        ),
        (
            "/abs",
            "archive entry \"/abs\": absolute paths are not allowed",
        ),
        (
            "C:\\x",
            "archive entry \"C:\\\\x\": drive letters are not allowed",
        ),
        (
            "a\\..\\x",
            "archive entry \"a\\\\..\\\\x\": backslashes are not allowed in paths (use \"/\")",
        ),
    ] {
        assert_eq!(refusal(&with_entry(name)).to_string(), expected, "{name}");
    }
}

#[test]
fn nul_in_a_name() {
    let mut bytes = with_entry("assets/evilXname");
    assert_eq!(
        replace_all(&mut bytes, b"assets/evilXname", b"assets/evil\0name"),
        2
    );
    assert_eq!(
        refusal(&bytes).to_string(),
        "archive entry \"assets/evil\\0name\": the path contains a NUL byte"
    );
}

#[test]
fn non_ascii_names() {
    let err = refusal(&with_entry("assets/caf\u{e9}.txt"));
    assert!(matches!(err, PackageError::NonAsciiPath { .. }), "{err}");
}

#[test]
fn symlinks_are_refused() {
    let bytes = ZipBuilder::valid()
        .symlink("assets/passwd", "/etc/passwd")
        .finish();
    assert_eq!(
        refusal(&bytes).to_string(),
        "archive entry \"assets/passwd\": symbolic links are not allowed"
    );
}

#[test]
fn non_regular_entries_are_refused() {
    // A FIFO: mode 0o010644 in the high half of the external attributes.
    let mut bytes = ZipBuilder::valid().file("assets/fifo", b"").finish();
    let central = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
    // The last central header is the last entry written: assets/fifo.
    bytes[central + 38..central + 42].copy_from_slice(&(0o010_644u32 << 16).to_le_bytes());
    let err = refusal(&bytes);
    assert_eq!(
        err.to_string(),
        "archive entry \"assets/fifo\": only regular files and directories are allowed (unix mode 10644)"
    );
}

#[test]
fn unknown_top_level_files() {
    let err = refusal(&with_entry("install.sh"));
    assert!(matches!(err, PackageError::NotInLayout { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("archive entry \"install.sh\": not part of the package layout")
    );
    let bytes = ZipBuilder::valid().dir("src/").finish();
    assert!(matches!(refusal(&bytes), PackageError::NotInLayout { .. }));
    let err = refusal(&with_entry("migrations/init.sql"));
    assert!(
        matches!(err, PackageError::BadMigrationName { .. }),
        "{err}"
    );
}

#[test]
fn duplicate_names() {
    let mut bytes = ZipBuilder::valid()
        .file("assets/a.txt", b"1")
        .file("assets/b.txt", b"2")
        .finish();
    assert_eq!(replace_all(&mut bytes, b"assets/b.txt", b"assets/a.txt"), 2);
    assert_eq!(
        refusal(&bytes).to_string(),
        "archive entry \"assets/a.txt\": appears more than once"
    );
}

#[test]
fn case_twins() {
    let bytes = ZipBuilder::valid()
        .file("assets/A.txt", b"1")
        .file("assets/a.txt", b"2")
        .finish();
    assert_eq!(
        refusal(&bytes).to_string(),
        "archive entry \"assets/a.txt\": differs only in letter case from \"assets/A.txt\""
    );
}

#[test]
fn encrypted_entries() {
    let mut bytes = ZipBuilder::valid().file("assets/secret", b"s").finish();
    // Set bit 0 (encrypted) of the general-purpose flags of assets/secret.
    let central = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
    bytes[central + 8] |= 1;
    let local = bytes.windows(4).rposition(|w| w == b"PK\x03\x04").unwrap();
    bytes[local + 6] |= 1;
    assert_eq!(
        refusal(&bytes).to_string(),
        "archive entry \"assets/secret\": encrypted entries are not allowed"
    );
}

#[test]
fn zip_bomb_over_the_entry_cap() {
    // 100 MiB of zeros deflates to about 100 KiB (about 1000:1).
    let bytes = ZipBuilder::valid()
        .zeros("assets/bomb", 100 * 1024 * 1024)
        .finish();
    assert!(bytes.len() < 1024 * 1024, "{}", bytes.len());
    assert_eq!(
        refusal(&bytes).to_string(),
        format!("archive entry \"assets/bomb\": unpacks to more than {MAX_ENTRY_BYTES} bytes")
    );
}

#[test]
fn zip_bomb_under_the_entry_cap_is_refused_for_its_ratio() {
    let bytes = ZipBuilder::valid()
        .zeros("assets/bomb", 10 * 1024 * 1024)
        .finish();
    assert_eq!(
        refusal(&bytes).to_string(),
        "archive entry \"assets/bomb\": compresses more than 200:1, which only a zip bomb does"
    );
}

#[test]
fn zip_bomb_with_a_lying_header() {
    // The header says 1 MiB; the data inflates to 100 MiB.
    let mut bytes = ZipBuilder::valid()
        .zeros("assets/bomb", 100 * 1024 * 1024)
        .finish();
    forge_size(&mut bytes, "assets/bomb", 1024 * 1024);
    let err = refusal(&bytes);
    assert!(
        matches!(
            err,
            PackageError::SizeMismatch { .. } | PackageError::EntryRead { .. }
        ),
        "{err}"
    );
    // A header that claims more than there is is caught too.
    let mut bytes = ZipBuilder::valid().file("assets/small", b"tiny").finish();
    forge_size(&mut bytes, "assets/small", 1000);
    let err = refusal(&bytes);
    assert_eq!(
        err.to_string(),
        "archive entry \"assets/small\": its content does not match the size in its header"
    );
}

#[test]
fn the_total_size_is_capped() {
    // Bytes from a four-letter alphabet deflate about 4:1: under the ratio
    // cap, so only the total (130 MiB > 128 MiB) refuses this archive.
    let mut state: u32 = 0x9e37_79b9;
    let chunk: Vec<u8> = (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            b"ACGT"[(state & 3) as usize]
        })
        .collect();
    let bytes = ZipBuilder::valid()
        .repeat("assets/a", 60 << 20, &chunk)
        .repeat("assets/b", 60 << 20, &chunk)
        .repeat("assets/c", 10 << 20, &chunk)
        .finish();
    assert!((bytes.len() as u64) < MAX_ARCHIVE_BYTES);
    assert_eq!(
        refusal(&bytes).to_string(),
        format!("the archive unpacks to more than {MAX_TOTAL_BYTES} bytes")
    );
}

#[test]
fn too_many_entries() {
    let mut builder = ZipBuilder::valid();
    for i in 0..999 {
        builder = builder.file(&format!("assets/{i}"), b"");
    }
    let bytes = builder.finish();
    assert_eq!(
        refusal(&bytes).to_string(),
        "the archive has 1001 entries, more than the 1000 allowed"
    );
    // 1000 is fine.
    let mut builder = ZipBuilder::valid();
    for i in 0..998 {
        builder = builder.file(&format!("assets/{i}"), b"");
    }
    Package::read_archive(&builder.finish()).unwrap();
}

#[test]
fn a_core_module_as_plugin_wasm() {
    let bytes = ZipBuilder::new()
        .file("manifest.yaml", MANIFEST.as_bytes())
        .file("plugin.wasm", CORE_MODULE)
        .finish();
    assert!(matches!(refusal(&bytes), PackageError::CoreModule));
}

#[test]
fn an_elf_as_plugin_wasm() {
    let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let bytes = ZipBuilder::new()
        .file("manifest.yaml", MANIFEST.as_bytes())
        .file("plugin.wasm", elf)
        .finish();
    assert_eq!(
        refusal(&bytes).to_string(),
        "plugin.wasm is native or precompiled code, not a wasm component"
    );
}

#[test]
fn missing_files() {
    let bytes = ZipBuilder::new().file("plugin.wasm", COMPONENT).finish();
    assert_eq!(
        refusal(&bytes).to_string(),
        "the archive has no manifest.yaml at its top level"
    );
    let bytes = ZipBuilder::new()
        .file("manifest.yaml", MANIFEST.as_bytes())
        .finish();
    assert_eq!(
        refusal(&bytes).to_string(),
        "the archive has no plugin.wasm at its top level"
    );
}

#[test]
fn not_a_zip() {
    let err = refusal(b"definitely not a zip file");
    assert!(matches!(err, PackageError::NotZip { .. }), "{err}");
}

#[test]
fn a_bad_manifest_is_a_manifest_error() {
    let bytes = ZipBuilder::new()
        .file(
            "manifest.yaml",
            b"manifest_version: 1\nname: x\nversion: 0.1.0\nrosey_api: \"^0.1\"\nfoo: 1\n",
        )
        .file("plugin.wasm", COMPONENT)
        .finish();
    let err = refusal(&bytes);
    assert!(
        matches!(err, PackageError::Manifest(ManifestError::Unknown(_))),
        "{err}"
    );
}

#[test]
fn migration_rules() {
    let err = refusal(
        &ZipBuilder::valid()
            .file("migrations/001_a.down.sql", b"")
            .finish(),
    );
    assert!(
        matches!(err, PackageError::MigrationDownWithoutUp { .. }),
        "{err}"
    );
    let bytes = ZipBuilder::valid()
        .file("migrations/001_a.up.sql", b"")
        .file("migrations/01_b.up.sql", b"")
        .finish();
    assert!(matches!(
        refusal(&bytes),
        PackageError::DuplicateMigration { version: 1, .. }
    ));
    let err = refusal(
        &ZipBuilder::valid()
            .file("migrations/001_a.up.sql", b"\xff")
            .finish(),
    );
    assert!(matches!(err, PackageError::NotUtf8 { .. }), "{err}");
}

#[test]
fn the_embedded_manifest_must_match() {
    let other = embed_manifest(COMPONENT, "manifest_version: 1\nname: other\n").unwrap();
    let bytes = ZipBuilder::new()
        .file("manifest.yaml", MANIFEST.as_bytes())
        .file("plugin.wasm", &other)
        .finish();
    assert_eq!(
        refusal(&bytes).to_string(),
        "the archive's manifest and the component's embedded manifest differ: rebuild the package \
         with \"rosey plugin build\""
    );
}

fn sample_package() -> Package {
    let mut assets = BTreeMap::new();
    assets.insert("quotes.txt".to_owned(), b"hello".to_vec());
    assets.insert("img/logo.png".to_owned(), vec![0, 1, 2, 3]);
    Package {
        manifest: Manifest::from_yaml(MANIFEST).unwrap(),
        manifest_yaml: MANIFEST.to_owned(),
        wasm: COMPONENT.to_vec(),
        migrations: vec![Migration {
            version: 1,
            name: "init".into(),
            up: "CREATE TABLE q (t TEXT);".into(),
            down: Some("DROP TABLE q;".into()),
        }],
        assets,
        readme: Some("# echo".into()),
        license: Some("MIT".into()),
    }
}

#[test]
fn write_then_read_round_trip() {
    let package = sample_package();
    let bytes = package.write_archive().unwrap();
    let read = Package::read_archive(&bytes).unwrap();
    assert_eq!(read.manifest, package.manifest);
    assert_eq!(read.manifest_yaml, package.manifest_yaml);
    assert_eq!(read.migrations, package.migrations);
    assert_eq!(read.assets, package.assets);
    assert_eq!(read.readme, package.readme);
    assert_eq!(read.license, package.license);
    // plugin.wasm now carries the manifest.
    assert_eq!(
        extract_manifest(&read.wasm).unwrap().as_deref(),
        Some(MANIFEST)
    );
    assert_eq!(read.wasm, embed_manifest(COMPONENT, MANIFEST).unwrap());
    // Reading and writing again changes nothing.
    assert_eq!(read.write_archive().unwrap(), bytes);
}

#[test]
fn archives_are_deterministic() {
    let bytes = sample_package().write_archive().unwrap();
    assert_eq!(sample_package().write_archive().unwrap(), bytes);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for i in 0..archive.len() {
        let entry = archive.by_index(i).unwrap();
        assert_eq!(
            entry.unix_mode(),
            Some(0o100_644),
            "{}",
            entry.name().unwrap()
        );
        assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
        assert_eq!(entry.last_modified(), Some(zip::DateTime::default()));
    }
}

#[test]
fn writing_refuses_what_reading_would() {
    let mut package = sample_package();
    package.assets.insert("../escape".into(), vec![]);
    assert!(matches!(
        package.write_archive(),
        Err(PackageError::PathEscapes { .. })
    ));
}

#[test]
fn a_bare_component_with_its_manifest() {
    let wasm = embed_manifest(COMPONENT, MANIFEST).unwrap();
    let package = Package::from_wasm(&wasm).unwrap();
    assert_eq!(package.manifest.name.as_str(), "echo");
    assert_eq!(package.wasm, wasm);
    assert!(package.migrations.is_empty() && package.assets.is_empty());
    let err = Package::from_wasm(COMPONENT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "this component carries no Rosey manifest: package it with \"rosey plugin build\" (which \
         embeds manifest.yaml), or install the .roseyplug archive instead"
    );
    assert!(matches!(
        Package::from_wasm(CORE_MODULE),
        Err(PackageError::CoreModule)
    ));
}

#[test]
fn read_file_sniffs_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("echo.roseyplug");
    std::fs::write(&archive, sample_package().write_archive().unwrap()).unwrap();
    assert_eq!(
        Package::read_file(&archive).unwrap().manifest.name.as_str(),
        "echo"
    );

    let wasm = dir.path().join("echo.wasm");
    std::fs::write(&wasm, embed_manifest(COMPONENT, MANIFEST).unwrap()).unwrap();
    assert_eq!(
        Package::read_file(&wasm).unwrap().manifest.name.as_str(),
        "echo"
    );

    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hello").unwrap();
    let err = Package::read_file(&other).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("notes.txt: neither a .roseyplug archive nor a wasm component"),
        "{err}"
    );

    let missing = dir.path().join("missing.roseyplug");
    assert!(matches!(
        Package::read_file(&missing),
        Err(PackageError::Io { .. })
    ));
}

#[test]
fn read_file_checks_the_size_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.roseyplug");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(MAX_ARCHIVE_BYTES + 1).unwrap(); // sparse: nothing is written
    let err = Package::read_file(&big).unwrap_err();
    assert!(matches!(err, PackageError::FileTooLarge { .. }), "{err}");
}

#[test]
fn from_project_dir_assembles_a_package() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("manifest.yaml"), MANIFEST).unwrap();
    std::fs::create_dir_all(root.join("migrations")).unwrap();
    std::fs::write(
        root.join("migrations/001_init.up.sql"),
        "CREATE TABLE q (t TEXT);",
    )
    .unwrap();
    std::fs::write(root.join("migrations/001_init.down.sql"), "DROP TABLE q;").unwrap();
    std::fs::create_dir_all(root.join("assets/img")).unwrap();
    std::fs::write(root.join("assets/img/logo.png"), [0, 1, 2, 3]).unwrap();
    std::fs::write(root.join("assets/quotes.txt"), "hello").unwrap();
    std::fs::write(root.join("README.md"), "# echo").unwrap();
    std::fs::write(root.join("LICENSE"), "MIT").unwrap();
    std::fs::write(root.join("Cargo.toml"), "[package]").unwrap(); // not packaged

    let package = Package::from_project_dir(root, COMPONENT.to_vec()).unwrap();
    let expected = sample_package();
    assert_eq!(package.assets, expected.assets);
    assert_eq!(package.migrations, expected.migrations);
    assert_eq!(package.readme, expected.readme);
    assert_eq!(package.license, expected.license);
    // The manifest is embedded right away, so the digest survives a round trip.
    let read = Package::read_archive(&package.write_archive().unwrap()).unwrap();
    assert_eq!(read.digest(), package.digest());
}

#[cfg(unix)]
#[test]
fn from_project_dir_refuses_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("manifest.yaml"), MANIFEST).unwrap();
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("assets/passwd")).unwrap();
    let err = Package::from_project_dir(root, COMPONENT.to_vec()).unwrap_err();
    assert!(matches!(err, PackageError::ProjectSymlink { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("symbolic links are not allowed in a plugin project"),
        "{err}"
    );
}

#[test]
fn from_project_dir_needs_a_manifest_and_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let err = Package::from_project_dir(dir.path(), COMPONENT.to_vec()).unwrap_err();
    assert!(
        matches!(err, PackageError::ProjectFileMissing { .. }),
        "{err}"
    );
    std::fs::write(dir.path().join("manifest.yaml"), MANIFEST).unwrap();
    let err = Package::from_project_dir(dir.path(), CORE_MODULE.to_vec()).unwrap_err();
    assert!(matches!(err, PackageError::CoreModule), "{err}");
}
