//! One origin for a [`TokenRegistry`] and its token server, as Harbor serves them (`/service/token` on the
//! registry's own host): a recording [`HostileServer`] that forwards `/token…` to the token server and
//! everything else to the registry, pointing the registry's `WWW-Authenticate` realm at itself. It keeps
//! every `Authorization` header it was sent (per request, via [`HostileServer::requests`]) and every token
//! the token server issued through it, so a test can tell which credential or token each request carried.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::hostile_server::{HostileServer, Reply, Seen};
use crate::registry::http;
use crate::token::TokenRegistry;

/// Response headers a registry client needs; hop-by-hop ones are the server's own.
const FORWARDED: [&str; 4] = ["Content-Type", "Docker-Content-Digest", "Docker-Distribution-Api-Version", "Location"];

pub struct TokenFront {
    pub server: HostileServer,
    issued: Arc<Mutex<Vec<String>>>,
}

impl TokenFront {
    pub fn start(registry: &TokenRegistry) -> TokenFront {
        let (registry_port, tokens_port, upstream_realm) =
            (registry.registry.port, registry.tokens.port, registry.tokens.realm());
        let issued: Arc<Mutex<Vec<String>>> = Arc::default();
        let own_realm: Arc<OnceLock<String>> = Arc::default();
        let server = {
            let (issued, own_realm) = (issued.clone(), own_realm.clone());
            HostileServer::start(move |seen: &Seen| {
                let to_tokens = seen.path.starts_with("/token");
                let port = if to_tokens { tokens_port } else { registry_port };
                // The client's own headers (`Authorization`, `Accept`: distribution answers 404 for a manifest
                // type not accepted), minus those `http` writes itself.
                let headers: Vec<(&str, &str)> = seen
                    .head
                    .lines()
                    .skip(1)
                    .filter_map(|line| line.split_once(':'))
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .filter(|(k, _)| {
                        !["host", "connection", "content-length"].contains(&k.to_ascii_lowercase().as_str())
                    })
                    .collect();
                let Ok(response) = http(port, &seen.method, &seen.path, &headers, &[]) else {
                    return Reply::status(502, &[], b"");
                };
                if to_tokens && response.status == 200 {
                    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
                    if let Some(token) = body["token"].as_str() {
                        issued.lock().unwrap().push(token.to_string());
                    }
                }
                let mut headers: Vec<(String, String)> = FORWARDED
                    .iter()
                    .filter_map(|name| response.header(name).map(|v| (name.to_string(), v.to_string())))
                    .collect();
                if let (Some(challenge), Some(realm)) = (response.header("WWW-Authenticate"), own_realm.get()) {
                    headers.push(("WWW-Authenticate".into(), challenge.replace(&upstream_realm, realm)));
                }
                Reply::Bytes { status: response.status, headers, body: response.body }
            })
        };
        let _ = own_realm.set(format!("http://{}/token", server.host()));
        TokenFront { server, issued }
    }

    /// `127.0.0.1:PORT`: the registry's name for clients.
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Every token the token server issued through this front, oldest first.
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }
}
