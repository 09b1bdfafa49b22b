//! Parsing, errors and resolution of `deploy.yaml`.

use super::summary::summary;
use super::*;
use crate::oci::image_config::Arch;
use types::MigrationPhase;

const EXAMPLE: &str = include_str!("../../../../examples/deploy.yaml");

fn parse(text: &str) -> Result<DeployConfig, ConfigError> {
    DeployConfig::parse(text, "deploy.yaml", Arch::Amd64)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn the_shortest_file_takes_every_default() {
    let c = parse("registry: ghcr.io/org\nservices:\n  app:\nenvironments:\n  prod:\n").unwrap();
    let t = c.target("app", "prod").unwrap();
    assert_eq!(t.repository, "ghcr.io/org/app");
    assert_eq!(t.kustomization, "deploy/prod/app/kustomization.yaml");
    assert_eq!(t.flux_source.to_string(), "flux-system/flux-system");
    assert_eq!(t.flux_kustomization.to_string(), "flux-system/prod");
    assert_eq!(
        (t.workload.namespace.as_str(), t.workload.name.as_str()),
        ("prod", "app")
    );
    let s = c.service("app").unwrap();
    assert_eq!(s.installables["amd64"], ".#packages.x86_64-linux.app");
    assert_eq!(s.tags, ["{arch}-{gitsha7}", "{arch}-latest"]);
}

#[test]
fn the_example_resolves() {
    let c = parse(EXAMPLE).unwrap();
    insta::assert_snapshot!("example_summary", summary(&c));
    let api = c.service("api").unwrap();
    assert_eq!(
        api.installables["arm64"],
        ".#packages.aarch64-linux.api-server"
    );
    let t = c.target("api", "production").unwrap();
    assert_eq!(
        t.flux_kustomization.to_string(),
        "flux-system/apps-production"
    );
    assert_eq!(t.workload.namespace, "shop");
}

#[test]
fn resolved_json_is_stable() {
    let c = parse("registry: 127.0.0.1:5000/t\nservices:\n  app:\n    image: {expose: [8080], env: {A: b}}\nenvironments:\n  dev: {kube: {namespace: \"team-{env}\"}}\ngitops: {repo: /srv/git/fleet.git}\n").unwrap();
    insta::assert_snapshot!("resolved_json", serde_json::to_string_pretty(&c).unwrap());
}

#[test]
fn unknown_key_has_location_and_suggestion() {
    let e = error("registry: r\nservices:\n  app:\n    image:\n      entrypont: /bin/app\n");
    insta::assert_snapshot!("unknown_key", e);
    assert!(e.starts_with("deploy.yaml:5:7: "), "{e}");
}

#[test]
fn unknown_top_level_key_and_variant() {
    insta::assert_snapshot!(
        "unknown_top_level_key",
        error("regsitry: r\nservices: {app: {}}\n")
    );
    insta::assert_snapshot!(
        "unknown_variant",
        error("registry: r\nservices:\n  app:\n    rollback: automatic\n")
    );
}

#[test]
fn bad_pattern_variable_points_at_the_value() {
    let e = error("registry: r\nservices: {app: {}}\nenvironments:\n  prod:\n    kustomization: apps/{environment}/{service}.yaml\n");
    insta::assert_snapshot!("bad_pattern_variable", e);
    assert!(e.starts_with("deploy.yaml:5:20: "), "{e}");
    // A variable that exists, in a field where it means nothing.
    let e = error("registry: r\nservices: {app: {}}\nenvironments:\n  prod:\n    kube: {namespace: \"{service}\"}\n");
    assert!(e.contains("unknown variable `{service}`"), "{e}");
}

#[test]
fn missing_service_and_environment() {
    let c = parse(EXAMPLE).unwrap();
    let e = c.service("apj").unwrap_err().to_string();
    insta::assert_snapshot!("missing_service", e);
    let e = c.target("app", "prod").unwrap_err().to_string();
    insta::assert_snapshot!("missing_environment", e);
}

#[test]
fn inline_secrets_are_refused() {
    let e = error("services: {app: {}}\ncache:\n  url: https://c\n  token: hunter2\n");
    assert!(!e.contains("hunter2"), "{e}");
    insta::assert_snapshot!("inline_secret", e);
    let e = error("registry: r\nservices: {app: {}}\ngitops:\n  repo: https://bot:hunter2@github.com/o/r.git\n");
    assert!(!e.contains("hunter2"), "{e}");
    assert!(
        e.starts_with("deploy.yaml:4:3: the URL holds a password"),
        "{e}"
    );
    // SSH URLs name a user, which is fine.
    parse("registry: r\nservices: {app: {}}\ngitops:\n  repo: ssh://git@github.com/o/r.git\n")
        .unwrap();
    let e = error("services: {app: {}}\ncache:\n  url: https://c\n  token_env: \"hunter 2\"\n");
    assert!(e.starts_with("deploy.yaml:4:14: "), "{e}");
}

#[test]
fn checks_after_reading_name_the_key() {
    for (text, want) in [
        (
            "services:\n  app:\n    image:\n      expose: [8080]\n",
            "deploy.yaml:2:3: services.app: no image repository",
        ),
        (
            "registry: r\nservices:\n  app: {}\ngitops:\n  repo: x\n  auth:\n    token_env: T\n    ssh_key_file: k\n",
            "deploy.yaml:6:3: auth: a token (HTTPS) or an ssh_key_file",
        ),
        (
            "registry: r\nservices:\n  app:\n    image:\n      tags: [\"{arch}-{sha}\"]\n",
            "deploy.yaml:5:7: services.app: tag template",
        ),
        (
            "registry: r\nservices:\n  app:\n    image:\n      max_layers: 500\n",
            "deploy.yaml:5:7: services.app: max_layers 500",
        ),
        ("registry: r\n", "deploy.yaml:1:1: no services"),
        (
            "registry: r\nservices: {app: {}}\ncache:\n  url: s3://bucket\n",
            "deploy.yaml:4:3: cache url `s3://bucket`",
        ),
        (
            "registry: r\nservices:\n  app: {}\n  web: {}\n  app: {}\n",
            "deploy.yaml:5:3: services: `app` is defined twice",
        ),
        (
            "registry: r\nservices:\n  app:\n    image:\n      env: {A: x, A: y}\n",
            "services.app.image.env: `A` is defined twice",
        ),
        ("", "deploy.yaml:1:1: no services"),
        (
            "registry: r\nservices:\n  App: {}\n",
            "deploy.yaml:3:3: services: invalid name `App`",
        ),
        (
            "registry: r\nservices:\n  app:\n    image: {expose: [70000]}\n",
            "invalid port `70000`",
        ),
        (
            "registry: r\nservices:\n  app:\n    image: {arch: [amd64, riscv]}\n",
            "unknown variant `riscv`",
        ),
        (
            "registry: r\nenvironments:\n  prod:\n    timeouts: {rollout: 10 minutes}\nservices: {app: {}}\n",
            "deploy.yaml:4:25: environments.prod.timeouts.rollout: invalid duration",
        ),
        (
            "registry: r\nservices:\n  app:\n    attr: packages.x86_64-linux.app\n    image: {arch: [amd64, arm64]}\n",
            "deploy.yaml:4:5: services.app: attr `packages.x86_64-linux.app` names one system",
        ),
    ] {
        let e = error(text);
        assert!(e.contains(want), "{text}\n -> {e}");
    }
}

const SHORTEST: &str = "registry: r\nservices:\n  app:\nenvironments:\n  prod:\n";

#[test]
fn a_byte_order_mark_is_accepted_and_errors_keep_their_columns() {
    let c = parse(&format!("\u{feff}{SHORTEST}")).unwrap();
    assert!(c.target("app", "prod").is_ok());
    let e = error("\u{feff}regsitry: r\nservices: {app: {}}\n");
    assert!(
        e.starts_with("deploy.yaml:1:1: unknown field `regsitry`"),
        "{e}"
    );
    assert!(e.contains("did you mean `registry`?"), "{e}");
}

#[test]
fn not_utf8_is_an_error_at_the_first_invalid_byte() {
    let e = DeployConfig::parse_bytes(
        b"registry: r\nservices:\n  caf\xe9:\n",
        "deploy.yaml",
        Arch::Amd64,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "deploy.yaml:3:6: not UTF-8 (byte 0xe9); YAML files must be UTF-8"
    );
    let bom = [b"\xef\xbb\xbf".as_slice(), SHORTEST.as_bytes()].concat();
    assert!(DeployConfig::parse_bytes(&bom, "deploy.yaml", Arch::Amd64).is_ok());
}

#[test]
fn pathological_files_are_refused_before_parsing() {
    // 200 KB of `[` took 78 s of CPU in the parser.
    let e = error(&format!("registry: r\nservices: {}\n", "[".repeat(200_000)));
    assert_eq!(
        e,
        "deploy.yaml:2:74: nested more than 64 levels deep, the most Forge reads from a configuration file"
    );
    let nested_blocks: String = (0..100)
        .map(|n| format!("{}k{n}:\n", "  ".repeat(n + 4)))
        .collect();
    let e = error(&format!(
        "services:\n  app:\n    image:\n      env:\n{nested_blocks}"
    ));
    assert!(e.contains("nested more than 64 levels deep"), "{e}");
    // 50 MB took 2.7 GB of memory.
    let e = error(&format!("{SHORTEST}{}", "# padding\n".repeat(5 << 20)));
    assert_eq!(
        e,
        "deploy.yaml:1:1: larger than 1.00 MiB, the most Forge reads from a configuration file"
    );
}

#[test]
fn depends_on_and_the_ledger_are_read_and_checked() {
    let c = parse(
        "registry: r\nledger:\n  url_env: FORGE_LEDGER_URL\nservices:\n  api:\n  web:\n    depends_on: [api]\n",
    )
    .unwrap();
    assert_eq!(c.service("web").unwrap().depends_on, ["api"]);
    assert!(c.service("api").unwrap().depends_on.is_empty());
    assert_eq!(
        c.ledger,
        Some(LedgerConfig::UrlEnv("FORGE_LEDGER_URL".into()))
    );
    let c = parse("registry: r\nledger: {path: state/ledger.db}\nservices: {app: {}}\n").unwrap();
    assert_eq!(c.ledger, Some(LedgerConfig::Path("state/ledger.db".into())));

    let e = error("registry: r\nservices:\n  api:\n  web:\n    depends_on: [apj]\n");
    assert!(e.starts_with("deploy.yaml:5:"), "{e}");
    assert!(
        e.contains("unknown service `apj`; did you mean `api`?"),
        "{e}"
    );
    let e = error("registry: r\nservices:\n  web:\n    depends_on: [web]\n");
    assert!(e.contains("service `web` depends on itself"), "{e}");
    let e = error("registry: r\nledger: {}\nservices: {app: {}}\n");
    assert!(e.contains("exactly one of `path`"), "{e}");
    let e = error("registry: r\nledger: {path: a, url_env: B}\nservices: {app: {}}\n");
    assert!(e.contains("exactly one of `path`"), "{e}");
}

#[test]
fn verify_checks_are_expanded_per_environment_and_checked() {
    let c = parse(
        "registry: r\nenvironments: {dev: {}, prod: {}}\nservices:\n  api:\n    verify:\n      - http: {url: \"http://{service}.{env}.example/health\", body_contains: ok}\n        count: 3\n        interval: 2s\n      - name: smoke\n        command: [sh, -c, \"true\"]\n",
    )
    .unwrap();
    let t = c.target("api", "prod").unwrap();
    assert_eq!(t.verify.len(), 2);
    assert_eq!(t.verify[0].name, "http-1");
    assert_eq!(
        t.verify[0].probe,
        Probe::Http {
            url: "http://api.prod.example/health".into(),
            status: 200,
            body_contains: Some("ok".into())
        }
    );
    assert_eq!(
        (
            t.verify[0].count,
            t.verify[0].interval.0,
            t.verify[0].failure_limit
        ),
        (3, 2, 0)
    );
    assert_eq!(t.verify[1].name, "smoke");
    let e = error("registry: r\nservices:\n  api:\n    verify:\n      - count: 1\n");
    assert!(e.starts_with("deploy.yaml:5:"), "{e}");
    assert!(e.contains("exactly one of `http"), "{e}");
    let e = error(
        "registry: r\nservices:\n  api:\n    verify:\n      - http: {url: \"http://{nope}/\"}\n",
    );
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn migrations_take_one_mapping_or_a_list_with_unique_names() {
    let c = parse(
        "registry: r\nservices:\n  api:\n    migrations: {command: [api, migrate], env_from: {secret: api-db}}\n  web:\n    migrations:\n      - command: web-schema\n        timeout: 2m\n      - name: backfill\n        command: [web, backfill]\n        phase: after\n",
    )
    .unwrap();
    let api = &c.service("api").unwrap().migrations;
    assert_eq!(api.len(), 1);
    assert_eq!(api[0].name, "migrate");
    assert_eq!(api[0].command, ["api", "migrate"]);
    assert_eq!(api[0].phase, MigrationPhase::Before);
    assert_eq!(api[0].timeout.0, 600);
    assert_eq!(api[0].env_from_secret.as_deref(), Some("api-db"));
    let web = c.service("web").unwrap();
    let names: Vec<&str> = web.migrations.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["migrate-1", "backfill"]);
    assert_eq!(web.migrations[0].timeout.0, 120);
    assert_eq!(web.migrations_of(MigrationPhase::After).count(), 1);

    let e = error("registry: r\nservices:\n  api:\n    migrations: {command: []}\n");
    assert!(e.starts_with("deploy.yaml:4:"), "{e}");
    assert!(e.contains("command"), "{e}");
    let e = error("registry: r\nservices:\n  api:\n    migrations:\n      - {name: a, command: x}\n      - {name: a, command: y}\n");
    assert!(e.starts_with("deploy.yaml:6:"), "{e}");
    assert!(e.contains("two migrations are named `a`"), "{e}");
    let e = error("registry: r\nservices:\n  api:\n    migrations: {command: x, phase: during}\n");
    assert!(e.contains("before") && e.contains("after"), "{e}");
    let e = error("registry: r\nservices:\n  api:\n    migrations: {comand: x}\n");
    assert!(e.contains("did you mean `command`"), "{e}");
}

#[test]
fn products_name_known_services_and_environments_with_gates_after_the_first() {
    let base = "registry: r\nenvironments: {staging: {}, production: {}}\nservices:\n  api: {}\n  web: {depends_on: [api]}\n";
    let c = parse(&format!(
        "{base}products:\n  shop:\n    services: [api, web]\n    environments: [staging, production]\n    gates:\n      production: {{soak: 10m, approvals: 2}}\n"
    ))
    .unwrap();
    let p = c.product("shop").unwrap();
    assert_eq!(p.environments, ["staging", "production"]);
    assert_eq!(p.gate("production").soak, 600);
    assert_eq!(p.gate("production").approvals, 2);
    assert_eq!(p.gate("staging").approvals, 0);
    assert_eq!(p.upstream("production"), Some("staging"));
    assert!(c
        .product("shpo")
        .unwrap_err()
        .to_string()
        .contains("did you mean `shop`"));

    let e = error(&format!(
        "{base}products:\n  shop:\n    services: [api, webb]\n    environments: [staging]\n"
    ));
    assert!(e.starts_with("deploy.yaml:8:"), "{e}");
    assert!(
        e.contains("unknown service `webb`") && e.contains("did you mean `web`?"),
        "{e}"
    );
    let e = error(&format!(
        "{base}products:\n  shop:\n    services: [api]\n    environments: [staging, prod]\n"
    ));
    assert!(e.contains("unknown environment `prod`"), "{e}");
    let e = error(&format!("{base}products:\n  shop:\n    services: [api]\n    environments: [staging, production]\n    gates:\n      staging: {{approvals: 1}}\n"));
    assert!(e.contains("is the first environment"), "{e}");
    let e = error(&format!("{base}products:\n  shop:\n    services: [api]\n    environments: [staging, production]\n    gates:\n      production: {{aprovals: 1}}\n"));
    assert!(e.contains("did you mean `approvals`"), "{e}");
}

#[test]
fn gate_windows_are_checked_when_read() {
    let base = "registry: r\nenvironments: {staging: {}, production: {}}\nservices: {api: {}}\nproducts:\n  shop:\n    services: [api]\n    environments: [staging, production]\n    gates:\n      production:\n        window: ";
    let c = parse(&format!(
        "{base}{{days: [mon, thu], from: \"09:00\", to: \"16:00\", zone: Europe/Berlin}}\n"
    ))
    .unwrap();
    let w = c
        .product("shop")
        .unwrap()
        .gate("production")
        .window
        .unwrap();
    assert_eq!(
        (w.days.len(), w.from.as_str(), w.zone.as_str()),
        (2, "09:00", "Europe/Berlin")
    );
    let e = error(&format!("{base}{{from: \"16:00\", to: \"09:00\"}}\n"));
    assert!(
        e.starts_with("deploy.yaml:10:") && e.contains("not before"),
        "{e}"
    );
    let e = error(&format!(
        "{base}{{from: \"09:00\", to: \"16:00\", zone: Mars/Base}}\n"
    ));
    assert!(e.contains("IANA"), "{e}");
    let e = error(&format!(
        "{base}{{days: [thurs], from: \"09:00\", to: \"16:00\"}}\n"
    ));
    assert!(
        e.contains("`thurs` is not a day") && e.contains("did you mean `thu`"),
        "{e}"
    );
}
