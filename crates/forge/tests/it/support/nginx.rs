//! nginx with WebDAV PUT: a writable HTTP binary cache, optionally with basic auth.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::{free_port, wait_for_port};

pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Nginx {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        for sub in ["root", "body", "tmp", "logs"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        // nginx wants apr1/crypt hashes; `openssl passwd -apr1` is not always around, so use {PLAIN}.
        std::fs::write(dir.path().join("htpasswd"), "pusher:{PLAIN}s3cret\n").unwrap();
        let port = free_port();
        let user = if is_root() { "user root;" } else { "" };
        let conf = format!(
            "{user} worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/logs/error.log;
events {{ worker_connections 512; }}
http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp; client_max_body_size 0;
  server {{ listen 127.0.0.1:{port};
    location /auth/ {{ auth_basic cache; auth_basic_user_file {d}/htpasswd; root {d}/root;
      dav_methods PUT DELETE MKCOL; create_full_put_path on; }}
    location / {{ root {d}/root; dav_methods PUT DELETE MKCOL; create_full_put_path on; dav_access user:rw group:r all:r; }} }} }}
"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .args([
                "-c",
                conf_path.to_str().unwrap(),
                "-p",
                dir.path().to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx (apt-get install nginx)");
        wait_for_port(port, "nginx");
        Self { child, port, dir }
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}/{prefix}", self.port)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

pub fn nginx_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stops an nginx master so that it takes its workers with it: SIGTERM, then
/// wait. (SIGKILL would orphan the workers, which keep the port open.)
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
