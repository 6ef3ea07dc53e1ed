//! Command-line arguments. Every option is documented here, once; `strata help <command>` prints it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "Scan container images for vulnerable packages")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan one image from a registry, an OCI layout directory or a docker-archive tarball.
    ///
    /// Exit codes: 0 when no finding at the selected severities remains, the value of --exit-code when
    /// some do (0 by default), 2 on usage errors and on scans that could not complete.
    Image(Box<ImageArgs>),
    /// Check a Dockerfile against Docker's practices (rules DS001–DS016, see docs/misconfig.md).
    ///
    /// Exit codes: 0 when no misconfiguration at the selected severities remains, the value of --exit-code
    /// when some do, 2 on usage errors and unreadable or unparsable Dockerfiles.
    Dockerfile(DockerfileArgs),
    /// Build, inspect or download the vulnerability DB.
    Db(DbArgs),
    /// Submit images to a fleet coordinator (optionally waiting for them).
    ///
    /// With OTEL_EXPORTER_OTLP_ENDPOINT set, the submit is exported as the root span of the scans' trace
    /// (OTLP/gRPC; see docs/fleet.md, Observability).
    Submit(SubmitArgs),
    /// Show scans on a coordinator: one by id, the active ones, or --all.
    Status(StatusArgs),
    /// Print a finished scan's report.
    Results(ResultsArgs),
    /// Stream progress events from a coordinator.
    Watch(StatusArgs),
    /// Re-match stored inventories against the coordinator's current DB (no pull, no layer work).
    Rescan(RescanArgs),
    /// Cancel a scan that has not finished.
    Cancel(CancelArgs),
    /// Sweep a registry through the coordinator: scan every manifest digest not seen before, re-match
    /// every other against the current DB (docs/sweep.md).
    ///
    /// Exit codes: 0 when nothing failed, 2 when a repository, tag or (with --wait) a scan failed, on
    /// usage errors, and when the registry's catalog cannot be listed.
    Sweep(SweepArgs),
    /// DefectDojo: check that a URL and API key work (docs/defectdojo.md).
    Defectdojo(DefectDojoArgs),
    /// The images whose latest scan has an advisory or a package, with the layer and Dockerfile step that
    /// brought it and the fix (docs/query.md).
    Query(QueryArgs),
    /// The layer chains shared across the fleet whose rebuild fixes the most findings (docs/query.md).
    Rollup(RollupArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["advisory", "package"]))]
pub struct QueryArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// An advisory id or alias (`CVE-2023-0286`, `DSA-5343-1`).
    #[arg(long)]
    pub advisory: Option<String>,
    /// A package, `NAME` or `NAME@RANGE` in its ecosystem's version order (`libssl1.1@<1.1.1n`,
    /// `lodash@>=4.0.0,<4.17.21`).
    #[arg(long)]
    pub package: Option<String>,
    /// Only repositories matching this glob (`team/*`, with or without the registry).
    #[arg(long)]
    pub repository: Option<String>,
    /// The answer as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollupArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// Only repositories matching this glob.
    #[arg(long)]
    pub repository: Option<String>,
    /// A chain is a base when at least this many images are built on it.
    #[arg(long, default_value_t = 2)]
    pub min_images: u32,
    /// Bases listed at most.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// The answer as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The API key comes from STRATA_DEFECTDOJO_TOKEN_FILE or STRATA_DEFECTDOJO_TOKEN, never from a flag.
#[derive(Debug, Args)]
pub struct DefectDojoArgs {
    #[command(subcommand)]
    pub command: DefectDojoCommand,
}

