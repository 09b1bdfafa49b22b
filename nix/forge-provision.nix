# forge-provision: converges PostgreSQL and Attic from YAML. Built on its own
# so that hosts running it (services.forge.provision) do not carry the CLI's
# closure (kube, git2, OCI).
{ lib
, rustPlatform
}:

rustPlatform.buildRustPackage {
  pname = "forge-provision";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;
  src = import ./source.nix { inherit lib; };
  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [
    "-p"
    "forge-provision"
  ];
  cargoTestFlags = [
    "-p"
    "forge-provision"
    "--lib"
  ];
  # TLS is rustls: no native libraries.
  meta = {
    description = "Converge PostgreSQL and Attic from YAML (plan first, idempotent)";
    mainProgram = "forge-provision";
    license = lib.licenses.asl20;
  };
}
