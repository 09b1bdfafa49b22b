//! Flux GitRepository and Kustomization objects: read, watch, annotate (filled in by the Flux work).
