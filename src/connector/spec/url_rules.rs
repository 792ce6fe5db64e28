//! Where a connector may point: its URLs (scheme, host, path) and `allowed_hosts`,
//! and the check every credential passes before it leaves (`allows_url`).

use super::UrlRules;
use crate::api::route_policy::TenantRules;
use crate::canonical_path::{canonicalize, EncodedSlashes};
use crate::connector::{ConnectorSpec, HostPattern};
use crate::domains::public_suffix::wildcard_spans_registrants;
use crate::host::normalize_host;
use crate::upstream::target::{check_tenant_target, host_kind, HostKind, TargetError};
use crate::url::{split_authority, strip_prefix_ignore_case, BaseUrl};

/// Why a connector URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUrl {
    /// Not `http://` or `https://` (or relative).
    #[error("must be an absolute https:// URL")]
    NotHttp,
    /// `user@host`: a credential in the URL, or a trick to hide the real host.
    #[error("must not contain user information (user@host)")]
    Userinfo,
    /// Spaces or control characters anywhere.
    #[error("must not contain spaces or control characters")]
    Whitespace,
    /// Missing or malformed host.
    #[error("has no valid host")]
    Host,
    /// A port that is not 1..=65535.
    #[error("has an invalid port")]
    Port,
    /// `base_url` with `?` or `#`.
    #[error("must not have a query or fragment")]
    QueryOrFragment,
    /// An endpoint URL with `#`.
    #[error("must not have a fragment")]
    Fragment,
    /// A base path a canonical request path could climb out of or be confused with.
    #[error(
        "its path must not contain dot segments, backslashes, encoded slashes or invalid escapes"
    )]
    Path,
    /// `http://` where only `https://` is allowed.
    #[error(
        "must use https:// (http:// only for 127.0.0.1, [::1] or localhost in development mode)"
    )]
    Insecure,
    /// A host tenants may not reach.
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Why an `allowed_hosts` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHostPattern {
    /// Not a host name (or has a scheme, port, path or spaces).
    #[error("must be a host name or \"*.\" followed by one (no scheme, port or path)")]
    Malformed,
    /// `*.com`.
    #[error("a wildcard needs at least two labels after \"*.\"")]
    ShortWildcard,
    /// `*.[::1]`, `*.0.1`.
    #[error("a wildcard cannot cover IP addresses")]
    AddressWildcard,
    /// `*.co.uk`, `*.s3.amazonaws.com`: hosts of anyone who registers there.
    #[error("a wildcard directly under a public suffix ({0}, Public Suffix List) would send the credential to anyone's host")]
    PublicSuffix(String),
    /// A host tenants may not reach.
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Whether `host` (normalised) always means this machine.
fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

/// A URL read by [`check_url`]: lowercase scheme and authority, default port dropped.
struct CheckedUrl {
    origin: String,
    host: String,
    /// Path, query (endpoint URLs only).
    rest: String,
}

/// The port of an authority, if one is written.
fn port_of(authority: &str) -> Option<&str> {
    match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').and_then(|(_, t)| t.strip_prefix(':')),
        None => authority.rsplit_once(':').map(|(_, p)| p),
    }
}

/// Reads a connector URL. `query` allows a query (OAuth2 endpoints may carry one,
/// RFC 6749 §3.1); `tenant_target` applies the tenant target rules to its host.
fn check_url(
    raw: &str,
    rules: &UrlRules,
    query: bool,
    tenant_target: bool,
) -> Result<CheckedUrl, InvalidUrl> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidUrl::Whitespace);
    }
    let (scheme, after) = if let Some(r) = strip_prefix_ignore_case(raw, "https://") {
        ("https", r)
    } else if let Some(r) = strip_prefix_ignore_case(raw, "http://") {
        ("http", r)
    } else {
        return Err(InvalidUrl::NotHttp);
    };
    let (authority, rest) = split_authority(after);
    // A `\` ends the authority for a browser's URL parser but not here: refusing
    // `@` anywhere in what we read as the authority covers `a.com\@evil.com` too.
    if authority.contains('@') {
        return Err(InvalidUrl::Userinfo);
    }
    if rest.contains('#') {
        return Err(if query {
            InvalidUrl::Fragment
        } else {
            InvalidUrl::QueryOrFragment
        });
    }
    if !query && rest.contains('?') {
        return Err(InvalidUrl::QueryOrFragment);
    }
    let host = normalize_host(authority).map_err(|_| InvalidUrl::Host)?;
    if host_kind(&host).is_none() {
        return Err(InvalidUrl::Host);
    }
    let port = match port_of(authority) {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(InvalidUrl::Port),
        },
    };
    if scheme == "http" && !(rules.allow_loopback_http && is_loopback(&host)) {
        return Err(InvalidUrl::Insecure);
    }
    if tenant_target {
        if let Some(t) = &rules.tenant {
            check_tenant_target(&host, &t.target_exceptions, &t.control_plane_hosts)?;
        }
    }
    let origin = match (scheme, port) {
        ("https", Some(443)) | ("http", Some(80)) | (_, None) => format!("{scheme}://{host}"),
        (_, Some(p)) => format!("{scheme}://{host}:{p}"),
    };
    Ok(CheckedUrl {
        origin,
        host,
        rest: rest.to_string(),
    })
}

