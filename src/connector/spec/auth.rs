//! The `auth` object of a connector version: api_key, basic, none or oauth2.

use super::url_rules::endpoint_url;
use super::*;
use crate::message::is_header_name;
use crate::upstream::HOP_BY_HOP;

/// Whether `name` may carry an API key: not a header the runtime or the connection
/// itself owns (framing, host, cookies, hop-by-hop).
fn key_header_allowed(name: &str) -> bool {
    !(matches!(
        name,
        "host" | "content-length" | "cookie" | "cookie2" | "set-cookie" | "expect"
    ) || HOP_BY_HOP.contains(&name)
        || name.starts_with("proxy-"))
}

/// Whether `s` has a control character (never valid in a header value or a name).
fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// An RFC 6749 §3.3 scope token.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// One of `options` by name (`default` when not given), or an error listing them.
fn one_of<T: Copy>(
    f: &mut Fields<'_>,
    key: &'static str,
    options: &[(&str, T)],
    default: T,
    diags: &mut Diagnostics,
) -> Option<T> {
    let given = match f.raw(key) {
        None => return Some(default),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => "",
    };
    let found = options.iter().find(|(n, _)| *n == given).map(|(_, v)| *v);
    if found.is_none() {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        diags.error(
            f.path_of(key),
            format!("must be one of {}", names.join(", ")),
        );
    }
    found
}

/// A string of 1 to `max` characters without control characters (required or
/// optional); records an error otherwise.
fn bounded(
    f: &mut Fields<'_>,
    key: &'static str,
    required: bool,
    max: usize,
    diags: &mut Diagnostics,
) -> Option<String> {
    let value = if required {
        f.required_string(key, diags)
    } else {
        f.string(key, diags)
    }?;
    let n = value.chars().count();
    if n == 0 || n > max || has_control(value) {
        diags.error(
            f.path_of(key),
            format!("must be 1 to {max} characters without control characters"),
        );
        return None;
    }
    Some(value.to_string())
}

