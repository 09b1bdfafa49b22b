//! Decides what a closure push uploads and in which order.

use std::collections::HashSet;

use super::path_info::PathInfo;

#[derive(Debug, Default)]
pub struct PushPlan {
    /// Paths to upload, largest NAR first so big uploads start early and the
    /// small ones fill the pool around them.
    pub uploads: Vec<PathInfo>,
    pub already_present: usize,
    /// Paths carrying a signature from an upstream cache (e.g. cache.nixos.org),
    /// which clients can fetch from there.
    pub skipped_upstream: usize,
}

impl PushPlan {
    pub fn upload_bytes(&self) -> u64 {
        self.uploads.iter().map(|p| p.nar_size).sum()
    }
}

/// `present` holds the hash parts of store paths the cache already has.
pub fn plan_push(
    closure: Vec<PathInfo>,
    present: &HashSet<String>,
    upstream_keys: &[String],
) -> PushPlan {
    let mut plan = PushPlan::default();
    for info in closure {
        if present.contains(info.path.hash_part()) {
            plan.already_present += 1;
        } else if signed_by_any(&info, upstream_keys) {
            plan.skipped_upstream += 1;
        } else {
            plan.uploads.push(info);
        }
    }
    plan.uploads.sort_by(|a, b| {
        b.nar_size
            .cmp(&a.nar_size)
            .then_with(|| a.path.cmp(&b.path))
    });
    plan
}

fn signed_by_any(info: &PathInfo, keys: &[String]) -> bool {
    info.sigs
        .iter()
        .filter_map(|s| s.split_once(':'))
        .any(|(name, _)| keys.iter().any(|k| k == name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::hash::Sha256;
    use crate::nix::store_path::StorePath;

    fn info(hash_char: char, size: u64, sigs: &[&str]) -> PathInfo {
        PathInfo {
            path: StorePath::parse(&format!(
                "/nix/store/{}-p{size}",
                hash_char.to_string().repeat(32)
            ))
            .unwrap(),
            nar_hash: Sha256::digest(b""),
            nar_size: size,
            references: vec![],
            deriver: None,
            sigs: sigs.iter().map(|s| s.to_string()).collect(),
            ca: None,
        }
    }

    #[test]
    fn largest_first_and_present_or_upstream_skipped() {
        let closure = vec![
            info('a', 10, &[]),
            info('b', 500, &[]),
            info('c', 99, &["cache.nixos.org-1:xyz"]),
            info('d', 70, &["mine-1:xyz"]),
            info('f', 5000, &[]),
        ];
        let present: HashSet<String> = ["f".repeat(32)].into_iter().collect();
        let plan = plan_push(closure, &present, &["cache.nixos.org-1".into()]);
        let order: Vec<u64> = plan.uploads.iter().map(|p| p.nar_size).collect();
        assert_eq!(order, [500, 70, 10]);
        assert_eq!((plan.already_present, plan.skipped_upstream), (1, 1));
        assert_eq!(plan.upload_bytes(), 580);
    }
}
