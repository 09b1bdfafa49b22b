# The Rust workspace's sources, and nothing else (edits to Nix files or docs
# do not rebuild the packages).
{ lib }:
lib.fileset.toSource {
  root = ../.;
  fileset = lib.fileset.unions [
    ../Cargo.toml
    ../Cargo.lock
    ../crates
  ];
}
