//! `static`: answers with a fixed status, headers and body (or JSON).

use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::message::{is_header_name, is_header_value, HeaderAccess, HeaderList, SimpleResponse};

/// Compiled `static` options.
#[derive(Debug, Clone)]
pub struct StaticResponse {
    response: SimpleResponse,
}

impl StaticResponse {
    /// Compiles `status`, `headers`, `body`, `json` (json wins and sets content-type).
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let status = f.integer("status", 200, 599, diags).unwrap_or(200);
        let mut headers = HeaderList::new();
        for (path, name, value) in f.string_map("headers", diags).unwrap_or_default() {
            if !is_header_name(name) {
                diags.error(path, "is not a valid header name");
            } else if !is_header_value(value) {
                diags.error(path, "value must not contain line breaks or NUL");
            } else {
                headers.append(name, value);
            }
        }
        let body_text = f.string("body", diags);
        let body = match f.raw("json") {
            Some(json) => {
                headers.set("content-type", "application/json");
                json.to_string()
            }
            None => {
                if body_text.is_some() && headers.get("content-type").is_none() {
                    headers.set("content-type", "text/plain; charset=utf-8");
                }
                body_text.unwrap_or_default().to_string()
            }
        };
        (diags.len() == start).then(|| Self {
            response: SimpleResponse {
                status: u16::try_from(status).unwrap_or(200),
                headers,
                body,
            },
        })
    }

    /// The configured response.
    pub fn respond(&self) -> SimpleResponse {
        self.response.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(v: serde_json::Value) -> Option<StaticResponse> {
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        StaticResponse::compile(&mut f, &mut d)
    }

    #[test]
    fn json_wins_over_body() {
        let s = compile(json!({ "status": 201, "body": "ignored", "json": { "ok": true }, "headers": { "x-a": "1" } })).expect("valid");
        let r = s.respond();
        assert_eq!(r.status, 201);
        assert_eq!(r.body, r#"{"ok":true}"#);
        assert_eq!(
            r.headers.get("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(r.headers.get("x-a").as_deref(), Some("1"));
    }

    #[test]
    fn body_and_defaults() {
        let r = compile(json!({ "body": "hi" })).expect("valid").respond();
        assert_eq!((r.status, r.body.as_str()), (200, "hi"));
        assert_eq!(
            r.headers.get("content-type").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        let r = compile(json!({})).expect("valid").respond();
        assert_eq!((r.status, r.body.as_str()), (200, ""));
        assert!(compile(json!({ "status": 99 })).is_none());
        assert!(compile(json!({ "status": 600 })).is_none());
        assert!(compile(json!({ "headers": { "a b": "x" } })).is_none());
    }
}
