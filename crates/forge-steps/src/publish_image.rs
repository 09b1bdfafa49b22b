//! Images for services: build (or import) each source with its recipe and
//! push them to one repository, with an index over several architectures.
//! What `forge image push`, `forge push` and `forge deploy` share.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use crate::build_image::{build_image, default_entrypoint, BuiltImage, ImageBuildOptions};
use crate::build_output::resolve_roots;
use crate::observer::{phase, Event, Observer};
use crate::push_image::{
    image_platform, push_image, push_index, BlobStatus, ImageTarget, IndexReport, PushImageReport,
    Upload,
};
use crate::query_closure::{query_closure, ClosureSource};
use forge_adapters::git_rev::current_commit;
use forge_adapters::nix::NixCli;
use forge_adapters::oci::docker_archive;
use forge_adapters::oci::known_blobs::KnownBlobs;
use forge_adapters::oci::layer_cache::LayerCache;
use forge_adapters::oci::layer_tar::LayerCompression;
use forge_adapters::oci::layout::OciLayout;
use forge_adapters::registry::{credentials, RegistryClient};
use forge_adapters::store::LocalStore;
use forge_core::oci::descriptor::{Descriptor, Platform, INDEX};
use forge_core::oci::image_config::ImageOptions;
use forge_core::oci::image_source::{split_tag, ImageSource};
use forge_core::oci::tag_scheme::{self, TagVars, DEFAULT_ARCH_TAGS, DEFAULT_INDEX_TAGS};
use forge_io::http::Network;

/// How to assemble one image from a closure (the flags of `forge image build`
/// or a service's `image:` settings).
#[derive(Debug, Clone)]
pub struct ImageRecipe {
    pub options: ImageOptions,
    pub max_layers: usize,
    pub compression: LayerCompression,
    /// Where compressed layers are cached between builds.
    pub layer_cache: PathBuf,
}

/// `oci:DIR[:TAG]` (TAG defaults to latest).
pub fn parse_out(out: &str) -> anyhow::Result<(OciLayout, String)> {
    let Some(rest) = out.strip_prefix("oci:") else {
        bail!("--out {out:?}: expected oci:DIR[:TAG]");
    };
    let (dir, tag) = split_tag(rest);
    let tag = tag.unwrap_or_else(|| "latest".into());
    tag_scheme::validate_tag(&tag)?;
    Ok((OciLayout::new(dir), tag))
}

/// Produces the image in `layout` under `tag` from any source; returns its manifest.
pub async fn materialise(
    source: &str,
    recipe: &ImageRecipe,
    layout: &OciLayout,
    tag: &str,
    observer: &dyn Observer,
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
            let mut options = recipe.options.clone();
            let nix = NixCli::default();
            let store = Arc::new(LocalStore::default());
            let resolved = phase(
                observer,
                &format!("building {installable}"),
                resolve_roots(&nix, std::slice::from_ref(&installable), |l| {
                    observer.event(Event::Detail(l))
                }),
            )
            .await?;
            let closure = query_closure(&store, &nix, &resolved.roots, ClosureSource::Auto).await?;
            if options.entrypoint.is_empty() {
                options.entrypoint = default_entrypoint(&store, &resolved.roots);
            }
            let cache = Arc::new(LayerCache::new(recipe.layer_cache.clone()));
            let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
            let build_options = ImageBuildOptions {
                image: options,
                max_layers: recipe.max_layers,
                compression: recipe.compression,
                jobs,
            };
            let built = phase(
                observer,
                "compressing layers",
                build_image(store, &closure, &build_options, cache, layout, observer),
            )
            .await?;
            layout.tag(built.manifest.clone(), tag)?;
            Ok((built.manifest.clone(), Some(built)))
        }
    }
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
    recipe: &ImageRecipe,
    out: Option<&str>,
    temps: &mut Vec<tempfile::TempDir>,
    observer: &dyn Observer,
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
    let (d, _) = materialise(source, recipe, &layout, &tag, observer).await?;
    Ok((layout, d))
}

/// What `forge image push` and `forge push` share: each source built with
/// its own image options (or imported), pushed to one repository, with an
/// index over them when there are several.
pub struct PublishRequest {
    pub sources: Vec<(String, ImageRecipe)>,
    pub repo: String,
    /// Tag templates of each image; empty: `{arch}-{gitsha7}`, `{arch}-latest`.
    pub image_tags: Vec<String>,
    /// Tag templates of the index (several sources); empty: `{gitsha7}`, `latest`.
    pub index_tags: Vec<String>,
    pub insecure_http: bool,
    pub jobs: usize,
    /// Timeouts and attempts of every registry request.
    pub network: Network,
    /// Keep the built layout here (one source only).
    pub out: Option<String>,
    /// Where `{gitsha}` comes from.
    pub git_dir: PathBuf,
}

/// What [`publish_images`] pushed: one image, or an index over several.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Published {
    Image(PushImageReport),
    Index(IndexReport),
}

impl Published {
    pub fn repository(&self) -> &str {
        match self {
            Published::Image(r) => &r.repository,
            Published::Index(r) => &r.repository,
        }
    }

    /// The digest to pin: the image's, or the index's.
    pub fn digest(&self) -> &str {
        match self {
            Published::Image(r) => &r.digest,
            Published::Index(r) => &r.digest,
        }
    }

    pub fn tags(&self) -> &[String] {
        match self {
            Published::Image(r) => &r.tags,
            Published::Index(r) => &r.tags,
        }
    }

    /// Every image pushed (one, or the index's).
    pub fn images(&self) -> &[PushImageReport] {
        match self {
            Published::Image(r) => std::slice::from_ref(r),
            Published::Index(r) => &r.images,
        }
    }

    pub fn bytes_uploaded(&self) -> u64 {
        self.images().iter().map(|i| i.bytes_uploaded).sum()
    }

    /// Blobs of every image that ended in `status`.
    pub fn blobs(&self, status: BlobStatus) -> usize {
        self.images().iter().map(|i| i.blobs_with(status)).sum()
    }
}

/// Builds (or imports) and pushes every source of `req`; returns the report
/// of the image, or of the index over several.
pub async fn publish_images(
    req: &PublishRequest,
    observer: &dyn Observer,
) -> anyhow::Result<Published> {
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
    let client = RegistryClient::new(&target.registry, req.insecure_http, credential, req.network);
    let mut known = KnownBlobs::load(&first.layer_cache);
    let progress = Arc::new(AtomicU64::new(0));
    let pushing = format!("pushing to {}", target.display());
    let result = async {
        let mut temps = Vec::new();
        let mut pushed = Vec::new();
        for (source, image) in &req.sources {
            let (layout, manifest) =
                prepare_source(source, image, req.out.as_deref(), &mut temps, observer).await?;
            // Building is a phase of its own; the push phase starts after it.
            observer.event(Event::Started(&pushing));
            observer.event(Event::Sending { sent: &progress });
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
            let to = Upload {
                client: &client,
                target: &target,
                jobs: req.jobs,
                progress: &progress,
                observer,
            };
            let report = push_image(to, &layout, &manifest, &tags, &mut known)
                .await
                .with_context(|| format!("pushing {} to {}", manifest.digest, target.display()))?;
            pushed.push((manifest, platform, report));
        }
        if !multi {
            let (_, _, report) = pushed.pop().expect("one source");
            return Ok::<_, anyhow::Error>(Published::Image(report));
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
        Ok(Published::Index(index))
    }
    .await;
    observer.event(Event::Finished);
    result
}
