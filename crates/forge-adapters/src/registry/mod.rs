//! An OCI distribution client for pushing: blob existence checks,
//! cross-repository mounts, streamed (chunked for large blobs) uploads from
//! disk, and raw manifest pushes, with retries and Basic/Bearer auth.
//!
//! oci-client (used for reference parsing) takes whole blobs as `&[u8]`; this
//! client streams layers from disk so memory stays flat whatever the image size.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod error;

pub use client::{MountOutcome, RegistryClient};
pub use error::RegistryError;
