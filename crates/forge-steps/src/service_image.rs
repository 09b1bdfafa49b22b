//! A service's image as deploy.yaml describes it: its flake outputs per
//! architecture and its image settings, turned into a [`PublishRequest`]
//! (shared by `forge push` and `forge deploy`).

use std::path::{Path, PathBuf};

use forge_adapters::oci::layer_cache::LayerCache;
use forge_adapters::oci::layer_tar::LayerCompression;
use forge_core::deploy_config::resolved::{DeployConfig, Service};
use forge_core::deploy_config::types::Compression;
use forge_core::oci::image_config::ImageOptions;
use forge_core::oci::tag_scheme::DEFAULT_ARCH_TAGS;

use crate::publish_image::{ImageRecipe, PublishRequest};
use forge_io::http::Network;

/// How a service's images are pushed (the flags of `forge push` and `forge deploy`).
#[derive(Debug, Clone, Default)]
pub struct Publishing {
    /// Plain HTTP to the registry (loopback registries always use it).
    pub insecure_http: bool,
    /// Blob transfers at once.
    pub jobs: usize,
    /// Where compressed layers are cached between builds (default: the forge cache dir).
    pub layer_cache: Option<PathBuf>,
    /// Timeouts and attempts of every registry and cache request.
    pub network: Network,
}

/// A relative flake path in deploy.yaml is relative to the file, not to the
/// working directory.
pub fn installable(config: &DeployConfig, raw: &str, base: &Path) -> String {
    let flake = &config.flake;
    let is_path = !flake.contains(':') && !Path::new(flake).is_absolute();
    match raw.strip_prefix(flake.as_str()) {
        Some(rest) if is_path => {
            let dir = if flake == "." {
                base.to_path_buf()
            } else {
                base.join(flake)
            };
            let dir = dir.canonicalize().unwrap_or(dir);
            format!("{}{rest}", dir.display())
        }
        _ => raw.to_owned(),
    }
}

/// Where the flake's sources are checked out, when it is local: `.`, a
/// relative or absolute path, `path:DIR`, `git+file://DIR` (relative to
/// deploy.yaml's directory `base`, as deploy.yaml's flake is). `{gitsha}`
/// and the Forge-Flake-Rev trailer come from there.
pub fn flake_checkout(flake: &str, base: &Path) -> Option<PathBuf> {
    let dir = if let Some(rest) = flake.strip_prefix("path:") {
        rest
    } else if let Some(rest) = flake.strip_prefix("git+file://") {
        rest
    } else if flake.contains(':') {
        return None;
    } else {
        flake
    };
    let dir = dir.split(['?', '#']).next().unwrap_or(dir);
    let p = Path::new(dir);
    Some(if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    })
}

/// The directory whose git checkout names the build: the flake's when it is
/// local, else deploy.yaml's (a remote flake: FORGE_GIT_SHA or the CI's
/// variable is the way to name its revision).
pub fn revision_dir(config: &DeployConfig, base: &Path) -> PathBuf {
    flake_checkout(&config.flake, base).unwrap_or_else(|| base.to_path_buf())
}

/// What `forge image push` would be asked for this service (shared with deploy).
pub fn image_request(
    config: &DeployConfig,
    s: &Service,
    base: &Path,
    publishing: &Publishing,
) -> PublishRequest {
    let layer_cache = publishing
        .layer_cache
        .clone()
        .unwrap_or_else(LayerCache::default_dir);
    let sources = s
        .image
        .arch
        .iter()
        .map(|&arch| {
            let recipe = ImageRecipe {
                options: ImageOptions {
                    entrypoint: s.image.entrypoint.clone(),
                    cmd: s.image.cmd.clone(),
                    env: s
                        .image
                        .env
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    workdir: s.image.workdir.clone(),
                    user: s.image.user.clone(),
                    labels: s.image.labels.clone(),
                    // Normalised when deploy.yaml was read.
                    exposed_ports: s.image.expose.clone(),
                    arch,
                },
                max_layers: s.image.max_layers,
                compression: match s.image.compression {
                    Compression::Gzip => LayerCompression::Gzip,
                    Compression::Zstd => LayerCompression::Zstd,
                    Compression::None => LayerCompression::None,
                },
                layer_cache: layer_cache.clone(),
            };
            (
                installable(config, &s.installables[arch.as_str()], base),
                recipe,
            )
        })
        .collect();
    // The default tags are left to `publish_images`, which drops the {gitsha7}
    // ones outside git instead of failing.
    let image_tags = if s.tags == DEFAULT_ARCH_TAGS {
        vec![]
    } else {
        s.tags.clone()
    };
    PublishRequest {
        sources,
        repo: s.repository.clone(),
        image_tags,
        index_tags: vec![],
        insecure_http: publishing.insecure_http,
        jobs: publishing.jobs,
        network: publishing.network,
        out: None,
        git_dir: revision_dir(config, base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_core::oci::image_config::Arch;

    fn config(flake: &str) -> DeployConfig {
        let text = format!("flake: {flake}\nregistry: r\nservices: {{app: {{}}}}\n");
        DeployConfig::parse(&text, "deploy.yaml", Arch::Amd64).unwrap()
    }

    #[test]
    fn local_flakes_have_a_checkout_remote_ones_do_not() {
        let base = Path::new("/srv/deploy");
        assert_eq!(flake_checkout(".", base), Some(base.join(".")));
        assert_eq!(flake_checkout("../app", base), Some(base.join("../app")));
        assert_eq!(
            flake_checkout("path:/src/app", base),
            Some("/src/app".into())
        );
        assert_eq!(
            flake_checkout("git+file:///src/app?ref=main", base),
            Some("/src/app".into())
        );
        assert_eq!(flake_checkout("github:org/app", base), None);
    }

    #[test]
    fn relative_flakes_are_relative_to_the_file() {
        let base = Path::new("/nonexistent/repo");
        let c = config(".");
        let raw = &c.services["app"].installables["amd64"];
        assert_eq!(
            installable(&c, raw, base),
            "/nonexistent/repo#packages.x86_64-linux.app"
        );
        let c = config("github:org/repo");
        let raw = &c.services["app"].installables["amd64"];
        assert_eq!(
            installable(&c, raw, base),
            "github:org/repo#packages.x86_64-linux.app"
        );
        let c = config("/abs/flake");
        let raw = &c.services["app"].installables["amd64"];
        assert_eq!(
            installable(&c, raw, base),
            "/abs/flake#packages.x86_64-linux.app"
        );
    }
}
