//! Request shaping of the connection proxy endpoint
//! (`ANY /api/v1/tenants/{tid}/connections/{cid}/proxy/{*path}`, docs/vault.md): where
//! the call goes, which caller headers travel with it and which response headers
//! come back. No spelling of the path can leave `base_url`.

use crate::canonical_path::{canonicalize, EncodedSlashes, PathError};
use crate::message::HeaderAccess;
use crate::upstream::{strip_hop_by_hop, HOP_BY_HOP};
use crate::url::{split_origin, BaseUrl};

/// Where a proxied call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    /// The upstream URL: `base_url` + canonical path + the caller's query.
    pub url: String,
    /// The canonical path under `base_url` (decoded, starts with `/`), which
    /// connection policies match and the audit records.
    pub path: String,
}

/// The upstream URL for `raw_rest`, the still-percent-encoded path after `/proxy/`
/// (may be empty), and the caller's raw `query`. The path is canonicalised as on the
/// data plane (DESIGN §3) from a root of its own, so `..` can never climb above
/// `base_url`'s path (it is [`PathError::AboveRoot`]) and `?`, `#`, `@` or a second
/// `//` in it stay path data.
pub fn target(
    base: &BaseUrl,
    raw_rest: &str,
    query: &str,
    slashes: EncodedSlashes,
) -> Result<ProxyTarget, PathError> {
    let raw = format!("/{raw_rest}");
    let canonical = canonicalize(&raw, slashes)?;
    // A fragment is never sent; cut it so it cannot be read as one upstream.
    let query = query.split('#').next().unwrap_or_default();
    let url = base.join(&canonical.upstream, query);
    // Defence in depth: whatever the path held, the call stays on base_url's origin.
    match split_origin(&url) {
        Some((origin, _)) if origin == base.origin => {}
        Some(_) | None => return Err(PathError::AboveRoot),
    }
    Ok(ProxyTarget {
        url,
        path: canonical.matching.into_owned(),
    })
}

/// Whether a caller's request header is forwarded upstream. Never: credentials and
/// cookies (`Authorization`, `Cookie`, `Proxy-*`), hop-by-hop headers (and `Expect`),
/// client-address headers a caller could forge (`Forwarded`, `X-Forwarded-*`,
/// `X-Real-IP`, `CF-*`), Portico's own (`X-Portico-*`) and `Host`. Names listed in
/// the caller's `Connection` header are hop-by-hop too; the caller of this function
/// drops those with [`strip_hop_by_hop`].
pub fn forwardable_request_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let refused = matches!(
        name.as_str(),
        "authorization" | "cookie" | "cookie2" | "expect" | "forwarded" | "x-real-ip" | "host"
    ) || HOP_BY_HOP.contains(&name.as_str())
        || ["proxy-", "x-forwarded-", "cf-", "x-portico-"]
            .iter()
            .any(|p| name.starts_with(p));
    !refused
}

/// The inbound headers (by `names`, as received) a proxied call must not forward:
/// those [`forwardable_request_header`] refuses and those the caller's
/// `Connection` header lists (hop-by-hop too, RFC 9110 §7.6.1). Lowercase.
pub fn dropped_request_headers<'a>(
    names: impl IntoIterator<Item = &'a str>,
    connection: Option<&str>,
) -> Vec<String> {
    let listed: Vec<String> = connection
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let lower = name.to_ascii_lowercase();
        if (!forwardable_request_header(&lower) || listed.contains(&lower)) && !out.contains(&lower)
        {
            out.push(lower);
        }
    }
    out
}

