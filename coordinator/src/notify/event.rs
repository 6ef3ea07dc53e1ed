//! The Distribution registry's notification envelope (`application/vnd.docker.distribution.events.v1+json`)
//! and the one decision made about each event: scan it, or ignore it and say why. Pure: no I/O.

use serde::{Deserialize, Serialize};

use super::Filter;

/// The media type the registry sends envelopes with.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

/// Image manifests and indexes, OCI and Docker: what a scan can start from. Blobs, schema 1 manifests
/// and anything else are not images to scan.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub events: Vec<Event>,
}

/// The fields of an event Strata reads (the registry sends more: actor, source, url, size).
#[derive(Debug, Default, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub target: Target,
    #[serde(default)]
    pub request: Request,
}

#[derive(Debug, Default, Deserialize)]
pub struct Target {
    #[serde(default, rename = "mediaType")]
    pub media_type: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub tag: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Request {
    /// The `Host` the pusher used: how that client reached the registry.
    #[serde(default)]
    pub host: String,
}

/// A pushed image to scan: what the inbox keeps until the scan is submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    /// The registry event's id, for tracing an event to its scan.
    pub event_id: String,
    /// `registry/repository@digest`: the exact content pushed, whatever the tag points to later.
    pub reference: String,
    pub repository: String,
    pub digest: String,
    /// The tag pushed, empty for a push by digest (an index's platform manifests).
    pub tag: String,
    pub received_ms: i64,
}

/// Why an event starts no scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// A pull, a delete, a mount: nothing new to scan.
    NotAPush,
    /// A layer or config blob, or a manifest type that is not an image.
    NotAnImageManifest,
    /// The repository is outside the include/exclude patterns.
    Filtered,
    /// The event lacks what a reference needs (repository, digest, registry host).
    Incomplete,
    /// The repository is not a name the distribution grammar allows.
    BadRepository,
}

impl Ignored {
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::NotAPush => "not_a_push",
            Ignored::NotAnImageManifest => "not_an_image_manifest",
            Ignored::Filtered => "filtered",
            Ignored::Incomplete => "incomplete",
            Ignored::BadRepository => "bad_repository",
        }
    }
}

/// Decides one event. `registry` is the configured address under which the fleet reaches the registry
/// (`STRATA_NOTIFY_REGISTRY`); the event's own `request.host` is the pusher's `Host` header, which anyone
/// able to push chooses, so it is never used.
pub fn classify(event: &Event, registry: &str, filter: &Filter, now_ms: i64) -> Result<Pushed, Ignored> {
    if event.action != "push" {
        return Err(Ignored::NotAPush);
    }
    // Registries may append parameters (`; charset=…`); the type itself decides.
    let media_type = event.target.media_type.split(';').next().unwrap_or_default().trim();
    if !MANIFEST_MEDIA_TYPES.contains(&media_type) {
        return Err(Ignored::NotAnImageManifest);
    }
    let target = &event.target;
    let host = registry.trim().trim_end_matches('/');
    let digest_ok = target.digest.split_once(':').is_some_and(|(alg, hex)| !alg.is_empty() && !hex.is_empty());
    if target.repository.is_empty() || !digest_ok || host.is_empty() {
        return Err(Ignored::Incomplete);
    }
    if !strata_registry::is_repository_name(&target.repository) {
        return Err(Ignored::BadRepository);
    }
    if !filter.allows(&target.repository) {
        return Err(Ignored::Filtered);
    }
    Ok(Pushed {
        event_id: event.id.clone(),
        reference: format!("{host}/{}@{}", target.repository, target.digest),
        repository: target.repository.clone(),
        digest: target.digest.clone(),
        tag: target.tag.clone(),
        received_ms: now_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, media_type: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "id": "e1", "timestamp": "2026-11-30T10:00:00Z", "action": action,
            "target": {"mediaType": media_type, "size": 525, "digest": "sha256:abc", "length": 525,
                       "repository": "team/app", "url": "http://r/v2/team/app/manifests/sha256:abc", "tag": "1.0"},
            "request": {"id": "r1", "addr": "10.0.0.1:1234", "host": "registry.local:5000", "method": "PUT",
                        "useragent": "skopeo"},
            "actor": {}, "source": {"addr": "reg-1:5000", "instanceID": "i"}
        }))
        .unwrap()
    }

    #[test]
    fn a_manifest_push_is_scanned_by_digest_with_its_tag() {
        let pushed = classify(
            &event("push", "application/vnd.oci.image.manifest.v1+json"),
            "registry.local:5000",
            &Filter::default(),
            7,
        )
        .unwrap();
        assert_eq!(pushed.reference, "registry.local:5000/team/app@sha256:abc");
        assert_eq!((pushed.tag.as_str(), pushed.event_id.as_str(), pushed.received_ms), ("1.0", "e1", 7));
        let configured = classify(
            &event("push", "application/vnd.docker.distribution.manifest.v2+json"),
            "registry.internal:443/",
            &Filter::default(),
            7,
        )
        .unwrap();
        assert_eq!(configured.reference, "registry.internal:443/team/app@sha256:abc");
    }

    #[test]
    fn the_pushers_host_header_is_never_the_registry() {
        let mut spoofed = event("push", "application/vnd.oci.image.manifest.v1+json");
        spoofed.request.host = "127.0.0.1:6379".into();
        let pushed = classify(&spoofed, "registry.internal", &Filter::default(), 0).unwrap();
        assert_eq!(pushed.reference, "registry.internal/team/app@sha256:abc");
        spoofed.target.repository = "../../v2/x".into();
        assert_eq!(classify(&spoofed, "registry.internal", &Filter::default(), 0), Err(Ignored::BadRepository));
    }

    #[test]
    fn pulls_blobs_and_other_media_types_are_ignored() {
        let f = Filter::default();
        let oci = "application/vnd.oci.image.manifest.v1+json";
        assert_eq!(classify(&event("pull", oci), "r.example", &f, 0), Err(Ignored::NotAPush));
        assert_eq!(classify(&event("delete", oci), "r.example", &f, 0), Err(Ignored::NotAPush));
        for blob in [
            "application/octet-stream",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ] {
            assert_eq!(classify(&event("push", blob), "r.example", &f, 0), Err(Ignored::NotAnImageManifest), "{blob}");
        }
        let mut no_digest = event("push", oci);
        no_digest.target.digest.clear();
        assert_eq!(classify(&no_digest, "r.example", &f, 0), Err(Ignored::Incomplete));
        let excluded = Filter::new("", "team/*").unwrap();
        assert_eq!(classify(&event("push", oci), "r.example", &excluded, 0), Err(Ignored::Filtered));
    }
}
