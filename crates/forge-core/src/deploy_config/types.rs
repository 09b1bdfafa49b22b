//! `deploy.yaml` as written: every section, with `deny_unknown_fields` so a
//! typo is an error (with a suggestion), and values checked while reading so
//! errors point at the offending scalar.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer};

use super::parse::map_str;
use super::pattern::{AttrVars, EnvVars, Pattern, RepoVars, TargetVars};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployFile {
    /// Flake reference the services' attributes live in (default `.`).
    pub flake: Option<String>,
    pub cache: Option<CacheSpec>,
    /// Registry prefix, e.g. `ghcr.io/org`: a service's repository defaults to `{registry}/{service}`.
    pub registry: Option<String>,
    pub gitops: Option<GitopsSpec>,
    #[serde(default)]
    pub environments: UniqueMap<Key, Option<EnvironmentSpec>>,
    #[serde(default)]
    pub services: UniqueMap<Key, Option<ServiceSpec>>,
    pub ledger: Option<LedgerSpec>,
    /// Services released together through environments in promotion order.
    #[serde(default)]
    pub products: UniqueMap<Key, ProductSpec>,
    /// NixOS machines that pull their deploys (see `hosts.rs`).
    #[serde(default)]
    pub hosts: UniqueMap<Key, Option<HostSpec>>,
}

/// `products.<name>`: services released as one unit, the environments in
/// promotion order, and the gates before each environment after the first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    #[serde(default)]
    pub services: Vec<Key>,
    /// NixOS hosts released with the services, each in its own environment.
    #[serde(default)]
    pub hosts: Vec<Key>,
    pub environments: Vec<Key>,
    #[serde(default)]
    pub gates: UniqueMap<Key, GateSpec>,
    /// Flake checks `forge prerelease` and `comprehensive-release` run
    /// before pushing: names under `checks.<system>` (default: `nix flake check`).
    pub checks: Option<Vec<String>>,
    /// The Job `forge comprehensive-release` runs against the first
    /// environment once every service is out there.
    pub integration_test: Option<IntegrationTestSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationTestSpec {
    /// The test image, by tag or digest.
    pub image: String,
    pub command: Words,
    /// Default 10m.
    pub timeout: Option<Duration>,
    pub env_from: Option<EnvFromSpec>,
}

/// What must hold before a release enters an environment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// How long the release must have been healthy in the environment before.
    pub soak: Option<Duration>,
    /// Approvals from distinct identities (`forge release approve`).
    pub approvals: Option<u32>,
    /// When by the clock the release may enter.
    pub window: Option<WindowSpec>,
    /// Names of the services' `verify:` checks run again against the
    /// environment before, as the gate would open; a failure fails the run.
    pub verify: Option<Vec<String>>,
}

/// `days: [mon, tue]`, `from: "09:00"`, `to: "16:00"`, `zone: Europe/Berlin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub days: Option<Vec<String>>,
    pub from: String,
    pub to: String,
    /// IANA time zone (default UTC).
    pub zone: Option<String>,
}

/// `ledger:`: where release runs are recorded (default: an SQLite file in
/// `$XDG_STATE_HOME/forge/`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSpec {
    /// An SQLite file (relative to deploy.yaml).
    pub path: Option<String>,
    /// The environment variable holding a `postgres://` URL.
    pub url_env: Option<EnvName>,
}

/// `cache:`: the binary cache closures are pushed to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// `file://`, `http(s)://` or `attic://` URL.
    pub url: String,
    pub signing_key_file: Option<String>,
    pub token_env: Option<EnvName>,
    pub token_file: Option<String>,
}

/// `gitops:`: the repository holding the kustomizations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitopsSpec {
    pub repo: String,
    pub branch: Option<String>,
    pub auth: Option<GitAuthSpec>,
    pub author: Option<AuthorSpec>,
    pub clone_dir: Option<String>,
    /// Unencrypted ed25519 OpenSSH key that signs the commits.
    pub signing_key_file: Option<String>,
}

/// `gitops.auth:`: a token from the environment or a file (HTTPS), or an SSH key file.
/// Without it: the SSH agent for SSH URLs, nothing for HTTPS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitAuthSpec {
    pub token_env: Option<EnvName>,
    pub token_file: Option<String>,
    pub ssh_key_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorSpec {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// One entry of `environments:` (an empty entry takes every default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// `false`: no cluster Forge can reach; deploy ends after the GitOps push.
    pub cluster: Option<bool>,
    /// Path in the GitOps repository of each service's kustomization.
    pub kustomization: Option<Pattern<TargetVars>>,
    pub flux: Option<FluxSpec>,
    pub kube: Option<KubeSpec>,
    pub timeouts: Option<TimeoutsSpec>,
}

