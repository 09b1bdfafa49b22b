//! Store paths: `/nix/store/<32-char nix32 digest>-<name>`.

use std::fmt;

use super::nix32;

pub const DEFAULT_STORE_DIR: &str = "/nix/store";

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath {
    /// Full path, e.g. `/nix/store/abc…-hello`.
    full: String,
    /// Byte offset where the base name starts.
    base_at: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StorePathError {
    #[error("{0:?} is not in the Nix store {1}")]
    OutsideStore(String, String),
    #[error("{0:?} is not a valid store path (expected <store>/<32-char hash>-<name>)")]
    Malformed(String),
}

impl StorePath {
    /// Parses a full path. Paths inside a store path (`/nix/store/x-foo/bin/a`)
    /// are cut back to the store path itself.
    pub fn parse_in(store_dir: &str, path: &str) -> Result<Self, StorePathError> {
        let rest = path
            .strip_prefix(store_dir)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| StorePathError::OutsideStore(path.to_owned(), store_dir.to_owned()))?;
        let base = rest.split('/').next().unwrap_or_default();
        Self::from_base_name(store_dir, base)
            .map_err(|_| StorePathError::Malformed(path.to_owned()))
    }

    pub fn parse(path: &str) -> Result<Self, StorePathError> {
        Self::parse_in(DEFAULT_STORE_DIR, path)
    }

    /// Builds a store path from a base name such as `abc…-hello`.
    pub fn from_base_name(store_dir: &str, base: &str) -> Result<Self, StorePathError> {
        let ok = base.len() > 33
            && base.as_bytes()[32] == b'-'
            && base[..32].chars().all(nix32::is_valid_char)
            && base[33..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-._?=".contains(c));
        if !ok {
            return Err(StorePathError::Malformed(base.to_owned()));
        }
        Ok(Self {
            full: format!("{store_dir}/{base}"),
            base_at: store_dir.len() + 1,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// `<hash>-<name>`, the form narinfo `References` and Attic use.
    pub fn base_name(&self) -> &str {
        &self.full[self.base_at..]
    }

    /// The 32-character nix32 digest, the narinfo file's name.
    pub fn hash_part(&self) -> &str {
        &self.base_name()[..32]
    }

    pub fn name(&self) -> &str {
        &self.base_name()[33..]
    }

    pub fn store_dir(&self) -> &str {
        &self.full[..self.base_at - 1]
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/nix/store/008vgf151ym81bga4dn5rsd63s8dyplk-leaf-14";

    #[test]
    fn splits_into_parts() {
        let p = StorePath::parse(P).unwrap();
        assert_eq!(p.hash_part(), "008vgf151ym81bga4dn5rsd63s8dyplk");
        assert_eq!(p.name(), "leaf-14");
        assert_eq!(p.base_name(), "008vgf151ym81bga4dn5rsd63s8dyplk-leaf-14");
        assert_eq!(p.store_dir(), "/nix/store");
    }

    #[test]
    fn paths_inside_are_cut_back() {
        let p = StorePath::parse(&format!("{P}/bin/run")).unwrap();
        assert_eq!(p.as_str(), P);
    }

    #[test]
    fn bad_paths_are_rejected() {
        assert!(matches!(
            StorePath::parse("/tmp/x"),
            Err(StorePathError::OutsideStore(..))
        ));
        assert!(StorePath::parse("/nix/store/short-name").is_err());
        assert!(StorePath::parse("/nix/store/e08vgf151ym81bga4dn5rsd63s8dyplk-x").is_err());
        assert!(StorePath::parse("/nix/store/008vgf151ym81bga4dn5rsd63s8dyplk-").is_err());
    }
}
