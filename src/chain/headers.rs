//! `headers`: removes, then sets, request and response headers.

use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::message::{is_header_name, is_header_value, HeaderAccess};

/// Compiled `headers` options.
#[derive(Debug, Clone, Default)]
pub struct HeaderEdits {
    request_remove: Vec<String>,
    request_set: Vec<(String, String)>,
    response_remove: Vec<String>,
    response_set: Vec<(String, String)>,
}

fn names(f: &mut Fields<'_>, key: &'static str, diags: &mut Diagnostics) -> Vec<String> {
    let mut out = Vec::new();
    for (path, name) in f.string_list(key, diags).unwrap_or_default() {
        if is_header_name(name) {
            out.push(name.to_ascii_lowercase());
        } else {
            diags.error(path, "must be a valid header name");
        }
    }
    out
}

fn pairs(f: &mut Fields<'_>, key: &'static str, diags: &mut Diagnostics) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, name, value) in f.string_map(key, diags).unwrap_or_default() {
        if !is_header_name(name) {
            diags.error(path, "is not a valid header name");
        } else if !is_header_value(value) {
            diags.error(path, "value must not contain line breaks or NUL");
        } else {
            out.push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
    out
}

impl HeaderEdits {
    /// Compiles `request`, `response`, `remove_request`, `remove_response`.
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let edits = Self {
            request_set: pairs(f, "request", diags),
            response_set: pairs(f, "response", diags),
            request_remove: names(f, "remove_request", diags),
            response_remove: names(f, "remove_response", diags),
        };
        (diags.len() == start).then_some(edits)
    }

    fn apply(remove: &[String], set: &[(String, String)], headers: &mut dyn HeaderAccess) {
        for name in remove {
            headers.remove(name);
        }
        for (name, value) in set {
            headers.set(name, value);
        }
    }

    /// Edits the upstream request.
    pub fn on_request(&self, headers: &mut dyn HeaderAccess) {
        Self::apply(&self.request_remove, &self.request_set, headers);
    }

    /// Edits the response.
    pub fn on_response(&self, headers: &mut dyn HeaderAccess) {
        Self::apply(&self.response_remove, &self.response_set, headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;
    use serde_json::json;

    #[test]
    fn removals_then_sets() {
        let v = json!({
            "request": { "X-Env": "prod" },
            "remove_request": ["x-env", "cookie"],
            "response": { "x-served-by": "portico" },
            "remove_response": ["server"]
        });
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        let e = HeaderEdits::compile(&mut f, &mut d).expect("valid");
        f.finish(&mut d);
        assert!(d.is_empty());
        let mut req = HeaderList::new().with("x-env", "dev").with("cookie", "a=1");
        e.on_request(&mut req);
        assert_eq!(
            req.get("x-env").as_deref(),
            Some("prod"),
            "set after remove wins"
        );
        assert_eq!(req.get("cookie"), None);
        let mut res = HeaderList::new().with("server", "nginx");
        e.on_response(&mut res);
        assert_eq!(res.get("server"), None);
        assert_eq!(res.get("x-served-by").as_deref(), Some("portico"));
    }

    #[test]
    fn invalid_names_and_values_have_paths() {
        let v = json!({ "request": { "bad name": "x", "ok": "a\r\nb", "n": 1 }, "remove_response": ["a b"] });
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        assert!(HeaderEdits::compile(&mut f, &mut d).is_none());
        let mut paths: Vec<_> = d.into_errors().0.into_iter().map(|e| e.path).collect();
        paths.sort();
        assert_eq!(
            paths,
            vec![
                "o.remove_response[0]",
                "o.request.bad name",
                "o.request.n",
                "o.request.ok"
            ]
        );
    }
}
