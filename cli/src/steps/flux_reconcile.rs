//! Ask Flux to reconcile and wait for our commit (filled in by the Flux work).
