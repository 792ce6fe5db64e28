//! `redirect`: answers with a redirect to another URL.

use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::message::{HeaderList, SimpleResponse};
use crate::request::RequestCx;
use crate::url::BaseUrl;

/// Compiled `redirect` options.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// `upstream_url` without its query and fragment.
    target: String,
    /// Target path is empty or `/`, so the request path may be carried over.
    target_has_path: bool,
    target_query: Option<String>,
    target_fragment: Option<String>,
    status: u16,
    preserve_path: bool,
    preserve_query: bool,
}

impl Redirect {
    /// Compiles `upstream_url`, `status`, `preserve_path`, `preserve_query`.
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let url = f.required_string("upstream_url", diags);
        let mut parsed = None;
        if let Some(u) = url {
            let (without_frag, fragment) = match u.split_once('#') {
                Some((a, b)) => (a, Some(b.to_string())),
                None => (u, None),
            };
            let (without_query, query) = match without_frag.split_once('?') {
                Some((a, b)) => (a, Some(b.to_string())),
                None => (without_frag, None),
            };
            match BaseUrl::parse(without_query) {
                // Keep the target path exactly as written (trailing slash included).
                Ok(base) => {
                    let path = crate::url::split_origin(without_query)
                        .map(|(_, p)| p.to_string())
                        .unwrap_or_default();
                    parsed = Some((base.origin, path, query, fragment));
                }
                Err(m) => diags.error(f.path_of("upstream_url"), m),
            }
        }
        let status = f.integer("status", 0, 999, diags).unwrap_or(302);
        if ![301, 302, 307, 308].contains(&status) {
            diags.error(f.path_of("status"), "must be one of 301, 302, 307, 308");
        }
        let preserve_path = f.boolean("preserve_path", true, diags);
        let preserve_query = f.boolean("preserve_query", true, diags);
        if diags.len() != start {
            return None;
        }
        let (origin, path, target_query, target_fragment) = parsed?;
        let target_has_path = !(path.is_empty() || path == "/");
        Some(Self {
            target: if target_has_path {
                format!("{origin}{path}")
            } else {
                origin
            },
            target_has_path,
            target_query,
            target_fragment,
            status: u16::try_from(status).unwrap_or(302),
            preserve_path,
            preserve_query,
        })
    }

    /// The Location for this request.
    pub fn location(&self, cx: &RequestCx<'_>) -> String {
        let mut loc = self.target.clone();
        if self.preserve_path && !self.target_has_path {
            loc.push_str(if cx.path.is_empty() { "/" } else { cx.path });
        } else if !self.target_has_path {
            loc.push('/');
        }
        match (
            &self.target_query,
            self.preserve_query && !cx.query.is_empty(),
        ) {
            (Some(q), _) => {
                loc.push('?');
                loc.push_str(q);
            }
            (None, true) => {
                loc.push('?');
                loc.push_str(cx.query);
            }
            (None, false) => {}
        }
        if let Some(frag) = &self.target_fragment {
            loc.push('#');
            loc.push_str(frag);
        }
        loc
    }

    /// Empty-bodied redirect with only `Location`.
    pub fn respond(&self, cx: &RequestCx<'_>) -> SimpleResponse {
        SimpleResponse {
            status: self.status,
            headers: HeaderList::new().with("location", &self.location(cx)),
            body: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderAccess;
    use crate::request::testing::cx;
    use serde_json::json;

    fn redirect(v: serde_json::Value) -> Option<Redirect> {
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        Redirect::compile(&mut f, &mut d)
    }

    #[test]
    fn carries_path_and_query_only_when_target_has_none() {
        let cases = [
            (
                json!({ "upstream_url": "https://new.example.com" }),
                "https://new.example.com/a/b?x=1",
            ),
            (
                json!({ "upstream_url": "https://new.example.com/" }),
                "https://new.example.com/a/b?x=1",
            ),
            (
                json!({ "upstream_url": "https://new.example.com/landing" }),
                "https://new.example.com/landing?x=1",
            ),
            (
                json!({ "upstream_url": "https://new.example.com/?src=old" }),
                "https://new.example.com/a/b?src=old",
            ),
            (
                json!({ "upstream_url": "https://new.example.com", "preserve_path": false }),
                "https://new.example.com/?x=1",
            ),
            (
                json!({ "upstream_url": "https://new.example.com", "preserve_query": false }),
                "https://new.example.com/a/b",
            ),
            (
                json!({ "upstream_url": "https://n.com/p#frag" }),
                "https://n.com/p?x=1#frag",
            ),
            (
                json!({ "upstream_url": "https://n.com/dir/" }),
                "https://n.com/dir/?x=1",
            ),
        ];
        for (opts, want) in cases {
            let r = redirect(opts.clone()).expect("valid");
            let res = r.respond(&cx());
            assert_eq!(res.status, 302);
            assert_eq!(res.headers.get("location").as_deref(), Some(want), "{opts}");
            assert!(res.body.is_empty());
        }
    }

    #[test]
    fn status_must_be_a_redirect() {
        assert_eq!(
            redirect(json!({ "upstream_url": "https://a.com", "status": 308 })).map(|r| r.status),
            Some(308)
        );
        assert!(redirect(json!({ "upstream_url": "https://a.com", "status": 200 })).is_none());
        assert!(redirect(json!({ "upstream_url": "/relative" })).is_none());
    }
}
