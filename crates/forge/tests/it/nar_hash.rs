//! Our NAR serialisation is byte-for-byte what `nix-store --dump` writes.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};

use sha2::Digest as _;

use forge_adapters::store::nar::write_nar;

use crate::support::Flake;

fn nix_dump(path: &std::path::Path) -> Vec<u8> {
    let out = Command::new("nix-store")
        .arg("--dump")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn ours(path: &std::path::Path) -> Vec<u8> {
    let mut v = Vec::new();
    write_nar(path, &mut v).unwrap();
    v
}

#[test]
fn every_entry_kind_matches_nix() {
    // The fixture's lib has nested and empty directories, empty files,
    // executables and relative, directory and dangling symlinks.
    let flake = Flake::basic();
    let lib = flake.build("lib");
    let p = std::path::Path::new(&lib);
    assert_eq!(ours(p), nix_dump(p));
    for sub in [
        "empty-file",
        "nested/tool",
        "link-to-dir",
        "dangling",
        "share/empty-dir",
    ] {
        assert_eq!(ours(&p.join(sub)), nix_dump(&p.join(sub)), "{sub}");
    }
}

#[test]
fn names_that_sort_differently_as_bytes_and_files_outside_the_store() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["B", "a", "a.b", "a-b", "ä", "Z9", "_"] {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("../B", dir.path().join("sub/up")).unwrap();
    assert_eq!(ours(dir.path()), nix_dump(dir.path()));
}

#[test]
fn a_file_over_100_mb_matches_nix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        // Deterministic, incompressible-ish content; size not a multiple of 8 to exercise padding.
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..100 {
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&block).unwrap();
        }
        f.write_all(&block[..12345]).unwrap();
    }
    let mut child = Command::new("nix-store")
        .arg("--dump")
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut theirs = sha2::Sha256::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        theirs.update(&buf[..n]);
    }
    assert!(child.wait().unwrap().success());

    struct HashSink(sha2::Sha256, u64);
    impl std::io::Write for HashSink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            self.1 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = HashSink(sha2::Sha256::new(), 0);
    write_nar(&file, &mut sink).unwrap();
    assert!(sink.1 > 100 * 1024 * 1024);
    assert_eq!(sink.0.finalize(), theirs.finalize());
}
