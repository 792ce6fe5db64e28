//! The one reader of http(s) URLs: origins, base URLs (parsed and checked once at
//! write time, joined per request) and request URLs split into their parts.

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
    let (authority, rest) = after.split_at(after.find(['/', '?', '#']).unwrap_or(after.len()));
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
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http", r)
    } else {
        ("https", url)
    };
    let (_, rest) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let rest = rest.split('#').next().unwrap_or_default();
    match rest.split_once('?') {
        Some((p, q)) => (scheme, p, q),
        None => (scheme, rest, ""),
    }
}

/// `url` with its path replaced by `path` and its query by `query` (fragment dropped).
pub fn canonical_url(url: &str, path: &str, query: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
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
