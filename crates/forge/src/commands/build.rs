//! `forge build`: build flake outputs with Nix and print their store paths.

use crate::global::Global;
use crate::output::{print_document, ProgressView};
use forge_adapters::nix::NixCli;
use forge_steps::observer::{phase, Event, Observer as _};

/// Build flake outputs (`nix build --no-link`) and print their output paths.
///
/// Build logs stream under a progress line on a terminal; with -v they are
/// logged. On failure the relevant part of Nix's log is shown.
/// --json: `{"schema": "forge.build/v1", "builds": [{installable, drv_path, outputs}]}`.
///
/// Examples:
///   forge build .#app
///   forge build --json .#app .#worker
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct BuildArgs {
    /// Flake installables, e.g. `.#app` or `github:org/repo#pkg`.
    #[arg(required = true, value_name = "INSTALLABLE")]
    pub installables: Vec<String>,
}

pub async fn run(args: BuildArgs, global: Global) -> anyhow::Result<()> {
    let nix = NixCli::default();
    let progress = ProgressView::new();
    let results = phase(
        &progress,
        &format!("building {}", args.installables.join(" ")),
        nix.build(&args.installables, |line| {
            tracing::debug!(target: "forge::nix", "{line}");
            progress.event(Event::Detail(line));
        }),
    )
    .await?;
    if global.json {
        print_document("build", &serde_json::json!({ "builds": results }));
    } else {
        for r in &results {
            for path in r.outputs.values() {
                println!("{path}");
            }
        }
    }
    Ok(())
}
