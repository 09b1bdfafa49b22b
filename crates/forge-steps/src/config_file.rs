//! Files named on the command line or in deploy.yaml, read once and checked:
//! the deployment configuration (deploy.yaml, or a flake's
//! `forgeConfigurations.<name>` read with one `nix eval --json`) and Nix
//! signing keys.
//!
//! A flake's configuration goes through the same reader as deploy.yaml: it is
//! written out as block YAML with the option path of every line kept, so an
//! error found there names the option (a file:line:column would point into
//! text nobody wrote).

use std::path::{Path, PathBuf};

use serde_json::Value;

use forge_adapters::nix::{NixCli, NixError};
use forge_core::deploy_config::{ConfigError, DeployConfig};
use forge_core::nix::signing::SigningKey;
use forge_core::oci::image_config::Arch;

/// `--config flake:REF#NAME` names `REF#forgeConfigurations.NAME`.
pub const FLAKE_PREFIX: &str = "flake:";

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("reading {path} (set --config or FORGE_CONFIG)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("evaluating {config} ({installable})")]
    FlakeEval {
        config: String,
        installable: String,
        source: NixError,
    },
    #[error("{config}: {}{message}{}", option_prefix(.option), help(.suggestion))]
    FlakeInvalid {
        config: String,
        /// The option the error is about, e.g. `services.api.image.tags`.
        option: Option<String>,
        message: String,
        suggestion: Option<String>,
    },
    #[error("reading signing key {path}")]
    ReadKey {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a Nix secret key (expected `name:base64` as written by `nix key generate-secret`)")]
    BadKey {
        path: String,
        source: forge_core::nix::signing::KeyError,
    },
}

fn option_prefix(option: &Option<String>) -> String {
    match option {
        Some(o) => format!("option `{o}`: "),
        None => String::new(),
    }
}

fn help(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("\n  help: did you mean `{s}`?"),
        None => String::new(),
    }
}

/// Where the deployment configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// A flake's `forgeConfigurations.<name>`.
    Flake {
        flake: String,
        name: String,
    },
}

impl ConfigSource {
    /// `flake:REF#NAME` (`flake:REF` means `#default`, `flake:` alone `.#default`), else a file.
    pub fn of(arg: &Path) -> Self {
        let Some(rest) = arg.to_str().and_then(|s| s.strip_prefix(FLAKE_PREFIX)) else {
            return Self::File(arg.to_path_buf());
        };
        let (flake, name) = rest.split_once('#').unwrap_or((rest, ""));
        Self::Flake {
            flake: if flake.is_empty() { "." } else { flake }.to_owned(),
            name: if name.is_empty() { "default" } else { name }.to_owned(),
        }
    }

    /// What `nix eval` is given for a flake configuration.
    pub fn installable(&self) -> Option<String> {
        match self {
            Self::File(_) => None,
            Self::Flake { flake, name } => Some(format!("{flake}#forgeConfigurations.{name}")),
        }
    }

    /// The local directory of the file or the flake (`path:` and plain
    /// paths), where relative paths in the configuration start; `None` for a
    /// remote flake.
    pub fn base_dir(&self) -> Option<PathBuf> {
        let dir = match self {
            Self::File(file) => file.parent().map(Path::to_path_buf).unwrap_or_default(),
            Self::Flake { flake, .. } => {
                let path = flake.strip_prefix("path:").unwrap_or(flake);
                let local = path.starts_with(['.', '/']) || !path.contains(':');
                if !local {
                    return None;
                }
                PathBuf::from(path.split('?').next().unwrap_or(path))
            }
        };
        Some(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        })
    }
}

/// `config` as it can be found again from anywhere (what a release run
/// records to resume): a file's canonical path, a local flake's absolute
/// path (`flake:/abs#NAME`), a remote flake as given.
pub fn absolute(config: &Path) -> std::io::Result<PathBuf> {
    let source = ConfigSource::of(config);
    match &source {
        ConfigSource::File(file) => std::fs::canonicalize(file),
        ConfigSource::Flake { flake, name } => {
            let flake = match source.base_dir() {
                Some(dir) => {
                    let scheme = if flake.starts_with("path:") {
                        "path:"
                    } else {
                        ""
                    };
                    format!("{scheme}{}", std::fs::canonicalize(dir)?.display())
                }
                None => flake.clone(),
            };
            Ok(PathBuf::from(format!("{FLAKE_PREFIX}{flake}#{name}")))
        }
    }
}

