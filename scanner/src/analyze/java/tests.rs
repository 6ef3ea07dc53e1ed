use std::io::{Cursor, Write};
use std::path::PathBuf;

use zip::write::SimpleFileOptions;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn packages(path: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    partial(path, bytes).map(|(found, _)| found)
}

type Found = Vec<(String, String)>;

/// The packages found, and why they may not be all.
fn partial(path: &str, bytes: &[u8]) -> Result<(Found, Option<String>), String> {
    let analysis = analyze(Kind::Archive, path, bytes)?;
    match analysis.content {
        Some(FileContent::Packages { packages, group }) => {
            assert_eq!(group, None, "each archive is its own target");
            assert!(packages.iter().all(|p| p.kind == PackageKind::Maven));
            Ok((packages.into_iter().map(|p| (p.name, p.version)).collect(), analysis.incomplete))
        }
        other => panic!("{other:?}"),
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        writer.start_file(*name, SimpleFileOptions::default().large_file(true)).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Real Debian jars: what their pom.properties (`unzip -p`), manifest or file name say.
#[test]
fn real_debian_jars() {
    let cases: [(&str, &[(&str, &str)]); 6] = [
        ("slf4j-api.jar", &[("org.slf4j:slf4j-api", "1.7.32")]),
        ("xz-1.9.jar", &[("org.tukaani:xz", "1.9")]),
        ("hamcrest-2.2.jar", &[("org.hamcrest:hamcrest", "2.2")]),
        ("jsch-0.1.54.jar", &[("com.jcraft:jsch", "0.1.54")]),
        ("hamcrest-integration-1.3.1-SNAPSHOT.jar", &[("hamcrest-integration", "1.3.1-SNAPSHOT")]),
        // An ear holding a war holding two jars: found two levels down.
        ("app.ear", &[("org.slf4j:slf4j-api", "1.7.32"), ("org.tukaani:xz", "1.9")]),
    ];
    for (file, want) in cases {
        let want: Vec<(String, String)> = want.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(packages(&format!("usr/share/java/{file}"), &fixture(file)).unwrap(), want, "{file}");
    }
}

#[test]
fn classify_table() {
    assert_eq!(classify("usr/share/java/log4j-core.jar"), Some(Kind::Archive));
    assert_eq!(classify("opt/app/app.war"), Some(Kind::Archive));
    assert_eq!(classify("opt/app/app.ear"), Some(Kind::Archive));
    assert_eq!(classify("opt/app/jar"), None);
    assert_eq!(classify("opt/app/Main.class"), None);
}

#[test]
fn not_a_zip_is_an_error() {
    let err = packages("app/not-a-zip.jar", &fixture("not-a-zip.jar")).unwrap_err();
    assert!(err.contains("not-a-zip.jar: not a zip archive"), "{err}");
    let truncated = fixture("slf4j-api.jar");
    assert!(packages("x.jar", &truncated[..truncated.len() / 2]).is_err());
}

/// A nested jar that inflates past the cap: refused from the bytes inflated, whatever sizes it declares,
/// and named in the reason the analysis is partial; the jar's other entries are still analysed.
#[test]
fn nested_zip_bomb_is_skipped_and_named() {
    let zeros = vec![0u8; (archive::NESTED_CAP + 1024 * 1024) as usize];
    let bomb = zip_of(&[("META-INF/lib/slf4j-api.jar", &fixture("slf4j-api.jar")), ("lib/zeros.jar", &zeros)]);
    assert!(bomb.len() < 1024 * 1024, "the bomb compresses: {} bytes", bomb.len());
    let (found, why) = partial("app/bomb.jar", &bomb).unwrap();
    assert_eq!(found, [("org.slf4j:slf4j-api".to_string(), "1.7.32".to_string())]);
    let why = why.expect("partial");
    assert!(why.contains("bomb.jar!lib/zeros.jar") && why.contains("zip bomb"), "{why}");
}

/// The first entry is oversized (a bomb) and a real jar follows it: the bomb is skipped and named, the
/// nested jar after it still found. On main, the first entry aborted the whole jar and hid the rest.
#[test]
fn oversized_first_entry_does_not_hide_nested_jars() {
    let zeros = vec![0u8; (archive::NESTED_CAP + 1024 * 1024) as usize];
    let jar = zip_of(&[("BOOT-INF/lib/aaa-bomb.jar", &zeros), ("BOOT-INF/lib/xz-1.9.jar", &fixture("xz-1.9.jar"))]);
    let (found, why) = partial("app/app.jar", &jar).unwrap();
    assert_eq!(found, [("org.tukaani:xz".to_string(), "1.9".to_string())]);
    let why = why.expect("partial");
    assert!(why.contains("app.jar!BOOT-INF/lib/aaa-bomb.jar"), "{why}");
    // A corrupt nested archive is skipped the same way.
    let jar = zip_of(&[("lib/broken.jar", b"not a zip"), ("lib/xz.jar", &fixture("xz-1.9.jar"))]);
    let (found, why) = partial("app/app.jar", &jar).unwrap();
    assert_eq!(found.len(), 1);
    assert!(why.unwrap().contains("app.jar!lib/broken.jar: not a zip archive"));
}

/// Many entries each just over the cap: what they inflate counts against the archive's total, so the
/// walk ends after TOTAL_BUDGET bytes instead of inflating every one.
#[test]
fn total_inflation_is_bounded() {
    let zeros = vec![0u8; (archive::NESTED_CAP + 1) as usize];
    let names: Vec<String> = (0..8).map(|i| format!("lib/b{i}.jar")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &zeros[..])).collect();
    let mut walker = archive::Walker::new();
    walker.walk("app.jar", &zip_of(&entries), 0).unwrap();
    assert_eq!(walker.skipped.len(), 8, "{:?}", walker.skipped);
    let over_total = walker.skipped.iter().filter(|s| s.contains("in all")).count();
    assert!(over_total >= 4, "the total budget stopped the walk: {:?}", walker.skipped);
}

/// Archives nested deeper than MAX_DEPTH are not opened: the walk is bounded.
#[test]
fn nesting_is_bounded() {
    let mut archive = fixture("slf4j-api.jar");
    let mut results = Vec::new();
    for depth in 1..=archive::MAX_DEPTH + 1 {
        archive = zip_of(&[(&format!("level{depth}.jar"), &archive)]);
        results.push(packages("outer.jar", &archive).unwrap().len());
    }
    assert_eq!(results, [1, 1, 1, 0], "slf4j-api found down to depth {}", archive::MAX_DEPTH);
    let why = partial("outer.jar", &archive).unwrap().1.unwrap();
    assert!(why.contains("level1.jar: nested deeper than 3 archives"), "{why}");
}

#[test]
fn fat_jar_lists_every_pom_once() {
    let pom = |g: &str, a: &str, v: &str| format!("#Generated by Maven\ngroupId={g}\nartifactId={a}\nversion={v}\n");
    let (p1, p2) = (pom("com.acme", "app", "1.0.0"), pom("org.slf4j", "slf4j-api", "1.7.32"));
    let fat = zip_of(&[
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\nImplementation-Version: 9.9\n"),
        ("META-INF/maven/com.acme/app/pom.properties", p1.as_bytes()),
        ("META-INF/maven/org.slf4j/slf4j-api/pom.properties", p2.as_bytes()),
        ("BOOT-INF/lib/slf4j-api-1.7.32.jar", &fixture("slf4j-api.jar")),
    ]);
    let got = packages("app/app-1.0.0.jar", &fat).unwrap();
    let want = [("com.acme:app", "1.0.0"), ("org.slf4j:slf4j-api", "1.7.32")];
    assert_eq!(got, want.map(|(n, v)| (n.to_string(), v.to_string())));
}
