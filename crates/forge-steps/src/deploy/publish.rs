//! The first half of a deploy: build the service, push its closure to the
//! cache and its image to the registry (or an `oci:` layout directory), and
//! say which digest to pin. With `dry_run`, builds locally (the digest depends
//! on the build) and pushes nothing.

use std::sync::Arc;

use anyhow::{bail, Context as _};

use super::context::DeployContext;
use crate::build_output::existing_store_path;
use crate::config_file::load_signing_key;
use crate::observer::{phase, Event};
use crate::publish_image::{materialise, publish_images, PublishRequest};
use crate::push_closure::{push_to_cache, PushOptions};
use crate::push_image::{image_platform, index_of, BlobStatus};
use crate::query_closure::{query_closure, ClosureSource};
use crate::service_image::{image_request, installable, Publishing};
use forge_adapters::cache::{AnyCache, CacheAccess};
use forge_adapters::git_rev::current_commit;
use forge_adapters::nix::NixCli;
use forge_adapters::oci::layout::OciLayout;
use forge_adapters::store::LocalStore;
use forge_core::byte_size::human_bytes;
use forge_core::deploy_report::{DeployReport, Status, Step};
use forge_core::nix::store_path::StorePath;
use forge_core::oci::tag_scheme::{self, TagVars, DEFAULT_INDEX_TAGS};

/// Knobs from the command line.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub dry_run: bool,
    pub publishing: Publishing,
}

/// What to pin.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// The tag for humans (first of the service's tags).
    pub tag: Option<String>,
    /// `sha256:...` of the manifest (or index): what the cluster pulls.
    pub digest: String,
    /// `repo:tag@digest`.
    pub reference: String,
}

pub async fn publish(
    ctx: &DeployContext,
    opts: &PublishOptions,
    report: &mut DeployReport,
) -> anyhow::Result<Published> {
    let roots = build(ctx, report).await?;
    push_closure(ctx, opts, &roots, report).await?;
    push_image(ctx, opts, &roots, report).await
}

/// The image of what `build` made, to the registry or the `oci:` layout.
pub(crate) async fn push_image(
    ctx: &DeployContext,
    opts: &PublishOptions,
    roots: &[(String, Vec<StorePath>)],
    report: &mut DeployReport,
) -> anyhow::Result<Published> {
    match ctx.layout_dir() {
        Some(dir) => image_to_layout(ctx, opts, roots, &dir, report).await,
        None => image_to_registry(ctx, opts, roots, report).await,
    }
}

/// Builds each architecture's installable; returns (arch, output paths).
pub(crate) async fn build(
    ctx: &DeployContext,
    report: &mut DeployReport,
) -> anyhow::Result<Vec<(String, Vec<StorePath>)>> {
    let mut all = build_all(&[ctx]).await;
    let result = all.pop().expect("one result per context");
    match &result {
        Ok(out) => {
            let paths: Vec<String> = out
                .iter()
                .flat_map(|(_, r)| r.iter().map(|p| p.to_string()))
                .collect();
            report.record(Step::Build, Status::Done(paths.join(", ")));
        }
        Err(e) => report.record(Step::Build, Status::Failed(format!("{e:#}"))),
    }
    result
}

