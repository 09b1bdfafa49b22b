//! Fast, fixture-driven tests of pure domain code: no network, no services.
//! Each module reads its fixtures from `tests/fixtures/<area>/` and
//! snapshots the result with insta (`INSTA_UPDATE=always` to re-record, then
//! review the `.snap` diffs).

mod kustomize_edit;
mod rollout_verdict;

use std::path::PathBuf;

pub fn fixtures(area: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(area)
}

/// Sorted directory entries, so test output is stable.
pub fn sorted_entries(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}
