//! A git server over HTTPS with basic auth: nginx (TLS, a self-signed
//! certificate for 127.0.0.1) in front of `git http-backend` through fcgiwrap,
//! the way GitHub-style remotes take a token as the password.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::git::git;
use super::nginx::{is_root, nginx_binary};
use super::{free_port, wait_for_port};

pub struct GitHttps {
    nginx: Child,
    fcgi: Child,
    pub port: u16,
    pub dir: TempDir,
}

/// The user basic auth expects (what Forge sends with a token).
pub const USER: &str = "x-access-token";

impl GitHttps {
    /// Serves the bare repositories under `dir/repos` to `USER` with password `token`.
    pub fn start(token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        for sub in ["repos", "tmp", "logs"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let openssl = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                &format!("{d}/key.pem"),
                "-out",
                &format!("{d}/cert.pem"),
            ])
            .output()
            .expect("spawn openssl");
        assert!(
            openssl.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&openssl.stderr)
        );
        std::fs::write(
            dir.path().join("htpasswd"),
            format!("{USER}:{{PLAIN}}{token}\n"),
        )
        .unwrap();
        let sock = format!("{d}/fcgi.sock");
        let fcgi = Command::new(fcgiwrap())
            .args(["-s", &format!("unix:{sock}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fcgiwrap");
        let backend = format!("{}/git-http-backend", git(dir.path(), &["--exec-path"]));
        let port = free_port();
        let user = if is_root() { "user root;" } else { "" };
        let conf = format!(
            "{user} worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/logs/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; proxy_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp; client_max_body_size 0;
  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;
    location / {{ auth_basic git; auth_basic_user_file {d}/htpasswd;
      fastcgi_pass unix:{sock}; include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME {backend}; fastcgi_param GIT_PROJECT_ROOT {d}/repos;
      fastcgi_param GIT_HTTP_EXPORT_ALL \"\"; fastcgi_param REMOTE_USER $remote_user;
      fastcgi_param PATH_INFO $uri; }} }} }}
"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let nginx = Command::new(nginx_binary())
            .args([
                "-c",
                &format!("{d}/nginx.conf"),
                "-e",
                &format!("{d}/logs/error.log"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        wait_for_port(port, "nginx (git over https)");
        Self {
            nginx,
            fcgi,
            port,
            dir,
        }
    }

    /// The certificate clients must trust (for `SSL_CERT_FILE`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// A new bare repository `name.git` (HEAD main, pushes allowed).
    pub fn repo(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join("repos").join(format!("{name}.git"));
        git(
            self.dir.path(),
            &["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()],
        );
        git(&path, &["config", "http.receivepack", "true"]);
        path
    }

    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}.git", self.port)
    }
}

fn fcgiwrap() -> &'static str {
    if Path::new("/usr/sbin/fcgiwrap").exists() {
        "/usr/sbin/fcgiwrap"
    } else {
        "fcgiwrap"
    }
}

impl Drop for GitHttps {
    fn drop(&mut self) {
        super::nginx::stop(&mut self.nginx);
        let _ = self.fcgi.kill();
        let _ = self.fcgi.wait();
    }
}
