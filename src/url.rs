//! The one reader of http(s) URLs: schemes, authorities, origins, base URLs (parsed
//! and checked once at write time, joined per request) and request URLs split into
//! their parts. Rules that decide where Portico may send a request rest on these.

/// The two schemes Portico speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http`
    Http,
    /// `https`
    Https,
}

impl Scheme {
    /// `http://` or `https://`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Http => "http://",
            Self::Https => "https://",
        }
    }
}

/// `url` split after a lowercase `http://` or `https://` prefix; `None` for any
/// other scheme or a relative URL. Callers that accept any case lowercase first.
pub fn split_scheme(url: &str) -> Option<(Scheme, &str)> {
    if let Some(rest) = url.strip_prefix("https://") {
        Some((Scheme::Https, rest))
    } else {
        url.strip_prefix("http://").map(|rest| (Scheme::Http, rest))
    }
}

/// What follows `scheme://`, split into the authority (up to the first `/`, `?` or
/// `#`) and the rest (path, query, fragment).
pub fn split_authority(after_scheme: &str) -> (&str, &str) {
    after_scheme.split_at(
        after_scheme
            .find(['/', '?', '#'])
            .unwrap_or(after_scheme.len()),
    )
}

/// The authority of an absolute URL of any scheme; `""` when there is no `://`.
pub fn authority_of(url: &str) -> &str {
    url.split_once("://")
        .map(|(_, rest)| split_authority(rest).0)
        .unwrap_or_default()
}

