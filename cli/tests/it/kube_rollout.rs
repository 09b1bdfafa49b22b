//! forge rollout against the Kubernetes + Flux test environment.
