//! Lists a closure with its metadata: from Nix's database when it can be
//! read (one query, no process), else from `nix path-info`.

use forge_adapters::nix::{NixCli, NixError};
use forge_adapters::store::db::{DbError, StoreDb};
use forge_adapters::store::LocalStore;
use forge_core::nix::path_info::PathInfo;
use forge_core::nix::store_path::StorePath;

#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Nix(#[from] NixError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClosureSource {
    /// The database when readable, else `nix path-info`.
    #[default]
    Auto,
    /// Nix's SQLite database only.
    Db,
    /// `nix path-info --recursive --json` only.
    Nix,
}

impl forge_core::choice::Choice for ClosureSource {
    const ALL: &'static [Self] = &[Self::Auto, Self::Db, Self::Nix];
    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Db => "db",
            Self::Nix => "nix",
        }
    }
    fn help(self) -> Option<&'static str> {
        Some(match self {
            Self::Auto => "The database when readable, else `nix path-info`",
            Self::Db => "Nix's SQLite database only",
            Self::Nix => "`nix path-info --recursive --json` only",
        })
    }
}

pub async fn query_closure(
    store: &LocalStore,
    nix: &NixCli,
    roots: &[StorePath],
    source: ClosureSource,
) -> Result<Vec<PathInfo>, ClosureError> {
    if source != ClosureSource::Nix {
        let db = StoreDb::open(&store.db_path, &store.store_dir);
        match (db, source) {
            (Ok(db), _) => {
                let roots = roots.to_vec();
                return tokio::task::spawn_blocking(move || db.closure(&roots))
                    .await
                    .expect("closure query panicked")
                    .map_err(Into::into);
            }
            (Err(e), ClosureSource::Db) => return Err(e.into()),
            (Err(e), _) => tracing::debug!("{e}; asking `nix path-info` instead"),
        }
    }
    let mut infos = nix.path_info_closure(roots).await?;
    infos.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(infos)
}
