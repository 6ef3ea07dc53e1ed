//! Reading OSV sources: directories (walked for `*.json`, `*.zip`, `*.jsonl.gz`), single `.json` records,
//! osv.dev's per-ecosystem `all.zip` exports and JSON Lines `.jsonl.gz` files.
//!
//! A source that cannot be read at all is an error naming it. A record that does not parse is a warning
//! (source, line or entry, id when it can be found) and ingestion goes on: one bad record in an upstream
//! export must not block a DB update. Withdrawn records are counted and dropped. When two records share an
//! id (the same data given twice, or overlapping exports), the one with the newer `modified` stays.

use std::collections::HashMap;
use std::fmt;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;

use super::osv::OsvRecord;
use super::{Advisory, SourceInfo};
use crate::error::{Error, ErrorKind, Result};

/// A record skipped during ingestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestWarning {
    /// The source file.
    pub source: String,
    /// `line N` of a `.jsonl.gz`, the member name in a zip, or `record` for a `.json` file; then the
    /// record id when it could be read.
    pub location: String,
    pub message: String,
}

impl fmt::Display for IngestWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.source, self.location, self.message)
    }
}

/// What ingestion produced, before it becomes a [`super::VulnDb`].
pub(super) struct Ingested {
    pub advisories: Vec<Advisory>,
    pub sources: Vec<SourceInfo>,
    pub withdrawn: u64,
    pub warnings: Vec<IngestWarning>,
}

#[derive(Default)]
struct Collector {
    by_id: HashMap<String, Advisory>,
    withdrawn: u64,
    warnings: Vec<IngestWarning>,
    /// Records taken from the current top-level source.
    taken: u64,
}

/// One raw record: where it came from and its text.
struct Raw<'a> {
    location: String,
    text: &'a str,
}

pub(super) fn ingest(sources: &[PathBuf]) -> Result<Ingested> {
    let mut c = Collector::default();
    let mut infos = Vec::with_capacity(sources.len());
    for source in sources {
        c.taken = 0;
        let meta = std::fs::metadata(source).map_err(|e| io_error("reading advisory source", source, e))?;
        if meta.is_dir() {
            for entry in walkdir::WalkDir::new(source).sort_by_file_name() {
                let entry = entry.map_err(|e| {
                    let path = e.path().unwrap_or(source).to_path_buf();
                    Error::with_source(ErrorKind::Io, format!("walking advisory source {}", path.display()), e)
                })?;
                if entry.file_type().is_file() && kind_of(entry.path()).is_some() {
                    c.read_file(entry.path())?;
                }
            }
        } else {
            if kind_of(source).is_none() {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    format!("advisory source {} is not a directory, .json, .zip or .jsonl.gz file", source.display()),
                ));
            }
            c.read_file(source)?;
        }
        infos.push(SourceInfo { location: source.display().to_string(), records: c.taken });
    }
    let mut advisories: Vec<Advisory> = c.by_id.into_values().collect();
    advisories.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Ingested { advisories, sources: infos, withdrawn: c.withdrawn, warnings: c.warnings })
}

#[derive(Clone, Copy)]
enum FileKind {
    Json,
    Zip,
    JsonLinesGz,
}

fn kind_of(path: &Path) -> Option<FileKind> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with(".jsonl.gz") {
        Some(FileKind::JsonLinesGz)
    } else if name.ends_with(".json") {
        Some(FileKind::Json)
    } else if name.ends_with(".zip") {
        Some(FileKind::Zip)
    } else {
        None
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::with_source(ErrorKind::Io, format!("{what} {}", path.display()), e)
}

fn parse_error(what: &str, path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::with_source(ErrorKind::Parse, format!("{what} {}", path.display()), e)
}

