//! Package databases hidden or made hostile: hard links, PAX sparse entries, an empty-named whiteout, a
//! database over its size cap, non-UTF-8 names beside one, and rpm databases that amplify (Berkeley DB
//! overflow pages, a huge SQLite blob) or execute (a `Packages` view with a recursive CTE).

use std::path::Path;

use super::{Case, DPKG_STATUS, STATUS, Written, debian_base, layout, over_base, tar};
use crate::image::Compression;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::hides("hard_link_db", "the dpkg database as a hard link within its layer", false, None, hard_link_db),
        Case::hides(
            "hard_link_db_across_layers",
            "the dpkg database as a hard link to a lower layer's file",
            false,
            None,
            hard_link_across,
        ),
        Case::hides("sparse_db", "the dpkg database as a PAX 1.0 sparse entry", false, None, sparse_db),
        Case::hides(
            "empty_whiteout",
            "an empty-named `.wh.` whiteout over a layer with a dpkg database",
            true,
            None,
            empty_whiteout,
        ),
        Case::hides("db_over_cap", "a 70 MiB dpkg database, over its 64 MiB cap", true, Some(DPKG_STATUS), db_over_cap),
        Case::hides("non_utf8_names", "non-UTF-8 file names next to a real dpkg database", false, None, non_utf8_names),
        Case::bounded(
            "bdb_overflow",
            "a 1 MiB Berkeley DB rpmdb whose items all point at one looping overflow page",
            Some("var/lib/rpm/Packages"),
            bdb_overflow,
        ),
        Case::bounded(
            "rpm_sqlite_blob",
            "a 300 MB blob in an rpm SQLite database",
            Some(RPMDB_SQLITE),
            rpm_sqlite_blob,
        ),
        Case::bounded(
            "rpm_sqlite_view",
            "an rpm SQLite database whose `Packages` is a view with a recursive CTE",
            Some(RPMDB_SQLITE),
            rpm_sqlite_view,
        ),
    ]
}

const RPMDB_SQLITE: &str = "var/lib/rpm/rpmdb.sqlite";

fn hard_link_db(dir: &Path) -> Written {
    let layer = layout::layer(dir, Compression::Gzip, |out| {
        debian_base(out, false);
        tar::entry(out, "usr/share/dpkg/status.saved", tar::REGULAR, STATUS);
        tar::hard_link(out, DPKG_STATUS, "usr/share/dpkg/status.saved");
        tar::end(out);
    });
    layout::image(dir, vec![layer])
}

fn hard_link_across(dir: &Path) -> Written {
    let lower = layout::layer(dir, Compression::Gzip, |out| {
        debian_base(out, false);
        tar::entry(out, "usr/share/dpkg/status.saved", tar::REGULAR, STATUS);
        tar::end(out);
    });
    let upper = layout::layer(dir, Compression::Gzip, |out| {
        tar::hard_link(out, DPKG_STATUS, "usr/share/dpkg/status.saved");
        tar::end(out);
    });
    layout::image(dir, vec![lower, upper])
}

/// GNU tar's `--sparse --format=pax` (sparse format 1.0): the real name and size in PAX records, the entry
/// itself named `GNUSparseFile.0/…` with a block holding the sparse map before the data.
fn sparse_db(dir: &Path) -> Written {
    let layer = layout::layer(dir, Compression::Gzip, |out| {
        debian_base(out, false);
        let size = STATUS.len().to_string();
        tar::pax(
            out,
            &[
                ("GNU.sparse.major", "1"),
                ("GNU.sparse.minor", "0"),
                ("GNU.sparse.name", DPKG_STATUS),
                ("GNU.sparse.realsize", &size),
            ],
        );
        let mut data = format!("1\n0\n{size}\n").into_bytes();
        data.resize(512, 0);
        data.extend_from_slice(STATUS);
        tar::entry(out, "var/lib/dpkg/GNUSparseFile.0/status", tar::REGULAR, &data);
        tar::end(out);
    });
    layout::image(dir, vec![layer])
}

fn empty_whiteout(dir: &Path) -> Written {
    over_base(dir, Compression::Gzip, |out| {
        tar::entry(out, ".wh.", tar::REGULAR, b"");
        tar::entry(out, "var/lib/dpkg/.wh.", tar::REGULAR, b"");
    })
}

/// 70 MiB: the vulnerable stanza, then one package whose description runs on for the rest.
fn db_over_cap(dir: &Path) -> Written {
    let layer = layout::layer(dir, Compression::Gzip, |out| {
        debian_base(out, false);
        let head = b"Package: filler\nStatus: install ok installed\nVersion: 1.0\nDescription: filler\n";
        let line = b" a description that goes on and on, as no real package's does\n";
        let lines = (70u64 << 20) / line.len() as u64;
        let size = STATUS.len() as u64 + head.len() as u64 + lines * line.len() as u64 + 1;
        out.write_all(&tar::header(DPKG_STATUS.as_bytes(), size, tar::REGULAR, b"")).expect("write");
        out.write_all(STATUS).expect("write");
        out.write_all(head).expect("write");
        for _ in 0..lines {
            out.write_all(line).expect("write");
        }
        out.write_all(b"\n").expect("write");
        out.write_all(&vec![0u8; ((512 - size % 512) % 512) as usize]).expect("write");
        tar::end(out);
    });
    layout::image(dir, vec![layer])
}