#[derive(Debug, Subcommand)]
pub enum DefectDojoCommand {
    /// Reachability, the API key and read permission (GET /api/v2/products/?limit=1).
    Check {
        /// DefectDojo's base URL (without /api/v2).
        #[arg(long, env = "STRATA_DEFECTDOJO_URL")]
        url: String,
    },
    /// Queue parked deliveries again (after fixing what DefectDojo refused): scan ids (their parked
    /// deliveries) or delivery ids, as `strata status --json` shows them.
    Resend {
        #[command(flatten)]
        coordinator: CoordinatorArgs,
        /// Scan ids or delivery ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// The scan id (`strata submit` prints it).
    pub id: String,
}

/// Where the coordinator is. The bearer token comes from STRATA_TOKEN or --token-file.
#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// The coordinator's gRPC URL (`https://` for TLS).
    #[arg(long, env = "STRATA_COORDINATOR", default_value = "http://127.0.0.1:50051")]
    pub coordinator: String,
    /// A file holding the bearer token (else STRATA_TOKEN; never a flag value, which `ps` would show).
    #[arg(long, env = "STRATA_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) that the coordinator's TLS certificate chains to (`https://` URLs).
    #[arg(long, env = "STRATA_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for coordinators that require mutual TLS.
    #[arg(long, env = "STRATA_TLS_CLIENT_CERT", value_name = "FILE", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-client-cert.
    #[arg(long, env = "STRATA_TLS_CLIENT_KEY", value_name = "FILE", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
}

/// What a scan looks for and what it accepts: the same for `strata image` and `strata submit`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to look for (comma-separated: vuln, secret, misconfig).
    #[arg(long, value_delimiter = ',', default_value = "vuln,secret", value_name = "LIST")]
    pub scanners: Vec<strata_scanner::report::policy::Scanner>,
    /// Accepted findings (YAML, see docs/formats.md); default `.strataignore` in the current directory if
    /// it exists. Suppressed findings move to `suppressed` with their reason and do not count.
    #[arg(long, value_name = "PATH")]
    pub ignorefile: Option<PathBuf>,
    /// OpenVEX documents (repeatable or comma-separated): `not_affected` and `fixed` statements suppress.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    pub vex: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// Image references.
    pub references: Vec<String>,
    /// A file with one reference per line (`#` comments allowed).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Platform to select from multi-platform images.
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
    /// Labels for the scans, `k=v` (repeatable): select them later in status and rescan.
    #[arg(long, value_name = "K=V")]
    pub label: Vec<String>,
    /// Only report these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN); the report
    /// counts what this left out.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub severity: Vec<String>,
    /// Leave out findings that have no fixed version yet (counted in the report).
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// Leave out Go findings whose vulnerable symbols are not in the binary (counted in the report).
    #[arg(long)]
    pub reachable_only: bool,
    /// The ignore file and VEX documents are sent with the scans and stored with them: they apply when
    /// the scan finishes and on every rescan (besides the coordinator's own, see docs/fleet.md).
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Wait until every scan finished; exit 2 if any did not end `done`.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// The registry to sweep, `host[:port]` or a URL, as the coordinator reaches it (with its own
    /// registry credentials).
    #[arg(long, value_name = "URL")]
    pub registry: String,
    /// Only repositories matching these glob patterns (`team/*` one level, `team/**` every level below).
    #[arg(long, value_name = "PATTERN", num_args = 1..)]
    pub repos: Vec<String>,
    /// Wait until every submitted scan has finished, so failed scans count.
    #[arg(long)]
    pub wait: bool,
    /// Platform of new scans.
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
    /// Catalog and tag-list page size (`n`; default: the coordinator's).
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
    /// Output format: table (one line per repository and tag) or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// One scan's id (default: every active scan, or every scan with --all).
    pub id: Option<String>,
    /// All scans, not only active ones.
    #[arg(long)]
    pub all: bool,
    /// One JSON array of scans (with their DefectDojo deliveries) instead of one line per scan.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResultsArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// The scan id (`strata submit` prints it).
    pub id: String,
    /// Report format, as for `strata image --format` (docs/formats.md).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// List every package found (JSON: `package_list` of each result), not only the vulnerable ones.
    #[arg(long)]
    pub list_all_pkgs: bool,
    /// Leave out Go findings whose vulnerable symbols are not in the binary (counted in the report), also
    /// when the scan was submitted without it.
    #[arg(long)]
    pub reachable_only: bool,
}

