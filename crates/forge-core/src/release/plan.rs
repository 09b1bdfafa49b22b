//! The plan: a graph of steps over services in one environment, derived
//! purely from what each service has (migrations, verification, a cluster)
//! and the order between services (`depends_on`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::step::StepKey;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// `nix build` of the service's outputs (the runner builds all services
    /// of a run in one call).
    Build,
    /// The closure into the binary cache.
    Cache,
    /// The image into the registry.
    Image,
    /// Migrations that must run before the rollout.
    MigrateBefore,
    /// Pin the digest in GitOps, commit and push.
    Pin,
    /// Flux applies the commit.
    Reconcile,
    /// The workload rolls out.
    Rollout,
    /// Migrations that run after the rollout.
    MigrateAfter,
    /// The service's verification checks.
    Verify,
    /// A product's promotion gate before an environment (soak, approvals).
    Gate,
    /// The flake's checks (`nix flake check`, or named `checks.<system>.*`),
    /// before anything is pushed.
    Check,
    /// A product's integration-test Job against its first environment.
    IntegrationTest,
    /// A NixOS host of a product: its system built, pushed and pinned for
    /// its agent (`forge deploy HOST` as a step).
    HostDeploy,
    /// A whole `forge deploy`, recorded as the one step of its run.
    Deploy,
    /// A whole `forge rollback`, recorded as the one step of its run.
    Rollback,
}

impl StepKind {
    /// The last part of the step key.
    pub fn action(self) -> &'static str {
        match self {
            StepKind::Build => "build",
            StepKind::Cache => "cache",
            StepKind::Image => "image",
            StepKind::MigrateBefore => "migrate-before",
            StepKind::Pin => "pin",
            StepKind::Reconcile => "reconcile",
            StepKind::Rollout => "rollout",
            StepKind::MigrateAfter => "migrate-after",
            StepKind::Verify => "verify",
            StepKind::Gate => "gate",
            StepKind::Check => "check",
            StepKind::IntegrationTest => "integration-test",
            StepKind::HostDeploy => "host-deploy",
            StepKind::Deploy => "deploy",
            StepKind::Rollback => "rollback",
        }
    }

    /// Steps that change the environment (as opposed to publishing artifacts).
    pub fn touches_environment(self) -> bool {
        !matches!(
            self,
            StepKind::Build | StepKind::Cache | StepKind::Image | StepKind::Check
        )
    }
}

/// What the planner needs to know of one service in the environment.
#[derive(Debug, Clone, Default)]
pub struct ServiceShape {
    pub name: String,
    /// Services whose whole release in this environment must be done first.
    pub depends_on: Vec<String>,
    pub has_cache: bool,
    pub has_gitops: bool,
    pub has_cluster: bool,
    pub migrations_before: bool,
    pub migrations_after: bool,
    pub has_verify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    pub key: StepKey,
    pub kind: StepKind,
    /// Steps that must have succeeded (or been skipped) first.
    pub after: Vec<StepKey>,
}

/// The steps of a run, in an order that respects every `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleasePlan {
    pub environment: String,
    pub steps: Vec<PlannedStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("service `{service}` depends on `{missing}`, which is not part of this release")]
    UnknownDependency { service: String, missing: String },
    #[error("services depend on each other in a cycle: {}", .cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("no services to release")]
    Empty,
}

impl ReleasePlan {
    /// The plan for releasing `services` to `environment`.
    pub fn new(environment: &str, services: &[ServiceShape]) -> Result<Self, PlanError> {
        Self::of(environment, services, Scope::Release)
    }

    /// The plan of `forge run-migrations`: the image is published (a no-op
    /// when it is there), then every migration runs, before-phase first,
    /// with no pin and no rollout.
    pub fn migrations_only(
        environment: &str,
        services: &[ServiceShape],
    ) -> Result<Self, PlanError> {
        Self::of(environment, services, Scope::Migrations)
    }

