//! The image configuration blob: what runs, as whom, where, with which layers.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Image timestamps are fixed so that builds are reproducible.
pub const CREATED: &str = "1970-01-01T00:00:01Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    #[default]
    Amd64,
    Arm64,
}

impl crate::choice::Choice for Arch {
    const ALL: &'static [Self] = &[Arch::Amd64, Arch::Arm64];
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The Nix system whose store paths run on this architecture.
    pub fn nix_system(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-linux",
            Arch::Arm64 => "aarch64-linux",
        }
    }

    pub fn host() -> Self {
        if std::env::consts::ARCH == "aarch64" {
            Arch::Arm64
        } else {
            Arch::Amd64
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageOptions {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Normalised to `<port>/<proto>`.
    pub exposed_ports: Vec<String>,
    pub arch: Arch,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionError {
    #[error("{flag} {value:?}: expected KEY=VALUE with a non-empty KEY")]
    KeyValue { flag: &'static str, value: String },
    #[error("--expose {0:?}: expected PORT, PORT/tcp or PORT/udp with PORT in 1..65535")]
    Port(String),
}

pub fn parse_key_value(flag: &'static str, value: &str) -> Result<(String, String), OptionError> {
    match value.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(OptionError::KeyValue {
            flag,
            value: value.to_owned(),
        }),
    }
}

pub fn parse_port(value: &str) -> Result<String, OptionError> {
    let (port, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let ok = matches!(proto, "tcp" | "udp" | "sctp") && port.parse::<u16>().is_ok_and(|p| p > 0);
    if ok {
        Ok(format!("{port}/{proto}"))
    } else {
        Err(OptionError::Port(value.to_owned()))
    }
}

/// The config JSON. Keys are sorted (serde_json's map is a BTreeMap), so the
/// bytes depend only on the inputs.
pub fn render(opts: &ImageOptions, diff_ids: &[String], history: &[String]) -> Vec<u8> {
    let mut config = serde_json::Map::new();
    if !opts.entrypoint.is_empty() {
        config.insert("Entrypoint".into(), json!(opts.entrypoint));
    }
    if !opts.cmd.is_empty() {
        config.insert("Cmd".into(), json!(opts.cmd));
    }
    let mut env: Vec<String> = opts.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !opts.env.iter().any(|(k, _)| k == "PATH") {
        // Like Docker's default; store paths in PATH are the user's choice via --env.
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    config.insert("Env".into(), json!(env));
    if let Some(w) = &opts.workdir {
        config.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &opts.user {
        config.insert("User".into(), json!(u));
    }
    if !opts.labels.is_empty() {
        config.insert("Labels".into(), json!(opts.labels));
    }
    if !opts.exposed_ports.is_empty() {
        let ports: BTreeMap<&str, Value> = opts
            .exposed_ports
            .iter()
            .map(|p| (p.as_str(), json!({})))
            .collect();
        config.insert("ExposedPorts".into(), json!(ports));
    }
    let history: Vec<Value> = history
        .iter()
        .map(|h| json!({ "created": CREATED, "created_by": h }))
        .collect();
    let doc = json!({
        "architecture": opts.arch.as_str(),
        "os": "linux",
        "created": CREATED,
        "config": Value::Object(config),
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": history,
    });
    serde_json::to_vec(&doc).expect("config serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_deterministic_and_complete() {
        let opts = ImageOptions {
            entrypoint: vec!["/nix/store/x-app/bin/app".into()],
            cmd: vec!["--serve".into()],
            env: vec![("LANG".into(), "C.UTF-8".into())],
            workdir: Some("/srv".into()),
            user: Some("1000:1000".into()),
            labels: [(
                "org.opencontainers.image.source".to_string(),
                "https://example.com".to_string(),
            )]
            .into(),
            exposed_ports: vec!["8080/tcp".into()],
            arch: Arch::Arm64,
        };
        let a = render(&opts, &["sha256:aa".into()], &["forge: layer 1".into()]);
        assert_eq!(
            a,
            render(&opts, &["sha256:aa".into()], &["forge: layer 1".into()])
        );
        insta::assert_snapshot!(String::from_utf8(a).unwrap(), @r#"{"architecture":"arm64","config":{"Cmd":["--serve"],"Entrypoint":["/nix/store/x-app/bin/app"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANG=C.UTF-8"],"ExposedPorts":{"8080/tcp":{}},"Labels":{"org.opencontainers.image.source":"https://example.com"},"User":"1000:1000","WorkingDir":"/srv"},"created":"1970-01-01T00:00:01Z","history":[{"created":"1970-01-01T00:00:01Z","created_by":"forge: layer 1"}],"os":"linux","rootfs":{"diff_ids":["sha256:aa"],"type":"layers"}}"#);
    }

    #[test]
    fn options_are_validated() {
        assert_eq!(parse_port("8080").unwrap(), "8080/tcp");
        assert_eq!(parse_port("53/udp").unwrap(), "53/udp");
        assert!(
            parse_port("0").is_err()
                && parse_port("http").is_err()
                && parse_port("80/icmp").is_err()
        );
        assert_eq!(
            parse_key_value("--env", "A=b=c").unwrap(),
            ("A".into(), "b=c".into())
        );
        assert!(
            parse_key_value("--env", "=x").is_err()
                && parse_key_value("--label", "novalue").is_err()
        );
    }
}