#[derive(Debug, Args)]
pub struct RescanArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// Every stored image.
    #[arg(long)]
    pub all: bool,
    /// Only images whose scans carry this label, `k=v` (repeatable: all must match).
    #[arg(long, value_name = "K=V")]
    pub label: Vec<String>,
    /// Only images of this repository (`registry/name`).
    #[arg(long)]
    pub repository: Option<String>,
    /// One JSON array (scan id, reference, new and fixed findings, DB digest) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Image reference in a registry (`127.0.0.1:5000/app:1.0`, `debian:11`). Plain HTTP is used for
    /// localhost registries; credentials come from STRATA_REGISTRY_USERNAME/PASSWORD or ~/.docker/config.json.
    #[arg(required_unless_present = "input", conflicts_with = "input")]
    pub reference: Option<String>,
    /// Read the image from an OCI layout directory (`DIR` or `DIR:TAG`) or a docker-archive tarball.
    #[arg(long, value_name = "PATH")]
    pub input: Option<String>,
    /// Platform to select from a multi-platform image.
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
    /// Use plain HTTP for this registry even if it is not on localhost.
    #[arg(long)]
    pub insecure: bool,
    #[command(flatten)]
    pub db: DbSource,
    /// Secret rules: extra rules, allowed paths and rules, disabled rules (YAML, see docs/secrets.md).
    #[arg(long, value_name = "FILE", conflicts_with = "cache")]
    pub secret_config: Option<PathBuf>,
    /// The per-layer analysis budget (docs/security-layers.md): `key = value` pairs, comma-separated, e.g.
    /// `wall = 60, entries = 500000`; unnamed fields keep their defaults. Past a budget the report is
    /// incomplete, never clean.
    #[arg(long, env = "STRATA_LAYER_BUDGET", value_name = "SETTING", default_value = "", conflicts_with = "cache")]
    pub layer_budget: String,
    /// Share layer results through Redis (`redis://…`) with other local scans and the fleet, instead of
    /// an in-memory cache that lives as long as this scan.
    #[arg(long, env = "STRATA_CACHE", value_name = "URL")]
    pub cache: Option<String>,
    /// `rediss://` caches: the CA and client certificate (as the fleet's `STRATA_REDIS_CA`, …).
    #[command(flatten)]
    pub cache_tls: strata_fleet::tls::RedisTlsArgs,
    /// Report format: table, json, trivy-json (Trivy's SchemaVersion 2), sarif (2.1.0), cyclonedx (1.5
    /// JSON SBOM with vulnerabilities), spdx (2.3 JSON SBOM), openvex (v0.2.0: the Go reachability
    /// verdicts as VEX statements). See docs/formats.md.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only report these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub severity: Vec<String>,
    /// Leave out findings that have no fixed version yet.
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// Leave out Go findings whose vulnerable symbols are not in the binary's function table (counted in
    /// the report, so the result never looks cleaner than it is). Not with `--format openvex`.
    #[arg(long)]
    pub reachable_only: bool,
    /// List every package found (JSON: `package_list` of each result), not only the vulnerable ones.
    #[arg(long)]
    pub list_all_pkgs: bool,
    /// Exit with this code when findings remain after the filters.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub exit_code: u8,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Also check this Dockerfile (the image's build recipe) and report it as a `config` target.
    #[arg(long, value_name = "PATH")]
    pub dockerfile: Option<PathBuf>,
    /// The build context of `--dockerfile`, where its `.dockerignore` is (default: the Dockerfile's directory).
    #[arg(long, value_name = "DIR", requires = "dockerfile")]
    pub dockerfile_context: Option<PathBuf>,
    /// No progress bar and no log output below errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Also upload the report to this DefectDojo (base URL) as a Trivy Scan reimport; the API key and
    /// other settings come from STRATA_DEFECTDOJO_* (docs/defectdojo.md).
    #[arg(long, value_name = "URL")]
    pub defectdojo: Option<String>,
    /// DefectDojo product name (template; default: the repository without tag or digest).
    #[arg(long, value_name = "NAME", requires = "defectdojo")]
    pub dd_product: Option<String>,
    /// DefectDojo product type name (template; default `Container images`, STRATA_DEFECTDOJO_PRODUCT_TYPE).
    #[arg(long, value_name = "NAME", requires = "defectdojo")]
    pub dd_product_type: Option<String>,
    /// DefectDojo engagement name (template; default `strata`, STRATA_DEFECTDOJO_ENGAGEMENT).
    #[arg(long, value_name = "NAME", requires = "defectdojo")]
    pub dd_engagement: Option<String>,
    /// DefectDojo test title (template; default `{repository}`): keep it the same every run, since a new
    /// title makes a new test where every finding is new.
    #[arg(long, value_name = "TITLE", requires = "defectdojo")]
    pub dd_test_title: Option<String>,
}