    /// The plan of a product release: every service published once (in the
    /// first environment's steps), then each environment in promotion order,
    /// the ones after the first behind a gate that waits for every service
    /// to have finished in the environment before. The same digests go
    /// everywhere: later environments have no build, cache or image steps.
    pub fn product(
        product: &str,
        environments: &[(String, Vec<ServiceShape>)],
    ) -> Result<Self, PlanError> {
        let mut steps: Vec<PlannedStep> = Vec::new();
        let mut upstream_last: Vec<StepKey> = Vec::new();
        for (i, (env, shapes)) in environments.iter().enumerate() {
            // A product may have only hosts in an environment.
            let one = if shapes.is_empty() {
                Self {
                    environment: env.clone(),
                    steps: vec![],
                }
            } else {
                Self::of(env, shapes, Scope::Release)?
            };
            let gate = (i > 0).then(|| StepKey::new(product, env, StepKind::Gate.action()));
            if let Some(g) = &gate {
                steps.push(PlannedStep {
                    key: g.clone(),
                    kind: StepKind::Gate,
                    after: upstream_last.clone(),
                });
            }
            let first_env = &environments[0].0;
            let mut last_of: BTreeMap<String, StepKey> = BTreeMap::new();
            for mut step in one.steps {
                if i > 0 && !step.kind.touches_environment() {
                    continue;
                }
                // Publishing happened in the first environment's steps.
                for a in &mut step.after {
                    if i > 0 && !is_env_step(a) {
                        *a = StepKey::new(a.service(), first_env, a.action());
                    }
                }
                if let Some(g) = &gate {
                    if step
                        .after
                        .iter()
                        .all(|a| a.environment() != env.as_str() || !is_env_step(a))
                    {
                        step.after.push(g.clone());
                    }
                }
                last_of.insert(step.key.service().to_owned(), step.key.clone());
                steps.push(step);
            }
            upstream_last = last_of.into_values().collect();
        }
        Ok(Self {
            environment: environments
                .iter()
                .map(|(e, _)| e.as_str())
                .collect::<Vec<_>>()
                .join(","),
            steps,
        })
    }

    /// The plan of a release rollback in `environment`: each service pinned
    /// to an earlier release's digest, reconciled and rolled out (nothing is
    /// built: the digests exist), in `depends_on` order.
    pub fn rollback(environment: &str, services: &[ServiceShape]) -> Result<Self, PlanError> {
        Self::repin(environment, services, |k| {
            matches!(k, StepKind::Pin | StepKind::Reconcile | StepKind::Rollout)
        })
    }

    /// The plan of `forge promote`: a recorded release into `environment`
    /// with its migrations and verification, nothing built.
    pub fn promotion(environment: &str, services: &[ServiceShape]) -> Result<Self, PlanError> {
        Self::repin(environment, services, StepKind::touches_environment)
    }

    fn repin(
        environment: &str,
        services: &[ServiceShape],
        keep: impl Fn(StepKind) -> bool,
    ) -> Result<Self, PlanError> {
        let full = Self::of(environment, services, Scope::Release)?;
        let kept: BTreeSet<StepKey> = full
            .steps
            .iter()
            .filter(|s| keep(s.kind))
            .map(|s| s.key.clone())
            .collect();
        let steps = full
            .steps
            .into_iter()
            .filter(|s| keep(s.kind))
            .map(|mut s| {
                s.after.retain(|a| kept.contains(a));
                s
            })
            .collect();
        Ok(Self {
            environment: environment.to_owned(),
            steps,
        })
    }

    /// This plan with the flake's checks first: nothing is pushed (no cache
    /// or image step starts) before they passed (`forge prerelease`,
    /// `forge comprehensive-release`).
    pub fn checked_first(mut self, product: &str) -> Self {
        let first = self.environments()[0].to_owned();
        let check = StepKey::new(product, &first, StepKind::Check.action());
        for step in &mut self.steps {
            if matches!(step.kind, StepKind::Cache | StepKind::Image) {
                step.after.push(check.clone());
            }
        }
        self.steps.insert(
            0,
            PlannedStep {
                key: check,
                kind: StepKind::Check,
                after: vec![],
            },
        );
        self
    }

