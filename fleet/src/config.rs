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
