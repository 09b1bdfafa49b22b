//! What Nix records about a valid store path, and the parser for both shapes
//! of `nix path-info --json` (array with `path` keys up to Nix 2.18 and in Lix;
//! object keyed by path since Nix 2.19).

use serde_json::Value;

use super::hash::Sha256;
use super::store_path::StorePath;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: StorePath,
    pub nar_hash: Sha256,
    pub nar_size: u64,
    /// Sorted, may include the path itself.
    pub references: Vec<StorePath>,
    pub deriver: Option<StorePath>,
    pub sigs: Vec<String>,
    pub ca: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PathInfoJsonError {
    #[error("nix path-info printed invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("nix path-info JSON has an unexpected shape: {0}")]
    Shape(String),
    #[error("nix path-info JSON for {path}: field {field}: {reason}")]
    Field {
        path: String,
        field: &'static str,
        reason: String,
    },
}

/// Parses `nix path-info --json [--sigs]` output of any Nix version.
pub fn parse_path_info_json(
    store_dir: &str,
    text: &str,
) -> Result<Vec<PathInfo>, PathInfoJsonError> {
    let root: Value = serde_json::from_str(text)?;
    let entries: Vec<(String, &Value)> = match &root {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let path = item.get("path").and_then(Value::as_str).ok_or_else(|| {
                    PathInfoJsonError::Shape("array entry without a \"path\" string".into())
                })?;
                Ok((path.to_owned(), item))
            })
            .collect::<Result<_, PathInfoJsonError>>()?,
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        _ => {
            return Err(PathInfoJsonError::Shape(
                "neither an array nor an object".into(),
            ))
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for (path, value) in entries {
        if value.is_null() {
            // Newer Nix prints `"path": null` for invalid paths.
            return Err(PathInfoJsonError::Field {
                path,
                field: "path",
                reason: "not a valid path in the store".into(),
            });
        }
        out.push(parse_entry(store_dir, &path, value)?);
    }
    Ok(out)
}

fn parse_entry(store_dir: &str, path: &str, v: &Value) -> Result<PathInfo, PathInfoJsonError> {
    let field_err = |field: &'static str, reason: String| PathInfoJsonError::Field {
        path: path.to_owned(),
        field,
        reason,
    };
    // References and deriver are full paths in most releases; accept base names too.
    let store_path = |field: &'static str, s: &str| {
        let r = if s.starts_with('/') {
            StorePath::parse_in(store_dir, s)
        } else {
            StorePath::from_base_name(store_dir, s)
        };
        r.map_err(|e| field_err(field, e.to_string()))
    };
    let nar_hash = Sha256::from_json(v.get("narHash").unwrap_or(&Value::Null))
        .map_err(|e| field_err("narHash", e.to_string()))?;
    let nar_size = v
        .get("narSize")
        .and_then(Value::as_u64)
        .ok_or_else(|| field_err("narSize", "missing or not a number".into()))?;
    let mut references = Vec::new();
    for r in v
        .get("references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = r
            .as_str()
            .ok_or_else(|| field_err("references", "not a string".into()))?;
        references.push(store_path("references", s)?);
    }
    references.sort();
    let deriver = match v.get("deriver").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => Some(store_path("deriver", d)?),
        _ => None,
    };
    let sigs = v
        .get("signatures")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let ca = match v.get("ca") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(PathInfo {
        path: store_path("path", path)?,
        nar_hash,
        nar_size,
        references,
        deriver,
        sigs,
        ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/nix/store/008vgf151ym81bga4dn5rsd63s8dyplk-leaf-14";
    const B: &str = "/nix/store/17r4n2np7cmvpsqzndibh9v611fsm39a-many";

    #[test]
    fn parses_the_nix_2_8_array_shape() {
        let text = format!(
            r#"[{{"path":"{B}","narHash":"sha256-dLxNrsjOiudNMVPSd5a0YPJSC4vqs1oeGeGzsA3EZcQ=","narSize":4064,
            "references":["{B}","{A}"],"deriver":"/nix/store/ydhrmsz38rkmajwn8p2is4zhy4dsrc1x-leaf-14.drv",
            "signatures":["k-1:abc"],"registrationTime":1,"ultimate":true}}]"#
        );
        let infos = parse_path_info_json("/nix/store", &text).unwrap();
        assert_eq!(infos.len(), 1);
        let i = &infos[0];
        assert_eq!(i.path.as_str(), B);
        assert_eq!(i.nar_size, 4064);
        assert_eq!(
            i.references.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            [A, B]
        );
        assert_eq!(i.deriver.as_ref().unwrap().name(), "leaf-14.drv");
        assert_eq!(i.sigs, ["k-1:abc"]);
    }

    #[test]
    fn parses_the_object_shape_with_structured_hash_and_base_names() {
        let text = format!(
            r#"{{"{A}":{{"narHash":{{"algorithm":"sha256","format":"base64","hash":"dLxNrsjOiudNMVPSd5a0YPJSC4vqs1oeGeGzsA3EZcQ="}},
            "narSize":4064,"references":["17r4n2np7cmvpsqzndibh9v611fsm39a-many"],"deriver":null,"ca":"fixed:r:sha256:04ss9yi9bm7bk6xbgshrvn3b7ymbisj1kfyjvzyw6qgssq0bl852"}}}}"#
        );
        let infos = parse_path_info_json("/nix/store", &text).unwrap();
        assert_eq!(infos[0].references[0].as_str(), B);
        assert!(infos[0].deriver.is_none());
        assert!(infos[0].ca.as_deref().unwrap().starts_with("fixed:r:"));
    }

    #[test]
    fn invalid_paths_and_bad_fields_name_the_path() {
        let e = parse_path_info_json("/nix/store", &format!(r#"{{"{A}":null}}"#)).unwrap_err();
        assert!(e.to_string().contains(A));
        let e = parse_path_info_json(
            "/nix/store",
            &format!(r#"[{{"path":"{A}","narHash":"x","narSize":1}}]"#),
        )
        .unwrap_err();
        assert!(e.to_string().contains("narHash"), "{e}");
    }
}
