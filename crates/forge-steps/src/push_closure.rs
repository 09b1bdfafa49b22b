//! `ClosurePusher`: gets a closure into a binary cache. Asks the cache what it
//! has, uploads the rest through a bounded pool with retries (references
//! before referrers, largest ready path first),
//! signs narinfos, and reports every path that failed.

use std::sync::Arc;
use std::time::Instant;

use futures::stream::FuturesUnordered;
use futures::StreamExt as _;

use forge_adapters::cache::{
    AnyCache, BinaryCache, ByteProgress, CacheError, UploadJob, UploadOutcome,
};
use forge_adapters::store::LocalStore;
use forge_core::nix::narinfo::fingerprint;
use forge_core::nix::path_info::PathInfo;
use forge_core::nix::push_plan::plan_push;
use forge_core::nix::signing::SigningKey;
use forge_core::nix::upload_schedule::UploadSchedule;
use forge_io::retry::RetryPolicy;

use crate::observer::{Event, Observer};

pub struct PushOptions {
    pub jobs: usize,
    pub signing_key: Option<Arc<SigningKey>>,
    pub upstream: UpstreamKeys,
    pub dry_run: bool,
    pub retry: RetryPolicy,
}

/// Which paths are left to an upstream cache (not uploaded): those signed by
/// one of these keys.
#[derive(Debug, Clone, Default)]
pub struct UpstreamKeys {
    /// Push everything (`--push-upstream`).
    pub push_all: bool,
    /// Keys the user named; they add to the cache's own list.
    pub extra: Vec<String>,
    /// Used when the cache has no list of its own (file and HTTP caches)
    /// and the user named none.
    pub fallback: Vec<String>,
}

impl UpstreamKeys {
    /// The keys for a cache whose own list is `cache_keys` (Attic's
    /// `upstream_cache_key_names`, as `attic push` follows it).
    pub fn resolve(&self, cache_keys: Option<Vec<String>>) -> Vec<String> {
        if self.push_all {
            return vec![];
        }
        let mut keys = match cache_keys {
            Some(own) => own,
            None if self.extra.is_empty() => self.fallback.clone(),
            None => vec![],
        };
        for k in &self.extra {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        keys
    }
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            jobs: default_jobs(),
            signing_key: None,
            upstream: UpstreamKeys::default(),
            dry_run: false,
            retry: RetryPolicy::default(),
        }
    }
}

/// Uploads are mostly waiting on the network for small paths, so run more
/// than one per core; large ones use several zstd threads each.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
        * 8
}

#[derive(Debug, serde::Serialize)]
pub struct PushedPath {
    pub path: String,
    pub nar_size: u64,
    pub outcome: UploadOutcome,
}

#[derive(Debug, serde::Serialize)]
pub struct FailedPath {
    pub path: String,
    pub error: String,
}

#[derive(Debug, serde::Serialize)]
pub struct PushReport {
    pub cache: String,
    pub closure_size: usize,
    pub already_present: usize,
    pub skipped_upstream: usize,
    pub dry_run: bool,
    /// What was (or, with `dry_run`, would be) uploaded.
    pub uploaded: Vec<PushedPath>,
    pub failed: Vec<FailedPath>,
    pub nar_bytes_uploaded: u64,
    pub seconds: f64,
}

pub struct ClosurePusher<'a, C> {
    pub cache: &'a C,
    pub store: Arc<LocalStore>,
    pub options: PushOptions,
}

