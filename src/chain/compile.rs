//! Compiles a route's `handlers` list into a [`Chain`], reporting every error with
//! its path (`handlers[1].options.origins[0]`).

use super::kind::HandlerKind;
use super::{
    basic_auth, cache, cookies, cors, credentials, custom, forwarded, headers, jwt, location,
    rate_limit, Chain, Middleware,
};
use crate::chain::Terminal;
use crate::config::diag::{field, index, Diagnostics};
use crate::config::fields::Fields;
use crate::upstream::{dispatch, http, redirect, service, static_response};
use serde_json::Value;

use crate::config::bindings::Bindings;

enum Compiled {
    Middleware(Middleware),
    Terminal(Terminal),
    /// Needs the terminal to infer its upstream.
    Cookies(Option<String>, String),
    Location(Option<String>, String),
    /// A `claim:` key needs the `jwt` handler before it.
    RateLimit(rate_limit::PendingRateLimit, String),
    /// Takes the `jwt` handler before it (claims, policy callers).
    Credentials(credentials::PendingCredentials, String),
}

/// Compiles `handlers` at `path`. `bindings` checks binding names when given;
/// `route_id` names the route in `rate_limit` counter keys.
pub fn compile_chain(
    value: Option<&Value>,
    path: &str,
    route_id: &str,
    bindings: Option<&dyn Bindings>,
    diags: &mut Diagnostics,
) -> Option<Chain> {
    let start = diags.len();
    let items = match value {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            diags.error(path, "must list at least one handler");
            return None;
        }
        None | Some(Value::Null) => {
            diags.error(path, "is required");
            return None;
        }
        Some(_) => {
            diags.error(path, "must be a list of handlers");
            return None;
        }
    };
    let last = items.len() - 1;
    let mut compiled: Vec<Option<Compiled>> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let hpath = index(path, i);
        let mut h = Fields::new(Some(item), &hpath, diags);
        let ty = h.required_string("type", diags);
        let opts_value = h.raw("options");
        h.finish(diags);
        let opath = field(&hpath, "options");
        let Some(ty) = ty else {
            compiled.push(None);
            continue;
        };
        let c = compile_one(
            ty,
            opts_value,
            &opath,
            &field(&hpath, "type"),
            route_id,
            bindings,
            diags,
        );
        let is_terminal = matches!(c, Some(Compiled::Terminal(_)));
        let kind = ty.parse::<HandlerKind>().ok();
        if c.is_some() || kind.is_some() || custom::lookup(ty).is_some() {
            let terminal_type = is_terminal || kind.is_some_and(HandlerKind::is_terminal);
            if terminal_type && i != last {
                diags.error(
                    field(&hpath, "type"),
                    format!("terminal handler '{ty}' must be the last handler"),
                );
            } else if !terminal_type && i == last {
                diags.error(
                    field(&hpath, "type"),
                    format!(
                        "the last handler must be a terminal ({})",
                        HandlerKind::terminal_names()
                    ),
                );
            }
        }
        compiled.push(c);
    }
    if diags.len() != start {
        return None;
    }
    let mut compiled: Vec<Compiled> = compiled.into_iter().flatten().collect();
    let Some(Compiled::Terminal(terminal)) = compiled.pop() else {
        diags.error(path, "the last handler must be a terminal");
        return None;
    };
    let mut middleware = Vec::with_capacity(compiled.len() + 1);
    for c in compiled {
        match c {
            Compiled::Middleware(m) => middleware.push(m),
            Compiled::Cookies(host, opath) => {
                let host = host.or_else(|| terminal.upstream_base().map(|b| b.host.clone()));
                match host {
                    Some(upstream_host) => {
                        middleware.push(Middleware::RewriteCookies(cookies::RewriteCookies {
                            upstream_host,
                        }))
                    }
                    None => diags.error(
                        field(&opath, "upstream_host"),
                        format!(
                            "is required: it cannot be inferred from a '{}' terminal",
                            terminal.type_name()
                        ),
                    ),
                }
            }
            Compiled::Location(origin, opath) => {
                let origin = origin.or_else(|| terminal.upstream_base().map(|b| b.origin.clone()));
                match origin {
                    Some(upstream_origin) => {
                        middleware.push(Middleware::RewriteLocation(location::RewriteLocation {
                            upstream_origin,
                        }))
                    }
                    None => diags.error(
                        field(&opath, "upstream_origin"),
                        format!(
                            "is required: it cannot be inferred from a '{}' terminal",
                            terminal.type_name()
                        ),
                    ),
                }
            }
            Compiled::RateLimit(pending, opath) => {
                let jwt = last_jwt(&middleware);
                if pending.needs_jwt() && jwt.is_none() {
                    diags.error(
                        field(&opath, "key"),
                        "a claim key needs a jwt handler before this rate_limit (claims must be verified)",
                    );
                } else {
                    let jwt = if pending.needs_jwt() { jwt } else { None };
                    middleware.push(Middleware::RateLimit(pending.with_jwt(jwt)));
                }
            }
            Compiled::Credentials(pending, opath) => {
                let jwt = last_jwt(&middleware);
                if pending.needs_jwt() && jwt.is_none() {
                    diags.error(
                        field(&opath, "connection_id"),
                        "a {claim:..} connection needs a jwt handler before this credentials handler",
                    );
                } else if !matches!(terminal, Terminal::Http(_)) {
                    diags.error(
                        field(&opath, "connection_id"),
                        format!(
                            "credentials need an http terminal, not '{}'",
                            terminal.type_name()
                        ),
                    );
                } else {
                    middleware.push(Middleware::Credentials(pending.with_jwt(jwt)));
                }
            }
            Compiled::Terminal(_) => {}
        }
    }
    if !middleware
        .iter()
        .any(|m| matches!(m, Middleware::Forwarded(_)))
    {
        middleware.insert(0, Middleware::Forwarded(forwarded::Forwarded::default()));
    }
    (diags.len() == start).then_some(Chain {
        middleware,
        terminal,
    })
}

