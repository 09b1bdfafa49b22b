//! Pure rules: has Flux applied our commit yet (filled in by the Flux work).
