//! `tests/fixtures/kustomize/<case>/{kustomization.yaml,args}`: the args line
//! is `NAME [--new-name N] [--tag T] [--digest D] [--no-add]`; the snapshot is
//! the unified diff (or the error). Each successful edit must be idempotent.

use std::path::Path;
use std::process::Command;

use forge_core::gitops::kustomize_edit::{decode, set_image, unified_diff, EditError, ImageEdit};

use crate::{fixtures, sorted_entries};

fn parse_args(line: &str) -> ImageEdit {
    let mut words = line.split_whitespace();
    let mut edit = ImageEdit {
        name: words.next().expect("NAME").to_owned(),
        allow_add: true,
        ..ImageEdit::default()
    };
    while let Some(flag) = words.next() {
        let mut value = || Some(words.next().expect("flag value").to_owned());
        match flag {
            "--new-name" => edit.new_name = value(),
            "--tag" => edit.new_tag = value(),
            "--digest" => edit.digest = value(),
            "--no-add" => edit.allow_add = false,
            other => panic!("unknown flag {other}"),
        }
    }
    edit
}

/// The text is an error for a file that is not UTF-8.
fn load(case: &Path) -> (Result<String, EditError>, String, ImageEdit) {
    let bytes = std::fs::read(case.join("kustomization.yaml")).expect("kustomization.yaml");
    let text = decode(&bytes).map(str::to_owned);
    let args = std::fs::read_to_string(case.join("args")).expect("args");
    let args = args.trim().to_owned();
    let edit = parse_args(&args);
    (text, args, edit)
}

/// Makes CR and a byte order mark visible in snapshots.
fn visible(s: &str) -> String {
    s.replace('\r', "␍").replace('\u{feff}', "<BOM>")
}

#[test]
fn kustomize_corpus() {
    let cases = sorted_entries(&fixtures("kustomize"));
    assert!(cases.len() >= 12, "the corpus shrank");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (text, args, edit) = load(&case);
        let edited = text.and_then(|text| Ok((set_image(&text, &edit)?, text)));
        let report = match edited {
            Ok((out, text)) => {
                let again = set_image(&out.text, &edit)
                    .unwrap_or_else(|e| panic!("{name}: second run failed: {e}"));
                assert!(!again.changed(), "{name}: second run changed the file");
                assert_eq!(again.text, out.text, "{name}");
                if !out.changed() {
                    assert_eq!(out.text, text, "{name}");
                }
                assert_eq!(
                    out.text.starts_with('\u{feff}'),
                    text.starts_with('\u{feff}'),
                    "{name}: byte order mark"
                );
                let notes: String = out.notes.iter().map(|n| format!("note: {n}\n")).collect();
                format!(
                    "args: {args}\naction: {:?}\n{notes}{}",
                    out.action,
                    visible(&unified_diff(&text, &out.text, "kustomization.yaml"))
                )
            }
            Err(e) => format!("args: {args}\nerror: {e}\n"),
        };
        insta::assert_snapshot!(format!("kustomize_{name}"), report);
    }
}

/// The edit means what we think: `kubectl kustomize` renders the pinned image.
#[test]
fn kubectl_renders_the_edit() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("skipped: kubectl is not on PATH");
        return;
    }
    let case = fixtures("kustomize").join("plain");
    let (text, _, edit) = load(&case);
    let text = text.expect("UTF-8");
    let out = set_image(&text, &edit).expect("edit");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("kustomization.yaml"), &out.text).unwrap();
    std::fs::copy(
        case.join("deployment.yaml"),
        dir.path().join("deployment.yaml"),
    )
    .unwrap();
    let rendered = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .expect("kubectl kustomize");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let rendered = String::from_utf8(rendered.stdout).unwrap();
    let want = format!(
        "image: ghcr.io/acme/app:{}@{}",
        edit.new_tag.as_deref().unwrap(),
        edit.digest.as_deref().unwrap()
    );
    assert!(rendered.contains(&want), "{want} not in\n{rendered}");
    // The similar name is left alone.
    assert!(
        rendered.contains("image: ghcr.io/acme/app-worker:1.4.0"),
        "{rendered}"
    );
}

/// Every entry of every fixture that parses can be re-pinned, and the
/// editor's own check (the result reads as intended) holds.
#[test]
fn every_entry_of_every_fixture_can_be_pinned() {
    let digest = format!("sha256:{}", "d".repeat(64));
    let mut edited = 0;
    for case in sorted_entries(&fixtures("kustomize")) {
        let (text, _, own) = load(&case);
        let Some(text) = text.ok().filter(|t| set_image(t, &own).is_ok()) else {
            continue; // an error fixture
        };
        let yaml = text.trim_start_matches('\u{feff}');
        let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(yaml) else {
            continue;
        };
        let Some(images) = doc.get("images").and_then(|i| i.as_sequence()) else {
            continue;
        };
        let names: Vec<String> = images
            .iter()
            .filter_map(|e| e.get("name")?.as_str().map(str::to_owned))
            .collect();
        for (n, name) in names.iter().enumerate() {
            let edit = ImageEdit {
                name: name.clone(),
                new_name: Some(format!("registry.example/{name}-{n}")),
                new_tag: Some("9.9.9".into()),
                digest: Some(digest.clone()),
                allow_add: false,
            };
            let out = set_image(&text, &edit)
                .unwrap_or_else(|e| panic!("{}: {name}: {e}", case.display()));
            assert!(out.changed(), "{}: {name}", case.display());
            edited += 1;
        }
    }
    assert!(edited > 30, "only {edited} entries edited");
}
