//! The NixOS modules, evaluated with nixpkgs' lib.evalModules against
//! stand-ins for the NixOS options they set (checks/module-tests.nix): the
//! rendered units, timers and files, the assertions' messages, and that
//! secrets stay out of what is rendered.

use crate::nix_lib::{eval, eval_command, repo, run_tests};
use crate::support::stderr;

#[test]
fn module_tests_pass() {
    run_tests("module-tests.nix");
}

/// A module with a mistyped option fails evaluation naming the option.
#[test]
fn module_option_typos_are_named() {
    let expr = format!(
        r#"(lib.evalModules {{ modules = [ {repo}/modules/serve.nix {{ options.assertions = lib.mkOption {{ }}; options.systemd = lib.mkOption {{ }}; }} {{ services.forge.serve.listne = "x"; }} ]; specialArgs.pkgs = {{ }}; }}).config.services.forge.serve.listen"#,
        repo = repo().display()
    );
    let out = eval_command(&expr).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("The option `services.forge.serve.listne' does not exist"),
        "{}",
        stderr(&out)
    );
}

/// The modules' option declarations all evaluate (types and descriptions included).
#[test]
fn every_module_option_is_described() {
    let docs = eval(&format!(
        r#"let
          e = lib.evalModules {{
            modules = [
              {repo}/modules/cache-client.nix {repo}/modules/provision.nix {repo}/modules/serve.nix
              {{ options.assertions = lib.mkOption {{ }}; options.systemd = lib.mkOption {{ }}; options.nix = lib.mkOption {{ }}; }}
            ];
            specialArgs.pkgs = {{ }};
          }};
        in map (o: {{ inherit (o) name description type; }})
          (builtins.filter (o: o.visible && !o.internal && lib.hasPrefix "services.forge." o.name) (lib.optionAttrSetToDocList e.options))"#,
        repo = repo().display()
    ));
    let docs = docs.as_array().unwrap();
    assert!(docs.len() > 25, "{docs:?}");
    for o in docs {
        let d = o["description"].as_str().unwrap_or_default();
        assert!(!d.trim().is_empty(), "{} has no description", o["name"]);
    }
}
