//! `GET /tenants/{tid}/audit` query parameters (docs/vault.md "Audit"): every
//! parameter checked, every problem reported with the parameter's name, times
//! normalised so they compare as strings with the stored `at` values.

use super::paging::{parse_page, PageRequest};
use crate::config::ConfigError;
use crate::percent::decode;

/// Which audit rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// Vault writes (secrets stored, rotated, deleted).
    Write,
    /// Proxied calls (endpoint or `credentials` route).
    Proxy,
}

impl AuditKind {
    /// The stored and queried name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Proxy => "proxy",
        }
    }

    /// From the stored or queried name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "write" => Some(Self::Write),
            "proxy" => Some(Self::Proxy),
            _ => None,
        }
    }
}

/// A checked audit query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// `kind`.
    pub kind: Option<AuditKind>,
    /// `connection_id`.
    pub connection_id: Option<String>,
    /// `status=4xx` → 4 (1..=5).
    pub status_class: Option<u16>,
    /// `since`, inclusive, as `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub since: Option<String>,
    /// `until`, as `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub until: Option<String>,
    /// `limit` and `cursor`.
    pub page: PageRequest,
}

/// The parameters this query knows.
const KNOWN: [&str; 7] = [
    "kind",
    "connection_id",
    "status",
    "since",
    "until",
    "limit",
    "cursor",
];

/// Longest connection id.
const MAX_CONNECTION_ID: usize = 64;

fn error(errors: &mut Vec<ConfigError>, path: &str, message: impl Into<String>) {
    errors.push(ConfigError {
        path: path.to_string(),
        message: message.into(),
    });
}

/// `2026-11-29T18:00:00Z` or `2026-11-29T18:00:00.5Z` (1 to 3 fraction digits) as
/// `2026-11-29T18:00:00.500Z`, the form [`super::time::iso8601`] stores. `None` for
/// anything else, including offsets other than `Z` and impossible dates.
pub fn utc_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        part.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let rest = s.get(19..)?;
    let millis = match rest.strip_suffix('Z')? {
        "" => 0,
        frac => {
            let f = frac.strip_prefix('.')?;
            if f.is_empty() || f.len() > 3 || !f.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            // `.5` is 500 ms.
            format!("{f:0<3}").parse::<u32>().ok()?
        }
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"
    ))
}

fn valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CONNECTION_ID
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// `1xx` … `5xx` (either case) → 1 … 5.
fn status_class(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    match b {
        [d @ b'1'..=b'5', x, y]
            if x.eq_ignore_ascii_case(&b'x') && y.eq_ignore_ascii_case(&b'x') =>
        {
            Some(u16::from(d - b'0'))
        }
        _ => None,
    }
}

