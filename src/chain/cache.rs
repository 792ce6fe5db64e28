//! `cache`: adds a `Cache-Control` to cacheable responses that lack one.

use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::message::HeaderAccess;

/// Compiled `cache` options.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    ttl_seconds: i64,
}

/// Statuses a shared cache may store by default (RFC 9110 §15.1), so errors such
/// as 500 or 502 are never marked cacheable.
const CACHEABLE: [u16; 11] = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414];

impl CachePolicy {
    /// Compiles `ttl_seconds` (required, > 0).
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        if !f.has("ttl_seconds") {
            diags.error(f.path_of("ttl_seconds"), "is required");
            return None;
        }
        let ttl_seconds = f.integer("ttl_seconds", 1, 31_536_000, diags)?;
        Some(Self { ttl_seconds })
    }

    /// Adds `public, max-age=N`, or `private` when the response sets cookies or
    /// answers a `credentialed` request (a shared cache must not serve one
    /// user's answer to another).
    pub fn on_response(&self, status: u16, credentialed: bool, headers: &mut dyn HeaderAccess) {
        if !CACHEABLE.contains(&status) || headers.get("cache-control").is_some() {
            return;
        }
        let scope = if credentialed || !headers.set_cookies().is_empty() {
            "private"
        } else {
            "public"
        };
        headers.set(
            "cache-control",
            &format!("{scope}, max-age={}", self.ttl_seconds),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> Option<CachePolicy> {
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        CachePolicy::compile(&mut f, &mut d)
    }

    #[test]
    fn adds_public_or_private_when_absent() {
        let p = policy(json!({ "ttl_seconds": 60 })).expect("valid");
        let mut h = HeaderList::new();
        p.on_response(200, false, &mut h);
        assert_eq!(
            h.get("cache-control").as_deref(),
            Some("public, max-age=60")
        );
        let mut h = HeaderList::new().with("set-cookie", "a=1");
        p.on_response(200, false, &mut h);
        assert_eq!(
            h.get("cache-control").as_deref(),
            Some("private, max-age=60")
        );
        let mut h = HeaderList::new().with("cache-control", "no-store");
        p.on_response(200, false, &mut h);
        assert_eq!(h.get("cache-control").as_deref(), Some("no-store"));
        let mut h = HeaderList::new();
        p.on_response(502, false, &mut h);
        assert_eq!(h.get("cache-control"), None);
        // A credentialed request's answer is per user.
        let mut h = HeaderList::new();
        p.on_response(200, true, &mut h);
        assert_eq!(
            h.get("cache-control").as_deref(),
            Some("private, max-age=60")
        );
    }

    #[test]
    fn ttl_is_required_and_positive() {
        assert!(policy(json!({})).is_none());
        assert!(policy(json!({ "ttl_seconds": 0 })).is_none());
        assert!(policy(json!({ "ttl_seconds": "60" })).is_none());
    }
}
