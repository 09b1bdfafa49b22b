//! Secrets from the process environment and from files next to the spec.

use crate::domain::secret_ref::SecretSource;
use std::path::PathBuf;

/// Reads `${ENV}` and `*_env` from the process environment and `*_file`
/// relative to `base_dir` (the spec file's folder).
pub struct ProcessSecrets {
    pub base_dir: PathBuf,
}

impl SecretSource for ProcessSecrets {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.base_dir.join(path)).map_err(|e| e.to_string())
    }
}
