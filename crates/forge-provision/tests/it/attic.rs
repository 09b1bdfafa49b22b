//! `forge-provision attic` against the Attic protocol test double
//! (`crates/forge-testkit/doubles/attic_double.py`, shared with `forge cache push`),
//! which checks JWT signatures and permissions and logs every request.

mod errors;
mod support;

use crate::testenv::{expect_code, text};
use std::os::unix::fs::PermissionsExt as _;
use support::{claims, double_token, now, Double, Setup, Vars, OTHER_SECRET_B64, SECRET_B64};

#[test]
fn apply_from_empty_then_nothing_to_do() {
    let double = Double::start(&[]);
    let setup = Setup::new(&double, "");

    let out = setup.run(&["plan", "--check"]);
    expect_code(&out, 4);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("POST /_api/v1/cache-config/main {keypair: Generate, is_public: false, store_dir: \"/nix/store\", priority: 40, upstream_cache_key_names: [\"cache.nixos.org-1\"]}"), "{stdout}");
    assert!(
        stdout.contains("PATCH /_api/v1/cache-config/main {retention_period: Global -> 30d}"),
        "{stdout}"
    );
    assert!(stdout.contains("mint token for ci -> "), "{stdout}");
    assert!(stdout.contains("ci.token (missing)"), "{stdout}");
    assert!(double.mutating_requests().is_empty());
    assert!(!setup.token_path().exists());

    let out = setup.run(&["apply"]);
    expect_code(&out, 0);
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("-- applied 3 changes"), "{stdout}");
    for s in [&stdout, &stderr] {
        assert!(!s.contains(&setup.admin) && !s.contains(SECRET_B64));
    }
    assert_eq!(
        double.mutating_requests(),
        [
            ("POST".to_owned(), "/_api/v1/cache-config/main".to_owned()),
            ("PATCH".to_owned(), "/_api/v1/cache-config/main".to_owned()),
        ]
    );

    // The token file: mode 0600, not in the output, accepted for what it grants.
    let mode = std::fs::metadata(setup.token_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(setup.token_path()).unwrap();
    let token = token.trim();
    assert!(!stdout.contains(token));
    let c = claims(token);
    assert_eq!(c["sub"], "ci");
    assert_eq!(
        c["https://jwt.attic.rs/v1"]["caches"]["main"],
        serde_json::json!({"r": 1, "w": 1})
    );
    let (status, body) = double.get_config("main", token);
    assert_eq!(status, 200, "{body}");
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["priority"], 40);
    assert_eq!(
        config["retention_period"],
        serde_json::json!({"Period": 2_592_000})
    );
    // Not granted: configure_cache.
    let (status, body) = double.http(
        "PATCH",
        "/_api/v1/cache-config/main",
        token,
        r#"{"priority": 1}"#,
    );
    assert_eq!(status, 403, "{body}");

    // Again: nothing to do, and only reads.
    let before = double.requests().len();
    let out = setup.run(&["apply", "--check"]);
    expect_code(&out, 0);
    assert!(text(&out).0.contains("-- no changes"), "{}", text(&out).0);
    let out = setup.run(&["apply"]);
    expect_code(&out, 0);
    assert!(text(&out).0.contains("-- no changes"));
    let after = double.requests();
    assert!(after[before..].iter().all(|(m, _)| m == "GET"), "{after:?}");
    assert_eq!(
        std::fs::read_to_string(setup.token_path()).unwrap().trim(),
        token,
        "a good token is not re-minted"
    );
}

#[test]
fn drift_is_detected_and_repaired() {
    let double = Double::start(&["main"]);
    let setup = Setup::new(&double, "");
    expect_code(&setup.run(&["apply"]), 0);
    expect_code(&setup.run(&["plan", "--check"]), 0);

    let (status, body) = double.http(
        "PATCH",
        "/_api/v1/cache-config/main",
        &setup.admin,
        r#"{"priority": 10, "is_public": true}"#,
    );
    assert_eq!(status, 200, "{body}");

    let out = setup.run(&["plan", "--check", "--json"]);
    expect_code(&out, 4);
    let plan: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(plan["changes"], 1);
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["schema"], "forge.provision-attic/v1");
    assert_eq!(
        plan["steps"][0]["display"],
        "PATCH /_api/v1/cache-config/main {is_public: true -> false, priority: 10 -> 40}"
    );
    assert_eq!(
        plan["steps"][0]["body"],
        serde_json::json!({"is_public": false, "priority": 40})
    );

    let out = setup.run(&["apply"]);
    expect_code(&out, 0);
    assert!(text(&out).0.contains("priority: 10 -> 40"));
    expect_code(&setup.run(&["plan", "--check"]), 0);
    let (_, body) = double.get_config("main", &setup.admin);
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (config["priority"].clone(), config["is_public"].clone()),
        (40.into(), false.into())
    );
}

