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
use crate::domain::oci::descriptor::{Descriptor, Platform, INDEX};
use crate::domain::oci::image_config::{parse_key_value, parse_port, Arch, ImageOptions};
use crate::domain::oci::image_source::{split_tag, ImageSource};
use crate::domain::oci::layer_plan::DEFAULT_MAX_LAYERS;
use crate::domain::oci::tag_scheme::{self, TagVars, DEFAULT_ARCH_TAGS, DEFAULT_INDEX_TAGS};
use crate::output::{human_bytes, print_json, spinner};
use crate::steps::build_image::{build_image, default_entrypoint, BuiltImage, ImageBuildOptions};
use crate::steps::build_output::resolve_roots;
use crate::steps::push_image::{image_platform, push_image, push_index, ImageTarget};
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
/// Several sources (one per architecture) also get an image index tagged
/// {gitsha7} and latest (or --tag).
///
/// Credentials: FORGE_REGISTRY_USER + FORGE_REGISTRY_TOKEN, GHCR_TOKEN (ghcr.io),
/// or ~/.docker/config.json (auths, credHelpers, credsStore).
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
pub(crate) async fn materialise(
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

/// Tag templates to use: the user's, else the defaults (without `{gitsha…}` outside git).
fn tag_templates(user: &[String], defaults: &[&str], have_git: bool) -> Vec<String> {
    if !user.is_empty() {
        return user.to_vec();
    }
    if !have_git {
        tracing::warn!(
            "not in a git repository (and no FORGE_GIT_SHA): skipping the {{gitsha7}} tags"
        );
    }
    defaults
        .iter()
        .filter(|t| have_git || !t.contains("gitsha"))
        .map(|t| t.to_string())
        .collect()
}

/// The layout and manifest for one push source (built or imported when needed).
async fn prepare_source(
    source: &str,
    image: &ImageArgs,
    out: Option<&str>,
    temps: &mut Vec<tempfile::TempDir>,
) -> anyhow::Result<(OciLayout, Descriptor)> {
    let parsed = ImageSource::parse(source);
    if let ImageSource::Layout { dir, tag } = &parsed {
        let layout = OciLayout::new(dir);
        let d = layout.resolve(tag.as_deref())?;
        return Ok((layout, d));
    }
    let (layout, tag) = match out {
        Some(out) => parse_out(out)?,
        None => {
            let tmp = tempfile::tempdir().context("creating a temporary image layout")?;
            let layout = OciLayout::new(tmp.path());
            temps.push(tmp);
            (layout, "latest".to_owned())
        }
    };
    let (d, _) = materialise(source, image, &layout, &tag).await?;
    Ok((layout, d))
}

/// What `forge image push` and `forge push` share: each source built with
/// its own image options (or imported), pushed to one repository, with an
/// index over them when there are several.
pub struct PushRequest {
    pub sources: Vec<(String, ImageArgs)>,
    pub repo: String,
    /// Tag templates of each image; empty: `{arch}-{gitsha7}`, `{arch}-latest`.
    pub image_tags: Vec<String>,
    /// Tag templates of the index (several sources); empty: `{gitsha7}`, `latest`.
    pub index_tags: Vec<String>,
    pub insecure_http: bool,
    pub jobs: usize,
    /// Keep the built layout here (one source only).
    pub out: Option<String>,
    /// Where `{gitsha}` comes from.
    pub git_dir: PathBuf,
}

async fn push(args: PushArgs, global: Global) -> anyhow::Result<()> {
    let multi = args.sources.len() > 1;
    let (image_tags, index_tags) = if multi {
        (vec![], args.tag)
    } else {
        (args.tag, vec![])
    };
    let request = PushRequest {
        sources: args
            .sources
            .into_iter()
            .map(|s| (s, args.image.clone()))
            .collect(),
        repo: args.repo,
        image_tags,
        index_tags,
        insecure_http: args.insecure_http,
        jobs: args.jobs,
        out: args.out,
        git_dir: std::env::current_dir()?,
    };
    let report = push_images(&request).await?;
    print_push_report(&report, global);
    Ok(())
}

/// Builds (or imports) and pushes every source of `req`; returns the report
/// of the image, or of the index over several.
pub async fn push_images(req: &PushRequest) -> anyhow::Result<serde_json::Value> {
    let target = ImageTarget::parse(&req.repo)?;
    let Some((_, first)) = req.sources.first() else {
        bail!("nothing to push");
    };
    let multi = req.sources.len() > 1;
    if multi && req.out.is_some() {
        bail!("--out takes one image; build several with `forge image build --arch … --out oci:DIR:TAG` and push those");
    }
    for t in req
        .image_tags
        .iter()
        .chain(&req.index_tags)
        .filter(|t| !t.contains('{'))
    {
        tag_scheme::validate_tag(t)?;
    }
    let gitsha = current_commit(&req.git_dir);
    let credential = credentials::lookup(&target.registry)?;
    let client = RegistryClient::new(&target.registry, req.insecure_http, credential);
    let mut known = KnownBlobs::load(&first.cache_root());
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
    let result = async {
        let mut temps = Vec::new();
        let mut pushed = Vec::new();
        for (source, image) in &req.sources {
            let (layout, manifest) =
                prepare_source(source, image, req.out.as_deref(), &mut temps).await?;
            let (platform, defaults): (Option<Platform>, &[&str]) = if manifest.media_type == INDEX
            {
                (None, &DEFAULT_INDEX_TAGS)
            } else {
                (
                    Some(image_platform(&layout, &manifest)?),
                    &DEFAULT_ARCH_TAGS,
                )
            };
            let vars = TagVars {
                arch: platform.as_ref().map(|p| p.architecture.clone()),
                gitsha: gitsha.clone(),
            };
            let tags: Vec<String> = tag_templates(&req.image_tags, defaults, vars.gitsha.is_some())
                .iter()
                .map(|t| tag_scheme::render(t, &vars))
                .collect::<Result<_, _>>()?;
            let report = push_image(
                &client, &layout, &manifest, &target, &tags, &mut known, req.jobs, &progress,
            )
            .await
            .with_context(|| format!("pushing {} to {}", manifest.digest, target.display()))?;
            pushed.push((manifest, platform, report));
        }
        if !multi {
            let (_, _, report) = pushed.pop().expect("one source");
            return Ok::<_, anyhow::Error>(serde_json::to_value(report)?);
        }
        let vars = TagVars {
            arch: None,
            gitsha: gitsha.clone(),
        };
        let tags: Vec<String> =
            tag_templates(&req.index_tags, &DEFAULT_INDEX_TAGS, gitsha.is_some())
                .iter()
                .map(|t| tag_scheme::render(t, &vars))
                .collect::<Result<_, _>>()?;
        let images = pushed
            .into_iter()
            .map(|(d, p, r)| {
                p.map(|p| (d, p, r))
                    .ok_or_else(|| anyhow::anyhow!("an index cannot contain another index"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let index = push_index(&client, &target, images, &tags).await?;
        Ok(serde_json::to_value(index)?)
    }
    .await;
    ticker.abort();
    bar.finish_and_clear();
    result
}

/// The report as JSON with `--json`, else one line per image.
pub fn print_push_report(report: &serde_json::Value, global: Global) {
    if global.json {
        print_json(report);
    } else {
        print_push_summary(report);
    }
}

fn print_push_summary(report: &serde_json::Value) {
    let line = |r: &serde_json::Value| {
        let blobs = r["blobs"].as_array().cloned().unwrap_or_default();
        let count = |s: &str| blobs.iter().filter(|b| b["status"] == s).count();
        format!(
            "{}@{} tagged {} ({} uploaded of {}; blobs: {} uploaded, {} mounted, {} present)",
            r["repository"].as_str().unwrap_or_default(),
            r["digest"].as_str().unwrap_or_default(),
            r["tags"]
                .as_array()
                .map(|t| t
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            human_bytes(r["bytes_uploaded"].as_u64().unwrap_or(0)),
            human_bytes(r["image_bytes"].as_u64().unwrap_or(0)),
            count("uploaded"),
            count("mounted"),
            count("present")
        )
    };
    match report["images"].as_array() {
        Some(images) => {
            for i in images {
                println!("{}", line(i));
            }
            let tags: Vec<&str> = report["tags"]
                .as_array()
                .map(|t| t.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            println!(
                "{}@{} (index of {} images) tagged {}",
                report["repository"].as_str().unwrap_or_default(),
                report["digest"].as_str().unwrap_or_default(),
                images.len(),
                tags.join(", ")
            );
        }
        None => println!("{}", line(report)),
    }
}