/// Removes the connector's `strip_response_headers` and every hop-by-hop header
/// (including those the upstream's `Connection` names) from a proxied response.
pub fn strip_response_headers(headers: &mut dyn HeaderAccess, strip: &[String]) {
    for name in strip {
        headers.remove(name);
    }
    strip_hop_by_hop(headers, false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;

    #[test]
    fn dropped_headers_include_connection_listed_ones() {
        let names = [
            "Authorization",
            "x-keep",
            "X-Hop",
            "cookie",
            "x-forwarded-for",
            "accept",
        ];
        assert_eq!(
            dropped_request_headers(names, Some("keep-alive, X-Hop")),
            vec!["authorization", "x-hop", "cookie", "x-forwarded-for"]
        );
        assert_eq!(
            dropped_request_headers(["accept"], None),
            Vec::<String>::new()
        );
    }

    fn base(url: &str) -> BaseUrl {
        BaseUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn go(base_url: &str, rest: &str, query: &str) -> Result<(String, String), PathError> {
        target(&base(base_url), rest, query, EncodedSlashes::Reject).map(|t| (t.url, t.path))
    }

    fn ok(base_url: &str, rest: &str, query: &str) -> (String, String) {
        go(base_url, rest, query).unwrap_or_else(|e| panic!("{rest:?}: {e}"))
    }

    #[test]
    fn joins_under_the_base_path() {
        let v1 = "https://api.x.com/v1";
        for (rest, query, url, path) in [
            ("users", "", "https://api.x.com/v1/users", "/users"),
            (
                "users/42",
                "a=1&b=2",
                "https://api.x.com/v1/users/42?a=1&b=2",
                "/users/42",
            ),
            ("", "", "https://api.x.com/v1/", "/"),
            ("", "q=1", "https://api.x.com/v1/?q=1", "/"),
            ("users/", "", "https://api.x.com/v1/users/", "/users/"),
            ("caf%c3%a9", "", "https://api.x.com/v1/caf%C3%A9", "/café"),
            ("a%20b", "", "https://api.x.com/v1/a%20b", "/a b"),
            ("q=1", "x#frag", "https://api.x.com/v1/q=1?x", "/q=1"),
        ] {
            assert_eq!(
                ok(v1, rest, query),
                (url.to_string(), path.to_string()),
                "{rest:?}"
            );
        }
        assert_eq!(
            ok("https://api.x.com", "a", ""),
            ("https://api.x.com/a".into(), "/a".into())
        );
        assert_eq!(
            ok("http://127.0.0.1:9001/base/", "x", ""),
            ("http://127.0.0.1:9001/base/x".into(), "/x".into())
        );
    }

    #[test]
    fn no_spelling_leaves_base_url() {
        let v1 = "https://api.x.com/v1";
        // Dot segments resolve inside the rest; above its root they are refused.
        assert_eq!(ok(v1, "a/../b", "").0, "https://api.x.com/v1/b");
        assert_eq!(ok(v1, "a/%2e%2e/b", "").0, "https://api.x.com/v1/b");
        assert_eq!(ok(v1, "./a/.", "").0, "https://api.x.com/v1/a/");
        for rest in [
            "..",
            "../admin",
            "%2e%2e/admin",
            "%2E./x",
            "a/../../x",
            ".%2e",
        ] {
            assert_eq!(go(v1, rest, ""), Err(PathError::AboveRoot), "{rest:?}");
        }
        // Encoded slashes and backslashes are refused by default.
        for rest in [
            "a%2Fb",
            "..%2F..%2Fadmin",
            "%5Cevil.com",
            "\\\\evil.com",
            "a\\..\\..\\x",
        ] {
            assert_eq!(go(v1, rest, ""), Err(PathError::EncodedSlash), "{rest:?}");
        }
        assert_eq!(go(v1, "%zz", ""), Err(PathError::InvalidEscape));
        assert_eq!(go(v1, "%FF", ""), Err(PathError::NotUtf8));
        // Authority look-alikes stay path data on base_url's origin.
        for (rest, url) in [
            ("//evil.com/x", "https://api.x.com/v1/evil.com/x"),
            ("@evil.com", "https://api.x.com/v1/@evil.com"),
            ("@evil.com/x", "https://api.x.com/v1/@evil.com/x"),
            ("http://evil.com", "https://api.x.com/v1/http:/evil.com"),
            ("https:%2F%2Fevil.com", ""),
            ("?x=1", "https://api.x.com/v1/%3Fx=1"),
            ("a#b", "https://api.x.com/v1/a%23b"),
            ("%3F/%23", "https://api.x.com/v1/%3F/%23"),
        ] {
            let got = go(v1, rest, "").map(|(u, _)| u);
            if url.is_empty() {
                assert!(got.is_err(), "{rest:?}");
            } else {
                assert_eq!(got.as_deref(), Ok(url), "{rest:?}");
            }
        }
        // At the root the same tricks hold.
        assert_eq!(
            ok("https://api.x.com", "@evil.com", "").0,
            "https://api.x.com/@evil.com"
        );
        assert_eq!(
            ok("https://api.x.com", "//evil.com", "").0,
            "https://api.x.com/evil.com"
        );
        assert_eq!(go("https://api.x.com", "..", ""), Err(PathError::AboveRoot));
    }

    #[test]
    fn slash_modes_are_the_operators() {
        let b = base("https://api.x.com/v1");
        let t = target(&b, "a%2Fb", "", EncodedSlashes::Keep).expect("kept");
        assert_eq!(t.url, "https://api.x.com/v1/a%2Fb");
        let t = target(&b, "a%2F..%2Fb", "", EncodedSlashes::Decode).expect("decoded");
        assert_eq!(
            (t.url.as_str(), t.path.as_str()),
            ("https://api.x.com/v1/b", "/b")
        );
        assert_eq!(
            target(&b, "%2F..%2F..", "", EncodedSlashes::Decode),
            Err(PathError::AboveRoot)
        );
        assert_eq!(
            target(&b, "%5C%5Cevil.com", "", EncodedSlashes::Decode).map(|t| t.url),
            Ok("https://api.x.com/v1/evil.com".to_string())
        );
    }

    #[test]
    fn caller_headers_that_never_travel() {
        for name in [
            "Authorization",
            "cookie",
            "Cookie2",
            "Proxy-Authorization",
            "proxy-connection",
            "proxy-anything",
            "connection",
            "keep-alive",
            "TE",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "expect",
            "forwarded",
            "X-Forwarded-For",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-real-ip",
            "CF-Connecting-IP",
            "cf-ray",
            "X-Portico-Request-Id",
            "Host",
        ] {
            assert!(!forwardable_request_header(name), "{name}");
        }
        for name in [
            "accept",
            "content-type",
            "content-length",
            "user-agent",
            "x-request-id",
            "x-api-version",
            "if-none-match",
            "x-forwarded",
            "cfx",
        ] {
            assert!(forwardable_request_header(name), "{name}");
        }
    }

    #[test]
    fn strips_listed_and_hop_by_hop_response_headers() {
        let mut h = HeaderList::new()
            .with("set-cookie", "sid=1")
            .with("Server", "nginx")
            .with("connection", "close, x-hop")
            .with("x-hop", "1")
            .with("transfer-encoding", "chunked")
            .with("keep-alive", "timeout=5")
            .with("content-type", "application/json")
            .with("location", "https://elsewhere.example/");
        strip_response_headers(&mut h, &["set-cookie".into(), "server".into()]);
        assert_eq!(
            h.0,
            vec![
                ("content-type".to_string(), "application/json".to_string()),
                (
                    "location".to_string(),
                    "https://elsewhere.example/".to_string()
                ),
            ]
        );
        let mut h = HeaderList::new().with("set-cookie", "a=1");
        strip_response_headers(&mut h, &[]);
        assert_eq!(
            h.get("set-cookie").as_deref(),
            Some("a=1"),
            "only what is listed"
        );
    }
}