fn read_api_key(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<AuthSpec> {
    let placements = [
        ("header", Placement::Header),
        ("query", Placement::Query),
        ("body", Placement::Body),
    ];
    let placement = one_of(f, "placement", &placements, Placement::Header, diags);
    let name = bounded(f, "name", true, MAX_KEY_NAME_CHARS, diags);
    let prefix = match f.string("prefix", diags) {
        None => Some(String::new()),
        Some(p) if p.chars().count() <= MAX_PREFIX_CHARS && !has_control(p) => Some(p.into()),
        Some(_) => {
            diags.error(
                f.path_of("prefix"),
                format!("must be at most {MAX_PREFIX_CHARS} characters without control characters"),
            );
            None
        }
    };
    let (placement, mut name, prefix) = (placement?, name?, prefix?);
    if placement == Placement::Header {
        if !is_header_name(&name) {
            diags.error(f.path_of("name"), "must be a valid header name");
            return None;
        }
        name.make_ascii_lowercase();
        if !key_header_allowed(&name) {
            diags.error(
                f.path_of("name"),
                format!("the {name} header cannot carry a credential"),
            );
            return None;
        }
    }
    Some(AuthSpec::ApiKey {
        placement,
        name,
        prefix,
    })
}

fn read_oauth2(
    f: &mut Fields<'_>,
    rules: &UrlRules,
    diags: &mut Diagnostics,
) -> Option<(AuthSpec, Option<String>)> {
    let start = diags.len();
    let mut url = |f: &mut Fields<'_>, key: &'static str, required: bool, fetched: bool| {
        let raw = if required {
            f.required_string(key, diags)
        } else {
            f.string(key, diags)
        }?;
        endpoint_url(raw, rules, fetched)
            .map_err(|e| diags.error(f.path_of(key), e.to_string()))
            .ok()
    };
    let authorization_url = url(f, "authorization_url", true, false);
    let token_url = url(f, "token_url", true, true);
    let revocation_url = url(f, "revocation_url", false, true);
    let scopes_given = f.string_list("scopes", diags).unwrap_or_default();
    if scopes_given.len() > MAX_SCOPES {
        diags.error(
            f.path_of("scopes"),
            format!("must list at most {MAX_SCOPES} scopes"),
        );
    }
    let mut scopes: Vec<String> = Vec::with_capacity(scopes_given.len());
    for (path, s) in scopes_given {
        if !is_scope_token(s) {
            diags.error(
                path,
                "must be a scope token (printable ASCII, no spaces, quotes or backslashes)",
            );
        } else if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    let pkce = f.boolean("pkce", true, diags);
    let mut return_origins: Vec<String> = Vec::new();
    for (path, raw) in f.string_list("return_origins", diags).unwrap_or_default() {
        match endpoint_url(raw, rules, false) {
            Ok(u)
                if u.starts_with("http")
                    && !u.trim_end_matches('/').contains(['?', '#'])
                    && u.trim_end_matches('/').matches('/').count() == 2 =>
            {
                let origin = u.trim_end_matches('/').to_string();
                if !return_origins.contains(&origin) {
                    return_origins.push(origin);
                }
            }
            Ok(_) => diags.error(path, "must be an origin (scheme://host[:port], no path)"),
            Err(e) => diags.error(path, e.to_string()),
        }
    }
    if return_origins.len() > MAX_SCOPES {
        diags.error(
            f.path_of("return_origins"),
            format!("must list at most {MAX_SCOPES} origins"),
        );
    }
    let auths = [
        ("client_secret_basic", ClientAuth::ClientSecretBasic),
        ("client_secret_post", ClientAuth::ClientSecretPost),
        ("none", ClientAuth::None),
    ];
    let client_auth = one_of(
        f,
        "client_auth",
        &auths,
        ClientAuth::ClientSecretBasic,
        diags,
    );
    let client_id = bounded(f, "client_id", true, MAX_CLIENT_ID_CHARS, diags);
    let secret = f.string("client_secret", diags);
    if let Some(s) = secret {
        if s.is_empty() || s.len() > MAX_CLIENT_SECRET_LEN || has_control(s) {
            diags.error(
                f.path_of("client_secret"),
                format!("must be 1 to {MAX_CLIENT_SECRET_LEN} bytes without control characters"),
            );
        } else if client_auth == Some(ClientAuth::None) {
            diags.error(
                f.path_of("client_secret"),
                "must not be given when client_auth is none",
            );
        }
    }
    if client_auth == Some(ClientAuth::None) && !pkce {
        // A public client without PKCE lets anyone who sees the code redeem it.
        diags.error(f.path_of("pkce"), "must be true when client_auth is none");
    }
    if diags.len() != start {
        return None;
    }
    let spec = OAuth2Spec {
        authorization_url: authorization_url?,
        token_url: token_url?,
        revocation_url,
        scopes,
        pkce,
        client_auth: client_auth?,
        client_id: client_id?,
        return_origins,
    };
    Some((AuthSpec::OAuth2(spec), secret.map(str::to_string)))
}

/// Reads `auth` at `path`.
pub(super) fn read_auth(
    v: &Value,
    path: &str,
    rules: &UrlRules,
    diags: &mut Diagnostics,
) -> Option<(AuthSpec, Option<String>)> {
    if !v.is_object() {
        diags.error(path, "must be an object");
        return None;
    }
    let mut f = Fields::new(Some(v), path, diags);
    let ty = f.required_string("type", diags)?;
    let out = match ty {
        "api_key" => read_api_key(&mut f, diags).map(|a| (a, None)),
        "basic" => Some((AuthSpec::Basic, None)),
        "none" => Some((AuthSpec::None, None)),
        "oauth2" => read_oauth2(&mut f, rules, diags),
        _ => {
            // The other keys depend on the type: nothing more to say about them.
            diags.error(
                f.path_of("type"),
                "must be one of api_key, basic, none, oauth2",
            );
            return None;
        }
    };
    f.finish(diags);
    out
}
