//! `forge cache`: push closures to binary caches, make signing keys.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use crate::choice::choice;
use crate::exit::{usage, Reported};
use crate::flags::NetworkFlags;
use crate::global::Global;
use crate::output::{print_document, ProgressView};
use forge_adapters::cache::{AnyCache, CacheAccess, CacheError};
use forge_adapters::nix::NixCli;
use forge_adapters::store::LocalStore;
use forge_core::byte_size::human_bytes;
use forge_core::exit_status::ExitStatus;
use forge_core::nix::signing::SigningKey;
use forge_core::secret::Secret;
use forge_steps::build_output::resolve_roots;
use forge_steps::observer::{phase, Event, Observer as _};
use forge_steps::push_closure::{
    default_jobs, push_to_cache, FailedPath, PushOptions, PushReport, PushedPath, UpstreamKeys,
};
use forge_steps::query_closure::{query_closure, ClosureSource};

#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    Push(PushArgs),
    Keygen(KeygenArgs),
}

/// Push the complete closure of flake outputs or store paths to a binary cache.
///
/// Only paths the cache lacks are uploaded, several at a time (references
/// first, then the largest ready path), with retries on transient failures. NARs are read straight from the store
/// and checked against the hash Nix recorded while they upload.
///
/// Caches:
///   file:///srv/cache                  a directory (Nix binary cache layout, zstd)
///   http(s)://host/prefix              any server taking PUT (nginx WebDAV, S3 gateways);
///                                      user:password@ in the URL for basic auth
///   attic+http://host:8080/CACHE       Attic over HTTP; attic://host/CACHE for HTTPS;
///                                      token from ATTIC_TOKEN or --token-file
///
/// Examples:
///   forge cache push --to file:///tmp/cache .#app
///   forge cache push --to http://127.0.0.1:8090 --signing-key ./cache.sec ./result
///   ATTIC_TOKEN=... forge cache push --to attic+http://attic:8080/main .#app
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    /// The cache URL.
    #[arg(long, value_name = "CACHE", env = "FORGE_CACHE")]
    pub to: String,

    /// Nix secret key file (`name:base64`, as `nix key generate-secret` writes) to sign narinfos.
    #[arg(long, value_name = "FILE", env = "FORGE_SIGNING_KEY_FILE")]
    pub signing_key: Option<PathBuf>,

    /// File holding the cache token (Attic JWT or HTTP bearer token); ATTIC_TOKEN works too.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Uploads in flight at once [default: 8 per core].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub network: NetworkFlags,

    /// Leave paths signed by this key to their upstream cache (repeatable).
    /// Attic caches follow their own `upstream_cache_key_names` (as `attic
    /// push` does) and these add to it; other caches default to cache.nixos.org-1.
    #[arg(long, value_name = "KEY_NAME")]
    pub skip_signed_by: Vec<String>,

    /// Push every path, also those signed by upstream keys.
    #[arg(long, conflicts_with = "skip_signed_by")]
    pub push_upstream: bool,

    /// Where closure metadata comes from.
    #[arg(long, value_parser = choice::<ClosureSource>(), default_value = "auto")]
    pub closure_source: ClosureSource,

    /// Show what would be pushed without uploading anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Flake installables (built first) or store paths (`./result` links work too).
    #[arg(required = true, value_name = "INSTALLABLE|STORE_PATH")]
    pub paths: Vec<String>,
}

/// Generate a signing key pair in Nix's format (like `nix key generate-secret`).
///
/// Writes the secret key to FILE (mode 0600) and prints the public key, which
/// goes into `trusted-public-keys` of the machines that substitute.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Key name, conventionally `<cache host>-1`.
    #[arg(long)]
    pub name: String,
    /// Where to write the secret key.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub async fn run(cmd: CacheCommand, global: Global) -> anyhow::Result<()> {
    match cmd {
        CacheCommand::Push(args) => push(args, global).await,
        CacheCommand::Keygen(args) => keygen(args, global),
    }
}

