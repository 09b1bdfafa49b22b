//! `forge kustomize set-image`: pin an image in a kustomization.yaml without
//! reformatting it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use forge_io::atomic_file::{self, FileMode};
use forge_io::file_lock::FileLock;

use crate::exit::{usage, Located, Location};
use crate::global::Global;
use crate::output::print_document;
use forge_core::gitops::kustomize_edit::{
    decode, set_image, unified_diff, EditAction, EditError, ImageEdit,
};

#[derive(Debug, clap::Subcommand)]
pub enum KustomizeCommand {
    SetImage(SetImageArgs),
}

/// Set newName, newTag and/or digest of one `images:` entry, keeping the file byte for byte otherwise.
///
/// Only the entry whose `name` is exactly NAME changes; a missing key is added
/// at the entry's indentation, a missing entry (or `images:` section) is
/// appended unless --no-add. Comments, key order, quoting, indentation, CRLF
/// and Flux `# {"$imagepolicy": ...}` markers are kept. Fields not given are
/// left as they are (nothing is removed): with --tag and --digest both are
/// written and the digest is what gets pulled. One-line flow style
/// (`images: [{name: app, newTag: v1}]`) is edited in place; flow style over
/// several lines is refused. An unchanged result writes nothing. A UTF-8
/// byte order mark is kept.
/// Writes are atomic (temporary file and rename, file mode kept), and runs on
/// the same file take turns (a lock beside it, `.FILE.forge-lock`, waited
/// for up to 30 s), so concurrent edits of different entries all land.
///
/// Examples:
///   forge kustomize set-image deploy/prod/kustomization.yaml ghcr.io/acme/app \
///     --tag 1.4.2 --digest sha256:4f2c...
///   forge kustomize set-image k.yaml app --new-name registry.local/app --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(group(clap::ArgGroup::new("fields").required(true).multiple(true)))]
pub struct SetImageArgs {
    /// The kustomization file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The entry's `name`: the image as the base manifests spell it.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Image name to substitute (registry and repository, no tag).
    #[arg(long, value_name = "N", group = "fields")]
    pub new_name: Option<String>,
    #[arg(long, value_name = "T", group = "fields")]
    pub tag: Option<String>,
    /// `sha256:<hex>`; pins the image whatever the tag says.
    #[arg(long, value_name = "sha256:...", group = "fields")]
    pub digest: Option<String>,
    /// Print the unified diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Fail when there is no entry named NAME instead of adding one.
    #[arg(long)]
    pub no_add: bool,
}

/// The `--json` result.
#[derive(Debug, serde::Serialize)]
pub struct SetImageReport {
    pub file: PathBuf,
    pub changed: bool,
    pub action: EditAction,
    pub written: bool,
    pub diff: String,
    pub notes: Vec<String>,
}

pub async fn run(cmd: KustomizeCommand, global: Global) -> anyhow::Result<()> {
    match cmd {
        KustomizeCommand::SetImage(args) => set_image_cmd(args, global),
    }
}

/// How long a run waits for another one editing the same file: an edit takes
/// milliseconds, so this much means a hung process.
const LOCK_WAIT: Duration = Duration::from_secs(30);

fn set_image_cmd(args: SetImageArgs, global: Global) -> anyhow::Result<()> {
    let file = &args.file;
    let reading = || format!("reading {}", file.display());
    // A missing file is reported as before, not as a lock beside it.
    std::fs::metadata(file)
        .with_context(reading)
        .map_err(usage)?;
    // Read, edit and write as one step against other runs on the file, or one
    // run writes over the other's edit. A dry run only reads.
    let lock = (!args.dry_run)
        .then(|| FileLock::acquire(file, LOCK_WAIT))
        .transpose()?;
    let bytes = std::fs::read(file).with_context(reading)?;
    // `file:line:column: message`, as compilers print it.
    // The file or the flags are wrong: a usage error (exit status 2).
    let located = |e: EditError| match e {
        EditError::At {
            line,
            column,
            message,
        } => anyhow::Error::new(Located {
            at: Location {
                file: file.display().to_string(),
                line,
                column,
            },
            message,
        }),
        _ => usage(anyhow!("{}: {e}", file.display())),
    };
    let text = decode(&bytes).map_err(located)?;
    let edit = ImageEdit {
        name: args.name.clone(),
        new_name: args.new_name,
        new_tag: args.tag,
        digest: args.digest,
        allow_add: !args.no_add,
    };
    let outcome = set_image(text, &edit).map_err(located)?;
    let diff = unified_diff(text, &outcome.text, &file.display().to_string());
    let write = outcome.changed() && !args.dry_run;
    if write {
        write_atomically(file, outcome.text.as_bytes())?;
    }
    drop(lock);
    if global.json {
        print_document(
            "kustomize-set-image",
            &SetImageReport {
                file: file.clone(),
                changed: outcome.changed(),
                action: outcome.action,
                written: write,
                diff,
                notes: outcome.notes,
            },
        );
        return Ok(());
    }
    for note in &outcome.notes {
        tracing::warn!("{note}");
    }
    let name = &args.name;
    match (outcome.action, args.dry_run) {
        (EditAction::Unchanged, _) => println!("{}: unchanged (image {name})", file.display()),
        (_, true) => print!("{diff}"),
        (EditAction::Updated, false) => println!("{}: updated image {name}", file.display()),
        (EditAction::Added, false) => println!("{}: added image {name}", file.display()),
    }
    Ok(())
}

/// Replaces `path` with `bytes` (the shared atomic writer, keeping the file's
/// permissions; a symlink's target is replaced, not the link).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    atomic_file::write(path, bytes, FileMode::KeepExisting)
        .with_context(|| format!("replacing {}", path.display()))
}
