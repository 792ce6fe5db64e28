//! `rewrite_location`: on 3xx, moves an absolute Location on the upstream origin to
//! the request origin, keeping path, query and fragment.

use crate::message::HeaderAccess;
use crate::request::RequestCx;
use crate::url::split_origin;

/// Compiled `rewrite_location` options.
#[derive(Debug, Clone)]
pub struct RewriteLocation {
    /// Normalised upstream origin (`scheme://host[:port]`, default port dropped).
    pub upstream_origin: String,
}

impl RewriteLocation {
    /// Rewrites `Location` on redirects.
    pub fn on_response(&self, cx: &RequestCx<'_>, status: u16, headers: &mut dyn HeaderAccess) {
        if !(300..400).contains(&status) {
            return;
        }
        let Some(location) = headers.get("location") else {
            return;
        };
        let Some((origin, rest)) = split_origin(&location) else {
            return;
        };
        if origin == self.upstream_origin {
            let rest = if rest.is_empty() { "/" } else { rest };
            headers.set(
                "location",
                &format!("{}://{}{rest}", cx.scheme, cx.authority),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;
    use crate::request::testing::cx;

    #[test]
    fn moves_upstream_redirects_to_request_origin() {
        let r = RewriteLocation {
            upstream_origin: "http://127.0.0.1:9001".into(),
        };
        let cases = [
            (
                302,
                "http://127.0.0.1:9001/login?next=/a#top",
                Some("https://app.example.com/login?next=/a#top"),
            ),
            (
                301,
                "HTTP://127.0.0.1:9001",
                Some("https://app.example.com/"),
            ),
            (302, "http://127.0.0.1:9002/x", None),
            (302, "/relative", None),
            (200, "http://127.0.0.1:9001/x", None),
        ];
        for (status, loc, want) in cases {
            let mut h = HeaderList::new().with("location", loc);
            r.on_response(&cx(), status, &mut h);
            assert_eq!(
                h.get("location").as_deref(),
                Some(want.unwrap_or(loc)),
                "{status} {loc}"
            );
        }
    }

    #[test]
    fn origins_normalise_default_ports() {
        assert_eq!(
            split_origin("https://A.com:443/x").map(|o| o.0),
            Some("https://a.com".into())
        );
        assert_eq!(
            split_origin("http://a.com:8080?q").map(|o| o.0),
            Some("http://a.com:8080".into())
        );
        assert_eq!(split_origin("ftp://a.com"), None);
        assert_eq!(split_origin("http://user@a.com/"), None);
    }
}
