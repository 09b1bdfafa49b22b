//! The pin file: one small JSON document per host in the GitOps repository
//! (`hosts/<env>/<host>.json`), saying which system closure the host runs.
//!
//! ```json
//! {
//!   "version": 1,
//!   "host": "web1",
//!   "environment": "production",
//!   "store_path": "/nix/store/…-nixos-system-web1",
//!   "release": "r-2026-12-01-1",
//!   "pinned_at": "2026-12-01T11:00:00Z",
//!   "pinned_by": "ci@example.com",
//!   "confirm_timeout_seconds": 120,
//!   "checks": []
//! }
//! ```
//!
//! `version` is checked first: a newer agent reads older pins, an older agent
//! refuses a newer pin instead of guessing at it.

use serde::{Deserialize, Serialize};

use crate::deploy_config::Check;
use crate::nix::store_path::StorePath;

pub const PIN_VERSION: u32 = 1;

/// Where a host's pin lives in the GitOps repository.
pub fn pin_path(environment: &str, host: &str) -> String {
    format!("hosts/{environment}/{host}.json")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPin {
    pub version: u32,
    pub host: String,
    pub environment: String,
    /// The system's toplevel (what `switch-to-configuration` is run from).
    pub store_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// RFC 3339, UTC.
    pub pinned_at: String,
    pub pinned_by: String,
    /// How long the agent waits for the checks to pass after `test`.
    pub confirm_timeout_seconds: u64,
    /// deploy.yaml's `hosts.<host>.verify`, resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("{file}:{line}:{column}: {message}")]
    Malformed {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: pin version {found} is newer than this agent understands ({PIN_VERSION}); upgrade forge on the host")]
    NewerVersion { file: String, found: u64 },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl HostPin {
    /// Parses `text` read from `file`; `store_dir` is the store the path must be in.
    pub fn parse(text: &str, file: &str, store_dir: &str) -> Result<Self, PinError> {
        let malformed = |e: serde_json::Error| PinError::Malformed {
            file: file.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(malformed)?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v > u64::from(PIN_VERSION) => {
                return Err(PinError::NewerVersion {
                    file: file.to_owned(),
                    found: v,
                })
            }
            Some(_) => {}
            None => {
                return Err(PinError::Invalid {
                    file: file.to_owned(),
                    message: "no `version` number: not a Forge host pin".into(),
                })
            }
        }
        // Parsed again from the text (not the value) so errors keep their position.
        let pin: HostPin = serde_json::from_str(text).map_err(malformed)?;
        let invalid = |message: String| PinError::Invalid {
            file: file.to_owned(),
            message,
        };
        let parsed = StorePath::parse_in(store_dir, &pin.store_path)
            .map_err(|e| invalid(format!("store_path `{}`: {e}", pin.store_path)))?;
        if parsed.to_string() != pin.store_path {
            return Err(invalid(format!(
                "store_path `{}` is not a store path itself (it names something inside one)",
                pin.store_path
            )));
        }
        if pin.confirm_timeout_seconds == 0 {
            return Err(invalid("confirm_timeout_seconds is 0".into()));
        }
        Ok(pin)
    }

    /// The file's text: pretty JSON with a final newline (diffs read well).
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a pin serialises");
        text.push('\n');
        text
    }

    /// Whether `other` asks for the same system (who pinned it and when aside).
    pub fn same_system(&self, other: &HostPin) -> bool {
        self.store_path == other.store_path
            && self.confirm_timeout_seconds == other.confirm_timeout_seconds
            && self.checks == other.checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE: &str = "/nix/store";
    const PATH: &str = "/nix/store/0a6qmbd8k0q6wvqh2kg1xvhxg1ll3w6d-nixos-system-web1";

    fn pin() -> HostPin {
        HostPin {
            version: 1,
            host: "web1".into(),
            environment: "prod".into(),
            store_path: PATH.into(),
            release: Some("r1".into()),
            pinned_at: "2026-12-01T11:00:00Z".into(),
            pinned_by: "ci".into(),
            confirm_timeout_seconds: 60,
            checks: vec![],
        }
    }

    #[test]
    fn render_then_parse_is_the_same_pin() {
        let text = pin().render();
        assert!(text.ends_with("}\n"));
        assert_eq!(HostPin::parse(&text, "p.json", STORE).unwrap(), pin());
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let text = "{\n  \"version\": 1,\n  \"host\": web1\n}";
        let e = HostPin::parse(text, "hosts/prod/web1.json", STORE).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("hosts/prod/web1.json:3:"), "{s}");
    }

    #[test]
    fn unknown_keys_newer_versions_and_bad_paths_are_refused() {
        let mut v = serde_json::to_value(pin()).unwrap();
        v["extra"] = 1.into();
        let e = HostPin::parse(&v.to_string(), "p", STORE).unwrap_err();
        assert!(e.to_string().contains("unknown field `extra`"), "{e}");

        let mut v = serde_json::to_value(pin()).unwrap();
        v["version"] = 2.into();
        let e = HostPin::parse(&v.to_string(), "p", STORE).unwrap_err();
        assert!(matches!(e, PinError::NewerVersion { found: 2, .. }), "{e}");

        for bad in ["/tmp/x", &format!("{PATH}/bin/switch-to-configuration")] {
            let mut p = pin();
            p.store_path = bad.to_string();
            let e = HostPin::parse(&p.render(), "p", STORE).unwrap_err();
            assert!(matches!(e, PinError::Invalid { .. }), "{bad}: {e}");
        }
        let e = HostPin::parse("[1]", "p", STORE).unwrap_err();
        assert!(e.to_string().contains("not a Forge host pin"), "{e}");
    }
}
