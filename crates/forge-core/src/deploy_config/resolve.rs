//! From the file as written to the resolved configuration: the defaults, and
//! patterns expanded per service and environment.

use std::collections::BTreeMap;

use super::parse::{checked_text, error_at, from_yaml, input_error, ConfigError};
use super::pattern::{AttrVars, EnvVars, Pattern, RepoVars, TargetVars};
use super::resolved::{
    Cache, DeployConfig, Environment, GitAuth, Gitops, Image, LedgerConfig, ObjectRef, SecretRef,
    Service, Target, Workload,
};
use super::types::{
    DeployFile, Duration, EnvName, EnvironmentSpec, LedgerSpec, ServiceSpec, WorkloadKind,
};
use crate::oci::image_config::Arch;
use crate::oci::layer_plan::DEFAULT_MAX_LAYERS;
use crate::oci::tag_scheme::{self, TagVars, DEFAULT_ARCH_TAGS};
use crate::yaml_error::closest;
use crate::yaml_limits::utf8_text;

pub const DEFAULT_FLAKE: &str = ".";
pub const DEFAULT_KUSTOMIZATION: &str = "deploy/{env}/{service}/kustomization.yaml";
pub const DEFAULT_REPOSITORY: &str = "{registry}/{service}";
pub const DEFAULT_FLUX_NAMESPACE: &str = "flux-system";
pub const DEFAULT_FLUX_SOURCE: &str = "flux-system";
pub const DEFAULT_FLUX_KUSTOMIZATION: &str = "{env}";
pub const DEFAULT_NAMESPACE: &str = "{env}";
pub const DEFAULT_BRANCH: &str = "main";
pub const DEFAULT_AUTHOR_NAME: &str = "Forge";
pub const DEFAULT_AUTHOR_EMAIL: &str = "forge@localhost";
pub const DEFAULT_RECONCILE_TIMEOUT: Duration = Duration(5 * 60);
pub const DEFAULT_ROLLOUT_TIMEOUT: Duration = Duration(10 * 60);

const INLINE_CREDENTIALS: &str = "the URL holds a password or token: secrets are never written inline; use token_env or token_file";

/// `scheme://user:secret@host…` (a bare `user@` is fine: SSH URLs have one).
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

fn secret(
    env: Option<EnvName>,
    file: Option<String>,
    at: impl Fn(String) -> ConfigError,
    what: &str,
) -> Result<Option<SecretRef>, ConfigError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(at(format!(
            "{what}: give one of {what}_env and {what}_file, not both"
        ))),
        (Some(e), None) => Ok(Some(SecretRef::Env(e.0))),
        (None, Some(f)) => Ok(Some(SecretRef::File(f))),
        (None, None) => Ok(None),
    }
}

/// `name` or `namespace/name`.
fn object_ref(text: String, namespace: &str) -> ObjectRef {
    match text.split_once('/') {
        Some((ns, name)) => ObjectRef {
            namespace: ns.to_owned(),
            name: name.to_owned(),
        },
        None => ObjectRef {
            namespace: namespace.to_owned(),
            name: text,
        },
    }
}

impl DeployConfig {
    /// Parses and resolves `text`, read from `file` (named in errors).
    /// Images with no `arch` are built for `host`.
    pub fn parse(text: &str, file: &str, host: Arch) -> Result<Self, ConfigError> {
        let text = checked_text(text, file)?;
        let raw: DeployFile = from_yaml(text, file)?;
        resolve(raw, text, file, host)
    }

    /// [`Self::parse`] of the file's bytes: text that is not UTF-8 is an
    /// error at its first invalid byte.
    pub fn parse_bytes(bytes: &[u8], file: &str, host: Arch) -> Result<Self, ConfigError> {
        let text = utf8_text(bytes).map_err(|e| input_error(&e, file))?;
        Self::parse(text, file, host)
    }
}

