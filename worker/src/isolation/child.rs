//! The child side, `strata-worker analyse [--secret-config FILE]`: jobs from stdin, answers to stdout
//! (see [`super::protocol`]), until the worker closes stdin. No runtime, no logging: what the child prints
//! on stderr is read by the worker only when the child dies.

use std::io::{self, Write};
use std::path::Path;

use strata_scanner::budget::Budget;
use strata_scanner::layer::analyze_layer_sized;
use strata_scanner::secret::Scanner;
use strata_scanner::secret::config::SecretConfig;

use super::protocol::{self, Blob, FAILED, OK};

/// The flag that passes the worker's secret config file to the child.
pub const SECRET_CONFIG: &str = "--secret-config";
/// The flag that gives the child the engine's per-layer budget (`STRATA_LAYER_BUDGET`'s syntax).
pub const BUDGET: &str = "--budget";

/// The secret rules of a config file (docs/secrets.md); errors name the file.
pub fn load_secret_config(path: &Path) -> Result<Scanner, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    SecretConfig::from_yaml(&text)
        .and_then(|config| config.scanner())
        .map_err(|e| format!("secret config {}: {e}", path.display()))
}

/// Runs the child on the arguments after the subcommand; returns its exit code.
pub fn main(args: &[String]) -> i32 {
    let mut secrets = None;
    let mut budget = Budget::default();
    for pair in args.chunks(2) {
        let parsed = match pair {
            [flag, path] if flag == SECRET_CONFIG => load_secret_config(Path::new(path)).map(|s| secrets = Some(s)),
            [flag, setting] if flag == BUDGET => setting.parse().map(|b| budget = b),
            _ => Err(format!("usage: strata-worker {} [{SECRET_CONFIG} FILE] [{BUDGET} SETTING]", super::SUBCOMMAND)),
        };
        if let Err(e) = parsed {
            eprintln!("{e}");
            return 1;
        }
    }
    match serve(secrets.as_ref().unwrap_or_else(|| Scanner::builtin()), &budget) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("analysis child: {e}");
            1
        }
    }
}

/// Serves jobs until stdin closes between two of them. An analysis error is an answer; only a broken
/// stream ends the child.
fn serve(secrets: &Scanner, budget: &Budget) -> io::Result<()> {
    let mut input = io::stdin().lock();
    let mut output = io::BufWriter::new(io::stdout().lock());
    while let Some(request) = protocol::read_request(&mut input)? {
        let mut blob = Blob::new(&mut input);
        let analysed = analyze_layer_sized(&mut blob, &request.digest, Some(request.size), secrets, budget);
        blob.finish()?;
        let answer = analysed.map_err(|e| e.to_string()).and_then(|inventory| {
            serde_json::to_vec(&inventory).map_err(|e| format!("layer {}: encoding the inventory: {e}", request.digest))
        });
        match answer {
            Ok(json) => protocol::write_answer(&mut output, OK, &json)?,
            Err(text) => protocol::write_answer(&mut output, FAILED, text.as_bytes())?,
        }
        output.flush()?;
    }
    Ok(())
}
