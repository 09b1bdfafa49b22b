//! Scalars of YAML files mapped inside serde's visitor, so that an error
//! points at the value's own line and column. One implementation for
//! deploy.yaml and forge-provision's specs; how numbers are treated is the
//! caller's explicit choice rather than a difference between two copies.

/// What a number (or boolean) where a string was expected means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// Take an integer as its decimal text (`timeout: 30`).
    AsText,
    /// Refuse it without echoing it: a mistyped password must not end up in
    /// an error message.
    Refuse,
}

/// Deserializes a scalar and maps its text with `f`.
pub fn map_str<'de, D, T>(
    d: D,
    expecting: &'static str,
    numbers: Numbers,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct V<F>(F, &'static str, Numbers);
    impl<F> V<F> {
        fn refuse<T, E: serde::de::Error>(&self, what: &str) -> Result<T, E> {
            Err(E::custom(format!(
                "expected {}, found {what} (quote it)",
                self.1
            )))
        }
    }
    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> serde::de::Visitor<'de> for V<F> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.1)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            match self.2 {
                Numbers::AsText => (self.0)(&v.to_string()).map_err(E::custom),
                Numbers::Refuse => self.refuse("a number"),
            }
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            match self.2 {
                Numbers::AsText => (self.0)(&v.to_string()).map_err(E::custom),
                Numbers::Refuse => self.refuse("a number"),
            }
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
            match self.2 {
                Numbers::AsText => Err(E::invalid_type(serde::de::Unexpected::Float(v), &self)),
                Numbers::Refuse => self.refuse("a number"),
            }
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<T, E> {
            match self.2 {
                Numbers::AsText => Err(E::invalid_type(serde::de::Unexpected::Bool(v), &self)),
                Numbers::Refuse => self.refuse("a boolean"),
            }
        }
    }
    d.deserialize_str(V(f, expecting, numbers))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Text(String);
    impl<'de> serde::Deserialize<'de> for Text {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            map_str(d, "a string", Numbers::AsText, |s| Ok(Text(s.to_owned())))
        }
    }
    struct Password(String);
    impl<'de> serde::Deserialize<'de> for Password {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            map_str(d, "a password", Numbers::Refuse, |s| {
                Ok(Password(s.to_owned()))
            })
        }
    }

    fn from<'de, T: serde::Deserialize<'de>>(
        d: impl serde::Deserializer<'de, Error = serde::de::value::Error>,
    ) -> Result<T, String> {
        T::deserialize(d).map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_follow_the_callers_choice() {
        use serde::de::IntoDeserializer as _;
        // Deserializers that hand numbers over as numbers (YAML's plain
        // scalars arrive as text, except where serde buffers them).
        let t: Text = from(30u64.into_deserializer()).unwrap();
        assert_eq!(t.0, "30");
        let t: Text = from((-4i64).into_deserializer()).unwrap();
        assert_eq!(t.0, "-4");
        let e = from::<Password>(123456u64.into_deserializer())
            .err()
            .unwrap();
        assert!(e.contains("found a number (quote it)"), "{e}");
        assert!(!e.contains("123456"), "the value is not echoed: {e}");
        let e = from::<Password>(true.into_deserializer()).err().unwrap();
        assert!(e.contains("found a boolean"), "{e}");
        let e = from::<Text>(true.into_deserializer()).err().unwrap();
        assert!(
            e.contains("invalid type: boolean `true`, expected a string"),
            "{e}"
        );
        let p: Password = serde_yaml_ng::from_str("'123456'").unwrap();
        assert_eq!(p.0, "123456");
    }
}
