//! DNS-over-HTTPS, JSON flavour (`application/dns-json`, as served by Cloudflare's
//! and Google's resolvers): the lookup URL and a total parser of the answer that
//! extracts TXT strings. The platform layer (src/platform/doh.rs) does the fetch.

use serde_json::Value;

/// Cloudflare's public resolver, used when `PORTICO_DOH_URL` is unset.
pub const DEFAULT_DOH_URL: &str = "https://cloudflare-dns.com/dns-query";

/// Largest answer body read; a TXT lookup answer is a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// DNS record type number of TXT.
const TYPE_TXT: i64 = 16;
/// DNS RCODE NXDOMAIN: the name does not exist (no records, not an error).
const RCODE_NXDOMAIN: i64 = 3;

/// Why a lookup gave no answer to judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DohError {
    /// The resolver could not be reached.
    #[error("resolver unreachable: {0}")]
    Network(String),
    /// No answer within the deadline.
    #[error("resolver timed out")]
    Timeout,
    /// The resolver answered with a non-200 HTTP status.
    #[error("resolver answered HTTP {0}")]
    Http(u16),
    /// The answer body was larger than [`MAX_ANSWER_BYTES`].
    #[error("resolver answer exceeds {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    /// The body is not a DNS JSON answer.
    #[error("resolver answer is malformed: {0}")]
    Malformed(String),
    /// A DNS failure other than NXDOMAIN (SERVFAIL, REFUSED, ...).
    #[error("resolver returned DNS status {0}")]
    DnsStatus(i64),
}

/// `{base}?name={name}&type=TXT` (or `&name=` when `base` already has a query).
pub fn lookup_url(base: &str, name: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut encoded = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{base}{sep}name={encoded}&type=TXT")
}

/// Whether `url` may be used as the resolver: https, or http on loopback (the local
/// development stand-in).
pub fn valid_doh_url(url: &str) -> bool {
    crate::url::secure_or_loopback(url) && !url.contains('#')
}

/// The TXT strings of a DNS JSON answer. NXDOMAIN and an absent `Answer` give no
/// strings; other DNS failures and malformed bodies are errors. Answers of other
/// types (a CNAME on the way) are skipped. Never panics.
pub fn parse_txt_answer(body: &[u8]) -> Result<Vec<String>, DohError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| DohError::Malformed(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| DohError::Malformed("not a JSON object".into()))?;
    match obj.get("Status").map(Value::as_i64) {
        Some(Some(0)) => {}
        Some(Some(RCODE_NXDOMAIN)) => return Ok(Vec::new()),
        Some(Some(other)) => return Err(DohError::DnsStatus(other)),
        Some(None) | None => return Err(DohError::Malformed("no integer Status".into())),
    }
    let answers = match obj.get("Answer") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(DohError::Malformed("Answer is not a list".into())),
    };
    Ok(answers
        .iter()
        .filter(|a| a.get("type").and_then(Value::as_i64) == Some(TYPE_TXT))
        .filter_map(|a| a.get("data").and_then(Value::as_str))
        .map(txt_data)
        .collect())
}

