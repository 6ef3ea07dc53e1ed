//! The registry's `WWW-Authenticate` challenge and the token dance it starts (distribution's token
//! authentication spec): `Bearer realm=…,service=…,scope=…` sends the client to the realm for a token
//! scoped to what it asked for, presenting its credentials there; `Basic` wants the credentials themselves.
//!
//! oci-client does this for the image paths (manifests, blobs) but only with `repository:<name>:pull`
//! scopes; the catalog needs `registry:catalog:*`, so [`crate::transport`] drives the dance itself with this.
//! Tokens and credentials never reach an error message: errors name the realm and the scope only.

use std::time::{Duration, Instant};

use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::auth::Credentials;
use crate::error::{RegistryError, error_chain, truncate};

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

/// The first challenge we can answer in a `WWW-Authenticate` value (which may hold several).
pub fn parse(header: &str) -> Option<Challenge> {
    let mut rest = header.trim();
    while !rest.is_empty() {
        let scheme_end = rest.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(rest.len());
        let scheme = &rest[..scheme_end];
        let (params, after) = auth_params(&rest[scheme_end..]);
        let param = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        if scheme.eq_ignore_ascii_case("bearer") {
            if let Some(realm) = param("realm") {
                return Some(Challenge::Bearer { realm, service: param("service") });
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        rest = after.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    None
}

/// Parses `k=v, k="quoted, \"value\""` up to the start of the next challenge (a token not followed by
/// `=`); returns the parameters and the unparsed rest.
fn auth_params(text: &str) -> (Vec<(String, String)>, &str) {
    let mut params = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let name_end = trimmed.find(|c: char| c == '=' || c == ',' || c.is_whitespace()).unwrap_or(trimmed.len());
        let after_name = trimmed[name_end..].trim_start();
        if name_end == 0 || !after_name.starts_with('=') {
            return (params, trimmed);
        }
        let name = trimmed[..name_end].to_string();
        let value_text = after_name[1..].trim_start();
        let (value, after) = match value_text.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next().map(|(_, c)| c)),
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            }
            None => {
                let end = value_text.find(',').unwrap_or(value_text.len());
                (value_text[..end].trim().to_string(), &value_text[end..])
            }
        };
        params.push((name, value));
        rest = after;
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    pub value: String,
    pub expires: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("value", &"<redacted>").field("expires", &self.expires).finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Asks the realm for a token for `scope`, presenting basic credentials if we have them. `subject` names
/// what the token is for in errors (e.g. `127.0.0.1:5000 catalog`).
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    credentials: &Credentials,
    subject: &str,
) -> Result<Token, RegistryError> {
    let fail = |message: String| RegistryError::Network { reference: subject.to_string(), message };
    let mut url = reqwest::Url::parse(realm).map_err(|e| RegistryError::Protocol {
        reference: subject.to_string(),
        message: format!("the token realm {realm:?} is not a URL: {e}"),
    })?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        query.append_pair("scope", scope);
    }
    let mut request = http.get(url);
    if let RegistryAuth::Basic(user, password) = &credentials.auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.map_err(|e| fail(format!("token service {realm}: {}", error_chain(&e))))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(RegistryError::Unauthorized {
            reference: subject.to_string(),
            message: format!(
                "the token service {realm} refused a token for {scope} (HTTP {}; {})",
                status.as_u16(),
                credentials.description
            ),
        });
    }
    let body = response.bytes().await.map_err(|e| fail(format!("token service {realm}: {}", error_chain(&e))))?;
    if !status.is_success() {
        return Err(fail(format!(
            "token service {realm} answered HTTP {} for {scope}: {}",
            status.as_u16(),
            truncate(&String::from_utf8_lossy(&body))
        )));
    }
    // Never quote the body of a successful answer: it holds the token.
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
        reference: subject.to_string(),
        message: format!("token service {realm}: not a token response (line {}, column {})", e.line(), e.column()),
    })?;
    let value =
        parsed.token.or(parsed.access_token).filter(|t| !t.is_empty()).ok_or_else(|| RegistryError::Protocol {
            reference: subject.to_string(),
            message: format!("token service {realm}: the response has no token"),
        })?;
    // The spec's default lifetime is 60 s; renew a little early so a token never expires in flight.
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(1));
    let expires = Instant::now() + lifetime.saturating_sub(Duration::from_secs(5).min(lifetime / 2));
    Ok(Token { value, expires })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let bearer = |realm: &str, service: Option<&str>| {
            Some(Challenge::Bearer { realm: realm.into(), service: service.map(String::from) })
        };
        let cases: Vec<(&str, Option<Challenge>)> = vec![
            (
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="registry:catalog:*""#,
                bearer("https://auth.example/token", Some("registry.example")),
            ),
            // order, spacing and case do not matter; the scope may hold commas inside quotes
            (
                r#"bearer  scope="repository:a/b:pull,push", SERVICE="svc" , Realm="http://127.0.0.1:1/token""#,
                bearer("http://127.0.0.1:1/token", Some("svc")),
            ),
            // unquoted values, no service
            ("Bearer realm=http://h/token", bearer("http://h/token", None)),
            // escaped quote inside a quoted value
            (r#"Bearer realm="http://h/t\"x",service="s""#, bearer("http://h/t\"x", Some("s"))),
            (r#"Basic realm="strata-test""#, Some(Challenge::Basic)),
            ("Basic", Some(Challenge::Basic)),
            // several challenges: the first one we can answer
            (r#"Negotiate abc, Bearer realm="http://h/token",service="s""#, bearer("http://h/token", Some("s"))),
            (r#"Digest realm="x", nonce="y""#, None),
            // a bearer challenge without a realm cannot be answered
            (r#"Bearer service="s""#, None),
            ("", None),
        ];
        for (header, expected) in cases {
            assert_eq!(parse(header), expected, "{header}");
        }
    }

    #[test]
    fn token_debug_redacts() {
        let token = Token { value: "eyJ-secret".into(), expires: Instant::now() };
        assert!(!format!("{token:?}").contains("eyJ"));
    }
}
