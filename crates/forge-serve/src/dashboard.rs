//! The pages for people, rendered on the server from the snapshot (no
//! JavaScript; a `<meta refresh>` reloads the dashboard): `/` with the
//! environments × services matrix coloured by drift and the newest runs
//! with their step graphs (where each waits), and `/runs/{id}` with one
//! run's steps. Every value from the ledger or git is HTML-escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use forge_core::release::StepState;
use forge_core::status::{Drift, StatusReport, TargetStatus};
use forge_ledger::{ReleaseRecord, RunRecord, StepRecord};

use crate::snapshot::Snapshot;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}\
th{background:#f4f4f4}a{color:#0645ad}code{font-size:12px}\
.in-sync{background:#d9f2d9}.git-ahead,.ledger-stale{background:#fff1c2}.cluster-drift,.failed{background:#f8d0d0}.unknown{background:#e6dcf2}\
.step{display:inline-block;margin:0 .2rem .2rem 0;padding:.1rem .4rem;border-radius:3px;font-size:12px;border:1px solid #bbb}\
.succeeded{background:#d9f2d9}.running{background:#cfe3ff;font-weight:bold}.failed-step{background:#f8d0d0}.skipped,.pending{background:#eee;color:#666}\
.why{color:#555}";

/// Steps in the order a run takes them (then by key).
fn rank(action: &str) -> usize {
    const ORDER: [&str; 9] = [
        "build",
        "cache",
        "image",
        "migrate-before",
        "pin",
        "reconcile",
        "rollout",
        "migrate-after",
        "verify",
    ];
    ORDER
        .iter()
        .position(|a| *a == action)
        .unwrap_or(ORDER.len())
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn page(title: &str, refresh: Option<u64>, body: &str) -> String {
    let meta = refresh
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">"))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{meta}<title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

fn anchor(t: &TargetStatus) -> String {
    format!("t-{}-{}", t.service, t.environment)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn dashboard(s: &Snapshot, refresh_seconds: u64) -> String {
    let mut body = String::from("<h1>Forge: what is deployed where</h1>\n");
    match &s.status {
        None => body.push_str("<p>The first status snapshot is still being gathered.</p>\n"),
        Some(report) => matrix(&mut body, report),
    }
    if let Some(e) = &s.last_error {
        let _ = writeln!(
            body,
            "<p class=\"failed\">The last refresh failed: {}</p>",
            escape(e)
        );
    }
    body.push_str("<h2>Latest runs</h2>\n");
    runs(&mut body, &s.recent);
    legend(&mut body);
    page("Forge status", Some(refresh_seconds), &body)
}

fn matrix(body: &mut String, report: &StatusReport) {
    let envs: BTreeSet<&str> = report
        .targets
        .iter()
        .map(|t| t.environment.as_str())
        .collect();
    let mut by_service: BTreeMap<&str, BTreeMap<&str, &TargetStatus>> = BTreeMap::new();
    for t in &report.targets {
        by_service
            .entry(&t.service)
            .or_default()
            .insert(&t.environment, t);
    }
    let _ = writeln!(
        body,
        "<p>Gathered {} in {} ms.</p>\n<table id=\"matrix\"><tr><th>service</th>{}</tr>",
        time(report.generated_at),
        report.took_ms,
        envs.iter()
            .map(|e| format!("<th>{}</th>", escape(e)))
            .collect::<String>()
    );
    for (service, cells) in &by_service {
        let _ = write!(body, "<tr><th>{}</th>", escape(service));
        for env in &envs {
            match cells.get(env) {
                None => body.push_str("<td></td>"),
                Some(t) => {
                    let _ = write!(
                        body,
                        "<td class=\"{d}\" title=\"{why}\" data-target=\"{service}/{env}\"><a href=\"#{a}\">{d}</a></td>",
                        d = t.drift,
                        why = escape(&t.explanation),
                        service = escape(service),
                        env = escape(env),
                        a = anchor(t)
                    );
                }
            }
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</table>\n<h2>Targets</h2>\n<table><tr><th>target</th><th>drift</th><th>why</th><th>last run</th></tr>\n");
    for t in &report.targets {
        let run = t
            .ledger
            .last_run
            .as_ref()
            .map(|r| {
                format!(
                    "<a href=\"/runs/{id}\">{id}</a> {state} by {actor}",
                    id = escape(&r.id),
                    state = r.state.as_str(),
                    actor = escape(&r.actor)
                )
            })
            .unwrap_or_else(|| "none".into());
        let _ = writeln!(
            body,
            "<tr id=\"{a}\"><td>{s}/{e}</td><td class=\"{d}\">{d}</td><td class=\"why\">{why}</td><td>{run}</td></tr>",
            a = anchor(t),
            s = escape(&t.service),
            e = escape(&t.environment),
            d = t.drift,
            why = escape(&t.explanation)
        );
    }
    body.push_str("</table>\n");
}

fn step_graph(steps: &[StepRecord]) -> String {
    let mut sorted: Vec<&StepRecord> = steps.iter().collect();
    sorted.sort_by_key(|s| (rank(s.key.action()), s.key.as_str().to_owned()));
    sorted
        .iter()
        .map(|s| {
            let class = match s.state {
                StepState::Failed => "failed-step",
                other => other.as_str(),
            };
            let waiting = if s.state == StepState::Running {
                " (waiting)"
            } else {
                ""
            };
            format!(
                "<span class=\"step {class}\" title=\"{state}\">{key}{waiting}</span>",
                state = s.state.as_str(),
                key = escape(s.key.as_str())
            )
        })
        .collect::<Vec<_>>()
        .join("→")
}

fn runs(body: &mut String, recent: &[(RunRecord, Vec<StepRecord>)]) {
    if recent.is_empty() {
        body.push_str("<p>No runs in the ledger yet.</p>\n");
        return;
    }
    body.push_str("<table id=\"runs\"><tr><th>run</th><th>environment</th><th>state</th><th>release</th><th>by</th><th>updated</th><th>steps</th></tr>\n");
    for (run, steps) in recent {
        let release = run
            .release
            .as_ref()
            .map(|r| {
                format!(
                    "<a href=\"/releases/{id}\">{id}</a>",
                    id = escape(r.as_str())
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "<tr><td><a href=\"/runs/{id}\">{id}</a></td><td>{env}</td><td>{state}</td><td>{release}</td><td>{actor}</td><td>{at}</td><td>{graph}</td></tr>",
            id = escape(run.id.as_str()),
            env = escape(&run.environment),
            state = run.state.as_str(),
            actor = escape(&run.actor),
            at = time(run.updated_at),
            graph = step_graph(steps)
        );
    }
    body.push_str("</table>\n");
}

fn legend(body: &mut String) {
    body.push_str("<h2>Legend</h2>\n<ul>\n");
    for d in Drift::ALL {
        let _ = writeln!(
            body,
            "<li><span class=\"step {d}\">{d}</span> {}</li>",
            d.meaning()
        );
    }
    body.push_str("</ul>\n<p><a href=\"/api/v1/status\">status JSON</a> · <a href=\"/metrics\">metrics</a></p>\n");
}

/// `/runs/{id}`: the run, its steps in order, and what it waits on.
pub fn run_page(run: &RunRecord, steps: &[StepRecord]) -> String {
    let mut body = format!(
        "<p><a href=\"/\">← dashboard</a></p>\n<h1>Run {id}</h1>\n<p>{state} · {env} · {services} · by {actor} · started {start} · updated {upd}</p>\n",
        id = escape(run.id.as_str()),
        state = run.state.as_str(),
        env = escape(&run.environment),
        services = escape(&run.services.join(", ")),
        actor = escape(&run.actor),
        start = time(run.created_at),
        upd = time(run.updated_at),
    );
    if let Some(release) = &run.release {
        let _ = writeln!(
            body,
            "<p>Ships <a href=\"/releases/{id}\">{id}</a>.</p>",
            id = escape(release.as_str())
        );
    }
    let waiting: Vec<&StepRecord> = steps
        .iter()
        .filter(|s| s.state == StepState::Running)
        .collect();
    if waiting.is_empty() {
        body.push_str("<p id=\"waiting\">Waiting on nothing.</p>\n");
    } else {
        let _ = writeln!(
            body,
            "<p id=\"waiting\">Waiting on: {}</p>",
            waiting
                .iter()
                .map(|s| format!("<strong>{}</strong>", escape(s.key.as_str())))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(body, "<p>{}</p>", step_graph(steps));
    body.push_str("<table id=\"steps\"><tr><th>step</th><th>state</th><th>attempts</th><th>started</th><th>finished</th><th>error</th></tr>\n");
    let mut sorted: Vec<&StepRecord> = steps.iter().collect();
    sorted.sort_by_key(|s| (rank(s.key.action()), s.key.as_str().to_owned()));
    for s in sorted {
        let _ = writeln!(
            body,
            "<tr><td>{key}</td><td>{state}</td><td>{n}</td><td>{start}</td><td>{end}</td><td><code>{err}</code></td></tr>",
            key = escape(s.key.as_str()),
            state = s.state.as_str(),
            n = s.attempts,
            start = s.started_at.map(time).unwrap_or_default(),
            end = s.finished_at.map(time).unwrap_or_default(),
            err = escape(s.error.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table>\n");
    page(&format!("Run {}", run.id), None, &body)
}

/// `/releases/{id}`: what ships (per service the pinned digest, image and
/// store paths) and the runs that shipped it.
pub fn release_page(record: &ReleaseRecord, runs: &[RunRecord]) -> String {
    let r = &record.release;
    let mut body = format!(
        "<p><a href=\"/\">← dashboard</a></p>\n<h1>Release {id}</h1>\n<p>{flake} at {rev} · recorded {at} · <a href=\"/api/v1/releases/{id}\">JSON</a></p>\n",
        id = escape(record.id.as_str()),
        flake = escape(&r.flake),
        rev = escape(r.revision.as_deref().unwrap_or("no revision")),
        at = time(record.created_at),
    );
    body.push_str("<table id=\"services\"><tr><th>service</th><th>pinned digest</th><th>image</th><th>store paths</th></tr>\n");
    for (name, a) in &r.services {
        let paths: Vec<String> = a
            .store_paths
            .iter()
            .map(|(arch, p)| format!("{}: <code>{}</code>", escape(arch), escape(p)))
            .collect();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            escape(name),
            escape(&a.pinned_digest),
            escape(&a.image),
            paths.join("<br>")
        );
    }
    body.push_str("</table>\n<h2>Runs</h2>\n");
    if runs.is_empty() {
        body.push_str("<p>No run shipped it yet.</p>\n");
    } else {
        body.push_str("<ul id=\"runs\">\n");
        for run in runs {
            let _ = writeln!(
                body,
                "<li><a href=\"/runs/{id}\">{id}</a> {state} · {env} · by {actor} · {at}</li>",
                id = escape(run.id.as_str()),
                state = run.state.as_str(),
                env = escape(&run.environment),
                actor = escape(&run.actor),
                at = time(run.updated_at)
            );
        }
        body.push_str("</ul>\n");
    }
    page(&format!("Release {}", record.id), None, &body)
}

pub fn not_found(what: &str) -> String {
    page(
        "Not found",
        None,
        &format!(
            "<p><a href=\"/\">← dashboard</a></p>\n<h1>Not found</h1>\n<p>{}</p>\n",
            escape(what)
        ),
    )
}
