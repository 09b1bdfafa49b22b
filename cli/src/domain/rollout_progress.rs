//! Pure rules: a workload plus its new pods, one verdict (filled in by the rollout work).
