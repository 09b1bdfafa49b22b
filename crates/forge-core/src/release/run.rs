//! A run: one execution of a plan. Its state follows from its steps'.

use serde::{Deserialize, Serialize};

use super::step::StepState;

/// `run-` and a time-ordered suffix the caller makes (the core has no clock).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// `run-<unix millis, hex>-<random hex>`: sorts by creation time.
    pub fn new(unix_millis: u64, random: u32) -> Self {
        Self(format!("run-{unix_millis:011x}-{random:08x}"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = text.strip_prefix("run-").is_some_and(|rest| {
            let mut parts = rest.split('-');
            let (a, b) = (parts.next(), parts.next());
            parts.next().is_none()
                && [a, b].iter().all(|p| {
                    p.is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_hexdigit()))
                })
        });
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!("`{text}` is not a run id (run-<hex>-<hex>)"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    /// Stopped at a gate (soak, approvals); `forge release resume` or
    /// `approve` continues it.
    Waiting,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Waiting => "waiting",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "running" => RunState::Running,
            "waiting" => RunState::Waiting,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "cancelled" => RunState::Cancelled,
            other => return Err(format!("unknown run state `{other}`")),
        })
    }

    /// The state of a run whose steps are in `steps` (and that nobody cancelled):
    /// failed as soon as one step failed and nothing is left running,
    /// succeeded when every step is done, running otherwise.
    pub fn of(steps: &[StepState]) -> Self {
        let running = steps
            .iter()
            .any(|s| matches!(s, StepState::Running | StepState::Pending));
        if steps.contains(&StepState::Failed) && !running {
            RunState::Failed
        } else if steps.iter().all(|s| s.is_done()) {
            RunState::Succeeded
        } else {
            RunState::Running
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepState::*;

    #[test]
    fn run_ids_sort_by_time_and_parse() {
        let a = RunId::new(1_700_000_000_000, 1);
        let b = RunId::new(1_700_000_000_001, 0);
        assert!(a < b);
        assert_eq!(RunId::parse(a.as_str()).unwrap(), a);
        assert!(RunId::parse("run-xyz").is_err());
    }

    #[test]
    fn a_run_is_what_its_steps_say() {
        assert_eq!(RunState::of(&[Succeeded, Skipped]), RunState::Succeeded);
        assert_eq!(RunState::of(&[Succeeded, Running]), RunState::Running);
        assert_eq!(RunState::of(&[Failed, Skipped]), RunState::Failed);
        assert_eq!(RunState::of(&[Failed, Pending]), RunState::Running);
    }
}
