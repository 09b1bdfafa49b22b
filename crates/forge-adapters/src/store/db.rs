//! Read-only queries against Nix's SQLite database (schema 10, unchanged
//! since Nix 2.0 and shared by Lix). One query lists a whole closure with its
//! metadata, which is what makes a no-op push fast: spawning
//! `nix path-info -r --json` alone costs more than the rest of the push.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use forge_core::nix::hash::Sha256;
use forge_core::nix::path_info::PathInfo;
use forge_core::nix::store_path::StorePath;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("opening the Nix database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("querying the Nix database: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("{0} is not a valid path in the Nix store (build or fetch it first)")]
    NotValid(String),
    #[error("the Nix database has a malformed row for {path}: {reason}")]
    Row { path: String, reason: String },
}

pub struct StoreDb {
    conn: Connection,
    store_dir: String,
}

const CLOSURE_CTE: &str = "WITH RECURSIVE closure(id) AS (
    SELECT id FROM ValidPaths WHERE path IN (SELECT value FROM json_each(?1))
    UNION SELECT r.reference FROM Refs r JOIN closure c ON r.referrer = c.id)";

impl StoreDb {
    pub fn open(path: &Path, store_dir: &str) -> Result<Self, DbError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            // Fails here, not later, when the file is unreadable or not a Nix DB.
            c.query_row("SELECT count(*) FROM ValidPaths WHERE id = 0", [], |_| {
                Ok(())
            })?;
            Ok(c)
        })
        .map_err(|source| DbError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            conn,
            store_dir: store_dir.to_owned(),
        })
    }

    /// The closure of `roots` with full metadata, sorted by path.
    pub fn closure(&self, roots: &[StorePath]) -> Result<Vec<PathInfo>, DbError> {
        let roots_json =
            serde_json::to_string(&roots.iter().map(|r| r.as_str()).collect::<Vec<_>>())
                .expect("strings serialise");
        let found: std::collections::HashSet<String> = {
            let mut stmt = self.conn.prepare(
                "SELECT path FROM ValidPaths WHERE path IN (SELECT value FROM json_each(?1))",
            )?;
            let rows = stmt.query_map([&roots_json], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        if let Some(missing) = roots.iter().find(|r| !found.contains(r.as_str())) {
            return Err(DbError::NotValid(missing.to_string()));
        }

        let mut refs: HashMap<i64, Vec<StorePath>> = HashMap::new();
        let mut stmt = self.conn.prepare(&format!(
            "{CLOSURE_CTE} SELECT r.referrer, v.path FROM Refs r JOIN closure c ON r.referrer = c.id
             JOIN ValidPaths v ON v.id = r.reference"
        ))?;
        let mut rows = stmt.query([&roots_json])?;
        while let Some(row) = rows.next()? {
            let referrer: i64 = row.get(0)?;
            let path: String = row.get(1)?;
            refs.entry(referrer)
                .or_default()
                .push(self.store_path(&path, &path)?);
        }

        let mut stmt = self.conn.prepare(&format!(
            "{CLOSURE_CTE} SELECT v.id, v.path, v.hash, v.narSize, v.deriver, v.sigs, v.ca
             FROM ValidPaths v JOIN closure c ON v.id = c.id ORDER BY v.path"
        ))?;
        let mut rows = stmt.query([&roots_json])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let path: String = row.get(1)?;
            let hash: String = row.get(2)?;
            let nar_size: Option<i64> = row.get(3)?;
            let deriver: Option<String> = row.get(4)?;
            let sigs: Option<String> = row.get(5)?;
            let ca: Option<String> = row.get(6)?;
            let row_err = |reason: String| DbError::Row {
                path: path.clone(),
                reason,
            };
            let nar_hash = Sha256::parse(&hash).map_err(|e| row_err(e.to_string()))?;
            let nar_size = nar_size
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| row_err("narSize is missing".into()))?;
            let mut references = refs.remove(&id).unwrap_or_default();
            references.sort();
            out.push(PathInfo {
                path: self.store_path(&path, &path)?,
                nar_hash,
                nar_size,
                references,
                deriver: match deriver.as_deref() {
                    Some(d) if !d.is_empty() => Some(self.store_path(d, &path)?),
                    _ => None,
                },
                sigs: sigs
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                ca: ca.filter(|c| !c.is_empty()),
            });
        }
        Ok(out)
    }

    fn store_path(&self, text: &str, owner: &str) -> Result<StorePath, DbError> {
        StorePath::parse_in(&self.store_dir, text).map_err(|e| DbError::Row {
            path: owner.to_owned(),
            reason: e.to_string(),
        })
    }
}
