//! The short text `forge config validate` prints: each service, then each
//! of its environments with what a deploy would touch.

use std::fmt::Write as _;

use super::resolved::{DeployConfig, GitAuth, SecretRef};
use super::types::RollbackPolicy;

fn secret(s: &SecretRef) -> String {
    match s {
        SecretRef::Env(v) => format!("${v}"),
        SecretRef::File(f) => format!("file {f}"),
    }
}

pub fn summary(c: &DeployConfig) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} service(s) x {} environment(s), flake {}",
        c.file,
        c.services.len(),
        c.environments.len(),
        c.flake
    );
    if let Some(cache) = &c.cache {
        let token = cache
            .token
            .as_ref()
            .map(|t| format!(", token {}", secret(t)));
        let _ = writeln!(out, "cache    {}{}", cache.url, token.unwrap_or_default());
    }
    if let Some(g) = &c.gitops {
        let auth = match &g.auth {
            GitAuth::Default => "default auth".to_owned(),
            GitAuth::Token(t) => format!("token {}", secret(t)),
            GitAuth::SshKeyFile(f) => format!("ssh key {f}"),
        };
        let _ = writeln!(out, "gitops   {} ({}, {auth})", g.repo, g.branch);
    }
    for (name, s) in &c.services {
        let arch: Vec<&str> = s.image.arch.iter().map(|a| a.as_str()).collect();
        let _ = writeln!(
            out,
            "\n{name}: {} [{}] <- {}, rollback {}",
            s.repository,
            arch.join(", "),
            s.installables
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
            match s.rollback {
                RollbackPolicy::Auto => "auto",
                RollbackPolicy::Manual => "manual",
            }
        );
        for t in c.targets.iter().filter(|t| &t.service == name) {
            if !t.cluster {
                let _ = writeln!(
                    out,
                    "  {:<12} {}\n  {:<12} no cluster: deploy stops after the GitOps push",
                    t.env, t.kustomization, ""
                );
                continue;
            }
            let _ = writeln!(
                out,
                "  {:<12} {}\n  {:<12} flux {} -> {}, {:?} {}/{}, timeouts {}/{}",
                t.env,
                t.kustomization,
                "",
                t.flux_source,
                t.flux_kustomization,
                t.workload.kind,
                t.workload.namespace,
                t.workload.name,
                t.reconcile_timeout,
                t.rollout_timeout
            );
        }
        if c.environments.is_empty() {
            let _ = writeln!(out, "  (no environments)");
        }
    }
    for (name, h) in &c.hosts {
        let _ = writeln!(
            out,
            "\n{name}: NixOS host in {} <- {}\n  pin {}, confirmed within {} ({} check(s))",
            h.environment,
            h.installable,
            crate::host::pin::pin_path(&h.environment, name),
            h.confirm_timeout,
            h.verify.len()
        );
    }
    out
}
