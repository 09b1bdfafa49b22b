# forge: the CLI. Its unit tests run in the build (`checks` runs it); the
# integration tests need Nix, nginx and PostgreSQL at run time and run in CI
# (scripts/test).
{ lib
, stdenv
, rustPlatform
, pkg-config
, installShellFiles
, sqlite
, openssl
, zlib
}:

rustPlatform.buildRustPackage {
  pname = "forge";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;
  src = import ./source.nix { inherit lib; };
  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [
    "-p"
    "forge"
  ];
  cargoTestFlags = [
    "--workspace"
    "--lib"
  ];
  nativeBuildInputs = [
    pkg-config
    installShellFiles
  ];
  # git2 builds libgit2 and libssh2 against these.
  buildInputs = [
    sqlite
    openssl
    zlib
  ];
  # Completions and man pages come from the binary's own clap definitions.
  postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd forge \
      --bash <($out/bin/forge completions bash) \
      --zsh <($out/bin/forge completions zsh) \
      --fish <($out/bin/forge completions fish)
    $out/bin/forge man --out man
    installManPage man/*.1
  '';
  meta = {
    description = "Nix-native build-and-release orchestrator";
    mainProgram = "forge";
    license = lib.licenses.asl20;
  };
}
