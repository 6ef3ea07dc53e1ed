//! Configuration files for the fleet binaries. Every setting is a `STRATA_*` environment variable (and a
//! flag); a TOML file given by `--config FILE` or `STRATA_CONFIG` supplies defaults for them, so there is
//! one list of settings (docs/fleet.md) and three ways to give them, in this order of precedence:
//! flags, environment, file.
//!
//! ```toml
//! redis_url = "redis://127.0.0.1:6379"   # becomes STRATA_REDIS_URL unless that is already set
//! max_attempts = 5
//! ```

use std::path::Path;

/// Reads the TOML file named by `--config FILE` / `--config=FILE` in `args` or by `STRATA_CONFIG`, and
/// exports each top-level key as `STRATA_<KEY>` where the environment does not already set it.
///
/// Must run at the start of `main`, before any thread exists: it changes the process environment.
pub fn apply_config_file(args: &[String]) -> Result<(), String> {
    let from_args = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--config=")
            .map(str::to_string)
            .or_else(|| (a == "--config").then(|| args.get(i + 1).cloned()).flatten())
    });
    let Some(path) = from_args.or_else(|| std::env::var("STRATA_CONFIG").ok()) else { return Ok(()) };
    let text = std::fs::read_to_string(Path::new(&path)).map_err(|e| format!("reading config file {path}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("config file {path}: {e}"))?;
    for (key, value) in table {
        let name = format!("STRATA_{}", key.to_ascii_uppercase().replace('-', "_"));
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => {
                return Err(format!(
                    "config file {path}: {key} must be a string, number or boolean, not {}",
                    other.type_str()
                ));
            }
        };
        if std::env::var_os(&name).is_none() {
            // SAFETY: called first thing in main, before the runtime or any other thread starts.
            unsafe { std::env::set_var(&name, value) };
        }
    }
    Ok(())
}

/// The broker settings the coordinator and the worker share beyond the URLs: how the job queue is
/// declared, and TLS to RabbitMQ and Redis. Both declare the queue and both reach both brokers, so the
/// flags are defined once here.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BrokerArgs {
    #[command(flatten)]
    pub queue_kind: crate::queue_type::QueueArgs,
    #[command(flatten)]
    pub amqp_tls: crate::tls::AmqpTlsArgs,
    #[command(flatten)]
    pub redis_tls: crate::tls::RedisTlsArgs,
}

/// A duration setting such as `6h`, `90s`, `1h30m` or `2d` (units `s`, `m`, `h`, `d`; a bare number is
/// seconds). Zero is refused: every duration setting is an interval or a threshold.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 90s, 30m, 6h or 2d");
    let text = text.trim();
    let (mut total, mut number) = (0u64, String::new());
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() {
        total = number.parse::<u64>().ok().and_then(|n| total.checked_add(n)).ok_or_else(bad)?;
    }
    if total == 0 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(21_600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "0s", "h", "6x", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
