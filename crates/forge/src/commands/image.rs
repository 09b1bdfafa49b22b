//! `forge image build` and `forge image push`: OCI images from Nix closures.

use crate::choice::choice;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::flags::NetworkFlags;
use crate::global::Global;
use crate::output::{print_document, ProgressView};
use crate::render::print_push_report;
use forge_adapters::oci::layer_cache::LayerCache;
use forge_adapters::oci::layer_tar::LayerCompression;
use forge_core::oci::image_config::{parse_key_value, parse_port, Arch, ImageOptions};
use forge_core::oci::layer_plan::DEFAULT_MAX_LAYERS;
use forge_steps::publish_image::{
    materialise, parse_out, publish_images, ImageRecipe, PublishRequest,
};

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
    #[arg(long, value_parser = choice::<Arch>(), default_value = Arch::host().as_str())]
    pub arch: Arch,
    /// Layer compression (zstd is several times faster; some old runtimes need gzip).
    #[arg(long, value_parser = choice::<LayerCompression>(), default_value = "gzip")]
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
/// Several sources (one per architecture) also get an image index tagged
/// {gitsha7} and latest (or --tag).
///
/// Credentials: FORGE_REGISTRY_USER + FORGE_REGISTRY_TOKEN, GHCR_TOKEN (ghcr.io),
/// then REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
/// ~/.config/containers/auth.json (podman, skopeo) and ~/.docker/config.json
/// (auths, credHelpers, credsStore). A registry name that does not resolve
/// is not retried.
///
/// Examples:
///   forge image push .#app --repo ghcr.io/org/app
///   forge image push oci:./image:latest --repo 127.0.0.1:5000/app --tag v1.2.3 --json
///   forge image push oci:./img:amd64 oci:./img:arm64 --repo ghcr.io/org/app
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    /// One image, or one per architecture (pushed with an index over them).
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,
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
    #[command(flatten)]
    pub network: NetworkFlags,
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
    /// The recipe these flags describe (flags checked here).
    pub fn recipe(&self) -> anyhow::Result<ImageRecipe> {
        Ok(ImageRecipe {
            options: self.options()?,
            max_layers: self.max_layers,
            compression: self.compression,
            layer_cache: self.cache_root(),
        })
    }

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

async fn build(args: BuildArgs, global: Global) -> anyhow::Result<()> {
    let (layout, tag) = parse_out(&args.out)?;
    let (manifest, built) = materialise(
        &args.source,
        &args.image.recipe()?,
        &layout,
        &tag,
        &ProgressView::new(),
    )
    .await?;
    if global.json {
        print_document(
            "image-build",
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
    let multi = args.sources.len() > 1;
    let (image_tags, index_tags) = if multi {
        (vec![], args.tag)
    } else {
        (args.tag, vec![])
    };
    let recipe = args.image.recipe()?;
    let request = PublishRequest {
        sources: args
            .sources
            .into_iter()
            .map(|s| (s, recipe.clone()))
            .collect(),
        repo: args.repo,
        image_tags,
        index_tags,
        insecure_http: args.insecure_http,
        jobs: args.jobs,
        network: args.network.network(),
        out: args.out,
        git_dir: std::env::current_dir()?,
    };
    let report = publish_images(&request, &ProgressView::new()).await?;
    print_push_report("image-push", &report, &report, global);
    Ok(())
}
