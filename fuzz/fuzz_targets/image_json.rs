//! Manifest, index and config JSON as a registry or an OCI layout serves them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_scanner::image::{ImageConfig, Manifest, Platform, media_types, parse_manifest};

fuzz_target!(|data: &[u8]| {
    for content_type in [None, Some(media_types::OCI_MANIFEST), Some(media_types::OCI_INDEX)] {
        match parse_manifest(data, content_type) {
            Ok(Manifest::Image(image)) => {
                let _ = image.ensure_is_image();
            }
            Ok(Manifest::Index(index)) => {
                let platform = Platform { os: "linux".into(), architecture: "amd64".into(), variant: None };
                let _ = index.select(&platform);
            }
            Err(_) => {}
        }
    }
    let _ = serde_json::from_slice::<ImageConfig>(data);
});
