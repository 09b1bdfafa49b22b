//! Hostile identifiers: spaces, quotes, unicode, mixed case, SQL fragments,
//! plus seeded random names from a hostile alphabet. The spec is written as
//! JSON (which is YAML) so the names reach the tool exactly.

use crate::testenv::{expect_code, forge, path_str, shared, spec_file, text};
use forge_provision::domain::sql::literal;
use rand::{Rng, SeedableRng};
use serde_json::json;

const FIXED: &[&str] = &[
    "hx Mixed Case",
    "hx with \"double\" quotes",
    "hx 'single'; DROP ROLE postgres; --",
    "hx ünïcødé ✓ 日本",
    "hx back\\slash $1 %s",
    "hx.dotted",
    "HX_UPPER",
];

fn random_names(n: usize) -> Vec<String> {
    let alphabet: Vec<char> = "aZ \"';-\\$%.()ü✓\t*".chars().collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    (0..n)
        .map(|i| {
            let len = rng.gen_range(1..12);
            let body: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            format!("hr{i}{body}")
        })
        .collect()
}

#[test]
fn any_name_is_quoted_correctly_and_converges() {
    let pg = shared();
    let mut names: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    names.extend(random_names(6));
    let owner = &names[0];
    let roles: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if i == 0 {
                json!({"name": n, "login": true, "password_env": "HOSTILE_PW"})
            } else {
                json!({"name": n, "member_of": [owner]})
            }
        })
        .collect();
    let schemas: Vec<_> = names
        .iter()
        .map(|n| json!({"name": n, "owner": owner, "grants": [{"role": names[1], "privileges": ["USAGE"], "tables": ["SELECT"], "default": true}]}))
        .collect();
    let db = "hx DB \"quoted\" ü";
    let spec = json!({
        "roles": roles,
        "databases": [{"name": db, "owner": owner, "grants": [{"role": names[2], "privileges": ["CONNECT", "TEMPORARY"]}], "schemas": schemas}],
    });
    let spec = spec_file("hostile", &serde_json::to_string_pretty(&spec).unwrap());
    let env = [("HOSTILE_PW", "pw with 'quotes' and \\ backslash")];

    let out = forge(
        pg,
        &["postgres", "apply", "--config", path_str(&spec)],
        &env,
    );
    expect_code(&out, 0);
    let out = forge(
        pg,
        &["postgres", "plan", "--check", "--config", path_str(&spec)],
        &env,
    );
    expect_code(&out, 0);
    assert!(text(&out).0.contains("no changes"));

    let list = names
        .iter()
        .map(|n| literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    let want = names.len();
    assert!(pg.is_true(
        "postgres",
        &format!("SELECT count(*) = {want} FROM pg_roles WHERE rolname IN ({list})")
    ));
    assert!(pg.is_true(
        db,
        &format!("SELECT count(*) = {want} FROM pg_namespace WHERE nspname IN ({list})")
    ));
    assert!(pg.is_true(
        "postgres",
        &format!(
            "SELECT count(*) = 1 FROM pg_database WHERE datname = {}",
            literal(db)
        )
    ));
    assert!(pg.can_login(owner, "pw with 'quotes' and \\ backslash", db));
    assert!(!pg.can_login(owner, "pw with 'quotes' and  backslash", db));
    // Nothing else was touched: postgres is still a superuser.
    assert!(pg.is_true(
        "postgres",
        "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'"
    ));
}
