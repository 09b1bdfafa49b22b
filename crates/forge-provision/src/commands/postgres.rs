//! `forge-provision postgres plan|apply --config FILE [--check] [--allow-prune] [--json]
//! [--wait SECONDS] [--idle-timeout SECONDS]`.

use super::Outcome;
use crate::adapters::postgres::{self, Connection, LibpqEnv, PostgresError, Settings};
use crate::adapters::secret_source::ProcessSecrets;
use crate::domain::plan::Plan;
use crate::domain::postgres_plan::{plan, PlanError, PlanOptions};
use crate::domain::spec_parse::{parse, SpecError};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct PostgresArgs {
    #[command(subcommand)]
    pub action: PostgresAction,
}

#[derive(Debug, Subcommand)]
pub enum PostgresAction {
    /// Print the ordered SQL that would make the server match the file (secrets redacted).
    ///
    /// Examples:
    ///   forge-provision postgres plan --config db.yaml
    ///   forge-provision postgres plan --config db.yaml --check --json   # exit 4: changes pending
    #[command(verbatim_doc_comment)]
    Plan(RunArgs),
    /// Run that SQL and print what was done.
    ///
    /// Examples:
    ///   forge-provision postgres apply --config db.yaml
    ///   PGHOST=db.internal PGUSER=admin PGPASSWORD=... forge-provision postgres apply --config db.yaml --allow-prune
    #[command(verbatim_doc_comment)]
    Apply(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The spec file (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Change nothing; exit 4 when changes are pending, 0 when converged.
    #[arg(long)]
    pub check: bool,
    /// Allow drops and revokes in the sections that set `prune: true`.
    #[arg(long)]
    pub allow_prune: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for a server that is starting up (in all, connect attempts included).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub wait: u64,
    /// How long the server may leave one query or statement unanswered before the run gives up.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Databases whose catalogs are read at the same time.
    #[arg(long, default_value_t = 4, hide = true)]
    pub concurrency: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PostgresCommandError {
    #[error("cannot read {path}: {source}")]
    ReadSpec {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

pub async fn run(args: PostgresArgs) -> Result<Outcome, PostgresCommandError> {
    let (args, apply) = match args.action {
        PostgresAction::Plan(a) => (a, false),
        PostgresAction::Apply(a) => (a, true),
    };
    let super::SpecFile {
        path,
        text,
        base_dir,
    } = super::read_spec(&args.config)
        .map_err(|(path, source)| PostgresCommandError::ReadSpec { path, source })?;
    let (spec, desired) = parse(&text, &path, Arc::new(ProcessSecrets { base_dir }))?;

    let p = &desired.prune;
    let wants_prune =
        p.roles || p.memberships || p.databases || p.schemas || p.extensions || p.grants;
    if wants_prune && !args.allow_prune {
        eprintln!(
            "note: the spec sets prune:, but without --allow-prune nothing is dropped or revoked"
        );
    }

    let settings = Settings::resolve(
        spec.connection.as_ref(),
        std::env::var("DATABASE_URL").ok().as_deref(),
        &LibpqEnv::from_process()?,
        Duration::from_secs(args.wait),
        Duration::from_secs(args.idle_timeout),
    )?;
    let conn = Connection::open(settings, &mut |msg| eprintln!("{msg}")).await?;
    if apply && !args.check {
        conn.lock_for_apply(&mut |msg| eprintln!("{msg}")).await?;
    }
    let observed = postgres::read_state(&conn, &desired, args.concurrency).await?;
    let mut salt = || rand::random::<[u8; 16]>();
    let plan = plan(
        &desired,
        &observed,
        PlanOptions {
            allow_prune: args.allow_prune,
            salt: &mut salt,
        },
    )?;

    if !apply || args.check || plan.is_empty() {
        print_plan(&plan, args.json, false);
        return Ok(if args.check && !plan.is_empty() {
            Outcome::ChangesPending
        } else {
            Outcome::Done
        });
    }
    let json = args.json;
    postgres::execute(&conn, &plan, &mut |phase| {
        if !json {
            println!("{}", phase.heading());
            for s in &phase.statements {
                println!("{}", s.display());
            }
        }
    })
    .await?;
    if json {
        print_plan(&plan, true, true);
    } else {
        println!(
            "-- applied {} change{}",
            plan.len(),
            if plan.len() == 1 { "" } else { "s" }
        );
    }
    Ok(Outcome::Done)
}

fn print_plan(plan: &Plan, json: bool, applied: bool) {
    super::print_plan(
        "postgres",
        plan.to_json(),
        &plan.to_string(),
        &plan.warnings,
        json,
        applied,
    );
}
