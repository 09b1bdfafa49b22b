//! OCI images on disk: deterministic layer tarballs, the layer cache, image
//! layout directories, and docker-archive import.

pub mod docker_archive;
pub mod known_blobs;
pub mod layer_cache;
pub mod layer_tar;
pub mod layout;
