//! `dispatch_namespace`: runs a per-tenant Worker from a Workers for Platforms
//! namespace, with the script name built from a template.

use super::{options, Target, UpstreamCall};
use crate::chain::kind::HandlerKind;
use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::error::ProxyError;
use crate::request::RequestCx;
use std::rc::Rc;

/// One piece of a script-name template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    TenantId,
    CustomDomainId,
    Domain,
    Host,
}

/// Compiled `dispatch_namespace` options.
#[derive(Debug, Clone)]
pub struct DispatchUpstream {
    binding: Rc<str>,
    template: Vec<Part>,
    cpu_ms: Option<i64>,
    subrequests: Option<i64>,
    timeout_ms: u32,
}

fn is_script_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

fn parse_template(raw: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let (name, tail) = after.split_once('}').ok_or("has an unclosed '{'")?;
            parts.push(match name {
                "tenant_id" => Part::TenantId,
                "custom_domain_id" => Part::CustomDomainId,
                "domain" => Part::Domain,
                "host" => Part::Host,
                other => {
                    return Err(format!(
                        "unknown placeholder '{{{other}}}' (use tenant_id, custom_domain_id, domain or host)"
                    ))
                }
            });
            rest = tail;
        } else {
            let (lit, tail) = rest.split_at(rest.find('{').unwrap_or(rest.len()));
            if !lit.chars().all(is_script_char) {
                return Err("literal parts may use only a-z, 0-9, '.', '_' and '-'".into());
            }
            parts.push(Part::Literal(lit.to_string()));
            rest = tail;
        }
    }
    if parts.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(parts)
}

impl DispatchUpstream {
    /// Binding name of the namespace.
    pub fn binding(&self) -> &str {
        &self.binding
    }

    /// Compiles `binding`, `script_name`, `cpu_ms`, `subrequests`, `timeout_ms`.
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let binding = options::binding(f, diags);
        let template = f.required_string("script_name", diags).and_then(|t| {
            parse_template(t)
                .map_err(|m| diags.error(f.path_of("script_name"), m))
                .ok()
        });
        let cpu_ms = f.integer("cpu_ms", 1, 300_000, diags);
        let subrequests = f.integer("subrequests", 1, 100_000, diags);
        let timeout_ms = options::timeout_ms(f, diags);
        if diags.len() != start {
            return None;
        }
        Some(Self {
            binding: Rc::from(binding?),
            template: template?,
            cpu_ms,
            subrequests,
            timeout_ms,
        })
    }

    /// Resolves the script name; substituted values must be `[a-z0-9._-]`.
    pub fn script_name(&self, cx: &RequestCx<'_>) -> Result<String, ProxyError> {
        let mut out = String::new();
        for part in &self.template {
            let (name, value) = match part {
                Part::Literal(s) => {
                    out.push_str(s);
                    continue;
                }
                Part::TenantId => ("tenant_id", Some(cx.tenant_id)),
                Part::CustomDomainId => ("custom_domain_id", cx.custom_domain_id),
                Part::Domain => ("domain", Some(cx.domain)),
                Part::Host => ("host", Some(cx.host)),
            };
            let value = value.filter(|v| !v.is_empty()).ok_or_else(|| {
                ProxyError::HandlerMisconfigured {
                    handler: HandlerKind::DispatchNamespace.as_str(),
                    detail: format!("placeholder {{{name}}} has no value for this request"),
                }
            })?;
            if !value.chars().all(is_script_char) {
                return Err(ProxyError::HandlerMisconfigured {
                    handler: HandlerKind::DispatchNamespace.as_str(),
                    detail: format!("placeholder {{{name}}} has characters outside [a-z0-9._-]"),
                });
            }
            out.push_str(value);
        }
        Ok(out)
    }

    /// The upstream call for this request.
    pub fn plan(&self, cx: &RequestCx<'_>) -> Result<UpstreamCall, ProxyError> {
        Ok(UpstreamCall {
            handler: HandlerKind::DispatchNamespace.as_str(),
            target: Target::Dispatch {
                binding: self.binding.clone(),
                script: self.script_name(cx)?,
                cpu_ms: self.cpu_ms,
                subrequests: self.subrequests,
            },
            url: cx.url.to_string(),
            host_header: None,
            timeout_ms: self.timeout_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::cx;
    use serde_json::json;

    fn compile(v: serde_json::Value) -> Result<DispatchUpstream, Vec<String>> {
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        let r = DispatchUpstream::compile(&mut f, &mut d);
        f.finish(&mut d);
        match r {
            Some(r) if d.is_empty() => Ok(r),
            _ => Err(d.into_errors().0.into_iter().map(|e| e.path).collect()),
        }
    }

    #[test]
    fn resolves_every_placeholder() {
        let t = compile(json!({ "binding": "DISPATCHER", "script_name": "t-{tenant_id}-{custom_domain_id}-{domain}-{host}", "cpu_ms": 50, "subrequests": 5 })).expect("valid");
        let call = t.plan(&cx()).expect("plan");
        assert_eq!(
            call.target,
            Target::Dispatch {
                binding: "DISPATCHER".into(),
                script: "t-acme-dom_1-app.example.com-app.example.com".into(),
                cpu_ms: Some(50),
                subrequests: Some(5),
            }
        );
        assert_eq!(call.url, cx().url);
    }

    #[test]
    fn unresolvable_values_are_500() {
        let t =
            compile(json!({ "binding": "D", "script_name": "{custom_domain_id}" })).expect("valid");
        let mut c = cx();
        c.custom_domain_id = None;
        let err = t.plan(&c).expect_err("no custom domain id");
        assert_eq!(err.status(), 500);
        let t = compile(json!({ "binding": "D", "script_name": "{tenant_id}" })).expect("valid");
        let mut c = cx();
        c.tenant_id = "Acme/../x";
        assert_eq!(t.plan(&c).expect_err("bad chars").status(), 500);
    }

    #[test]
    fn template_errors_name_the_field() {
        assert_eq!(
            compile(json!({ "binding": "D", "script_name": "{nope}" })).err(),
            Some(vec!["o.script_name".to_string()])
        );
        assert_eq!(
            compile(json!({ "binding": "D", "script_name": "Upper" })).err(),
            Some(vec!["o.script_name".to_string()])
        );
        assert_eq!(
            compile(json!({ "binding": "D", "script_name": "{tenant_id" })).err(),
            Some(vec!["o.script_name".to_string()])
        );
        assert_eq!(
            compile(json!({ "script_name": "x" })).err(),
            Some(vec!["o.binding".to_string()])
        );
        assert_eq!(
            compile(json!({ "binding": "D", "script_name": "x", "cpu_ms": 0 })).err(),
            Some(vec!["o.cpu_ms".to_string()])
        );
    }
}
