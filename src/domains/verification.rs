//! Proof of control for a domain added with a tenant token: Portico hands out a
//! random token, the tenant publishes it as a DNS TXT record at
//! `_portico-challenge.<domain>`, and the domain turns `active` once a lookup sees it.

use serde_json::{json, Value};

/// Label prefixed to the domain (for `*.x.y`, to `x.y`) to form the record's name.
pub const CHALLENGE_LABEL: &str = "_portico-challenge";

/// Prefix of every challenge value, so a record says what it is for.
const VALUE_PREFIX: &str = "portico-verification=";

/// Whether a domain is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainStatus {
    /// Waiting for proof of control: not served (404 `Unknown host`).
    Pending,
    /// Served.
    Active,
}

impl DomainStatus {
    /// The stored and returned form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
        }
    }

    /// From the stored form; anything unknown is treated as not yet proven.
    pub fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            _ => Self::Pending,
        }
    }
}

/// The outcome of one verification check (stored as `last_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The expected value was found.
    Verified,
    /// No TXT record at the challenge name.
    NotFound,
    /// TXT records exist, none holds the expected value.
    Mismatch,
    /// The resolver could not be asked or answered garbage.
    LookupFailed,
}

impl CheckOutcome {
    /// The stored and returned form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::NotFound => "not_found",
            Self::Mismatch => "mismatch",
            Self::LookupFailed => "lookup_failed",
        }
    }

    /// Decides a check from the TXT strings found at the challenge name.
    pub fn from_records(records: &[String], expected: &str) -> Self {
        if records.is_empty() {
            Self::NotFound
        } else if txt_matches(records, expected) {
            Self::Verified
        } else {
            Self::Mismatch
        }
    }
}

/// The DNS name a domain's challenge record lives at.
pub fn challenge_name(domain: &str) -> String {
    let base = domain.strip_prefix("*.").unwrap_or(domain);
    format!("{CHALLENGE_LABEL}.{base}")
}

/// A fresh challenge value from 128 random bits.
pub fn new_challenge_value() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b)?;
    let mut s = String::with_capacity(VALUE_PREFIX.len() + 32);
    s.push_str(VALUE_PREFIX);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    Ok(s)
}

/// Whether one of the TXT strings is the expected value (surrounding whitespace
/// ignored; DNS providers' UIs add it). An empty expectation never matches.
pub fn txt_matches(records: &[String], expected: &str) -> bool {
    let expected = expected.trim();
    !expected.is_empty() && records.iter().any(|r| r.trim() == expected)
}

/// The `verification` object a pending domain carries in API responses.
pub fn verification_json(
    domain: &str,
    value: &str,
    last_check: Option<&str>,
    checked_at: Option<&str>,
) -> Value {
    let mut v = json!({
        "type": "dns_txt",
        "name": challenge_name(domain),
        "value": value,
    });
    if let (Some(outcome), Some(at)) = (last_check, checked_at) {
        v["last_check"] = json!(outcome);
        v["last_checked_at"] = json!(at);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        assert_eq!(
            challenge_name("shop.example.com"),
            "_portico-challenge.shop.example.com"
        );
        assert_eq!(challenge_name("*.x.y"), "_portico-challenge.x.y");
        let a = new_challenge_value().expect("rng");
        let b = new_challenge_value().expect("rng");
        assert!(a.starts_with(VALUE_PREFIX) && a.len() == VALUE_PREFIX.len() + 32 && a != b);
    }

    #[test]
    fn matching() {
        let recs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(txt_matches(&recs(&["v=spf1 -all", " tok "]), "tok"));
        assert!(!txt_matches(&recs(&["tok2", "xtok"]), "tok"));
        assert!(!txt_matches(&recs(&[""]), ""));
        assert_eq!(
            CheckOutcome::from_records(&[], "tok"),
            CheckOutcome::NotFound
        );
        assert_eq!(
            CheckOutcome::from_records(&recs(&["nope"]), "tok"),
            CheckOutcome::Mismatch
        );
        assert_eq!(
            CheckOutcome::from_records(&recs(&["tok"]), "tok"),
            CheckOutcome::Verified
        );
        assert_eq!(DomainStatus::parse("active"), DomainStatus::Active);
        assert_eq!(DomainStatus::parse("weird"), DomainStatus::Pending);
    }
}