async fn push(args: PushArgs, global: Global) -> anyhow::Result<()> {
    let signing_key = args
        .signing_key
        .as_deref()
        .map(load_signing_key)
        .transpose()?
        .map(Arc::new);
    let token = load_token(args.token_file.as_deref())?;
    let network = args.network.network();
    let cache = AnyCache::open(&args.to, CacheAccess { token, network }).map_err(|e| match e {
        CacheError::Url { .. } => usage(e),
        e => e.into(),
    })?;

    let nix = NixCli::default();
    let store = Arc::new(LocalStore::default());
    let progress = ProgressView::new();
    let resolved = phase(
        &progress,
        "resolving paths",
        resolve_roots(&nix, &args.paths, |line| {
            tracing::debug!(target: "forge::nix", "{line}");
            progress.event(Event::Detail(line));
        }),
    )
    .await?;
    let closure = query_closure(&store, &nix, &resolved.roots, args.closure_source).await?;
    tracing::debug!(
        "closure of {} root(s): {} paths",
        resolved.roots.len(),
        closure.len()
    );

    let options = PushOptions {
        jobs: args.jobs.unwrap_or_else(default_jobs),
        signing_key,
        upstream: UpstreamKeys {
            push_all: args.push_upstream,
            extra: args.skip_signed_by.clone(),
            fallback: vec!["cache.nixos.org-1".into()],
        },
        dry_run: args.dry_run,
        retry: network.retry,
    };
    let report = push_to_cache(&cache, store, options, closure, &progress)
        .await
        .with_context(|| format!("pushing to {}", cache.display_url()))?;
    progress.finish();
    if global.json {
        print_document("cache-push", &CachePushDocument::of(&report));
    } else {
        print_summary(&report);
    }
    if !report.failed.is_empty() {
        for f in &report.failed {
            eprintln!("error: failed to push {}: {}", f.path, f.error);
        }
        let err = anyhow::anyhow!(
            "{} of {} path(s) could not be pushed to {}",
            report.failed.len(),
            report.failed.len() + report.uploaded.len(),
            report.cache
        );
        if global.json {
            // The document on stdout says so already; one JSON document per run.
            crate::output::report_error(&err);
            return Err(Reported(ExitStatus::Failed).into());
        }
        return Err(err);
    }
    Ok(())
}

/// `forge cache push --json` (`forge.cache-push/v1`): a dry run lists what it
/// would upload under `would_upload`, never under `uploaded`.
#[derive(serde::Serialize)]
struct CachePushDocument<'r> {
    cache: &'r str,
    dry_run: bool,
    closure_size: usize,
    already_present: usize,
    skipped_upstream: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    uploaded: Option<&'r [PushedPath]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nar_bytes_uploaded: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    would_upload: Option<&'r [PushedPath]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nar_bytes_would_upload: Option<u64>,
    failed: &'r [FailedPath],
    seconds: f64,
}

impl<'r> CachePushDocument<'r> {
    fn of(r: &'r PushReport) -> Self {
        let (done, planned) = if r.dry_run {
            (None, Some((r.uploaded.as_slice(), r.nar_bytes_uploaded)))
        } else {
            (Some((r.uploaded.as_slice(), r.nar_bytes_uploaded)), None)
        };
        Self {
            cache: &r.cache,
            dry_run: r.dry_run,
            closure_size: r.closure_size,
            already_present: r.already_present,
            skipped_upstream: r.skipped_upstream,
            uploaded: done.map(|d| d.0),
            nar_bytes_uploaded: done.map(|d| d.1),
            would_upload: planned.map(|p| p.0),
            nar_bytes_would_upload: planned.map(|p| p.1),
            failed: &r.failed,
            seconds: r.seconds,
        }
    }
}

fn print_summary(r: &PushReport) {
    let verb = if r.dry_run { "would push" } else { "pushed" };
    let mut line = format!(
        "{verb} {} path(s) ({} NAR) to {}",
        r.uploaded.len(),
        human_bytes(r.nar_bytes_uploaded),
        r.cache
    );
    line.push_str(&format!(
        "; {} of {} already present",
        r.already_present, r.closure_size
    ));
    if r.skipped_upstream > 0 {
        line.push_str(&format!(", {} left to upstream caches", r.skipped_upstream));
    }
    if !r.dry_run {
        line.push_str(&format!(" ({:.2}s)", r.seconds));
    }
    println!("{line}");
    if r.dry_run {
        for p in &r.uploaded {
            println!("  {} ({})", p.path, human_bytes(p.nar_size));
        }
    }
}

pub(crate) fn load_signing_key(path: &std::path::Path) -> anyhow::Result<SigningKey> {
    Ok(forge_steps::config_file::load_signing_key(path)?)
}

fn load_token(file: Option<&std::path::Path>) -> anyhow::Result<Option<Secret>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading token file {}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            bail!("token file {} is empty", path.display());
        }
        return Ok(Some(Secret::new(token)));
    }
    Ok(std::env::var("ATTIC_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret::new(t.trim())))
}

fn keygen(args: KeygenArgs, global: Global) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let key = SigningKey::from_seed(&args.name, seed);
    write_private(&args.out, key.to_secret_text().as_bytes())?;
    let public = key.public_key().to_string();
    if global.json {
        print_document(
            "cache-keygen",
            &serde_json::json!({ "secret_key_file": args.out, "public_key": public }),
        );
    } else {
        println!("{public}");
    }
    Ok(())
}

/// Creates `path` with mode 0600; refuses to overwrite an existing key.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