impl Collector {
    fn read_file(&mut self, path: &Path) -> Result<()> {
        let Some(kind) = kind_of(path) else { return Ok(()) };
        let bytes = std::fs::read(path).map_err(|e| io_error("reading advisory source", path, e))?;
        let source = path.display().to_string();
        match kind {
            FileKind::Json => match std::str::from_utf8(&bytes) {
                Ok(text) => self.take(&source, vec![Raw { location: "record".into(), text }]),
                Err(e) => self.warn(&source, "record".into(), None, format!("not UTF-8: {e}")),
            },
            FileKind::JsonLinesGz => {
                let mut text = String::new();
                flate2::read::MultiGzDecoder::new(bytes.as_slice())
                    .read_to_string(&mut text)
                    .map_err(|e| parse_error("decompressing advisory source", path, e))?;
                let lines = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                    .map(|(i, text)| Raw { location: format!("line {}", i + 1), text })
                    .collect();
                self.take(&source, lines);
            }
            FileKind::Zip => {
                let mut archive =
                    zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| parse_error("opening zip", path, e))?;
                let mut members = Vec::with_capacity(archive.len());
                for i in 0..archive.len() {
                    let mut entry = archive.by_index(i).map_err(|e| parse_error("reading zip", path, e))?;
                    // A name that is not valid UTF-8/CP437 cannot be a `*.json` record; it is skipped like a README.
                    let name = match entry.name() {
                        Ok(name) if entry.is_file() && name.ends_with(".json") => name.into_owned(),
                        _ => continue,
                    };
                    let mut text = String::new();
                    match entry.read_to_string(&mut text) {
                        Ok(_) => members.push((name, text)),
                        // A member that is not UTF-8 is a bad record; a broken archive is a bad source.
                        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                            self.warn(&source, name, None, format!("not UTF-8: {e}"))
                        }
                        Err(e) => return Err(parse_error(&format!("reading {name} in zip"), path, e)),
                    }
                }
                let raws = members.iter().map(|(name, text)| Raw { location: name.clone(), text }).collect();
                self.take(&source, raws);
            }
        }
        Ok(())
    }

    /// Parses records in parallel, then merges them in source order so results do not depend on scheduling.
    fn take(&mut self, source: &str, raws: Vec<Raw<'_>>) {
        let parsed: Vec<(String, Parsed)> = raws
            .into_par_iter()
            .map(|raw| {
                let parsed = match serde_json::from_str::<OsvRecord>(raw.text) {
                    Ok(rec) if rec.withdrawn.is_some() => Parsed::Withdrawn,
                    Ok(rec) => Parsed::Advisory(Box::new(rec.into_advisory())),
                    Err(e) => Parsed::Failed { id: record_id(raw.text), message: e.to_string() },
                };
                (raw.location, parsed)
            })
            .collect();
        for (location, parsed) in parsed {
            match parsed {
                Parsed::Withdrawn => self.withdrawn += 1,
                Parsed::Advisory(advisory) => self.insert(*advisory),
                Parsed::Failed { id, message } => self.warn(source, location, id, message),
            }
        }
    }

    fn insert(&mut self, advisory: Advisory) {
        self.taken += 1;
        match self.by_id.get_mut(&advisory.id) {
            Some(existing) => {
                if advisory.modified > existing.modified {
                    *existing = advisory;
                }
            }
            None => {
                self.by_id.insert(advisory.id.clone(), advisory);
            }
        }
    }

    fn warn(&mut self, source: &str, location: String, id: Option<String>, message: String) {
        let location = match id {
            Some(id) => format!("{location}, {id}"),
            None => location,
        };
        self.warnings.push(IngestWarning { source: source.to_owned(), location, message });
    }
}

enum Parsed {
    Withdrawn,
    Advisory(Box<Advisory>),
    Failed { id: Option<String>, message: String },
}

/// The id of a record that failed to parse as OSV, if it is at least JSON with a string `id`.
fn record_id(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: String,
    }
    serde_json::from_str::<IdOnly>(text).ok().map(|r| r.id)
}
