//! Budgets of one layer analysis: every byte of a layer is attacker-controlled, so time, memory and work
//! are bounded by construction, not by hoping the input is reasonable.
//!
//! A budget that runs out never fails the process and never makes a result look clean: the analysis stops
//! (or skips the file concerned) and records an [`crate::layer::Incomplete`] naming the file and the budget,
//! which makes the report incomplete. The defaults leave room for the largest real images (multi-GiB CUDA
//! layers, desktop dpkg databases, monorepo lockfiles) and stop hostile ones within seconds.
//! `docs/security-layers.md` lists each budget with its default and setting.

use std::time::Duration;

use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Limits on one layer's analysis. `Default` is what the CLI and the fleet use unless configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// Wall-clock time for one layer, from the first byte read to the inventory.
    #[serde(with = "seconds")]
    pub wall: Duration,
    /// Decompressed (tar) bytes of one layer.
    pub decompressed_bytes: u64,
    /// Decompressed bytes per compressed byte, checked once past `ratio_floor_bytes`: real layers compress
    /// 2–20×, a zstd bomb 30,000×.
    pub max_ratio: u64,
    /// Decompressed bytes below which the ratio is not checked (small, very compressible layers are real).
    pub ratio_floor_bytes: u64,
    /// Tar entries in one layer.
    pub entries: u64,
    /// Bytes of one entry's metadata: a GNU long name or link name, a PAX extended header.
    pub header_bytes: u64,
    /// Secret findings in one file, and in one layer.
    pub secrets_per_file: usize,
    pub secrets_per_layer: usize,
    /// Packages one file may list (a lockfile, a package database).
    pub packages_per_file: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            wall: Duration::from_secs(300),
            decompressed_bytes: 64 * GIB,
            max_ratio: 1_000,
            ratio_floor_bytes: GIB,
            entries: 2_000_000,
            header_bytes: MIB,
            secrets_per_file: 100,
            secrets_per_layer: 10_000,
            packages_per_file: 100_000,
        }
    }
}

/// A budget from its setting (`STRATA_LAYER_BUDGET`, `--layer-budget`): TOML `key = value` pairs separated
/// by commas, each a field of [`Budget`] (`wall` in seconds); fields not named keep their default, an
/// empty string is the default budget. `"wall = 60, entries = 500000"`.
impl std::str::FromStr for Budget {
    type Err = String;

    fn from_str(setting: &str) -> Result<Self, Self::Err> {
        #[derive(Deserialize)]
        struct Setting {
            budget: Budget,
        }
        if setting.trim().is_empty() {
            return Ok(Budget::default());
        }
        toml::from_str::<Setting>(&format!("budget = {{ {setting} }}"))
            .map(|s| s.budget)
            .map_err(|e| format!("layer budget {setting:?}: {}", e.message()))
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_overrides_only_the_fields_it_names() {
        let budget: Budget = "wall = 60, entries = 500000".parse().unwrap();
        assert_eq!(budget.wall, Duration::from_secs(60));
        assert_eq!(budget.entries, 500_000);
        assert_eq!(budget.header_bytes, Budget::default().header_bytes);
        assert_eq!("".parse::<Budget>().unwrap(), Budget::default());
    }

    #[test]
    fn an_unknown_field_or_a_bad_value_is_refused_by_name() {
        let unknown = "walls = 60".parse::<Budget>().unwrap_err();
        assert!(unknown.contains("walls"), "{unknown}");
        assert!("entries = -1".parse::<Budget>().is_err());
    }
}
