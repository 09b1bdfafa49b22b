//! The measurable work of a [`ProgressView`]: bytes sent (with the rate), a
//! closure push's paths and bytes (a bar with ETA on a terminal), counted
//! things (layers, blobs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use forge_core::byte_size::human_bytes;
use indicatif::{ProgressBar, ProgressStyle};

use super::{clock, ProgressView, TICK};
use crate::global::ProgressMode;

impl ProgressView {
    /// The closure push is over (its step was recorded, or another began).
    pub(super) fn end_push(&self) {
        if let Some((bar, ended)) = self.state().push_bar.take() {
            ended.store(true, Ordering::Relaxed);
            bar.finish_and_clear();
        }
    }

    pub(super) fn sending(&self, sent: &Arc<AtomicU64>) {
        let state = self.state();
        let Some(phase) = state.phases.last() else {
            return;
        };
        let ended = phase.ended.clone();
        let bar = phase.bar.clone();
        let name = phase.name.clone();
        drop(state);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let sent = sent.clone();
        let mode = self.mode;
        let started = self.started;
        runtime.spawn(async move {
            let every = if bar.is_some() {
                Duration::from_millis(200)
            } else {
                TICK
            };
            let since = Instant::now();
            let at_start = sent.load(Ordering::Relaxed);
            loop {
                tokio::time::sleep(every).await;
                if ended.load(Ordering::Relaxed) {
                    break;
                }
                let bytes = sent.load(Ordering::Relaxed);
                let rate = (bytes.saturating_sub(at_start) as f64
                    / since.elapsed().as_secs_f64().max(0.001)) as u64;
                let text = format!("uploaded {} ({}/s)", human_bytes(bytes), human_bytes(rate));
                match (&bar, mode) {
                    (Some(bar), _) => bar.set_message(text),
                    (None, ProgressMode::Plain | ProgressMode::Github) => {
                        eprintln!("{}   {name}: {text}", clock(SystemTime::now()))
                    }
                    (None, ProgressMode::Json) => eprintln!(
                        "{}",
                        serde_json::json!({
                            "schema": "forge.event/v1",
                            "event": "sending",
                            "elapsed_seconds": started.elapsed().as_millis() as f64 / 1000.0,
                            "name": name,
                            "bytes_sent": bytes,
                        })
                    ),
                    _ => break,
                }
            }
        });
    }

    pub(super) fn push_planned(
        &self,
        paths: usize,
        total: u64,
        bytes: &forge_adapters::cache::ByteProgress,
    ) {
        {
            let mut state = self.state();
            state.push_paths = paths;
            state.push_bytes = total;
            state.last_line = Some(Instant::now());
        }
        self.line(&format!(
            "to upload: {paths} path(s), {} of NAR",
            human_bytes(total)
        ));
        self.json(
            "push_planned",
            serde_json::json!({ "paths": paths, "nar_bytes": total }),
        );
        if !self.tty() {
            return;
        }
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_message(format!("0/{paths} paths"));
        bar.enable_steady_tick(Duration::from_millis(100));
        let ended = Arc::new(AtomicBool::new(false));
        let old = self.state().push_bar.replace((bar.clone(), ended.clone()));
        if let Some((old, _)) = old {
            old.finish_and_clear();
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let bytes = bytes.clone();
            runtime.spawn(async move {
                while !ended.load(Ordering::Relaxed) && !bar.is_finished() {
                    bar.set_position(bytes.get());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    }

    pub(super) fn push_advanced(&self, paths_done: usize, bytes_done: u64) {
        let mut state = self.state();
        let (paths, total) = (state.push_paths, state.push_bytes);
        if let Some((bar, _)) = &state.push_bar {
            bar.set_position(bytes_done);
            bar.set_message(format!("{paths_done}/{paths} paths"));
            return;
        }
        let due = paths_done >= paths || state.last_line.is_none_or(|t| t.elapsed() >= TICK);
        if due {
            state.last_line = Some(Instant::now());
        }
        drop(state);
        if due {
            self.line(&format!(
                "uploaded {paths_done}/{paths} path(s), {} of {}",
                human_bytes(bytes_done),
                human_bytes(total)
            ));
        }
        self.json(
            "push_advanced",
            serde_json::json!({ "paths_done": paths_done, "paths": paths, "bytes_done": bytes_done, "nar_bytes": total }),
        );
    }

    /// `done` of `total` (layers compressed): the bar of the running phase
    /// becomes a count with an ETA; plain lines once per tick and at the end.
    pub(super) fn counted(&self, what: &str, done: usize, total: usize) {
        self.json(
            "counted",
            serde_json::json!({ "what": what, "done": done, "total": total }),
        );
        let mut state = self.state();
        if let Some(bar) = state.phases.last().and_then(|p| p.bar.as_ref()) {
            if bar.length() != Some(total as u64) {
                bar.set_length(total as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {prefix} {bar:30} {pos}/{len} {msg:.dim} [{elapsed}, ETA {eta}]",
                    )
                    .expect("valid template"),
                );
            }
            bar.set_position(done as u64);
            bar.set_message(what.to_owned());
            return;
        }
        let due = done >= total || state.last_line.is_none_or(|t| t.elapsed() >= TICK);
        if !due {
            return;
        }
        state.last_line = Some(Instant::now());
        let name = state
            .phases
            .last()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        drop(state);
        self.line(&format!("  {name}: {done}/{total} {what}"));
    }
}
