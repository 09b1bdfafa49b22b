//! Crash points for tests: `FORGE_CRASH_AT=<step-key>:before|after` makes a
//! debug build abort at that boundary of that step (after the intent is
//! recorded and before the effect, or after the effect and before the
//! outcome is recorded), as a kill -9 would. Release builds ignore it.

use forge_core::release::StepKey;

/// Where in a step the process may be made to die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    Before,
    After,
}

pub fn crash_point(key: &StepKey, at: Boundary) {
    if !cfg!(debug_assertions) {
        return;
    }
    let Ok(wanted) = std::env::var("FORGE_CRASH_AT") else {
        return;
    };
    let at = match at {
        Boundary::Before => "before",
        Boundary::After => "after",
    };
    if wanted == format!("{key}:{at}") {
        eprintln!("FORGE_CRASH_AT: aborting at {key}:{at}");
        std::process::abort();
    }
}
