//! Which store paths go into which layer, after nixpkgs' "popularity" idea:
//! paths that many others depend on (glibc, openssl) change rarely and are
//! shared between images, so each gets a layer of its own; the long tail is
//! grouped into the last store layer. Deterministic for a given closure.

use std::collections::{HashMap, HashSet};

use crate::nix::path_info::PathInfo;
use crate::nix::store_path::StorePath;

/// Layers count toward this; overlayfs stops at about 127 and images built on
/// top of ours need room too.
pub const DEFAULT_MAX_LAYERS: usize = 60;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--max-layers must be at least 2 (one for the store, one for /tmp and friends), got {0}")]
pub struct TooFewLayers(pub usize);

/// Store-path layers in image order (most depended-on first). `max_layers`
/// counts every layer of the image, including the one for base directories.
pub fn plan_layers(
    closure: &[PathInfo],
    max_layers: usize,
) -> Result<Vec<Vec<StorePath>>, TooFewLayers> {
    if max_layers < 2 {
        return Err(TooFewLayers(max_layers));
    }
    let store_layers = max_layers - 1;
    let popularity = popularity(closure);
    let mut ranked: Vec<&PathInfo> = closure.iter().collect();
    ranked.sort_by(|a, b| {
        popularity[b.path.as_str()]
            .cmp(&popularity[a.path.as_str()])
            .then_with(|| a.path.cmp(&b.path))
    });
    let singles = if ranked.len() <= store_layers {
        ranked.len()
    } else {
        store_layers - 1
    };
    let mut layers: Vec<Vec<StorePath>> = ranked[..singles]
        .iter()
        .map(|p| vec![p.path.clone()])
        .collect();
    if singles < ranked.len() {
        let mut rest: Vec<StorePath> = ranked[singles..].iter().map(|p| p.path.clone()).collect();
        rest.sort();
        layers.push(rest);
    }
    Ok(layers)
}

/// For each path: how many paths of the closure have it in their closure (itself included).
fn popularity(closure: &[PathInfo]) -> HashMap<&str, usize> {
    let mut referrers: HashMap<&str, Vec<&str>> = HashMap::new();
    for info in closure {
        for r in &info.references {
            if r != &info.path {
                referrers
                    .entry(r.as_str())
                    .or_default()
                    .push(info.path.as_str());
            }
        }
    }
    closure
        .iter()
        .map(|info| {
            let mut seen: HashSet<&str> = HashSet::from([info.path.as_str()]);
            let mut stack = vec![info.path.as_str()];
            while let Some(p) = stack.pop() {
                for &q in referrers.get(p).into_iter().flatten() {
                    if seen.insert(q) {
                        stack.push(q);
                    }
                }
            }
            (info.path.as_str(), seen.len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::hash::Sha256;

    fn p(c: char) -> StorePath {
        StorePath::parse(&format!("/nix/store/{}-{c}", c.to_string().repeat(32))).unwrap()
    }

    fn info(c: char, refs: &[char]) -> PathInfo {
        PathInfo {
            path: p(c),
            nar_hash: Sha256::digest(b""),
            nar_size: 1,
            references: refs.iter().map(|r| p(*r)).collect(),
            deriver: None,
            sigs: vec![],
            ca: None,
        }
    }

    fn names(layers: &[Vec<StorePath>]) -> Vec<String> {
        layers
            .iter()
            .map(|l| l.iter().map(|p| p.name()).collect())
            .collect()
    }

    // a(pp) -> l(ib) -> g(libc), a -> c(fg), x (tool) -> g
    fn closure() -> Vec<PathInfo> {
        vec![
            info('a', &['l', 'c']),
            info('l', &['g']),
            info('g', &['g']),
            info('c', &[]),
            info('x', &['g']),
        ]
    }

    #[test]
    fn most_depended_on_first_and_one_layer_each_when_room() {
        assert_eq!(
            names(&plan_layers(&closure(), 60).unwrap()),
            ["g", "c", "l", "a", "x"]
        );
    }

    #[test]
    fn the_tail_is_grouped_within_the_limit() {
        let layers = plan_layers(&closure(), 4).unwrap();
        assert_eq!(names(&layers), ["g", "c", "alx"]);
        assert_eq!(layers.len() + 1, 4);
        assert_eq!(plan_layers(&closure(), 1), Err(TooFewLayers(1)));
        assert_eq!(names(&plan_layers(&closure(), 2).unwrap()), ["acglx"]);
    }
}
