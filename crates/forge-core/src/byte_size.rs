//! Sizes for people: `1.50 MiB`, `345 B` (the binary prefixes progress bars use).

/// `n` bytes with a binary prefix and two decimals (`345 B` below 1 KiB).
pub fn human_bytes(n: u64) -> String {
    const PREFIXES: [&str; 8] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut prefix = 0;
    value /= 1024.0;
    while value >= 1024.0 && prefix + 1 < PREFIXES.len() {
        value /= 1024.0;
        prefix += 1;
    }
    format!("{value:.2} {}B", PREFIXES[prefix])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_progress_bars() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.00 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.50 MiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.00 GiB");
    }
}