#[test]
fn an_expiring_token_is_reminted() {
    let double = Double::start(&["main"]);
    let setup = Setup::new(&double, "");
    std::fs::create_dir_all(setup.token_path().parent().unwrap()).unwrap();
    // Right subject and permissions, but only an hour left (renew_before is 7d).
    let old = double_token(SECRET_B64, "ci", "main:r,w", 3600);
    std::fs::write(setup.token_path(), format!("{old}\n")).unwrap();
    std::fs::set_permissions(setup.token_path(), std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = setup.run(&["plan", "--check"]);
    expect_code(&out, 4);
    let stdout = text(&out).0;
    assert!(stdout.contains("within renew_before 7d)"), "{stdout}");
    assert!(!stdout.contains(&old));
    expect_code(&setup.run(&["apply"]), 0);
    let new = std::fs::read_to_string(setup.token_path()).unwrap();
    assert_ne!(new.trim(), old);
    let exp = claims(&new)["exp"].as_u64().unwrap();
    assert!(exp > now() + 89 * 86_400, "{exp}");
    let (status, _) = double.get_config("main", new.trim());
    assert_eq!(status, 200);
    expect_code(&setup.run(&["plan", "--check"]), 0);

    // A token signed with another secret (a rotated server secret) is replaced too.
    let foreign = double_token(OTHER_SECRET_B64, "ci", "main:r,w", 90 * 86_400);
    std::fs::write(setup.token_path(), &foreign).unwrap();
    let out = setup.run(&["plan", "--check"]);
    expect_code(&out, 4);
    assert!(text(&out).0.contains("does not verify with the secret"));
}

#[test]
fn a_cache_created_elsewhere_is_patched_not_created() {
    let double = Double::start(&[]);
    let setup = Setup::new(&double, "");
    let out = setup.run(&["plan", "--check"]);
    expect_code(&out, 4);
    let (status, _) = double.http(
        "POST",
        "/_api/v1/cache-config/main",
        &setup.admin,
        r#"{"keypair": "Generate", "is_public": true, "store_dir": "/nix/store", "priority": 5, "upstream_cache_key_names": []}"#,
    );
    assert_eq!(status, 200);
    // A fresh run sees it and patches it; no create.
    let out = setup.run(&["apply"]);
    expect_code(&out, 0);
    let stdout = text(&out).0;
    assert!(!stdout.contains("POST"), "{stdout}");
    assert!(
        stdout.contains("is_public: true -> false, priority: 5 -> 40, upstream_cache_key_names: [] -> [\"cache.nixos.org-1\"], retention_period: Global -> 30d"),
        "{stdout}"
    );
    expect_code(&setup.run(&["plan", "--check"]), 0);
}

#[test]
fn create_racing_another_creator_counts_as_created_and_patches_what_differs() {
    use forge_provision::adapters::attic::execute;
    use forge_provision::domain::attic_plan::{plan_attic, AtticObserved};
    use forge_provision::domain::attic_spec::parse_attic;

    let double = Double::start(&[]);
    let setup = Setup::new(&double, "");
    let desired = parse_attic(
        &std::fs::read_to_string(setup.spec()).unwrap(),
        &setup.spec(),
        setup.dir.path(),
        std::sync::Arc::new(Vars(vec![
            ("ATTIC_ADMIN_TOKEN", setup.admin.clone()),
            ("ATTIC_SERVER_TOKEN_SECRET", SECRET_B64.into()),
        ])),
    )
    .unwrap();
    // Planned while the cache was missing...
    let plan = plan_attic(&desired, &AtticObserved::default(), now());
    assert_eq!(plan.len(), 3);
    // ...and someone else creates it, with other settings, before we do.
    let (status, _) = double.http(
        "POST",
        "/_api/v1/cache-config/main",
        &setup.admin,
        r#"{"keypair": "Generate", "is_public": true, "store_dir": "/nix/store", "priority": 5, "upstream_cache_key_names": ["cache.nixos.org-1"]}"#,
    );
    assert_eq!(status, 200);

    let client = forge_attic::AtticClient::new(
        &double.endpoint(),
        Some(forge_core::secret::Secret::new(setup.admin.clone())),
    );
    let mut lines = Vec::new();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(execute(
            Some(&client),
            &desired,
            &plan,
            &now,
            &mut |change, note| lines.push(format!("{} -- {note:?}", change.display())),
        ))
        .unwrap();
    assert!(
        lines[0].starts_with("POST ") && lines[0].ends_with("-- Some(\"already exists\")"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("PATCH /_api/v1/cache-config/main {is_public: true -> false, priority: 5 -> 40, retention_period: Global -> 30d}"),
        "{lines:?}"
    );
    assert!(lines[2].starts_with("mint token for ci"), "{lines:?}");
    assert_eq!(lines.len(), 3, "the planned PATCH is replaced, not run too");
    expect_code(&setup.run(&["plan", "--check"]), 0);
}

#[test]
fn tokens_alone_need_no_server_and_secrets_can_come_from_files() {
    let setup = Setup::with_yaml(
        "tokens:\n  - subject: reader\n    validity: 12h\n    secret_file: hs256.b64\n    permissions: { \"team-*\": [pull] }\n    output_file: out/reader.token\n",
    );
    let dir = setup.dir.path();
    std::fs::write(dir.join("hs256.b64"), format!("{SECRET_B64}\n")).unwrap();
    // Run without the admin token or the secret variable: neither is needed.
    let run = |args: &[&str]| setup.command(args).output().unwrap();
    let out = run(&["apply"]);
    expect_code(&out, 0);
    assert!(
        text(&out).0.contains("mint token for reader -> "),
        "{}",
        text(&out).0
    );
    let token = std::fs::read_to_string(dir.join("out/reader.token")).unwrap();
    assert_eq!(
        claims(&token)["https://jwt.attic.rs/v1"]["caches"],
        serde_json::json!({"team-*": {"r": 1}})
    );
    expect_code(&run(&["plan", "--check"]), 0);
    // The double accepts it for a cache the pattern matches, and only to read.
    let double = Double::start(&["team-a"]);
    let (status, _) = double.get_config("team-a", token.trim());
    assert_eq!(status, 200);
    let (status, _) = double.get_config("other", token.trim());
    assert_eq!(status, 403);
}
