//! `rewrite_cookies`: moves `Domain=<upstream>` in Set-Cookie to the request host.

use crate::message::HeaderAccess;
use crate::request::RequestCx;

/// Compiled `rewrite_cookies` options.
#[derive(Debug, Clone)]
pub struct RewriteCookies {
    /// Lowercased upstream host (given or inferred from the terminal).
    pub upstream_host: String,
}

impl RewriteCookies {
    /// Rewrites the Domain attribute of a single Set-Cookie value; every other
    /// attribute (and its spelling) is kept.
    pub fn rewrite_one(&self, cookie: &str, request_host: &str) -> Option<String> {
        let mut changed = false;
        let parts: Vec<String> = cookie
            .split(';')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    return part.to_string();
                }
                let trimmed = part.trim_start();
                let Some((name, value)) = trimmed.split_once('=') else {
                    return part.to_string();
                };
                if !name.trim().eq_ignore_ascii_case("domain") {
                    return part.to_string();
                }
                let domain = value.trim();
                let bare = domain.strip_prefix('.').unwrap_or(domain);
                if bare.eq_ignore_ascii_case(&self.upstream_host) {
                    changed = true;
                    let lead = part.strip_suffix(trimmed).unwrap_or_default();
                    format!("{lead}{}={request_host}", name.trim())
                } else {
                    part.to_string()
                }
            })
            .collect();
        changed.then(|| parts.join(";"))
    }

    /// Rewrites every Set-Cookie of the response.
    pub fn on_response(&self, cx: &RequestCx<'_>, headers: &mut dyn HeaderAccess) {
        let cookies = headers.set_cookies();
        if cookies.is_empty() {
            return;
        }
        let rewritten: Vec<Option<String>> = cookies
            .iter()
            .map(|c| self.rewrite_one(c, cx.host))
            .collect();
        if rewritten.iter().all(Option::is_none) {
            return;
        }
        headers.remove("set-cookie");
        for (orig, new) in cookies.iter().zip(rewritten) {
            headers.append("set-cookie", new.as_deref().unwrap_or(orig));
        }
    }
}

