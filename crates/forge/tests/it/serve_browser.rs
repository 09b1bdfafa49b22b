//! The dashboard in a real headless Chromium (Debian's `chromium`; the
//! screenshots with JavaScript disabled): the matrix shows each target's drift, the run page
//! shows the step a crashed run waits on, and screenshots are written under
//! `target/tmp/` for people to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::release_local::Fleet;
use crate::serve_api::Server;
use crate::support::forge;

/// `chromium --headless` with a profile of its own.
fn chromium(profile: &Path) -> Command {
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=1280,900",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The DOM after Chromium loaded and laid out `url` (`--dump-dom` needs
/// JavaScript itself; the pages have none: see the screenshots).
fn dom(profile: &Path, url: &str) -> String {
    let out = chromium(profile)
        .args(["--dump-dom", url])
        .output()
        .expect("spawn chromium (apt-get install chromium; scripts/install-deps does)");
    assert!(
        out.status.success(),
        "chromium --dump-dom {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn screenshot(profile: &Path, url: &str, name: &str) -> PathBuf {
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&file);
    // With JavaScript off: the page must be usable without it.
    let out = chromium(profile)
        .arg("--disable-javascript")
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .output()
        .expect("spawn chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&file).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG"),
        "no screenshot at {}",
        file.display()
    );
    eprintln!("screenshot: {}", file.display());
    file
}

#[test]
fn the_dashboard_renders_in_chromium_without_javascript() {
    let fleet = Fleet::with_services("  app: {}\n  lib: {}\n");
    let (out, v) = fleet.run(&["orchestrate-release", "app", "lib", "--env", "dev"]);
    assert!(out.status.success(), "{v}");
    // A second run of lib, killed in its pin step: it waits there.
    let out = fleet
        .forge_cmd(&["orchestrate-release", "lib", "--env", "dev"])
        .env("FORGE_CRASH_AT", "lib/dev/pin:before")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let crashed = fleet.newest_run()["id"].as_str().unwrap().to_owned();

    let mut command = forge();
    command
        .arg("serve")
        .arg("--config")
        .arg(fleet.path("deploy.yaml"));
    let server = Server::spawn(command, None);
    let base = server.base.clone();
    let profile = tempfile::tempdir().unwrap();

    let page = dom(profile.path(), &format!("{base}/"));
    assert!(
        page.contains("<td class=\"in-sync\" title=") && page.contains("data-target=\"app/dev\""),
        "{page}"
    );
    assert!(page.contains("lib/dev/pin (waiting)"), "{page}");
    assert!(
        page.contains(&format!("href=\"/runs/{crashed}\"")),
        "{page}"
    );
    screenshot(profile.path(), &format!("{base}/"), "forge-dashboard.png");

    let run = dom(profile.path(), &format!("{base}/runs/{crashed}"));
    assert!(
        run.contains("Waiting on: <strong>lib/dev/pin</strong>"),
        "{run}"
    );
    screenshot(
        profile.path(),
        &format!("{base}/runs/{crashed}"),
        "forge-run.png",
    );
}
