//! Rendering results that several commands print.

use forge_core::byte_size::human_bytes;
use forge_core::deploy_report::{DeployReport, Outcome};
use forge_steps::publish_image::Published;
use forge_steps::push_image::{BlobStatus, PushImageReport};

use crate::global::Global;
use crate::output::print_json;

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

/// Prints the report: JSON on stdout with --json, else the summary. In a
/// GitHub Actions job it is also added to the job summary.
fn print_report(report: &DeployReport, global: Global) {
    if global.json {
        print_json(report);
    } else {
        print!("{}", report.render());
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{}", report.render_markdown()));
        if let Err(e) = appended {
            tracing::warn!(
                "cannot write the job summary to {}: {e}",
                path.to_string_lossy()
            );
        }
    }
}

/// The report as JSON with `--json`, else one line per image.
pub fn print_push_report(report: &impl serde::Serialize, published: &Published, global: Global) {
    if global.json {
        print_json(report);
    } else {
        print_push_summary(published);
    }
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
