//! The user's secret-scanning config: YAML (the format of Trivy's `trivy-secret.yaml`, which users of
//! secret scanners already write), with custom rules, an allow-list by path and rule, rules to disable,
//! and a switch for the default allow-list. See `docs/secrets.md`.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::rules::{self, Gate};
use super::scan::{Allow, Rule, Scanner, glob_set};
use crate::error::{Error, ErrorKind, Result};
use crate::severity::Severity;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SecretConfig {
    /// Extra rules, checked after the built-in ones.
    #[serde(default)]
    pub rules: Vec<CustomRule>,
    /// Findings to drop.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
    /// Built-in rule ids to turn off.
    #[serde(default)]
    pub disable_rules: Vec<String>,
    /// Scan the default doc and test paths too (`usr/share/doc/**`, `**/test*/**`, …).
    #[serde(default)]
    pub no_default_allow: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CustomRule {
    pub id: String,
    #[serde(default = "custom")]
    pub category: String,
    pub title: String,
    pub severity: Severity,
    /// Prefilter words (case-insensitive). Without any, the regex runs over whole files: slower.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// `regex` crate syntax; name the credential `(?P<secret>…)` or the whole match is masked.
    pub regex: String,
    /// Only files matching one of these globs.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Minimum Shannon entropy (bits per byte) of the secret, for free-form values.
    #[serde(default)]
    pub min_entropy: Option<f64>,
}

fn custom() -> String {
    "Custom".to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AllowEntry {
    #[serde(default)]
    pub description: String,
    /// Globs on the image path; empty: every path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Rule ids; empty: every rule.
    #[serde(default)]
    pub rules: Vec<String>,
}

impl SecretConfig {
    pub fn from_yaml(text: &str) -> Result<SecretConfig> {
        serde_norway::from_str(text).map_err(|e| Error::new(ErrorKind::Invalid, format!("secret config: {e}")))
    }

    /// The built-in rules with this config applied, compiled.
    pub fn scanner(&self) -> Result<Scanner> {
        let invalid = |m: String| Error::new(ErrorKind::Invalid, format!("secret config: {m}"));
        let known: BTreeSet<&str> = rules::builtin().iter().map(|s| s.id).collect();
        if let Some(unknown) = self.disable_rules.iter().find(|id| !known.contains(id.as_str())) {
            return Err(invalid(format!("disable-rules: no built-in rule {unknown:?}")));
        }
        let mut compiled = Vec::new();
        for spec in rules::builtin().iter().filter(|s| !self.disable_rules.iter().any(|d| d == s.id)) {
            compiled.push(Rule::compile(spec).map_err(invalid)?);
        }
        for custom in &self.rules {
            compiled.push(custom.compile().map_err(invalid)?);
        }
        let mut allow = Vec::new();
        for entry in &self.allow {
            if entry.paths.is_empty() && entry.rules.is_empty() {
                return Err(invalid(format!("allow entry {:?} names neither paths nor rules", entry.description)));
            }
            let paths = if entry.paths.is_empty() {
                None
            } else {
                Some(glob_set(&entry.paths).map_err(|e| invalid(format!("allow paths: {e}")))?)
            };
            allow.push(Allow { paths, rules: entry.rules.iter().cloned().collect() });
        }
        let default_list = |globs: &[&str]| -> Vec<String> {
            if self.no_default_allow { Vec::new() } else { globs.iter().map(|s| s.to_string()).collect() }
        };
        let (skip, libraries) = (default_list(rules::DEFAULT_ALLOWED_PATHS), default_list(rules::LIBRARY_PATHS));
        Scanner::new(compiled, &skip, &libraries, allow).map_err(invalid)
    }
}

impl CustomRule {
    fn compile(&self) -> std::result::Result<Rule, String> {
        if self.keywords.iter().any(|k| k.trim().is_empty()) {
            return Err(format!("rule {}: an empty keyword would match every line", self.id));
        }
        let re =
            |what: &str, s: &str| regex::bytes::Regex::new(s).map_err(|e| format!("rule {}: {what}: {e}", self.id));
        let path = if self.paths.is_empty() {
            None
        } else {
            let set = glob_set(&self.paths).map_err(|e| format!("rule {}: paths: {e}", self.id))?;
            Some(re("paths", &set.patterns().join("|"))?)
        };
        Ok(Rule {
            id: self.id.clone(),
            category: self.category.clone(),
            title: self.title.clone(),
            severity: self.severity,
            keywords: self.keywords.clone(),
            regex: re("regex", &self.regex)?,
            path,
            requires: None,
            near: None,
            gate: match self.min_entropy {
                Some(min_entropy) => Gate::Entropy { min_len: 1, min_entropy },
                None => Gate::Format,
            },
            marker: false,
            libraries: true,
        })
    }
}
