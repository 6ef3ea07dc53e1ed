//! The OSV record shape (only the fields Strata reads) and its reduction to an [`Advisory`].
//!
//! Severity is taken from the first source that has one, in this order: a CVSS vector in `severity[]`
//! (v3 first, the version most tools and policies are calibrated on, then v4, then v2), scored with the
//! `cvss` crate; an Ubuntu-style `severity[]` word; `database_specific.severity` (GHSA's words, `MODERATE`
//! included); `database_specific` CVSS numbers (RubySec's `cvss_v3`/`cvss_v4`/`cvss_v2`, the Node.js WG's
//! `cvss_score`); the worst `affected[].ecosystem_specific.severity`; else UNKNOWN.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::index::normalize_ecosystem;
use super::{Advisory, Affected, Event, GoImport, Range, RangeKind};
use crate::matcher::Installed;
use crate::severity::Severity;
use crate::version::scheme_for;

/// Details are kept for reports, not as an archive: the DB stays small enough to ship and load fast.
const MAX_DETAILS_CHARS: usize = 1000;

#[derive(Debug, Deserialize)]
pub(super) struct OsvRecord {
    pub id: String,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    aliases: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    upstream: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    severity: Vec<OsvSeverity>,
    #[serde(default, deserialize_with = "null_as_empty")]
    affected: Vec<OsvAffected>,
    #[serde(default, deserialize_with = "null_as_empty")]
    references: Vec<OsvReference>,
    #[serde(default)]
    database_specific: Option<RecordSpecific>,
}

#[derive(Debug, Deserialize)]
struct OsvSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Debug, Deserialize)]
struct OsvAffected {
    #[serde(default)]
    package: Option<OsvPackage>,
    #[serde(default, deserialize_with = "null_as_empty")]
    ranges: Vec<OsvRange>,
    #[serde(default, deserialize_with = "null_as_empty")]
    versions: Vec<String>,
    #[serde(default)]
    ecosystem_specific: Option<EntrySpecific>,
}

#[derive(Debug, Deserialize)]
struct OsvPackage {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct OsvRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    events: Vec<OsvEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OsvEvent {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

#[derive(Debug, Deserialize)]
struct OsvReference {
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

/// The free-form `database_specific` fields that carry a severity in the data we ingest.
#[derive(Debug, Default, Deserialize)]
struct RecordSpecific {
    #[serde(default)]
    severity: Option<Value>,
    #[serde(default)]
    cvss_v3: Option<Value>,
    #[serde(default)]
    cvss_score: Option<Value>,
    #[serde(default)]
    cvss_v4: Option<Value>,
    #[serde(default)]
    cvss_v2: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct EntrySpecific {
    #[serde(default)]
    severity: Option<Value>,
    /// Go: `[{"path": "net/http", "symbols": ["Client.Do"], "goos": [..], "goarch": [..]}]`; read leniently
    /// (see [`imports`]) so that a malformed list costs the reachability data, not the advisory.
    #[serde(default)]
    imports: Option<Value>,
}

/// OSV producers write `null` for empty lists now and then; treat it as empty instead of rejecting the record.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl OsvRecord {
    pub fn into_advisory(self) -> Advisory {
        let (severity, cvss_score, cvss_vector) = self.severity();
        let primary_url = self
            .references
            .iter()
            .find(|r| r.kind == "ADVISORY")
            .or_else(|| self.references.iter().find(|r| r.kind == "WEB"))
            .map(|r| r.url.clone());
        let summary = self.summary.as_deref().and_then(|s| s.lines().map(str::trim).find(|l| !l.is_empty()));
        Advisory {
            summary: summary.map(str::to_owned),
            details: self.details.as_deref().map(truncate_details).filter(|d| !d.is_empty()),
            severity,
            severity_source: None,
            cvss_score,
            cvss_vector,
            primary_url,
            references: self.references.into_iter().map(|r| r.url).collect(),
            published: self.published,
            modified: self.modified,
            affected: self.affected.into_iter().filter_map(convert_affected).collect(),
            id: self.id,
            aliases: self.aliases,
            upstream: self.upstream,
        }
    }

