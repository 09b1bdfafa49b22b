//! `forge push`: `forge image push` for a service of `deploy.yaml`.

use std::path::{Path, PathBuf};

use crate::adapters::oci::layer_cache::LayerCache;
use crate::adapters::oci::layer_tar::LayerCompression;
use crate::cli::Global;
use crate::commands::config::ConfigArg;
use crate::commands::image::print_push_report;
use crate::domain::deploy_config::resolved::{DeployConfig, Service};
use crate::domain::deploy_config::types::Compression;
use crate::domain::oci::image_config::ImageOptions;
use crate::domain::oci::tag_scheme::DEFAULT_ARCH_TAGS;
use crate::steps::publish_image::{publish_images, ImageRecipe, PublishRequest};

/// Build a configured service's image and push it (the first half of a deploy).
///
/// Reads the service from deploy.yaml: its flake attribute (per architecture),
/// image settings and repository ({registry}/{service} by default), then does
/// what `forge image push` does: tags {arch}-{gitsha7} and {arch}-latest (or
/// the service's image.tags), plus an index tagged {gitsha7} and latest when
/// the service has several architectures. {gitsha} is the commit of the
/// directory holding deploy.yaml (or FORGE_GIT_SHA).
///
/// Examples:
///   forge push app
///   forge push api --config deploy/deploy.yaml --env production --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    /// A key of `services:` in deploy.yaml.
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// The environment the image is for (must exist in deploy.yaml).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    #[command(flatten)]
    pub publish: PublishFlags,
}

/// How a service's image is built and pushed (`forge push`, `forge deploy`).
#[derive(Debug, Clone, clap::Args)]
pub struct PublishFlags {
    /// Talk plain HTTP to the registry (loopback registries always use HTTP).
    #[arg(long)]
    pub insecure_http: bool,
    /// Blob transfers at once.
    #[arg(short, long, default_value_t = 8)]
    pub jobs: usize,
    /// Where compressed layers are cached between builds [default: ~/.cache/forge].
    #[arg(long, value_name = "DIR", env = "FORGE_CACHE_DIR")]
    pub layer_cache: Option<PathBuf>,
}

pub async fn run(args: PushArgs, global: Global) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let service = config.service(&args.service)?;
    if let Some(env) = &args.env {
        config.target(&service.name, env)?;
    }
    let base = args
        .config
        .config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let request = image_request(
        &config,
        service,
        &base,
        args.publish.insecure_http,
        args.publish.jobs,
        args.publish.layer_cache.clone(),
    );
    let mut report = publish_images(&request).await?;
    if let Some(obj) = report.as_object_mut() {
        obj.insert("service".into(), service.name.clone().into());
        if let Some(env) = &args.env {
            obj.insert("env".into(), env.clone().into());
        }
    }
    print_push_report(&report, global);
    Ok(())
}

/// A relative flake path in deploy.yaml is relative to the file, not to the
/// working directory.
pub(crate) fn installable(config: &DeployConfig, raw: &str, base: &Path) -> String {
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

/// What `forge image push` would be asked for this service (shared with deploy).
pub(crate) fn image_request(
    config: &DeployConfig,
    s: &Service,
    base: &Path,
    insecure_http: bool,
    jobs: usize,
    layer_cache: Option<PathBuf>,
) -> PublishRequest {
    let layer_cache = layer_cache.unwrap_or_else(LayerCache::default_dir);
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
        insecure_http,
        jobs,
        out: None,
        git_dir: base.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::oci::image_config::Arch;

    fn config(flake: &str) -> DeployConfig {
        let text = format!("flake: {flake}\nregistry: r\nservices: {{app: {{}}}}\n");
        DeployConfig::parse(&text, "deploy.yaml", Arch::Amd64).unwrap()
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
