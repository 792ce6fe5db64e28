//! A route: `{ id, priority, match, handlers }` compiled into a table entry.

use super::diag::{field, Diagnostics};
use super::fields::Fields;
use crate::chain::compile::compile_chain;
use crate::chain::Chain;
use crate::config::bindings::Bindings;
use crate::host::HostPattern;
use crate::message::is_header_name;
use crate::routing::limits::{build_regex, RouteLimits};
use crate::routing::table::TableRoute;
use crate::routing::{MatchSpec, MethodSet, PathPattern};
use regex_lite::Regex;
use serde_json::Value;

/// Default route priority (lower runs first).
pub const DEFAULT_PRIORITY: i64 = 100;

/// A compiled route, before it goes into the host's table.
#[derive(Debug)]
pub struct Route {
    /// Route id, when the source has one.
    pub id: String,
    /// Priority (lower first).
    pub priority: i64,
    /// Creation time (ISO 8601), used to break priority ties.
    pub created_at: String,
    /// The handlers.
    pub chain: Chain,
}

/// Compiles one route object at `path`.
pub fn compile_route(
    value: &Value,
    path: &str,
    bindings: Option<&dyn Bindings>,
    limits: &RouteLimits,
    diags: &mut Diagnostics,
) -> Option<TableRoute<Route>> {
    let start = diags.len();
    let mut f = Fields::new(Some(value), path, diags);
    let id = f.string("id", diags).unwrap_or_default().to_string();
    let priority = f
        .integer("priority", -1_000_000, 1_000_000, diags)
        .unwrap_or(DEFAULT_PRIORITY);
    let created_at = f
        .string("created_at", diags)
        .unwrap_or_default()
        .to_string();
    // Accepted so that a stored route can be written back unchanged.
    let _ = (
        f.raw("tenant_id"),
        f.raw("custom_domain_id"),
        f.raw("updated_at"),
    );
    let match_value = f.raw("match");
    let handlers = f.raw("handlers");
    f.finish(diags);
    let m = compile_match(match_value, &field(path, "match"), limits, diags);
    let counter_id = counter_route_id(&id, match_value);
    let chain = compile_chain(
        handlers,
        &field(path, "handlers"),
        &counter_id,
        bindings,
        diags,
    );
    if diags.len() != start {
        return None;
    }
    let (path_pattern, spec) = m?;
    Some(TableRoute {
        path: path_pattern,
        spec,
        payload: Route {
            id,
            priority,
            created_at,
            chain: chain?,
        },
    })
}

/// How `rate_limit` counter keys name a route: its id, or — for a static route
/// written without one — `#` and a digest of its `match` object (keys sorted), so
/// the name survives reordering the document (two id-less routes with the very
/// same `match` share it; both belong to one tenant).
fn counter_route_id(id: &str, match_value: Option<&Value>) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    if !id.is_empty() {
        return id.to_string();
    }
    let spec = match_value.map(Value::to_string).unwrap_or_default();
    let digest = sha2::Sha256::digest(spec.as_bytes());
    format!(
        "#{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
    )
}

fn compile_regex(
    path: String,
    source: &str,
    limits: &RouteLimits,
    diags: &mut Diagnostics,
) -> Option<Regex> {
    match build_regex(source, limits.regex_size) {
        Ok(re) => Some(re),
        Err(e) => {
            diags.error(path, e);
            None
        }
    }
}

/// Compiles a route's `match` object.
pub fn compile_match(
    value: Option<&Value>,
    path: &str,
    limits: &RouteLimits,
    diags: &mut Diagnostics,
) -> Option<(PathPattern, MatchSpec)> {
    let start = diags.len();
    let mut f = Fields::new(value, path, diags);
    let pattern = f.string("path", diags).unwrap_or("/*");
    let pattern = match PathPattern::parse_limited(pattern, limits.regex_size) {
        Ok(p) => Some(p),
        Err(m) => {
            diags.error(f.path_of("path"), m);
            None
        }
    };
    let mut spec = MatchSpec::default();
    if let Some(methods) = f.string_list("methods", diags) {
        let mut names = Vec::new();
        for (p, m) in methods {
            if is_header_name(m) {
                names.push(m);
            } else {
                diags.error(p, "must be an HTTP method name");
            }
        }
        spec.methods = MethodSet::from_names(names);
    }
    for (p, h) in f.string_list("hosts", diags).unwrap_or_default() {
        match HostPattern::parse(h) {
            Ok(hp) => spec.hosts.push(hp),
            Err(_) => diags.error(p, "must be a host name or *.example.com"),
        }
    }
    for (p, name, re) in f.string_map("headers", diags).unwrap_or_default() {
        if !is_header_name(name) {
            diags.error(p, "is not a valid header name");
        } else if let Some(re) = compile_regex(p, re, limits, diags) {
            spec.headers.push((name.to_ascii_lowercase(), re));
        }
    }
    for (p, name, re) in f.string_map("query", diags).unwrap_or_default() {
        if let Some(re) = compile_regex(p, re, limits, diags) {
            spec.query.push((name.to_string(), re));
        }
    }
    f.finish(diags);
    let regexes = spec.headers.len()
        + spec.query.len()
        + pattern.as_ref().map_or(0, PathPattern::constraint_count);
    if regexes > limits.regexes_per_route {
        diags.error(
            path,
            format!(
                "has {regexes} regexes (header and query filters and path constraints); at most {} are allowed (PORTICO_MAX_REGEXES_PER_ROUTE)",
                limits.regexes_per_route
            ),
        );
    }
    (diags.len() == start).then_some((pattern?, spec))
}

/// Sorts routes into selection order: priority, then `created_at`, then `id`
/// (the source order breaks any remaining tie).
pub fn sort_routes(routes: &mut [TableRoute<Route>]) {
    routes.sort_by(|a, b| {
        let (a, b) = (&a.payload, &b.payload);
        a.priority
            .cmp(&b.priority)
            .then_with(|| a.created_at.cmp(&b.created_at))
            .then_with(|| a.id.cmp(&b.id))
    });
}
