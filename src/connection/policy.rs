//! A connection's policy (DESIGN §7): what callers may do with the credential —
//! methods, path patterns in the route syntax of §3, which callers (`sub`) and a
//! scope they must hold — so an agent can be given `GET /calendar/v3/*` and no more.

use crate::config::diag::{field, Diagnostics};
use crate::config::fields::Fields;
use crate::config::ConfigError;
use crate::message::is_header_name;
use crate::routing::limits::{DEFAULT_REGEXES_PER_ROUTE, DEFAULT_REGEX_SIZE};
use crate::routing::table::TableRoute;
use crate::routing::{MatchSpec, PathPattern, RequestFacts, RouteTable};
use serde_json::{json, Map, Value};

/// Most methods one policy lists.
pub const MAX_METHODS: usize = 16;
/// Most path patterns one policy lists.
pub const MAX_PATHS: usize = 32;
/// Most subjects one policy lists.
pub const MAX_SUBJECTS: usize = 64;
/// Longest subject or scope accepted.
pub const MAX_NAME_BYTES: usize = 256;

/// A compiled policy. Each part absent = no narrowing on it.
#[derive(Debug)]
pub struct Policy {
    /// Upper-case method tokens (GET implies HEAD).
    methods: Option<Vec<String>>,
    /// Path patterns as written, and their index.
    paths: Option<(Vec<String>, RouteTable<()>)>,
    /// Allowed caller `sub` values.
    subjects: Option<Vec<String>>,
    /// A scope the caller's token must hold.
    required_scope: Option<String>,
}

/// Two policies are equal when their normalised sources are.
impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.methods == other.methods
            && self.paths.as_ref().map(|p| &p.0) == other.paths.as_ref().map(|p| &p.0)
            && self.subjects == other.subjects
            && self.required_scope == other.required_scope
    }
}

impl Eq for Policy {}

/// One call to check.
#[derive(Debug, Clone, Copy)]
pub struct PolicyCall<'a> {
    /// The request method as sent.
    pub method: &'a str,
    /// The canonical matching path (§3) under the connector's `base_url`, e.g.
    /// `/calendar/v3/events` (empty = `/`).
    pub path: &'a str,
    /// The caller's `sub`, if known.
    pub subject: Option<&'a str>,
    /// The caller's space-separated `scope` claim, if any.
    pub scopes: Option<&'a str>,
}

/// Why a policy refused a call (403 `policy_denied`; nothing is sent upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyDenied {
    /// The method is not listed.
    #[error("method not allowed by the connection policy")]
    Method,
    /// No path pattern matches.
    #[error("path not allowed by the connection policy")]
    Path,
    /// The caller's `sub` is absent or not listed.
    #[error("caller not allowed by the connection policy")]
    Subject,
    /// The caller lacks the required scope.
    #[error("caller lacks the scope the connection policy requires")]
    Scope,
}

impl PolicyDenied {
    /// The HTTP status of every refusal.
    pub fn status(self) -> u16 {
        403
    }

    /// The `x-portico-error` code of every refusal.
    pub fn code(self) -> &'static str {
        "policy_denied"
    }
}

/// A scope token (RFC 6749 §3.3: printable ASCII but space, `"` and `\`).
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_BYTES
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Route-table request facts for path-only matching: the policy checks the method
/// itself, so the table sees a standard method and no host, header or query.
struct PathOnly;

impl RequestFacts for PathOnly {
    fn method(&self) -> &str {
        "GET"
    }
    fn host(&self) -> &str {
        ""
    }
    fn header(&self, _: &str) -> Option<String> {
        None
    }
    fn query(&self) -> &str {
        ""
    }
}