/// Reads and resolves the configuration `config` names (a deploy.yaml file or
/// `flake:REF#NAME`); images without `arch` are for this machine's architecture.
pub fn load(config: &Path) -> Result<DeployConfig, ConfigFileError> {
    match ConfigSource::of(config) {
        ConfigSource::File(file) => load_file(&file),
        source @ ConfigSource::Flake { .. } => load_flake(&source, &NixCli::default()),
    }
}

fn load_file(file: &Path) -> Result<DeployConfig, ConfigFileError> {
    let bytes = std::fs::read(file).map_err(|source| ConfigFileError::Read {
        path: file.display().to_string(),
        source,
    })?;
    Ok(DeployConfig::parse_bytes(
        &bytes,
        &file.display().to_string(),
        Arch::host(),
    )?)
}

/// `nix eval --json REF#forgeConfigurations.NAME`, then deploy.yaml's checks.
pub fn load_flake(source: &ConfigSource, nix: &NixCli) -> Result<DeployConfig, ConfigFileError> {
    let ConfigSource::Flake { flake, name } = source else {
        unreachable!("load_flake is given flake sources");
    };
    let config = format!("{FLAKE_PREFIX}{flake}#{name}");
    let installable = source.installable().expect("a flake source");
    let value =
        nix.eval_json_blocking(&installable)
            .map_err(|source| ConfigFileError::FlakeEval {
                config: config.clone(),
                installable,
                source,
            })?;
    from_flake_value(value, flake, &config)
}

/// A flake configuration's JSON value resolved as deploy.yaml is. Without
/// `flake`, the services' attributes are in the flake it came from.
pub fn from_flake_value(
    value: Value,
    flake: &str,
    config: &str,
) -> Result<DeployConfig, ConfigFileError> {
    let Value::Object(mut map) = value else {
        return Err(ConfigFileError::FlakeInvalid {
            config: config.to_owned(),
            option: None,
            message: format!(
                "expected an attribute set (forge.lib.forgeConfiguration's result), got {}",
                kind(&value)
            ),
            suggestion: None,
        });
    };
    map.entry("flake")
        .or_insert_with(|| Value::String(flake.to_owned()));
    let (text, options) = yaml_with_options(&map);
    DeployConfig::parse(&text, config, Arch::host()).map_err(|e| ConfigFileError::FlakeInvalid {
        config: config.to_owned(),
        option: options.get(e.line.wrapping_sub(1)).cloned().flatten(),
        message: e.message,
        suggestion: e.suggestion,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an attribute set",
    }
}

/// Block YAML for `map`, and for each line the option path it holds.
fn yaml_with_options(map: &serde_json::Map<String, Value>) -> (String, Vec<Option<String>>) {
    let mut out = Yaml::default();
    out.mapping(map, 0, "");
    (out.text, out.options)
}

#[derive(Default)]
struct Yaml {
    text: String,
    options: Vec<Option<String>>,
}

impl Yaml {
    fn line(&mut self, indent: usize, text: &str, option: &str) {
        self.text.push_str(&" ".repeat(indent));
        self.text.push_str(text);
        self.text.push('\n');
        self.options
            .push((!option.is_empty()).then(|| option.to_owned()));
    }

    fn mapping(&mut self, map: &serde_json::Map<String, Value>, indent: usize, at: &str) {
        for (k, v) in map {
            let option = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            self.entry(indent, &format!("{}:", key(k)), v, &option);
        }
    }

    /// `head` (a key with its colon, or a dash) followed by `v`.
    fn entry(&mut self, indent: usize, head: &str, v: &Value, option: &str) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                self.line(indent, head, option);
                self.mapping(m, indent + 2, option);
            }
            Value::Array(items) if !items.is_empty() => {
                self.line(indent, head, option);
                for (i, item) in items.iter().enumerate() {
                    self.entry(indent + 2, "-", item, &format!("{option}[{i}]"));
                }
            }
            scalar => self.line(indent, &format!("{head} {}", flow(scalar)), option),
        }
    }
}

