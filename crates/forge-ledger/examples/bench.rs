//! The ledger's overhead per step transition: `bench [--steps N] LOCATION…`
//! records one run holding its lease, then moves N steps through
//! `Start` and `Succeed` (2 N fenced transitions, each one transaction) and
//! prints, per location: `<backend> <median ms> <p95 ms> <transitions>`.
//! Driven by `bench/ledger.sh`.

use std::time::{Duration, Instant};

use forge_core::release::{RunId, StepKey, Transition};
use forge_ledger::{Ledger, LedgerLocation, NewRun};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let mut steps = 500usize;
    if args.peek().map(String::as_str) == Some("--steps") {
        args.next();
        steps = args.next().ok_or("--steps needs a number")?.parse()?;
    }
    let locations: Vec<String> = args.collect();
    if locations.is_empty() {
        return Err("usage: bench [--steps N] LOCATION...".into());
    }
    for text in locations {
        let location: LedgerLocation = text.parse()?;
        let backend = match location {
            LedgerLocation::Sqlite(_) => "sqlite",
            LedgerLocation::Postgres(_) => "postgres",
        };
        let mut times = measure(&location, steps).await?;
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{backend} {:.3} {:.3} {}",
            ms(at(0.5)),
            ms(at(0.95)),
            times.len()
        );
    }
    Ok(())
}

/// The time of each transition, after a few untimed ones to warm up.
async fn measure(
    location: &LedgerLocation,
    steps: usize,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let ledger = Ledger::open(location).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let run = RunId::new(now, std::process::id());
    ledger
        .create_run(NewRun {
            id: run.clone(),
            release: None,
            command: "bench".into(),
            environment: "bench".into(),
            services: vec!["api".into()],
            actor: forge_ledger::actor_from_env(),
        })
        .await?;
    let lease = ledger
        .acquire_lease(
            "api/bench",
            &run,
            &forge_ledger::lease_owner(),
            Duration::from_secs(3600),
            now as i64,
        )
        .await?;
    let warm_up = 20;
    let mut times = Vec::with_capacity(2 * steps);
    for i in 0..warm_up + steps {
        let key = StepKey::new("api", "bench", &format!("step-{i}"));
        for transition in [Transition::Start, Transition::Succeed] {
            let outputs = (transition == Transition::Succeed)
                .then(|| serde_json::json!({"digest": "sha256:0123456789abcdef", "i": i}));
            let started = Instant::now();
            ledger
                .transition_step(&run, &key, transition, outputs, None, &lease)
                .await?;
            if i >= warm_up {
                times.push(started.elapsed());
            }
        }
    }
    ledger.close().await;
    Ok(times)
}
