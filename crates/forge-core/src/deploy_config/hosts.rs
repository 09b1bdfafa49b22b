//! `hosts:` in deploy.yaml: NixOS machines that pull their deploys. Each
//! names its environment, the flake attribute of its system, its checks
//! (the `verify:` kinds) and how long the agent waits for them.

use std::collections::BTreeMap;

use super::checks::resolve_checks_in;
use super::parse::{closest, error_at, ConfigError};
use super::resolved::{DeployConfig, Environment, Service};
use super::types::{Duration, Key, UniqueMap};

pub const DEFAULT_SYSTEM_ATTR: &str = "nixosConfigurations.{host}.config.system.build.toplevel";
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration(120);

pub use super::resolved::Host;
pub use super::types::HostSpec;

pub(super) fn resolve_hosts(
    raw: UniqueMap<Key, Option<HostSpec>>,
    flake: &str,
    environments: &BTreeMap<String, Environment>,
    services: &BTreeMap<String, Service>,
    text: &str,
    file: &str,
) -> Result<BTreeMap<String, Host>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, spec) in raw.0 {
        let name = name.0;
        let at = |sub: &[&str], m: String, hint: Option<String>| {
            let mut path = vec!["hosts", name.as_str()];
            path.extend_from_slice(sub);
            error_at(text, file, &path, format!("hosts.{name}: {m}"), hint)
        };
        let Some(spec) = spec else {
            return Err(at(
                &[],
                "give at least its environment: `{environment: …}`".into(),
                None,
            ));
        };
        if services.contains_key(&name) {
            return Err(at(
                &[],
                format!("`{name}` is also a service: `forge deploy {name}` must name one thing; rename the host or the service"),
                None,
            ));
        }
        let env = spec.environment.0;
        if !environments.contains_key(&env) {
            let known: Vec<&str> = environments.keys().map(String::as_str).collect();
            return Err(at(
                &["environment"],
                format!("unknown environment `{env}` (known: {})", known.join(", ")),
                closest(&env, known.iter().copied()),
            ));
        }
        let attr = spec
            .system
            .unwrap_or_else(|| DEFAULT_SYSTEM_ATTR.to_owned())
            .replace("{host}", &name);
        if attr.is_empty() || attr.contains('#') {
            return Err(at(
                &["system"],
                format!(
                    "system `{attr}`: give the attribute only (the flake is the top-level flake:)"
                ),
                None,
            ));
        }
        let templates = resolve_checks_in(&spec.verify, "hosts", &name, text, file)?;
        let vars = [("env", env.as_str()), ("service", name.as_str())];
        out.insert(
            name.clone(),
            Host {
                installable: format!("{flake}#{attr}"),
                environment: env.clone(),
                confirm_timeout: spec.confirm_timeout.unwrap_or(DEFAULT_CONFIRM_TIMEOUT),
                verify: templates.iter().map(|t| t.for_target(&vars)).collect(),
                name,
            },
        );
    }
    Ok(out)
}

impl DeployConfig {
    /// The host `name` of `hosts:`.
    pub fn host(&self, name: &str) -> Result<&Host, ConfigError> {
        self.hosts.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.hosts.keys().map(String::as_str).collect();
            error_at(
                &self.text,
                &self.file,
                &["hosts"],
                format!("no host `{name}` in hosts: (known: {})", known.join(", ")),
                closest(name, known.iter().copied()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::deploy_config::DeployConfig;
    use crate::oci::image_config::Arch;

    const BASE: &str = "registry: r\nenvironments: {prod: {}, staging: {}}\nservices: {app: {}}\n";

    fn parse(hosts: &str) -> Result<DeployConfig, String> {
        DeployConfig::parse(&format!("{BASE}{hosts}"), "deploy.yaml", Arch::Amd64)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_host_takes_its_defaults() {
        let c = parse("hosts:\n  web1:\n    environment: prod\n").unwrap();
        let h = c.host("web1").unwrap();
        assert_eq!(
            h.installable,
            ".#nixosConfigurations.web1.config.system.build.toplevel"
        );
        assert_eq!(h.confirm_timeout.seconds(), 120);
        assert!(h.verify.is_empty());
    }

    #[test]
    fn a_file_of_hosts_only_is_enough() {
        let c = DeployConfig::parse(
            "environments: {prod: {}}\nhosts: {web1: {environment: prod}}\n",
            "deploy.yaml",
            Arch::Amd64,
        )
        .unwrap();
        assert!(c.services.is_empty());
        assert_eq!(c.host("web1").unwrap().environment, "prod");
        let text = crate::deploy_config::summary::summary(&c);
        assert!(
            text.contains("web1: NixOS host in prod <- .#nixosConfigurations.web1.config.system.build.toplevel\n  pin hosts/prod/web1.json, confirmed within 2m (0 check(s))"),
            "{text}"
        );
    }

    #[test]
    fn checks_and_timeout_are_read() {
        let c = parse("hosts:\n  web1:\n    environment: prod\n    system: hosts.{host}\n    confirm_timeout: 30s\n    verify:\n      - http: {url: 'http://localhost/{env}'}\n      - command: ['true']\n").unwrap();
        let h = c.host("web1").unwrap();
        assert_eq!(h.installable, ".#hosts.web1");
        assert_eq!(h.verify.len(), 2);
        assert_eq!(h.confirm_timeout.seconds(), 30);
        assert!(
            matches!(&h.verify[0].probe, crate::deploy_config::Probe::Http { url, .. } if url == "http://localhost/prod")
        );
    }

    #[test]
    fn bad_hosts_are_errors_at_their_line_and_column() {
        let e = parse("hosts:\n  web1:\n    environment: prd\n").unwrap_err();
        assert!(e.starts_with("deploy.yaml:6:5:"), "{e}");
        assert!(e.contains("unknown environment `prd`"), "{e}");
        assert!(e.contains("prod"), "{e}");
        let e = parse("hosts:\n  web1:\n    environment: prod\n    confirm: 1m\n").unwrap_err();
        assert!(
            e.starts_with("deploy.yaml:7:5:") && e.contains("confirm_timeout"),
            "{e}"
        );
        let e = parse("hosts:\n  app:\n    environment: prod\n").unwrap_err();
        assert!(e.contains("also a service"), "{e}");
        let e =
            parse("hosts:\n  web1:\n    environment: prod\n    verify: [{name: x}]\n").unwrap_err();
        assert!(e.starts_with("deploy.yaml:7:"), "{e}");
    }
}