/// Whether a cookie `Domain` (lowercase, no leading dot) stays inside hosts the
/// tenant owns: the request host itself, or a name strictly under the tenant's
/// wildcard domain that covers the request host. A parent shared with other
/// tenants (`Domain=example.com` from `a.example.com`) is not.
fn domain_is_owned(cookie_domain: &str, host: &str, tenant_domain: &str) -> bool {
    if cookie_domain == host {
        return true;
    }
    let Some(suffix) = tenant_domain.strip_prefix('*') else {
        return false;
    };
    // `suffix` is `.example.com`: the cookie domain must be strictly below it and
    // be the request host or one of its parents.
    cookie_domain.ends_with(suffix)
        && cookie_domain.len() > suffix.len()
        && host
            .strip_suffix(cookie_domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Drops the `Domain` attribute of a Set-Cookie value that would reach beyond
/// the tenant's own hosts (cookie tossing onto a parent other tenants share), so
/// the cookie becomes host-only. `None` when the value is kept as it is.
pub fn confine_domain(cookie: &str, host: &str, tenant_domain: &str) -> Option<String> {
    let mut changed = false;
    let kept: Vec<&str> = cookie
        .split(';')
        .enumerate()
        .filter(|(i, part)| {
            if *i == 0 {
                return true;
            }
            let Some((name, value)) = part.trim_start().split_once('=') else {
                return true;
            };
            if !name.trim().eq_ignore_ascii_case("domain") {
                return true;
            }
            let v = value.trim().to_ascii_lowercase();
            let d = v.strip_prefix('.').unwrap_or(&v);
            let d = d.strip_suffix('.').unwrap_or(d);
            let owned = domain_is_owned(d, host, tenant_domain);
            changed |= !owned;
            owned
        })
        .map(|(_, p)| p)
        .collect();
    changed.then(|| kept.join(";"))
}

/// Applies [`confine_domain`] to every Set-Cookie of a response.
pub fn confine_domains(headers: &mut dyn HeaderAccess, host: &str, tenant_domain: &str) {
    let cookies = headers.set_cookies();
    let confined: Vec<Option<String>> = cookies
        .iter()
        .map(|c| confine_domain(c, host, tenant_domain))
        .collect();
    if confined.iter().all(Option::is_none) {
        return;
    }
    headers.remove("set-cookie");
    for (orig, new) in cookies.iter().zip(confined) {
        headers.append("set-cookie", new.as_deref().unwrap_or(orig));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;
    use crate::request::testing::cx;

    #[test]
    fn rewrites_domain_and_keeps_everything_else() {
        let r = RewriteCookies {
            upstream_host: "origin.internal".into(),
        };
        let mut h = HeaderList::new();
        h.append(
            "set-cookie",
            "a=1; Domain=origin.internal; Path=/; HttpOnly",
        );
        h.append(
            "set-cookie",
            "b=2;domain=.ORIGIN.internal;Secure;SameSite=Lax",
        );
        h.append("set-cookie", "c=3; Domain=other.com; Path=/x");
        h.append("set-cookie", "d=x=y; Path=/");
        r.on_response(&cx(), &mut h);
        assert_eq!(
            h.set_cookies(),
            vec![
                "a=1; Domain=app.example.com; Path=/; HttpOnly",
                "b=2;domain=app.example.com;Secure;SameSite=Lax",
                "c=3; Domain=other.com; Path=/x",
                "d=x=y; Path=/",
            ]
        );
    }

    #[test]
    fn cookie_domains_stay_inside_the_tenants_hosts() {
        let c = |cookie, host, dom| confine_domain(cookie, host, dom);
        // Parent of an exact domain: shared with other tenants → host-only.
        assert_eq!(
            c(
                "s=1; Domain=example.com; Path=/",
                "shop.example.com",
                "shop.example.com"
            )
            .as_deref(),
            Some("s=1; Path=/")
        );
        assert_eq!(
            c(
                "s=1; Domain=.shop.example.com",
                "shop.example.com",
                "shop.example.com"
            ),
            None
        );
        assert_eq!(
            c(
                "s=1; domain=SHOP.example.com.",
                "shop.example.com",
                "shop.example.com"
            ),
            None
        );
        // Under a wildcard the tenant owns every name strictly below it.
        assert_eq!(c("s=1; Domain=b.w.test", "a.b.w.test", "*.w.test"), None);
        assert_eq!(
            c("s=1; Domain=w.test", "a.w.test", "*.w.test").as_deref(),
            Some("s=1")
        );
        assert_eq!(
            c("s=1; Domain=test; Secure", "a.w.test", "*.w.test").as_deref(),
            Some("s=1; Secure")
        );
        // A sibling the request host is not under is refused too.
        assert_eq!(
            c("s=1; Domain=x.w.test", "a.w.test", "*.w.test").as_deref(),
            Some("s=1")
        );
        assert_eq!(c("s=1; Path=/; HttpOnly", "a.w.test", "*.w.test"), None);
        let mut h = HeaderList::new();
        h.append("set-cookie", "a=1; Domain=example.com");
        h.append("set-cookie", "b=2; Path=/");
        confine_domains(&mut h, "shop.example.com", "shop.example.com");
        assert_eq!(h.set_cookies(), vec!["a=1", "b=2; Path=/"]);
    }

    #[test]
    fn untouched_when_nothing_matches() {
        let r = RewriteCookies {
            upstream_host: "origin.internal".into(),
        };
        let mut h = HeaderList::new().with("set-cookie", "a=1; Path=/");
        r.on_response(&cx(), &mut h);
        assert_eq!(h.set_cookies(), vec!["a=1; Path=/"]);
    }
}
