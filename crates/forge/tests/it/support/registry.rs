//! Debian's docker-registry (distribution 2.8) on a loopback port, optionally
//! with htpasswd basic auth.

use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::{free_port, wait_for_port};

pub struct Registry {
    child: Child,
    pub port: u16,
    /// Storage and config; removed on drop.
    _dir: TempDir,
}

impl Registry {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// With basic auth for `user`/`password`.
    pub fn start_with(auth: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let mut config = format!(
            "version: 0.1\nlog: {{ level: error }}\nstorage: {{ filesystem: {{ rootdirectory: {d}/data }}, delete: {{ enabled: true }} }}\nhttp: {{ addr: 127.0.0.1:{port}, secret: forge-test }}\n"
        );
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils)");
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            config.push_str(&format!(
                "auth: {{ htpasswd: {{ realm: forge-test, path: {d}/htpasswd }} }}\n"
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        wait_for_port(port, "docker-registry");
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
