//! `cors`: answers preflights without calling upstream and stamps CORS headers on
//! responses for allowed origins.

use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::message::{is_header_name, HeaderAccess, SimpleResponse};
use crate::request::{Flow, RequestCx, RequestState};

/// An allowed origin rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginRule {
    Any,
    /// `scheme://host[:port]`, lowercased.
    Exact(String),
    /// `scheme://*.suffix[:port]`: holds (`scheme://`, `.suffix[:port]`).
    Wildcard(String, String),
}

/// Compiled `cors` options.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<OriginRule>,
    allow_credentials: bool,
    allow_headers: Option<String>,
    allow_methods: String,
    expose_headers: Option<String>,
    max_age: Option<i64>,
}

const DEFAULT_METHODS: &str = "GET, HEAD, PUT, POST, DELETE, PATCH";

impl Cors {
    /// Compiles options, recording every error.
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let origins = match f.string_list("origins", diags) {
            None => vec![OriginRule::Any],
            Some(list) => {
                if list.is_empty() {
                    diags.error(f.path_of("origins"), "must list at least one origin");
                }
                list.into_iter()
                    .filter_map(|(path, o)| match parse_origin_rule(o) {
                        Ok(rule) => Some(rule),
                        Err(msg) => {
                            diags.error(path, msg);
                            None
                        }
                    })
                    .collect()
            }
        };
        let allow_credentials = f.boolean("allow_credentials", false, diags);
        if allow_credentials && origins.contains(&OriginRule::Any) {
            diags.error(
                f.path_of("allow_credentials"),
                "cannot be true when origins allows \"*\"; list the origins instead",
            );
        }
        let allow_headers = header_list(f, "allow_headers", diags);
        let allow_methods =
            header_list(f, "allow_methods", diags).unwrap_or_else(|| DEFAULT_METHODS.to_string());
        let expose_headers = header_list(f, "expose_headers", diags);
        let max_age = f.integer("max_age", 0, 86_400 * 7, diags);
        (diags.len() == start).then_some(Self {
            origins,
            allow_credentials,
            allow_headers,
            allow_methods,
            expose_headers,
            max_age,
        })
    }

    fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins.iter().any(|rule| match rule {
            OriginRule::Any => true,
            OriginRule::Exact(o) => *o == origin,
            OriginRule::Wildcard(scheme, suffix) => origin
                .strip_prefix(scheme.as_str())
                .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                .is_some_and(|label| !label.is_empty() && !label.contains(['/', ':'])),
        })
    }

    fn any_origin(&self) -> bool {
        !self.allow_credentials && self.origins.contains(&OriginRule::Any)
    }

    fn stamp_origin(&self, origin: &str, headers: &mut dyn HeaderAccess) {
        if self.any_origin() {
            headers.set("access-control-allow-origin", "*");
        } else {
            headers.set("access-control-allow-origin", origin);
            headers.add_to_list("vary", "Origin");
        }
        if self.allow_credentials {
            headers.set("access-control-allow-credentials", "true");
        }
    }

    /// Preflights are answered here (204, upstream never called).
    pub fn on_request(
        &self,
        cx: &RequestCx<'_>,
        state: &mut RequestState,
        headers: &mut dyn HeaderAccess,
    ) -> Flow {
        state.origin = headers.get("origin");
        let Some(origin) = state.origin.as_deref() else {
            return Flow::Continue;
        };
        let requested_method = headers.get("access-control-request-method");
        if cx.method != "OPTIONS" || requested_method.is_none() {
            return Flow::Continue;
        }
        let mut res = SimpleResponse::empty(204);
        if self.allows(origin) {
            self.stamp_origin(origin, &mut res.headers);
            res.headers
                .set("access-control-allow-methods", &self.allow_methods);
            match &self.allow_headers {
                Some(h) => res.headers.set("access-control-allow-headers", h),
                None => {
                    // Nothing configured: allow what the browser asks for.
                    if let Some(req) = headers.get("access-control-request-headers") {
                        res.headers.set("access-control-allow-headers", &req);
                        res.headers
                            .add_to_list("vary", "Access-Control-Request-Headers");
                    }
                }
            }
            if let Some(age) = self.max_age {
                res.headers.set("access-control-max-age", &age.to_string());
            }
        }
        Flow::Respond(res)
    }

    /// Stamps allow/expose headers on the response for an allowed origin.
    pub fn on_response(&self, state: &RequestState, headers: &mut dyn HeaderAccess) {
        let Some(origin) = state.origin.as_deref() else {
            return;
        };
        if !self.allows(origin) {
            return;
        }
        self.stamp_origin(origin, headers);
        if let Some(expose) = &self.expose_headers {
            headers.set("access-control-expose-headers", expose);
        }
    }
}

fn header_list(f: &mut Fields<'_>, key: &'static str, diags: &mut Diagnostics) -> Option<String> {
    let list = f.string_list(key, diags)?;
    let mut names = Vec::with_capacity(list.len());
    for (path, name) in list {
        if name == "*" || is_header_name(name) {
            names.push(name);
        } else {
            diags.error(path, "must be a header or method name");
        }
    }
    Some(names.join(", "))
}

