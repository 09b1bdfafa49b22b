//! Durations as written in specs: `90d`, `12h`, `1h30m`, `2y` (365 days),
//! `1w`, `3600s`; printed back in the largest unit that divides them.

/// Seconds in each unit, largest first.
const UNITS: [(&str, u64); 6] = [
    ("y", 365 * 86_400),
    ("w", 7 * 86_400),
    ("d", 86_400),
    ("h", 3_600),
    ("m", 60),
    ("s", 1),
];

/// Parses `90d`, `1h30m`, ... into seconds. Zero is refused.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid duration `{text}`: write a number and a unit (s, m, h, d, w, y), e.g. 90d or 1h30m")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        let secs = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, s)| *s)
            .ok_or_else(bad)?;
        total = n
            .checked_mul(secs)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration `{text}` is too long"))?;
        rest = &rest[unit_len..];
    }
    if total == 0 {
        return Err(format!("duration `{text}` is zero"));
    }
    Ok(total)
}

/// `2592000` -> `30d`, `5400` -> `90m`.
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    // Weeks are read but not written: `7d` reads better than `1w`.
    for (unit, size) in UNITS.into_iter().filter(|(u, _)| *u != "w") {
        if (secs / size) * size == secs {
            return format!("{}{unit}", secs / size);
        }
    }
    unreachable!("every number is a multiple of one second")
}

/// A rough, human reading of a span that need not divide evenly (`3d 4h`).
pub fn approx_duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("2y"), Ok(2 * 365 * 86_400));
        assert_eq!(format_duration(30 * 86_400), "30d");
        assert_eq!(format_duration(5_400), "90m");
        assert_eq!(format_duration(14 * 86_400), "14d");
        assert_eq!(parse_duration("1w"), Ok(7 * 86_400));
        for bad in ["", "d", "12", "3x", "0d", "1.5h", "-1d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(approx_duration(3 * 86_400 + 4 * 3_600 + 5), "3d 4h");
    }
}
