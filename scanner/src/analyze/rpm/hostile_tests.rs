//! Crafted rpm databases: the sqlite one must never run the file's SQL, the Berkeley DB one must stay
//! linear in its size.

use rusqlite::{Connection, MAIN_DB};

use super::*;
use crate::budget::Budget;

/// An sqlite database file made by running `sql` on an empty database.
fn sqlite_file(sql: &str) -> Vec<u8> {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(sql).unwrap();
    conn.serialize(MAIN_DB).unwrap().to_vec()
}

fn sqlite_error(bytes: &[u8]) -> String {
    let err = analyze(Kind::Sqlite, "var/lib/rpm/rpmdb.sqlite", bytes, &Budget::default()).unwrap_err();
    err.to_string()
}

/// The real fixture's header blobs, to build databases whose rows parse.
fn real_blobs() -> Vec<Vec<u8>> {
    let mut raw = Vec::new();
    let gz = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rpm/rpmdb.sqlite.gz")).unwrap();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
    sqlite::blobs(&raw, &Budget::default()).unwrap().0
}

#[test]
fn a_packages_view_is_refused_not_run() {
    // Run, this never ends: a recursive CTE with no bound.
    let endless = sqlite_file(
        "CREATE VIEW Packages AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) \
         SELECT x AS hnum, zeroblob(1000000) AS blob FROM r;",
    );
    let err = sqlite_error(&endless);
    assert!(err.contains("`Packages` is a view"), "{err}");
}

#[test]
fn triggers_generated_columns_and_virtual_tables_are_refused() {
    let trigger = sqlite_file(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
         CREATE TABLE log (x);
         CREATE TRIGGER t AFTER INSERT ON Packages BEGIN INSERT INTO log VALUES (1); END;",
    );
    assert!(sqlite_error(&trigger).contains("triggers"), "{}", sqlite_error(&trigger));
    // A generated column is computed on every read: 64 rows of a gigabyte each.
    let generated = sqlite_file(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, n INT, \
         blob BLOB GENERATED ALWAYS AS (zeroblob(n)) VIRTUAL);
         WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r LIMIT 64) \
         INSERT INTO Packages (hnum, n) SELECT x, 1000000000 FROM r;",
    );
    assert!(sqlite_error(&generated).contains("generated"), "{}", sqlite_error(&generated));
    let virtual_table = sqlite_file("CREATE VIRTUAL TABLE Packages USING fts5(hnum, blob);");
    let err = sqlite_error(&virtual_table);
    assert!(err.contains("virtual") || err.contains("no such module"), "{err}");
    assert!(sqlite_error(&sqlite_file("CREATE TABLE Other (x);")).contains("no Packages table"));
}

/// A blob over the length limit is refused by sqlite itself, before it is copied out.
#[test]
fn a_huge_blob_is_refused() {
    let huge = sqlite_file(&format!(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL);
         INSERT INTO Packages VALUES (1, zeroblob({}));",
        sqlite::MAX_BLOB + 1
    ));
    let err = sqlite_error(&huge);
    assert!(err.contains("too big"), "{err}");
}

fn database_of(blobs: &[Vec<u8>]) -> Vec<u8> {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);").unwrap();
    for blob in blobs {
        conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [blob]).unwrap();
    }
    conn.serialize(MAIN_DB).unwrap().to_vec()
}

/// Past `packages_per_file` rows the result is partial, with a reason naming the budget.
#[test]
fn rows_past_the_package_cap_make_the_result_partial() {
    let blobs = vec![real_blobs().remove(0); 5];
    let budget = Budget { packages_per_file: 3, ..Budget::default() };
    let got = analyze(Kind::Sqlite, "var/lib/rpm/rpmdb.sqlite", &database_of(&blobs), &budget).unwrap();
    assert_eq!(got.packages().len(), 3);
    assert!(got.incomplete.as_deref().unwrap_or_default().contains("`packages_per_file`"));
}

/// The progress handler stops any statement at the deadline (here: already passed).
#[test]
fn statements_stop_at_the_deadline() {
    let db = database_of(&vec![vec![0u8; 16]; 20_000]);
    let budget = Budget { wall: std::time::Duration::ZERO, ..Budget::default() };
    let err = analyze(Kind::Sqlite, "var/lib/rpm/rpmdb.sqlite", &db, &budget).map(|a| a.packages().len());
    assert!(err.as_ref().is_err_and(|e| e.contains("interrupt")), "{err:?}");
}

/// A Berkeley DB hash file whose items all point to one overflow chain as long as the file: read as
/// stored, 1 MiB would yield items × 1 MiB. Every overflow page may serve one item only.
#[test]
fn berkeley_db_overflow_amplification_is_refused() {
    const PAGE: usize = 4096;
    let pages = 256; // 1 MiB
    let mut file = vec![0u8; PAGE * pages];
    file[12..16].copy_from_slice(&0x0006_1561u32.to_le_bytes());
    file[20..24].copy_from_slice(&(PAGE as u32).to_le_bytes());
    file[25] = 8; // hash metadata
    // Page 1: a hash page of key/value pairs, every value an overflow reference to page 2.
    let base = PAGE;
    file[base + 25] = 13;
    let (mut end, mut offsets) = (PAGE, Vec::new());
    let mut off_page = [0u8; 12];
    off_page[0] = 3;
    off_page[4..8].copy_from_slice(&2u32.to_le_bytes());
    off_page[8..12].copy_from_slice(&(((pages - 2) * (PAGE - 26)) as u32).to_le_bytes());
    while 26 + 2 * (offsets.len() + 2) + 5 + 12 < end - 26 {
        for item in [&[1u8, b'k', b'e', b'y', b'0'][..], &off_page[..]] {
            end -= item.len();
            file[base + end..base + end + item.len()].copy_from_slice(item);
            offsets.push(end as u16);
        }
    }
    for (i, o) in offsets.iter().enumerate() {
        file[base + 26 + 2 * i..base + 28 + 2 * i].copy_from_slice(&o.to_le_bytes());
    }
    file[base + 20..base + 22].copy_from_slice(&(offsets.len() as u16).to_le_bytes());
    // Pages 2..: one overflow chain to the end of the file.
    for p in 2..pages {
        let b = p * PAGE;
        file[b + 25] = 7;
        file[b + 22..b + 24].copy_from_slice(&((PAGE - 26) as u16).to_le_bytes());
        let next = if p + 1 < pages { p as u32 + 1 } else { 0 };
        file[b + 16..b + 20].copy_from_slice(&next.to_le_bytes());
    }
    assert!(offsets.len() / 2 > 100, "{} items share the chain", offsets.len() / 2);
    let err = bdb::values(&file).unwrap_err();
    assert!(err.contains("shared by two items"), "{err}");
}
