//! Policy documents — ignore files and OpenVEX documents — as the front ends receive them, and the
//! [`Policy`] a report is finished with. `strata image` reads them from its command line; the fleet from
//! the submission (stored with the scan) and from the coordinator's own configuration. Either way a
//! document is its name (how a finding it suppresses cites it) and its text, parsed here and only here.

use std::io::Read;
use std::path::Path;

use chrono::NaiveDate;
use strata_scanner::report::policy::{self, Policy, Scanner};

/// The most one document may hold: far above any real ignore file or VEX document, and a bound on what a
/// submission stores with its scan.
pub const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;
/// The most the documents of one submission, or of the coordinator's configuration, hold together.
pub const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;
/// Files taken from one configured directory.
pub const MAX_DIRECTORY_FILES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The path as the user gave it: `suppressed[].suppression.source` cites it.
    pub name: String,
    pub text: String,
}

/// The ignore files and VEX documents of one source (a command line, a submission, a configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Documents {
    pub ignorefiles: Vec<Document>,
    pub vex: Vec<Document>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0}: over the limit of {MAX_DOCUMENT_BYTES} bytes for a policy document")]
    TooLarge(String),
    #[error("{0} holds more than {MAX_DIRECTORY_FILES} files")]
    TooManyFiles(String),
    #[error("the policy documents hold {0} bytes, over the limit of {MAX_TOTAL_BYTES}")]
    TooMuch(usize),
    #[error(transparent)]
    Parse(#[from] strata_scanner::Error),
}

impl Documents {
    pub fn is_empty(&self) -> bool {
        self.ignorefiles.is_empty() && self.vex.is_empty()
    }

    /// Checks the bounds and that every document parses, so a typo is refused when it is handed over (a
    /// submission, a configuration load) and not when a scan finishes.
    pub fn check(&self) -> Result<(), PolicyError> {
        let all = self.ignorefiles.iter().chain(&self.vex);
        if let Some(large) = all.clone().find(|d| d.text.len() as u64 > MAX_DOCUMENT_BYTES) {
            return Err(PolicyError::TooLarge(large.name.clone()));
        }
        let total: usize = all.map(|d| d.text.len()).sum();
        if total > MAX_TOTAL_BYTES {
            return Err(PolicyError::TooMuch(total));
        }
        build(&[], &[self], NaiveDate::MIN).map(|_| ())
    }
}

/// Reads one document (at most [`MAX_DOCUMENT_BYTES`]).
pub fn read_document(path: &Path) -> Result<Document, PolicyError> {
    let name = path.display().to_string();
    let read = |source| PolicyError::Read { path: name.clone(), source };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut text = String::new();
    file.take(MAX_DOCUMENT_BYTES + 1).read_to_string(&mut text).map_err(read)?;
    if text.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(PolicyError::TooLarge(name));
    }
    Ok(Document { name, text })
}

/// The file at `path`, or every regular file of the directory at `path` in name order (hidden files
/// aside: editors leave their swap files there).
pub fn read_documents(path: &Path) -> Result<Vec<Document>, PolicyError> {
    let read = |source| PolicyError::Read { path: path.display().to_string(), source };
    if !std::fs::metadata(path).map_err(read)?.is_dir() {
        return Ok(vec![read_document(path)?]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read)? {
        let entry = entry.map_err(read)?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type().map_err(read)?.is_file() {
            files.push(entry.path());
        }
        if files.len() > MAX_DIRECTORY_FILES {
            return Err(PolicyError::TooManyFiles(path.display().to_string()));
        }
    }
    files.sort();
    files.iter().map(|f| read_document(f)).collect()
}

/// The policy of a scan: its scanners, then the ignore entries and VEX statements of every source in
/// order (of two VEX statements with the same timestamp, the later one decides).
pub fn build(scanners: &[Scanner], sources: &[&Documents], today: NaiveDate) -> Result<Policy, PolicyError> {
    let mut built = Policy::new(today);
    if !scanners.is_empty() {
        built.scanners = scanners.iter().copied().collect();
    }
    for source in sources {
        for d in &source.ignorefiles {
            built.ignore.extend(policy::ignore::parse(&d.text, &d.name)?);
        }
        for d in &source.vex {
            built.vex.extend(policy::vex::parse(&d.text, &d.name)?);
        }
    }
    Ok(built)
}

/// The day ignore entries' expiry dates are compared with: the local calendar day, as the user reads it.
pub fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, text: &str) -> Document {
        Document { name: name.into(), text: text.into() }
    }

    #[test]
    fn documents_are_bounded_and_parsed_when_handed_over() {
        let ignore = "ignore:\n  - id: CVE-2023-0464\n    reason: not reachable\n";
        let good = Documents { ignorefiles: vec![doc("a.yaml", ignore)], vex: Vec::new() };
        good.check().unwrap();
        let built = build(&[Scanner::Vuln], &[&good, &good], NaiveDate::MIN).unwrap();
        assert_eq!(built.ignore.len(), 2);
        assert_eq!(built.scanners.len(), 1);
        assert_eq!(build(&[], &[], NaiveDate::MIN).unwrap().scanners, Policy::new(NaiveDate::MIN).scanners);

        let typo = Documents { ignorefiles: vec![doc("b.yaml", "ignore:\n  - id: CVE-1\n")], vex: Vec::new() };
        assert!(matches!(typo.check(), Err(PolicyError::Parse(_))), "{:?}", typo.check());
        let large = "#".repeat(MAX_DOCUMENT_BYTES as usize + 1);
        let too_large = Documents { ignorefiles: Vec::new(), vex: vec![doc("c.json", &large)] };
        assert!(matches!(too_large.check(), Err(PolicyError::TooLarge(n)) if n == "c.json"));
        let many = Documents { ignorefiles: vec![doc("d", &"#".repeat(MAX_DOCUMENT_BYTES as usize)); 5], vex: vec![] };
        assert!(matches!(many.check(), Err(PolicyError::TooMuch(_))));
    }

    #[test]
    fn a_directory_is_its_visible_files_in_name_order_and_reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yaml"), "b").unwrap();
        std::fs::write(dir.path().join("a.yaml"), "a").unwrap();
        std::fs::write(dir.path().join(".a.yaml.swp"), "swap").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let texts: Vec<String> = read_documents(dir.path()).unwrap().into_iter().map(|d| d.text).collect();
        assert_eq!(texts, ["a", "b"]);
        let one = read_documents(&dir.path().join("b.yaml")).unwrap();
        assert_eq!(one[0].name, dir.path().join("b.yaml").display().to_string());
        std::fs::write(dir.path().join("big"), vec![b'#'; MAX_DOCUMENT_BYTES as usize + 1]).unwrap();
        assert!(matches!(read_document(&dir.path().join("big")), Err(PolicyError::TooLarge(_))));
        assert!(matches!(read_document(&dir.path().join("none")), Err(PolicyError::Read { .. })));
    }
}
