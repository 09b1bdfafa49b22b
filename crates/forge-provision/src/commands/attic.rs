//! `forge-provision attic plan|apply --config FILE [--check] [--json]`.

use super::Outcome;
use crate::adapters::attic::{self, AtticError};
use crate::adapters::secret_source::ProcessSecrets;
use crate::domain::attic_plan::{plan_attic, AtticPlan};
use crate::domain::attic_spec::parse_attic;
use crate::domain::spec_parse::SpecError;
use clap::{Args, Subcommand};
use forge_attic::AtticClient;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Args)]
pub struct AtticArgs {
    #[command(subcommand)]
    pub action: AtticAction,
}

#[derive(Debug, Subcommand)]
pub enum AtticAction {
    /// Print the API calls and token writes that would make Attic match the file.
    ///
    /// Examples:
    ///   forge-provision attic plan --config attic.yaml
    ///   forge-provision attic plan --config attic.yaml --check   # exit 4: changes pending
    #[command(verbatim_doc_comment)]
    Plan(AtticRunArgs),
    /// Make them and print what was done.
    ///
    /// Example:
    ///   forge-provision attic apply --config attic.yaml --json
    #[command(verbatim_doc_comment)]
    Apply(AtticRunArgs),
}

#[derive(Debug, Args)]
pub struct AtticRunArgs {
    /// The spec file (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Change nothing; exit 4 when changes are pending, 0 when converged.
    #[arg(long)]
    pub check: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for a server that is not answering yet.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub wait: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AtticCommandError {
    #[error("cannot read {path}: {source}")]
    ReadSpec {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Attic(#[from] AtticError),
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub async fn run(args: AtticArgs) -> Result<Outcome, AtticCommandError> {
    let (args, apply) = match args.action {
        AtticAction::Plan(a) => (a, false),
        AtticAction::Apply(a) => (a, true),
    };
    let super::SpecFile {
        path,
        text,
        base_dir,
    } = super::read_spec(&args.config)
        .map_err(|(path, source)| AtticCommandError::ReadSpec { path, source })?;
    let desired = parse_attic(
        &text,
        &path,
        &base_dir,
        Arc::new(ProcessSecrets {
            base_dir: base_dir.clone(),
        }),
    )?;

    let client = desired
        .server
        .as_ref()
        .map(|s| AtticClient::new(&s.endpoint, Some(s.token.clone())));
    let observed = attic::read_state(
        client.as_ref(),
        &desired,
        Duration::from_secs(args.wait),
        &mut |msg| eprintln!("{msg}"),
    )
    .await?;
    let plan = plan_attic(&desired, &observed, now());

    if !apply || args.check || plan.is_empty() {
        print_plan(&plan, args.json, false);
        return Ok(if args.check && !plan.is_empty() {
            Outcome::ChangesPending
        } else {
            Outcome::Done
        });
    }
    let json = args.json;
    if !json {
        for w in &plan.warnings {
            eprintln!("warning: {w}");
        }
    }
    let mut count = 0;
    attic::execute(
        client.as_ref(),
        &desired,
        &plan,
        &now,
        &mut |change, note| {
            count += 1;
            if !json {
                match note {
                    Some(n) => println!("{} -- {n}", change.display()),
                    None => println!("{}", change.display()),
                }
            }
        },
    )
    .await?;
    if json {
        print_plan(&plan, true, true);
    } else {
        println!(
            "-- applied {count} change{}",
            if count == 1 { "" } else { "s" }
        );
    }
    Ok(Outcome::Done)
}

fn print_plan(plan: &AtticPlan, json: bool, applied: bool) {
    super::print_plan(
        "attic",
        plan.to_json(),
        &plan.to_string(),
        &plan.warnings,
        json,
        applied,
    );
}
