//! Host names: normalisation of the inbound `Host` and host patterns (`*.example.com`).

/// Why an inbound host value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Neither `Host` nor `X-Forwarded-Host` was present (or both were empty).
    #[error("Missing host")]
    Missing,
    /// The value is not a syntactically valid host name.
    #[error("Invalid host")]
    Invalid,
}

/// Longest host name we accept (RFC 1035 limit plus a little slack for a port).
const MAX_HOST_LEN: usize = 253;

/// Normalises a `Host` value once for every layer: lowercase, no port, no trailing dot.
///
/// IPv6 literals keep their brackets (`[::1]`). Anything that is not a plausible
/// host name is refused rather than looked up.
pub fn normalize_host(raw: &str) -> Result<String, HostError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(HostError::Missing);
    }
    let without_port = if let Some(rest) = raw.strip_prefix('[') {
        // IPv6 literal: `[addr]` optionally followed by `:port`.
        let (addr, tail) = rest.split_once(']').ok_or(HostError::Invalid)?;
        if !tail.is_empty() && !is_port_suffix(tail) {
            return Err(HostError::Invalid);
        }
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(HostError::Invalid);
        }
        return Ok(format!("[{}]", addr.to_ascii_lowercase()));
    } else {
        match raw.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return Err(HostError::Invalid),
            None => raw,
        }
    };
    let host = without_port.strip_suffix('.').unwrap_or(without_port);
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return Err(HostError::Invalid);
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid || host.starts_with('.') || host.contains("..") {
        return Err(HostError::Invalid);
    }
    Ok(host.to_ascii_lowercase())
}

fn is_port_suffix(s: &str) -> bool {
    s.strip_prefix(':').is_some_and(is_port)
}

fn is_port(digits: &str) -> bool {
    !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A host rule: an exact name or `*.suffix` (any depth below the suffix, never the apex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Matches exactly this normalised name.
    Exact(String),
    /// Matches any name ending in `.suffix`; holds the suffix with its leading dot.
    Wildcard(String),
}

impl HostPattern {
    /// Parses a configured host rule, normalising it the same way as inbound hosts.
    pub fn parse(raw: &str) -> Result<Self, HostError> {
        if let Some(suffix) = raw.strip_prefix("*.") {
            let suffix = normalize_host(suffix)?;
            if suffix.starts_with('[') {
                return Err(HostError::Invalid);
            }
            Ok(Self::Wildcard(format!(".{suffix}")))
        } else {
            if raw.contains('*') {
                return Err(HostError::Invalid);
            }
            Ok(Self::Exact(normalize_host(raw)?))
        }
    }

    /// Whether a normalised host matches this rule.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => name == host,
            Self::Wildcard(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

/// Most labels a stored domain may have (`*` counts as one). Deeper request hosts
/// are still served by a wildcard above them; this bounds the candidates per lookup
/// (D1 binds at most 100 parameters) so a host of 120 labels is unknown, not an error.
pub const MAX_DOMAIN_LABELS: usize = 32;

/// Candidate domain keys for a normalised host, most specific first:
/// `a.b.example.com`, `*.b.example.com`, `*.example.com`, `*.com`. Never more than
/// [`MAX_DOMAIN_LABELS`] candidates, none deeper than a domain can be.
pub fn lookup_candidates(host: &str) -> Vec<String> {
    if host.starts_with('[') {
        return vec![host.to_string()];
    }
    let labels = host.split('.').count();
    let mut out = Vec::new();
    if labels <= MAX_DOMAIN_LABELS {
        out.push(host.to_string());
    }
    let mut rest = host;
    let mut depth = labels;
    while let Some((_, parent)) = rest.split_once('.') {
        if parent.is_empty() {
            break;
        }
        // `*.parent` has as many labels as `rest`.
        if depth <= MAX_DOMAIN_LABELS {
            out.push(format!("*.{parent}"));
        }
        rest = parent;
        depth = depth.saturating_sub(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_port_and_trailing_dot() {
        let cases = [
            ("Example.COM", "example.com"),
            ("example.com:8787", "example.com"),
            ("example.com.", "example.com"),
            ("EXAMPLE.com.:443", "example.com"),
            ("[::1]:8787", "[::1]"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("acme.localhost", "acme.localhost"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_host(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_malformed_hosts() {
        for raw in [
            "exa mple.com",
            "example.com:port",
            "a:b:c",
            ".example.com",
            "a..b",
            "[::1",
            "[::1]x",
            "ex%41mple.com",
            "example.com/evil",
            "user@example.com",
            "\u{e9}.com",
            ":80",
            "example.com:123456",
        ] {
            assert!(normalize_host(raw).is_err(), "{raw:?} should be refused");
        }
        assert_eq!(normalize_host("  "), Err(HostError::Missing));
        let long = "a".repeat(300);
        assert_eq!(normalize_host(&long), Err(HostError::Invalid));
    }

    #[test]
    fn wildcard_matches_any_depth_but_not_apex() {
        let p = HostPattern::parse("*.Example.com").expect("valid");
        assert!(p.matches("a.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("badexample.com"));
        let e = HostPattern::parse("api.example.com.").expect("valid");
        assert!(e.matches("api.example.com"));
        assert!(!e.matches("x.api.example.com"));
        assert!(HostPattern::parse("a.*.com").is_err());
        assert!(HostPattern::parse("*").is_err());
    }

    #[test]
    fn candidates_go_from_specific_to_general() {
        assert_eq!(
            lookup_candidates("a.b.example.com"),
            vec![
                "a.b.example.com",
                "*.b.example.com",
                "*.example.com",
                "*.com"
            ]
        );
        assert_eq!(lookup_candidates("localhost"), vec!["localhost"]);
        let deep = format!("{}example.com", "a.".repeat(120));
        let c = lookup_candidates(&deep);
        assert_eq!(c.len(), MAX_DOMAIN_LABELS - 1);
        assert!(c.iter().all(|d| d.split('.').count() <= MAX_DOMAIN_LABELS));
        assert_eq!(c.last().map(String::as_str), Some("*.com"));
        assert!(c.contains(&"*.example.com".to_string()));
    }
}
