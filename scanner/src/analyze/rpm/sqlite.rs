//! The sqlite rpmdb (rpm ≥ 4.16: RHEL/Rocky/Alma 9, Fedora ≥ 33, Amazon Linux 2023, openSUSE Tumbleweed).
//! Table `Packages(hnum, blob)` holds one header blob per installed package.
//!
//! The file is attacker-controlled, and a sqlite file is a program as much as data: its schema can make
//! `Packages` a view (a recursive CTE that never ends, a `zeroblob` of gigabytes), a virtual table, or give
//! it generated columns, all of which run when the table is read. Reading the b-tree format ourselves
//! would avoid sqlite altogether but means re-implementing overflow chains, freelists and pointer maps;
//! sqlite itself, locked down, is the smaller risk. So:
//! - the bytes are deserialized into an in-memory, read-only connection: nothing touches disk, nothing is
//!   written, and temporary storage is memory too;
//! - views and triggers are disabled on the connection, the schema is untrusted (no functions with side
//!   effects), and `Packages` must be a plain table with stored columns, checked in `sqlite_master` and
//!   `table_xinfo` before it is read;
//! - `SQLITE_LIMIT_LENGTH` refuses any value over [`MAX_BLOB`], the rows read stop at the package cap, the
//!   bytes read stop at the file's own size (a crafted b-tree can point many rows at one overflow chain),
//!   and a progress handler stops any statement at the layer's wall-clock budget.
//!
//! Nothing is sorted (no `ORDER BY`): the packages are sorted afterwards, and a sort could spill blobs.

use std::io::Read;
use std::time::Instant;

use rusqlite::config::DbConfig;
use rusqlite::limits::Limit;
use rusqlite::{Connection, MAIN_DB};

use crate::budget::Budget;

/// The sqlite file header's magic string (sqlite's file format, section 1.3).
const MAGIC: &[u8] = b"SQLite format 3\0";
/// The largest header blob read. rpm's own check allows 256 MiB of data, but the largest real headers
/// (kernel and texlive packages with tens of thousands of files) are a few MiB.
pub const MAX_BLOB: usize = 32 * 1024 * 1024;
/// Virtual machine steps between two checks of the deadline.
const PROGRESS_STEPS: i32 = 1_000;

/// The header blobs of the `Packages` table in row order, and why they are not all of them when a cap was
/// reached first.
pub fn blobs(bytes: &[u8], budget: &Budget) -> Result<(Vec<Vec<u8>>, Option<String>), String> {
    if !bytes.starts_with(MAGIC) || bytes.len() < 100 {
        return Err("not an sqlite database".into());
    }
    let conn = open(bytes, budget)?;
    check_schema(&conn)?;
    let mut stmt = conn.prepare("SELECT blob FROM Packages").map_err(|e| format!("sqlite: {e}"))?;
    let mut rows = stmt.query([]).map_err(|e| format!("sqlite: {e}"))?;
    let (mut blobs, mut total) = (Vec::new(), 0usize);
    while let Some(row) = rows.next().map_err(|e| format!("sqlite: reading a header: {e}"))? {
        if blobs.len() == budget.packages_per_file {
            let why = format!(
                "more than {} package rows (budget `packages_per_file`); the rest were not read",
                budget.packages_per_file
            );
            return Ok((blobs, Some(why)));
        }
        let blob = row.get_ref(0).map_err(|e| format!("sqlite: reading a header: {e}"))?;
        let blob = blob.as_blob().map_err(|_| "a Packages row holds no blob".to_string())?;
        total += blob.len();
        if total > bytes.len() {
            return Err(format!(
                "its rows hold more bytes than the {}-byte file: a corrupt or crafted database",
                bytes.len()
            ));
        }
        blobs.push(blob.to_vec());
    }
    Ok((blobs, None))
}

/// An in-memory, read-only, locked-down connection holding a copy of `bytes`.
fn open(bytes: &[u8], budget: &Budget) -> Result<Connection, String> {
    let sqlite = |e: rusqlite::Error| format!("sqlite: {e}");
    let mut conn = Connection::open_in_memory().map_err(sqlite)?;
    for (setting, on) in [
        (DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false),
        (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
        (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
    ] {
        conn.set_db_config(setting, on).map_err(sqlite)?;
    }
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_BLOB as i32).map_err(sqlite)?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0).map_err(sqlite)?;
    conn.execute_batch("PRAGMA temp_store = MEMORY").map_err(sqlite)?;
    let deadline = Instant::now() + budget.wall;
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() > deadline)).map_err(sqlite)?;
    // rpm keeps its database in WAL mode (header bytes 18 and 19 = 2), which an in-memory image cannot
    // open; a checkpointed WAL database is byte-for-byte a rollback-journal one apart from these two bytes,
    // so they are patched on the way in (the image is copied once, into sqlite's own memory).
    let versions = if bytes[18] == 2 && bytes[19] == 2 { [1, 1] } else { [bytes[18], bytes[19]] };
    let image = bytes[..18].chain(&versions[..]).chain(&bytes[20..]);
    conn.deserialize_read_exact(MAIN_DB, image, bytes.len(), true)
        .map_err(|e| format!("sqlite cannot load the database: {e}"))?;
    Ok(conn)
}

/// `Packages` must be an ordinary table whose columns are stored, not computed.
fn check_schema(conn: &Connection) -> Result<(), String> {
    let sqlite = |e: rusqlite::Error| format!("sqlite: {e}");
    let mut stmt = conn
        .prepare("SELECT type, coalesce(sql, '') FROM sqlite_schema WHERE tbl_name = 'Packages' COLLATE NOCASE")
        .map_err(|e| format!("sqlite cannot read the schema: {e}"))?;
    let objects: Vec<(String, String)> = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(sqlite)?
        .collect::<Result<_, _>>()
        .map_err(sqlite)?;
    let table = objects.iter().find(|(kind, _)| kind != "index" && kind != "trigger");
    match table {
        None => return Err("not an rpm database (no Packages table)".into()),
        Some((kind, _)) if kind != "table" => return Err(format!("`Packages` is a {kind}, not a table")),
        Some((_, sql)) if sql.trim_start().to_ascii_uppercase().starts_with("CREATE VIRTUAL") => {
            return Err("`Packages` is a virtual table".into());
        }
        Some(_) => {}
    }
    if objects.iter().any(|(kind, _)| kind == "trigger") {
        return Err("`Packages` has triggers, which rpm never creates".into());
    }
    let mut stmt = conn.prepare("SELECT name, hidden FROM pragma_table_xinfo('Packages')").map_err(sqlite)?;
    let columns: Vec<(String, i64)> = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(sqlite)?
        .collect::<Result<_, _>>()
        .map_err(sqlite)?;
    if let Some((name, _)) = columns.iter().find(|(_, hidden)| *hidden != 0) {
        return Err(format!("`Packages` column `{name}` is generated or hidden, which rpm never creates"));
    }
    if !columns.iter().any(|(name, _)| name.eq_ignore_ascii_case("blob")) {
        return Err("not an rpm database (`Packages` has no blob column)".into());
    }
    Ok(())
}