    fn severity(&self) -> (Severity, Option<f64>, Option<String>) {
        for kind in ["CVSS_V3", "CVSS_V4", "CVSS_V2"] {
            for s in self.severity.iter().filter(|s| s.kind == kind) {
                if let Ok(cvss) = s.score.trim().parse::<cvss::Cvss>() {
                    let score = cvss.score();
                    return (Severity::from_score(score), Some(score), Some(s.score.trim().to_owned()));
                }
            }
        }
        let word = self.severity.iter().filter(|s| s.kind == "Ubuntu").find_map(|s| s.score.parse::<Severity>().ok());
        if let Some(sev) = word.filter(|s| *s != Severity::Unknown) {
            return (sev, None, None);
        }
        let specific = self.database_specific.as_ref();
        if let Some(sev) = specific.and_then(|d| d.severity.as_ref()).and_then(severity_word) {
            return (sev, None, None);
        }
        let numbers = specific.into_iter().flat_map(|d| [&d.cvss_v3, &d.cvss_score, &d.cvss_v4, &d.cvss_v2]);
        if let Some(score) = numbers.filter_map(|v| v.as_ref().and_then(score_number)).next() {
            return (Severity::from_score(score), Some(score), None);
        }
        let per_entry = self
            .affected
            .iter()
            .filter_map(|a| a.ecosystem_specific.as_ref()?.severity.as_ref().and_then(severity_word))
            .max();
        (per_entry.unwrap_or(Severity::Unknown), None, None)
    }
}

fn severity_word(v: &Value) -> Option<Severity> {
    v.as_str()?.parse::<Severity>().ok().filter(|s| *s != Severity::Unknown)
}

/// A CVSS base score as a JSON number or numeric string, within the 0–10 scale.
fn score_number(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (0.0..=10.0).contains(&n).then_some(n)
}

fn truncate_details(details: &str) -> String {
    let details = details.trim();
    match details.char_indices().nth(MAX_DETAILS_CHARS) {
        Some((cut, _)) => format!("{}…", details[..cut].trim_end()),
        None => details.to_owned(),
    }
}

/// Entries without a package (GIT-only repository ranges) cannot match an installed package and are dropped.
fn convert_affected(a: OsvAffected) -> Option<Affected> {
    let mut affected = convert_entry(a)?;
    drop_versions_in_ranges(&mut affected);
    Some(affected)
}

/// osv.dev enumerates every release inside an entry's ranges into `versions` (580,000 strings in the PyPI
/// data): they change no match, yet would be most of the DB's size and load time. Only listed versions the
/// ranges do not cover (GIT-only entries, versions the scheme cannot parse) are kept.
fn drop_versions_in_ranges(affected: &mut Affected) {
    if affected.versions.is_empty() || affected.ranges.iter().all(|r| r.kind == RangeKind::Git) {
        return;
    }
    let scheme = scheme_for(&affected.ecosystem);
    let keep: Vec<String> =
        affected.versions.iter().filter(|v| !Installed::new(scheme, v).in_ranges(affected)).cloned().collect();
    affected.versions = keep;
}

/// Bounds on one entry's import data: the Go DB's largest lists (the standard library's crypto/x509,
/// net/http entries) hold a few hundred symbols.
const MAX_IMPORTS: usize = 256;
const MAX_SYMBOLS: usize = 4096;
const MAX_NAME: usize = 512;

/// The `imports` of an entry's `ecosystem_specific`; an import without a path, or over the bounds, is
/// dropped, and a symbol list that is not a list of strings counts as absent.
fn imports(value: Option<&Value>) -> Vec<GoImport> {
    let strings = |v: Option<&Value>, cap: usize| -> Vec<String> {
        v.and_then(Value::as_array)
            .filter(|a| a.len() <= cap)
            .map(|a| a.iter().filter_map(Value::as_str).filter(|s| s.len() <= MAX_NAME).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let Some(list) = value.and_then(Value::as_array).filter(|l| l.len() <= MAX_IMPORTS) else { return Vec::new() };
    list.iter()
        .filter_map(|i| {
            let path = i.get("path")?.as_str().filter(|p| !p.is_empty() && p.len() <= MAX_NAME)?;
            Some(GoImport {
                path: path.to_owned(),
                symbols: strings(i.get("symbols"), MAX_SYMBOLS),
                goos: strings(i.get("goos"), MAX_IMPORTS),
                goarch: strings(i.get("goarch"), MAX_IMPORTS),
            })
        })
        .collect()
}

fn convert_entry(a: OsvAffected) -> Option<Affected> {
    let package = a.package?;
    let imports = imports(a.ecosystem_specific.as_ref().and_then(|e| e.imports.as_ref()));
    let ranges = a
        .ranges
        .into_iter()
        .filter_map(|r| {
            let kind = match r.kind.as_str() {
                "ECOSYSTEM" => RangeKind::Ecosystem,
                "SEMVER" => RangeKind::Semver,
                "GIT" => RangeKind::Git,
                _ => return None,
            };
            let events = r
                .events
                .into_iter()
                .map(|e| match e {
                    OsvEvent::Introduced(v) => Event::Introduced(v),
                    OsvEvent::Fixed(v) => Event::Fixed(v),
                    OsvEvent::LastAffected(v) => Event::LastAffected(v),
                    OsvEvent::Limit(v) => Event::Limit(v),
                })
                .collect();
            Some(Range { kind, events })
        })
        .collect();
    Some(Affected {
        ecosystem: normalize_ecosystem(&package.ecosystem).into_owned(),
        name: package.name,
        ranges,
        versions: a.versions,
        imports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Advisory {
        serde_json::from_str::<OsvRecord>(json).unwrap().into_advisory()
    }

    #[test]
    fn cvss_vectors_are_scored() {
        // RUSTSEC-2016-0001's vector; NVD scores it 8.1.
        let a = parse(
            r#"{"id":"X-1","severity":[{"type":"CVSS_V3","score":"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#,
        );
        assert_eq!(a.cvss_score, Some(8.1));
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.cvss_vector.as_deref(), Some("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"));
        // v3 wins over v4 when both are present; v4 alone is scored too.
        let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let a = parse(&format!(
            r#"{{"id":"X-2","severity":[{{"type":"CVSS_V4","score":"{v4}"}},{{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N"}}]}}"#
        ));
        assert_eq!((a.severity, a.cvss_score), (Severity::Medium, Some(4.3)));
        let a = parse(&format!(r#"{{"id":"X-3","severity":[{{"type":"CVSS_V4","score":"{v4}"}}]}}"#));
        assert_eq!((a.severity, a.cvss_score), (Severity::Critical, Some(9.3)));
    }

    #[test]
    fn severity_fallbacks() {
        let word = parse(r#"{"id":"G","database_specific":{"severity":"MODERATE"}}"#);
        assert_eq!((word.severity, word.cvss_score), (Severity::Medium, None));
        // RubySec: numbers only; cvss_v3 is preferred over cvss_v2.
        let ruby = parse(r#"{"id":"R","database_specific":{"cvss_v2":5.0,"cvss_v3":9.8}}"#);
        assert_eq!((ruby.severity, ruby.cvss_score), (Severity::Critical, Some(9.8)));
        let npm = parse(
            r#"{"id":"N","severity":[{"type":"CVSS_V3","score":"garbage"}],"database_specific":{"cvss_score":6.5}}"#,
        );
        assert_eq!((npm.severity, npm.cvss_score), (Severity::Medium, Some(6.5)));
        let entry = parse(
            r#"{"id":"E","affected":[{"package":{"ecosystem":"Go","name":"a"},"ecosystem_specific":{"severity":"LOW"}},
                {"package":{"ecosystem":"Go","name":"b"},"ecosystem_specific":{"severity":"HIGH"}}]}"#,
        );
        assert_eq!(entry.severity, Severity::High);
        let none = parse(r#"{"id":"D","summary":"x"}"#);
        assert_eq!((none.severity, none.cvss_score), (Severity::Unknown, None));
    }

    #[test]
    fn text_fields_and_urls() {
        let long = "é".repeat(1500);
        let a = parse(&format!(
            r#"{{"id":"T","summary":"\n first line \nsecond","details":"{long}","references":[
                {{"type":"WEB","url":"https://w/1"}},{{"type":"FIX","url":"https://f"}},{{"type":"ADVISORY","url":"https://a"}}]}}"#
        ));
        assert_eq!(a.summary.as_deref(), Some("first line"));
        assert_eq!(a.details.as_ref().map(|d| d.chars().count()), Some(MAX_DETAILS_CHARS + 1));
        assert_eq!(a.primary_url.as_deref(), Some("https://a"));
        assert_eq!(a.references.len(), 3);
        let web =
            parse(r#"{"id":"W","references":[{"type":"FIX","url":"https://f"},{"type":"WEB","url":"https://w"}]}"#);
        assert_eq!(web.primary_url.as_deref(), Some("https://w"));
        let none = parse(r#"{"id":"N","references":[{"type":"FIX","url":"https://f"}]}"#);
        assert_eq!(none.primary_url, None);
    }

    #[test]
    fn affected_conversion() {
        let a = parse(
            r#"{"id":"A","aliases":null,"affected":[
                {"package":{"ecosystem":"Ubuntu:Pro:22.04:LTS","name":"curl"},
                 "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"7.81.0-1ubuntu1.15+esm1"}]},
                           {"type":"GIT","repo":"r","events":[{"introduced":"abc"},{"limit":"def"}]},
                           {"type":"UNKNOWN_KIND","events":[{"introduced":"0"}]}],
                 "versions":["7.81.0","7.81.0-1ubuntu1.16"]},
                {"ranges":[{"type":"GIT","events":[{"introduced":"0"}]}]}]}"#,
        );
        assert!(a.aliases.is_empty());
        assert_eq!(a.affected.len(), 1, "the package-less entry is dropped");
        let e = &a.affected[0];
        assert_eq!((e.ecosystem.as_str(), e.name.as_str()), ("Ubuntu:22.04", "curl"));
        assert_eq!(e.ranges.len(), 2);
        assert_eq!(e.ranges[1].events, vec![Event::Introduced("abc".into()), Event::Limit("def".into())]);
        assert_eq!(e.versions, vec!["7.81.0-1ubuntu1.16".to_string()], "the list minus what the ranges cover");
    }

    #[test]
    fn listed_versions_inside_the_ranges_are_dropped() {
        let a = parse(
            r#"{"id":"P","affected":[{"package":{"ecosystem":"PyPI","name":"trac"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0.9"},{"fixed":"0.10"}]}],
                "versions":["0.8.4","0.9","0.9.1","0.10","not-a-version"]},
                {"package":{"ecosystem":"PyPI","name":"git-only"},
                 "ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"0"}]}],"versions":["1.0"]}]}"#,
        );
        assert_eq!(a.affected[0].versions, ["0.8.4", "0.10", "not-a-version"]);
        assert_eq!(a.affected[1].versions, ["1.0"]);
    }

    #[test]
    fn go_imports_are_kept_and_bounded() {
        let many = format!("[{}]", vec![r#"{"path":"p"}"#; MAX_IMPORTS + 1].join(","));
        let a = parse(&format!(
            r#"{{"id":"GO-1","affected":[
                {{"package":{{"ecosystem":"Go","name":"stdlib"}},"ecosystem_specific":{{"imports":[
                    {{"path":"net/http","symbols":["Client.Do","Get"],"goos":["windows"]}},
                    {{"path":"crypto/tls"}},
                    {{"symbols":["NoPath"]}},
                    {{"path":"mime","symbols":"not a list","goarch":[1,"arm64"]}}]}}}},
                {{"package":{{"ecosystem":"Go","name":"m"}},"ecosystem_specific":{{"imports":{many}}}}},
                {{"package":{{"ecosystem":"Go","name":"n"}},"ecosystem_specific":{{"imports":"junk"}}}}]}}"#
        ));
        let imports = &a.affected[0].imports;
        assert_eq!(imports.len(), 3, "the import without a path is dropped");
        assert_eq!(imports[0].symbols, ["Client.Do", "Get"]);
        assert_eq!(imports[0].goos, ["windows"]);
        assert!(imports[1].symbols.is_empty() && imports[1].goos.is_empty());
        assert!(imports[2].symbols.is_empty());
        assert_eq!(imports[2].goarch, ["arm64"]);
        assert!(a.affected[1].imports.is_empty(), "over the bound");
        assert!(a.affected[2].imports.is_empty());
    }

    #[test]
    fn unknown_event_kind_is_a_parse_error() {
        let r = serde_json::from_str::<OsvRecord>(
            r#"{"id":"B","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"broken":"1"}]}]}]}"#,
        );
        assert!(r.is_err());
    }
}
