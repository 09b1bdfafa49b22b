//! Time windows of a gate: when a release may enter an environment by the
//! clock (e.g. production only Mon–Thu 09:00–16:00 in Europe/Berlin),
//! checked at the moment the step would start. Pure: the caller passes now.

use chrono::{Datelike as _, TimeZone as _, Timelike as _};
use chrono_tz::Tz;

use crate::deploy_config::Window;

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `HH:MM` as minutes after midnight.
pub fn parse_time(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a time of day: write HH:MM, e.g. 09:00");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m > 0) || text.len() != 5 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub fn parse_zone(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>().map_err(|_| {
        format!("`{text}` is not a time zone: use an IANA name such as Europe/Berlin or UTC")
    })
}

/// `Ok` when `now_ms` (unix millis) is inside the window, else why not.
pub fn check(window: &Window, now_ms: i64) -> Result<(), String> {
    let zone = parse_zone(&window.zone)?;
    let (from, to) = (parse_time(&window.from)?, parse_time(&window.to)?);
    let now = zone
        .timestamp_millis_opt(now_ms)
        .single()
        .ok_or_else(|| "the clock is out of range".to_owned())?;
    let day = DAYS[now.weekday().num_days_from_monday() as usize];
    let minute = now.hour() * 60 + now.minute();
    let day_ok = window.days.is_empty() || window.days.iter().any(|d| d == day);
    if day_ok && from <= minute && minute < to {
        return Ok(());
    }
    let days = if window.days.is_empty() {
        "every day".to_owned()
    } else {
        window.days.join(",")
    };
    Err(format!(
        "window: open {days} {}–{} {} (now {} {:02}:{:02})",
        window.from,
        window.to,
        window.zone,
        day,
        now.hour(),
        now.minute()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[&str], from: &str, to: &str, zone: &str) -> Window {
        Window {
            days: days.iter().map(|d| d.to_string()).collect(),
            from: from.into(),
            to: to.into(),
            zone: zone.into(),
        }
    }

    // 2026-12-03 is a Thursday; 10:30 UTC is 11:30 in Berlin (CET, +1).
    const THU_1030_UTC: i64 = 1_796_293_800_000;

    #[test]
    fn open_inside_the_days_and_hours_in_the_zone() {
        let w = window(
            &["mon", "tue", "wed", "thu"],
            "09:00",
            "16:00",
            "Europe/Berlin",
        );
        assert_eq!(check(&w, THU_1030_UTC), Ok(()));
        // 15:30 UTC is 16:30 in Berlin: closed.
        let e = check(&w, THU_1030_UTC + 5 * 3_600_000).unwrap_err();
        assert_eq!(
            e,
            "window: open mon,tue,wed,thu 09:00–16:00 Europe/Berlin (now thu 16:30)"
        );
        // Friday.
        assert!(check(&w, THU_1030_UTC + 24 * 3_600_000)
            .unwrap_err()
            .contains("now fri"));
        // The same instant in UTC is 10:30: open in a UTC window from 10:00.
        assert_eq!(
            check(&window(&[], "10:00", "11:00", "UTC"), THU_1030_UTC),
            Ok(())
        );
    }

    #[test]
    fn times_and_zones_are_checked() {
        assert_eq!(parse_time("09:00"), Ok(540));
        assert_eq!(parse_time("24:00"), Ok(1440));
        assert!(parse_time("9:00").is_err());
        assert!(parse_time("25:00").is_err());
        assert!(parse_zone("Europe/Berlin").is_ok());
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }
}
