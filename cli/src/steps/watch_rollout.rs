//! Watch a workload roll out (filled in by the rollout work).
