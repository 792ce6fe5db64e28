//! Timestamps (ISO 8601 UTC with milliseconds) and generated ids.

/// `ms` since the Unix epoch as `2026-11-23T10:00:00.000Z`.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

/// `prefix` + 20 random hex characters (80 bits).
pub fn new_id(prefix: &str) -> Result<String, getrandom::Error> {
    let mut b = [0u8; 10];
    getrandom::getrandom(&mut b)?;
    let mut s = String::with_capacity(prefix.len() + 20);
    s.push_str(prefix);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_795_435_200_000), "2026-11-23T12:00:00.000Z");
    }

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id("rt_").expect("rng");
        let b = new_id("rt_").expect("rng");
        assert!(a.starts_with("rt_") && a.len() == 23 && a != b);
    }
}
