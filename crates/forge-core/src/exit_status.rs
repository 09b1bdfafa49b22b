//! The one exit-status table of `forge` and `forge-provision`: what each
//! number means to a script or CI job. The binaries map their errors onto it
//! in one place each; `--help` and the README print [`TABLE`].

/// How a command ended, as a process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// Done, nothing to do, or a dry run.
    Success,
    /// The operation ran and failed (also: failed and rolled back).
    Failed,
    /// Usage or configuration error: bad flags, an invalid or missing
    /// deploy.yaml, unreadable input, a name that is not there. Nothing ran.
    Usage,
    /// Not finished: timed out while still in progress, or waiting (a
    /// rollout still progressing, a release run at a gate).
    InProgress,
    /// A check found changes to make (`forge-provision --check`).
    ChangesPending,
}

impl ExitStatus {
    pub const ALL: [ExitStatus; 5] = [
        ExitStatus::Success,
        ExitStatus::Failed,
        ExitStatus::Usage,
        ExitStatus::InProgress,
        ExitStatus::ChangesPending,
    ];

    pub const fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::InProgress => 3,
            ExitStatus::ChangesPending => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<ExitStatus> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The word used in JSON (`"result"`) and `$GITHUB_OUTPUT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExitStatus::Success => "success",
            ExitStatus::Failed => "failed",
            ExitStatus::Usage => "usage_error",
            ExitStatus::InProgress => "in_progress",
            ExitStatus::ChangesPending => "changes_pending",
        }
    }

    pub const fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Success => "success: done, nothing to do, or a dry run",
            ExitStatus::Failed => "the operation failed (also when rolled back)",
            ExitStatus::Usage => "usage or configuration error (flags, deploy.yaml, input)",
            ExitStatus::InProgress => "not finished: timed out in progress, or waiting at a gate",
            ExitStatus::ChangesPending => "a check found changes to make (--check)",
        }
    }
}

/// The table as `--help` prints it.
pub const TABLE: &str = "Exit status (forge and forge-provision):
  0  success: done, nothing to do, or a dry run
  1  the operation failed (also when rolled back)
  2  usage or configuration error (flags, deploy.yaml, input)
  3  not finished: timed out in progress, or waiting at a gate
  4  a check found changes to make (--check)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_status_once_in_order() {
        let lines: Vec<&str> = TABLE.lines().skip(1).collect();
        assert_eq!(lines.len(), ExitStatus::ALL.len());
        for (line, status) in lines.iter().zip(ExitStatus::ALL) {
            assert_eq!(
                line.trim(),
                format!("{}  {}", status.code(), status.meaning())
            );
            assert_eq!(ExitStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(ExitStatus::from_code(5), None);
    }
}
