//! Workloads, their ReplicaSets and pods, logs and events (filled in by the rollout work).