fn parse_origin_rule(raw: &str) -> Result<OriginRule, String> {
    if raw == "*" {
        return Ok(OriginRule::Any);
    }
    let lower = raw.to_ascii_lowercase();
    let Some((scheme, rest)) = crate::url::split_scheme(&lower) else {
        return Err("must be \"*\" or an origin like https://app.example.com".into());
    };
    let scheme = scheme.prefix();
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err("must be an origin (scheme://host[:port]) without a path".into());
    }
    if let Some(suffix) = rest.strip_prefix("*.") {
        if suffix.contains('*') || crate::host::normalize_host(suffix).is_err() {
            return Err("wildcard origin must look like https://*.example.com".into());
        }
        return Ok(OriginRule::Wildcard(
            scheme.to_string(),
            format!(".{suffix}"),
        ));
    }
    if rest.contains('*') || crate::host::normalize_host(rest).is_err() {
        return Err("must be \"*\" or an origin like https://app.example.com".into());
    }
    Ok(OriginRule::Exact(format!("{scheme}{rest}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;
    use crate::request::testing::cx;
    use serde_json::json;

    fn compile(v: serde_json::Value) -> Result<Cors, Vec<String>> {
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        let c = Cors::compile(&mut f, &mut d);
        f.finish(&mut d);
        match c {
            Some(c) if d.is_empty() => Ok(c),
            _ => Err(d.into_errors().0.into_iter().map(|e| e.path).collect()),
        }
    }

    fn preflight(c: &Cors, origin: &str) -> SimpleResponse {
        let mut cx = cx();
        cx.method = "OPTIONS";
        let mut h = HeaderList::new()
            .with("origin", origin)
            .with("access-control-request-method", "PUT")
            .with("access-control-request-headers", "x-a, x-b");
        match c.on_request(&cx, &mut RequestState::default(), &mut h) {
            Flow::Respond(r) => r,
            Flow::Continue | Flow::Fail(_) => panic!("preflight must be answered"),
        }
    }

    #[test]
    fn preflight_is_answered_without_upstream() {
        let c =
            compile(json!({ "origins": ["https://app.example.com"], "max_age": 600 })).expect("ok");
        let r = preflight(&c, "https://app.example.com");
        assert_eq!(r.status, 204);
        assert_eq!(
            r.headers.get("access-control-allow-origin").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            r.headers.get("access-control-allow-headers").as_deref(),
            Some("x-a, x-b")
        );
        assert_eq!(
            r.headers.get("access-control-allow-methods").as_deref(),
            Some(DEFAULT_METHODS)
        );
        assert_eq!(
            r.headers.get("access-control-max-age").as_deref(),
            Some("600")
        );
        assert!(r.headers.get("vary").expect("vary").contains("Origin"));
        let denied = preflight(&c, "https://evil.example");
        assert_eq!(denied.status, 204);
        assert_eq!(denied.headers.get("access-control-allow-origin"), None);
    }

    #[test]
    fn plain_options_without_request_method_passes_through() {
        let c = compile(json!({})).expect("ok");
        let mut cx = cx();
        cx.method = "OPTIONS";
        let mut h = HeaderList::new().with("origin", "https://a.com");
        assert!(matches!(
            c.on_request(&cx, &mut RequestState::default(), &mut h),
            Flow::Continue
        ));
    }

    #[test]
    fn response_gets_star_or_echo_with_vary() {
        let any = compile(json!({ "expose_headers": ["x-total"] })).expect("ok");
        let state = RequestState {
            origin: Some("https://x.com".into()),
            ..RequestState::default()
        };
        let mut h = HeaderList::new().with("vary", "Accept-Encoding");
        any.on_response(&state, &mut h);
        assert_eq!(h.get("access-control-allow-origin").as_deref(), Some("*"));
        assert_eq!(
            h.get("access-control-expose-headers").as_deref(),
            Some("x-total")
        );
        assert_eq!(h.get("vary").as_deref(), Some("Accept-Encoding"));

        let cred =
            compile(json!({ "origins": ["https://*.example.com"], "allow_credentials": true }))
                .expect("ok");
        let state = RequestState {
            origin: Some("https://a.b.example.com".into()),
            ..RequestState::default()
        };
        let mut h = HeaderList::new().with("vary", "Accept-Encoding");
        cred.on_response(&state, &mut h);
        assert_eq!(
            h.get("access-control-allow-origin").as_deref(),
            Some("https://a.b.example.com")
        );
        assert_eq!(
            h.get("access-control-allow-credentials").as_deref(),
            Some("true")
        );
        assert_eq!(h.get("vary").as_deref(), Some("Accept-Encoding, Origin"));

        for bad in [
            "https://example.com",
            "http://a.example.com",
            "https://a.example.com.evil.com",
            "https://evil.com/.example.com",
        ] {
            let state = RequestState {
                origin: Some(bad.into()),
                ..RequestState::default()
            };
            let mut h = HeaderList::new();
            cred.on_response(&state, &mut h);
            assert_eq!(h.get("access-control-allow-origin"), None, "{bad}");
        }
        let mut h = HeaderList::new();
        cred.on_response(&RequestState::default(), &mut h);
        assert!(h.0.is_empty(), "no Origin, no CORS headers");
    }

    #[test]
    fn invalid_options_are_refused_with_paths() {
        assert_eq!(
            compile(json!({ "allow_credentials": true })).err(),
            Some(vec!["o.allow_credentials".to_string()])
        );
        assert_eq!(
            compile(json!({ "origins": ["ftp://x.com", "https://ok.com", "https://a.com/path"] }))
                .err(),
            Some(vec!["o.origins[0]".to_string(), "o.origins[2]".to_string()])
        );
        assert_eq!(
            compile(json!({ "max_age": -1 })).err(),
            Some(vec!["o.max_age".to_string()])
        );
        assert_eq!(
            compile(json!({ "allow_headers": ["bad header"] })).err(),
            Some(vec!["o.allow_headers[0]".to_string()])
        );
        assert_eq!(
            compile(json!({ "origin": ["*"] })).err(),
            Some(vec!["o.origin".to_string()])
        );
    }
}
