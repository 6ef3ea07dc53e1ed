//! The registry's `WWW-Authenticate` challenge and the token dance it starts (distribution's token
//! authentication spec): `Bearer realm=…,service=…,scope=…` sends the client to the realm for a token
//! scoped to what it asked for, presenting its credentials there; `Basic` wants the credentials themselves.
//!
//! [`crate::transport`] decides whether a realm may be contacted and with which credentials; this module
//! only parses the challenge and fetches the token. Tokens and credentials never reach an error message:
//! errors name the realm and the scope only.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::auth::{Credentials, Secret};
use crate::error::{RegistryError, error_chain, upstream_status};
use crate::transport::read_bounded;

/// A token answer is a few KiB at most (a JWT and its expiry).
const MAX_TOKEN_BYTES: usize = 64 << 10;

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

/// Asks the realm for a token for `scope`, presenting `credentials` (already decided to be safe to send
/// there: see [`crate::transport`]). `subject` names what the token is for in errors (e.g.
/// `127.0.0.1:5000 catalog`). The answer is read bounded and never quoted.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    realm: &reqwest::Url,
    service: Option<&str>,
    scope: &str,
    credentials: &Credentials,
    subject: &str,
) -> Result<Token, RegistryError> {
    let fail = |message: String| RegistryError::Network { reference: subject.to_string(), message };
    let shown = realm_shown(realm);
    let request = match &credentials.secret {
        // Docker's OAuth2 flow for identity tokens: a refresh-token grant POSTed as a form.
        Secret::IdentityToken(refresh) => {
            let mut form = reqwest::Url::parse("form:").map_err(|e| fail(e.to_string()))?;
            {
                let mut pairs = form.query_pairs_mut();
                pairs.append_pair("grant_type", "refresh_token").append_pair("refresh_token", refresh);
                pairs.append_pair("client_id", "strata").append_pair("scope", scope);
                if let Some(service) = service {
                    pairs.append_pair("service", service);
                }
            }
            http.post(realm.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.query().unwrap_or_default().to_string())
        }
        secret => {
            let mut url = realm.clone();
            {
                let mut query = url.query_pairs_mut();
                if let Some(service) = service {
                    query.append_pair("service", service);
                }
                query.append_pair("scope", scope);
            }
            let request = http.get(url);
            match secret {
                Secret::Basic(user, password) => request.basic_auth(user, Some(password)),
                _ => request,
            }
        }
    };
    let response = request.send().await.map_err(|e| fail(format!("token service {shown}: {}", error_chain(&e))))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(RegistryError::Unauthorized {
            reference: subject.to_string(),
            message: format!(
                "the token service {shown} refused a token for {scope} (HTTP {}; {})",
                status.as_u16(),
                credentials.description
            ),
        });
    }
    let body =
        read_bounded(response, MAX_TOKEN_BYTES).await.map_err(|e| fail(format!("token service {shown}: {e}")))?;
    if !status.is_success() {
        return Err(fail(format!("token service {shown} answered {}", upstream_status(status.as_u16(), &body))));
    }
    // Never quote the body of a successful answer: it holds the token.
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
        reference: subject.to_string(),
        message: format!("token service {shown}: not a token response (line {}, column {})", e.line(), e.column()),
    })?;
    let value =
        parsed.token.or(parsed.access_token).filter(|t| !t.is_empty()).ok_or_else(|| RegistryError::Protocol {
            reference: subject.to_string(),
            message: format!("token service {shown}: the response has no token"),
        })?;
    // The spec's default lifetime is 60 s; renew a little early so a token never expires in flight.
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).clamp(1, 86_400));
    let expires = Instant::now() + lifetime.saturating_sub(Duration::from_secs(5).min(lifetime / 2));
    Ok(Token { value, expires })
}

/// A realm as errors show it: scheme, host and path, never a query (it is the registry's to choose).
pub(crate) fn realm_shown(realm: &reqwest::Url) -> String {
    format!("{}://{}{}", realm.scheme(), realm.host_str().unwrap_or_default(), port_suffix(realm)) + realm.path()
}

fn port_suffix(url: &reqwest::Url) -> String {
    url.port().map(|p| format!(":{p}")).unwrap_or_default()
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