fn non_utf8_names(dir: &Path) -> Written {
    over_base(dir, Compression::Gzip, |out| {
        out.write_all(&tar::header(b"opt/caf\xe9-latin1/", 0, tar::DIRECTORY, b"")).expect("write");
        out.write_all(&tar::header(b"opt/caf\xe9-latin1/r\xe9sum\xe9.txt", 0, tar::REGULAR, b"")).expect("write");
        out.write_all(&tar::header(b"usr/share/\xff\xfe\xfd", 0, tar::REGULAR, b"")).expect("write");
    })
}

/// Berkeley DB hash file layout (libdb `db_page.h`): page 0 the metadata, page 1 an overflow page that
/// links to itself, and every other page a hash page whose 200 items all reference that page for as many
/// bytes as the file's page count allows (a chain visits each page at most once per page in the file: 0.9
/// MiB). A reader that follows each reference copies 0.9 MiB per item: 370 GB in all.
pub fn bdb_overflow_bytes() -> Vec<u8> {
    const PAGE: usize = 512;
    const PAGES: usize = 2048;
    let mut db = vec![0u8; PAGE * PAGES];
    db[12..16].copy_from_slice(&0x0006_1561u32.to_le_bytes());
    db[20..24].copy_from_slice(&(PAGE as u32).to_le_bytes());
    db[25] = 8; // P_HASHMETA
    let overflow = PAGE;
    db[overflow + 16..overflow + 20].copy_from_slice(&1u32.to_le_bytes()); // next page: itself
    db[overflow + 22..overflow + 24].copy_from_slice(&((PAGE - 26) as u16).to_le_bytes());
    db[overflow + 25] = 7; // P_OVERFLOW
    db[overflow + 26..overflow + PAGE].fill(b'h');
    let total = ((PAGES - 48) * (PAGE - 26)) as u32;
    for page in 2..PAGES {
        let base = page * PAGE;
        let entries = 200u16;
        db[base + 20..base + 22].copy_from_slice(&entries.to_le_bytes());
        db[base + 25] = 13; // P_HASH
        let item = PAGE - 12;
        for i in 0..usize::from(entries) {
            db[base + 26 + 2 * i..base + 28 + 2 * i].copy_from_slice(&(item as u16).to_le_bytes());
        }
        db[base + item] = 3; // H_OFFPAGE
        db[base + item + 4..base + item + 8].copy_from_slice(&1u32.to_le_bytes());
        db[base + item + 8..base + item + 12].copy_from_slice(&total.to_le_bytes());
    }
    db
}

fn bdb_overflow(dir: &Path) -> Written {
    over_base(dir, Compression::Gzip, |out| {
        tar::entry(out, "var/lib/rpm/Packages", tar::REGULAR, &bdb_overflow_bytes());
    })
}

/// An SQLite file built by SQLite itself in a scratch directory, streamed into the layer and deleted.
fn sqlite_layer(dir: &Path, setup: &str) -> Written {
    std::fs::create_dir_all(dir).expect("layout dir");
    let scratch = tempfile::tempdir_in(dir).expect("scratch dir");
    let db = scratch.path().join("rpmdb.sqlite");
    let conn = rusqlite::Connection::open(&db).expect("create sqlite");
    conn.execute_batch(setup).expect("build rpmdb");
    drop(conn);
    let written = over_base(dir, Compression::Gzip, |out| {
        let size = std::fs::metadata(&db).expect("stat").len();
        out.write_all(&tar::header(RPMDB_SQLITE.as_bytes(), size, tar::REGULAR, b"")).expect("write");
        std::io::copy(&mut std::fs::File::open(&db).expect("open sqlite"), out).expect("copy sqlite");
        out.write_all(&vec![0u8; ((512 - size % 512) % 512) as usize]).expect("write");
    });
    drop(scratch);
    written
}

fn rpm_sqlite_blob(dir: &Path) -> Written {
    sqlite_layer(
        dir,
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
         INSERT INTO Packages (blob) VALUES (zeroblob(300000000));",
    )
}

fn rpm_sqlite_view(dir: &Path) -> Written {
    sqlite_layer(
        dir,
        "CREATE TABLE Real (hnum INTEGER PRIMARY KEY, blob BLOB);
         CREATE VIEW Packages AS
           WITH RECURSIVE c(hnum, blob) AS (SELECT 1, zeroblob(1000000) UNION ALL SELECT hnum + 1, blob FROM c)
           SELECT hnum, blob FROM c;",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GNU tar, extracting the layers in order as a runtime would apply them, finds the dpkg database
    /// where the case hides it: the generator writes what it claims to.
    fn extracted_by_gnu_tar(build: fn(&Path) -> Written) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let written = build(&dir.path().join("layout"));
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        for digest in &written.layer_digests {
            let blob = crate::image::blob_path(&dir.path().join("layout"), digest);
            let status =
                std::process::Command::new("tar").args(["-xzf"]).arg(&blob).arg("-C").arg(&root).status().unwrap();
            assert!(status.success(), "GNU tar failed on {digest}");
        }
        std::fs::read(root.join(DPKG_STATUS)).unwrap()
    }

    #[test]
    fn gnu_tar_reads_the_hidden_databases() {
        assert_eq!(extracted_by_gnu_tar(sparse_db), STATUS);
        assert_eq!(extracted_by_gnu_tar(hard_link_db), STATUS);
        assert_eq!(extracted_by_gnu_tar(hard_link_across), STATUS);
    }

    #[test]
    fn bdb_overflow_is_a_hash_file_of_one_mib() {
        let db = bdb_overflow_bytes();
        assert_eq!(db.len(), 1 << 20);
        assert_eq!(&db[12..16], &0x0006_1561u32.to_le_bytes());
        assert_eq!(db[512 + 25], 7);
        assert_eq!(db[2047 * 512 + 25], 13);
    }
}
