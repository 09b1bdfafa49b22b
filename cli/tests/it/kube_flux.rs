//! forge flux against the Kubernetes + Flux test environment.
