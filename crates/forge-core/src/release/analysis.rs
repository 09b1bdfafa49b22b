//! Verification: when repeated check attempts have said enough.

/// What the attempts so far decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalysisVerdict {
    /// Another attempt is needed.
    Continue,
    Passed,
    Failed,
}

/// `count` passing attempts pass a check; more than `failure_limit` failed
/// ones fail it (failures are checked first: a check that has failed too
/// often does not pass by passing later).
pub fn analyse(passed: u32, failed: u32, count: u32, failure_limit: u32) -> AnalysisVerdict {
    if failed > failure_limit {
        AnalysisVerdict::Failed
    } else if passed >= count.max(1) {
        AnalysisVerdict::Passed
    } else {
        AnalysisVerdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnalysisVerdict::*;

    #[test]
    fn passes_after_count_and_fails_past_the_limit() {
        assert_eq!(analyse(0, 0, 3, 1), Continue);
        assert_eq!(analyse(2, 1, 3, 1), Continue);
        assert_eq!(analyse(3, 1, 3, 1), Passed);
        assert_eq!(analyse(1, 2, 3, 1), Failed);
        assert_eq!(analyse(0, 1, 1, 0), Failed);
        assert_eq!(analyse(1, 0, 0, 0), Passed, "count 0 means 1");
    }
}
