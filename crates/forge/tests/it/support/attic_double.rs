//! The Attic API test double (forge-testkit's launcher) with this suite's JWT secret.

pub const SECRET_B64: &str = "Zm9yZ2UtdGVzdC1zZWNyZXQtZm9yZ2UtdGVzdC1zZWNyZXQ=";

pub struct AtticDouble(forge_testkit::attic_double::AtticDouble);

impl std::ops::Deref for AtticDouble {
    type Target = forge_testkit::attic_double::AtticDouble;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl AtticDouble {
    /// `extra`: e.g. `["--fail-first", "3"]`.
    pub fn start(caches: &[&str], extra: &[&str]) -> Self {
        Self(forge_testkit::attic_double::AtticDouble::start(
            SECRET_B64, caches, extra,
        ))
    }

    pub fn push_url(&self, cache: &str) -> String {
        format!("attic+http://127.0.0.1:{}/{cache}", self.port)
    }

    pub fn read_url(&self, cache: &str) -> String {
        format!("http://127.0.0.1:{}/{cache}", self.port)
    }
}
