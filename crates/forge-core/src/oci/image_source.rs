//! What `forge image` takes as input.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `oci:DIR` or `oci:DIR:TAG`: an existing image layout.
    Layout { dir: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE`: e.g. the output of `dockerTools.buildImage`.
    DockerArchive(PathBuf),
    /// A flake installable or store path, built into an image from its closure.
    Closure(String),
}

impl ImageSource {
    pub fn parse(arg: &str) -> Self {
        if let Some(rest) = arg.strip_prefix("oci:") {
            let (dir, tag) = split_tag(rest);
            return ImageSource::Layout {
                dir: dir.into(),
                tag,
            };
        }
        if let Some(file) = arg.strip_prefix("docker-archive:") {
            return ImageSource::DockerArchive(file.into());
        }
        ImageSource::Closure(arg.to_owned())
    }
}

/// `DIR:TAG` → (DIR, Some(TAG)); a colon inside a path component before the
/// last `/` is part of the directory.
pub fn split_tag(text: &str) -> (String, Option<String>) {
    match text.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
            (dir.to_owned(), Some(tag.to_owned()))
        }
        _ => (text.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(
            ImageSource::parse("oci:/tmp/img:v1"),
            ImageSource::Layout {
                dir: "/tmp/img".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            ImageSource::parse("oci:/tmp/img"),
            ImageSource::Layout {
                dir: "/tmp/img".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageSource::parse("docker-archive:./x.tar.gz"),
            ImageSource::DockerArchive("./x.tar.gz".into())
        );
        assert_eq!(
            ImageSource::parse(".#app"),
            ImageSource::Closure(".#app".into())
        );
    }
}
