//! `strata`: scan container images for vulnerable packages, in one process, with no services.
//!
//! The binary is thin: argument parsing, logging, the runtime and exit codes. The engine
//! (`strata-scanner`) does the analysis; `strata-registry` talks to registries.

mod args;
mod commands;
mod pipeline;
mod progress;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use args::{Cli, Command};

/// Exit code for usage errors and scans that could not complete (clap uses 2 for usage errors too).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(&cli.command, Command::Image(args) if args.quiet);
    // reqwest and oci-client are built without a default crypto provider so that only ring is linked.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    // Only `strata submit` starts a trace (the fleet continues it); inside the runtime, where the OTLP
    // exporter's connection lives.
    let traced = matches!(&cli.command, Command::Submit(_));
    let telemetry = {
        let _context = runtime.enter();
        match init_tracing(if quiet { "error" } else { "warn" }, traced) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_ERROR);
            }
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Image(args) => commands::image::run(*args).await,
            Command::Dockerfile(args) => commands::dockerfile::run(args),
            Command::Db(args) => commands::db::run(args).await,
            Command::Submit(args) => commands::fleet::submit(args).await,
            Command::Status(args) => commands::fleet::status(args).await,
            Command::Results(args) => commands::fleet::results(args).await,
            Command::Watch(args) => commands::fleet::watch(args).await,
            Command::Rescan(args) => commands::fleet::rescan(args).await,
            Command::Cancel(args) => commands::fleet::cancel(args).await,
            Command::Sweep(args) => commands::sweep::run(args).await,
            Command::Defectdojo(args) => commands::defectdojo::run(args).await,
            Command::Query(args) => commands::query::query(args).await,
            Command::Rollup(args) => commands::query::rollup(args).await,
        }
    });
    // Export the submit's spans before the runtime goes.
    drop(telemetry);
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Messages on stderr at `default_level` (or `RUST_LOG`), and, when `traced` and `OTEL_*` configure it,
/// spans exported as service `strata`.
fn init_tracing(
    default_level: &str,
    traced: bool,
) -> Result<strata_fleet::telemetry::Telemetry, strata_fleet::telemetry::TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(filter);
    let registry = tracing_subscriber::registry().with(fmt);
    let (otel, telemetry) = if traced {
        strata_fleet::telemetry::layer("strata")?
    } else {
        (None, strata_fleet::telemetry::Telemetry::default())
    };
    registry.with(otel).init();
    Ok(telemetry)
}
