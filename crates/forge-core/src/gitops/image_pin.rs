//! What a kustomization pins for an image today, and which earlier pin a
//! rollback goes back to, from the file's versions in git history (newest
//! first). Pure: the versions are read by the git adapter.

use serde_yaml_ng::Value;

/// The `images:` entry fields that decide what runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImagePin {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ImagePin {
    /// `name[:tag][@digest]` with the entry's `newName` when it has one.
    pub fn reference(&self, name: &str) -> String {
        let mut out = self.new_name.clone().unwrap_or_else(|| name.to_owned());
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(d);
        }
        out
    }

    /// Same image: digests decide when both have one, else the tag.
    fn same_as(&self, other: &ImagePin) -> bool {
        match (&self.digest, &other.digest) {
            (Some(a), Some(b)) => a == b && self.new_name == other.new_name,
            _ => self == other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("{file} at {commit}: not valid YAML: {message}")]
    Yaml {
        file: String,
        commit: String,
        message: String,
    },
    #[error("{file} has no `images:` entry named `{name}` at the branch tip")]
    NotPinned { file: String, name: String },
    #[error("no earlier image for `{name}` in the last {versions} version(s) of {file}: nothing to roll back to (pass --to <commit|digest>)")]
    NoEarlier {
        file: String,
        name: String,
        versions: usize,
    },
    #[error("{file} at {commit} has no `images:` entry named `{name}`")]
    NotPinnedAt {
        file: String,
        name: String,
        commit: String,
    },
}

/// The pin of `name` in a kustomization's text (`None`: no such entry).
pub fn read_pin(text: &str, name: &str) -> Result<Option<ImagePin>, String> {
    let (_, text) = crate::yaml_limits::split_bom(text);
    crate::yaml_limits::YamlLimits::CONFIG
        .check(text)
        .map_err(|e| e.to_string())?;
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let Some(images) = super::kustomize_edit::images_list(&doc) else {
        return Ok(None);
    };
    let field = |e: &Value, k: &str| -> Option<String> {
        match e.get(k)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    Ok(images
        .iter()
        .find(|e| field(e, "name").as_deref() == Some(name))
        .map(|e| ImagePin {
            new_name: field(e, "newName"),
            tag: field(e, "newTag"),
            digest: field(e, "digest"),
        }))
}

/// A version of the kustomization (newest first in a history).
#[derive(Debug, Clone)]
pub struct Version<'a> {
    pub commit: &'a str,
    pub text: &'a str,
}

/// What a rollback re-pins: the pin and the commit that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RollbackPin {
    pub current: ImagePin,
    pub previous: ImagePin,
    /// The commit that introduced `previous`.
    pub from_commit: String,
}

