//! Compiles a route's `handlers` list into a [`Chain`], reporting every error with
//! its path (`handlers[1].options.origins[0]`).

use super::{
    basic_auth, cache, cookies, cors, custom, forwarded, headers, jwt, location, Chain, Middleware,
};
use crate::chain::Terminal;
use crate::config::diag::{field, index, Diagnostics};
use crate::config::fields::Fields;
use crate::upstream::{dispatch, http, redirect, service, static_response};
use serde_json::Value;

/// Kept at its old path; the trait lives in `config::bindings`.
pub use crate::config::bindings::Bindings;

/// Handler types Portico defines (including those arriving in later releases), which
/// custom registrations may not take.
pub const BUILT_IN_TYPES: [&str; 15] = [
    "cors",
    "basic_auth",
    "headers",
    "cache",
    "forwarded_headers",
    "rewrite_cookies",
    "rewrite_location",
    "http",
    "service_binding",
    "dispatch_namespace",
    "redirect",
    "static",
    "jwt",
    "credentials",
    "rate_limit",
];

const TERMINALS: &str = "http, service_binding, dispatch_namespace, redirect, static";

enum Compiled {
    Middleware(Middleware),
    Terminal(Terminal),
    /// Needs the terminal to infer its upstream.
    Cookies(Option<String>, String),
    Location(Option<String>, String),
}

/// Compiles `handlers` at `path`. `bindings` checks binding names when given.
pub fn compile_chain(
    value: Option<&Value>,
    path: &str,
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
            bindings,
            diags,
        );
        let is_terminal = matches!(c, Some(Compiled::Terminal(_)));
        if c.is_some() || BUILT_IN_TYPES.contains(&ty) || custom::lookup(ty).is_some() {
            let terminal_type = is_terminal || is_terminal_type(ty);
            if terminal_type && i != last {
                diags.error(
                    field(&hpath, "type"),
                    format!("terminal handler '{ty}' must be the last handler"),
                );
            } else if !terminal_type && i == last {
                diags.error(
                    field(&hpath, "type"),
                    format!("the last handler must be a terminal ({TERMINALS})"),
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

fn is_terminal_type(ty: &str) -> bool {
    matches!(
        ty,
        "http" | "service_binding" | "dispatch_namespace" | "redirect" | "static"
    )
}

fn compile_one(
    ty: &str,
    opts: Option<&Value>,
    opath: &str,
    type_path: &str,
    bindings: Option<&dyn Bindings>,
    diags: &mut Diagnostics,
) -> Option<Compiled> {
    if !BUILT_IN_TYPES.contains(&ty) {
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
    }
    let mut f = Fields::new(opts, opath, diags);
    let out = match ty {
        "cors" => cors::Cors::compile(&mut f, diags)
            .map(Middleware::Cors)
            .map(Compiled::Middleware),
        "basic_auth" => basic_auth::BasicAuth::compile(&mut f, diags)
            .map(Middleware::BasicAuth)
            .map(Compiled::Middleware),
        "headers" => headers::HeaderEdits::compile(&mut f, diags)
            .map(Middleware::Headers)
            .map(Compiled::Middleware),
        "cache" => cache::CachePolicy::compile(&mut f, diags)
            .map(Middleware::Cache)
            .map(Compiled::Middleware),
        "forwarded_headers" => forwarded::Forwarded::compile(&mut f, diags)
            .map(Middleware::Forwarded)
            .map(Compiled::Middleware),
        "rewrite_cookies" => {
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
        "rewrite_location" => {
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
        "http" => http::HttpUpstream::compile(&mut f, diags)
            .map(Terminal::Http)
            .map(Compiled::Terminal),
        "service_binding" => {
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
        "dispatch_namespace" => {
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
        "redirect" => redirect::Redirect::compile(&mut f, diags)
            .map(Terminal::Redirect)
            .map(Compiled::Terminal),
        "static" => static_response::StaticResponse::compile(&mut f, diags)
            .map(Terminal::Static)
            .map(Compiled::Terminal),
        "jwt" => jwt::Jwt::compile(&mut f, diags)
            .map(Middleware::Jwt)
            .map(Compiled::Middleware),
        "credentials" | "rate_limit" => {
            diags.error(
                type_path,
                format!("handler type '{ty}' is not available in this release"),
            );
            None
        }
        other => {
            diags.error(type_path, format!("unknown handler type '{other}'"));
            None
        }
    };
    f.finish(diags);
    out
}

#[cfg(test)]
mod tests;
