//! Binding, routes, the bearer token, and the background refresher.
//! Loopback by default; any other address is refused without a token.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest as _, Sha256};

use forge_core::release::RunId;
use forge_core::secret::Secret;
use forge_ledger::Ledger;
use forge_steps::status::StatusRequest;

use crate::api::{self, ApiError};
use crate::snapshot::{spawn_refresher, SnapshotCell};
use crate::webhooks::Webhooks;
use crate::{dashboard, metrics};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8475";

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Required of every request but `/healthz` when set.
    pub token: Option<Secret>,
    pub refresh_interval: Duration,
    pub status: StatusRequest,
    /// Where release events are POSTed (none: no notifications).
    pub webhooks: Option<Webhooks>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing to serve on {0} without a token: an address other than loopback needs --token-file (requests must then send `Authorization: Bearer <token>`)")]
    NeedsToken(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Ledger,
    pub snapshot: SnapshotCell,
    /// SHA-256 of the token: compared without early exit on the raw bytes.
    token_hash: Option<[u8; 32]>,
    refresh_seconds: u64,
}

/// Checks the options (a non-loopback address needs a token), binds, starts
/// the refresher, and serves until `shutdown` resolves.
pub async fn serve(
    options: ServeOptions,
    ledger: Ledger,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if !options.listen.ip().is_loopback() && options.token.is_none() {
        return Err(ServeError::NeedsToken(options.listen));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let cell = SnapshotCell::default();
    let refresher = spawn_refresher(
        cell.clone(),
        options.status.clone(),
        ledger.clone(),
        options.refresh_interval,
    );
    let notifier = options
        .webhooks
        .clone()
        .filter(|w| !w.urls.is_empty())
        .map(|w| w.spawn(ledger.clone(), options.refresh_interval));
    let state = AppState {
        ledger,
        snapshot: cell,
        token_hash: options.token.as_ref().map(|t| hash(t.expose())),
        refresh_seconds: options.refresh_interval.as_secs().max(1),
    };
    let local = listener.local_addr().map_err(ServeError::Serve)?;
    tracing::info!("serving on http://{local}");
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve);
    refresher.abort();
    if let Some(n) = notifier {
        n.abort();
    }
    served
}

pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/readyz", get(readyz))
        .route("/", get(index))
        .route("/runs/{id}", get(run_page))
        .route("/releases/{id}", get(release_page))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/releases", get(api::releases))
        .route("/api/v1/releases/{id}", get(api::release))
        .route("/api/v1/runs/{id}", get(api::run))
        .route("/api/v1/audit", get(api::audit))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(protected)
        .fallback(|| async { ApiError::not_found("no such path") })
        .with_state(state)
}

fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

async fn require_token(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(want) = app.token_hash else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(hash);
    // Equal hashes, compared in full: no early exit leaks a prefix.
    let ok = given.is_some_and(|g| g.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0);
    if ok {
        return next.run(request).await;
    }
    let mut response = ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message: "send Authorization: Bearer <token>".into(),
    }
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        "Bearer".parse().expect("a header value"),
    );
    response
}

async fn readyz(State(app): State<AppState>) -> Response {
    match app.snapshot.current().status {
        Some(_) => "ready\n".into_response(),
        None => ApiError::not_ready().into_response(),
    }
}

async fn index(State(app): State<AppState>) -> Html<String> {
    Html(dashboard::dashboard(
        &app.snapshot.current(),
        app.refresh_seconds,
    ))
}

async fn run_page(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(run) = RunId::parse(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html(dashboard::not_found(&format!("`{id}` is not a run id"))),
        )
            .into_response();
    };
    match (app.ledger.run(&run).await, app.ledger.steps(&run).await) {
        (Ok(Some(record)), Ok(steps)) => Html(dashboard::run_page(&record, &steps)).into_response(),
        (Ok(None), _) => (
            StatusCode::NOT_FOUND,
            Html(dashboard::not_found(&format!("no run {run} in the ledger"))),
        )
            .into_response(),
        (Err(e), _) | (_, Err(e)) => ApiError::from(e).into_response(),
    }
}

async fn release_page(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(release) = forge_core::release::ReleaseId::parse(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html(dashboard::not_found(&format!("`{id}` is not a release id"))),
        )
            .into_response();
    };
    match (
        app.ledger.release_record(&release).await,
        app.ledger.runs_of_release(&release).await,
    ) {
        (Ok(Some(record)), Ok(runs)) => {
            Html(dashboard::release_page(&record, &runs)).into_response()
        }
        (Ok(None), _) => (
            StatusCode::NOT_FOUND,
            Html(dashboard::not_found(&format!(
                "no release {release} in the ledger"
            ))),
        )
            .into_response(),
        (Err(e), _) | (_, Err(e)) => ApiError::from(e).into_response(),
    }
}

async fn metrics_text(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        app.snapshot.current().metrics_text.clone(),
    )
        .into_response()
}
