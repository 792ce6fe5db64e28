//! Plain-Rust views of HTTP messages: header access and responses Portico makes itself.

/// Header access the handlers work through: implemented over JS `Headers` in the
/// Worker and over [`HeaderList`] natively, so handler logic is tested with `cargo test`
/// and only the headers a handler touches cross the JS boundary.
pub trait HeaderAccess {
    /// The (combined) value of a header.
    fn get(&self, name: &str) -> Option<String>;
    /// Every `Set-Cookie` value, one per cookie.
    fn set_cookies(&self) -> Vec<String>;
    /// Replaces a header.
    fn set(&mut self, name: &str, value: &str);
    /// Adds a value to a header.
    fn append(&mut self, name: &str, value: &str);
    /// Removes a header.
    fn remove(&mut self, name: &str);
    /// Adds `token` to a comma-separated list header (`Vary`) unless it is there
    /// already (case-insensitive); a blank value is replaced.
    fn add_to_list(&mut self, name: &str, token: &str) {
        let current = self.get(name);
        if let Some(v) = list_with(current.as_deref(), token) {
            self.set(name, &v);
        }
    }
}

/// The list header value after adding `token`, or `None` when it holds it already.
pub fn list_with(current: Option<&str>, token: &str) -> Option<String> {
    match current {
        Some(v) if v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)) => None,
        Some(v) if !v.trim().is_empty() => Some(format!("{v}, {token}")),
        _ => Some(token.to_string()),
    }
}

/// An ordered header list with case-insensitive names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList(pub Vec<(String, String)>);

impl HeaderList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder-style `set`.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.set(name, value);
        self
    }
}

impl HeaderAccess for HeaderList {
    fn get(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(", "))
        }
    }

    fn set_cookies(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
    }

    fn append(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
    }

    fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }
}

/// A response Portico builds itself (static, redirect, preflight, auth challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderList,
    /// Body bytes (empty for none).
    pub body: String,
}

impl SimpleResponse {
    /// Whether the response goes out without a body: for `HEAD`, when empty, and
    /// for statuses that cannot carry one.
    pub fn has_no_body(&self, head: bool) -> bool {
        head || self.body.is_empty() || matches!(self.status, 101 | 204 | 205 | 304)
    }

    /// A response with no body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: HeaderList::new(),
            body: String::new(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: HeaderList::new().with("content-type", "text/plain; charset=utf-8"),
            body: body.into(),
        }
    }
}

/// Whether `name` is a valid header name (an RFC 9110 token).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` can be sent as a header value (no CR, LF or NUL).
pub fn is_header_value(value: &str) -> bool {
    !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}
