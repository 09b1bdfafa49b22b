//! `forge deploy` and `forge rollback` recorded as one-service runs, so the
//! ledger's history is complete whichever command shipped: the run holds the
//! service × environment's lease for the command's whole length (a release
//! run and a deploy never write the same pair at once), and its one step
//! keeps the command's report as outputs or its error verbatim.

use std::path::Path;
use std::time::Duration;

use forge_core::release::{ReleasePlan, RunId, RunState, StepKey, StepKind};
use forge_ledger::Ledger;

use super::recorder::RunRecorder;
use super::spec::RunSpec;

pub struct OneServiceRun<'a> {
    recorder: RunRecorder<'a>,
    key: StepKey,
}

impl<'a> OneServiceRun<'a> {
    /// Records the run of `kind` (deploy or rollback) and its step's intent,
    /// taking the lease (refused at once, naming the holder, unless `wait`).
    pub async fn begin(
        ledger: &'a Ledger,
        kind: StepKind,
        config: &Path,
        service: &str,
        environment: &str,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let spec = RunSpec {
            command: kind.action().to_owned(),
            config: config.to_owned(),
            services: vec![service.to_owned()],
            environment: environment.to_owned(),
            allow_add: false,
            product: None,
            pin_release: None,
        };
        let plan = ReleasePlan::single(environment, service, kind);
        let recorder = RunRecorder::create(ledger, &spec, &plan, ttl, wait).await?;
        let key = plan.steps[0].key.clone();
        recorder.start(&key).await?;
        Ok(Self { recorder, key })
    }

    pub fn run(&self) -> &RunId {
        self.recorder.run()
    }

    /// Records the outcome: `outputs` (the command's report) when it
    /// succeeded, else `error` kept verbatim.
    pub async fn finish(
        self,
        outputs: serde_json::Value,
        error: Option<&str>,
    ) -> anyhow::Result<RunId> {
        let state = match error {
            None => {
                self.recorder.succeed(&self.key, outputs).await?;
                RunState::Succeeded
            }
            Some(e) => {
                self.recorder.fail(&self.key, e).await?;
                RunState::Failed
            }
        };
        self.recorder.finish(state, None).await?;
        Ok(self.recorder.run().clone())
    }
}
