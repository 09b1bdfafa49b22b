//! Integration tests against real components: Nix, nginx (WebDAV),
//! docker-registry, skopeo, umoci, podman, git remotes, Kubernetes + Flux
//! (scripts/testenv), and the Attic protocol test double. One binary, split by
//! area; the `kube_*` modules need the Kubernetes test environment.

mod support;

mod agent_bad_input;
mod agent_daemon;
mod agent_ledger;
mod agent_module;
mod agent_switch;
mod bad_input;
mod build;
mod cache_push_attic;
mod cache_push_file;
mod cache_push_http;
mod cli_contract;
mod cli_progress;
mod deploy_local;
mod gitops_git;
mod gitops_https;
mod gitops_offline;
mod gitops_ssh;
mod health;
mod host_deploy;
mod host_lab;
mod host_nix_config;
mod host_product;
mod image;
mod kube_deploy;
mod kube_flux;
mod kube_product;
mod kube_release;
mod kube_rollout;
mod kube_testenv;
mod kustomize_concurrency;
mod nar_hash;
mod network_faults;
mod nix_config;
mod nix_lib;
mod nix_modules;
mod release_history;
mod release_leases;
mod release_local;
mod release_migrations;
mod release_product;
mod release_product_checks;
mod serve_api;
mod serve_browser;
mod serve_kube;
mod service_push;
mod status_kube;
mod status_local;
