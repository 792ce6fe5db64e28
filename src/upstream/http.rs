//! `http`: proxies to an HTTP(S) origin.

use super::options::timeout_ms;
use super::{Target, UpstreamCall};
use crate::chain::kind::HandlerKind;
use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::request::RequestCx;
use crate::url::BaseUrl;

/// Compiled `http` options.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    /// Parsed `upstream_url`.
    pub base: BaseUrl,
    preserve_host: bool,
    timeout_ms: u32,
}

impl HttpUpstream {
    /// Compiles `upstream_url`, `preserve_host`, `timeout_ms`.
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let base = f.required_string("upstream_url", diags).and_then(|u| {
            BaseUrl::parse(u)
                .map_err(|m| diags.error(f.path_of("upstream_url"), m))
                .ok()
        });
        let preserve_host = f.boolean("preserve_host", false, diags);
        let timeout_ms = timeout_ms(f, diags);
        if diags.len() != start {
            return None;
        }
        Some(Self {
            base: base?,
            preserve_host,
            timeout_ms,
        })
    }

    /// The upstream call for this request.
    pub fn plan(&self, cx: &RequestCx<'_>) -> UpstreamCall {
        UpstreamCall {
            handler: HandlerKind::Http.as_str(),
            target: Target::Fetch,
            url: self.base.join(cx.path, cx.query),
            host_header: self.preserve_host.then(|| cx.authority.to_string()),
            timeout_ms: self.timeout_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::cx;
    use serde_json::json;

    #[test]
    fn plans_url_host_and_timeout() {
        let v = json!({ "upstream_url": "http://127.0.0.1:9001/base/", "preserve_host": true, "timeout_ms": 1500 });
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        let h = HttpUpstream::compile(&mut f, &mut d).expect("valid");
        let call = h.plan(&cx());
        assert_eq!(call.url, "http://127.0.0.1:9001/base/a/b?x=1");
        assert_eq!(call.host_header.as_deref(), Some("app.example.com"));
        assert_eq!(call.timeout_ms, 1500);
        assert_eq!(call.target, Target::Fetch);
    }

    #[test]
    fn defaults_and_errors() {
        let v = json!({ "upstream_url": "https://o.example.com" });
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        let h = HttpUpstream::compile(&mut f, &mut d).expect("valid");
        let call = h.plan(&cx());
        assert_eq!(call.host_header, None);
        assert_eq!(call.timeout_ms, 30_000);
        for bad in [
            json!({}),
            json!({ "upstream_url": "ftp://x" }),
            json!({ "upstream_url": "https://x.com", "timeout_ms": 0 }),
        ] {
            let mut d = Diagnostics::new();
            let mut f = Fields::new(Some(&bad), "o", &mut d);
            assert!(HttpUpstream::compile(&mut f, &mut d).is_none(), "{bad}");
        }
    }
}