/// The `jwt` handler nearest before the handler being placed (its verified claims
/// are what `rate_limit` keys and `credentials` sources and policies read).
fn last_jwt(middleware: &[Middleware]) -> Option<jwt::Jwt> {
    middleware.iter().rev().find_map(|m| match m {
        Middleware::Jwt(j) => Some(j.clone()),
        _ => None,
    })
}

fn compile_one(
    ty: &str,
    opts: Option<&Value>,
    opath: &str,
    type_path: &str,
    route_id: &str,
    bindings: Option<&dyn Bindings>,
    diags: &mut Diagnostics,
) -> Option<Compiled> {
    let Ok(kind) = ty.parse::<HandlerKind>() else {
        return match custom::lookup(ty) {
            Some(compile) => compile(opts, opath, diags).map(|h| {
                if h.is_terminal() {
                    Compiled::Terminal(Terminal::Custom(h))
                } else {
                    Compiled::Middleware(Middleware::Custom(h))
                }
            }),
            None => {
                diags.error(type_path, format!("unknown handler type '{ty}'"));
                None
            }
        };
    };
    let mut f = Fields::new(opts, opath, diags);
    let out = match kind {
        HandlerKind::Cors => cors::Cors::compile(&mut f, diags)
            .map(Middleware::Cors)
            .map(Compiled::Middleware),
        HandlerKind::BasicAuth => basic_auth::BasicAuth::compile(&mut f, diags)
            .map(Middleware::BasicAuth)
            .map(Compiled::Middleware),
        HandlerKind::Headers => headers::HeaderEdits::compile(&mut f, diags)
            .map(Middleware::Headers)
            .map(Compiled::Middleware),
        HandlerKind::Cache => cache::CachePolicy::compile(&mut f, diags)
            .map(Middleware::Cache)
            .map(Compiled::Middleware),
        HandlerKind::ForwardedHeaders => forwarded::Forwarded::compile(&mut f, diags)
            .map(Middleware::Forwarded)
            .map(Compiled::Middleware),
        HandlerKind::RewriteCookies => {
            let host = f.string("upstream_host", diags).and_then(|h| {
                match crate::host::normalize_host(h) {
                    Ok(h) => Some(h),
                    Err(_) => {
                        diags.error(f.path_of("upstream_host"), "must be a host name");
                        None
                    }
                }
            });
            Some(Compiled::Cookies(host, opath.to_string()))
        }
        HandlerKind::RewriteLocation => {
            let origin = f.string("upstream_origin", diags).and_then(|o| {
                match crate::url::split_origin(o) {
                    Some((origin, rest)) if rest.is_empty() || rest == "/" => Some(origin),
                    _ => {
                        diags.error(
                            f.path_of("upstream_origin"),
                            "must be an origin like https://origin.example.com",
                        );
                        None
                    }
                }
            });
            Some(Compiled::Location(origin, opath.to_string()))
        }
        HandlerKind::Http => http::HttpUpstream::compile(&mut f, diags)
            .map(Terminal::Http)
            .map(Compiled::Terminal),
        HandlerKind::ServiceBinding => {
            let t = service::ServiceUpstream::compile(&mut f, diags);
            if let (Some(t), Some(b)) = (&t, bindings) {
                if !b.has_service(&t.binding) {
                    diags.error(
                        f.path_of("binding"),
                        format!(
                            "no service binding named '{}' in this environment",
                            t.binding
                        ),
                    );
                }
            }
            t.map(Terminal::Service).map(Compiled::Terminal)
        }
        HandlerKind::DispatchNamespace => {
            let t = dispatch::DispatchUpstream::compile(&mut f, diags);
            if let (Some(t), Some(b)) = (&t, bindings) {
                if !b.has_dispatch_namespace(t.binding()) {
                    diags.error(
                        f.path_of("binding"),
                        format!(
                            "no dispatch namespace named '{}' in this environment",
                            t.binding()
                        ),
                    );
                }
            }
            t.map(Terminal::Dispatch).map(Compiled::Terminal)
        }
        HandlerKind::Redirect => redirect::Redirect::compile(&mut f, diags)
            .map(Terminal::Redirect)
            .map(Compiled::Terminal),
        HandlerKind::Static => static_response::StaticResponse::compile(&mut f, diags)
            .map(Terminal::Static)
            .map(Compiled::Terminal),
        HandlerKind::Jwt => jwt::Jwt::compile(&mut f, diags)
            .map(Middleware::Jwt)
            .map(Compiled::Middleware),
        HandlerKind::RateLimit => rate_limit::RateLimit::compile(&mut f, bindings, route_id, diags)
            .map(|p| Compiled::RateLimit(p, opath.to_string())),
        HandlerKind::Credentials => credentials::Credentials::compile(&mut f, diags)
            .map(|p| Compiled::Credentials(p, opath.to_string())),
    };
    f.finish(diags);
    out
}

#[cfg(test)]
mod tests;
