//! forge deploy against the Kubernetes + Flux test environment.
