//! deploy.yaml's references made concrete for one run: paths relative to the
//! file's directory, secrets read from where the file says they are.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};

use forge_adapters::git::{GitAuth as RemoteAuth, GitRemote};
use forge_core::deploy_config::resolved::{DeployConfig, GitAuth, SecretRef, Service, Target};
use forge_core::gitops::ssh_signature::SshSigningKey;
use forge_core::secret::Secret;

use super::ClusterOptions;
use crate::observer::Observer;

/// One service in one environment, with the configuration it came from.
pub struct DeployContext {
    pub config: DeployConfig,
    pub service: Service,
    pub target: Target,
    /// The directory holding deploy.yaml: relative paths in it start here.
    pub base: PathBuf,
    /// Where the pipeline's steps report progress.
    pub observer: Arc<dyn Observer>,
}

impl DeployContext {
    /// Reads deploy.yaml and picks `service` in `env`, with the command line's timeouts.
    pub fn load(
        file: &Path,
        service: &str,
        env: &str,
        cluster: &ClusterOptions,
        observer: Arc<dyn Observer>,
    ) -> anyhow::Result<Self> {
        let mut ctx = Self::new(
            crate::config_file::load(file)?,
            file,
            service,
            env,
            observer,
        )?;
        cluster.apply(&mut ctx);
        Ok(ctx)
    }

    pub fn new(
        config: DeployConfig,
        file: &Path,
        service: &str,
        env: &str,
        observer: Arc<dyn Observer>,
    ) -> anyhow::Result<Self> {
        let target = config.target(service, env)?.clone();
        let service = config.service(service)?.clone();
        // deploy.yaml's directory, or a local flake's (a remote flake's
        // configuration starts relative paths here).
        let base = crate::config_file::ConfigSource::of(file)
            .base_dir()
            .unwrap_or_else(|| Path::new(".").to_path_buf());
        let base = base
            .canonicalize()
            .with_context(|| format!("resolving {}", base.display()))?;
        Ok(Self {
            config,
            service,
            target,
            base,
            observer,
        })
    }

    /// deploy.yaml and the directory its relative paths start from.
    pub fn root(&self) -> ConfigRoot<'_> {
        ConfigRoot {
            config: &self.config,
            base: &self.base,
        }
    }

    /// A path from deploy.yaml, relative to the file's directory.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root().path(p)
    }

    /// The cache URL with a relative `file://` path made absolute.
    pub fn cache_url(&self, url: &str) -> String {
        self.root().cache_url(url)
    }

    /// The image layout directory when the repository is `oci:DIR` (a local
    /// stand-in for a registry), else `None`.
    pub fn layout_dir(&self) -> Option<PathBuf> {
        self.service
            .repository
            .strip_prefix("oci:")
            .map(|dir| self.path(dir))
    }

    /// The name the kustomization's `images:` entry matches.
    pub fn image_name(&self) -> String {
        self.service.image_name.clone()
    }

    /// Where the image is pulled from (without `oci:` for a layout).
    pub fn pull_name(&self) -> String {
        let r = &self.service.repository;
        r.strip_prefix("oci:").unwrap_or(r).to_owned()
    }

    /// `newName` for the entry: the repository, when the manifests spell the image otherwise.
    pub fn new_name(&self) -> Option<String> {
        let pull = self.pull_name();
        (pull != self.service.image_name).then_some(pull)
    }

    /// The GitOps remote, or `None` when deploy.yaml has no `gitops:`.
    pub fn git_remote(&self) -> anyhow::Result<Option<GitRemote>> {
        self.root().git_remote()
    }
}

impl DeployContext {
    /// Reads a secret from the environment variable or file deploy.yaml names.
    /// Errors name the variable or file, never the value.
    pub fn secret(&self, r: &SecretRef, key: &str) -> anyhow::Result<Secret> {
        read_secret(r, key, &self.base)
    }
}

/// deploy.yaml with the directory its relative paths start from: what
/// service deploys and host deploys share.
#[derive(Clone, Copy)]
pub struct ConfigRoot<'a> {
    pub config: &'a DeployConfig,
    pub base: &'a Path,
}

impl ConfigRoot<'_> {
    /// A path from deploy.yaml, relative to the file's directory.
    pub fn path(&self, p: &str) -> PathBuf {
        let p = expand_home(p);
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    /// The cache URL with a relative `file://` path made absolute.
    pub fn cache_url(&self, url: &str) -> String {
        match url.strip_prefix("file://") {
            Some(rest) if !rest.starts_with('/') => {
                format!("file://{}", self.path(rest).display())
            }
            _ => url.to_owned(),
        }
    }

    /// The GitOps remote, or `None` when deploy.yaml has no `gitops:`.
    pub fn git_remote(&self) -> anyhow::Result<Option<GitRemote>> {
        let Some(g) = &self.config.gitops else {
            return Ok(None);
        };
        let auth = match &g.auth {
            GitAuth::Default => RemoteAuth::Default,
            GitAuth::Token(r) => RemoteAuth::Token(self.secret(r, "gitops.auth")?),
            GitAuth::SshKeyFile(f) => RemoteAuth::SshKeyFile(self.path(f)),
        };
        Ok(Some(GitRemote {
            url: self.git_url(&g.repo),
            branch: g.branch.clone(),
            auth,
            author_name: g.author_name.clone(),
            author_email: g.author_email.clone(),
            clone_dir: g.clone_dir.as_deref().map(|d| self.path(d)),
            signing_key: g
                .signing_key_file
                .as_deref()
                .map(|f| self.commit_signing_key(f))
                .transpose()?,
        }))
    }

    fn commit_signing_key(&self, file: &str) -> anyhow::Result<Arc<SshSigningKey>> {
        let path = self.path(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("gitops.signing_key_file: reading {}", path.display()))?;
        let key = SshSigningKey::parse_openssh(&text)
            .with_context(|| format!("gitops.signing_key_file {}", path.display()))?;
        Ok(Arc::new(key))
    }

    /// URLs and `user@host:path` stay; a local path is taken relative to deploy.yaml.
    fn git_url(&self, repo: &str) -> String {
        let scp_like = repo
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
        if repo.contains("://") || scp_like {
            repo.to_owned()
        } else {
            self.path(repo).display().to_string()
        }
    }

    /// Reads a secret from the environment variable or file deploy.yaml names.
    pub fn secret(&self, r: &SecretRef, key: &str) -> anyhow::Result<Secret> {
        read_secret(r, key, self.base)
    }
}

fn read_secret(r: &SecretRef, key: &str, base: &Path) -> anyhow::Result<Secret> {
    let value = match r {
        SecretRef::Env(name) => match std::env::var(name) {
            Ok(v) => v,
            Err(_) => bail!("{key}: the environment variable {name} is not set"),
        },
        SecretRef::File(f) => std::fs::read_to_string(base.join(expand_home(f)))
            .with_context(|| format!("{key}: reading the secret file {f}"))?,
    };
    let value = value.trim();
    if value.is_empty() {
        let from = match r {
            SecretRef::Env(n) => format!("the environment variable {n}"),
            SecretRef::File(f) => format!("the file {f}"),
        };
        bail!("{key}: {from} is empty");
    }
    Ok(Secret::new(value))
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}