/// A scalar or empty collection on one line: JSON's spelling is YAML's.
fn flow(v: &Value) -> String {
    v.to_string()
}

/// Names stay plain (so messages quote them as written); anything else is quoted.
fn key(k: &str) -> String {
    let plain = k.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(
            k,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        k.to_owned()
    } else {
        Value::String(k.to_owned()).to_string()
    }
}

/// Reads a Nix secret key (`name:base64`).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::ReadKey {
        path: path.display().to_string(),
        source,
    })?;
    SigningKey::parse(&text).map_err(|source| ConfigFileError::BadKey {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_sources() {
        assert_eq!(
            ConfigSource::of(Path::new("deploy/prod.yaml")),
            ConfigSource::File("deploy/prod.yaml".into())
        );
        let flake = |f: &str, n: &str| ConfigSource::Flake {
            flake: f.into(),
            name: n.into(),
        };
        assert_eq!(
            ConfigSource::of(Path::new("flake:.#prod")),
            flake(".", "prod")
        );
        assert_eq!(ConfigSource::of(Path::new("flake:")), flake(".", "default"));
        assert_eq!(
            ConfigSource::of(Path::new("flake:github:org/repo")),
            flake("github:org/repo", "default")
        );
        assert_eq!(
            flake("/srv/app", "default").installable().unwrap(),
            "/srv/app#forgeConfigurations.default"
        );
        assert_eq!(
            flake("path:/srv/app", "x").base_dir(),
            Some("/srv/app".into())
        );
        assert_eq!(flake(".", "x").base_dir(), Some(".".into()));
        assert_eq!(flake("github:org/repo", "x").base_dir(), None);
        assert_eq!(
            ConfigSource::of(Path::new("deploy.yaml")).base_dir(),
            Some(".".into())
        );
    }

    #[test]
    fn absolute_configs_are_found_from_anywhere() {
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            absolute(Path::new("flake:.#prod")).unwrap(),
            PathBuf::from(format!("flake:{}#prod", here.display()))
        );
        assert_eq!(
            absolute(Path::new("flake:github:org/repo")).unwrap(),
            PathBuf::from("flake:github:org/repo#default")
        );
        assert!(absolute(Path::new("no-such-deploy.yaml")).is_err());
    }

    #[test]
    fn yaml_lines_know_their_option() {
        let v = json!({"services": {"api-server": {"image": {"tags": ["a", "b"], "env": {}}}, "web": {}}, "registry": "r"});
        let (text, options) = yaml_with_options(v.as_object().unwrap());
        assert_eq!(
            text,
            "registry: \"r\"\nservices:\n  api-server:\n    image:\n      env: {}\n      tags:\n        - \"a\"\n        - \"b\"\n  web: {}\n"
        );
        assert_eq!(
            options[7].as_deref(),
            Some("services.api-server.image.tags[1]")
        );
        assert_eq!(options[8].as_deref(), Some("services.web"));
    }

    #[test]
    fn errors_name_the_option() {
        let v = json!({"registry": "r", "services": {"app": {"image": {"tags": ["{arch}"], "max_layers": 200}}}});
        let e = from_flake_value(v, ".", "flake:.#default").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("flake:.#default: option `services.app.image.max_layers`: "),
            "{text}"
        );
        let v = json!({"registry": "r", "flake": ".#x", "services": {"app": {}}});
        let text = from_flake_value(v, ".", "flake:.#default")
            .unwrap_err()
            .to_string();
        assert!(
            text.starts_with("flake:.#default: option `flake`: flake `.#x` holds an attribute"),
            "{text}"
        );
        let text = from_flake_value(json!([1]), ".", "flake:.#default")
            .unwrap_err()
            .to_string();
        assert!(text.contains("expected an attribute set"), "{text}");
    }

    #[test]
    fn flake_defaults_to_the_one_the_configuration_came_from() {
        let v = json!({"registry": "r", "services": {"app": {"image": {"arch": "amd64"}}}});
        let c = from_flake_value(v, "github:org/repo", "flake:github:org/repo#default").unwrap();
        assert_eq!(
            c.service("app").unwrap().installables["amd64"],
            "github:org/repo#packages.x86_64-linux.app"
        );
    }
}
