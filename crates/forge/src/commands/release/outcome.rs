//! How a run is shown: a plan, the outcome as text or JSON, and in GitHub
//! Actions its ids in `$GITHUB_OUTPUT` and its step table in the job summary.

use crate::global::Global;
use crate::output::print_json;
use forge_core::release::RunState;
use forge_steps::release::RunOutcome;

pub(super) fn print_plan(plan: &forge_core::release::ReleasePlan, global: Global) {
    if global.json {
        print_json(&serde_json::json!({ "schema": "forge.release-plan/v1", "plan": plan }));
    } else {
        print!("{}", plan.render());
    }
}

/// Prints the outcome; the exit status. In a GitHub Actions job the run's
/// table also goes to the job summary and its ids to `$GITHUB_OUTPUT`.
pub(super) fn finish(outcome: &RunOutcome, global: Global) -> u8 {
    if global.json {
        print_json(outcome);
    } else {
        println!(
            "run {} ({}): {}",
            outcome.run,
            outcome
                .release
                .as_ref()
                .map_or("no release yet", |r| r.short()),
            outcome.state.as_str()
        );
        for s in &outcome.steps {
            println!("{}", step_line(s));
        }
        if let Some((key, error)) = &outcome.failed {
            println!("failed at {key}: {error}");
        }
    }
    if global.github_actions {
        let release = outcome
            .release
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default();
        crate::github::write_outputs(&[
            ("run_id", outcome.run.to_string()),
            ("release_id", release),
            ("result", outcome.state.as_str().to_owned()),
        ]);
        crate::github::append_summary(&summary_markdown(outcome));
    }
    if !global.json {
        for (gate, why) in &outcome.waiting {
            println!("waiting at {gate}: {}", why.join("; "));
        }
    }
    match outcome.state {
        RunState::Succeeded => 0,
        RunState::Waiting => forge_core::exit_status::ExitStatus::InProgress.code(),
        _ => 1,
    }
}

/// One step for people: key, state, time, attempts, what it left (digest,
/// commit, migration Jobs), and its kept error.
pub(super) fn step_line(s: &forge_steps::release::StepSummary) -> String {
    let mut line = format!("  {:<40} {:<9}", s.key.as_str(), s.state.as_str());
    if let Some(t) = s.seconds {
        line.push_str(&format!(" {t:>6.1} s"));
    }
    if s.attempts > 1 {
        line.push_str(&format!("  attempts {}", s.attempts));
    }
    if let Some(what) = s.outputs.as_ref().and_then(left_behind) {
        line.push_str(&format!("  {what}"));
    }
    if let Some(e) = s
        .error
        .as_deref()
        .filter(|_| s.state != forge_core::release::StepState::Skipped)
    {
        line.push_str(&format!("\n      error: {}", e.replace('\n', "\n      ")));
    }
    line
}

/// The artifact a step's outputs name, if any.
pub(super) fn left_behind(outputs: &serde_json::Value) -> Option<String> {
    if let Some(d) = outputs["digest"].as_str() {
        return Some(d.to_owned());
    }
    if let Some(c) = outputs["commit"].as_str() {
        return Some(format!("commit {}", &c[..c.len().min(12)]));
    }
    let jobs: Vec<&str> = outputs["migrations"]
        .as_array()?
        .iter()
        .filter_map(|m| m["ran_as"].as_str())
        .collect();
    (!jobs.is_empty()).then(|| jobs.join(", "))
}

pub(super) fn summary_markdown(outcome: &RunOutcome) -> String {
    let mut md = format!(
        "### forge run `{}` in {}: {}\n\n",
        outcome.run,
        outcome.environment,
        outcome.state.as_str()
    );
    if let Some(r) = &outcome.release {
        md.push_str(&format!("Release `{r}`\n\n"));
    }
    md.push_str("| step | state | time | attempts | left |\n|---|---|---|---|---|\n");
    for s in &outcome.steps {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            s.key,
            s.state.as_str(),
            s.seconds.map(|t| format!("{t:.1} s")).unwrap_or_default(),
            s.attempts,
            s.outputs.as_ref().and_then(left_behind).unwrap_or_default()
        ));
    }
    if let Some((key, error)) = &outcome.failed {
        md.push_str(&format!("\n**Failed at `{key}`**\n\n```\n{error}\n```\n"));
    }
    md
}