/// Builds every architecture of every service in one `nix build` (Nix
/// evaluates the flake once, builds in parallel, and can hand the work to
/// its remote builders). One result per context, in order: when the build
/// fails, every service gets its error.
pub(crate) async fn build_all(
    ctxs: &[&DeployContext],
) -> Vec<anyhow::Result<Vec<(String, Vec<StorePath>)>>> {
    let nix = NixCli::default();
    // (context index, arch, installable); the same installable built once.
    let mut wanted = Vec::new();
    for (i, ctx) in ctxs.iter().enumerate() {
        for arch in &ctx.service.image.arch {
            let raw = &ctx.service.installables[arch.as_str()];
            wanted.push((
                i,
                arch.as_str().to_owned(),
                installable(&ctx.config, raw, &ctx.base),
            ));
        }
    }
    let mut installables: Vec<String> = wanted.iter().map(|(_, _, inst)| inst.clone()).collect();
    installables.sort();
    installables.dedup();
    let Some(first) = ctxs.first() else {
        return Vec::new();
    };
    let observer = &*first.observer;
    let title = match installables.as_slice() {
        [one] => format!("building {one}"),
        many => format!("building {} installables", many.len()),
    };
    let built = phase(observer, &title, async {
        let mut by_installable = std::collections::BTreeMap::new();
        for inst in &installables {
            // Store paths given directly are not built.
            if let Some(p) = existing_store_path(&nix.store_dir, inst) {
                by_installable.insert(inst.clone(), vec![p]);
            }
        }
        let to_build: Vec<String> = installables
            .iter()
            .filter(|i| !by_installable.contains_key(*i))
            .cloned()
            .collect();
        if !to_build.is_empty() {
            let builds = nix
                .build(&to_build, |l| observer.event(Event::Detail(l)))
                .await?;
            for b in builds {
                let mut roots = Vec::new();
                for out in b.outputs.values() {
                    roots.push(StorePath::parse_in(&nix.store_dir, out).map_err(|_| {
                        anyhow::anyhow!(
                            "nix build reported output {out:?}, which is not a store path"
                        )
                    })?);
                }
                roots.sort();
                by_installable.insert(b.installable, roots);
            }
        }
        anyhow::Ok(by_installable)
    })
    .await;
    let built = match built {
        Ok(b) => b,
        Err(e) => {
            let what = installables.join(" ");
            let message = format!("{:#}", e.context(format!("building {what}")));
            return ctxs
                .iter()
                .map(|_| Err(anyhow::anyhow!(message.clone())))
                .collect();
        }
    };
    let mut out: Vec<Vec<(String, Vec<StorePath>)>> = ctxs.iter().map(|_| Vec::new()).collect();
    for (i, arch, inst) in wanted {
        let roots = built.get(&inst).cloned().unwrap_or_default();
        out[i].push((arch, roots));
    }
    out.into_iter().map(Ok).collect()
}

pub(crate) async fn push_closure(
    ctx: &DeployContext,
    opts: &PublishOptions,
    roots: &[(String, Vec<StorePath>)],
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let all: Vec<StorePath> = roots.iter().flat_map(|(_, r)| r.clone()).collect();
    push_closure_at(ctx.root(), &*ctx.observer, opts, &all, report).await
}

/// The closure of `all` to deploy.yaml's cache (signed with its key), recorded
/// as the report's cache step; service and host deploys alike.
pub(crate) async fn push_closure_at(
    root: super::context::ConfigRoot<'_>,
    observer: &dyn crate::observer::Observer,
    opts: &PublishOptions,
    all: &[StorePath],
    report: &mut DeployReport,
) -> anyhow::Result<()> {
    let ctx = root;
    let Some(cache) = &ctx.config.cache else {
        report.record(
            Step::Cache,
            Status::Skipped("no cache: in deploy.yaml".into()),
        );
        return Ok(());
    };
    let token = cache
        .token
        .as_ref()
        .map(|r| ctx.secret(r, "cache"))
        .transpose()?;
    let signing_key = cache
        .signing_key_file
        .as_deref()
        .map(|f| load_signing_key(&ctx.path(f)))
        .transpose()?
        .map(Arc::new);
    let url = ctx.cache_url(&cache.url);
    let any = AnyCache::open(
        &url,
        CacheAccess {
            token,
            network: opts.publishing.network,
        },
    )?;
    let nix = NixCli::default();
    let store = Arc::new(LocalStore::default());
    let closure = query_closure(&store, &nix, all, ClosureSource::Auto).await?;
    let options = PushOptions {
        signing_key,
        dry_run: opts.dry_run,
        retry: opts.publishing.network.retry,
        ..PushOptions::default()
    };
    let result = push_to_cache(&any, store, options, closure, observer)
        .await
        .with_context(|| format!("pushing to {}", any.display_url()));
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            report.record(Step::Cache, Status::Failed(e.to_string()));
            return Err(e);
        }
    };
    if !r.failed.is_empty() {
        let first = &r.failed[0];
        let msg = format!(
            "{} path(s) could not be pushed to {} (first: {}: {})",
            r.failed.len(),
            r.cache,
            first.path,
            first.error
        );
        report.record(Step::Cache, Status::Failed(msg.clone()));
        bail!(msg);
    }
    let n = r.uploaded.len();
    let bytes = human_bytes(r.nar_bytes_uploaded);
    report.record(
        Step::Cache,
        if n == 0 {
            Status::Unchanged(format!("{} had all {} paths", r.cache, r.closure_size))
        } else if r.dry_run {
            Status::Planned(format!(
                "would push {n} of {} paths ({bytes} NAR) to {}",
                r.closure_size, r.cache
            ))
        } else {
            Status::Done(format!(
                "pushed {n} of {} paths ({bytes} NAR) to {}",
                r.closure_size, r.cache
            ))
        },
    );
    Ok(())
}