/// A list key: `None` when absent, else its strings; an empty list or one longer
/// than `max` is an error (an empty list would read as "allow nothing" to some and
/// "no narrowing" to others, so it is refused; omit the key instead).
fn list<'a>(
    f: &mut Fields<'a>,
    key: &'static str,
    max: usize,
    diags: &mut Diagnostics,
) -> Option<Vec<(String, &'a str)>> {
    let items = f.string_list(key, diags)?;
    if items.is_empty() {
        diags.error(
            f.path_of(key),
            "must list at least one entry (omit it for no narrowing)",
        );
    } else if items.len() > max {
        diags.error(f.path_of(key), format!("must list at most {max} entries"));
    }
    Some(items)
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

fn compile_paths(
    items: Vec<(String, &str)>,
    list_path: &str,
    diags: &mut Diagnostics,
) -> Option<(Vec<String>, RouteTable<()>)> {
    let start = diags.len();
    let mut sources = Vec::with_capacity(items.len());
    let mut routes = Vec::with_capacity(items.len());
    let mut regexes = 0;
    for (p, source) in items {
        match PathPattern::parse_limited(source, DEFAULT_REGEX_SIZE) {
            Ok(pattern) => {
                regexes += pattern.constraint_count();
                if !sources.iter().any(|s| s == source) {
                    sources.push(source.to_string());
                    routes.push(TableRoute {
                        path: pattern,
                        spec: MatchSpec::default(),
                        payload: (),
                    });
                }
            }
            Err(m) => diags.error(p, m),
        }
    }
    if regexes > DEFAULT_REGEXES_PER_ROUTE {
        diags.error(
            list_path,
            format!(
                "has {regexes} path constraints; at most {DEFAULT_REGEXES_PER_ROUTE} are allowed"
            ),
        );
    }
    if diags.len() != start {
        return None;
    }
    match RouteTable::build(routes) {
        Ok(table) => Some((sources, table)),
        Err(e) => {
            diags.error(list_path, format!("cannot be indexed: {}", e.reason));
            None
        }
    }
}

impl Policy {
    /// Compiles a policy object at `path` (`{}` or null: no narrowing). Methods are
    /// upper-cased and, like subjects and paths, de-duplicated in order.
    pub fn compile(v: &Value, path: &str) -> Result<Self, Vec<ConfigError>> {
        let mut diags = Diagnostics::new();
        let mut f = Fields::new(Some(v), path, &mut diags);
        let methods = list(&mut f, "methods", MAX_METHODS, &mut diags).map(|items| {
            let mut out = Vec::with_capacity(items.len());
            for (p, m) in items {
                if is_header_name(m) {
                    push_unique(&mut out, m.to_ascii_uppercase());
                } else {
                    diags.error(p, "must be an HTTP method name");
                }
            }
            out
        });
        let paths = list(&mut f, "paths", MAX_PATHS, &mut diags)
            .and_then(|items| compile_paths(items, &field(path, "paths"), &mut diags));
        let subjects = list(&mut f, "subjects", MAX_SUBJECTS, &mut diags).map(|items| {
            let mut out = Vec::with_capacity(items.len());
            for (p, s) in items {
                if s.is_empty() || s.len() > MAX_NAME_BYTES || s.chars().any(char::is_control) {
                    diags.error(
                        p,
                        format!("must be 1 to {MAX_NAME_BYTES} bytes without control characters"),
                    );
                } else {
                    push_unique(&mut out, s.to_string());
                }
            }
            out
        });
        let required_scope = f.string("required_scope", &mut diags).and_then(|s| {
            if is_scope_token(s) {
                Some(s.to_string())
            } else {
                diags.error(
                    f.path_of("required_scope"),
                    format!("must be one scope token of at most {MAX_NAME_BYTES} bytes"),
                );
                None
            }
        });
        f.finish(&mut diags);
        if !diags.is_empty() {
            return Err(diags.into_errors().0);
        }
        Ok(Self {
            methods,
            paths,
            subjects,
            required_scope,
        })
    }

    /// The normalised source; [`Policy::compile`] reads it back to an equal policy.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(m) = &self.methods {
            out.insert("methods".into(), json!(m));
        }
        if let Some((sources, _)) = &self.paths {
            out.insert("paths".into(), json!(sources));
        }
        if let Some(s) = &self.subjects {
            out.insert("subjects".into(), json!(s));
        }
        if let Some(s) = &self.required_scope {
            out.insert("required_scope".into(), json!(s));
        }
        Value::Object(out)
    }

    /// Whether the policy lets `call` through; the first part that refuses, in the
    /// order method, path, subject, scope, says why.
    pub fn check(&self, call: &PolicyCall<'_>) -> Result<(), PolicyDenied> {
        if let Some(methods) = &self.methods {
            let allowed = |m: &str| methods.iter().any(|x| x.eq_ignore_ascii_case(m));
            let head_via_get = call.method.eq_ignore_ascii_case("HEAD") && allowed("GET");
            if !allowed(call.method) && !head_via_get {
                return Err(PolicyDenied::Method);
            }
        }
        if let Some((_, table)) = &self.paths {
            let path = if call.path.is_empty() { "/" } else { call.path };
            if table.select(path, &PathOnly).is_none() {
                return Err(PolicyDenied::Path);
            }
        }
        if let Some(subjects) = &self.subjects {
            if !call
                .subject
                .is_some_and(|s| subjects.iter().any(|x| x == s))
            {
                return Err(PolicyDenied::Subject);
            }
        }
        if let Some(scope) = &self.required_scope {
            let held = call
                .scopes
                .is_some_and(|s| s.split_ascii_whitespace().any(|x| x == scope));
            if !held {
                return Err(PolicyDenied::Scope);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(v: Value) -> Policy {
        Policy::compile(&v, "policy").expect("valid policy")
    }

    fn call<'a>(method: &'a str, path: &'a str) -> PolicyCall<'a> {
        PolicyCall {
            method,
            path,
            subject: None,
            scopes: None,
        }
    }

    #[test]
    fn agent_gets_calendar_reads_and_nothing_more() {
        let p = policy(json!({ "methods": ["get"], "paths": ["/calendar/v3/*"] }));
        assert_eq!(p.check(&call("GET", "/calendar/v3/events")), Ok(()));
        assert_eq!(p.check(&call("GET", "/calendar/v3/a/b/c")), Ok(()));
        assert_eq!(p.check(&call("HEAD", "/calendar/v3/events")), Ok(()));
        assert_eq!(
            p.check(&call("POST", "/calendar/v3/events")),
            Err(PolicyDenied::Method)
        );
        assert_eq!(
            p.check(&call("GET", "/gmail/v1/x")),
            Err(PolicyDenied::Path)
        );
        // As in route matching (§3), `/x/*` also matches `/x` and `/x/`; it never
        // matches a longer first segment.
        assert_eq!(p.check(&call("GET", "/calendar/v3")), Ok(()));
        assert_eq!(p.check(&call("GET", "/calendar/v3/")), Ok(()));
        assert_eq!(
            p.check(&call("GET", "/calendar/v3x")),
            Err(PolicyDenied::Path)
        );
        assert_eq!(
            p.check(&call("GET", "/Calendar/v3/events")),
            Err(PolicyDenied::Path)
        );
        assert_eq!(p.check(&call("GET", "")), Err(PolicyDenied::Path));
    }

    #[test]
    fn parameters_and_constraints_match_one_segment() {
        let p = policy(json!({ "paths": ["/users/:id/repos", "/post/:n{[0-9]+}", "/exact"] }));
        assert_eq!(p.check(&call("DELETE", "/users/42/repos")), Ok(()));
        assert_eq!(
            p.check(&call("GET", "/users/42/x/repos")),
            Err(PolicyDenied::Path)
        );
        assert_eq!(
            p.check(&call("GET", "/users//repos")),
            Err(PolicyDenied::Path)
        );
        assert_eq!(p.check(&call("GET", "/post/7")), Ok(()));
        assert_eq!(p.check(&call("GET", "/post/x7")), Err(PolicyDenied::Path));
        assert_eq!(p.check(&call("GET", "/exact")), Ok(()));
        assert_eq!(p.check(&call("GET", "/exact/")), Err(PolicyDenied::Path));
        // Matchit-style `{x}` is literal text in the route syntax.
        let literal = policy(json!({ "paths": ["/a/{x}"] }));
        assert_eq!(literal.check(&call("GET", "/a/{x}")), Ok(()));
        assert_eq!(literal.check(&call("GET", "/a/b")), Err(PolicyDenied::Path));
    }

    #[test]
    fn subjects_and_scope_need_a_caller_that_has_them() {
        let p = policy(json!({ "subjects": ["agent-7"], "required_scope": "calendar:read" }));
        let mut c = call("PATCH", "/anything");
        assert_eq!(p.check(&c), Err(PolicyDenied::Subject));
        c.subject = Some("agent-8");
        assert_eq!(p.check(&c), Err(PolicyDenied::Subject));
        c.subject = Some("agent-7");
        assert_eq!(p.check(&c), Err(PolicyDenied::Scope));
        c.scopes = Some("calendar:readx calendar:write");
        assert_eq!(p.check(&c), Err(PolicyDenied::Scope));
        c.scopes = Some("openid  calendar:read");
        assert_eq!(p.check(&c), Ok(()));
        assert_eq!(policy(json!({})).check(&call("PROPFIND", "/x")), Ok(()));
        assert_eq!(policy(Value::Null).check(&call("GET", "/")), Ok(()));
    }

    #[test]
    fn methods_are_tokens_compared_without_case() {
        let p = policy(json!({ "methods": ["post", "PROPFIND", "POST"] }));
        assert_eq!(p.to_json(), json!({ "methods": ["POST", "PROPFIND"] }));
        assert_eq!(p.check(&call("post", "/")), Ok(()));
        assert_eq!(p.check(&call("PROPFIND", "/")), Ok(()));
        assert_eq!(p.check(&call("HEAD", "/")), Err(PolicyDenied::Method));
        assert_eq!(p.check(&call("GET", "/")), Err(PolicyDenied::Method));
        assert_eq!(
            PolicyDenied::Method.to_string(),
            "method not allowed by the connection policy"
        );
        assert_eq!(PolicyDenied::Scope.code(), "policy_denied");
    }

    #[test]
    fn to_json_round_trips() {
        let src = json!({
            "methods": ["get", "GET", "Delete"],
            "paths": ["/a/*", "/b/:id", "/a/*"],
            "subjects": ["s1", "s2", "s1"],
            "required_scope": "x:y"
        });
        let p = policy(src);
        let normal = p.to_json();
        assert_eq!(
            normal,
            json!({
                "methods": ["GET", "DELETE"],
                "paths": ["/a/*", "/b/:id"],
                "subjects": ["s1", "s2"],
                "required_scope": "x:y"
            })
        );
        let again = policy(normal.clone());
        assert_eq!(again, p);
        assert_eq!(again.to_json(), normal);
        assert_eq!(policy(json!({})).to_json(), json!({}));
    }

    fn errors(v: Value) -> Vec<String> {
        let mut paths: Vec<String> = Policy::compile(&v, "policy")
            .expect_err("invalid")
            .into_iter()
            .map(|e| e.path)
            .collect();
        paths.sort();
        paths
    }

    #[test]
    fn refusals_name_their_field() {
        assert_eq!(errors(json!([])), vec!["policy"]);
        assert_eq!(errors(json!({ "method": ["GET"] })), vec!["policy.method"]);
        assert_eq!(errors(json!({ "methods": [] })), vec!["policy.methods"]);
        assert_eq!(errors(json!({ "methods": "GET" })), vec!["policy.methods"]);
        assert_eq!(
            errors(json!({ "methods": ["GE T", 1] })),
            vec!["policy.methods[0]", "policy.methods[1]"]
        );
        let many: Vec<String> = (0..17).map(|i| format!("M{i}")).collect();
        assert_eq!(errors(json!({ "methods": many })), vec!["policy.methods"]);
        assert_eq!(
            errors(json!({ "paths": ["nope", "/ok", "/a/:x/:x"] })),
            vec!["policy.paths[0]", "policy.paths[2]"]
        );
        let many: Vec<String> = (0..33).map(|i| format!("/p{i}")).collect();
        assert_eq!(errors(json!({ "paths": many })), vec!["policy.paths"]);
        let constrained: Vec<String> = (0..17).map(|i| format!("/c{i}/:n{{[0-9]+}}")).collect();
        assert_eq!(
            errors(json!({ "paths": constrained })),
            vec!["policy.paths"]
        );
        assert_eq!(
            errors(json!({ "paths": ["/:n{(a{1,100}){1,100}}"] })),
            vec!["policy.paths[0]"]
        );
        assert_eq!(
            errors(json!({ "subjects": ["", "a\nb", "x".repeat(257)] })).len(),
            3
        );
        let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
        assert_eq!(errors(json!({ "subjects": many })), vec!["policy.subjects"]);
        for bad in [
            json!(""),
            json!("a b"),
            json!("a\"b"),
            json!(7),
            json!("x".repeat(257)),
        ] {
            assert_eq!(
                errors(json!({ "required_scope": bad })),
                vec!["policy.required_scope"]
            );
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[/:*?{}a-z0-9\\[\\]+()|.]{0,12}".prop_map(Value::from),
            "\\PC{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            let key = prop_oneof![
                Just("methods".to_string()),
                Just("paths".to_string()),
                Just("subjects".to_string()),
                Just("required_scope".to_string()),
                "[a-z]{1,3}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(key, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn prop_compile_is_total_and_round_trips(v in json_value(), path in "[/a-z0-9{}]{0,12}") {
            if let Ok(p) = Policy::compile(&v, "policy") {
                let back = Policy::compile(&p.to_json(), "policy").expect("round trip");
                prop_assert_eq!(&back, &p);
                let _ = p.check(&call("GET", &path));
                let _ = p.check(&PolicyCall { method: "X", path: &path, subject: Some(""), scopes: Some("") });
            }
        }
    }
}
