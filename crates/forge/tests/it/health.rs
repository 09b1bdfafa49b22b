//! `forge health` on input that must not pass for healthy: nothing at all,
//! objects that are not Kubernetes objects, statuses that say nothing, and
//! files built to make the parser explode.

use std::path::Path;
use std::process::Output;

use crate::support::{forge, stderr};

const EXIT_BAD_INPUT: i32 = 2;
const EXIT_IN_PROGRESS: i32 = 3;

fn health(args: &[&str], files: &[&Path]) -> Output {
    let mut cmd = forge();
    cmd.arg("health").args(args);
    for f in files {
        cmd.arg("--file").arg(f);
    }
    cmd.output().unwrap()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: prod}\nstatus:\n  phase: Running\n  conditions: [{type: Ready, status: \"True\"}]\n  containerStatuses: [{name: app, ready: true, restartCount: 0, state: {running: {}}}]\n";

#[test]
fn no_objects_is_bad_input_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let empty_list = write(
        tmp.path(),
        "list.yaml",
        "apiVersion: v1\nkind: List\nitems: []\n",
    );
    let pod = write(tmp.path(), "pod.yaml", POD);
    // What `--file <(kubectl get …)` reads when kubectl fails.
    let devnull = Path::new("/dev/null");
    for files in [&[devnull][..], &[empty_list.as_path()], &[&pod, devnull]] {
        let out = health(&[], files);
        assert_eq!(out.status.code(), Some(EXIT_BAD_INPUT), "{files:?}");
        let err = stderr(&out);
        assert!(err.contains("no Kubernetes objects"), "{err}");
        assert!(err.contains("--allow-empty"), "{err}");
    }
    assert!(stderr(&health(&[], &[devnull])).contains("/dev/null: no Kubernetes objects"));
    let allowed = health(&["--allow-empty"], &[&pod, devnull, &empty_list]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
}

#[test]
fn an_object_without_api_version_is_bad_input_and_an_empty_status_is_not_current() {
    let tmp = tempfile::tempdir().unwrap();
    let no_api_version = write(
        tmp.path(),
        "no-api-version.yaml",
        format!(
            "{POD}---\nkind: Deployment\nmetadata: {{name: app, namespace: prod}}\nstatus: {{}}\n"
        ),
    );
    let out = health(&[], &[&no_api_version]);
    assert_eq!(out.status.code(), Some(EXIT_BAD_INPUT));
    let err = stderr(&out);
    assert!(
        err.contains("no-api-version.yaml: document 2: Deployment prod/app has no apiVersion"),
        "{err}"
    );
    let no_kind = write(
        tmp.path(),
        "no-kind.yaml",
        "apiVersion: apps/v1\nmetadata: {name: app}\n",
    );
    let err = stderr(&health(&[], &[&no_kind]));
    assert!(
        err.contains("no-kind.yaml: document 1: not a Kubernetes object: no kind"),
        "{err}"
    );

    let empty_status = write(
        tmp.path(),
        "empty-status.yaml",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: kube-system, generation: 1}\nstatus: {observedGeneration: 1}\n",
    );
    let out = health(&[], &[&empty_status]);
    assert_eq!(
        out.status.code(),
        Some(EXIT_IN_PROGRESS),
        "{}",
        stderr(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no status.desiredNumberScheduled"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn pathological_and_non_utf8_manifests_are_refused_with_their_location() {
    let tmp = tempfile::tempdir().unwrap();
    let nested = write(
        tmp.path(),
        "nested.yaml",
        format!("apiVersion: v1\nkind: {}\n", "[".repeat(200_000)),
    );
    let out = health(&[], &[&nested]);
    assert_eq!(out.status.code(), Some(EXIT_BAD_INPUT));
    let err = stderr(&out);
    assert!(
        err.contains("nested.yaml:2:134: nested more than 128 levels deep"),
        "{err}"
    );

    let huge = write(
        tmp.path(),
        "huge.yaml",
        format!("{POD}{}", "#\n".repeat(17 << 20)),
    );
    let err = stderr(&health(&[], &[&huge]));
    assert!(err.contains("huge.yaml: larger than 32.00 MiB"), "{err}");

    let latin1 = write(
        tmp.path(),
        "latin1.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xe9}\n",
    );
    let out = health(&[], &[&latin1]);
    assert_eq!(out.status.code(), Some(EXIT_BAD_INPUT));
    let err = stderr(&out);
    assert!(
        err.contains("latin1.yaml:3:21: not UTF-8 (byte 0xe9)"),
        "{err}"
    );
}
