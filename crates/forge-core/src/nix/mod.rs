//! The Nix store and binary-cache formats.

pub mod hash;
pub mod narinfo;
pub mod nix32;
pub mod path_info;
pub mod push_plan;
pub mod signing;
pub mod store_path;
pub mod upload_schedule;
