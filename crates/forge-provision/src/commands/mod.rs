//! One file per subcommand: its clap arguments and `run()`.

pub mod attic;
pub mod postgres;

/// How a command ended, for the exit code (`main.rs` owns the mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do, or changes were applied: exit 0.
    Done,
    /// `--check` found pending changes: exit 4.
    ChangesPending,
}

/// Prints a plan (either kind): JSON with `schema` (`forge.provision-<kind>/v1`,
/// as forge's documents name themselves) and an `applied` flag, or its text
/// with warnings on stderr instead of inline.
pub(crate) fn print_plan(
    kind: &str,
    json_value: impl serde::Serialize,
    text: &str,
    warnings: &[String],
    json: bool,
    applied: bool,
) {
    if json {
        let mut value = serde_json::to_value(json_value).expect("plans serialize");
        value["applied"] = serde_json::Value::Bool(applied);
        value["schema"] = format!("forge.provision-{kind}/v1").into();
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

/// A spec file as read from disk: its display path (for error locations), its
/// text, and the directory `*_file` references are relative to.
pub(crate) struct SpecFile {
    pub path: String,
    pub text: String,
    pub base_dir: std::path::PathBuf,
}

/// Reads `config`; the error carries the display path for the caller's error type.
pub(crate) fn read_spec(config: &std::path::Path) -> Result<SpecFile, (String, std::io::Error)> {
    let path = config.display().to_string();
    let text = std::fs::read_to_string(config).map_err(|e| (path.clone(), e))?;
    let base_dir = config
        .parent()
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    Ok(SpecFile {
        path,
        text,
        base_dir,
    })
}