/// The service's image options, with the built paths as sources (no second evaluation).
fn image_sources(
    ctx: &DeployContext,
    opts: &PublishOptions,
    roots: &[(String, Vec<StorePath>)],
) -> PublishRequest {
    let mut req = image_request(&ctx.config, &ctx.service, &ctx.base, &opts.publishing);
    for ((source, _), (_, paths)) in req.sources.iter_mut().zip(roots) {
        if let [one] = paths.as_slice() {
            *source = one.to_string();
        }
    }
    req
}

fn render_tags(
    ctx: &DeployContext,
    templates: &[String],
    arch: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let dir = crate::service_image::revision_dir(&ctx.config, &ctx.base);
    let gitsha = current_commit(&dir);
    let vars = TagVars {
        arch: arch.map(str::to_owned),
        gitsha: gitsha.clone(),
    };
    let tags: Vec<String> = templates
        .iter()
        .filter(|t| gitsha.is_some() || !t.contains("gitsha"))
        .map(|t| Ok(tag_scheme::render(t, &vars)?))
        .collect::<anyhow::Result<_>>()?;
    if gitsha.is_none() && templates.iter().any(|t| t.contains("gitsha")) {
        tracing::warn!(
            "no git revision for the {{gitsha}} tags ({} is not in a git checkout; set FORGE_GIT_SHA): tagging {} instead",
            dir.display(),
            tags.first().map_or("latest", String::as_str)
        );
    }
    Ok(tags)
}

/// `oci:DIR`: the image is written (and tagged) in a local layout.
pub(crate) async fn image_to_layout(
    ctx: &DeployContext,
    opts: &PublishOptions,
    roots: &[(String, Vec<StorePath>)],
    dir: &std::path::Path,
    report: &mut DeployReport,
) -> anyhow::Result<Published> {
    let req = image_sources(ctx, opts, roots);
    let [(source, recipe)] = req.sources.as_slice() else {
        bail!(
            "services.{}: an oci: layout holds one architecture; set image.arch to one value",
            ctx.service.name
        );
    };
    let tags = render_tags(ctx, &ctx.service.tags, Some(recipe.options.arch.as_str()))?;
    let tag = tags.first().cloned().unwrap_or_else(|| "latest".into());
    let tmp;
    let layout = if opts.dry_run {
        tmp = tempfile::tempdir()?;
        OciLayout::new(tmp.path())
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        OciLayout::new(dir)
    };
    let before = OciLayout::new(dir).resolve(Some(&tag)).ok();
    let (manifest, _) = materialise(source, recipe, &layout, &tag, &*ctx.observer).await?;
    if !opts.dry_run {
        for t in &tags[1.min(tags.len())..] {
            layout.tag(manifest.clone(), t)?;
        }
    }
    let at = format!("oci:{}:{tag}", dir.display());
    report.record(
        Step::Image,
        match before {
            Some(d) if d.digest == manifest.digest => {
                Status::Unchanged(format!("{at} already is {}", manifest.digest))
            }
            _ if opts.dry_run => {
                Status::Planned(format!("would write {} to {at}", manifest.digest))
            }
            _ => Status::Done(format!("wrote {} to {at}", manifest.digest)),
        },
    );
    Ok(Published {
        reference: format!("{}:{tag}@{}", ctx.pull_name(), manifest.digest),
        tag: Some(tag),
        digest: manifest.digest.to_string(),
    })
}

