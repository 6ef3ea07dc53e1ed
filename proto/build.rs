//! Generates the gRPC and message code. protoc comes from `protoc-bin-vendored` so a fresh machine needs
//! only cargo; `PROTOC` overrides it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = match std::env::var_os("PROTOC") {
        Some(p) => std::path::PathBuf::from(p),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    println!("cargo:rerun-if-changed=strata/v1/scan.proto");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    // A layer job may carry a lent pull token: its `Debug` (in lib.rs) redacts it.
    config.skip_debug([".strata.v1.LayerJob"]);
    tonic_prost_build::configure().compile_with_config(config, &["strata/v1/scan.proto"], &["."])?;
    Ok(())
}
