//! rpm header blobs as the rpmdb stores them (`headerExport` without the 8-byte magic a package file adds):
//! a big-endian index count `il` and data length `dl`, `il` 16-byte entries `(tag, type, offset, count)`,
//! then `dl` bytes of data the entries point into. We read the few tags that identify a package.

use crate::package::{Package, PackageKind};

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own sanity limits (`hdrchkTags`, `hdrchkData`): a blob claiming more is corrupt, not big.
const MAX_TAGS: usize = 0xffff;
const MAX_DATA: usize = 256 * 1024 * 1024;

struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
}

/// A parsed header, borrowing the blob.
pub struct Header<'a> {
    entries: Vec<Entry>,
    data: &'a [u8],
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> Header<'a> {
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, String> {
        let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
            return Err(format!("header blob of {} bytes is too short", blob.len()));
        };
        let (il, dl) = (il as usize, dl as usize);
        if il == 0 || il > MAX_TAGS || dl > MAX_DATA {
            return Err(format!("header claims {il} tags and {dl} data bytes"));
        }
        let data_start = 8 + il * 16;
        let data = blob
            .get(data_start..data_start + dl)
            .ok_or_else(|| format!("header of {il} tags and {dl} data bytes is truncated at {} bytes", blob.len()))?;
        let entries = (0..il)
            .filter_map(|i| {
                let at = 8 + i * 16;
                Some(Entry { tag: be32(blob, at)?, kind: be32(blob, at + 4)?, offset: be32(blob, at + 8)? as usize })
            })
            .collect();
        Ok(Header { entries, data })
    }

    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// A NUL-terminated string tag; `Err` when the tag is there but not a string inside the data.
    fn string(&self, tag: u32) -> Result<Option<&'a str>, String> {
        let Some(entry) = self.entry(tag) else { return Ok(None) };
        if entry.kind != TYPE_STRING && entry.kind != TYPE_I18NSTRING {
            return Err(format!("tag {tag} has type {} where a string belongs", entry.kind));
        }
        let rest = self.data.get(entry.offset..).ok_or_else(|| format!("tag {tag} points outside the header"))?;
        let end = rest.iter().position(|b| *b == 0).ok_or_else(|| format!("tag {tag} is not NUL-terminated"))?;
        std::str::from_utf8(&rest[..end]).map(Some).map_err(|_| format!("tag {tag} is not valid UTF-8"))
    }

    fn int32(&self, tag: u32) -> Result<Option<u32>, String> {
        let Some(entry) = self.entry(tag) else { return Ok(None) };
        if entry.kind != TYPE_INT32 {
            return Err(format!("tag {tag} has type {} where an int32 belongs", entry.kind));
        }
        be32(self.data, entry.offset).map(Some).ok_or_else(|| format!("tag {tag} points outside the header"))
    }

    /// The installed package this header describes. rpm writes the version as `[epoch:]version-release`.
    pub fn package(&self) -> Result<Package, String> {
        let required = |tag, what| self.string(tag)?.ok_or_else(|| format!("header has no {what}"));
        let name = required(TAG_NAME, "NAME")?;
        let version = required(TAG_VERSION, "VERSION")?;
        let release = required(TAG_RELEASE, "RELEASE")?;
        let full = match self.int32(TAG_EPOCH)? {
            Some(epoch) => format!("{epoch}:{version}-{release}"),
            None => format!("{version}-{release}"),
        };
        let mut package = Package::new(PackageKind::Rpm, name, full);
        // Pseudo-packages (gpg-pubkey) have no architecture; rpm shows `(none)`.
        package.arch = self.string(TAG_ARCH)?.filter(|a| !a.is_empty()).map(str::to_string);
        package.source_name = self.string(TAG_SOURCERPM)?.and_then(source_name).map(str::to_string);
        Ok(package)
    }
}

/// `openssl-3.0.7-27.el9.src.rpm` → `openssl`: the name is everything before the last two `-` fields,
/// which never contain `-` themselves (rpm forbids it in version and release).
pub fn source_name(srpm: &str) -> Option<&str> {
    let stem = srpm.strip_suffix(".rpm")?;
    let stem = stem.rsplit_once('.').map_or(stem, |(s, _arch)| s); // `.src`, `.nosrc`
    let (nv, _release) = stem.rsplit_once('-')?;
    let (name, _version) = nv.rsplit_once('-')?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_rpm_names() {
        for (srpm, want) in [
            ("openssl-3.0.7-27.el9.src.rpm", Some("openssl")),
            ("python3.11-3.11.5-1.el9_3.src.rpm", Some("python3.11")),
            ("glibc-2.34-60.el9.src.rpm", Some("glibc")),
            ("perl-Data-Dumper-2.174-462.el9.src.rpm", Some("perl-Data-Dumper")),
            ("kernel-5.14.0-284.11.1.el9_2.nosrc.rpm", Some("kernel")),
            ("(none)", None),
            ("broken.src.rpm", None),
        ] {
            assert_eq!(source_name(srpm), want, "{srpm}");
        }
    }

    #[test]
    fn refuses_corrupt_blobs() {
        assert!(Header::parse(b"\0\0").is_err());
        assert!(Header::parse(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err(), "no tags");
        assert!(Header::parse(&[0, 0, 0, 1, 0, 0, 0, 4, 0, 0]).is_err(), "truncated");
        assert!(Header::parse(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err(), "absurd tag count");
        // One NAME entry pointing past the data.
        let mut blob = vec![0, 0, 0, 1, 0, 0, 0, 2];
        blob.extend(TAG_NAME.to_be_bytes());
        blob.extend(TYPE_STRING.to_be_bytes());
        blob.extend(9u32.to_be_bytes());
        blob.extend(1u32.to_be_bytes());
        blob.extend(b"x\0");
        let header = Header::parse(&blob).unwrap();
        assert!(header.package().unwrap_err().contains("outside"));
    }
}
