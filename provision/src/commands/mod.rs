//! One file per subcommand: its clap arguments and `run()`.

pub mod attic;
pub mod postgres;

/// How a command ended, for the exit code (`main.rs` owns the mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do, or changes were applied: exit 0.
    Done,
    /// `--check` found pending changes: exit 2.
    ChangesPending,
}

/// Prints a plan (either kind): JSON with an `applied` flag, or its text with
/// warnings on stderr instead of inline.
pub(crate) fn print_plan(
    json_value: impl serde::Serialize,
    text: &str,
    warnings: &[String],
    json: bool,
    applied: bool,
) {
    if json {
        let mut value = serde_json::to_value(json_value).expect("plans serialize");
        value["applied"] = serde_json::Value::Bool(applied);
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("plans serialize")
        );
    } else {
        for w in warnings {
            eprintln!("warning: {w}");
        }
        let body: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("-- warning: "))
            .collect();
        println!("{}", body.join("\n"));
    }
}
