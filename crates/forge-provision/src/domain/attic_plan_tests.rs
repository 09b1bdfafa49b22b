//! Planner tests: spec text + hand-built server and file state -> plan text (insta snapshots).

use super::*;
use crate::domain::attic_jwt::{mint, SigningKey};
use crate::domain::attic_spec::parse_attic;
use crate::domain::secret_ref::tests::MapSource;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

const KEY_B64: &str = "Zm9yZ2UtdGVzdC1zZWNyZXQtZm9yZ2UtdGVzdC1zZWNyZXQ=";
const NOW: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

const ISSUE_EXAMPLE: &str = r#"
server: { endpoint: "http://attic:8080", token_env: ATTIC_ADMIN_TOKEN }
caches:
  - name: main
    public: false
    priority: 40
    upstream_cache_keys: ["cache.nixos.org-1"]
    retention: 30d
tokens:
  - subject: ci
    validity: 90d
    secret_env: ATTIC_SERVER_TOKEN_SECRET
    permissions: { main: [pull, push] }
    output_file: /run/secrets/attic-ci-token
"#;

fn desired(yaml: &str) -> DesiredAttic {
    let mut src = MapSource::default();
    src.vars
        .insert("ATTIC_ADMIN_TOKEN".into(), "admin-secret-value".into());
    src.vars
        .insert("ATTIC_SERVER_TOKEN_SECRET".into(), KEY_B64.into());
    parse_attic(yaml, "attic.yaml", Path::new("/etc"), Arc::new(src)).unwrap()
}

fn key() -> SigningKey {
    SigningKey::from_base64(&Secret::new(KEY_B64)).unwrap()
}

fn ci_perms() -> BTreeMap<String, BTreeSet<&'static str>> {
    BTreeMap::from([("main".to_owned(), BTreeSet::from(["r", "w"]))])
}

/// A token file minted `age` seconds before `NOW`, valid for `validity`.
fn token_file(
    subject: &str,
    perms: &BTreeMap<String, BTreeSet<&'static str>>,
    age: u64,
    validity: u64,
) -> TokenFile {
    TokenFile::Present {
        token: mint(&key(), subject, perms, NOW - age, validity),
        mode: Some(0o600),
    }
}

fn converged_config() -> CacheConfig {
    CacheConfig {
        public_key: Some("main:abc".into()),
        is_public: Some(false),
        store_dir: Some("/nix/store".into()),
        priority: Some(40),
        upstream_cache_key_names: Some(vec!["cache.nixos.org-1".into()]),
        retention_period: Some(RetentionPeriodConfig::Period(30 * DAY as u32)),
        ..CacheConfig::default()
    }
}

fn observed(config: Option<CacheConfig>, file: TokenFile) -> AtticObserved {
    AtticObserved {
        caches: BTreeMap::from([("main".to_owned(), config)]),
        token_files: BTreeMap::from([(PathBuf::from("/run/secrets/attic-ci-token"), file)]),
    }
}

#[test]
fn issue_example_from_empty() {
    let d = desired(ISSUE_EXAMPLE);
    let plan = plan_attic(&d, &observed(None, TokenFile::Missing), NOW);
    let text = plan.to_string();
    assert!(!text.contains("admin-secret-value") && !text.contains(KEY_B64));
    insta::assert_snapshot!(text);
}

