//! Forwarding findings to DefectDojo (API v2 `reimport-scan`), see `docs/defectdojo.md`: what both
//! `strata image --defectdojo` and the coordinator's delivery send. It is not the delivery itself — the
//! coordinator's outbox and loop (Redis, retries, ordering) live in `strata-coordinator`.
//!
//! - [`client`]: the HTTP client, shared with `strata image --defectdojo` and `strata defectdojo check`.
//! - [`concurrent`]: repairing what concurrent uploads to one test leave (a second test, duplicates).
//! - [`document`]: the file DefectDojo receives of a report, and its split into uploads.
//! - [`orphans`]: closing the tests a split report no longer delivers to.
//! - [`retry`]: the backoff between attempts.

pub mod client;
pub mod concurrent;
pub mod document;
pub mod orphans;
pub mod retry;

use std::collections::HashMap;
use std::time::Duration;

pub use client::{Client, DefectDojoError, ImportResult, Token, Upload};
pub use retry::backoff;

/// Settings of the coordinator's delivery (and the defaults the CLI uses), from `STRATA_DEFECTDOJO_*`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub url: String,
    pub token: Token,
    pub names: Templates,
    /// DefectDojo's `minimum_severity`: Info, Low, Medium, High or Critical.
    pub minimum_severity: String,
    pub tags: Vec<String>,
    /// `deduplication_execution_mode=sync`: the 201 then carries final statistics.
    pub dedup_sync: bool,
    /// Engagements delivered to at the same time (one upload per engagement at most).
    pub concurrency: usize,
    /// Skip an upload byte-identical to the last one delivered for the same test.
    pub skip_unchanged: bool,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub timeout: Duration,
    /// DefectDojo's upload limit (100 MB by default); larger reports are split by target.
    pub max_file_bytes: usize,
    /// How often the API key is checked, deliveries or not.
    pub check_interval: Duration,
}

/// Name templates. Placeholders: `{repository}` (without tag or digest), `{registry}`, `{name}` (the
/// repository without its registry), `{label:KEY}`. The rendered names must not change from night to
/// night, or DefectDojo creates new products, engagements or tests and the triage history stays behind.
#[derive(Clone, Debug)]
pub struct Templates {
    pub product_type: String,
    pub product: String,
    pub engagement: String,
    pub test_title: String,
    pub service: Option<String>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            product_type: "Container images".into(),
            product: "{repository}".into(),
            engagement: "strata".into(),
            test_title: "{repository}".into(),
            service: None,
        }
    }
}

/// The names one upload goes under.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Names {
    pub product_type: String,
    pub product: String,
    pub engagement: String,
    pub test_title: String,
    pub service: Option<String>,
}

impl Names {
    /// DefectDojo 3.2.0's column sizes. Over them it answers 500 (a database error, after creating the
    /// product type or product already), which looks retryable but never succeeds: refuse at once instead.
    pub fn check_lengths(&self) -> Result<(), DefectDojoError> {
        let service = self.service.as_deref().unwrap_or_default();
        for (what, value, limit) in [
            ("product_type_name", self.product_type.as_str(), 255),
            ("product_name", self.product.as_str(), 255),
            ("engagement_name", self.engagement.as_str(), 300),
            ("test_title", self.test_title.as_str(), 255),
            ("service", service, 200),
        ] {
            let length = value.chars().count();
            if length > limit {
                return Err(DefectDojoError::TooLong(format!(
                    "{what} is {length} characters, over DefectDojo's limit of {limit}: {:?}…",
                    value.chars().take(60).collect::<String>()
                )));
            }
        }
        Ok(())
    }
}

impl Templates {
    /// Renders the names of a scan of `reference`. A non-empty field of `target` (the scan's own
    /// `ScanOptions.defectdojo`) replaces the configured template.
    pub fn render(
        &self,
        reference: &str,
        labels: &HashMap<String, String>,
        target: Option<&strata_proto::v1::DefectDojoTarget>,
    ) -> Result<Names, DefectDojoError> {
        let pick = |own: Option<&String>, default: &str| match own {
            Some(s) if !s.is_empty() => s.clone(),
            _ => default.to_string(),
        };
        let names = Names {
            product_type: expand(&pick(target.map(|t| &t.product_type), &self.product_type), reference, labels)?,
            product: expand(&pick(target.map(|t| &t.product), &self.product), reference, labels)?,
            engagement: expand(&pick(target.map(|t| &t.engagement), &self.engagement), reference, labels)?,
            test_title: expand(&pick(target.map(|t| &t.test_title), &self.test_title), reference, labels)?,
            service: match &self.service {
                Some(s) => Some(expand(s, reference, labels)?),
                None => None,
            },
        };
        for (what, value) in [("product type", &names.product_type), ("product", &names.product)] {
            if value.trim().is_empty() {
                return Err(DefectDojoError::Config(format!("the {what} name of {reference} renders empty")));
            }
        }
        names.check_lengths()?;
        Ok(names)
    }
}