pub(crate) async fn image_to_registry(
    ctx: &DeployContext,
    opts: &PublishOptions,
    roots: &[(String, Vec<StorePath>)],
    report: &mut DeployReport,
) -> anyhow::Result<Published> {
    let req = image_sources(ctx, opts, roots);
    if opts.dry_run {
        // The digest needs the image; the registry sees nothing.
        let mut images = Vec::new();
        for (source, recipe) in &req.sources {
            let tmp = tempfile::tempdir()?;
            let layout = OciLayout::new(tmp.path());
            let (manifest, _) =
                materialise(source, recipe, &layout, "latest", &*ctx.observer).await?;
            let platform = image_platform(&layout, &manifest)?;
            images.push((manifest, platform));
        }
        let listed: Vec<String> = images.iter().map(|(d, _)| d.digest.to_string()).collect();
        // Several architectures: the index over them, built as the push builds it.
        let (digest, tags) = if let [(only, _)] = images.as_slice() {
            let arch = req.sources[0].1.options.arch.as_str();
            (
                only.digest.to_string(),
                render_tags(ctx, &ctx.service.tags, Some(arch))?,
            )
        } else {
            let (_, index) = index_of(&images)?;
            let templates: Vec<String> = DEFAULT_INDEX_TAGS.iter().map(|t| t.to_string()).collect();
            (index, render_tags(ctx, &templates, None)?)
        };
        report.record(
            Step::Image,
            Status::Planned(if images.len() > 1 {
                format!(
                    "would push {} to {} with index {digest} over them",
                    listed.join(", "),
                    ctx.service.repository
                )
            } else {
                format!("would push {digest} to {}", ctx.service.repository)
            }),
        );
        let tag = tags.first().cloned();
        return Ok(Published {
            reference: format!(
                "{}{}@{digest}",
                ctx.service.repository,
                tag.as_deref().map(|t| format!(":{t}")).unwrap_or_default()
            ),
            tag,
            digest,
        });
    }
    let pushed = match publish_images(&req, &*ctx.observer).await {
        Ok(r) => r,
        Err(e) => {
            report.record(Step::Image, Status::Failed(format!("{e:#}")));
            return Err(e);
        }
    };
    let digest = pushed.digest().to_owned();
    let tag = pushed.tags().first().cloned();
    let uploaded = pushed.bytes_uploaded();
    let blobs = |status: BlobStatus| pushed.blobs(status);
    let reference = format!(
        "{}{}@{digest}",
        ctx.service.repository,
        tag.as_deref().map(|t| format!(":{t}")).unwrap_or_default()
    );
    report.record(
        Step::Image,
        if blobs(BlobStatus::Uploaded) + blobs(BlobStatus::Mounted) == 0 {
            Status::Unchanged(format!("{reference}: the registry had every blob"))
        } else {
            Status::Done(format!(
                "{reference}: {} uploaded ({} blobs), {} mounted, {} present",
                human_bytes(uploaded),
                blobs(BlobStatus::Uploaded),
                blobs(BlobStatus::Mounted),
                blobs(BlobStatus::Present)
            ))
        },
    );
    Ok(Published {
        tag,
        digest,
        reference,
    })
}
