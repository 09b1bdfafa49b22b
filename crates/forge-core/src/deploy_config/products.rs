//! `products:`: each names services and environments that exist, in an
//! order, with gates only before environments that have one upstream.

use std::collections::BTreeMap;

use super::hosts::Host;
use super::parse::{error_at, ConfigError};
use super::resolved::{
    Environment, Gate, IntegrationTest, Migration, Product, Service, Target, Window,
};
use super::types::{Duration, MigrationPhase};
use super::types::{Key, ProductSpec, UniqueMap};
use crate::release::window;
use crate::yaml_error::closest;

pub(super) fn resolve_products(
    specs: UniqueMap<Key, ProductSpec>,
    services: &BTreeMap<String, Service>,
    hosts: &BTreeMap<String, Host>,
    environments: &BTreeMap<String, Environment>,
    targets: &[Target],
    text: &str,
    file: &str,
) -> Result<BTreeMap<String, Product>, ConfigError> {
    let mut out = BTreeMap::new();
    for (Key(name), spec) in specs.0 {
        let at = |path: &[&str], message: String, hint: Option<String>| {
            let mut full = vec!["products", name.as_str()];
            full.extend_from_slice(path);
            error_at(text, file, &full, message, hint)
        };
        if spec.services.is_empty() && spec.hosts.is_empty() {
            return Err(at(
                &["services"],
                "a product needs at least one service or host".into(),
                None,
            ));
        }
        if spec.environments.is_empty() {
            return Err(at(
                &["environments"],
                "a product needs at least one environment".into(),
                None,
            ));
        }
        for (i, Key(s)) in spec.services.iter().enumerate() {
            let index = i.to_string();
            if !services.contains_key(s) {
                let hint = closest(s, services.keys().map(String::as_str));
                return Err(at(
                    &["services", index.as_str()],
                    format!("unknown service `{s}`"),
                    hint,
                ));
            }
            if spec.services[..i].iter().any(|k| &k.0 == s) {
                return Err(at(
                    &["services", index.as_str()],
                    format!("`{s}` is listed twice"),
                    None,
                ));
            }
        }
        for (i, Key(e)) in spec.environments.iter().enumerate() {
            let index = i.to_string();
            if !environments.contains_key(e) {
                let hint = closest(e, environments.keys().map(String::as_str));
                return Err(at(
                    &["environments", index.as_str()],
                    format!("unknown environment `{e}`"),
                    hint,
                ));
            }
            if spec.environments[..i].iter().any(|k| &k.0 == e) {
                return Err(at(
                    &["environments", index.as_str()],
                    format!("`{e}` is listed twice"),
                    None,
                ));
            }
        }
        let envs: Vec<String> = spec.environments.into_iter().map(|k| k.0).collect();
        for (i, Key(h)) in spec.hosts.iter().enumerate() {
            let index = i.to_string();
            let Some(host) = hosts.get(h) else {
                let hint = closest(h, hosts.keys().map(String::as_str));
                return Err(at(
                    &["hosts", index.as_str()],
                    format!("unknown host `{h}`"),
                    hint,
                ));
            };
            if !envs.contains(&host.environment) {
                return Err(at(
                    &["hosts", index.as_str()],
                    format!(
                        "host `{h}` belongs to environment `{}`, which is not one of this product's",
                        host.environment
                    ),
                    None,
                ));
            }
        }
        let spec_services: Vec<String> = spec.services.iter().map(|k| k.0.clone()).collect();
        let mut gates = BTreeMap::new();
        for (Key(env), g) in spec.gates.0 {
            match envs.iter().position(|e| *e == env) {
                None => {
                    let hint = closest(&env, envs.iter().map(String::as_str));
                    return Err(at(
                        &["gates", env.as_str()],
                        format!("`{env}` is not one of this product's environments"),
                        hint,
                    ));
                }
                Some(0) => {
                    return Err(at(
                        &["gates", env.as_str()],
                        format!("`{env}` is the first environment: a gate stands between an environment and the one before it"),
                        None,
                    ))
                }
                Some(_) => {}
            }
            let window = match g.window {
                None => None,
                Some(w) => {
                    let path = ["gates", env.as_str(), "window"];
                    let zone = w.zone.unwrap_or_else(|| "UTC".to_owned());
                    let checked = window::parse_time(&w.from)
                        .and_then(|from| window::parse_time(&w.to).map(|to| (from, to)))
                        .and_then(|(from, to)| {
                            if from < to {
                                Ok(())
                            } else {
                                Err(format!("from {} is not before to {}", w.from, w.to))
                            }
                        })
                        .and_then(|()| window::parse_zone(&zone).map(|_| ()));
                    if let Err(e) = checked {
                        return Err(at(&path, e, None));
                    }
                    let days = w.days.unwrap_or_default();
                    if let Some(d) = days.iter().find(|d| !window::DAYS.contains(&d.as_str())) {
                        let hint = closest(d, window::DAYS);
                        return Err(at(&path, format!("`{d}` is not a day (mon … sun)"), hint));
                    }
                    Some(Window {
                        days,
                        from: w.from,
                        to: w.to,
                        zone,
                    })
                }
            };
            let verify = g.verify.unwrap_or_default();
            let known: Vec<&str> = targets
                .iter()
                .filter(|t| spec_services.contains(&t.service))
                .flat_map(|t| t.verify.iter().map(|c| c.name.as_str()))
                .collect();
            if let Some(unknown) = verify.iter().find(|c| !known.contains(&c.as_str())) {
                let hint = closest(unknown, known.iter().copied());
                return Err(at(
                    &["gates", env.as_str(), "verify"],
                    format!("no check `{unknown}` among the product's services' verify: checks"),
                    hint,
                ));
            }
            gates.insert(
                env,
                Gate {
                    soak: g.soak.map_or(0, |d| d.0),
                    approvals: g.approvals.unwrap_or(0),
                    window,
                    verify,
                },
            );
        }
        out.insert(
            name.clone(),
            Product {
                services: spec.services.into_iter().map(|k| k.0).collect(),
                hosts: spec.hosts.into_iter().map(|k| k.0).collect(),
                environments: envs,
                gates,
                checks: spec.checks.unwrap_or_default(),
                integration_test: match spec.integration_test {
                    None => None,
                    Some(t) if t.command.0.is_empty() || t.image.is_empty() => {
                        return Err(at(
                            &["integration_test"],
                            "integration_test: give an image and a command".into(),
                            None,
                        ))
                    }
                    Some(t) => Some(IntegrationTest {
                        image: t.image,
                        job: Migration {
                            name: "integration-test".into(),
                            command: t.command.0,
                            phase: MigrationPhase::After,
                            timeout: t.timeout.unwrap_or(Duration(600)),
                            env_from_secret: t.env_from.as_ref().and_then(|e| e.secret.clone()),
                            env_from_config_map: t.env_from.and_then(|e| e.config_map),
                        },
                    }),
                },
                name,
            },
        );
    }
    Ok(out)
}
