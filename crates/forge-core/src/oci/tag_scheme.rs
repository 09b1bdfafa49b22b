//! Tag templates such as `{arch}-{gitsha7}` and OCI tag validity.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TagError {
    #[error("{0:?} is not a valid OCI tag (1-128 of [A-Za-z0-9_.-], not starting with . or -)")]
    Invalid(String),
    #[error("tag template {template:?} uses {{{var}}}, which is unknown or has no value here (known: arch, gitsha, gitsha7)")]
    Unknown { template: String, var: String },
}

/// Per-architecture tags pushed by default.
pub const DEFAULT_ARCH_TAGS: [&str; 2] = ["{arch}-{gitsha7}", "{arch}-latest"];
/// Tags of the multi-architecture index.
pub const DEFAULT_INDEX_TAGS: [&str; 2] = ["{gitsha7}", "latest"];

#[derive(Debug, Clone, Default)]
pub struct TagVars {
    pub arch: Option<String>,
    pub gitsha: Option<String>,
}

pub fn validate_tag(tag: &str) -> Result<(), TagError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(TagError::Invalid(tag.to_owned()))
    }
}

/// Expands `{arch}`, `{gitsha}` and `{gitsha7}` and checks the result.
pub fn render(template: &str, vars: &TagVars) -> Result<String, TagError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .ok_or_else(|| TagError::Invalid(template.to_owned()))?;
        let var = &rest[start + 1..end];
        let value = match var {
            "arch" => vars.arch.clone(),
            "gitsha" => vars.gitsha.clone(),
            "gitsha7" => vars.gitsha.as_ref().map(|s| s.chars().take(7).collect()),
            _ => None,
        };
        out.push_str(&value.ok_or_else(|| TagError::Unknown {
            template: template.to_owned(),
            var: var.to_owned(),
        })?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    validate_tag(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand() {
        let v = TagVars {
            arch: Some("amd64".into()),
            gitsha: Some("0123456789abcdef".into()),
        };
        let tags: Vec<String> = DEFAULT_ARCH_TAGS
            .iter()
            .map(|t| render(t, &v).unwrap())
            .collect();
        assert_eq!(tags, ["amd64-0123456", "amd64-latest"]);
        assert_eq!(render("{gitsha7}", &v).unwrap(), "0123456");
        let no_git = TagVars {
            arch: Some("arm64".into()),
            gitsha: None,
        };
        assert!(matches!(
            render("{arch}-{gitsha7}", &no_git),
            Err(TagError::Unknown { .. })
        ));
        assert!(matches!(
            render("{nope}", &v),
            Err(TagError::Unknown { .. })
        ));
    }

    #[test]
    fn tag_validity() {
        assert!(validate_tag("v1.2.3_rc-1").is_ok());
        for bad in ["", "-x", ".x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }
}
