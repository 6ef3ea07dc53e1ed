//! The sqlite rpmdb (rpm ≥ 4.16: RHEL/Rocky/Alma 9, Fedora ≥ 33, Amazon Linux 2023, openSUSE Tumbleweed),
//! read from memory: the engine never writes to disk, so the file's bytes are handed to sqlite's
//! `sqlite3_deserialize` on an in-memory connection, read-only. Table `Packages(hnum, blob)` holds one
//! header blob per installed package.

use std::io::Read;

use rusqlite::{Connection, MAIN_DB};

/// The sqlite file header's magic string (sqlite's file format, section 1.3).
const MAGIC: &[u8] = b"SQLite format 3\0";

/// Every header blob of the `Packages` table, in installation order.
pub fn blobs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if !bytes.starts_with(MAGIC) || bytes.len() < 100 {
        return Err("not an sqlite database".into());
    }
    // rpm keeps its database in WAL mode (header bytes 18 and 19 = 2), which an in-memory image cannot
    // open; a checkpointed WAL database is byte-for-byte a rollback-journal one apart from these two bytes,
    // so they are patched on the way in (the image is copied once, into sqlite's own memory).
    let versions = if bytes[18] == 2 && bytes[19] == 2 { [1, 1] } else { [bytes[18], bytes[19]] };
    let image = bytes[..18].chain(&versions[..]).chain(&bytes[20..]);
    let mut conn = Connection::open_in_memory().map_err(|e| format!("sqlite: {e}"))?;
    conn.deserialize_read_exact(MAIN_DB, image, bytes.len(), true)
        .map_err(|e| format!("sqlite cannot load the database: {e}"))?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages ORDER BY hnum")
        .map_err(|e| format!("not an rpm database (no Packages table: {e})"))?;
    let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0)).map_err(|e| format!("sqlite: {e}"))?;
    rows.map(|r| r.map_err(|e| format!("sqlite: reading a header: {e}"))).collect()
}