pub(super) fn resolve(
    raw: DeployFile,
    text: &str,
    file: &str,
    host: Arch,
) -> Result<DeployConfig, ConfigError> {
    let at = |path: &[&str], message: String| error_at(text, file, path, message, None);
    let flake = raw.flake.unwrap_or_else(|| DEFAULT_FLAKE.to_owned());
    if flake.contains('#') {
        return Err(at(
            &["flake"],
            format!("flake `{flake}` holds an attribute (#…): name the flake here and the attribute in services.<name>.attr"),
        ));
    }
    let registry = raw.registry.map(|r| r.trim_end_matches('/').to_owned());
    if let Some(r) = &registry {
        if r.is_empty() || r.contains("://") || r.contains(char::is_whitespace) || r.contains('@') {
            return Err(at(
                &["registry"],
                format!("registry `{r}`: expected a host with an optional path, e.g. ghcr.io/org (no scheme, tag or digest)"),
            ));
        }
    }
    let cache = match raw.cache {
        None => None,
        Some(c) => Some(Cache {
            url: {
                if has_password(&c.url) {
                    return Err(at(&["cache", "url"], INLINE_CREDENTIALS.into()));
                }
                // A relative file:// path is relative to deploy.yaml.
                let known = ["file://", "http://", "https://", "attic://"];
                if !known.iter().any(|k| c.url.starts_with(k)) {
                    return Err(at(
                        &["cache", "url"],
                        format!(
                            "cache url `{}`: expected file://PATH, http(s)://… or attic://…",
                            c.url
                        ),
                    ));
                }
                c.url
            },
            token: secret(c.token_env, c.token_file, |m| at(&["cache"], m), "token")?,
            signing_key_file: c.signing_key_file,
        }),
    };
    let gitops = match raw.gitops {
        None => None,
        Some(g) => {
            if has_password(&g.repo) {
                return Err(at(&["gitops", "repo"], INLINE_CREDENTIALS.into()));
            }
            let auth = match g.auth {
                None => GitAuth::Default,
                Some(a) => {
                    let here = |m| at(&["gitops", "auth"], m);
                    match (
                        secret(a.token_env, a.token_file, here, "token")?,
                        a.ssh_key_file,
                    ) {
                        (Some(_), Some(_)) => {
                            return Err(here(
                                "auth: a token (HTTPS) or an ssh_key_file (SSH), not both".into(),
                            ))
                        }
                        (Some(t), None) => GitAuth::Token(t),
                        (None, Some(k)) => GitAuth::SshKeyFile(k),
                        (None, None) => GitAuth::Default,
                    }
                }
            };
            let author = g.author.unwrap_or(super::types::AuthorSpec {
                name: None,
                email: None,
            });
            Some(Gitops {
                repo: g.repo,
                branch: g.branch.unwrap_or_else(|| DEFAULT_BRANCH.to_owned()),
                auth,
                author_name: author
                    .name
                    .unwrap_or_else(|| DEFAULT_AUTHOR_NAME.to_owned()),
                author_email: author
                    .email
                    .unwrap_or_else(|| DEFAULT_AUTHOR_EMAIL.to_owned()),
                clone_dir: g.clone_dir,
                signing_key_file: g.signing_key_file,
            })
        }
    };

    if raw.services.0.is_empty() && raw.hosts.0.is_empty() {
        return Err(at(
            &["services"],
            "no services or hosts: add at least one under services: (e.g. `services: {app: {}}`) or hosts:".into(),
        ));
    }

    struct EnvPatterns {
        kustomization: Pattern<TargetVars>,
        flux_namespace: String,
        flux_source: Pattern<TargetVars>,
        flux_kustomization: Pattern<TargetVars>,
    }
    let mut environments = BTreeMap::new();
    let mut env_patterns = BTreeMap::new();
    for (name, spec) in raw.environments.0 {
        let name = name.0;
        let spec: EnvironmentSpec = spec.unwrap_or_default();
        let vars = [("env", name.as_str())];
        let flux = spec.flux.unwrap_or_default();
        let kube = spec.kube.unwrap_or_default();
        let timeouts = spec.timeouts.unwrap_or_default();
        env_patterns.insert(
            name.clone(),
            EnvPatterns {
                kustomization: spec
                    .kustomization
                    .unwrap_or_else(|| Pattern::fixed(DEFAULT_KUSTOMIZATION)),
                flux_namespace: flux
                    .namespace
                    .unwrap_or_else(|| Pattern::fixed(DEFAULT_FLUX_NAMESPACE))
                    .expand(&vars),
                flux_source: flux
                    .source
                    .unwrap_or_else(|| Pattern::fixed(DEFAULT_FLUX_SOURCE)),
                flux_kustomization: flux
                    .kustomization
                    .unwrap_or_else(|| Pattern::fixed(DEFAULT_FLUX_KUSTOMIZATION)),
            },
        );
        environments.insert(
            name.clone(),
            Environment {
                kube_context: kube.context,
                cluster: spec.cluster.unwrap_or(true),
                namespace: kube
                    .namespace
                    .unwrap_or_else(|| Pattern::<EnvVars>::fixed(DEFAULT_NAMESPACE))
                    .expand(&vars),
                reconcile_timeout: timeouts.reconcile.unwrap_or(DEFAULT_RECONCILE_TIMEOUT),
                rollout_timeout: timeouts.rollout.unwrap_or(DEFAULT_ROLLOUT_TIMEOUT),
                name,
            },
        );
    }

    let mut services = BTreeMap::new();
    let mut targets = Vec::new();
    for (name, spec) in raw.services.0 {
        let name = name.0;
        let mut spec: ServiceSpec = spec.unwrap_or_default();
        let here = |sub: &[&str], m: String| {
            let mut path = vec!["services", name.as_str()];
            path.extend_from_slice(sub);
            at(&path, format!("services.{name}: {m}"))
        };
        let image = spec.image.unwrap_or_default();
        let repository = match (&image.repository, &registry) {
            (Some(p), registry) => {
                if p.as_str().contains("{registry}") && registry.is_none() {
                    return Err(here(
                        &["image", "repository"],
                        "the repository uses {registry} but no top-level registry: is set".into(),
                    ));
                }
                p.expand(&[("registry", registry.as_deref().unwrap_or("")), ("service", &name)])
            }
            (None, Some(r)) => Pattern::<RepoVars>::fixed(DEFAULT_REPOSITORY)
                .expand(&[("registry", r), ("service", &name)]),
            (None, None) => {
                return Err(here(
                    &[],
                    "no image repository: set a top-level registry: (the repository is then {registry}/{service}) or image.repository".into(),
                ))
            }
        };
        let tags = match image.tags {
            Some(t) if t.is_empty() => {
                return Err(here(
                    &["image", "tags"],
                    "tags: is empty; leave it out for the default tags".into(),
                ))
            }
            Some(t) => t,
            None => DEFAULT_ARCH_TAGS.iter().map(|t| t.to_string()).collect(),
        };
        let probe = TagVars {
            arch: Some("amd64".into()),
            gitsha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        };
        for t in &tags {
            tag_scheme::render(t, &probe).map_err(|e| here(&["image", "tags"], e.to_string()))?;
        }
        let max_layers = image.max_layers.unwrap_or(DEFAULT_MAX_LAYERS);
        if !(2..=125).contains(&max_layers) {
            return Err(here(
                &["image", "max_layers"],
                format!("max_layers {max_layers} is out of range 2..125 (overlayfs allows about 127 layers)"),
            ));
        }
        for (what, map) in [("env", &image.env.0), ("labels", &image.labels.0)] {
            if map.keys().any(|k| k.is_empty()) {
                return Err(here(&["image", what], format!("{what}: a key is empty")));
            }
        }
        let mut arch: Vec<Arch> = Vec::new();
        for a in image
            .arch
            .map_or(vec![host], |a| a.0.into_iter().map(|a| a.0).collect())
        {
            if !arch.contains(&a) {
                arch.push(a);
            }
        }
        if arch.is_empty() {
            return Err(here(&["image", "arch"], "arch: is empty".into()));
        }
        let attr = spec
            .attr
            .unwrap_or_else(|| Pattern::<AttrVars>::fixed("{service}"));
        if attr.as_str().contains('#') {
            return Err(here(
                &["attr"],
                format!(
                    "attr `{}` holds a `#`: the flake goes in the top-level flake:",
                    attr.as_str()
                ),
            ));
        }
        if arch.len() > 1 && attr.as_str().contains('.') && !attr.as_str().contains("{system}") {
            return Err(here(
                &["attr"],
                format!("attr `{}` names one system but the image has {} architectures: use {{system}} in it", attr.as_str(), arch.len()),
            ));
        }
        let installables = arch
            .iter()
            .map(|a| {
                let system = a.nix_system();
                let path = attr.expand(&[("service", &name), ("system", system)]);
                let path = if path.contains('.') {
                    path
                } else {
                    format!("packages.{system}.{path}")
                };
                (a.as_str().to_owned(), format!("{flake}#{path}"))
            })
            .collect();
        let workload = spec.workload.unwrap_or_default();
        let checks = super::checks::resolve_checks(&spec.verify, &name, text, file)?;
        let migrations =
            super::migrations::resolve_migrations(spec.migrations.take(), &name, text, file)?;
        for (env, e) in &environments {
            let p = &env_patterns[env];
            let vars = [("env", env.as_str()), ("service", name.as_str())];
            targets.push(Target {
                service: name.clone(),
                env: env.clone(),
                repository: repository.clone(),
                kustomization: p.kustomization.expand(&vars),
                flux_source: object_ref(p.flux_source.expand(&vars), &p.flux_namespace),
                flux_kustomization: object_ref(
                    p.flux_kustomization.expand(&vars),
                    &p.flux_namespace,
                ),
                workload: Workload {
                    kind: workload.kind.unwrap_or(WorkloadKind::Deployment),
                    namespace: workload
                        .namespace
                        .as_ref()
                        .map_or_else(|| e.namespace.clone(), |n| n.expand(&vars)),
                    name: workload
                        .name
                        .as_ref()
                        .map_or_else(|| name.clone(), |n| n.expand(&vars)),
                },
                kube_context: e.kube_context.clone(),
                cluster: e.cluster,
                reconcile_timeout: e.reconcile_timeout,
                rollout_timeout: e.rollout_timeout,
                verify: checks.iter().map(|c| c.for_target(&vars)).collect(),
            });
        }
        services.insert(
            name.clone(),
            Service {
                installables,
                image_name: image.name.clone().unwrap_or_else(|| {
                    repository
                        .strip_prefix("oci:")
                        .unwrap_or(&repository)
                        .to_owned()
                }),
                repository,
                tags,
                image: Image {
                    entrypoint: image.entrypoint.map(|w| w.0).unwrap_or_default(),
                    cmd: image.cmd.map(|w| w.0).unwrap_or_default(),
                    env: image.env.0,
                    workdir: image.workdir,
                    user: image.user,
                    labels: image.labels.0,
                    expose: image.expose.into_iter().map(|p| p.0).collect(),
                    max_layers,
                    compression: image.compression.unwrap_or_default(),
                    arch,
                },
                rollback: spec.rollback.unwrap_or_default(),
                depends_on: spec
                    .depends_on
                    .unwrap_or_default()
                    .into_iter()
                    .map(|k| k.0)
                    .collect(),
                migrations,
                name,
            },
        );
    }
    for (name, service) in &services {
        for (i, dep) in service.depends_on.iter().enumerate() {
            let index = i.to_string();
            let path = ["services", name.as_str(), "depends_on", index.as_str()];
            if dep == name {
                return Err(at(&path, format!("service `{name}` depends on itself")));
            }
            if !services.contains_key(dep) {
                let known: Vec<&str> = services.keys().map(String::as_str).collect();
                let hint = closest(dep, known.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                return Err(at(&path, format!("unknown service `{dep}`{hint}")));
            }
        }
    }
    let ledger = match raw.ledger {
        None => None,
        Some(LedgerSpec {
            path: Some(p),
            url_env: None,
        }) => Some(LedgerConfig::Path(p)),
        Some(LedgerSpec {
            path: None,
            url_env: Some(v),
        }) => Some(LedgerConfig::UrlEnv(v.0)),
        Some(_) => {
            return Err(at(
                &["ledger"],
                "ledger: give exactly one of `path` (an SQLite file) and `url_env` (a variable holding a postgres:// URL)".into(),
            ))
        }
    };
    let hosts =
        super::hosts::resolve_hosts(raw.hosts, &flake, &environments, &services, text, file)?;
    let products = super::products::resolve_products(
        raw.products,
        &services,
        &hosts,
        &environments,
        &targets,
        text,
        file,
    )?;
    Ok(DeployConfig {
        hosts,
        products,
        file: file.to_owned(),
        flake,
        cache,
        registry,
        gitops,
        ledger,
        environments,
        services,
        targets,
        text: text.to_owned(),
    })
}
