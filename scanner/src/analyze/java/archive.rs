//! Walking a Java archive and the archives nested in it, with hard limits: a jar is attacker-shaped input
//! (zip bombs, millions of entries, archives nested without end), and the scan must stay bounded.

use std::io::{Cursor, Read};

use zip::ZipArchive;

use super::meta::{self, Coordinates};

const MIB: u64 = 1024 * 1024;
/// Nesting below the archive the layer holds: an ear holds wars, which hold jars, which may shade jars.
pub const MAX_DEPTH: usize = 3;
/// Entries in one archive's central directory. The largest real fat jars (Spring Boot apps, shaded
/// uber-jars) hold tens of thousands; the crate keeps every entry's metadata in memory.
pub const MAX_ENTRIES: u64 = 200_000;
/// Uncompressed bytes read from one top-level archive, nested archives included.
pub const TOTAL_BUDGET: u64 = 256 * MIB;
/// Uncompressed size of one nested archive (it is read into memory to be opened).
pub const NESTED_CAP: u64 = 64 * MIB;
/// `pom.properties` and `MANIFEST.MF` are a few hundred bytes to a few dozen KiB.
const META_CAP: u64 = MIB;

/// What archives are: the extensions Maven packages (`jar`, `war`, `ear`) and Jenkins plugins use.
pub fn is_archive_name(name: &str) -> bool {
    let lower = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    [".jar", ".war", ".ear", ".hpi", ".jpi"].iter().any(|ext| lower.ends_with(ext) && lower.len() > ext.len())
}

pub struct Walker {
    budget: u64,
    pub found: Vec<Coordinates>,
    /// Entries not analysed, with why (`app.war!WEB-INF/lib/x.jar: inflates to more than 64 MiB`): each
    /// may hide packages, so the analysis is partial when there is any.
    pub skipped: Vec<String>,
}

impl Walker {
    pub fn new() -> Walker {
        Walker { budget: TOTAL_BUDGET, found: Vec::new(), skipped: Vec::new() }
    }

    /// Reads `entry` whole, refusing more than `cap` bytes or what is left of the budget. The limit is on
    /// the bytes inflated, never on the sizes the archive declares, which a bomb can lie about. Reading
    /// stops at the limit, so a refused entry costs at most `cap` bytes of inflation.
    fn read_capped(&mut self, entry: impl Read, cap: u64, what: &str) -> Result<Vec<u8>, String> {
        let limit = cap.min(self.budget);
        let mut out = Vec::new();
        let read = entry.take(limit + 1).read_to_end(&mut out);
        // What was inflated counts against the budget even when the entry is refused: otherwise a jar of
        // many entries just over the cap inflates without end.
        self.budget = self.budget.saturating_sub(out.len() as u64);
        read.map_err(|e| format!("{what}: cannot be decompressed ({e})"))?;
        if out.len() as u64 > limit {
            return Err(if limit < cap {
                format!("{what}: the archive inflates to more than {} MiB in all; zip bomb?", TOTAL_BUDGET / MIB)
            } else {
                format!("{what}: inflates to more than {} MiB; zip bomb?", cap / MIB)
            });
        }
        Ok(out)
    }

