//! Everything the user sees: logging setup, progress display (stderr, only
//! on a terminal), JSON results on stdout, and error reports.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use forge_core::byte_size::human_bytes;
use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

use forge_steps::observer::{Event, Observer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `-v` shows Forge's debug messages, `-vv` everything; `RUST_LOG` wins over both.
pub fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn,forge=info",
        1 => "warn,forge=debug",
        _ => "debug,forge=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose > 1);
    match format {
        LogFormat::Text => builder
            .without_time()
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Whether to draw progress: only for a person watching a terminal.
pub fn progress_enabled() -> bool {
    std::io::stderr().is_terminal()
}

fn spinner(message: &str) -> ProgressBar {
    if !progress_enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg:.dim}").expect("valid template"));
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Renders the steps' [`Event`]s on a terminal: a spinner with the running
/// phase and its latest detail, bytes sent, and for a closure push a bar with
/// paths and bytes done, rate and ETA. Hidden when stderr is no terminal.
pub struct ProgressView {
    bar: Mutex<ProgressBar>,
    total_paths: AtomicUsize,
}

impl ProgressView {
    pub fn new() -> Self {
        Self {
            bar: Mutex::new(ProgressBar::hidden()),
            total_paths: AtomicUsize::new(0),
        }
    }

    fn bar(&self) -> ProgressBar {
        self.bar.lock().expect("progress lock").clone()
    }

    fn replace(&self, bar: ProgressBar) {
        let old = std::mem::replace(&mut *self.bar.lock().expect("progress lock"), bar);
        old.finish_and_clear();
    }

    pub fn finish(&self) {
        self.replace(ProgressBar::hidden());
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
        match event {
            Event::Started(name) => self.replace(spinner(name)),
            Event::Detail(line) => self.bar().set_message(line.to_owned()),
            Event::Sending { sent } => {
                let bar = self.bar();
                if bar.is_hidden() {
                    return;
                }
                let sent = sent.clone();
                tokio::spawn(async move {
                    while !bar.is_finished() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        bar.set_message(format!(
                            "uploaded {}",
                            human_bytes(sent.load(Ordering::Relaxed))
                        ));
                    }
                });
            }
            Event::Finished => self.finish(),
            Event::PushPlanned { plan, bytes } => {
                let bar = if progress_enabled() {
                    ProgressBar::new(plan.upload_bytes())
                } else {
                    ProgressBar::hidden()
                };
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                    )
                    .expect("valid template"),
                );
                self.total_paths
                    .store(plan.uploads.len(), Ordering::Relaxed);
                bar.set_message(format!("0/{} paths", plan.uploads.len()));
                self.replace(bar.clone());
                if bar.is_hidden() {
                    return;
                }
                bar.enable_steady_tick(Duration::from_millis(100));
                let bytes = bytes.clone();
                tokio::spawn(async move {
                    while !bar.is_finished() {
                        bar.set_position(bytes.get());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
            }
            Event::PushAdvanced {
                paths_done,
                bytes_done,
            } => {
                let bar = self.bar();
                bar.set_position(bytes_done);
                let total = self.total_paths.load(Ordering::Relaxed);
                bar.set_message(format!("{paths_done}/{total} paths"));
            }
            Event::PathPushed { info, result } => match result {
                Ok(_) => tracing::debug!("pushed {}", info.path),
                Err(e) => self
                    .bar()
                    .suspend(|| tracing::error!("failed to push {}: {e}", info.path)),
            },
            Event::Step { key, state, detail } => self.bar().suspend(|| match detail {
                Some(d) => eprintln!("{key}: {} ({d})", state.as_str()),
                None => eprintln!("{key}: {}", state.as_str()),
            }),
        }
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("result serialises")
    );
}

/// One line for the error, then its causes.
pub fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

