//! Connector version bodies (docs/vault.md "Connectors"): strict validation of what the
//! API writes, every problem at once with its path; the stored JSON form; and the one
//! rule deciding which hosts and URLs may ever receive a connection's credential.

use super::{AuthSpec, ClientAuth, ConnectorSpec, HostPattern, OAuth2Spec, Placement};
use crate::api::route_policy::TenantRules;
use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::config::ConfigError;
use crate::message::is_header_name;
use serde_json::{json, Map, Value};
use std::fmt;

mod auth;
mod url_rules;

pub use url_rules::{InvalidHostPattern, InvalidUrl};

#[cfg(test)]
mod tests;

/// Longest `name` (characters).
pub const MAX_NAME_CHARS: usize = 200;
/// Most `allowed_hosts`.
pub const MAX_ALLOWED_HOSTS: usize = 32;
/// Most `strip_response_headers`.
pub const MAX_STRIP_HEADERS: usize = 32;
/// `timeout_ms` when not given.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// Largest `timeout_ms`.
pub const MAX_TIMEOUT_MS: u32 = 300_000;
/// Longest api-key `name` (characters).
pub const MAX_KEY_NAME_CHARS: usize = 128;
/// Longest api-key `prefix` (characters).
pub const MAX_PREFIX_CHARS: usize = 64;
/// Most OAuth2 `scopes`.
pub const MAX_SCOPES: usize = 64;
/// Longest scope token (bytes).
pub const MAX_SCOPE_LEN: usize = 256;
/// Longest `client_id` (characters).
pub const MAX_CLIENT_ID_CHARS: usize = 512;
/// Longest `client_secret` (bytes).
pub const MAX_CLIENT_SECRET_LEN: usize = 4096;

/// Where a connector's URLs may point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlRules {
    /// `PORTICO_DEV_MODE`: `http://` allowed for 127.0.0.1, ::1 and localhost.
    pub allow_loopback_http: bool,
    /// For a tenant-owned connector: the tenant target rules of routes.
    pub tenant: Option<TenantRules>,
}

/// What a write does to the connector's write-only OAuth2 client secret.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretField {
    /// Keep what is stored (if anything).
    Unchanged,
    /// Store this secret.
    Set(String),
    /// Delete the stored secret: the auth no longer uses one.
    Clear,
}

impl fmt::Debug for SecretField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unchanged => "Unchanged",
            Self::Set(_) => "Set(<redacted>)",
            Self::Clear => "Clear",
        })
    }
}

/// A validated version write: the settings to store and what to do with the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct VersionWrite {
    /// The whole version (the body over its base).
    pub spec: ConnectorSpec,
    /// The client secret's fate.
    pub client_secret: SecretField,
}

impl fmt::Debug for VersionWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionWrite")
            .field("spec", &self.spec)
            .field("client_secret", &self.client_secret)
            .finish()
    }
}

/// How strictly a version is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// An API write: every rule.
    Write,
    /// Re-reading stored JSON: rules that may change over time are skipped.
    Stored,
}

/// A version as read, with the client secret if the body gave one.
struct Read {
    spec: ConnectorSpec,
    client_secret: Option<String>,
}

fn read_allowed_hosts(
    f: &mut Fields<'_>,
    rules: &UrlRules,
    mode: Mode,
    diags: &mut Diagnostics,
) -> Vec<HostPattern> {
    let given = f.string_list("allowed_hosts", diags).unwrap_or_default();
    if given.len() > MAX_ALLOWED_HOSTS {
        diags.error(
            f.path_of("allowed_hosts"),
            format!("must list at most {MAX_ALLOWED_HOSTS} hosts"),
        );
        return Vec::new();
    }
    let mut out: Vec<HostPattern> = Vec::with_capacity(given.len());
    for (path, raw) in given {
        match HostPattern::parse_allowed(raw, rules.tenant.as_ref(), mode == Mode::Stored) {
            Ok(p) if !out.contains(&p) => out.push(p),
            Ok(_) => {}
            Err(e) => diags.error(path, e.to_string()),
        }
    }
    out
}

