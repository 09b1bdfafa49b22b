//! Forge's pure domain: the rules and data of every system Forge drives, with
//! no processes, sockets, files or clocks (callers pass "now" in). The crate's
//! dependency list keeps it that way: no tokio, reqwest, kube or git2.
//!
//! - [`nix`]: store paths, hashes, nix32, narinfo text and signing, path
//!   info, what a push uploads and in which order.
//! - [`oci`]: image configuration, layer plans, descriptors, tag schemes.
//! - [`gitops`]: the style-preserving kustomization edit, image pins in git
//!   history, SSH commit signatures.
//! - [`host`]: NixOS hosts: the pin file, the agent's state and decisions, health verdicts.
//! - [`kube`]: rollout verdicts, rollout and Flux progress rules, kubelet failures.
//! - [`deploy_config`]: deploy.yaml: parsing, validation, resolution, schema.
//! - [`deploy_report`]: what a deploy did, for JSON and Markdown.
//! - [`exit_status`]: the one exit-status table of both binaries.
//! - [`release`]: releases, plans, runs, steps, leases and the audit chain.
//! - [`attic`]: Attic's v1 API wire types (client and provisioning share them).
//! - [`yaml_error`]: file:line:column for YAML errors and paths.
//! - [`yaml_limits`]: what YAML readers accept before parsing (size, depth, UTF-8).
//! - [`yaml_scalar`]: YAML scalars mapped where their errors can point at them.
//! - [`byte_size`]: sizes for people.
//! - [`choice`]: enums with stable names, for flags and configuration.
//! - [`secret`]: the `Secret` type and the one redaction rule.
//! - [`status`]: what is deployed where: ledger, git and cluster, and their drift.

pub mod attic;
pub mod byte_size;
pub mod choice;
pub mod deploy_config;
pub mod deploy_report;
pub mod exit_status;
pub mod gitops;
pub mod host;
pub mod kube;
pub mod nix;
pub mod oci;
pub mod release;
pub mod secret;
pub mod status;
pub mod yaml_error;
pub mod yaml_limits;
pub mod yaml_scalar;
