//! `forge push`: `forge image push` for a service of `deploy.yaml`.

use std::path::Path;

use crate::flags::{ConfigArg, PublishFlags};
use crate::global::Global;
use crate::output::ProgressView;
use crate::render::print_push_report;
use forge_steps::publish_image::{publish_images, Published};
use forge_steps::service_image::image_request;

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
    let request = image_request(&config, service, &base, &args.publish.publishing());
    let published = publish_images(&request, &ProgressView::new()).await?;
    let report = ServicePush {
        published: &published,
        service: &service.name,
        env: args.env.as_deref(),
    };
    print_push_report("push", &report, &published, global);
    Ok(())
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
