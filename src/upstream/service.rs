//! `service_binding`: hands the request to another Worker bound in the environment.

use super::{options, Target, UpstreamCall};
use crate::chain::kind::HandlerKind;
use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::request::RequestCx;
use crate::url::BaseUrl;
use std::rc::Rc;

/// Compiled `service_binding` options.
#[derive(Debug, Clone)]
pub struct ServiceUpstream {
    /// Binding name.
    pub binding: Rc<str>,
    /// Parsed `upstream_url`.
    pub base: BaseUrl,
    preserve_host: bool,
    timeout_ms: u32,
}

impl ServiceUpstream {
    /// Compiles `binding`, `upstream_url`, `preserve_host` (true), `timeout_ms`.
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let binding = options::binding(f, diags);
        let base = match f.string("upstream_url", diags) {
            Some(u) => BaseUrl::parse(u)
                .map_err(|m| diags.error(f.path_of("upstream_url"), m))
                .ok(),
            None => binding.and_then(|b| {
                BaseUrl::parse(&format!(
                    "https://{}.binding.invalid/",
                    b.to_ascii_lowercase().replace('_', "-")
                ))
                .ok()
            }),
        };
        let preserve_host = f.boolean("preserve_host", true, diags);
        let timeout_ms = options::timeout_ms(f, diags);
        if diags.len() != start {
            return None;
        }
        Some(Self {
            binding: Rc::from(binding?),
            base: base?,
            preserve_host,
            timeout_ms,
        })
    }

    /// The upstream call for this request.
    pub fn plan(&self, cx: &RequestCx<'_>) -> UpstreamCall {
        UpstreamCall {
            handler: HandlerKind::ServiceBinding.as_str(),
            target: Target::Service {
                binding: self.binding.clone(),
            },
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
    fn defaults_to_binding_invalid_url_and_preserved_host() {
        let v = json!({ "binding": "EXAMPLE_SERVICE" });
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        let s = ServiceUpstream::compile(&mut f, &mut d).expect("valid");
        let call = s.plan(&cx());
        assert_eq!(call.url, "https://example-service.binding.invalid/a/b?x=1");
        assert_eq!(call.host_header.as_deref(), Some("app.example.com"));
        assert_eq!(
            call.target,
            Target::Service {
                binding: "EXAMPLE_SERVICE".into()
            }
        );
    }

    #[test]
    fn binding_is_required_and_checked() {
        for bad in [
            json!({}),
            json!({ "binding": "no-dashes" }),
            json!({ "binding": "B", "upstream_url": "nope" }),
        ] {
            let mut d = Diagnostics::new();
            let mut f = Fields::new(Some(&bad), "o", &mut d);
            assert!(ServiceUpstream::compile(&mut f, &mut d).is_none(), "{bad}");
        }
    }
}