    /// Collects the packages of archive `bytes`, named `name` in messages (`app.war!WEB-INF/lib/x.jar`).
    /// An error is about the archive itself (not a zip); an entry that cannot be read is recorded in
    /// [`Walker::skipped`] and the walk goes on to the next, so one bad entry hides nothing else.
    pub fn walk(&mut self, name: &str, bytes: &[u8], depth: usize) -> Result<(), String> {
        let entries = central_directory_entries(bytes).ok_or_else(|| format!("{name}: not a zip archive"))?;
        if entries > MAX_ENTRIES {
            return Err(format!("{name}: {entries} entries is over the {MAX_ENTRIES} entry limit"));
        }
        let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("{name}: not a readable zip ({e})"))?;
        // By index, not `file_names()`: that skips duplicate names, which would shift every later index.
        let names: Vec<String> = (0..zip.len())
            .map(|i| zip.name_for_index(i).and_then(Result::ok).map(|n| n.into_owned()).unwrap_or_default())
            .collect();
        let mut from_poms = Vec::new();
        let mut manifest = None;
        for (index, entry_name) in names.iter().enumerate() {
            let pom = entry_name
                .strip_prefix("META-INF/maven/")
                .and_then(|p| p.strip_suffix("/pom.properties"))
                .and_then(|ga| ga.split_once('/'));
            let what = format!("{name}!{entry_name}");
            let cap = if pom.is_some() || entry_name == "META-INF/MANIFEST.MF" {
                META_CAP
            } else if is_archive_name(entry_name) && depth < MAX_DEPTH {
                NESTED_CAP
            } else if is_archive_name(entry_name) {
                self.skipped.push(format!("{what}: nested deeper than {MAX_DEPTH} archives"));
                continue;
            } else {
                continue;
            };
            if self.budget == 0 {
                self.skipped.push(format!(
                    "{what}: the archive inflates to more than {} MiB in all; zip bomb?",
                    TOTAL_BUDGET / MIB
                ));
                continue;
            }
            let content = zip
                .by_index(index)
                .map_err(|e| format!("{what}: {e}"))
                .and_then(|entry| self.read_capped(entry, cap, &what));
            let content = match content {
                Ok(content) => content,
                Err(why) => {
                    self.skipped.push(why);
                    continue;
                }
            };
            if let Some((group, artifact)) = pom {
                from_poms.extend(meta::pom_properties(&String::from_utf8_lossy(&content), (group, artifact)));
            } else if cap == META_CAP {
                manifest = Some(content);
            } else if let Err(why) = self.walk(&what, &content, depth + 1) {
                self.skipped.push(why);
            }
        }
        // An archive with Maven metadata lists itself and whatever it shades; otherwise its manifest or
        // file name is all there is.
        if from_poms.is_empty() {
            let file = name.rsplit('!').next().unwrap_or(name);
            let fields = manifest.map(|m| meta::manifest(&String::from_utf8_lossy(&m))).unwrap_or_default();
            from_poms.extend(meta::from_manifest(&fields, file).or_else(|| meta::from_file_name(file)));
        }
        self.found.extend(from_poms);
        Ok(())
    }
}

/// The entry count the end-of-central-directory record declares (zip64 aware), before the zip crate
/// allocates for every entry; `None` when there is no such record (not a zip).
fn central_directory_entries(bytes: &[u8]) -> Option<u64> {
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const ZIP64_LOCATOR: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
    const ZIP64_EOCD: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |at: usize| bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    // The record is 22 bytes plus a comment of at most 65535.
    let search_from = bytes.len().saturating_sub(22 + 65535);
    let at = (search_from..bytes.len().saturating_sub(21)).rev().find(|&i| bytes[i..i + 4] == EOCD)?;
    let entries = u16_at(at + 10)?;
    if entries != 0xffff {
        return Some(u64::from(entries));
    }
    let locator = at.checked_sub(20).filter(|&l| bytes.get(l..l + 4) == Some(&ZIP64_LOCATOR[..]))?;
    let record = usize::try_from(u64_at(locator + 8)?).ok()?;
    (bytes.get(record..record + 4) == Some(&ZIP64_EOCD[..])).then_some(())?;
    u64_at(record + 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names() {
        for (name, want) in [
            ("WEB-INF/lib/log4j-core-2.14.1.jar", true),
            ("app.WAR", true),
            ("plugins/git.hpi", true),
            ("classes/Foo.class", false),
            (".jar", false),
            ("jar", false),
        ] {
            assert_eq!(is_archive_name(name), want, "{name}");
        }
    }

    #[test]
    fn entry_count_without_a_directory() {
        assert_eq!(central_directory_entries(b"not a zip"), None);
        assert_eq!(central_directory_entries(b""), None);
        let empty_zip = [0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(central_directory_entries(&empty_zip), Some(0));
    }
}
