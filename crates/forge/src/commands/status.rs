//! `forge status`: what is deployed where, and whether the ledger, git and
//! the cluster agree.

use std::io::IsTerminal as _;
use std::time::Duration;

use forge_core::deploy_config::types::Duration as ConfigDuration;
use forge_core::status::drift::short_digest;
use forge_core::status::{ClusterView, Drift, GitView, StatusReport, TargetStatus};
use forge_steps::status::{gather, StatusRequest};

use crate::commands::release::{open_ledger, LedgerFlags};
use crate::flags::ConfigArg;
use crate::global::Global;
use crate::output::print_json;

/// What is deployed where, and whether the ledger, git and the cluster agree.
///
/// For every service × environment: the ledger's last run, the GitOps pin
/// at the branch tip and what the cluster runs, classified as in-sync,
/// git-ahead (Flux has not applied the commit yet), cluster-drift (the
/// running digest differs from git), ledger-stale (git changed outside
/// Forge), failed, or unknown (git or the cluster could not be read).
///
/// Examples:
///   forge status
///   forge status --env prod --json
///   forge status --exit-code     # 0 in sync, 1 drift, 2 unknown
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// Only this environment.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Only this service.
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Only this product's services in its environments (deploy.yaml `products:`).
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub source: StatusSources,
    /// Exit 0 when everything is in sync, 1 on any drift or failure, 2 when
    /// something could not be read (unknown) or on an error.
    #[arg(long)]
    pub exit_code: bool,
}

/// Where status reads from, and how long it waits (shared with `forge serve`).
#[derive(Debug, Clone, clap::Args)]
pub struct StatusSources {
    /// The ledger: an SQLite file or a postgres:// URL [default: deploy.yaml's
    /// `ledger:`, else $XDG_STATE_HOME/forge/ledger.db].
    #[arg(long, value_name = "PATH|URL", env = "FORGE_LEDGER")]
    pub ledger: Option<String>,
    /// Bounds connecting to each cluster and each list call.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = ConfigDuration::parse)]
    pub cluster_timeout: ConfigDuration,
    /// Bounds the GitOps fetch and read.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = ConfigDuration::parse)]
    pub git_timeout: ConfigDuration,
}

impl StatusSources {
    /// The ledger, found as the release commands find it (and created or
    /// brought up to date as they would), then read through read-only
    /// connections only.
    pub async fn open_ledger(&self, config: &ConfigArg) -> anyhow::Result<forge_ledger::Ledger> {
        // The release commands' flags with their defaults: leases and
        // waiting do not matter to a reader.
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            ledger: LedgerFlags,
        }
        let mut flags = <Defaults as clap::Parser>::try_parse_from(["forge"])?.ledger;
        flags.ledger = self.ledger.clone();
        let writable = open_ledger(&flags, config).await?;
        let location = writable.location().clone();
        writable.close().await;
        Ok(forge_ledger::Ledger::open_read_only(&location).await?)
    }

    pub fn request(
        &self,
        config: &ConfigArg,
        env: Option<String>,
        service: Option<String>,
    ) -> anyhow::Result<StatusRequest> {
        Ok(StatusRequest {
            config: config.load()?,
            file: config.config.clone(),
            environment: env,
            service,
            product: None,
            cluster_timeout: Duration::from_secs(self.cluster_timeout.seconds().max(1)),
            git_timeout: Duration::from_secs(self.git_timeout.seconds().max(1)),
        })
    }
}

pub async fn run(args: StatusArgs, global: Global) -> anyhow::Result<u8> {
    let mut request = args
        .source
        .request(&args.config, args.env.clone(), args.service.clone())?;
    request.product = args.product.clone();
    let ledger = args.source.open_ledger(&args.config).await?;
    let report = gather(&request, &ledger).await;
    ledger.close().await;
    let report = report?;
    if global.json {
        print_json(&report);
    } else {
        print!("{}", table(&report, colour()));
    }
    Ok(if args.exit_code {
        exit_code(report.worst())
    } else {
        0
    })
}

/// `--exit-code`: 0 in sync, 1 drift or failure, 2 not known.
pub fn exit_code(worst: Drift) -> u8 {
    match worst {
        Drift::InSync => 0,
        Drift::Unknown => 2,
        _ => 1,
    }
}

