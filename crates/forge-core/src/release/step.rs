//! Steps: stable keys and the state machine every step follows.
//!
//! `pending → running → succeeded | failed | skipped`; a failed or
//! interrupted (still `running`) step may run again (`running` once more,
//! with one more attempt). The intent (`running`) is recorded before any side
//! effect, the outcome after it, so a crash leaves a step `running`: the
//! runner then asks the step's probe whether its effect happened.

use serde::{Deserialize, Serialize};

/// `service/environment/action`, e.g. `api/staging/migrate`: stable across
/// runs of the same plan, so a resumed run finds its steps again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepKey(String);

impl StepKey {
    pub fn new(service: &str, environment: &str, action: &str) -> Self {
        Self(format!("{service}/{environment}/{action}"))
    }

    /// Parses `service/environment/action` (three non-empty parts).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "`{text}` is not a step key (service/environment/action)"
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn service(&self) -> &str {
        self.0.split('/').next().expect("three parts")
    }

    pub fn environment(&self) -> &str {
        self.0.split('/').nth(1).expect("three parts")
    }

    pub fn action(&self) -> &str {
        self.0.split('/').nth(2).expect("three parts")
    }
}

impl std::fmt::Display for StepKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "pending" => StepState::Pending,
            "running" => StepState::Running,
            "succeeded" => StepState::Succeeded,
            "failed" => StepState::Failed,
            "skipped" => StepState::Skipped,
            other => return Err(format!("unknown step state `{other}`")),
        })
    }

    /// Succeeded or skipped: nothing left to do.
    pub fn is_done(self) -> bool {
        matches!(self, StepState::Succeeded | StepState::Skipped)
    }
}

/// A requested change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Intent: the side effect is about to happen (another attempt).
    Start,
    Succeed,
    Fail,
    /// Not needed (its dependency failed, or the probe found the effect).
    Skip,
}

impl StepState {
    /// The state after `t`, or why `t` is not allowed from here.
    pub fn apply(self, t: Transition) -> Result<StepState, String> {
        use StepState::*;
        use Transition::*;
        match (self, t) {
            // A crashed attempt (still running) or a failed one may run again.
            (Pending | Running | Failed, Start) => Ok(Running),
            (Running, Succeed) => Ok(Succeeded),
            (Running, Fail) => Ok(Failed),
            (Pending | Running | Failed, Skip) => Ok(Skipped),
            (from, t) => Err(format!("a {} step cannot {t:?}", from.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_three_parts() {
        let k = StepKey::new("api", "staging", "migrate");
        assert_eq!(k.as_str(), "api/staging/migrate");
        assert_eq!(
            (k.service(), k.environment(), k.action()),
            ("api", "staging", "migrate")
        );
        assert_eq!(StepKey::parse("api/staging/migrate").unwrap(), k);
        assert!(StepKey::parse("api/staging").is_err());
        assert!(StepKey::parse("api//x").is_err());
    }

    #[test]
    fn the_state_machine_allows_retries_but_not_undoing_an_outcome() {
        use StepState::*;
        use Transition::*;
        assert_eq!(Pending.apply(Start), Ok(Running));
        assert_eq!(Running.apply(Succeed), Ok(Succeeded));
        assert_eq!(Running.apply(Fail), Ok(Failed));
        assert_eq!(
            Failed.apply(Start),
            Ok(Running),
            "a failed step may be retried"
        );
        assert_eq!(
            Running.apply(Start),
            Ok(Running),
            "an interrupted attempt may be retried"
        );
        assert!(Succeeded.apply(Start).is_err());
        assert!(Skipped.apply(Succeed).is_err());
        assert!(
            Pending.apply(Succeed).is_err(),
            "no outcome without an intent"
        );
        for s in [Pending, Running, Succeeded, Failed, Skipped] {
            assert_eq!(StepState::parse(s.as_str()), Ok(s));
        }
    }
}