#[test]
fn converged_is_empty() {
    let d = desired(ISSUE_EXAMPLE);
    let obs = observed(
        Some(converged_config()),
        token_file("ci", &ci_perms(), 10 * DAY, 90 * DAY),
    );
    let plan = plan_attic(&d, &obs, NOW);
    assert!(plan.is_empty(), "{plan}");
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn only_differing_settings_are_patched() {
    let d = desired(ISSUE_EXAMPLE);
    let drifted = CacheConfig {
        priority: Some(30),
        retention_period: Some(RetentionPeriodConfig::Global),
        ..converged_config()
    };
    let plan = plan_attic(
        &d,
        &observed(Some(drifted), token_file("ci", &ci_perms(), 0, 90 * DAY)),
        NOW,
    );
    assert_eq!(plan.len(), 1);
    let AtticChange::ConfigureCache { patch, .. } = &plan.changes[0] else {
        panic!("{plan}")
    };
    assert_eq!(
        patch,
        &CacheConfig {
            priority: Some(40),
            retention_period: Some(RetentionPeriodConfig::Period(30 * DAY as u32)),
            ..CacheConfig::default()
        }
    );
    assert!(patch.keypair.is_none());
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn settings_left_out_are_left_alone() {
    let d = desired(
        "server: {endpoint: \"http://a\", token_env: ATTIC_ADMIN_TOKEN}\ncaches:\n  - name: main\n",
    );
    let odd = CacheConfig {
        is_public: Some(true),
        priority: Some(7),
        upstream_cache_key_names: Some(vec![]),
        ..CacheConfig::default()
    };
    let obs = AtticObserved {
        caches: BTreeMap::from([("main".to_owned(), Some(odd))]),
        ..AtticObserved::default()
    };
    assert!(plan_attic(&d, &obs, NOW).is_empty());
    // Created with Attic's defaults.
    let plan = plan_attic(&d, &AtticObserved::default(), NOW);
    assert_eq!(
        plan.changes[0].display(),
        "POST /_api/v1/cache-config/main {keypair: Generate, is_public: false, store_dir: \"/nix/store\", priority: 41, upstream_cache_key_names: [\"cache.nixos.org-1\"]}"
    );
    assert_eq!(plan.len(), 1);
}

#[test]
fn token_reasons() {
    let d = desired(ISSUE_EXAMPLE);
    let other_key = SigningKey::from_bytes(b"rotated");
    let cases: Vec<(&str, TokenFile)> = vec![
        ("fresh", token_file("ci", &ci_perms(), 0, 90 * DAY)),
        ("missing", TokenFile::Missing),
        (
            "unreadable",
            TokenFile::Unreadable("Permission denied (os error 13)".into()),
        ),
        (
            "garbage",
            TokenFile::Present {
                token: Secret::new("not-a-token"),
                mode: Some(0o600),
            },
        ),
        (
            "other secret",
            TokenFile::Present {
                token: mint(&other_key, "ci", &ci_perms(), NOW, 90 * DAY),
                mode: Some(0o600),
            },
        ),
        (
            "expiring",
            token_file("ci", &ci_perms(), 85 * DAY, 90 * DAY),
        ),
        ("expired", token_file("ci", &ci_perms(), 91 * DAY, 90 * DAY)),
        ("too long", token_file("ci", &ci_perms(), 0, 365 * DAY)),
        ("other subject", token_file("cd", &ci_perms(), 0, 90 * DAY)),
        (
            "fewer permissions",
            token_file(
                "ci",
                &BTreeMap::from([("main".to_owned(), BTreeSet::from(["r"]))]),
                0,
                90 * DAY,
            ),
        ),
        (
            "world readable",
            TokenFile::Present {
                token: mint(&key(), "ci", &ci_perms(), NOW, 90 * DAY),
                mode: Some(0o644),
            },
        ),
    ];
    let mut lines = Vec::new();
    for (name, file) in cases {
        let obs = observed(Some(converged_config()), file);
        let plan = plan_attic(&d, &obs, NOW);
        let shown = match plan.changes.as_slice() {
            [] => "(no change)".to_owned(),
            [c] => c.display(),
            _ => panic!("{plan}"),
        };
        lines.push(format!("{name}: {shown}"));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn json_view() {
    let d = desired(ISSUE_EXAMPLE);
    let plan = plan_attic(&d, &observed(None, TokenFile::Missing), NOW);
    let json = serde_json::to_string_pretty(&plan.to_json()).unwrap();
    assert!(!json.contains("admin-secret-value") && !json.contains(KEY_B64));
    insta::assert_snapshot!(json);
}

#[test]
fn a_replaced_keypair_is_a_warning_not_a_change() {
    let d = desired(&ISSUE_EXAMPLE.replace(
        "    retention: 30d\n",
        "    retention: 30d\n    public_key: \"main:abc\"\n",
    ));
    let obs = |key: &str| {
        observed(
            Some(CacheConfig {
                public_key: Some(key.into()),
                ..converged_config()
            }),
            token_file("ci", &ci_perms(), 0, 90 * DAY),
        )
    };
    assert!(plan_attic(&d, &obs("main:abc"), NOW).warnings.is_empty());
    let plan = plan_attic(&d, &obs("main:regenerated"), NOW);
    assert!(plan.is_empty());
    insta::assert_snapshot!(plan.to_string());
}
