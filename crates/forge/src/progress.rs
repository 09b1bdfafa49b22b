//! The one renderer of the steps' [`Event`]s on stderr, in the mode the
//! command line chose ([`ProgressMode`]): a live multi-line view on a
//! terminal, timestamped lines as things happen, one JSON event per line, or
//! the same lines in GitHub Actions `::group::` sections.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use forge_core::deploy_report::{Status, StepLine};
use forge_core::release::StepState;
use forge_steps::observer::{Event, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

mod transfers;

use crate::github::escape_data;
use crate::global::ProgressMode;

static MODE: OnceLock<ProgressMode> = OnceLock::new();

/// The one live view on the terminal: every [`ProgressView`] in `tty` mode
/// draws into it, and log lines go through it ([`LogWriter`]) so they scroll
/// above the bars instead of tearing them.
fn live() -> &'static MultiProgress {
    static LIVE: OnceLock<MultiProgress> = OnceLock::new();
    LIVE.get_or_init(|| {
        if mode() == ProgressMode::Tty {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        }
    })
}

/// stderr for log lines, drawn above the live view when there is one.
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // In a GitHub Actions job a warning is also an annotation.
        if mode() == ProgressMode::Github {
            let text = String::from_utf8_lossy(buf);
            if let Some(message) = text.trim_start().strip_prefix("WARN ") {
                let line = format!("::warning::{}\n", escape_data(message.trim_end()));
                std::io::stderr().write_all(line.as_bytes())?;
            }
        }
        let mut result = Ok(0);
        live().suspend(|| result = std::io::stderr().write(buf));
        result
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Sets the mode every [`ProgressView`] of this process uses (once, from `main`).
pub fn configure(mode: ProgressMode) {
    let _ = MODE.set(mode);
}

fn mode() -> ProgressMode {
    match MODE.get() {
        Some(m) => *m,
        None if std::io::stderr().is_terminal() => ProgressMode::Tty,
        None => ProgressMode::None,
    }
}

/// How often plain and JSON output report a transfer that keeps going.
const TICK: Duration = Duration::from_secs(5);

/// A running phase: what it is called, since when, and whether it ended
/// (tickers watching its bytes stop then).
struct Phase {
    name: String,
    started: Instant,
    ended: Arc<AtomicBool>,
    bar: Option<ProgressBar>,
}

#[derive(Default)]
struct State {
    phases: Vec<Phase>,
    /// Release-run steps running now (a run may run several at once).
    steps: HashMap<String, (Instant, Option<ProgressBar>)>,
    push_paths: usize,
    push_bytes: u64,
    /// The closure push's bar (terminal), until the push is over.
    push_bar: Option<(ProgressBar, Arc<AtomicBool>)>,
    last_line: Option<Instant>,
    group_open: bool,
}

/// Renders [`Event`]s on stderr in the process's [`ProgressMode`].
pub struct ProgressView {
    mode: ProgressMode,
    started: Instant,
    multi: MultiProgress,
    state: Mutex<State>,
}

impl ProgressView {
    pub fn new() -> Self {
        Self::with_mode(mode())
    }

