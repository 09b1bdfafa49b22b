//! The JSON API (`/api/v1/…`): releases and audit events by page, one
//! release, one run with its steps, and the status snapshot. Every error is
//! `{"error": {"code", "message"}}` with its HTTP status: 404 for ids the
//! ledger does not have, 400 for query parameters it cannot take, 503 until
//! the first status snapshot exists. Documents carry a `schema` name and
//! only ever gain fields.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use forge_core::release::{ReleaseId, RunId, StepState};
use forge_ledger::{LedgerError, ReleaseCursor};

use crate::server::AppState;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    pub fn not_ready() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "not_ready",
            message: "the first status snapshot is still being gathered".into(),
        }
    }
}

impl From<LedgerError> for ApiError {
    // Ledger errors name the ledger by its redacted location only.
    fn from(e: LedgerError) -> Self {
        tracing::warn!("ledger: {e}");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ledger",
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

type Params = Query<HashMap<String, String>>;

/// Refuses parameters other than `known`, naming them.
fn only(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    unknown.sort_unstable();
    match unknown.first() {
        None => Ok(()),
        Some(_) => Err(ApiError::bad_request(format!(
            "unknown query parameter(s) {} (known: {})",
            unknown.join(", "),
            known.join(", ")
        ))),
    }
}

fn limit(params: &HashMap<String, String>) -> Result<u32, ApiError> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}, not `{text}`"
            ))),
        },
    }
}

pub async fn releases(
    State(app): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    only(&params, &["limit", "cursor"])?;
    let limit = limit(&params)?;
    let cursor = params
        .get("cursor")
        .map(|c| ReleaseCursor::parse(c).map_err(ApiError::bad_request))
        .transpose()?;
    let page = app.ledger.releases_page(limit, cursor.as_ref()).await?;
    let next = (page.len() == limit as usize).then(|| {
        let last = page.last().expect("a full page");
        ReleaseCursor {
            created_at: last.created_at,
            id: last.id.clone(),
        }
        .encode()
    });
    let releases: Vec<Value> = page
        .iter()
        .map(|r| json!({"id": r.id, "created_at": r.created_at, "release": r.release}))
        .collect();
    Ok(Json(json!({
        "schema": "forge.releases/v1",
        "releases": releases,
        "next_cursor": next,
    })))
}

pub async fn release(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = ReleaseId::parse(&id).map_err(ApiError::not_found)?;
    let record = app
        .ledger
        .release_record(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no release {id} in the ledger")))?;
    let runs = app.ledger.runs_of_release(&id).await?;
    Ok(Json(json!({
        "schema": "forge.release/v1",
        "id": record.id,
        "created_at": record.created_at,
        "release": record.release,
        "runs": runs,
    })))
}

pub async fn run(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = RunId::parse(&id).map_err(ApiError::not_found)?;
    let record = app
        .ledger
        .run(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run {id} in the ledger")))?;
    let steps = app.ledger.steps(&id).await?;
    let waiting: Vec<&str> = steps
        .iter()
        .filter(|s| s.state == StepState::Running)
        .map(|s| s.key.as_str())
        .collect();
    // A product run at a closed gate: which, and why, as of now.
    let gates = forge_steps::release::promotion::gate_waits(&app.ledger, &record)
        .await
        .unwrap_or_default();
    Ok(Json(json!({
        "schema": "forge.run/v1",
        "run": record,
        "steps": steps,
        "waiting_on": waiting,
        "gates": gates,
    })))
}

pub async fn status(State(app): State<AppState>) -> Result<Response, ApiError> {
    let snapshot = app.snapshot.current();
    let body = snapshot
        .status_json
        .clone()
        .ok_or_else(ApiError::not_ready)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from(body),
    )
        .into_response())
}

/// `since`: RFC 3339 or unix milliseconds; `after`: the `seq` the previous
/// page ended at (its `next_after`).
pub async fn audit(
    State(app): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    only(&params, &["since", "after", "limit"])?;
    let limit = limit(&params)?;
    let since = params.get("since").map(|s| parse_time(s)).transpose()?;
    let after = match params.get("after") {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(format!("after must be a sequence number, not `{text}`"))
            })?,
    };
    let page = app.ledger.audit_page(after, since, limit).await?;
    let next = (page.len() == limit as usize).then(|| page.last().expect("a full page").0.seq);
    let events: Vec<Value> = page
        .iter()
        .map(|(e, hash)| {
            let mut v = serde_json::to_value(e).expect("an audit event serialises");
            v["hash"] = Value::String(hash.clone());
            v
        })
        .collect();
    Ok(Json(json!({
        "schema": "forge.audit/v1",
        "events": events,
        "next_after": next,
    })))
}

/// Unix milliseconds from RFC 3339 (`2026-12-01T10:00:00Z`) or a number.
pub fn parse_time(text: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "since must be an RFC 3339 time (2026-12-01T10:00:00Z) or unix milliseconds, not `{text}`"
            ))
        })
}