    /// This plan with the product's integration test in the first
    /// environment once every service finished there; the next
    /// environment's gate waits for it too.
    pub fn with_integration_test(mut self, product: &str) -> Self {
        let envs: Vec<String> = self.environments().iter().map(|e| e.to_string()).collect();
        let first = &envs[0];
        let key = StepKey::new(product, first, StepKind::IntegrationTest.action());
        let mut last_of: BTreeMap<String, StepKey> = BTreeMap::new();
        for s in self.steps.iter().filter(|s| {
            s.key.environment() == first && !matches!(s.kind, StepKind::Check | StepKind::Gate)
        }) {
            last_of.insert(s.key.service().to_owned(), s.key.clone());
        }
        let at = self
            .steps
            .iter()
            .position(|s| s.kind == StepKind::Gate)
            .unwrap_or(self.steps.len());
        if let Some(gate) = self.steps.iter_mut().find(|s| s.kind == StepKind::Gate) {
            gate.after.push(key.clone());
        }
        self.steps.insert(
            at,
            PlannedStep {
                key,
                kind: StepKind::IntegrationTest,
                after: last_of.into_values().collect(),
            },
        );
        self
    }

    /// This product plan with its NixOS hosts: each deployed in its own
    /// environment (behind that environment's gate), and the next
    /// environment's gate waiting for it like for the services.
    pub fn with_hosts(mut self, product: &str, hosts: &[(String, String)]) -> Self {
        let envs: Vec<String> = self.environment.split(',').map(str::to_owned).collect();
        for (host, env) in hosts {
            let Some(at) = envs.iter().position(|e| e == env) else {
                continue;
            };
            let key = StepKey::new(host, env, StepKind::HostDeploy.action());
            let gate = StepKey::new(product, env, StepKind::Gate.action());
            let after: Vec<StepKey> = self.step(&gate).map(|_| gate.clone()).into_iter().collect();
            if let Some(next) = envs.get(at + 1) {
                let next_gate = StepKey::new(product, next, StepKind::Gate.action());
                if let Some(g) = self.steps.iter_mut().find(|s| s.key == next_gate) {
                    g.after.push(key.clone());
                }
            }
            // After the environment's gate (or anywhere in the first one).
            let pos = self
                .steps
                .iter()
                .position(|s| {
                    s.key.environment() == env
                        && !matches!(s.kind, StepKind::Gate | StepKind::HostDeploy)
                })
                .unwrap_or(self.steps.len());
            self.steps.insert(
                pos,
                PlannedStep {
                    key,
                    kind: StepKind::HostDeploy,
                    after,
                },
            );
        }
        self
    }

    /// Only the steps in the first environment (`forge prerelease`).
    pub fn first_environment_only(mut self) -> Self {
        let first = self.environments()[0].to_owned();
        self.steps.retain(|s| s.key.environment() == first);
        self.environment = first;
        self
    }

    /// The environments the plan changes, in plan order.
    pub fn environments(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.steps
            .iter()
            .map(|s| s.key.environment())
            .filter(|e| seen.insert(*e))
            .collect()
    }

    /// Every service × environment the plan writes (gates write nothing).
    pub fn targets(&self) -> Vec<(&str, &str)> {
        let mut seen = BTreeSet::new();
        self.steps
            .iter()
            .filter(|s| {
                !matches!(
                    s.kind,
                    StepKind::Gate
                        | StepKind::Check
                        | StepKind::IntegrationTest
                        | StepKind::HostDeploy
                )
            })
            .map(|s| (s.key.service(), s.key.environment()))
            .filter(|t| seen.insert(*t))
            .collect()
    }

    /// The plan of a command recorded as one step (`forge deploy`, `forge rollback`).
    pub fn single(environment: &str, service: &str, kind: StepKind) -> Self {
        Self {
            environment: environment.to_owned(),
            steps: vec![PlannedStep {
                key: StepKey::new(service, environment, kind.action()),
                kind,
                after: vec![],
            }],
        }
    }

