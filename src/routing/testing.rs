//! A plain request for route-selection tests: the one `RequestFacts` fixture.

use super::filters::RequestFacts;

/// Method, host, headers (lowercase names) and raw query of a test request.
pub(crate) struct Req {
    pub(crate) method: &'static str,
    pub(crate) host: &'static str,
    pub(crate) headers: Vec<(&'static str, &'static str)>,
    pub(crate) query: &'static str,
}

impl RequestFacts for Req {
    fn method(&self) -> &str {
        self.method
    }
    fn host(&self) -> &str {
        self.host
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
    fn query(&self) -> &str {
        self.query
    }
}

/// `GET` for `app.example.com`, without headers or query.
pub(crate) fn get() -> Req {
    Req {
        method: "GET",
        host: "app.example.com",
        headers: vec![],
        query: "",
    }
}
