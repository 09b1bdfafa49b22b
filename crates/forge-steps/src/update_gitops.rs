//! "Pin this image in this kustomization and land it": the pure kustomize
//! editor applied to the file at the GitOps branch tip, committed with Forge
//! trailers and pushed (re-applied on the new tip when the push is rejected).
//! Dry-run reads the tip and returns the diff; it commits and pushes nothing.

use forge_adapters::git::{CommitMessage, GitRemote, LandOptions};
use forge_core::gitops::kustomize_edit::{self, ImageEdit};

pub use forge_adapters::git::Error as GitError;

/// What is being released, for the commit message and its trailers.
#[derive(Debug, Clone, Default)]
pub struct ReleaseInfo {
    pub service: String,
    pub environment: String,
    /// `repo@sha256:...` (or `repo:tag`), for the `Forge-Image` trailer.
    pub image: String,
    pub flake_rev: Option<String>,
    pub release: Option<String>,
    /// For a rollback: the image being replaced (`Forge-Rollback-Of`).
    pub rollback_of: Option<String>,
    /// `run/step-key` of the release step that made the commit (`Forge-Step`):
    /// a resumed run finds its commit by it instead of committing twice.
    pub step: Option<String>,
}

impl ReleaseInfo {
    pub fn message(&self) -> CommitMessage {
        let mut trailers = vec![
            ("Forge-Service".to_owned(), self.service.clone()),
            ("Forge-Environment".to_owned(), self.environment.clone()),
            ("Forge-Image".to_owned(), self.image.clone()),
        ];
        if let Some(rev) = &self.flake_rev {
            trailers.push(("Forge-Flake-Rev".to_owned(), rev.clone()));
        }
        if let Some(rel) = &self.release {
            trailers.push(("Forge-Release".to_owned(), rel.clone()));
        }
        if let Some(of) = &self.rollback_of {
            trailers.push(("Forge-Rollback-Of".to_owned(), of.clone()));
        }
        if let Some(step) = &self.step {
            trailers.push(("Forge-Step".to_owned(), step.clone()));
        }
        let verb = if self.rollback_of.is_some() {
            "rollback"
        } else {
            "deploy"
        };
        CommitMessage {
            subject: format!(
                "{verb}({}): {} to {}",
                self.environment, self.service, self.image
            ),
            body: None,
            trailers,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitopsOutcome {
    /// Pushed this commit.
    Committed(String),
    /// The kustomization already pins the image: no commit, no push.
    Unchanged,
    /// Dry run: the unified diff (empty when nothing would change).
    DryRun { diff: String },
}

#[derive(Debug, Clone)]
pub struct GitopsUpdate {
    pub outcome: GitopsOutcome,
    /// Push attempts (0 for a dry run).
    pub attempts: usize,
    /// The kustomization path in the repository.
    pub file: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateGitopsError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{file}: {source}")]
    Edit {
        file: String,
        source: kustomize_edit::EditError,
    },
}

/// Pins `edit` in `file` (a path in the repository) and lands it.
pub fn update_gitops(
    remote: &GitRemote,
    file: &str,
    edit: &ImageEdit,
    release: &ReleaseInfo,
    opts: &LandOptions,
    dry_run: bool,
) -> Result<GitopsUpdate, UpdateGitopsError> {
    if dry_run {
        let old = remote.read_file(file)?;
        let out =
            kustomize_edit::set_image(&old, edit).map_err(|source| UpdateGitopsError::Edit {
                file: file.to_owned(),
                source,
            })?;
        let diff = if out.changed() {
            kustomize_edit::unified_diff(&old, &out.text, file)
        } else {
            String::new()
        };
        return Ok(GitopsUpdate {
            outcome: GitopsOutcome::DryRun { diff },
            attempts: 0,
            file: file.to_owned(),
        });
    }
    let apply = |old: &str| -> Result<Option<String>, forge_adapters::git::EditError> {
        let out = kustomize_edit::set_image(old, edit)?;
        Ok(out.changed().then_some(out.text))
    };
    let landed = remote
        .land_file_edit(file, apply, &release.message(), opts)
        .map_err(|e| match e {
            // Surface the editor's error with its line and column.
            GitError::Edit { source, .. } => match source.downcast::<kustomize_edit::EditError>() {
                Ok(source) => UpdateGitopsError::Edit {
                    file: file.to_owned(),
                    source: *source,
                },
                Err(source) => UpdateGitopsError::Git(GitError::Edit {
                    path: file.to_owned(),
                    source,
                }),
            },
            other => UpdateGitopsError::Git(other),
        })?;
    Ok(GitopsUpdate {
        outcome: match landed.commit {
            Some(sha) => GitopsOutcome::Committed(sha),
            None => GitopsOutcome::Unchanged,
        },
        attempts: landed.attempts,
        file: file.to_owned(),
    })
}
