//! `forge completions <shell>` and `forge man`: shell completions and man
//! pages generated from the same clap definitions the parser uses.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::Cli;

/// Print a shell completion script on stdout.
///
/// Examples:
///   forge completions bash > /etc/bash_completion.d/forge
///   forge completions zsh > "${fpath[1]}/_forge"
///   forge completions fish > ~/.config/fish/completions/forge.fish
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Write man pages: forge.1 and one page per subcommand (forge-deploy.1, ...).
///
/// Example:
///   forge man --out /usr/local/share/man/man1
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {
    /// The directory to write the pages to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "forge", &mut script);
    // A reader that stops early (`| head`) is not an error.
    match std::io::stdout().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the completion script"),
    }
}

pub fn man(args: ManArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd, &args.out)
        .with_context(|| format!("writing man pages to {}", args.out.display()))?;
    Ok(())
}