    pub fn with_mode(mode: ProgressMode) -> Self {
        let multi = if mode == ProgressMode::Tty {
            live().clone()
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        };
        Self {
            mode,
            started: Instant::now(),
            multi,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends every bar (the command is about to print its result).
    pub fn finish(&self) {
        self.end_push();
        let mut state = self.state();
        for phase in state.phases.drain(..) {
            phase.ended.store(true, Ordering::Relaxed);
            if let Some(bar) = phase.bar {
                bar.finish_and_clear();
            }
        }
        for (_, (_, bar)) in state.steps.drain() {
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        }
        if state.group_open {
            state.group_open = false;
            eprintln!("::endgroup::");
        }
    }

    /// A line above the live view, or a timestamped line.
    fn line(&self, text: &str) {
        match self.mode {
            ProgressMode::Tty => self.multi.suspend(|| eprintln!("{text}")),
            ProgressMode::Plain | ProgressMode::Github => {
                eprintln!("{} {text}", clock(SystemTime::now()))
            }
            ProgressMode::Json | ProgressMode::None | ProgressMode::Auto => {}
        }
    }

    fn json(&self, event: &str, mut fields: serde_json::Value) {
        if self.mode != ProgressMode::Json {
            return;
        }
        if let Some(map) = fields.as_object_mut() {
            map.insert("schema".into(), "forge.event/v1".into());
            map.insert("event".into(), event.into());
            map.insert(
                "elapsed_seconds".into(),
                (self.started.elapsed().as_millis() as f64 / 1000.0).into(),
            );
        }
        eprintln!("{fields}");
    }

    fn tty(&self) -> bool {
        self.mode == ProgressMode::Tty
    }

    fn spinner(&self, message: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg:.dim} [{elapsed}]")
                .expect("valid template"),
        );
        bar.set_prefix(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn started(&self, name: &str) {
        self.end_push();
        let bar = self.tty().then(|| self.spinner(name));
        let mut state = self.state();
        if self.mode == ProgressMode::Github && !state.group_open && state.phases.is_empty() {
            state.group_open = true;
            eprintln!("::group::{}", escape_data(name));
        }
        state.phases.push(Phase {
            name: name.to_owned(),
            started: Instant::now(),
            ended: Arc::new(AtomicBool::new(false)),
            bar,
        });
        drop(state);
        if !self.tty() {
            self.line(&format!("started: {name}"));
        }
        self.json("started", serde_json::json!({ "name": name }));
    }

    fn finished(&self) {
        let mut state = self.state();
        let Some(phase) = state.phases.pop() else {
            return;
        };
        let close_group = state.group_open && state.phases.is_empty();
        if close_group {
            state.group_open = false;
        }
        drop(state);
        phase.ended.store(true, Ordering::Relaxed);
        if let Some(bar) = &phase.bar {
            bar.finish_and_clear();
        }
        let secs = phase.started.elapsed().as_secs_f64();
        if !self.tty() {
            self.line(&format!("finished: {} ({secs:.1} s)", phase.name));
        }
        if close_group {
            eprintln!("::endgroup::");
        }
        self.json(
            "finished",
            serde_json::json!({ "name": phase.name, "seconds": secs }),
        );
    }

    fn detail(&self, text: &str) {
        let mut state = self.state();
        if let Some(bar) = state.phases.last().and_then(|p| p.bar.as_ref()) {
            bar.set_message(text.to_owned());
            return;
        }
        if matches!(self.mode, ProgressMode::Plain | ProgressMode::Github) {
            // Nix and Flux say a lot; one line per tick shows it is moving.
            let due = state.last_line.is_none_or(|t| t.elapsed() >= TICK);
            if !due {
                return;
            }
            state.last_line = Some(Instant::now());
            drop(state);
            self.line(&format!("  {text}"));
            return;
        }
        drop(state);
        self.json("detail", serde_json::json!({ "line": text }));
    }

    fn step(&self, key: &str, state: StepState, detail: Option<&str>) {
        let text = match detail {
            Some(d) => format!("{key}: {} ({d})", state.as_str()),
            None => format!("{key}: {}", state.as_str()),
        };
        self.json(
            "step",
            serde_json::json!({ "key": key, "state": state.as_str(), "detail": detail }),
        );
        let mut steps = self.state();
        match state {
            StepState::Running => {
                let bar = self.tty().then(|| self.spinner(key));
                steps.steps.insert(key.to_owned(), (Instant::now(), bar));
                drop(steps);
                if !self.tty() {
                    self.line(&text);
                }
            }
            StepState::Pending => {}
            StepState::Succeeded | StepState::Failed | StepState::Skipped => {
                let running = steps.steps.remove(key);
                drop(steps);
                let secs = running.as_ref().map(|(t, _)| t.elapsed().as_secs_f64());
                if let Some((_, Some(bar))) = running {
                    bar.finish_and_clear();
                }
                let mark = match state {
                    StepState::Succeeded => "ok",
                    StepState::Failed => "FAILED",
                    _ => "skipped",
                };
                let text = match secs {
                    Some(s) if state != StepState::Skipped => format!("{text} in {s:.1} s"),
                    _ => text,
                };
                if self.tty() {
                    self.line(&format!("{mark:>7} {text}"));
                } else {
                    self.line(&text);
                }
            }
        }
    }

    fn recorded(&self, line: &StepLine) {
        self.end_push();
        let status = line.status.label();
        self.json(
            "step_recorded",
            serde_json::json!({
                "step": line.step.name(),
                "status": status.to_ascii_lowercase(),
                "detail": line.status.detail(),
            }),
        );
        let first = line.status.detail().lines().next().unwrap_or_default();
        let mark = match line.status {
            Status::Failed(_) => "FAILED",
            _ => status,
        };
        self.line(&format!("{:<9} {mark:<9} {first}", line.step.name()));
    }
}

impl Default for ProgressView {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ProgressView {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Observer for ProgressView {
    fn event(&self, event: Event<'_>) {
        if self.mode == ProgressMode::None {
            return;
        }
        match event {
            Event::Started(name) => self.started(name),
            Event::Detail(line) => self.detail(line),
            Event::Sending { sent } => self.sending(sent),
            Event::Finished => self.finished(),
            Event::PushPlanned { plan, bytes } => {
                self.push_planned(plan.uploads.len(), plan.upload_bytes(), bytes)
            }
            Event::PushAdvanced {
                paths_done,
                bytes_done,
            } => self.push_advanced(paths_done, bytes_done),
            Event::PathPushed { info, result } => match result {
                Ok(_) => tracing::debug!("pushed {}", info.path),
                Err(e) => {
                    let text = format!("failed to push {}: {e}", info.path);
                    self.json(
                        "path_failed",
                        serde_json::json!({ "path": info.path.to_string(), "error": e.to_string() }),
                    );
                    if self.mode == ProgressMode::Github {
                        eprintln!("::error::{}", escape_data(&text));
                    } else if self.mode != ProgressMode::Json {
                        self.line(&format!("error: {text}"));
                    }
                }
            },
            Event::Step { key, state, detail } => self.step(key.as_str(), state, detail),
            Event::Recorded(line) => self.recorded(line),
            Event::Counted { what, done, total } => self.counted(what, done, total),
        }
    }
}

/// `HH:MM:SS` (UTC) of `t`.
fn clock(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc_time_of_day() {
        let t = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 13 + 60 * 5 + 9);
        assert_eq!(clock(t), "13:05:09");
    }
}
