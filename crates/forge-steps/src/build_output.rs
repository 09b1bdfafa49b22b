//! Turns command-line arguments into store paths: existing store paths (or
//! symlinks into the store such as `./result`) are taken as they are,
//! everything else is an installable built with one `nix build`.

use std::path::Path;

use forge_adapters::nix::{BuildResult, NixCli, NixError};
use forge_core::nix::store_path::StorePath;

#[derive(Debug, Default)]
pub struct ResolvedRoots {
    pub roots: Vec<StorePath>,
    pub builds: Vec<BuildResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Nix(#[from] NixError),
    #[error("nix build reported output {0:?}, which is not a store path")]
    BadOutput(String),
}

pub async fn resolve_roots(
    nix: &NixCli,
    args: &[String],
    on_log: impl FnMut(&str),
) -> Result<ResolvedRoots, ResolveError> {
    let mut resolved = ResolvedRoots::default();
    let mut installables = Vec::new();
    for arg in args {
        match existing_store_path(&nix.store_dir, arg) {
            Some(p) => resolved.roots.push(p),
            None => installables.push(arg.clone()),
        }
    }
    if !installables.is_empty() {
        resolved.builds = nix.build(&installables, on_log).await?;
        for b in &resolved.builds {
            for out in b.outputs.values() {
                let p = StorePath::parse_in(&nix.store_dir, out)
                    .map_err(|_| ResolveError::BadOutput(out.clone()))?;
                resolved.roots.push(p);
            }
        }
    }
    resolved.roots.sort();
    resolved.roots.dedup();
    Ok(resolved)
}

/// `arg` as a store path when it names one (directly or through symlinks).
pub(crate) fn existing_store_path(store_dir: &str, arg: &str) -> Option<StorePath> {
    if arg.contains('#') || arg.contains(':') {
        return None;
    }
    if arg.starts_with(store_dir) {
        return StorePath::parse_in(store_dir, arg).ok();
    }
    let path = Path::new(arg);
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_symlink() {
        // A plain directory (e.g. `.`) is a flake reference, not a store path.
        return None;
    }
    let target = std::fs::canonicalize(path).ok()?;
    StorePath::parse_in(store_dir, target.to_str()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_paths_and_result_links_are_not_built() {
        let p = "/nix/store/008vgf151ym81bga4dn5rsd63s8dyplk-leaf-14";
        assert_eq!(existing_store_path("/nix/store", p).unwrap().as_str(), p);
        assert!(existing_store_path("/nix/store", ".#app").is_none());
        assert!(existing_store_path("/nix/store", "github:o/r").is_none());
        assert!(existing_store_path("/nix/store", ".").is_none());
    }
}