/// One TXT record's `data` as a single string. Resolvers give it in zone-file form,
/// `"part one" "part two"` (a record longer than 255 bytes is split into several
/// strings, which are concatenated), with `\"`, `\\` and `\DDD` escapes; some give
/// the bare text instead, which is taken as it is.
pub fn txt_data(data: &str) -> String {
    let trimmed = data.trim();
    if !trimmed.starts_with('"') {
        return trimmed.to_string();
    }
    let mut out: Vec<u8> = Vec::with_capacity(trimmed.len());
    let mut bytes = trimmed.bytes();
    let mut in_quotes = false;
    while let Some(b) = bytes.next() {
        match (in_quotes, b) {
            (false, b'"') => in_quotes = true,
            // Whitespace (or stray text) between strings is not part of the value.
            (false, _) => {}
            (true, b'"') => in_quotes = false,
            (true, b'\\') => match bytes.next() {
                Some(d0) if d0.is_ascii_digit() => {
                    let mut n = u32::from(d0 - b'0');
                    let mut rest = bytes.clone();
                    let mut taken = 0;
                    while taken < 2 {
                        match rest.next() {
                            Some(d) if d.is_ascii_digit() => {
                                n = n.saturating_mul(10).saturating_add(u32::from(d - b'0'));
                                taken += 1;
                                bytes.next();
                            }
                            _ => break,
                        }
                    }
                    out.push(u8::try_from(n).unwrap_or(b'?'));
                }
                Some(other) => out.push(other),
                None => {}
            },
            (true, _) => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Zone-file quoting of `s` in strings of at most `chunk` bytes.
    fn quote(s: &str, chunk: usize) -> String {
        let mut parts = Vec::new();
        for piece in s.as_bytes().chunks(chunk.max(1)) {
            let mut q = String::from("\"");
            for &b in piece {
                match b {
                    b'"' => q.push_str("\\\""),
                    b'\\' => q.push_str("\\\\"),
                    0x20..=0x7e => q.push(char::from(b)),
                    _ => q.push_str(&format!("\\{b:03}")),
                }
            }
            q.push('"');
            parts.push(q);
        }
        if parts.is_empty() {
            return "\"\"".into();
        }
        parts.join(" ")
    }

    #[test]
    fn cloudflare_and_google_shapes() {
        let cf = br#"{"Status":0,"TC":false,"Question":[{"name":"_portico-challenge.x.test","type":16}],
            "Answer":[{"name":"x","type":5,"TTL":1,"data":"y.test."},
                      {"name":"_portico-challenge.x.test","type":16,"TTL":300,"data":"\"portico-verification=ab\""},
                      {"name":"_portico-challenge.x.test","type":16,"TTL":300,"data":"\"v=spf1 \" \"-all\""}]}"#;
        assert_eq!(
            parse_txt_answer(cf),
            Ok(vec![
                "portico-verification=ab".to_string(),
                "v=spf1 -all".to_string()
            ])
        );
        let google =
            br#"{"Status":0,"Answer":[{"name":"a.","type":16,"TTL":1,"data":"bare text"}]}"#;
        assert_eq!(parse_txt_answer(google), Ok(vec!["bare text".to_string()]));
        assert_eq!(parse_txt_answer(br#"{"Status":3}"#), Ok(vec![]));
        assert_eq!(parse_txt_answer(br#"{"Status":0}"#), Ok(vec![]));
        assert_eq!(
            parse_txt_answer(br#"{"Status":2}"#),
            Err(DohError::DnsStatus(2))
        );
        assert!(matches!(
            parse_txt_answer(b"<html>"),
            Err(DohError::Malformed(_))
        ));
        assert!(matches!(
            parse_txt_answer(br#"{"Answer":[]}"#),
            Err(DohError::Malformed(_))
        ));
        assert!(matches!(
            parse_txt_answer(br#"{"Status":0,"Answer":{}}"#),
            Err(DohError::Malformed(_))
        ));
    }

    #[test]
    fn escapes() {
        assert_eq!(txt_data(r#""a\"b\\c""#), "a\"b\\c");
        assert_eq!(txt_data(r#""caf\195\169""#), "café");
        assert_eq!(txt_data(r#""x\999y""#), "x?y");
        assert_eq!(txt_data(r#""\0651""#), "A1");
        assert_eq!(txt_data(r#""unterminated"#), "unterminated");
        assert_eq!(txt_data("\"trailing\\"), "trailing");
    }

    #[test]
    fn urls() {
        assert_eq!(
            lookup_url(
                "https://cloudflare-dns.com/dns-query",
                "_portico-challenge.x.test"
            ),
            "https://cloudflare-dns.com/dns-query?name=_portico-challenge.x.test&type=TXT"
        );
        assert_eq!(
            lookup_url("http://127.0.0.1:8053/q?ct=1", "a b"),
            "http://127.0.0.1:8053/q?ct=1&name=a%20b&type=TXT"
        );
        assert!(valid_doh_url(DEFAULT_DOH_URL));
        assert!(valid_doh_url("http://127.0.0.1:8053/dns-query"));
        assert!(!valid_doh_url("http://resolver.example/dns-query"));
        assert!(!valid_doh_url("ftp://x"));
    }

    proptest! {
        #[test]
        fn prop_parse_is_total_over_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_txt_answer(&body);
        }

        #[test]
        fn prop_txt_data_is_total(data in ".{0,300}") {
            let _ = txt_data(&data);
        }

        #[test]
        fn prop_quoted_split_strings_round_trip(s in "[ -~]{0,600}", chunk in 1usize..300) {
            prop_assert_eq!(txt_data(&quote(&s, chunk)), s);
        }

        #[test]
        fn prop_unicode_round_trips_through_decimal_escapes(s in "\\PC{0,80}", chunk in 1usize..64) {
            // Splitting may cut a UTF-8 sequence; the concatenation restores it.
            prop_assert_eq!(txt_data(&quote(&s, chunk)), s);
        }

        #[test]
        fn prop_answers_from_json_values(values in prop::collection::vec(("[ -~]{0,40}", any::<i64>()), 0..8)) {
            let answers: Vec<Value> = values
                .iter()
                .map(|(d, t)| serde_json::json!({"type": t.rem_euclid(20), "data": quote(d, 255)}))
                .collect();
            let body = serde_json::json!({"Status": 0, "Answer": answers}).to_string();
            let got = parse_txt_answer(body.as_bytes()).expect("well-formed");
            let want: Vec<String> = values
                .iter()
                .filter(|(_, t)| t.rem_euclid(20) == 16)
                .map(|(d, _)| d.clone())
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