/// The host of an authority: port dropped, IPv6 brackets removed (`[::1]:80` → `::1`).
/// Not normalised: compare with lowercase literals or normalise first.
pub fn authority_host(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

/// Whether `url` may be fetched for key material: any `https://` URL, or `http://`
/// to a loopback host (local development). Nothing else is fetched in the clear.
pub fn secure_or_loopback(url: &str) -> bool {
    match split_scheme(url) {
        Some((Scheme::Https, rest)) => !rest.is_empty(),
        Some((Scheme::Http, rest)) => matches!(
            authority_host(split_authority(rest).0),
            "localhost" | "127.0.0.1" | "::1"
        ),
        None => false,
    }
}

/// `url` without its query or fragment, for logs: a tenant may put secrets there.
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// Splits an absolute http(s) URL into its normalised origin and the rest
/// (path, query, fragment). `None` for relative or non-http URLs.
pub fn split_origin(url: &str) -> Option<(String, &str)> {
    let (scheme, after) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        ("https", rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        ("http", rest)
    } else {
        return None;
    };
    let (authority, rest) = split_authority(after);
    let authority = authority.to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some((format!("{scheme}://{authority}"), rest))
}

/// `s` without an ASCII `prefix` matched case-insensitively; never splits a
/// multi-byte character (a non-ASCII URL must not panic the isolate).
pub fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Splits a request URL (`scheme://authority/path?query#fragment`, as the runtime
/// hands it over) into scheme, raw path and raw query; the fragment is dropped.
pub fn split_request_url(url: &str) -> (&'static str, &str, &str) {
    let (scheme, rest) = match split_scheme(url) {
        Some((Scheme::Http, rest)) => ("http", rest),
        Some((Scheme::Https, rest)) => ("https", rest),
        None => ("https", url),
    };
    let (_, rest) = split_authority(rest);
    let rest = rest.split('#').next().unwrap_or_default();
    match rest.split_once('?') {
        Some((p, q)) => (scheme, p, q),
        None => (scheme, rest, ""),
    }
}

/// `url` with its path replaced by `path` and its query by `query` (fragment dropped).
pub fn canonical_url(url: &str, path: &str, query: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let (authority, _) = split_authority(rest);
    let mut out = format!("{scheme}://{authority}{path}");
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// An absolute http(s) URL split into origin and base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `scheme://host[:port]`, lowercased, default port dropped.
    pub origin: String,
    /// Host without port, lowercased.
    pub host: String,
    /// Path without trailing slash (`""` for the root).
    pub base_path: String,
}

impl BaseUrl {
    /// Parses an absolute http(s) URL without query or fragment.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (origin, rest) = split_origin(raw)
            .ok_or_else(|| "must be an absolute http:// or https:// URL".to_string())?;
        if rest.contains(['?', '#']) {
            return Err("must not have a query or fragment".into());
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or_default();
        let host = crate::host::normalize_host(authority)
            .map_err(|_| "has an invalid host".to_string())?;
        Ok(Self {
            origin,
            host,
            base_path: rest.trim_end_matches('/').to_string(),
        })
    }

    /// Upstream URL for a request: base path + request path, request query kept.
    pub fn join(&self, path: &str, query: &str) -> String {
        let mut out = String::with_capacity(
            self.origin.len() + self.base_path.len() + path.len() + query.len() + 2,
        );
        out.push_str(&self.origin);
        out.push_str(&self.base_path);
        if path.is_empty() {
            out.push('/');
        } else {
            out.push_str(path);
        }
        if !query.is_empty() {
            out.push('?');
            out.push_str(query);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_base_path_and_query() {
        let root = BaseUrl::parse("http://127.0.0.1:9001/").expect("valid");
        assert_eq!(root.join("/a/b", "x=1"), "http://127.0.0.1:9001/a/b?x=1");
        let base = BaseUrl::parse("https://API.example.com:443/v1/").expect("valid");
        assert_eq!(base.origin, "https://api.example.com");
        assert_eq!(base.host, "api.example.com");
        assert_eq!(base.join("/users", ""), "https://api.example.com/v1/users");
        let nobase = BaseUrl::parse("https://a.com").expect("valid");
        assert_eq!(nobase.join("/", ""), "https://a.com/");
    }

    #[test]
    fn splits_schemes_and_authorities() {
        for (url, scheme, authority, host) in [
            ("https://a.com/x?q", Some(Scheme::Https), "a.com", "a.com"),
            (
                "http://a.com:8080",
                Some(Scheme::Http),
                "a.com:8080",
                "a.com",
            ),
            ("http://[::1]:9/p", Some(Scheme::Http), "[::1]:9", "::1"),
            ("https://h?x=1", Some(Scheme::Https), "h", "h"),
            ("https://h#f", Some(Scheme::Https), "h", "h"),
            ("HTTPS://a.com/", None, "A.com", "A.com"),
            ("ftp://a.com/", None, "a.com", "a.com"),
            ("a.com/x", None, "", ""),
        ] {
            assert_eq!(split_scheme(url).map(|(s, _)| s), scheme, "{url}");
            let auth = authority_of(url);
            assert_eq!(
                auth.to_ascii_lowercase(),
                authority.to_ascii_lowercase(),
                "{url}"
            );
            assert_eq!(
                authority_host(auth).to_ascii_lowercase(),
                host.to_ascii_lowercase(),
                "{url}"
            );
        }
        assert_eq!(split_authority("a.com/b?c"), ("a.com", "/b?c"));
        assert_eq!(split_authority("a.com"), ("a.com", ""));
        assert_eq!(Scheme::Https.prefix(), "https://");
        assert_eq!(Scheme::Http.prefix(), "http://");
    }

    #[test]
    fn secure_or_loopback_only() {
        for (url, ok) in [
            ("https://idp.example.com/jwks", true),
            ("https://", false),
            ("http://localhost:8787/jwks", true),
            ("http://127.0.0.1/jwks", true),
            ("http://[::1]:9000/jwks", true),
            ("http://localhost.evil.com/jwks", false),
            ("http://idp.example.com/jwks", false),
            ("http://127.0.0.1@evil.com/", false),
            ("HTTPS://idp.example.com/", false),
            ("ftp://localhost/", false),
            ("", false),
        ] {
            assert_eq!(secure_or_loopback(url), ok, "{url}");
        }
    }

    #[test]
    fn drops_query_and_fragment_for_logs() {
        for (url, logged) in [
            ("https://a.com/jwks?key=secret", "https://a.com/jwks"),
            ("https://a.com/jwks#frag", "https://a.com/jwks"),
            ("https://a.com/jwks", "https://a.com/jwks"),
            ("", ""),
        ] {
            assert_eq!(without_query(url), logged);
        }
    }

    #[test]
    fn splits_request_urls() {
        for (url, scheme, path, query) in [
            ("https://h/a/b?x=1#f", "https", "/a/b", "x=1"),
            ("http://h:8080/", "http", "/", ""),
            ("http://h?q", "http", "", "q"),
            ("/rel?q", "https", "/rel", "q"),
        ] {
            assert_eq!(split_request_url(url), (scheme, path, query), "{url}");
        }
    }

    #[test]
    fn refuses_non_http_and_queries() {
        for bad in [
            "ftp://a.com/",
            "a.com/x",
            "https://a.com/?q=1",
            "https://a.com/#f",
            "https:///x",
            "https://a b.com/",
            "javascript:alert(1)",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