fn read_strip_headers(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Vec<String> {
    let Some(given) = f.string_list("strip_response_headers", diags) else {
        return vec!["set-cookie".to_string()];
    };
    if given.len() > MAX_STRIP_HEADERS {
        diags.error(
            f.path_of("strip_response_headers"),
            format!("must list at most {MAX_STRIP_HEADERS} headers"),
        );
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    for (path, name) in given {
        if !is_header_name(name) {
            diags.error(path, "must be a valid header name");
            continue;
        }
        let name = name.to_ascii_lowercase();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Reads a whole version object (the body already laid over its base).
fn read_spec(v: &Value, rules: &UrlRules, mode: Mode, diags: &mut Diagnostics) -> Option<Read> {
    let start = diags.len();
    let mut f = Fields::new(Some(v), "", diags);
    let name = f.required_string("name", diags).and_then(|n| {
        let ok = !n.trim().is_empty() && n.chars().count() <= MAX_NAME_CHARS;
        if !ok {
            diags.error("name", format!("must be 1 to {MAX_NAME_CHARS} characters"));
        }
        ok.then(|| n.to_string())
    });
    let base = f.required_string("base_url", diags).and_then(|raw| {
        url_rules::base_url(raw, rules)
            .map_err(|e| diags.error("base_url", e.to_string()))
            .ok()
    });
    let allowed_hosts = read_allowed_hosts(&mut f, rules, mode, diags);
    let strip_response_headers = read_strip_headers(&mut f, diags);
    let timeout_ms = f
        .integer("timeout_ms", 1, i64::from(MAX_TIMEOUT_MS), diags)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    let auth = match f.raw("auth") {
        Some(a) => auth::read_auth(a, "auth", rules, diags),
        None => {
            diags.error("auth", "is required");
            None
        }
    };
    f.finish(diags);
    if diags.len() != start {
        return None;
    }
    let (auth, client_secret) = auth?;
    Some(Read {
        spec: ConnectorSpec {
            name: name?,
            base_url: base?,
            allowed_hosts,
            strip_response_headers,
            timeout_ms,
            auth,
        },
        client_secret,
    })
}

/// Whether an auth needs a client secret at the token endpoint.
fn needs_secret(auth: &AuthSpec) -> bool {
    matches!(auth, AuthSpec::OAuth2(o) if o.client_auth != ClientAuth::None)
}

/// Validates a version write (create, draft patch, new version) over `base`, the
/// stored JSON of the version it applies to ([`ConnectorSpec::to_json`] plus an
/// optional `client_secret_set`). Top-level body fields replace the base's (`null`:
/// not given); `auth` replaces the base's `auth` whole. The stored secret is kept
/// only while the auth still uses one with the same `client_id`: a new client needs
/// its own secret.
pub fn validate_version(
    body: &Value,
    base: Option<&Value>,
    rules: &UrlRules,
) -> Result<VersionWrite, Vec<ConfigError>> {
    let Some(given) = body.as_object() else {
        return Err(vec![ConfigError {
            path: String::new(),
            message: "the body must be a JSON object".into(),
        }]);
    };
    let mut diags = Diagnostics::new();
    let mut merged = Map::new();
    let mut base_secret = false;
    let mut base_auth: Option<AuthSpec> = None;
    if let Some(b) = base {
        let Some(stored) = b.as_object() else {
            diags.error("", "the stored version is not an object");
            return Err(diags.into_errors().0);
        };
        for (k, v) in stored {
            if k == "client_secret_set" {
                base_secret = v.as_bool() == Some(true);
            } else {
                merged.insert(k.clone(), v.clone());
            }
        }
        base_auth = ConnectorSpec::from_stored(b).ok().map(|s| s.auth);
    }
    for (k, v) in given {
        if k == "client_secret_set" {
            if !v.is_null() {
                diags.error(k.as_str(), "is read-only");
            }
        } else if !v.is_null() || !merged.contains_key(k) {
            merged.insert(k.clone(), v.clone());
        }
    }
    let read = read_spec(&Value::Object(merged), rules, Mode::Write, &mut diags);
    let Some(read) = read.filter(|_| diags.is_empty()) else {
        return Err(diags.into_errors().0);
    };
    let kept = base_secret
        && matches!(
            (&base_auth, &read.spec.auth),
            (Some(AuthSpec::OAuth2(old)), AuthSpec::OAuth2(new)) if old.client_id == new.client_id
        );
    let client_secret = match read.client_secret {
        Some(s) => SecretField::Set(s),
        None if needs_secret(&read.spec.auth) => {
            if !kept {
                diags.error(
                    "auth.client_secret",
                    "is required unless client_auth is none (a new client_id needs its secret)",
                );
                return Err(diags.into_errors().0);
            }
            SecretField::Unchanged
        }
        None if base_secret => SecretField::Clear,
        None => SecretField::Unchanged,
    };
    Ok(VersionWrite {
        spec: read.spec,
        client_secret,
    })
}

impl ConnectorSpec {
    /// The stored (and shown) JSON; never holds a secret.
    pub fn to_json(&self) -> Value {
        let auth = match &self.auth {
            AuthSpec::ApiKey {
                placement,
                name,
                prefix,
            } => json!({
                "type": "api_key",
                "placement": match placement {
                    Placement::Header => "header",
                    Placement::Query => "query",
                    Placement::Body => "body",
                },
                "name": name,
                "prefix": prefix,
            }),
            AuthSpec::Basic => json!({ "type": "basic" }),
            AuthSpec::None => json!({ "type": "none" }),
            AuthSpec::OAuth2(o) => {
                let mut a = json!({
                    "type": "oauth2",
                    "authorization_url": o.authorization_url,
                    "token_url": o.token_url,
                    "scopes": o.scopes,
                    "pkce": o.pkce,
                    "client_auth": match o.client_auth {
                        ClientAuth::ClientSecretBasic => "client_secret_basic",
                        ClientAuth::ClientSecretPost => "client_secret_post",
                        ClientAuth::None => "none",
                    },
                    "client_id": o.client_id,
                });
                if let (Some(r), Value::Object(m)) = (&o.revocation_url, &mut a) {
                    m.insert("revocation_url".into(), Value::from(r.as_str()));
                }
                if let (false, Value::Object(m)) = (o.return_origins.is_empty(), &mut a) {
                    m.insert("return_origins".into(), json!(o.return_origins));
                }
                a
            }
        };
        json!({
            "name": self.name,
            "base_url": format!("{}{}", self.base_url.origin, self.base_url.base_path),
            "allowed_hosts": self.allowed_hosts.iter().map(HostPattern::as_written).collect::<Vec<_>>(),
            "strip_response_headers": self.strip_response_headers,
            "timeout_ms": self.timeout_ms,
            "auth": auth,
        })
    }

    /// Re-reads what [`to_json`](Self::to_json) wrote (a `client_secret_set` flag
    /// beside it is ignored). Loopback `http://` is accepted and no tenant rule is
    /// applied: they were checked when it was written.
    pub fn from_stored(v: &Value) -> Result<Self, Vec<ConfigError>> {
        let mut v = v.clone();
        if let Value::Object(m) = &mut v {
            m.remove("client_secret_set");
        }
        let rules = UrlRules {
            allow_loopback_http: true,
            tenant: None,
        };
        let mut diags = Diagnostics::new();
        match read_spec(&v, &rules, Mode::Stored, &mut diags) {
            Some(read) if diags.is_empty() => Ok(read.spec),
            _ => Err(diags.into_errors().0),
        }
    }
}
