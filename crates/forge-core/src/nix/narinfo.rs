//! The `.narinfo` text format and the signature fingerprint.

use super::hash::Sha256;
use super::path_info::PathInfo;

/// What a binary cache stores about one compressed NAR file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarFile {
    /// Relative URL, e.g. `nar/<filehash>.nar.zst`.
    pub url: String,
    pub compression: Compression,
    pub file_hash: Sha256,
    pub file_size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => ".nar",
            Compression::Zstd => ".nar.zst",
        }
    }
}

/// The string Nix signs: `1;<path>;<narHash nix32>;<narSize>;<refs as full paths>`.
pub fn fingerprint(info: &PathInfo) -> String {
    let refs: Vec<&str> = info.references.iter().map(|r| r.as_str()).collect();
    format!(
        "1;{};{};{};{}",
        info.path,
        info.nar_hash.to_nix32_typed(),
        info.nar_size,
        refs.join(",")
    )
}

/// Renders a narinfo in the field order Nix writes.
pub fn render(info: &PathInfo, file: &NarFile, sigs: &[String]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(512);
    let _ = writeln!(s, "StorePath: {}", info.path);
    let _ = writeln!(s, "URL: {}", file.url);
    let _ = writeln!(s, "Compression: {}", file.compression.as_str());
    let _ = writeln!(s, "FileHash: {}", file.file_hash.to_nix32_typed());
    let _ = writeln!(s, "FileSize: {}", file.file_size);
    let _ = writeln!(s, "NarHash: {}", info.nar_hash.to_nix32_typed());
    let _ = writeln!(s, "NarSize: {}", info.nar_size);
    let refs: Vec<&str> = info.references.iter().map(|r| r.base_name()).collect();
    let _ = writeln!(s, "References: {}", refs.join(" "));
    if let Some(d) = &info.deriver {
        let _ = writeln!(s, "Deriver: {}", d.base_name());
    }
    for sig in sigs {
        let _ = writeln!(s, "Sig: {sig}");
    }
    if let Some(ca) = &info.ca {
        let _ = writeln!(s, "CA: {ca}");
    }
    s
}

/// Reads the `Key: value` fields of a narinfo (repeated keys such as `Sig` keep every value).
pub fn parse_fields(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| {
            l.split_once(": ")
                .or_else(|| l.strip_suffix(':').map(|k| (k, "")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::store_path::StorePath;

    fn sample() -> PathInfo {
        PathInfo {
            path: StorePath::parse("/nix/store/17r4n2np7cmvpsqzndibh9v611fsm39a-many").unwrap(),
            nar_hash: Sha256::parse("sha256-dLxNrsjOiudNMVPSd5a0YPJSC4vqs1oeGeGzsA3EZcQ=").unwrap(),
            nar_size: 4064,
            references: vec![
                StorePath::parse("/nix/store/008vgf151ym81bga4dn5rsd63s8dyplk-leaf-14").unwrap(),
                StorePath::parse("/nix/store/17r4n2np7cmvpsqzndibh9v611fsm39a-many").unwrap(),
            ],
            deriver: Some(
                StorePath::parse("/nix/store/ydhrmsz38rkmajwn8p2is4zhy4dsrc1x-many.drv").unwrap(),
            ),
            sigs: vec![],
            ca: None,
        }
    }

    #[test]
    fn fingerprint_uses_full_reference_paths() {
        insta::assert_snapshot!(fingerprint(&sample()), @"1;/nix/store/17r4n2np7cmvpsqzndibh9v611fsm39a-many;sha256:1i35qh6v1cz134g5mczaic5m5wk0njb7gljk656yg2nfr2p4vg3l;4064;/nix/store/008vgf151ym81bga4dn5rsd63s8dyplk-leaf-14,/nix/store/17r4n2np7cmvpsqzndibh9v611fsm39a-many");
    }

    #[test]
    fn renders_in_nix_field_order() {
        let file = NarFile {
            url: "nar/x.nar.zst".into(),
            compression: Compression::Zstd,
            file_hash: Sha256::digest(b"x"),
            file_size: 10,
        };
        let text = render(&sample(), &file, &["k-1:c2ln".into()]);
        insta::assert_snapshot!(text, @r"
        StorePath: /nix/store/17r4n2np7cmvpsqzndibh9v611fsm39a-many
        URL: nar/x.nar.zst
        Compression: zstd
        FileHash: sha256:10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d
        FileSize: 10
        NarHash: sha256:1i35qh6v1cz134g5mczaic5m5wk0njb7gljk656yg2nfr2p4vg3l
        NarSize: 4064
        References: 008vgf151ym81bga4dn5rsd63s8dyplk-leaf-14 17r4n2np7cmvpsqzndibh9v611fsm39a-many
        Deriver: ydhrmsz38rkmajwn8p2is4zhy4dsrc1x-many.drv
        Sig: k-1:c2ln
        ");
        let fields = parse_fields(&text);
        assert!(fields.contains(&("NarSize", "4064")));
    }
}