#[derive(Debug, Args)]
pub struct DockerfileArgs {
    /// The Dockerfile.
    pub path: PathBuf,
    /// The build context, where `.dockerignore` is looked for (default: the Dockerfile's directory).
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Output format: table or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the findings here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only report these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub severity: Vec<String>,
    /// Exit with this code when misconfigurations remain after the filters.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub exit_code: u8,
}

/// Where the vulnerability data comes from.
#[derive(Debug, Args)]
pub struct DbSource {
    /// A DB file made by `strata db build` or `strata db update` (default: the one `db update` writes).
    #[arg(long, value_name = "FILE", conflicts_with = "osv")]
    pub db: Option<PathBuf>,
    /// Build the DB in memory from OSV data instead (directories, .json, all.zip, .jsonl.gz).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub osv: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// The formats `strata image` writes. Separate from [`Format`], which other commands match exhaustively;
/// `commands::image::render` turns a report into any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    TrivyJson,
    Sarif,
    Cyclonedx,
    Spdx,
    Openvex,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Build a DB file from OSV data: directories of .json records, osv.dev all.zip files, .jsonl.gz files.
    Build {
        /// OSV sources: directories (walked), single .json records, all.zip exports, .jsonl.gz files.
        #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
        osv: Vec<PathBuf>,
        /// The DB file to write (replaced atomically).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a DB file's header: format version, content digest, build time, newest advisory date,
    /// sources and record counts.
    Info {
        /// The DB file (default: the one `db update` writes).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Download osv.dev's per-ecosystem all.zip files and build the DB from them.
    Update {
        /// Where the per-ecosystem archives live (`{base}/{ecosystem}/all.zip`).
        #[arg(long, env = "STRATA_OSV_BASE_URL", default_value = strata_dbsource::osv::DEFAULT_BASE_URL)]
        base_url: String,
        /// Ecosystems to fetch, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = strata_dbsource::osv::DEFAULT_ECOSYSTEMS)]
        ecosystems: Vec<String>,
        /// Where to write the DB (default: ~/.cache/strata/db/strata.db).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Publish a DB file to a registry as an OCI artifact (`application/vnd.strata.vulndb.v1`), for
    /// coordinators that refresh from `STRATA_DB_SOURCE=oci://REF`. Credentials as for scans
    /// (STRATA_REGISTRY_USERNAME/PASSWORD, sent to this registry only).
    Push {
        /// Where to publish: `registry/repository:tag`.
        #[arg(value_name = "REF")]
        reference: String,
        /// The DB file (default: the one `db update` writes).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// Use plain HTTP for this registry even if it is not on localhost.
        #[arg(long)]
        insecure: bool,
    },
}
