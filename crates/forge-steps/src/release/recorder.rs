//! The run as the ledger keeps it: the leases this run holds (one per
//! service × environment, renewed in the background), each step's intent and
//! outcome, the release, and the audit trail of all of it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::sync::Mutex;

use forge_core::release::{
    Release, ReleaseId, ReleasePlan, RunId, RunState, StepKey, StepState, Transition,
};
use forge_ledger::{actor_from_env, lease_owner, Lease, Ledger, NewRun};

use super::spec::{RunSpec, StepSummary};

/// How long a lease lasts without a heartbeat by default; a holder that died
/// loses it after this and `forge release resume` may take over.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

pub struct RunRecorder<'a> {
    ledger: &'a Ledger,
    run: RunId,
    actor: String,
    /// Scope (`service/environment`) → the lease this run holds on it.
    leases: Arc<Mutex<BTreeMap<String, Lease>>>,
    heartbeat: tokio::task::JoinHandle<()>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `service/environment` of every target the plan writes, and
/// `product/environment` of a product's gates (one run per product and
/// environment at a time).
fn scopes(plan: &ReleasePlan) -> Vec<String> {
    let mut scopes: Vec<String> = plan
        .steps
        .iter()
        .map(|s| format!("{}/{}", s.key.service(), s.key.environment()))
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

impl<'a> RunRecorder<'a> {
    /// Records a new run of `spec` and takes its leases (failing at once,
    /// naming the holder, when another run holds one; or waiting up to `wait`).
    pub async fn create(
        ledger: &'a Ledger,
        spec: &RunSpec,
        plan: &ReleasePlan,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let run = RunId::new(now_ms() as u64, rand_u32());
        let actor = actor_from_env();
        let leases = Self::take_leases(ledger, &run, plan, ttl, wait).await?;
        ledger
            .create_run(NewRun {
                id: run.clone(),
                release: None,
                command: serde_json::to_string(spec)?,
                environment: spec.environment.clone(),
                services: spec.services.clone(),
                actor: actor.clone(),
            })
            .await?;
        ledger
            .append_audit(
                &actor,
                "run.started",
                run.as_str(),
                serde_json::Value::Null,
                serde_json::to_value(spec)?,
                now_ms(),
            )
            .await?;
        Ok(Self::with(ledger, run, actor, leases, ttl))
    }

    /// Picks up `run` (its leases taken over once expired); returns its spec.
    pub async fn resume(
        ledger: &'a Ledger,
        run: &RunId,
        ttl: Duration,
    ) -> anyhow::Result<(Self, RunSpec)> {
        let record = ledger
            .run(run)
            .await?
            .with_context(|| format!("no run {run} in the ledger"))?;
        let spec: RunSpec = serde_json::from_str(&record.command)
            .with_context(|| format!("run {run} was not started by a release command"))?;
        if matches!(spec.command.as_str(), "deploy" | "rollback") {
            anyhow::bail!(
                "run {run} is a `forge {}`: run that command again rather than resuming it (it converges: what already happened is not done twice)",
                spec.command
            );
        }
        if !matches!(
            record.state,
            RunState::Running | RunState::Failed | RunState::Waiting
        ) {
            anyhow::bail!("run {run} is {}: nothing to resume", record.state.as_str());
        }
        let (_, plan) = super::spec::plan_of(&spec)?;
        let leases = Self::take_leases(ledger, run, &plan, ttl, None).await?;
        let actor = actor_from_env();
        ledger
            .append_audit(
                &actor,
                "run.resumed",
                run.as_str(),
                serde_json::Value::Null,
                serde_json::Value::Null,
                now_ms(),
            )
            .await?;
        Ok((Self::with(ledger, run.clone(), actor, leases, ttl), spec))
    }

    /// Cancels `run`: takes its leases (which fences a runner still at work
    /// on it: its next write is refused), records it `cancelled`, and gives
    /// the leases back. A run held by a live runner of another run is refused.
    pub async fn cancel(ledger: &Ledger, run: &RunId) -> anyhow::Result<()> {
        let record = ledger
            .run(run)
            .await?
            .with_context(|| format!("no run {run} in the ledger"))?;
        if record.state != RunState::Running && record.state != RunState::Failed {
            anyhow::bail!("run {run} is {}: nothing to cancel", record.state.as_str());
        }
        let spec: RunSpec = serde_json::from_str(&record.command)
            .with_context(|| format!("run {run} was not started by a release command"))?;
        let (_, plan) = super::spec::plan_of(&spec)?;
        let leases = Self::take_leases(ledger, run, &plan, DEFAULT_LEASE_TTL, None).await?;
        let fence = leases
            .values()
            .next()
            .context("a run holds at least one lease")?;
        ledger
            .set_run_state(run, RunState::Cancelled, fence)
            .await?;
        ledger
            .append_audit(
                &actor_from_env(),
                "run.cancelled",
                run.as_str(),
                serde_json::json!({ "state": record.state }),
                serde_json::json!({ "state": RunState::Cancelled }),
                now_ms(),
            )
            .await?;
        for lease in leases.values() {
            ledger.release_lease(lease).await?;
        }
        Ok(())
    }

    /// Takes the lease on every service × environment of the plan, or none:
    /// when one is held by another run, those taken are given back and the
    /// holder is named, or, with `wait`, it is asked again every second
    /// until `wait` has passed.
    async fn take_leases(
        ledger: &Ledger,
        run: &RunId,
        plan: &ReleasePlan,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> anyhow::Result<BTreeMap<String, Lease>> {
        let owner = lease_owner();
        let deadline = wait.map(|w| std::time::Instant::now() + w);
        'again: loop {
            let mut leases = BTreeMap::new();
            for scope in scopes(plan) {
                match ledger
                    .acquire_lease(&scope, run, &owner, ttl, now_ms())
                    .await
                {
                    Ok(lease) => {
                        leases.insert(scope, lease);
                    }
                    Err(e) => {
                        for lease in leases.values() {
                            let _ = ledger.release_lease(lease).await;
                        }
                        let held = matches!(e, forge_ledger::LedgerError::Held { .. });
                        if held && deadline.is_some_and(|d| std::time::Instant::now() < d) {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue 'again;
                        }
                        let waited = if held && wait.is_some() {
                            " (waited the --wait time)"
                        } else {
                            ""
                        };
                        return Err(anyhow::Error::new(e)
                            .context(format!("taking {scope} for run {run}{waited}")));
                    }
                }
            }
            return Ok(leases);
        }
    }

    fn with(
        ledger: &'a Ledger,
        run: RunId,
        actor: String,
        leases: BTreeMap<String, Lease>,
        ttl: Duration,
    ) -> Self {
        let leases = Arc::new(Mutex::new(leases));
        // Renewals need a ledger handle of their own: the task outlives borrows.
        let (shared, beat) = (leases.clone(), ledger.clone());
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let mut held = shared.lock().await;
                for lease in held.values_mut() {
                    match beat.renew_lease(lease, ttl, now_ms()).await {
                        Ok(renewed) => *lease = renewed,
                        Err(e) => tracing::warn!("renewing the lease on {}: {e}", lease.scope),
                    }
                }
            }
        });
        Self {
            ledger,
            run,
            actor,
            leases,
            heartbeat,
        }
    }

    pub fn ledger(&self) -> &'a Ledger {
        self.ledger
    }

    pub fn run(&self) -> &RunId {
        &self.run
    }

    async fn fence(&self, key: &StepKey) -> anyhow::Result<Lease> {
        let scope = format!("{}/{}", key.service(), key.environment());
        self.leases
            .lock()
            .await
            .get(&scope)
            .cloned()
            .with_context(|| format!("run {} holds no lease on {scope}", self.run))
    }

    /// The step's state and outputs (`pending` when it never started).
    pub async fn state(
        &self,
        key: &StepKey,
    ) -> anyhow::Result<(StepState, Option<serde_json::Value>)> {
        let steps = self.ledger.steps(&self.run).await?;
        Ok(steps
            .into_iter()
            .find(|s| &s.key == key)
            .map_or((StepState::Pending, None), |s| (s.state, s.outputs)))
    }

    async fn transition(
        &self,
        key: &StepKey,
        t: Transition,
        outputs: Option<serde_json::Value>,
        error: Option<&str>,
        action: &str,
    ) -> anyhow::Result<()> {
        let fence = self.fence(key).await?;
        self.ledger
            .transition_step(
                &self.run,
                key,
                t,
                outputs.clone(),
                error.map(str::to_owned),
                &fence,
            )
            .await?;
        let after = serde_json::json!({ "outputs": outputs, "error": error });
        self.ledger
            .append_audit(
                &self.actor,
                action,
                &format!("{}/{key}", self.run),
                serde_json::Value::Null,
                after,
                now_ms(),
            )
            .await?;
        Ok(())
    }

    /// Intent: recorded before the side effect.
    pub async fn start(&self, key: &StepKey) -> anyhow::Result<()> {
        self.transition(key, Transition::Start, None, None, "step.running")
            .await
    }

    pub async fn succeed(&self, key: &StepKey, outputs: serde_json::Value) -> anyhow::Result<()> {
        self.transition(
            key,
            Transition::Succeed,
            Some(outputs),
            None,
            "step.succeeded",
        )
        .await
    }

    pub async fn fail(&self, key: &StepKey, error: &str) -> anyhow::Result<()> {
        self.transition(key, Transition::Fail, None, Some(error), "step.failed")
            .await
    }

    pub async fn skip(&self, key: &StepKey, why: &str) -> anyhow::Result<()> {
        self.transition(key, Transition::Skip, None, Some(why), "step.skipped")
            .await
    }

    /// Records that the run ships the already recorded `release` (a rollback's).
    pub async fn set_release(&self, release: &ReleaseId) -> anyhow::Result<()> {
        let fence = self.any_fence().await?;
        self.ledger
            .set_run_release(&self.run, release, &fence)
            .await?;
        Ok(())
    }

    /// Records `release` (the same content always has the same id).
    pub async fn record_release(&self, release: &Release) -> anyhow::Result<ReleaseId> {
        let id = self.ledger.put_release(release).await?;
        let fence = self.any_fence().await?;
        self.ledger.set_run_release(&self.run, &id, &fence).await?;
        self.ledger
            .append_audit(
                &self.actor,
                "release.recorded",
                id.as_str(),
                serde_json::Value::Null,
                serde_json::to_value(release)?,
                now_ms(),
            )
            .await?;
        Ok(id)
    }

    async fn any_fence(&self) -> anyhow::Result<Lease> {
        self.leases
            .lock()
            .await
            .values()
            .next()
            .cloned()
            .context("a run holds at least one lease")
    }

    /// Records how the run ended and gives its leases back.
    pub async fn finish(&self, state: RunState, release: Option<&ReleaseId>) -> anyhow::Result<()> {
        let fence = self.any_fence().await?;
        self.ledger.set_run_state(&self.run, state, &fence).await?;
        let after = serde_json::json!({ "state": state, "release": release });
        self.ledger
            .append_audit(
                &self.actor,
                &format!("run.{}", state.as_str()),
                self.run.as_str(),
                serde_json::Value::Null,
                after,
                now_ms(),
            )
            .await?;
        self.heartbeat.abort();
        for lease in self.leases.lock().await.values() {
            self.ledger.release_lease(lease).await?;
        }
        Ok(())
    }

    pub async fn summaries(&self) -> anyhow::Result<Vec<StepSummary>> {
        Ok(self
            .ledger
            .steps(&self.run)
            .await?
            .into_iter()
            .map(|s| StepSummary {
                seconds: s.seconds(),
                key: s.key,
                state: s.state,
                attempts: s.attempts,
                outputs: s.outputs,
                error: s.error,
            })
            .collect())
    }
}

impl Drop for RunRecorder<'_> {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher as _, Hasher as _};
    // A random seed per process is enough: run ids also carry the time.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::Instant::now().elapsed().as_nanos() ^ std::process::id() as u128);
    h.finish() as u32
}
