//! The GitOps repository: kustomization edits, image pins, signed commits.

pub mod image_pin;
pub mod kustomize_edit;
pub mod ssh_signature;
