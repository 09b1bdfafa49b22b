//! One retry policy for every network call: exponential backoff with jitter,
//! transient failures only, and `Retry-After` honoured.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};

/// Whether an error is worth another attempt.
pub trait Transient {
    fn is_transient(&self) -> bool;
    /// A delay the server asked for (HTTP `Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The jittered exponential delay before attempt `attempt` (2 is the first
    /// retry), for loops that cannot use [`RetryPolicy::run`] (a blocking git
    /// push that re-applies its edit between attempts, a connect wait).
    pub fn delay_before(&self, attempt: usize) -> Duration {
        let exp = self
            .min_delay
            .saturating_mul(1 << attempt.saturating_sub(2).min(16))
            .min(self.max_delay);
        let extra = rand::random::<u64>() % (exp.as_millis() as u64 + 1);
        exp + Duration::from_millis(extra)
    }

    /// Runs `op` until it succeeds, fails permanently, or attempts run out.
    pub async fn run<T, E, F, Fut>(&self, what: &str, op: F) -> Result<T, E>
    where
        E: Transient + std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter();
        let max_delay = self.max_delay;
        op.retry(backoff)
            .when(|e: &E| e.is_transient())
            .adjust(move |e: &E, d| match (e.retry_after(), d) {
                // Stop when the schedule is exhausted; otherwise wait at least as long as asked.
                (_, None) => None,
                (Some(after), Some(d)) => {
                    Some(after.clamp(d, max_delay.max(after).min(Duration::from_secs(300))))
                }
                (None, d) => d,
            })
            .notify(|e: &E, d: Duration| {
                tracing::warn!("{what}: {e}; retrying in {:.1}s", d.as_secs_f64());
            })
            .await
    }
}

/// The last error of [`RetryPolicy::run_for`], with how long it tried.
#[derive(Debug)]
pub struct Exhausted<E> {
    pub error: E,
    pub attempts: usize,
    pub waited: Duration,
}

impl RetryPolicy {
    /// Retries `op` while `is_transient` holds, for at most `wait` in total
    /// rather than a number of attempts: for a server that may still be
    /// starting. `on_retry` hears each failure that is retried, with its attempt.
    pub async fn run_for<T, E, F, Fut>(
        &self,
        wait: Duration,
        is_transient: impl Fn(&E) -> bool,
        mut op: F,
        mut on_retry: impl FnMut(usize, &E),
    ) -> Result<T, Exhausted<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // The last delay is cut short so the final attempt falls
                    // at the end of the window rather than before it.
                    let remaining = wait.saturating_sub(started.elapsed());
                    if !is_transient(&e) || remaining.is_zero() {
                        return Err(Exhausted {
                            error: e,
                            attempts: attempt,
                            waited: started.elapsed(),
                        });
                    }
                    on_retry(attempt, &e);
                    tokio::time::sleep(self.delay_before(attempt + 1).min(remaining)).await;
                }
            }
        }
    }
}

/// HTTP statuses worth another attempt: server errors, 429 and 408.
pub fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// Connection, timeout and body errors; not TLS or URL errors (a refused
/// certificate stays refused, however often it is asked).
pub fn is_transient_transport(e: &reqwest::Error) -> bool {
    (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()) && !is_tls_failure(e)
}

/// Whether a TLS error (rustls) is among `e`'s causes.
pub fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        // io::Error's `source()` skips the error it wraps (and TLS stacks
        // wrap io::Errors in io::Errors): unwrap those by hand.
        let mut wrapped: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(w) = wrapped {
            if w.is::<rustls::Error>() {
                return true;
            }
            wrapped = w
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static));
        }
        next = err.source();
    }
    false
}

/// Parses `Retry-After` given in seconds (the HTTP-date form is rare for APIs and is ignored).
pub fn parse_retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let secs: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct E(bool);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "e{}", self.0)
        }
    }
    impl Transient for E {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    #[test]
    fn delays_grow_and_stay_bounded() {
        let p = RetryPolicy {
            attempts: 10,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(3),
        };
        let d2 = p.delay_before(2);
        assert!(d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200));
        let d4 = p.delay_before(4);
        assert!(d4 >= Duration::from_millis(400) && d4 <= Duration::from_millis(800));
        for a in 2..40 {
            assert!(p.delay_before(a) <= Duration::from_secs(6));
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicUsize::new(0);
        let r: Result<u32, E> = fast()
            .run("op", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(E(true))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn run_for_is_bounded_by_time_not_attempts() {
        let calls = AtomicUsize::new(0);
        let started = std::time::Instant::now();
        let r: Result<(), Exhausted<E>> = fast()
            .run_for(
                Duration::from_millis(60),
                |e: &E| e.0,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(E(true))
                },
                |_, _| {},
            )
            .await;
        let e = r.unwrap_err();
        assert!(e.attempts > 4, "more attempts than the policy's count");
        assert_eq!(e.attempts, calls.load(Ordering::SeqCst));
        assert!(started.elapsed() < Duration::from_secs(1));
        let r: Result<(), Exhausted<E>> = fast()
            .run_for(
                Duration::from_secs(5),
                |e: &E| e.0,
                || async { Err(E(false)) },
                |_, _| {},
            )
            .await;
        assert_eq!(r.unwrap_err().attempts, 1, "permanent errors end at once");
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried_and_attempts_are_bounded() {
        let calls = AtomicUsize::new(0);
        let r: Result<(), E> = fast()
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(E(false))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let calls = AtomicUsize::new(0);
        let r: Result<(), E> = fast()
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(E(true))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
