//! OCI images as data: layer plans, image config, manifests, references and
//! tags. Serialisation is deterministic, so the same closure and options give
//! the same manifest digest on any machine.

pub mod descriptor;
pub mod image_config;
pub mod image_source;
pub mod layer_plan;
pub mod tag_scheme;
