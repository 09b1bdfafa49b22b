//! Rendering results that several commands print.

use forge_core::byte_size::human_bytes;
use forge_core::deploy_report::{DeployReport, Outcome};
use forge_steps::publish_image::Published;
use forge_steps::push_image::{BlobStatus, PushImageReport};

use crate::github;
use crate::global::Global;
use crate::output::print_document;

/// Records a failure as the outcome, prints the report and returns the exit status.
pub fn finish_deploy(mut report: DeployReport, result: anyhow::Result<()>, global: Global) -> u8 {
    if let Err(e) = result {
        report.outcome = Outcome::Failed {
            reason: format!("{e:#}"),
        };
    }
    print_report(&report, global);
    report.exit_status()
}

/// Prints the report: the `forge.deploy/v1` (or `forge.rollback/v1`)
/// document on stdout with --json, else the summary. In a GitHub Actions job
/// it also goes to the job summary, its results to `$GITHUB_OUTPUT`, and a
/// failure becomes an `::error::` annotation.
fn print_report(report: &DeployReport, global: Global) {
    if global.json {
        print_document(report.action, report);
    } else {
        print!("{}", report.render());
    }
    // Written wherever a CI sets the variables; annotations only in GitHub Actions.
    github::append_summary(&report.render_markdown());
    github::write_outputs(&deploy_outputs(report));
    if global.github_actions {
        let title = format!(
            "forge {} {} to {}",
            report.action, report.service, report.env
        );
        match &report.outcome {
            Outcome::Failed { reason } => github::annotate("error", &title, reason, None),
            Outcome::RolledBack { reason, to } => github::annotate(
                "error",
                &title,
                &format!("{reason}; rolled back to {to}"),
                None,
            ),
            _ => {}
        }
    }
}

/// `$GITHUB_OUTPUT` of a deploy or rollback: `result`, `exit_code`, and
/// what is known of `image`, `tag`, `digest`, `commit`.
pub fn deploy_outputs(report: &DeployReport) -> Vec<(&'static str, String)> {
    let result = match &report.outcome {
        Outcome::Deployed if report.action == "rollback" => "rolled_back",
        Outcome::Deployed => "deployed",
        Outcome::NoOp => "no_op",
        Outcome::Planned => "planned",
        Outcome::Failed { .. } => "failed",
        Outcome::RolledBack { .. } => "rolled_back_after_failure",
    };
    let mut out = vec![
        ("result", result.to_owned()),
        ("exit_code", report.exit_status().to_string()),
        ("service", report.service.clone()),
        ("env", report.env.clone()),
    ];
    if let Some(image) = &report.image {
        out.push(("image", image.clone()));
        let (tag, digest) = github::tag_and_digest(image);
        if let Some(tag) = tag {
            out.push(("tag", tag.to_owned()));
        }
        if let Some(digest) = digest {
            out.push(("digest", digest.to_owned()));
        }
    }
    if let Some(commit) = &report.commit {
        out.push(("commit", commit.clone()));
    }
    out
}

/// The report as JSON with `--json`, else one line per image.
pub fn print_push_report(
    kind: &str,
    report: &impl serde::Serialize,
    published: &Published,
    global: Global,
) {
    if global.json {
        print_document(kind, report);
    } else {
        print_push_summary(published);
    }
    github::write_outputs(&push_outputs(published));
}

/// `$GITHUB_OUTPUT` of an image push: `image` (by digest), `digest`, `tags`.
fn push_outputs(published: &Published) -> Vec<(&'static str, String)> {
    let (repository, digest, tags) = (published.repository(), published.digest(), published.tags());
    let mut out = vec![
        ("result", "pushed".to_owned()),
        ("image", format!("{repository}@{digest}")),
        ("digest", digest.to_owned()),
        ("tags", tags.join(",")),
    ];
    if let Some(tag) = tags.first() {
        out.push(("tag", tag.clone()));
    }
    out
}

fn print_push_summary(published: &Published) {
    let line = |r: &PushImageReport| {
        format!(
            "{}@{} tagged {} ({} uploaded of {}; blobs: {} uploaded, {} mounted, {} present)",
            r.repository,
            r.digest,
            r.tags.join(", "),
            human_bytes(r.bytes_uploaded),
            human_bytes(r.image_bytes),
            r.blobs_with(BlobStatus::Uploaded),
            r.blobs_with(BlobStatus::Mounted),
            r.blobs_with(BlobStatus::Present)
        )
    };
    match published {
        Published::Index(index) => {
            for i in &index.images {
                println!("{}", line(i));
            }
            println!(
                "{}@{} (index of {} images) tagged {}",
                index.repository,
                index.digest,
                index.images.len(),
                index.tags.join(", ")
            );
        }
        Published::Image(image) => println!("{}", line(image)),
    }
}