    fn of(environment: &str, services: &[ServiceShape], scope: Scope) -> Result<Self, PlanError> {
        if services.is_empty() {
            return Err(PlanError::Empty);
        }
        let by_name: BTreeMap<&str, &ServiceShape> =
            services.iter().map(|s| (s.name.as_str(), s)).collect();
        for s in services {
            for d in &s.depends_on {
                if !by_name.contains_key(d.as_str()) {
                    return Err(PlanError::UnknownDependency {
                        service: s.name.clone(),
                        missing: d.clone(),
                    });
                }
            }
        }
        let order = service_order(&by_name)?;
        let mut steps = Vec::new();
        let mut last_of: BTreeMap<&str, StepKey> = BTreeMap::new();
        for name in order {
            let s = by_name[name];
            let key = |kind: StepKind| StepKey::new(name, environment, kind.action());
            let mut kinds = vec![StepKind::Build];
            if s.has_cache {
                kinds.push(StepKind::Cache);
            }
            kinds.push(StepKind::Image);
            // Without a cluster, migrations run as local commands.
            if s.migrations_before {
                kinds.push(StepKind::MigrateBefore);
            }
            if s.has_gitops && scope == Scope::Release {
                kinds.push(StepKind::Pin);
                if s.has_cluster {
                    kinds.extend([StepKind::Reconcile, StepKind::Rollout]);
                }
            }
            if s.migrations_after {
                kinds.push(StepKind::MigrateAfter);
            }
            if s.has_verify && scope == Scope::Release {
                kinds.push(StepKind::Verify);
            }
            let mut previous: Option<StepKey> = None;
            for kind in kinds {
                let mut after: Vec<StepKey> = previous.iter().cloned().collect();
                // Publishing may start at once; changing the environment waits
                // for the services this one depends on.
                if kind.touches_environment() && previous.as_ref().is_none_or(|p| !is_env_step(p)) {
                    after.extend(s.depends_on.iter().map(|d| last_of[d.as_str()].clone()));
                }
                let k = key(kind);
                steps.push(PlannedStep {
                    key: k.clone(),
                    kind,
                    after,
                });
                previous = Some(k);
            }
            last_of.insert(name, previous.expect("every service builds"));
        }
        Ok(Self {
            environment: environment.to_owned(),
            steps,
        })
    }

    pub fn step(&self, key: &StepKey) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| &s.key == key)
    }

    /// The services, in release order.
    pub fn services(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.steps
            .iter()
            .filter(|s| {
                !matches!(
                    s.kind,
                    StepKind::Gate
                        | StepKind::Check
                        | StepKind::IntegrationTest
                        | StepKind::HostDeploy
                )
            })
            .map(|s| s.key.service())
            .filter(|s| seen.insert(*s))
            .collect()
    }

    /// One line per step: `key  (after a, b)`.
    pub fn render(&self) -> String {
        let mut out = format!("plan for {}:\n", self.environment);
        for s in &self.steps {
            out.push_str(&format!("  {}", s.key));
            if !s.after.is_empty() {
                let after: Vec<&str> = s.after.iter().map(StepKey::as_str).collect();
                out.push_str(&format!("  (after {})", after.join(", ")));
            }
            out.push('\n');
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Release,
    Migrations,
}

fn is_env_step(key: &StepKey) -> bool {
    !matches!(key.action(), "build" | "cache" | "image" | "check")
}

/// Services ordered so that each comes after what it depends on (ties by
/// name, so the order is stable); a cycle is named.
fn service_order<'a>(
    by_name: &BTreeMap<&'a str, &'a ServiceShape>,
) -> Result<Vec<&'a str>, PlanError> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < by_name.len() {
        let ready = by_name
            .iter()
            .find(|(n, s)| {
                !done.contains(*n) && s.depends_on.iter().all(|d| done.contains(d.as_str()))
            })
            .map(|(n, _)| *n);
        match ready {
            Some(n) => {
                done.insert(n);
                order.push(n);
            }
            None => {
                let stuck: Vec<&str> = by_name
                    .keys()
                    .copied()
                    .filter(|n| !done.contains(n))
                    .collect();
                return Err(PlanError::Cycle {
                    cycle: find_cycle(by_name, &stuck),
                });
            }
        }
    }
    Ok(order)
}

/// Follows dependencies among `stuck` services until one repeats.
fn find_cycle(by_name: &BTreeMap<&str, &ServiceShape>, stuck: &[&str]) -> Vec<String> {
    let mut path: Vec<&str> = vec![stuck[0]];
    loop {
        let here = *path.last().expect("non-empty");
        let next = by_name[here]
            .depends_on
            .iter()
            .map(String::as_str)
            .find(|d| stuck.contains(d))
            .expect("a stuck service depends on another stuck one");
        if let Some(at) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(next.to_owned());
            return cycle;
        }
        path.push(next);
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
