//! What the coordinator's HTTP listener parses from unauthenticated-until-checked requests: the registry's
//! notification envelope and each event's decision, Harbor's scan request, `Accept` negotiation and the
//! bearer check. Input: `Accept` header, a 0xff byte, then the body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_coordinator::auth;
use strata_coordinator::harbor::model::{ScanRequest, negotiate};
use strata_coordinator::notify::Filter;
use strata_coordinator::notify::event::{Envelope, classify};

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let header = String::from_utf8_lossy(header);
    let _ = auth::check(Some(&header), "s3cret-token");
    let _ = negotiate(Some(&header), Some(&header));
    let filter = Filter::new("library/*,team/**", "team/private/**").expect("static patterns");
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        for event in &envelope.events {
            for registry in ["registry.example:5000", "127.0.0.1:5000"] {
                if let Ok(pushed) = classify(event, registry, &filter, 0) {
                    assert!(pushed.reference.contains(&pushed.repository));
                }
            }
        }
    }
    let _ = serde_json::from_slice::<ScanRequest>(body);
});