/// `environments.<env>.flux:`: the objects to reconcile after a commit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FluxSpec {
    /// Namespace of both objects unless they say `namespace/name`.
    pub namespace: Option<Pattern<EnvVars>>,
    /// The GitRepository (`name` or `namespace/name`).
    pub source: Option<Pattern<TargetVars>>,
    /// The Kustomization (`name` or `namespace/name`).
    pub kustomization: Option<Pattern<TargetVars>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeSpec {
    /// kubeconfig context (default: the current one).
    pub context: Option<String>,
    /// Namespace of the workloads (default: the environment's name).
    pub namespace: Option<Pattern<EnvVars>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSpec {
    pub reconcile: Option<Duration>,
    pub rollout: Option<Duration>,
}

/// One entry of `services:` (an empty entry takes every default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Flake attribute: a short name means `packages.{system}.<name>`.
    pub attr: Option<Pattern<AttrVars>>,
    pub image: Option<ImageSpec>,
    pub workload: Option<WorkloadSpec>,
    pub rollback: Option<RollbackPolicy>,
    /// Services whose release must be done in an environment before this one
    /// changes it.
    pub depends_on: Option<Vec<Key>>,
    /// Checks a release runs after the rollout (in every environment).
    #[serde(default)]
    pub verify: Vec<VerifySpec>,
    /// Database migrations a release runs (one mapping or a list).
    pub migrations: Option<OneOrMany<MigrationSpec>>,
}

/// One migration: a command run from the service's image as a Kubernetes
/// Job in the environment's namespace (or by Forge itself where the
/// environment says `cluster: false`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSpec {
    /// Default `migrate` (`migrate-N` when there are several).
    pub name: Option<Key>,
    pub command: Words,
    /// Before the rollout (default) or after it.
    pub phase: Option<MigrationPhase>,
    /// How long the Job may run (default 10m).
    pub timeout: Option<Duration>,
    pub env_from: Option<EnvFromSpec>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MigrationPhase {
    #[default]
    Before,
    After,
}

/// Environment variables for the migration's container.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFromSpec {
    /// A Secret in the environment's namespace (every key becomes a variable).
    pub secret: Option<String>,
    /// A ConfigMap in the environment's namespace.
    pub config_map: Option<String>,
}

/// One verification check: an HTTP request or a command, repeated every
/// `interval` until `count` attempts passed, failing once more than
/// `failure_limit` attempts failed (Argo Rollouts' analysis, in small).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    pub name: Option<String>,
    pub http: Option<HttpCheckSpec>,
    /// Run by Forge with FORGE_SERVICE, FORGE_ENV, FORGE_IMAGE, FORGE_RELEASE set;
    /// exit status 0 passes.
    pub command: Option<Words>,
    pub interval: Option<Duration>,
    pub count: Option<u32>,
    pub failure_limit: Option<u32>,
    /// For one attempt.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckSpec {
    /// May use {service} and {env}.
    pub url: Pattern<TargetVars>,
    /// Expected status (default 200).
    pub status: Option<u16>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
}

/// `services.<service>.image:`, mirroring the options of `forge image build`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// `REGISTRY/REPO`, default `{registry}/{service}`.
    pub repository: Option<Pattern<RepoVars>>,
    /// The image as the manifests spell it (the `images:` entry's `name`);
    /// default: the repository.
    pub name: Option<String>,
    /// Tag templates ({arch}, {gitsha}, {gitsha7}); default `{arch}-{gitsha7}`, `{arch}-latest`.
    pub tags: Option<Vec<String>>,
    pub entrypoint: Option<Words>,
    pub cmd: Option<Words>,
    #[serde(default)]
    pub env: UniqueMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    #[serde(default)]
    pub labels: UniqueMap<String, String>,
    #[serde(default)]
    pub expose: Vec<Port>,
    pub max_layers: Option<usize>,
    pub compression: Option<Compression>,
    pub arch: Option<OneOrMany<ArchName>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub kind: Option<WorkloadKind>,
    pub namespace: Option<Pattern<TargetVars>>,
    pub name: Option<Pattern<TargetVars>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// What a failed rollout does: `auto` re-pins the previous image, `manual` leaves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackPolicy {
    Auto,
    #[default]
    Manual,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

/// A map key (environment or service name): a DNS label, since it ends up in
/// object names, paths and repositories.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub String);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a name", |s| {
            let ok = !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !s.starts_with('-')
                && !s.ends_with('-');
            if ok {
                Ok(Key(s.to_owned()))
            } else {
                Err(format!(
                    "invalid name `{s}`: use 1 to 63 of a-z, 0-9 and - (not at either end)"
                ))
            }
        })
    }
}

