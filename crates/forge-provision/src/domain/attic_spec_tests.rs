//! Tests of `attic_spec`.

use super::*;
use crate::domain::secret_ref::tests::MapSource;

const KEY_B64: &str = "Zm9yZ2UtdGVzdC1zZWNyZXQtZm9yZ2UtdGVzdC1zZWNyZXQ=";

fn source() -> Arc<dyn SecretSource> {
    let mut s = MapSource::default();
    s.vars.insert("ADMIN".into(), "admin-token".into());
    s.vars.insert("HS".into(), KEY_B64.into());
    Arc::new(s)
}

fn parse(text: &str) -> Result<DesiredAttic, String> {
    parse_attic(text, "attic.yaml", Path::new("/etc/forge"), source()).map_err(|e| e.to_string())
}

#[test]
fn the_shipped_example_parses() {
    let text = include_str!("../../../../examples/provision/attic.yaml");
    let mut s = MapSource::default();
    s.vars.insert("ATTIC_ADMIN_TOKEN".into(), "t".into());
    s.vars
        .insert("ATTIC_SERVER_TOKEN_SECRET".into(), KEY_B64.into());
    let d = parse_attic(text, "attic.yaml", Path::new("."), Arc::new(s)).unwrap();
    assert_eq!(d.caches.len(), 1);
    assert_eq!(d.tokens.len(), 1);
    assert_eq!(d.tokens[0].permissions["main"], BTreeSet::from(["r", "w"]));
}

#[test]
fn normalizes() {
    let d = parse(
        "server: {endpoint: \"http://a:8080\", token_env: ADMIN}\ncaches:\n  - {name: main, retention: 30d}\n  - {name: other, retention: global}\ntokens:\n  - {subject: ci, validity: 12h, secret_env: HS, permissions: {\"team-*\": [pull, configure_cache_retention]}, output_file: ci.token}\n",
    )
    .unwrap();
    assert_eq!(d.server.unwrap().token.expose(), "admin-token");
    assert_eq!(
        d.caches[0].retention,
        Some(RetentionPeriodConfig::Period(30 * 86_400))
    );
    assert_eq!(d.caches[1].retention, Some(RetentionPeriodConfig::Global));
    let t = &d.tokens[0];
    assert_eq!(t.renew_before, 12 * 3_600 / 10);
    assert_eq!(t.permissions["team-*"], BTreeSet::from(["r", "cq"]));
    assert_eq!(t.output_file, Path::new("/etc/forge/ci.token"));
}

#[test]
fn checks_across_entries_point_at_the_entry_or_field() {
    const SERVER: &str = "server: {endpoint: \"http://a\", token_env: ADMIN}\n";
    let token = |extra: &str| {
        format!("tokens:\n  - subject: ci\n    validity: 1d\n    secret_env: HS\n    permissions: {{main: [pull]}}\n    output_file: x\n{extra}")
    };
    for (text, want) in [
        (
            format!("{SERVER}caches:\n  - name: a\n  - name: b\n  - name: a\n"),
            "attic.yaml:5:5: cache `a` is declared twice",
        ),
        (
            "caches:\n  - name: main\n".into(),
            "attic.yaml:1:1: caches: need a server: {endpoint, token_env} to talk to",
        ),
        (
            "server:\n  endpoint: ftp://a\n  token_env: ADMIN\n".into(),
            "attic.yaml:2:3: server: endpoint `ftp://a` must start with http:// or https://",
        ),
        (
            "server:\n  endpoint: http://a\n".into(),
            "attic.yaml:1:1: server: give the admin token as token_env or token_file",
        ),
        (
            token("    renew_before: 2d\n"),
            "attic.yaml:7:5: tokens[0] `ci`: renew_before 2d must be shorter than validity 1d",
        ),
        (
            token("  - {subject: cd, validity: 1d, secret_env: HS, permissions: {main: [pull]}, output_file: x}\n"),
            "attic.yaml:7:78: tokens[1] `cd`: output_file /etc/forge/x is used twice",
        ),
        (
            "tokens:\n  - subject: ci\n    validity: 1d\n    secret_env: HS\n    permissions:\n      main: [pull]\n      \"team-*\": []\n    output_file: x\n".into(),
            "attic.yaml:7:7: tokens[0] `ci`: no permissions listed for `team-*`",
        ),
        (
            "tokens:\n  - subject: ci\n    validity: 1d\n    secret_env: ADMIN\n    permissions: {main: [pull]}\n    output_file: x\n".into(),
            "attic.yaml:4:5: tokens[0] `ci`: the HS256 secret is not valid base64",
        ),
    ] {
        let err = parse(&text).unwrap_err();
        assert!(err.starts_with(want), "{text}\n-> {err}");
    }
}

#[test]
fn errors_have_places_and_suggestions() {
    for (text, want) in [
        (
            "server: {endpoint: \"http://a\", token_env: ADMIN}\ncaches:\n  - name: main\n    priorty: 3\n",
            "attic.yaml:4:5: caches[0]: unknown field `priorty`",
        ),
        (
            "server: {endpoint: \"http://a\", token_env: ADMIN}\ncaches:\n  - name: main\n    priorty: 3\n",
            "did you mean `priority`?",
        ),
        (
            "tokens:\n  - {subject: ci, validity: 1d, secret_env: HS, permissions: {main: [pul]}, output_file: x}\n",
            "did you mean `pull`?",
        ),
        (
            "tokens:\n  - subject: ci\n    validity: 1d\n    secret_env: NOT_SET_ANYWHERE\n",
            "attic.yaml:4:17: tokens[0].secret_env: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "server: {endpoint: \"http://a\", token_env: ADMIN}\ncaches:\n  - {name: main, retention: 30 days}\n",
            "invalid duration `30 days`",
        ),
        ("caches:\n  - name: main\n", "need a server"),
        (
            "server: {endpoint: \"http://a\", token_env: ADMIN}\ncaches:\n  - name: -x\n",
            "invalid cache name `-x`",
        ),
        (
            "server: {endpoint: \"http://a\", token_env: ADMIN}\ncaches:\n  - name: a\n  - name: a\n",
            "cache `a` is declared twice",
        ),
        (
            "tokens:\n  - {subject: ci, validity: 1d, renew_before: 2d, secret_env: HS, permissions: {main: [pull]}, output_file: x}\n",
            "renew_before 2d must be shorter than validity 1d",
        ),
        (
            "tokens:\n  - {subject: ci, validity: 1d, secret_env: ADMIN, permissions: {main: [pull]}, output_file: x}\n",
            "not valid base64",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(want), "{text}\n-> {err}");
        assert!(!err.contains("admin-token") && !err.contains(KEY_B64), "{err}");
    }
}
