//! CDC: replication role, publication and logical slot; the wal_level check.

use crate::testenv::{dedicated, expect_code, forge, path_str, shared, spec_file, text};

fn cdc_spec(tables: &str) -> String {
    format!(
        r#"
databases:
  - name: cdc_db
    schemas:
      - name: shop
cdc:
  - database: cdc_db
    role: cdc_replication
    password_env: CDC_PASSWORD
    publication: cdc_pub
    tables: {tables}
    slot: cdc_slot
"#
    )
}

#[test]
fn publication_slot_and_role_converge() {
    let pg = shared();
    let env = [("CDC_PASSWORD", "cdc-pw")];
    let spec = spec_file("cdc_all", &cdc_spec("all"));
    let out = forge(
        pg,
        &["postgres", "apply", "--config", path_str(&spec)],
        &env,
    );
    expect_code(&out, 0);
    assert!(pg.is_true(
        "postgres",
        "SELECT rolreplication AND rolcanlogin FROM pg_roles WHERE rolname = 'cdc_replication'"
    ));
    assert!(pg.is_true(
        "cdc_db",
        "SELECT puballtables FROM pg_publication WHERE pubname = 'cdc_pub'"
    ));
    assert!(pg.is_true(
        "postgres",
        "SELECT slot_type = 'logical' AND plugin = 'pgoutput' AND database = 'cdc_db' FROM pg_replication_slots WHERE slot_name = 'cdc_slot'"
    ));
    assert!(pg.can_login("cdc_replication", "cdc-pw", "cdc_db"));
    let out = forge(
        pg,
        &["postgres", "plan", "--check", "--config", path_str(&spec)],
        &env,
    );
    expect_code(&out, 0);
    assert!(
        text(&out).1.contains("`cdc_slot` is inactive"),
        "{}",
        text(&out).1
    );

    // From all tables to a list: dropped and recreated in one transaction.
    pg.exec("cdc_db", "CREATE TABLE shop.orders (id int PRIMARY KEY); CREATE TABLE shop.items (id int PRIMARY KEY)");
    let spec = spec_file("cdc_list", &cdc_spec("[shop.orders, shop.items]"));
    let out = forge(
        pg,
        &["postgres", "apply", "--config", path_str(&spec)],
        &env,
    );
    expect_code(&out, 0);
    assert!(
        text(&out)
            .0
            .contains(r#"CREATE PUBLICATION "cdc_pub" FOR TABLE "shop"."items", "shop"."orders";"#),
        "{}",
        text(&out).0
    );
    let spec = spec_file("cdc_one", &cdc_spec("[shop.orders]"));
    let out = forge(
        pg,
        &["postgres", "apply", "--config", path_str(&spec)],
        &env,
    );
    expect_code(&out, 0);
    assert!(
        text(&out)
            .0
            .contains(r#"ALTER PUBLICATION "cdc_pub" SET TABLE "shop"."orders";"#),
        "{}",
        text(&out).0
    );
    expect_code(
        &forge(
            pg,
            &["postgres", "plan", "--check", "--config", path_str(&spec)],
            &env,
        ),
        0,
    );
}

#[test]
fn wal_level_replica_is_refused_with_a_fix_before_any_change() {
    let pg = dedicated("replica");
    pg.start();
    let spec = spec_file("wal", &cdc_spec("all"));
    let out = forge(
        &pg,
        &["postgres", "apply", "--config", path_str(&spec)],
        &[("CDC_PASSWORD", "x")],
    );
    expect_code(&out, 1);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("wal_level = replica"), "{stderr}");
    assert!(
        stderr.contains("ALTER SYSTEM SET wal_level = logical"),
        "{stderr}"
    );
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 0 FROM pg_roles WHERE rolname = 'cdc_replication'"
    ));
    assert!(pg.is_true(
        "postgres",
        "SELECT count(*) = 0 FROM pg_database WHERE datname = 'cdc_db'"
    ));
}
