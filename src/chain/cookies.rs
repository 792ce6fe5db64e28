//! `rewrite_cookies`: moves `Domain=<upstream>` in Set-Cookie to the request host.

use super::RequestCx;
use crate::message::HeaderAccess;

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
                    let lead = &part[..part.len() - trimmed.len()];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::testing::cx;
    use crate::message::HeaderList;

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
    fn untouched_when_nothing_matches() {
        let r = RewriteCookies {
            upstream_host: "origin.internal".into(),
        };
        let mut h = HeaderList::new().with("set-cookie", "a=1; Path=/");
        r.on_response(&cx(), &mut h);
        assert_eq!(h.set_cookies(), vec!["a=1; Path=/"]);
    }
}
