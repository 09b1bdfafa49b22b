//! `/metrics` in the Prometheus text format (0.0.4), from the snapshot:
//! runs and releases by outcome, deploys (pin steps) by environment and
//! outcome, step durations as histograms, the last successful deploy and the
//! drift state per service × environment, steps still running, and the
//! refresher's own health.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use forge_core::status::Drift;

use crate::snapshot::Snapshot;

/// Upper bounds (seconds) of the step-duration buckets.
const BUCKETS: [f64; 11] = [
    0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "forge_runs",
        "gauge",
        "Release runs in the ledger, by state.",
    );
    for (state, n) in &s.runs_by_state {
        sample(&mut out, "forge_runs", &[("state", state)], *n as f64);
    }
    family(
        &mut out,
        "forge_gates_waiting",
        "gauge",
        "Product release runs stopped at a gate (soak, approvals, window, paused).",
    );
    let waiting = s.runs_by_state.get("waiting").copied().unwrap_or(0);
    sample(&mut out, "forge_gates_waiting", &[], waiting as f64);
    family(
        &mut out,
        "forge_releases",
        "gauge",
        "Releases recorded in the ledger.",
    );
    sample(&mut out, "forge_releases", &[], s.releases as f64);

    family(
        &mut out,
        "forge_deploys",
        "gauge",
        "Pins of a service in an environment (deploy steps), by environment and outcome.",
    );
    let mut deploys: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut running: BTreeMap<&str, u64> = BTreeMap::new();
    let mut durations: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for t in &s.steps {
        if t.action == "pin" {
            *deploys.entry((&t.environment, &t.state)).or_default() += 1;
        }
        if t.state == "running" {
            *running.entry(&t.action).or_default() += 1;
        }
        if let (Some(a), Some(b), true) = (
            t.started_at,
            t.finished_at,
            matches!(t.state.as_str(), "succeeded" | "failed"),
        ) {
            durations
                .entry(&t.action)
                .or_default()
                .push((b - a).max(0) as f64 / 1000.0);
        }
    }
    for ((env, outcome), n) in &deploys {
        sample(
            &mut out,
            "forge_deploys",
            &[("environment", env), ("outcome", outcome)],
            *n as f64,
        );
    }

    family(
        &mut out,
        "forge_step_duration_seconds",
        "histogram",
        "How long finished steps took, by action.",
    );
    for (action, values) in &durations {
        for bound in BUCKETS {
            let within = values.iter().filter(|v| **v <= bound).count();
            sample(
                &mut out,
                "forge_step_duration_seconds_bucket",
                &[("action", action), ("le", &bound.to_string())],
                within as f64,
            );
        }
        sample(
            &mut out,
            "forge_step_duration_seconds_bucket",
            &[("action", action), ("le", "+Inf")],
            values.len() as f64,
        );
        sample(
            &mut out,
            "forge_step_duration_seconds_sum",
            &[("action", action)],
            values.iter().sum(),
        );
        sample(
            &mut out,
            "forge_step_duration_seconds_count",
            &[("action", action)],
            values.len() as f64,
        );
    }

    family(
        &mut out,
        "forge_steps_running",
        "gauge",
        "Steps started and not finished (what runs wait on), by action.",
    );
    for (action, n) in &running {
        sample(
            &mut out,
            "forge_steps_running",
            &[("action", action)],
            *n as f64,
        );
    }

    if let Some(status) = &s.status {
        family(
            &mut out,
            "forge_last_successful_deploy_timestamp_seconds",
            "gauge",
            "When the ledger's newest succeeded run of the service in the environment ended.",
        );
        for t in &status.targets {
            if let Some(d) = &t.ledger.deployed {
                sample(
                    &mut out,
                    "forge_last_successful_deploy_timestamp_seconds",
                    &[("service", &t.service), ("environment", &t.environment)],
                    d.at as f64 / 1000.0,
                );
            }
        }
        family(
            &mut out,
            "forge_drift",
            "gauge",
            "1 for the drift class of the service in the environment, 0 for the others.",
        );
        for t in &status.targets {
            for d in Drift::ALL {
                sample(
                    &mut out,
                    "forge_drift",
                    &[
                        ("service", &t.service),
                        ("environment", &t.environment),
                        ("state", d.as_str()),
                    ],
                    if t.drift == d { 1.0 } else { 0.0 },
                );
            }
        }
    }

    family(
        &mut out,
        "forge_status_refresh_timestamp_seconds",
        "gauge",
        "When the status snapshot was last refreshed.",
    );
    if let Some(at) = s.refreshed_at {
        sample(
            &mut out,
            "forge_status_refresh_timestamp_seconds",
            &[],
            at as f64 / 1000.0,
        );
    }
    family(
        &mut out,
        "forge_status_refresh_duration_seconds",
        "gauge",
        "How long the last refresh took.",
    );
    sample(
        &mut out,
        "forge_status_refresh_duration_seconds",
        &[],
        s.refresh_ms as f64 / 1000.0,
    );
    family(
        &mut out,
        "forge_status_refresh_errors_total",
        "counter",
        "Refreshes that failed since the server started.",
    );
    sample(
        &mut out,
        "forge_status_refresh_errors_total",
        &[],
        s.refresh_errors as f64,
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_ledger::StepTiming;

    fn step(action: &str, state: &str, took_ms: i64) -> StepTiming {
        StepTiming {
            service: "app".into(),
            environment: "prod".into(),
            action: action.into(),
            state: state.into(),
            started_at: Some(1_000),
            finished_at: (state != "running").then_some(1_000 + took_ms),
        }
    }

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let s = Snapshot {
            runs_by_state: [("succeeded".to_owned(), 2)].into(),
            releases: 1,
            steps: vec![
                step("build", "succeeded", 700),
                step("build", "failed", 20_000),
                step("pin", "succeeded", 100),
                step("rollout", "running", 0),
            ],
            ..Snapshot::default()
        };
        let text = render(&s);
        assert!(
            text.contains("forge_runs{state=\"succeeded\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("forge_step_duration_seconds_bucket{action=\"build\",le=\"0.5\"} 0\n")
        );
        assert!(text.contains("forge_step_duration_seconds_bucket{action=\"build\",le=\"1\"} 1\n"));
        assert!(text.contains("forge_step_duration_seconds_bucket{action=\"build\",le=\"30\"} 2\n"));
        assert!(
            text.contains("forge_step_duration_seconds_bucket{action=\"build\",le=\"+Inf\"} 2\n")
        );
        assert!(text.contains("forge_step_duration_seconds_sum{action=\"build\"} 20.7\n"));
        assert!(text.contains("forge_deploys{environment=\"prod\",outcome=\"succeeded\"} 1\n"));
        assert!(text.contains("forge_steps_running{action=\"rollout\"} 1\n"));
        assert!(text.contains("forge_gates_waiting 0\n"), "{text}");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        // Every sample line belongs to a declared family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {base} ")), "{line}");
        }
    }
}
