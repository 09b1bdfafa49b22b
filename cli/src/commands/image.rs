//! `forge image build` and `forge image push`: OCI images from Nix closures.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use crate::adapters::git_rev::current_commit;
use crate::adapters::nix::NixCli;
use crate::adapters::oci::docker_archive;
use crate::adapters::oci::known_blobs::KnownBlobs;
use crate::adapters::oci::layer_cache::LayerCache;
use crate::adapters::oci::layer_tar::LayerCompression;
use crate::adapters::oci::layout::OciLayout;
use crate::adapters::registry::{credentials, RegistryClient};
use crate::adapters::store::LocalStore;
use crate::cli::Global;
use crate::domain::oci::descriptor::Descriptor;
use crate::domain::oci::image_config::{parse_key_value, parse_port, Arch, ImageOptions};
use crate::domain::oci::image_source::{split_tag, ImageSource};
use crate::domain::oci::layer_plan::DEFAULT_MAX_LAYERS;
use crate::domain::oci::tag_scheme::{self, TagVars, DEFAULT_ARCH_TAGS};
use crate::output::{human_bytes, print_json, spinner};
use crate::steps::build_image::{build_image, default_entrypoint, BuiltImage, ImageBuildOptions};
use crate::steps::build_output::resolve_roots;
use crate::steps::push_image::{push_image, ImageTarget};
use crate::steps::query_closure::{query_closure, ClosureSource};

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    Build(BuildArgs),
    Push(PushArgs),
}

/// How to assemble an image from a closure.
#[derive(Debug, Clone, clap::Args)]
pub struct ImageArgs {
    /// Program to run: a path, or a JSON array (`["/nix/store/…/bin/app","--flag"]`).
    /// Default: the only program in the output's bin/, if there is exactly one.
    #[arg(long, value_name = "PATH|JSON")]
    pub entrypoint: Option<String>,
    /// Default arguments: a string, or a JSON array.
    #[arg(long, value_name = "ARG|JSON")]
    pub cmd: Option<String>,
    /// Environment variable (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// `uid[:gid]` or a name.
    #[arg(long)]
    pub user: Option<String>,
    /// Image label (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Port the service listens on (repeatable): 8080, 8080/tcp, 53/udp.
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,
    /// Upper bound on the number of layers (overlayfs allows about 127).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_LAYERS)]
    pub max_layers: usize,
    #[arg(long, value_enum, default_value_t = Arch::host())]
    pub arch: Arch,
    /// Layer compression (zstd is several times faster; some old runtimes need gzip).
    #[arg(long, value_enum, default_value_t)]
    pub compression: LayerCompression,
    /// Where compressed layers are cached between builds [default: ~/.cache/forge].
    #[arg(long, value_name = "DIR", env = "FORGE_CACHE_DIR")]
    pub layer_cache: Option<PathBuf>,
}

/// Build an OCI image from a flake output's closure (or import one) into an image layout.
///
/// One layer per store path for the most depended-on paths, the rest grouped,
/// at most --max-layers; deterministic tars and compression, so the same
/// closure and options give the same digest anywhere. Compressed layers are
/// cached by content, so rebuilding after a change compresses only what changed.
///
/// Sources: an installable or store path; oci:DIR[:TAG]; docker-archive:FILE.
///
/// Examples:
///   forge image build .#app --out oci:./image:latest
///   forge image build .#app --out oci:./image --expose 8080 --env RUST_LOG=info --compression zstd
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct BuildArgs {
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Output image layout: oci:DIR[:TAG] (TAG defaults to latest).
    #[arg(long, value_name = "oci:DIR[:TAG]")]
    pub out: String,
    #[command(flatten)]
    pub image: ImageArgs,
}

