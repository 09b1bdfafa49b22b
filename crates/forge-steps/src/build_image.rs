//! Builds an OCI image from a closure: plans layers, compresses the ones the
//! layer cache lacks in parallel, and writes config, manifest and index into
//! an image layout.

use std::sync::Arc;

use futures::StreamExt as _;

use forge_adapters::oci::layer_cache::LayerCache;
use forge_adapters::oci::layer_tar::{write_layer, LayerBlob, LayerCompression, LayerContent};
use forge_adapters::oci::layout::{LayoutError, OciLayout};
use forge_adapters::store::LocalStore;
use forge_core::nix::path_info::PathInfo;
use forge_core::nix::store_path::StorePath;
use forge_core::oci::descriptor::{Descriptor, Manifest, Platform, CONFIG, MANIFEST};
use forge_core::oci::image_config::{self, ImageOptions};
use forge_core::oci::layer_plan::{plan_layers, TooFewLayers};

use crate::observer::{Event, Observer};

#[derive(Debug, thiserror::Error)]
pub enum ImageBuildError {
    #[error(transparent)]
    TooFewLayers(#[from] TooFewLayers),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("writing a layer of {what}: {source}")]
    Layer {
        what: String,
        source: std::io::Error,
    },
    #[error("entrypoint {0} is not in the image: it must be a path inside the closure (e.g. /nix/store/…-app/bin/app)")]
    EntrypointOutside(String),
}

pub struct ImageBuildOptions {
    pub image: ImageOptions,
    pub max_layers: usize,
    pub compression: LayerCompression,
    /// Compression jobs at once.
    pub jobs: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct BuiltLayer {
    pub digest: String,
    pub size: u64,
    pub store_paths: usize,
    /// Taken from the layer cache instead of compressed again.
    pub cached: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct BuiltImage {
    pub manifest: Descriptor,
    pub config_digest: String,
    pub layers: Vec<BuiltLayer>,
    pub entrypoint: Vec<String>,
}

/// If the single root has exactly one program in `bin/`, that is the entrypoint.
pub fn default_entrypoint(store: &LocalStore, roots: &[StorePath]) -> Vec<String> {
    let [root] = roots else { return vec![] };
    let Ok(entries) = std::fs::read_dir(store.real_path(root).join("bin")) else {
        return vec![];
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    match names.as_slice() {
        [one] => vec![format!("{root}/bin/{one}")],
        _ => vec![],
    }
}

pub async fn build_image(
    store: Arc<LocalStore>,
    closure: &[PathInfo],
    options: &ImageBuildOptions,
    cache: Arc<LayerCache>,
    layout: &OciLayout,
    observer: &dyn Observer,
) -> Result<BuiltImage, ImageBuildError> {
    if let Some(bin) = options.image.entrypoint.first() {
        let inside = closure
            .iter()
            .any(|p| bin.starts_with(&format!("{}/", p.path)) || bin == p.path.as_str());
        if bin.starts_with(forge_core::nix::store_path::DEFAULT_STORE_DIR) && !inside {
            return Err(ImageBuildError::EntrypointOutside(bin.clone()));
        }
    }
    let plan = plan_layers(closure, options.max_layers)?;
    layout.init()?;
    let by_path: std::collections::HashMap<&StorePath, &PathInfo> =
        closure.iter().map(|p| (&p.path, p)).collect();

    // The base layer first, then store layers in plan order.
    let mut work: Vec<(String, Option<Vec<StorePath>>)> =
        vec![(LayerCache::key_for_base(options.compression), None)];
    for paths in &plan {
        let infos: Vec<&PathInfo> = paths.iter().map(|p| by_path[p]).collect();
        work.push((
            LayerCache::key_for_paths(&infos, options.compression),
            Some(paths.clone()),
        ));
    }
    let compression = options.compression;
    let total = work.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let count = |result| {
        let done = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        observer.event(Event::Counted {
            what: "layers",
            done,
            total,
        });
        result
    };
    let count = &count;
    let results: Vec<Result<(LayerBlob, bool), ImageBuildError>> =
        futures::stream::iter(work.into_iter().map(|(key, paths)| {
            let (store, cache) = (store.clone(), cache.clone());
            async move {
                if let Some(hit) = cache.get(&key) {
                    return count(Ok((hit, true)));
                }
                let what = match &paths {
                    Some(p) if p.len() == 1 => p[0].to_string(),
                    Some(p) => format!("{} store paths", p.len()),
                    None => "the base directories".into(),
                };
                let blob = tokio::task::spawn_blocking(move || {
                    let content = match &paths {
                        Some(p) => LayerContent::StorePaths(p),
                        None => LayerContent::BaseDirectories,
                    };
                    write_layer(&store, content, compression, &cache.blobs_dir())
                        .map(|b| (b, cache))
                })
                .await
                .expect("layer task panicked")
                .map_err(|source| ImageBuildError::Layer { what, source })?;
                let (blob, cache) = blob;
                cache.put(&key, &blob);
                count(Ok((blob, false)))
            }
        }))
        .buffered(options.jobs.max(1))
        .collect()
        .await;

    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut built = Vec::new();
    let mut history = vec!["forge: base directories /etc /tmp".to_owned()];
    for paths in &plan {
        history.push(match paths.as_slice() {
            [one] => format!("forge: {one}"),
            many => format!("forge: {} store paths", many.len()),
        });
    }
    let counts = std::iter::once(0).chain(plan.iter().map(Vec::len));
    for (result, store_paths) in results.into_iter().zip(counts) {
        let (blob, cached) = result?;
        layout.link_blob(&cache.blob_path(&blob.digest), &blob.digest)?;
        diff_ids.push(blob.diff_id.clone());
        descriptors.push(Descriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.clone(),
            size: blob.size,
            platform: None,
            annotations: Default::default(),
        });
        built.push(BuiltLayer {
            digest: blob.digest,
            size: blob.size,
            store_paths,
            cached,
        });
    }

    let config = image_config::render(&options.image, &diff_ids, &history);
    let config_d = layout.put_json_blob(CONFIG, &config)?;
    let manifest = Manifest::new(config_d.clone(), descriptors);
    let mut manifest_d = layout.put_json_blob(MANIFEST, &manifest.to_bytes())?;
    manifest_d.platform = Some(Platform {
        architecture: options.image.arch.as_str().into(),
        os: "linux".into(),
    });
    Ok(BuiltImage {
        manifest: manifest_d,
        config_digest: config_d.digest,
        layers: built,
        entrypoint: options.image.entrypoint.clone(),
    })
}
