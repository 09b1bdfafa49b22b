//! What a deploy (or rollback) did, step by step, and how it ended: the one
//! summary printed on stderr (or as JSON) and the exit status. Pure; the
//! command fills it in as steps finish.

use std::sync::Arc;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Build,
    Cache,
    Image,
    Gitops,
    Flux,
    Rollout,
    Rollback,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Build => "build",
            Step::Cache => "cache",
            Step::Image => "image",
            Step::Gitops => "gitops",
            Step::Flux => "flux",
            Step::Rollout => "rollout",
            Step::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Status {
    /// Did something.
    Done(String),
    /// Had nothing to do: the target already had it.
    Unchanged(String),
    /// Dry run: what it would do.
    Planned(String),
    /// Not run, and why.
    Skipped(String),
    Failed(String),
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Done(_) => "done",
            Status::Unchanged(_) => "unchanged",
            Status::Planned(_) => "planned",
            Status::Skipped(_) => "skipped",
            Status::Failed(_) => "FAILED",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Status::Done(d)
            | Status::Unchanged(d)
            | Status::Planned(d)
            | Status::Skipped(d)
            | Status::Failed(d) => d,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepLine {
    pub step: Step,
    #[serde(flatten)]
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Every step that ran succeeded (some may have been skipped).
    Deployed,
    /// Nothing changed anywhere.
    NoOp,
    /// Dry run.
    Planned,
    Failed {
        reason: String,
    },
    /// The rollout failed and the previous image was pinned again.
    RolledBack {
        reason: String,
        to: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// `deploy` or `rollback`.
    pub action: &'static str,
    pub service: String,
    pub env: String,
    /// The pinned image, `repo:tag@sha256:...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The GitOps commit pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The kustomization diff (dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    pub steps: Vec<StepLine>,
    /// Each rollout verdict in full (pods, log lines, events), for `--json`:
    /// the deploy's, then the rollback's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Told of each step line as it is recorded, so progress can show it
    /// while the rest runs.
    #[serde(skip)]
    listener: Option<Listener>,
}

/// A callback for recorded step lines.
#[derive(Clone)]
struct Listener(Arc<dyn Fn(&StepLine) + Send + Sync>);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

impl DeployReport {
    pub fn new(action: &'static str, service: &str, env: &str) -> Self {
        Self {
            action,
            service: service.to_owned(),
            env: env.to_owned(),
            image: None,
            commit: None,
            diff: None,
            steps: Vec::new(),
            rollouts: Vec::new(),
            outcome: Outcome::Deployed,
            listener: None,
        }
    }

    /// Calls `f` with every step line recorded from now on.
    pub fn on_record(&mut self, f: impl Fn(&StepLine) + Send + Sync + 'static) {
        self.listener = Some(Listener(Arc::new(f)));
    }

    pub fn record(&mut self, step: Step, status: Status) {
        let line = StepLine { step, status };
        if let Some(Listener(f)) = &self.listener {
            f(&line);
        }
        self.steps.push(line);
    }

    /// Whether every step that ran found nothing to do (a build that Nix
    /// answered from its store counts as nothing).
    pub fn nothing_changed(&self) -> bool {
        self.steps
            .iter()
            .filter(|s| s.step != Step::Build)
            .all(|s| matches!(s.status, Status::Unchanged(_) | Status::Skipped(_)))
    }

    /// 0 deployed, no-op or planned; 1 failed (also when rolled back).
    pub fn exit_status(&self) -> u8 {
        match self.outcome {
            Outcome::Deployed | Outcome::NoOp | Outcome::Planned => 0,
            Outcome::Failed { .. } | Outcome::RolledBack { .. } => 1,
        }
    }

    /// The human summary: one line per step, then the result.
    pub fn render(&self) -> String {
        let mut out = format!("{} {} to {}\n", self.action, self.service, self.env);
        for line in &self.steps {
            let mut detail = line.status.detail().lines();
            out.push_str(&format!(
                "  {:<9} {:<9} {}\n",
                line.step.name(),
                line.status.label(),
                detail.next().unwrap_or_default()
            ));
            for more in detail {
                out.push_str(&format!("  {:<9} {:<9} {more}\n", "", ""));
            }
        }
        if let Some(diff) = &self.diff {
            out.push_str(diff);
            if !diff.ends_with('\n') {
                out.push('\n');
            }
        }
        let image = self.image.as_deref().unwrap_or("the image");
        out.push_str(&match &self.outcome {
            Outcome::Deployed if self.action == "rollback" => {
                format!("result: rolled back to {image}\n")
            }
            Outcome::Deployed => format!("result: deployed {image}\n"),
            Outcome::NoOp => {
                format!("result: no-op, {image} was already deployed; nothing changed\n")
            }
            Outcome::Planned => {
                "result: dry run, nothing was pushed, committed or reconciled\n".to_owned()
            }
            Outcome::Failed { reason } => format!("result: FAILED: {reason}\n"),
            Outcome::RolledBack { reason, to } => {
                format!("result: FAILED: {reason}; rolled back to {to}\n")
            }
        });
        out
    }
}

impl DeployReport {
    /// The report as Markdown, for a CI job summary (GitHub's `$GITHUB_STEP_SUMMARY`).
    pub fn render_markdown(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', "<br>");
        let mut out = format!(
            "### {} `{}` to `{}`: {}\n\n| step | status | detail |\n|---|---|---|\n",
            self.action,
            self.service,
            self.env,
            match &self.outcome {
                Outcome::Deployed if self.action == "rollback" => "rolled back".to_owned(),
                Outcome::Deployed => "deployed".to_owned(),
                Outcome::NoOp => "no-op".to_owned(),
                Outcome::Planned => "dry run".to_owned(),
                Outcome::Failed { .. } => "**failed**".to_owned(),
                Outcome::RolledBack { .. } => "**failed, rolled back**".to_owned(),
            }
        );
        for line in &self.steps {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                line.step.name(),
                line.status.label(),
                cell(line.status.detail())
            ));
        }
        if let Some(image) = &self.image {
            out.push_str(&format!("\nImage: `{image}`\n"));
        }
        if let Some(commit) = &self.commit {
            out.push_str(&format!("\nGitOps commit: `{commit}`\n"));
        }
        match &self.outcome {
            Outcome::Failed { reason } => out.push_str(&format!("\nReason: {}\n", cell(reason))),
            Outcome::RolledBack { reason, to } => out.push_str(&format!(
                "\nReason: {}\n\nRolled back to `{to}`\n",
                cell(reason)
            )),
            _ => {}
        }
        if let Some(diff) = &self.diff {
            out.push_str(&format!("\n```diff\n{}\n```\n", diff.trim_end()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> DeployReport {
        let mut r = DeployReport::new("deploy", "app", "staging");
        r.image = Some("ghcr.io/org/app:amd64-abc1234@sha256:1111".into());
        r.record(Step::Build, Status::Done("/nix/store/aaaa-app".into()));
        r.record(
            Step::Cache,
            Status::Unchanged("file:///srv/cache had all 12 paths".into()),
        );
        r.record(
            Step::Image,
            Status::Done("pushed 1 of 3 blobs (2.0 MiB)".into()),
        );
        r.record(Step::Gitops, Status::Done("commit abc1234 on main".into()));
        r.record(
            Step::Flux,
            Status::Done("applied main@sha1:abc1234 in 3.1 s".into()),
        );
        r
    }

    #[test]
    fn renders_steps_and_result() {
        let mut r = report();
        r.record(
            Step::Rollout,
            Status::Failed(
                "Deployment staging/app: CrashLoopBackOff\ncontainer app: log line".into(),
            ),
        );
        r.record(
            Step::Rollback,
            Status::Done("pinned sha256:0000 (commit 9f9f9f9)".into()),
        );
        r.outcome = Outcome::RolledBack {
            reason: "rollout failed".into(),
            to: "sha256:0000".into(),
        };
        insta::assert_snapshot!(r.render());
        insta::assert_snapshot!(r.render_markdown());
        assert_eq!(r.exit_status(), 1);
        assert!(!r.nothing_changed());
        insta::assert_snapshot!(serde_json::to_string_pretty(&r).unwrap());
    }

    #[test]
    fn no_op_only_when_every_step_found_nothing_to_do() {
        let mut r = DeployReport::new("deploy", "app", "dev");
        r.record(Step::Build, Status::Done("/nix/store/aaaa-app".into()));
        r.record(Step::Cache, Status::Unchanged("had it".into()));
        r.record(Step::Flux, Status::Skipped("no cluster".into()));
        assert!(r.nothing_changed());
        r.record(Step::Image, Status::Done("pushed".into()));
        assert!(!r.nothing_changed());
        assert_eq!(r.exit_status(), 0);
    }
}
