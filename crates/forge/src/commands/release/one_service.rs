//! `forge deploy` and `forge rollback` recorded as one-service runs.

use crate::flags::ConfigArg;
use forge_ledger::Ledger;
use forge_steps::release::absolute;

use super::LedgerFlags;

/// A `forge deploy` / `forge rollback` as a one-service run: begun (taking
/// the lease) before the command does anything, unless it is a dry run.
pub(crate) async fn begin_one_service<'a>(
    ledger: Option<&'a Ledger>,
    kind: forge_core::release::StepKind,
    flags: &LedgerFlags,
    config: &ConfigArg,
    service: &str,
    env: &str,
) -> anyhow::Result<Option<forge_steps::release::OneServiceRun<'a>>> {
    let Some(ledger) = ledger else {
        return Ok(None);
    };
    let run = forge_steps::release::OneServiceRun::begin(
        ledger,
        kind,
        &absolute(&config.config)?,
        service,
        env,
        std::time::Duration::from_secs(flags.lease_ttl.seconds()),
        flags
            .wait
            .map(|w| std::time::Duration::from_secs(w.seconds())),
    )
    .await?;
    Ok(Some(run))
}

/// Records how the command ended: the report as the step's outputs, or the
/// failure verbatim.
pub(crate) async fn finish_one_service(
    run: Option<forge_steps::release::OneServiceRun<'_>>,
    report: &forge_core::deploy_report::DeployReport,
    result: &anyhow::Result<()>,
) -> anyhow::Result<()> {
    use forge_core::deploy_report::Outcome;
    let Some(run) = run else {
        return Ok(());
    };
    let error = match (result, &report.outcome) {
        (Err(e), _) => Some(format!("{e:#}")),
        (Ok(()), Outcome::Failed { reason }) => Some(reason.clone()),
        (Ok(()), Outcome::RolledBack { reason, to }) => {
            Some(format!("{reason}; rolled back to {to}"))
        }
        (Ok(()), _) => None,
    };
    run.finish(serde_json::to_value(report)?, error.as_deref())
        .await?;
    Ok(())
}
