//! `forge flux-reconcile`: ask Flux to apply a commit now and wait for it.

use std::time::Duration;

use anyhow::{anyhow, bail};

use crate::exit::usage;
use crate::flags::ConfigArg;
use crate::global::Global;
use crate::output::{print_document, ProgressView};
use forge_adapters::kube::connect;
use forge_core::deploy_config::resolved::{DeployConfig, ObjectRef, Target};
use forge_core::deploy_config::types::Duration as ConfigDuration;
use forge_steps::flux_reconcile::{reconcile_flux, FluxReport, FluxRequest};
use forge_steps::observer::{phase, Event, Observer as _};

/// Ask Flux to reconcile a GitRepository and its Kustomization now and wait until a commit is applied.
///
/// Sets reconcile.fluxcd.io/requestedAt on the GitRepository, waits until it
/// fetched the commit for that request, then does the same on the
/// Kustomization and waits until it applied the commit and is Ready at its
/// current generation. Fails as soon as Flux reports a failure for the
/// request (e.g. BuildFailed, HealthCheckFailed, a fetch error, Stalled) and
/// prints Flux's message. Suspended objects are an error (nothing is touched).
///
/// The objects come from deploy.yaml with --env (the environment's Flux
/// source and kustomization, kube context and reconcile timeout; name a
/// SERVICE only when the environment's services use different Flux objects),
/// or are named with --source and --kustomization (timeout 5m by default).
/// Without --commit, whatever the GitRepository fetches now is waited for.
///
/// Exit status: 0 applied, 1 Flux failed, an object is suspended or the
/// cluster is unreachable, 2 bad arguments or configuration (also an object
/// not found), 3 timed out.
///
/// Examples:
///   forge flux-reconcile --env staging --commit 3f1c2ab
///   forge flux-reconcile api --env production --timeout 10m
///   forge flux-reconcile --source flux-system/fleet --kustomization flux-system/apps
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct FluxReconcileArgs {
    /// The service whose Flux objects to use (a key of `services:`).
    #[arg(value_name = "SERVICE", requires = "env")]
    pub service: Option<String>,
    /// The environment (a key of `environments:` in deploy.yaml).
    #[arg(long, value_name = "ENV", required_unless_present = "source", conflicts_with_all = ["source", "kustomization", "context"])]
    pub env: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    /// The GitRepository, instead of deploy.yaml.
    #[arg(long, value_name = "NS/NAME", value_parser = parse_object_ref, requires = "kustomization")]
    pub source: Option<ObjectRef>,
    /// The Kustomization, instead of deploy.yaml.
    #[arg(long, value_name = "NS/NAME", value_parser = parse_object_ref, requires = "source")]
    pub kustomization: Option<ObjectRef>,
    /// The kubeconfig context (with --source; default: the current context).
    #[arg(long, value_name = "CTX", requires = "source")]
    pub context: Option<String>,
    /// The commit to wait for (full SHA, or at least 7 hex digits).
    #[arg(long, value_name = "SHA", value_parser = parse_commit)]
    pub commit: Option<String>,
    /// How long to wait (e.g. 90s, 5m) [default: the environment's reconcile timeout, or 5m].
    #[arg(long, value_name = "DUR", value_parser = ConfigDuration::parse)]
    pub timeout: Option<ConfigDuration>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Returns the exit status documented above (errors are classified by `exit`).
pub async fn run(args: FluxReconcileArgs, global: Global) -> anyhow::Result<u8> {
    reconcile(&args, global).await.map(|()| 0)
}

/// Where to reconcile: the objects, the kube context and the timeout.
struct Plan {
    source: ObjectRef,
    kustomization: ObjectRef,
    context: Option<String>,
    timeout: Duration,
}

async fn reconcile(args: &FluxReconcileArgs, global: Global) -> anyhow::Result<()> {
    let plan = plan(args)?;
    let request = FluxRequest {
        source: plan.source,
        kustomization: plan.kustomization,
        commit: args.commit.clone(),
        accept_descendant: None,
        timeout: plan.timeout,
    };
    let client = connect(plan.context.as_deref()).await?;
    let progress = ProgressView::new();
    let result = phase(
        &progress,
        &format!("reconciling {}", request.kustomization),
        reconcile_flux(&client, &request, &|line: &str| {
            progress.event(Event::Detail(line))
        }),
    )
    .await;
    let report = result?;
    if global.json {
        print_document(
            "flux-reconcile",
            &Applied {
                source: request.source.to_string(),
                kustomization: request.kustomization.to_string(),
                report: &report,
            },
        );
    } else {
        println!(
            "Kustomization {} applied {} in {:.1} s",
            request.kustomization,
            report.revision,
            report.elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// The `--json` result.
#[derive(serde::Serialize)]
struct Applied<'r> {
    source: String,
    kustomization: String,
    #[serde(flatten)]
    report: &'r FluxReport,
}

fn plan(args: &FluxReconcileArgs) -> anyhow::Result<Plan> {
    let timeout = args.timeout.map(|t| Duration::from_secs(t.seconds()));
    if let (Some(source), Some(kustomization)) = (&args.source, &args.kustomization) {
        return Ok(Plan {
            source: source.clone(),
            kustomization: kustomization.clone(),
            context: args.context.clone(),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        });
    }
    let env = args
        .env
        .as_deref()
        .ok_or_else(|| usage(anyhow!("give --env ENV, or --source and --kustomization")))?;
    let config = args.config.load()?;
    let target = target(&config, args.service.as_deref(), env).map_err(usage)?;
    if !target.cluster {
        return Err(usage(anyhow!(
            "environment `{env}` has `cluster: false` in {}: Forge cannot reach its cluster",
            config.file
        )));
    }
    Ok(Plan {
        source: target.flux_source.clone(),
        kustomization: target.flux_kustomization.clone(),
        context: target.kube_context.clone(),
        timeout: timeout.unwrap_or(Duration::from_secs(target.reconcile_timeout.seconds())),
    })
}

/// SERVICE's target in `env`; without SERVICE, the environment's only Flux objects.
fn target<'c>(
    config: &'c DeployConfig,
    service: Option<&str>,
    env: &str,
) -> anyhow::Result<&'c Target> {
    if let Some(service) = service {
        return Ok(config.target(service, env)?);
    }
    config.environment(env)?;
    let targets: Vec<&Target> = config.targets.iter().filter(|t| t.env == env).collect();
    let Some(first) = targets.first() else {
        bail!(
            "no services in {}: nothing to reconcile in `{env}`",
            config.file
        );
    };
    let same = |t: &&Target| {
        t.flux_source == first.flux_source
            && t.flux_kustomization == first.flux_kustomization
            && t.kube_context == first.kube_context
    };
    if !targets.iter().all(same) {
        let listed: Vec<String> = targets
            .iter()
            .map(|t| format!("{} ({})", t.service, t.flux_kustomization))
            .collect();
        bail!(
            "the services of `{env}` use different Flux objects; name one: {}",
            listed.join(", ")
        );
    }
    Ok(first)
}

fn parse_object_ref(text: &str) -> Result<ObjectRef, String> {
    match text.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok(ObjectRef {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
        }
        _ => Err(format!(
            "`{text}` is not NAMESPACE/NAME, e.g. flux-system/flux-system"
        )),
    }
}

fn parse_commit(text: &str) -> Result<String, String> {
    let hex = text.chars().all(|c| c.is_ascii_hexdigit());
    if hex && (7..=64).contains(&text.len()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!("`{text}` is not a commit SHA (7 to 64 hex digits)"))
    }
}
