//! The one client for Attic's v1 API, used by `forge cache push` and by
//! `forge-provision attic`. The wire types live in `forge_core::attic`.

use reqwest::{Method, RequestBuilder};

use forge_core::attic::*;
use forge_core::secret::{redact, Secret};
use forge_io::http::{read_json, read_text, Activity, HttpError, Timeouts};

/// Upload info at least this large goes in a body preamble instead of a header.
pub const PREAMBLE_THRESHOLD: usize = 4 * 1024;

/// Where the upload info travels: a header, or a preamble before the NAR
/// (when large, e.g. thousands of references).
#[derive(Debug, Clone)]
pub enum InfoPlacement {
    Header(String),
    Preamble(Vec<u8>),
}

impl InfoPlacement {
    pub fn for_info(info: &UploadPathNarInfo) -> Self {
        let json = serde_json::to_string(info).expect("upload info serialises");
        if json.len() < PREAMBLE_THRESHOLD {
            InfoPlacement::Header(json)
        } else {
            InfoPlacement::Preamble(json.into_bytes())
        }
    }

    pub fn preamble(&self) -> &[u8] {
        match self {
            InfoPlacement::Header(_) => &[],
            InfoPlacement::Preamble(p) => p,
        }
    }
}

#[derive(Clone)]
pub struct AtticClient {
    /// API root ending in `/`, e.g. `http://host:8080/`.
    endpoint: String,
    token: Option<Secret>,
    client: reqwest::Client,
    timeouts: Timeouts,
}

impl AtticClient {
    /// A client with the default timeouts.
    pub fn new(endpoint: &str, token: Option<Secret>) -> Self {
        Self::with_timeouts(endpoint, token, Timeouts::default())
    }

    pub fn with_timeouts(endpoint: &str, token: Option<Secret>, timeouts: Timeouts) -> Self {
        let mut endpoint = endpoint.to_owned();
        if !endpoint.ends_with('/') {
            endpoint.push('/');
        }
        Self {
            client: forge_io::http::client(endpoint.starts_with("https://"), timeouts),
            endpoint,
            token,
            timeouts,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn request(&self, method: Method, rel: &str) -> (String, RequestBuilder) {
        let url = format!("{}_api/v1/{rel}", self.endpoint);
        let mut req = self.client.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        (url, req)
    }

    async fn send(
        &self,
        url: &str,
        req: RequestBuilder,
        activity: &Activity,
    ) -> Result<reqwest::Response, HttpError> {
        HttpError::send(url, req, self.timeouts.idle, activity, |text| {
            // Attic errors are JSON; show "Name: message" rather than raw JSON.
            let body = match serde_json::from_str::<ErrorResponse>(&text) {
                Ok(e) if e.message.is_empty() => e.error,
                Ok(e) => format!("{}: {}", e.error, e.message),
                Err(_) => text,
            };
            match &self.token {
                Some(t) => redact(&body, t),
                None => body,
            }
        })
        .await
    }

    pub async fn get_cache_config(&self, cache: &str) -> Result<CacheConfig, HttpError> {
        let (url, req) = self.request(Method::GET, &format!("cache-config/{cache}"));
        let resp = self.send(&url, req, &Activity::new()).await?;
        read_json(&url, resp, self.timeouts.idle).await
    }

    pub async fn create_cache(
        &self,
        cache: &str,
        body: &CreateCacheRequest,
    ) -> Result<(), HttpError> {
        let (url, req) = self.request(Method::POST, &format!("cache-config/{cache}"));
        self.send(&url, req.json(body), &Activity::new())
            .await
            .map(drop)
    }

    pub async fn configure_cache(&self, cache: &str, patch: &CacheConfig) -> Result<(), HttpError> {
        let (url, req) = self.request(Method::PATCH, &format!("cache-config/{cache}"));
        self.send(&url, req.json(patch), &Activity::new())
            .await
            .map(drop)
    }

    pub async fn get_missing_paths(
        &self,
        cache: &str,
        hashes: &[&str],
    ) -> Result<Vec<String>, HttpError> {
        let (url, req) = self.request(Method::POST, "get-missing-paths");
        let body = GetMissingPathsRequest {
            cache,
            store_path_hashes: hashes.to_vec(),
        };
        let resp = self.send(&url, req.json(&body), &Activity::new()).await?;
        let parsed: GetMissingPathsResponse = read_json(&url, resp, self.timeouts.idle).await?;
        Ok(parsed.missing_paths)
    }

    /// Uploads one NAR. `body` must start with the preamble when `info` is
    /// [`InfoPlacement::Preamble`], followed by exactly `nar_size` NAR bytes,
    /// and touch `activity` as it is sent (`forge_io::http::tracked_*`).
    pub async fn upload_path(
        &self,
        info: &InfoPlacement,
        body: reqwest::Body,
        activity: &Activity,
    ) -> Result<UploadPathResult, HttpError> {
        let (url, mut req) = self.request(Method::PUT, "upload-path");
        req = req.header("content-type", "application/octet-stream");
        req = match info {
            InfoPlacement::Header(json) => req.header("x-attic-nar-info", json.as_str()),
            InfoPlacement::Preamble(json) => {
                req.header("x-attic-nar-info-preamble-size", json.len().to_string())
            }
        };
        let resp = self.send(&url, req.body(body), activity).await?;
        let text = read_text(&url, resp, self.timeouts.idle).await?;
        // Attic's own client tolerates an unparseable success body; so do we.
        Ok(serde_json::from_str(&text).unwrap_or(UploadPathResult {
            kind: UploadPathResultKind::Uploaded,
            file_size: None,
            frac_deduplicated: None,
        }))
    }
}
