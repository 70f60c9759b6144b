//! Wall-clock formatting without a date-time dependency: RFC 3339 in UTC, and short durations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-12-01T05:40:01Z` (with `.123` milliseconds when `millis`).
pub fn rfc3339(time: SystemTime, millis: bool) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    if millis {
        format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:03}Z",
            since.subsec_millis()
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// The offset of the local time zone from UTC now, in seconds, as the C library knows it
/// (TZ, /etc/localtime).
pub fn local_offset_s() -> Option<i32> {
    #[cfg(unix)]
    {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as libc::time_t;
        // SAFETY: localtime_r writes only the `tm` it is given, from a time it only reads.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let filled = unsafe { libc::localtime_r(&now, &mut tm) };
        (!filled.is_null()).then_some(tm.tm_gmtoff as i32)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Seconds since the epoch of an RFC 3339 time in UTC as [`rfc3339`] writes it
/// (`2026-12-01T05:40:01Z`, optionally with fractions); None for anything else.
pub fn parse_rfc3339_utc(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || !text.ends_with('Z') || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m as u32, d as u32) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-12-01 05:40:01` of epoch seconds shifted by `offset_s`.
pub fn wall_clock(epoch_s: i64, offset_s: i64) -> String {
    let secs = epoch_s + offset_s;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `UTC+01:00`, `UTC-05:30`, `UTC`.
pub fn offset_name(offset_s: i64) -> String {
    if offset_s == 0 {
        return "UTC".to_string();
    }
    let sign = if offset_s < 0 { '-' } else { '+' };
    let a = offset_s.abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `850ms`, `4.2s`, `3m07s`, `1h02m`.
pub fn short(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_102_993_581);
        assert_eq!(rfc3339(t, false), "2026-12-01T05:29:53Z");
        assert_eq!(rfc3339(t, true), "2026-12-01T05:29:53.581Z");
        assert_eq!(rfc3339(UNIX_EPOCH, false), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap, false), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        for ms in [0u64, 951_782_400_000, 1_796_102_993_581, 4_102_444_800_000] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(
                parse_rfc3339_utc(&rfc3339(t, false)),
                Some((ms / 1000) as i64)
            );
            assert_eq!(
                parse_rfc3339_utc(&rfc3339(t, true)),
                Some((ms / 1000) as i64)
            );
        }
        assert_eq!(parse_rfc3339_utc("yesterday"), None);
        assert_eq!(parse_rfc3339_utc("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn wall_clocks_shift_by_the_offset() {
        assert_eq!(wall_clock(1_796_102_993, 0), "2026-12-01 05:29:53");
        assert_eq!(wall_clock(1_796_102_993, -6 * 3600), "2026-11-30 23:29:53");
        assert_eq!(offset_name(3600), "UTC+01:00");
        assert_eq!(offset_name(-19_800), "UTC-05:30");
        assert_eq!(offset_name(0), "UTC");
    }

    #[test]
    fn short_durations_read_well() {
        assert_eq!(short(Duration::from_millis(850)), "850ms");
        assert_eq!(short(Duration::from_millis(4_230)), "4.2s");
        assert_eq!(short(Duration::from_secs(187)), "3m07s");
        assert_eq!(short(Duration::from_secs(3_720)), "1h02m");
    }
}
