# The flake's apps: `nix run .#<name> -- ARGS` runs `forge <command> ARGS`
# (or forge-provision). Pure data, so a test can check that every command
# exists (crates/forge/tests/it/nix_lib.rs).
[
  {
    name = "forge";
    program = "forge";
    command = null;
    description = "forge: build, push, deploy and release from a flake";
  }
  {
    name = "deploy";
    program = "forge";
    command = "deploy";
    description = "forge deploy SERVICE --env ENV: build, push, pin, reconcile and watch one service";
  }
  {
    name = "orchestrate-release";
    program = "forge";
    command = "orchestrate-release";
    description = "forge orchestrate-release: a release run over the ledger (every service published, then each environment in order)";
  }
  {
    name = "product-release";
    program = "forge";
    command = "product-release";
    description = "forge product-release PRODUCT: a product's services through its environments in order, behind gates (soak, approvals, windows)";
  }
  {
    name = "forge-provision";
    program = "forge-provision";
    command = null;
    description = "forge-provision: converge PostgreSQL and Attic from YAML";
  }
]