fn expand(template: &str, reference: &str, labels: &HashMap<String, String>) -> Result<String, DefectDojoError> {
    let repository = strata_registry::repository_of(reference);
    let (registry, name) = match repository.split_once('/') {
        // As Docker does: the first segment is a registry when it looks like a host.
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => (host, rest),
        _ => ("docker.io", repository),
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| DefectDojoError::Config(format!("template {template:?}: unclosed '{{'")))?;
        let key = &rest[start + 1..start + end];
        match key {
            "repository" => out.push_str(repository),
            "registry" => out.push_str(registry),
            "name" => out.push_str(name),
            _ => match key.strip_prefix("label:") {
                Some(label) => out.push_str(labels.get(label).map(String::as_str).unwrap_or_default()),
                None => {
                    return Err(DefectDojoError::Config(format!(
                        "template {template:?}: unknown placeholder {{{key}}}"
                    )));
                }
            },
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Settings {
    /// `None` when `STRATA_DEFECTDOJO_URL` is not set. The token comes from `STRATA_DEFECTDOJO_TOKEN_FILE`
    /// or `STRATA_DEFECTDOJO_TOKEN`, never from a flag (flags show in `ps`).
    pub fn from_env() -> Result<Option<Settings>, DefectDojoError> {
        match std::env::var("STRATA_DEFECTDOJO_URL").ok().filter(|v| !v.trim().is_empty()) {
            Some(url) => Settings::from_env_with_url(&url).map(Some),
            None => Ok(None),
        }
    }

    /// Every setting but the URL from the environment (`strata image --defectdojo URL`).
    pub fn from_env_with_url(url: &str) -> Result<Settings, DefectDojoError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let number = |name: &str, default: u64| -> Result<u64, DefectDojoError> {
            match var(name) {
                Some(v) => {
                    v.trim().parse().map_err(|_| DefectDojoError::Config(format!("{name}={v:?} is not a number")))
                }
                None => Ok(default),
            }
        };
        let flag = |name: &str, default: bool| -> Result<bool, DefectDojoError> {
            match var(name).as_deref().map(str::trim) {
                None => Ok(default),
                Some("1" | "true" | "yes" | "on") => Ok(true),
                Some("0" | "false" | "no" | "off") => Ok(false),
                Some(v) => Err(DefectDojoError::Config(format!("{name}={v:?} is not true or false"))),
            }
        };
        let defaults = Templates::default();
        let names = Templates {
            product_type: var("STRATA_DEFECTDOJO_PRODUCT_TYPE").unwrap_or(defaults.product_type),
            product: var("STRATA_DEFECTDOJO_PRODUCT").unwrap_or(defaults.product),
            engagement: var("STRATA_DEFECTDOJO_ENGAGEMENT").unwrap_or(defaults.engagement),
            test_title: var("STRATA_DEFECTDOJO_TEST_TITLE").unwrap_or(defaults.test_title),
            service: var("STRATA_DEFECTDOJO_SERVICE"),
        };
        let dedup = var("STRATA_DEFECTDOJO_DEDUPLICATION").unwrap_or_else(|| "sync".into());
        let dedup_sync = match dedup.trim() {
            "sync" => true,
            "async" => false,
            other => {
                return Err(DefectDojoError::Config(format!(
                    "STRATA_DEFECTDOJO_DEDUPLICATION={other:?}: sync or async"
                )));
            }
        };
        let minimum_severity = var("STRATA_DEFECTDOJO_MINIMUM_SEVERITY").unwrap_or_else(|| "Info".into());
        if !["Info", "Low", "Medium", "High", "Critical"].contains(&minimum_severity.as_str()) {
            return Err(DefectDojoError::Config(format!(
                "STRATA_DEFECTDOJO_MINIMUM_SEVERITY={minimum_severity:?}: Info, Low, Medium, High or Critical"
            )));
        }
        Ok(Settings {
            url: url.trim_end_matches('/').to_string(),
            token: Token::from_env()?,
            names,
            minimum_severity,
            tags: var("STRATA_DEFECTDOJO_TAGS")
                .map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect())
                .unwrap_or_default(),
            dedup_sync,
            concurrency: number("STRATA_DEFECTDOJO_CONCURRENCY", 4)?.max(1) as usize,
            skip_unchanged: flag("STRATA_DEFECTDOJO_SKIP_UNCHANGED", true)?,
            max_attempts: number("STRATA_DEFECTDOJO_MAX_ATTEMPTS", 12)?.max(1) as u32,
            backoff: Duration::from_millis(number("STRATA_DEFECTDOJO_BACKOFF_MS", 2000)?),
            max_backoff: Duration::from_millis(number("STRATA_DEFECTDOJO_MAX_BACKOFF_MS", 300_000)?),
            timeout: Duration::from_secs(number("STRATA_DEFECTDOJO_TIMEOUT_SECS", 600)?.max(1)),
            max_file_bytes: number("STRATA_DEFECTDOJO_MAX_FILE_BYTES", 100 * 1024 * 1024)? as usize,
            check_interval: Duration::from_secs(number("STRATA_DEFECTDOJO_CHECK_SECS", 900)?.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_hold_no_tag_or_digest() {
        let labels = HashMap::from([("team".to_string(), "payments".to_string())]);
        let names = Templates::default().render("registry.example.com/team/app:1.2@sha256:ab", &labels, None).unwrap();
        assert_eq!(names.product, "registry.example.com/team/app");
        assert_eq!(names.test_title, "registry.example.com/team/app");
        assert_eq!(names.engagement, "strata");
        let custom = Templates { product: "{label:team}/{name}".into(), ..Templates::default() };
        assert_eq!(custom.render("127.0.0.1:5000/a/b:1", &labels, None).unwrap().product, "payments/a/b");
        assert!(Templates { product: "{nope}".into(), ..Templates::default() }.render("a", &labels, None).is_err());
        let own = strata_proto::v1::DefectDojoTarget { product: "mine".into(), ..Default::default() };
        assert_eq!(Templates::default().render("a:1", &labels, Some(&own)).unwrap().product, "mine");
    }
}