/// Reads `base_url`. Its path must already be canonical in structure (no dot
/// segments, no escapes the canonical path refuses): a proxied path is joined onto
/// it and must never climb out of it. It is stored in the canonical spelling.
pub(super) fn base_url(raw: &str, rules: &UrlRules) -> Result<BaseUrl, InvalidUrl> {
    let url = check_url(raw, rules, false, true)?;
    let path = url.rest.as_str();
    let dot_segment = path.split('/').any(|seg| {
        let name = seg.split(';').next().unwrap_or_default();
        matches!(
            crate::percent::decode(name, false).as_deref(),
            Some("." | "..")
        )
    });
    if dot_segment {
        return Err(InvalidUrl::Path);
    }
    let base_path = if path.is_empty() {
        String::new()
    } else {
        let canonical = canonicalize(path, EncodedSlashes::Reject).map_err(|_| InvalidUrl::Path)?;
        canonical.upstream.trim_end_matches('/').to_string()
    };
    Ok(BaseUrl {
        origin: url.origin,
        host: url.host,
        base_path,
    })
}

/// Reads an OAuth2 endpoint URL (query allowed, fragment not). Portico itself calls
/// the token and revocation endpoints, so those obey the tenant target rules; the
/// authorize URL is only where the user's browser is sent.
pub(super) fn endpoint_url(
    raw: &str,
    rules: &UrlRules,
    fetched: bool,
) -> Result<String, InvalidUrl> {
    check_url(raw, rules, true, fetched).map(|u| format!("{}{}", u.origin, u.rest))
}

impl HostPattern {
    /// Reads an `allowed_hosts` entry. `tenant`: the rules of a tenant-owned
    /// connector. `stored`: re-reading a stored version, so rules that may change
    /// over time (the Public Suffix List) are not applied again.
    pub fn parse_allowed(
        raw: &str,
        tenant: Option<&TenantRules>,
        stored: bool,
    ) -> Result<Self, InvalidHostPattern> {
        let lower = raw.to_ascii_lowercase();
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let host = normalize_host(name).map_err(|_| InvalidHostPattern::Malformed)?;
        // normalize_host drops a port and trims spaces: refuse them instead, so what
        // is stored is what was written.
        if host != name.strip_suffix('.').unwrap_or(name) {
            return Err(InvalidHostPattern::Malformed);
        }
        let kind = host_kind(&host).ok_or(InvalidHostPattern::Malformed)?;
        if !wild {
            if let Some(t) = tenant {
                check_tenant_target(&host, &t.target_exceptions, &t.control_plane_hosts)?;
            }
            return Ok(Self::Exact(host));
        }
        if !matches!(kind, HostKind::Name) {
            return Err(InvalidHostPattern::AddressWildcard);
        }
        if !host.contains('.') {
            return Err(InvalidHostPattern::ShortWildcard);
        }
        if !stored && wildcard_spans_registrants(&host) {
            return Err(InvalidHostPattern::PublicSuffix(host));
        }
        let pattern = Self::Below(host);
        if let Some(t) = tenant {
            if let Self::Below(suffix) = &pattern {
                // `*.x.localhost` is still this machine.
                check_tenant_target(suffix, &t.target_exceptions, &[])?;
            }
            if t.control_plane_hosts.iter().any(|cp| pattern.matches(cp)) {
                return Err(TargetError::ControlPlane.into());
            }
        }
        Ok(pattern)
    }

    /// Whether a normalised host matches (a wildcard never matches its apex).
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => name == host,
            Self::Below(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
        }
    }

    /// As written in a version body (`api.example.com`, `*.example.com`).
    pub fn as_written(&self) -> String {
        match self {
            Self::Exact(name) => name.clone(),
            Self::Below(suffix) => format!("*.{suffix}"),
        }
    }
}

impl ConnectorSpec {
    /// Whether the credential may be sent to `host` (any case, port ignored):
    /// `base_url`'s host or an allowed host.
    pub fn allows_host(&self, host: &str) -> bool {
        let Ok(host) = normalize_host(host) else {
            return false;
        };
        host == self.base_url.host || self.allowed_hosts.iter().any(|p| p.matches(&host))
    }

    /// Whether the credential may go with a request to `url`: an absolute http(s)
    /// URL without user information, to an allowed host, over https (http only to a
    /// loopback host).
    pub fn allows_url(&self, url: &str) -> bool {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return false;
        }
        let (https, after) = if let Some(r) = strip_prefix_ignore_case(url, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ignore_case(url, "http://") {
            (false, r)
        } else {
            return false;
        };
        let (authority, _) = split_authority(after);
        if authority.is_empty() || authority.contains('@') {
            return false;
        }
        let Ok(host) = normalize_host(authority) else {
            return false;
        };
        (https || is_loopback(&host)) && self.allows_host(&host)
    }
}
