//! The non-path parts of a route's `match`: methods, hosts, header and query regexes.

use crate::host::HostPattern;
use crate::percent::query_first;
use crate::routing::limits::{FilterBudget, FilterLimits};
use regex_lite::Regex;

/// What route filters need to know about a request.
pub trait RequestFacts {
    /// The request method as sent (`GET`, `PROPFIND`, ...).
    fn method(&self) -> &str;
    /// The normalised host.
    fn host(&self) -> &str;
    /// A request header's value (combined if repeated).
    fn header(&self, name: &str) -> Option<String>;
    /// The raw query string without `?` (empty when none).
    fn query(&self) -> &str;
    /// Bounds on the text filters may scan for this request.
    fn filter_limits(&self) -> FilterLimits {
        FilterLimits::default()
    }
}

/// The standard methods a route answers when `methods` is absent or empty.
pub const STANDARD_METHODS: [&str; 7] =
    ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

/// Methods a route answers; GET implies HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodSet {
    /// Bit i set = `STANDARD_METHODS[i]` allowed.
    standard: u8,
    /// Non-standard methods listed explicitly (exact, case-sensitive).
    extra: Vec<String>,
}

impl MethodSet {
    /// Every standard method.
    pub fn all() -> Self {
        Self {
            standard: 0x7f,
            extra: Vec::new(),
        }
    }

    /// Builds from configured names; unknown tokens become extra methods.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = Self {
            standard: 0,
            extra: Vec::new(),
        };
        for name in names {
            let upper = name.to_ascii_uppercase();
            match STANDARD_METHODS.iter().position(|m| *m == upper) {
                Some(i) => {
                    set.standard |= 1 << i;
                    if upper == "GET" {
                        set.standard |= 1 << 6;
                    }
                }
                None => set.extra.push(name.to_string()),
            }
        }
        if set.standard == 0 && set.extra.is_empty() {
            return Self::all();
        }
        set
    }

    /// Whether a request method is allowed.
    pub fn allows(&self, method: &str) -> bool {
        match STANDARD_METHODS.iter().position(|m| *m == method) {
            Some(i) => self.standard & (1 << i) != 0,
            None => self.extra.iter().any(|m| m == method),
        }
    }
}

/// A compiled route `match` without its path.
#[derive(Debug, Clone)]
pub struct MatchSpec {
    /// Allowed methods.
    pub methods: MethodSet,
    /// Host rules; empty = any host that resolved to this config.
    pub hosts: Vec<HostPattern>,
    /// Header name (lowercase) → regex; the header must be present.
    pub headers: Vec<(String, Regex)>,
    /// Query parameter → regex on its first value; the parameter must be present.
    pub query: Vec<(String, Regex)>,
}

impl Default for MatchSpec {
    fn default() -> Self {
        Self {
            methods: MethodSet::all(),
            hosts: Vec::new(),
            headers: Vec::new(),
            query: Vec::new(),
        }
    }
}

impl MatchSpec {
    /// Whether everything but the path matches; regexes run within `budget`.
    pub fn matches(&self, req: &dyn RequestFacts, budget: &mut FilterBudget) -> bool {
        if !self.methods.allows(req.method()) {
            return false;
        }
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| h.matches(req.host())) {
            return false;
        }
        for (name, re) in &self.headers {
            match req.header(name) {
                Some(v) if budget.is_match(re, &v) => {}
                _ => return false,
            }
        }
        for (name, re) in &self.query {
            match query_first(req.query(), name) {
                Some(v) if budget.is_match(re, &v) => {}
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::testing::Req;

    fn req(method: &'static str) -> Req {
        Req {
            method,
            host: "a.example.com",
            headers: vec![("x-env", "prod-eu")],
            query: "v=2&v=3",
        }
    }

    #[test]
    fn methods_default_to_standard_and_get_implies_head() {
        let all = MethodSet::all();
        for m in STANDARD_METHODS {
            assert!(all.allows(m));
        }
        assert!(!all.allows("PROPFIND"));
        let get = MethodSet::from_names(["get"]);
        assert!(get.allows("GET") && get.allows("HEAD") && !get.allows("POST"));
        let custom = MethodSet::from_names(["PROPFIND"]);
        assert!(custom.allows("PROPFIND") && !custom.allows("GET"));
        assert_eq!(MethodSet::from_names([]), MethodSet::all());
    }

    #[test]
    fn filters_require_presence_and_regex_match() {
        let mut spec = MatchSpec::default();
        assert!(spec.matches(&req("GET"), &mut FilterBudget::new(FilterLimits::default())));
        spec.hosts = vec![HostPattern::parse("*.example.com").expect("valid")];
        assert!(spec.matches(&req("GET"), &mut FilterBudget::new(FilterLimits::default())));
        spec.headers = vec![("x-env".into(), Regex::new("^prod").expect("re"))];
        assert!(spec.matches(&req("GET"), &mut FilterBudget::new(FilterLimits::default())));
        spec.query = vec![("v".into(), Regex::new("^2$").expect("re"))];
        assert!(
            spec.matches(&req("GET"), &mut FilterBudget::new(FilterLimits::default())),
            "first query value counts"
        );
        spec.query = vec![("v".into(), Regex::new("^3$").expect("re"))];
        assert!(
            !spec.matches(&req("GET"), &mut FilterBudget::new(FilterLimits::default())),
            "only the first value counts"
        );
        spec.query.clear();
        spec.headers = vec![("x-missing".into(), Regex::new(".*").expect("re"))];
        assert!(
            !spec.matches(&req("GET"), &mut FilterBudget::new(FilterLimits::default())),
            "header must be present"
        );
        spec.headers.clear();
        spec.hosts = vec![HostPattern::parse("other.com").expect("valid")];
        assert!(!spec.matches(&req("GET"), &mut FilterBudget::new(FilterLimits::default())));
    }

    #[test]
    fn header_regex_is_unanchored() {
        let spec = MatchSpec {
            headers: vec![("x-env".into(), Regex::new("eu").expect("re"))],
            ..MatchSpec::default()
        };
        assert!(spec.matches(&req("GET"), &mut FilterBudget::new(FilterLimits::default())));
    }
}
