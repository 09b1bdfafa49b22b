//! `forge push`: `forge image push` for a service of `deploy.yaml`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};

use crate::exit::usage;
use crate::flags::{ConfigArg, PublishFlags};
use crate::github;
use crate::global::Global;
use crate::output::{print_document, ProgressView};
use crate::render::print_push_report;
use forge_adapters::git_rev::current_commit;
use forge_adapters::oci::layout::OciLayout;
use forge_core::oci::tag_scheme::{self, TagVars};
use forge_steps::publish_image::{materialise, publish_images, Published};
use forge_steps::service_image::{flake_checkout, image_request};

/// Build a configured service's image and push it (the first half of a deploy).
///
/// Reads the service from deploy.yaml: its flake attribute (per architecture),
/// image settings and repository ({registry}/{service} by default), then does
/// what `forge image push` does: tags {arch}-{gitsha7} and {arch}-latest (or
/// the service's image.tags), plus an index tagged {gitsha7} and latest when
/// the service has several architectures. A repository `oci:DIR` (as deploy
/// takes it) writes the image into that layout, tagged with the first tag.
/// {gitsha} is the commit checked out where the flake is (FORGE_GIT_SHA,
/// GITHUB_SHA or CI_COMMIT_SHA win); a tag that needs it when there is none
/// is an error.
///
/// Examples:
///   forge push app
///   forge push api --config deploy/deploy.yaml --env production --json
///   FORGE_GIT_SHA=$(git rev-parse HEAD) forge push app
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

pub async fn run(args: PushArgs, global: Global) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let service = config.service(&args.service)?;
    if let Some(env) = &args.env {
        config.target(&service.name, env)?;
    }
    let base = forge_steps::config_file::ConfigSource::of(&args.config.config)
        .base_dir()
        .unwrap_or_else(|| Path::new(".").to_path_buf());
    let mut request = image_request(&config, service, &base, &args.publish.publishing());
    let checkout = flake_checkout(&config.flake, &base);
    let gitsha = checkout.as_deref().and_then(current_commit);
    let needs_sha = service.tags.iter().any(|t| t.contains("{gitsha"));
    if needs_sha && gitsha.is_none() {
        return Err(usage(anyhow!(
            "services.{}: the tags {} need the flake's git revision, and {} (set FORGE_GIT_SHA, or image.tags without {{gitsha}})",
            service.name,
            service.tags.join(", "),
            match &checkout {
                Some(dir) => format!("{} is not in a git checkout", dir.display()),
                None => format!("flake `{}` is not a local checkout", config.flake),
            }
        )));
    }
    if let Some(dir) = checkout {
        request.git_dir = dir;
    }
    let progress = ProgressView::new();
    if let Some(dir) = service.repository.strip_prefix("oci:") {
        let [(source, recipe)] = request.sources.as_slice() else {
            bail!(
                "services.{}: an oci: layout holds one architecture; set image.arch to one value",
                service.name
            );
        };
        let vars = TagVars {
            arch: Some(recipe.options.arch.as_str().to_owned()),
            gitsha,
        };
        let tag = match service.tags.first() {
            Some(t) => tag_scheme::render(t, &vars)?,
            None => "latest".to_owned(),
        };
        let dir = relative_to(&base, dir);
        let layout = OciLayout::new(&dir);
        let (manifest, _) = materialise(source, recipe, &layout, &tag, &progress).await?;
        progress.finish();
        let reference = format!("oci:{}:{tag}", dir.display());
        if global.json {
            print_document(
                "push",
                &serde_json::json!({
                    "service": service.name,
                    "env": args.env,
                    "layout": dir,
                    "tag": tag,
                    "digest": manifest.digest,
                    "reference": reference,
                }),
            );
        } else {
            println!("{reference}@{}", manifest.digest);
        }
        github::write_outputs(&[
            ("result", "pushed".to_owned()),
            ("image", format!("{reference}@{}", manifest.digest)),
            ("digest", manifest.digest.clone()),
            ("tag", tag),
        ]);
        return Ok(());
    }
    let published = publish_images(&request, &progress).await?;
    progress.finish();
    let report = ServicePush {
        published: &published,
        service: &service.name,
        env: args.env.as_deref(),
    };
    print_push_report("push", &report, &published, global);
    Ok(())
}

fn relative_to(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `forge push --json`: the push report with the service (and environment) it was for.
#[derive(serde::Serialize)]
struct ServicePush<'a> {
    #[serde(flatten)]
    published: &'a Published,
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'a str>,
}
