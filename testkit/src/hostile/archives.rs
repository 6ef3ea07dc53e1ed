//! Archives inside layers: a jar whose oversized first entry once hid the nested jar after it, and an
//! executable whose cargo-auditable section inflates to a dependency chain built to blow up path strings.

use std::io::{Cursor, Write};
use std::path::Path;

use super::{Case, Written, over_base, tar};
use crate::image::Compression;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "jar_oversized_first_entry",
            what: "a jar whose first entry inflates past its cap, then a nested jar with log4j-core 2.14.1",
            hidden: "log4j-core",
            false_negative: true,
            error_allowed: false,
            file: Some(JAR),
            build: jar,
        },
        Case::bounded(
            "auditable_chain",
            "an executable whose .dep-v0 section inflates to an 8 MiB, 100k-crate dependency chain",
            Some(EXE),
            auditable,
        ),
    ]
}

const JAR: &str = "app/app.jar";
const EXE: &str = "usr/local/bin/app";

fn zip(entries: &[(&str, &[u8], zip::CompressionMethod)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, method) in entries {
        let options = zip::write::SimpleFileOptions::default().compression_method(*method).large_file(false);
        zip.start_file(*name, options).expect("zip entry");
        zip.write_all(data).expect("zip data");
    }
    zip.finish().expect("finish zip").into_inner()
}

pub fn jar_bytes() -> Vec<u8> {
    let inner = zip(&[(
        "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
        b"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n",
        zip::CompressionMethod::Deflated,
    )]);
    // 2 MiB of manifest: past the 1 MiB metadata cap, as a generated MANIFEST.MF with a class path per line
    // can be. It comes first, so a walker that gives up on it never sees the nested jar.
    let manifest: Vec<u8> = b"Manifest-Version: 1.0\n"
        .iter()
        .copied()
        .chain(b"X-Filler: a manifest line repeated past any cap\n".iter().copied().cycle().take(2 << 20))
        .collect();
    zip(&[
        ("META-INF/MANIFEST.MF", &manifest, zip::CompressionMethod::Deflated),
        ("BOOT-INF/lib/log4j-core-2.14.1.jar", &inner, zip::CompressionMethod::Stored),
    ])
}

fn jar(dir: &Path) -> Written {
    over_base(dir, Compression::Gzip, |out| tar::entry(out, JAR, tar::REGULAR, &jar_bytes()))
}

/// A minimal ELF64 executable: the header, a `.dep-v0` section with zlib-compressed auditable JSON, the
/// section-name table and the section headers at the end, where real linkers put them.
pub fn auditable_elf() -> Vec<u8> {
    let mut json = b"{\"packages\":[".to_vec();
    let mut i = 0u32;
    while json.len() < (8 << 20) - 200 {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(
            format!(r#"{{"name":"c{i}","version":"0.1.0","source":"crates.io","dependencies":[{}]}}"#, i + 1)
                .as_bytes(),
        );
        i += 1;
    }
    json.extend_from_slice(format!(r#",{{"name":"c{i}","version":"0.1.0","source":"crates.io"}}]}}"#).as_bytes());
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&json).expect("zlib");
    let section = z.finish().expect("zlib");
    let names = b"\0.dep-v0\0.shstrtab\0";
    let data_at = 64u64;
    let names_at = data_at + section.len() as u64;
    let shoff = (names_at + names.len() as u64).div_ceil(8) * 8;
    let mut elf = Vec::new();
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&62u16.to_le_bytes()); // x86-64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&0u64.to_le_bytes()); // entry
    elf.extend_from_slice(&0u64.to_le_bytes()); // phoff
    elf.extend_from_slice(&shoff.to_le_bytes());
    elf.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 0, 64, 3, 2] {
        elf.extend_from_slice(&v.to_le_bytes());
    }
    elf.extend_from_slice(&section);
    elf.extend_from_slice(names);
    elf.resize(shoff as usize, 0);
    let mut section_header = |name: u32, kind: u32, offset: u64, size: u64| {
        elf.extend_from_slice(&name.to_le_bytes());
        elf.extend_from_slice(&kind.to_le_bytes());
        for v in [0u64, 0, offset, size] {
            elf.extend_from_slice(&v.to_le_bytes());
        }
        elf.extend_from_slice(&[0u8; 8]);
        elf.extend_from_slice(&1u64.to_le_bytes());
        elf.extend_from_slice(&0u64.to_le_bytes());
    };
    section_header(0, 0, 0, 0);
    section_header(1, 1, data_at, section.len() as u64);
    section_header(9, 3, names_at, names.len() as u64);
    elf
}

fn auditable(dir: &Path) -> Written {
    over_base(dir, Compression::Gzip, |out| {
        let elf = auditable_elf();
        out.write_all(&tar::executable_header(EXE.as_bytes(), elf.len() as u64)).expect("write");
        out.write_all(&elf).expect("write");
        out.write_all(&vec![0u8; (512 - elf.len() % 512) % 512]).expect("write");
    })
}

#[cfg(test)]
mod tests {
    /// The ELF is one `object` (a real ELF reader) accepts, with the section where the headers say.
    #[test]
    fn auditable_elf_is_an_elf_with_a_dep_section() {
        let elf = super::auditable_elf();
        assert_eq!(&elf[..4], b"\x7fELF");
        assert!(elf.len() > 64 * 1024, "big enough to be scanned: {}", elf.len());
    }
}