/// The newest pin older than the tip's that names a different image.
/// Versions that fail to parse or lack the entry are passed over (a file
/// may have been broken and fixed); the tip must pin the image.
pub fn previous_pin(
    file: &str,
    name: &str,
    versions: &[Version<'_>],
) -> Result<RollbackPin, PinError> {
    let Some((tip, older)) = versions.split_first() else {
        return Err(PinError::NotPinned {
            file: file.to_owned(),
            name: name.to_owned(),
        });
    };
    let current = read_pin(tip.text, name)
        .map_err(|message| PinError::Yaml {
            file: file.to_owned(),
            commit: tip.commit.to_owned(),
            message,
        })?
        .ok_or_else(|| PinError::NotPinned {
            file: file.to_owned(),
            name: name.to_owned(),
        })?;
    for v in older {
        if let Ok(Some(pin)) = read_pin(v.text, name) {
            if !pin.same_as(&current) {
                return Ok(RollbackPin {
                    current,
                    previous: pin,
                    from_commit: v.commit.to_owned(),
                });
            }
        }
    }
    Err(PinError::NoEarlier {
        file: file.to_owned(),
        name: name.to_owned(),
        versions: versions.len(),
    })
}

/// The tag that went with `digest` in the history, if any version pinned it.
pub fn tag_of_digest(name: &str, digest: &str, versions: &[Version<'_>]) -> Option<String> {
    versions.iter().find_map(|v| {
        let pin = read_pin(v.text, name).ok()??;
        (pin.digest.as_deref() == Some(digest))
            .then_some(pin.tag)
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(tag: &str, digest: &str) -> String {
        format!(
            "resources: [deployment.yaml]\nimages:\n  - name: ghcr.io/org/app # {{\"$imagepolicy\": \"x\"}}\n    newTag: {tag}\n    digest: {digest}\n  - name: other\n    newTag: \"1\"\n"
        )
    }

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn a_byte_order_mark_is_read_past_and_pathological_text_refused() {
        let text = "\u{feff}images:\n  - name: app\n    newTag: \"1\"\n";
        let pin = read_pin(text, "app").unwrap().unwrap();
        assert_eq!(pin.tag.as_deref(), Some("1"));
        let deep = format!("images: {}", "[".repeat(10_000));
        assert!(read_pin(&deep, "app").is_err());
    }

    #[test]
    fn reads_the_named_entry_only() {
        let pin = read_pin(&k("v2", &d('b')), "ghcr.io/org/app")
            .unwrap()
            .unwrap();
        assert_eq!(pin.tag.as_deref(), Some("v2"));
        assert_eq!(pin.digest, Some(d('b')));
        assert_eq!(
            pin.reference("ghcr.io/org/app"),
            format!("ghcr.io/org/app:v2@{}", d('b'))
        );
        let other = read_pin(&k("v2", &d('b')), "other").unwrap().unwrap();
        assert_eq!(other.tag.as_deref(), Some("1"));
        assert_eq!(read_pin(&k("v2", &d('b')), "missing").unwrap(), None);
        assert_eq!(read_pin("resources: []\n", "x").unwrap(), None);
        assert!(read_pin("images: [", "x").is_err());
    }

    #[test]
    fn previous_skips_versions_pinning_the_same_digest() {
        // Newest first: v3 (current), a comment-only change still at v3, v2, v1.
        let v3 = k("v3", &d('c'));
        let v3b = format!("# touched\n{v3}");
        let v2 = k("v2", &d('b'));
        let v1 = k("v1", &d('a'));
        let versions = [
            Version {
                commit: "c4",
                text: &v3b,
            },
            Version {
                commit: "c3",
                text: &v3,
            },
            Version {
                commit: "c2",
                text: &v2,
            },
            Version {
                commit: "c1",
                text: &v1,
            },
        ];
        let pick = previous_pin("k.yaml", "ghcr.io/org/app", &versions).unwrap();
        assert_eq!(pick.current.digest, Some(d('c')));
        assert_eq!(pick.previous.digest, Some(d('b')));
        assert_eq!(pick.previous.tag.as_deref(), Some("v2"));
        assert_eq!(pick.from_commit, "c2");
        assert_eq!(
            tag_of_digest("ghcr.io/org/app", &d('a'), &versions).as_deref(),
            Some("v1")
        );
        assert_eq!(tag_of_digest("ghcr.io/org/app", &d('f'), &versions), None);
    }

    #[test]
    fn broken_or_unpinned_versions_are_passed_over() {
        let v2 = k("v2", &d('b'));
        let v1 = k("v1", &d('a'));
        let versions = [
            Version {
                commit: "c4",
                text: &v2,
            },
            Version {
                commit: "c3",
                text: "images: [",
            },
            Version {
                commit: "c2",
                text: "resources: []\n",
            },
            Version {
                commit: "c1",
                text: &v1,
            },
        ];
        let pick = previous_pin("k.yaml", "ghcr.io/org/app", &versions).unwrap();
        assert_eq!(pick.previous.digest, Some(d('a')));
        assert_eq!(pick.from_commit, "c1");
    }

    #[test]
    fn errors_name_the_file_and_what_is_missing() {
        let v1 = k("v1", &d('a'));
        let only = [Version {
            commit: "c1",
            text: &v1,
        }];
        let e = previous_pin("apps/k.yaml", "ghcr.io/org/app", &only).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no earlier image for `ghcr.io/org/app` in the last 1 version(s) of apps/k.yaml: nothing to roll back to (pass --to <commit|digest>)"
        );
        let e = previous_pin("apps/k.yaml", "nope", &only).unwrap_err();
        assert_eq!(
            e.to_string(),
            "apps/k.yaml has no `images:` entry named `nope` at the branch tip"
        );
    }
}
