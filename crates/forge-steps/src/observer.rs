//! The one way steps report progress. Steps emit [`Event`]s and never draw
//! anything; the CLI renders them (a terminal bar, plain log lines, JSON).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use forge_adapters::cache::{ByteProgress, CacheError, UploadOutcome};
use forge_core::deploy_report::StepLine;
use forge_core::nix::path_info::PathInfo;
use forge_core::nix::push_plan::PushPlan;
use forge_core::release::{StepKey, StepState};

/// Something a running step wants its watcher to know.
#[derive(Debug)]
pub enum Event<'a> {
    /// A phase begins: "building .#app", "compressing layers".
    Started(&'a str),
    /// The running phase's latest detail (a Nix log line).
    Detail(&'a str),
    /// The running phase sends bytes; `sent` grows as they go.
    Sending { sent: &'a Arc<AtomicU64> },
    /// The running phase ended (successfully or not: the result says which).
    Finished,
    /// A closure push knows what it will upload; `bytes` counts NAR bytes as they stream.
    PushPlanned {
        plan: &'a PushPlan,
        bytes: &'a ByteProgress,
    },
    /// A closure push finished another path.
    PushAdvanced { paths_done: usize, bytes_done: u64 },
    /// One path of a closure push ended.
    PathPushed {
        info: &'a PathInfo,
        result: &'a Result<UploadOutcome, CacheError>,
    },
    /// A release run's step changed state (`detail`: the error of a failed
    /// step, why a step was skipped). Steps of one run may run in parallel,
    /// so these interleave with the running steps' own phase events.
    Step {
        key: &'a StepKey,
        state: StepState,
        detail: Option<&'a str>,
    },
    /// The running phase finished `done` of `total` countable things
    /// (`what`: "layers").
    Counted {
        what: &'static str,
        done: usize,
        total: usize,
    },
    /// A deploy or rollback recorded a step's line in its report (the
    /// build's paths, the commit pushed, why the rollout failed).
    Recorded(&'a StepLine),
}

/// Watches steps as they run.
pub trait Observer: Send + Sync {
    fn event(&self, event: Event<'_>);
}

/// For callers that show nothing.
pub struct NoObserver;

impl Observer for NoObserver {
    fn event(&self, _: Event<'_>) {}
}

/// Runs `work` as one phase named `name`: `Started` before, `Finished` after.
pub async fn phase<T>(
    observer: &dyn Observer,
    name: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    observer.event(Event::Started(name));
    let out = work.await;
    observer.event(Event::Finished);
    out
}