/// The name of an environment variable holding a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnvName(pub String);

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "an environment variable name", |s| {
            let ok = !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            // The value is not echoed: it may be a secret pasted in the wrong place.
            if ok {
                Ok(EnvName(s.to_owned()))
            } else {
                Err("not an environment variable name (letters, digits and _): *_env keys name the variable holding the secret, never the secret itself".to_owned())
            }
        })
    }
}

/// A string (one word) or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words(pub Vec<String>);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Words(OneOrMany::<String>::deserialize(d)?.0))
    }
}

/// A single value or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Not an untagged enum: that would hide the inner error.
        let value = serde_yaml_ng::Value::deserialize(d)?;
        if value.is_sequence() {
            Vec::<T>::deserialize(value)
                .map(OneOrMany)
                .map_err(serde::de::Error::custom)
        } else {
            T::deserialize(value)
                .map(|v| OneOrMany(vec![v]))
                .map_err(serde::de::Error::custom)
        }
    }
}

/// `amd64` or `arm64` (also `x86_64`, `aarch64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchName(pub crate::oci::image_config::Arch);

impl<'de> Deserialize<'de> for ArchName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::oci::image_config::Arch;
        map_str(d, "an architecture", |s| match s {
            "amd64" | "x86_64" => Ok(ArchName(Arch::Amd64)),
            "arm64" | "aarch64" => Ok(ArchName(Arch::Arm64)),
            _ => Err(format!(
                "unknown variant `{s}`, expected `amd64` or `arm64`"
            )),
        })
    }
}

/// A port as `forge image build --expose` takes it: 8080, `8080/tcp`, `53/udp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port(pub String);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a port", |text| {
            crate::oci::image_config::parse_port(text)
                .map(Port)
                .map_err(|_| format!("invalid port `{text}`: expected PORT, PORT/tcp or PORT/udp with PORT in 1..65535"))
        })
    }
}

/// `30s`, `5m`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub u64);

impl Duration {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid duration `{text}`: write a number and a unit (s, m, h), e.g. 90s or 5m"
            )
        };
        let mut rest = text.trim();
        let mut total = 0u64;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = rest[digits..].chars().next().ok_or_else(bad)?;
            let secs = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => return Err(bad()),
            };
            total = total.saturating_add(n.saturating_mul(secs));
            rest = &rest[digits + 1..];
        }
        if total == 0 {
            return Err(format!("duration `{text}` is zero"));
        }
        Ok(Duration(total))
    }

    pub fn seconds(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 % 3600 / 60, self.0 % 60);
        for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        map_str(d, "a duration", Duration::parse)
    }
}

/// A mapping whose keys must be unique (YAML parsers keep the last of two
/// equal keys; here the second is an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueMap<K: Ord, V>(pub BTreeMap<K, V>);

impl<K: Ord, V> Default for UniqueMap<K, V> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Ord + fmt::Display + Deserialize<'de>,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<K, V>(PhantomData<(K, V)>);
        impl<'de, K, V> serde::de::Visitor<'de> for Visit<K, V>
        where
            K: Ord + fmt::Display + Deserialize<'de>,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                let mut seen = std::collections::BTreeSet::new();
                while let Some((text, k)) = map.next_key_seed(KeySeed::<K>(&seen, PhantomData))? {
                    seen.insert(text);
                    let v = map.next_value()?;
                    out.insert(k, v);
                }
                Ok(UniqueMap(out))
            }
            // `env:` with nothing after it.
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(UniqueMap(BTreeMap::new()))
            }
        }
        d.deserialize_map(Visit(PhantomData))
    }
}

/// Reads a key inside its scalar's visitor, so that a repeated key is
/// reported at its own line and column.
struct KeySeed<'a, K>(&'a std::collections::BTreeSet<String>, PhantomData<K>);

impl<'de, K: Deserialize<'de>> serde::de::DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = (String, K);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        map_str(d, "a key", |s| {
            if self.0.contains(s) {
                return Err(format!("`{s}` is defined twice"));
            }
            // Keys are owned (String, Key), so an owned string feeds them.
            let k = K::deserialize(serde::de::IntoDeserializer::into_deserializer(s.to_owned()))
                .map_err(|e: serde::de::value::Error| e.to_string());
            k.map(|k| (s.to_owned(), k))
        })
    }
}

/// One entry of `hosts:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// The environment the host belongs to (a key of `environments:`).
    pub environment: Key,
    /// Flake attribute of the system (default
    /// `nixosConfigurations.{host}.config.system.build.toplevel`).
    pub system: Option<String>,
    /// Checks the agent runs after `switch-to-configuration test`.
    #[serde(default)]
    pub verify: Vec<VerifySpec>,
    /// How long the checks may take to pass before the agent rolls back (default 2m).
    pub confirm_timeout: Option<Duration>,
}
