//! Nix's base-32 encoding ("nix32"): alphabet without e, o, u, t, bytes read
//! from the end. Used for store path digests and `sha256:` hashes in narinfo.

const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Length of the nix32 text for `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n * 8 - 1) / 5 + 1
    }
}

pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let bit = n * 5;
        let (i, j) = (bit / 8, bit % 8);
        let low = u16::from(bytes[i]) >> j;
        let high = bytes.get(i + 1).map_or(0, |b| u16::from(*b) << (8 - j));
        out.push(ALPHABET[usize::from((low | high) & 0x1f)] as char);
    }
    out
}

/// Decodes nix32 text into exactly `n` bytes.
pub fn decode(text: &str, n: usize) -> Option<Vec<u8>> {
    if text.len() != encoded_len(n) {
        return None;
    }
    let mut out = vec![0u8; n];
    for (pos, ch) in text.bytes().rev().enumerate() {
        let digit = ALPHABET.iter().position(|c| *c == ch)? as u16;
        let bit = pos * 5;
        let (i, j) = (bit / 8, bit % 8);
        out[i] |= (digit << j) as u8;
        let carry = digit >> (8 - j);
        match out.get_mut(i + 1) {
            Some(next) => *next |= carry as u8,
            None if carry != 0 => return None,
            None => {}
        }
    }
    Some(out)
}

pub fn is_valid_char(c: char) -> bool {
    c.is_ascii() && ALPHABET.contains(&(c as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pairs checked against `nix hash to-base32` / `nix-hash --type sha256 --to-base32`.
    #[test]
    fn matches_nix_for_a_sha256() {
        let hex = "74bc4daec8ce8ae74d3153d27796b460f2520b8beab35a1e19e1b3b00dc465c4";
        let bytes = hex::decode(hex).unwrap();
        assert_eq!(
            encode(&bytes),
            "1i35qh6v1cz134g5mczaic5m5wk0njb7gljk656yg2nfr2p4vg3l"
        );
        assert_eq!(decode(&encode(&bytes), 32).unwrap(), bytes);
    }

    #[test]
    fn round_trips_store_path_digests() {
        for n in [1usize, 5, 20, 32, 64] {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode(&bytes);
            assert_eq!(text.len(), encoded_len(n));
            assert_eq!(decode(&text, n).unwrap(), bytes);
        }
    }

    #[test]
    fn rejects_bad_characters_and_lengths() {
        assert!(decode("e".repeat(52).as_str(), 32).is_none());
        assert!(decode("0".repeat(51).as_str(), 32).is_none());
        // Top bits beyond 32 bytes must be zero.
        assert!(decode(&format!("z{}", "0".repeat(51)), 32).is_none());
    }
}