/// Push an image to a registry, building it first when given an installable.
///
/// Blobs the registry has are skipped, blobs another repository of the same
/// registry has are mounted, the rest are streamed (in chunks when large) with
/// retries; the manifest is pushed as built, then the tags, so a failed push
/// never leaves a tag on a broken image. Default tags: {arch}-{gitsha7} and {arch}-latest.
///
/// Credentials: FORGE_REGISTRY_USER + FORGE_REGISTRY_TOKEN, GHCR_TOKEN (ghcr.io),
/// or ~/.docker/config.json (auths, credHelpers, credsStore).
///
/// Examples:
///   forge image push .#app --repo ghcr.io/org/app
///   forge image push oci:./image:latest --repo 127.0.0.1:5000/app --tag v1.2.3 --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// REGISTRY/REPO, e.g. ghcr.io/org/app.
    #[arg(long, value_name = "REGISTRY/REPO")]
    pub repo: String,
    /// Tag to set (repeatable; templates: {arch}, {gitsha}, {gitsha7}).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Talk plain HTTP to the registry (loopback registries always use HTTP).
    #[arg(long)]
    pub insecure_http: bool,
    /// Blob transfers at once.
    #[arg(short, long, default_value_t = 8)]
    pub jobs: usize,
    /// Also keep the built image layout here (oci:DIR[:TAG]).
    #[arg(long, value_name = "oci:DIR[:TAG]")]
    pub out: Option<String>,
    #[command(flatten)]
    pub image: ImageArgs,
}

pub async fn run(cmd: ImageCommand, global: Global) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Build(args) => build(args, global).await,
        ImageCommand::Push(args) => push(args, global).await,
    }
}

fn json_or_word(text: &str) -> anyhow::Result<Vec<String>> {
    if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
            .with_context(|| format!("{text:?} is not a JSON array of strings"))
    } else {
        Ok(vec![text.to_owned()])
    }
}

impl ImageArgs {
    fn options(&self) -> anyhow::Result<ImageOptions> {
        Ok(ImageOptions {
            entrypoint: self
                .entrypoint
                .as_deref()
                .map(json_or_word)
                .transpose()?
                .unwrap_or_default(),
            cmd: self
                .cmd
                .as_deref()
                .map(json_or_word)
                .transpose()?
                .unwrap_or_default(),
            env: self
                .env
                .iter()
                .map(|e| parse_key_value("--env", e))
                .collect::<Result<_, _>>()?,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            labels: self
                .label
                .iter()
                .map(|l| parse_key_value("--label", l))
                .collect::<Result<_, _>>()?,
            exposed_ports: self
                .expose
                .iter()
                .map(|p| parse_port(p))
                .collect::<Result<_, _>>()?,
            arch: self.arch,
        })
    }

    fn cache_root(&self) -> PathBuf {
        self.layer_cache
            .clone()
            .unwrap_or_else(LayerCache::default_dir)
    }
}

fn parse_out(out: &str) -> anyhow::Result<(OciLayout, String)> {
    let Some(rest) = out.strip_prefix("oci:") else {
        bail!("--out {out:?}: expected oci:DIR[:TAG]");
    };
    let (dir, tag) = split_tag(rest);
    let tag = tag.unwrap_or_else(|| "latest".into());
    tag_scheme::validate_tag(&tag)?;
    Ok((OciLayout::new(dir), tag))
}

/// Produces the image in `layout` under `tag` from any source; returns its manifest.
async fn materialise(
    source: &str,
    args: &ImageArgs,
    layout: &OciLayout,
    tag: &str,
) -> anyhow::Result<(Descriptor, Option<BuiltImage>)> {
    match ImageSource::parse(source) {
        ImageSource::Layout { dir, tag: src_tag } => {
            let src = OciLayout::new(&dir);
            let d = src.resolve(src_tag.as_deref())?;
            if src.dir != layout.dir {
                bail!(
                    "copying between layouts is not supported; push oci:{} directly",
                    dir.display()
                );
            }
            Ok((d, None))
        }
        ImageSource::DockerArchive(file) => {
            let (d, _) = docker_archive::import(&file, layout, Some(tag))
                .with_context(|| format!("importing {}", file.display()))?;
            Ok((d, None))
        }
        ImageSource::Closure(installable) => {
            let mut options = args.options()?;
            let nix = NixCli::default();
            let store = Arc::new(LocalStore::default());
            let bar = spinner(&format!("building {installable}"));
            let resolved = resolve_roots(&nix, std::slice::from_ref(&installable), |l| {
                bar.set_message(l.to_owned())
            })
            .await;
            bar.finish_and_clear();
            let resolved = resolved?;
            let closure = query_closure(&store, &nix, &resolved.roots, ClosureSource::Auto).await?;
            if options.entrypoint.is_empty() {
                options.entrypoint = default_entrypoint(&store, &resolved.roots);
            }
            let cache = Arc::new(LayerCache::new(args.cache_root()));
            let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
            let build_options = ImageBuildOptions {
                image: options,
                max_layers: args.max_layers,
                compression: args.compression,
                jobs,
            };
            let bar = spinner("compressing layers");
            let built = build_image(store, &closure, &build_options, cache, layout).await;
            bar.finish_and_clear();
            let built = built?;
            layout.tag(built.manifest.clone(), tag)?;
            Ok((built.manifest.clone(), Some(built)))
        }
    }
}

