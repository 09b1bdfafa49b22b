//! `forge kustomize set-image` runs on one file at the same time take turns:
//! every update lands (unlocked, two runs lost one of the two updates in 21
//! of 40 trials), and no lock file is left behind.

use std::process::{Child, Stdio};

use crate::support::forge;

const RUNS: usize = 12;
const ROUNDS: usize = 3;

fn tag_of(doc: &serde_yaml_ng::Value, name: &str) -> Option<String> {
    doc["images"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))?["newTag"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn concurrent_set_image_runs_on_one_file_all_land() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("kustomization.yaml");
    // Half the entries are there to update, half are added by the first round.
    let mut text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml\nimages:\n".to_owned();
    for n in (0..RUNS).step_by(2) {
        text.push_str(&format!("- name: app{n}\n  newTag: old\n"));
    }
    std::fs::write(&file, text).unwrap();

    for round in 0..ROUNDS {
        let tag = format!("round-{round}");
        let runs: Vec<Child> = (0..RUNS)
            .map(|n| {
                forge()
                    .args(["kustomize", "set-image"])
                    .arg(&file)
                    .arg(format!("app{n}"))
                    .args(["--tag", &tag])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs {
            let out = run.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let lost: Vec<String> = (0..RUNS)
            .map(|n| format!("app{n}"))
            .filter(|name| tag_of(&doc, name).as_deref() != Some(tag.as_str()))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: updates lost for {lost:?}:\n{}",
            serde_yaml_ng::to_string(&doc).unwrap()
        );
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["kustomization.yaml"], "files left beside it");
}
