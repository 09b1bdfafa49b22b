//! Everything the user sees: logging setup, progress display (stderr, only
//! on a terminal), JSON results on stdout, and error reports.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

use crate::adapters::cache::{ByteProgress, CacheError, UploadOutcome};
use crate::domain::path_info::PathInfo;
use crate::domain::push_plan::PushPlan;
use crate::steps::push_closure::PushObserver;

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

pub fn spinner(message: &str) -> ProgressBar {
    if !progress_enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg:.dim}").expect("valid template"));
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The progress bar of `forge cache push`: paths and bytes done, rate, ETA.
pub struct PushDisplay {
    bar: ProgressBar,
    total_paths: AtomicUsize,
}

impl PushDisplay {
    pub fn new() -> Self {
        let bar = if progress_enabled() {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        Self {
            bar,
            total_paths: AtomicUsize::new(0),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for PushDisplay {
    fn default() -> Self {
        Self::new()
    }
}

impl PushObserver for PushDisplay {
    fn planned(&self, plan: &PushPlan, bytes: &ByteProgress) {
        self.bar.set_length(plan.upload_bytes());
        self.total_paths
            .store(plan.uploads.len(), Ordering::Relaxed);
        self.bar
            .set_message(format!("0/{} paths", plan.uploads.len()));
        if self.bar.is_hidden() {
            return;
        }
        self.bar.enable_steady_tick(Duration::from_millis(100));
        let (bar, bytes) = (self.bar.clone(), bytes.clone());
        tokio::spawn(async move {
            while !bar.is_finished() {
                bar.set_position(bytes.get());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    fn advanced(&self, paths_done: usize, bytes_done: u64) {
        self.bar.set_position(bytes_done);
        let total = self.total_paths.load(Ordering::Relaxed);
        self.bar.set_message(format!("{paths_done}/{total} paths"));
    }

    fn path_finished(&self, info: &PathInfo, result: &Result<UploadOutcome, CacheError>) {
        match result {
            Ok(_) => tracing::debug!("pushed {}", info.path),
            Err(e) => self
                .bar
                .suspend(|| tracing::error!("failed to push {}: {e}", info.path)),
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

/// `1.2 MiB`-style sizes for summaries.
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}