/// Reads the raw query string of `GET /tenants/{tid}/audit`. An empty value is the
/// same as leaving the parameter out; a parameter given twice is refused.
pub fn parse_audit_query(query: &str) -> Result<AuditQuery, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut out = AuditQuery {
        kind: None,
        connection_id: None,
        status_class: None,
        since: None,
        until: None,
        page: PageRequest {
            limit: super::paging::DEFAULT_LIMIT,
            after: None,
        },
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(key) = decode(raw_key, true) else {
            error(&mut errors, raw_key, "is not a valid parameter name");
            continue;
        };
        let Some(&name) = KNOWN.iter().find(|k| **k == key) else {
            error(&mut errors, &key, "unknown parameter");
            continue;
        };
        if seen.contains(&name) {
            error(&mut errors, name, "must be given at most once");
            continue;
        }
        seen.push(name);
        if matches!(name, "limit" | "cursor") {
            // Read by `parse_page` below.
            continue;
        }
        let Some(value) = decode(raw_value, true) else {
            error(&mut errors, name, "is not valid percent-encoded UTF-8");
            continue;
        };
        if value.is_empty() {
            continue;
        }
        match name {
            "kind" => match AuditKind::parse(&value) {
                Some(k) => out.kind = Some(k),
                None => error(&mut errors, name, "must be write or proxy"),
            },
            "connection_id" => {
                if valid_connection_id(&value) {
                    out.connection_id = Some(value);
                } else {
                    error(&mut errors, name, "must match ^[A-Za-z0-9_-]{1,64}$");
                }
            }
            "status" => match status_class(&value) {
                Some(c) => out.status_class = Some(c),
                None => error(&mut errors, name, "must be one of 1xx, 2xx, 3xx, 4xx, 5xx"),
            },
            "since" | "until" => match utc_timestamp(&value) {
                Some(t) if name == "since" => out.since = Some(t),
                Some(t) => out.until = Some(t),
                None => error(
                    &mut errors,
                    name,
                    "must be an RFC 3339 UTC time such as 2026-11-29T18:00:00Z or 2026-11-29T18:00:00.000Z",
                ),
            },
            _ => {}
        }
    }
    match parse_page(query) {
        Ok(page) => out.page = page,
        Err(e) => errors.extend(e),
    }
    if let (Some(since), Some(until)) = (&out.since, &out.until) {
        if since > until {
            error(&mut errors, "until", "must not be before since");
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::paging::encode_cursor;
    use crate::api::time::iso8601;

    fn paths(q: &str) -> Vec<String> {
        match parse_audit_query(q) {
            Ok(a) => panic!("{q:?} accepted as {a:?}"),
            Err(e) => e.into_iter().map(|e| e.path).collect(),
        }
    }

    #[test]
    fn reads_every_parameter() {
        let c = encode_cursor("2026-11-29T18:00:00.000Z", "au_1");
        let q = parse_audit_query(&format!(
            "kind=proxy&connection_id=conn_AB-9&status=4XX&since=2026-11-29T18%3A00%3A00Z&until=2026-11-30T00:00:00.5Z&limit=10&cursor={c}"
        ))
        .expect("valid");
        assert_eq!(
            q,
            AuditQuery {
                kind: Some(AuditKind::Proxy),
                connection_id: Some("conn_AB-9".into()),
                status_class: Some(4),
                since: Some("2026-11-29T18:00:00.000Z".into()),
                until: Some("2026-11-30T00:00:00.500Z".into()),
                page: PageRequest {
                    limit: 10,
                    after: Some(("2026-11-29T18:00:00.000Z".into(), "au_1".into()))
                },
            }
        );
        let empty = parse_audit_query("").expect("valid");
        assert_eq!(
            (empty.kind, empty.since, empty.page.limit),
            (None, None, 50)
        );
        let blank = parse_audit_query("kind=&status=&since=").expect("blank is not given");
        assert_eq!(
            (blank.kind, blank.status_class, blank.since),
            (None, None, None)
        );
        assert_eq!(AuditKind::Write.as_str(), "write");
        assert_eq!(AuditKind::parse("write"), Some(AuditKind::Write));
    }

    #[test]
    fn every_problem_named_by_its_parameter() {
        assert_eq!(
            paths("kind=read&connection_id=a.b&status=6xx&since=yesterday&until=2026-13-01T00:00:00Z&limit=0&cursor=%%&color=red"),
            ["kind", "connection_id", "status", "since", "until", "color", "limit", "cursor"]
        );
        assert_eq!(paths("kind=proxy&kind=write"), ["kind"]);
        assert_eq!(
            paths(&format!("connection_id={}", "a".repeat(65))),
            ["connection_id"]
        );
        assert_eq!(paths("status=200"), ["status"]);
        assert_eq!(paths("status=2x"), ["status"]);
        assert_eq!(paths("since=%FF"), ["since"]);
        assert_eq!(
            paths("since=2026-11-30T00:00:00Z&until=2026-11-29T00:00:00Z"),
            ["until"]
        );
    }

    #[test]
    fn times_normalise_to_the_stored_form() {
        for (given, want) in [
            ("2026-11-29T18:00:00Z", "2026-11-29T18:00:00.000Z"),
            ("2026-11-29T18:00:00.1Z", "2026-11-29T18:00:00.100Z"),
            ("2026-11-29T18:00:00.12Z", "2026-11-29T18:00:00.120Z"),
            ("2026-11-29T18:00:00.123Z", "2026-11-29T18:00:00.123Z"),
            ("2024-02-29T23:59:59Z", "2024-02-29T23:59:59.000Z"),
            ("2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"),
        ] {
            assert_eq!(utc_timestamp(given).as_deref(), Some(want), "{given}");
        }
        for bad in [
            "",
            "2026-11-29",
            "2026-11-29T18:00:00",
            "2026-11-29T18:00:00+00:00",
            "2026-11-29 18:00:00Z",
            "2026-11-29t18:00:00z",
            "2026-11-29T18:00:00.Z",
            "2026-11-29T18:00:00.1234Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T18:60:00Z",
            "2026-11-29T18:00:60Z",
            "2026-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "+026-11-29T18:00:00Z",
            "2026-1-29T18:00:00Z",
            "2026-11-29T18:00:00ZZ",
            "2026-11-29T18:00:00.\u{e9}Z",
            "２026-11-29T18:00:00Z",
        ] {
            assert_eq!(utc_timestamp(bad), None, "{bad:?}");
        }
        // The normalised bounds order exactly as the stored `at` values do.
        let at = iso8601(1_795_435_200_123);
        assert_eq!(at, "2026-11-23T12:00:00.123Z");
        let since = utc_timestamp("2026-11-23T12:00:00.123Z").expect("valid");
        let before = utc_timestamp("2026-11-23T12:00:00.12Z").expect("valid");
        let after = utc_timestamp("2026-11-23T12:00:01Z").expect("valid");
        assert!(before < at && since == at && at < after);
        assert_eq!(
            utc_timestamp(&iso8601(951_782_400_007)).as_deref(),
            Some("2000-02-29T00:00:00.007Z"),
            "what iso8601 writes reads back unchanged"
        );
    }
}
