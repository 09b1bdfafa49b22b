//! `forge health`: the rollout verdict for objects read from files.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};

use crate::exit::{usage, Located, Location};
use crate::global::Global;
use crate::output::print_document;
use forge_core::exit_status::ExitStatus;
use forge_core::kube::pod_failure::{PodRules, DEFAULT_CRASHLOOP_RESTARTS};
use forge_core::kube::rollout_verdict::{objects_from_bytes, verdict, ObjectId, Verdict};
use forge_core::yaml_limits::YamlLimits;

/// Print the rollout verdict (Current, InProgress or Failed, with the reason) of objects in manifest files.
///
/// The files hold objects with their status, e.g. `kubectl get deploy app -o yaml`
/// (several documents and `kind: List` are fine). The rules are the rollout
/// verdict's: kubectl's for Deployments, StatefulSets and DaemonSets (status of the current generation only), container states for
/// Pods (CrashLoopBackOff after --crashloop-restarts restarts, image pull
/// errors, config errors, OOMKilled fail; eviction and Pending do not),
/// Ready/Stalled/Reconciling conditions for everything else.
///
/// Every object needs apiVersion, kind and metadata.name. A file with no
/// objects is invalid input unless --allow-empty: an empty file is what a
/// failed `kubectl get` leaves behind.
///
/// Exit status: 0 all Current, 1 any Failed, 3 any InProgress (and none
/// Failed), 2 unreadable or invalid input.
///
/// Examples:
///   kubectl get deploy,pods -n prod -o yaml > now.yaml && forge health --file now.yaml
///   forge health --json --file deploy.yaml --file pod.yaml
///   forge health --allow-empty --file <(kubectl get jobs -l app=web -o yaml)
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct HealthArgs {
    /// Manifest with status (YAML or JSON; repeatable).
    #[arg(long = "file", short = 'f', value_name = "MANIFEST", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Restarts after which a CrashLoopBackOff container counts as failed.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CRASHLOOP_RESTARTS)]
    pub crashloop_restarts: u64,
    /// Accept a file with no objects (an empty file or an empty List).
    #[arg(long)]
    pub allow_empty: bool,
}

/// One object's verdict in `--json` output.
#[derive(Debug, serde::Serialize)]
pub struct ObjectVerdict {
    pub file: PathBuf,
    #[serde(flatten)]
    pub object: ObjectId,
    #[serde(flatten)]
    pub verdict: Verdict,
}

pub const EXIT_FAILED: u8 = ExitStatus::Failed.code();
pub const EXIT_BAD_INPUT: u8 = ExitStatus::Usage.code();
pub const EXIT_IN_PROGRESS: u8 = ExitStatus::InProgress.code();

/// Returns the exit status documented above (bad input is a usage error: 2).
pub async fn run(args: HealthArgs, global: Global) -> anyhow::Result<u8> {
    let verdicts = evaluate(&args).map_err(usage)?;
    if global.json {
        print_document("health", &serde_json::json!({ "objects": verdicts }));
    } else {
        for v in &verdicts {
            println!("{}: {}", v.object, v.verdict);
        }
    }
    Ok(exit_code(verdicts.iter().map(|v| &v.verdict)))
}

fn evaluate(args: &HealthArgs) -> anyhow::Result<Vec<ObjectVerdict>> {
    let rules = PodRules {
        crashloop_restarts: args.crashloop_restarts,
    };
    let mut out = Vec::new();
    for file in &args.files {
        let bytes = read_manifest(file).with_context(|| format!("reading {}", file.display()))?;
        let objects = objects_from_bytes(&bytes).map_err(|e| match e.location {
            Some((line, column)) => anyhow::Error::new(Located {
                at: Location {
                    file: file.display().to_string(),
                    line,
                    column,
                },
                message: e.message,
            }),
            None => anyhow!("{}: {e}", file.display()),
        })?;
        if objects.is_empty() {
            if !args.allow_empty {
                return Err(anyhow!(
                    "{}: no Kubernetes objects (did the command that wrote it fail?); --allow-empty accepts that",
                    file.display()
                ));
            }
            tracing::warn!("{}: no objects", file.display());
        }
        out.extend(objects.iter().map(|obj| ObjectVerdict {
            file: file.clone(),
            object: ObjectId::of(obj),
            verdict: verdict(obj, &rules),
        }));
    }
    Ok(out)
}

/// The file's bytes, up to one past the manifest size limit: enough for the
/// limit's error, without reading all of `/dev/zero` or a runaway pipe.
fn read_manifest(file: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)?
        .take(YamlLimits::MANIFEST.max_bytes as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// 0 all Current, 1 any Failed, 3 any InProgress.
pub fn exit_code<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> u8 {
    let mut code = 0;
    for v in verdicts {
        match v {
            Verdict::Failed { .. } => return EXIT_FAILED,
            Verdict::InProgress { .. } => code = EXIT_IN_PROGRESS,
            Verdict::Current => {}
        }
    }
    code
}
