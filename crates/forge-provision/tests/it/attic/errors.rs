//! `forge-provision attic` when something is wrong: a secret that is not
//! set, an admin token the server refuses, a server that is late or gone.
//! Each fails clearly, before any change where it can.

use super::support::{double_token, free_port, Double, Setup, OTHER_SECRET_B64, SECRET_B64};
use crate::testenv::{expect_code, text};
use std::process::Stdio;

#[test]
fn a_missing_secret_stops_before_any_change() {
    let double = Double::start(&[]);
    let setup = Setup::new(
        &double,
        "  - subject: deploy\n    validity: 30d\n    secret_env: FORGE_TEST_UNSET_SECRET\n    permissions: { main: [pull] }\n    output_file: secrets/deploy.token\n",
    );
    let out = setup.run(&["apply"]);
    // A spec the environment cannot complete: a configuration error.
    expect_code(&out, 2);
    let stderr = text(&out).1;
    assert!(
        stderr.contains(&format!(
            "{}:16:17: tokens[1].secret_env: environment variable FORGE_TEST_UNSET_SECRET is not set",
            setup.spec()
        )),
        "{stderr}"
    );
    assert!(double.mutating_requests().is_empty());
    assert!(double.requests().is_empty(), "{:?}", double.requests());
    assert!(!setup.token_path().exists(), "no token written either");
}

#[test]
fn a_wrong_admin_token_is_a_clear_401() {
    let double = Double::start(&["main"]);
    let mut setup = Setup::new(&double, "");
    setup.admin = double_token(OTHER_SECRET_B64, "admin", "*:r,w,cc,cr,cq", 3600);
    let out = setup.run(&["apply"]);
    expect_code(&out, 1);
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("reading the configuration of cache `main`")
            && stderr.contains("authentication failed (HTTP 401)"),
        "{stderr}"
    );
    assert!(!stderr.contains(&setup.admin) && !stdout.contains(&setup.admin));
    assert!(double.mutating_requests().is_empty());
    assert!(!setup.token_path().exists());
}

#[test]
fn an_admin_token_without_a_permission_is_a_clear_403() {
    let double = Double::start(&[]);
    let mut setup = Setup::new(&double, "");
    // Can read and create, but not configure retention.
    setup.admin = double_token(SECRET_B64, "admin", "main:r,cc,cr", 3600);
    let out = setup.run(&["apply"]);
    expect_code(&out, 1);
    let stderr = text(&out).1;
    assert!(
        stderr.contains("PATCH /_api/v1/cache-config/main")
            && stderr.contains("HTTP 403")
            && stderr.contains("cq"),
        "{stderr}"
    );
}

#[test]
fn a_server_that_comes_up_late_is_waited_for() {
    let port = free_port();
    let setup = Setup::with_yaml(&format!(
        "server: {{endpoint: \"http://127.0.0.1:{port}\", token_env: ATTIC_ADMIN_TOKEN}}\ncaches:\n  - {{name: late, priority: 12}}\n"
    ));
    let child = setup
        .command(&["apply", "--wait", "20"])
        .env("ATTIC_ADMIN_TOKEN", &setup.admin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let double = Double::start_on(port, &[]);
    let out = child.wait_with_output().unwrap();
    expect_code(&out, 0);
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("waiting for Attic at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stdout.contains("POST /_api/v1/cache-config/late"),
        "{stdout}"
    );
    let (_, body) = double.get_config("late", &setup.admin);
    assert!(body.contains("\"priority\": 12"), "{body}");

    // Without a server, the wait is bounded and the error says where.
    drop(double);
    let started = std::time::Instant::now();
    let out = setup
        .command(&["plan", "--wait", "1"])
        .env("ATTIC_ADMIN_TOKEN", &setup.admin)
        .output()
        .unwrap();
    expect_code(&out, 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        text(&out)
            .1
            .contains("reading the configuration of cache `late`"),
        "{}",
        text(&out).1
    );
}
