//! Matches a request to an operation of [`super::operations`]: a matchit index of the
//! templates (`{param}` and `{*rest}` syntax), then the method, so a path served
//! under other methods answers 405 with `Allow`.

use super::operations::{OpSpec, OPERATIONS};
use crate::percent::decode_path;
use std::sync::OnceLock;

/// Why a request matched no operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpMatchError {
    /// No template matches the path.
    NotFound,
    /// The path exists with other methods (the `Allow` value).
    MethodNotAllowed(String),
    /// The operation table itself did not index (a bug the router tests catch;
    /// answered as a 500 rather than a panic).
    TableInvalid,
}

/// A matched operation with its path parameters.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The operation's facts.
    pub spec: &'static OpSpec,
    /// `(name, value)` per template parameter, in template order.
    pub params: Vec<(&'static str, String)>,
}

impl Matched {
    /// A path parameter.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// The operations served at one template, in table order (which is `Allow` order).
#[derive(Debug)]
struct PathOps {
    /// Parameter names of the template, in order, and whether each is a catch-all.
    params: Vec<(&'static str, bool)>,
    ops: Vec<&'static OpSpec>,
}

/// An operation table indexed by path: one matchit entry per template, holding
/// every operation served there, so a path known under other methods answers 405.
#[derive(Debug)]
pub struct OpTable {
    router: matchit::Router<usize>,
    paths: Vec<PathOps>,
}

/// `{name}` / `{*name}` segments of a template, in order.
fn template_params(template: &'static str) -> Vec<(&'static str, bool)> {
    template
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| match name.strip_prefix('*') {
            Some(rest) => (rest, true),
            None => (name, false),
        })
        .collect()
}

impl OpTable {
    /// Indexes `specs` (any table, e.g. a test's). Fails where matchit refuses a
    /// template: bad syntax, or two templates that would match the same paths.
    pub fn new(specs: &'static [OpSpec]) -> Result<Self, matchit::InsertError> {
        let mut router = matchit::Router::new();
        let mut paths: Vec<PathOps> = Vec::new();
        let mut templates: Vec<&'static str> = Vec::new();
        for spec in specs {
            match templates.iter().position(|t| *t == spec.template) {
                Some(i) => paths[i].ops.push(spec),
                None => {
                    router.insert(spec.template, paths.len())?;
                    templates.push(spec.template);
                    paths.push(PathOps {
                        params: template_params(spec.template),
                        ops: vec![spec],
                    });
                }
            }
        }
        Ok(Self { router, paths })
    }

    /// Finds the operation for `method` and `path` (the part after `/api/v1`; one
    /// trailing slash is ignored).
    pub fn at(&self, method: &str, path: &str) -> Result<Matched, OpMatchError> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let found = self.router.at(path).map_err(|_| OpMatchError::NotFound)?;
        let at = self.paths.get(*found.value).ok_or(OpMatchError::NotFound)?;
        let mut params = Vec::with_capacity(at.params.len());
        for ((name, catch_all), (_, raw)) in at.params.iter().zip(found.params.iter()) {
            // A catch-all is forwarded, so it keeps its encoding (`%2F` stays
            // distinct from `/`); a parameter names one thing and is decoded.
            let value = if *catch_all {
                raw.to_string()
            } else {
                decode_path(raw)
                    .filter(|v| !v.is_empty() && !v.contains('/'))
                    .ok_or(OpMatchError::NotFound)?
            };
            params.push((*name, value));
        }
        match at.ops.iter().find(|s| s.method.accepts(method)) {
            Some(spec) => Ok(Matched { spec, params }),
            None => {
                let mut allow: Vec<&str> = Vec::new();
                for s in &at.ops {
                    if !allow.contains(&s.method.as_str()) {
                        allow.push(s.method.as_str());
                    }
                }
                Err(OpMatchError::MethodNotAllowed(allow.join(", ")))
            }
        }
    }
}

/// Finds the operation for `method` and `path` in [`OPERATIONS`].
pub fn route(method: &str, path: &str) -> Result<Matched, OpMatchError> {
    static TABLE: OnceLock<Option<OpTable>> = OnceLock::new();
    TABLE
        .get_or_init(|| OpTable::new(&OPERATIONS).ok())
        .as_ref()
        .ok_or(OpMatchError::TableInvalid)?
        .at(method, path)
}

#[cfg(test)]
mod tests;