impl<C: BinaryCache> ClosurePusher<'_, C> {
    pub async fn push(
        &self,
        closure: Vec<PathInfo>,
        observer: &dyn Observer,
    ) -> Result<PushReport, CacheError> {
        let started = Instant::now();
        let closure_size = closure.len();
        if !self.options.dry_run {
            self.cache.prepare().await?;
        }
        if self.options.signing_key.is_some() && self.cache.signs_itself() {
            tracing::warn!(
                "--signing-key has no effect on {}: it serves its own signatures only",
                self.cache.display_url()
            );
        }
        let upstream = self
            .options
            .upstream
            .resolve(self.cache.upstream_keys().await?);
        let present = self.cache.present(&closure).await?;
        let plan = plan_push(closure, &present, &upstream);
        let progress = ByteProgress::default();
        observer.event(Event::PushPlanned {
            plan: &plan,
            bytes: &progress,
        });
        let mut report = PushReport {
            cache: self.cache.display_url(),
            closure_size,
            already_present: plan.already_present,
            skipped_upstream: plan.skipped_upstream,
            dry_run: self.options.dry_run,
            uploaded: vec![],
            failed: vec![],
            nar_bytes_uploaded: 0,
            seconds: 0.0,
        };
        if self.options.dry_run {
            report.nar_bytes_uploaded = plan.upload_bytes();
            report.uploaded = plan
                .uploads
                .iter()
                .map(|i| PushedPath {
                    path: i.path.to_string(),
                    nar_size: i.nar_size,
                    outcome: UploadOutcome::Uploaded,
                })
                .collect();
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        }

        let mut schedule = UploadSchedule::new(plan.uploads);
        let jobs = self.options.jobs.max(1);
        let mut in_flight = FuturesUnordered::new();
        let mut done = 0;
        loop {
            while in_flight.len() < jobs {
                let Some(i) = schedule.next_ready() else {
                    break;
                };
                let job = self.job(schedule.info(i).clone());
                let progress = progress.clone();
                in_flight.push(async move {
                    let what = format!("upload {}", job.info.path);
                    let r = self
                        .options
                        .retry
                        .run(&what, || self.cache.upload(&self.store, &job, &progress))
                        .await;
                    (i, job, r)
                });
            }
            let Some((i, job, result)) = in_flight.next().await else {
                break;
            };
            done += 1;
            observer.event(Event::PathPushed {
                info: &job.info,
                result: &result,
            });
            match result {
                Ok(outcome) => {
                    schedule.complete(i);
                    report.nar_bytes_uploaded += job.info.nar_size;
                    report.uploaded.push(PushedPath {
                        path: job.info.path.to_string(),
                        nar_size: job.info.nar_size,
                        outcome,
                    });
                }
                Err(e) => {
                    report.failed.push(FailedPath {
                        path: job.info.path.to_string(),
                        error: e.to_string(),
                    });
                    // Pushing these would leave narinfos whose references the cache lacks.
                    for blocked in schedule.fail(i) {
                        done += 1;
                        report.failed.push(FailedPath {
                            path: schedule.info(blocked).path.to_string(),
                            error: format!(
                                "not pushed because its dependency {} failed",
                                job.info.path
                            ),
                        });
                    }
                }
            }
            observer.event(Event::PushAdvanced {
                paths_done: done,
                bytes_done: progress.get(),
            });
        }
        report.uploaded.sort_by(|a, b| a.path.cmp(&b.path));
        report.failed.sort_by(|a, b| a.path.cmp(&b.path));
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The upload with its signatures: those the store has, plus ours
    /// (replacing an older signature by the same key name).
    fn job(&self, info: PathInfo) -> UploadJob {
        let mut sigs = info.sigs.clone();
        if let Some(key) = &self.options.signing_key {
            let prefix = format!("{}:", key.name());
            sigs.retain(|s| !s.starts_with(&prefix));
            sigs.push(key.sign(&fingerprint(&info)));
        }
        UploadJob { info, sigs }
    }
}

/// Pushes `closure` to whichever kind of cache `cache` is (the one place
/// that dispatches over the kinds).
pub async fn push_to_cache(
    cache: &AnyCache,
    store: Arc<LocalStore>,
    options: PushOptions,
    closure: Vec<PathInfo>,
    observer: &dyn Observer,
) -> Result<PushReport, CacheError> {
    match cache {
        AnyCache::File(c) => push_with(c, store, options, closure, observer).await,
        AnyCache::Http(c) => push_with(c, store, options, closure, observer).await,
        AnyCache::Attic(c) => push_with(c, store, options, closure, observer).await,
    }
}

async fn push_with<C: BinaryCache>(
    cache: &C,
    store: Arc<LocalStore>,
    options: PushOptions,
    closure: Vec<PathInfo>,
    observer: &dyn Observer,
) -> Result<PushReport, CacheError> {
    let pusher = ClosurePusher {
        cache,
        store,
        options,
    };
    pusher.push(closure, observer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caches_own_upstream_keys_win_and_user_keys_add_to_them() {
        let keys = UpstreamKeys {
            push_all: false,
            extra: vec![],
            fallback: vec!["cache.nixos.org-1".into()],
        };
        assert_eq!(keys.resolve(None), ["cache.nixos.org-1"]);
        assert_eq!(keys.resolve(Some(vec!["other-1".into()])), ["other-1"]);
        let keys = UpstreamKeys {
            extra: vec!["mine-1".into()],
            ..keys
        };
        assert_eq!(keys.resolve(None), ["mine-1"]);
        assert_eq!(
            keys.resolve(Some(vec!["other-1".into()])),
            ["other-1", "mine-1"]
        );
        let all = UpstreamKeys {
            push_all: true,
            ..keys
        };
        assert!(all.resolve(Some(vec!["other-1".into()])).is_empty());
    }
}
