//! `forge serve`: the read-only API, metrics and dashboard (forge-serve).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use forge_core::deploy_config::types::Duration as ConfigDuration;
use forge_core::secret::Secret;
use forge_serve::webhooks::Webhooks;
use forge_serve::{serve, ServeOptions, DEFAULT_LISTEN};

use crate::commands::status::StatusSources;
use crate::flags::{ConfigArg, NetworkFlags};
use crate::global::Global;

/// A read-only HTTP API, metrics and a dashboard over the ledger and status.
///
/// Serves /healthz, /readyz, /api/v1/status, /api/v1/releases[/ID],
/// /api/v1/runs/ID, /api/v1/audit, /metrics (Prometheus) and a dashboard
/// at /, from a status snapshot gathered again every --refresh (requests
/// never wait on a cluster). Loopback only unless given --token-file.
///
/// Examples:
///   forge serve
///   forge serve --listen 0.0.0.0:8475 --token-file /run/secrets/token
///   forge serve --webhook https://hooks.slack.com/services/…
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs --token-file.
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// A file holding the bearer token every request but /healthz must send.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How often the status snapshot is gathered again.
    #[arg(long, value_name = "DUR", default_value = "15s", value_parser = ConfigDuration::parse)]
    pub refresh: ConfigDuration,
    /// POST each release event (run started, ended, cancelled; a step
    /// failed; a release recorded) as JSON with a Slack-compatible `text`
    /// to URL; repeatable.
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    #[command(flatten)]
    pub network: NetworkFlags,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub source: StatusSources,
}

pub async fn run(args: ServeArgs, _global: Global) -> anyhow::Result<u8> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let status = args.source.request(&args.config, None, None)?;
    let ledger = args.source.open_ledger(&args.config).await?;
    let options = ServeOptions {
        listen: args.listen,
        token,
        refresh_interval: Duration::from_secs(args.refresh.seconds().max(1)),
        status,
        webhooks: Some(Webhooks {
            urls: args.webhooks.iter().map(Secret::new).collect(),
            network: args.network.network(),
        }),
    };
    // Ctrl-C, or SIGTERM from systemd: finish the requests in flight, stop.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    let served = serve(options, ledger.clone(), shutdown).await;
    ledger.close().await;
    served?;
    Ok(0)
}

fn read_token(path: &std::path::Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--token-file: reading {}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "--token-file: {} is empty",
        path.display()
    );
    Ok(Secret::new(token))
}
