//! Pure logic: no processes, sockets or files.

pub mod deploy_config;
pub mod deploy_report;
pub mod flux_progress;
pub mod hash;
pub mod image_pin;
pub mod kustomize_edit;
pub mod narinfo;
pub mod nix32;
pub mod oci;
pub mod path_info;
pub mod pod_failure;
pub mod push_plan;
pub mod rollout_progress;
pub mod rollout_verdict;
pub mod signing;
pub mod ssh_signature;
pub mod store_path;
pub mod upload_schedule;
pub mod yaml_error;
