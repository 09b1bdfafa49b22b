//! Registry authentication: answers `WWW-Authenticate` challenges with Basic
//! credentials or a Bearer token fetched from the registry's token service,
//! cached per scope.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::RequestBuilder;

use super::credentials::Credential;
use super::RegistryError;
use forge_core::secret::Secret;
use forge_io::http::{read_json, read_text, within_idle, Activity, HttpError, Timeouts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut map = HashMap::new();
    for part in split_params(params) {
        if let Some((k, v)) = part.split_once('=') {
            map.insert(
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            );
        }
    }
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: map.remove("realm")?,
            service: map.remove("service"),
        }),
        _ => None,
    }
}

/// Splits on commas outside quotes (scopes contain commas: `repository:x:pull,push`).
fn split_params(s: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[derive(Default)]
pub struct Authenticator {
    pub registry: String,
    pub credential: Option<Credential>,
    basic: Mutex<bool>,
    tokens: Mutex<HashMap<String, Secret>>,
}

impl Authenticator {
    pub fn new(registry: &str, credential: Option<Credential>) -> Self {
        Self {
            registry: registry.into(),
            credential,
            ..Default::default()
        }
    }

    /// Adds what we know for `scope` to a request.
    pub fn apply(&self, req: RequestBuilder, scope: &str) -> RequestBuilder {
        if let Some(token) = self.tokens.lock().expect("not poisoned").get(scope) {
            return req.bearer_auth(token.expose());
        }
        if *self.basic.lock().expect("not poisoned") {
            if let Some(Credential::Basic { user, password }) = &self.credential {
                return req.basic_auth(user, Some(password.expose()));
            }
        }
        req
    }

    /// Reacts to a 401: learns to use Basic, or fetches a Bearer token for `scope`.
    pub async fn answer(
        &self,
        http: &reqwest::Client,
        challenge: Challenge,
        scope: &str,
        timeouts: Timeouts,
    ) -> Result<(), RegistryError> {
        match challenge {
            Challenge::Basic => {
                if self.credential.is_none() {
                    return Err(RegistryError::Auth {
                        registry: self.registry.clone(),
                        status: 401,
                        body: "the registry requires credentials and none were found (FORGE_REGISTRY_USER + FORGE_REGISTRY_TOKEN, REGISTRY_AUTH_FILE, containers' auth.json, ~/.docker/config.json)".into(),
                    });
                }
                *self.basic.lock().expect("not poisoned") = true;
                Ok(())
            }
            Challenge::Bearer { realm, service } => {
                let mut query: Vec<(&str, &str)> = scope.split(' ').map(|s| ("scope", s)).collect();
                if let Some(s) = &service {
                    query.push(("service", s));
                }
                let mut req = http.get(&realm).query(&query);
                if let Some(Credential::Basic { user, password }) = &self.credential {
                    req = req.basic_auth(user, Some(password.expose()));
                }
                let http_err = |error| RegistryError::Http {
                    method: None,
                    error,
                };
                let resp = within_idle(&realm, timeouts.idle, &Activity::new(), async {
                    req.send()
                        .await
                        .map_err(|e| HttpError::transport(&realm, e))
                })
                .await
                .map_err(http_err)?;
                let status = resp.status();
                if !status.is_success() {
                    let body = read_text(&realm, resp, timeouts.idle)
                        .await
                        .unwrap_or_default();
                    return Err(RegistryError::Auth {
                        registry: self.registry.clone(),
                        status: status.as_u16(),
                        body,
                    });
                }
                let v: serde_json::Value = read_json(&realm, resp, timeouts.idle)
                    .await
                    .map_err(http_err)?;
                let token = v["token"]
                    .as_str()
                    .or_else(|| v["access_token"].as_str())
                    .ok_or_else(|| RegistryError::Protocol {
                        registry: self.registry.clone(),
                        message: format!("token service {realm} answered without a token"),
                    })?;
                self.tokens
                    .lock()
                    .expect("not poisoned")
                    .insert(scope.to_owned(), Secret::new(token));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(
            parse_challenge(r#"Basic realm="test-registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