async fn build(args: BuildArgs, global: Global) -> anyhow::Result<()> {
    let (layout, tag) = parse_out(&args.out)?;
    let (manifest, built) = materialise(&args.source, &args.image, &layout, &tag).await?;
    if global.json {
        print_json(
            &serde_json::json!({ "layout": layout.dir, "tag": tag, "manifest": manifest, "image": built }),
        );
    } else {
        let layers = built.as_ref().map_or(0, |b| b.layers.len());
        let cached = built
            .as_ref()
            .map_or(0, |b| b.layers.iter().filter(|l| l.cached).count());
        println!(
            "{} oci:{}:{tag} ({layers} layers, {cached} from cache)",
            manifest.digest,
            layout.dir.display()
        );
    }
    Ok(())
}

async fn push(args: PushArgs, global: Global) -> anyhow::Result<()> {
    let target = ImageTarget::parse(&args.repo)?;
    let source = ImageSource::parse(&args.source);
    let _tmp;
    let (layout, tag) = match (&source, &args.out) {
        (ImageSource::Layout { dir, tag }, _) => {
            (OciLayout::new(dir), tag.clone().unwrap_or_default())
        }
        (_, Some(out)) => parse_out(out)?,
        (_, None) => {
            _tmp = tempfile::tempdir().context("creating a temporary image layout")?;
            (OciLayout::new(_tmp.path()), "latest".to_owned())
        }
    };
    let tag_arg = if tag.is_empty() {
        None
    } else {
        Some(tag.as_str())
    };
    let manifest = match source {
        ImageSource::Layout { .. } => layout.resolve(tag_arg)?,
        _ => {
            materialise(
                &args.source,
                &args.image,
                &layout,
                tag_arg.unwrap_or("latest"),
            )
            .await?
            .0
        }
    };

    let vars = TagVars {
        arch: Some(
            manifest
                .platform
                .as_ref()
                .map_or(args.image.arch.as_str().to_owned(), |p| {
                    p.architecture.clone()
                }),
        ),
        gitsha: current_commit(&std::env::current_dir()?),
    };
    let templates: Vec<String> = if args.tag.is_empty() {
        DEFAULT_ARCH_TAGS
            .iter()
            .filter(|t| vars.gitsha.is_some() || !t.contains("gitsha"))
            .map(|t| t.to_string())
            .collect()
    } else {
        args.tag.clone()
    };
    if vars.gitsha.is_none() && args.tag.is_empty() {
        tracing::warn!(
            "not in a git repository (and no FORGE_GIT_SHA): pushing only {{arch}}-latest"
        );
    }
    let tags: Vec<String> = templates
        .iter()
        .map(|t| tag_scheme::render(t, &vars))
        .collect::<Result<_, _>>()?;

    let credential = credentials::lookup(&target.registry)?;
    let client = RegistryClient::new(&target.registry, args.insecure_http, credential);
    let cache_root = args.image.cache_root();
    let mut known = KnownBlobs::load(&cache_root);
    let progress = Arc::new(AtomicU64::new(0));
    let bar = spinner(&format!("pushing to {}", target.display()));
    let ticker = {
        let (bar, progress) = (bar.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                bar.set_message(format!(
                    "uploaded {}",
                    human_bytes(progress.load(std::sync::atomic::Ordering::Relaxed))
                ));
            }
        })
    };
    let report = push_image(
        &client, &layout, &manifest, &target, &tags, &mut known, args.jobs, &progress,
    )
    .await;
    ticker.abort();
    bar.finish_and_clear();
    let report =
        report.with_context(|| format!("pushing {} to {}", manifest.digest, target.display()))?;
    if global.json {
        print_json(&report);
    } else {
        let count = |s| report.blobs.iter().filter(|b| b.status == s).count();
        use crate::steps::push_image::BlobStatus::*;
        println!(
            "{}@{} tagged {} ({} uploaded of {}; blobs: {} uploaded, {} mounted, {} present)",
            report.repository,
            report.digest,
            report.tags.join(", "),
            human_bytes(report.bytes_uploaded),
            human_bytes(report.image_bytes),
            count(Uploaded),
            count(Mounted),
            count(Present)
        );
    }
    Ok(())
}
