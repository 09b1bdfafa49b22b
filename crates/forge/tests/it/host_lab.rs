//! A NixOS host without NixOS, for the host deploy and agent tests: a flake
//! (no nixpkgs) whose "systems" are real store paths with a
//! `bin/switch-to-configuration` script that records each call and moves a
//! current-system link as activation would; a bare git remote; a signed
//! `file://` cache; a system profile under the temp dir; a `systemctl`
//! stand-in printing the failed units the test sets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::git::git;
use crate::support::{forge, nix, nix_keypair, run_ok, system};

pub struct HostLab {
    pub tmp: tempfile::TempDir,
    pub public_key: String,
}

impl HostLab {
    /// deploy.yaml with hosts `web1` and `web2` in `prod`; `host_extra` is
    /// added under web1 (indented 4 spaces, ending in a newline).
    pub fn new(host_extra: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (_, public_key) = nix_keypair(tmp.path(), "forge-host-test-1");
        std::fs::rename(
            tmp.path().join("forge-host-test-1.sec"),
            tmp.path().join("cache.sec"),
        )
        .unwrap();
        let lab = Self { tmp, public_key };
        std::fs::create_dir(lab.path("flake")).unwrap();
        lab.set_version("1");
        let bare = lab.path("gitops.git");
        git(
            lab.tmp.path(),
            &["init", "-q", "--bare", bare.to_str().unwrap()],
        );
        let seed = lab.path("seed");
        std::fs::create_dir(&seed).unwrap();
        git(&seed, &["init", "-q"]);
        std::fs::write(seed.join("README"), "fleet\n").unwrap();
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "seed"]);
        git(
            &seed,
            &["push", "-q", bare.to_str().unwrap(), "HEAD:refs/heads/main"],
        );
        let yaml = format!(
            "flake: path:{flake}\ncache:\n  url: file://./cache\n  signing_key_file: cache.sec\nregistry: oci:./images\ngitops:\n  repo: ./gitops.git\n  clone_dir: ./clone\nenvironments:\n  prod:\n    cluster: false\nservices:\n  app: {{}}\nhosts:\n  web1:\n    environment: prod\n{host_extra}  web2:\n    environment: prod\n",
            flake = lab.path("flake").display()
        );
        std::fs::write(lab.path("deploy.yaml"), yaml).unwrap();
        std::fs::write(
            lab.path("systemctl"),
            format!(
                "#!/bin/sh\ncat {} 2>/dev/null\nexit 0\n",
                lab.path("failed-units").display()
            ),
        )
        .unwrap();
        run_ok(Command::new("chmod").arg("+x").arg(lab.path("systemctl")));
        lab
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// Rewrites the flake so every host's system is version `v` (a new store
    /// path, unique to this lab).
    pub fn set_version(&self, v: &str) {
        let nonce: String = self
            .tmp
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let log = self.path("switch.log");
        let current = self.path("current-system");
        // With the `hang` file there, `test` hangs (then fails without
        // activating anything), for killing the agent mid-switch.
        let script = format!(
            "#!/bin/sh\necho \"${{host}} {v} $1\" >> {log}\nif [ \"$1\" = test ] && [ -e {hang} ]; then sleep 20; exit 1; fi\ncase \"$1\" in test|switch) ln -sfn \"$(dirname \"$(dirname \"$(readlink -f \"$0\")\")\")\" {current} ;; esac\n",
            log = log.display(),
            current = current.display(),
            hang = self.path("hang").display(),
        );
        let text = format!(
            r#"{{
  outputs = {{ self }}:
    let
      mk = host: derivation {{
        name = "nixos-system-${{host}}-{v}-{nonce}";
        system = "{system}";
        builder = "/bin/sh";
        PATH = "/bin:/usr/bin";
        script = ''{script}'';
        args = [ "-c" "mkdir -p $out/bin && echo {v} > $out/version && printf '%s' \"$script\" > $out/bin/switch-to-configuration && chmod +x $out/bin/switch-to-configuration" ];
      }};
    in {{
      nixosConfigurations.web1.config.system.build.toplevel = mk "web1";
      nixosConfigurations.web2.config.system.build.toplevel = mk "web2";
    }};
}}
"#,
            system = system(),
        );
        std::fs::write(self.path("flake/flake.nix"), text).unwrap();
    }

    /// The store path of `host`'s system at the flake's current version.
    pub fn system_path(&self, host: &str) -> String {
        let attr = format!(
            "path:{}#nixosConfigurations.{host}.config.system.build.toplevel.outPath",
            self.path("flake").display()
        );
        let out = run_ok(nix().args(["eval", "--raw", &attr]));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn forge(&self, args: &[&str]) -> Command {
        let mut c = forge();
        c.arg("--json")
            .args(args)
            .arg("--config")
            .arg(self.path("deploy.yaml"))
            .env("FORGE_ACTOR", "ci@example.test")
            .env("FORGE_CACHE_DIR", self.path("layers"));
        c
    }

    pub fn deploy(&self, host: &str, extra: &[&str]) -> (Output, Value) {
        let mut args = vec!["deploy", host, "--env", "prod"];
        args.extend_from_slice(extra);
        let out = self.forge(&args).output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, v)
    }

    /// Deploys and asserts it worked; returns the pinned store path.
    pub fn deploy_ok(&self, host: &str) -> String {
        let (out, v) = self.deploy(host, &[]);
        assert!(
            out.status.success(),
            "deploy {host}: {v}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        v["image"].as_str().unwrap().to_owned()
    }

    /// Deploys, then removes the system from the local store: the agent must
    /// substitute it from the cache (a path built here has no signature).
    pub fn deploy_fresh(&self, host: &str) -> String {
        let path = self.deploy_ok(host);
        self.delete_from_store(&path);
        path
    }

    pub fn pin_at_tip(&self, host: &str) -> Option<Value> {
        let out = Command::new("git")
            .args(["--git-dir", self.path("gitops.git").to_str().unwrap()])
            .args(["show", &format!("main:hosts/prod/{host}.json")])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    pub fn tip_message(&self) -> String {
        git(
            self.tmp.path(),
            &[
                "--git-dir",
                "gitops.git",
                "log",
                "-1",
                "--format=%B",
                "main",
            ],
        )
    }

    /// Writes the agent's configuration for `host`, trusting `keys`, with
    /// `checks` (resolved check JSON) and `extra` keys merged in.
    pub fn agent_config(&self, host: &str, keys: &[&str], checks: Value, extra: Value) -> PathBuf {
        let mut c = json!({
            "host": host,
            "environment": "prod",
            "repo": self.path("gitops.git"),
            "state_dir": self.path(&format!("agent-{host}")),
            "metrics_file": self.path(&format!("agent-{host}.prom")),
            "interval_seconds": 1,
            "cache_url": format!("file://{}", self.path("cache").display()),
            "trusted_keys": keys,
            "allow_failed_units": ["systemd-networkd-*"],
            "checks": checks,
            "profile": self.path(&format!("profiles-{host}/system")),
            "current_system": self.path("current-system"),
            "systemctl": [self.path("systemctl")],
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        std::fs::create_dir_all(self.path(&format!("profiles-{host}"))).unwrap();
        let file = self.path(&format!("agent-{host}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
        file
    }

    pub fn agent(&self, config: &Path, args: &[&str]) -> Command {
        let mut c = forge();
        c.arg("--json")
            .arg("agent")
            .arg("--config")
            .arg(config)
            .args(args);
        c
    }

    /// `forge agent --once`: (exit code, the pass document, stderr).
    pub fn agent_once(&self, config: &Path) -> (i32, Value, String) {
        let out = self.agent(config, &["--once"]).output().unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.code().unwrap_or(-1),
            v,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn switch_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("switch.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn state(&self, host: &str) -> Value {
        let text = std::fs::read_to_string(self.path(&format!("agent-{host}/state.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Where the profile points, resolved.
    pub fn profile_target(&self, host: &str) -> Option<String> {
        std::fs::canonicalize(self.path(&format!("profiles-{host}/system")))
            .ok()
            .map(|p| p.display().to_string())
    }

    /// Removes `path` from the local store, so the agent must substitute it.
    pub fn delete_from_store(&self, path: &str) {
        run_ok(nix().args(["store", "delete", path]));
        assert!(!Path::new(path).exists(), "{path} still in the store");
    }
}
