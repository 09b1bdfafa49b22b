//! Optional notifications: each new release event of the audit log (runs
//! started, resumed, cancelled or ended, steps that failed, releases
//! recorded) is POSTed as JSON to every configured webhook, with a
//! Slack-compatible `text`. Events recorded before the server started are
//! not sent. Requests use forge-io's client, timeouts and retry policy; a
//! webhook URL is a secret (Slack's carry their token in the path), so logs
//! show its scheme and host only.

use std::time::Duration;

use serde_json::{json, Value};

use forge_core::release::audit::AuditEvent;
use forge_core::secret::Secret;
use forge_io::http::{self, Activity, HttpError, Network};
use forge_ledger::Ledger;

/// Events read per poll.
const PAGE: u32 = 200;

#[derive(Debug, Clone)]
pub struct Webhooks {
    pub urls: Vec<Secret>,
    pub network: Network,
}

/// Whether `action` is worth a notification.
pub fn notable(action: &str) -> bool {
    action.starts_with("run.") || action == "release.recorded" || action == "step.failed"
}

/// The payload for `event`: `text` for Slack, the event's identity for
/// machines (never its `before`/`after`, which hold run specs and outputs).
pub fn payload(event: &AuditEvent) -> Value {
    let what = match event.action.as_str() {
        "run.started" => {
            let env = event.after["environment"].as_str().unwrap_or("?");
            let services: Vec<&str> = event.after["services"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "run {} started: {} to {env}",
                event.subject,
                services.join(", ")
            )
        }
        "release.recorded" => format!("release {} recorded", event.subject),
        "step.failed" => format!("step {} failed", event.subject),
        other => format!(
            "run {} {}",
            event.subject,
            other.strip_prefix("run.").unwrap_or(other)
        ),
    };
    json!({
        "text": format!("forge: {what} (by {})", event.actor),
        "event": {
            "seq": event.seq,
            "at": event.at,
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
        },
    })
}

/// `scheme://host` of a webhook URL, for logs.
pub fn display(url: &Secret) -> String {
    let text = url.expose();
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}/…")
        }
        None => "a webhook".to_owned(),
    }
}

impl Webhooks {
    /// Polls the audit log every `interval` and delivers what is new.
    pub fn spawn(self, ledger: Ledger, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let client = http::client(true, self.network.timeouts);
            // Start after what is already there.
            let mut after = match last_seq(&ledger).await {
                Ok(seq) => seq,
                Err(e) => {
                    tracing::warn!("webhooks: reading the audit log: {e}");
                    0
                }
            };
            loop {
                tokio::time::sleep(interval).await;
                match ledger.audit_page(after, None, PAGE).await {
                    Ok(events) => {
                        for (event, _) in events {
                            after = event.seq;
                            if notable(&event.action) {
                                self.deliver(&client, &payload(&event)).await;
                            }
                        }
                    }
                    Err(e) => tracing::warn!("webhooks: reading the audit log: {e}"),
                }
            }
        })
    }

    async fn deliver(&self, client: &reqwest::Client, body: &Value) {
        for url in &self.urls {
            let shown = display(url);
            let sent = self
                .network
                .retry
                .run(&format!("webhook {shown}"), || async {
                    let request = client.post(url.expose()).json(body);
                    let activity = Activity::new();
                    // The URL in errors is the redacted one.
                    HttpError::send(
                        &shown,
                        request,
                        self.network.timeouts.idle,
                        &activity,
                        |b| forge_core::secret::redact(&b, url),
                    )
                    .await
                    .map(|_| ())
                })
                .await;
            if let Err(e) = sent {
                tracing::warn!("webhook {shown}: giving up on event: {e}");
            }
        }
    }
}

async fn last_seq(ledger: &Ledger) -> Result<i64, forge_ledger::LedgerError> {
    // Pages forward to the end; the log is append-only and gap-free.
    let mut after = 0;
    loop {
        let page = ledger.audit_page(after, None, 1_000).await?;
        match page.last() {
            None => return Ok(after),
            Some((e, _)) => after = e.seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, after: Value) -> AuditEvent {
        AuditEvent {
            seq: 7,
            at: 1,
            actor: "ada@host".into(),
            action: action.into(),
            subject: "run-1-2".into(),
            before: Value::Null,
            after,
        }
    }

    #[test]
    fn payloads_have_slack_text_and_no_event_bodies() {
        let started = payload(&event(
            "run.started",
            json!({"environment": "prod", "services": ["api", "web"], "config": "/secret/path"}),
        ));
        assert_eq!(
            started["text"],
            "forge: run run-1-2 started: api, web to prod (by ada@host)"
        );
        assert!(!started.to_string().contains("/secret/path"));
        assert_eq!(
            payload(&event("run.failed", Value::Null))["text"],
            "forge: run run-1-2 failed (by ada@host)"
        );
        assert!(notable("run.succeeded") && notable("step.failed") && !notable("step.started"));
    }

    #[test]
    fn urls_show_scheme_and_host_only() {
        let url = Secret::new("https://user:pw@hooks.example.com/services/T0/B0/xyzzy?x=1");
        assert_eq!(display(&url), "https://hooks.example.com/…");
        assert_eq!(display(&Secret::new("nonsense")), "a webhook");
    }
}
