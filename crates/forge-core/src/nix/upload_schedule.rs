//! Upload order: a path is uploaded only after every path it references, so a
//! narinfo in the cache never names a reference the cache lacks, even when a
//! push stops half-way. Among the paths that are ready, the largest goes first.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::path_info::PathInfo;

pub struct UploadSchedule {
    infos: Vec<PathInfo>,
    /// Unfinished references of each path (within this upload set).
    waiting_on: Vec<usize>,
    referrers: Vec<Vec<usize>>,
    ready: BinaryHeap<(u64, Reverse<usize>)>,
    blocked: Vec<bool>,
}

impl UploadSchedule {
    /// `uploads` are the paths the cache lacks; references outside this set
    /// are already in the cache.
    pub fn new(uploads: Vec<PathInfo>) -> Self {
        let index: HashMap<&str, usize> = uploads
            .iter()
            .enumerate()
            .map(|(i, p)| (p.path.as_str(), i))
            .collect();
        let mut waiting_on = vec![0; uploads.len()];
        let mut referrers = vec![Vec::new(); uploads.len()];
        for (i, info) in uploads.iter().enumerate() {
            for r in &info.references {
                match index.get(r.as_str()) {
                    Some(&j) if j != i => {
                        waiting_on[i] += 1;
                        referrers[j].push(i);
                    }
                    _ => {}
                }
            }
        }
        let ready = (0..uploads.len())
            .filter(|&i| waiting_on[i] == 0)
            .map(|i| (uploads[i].nar_size, Reverse(i)))
            .collect();
        let blocked = vec![false; uploads.len()];
        Self {
            infos: uploads,
            waiting_on,
            referrers,
            ready,
            blocked,
        }
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    pub fn info(&self, i: usize) -> &PathInfo {
        &self.infos[i]
    }

    /// The largest path whose references are all uploaded.
    pub fn next_ready(&mut self) -> Option<usize> {
        self.ready.pop().map(|(_, Reverse(i))| i)
    }

    pub fn complete(&mut self, i: usize) {
        for &r in &self.referrers[i] {
            self.waiting_on[r] -= 1;
            if self.waiting_on[r] == 0 && !self.blocked[r] {
                self.ready.push((self.infos[r].nar_size, Reverse(r)));
            }
        }
    }

    /// Marks `i` failed; returns every path that can no longer be uploaded
    /// because it (transitively) references `i`.
    pub fn fail(&mut self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = self.referrers[i].clone();
        while let Some(r) = stack.pop() {
            if !self.blocked[r] {
                self.blocked[r] = true;
                out.push(r);
                stack.extend(self.referrers[r].iter().copied());
            }
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::hash::Sha256;
    use crate::nix::store_path::StorePath;

    fn p(c: char) -> StorePath {
        StorePath::parse(&format!("/nix/store/{}-{c}", c.to_string().repeat(32))).unwrap()
    }

    fn info(c: char, size: u64, refs: &[char]) -> PathInfo {
        PathInfo {
            path: p(c),
            nar_hash: Sha256::digest(b""),
            nar_size: size,
            references: refs.iter().map(|r| p(*r)).collect(),
            deriver: None,
            sigs: vec![],
            ca: None,
        }
    }

    fn names(s: &UploadSchedule, ids: &[usize]) -> String {
        ids.iter().map(|&i| s.info(i).path.name()).collect()
    }

    #[test]
    fn references_first_then_largest() {
        // a -> b -> c, and d alone (largest); a references itself.
        let mut s = UploadSchedule::new(vec![
            info('a', 50, &['a', 'b']),
            info('b', 10, &['c']),
            info('c', 5, &[]),
            info('d', 900, &['z']), // z is already in the cache
        ]);
        let mut order = vec![];
        while let Some(i) = s.next_ready() {
            order.push(i);
            s.complete(i);
        }
        assert_eq!(names(&s, &order), "dcba");
    }

    #[test]
    fn a_failure_blocks_everything_above_it() {
        let mut s = UploadSchedule::new(vec![
            info('a', 1, &['b']),
            info('b', 1, &['c']),
            info('c', 1, &[]),
            info('d', 1, &[]),
        ]);
        let mut failed_blocked = vec![];
        while let Some(i) = s.next_ready() {
            if s.info(i).path.name() == "c" {
                failed_blocked = s.fail(i);
            } else {
                s.complete(i);
            }
        }
        assert_eq!(names(&s, &failed_blocked), "ab");
    }
}
