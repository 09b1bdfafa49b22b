{ lib, rustPlatform, pkg-config, sqlite, openssl, zlib }:

rustPlatform.buildRustPackage {
  pname = "forge";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [ ../Cargo.toml ../Cargo.lock ../crates ];
  };
  cargoLock.lockFile = ../Cargo.lock;
  nativeBuildInputs = [ pkg-config ];
  # git2 builds libgit2 and libssh2 against these.
  buildInputs = [ sqlite openssl zlib ];
  # The integration tests need Nix, nginx and PostgreSQL at run time; they run
  # in CI (scripts/test), and `checks` runs the unit tests.
  cargoTestFlags = [ "--lib" ];
  meta = {
    description = "Nix-native build-and-release orchestrator";
    mainProgram = "forge";
    license = lib.licenses.asl20;
  };
}