/// Colour on a terminal only, and never with `NO_COLOR` set.
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The report for people: one row per target, its explanation under it.
pub fn table(report: &StatusReport, colour: bool) -> String {
    let header = ["SERVICE", "ENV", "DRIFT", "GIT", "LEDGER", "CLUSTER"];
    let rows: Vec<[String; 6]> = report
        .targets
        .iter()
        .map(|t| {
            [
                t.service.clone(),
                t.environment.clone(),
                t.drift.to_string(),
                git_cell(t),
                ledger_cell(t, report.generated_at),
                cluster_cell(t),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 6], drift: Option<Drift>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            match (i, drift) {
                (2, Some(d)) if colour => out.push_str(&format!("{}{cell}\x1b[0m{pad}", ansi(d))),
                _ => out.push_str(&format!("{cell}{pad}")),
            }
            out.push_str(if i + 1 < cells.len() { "  " } else { "" });
        }
        format!("{}\n", out.trim_end())
    };
    let mut out = line(&header.map(str::to_owned), None);
    for (row, t) in rows.iter().zip(&report.targets) {
        out.push_str(&line(row, Some(t.drift)));
        out.push_str(&format!("  {}\n", t.explanation));
    }
    // NixOS hosts: the pin at the tip against the agent's latest report.
    for h in &report.hosts {
        let pin = h
            .pin
            .as_ref()
            .map_or("-".to_owned(), |p| short_path(&p.store_path));
        let agent = h.agent.as_ref().map_or("no report".to_owned(), |a| {
            format!("{} {}", a.outcome.replace('_', " "), short_path(&a.system))
        });
        let drift = if colour {
            format!("{}{}\x1b[0m", ansi(h.drift), h.drift)
        } else {
            h.drift.to_string()
        };
        out.push_str(&format!(
            "host {}  {}  {drift}  pin {pin}  agent {agent}\n  {}\n",
            h.host, h.environment, h.explanation
        ));
    }
    let counts: Vec<String> = report
        .summary
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(d, n)| format!("{n} {d}"))
        .collect();
    out.push_str(&format!(
        "{} target(s): {} ({} ms)\n",
        report.targets.len(),
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        },
        report.took_ms
    ));
    out
}

fn ansi(d: Drift) -> &'static str {
    match d {
        Drift::InSync => "\x1b[32m",
        Drift::GitAhead | Drift::LedgerStale => "\x1b[33m",
        Drift::ClusterDrift | Drift::Failed => "\x1b[31m",
        Drift::Unknown => "\x1b[35m",
    }
}

fn git_cell(t: &TargetStatus) -> String {
    match &t.git {
        GitView::Unreadable { .. } => "?".to_owned(),
        GitView::Read {
            pin, pin_commit, ..
        } => {
            let what = pin
                .as_ref()
                .map(|p| match (&p.digest, &p.tag) {
                    (Some(d), _) => short_digest(d).to_owned(),
                    (None, Some(tag)) => format!(":{tag}"),
                    (None, None) => "-".to_owned(),
                })
                .unwrap_or_else(|| "no pin".to_owned());
            match pin_commit {
                Some(c) => format!("{what} {} {}", short(&c.id), c.author),
                None => what,
            }
        }
    }
}

fn ledger_cell(t: &TargetStatus, now: i64) -> String {
    match (&t.ledger.last_run, &t.ledger.deployed) {
        (None, _) => "-".to_owned(),
        (Some(run), _) if run.state != forge_core::release::RunState::Succeeded => format!(
            "{} {} {}",
            run.state.as_str(),
            run.actor,
            ago(now, run.updated_at)
        ),
        (Some(_), Some(d)) => format!("{} {} {}", short_digest(&d.digest), d.actor, ago(now, d.at)),
        (Some(run), None) => format!("{} {}", run.state.as_str(), run.actor),
    }
}

fn cluster_cell(t: &TargetStatus) -> String {
    match &t.cluster {
        ClusterView::Disabled => "no cluster".to_owned(),
        ClusterView::Unreachable { .. } => "unreachable".to_owned(),
        ClusterView::Observed { workload: None, .. } => "no workload".to_owned(),
        ClusterView::Observed {
            workload: Some(w), ..
        } => {
            let digests: Vec<&str> = w
                .running
                .iter()
                .map(|r| r.digest.as_deref().map_or("?", short_digest))
                .collect();
            let mut digests = digests;
            digests.dedup();
            let running = if digests.is_empty() {
                "no pods".to_owned()
            } else {
                digests.join(",")
            };
            format!(
                "{running} {}/{} {}",
                w.ready_replicas,
                w.desired_replicas,
                w.verdict.name()
            )
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}

/// `now - then` for people: `42s ago`, `5m ago`, `3h ago`, `2d ago`.
fn ago(now: i64, then: i64) -> String {
    let s = (now - then).max(0) / 1000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// `/nix/store/abcdefgh…-name` as `abcdefgh-name` (hash cut to 8).
fn short_path(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    match base.split_once('-') {
        Some((hash, name)) => format!("{}-{name}", &hash[..hash.len().min(8)]),
        None => base.to_owned(),
    }
}
