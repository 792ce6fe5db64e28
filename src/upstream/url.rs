//! Upstream base URLs: parsed and checked once at write time, joined per request.

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
        let (origin, rest) = crate::chain::location::split_origin(raw)
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
