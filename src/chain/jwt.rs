//! `jwt`: verify a bearer (or cookie) token with pinned-algorithm keys, check issuer,
//! audience, scopes and tenant, strip forgeable identity headers and forward chosen
//! claims. Verification is the same code the management API uses (crate::auth);
//! a JWKS URL is a need ([`Need::Jwks`]): the platform fetches it before the chain runs.

use crate::auth::token_cache::{TokenCache, DEFAULT_CAPACITY};
use crate::auth::{AuthError, KeySet, VerifiedClaims, VerifyPolicy, MAX_LEEWAY_SECONDS};
use crate::chain::kind::HandlerKind;
use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::error::ProxyError;
use crate::error::ERROR_HEADER;
use crate::message::{is_header_name, HeaderAccess, SimpleResponse};
use crate::request::{Flow, Need, NeedError, RequestCx};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

/// Where a `jwt` handler's keys come from.
#[derive(Debug, Clone)]
pub enum JwtKeys {
    /// `keys`: inline public JWKs.
    Inline(Rc<KeySet>),
    /// `jwks_url`: fetched and cached by the platform.
    Url(Rc<str>),
}

/// Compiled `jwt` options.
#[derive(Debug, Clone)]
pub struct Jwt {
    keys: JwtKeys,
    policy: VerifyPolicy,
    required_scopes: Vec<String>,
    tenant_claim: Option<String>,
    cookie: Option<String>,
    forward: Vec<(String, String)>,
    /// Tokens this handler already verified (per host version and isolate).
    verified: Rc<RefCell<TokenCache>>,
}

/// Whether a JWKS URL is acceptable: https, or http to a loopback host (local dev).
pub fn valid_jwks_url(url: &str) -> bool {
    crate::url::secure_or_loopback(url)
}

fn unauthorized(invalid: bool) -> Flow {
    let mut res = SimpleResponse::text(401, "Unauthorized");
    let challenge = if invalid {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    res.headers.set("www-authenticate", challenge);
    res.headers.set(ERROR_HEADER, "jwt_unauthorized");
    Flow::Respond(res)
}

fn forbidden(challenge: Option<String>) -> Flow {
    let mut res = SimpleResponse::text(403, "Forbidden");
    if let Some(c) = challenge {
        res.headers.set("www-authenticate", &c);
    }
    res.headers.set(ERROR_HEADER, "jwt_forbidden");
    Flow::Respond(res)
}

/// A cookie's value from a `Cookie` header.
fn cookie_value(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
    })
}

impl Jwt {
    /// Compiles options (see the README's `jwt` section).
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let url = f.string("jwks_url", diags);
        let inline = f.raw("keys");
        let keys = match (url, inline) {
            (Some(_), Some(_)) => {
                diags.error(f.path_of("keys"), "give either jwks_url or keys, not both");
                None
            }
            (None, None) => {
                diags.error(f.path_of("jwks_url"), "jwks_url or keys is required");
                None
            }
            (Some(u), None) => {
                if valid_jwks_url(u) {
                    Some(JwtKeys::Url(Rc::from(u)))
                } else {
                    diags.error(
                        f.path_of("jwks_url"),
                        "must be an https URL (http only for localhost)",
                    );
                    None
                }
            }
            (None, Some(v)) => {
                let path = f.path_of("keys");
                if v.is_array() {
                    KeySet::from_config(v, &path, diags).map(|k| JwtKeys::Inline(Rc::new(k)))
                } else {
                    diags.error(path, "must be a list of public JWKs");
                    None
                }
            }
        };
        let issuer = f.string("issuer", diags).map(str::to_string);
        let audiences = match f.raw("audience") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(_)) => f
                .string_list("audience", diags)
                .map(|l| l.into_iter().map(|(_, s)| s.to_string()).collect())
                .unwrap_or_default(),
            Some(_) => {
                diags.error(
                    f.path_of("audience"),
                    "must be a string or a list of strings",
                );
                Vec::new()
            }
        };
        let required_scopes = f
            .string_list("required_scopes", diags)
            .map(|l| l.into_iter().map(|(_, s)| s.to_string()).collect())
            .unwrap_or_default();
        let leeway = f
            .integer("leeway_seconds", 0, i64::from(MAX_LEEWAY_SECONDS), diags)
            .unwrap_or(i64::from(MAX_LEEWAY_SECONDS));
        let tenant_claim = f.string("tenant_claim", diags).map(str::to_string);
        let cookie = f.string("cookie", diags).map(str::to_string);
        if cookie
            .as_deref()
            .is_some_and(|c| c.is_empty() || !is_header_name(c))
        {
            diags.error(f.path_of("cookie"), "must be a cookie name");
        }
        let mut forward = Vec::new();
        if let Some(map) = f.string_map("forward_claims", diags) {
            for (path, claim, header) in map {
                if !is_header_name(header) {
                    diags.error(path, "must be a header name");
                } else {
                    forward.push((claim.to_string(), header.to_ascii_lowercase()));
                }
            }
        }
        if diags.len() != start {
            return None;
        }
        Some(Self {
            keys: keys?,
            policy: VerifyPolicy {
                issuer,
                audiences,
                leeway_seconds: u32::try_from(leeway).unwrap_or(MAX_LEEWAY_SECONDS),
            },
            required_scopes,
            tenant_claim,
            cookie,
            forward,
            verified: Rc::new(RefCell::new(TokenCache::new(DEFAULT_CAPACITY))),
        })
    }

    /// The JWKS URL the platform must have fetched before `on_request`.
    pub fn jwks_url(&self) -> Option<&str> {
        match &self.keys {
            JwtKeys::Url(u) => Some(u),
            JwtKeys::Inline(_) => None,
        }
    }

    /// The JWKS this handler needs for this request (none for inline keys, or
    /// when no token is presented: the request is refused without keys).
    pub fn need(&self, _cx: &RequestCx<'_>, inbound: &dyn HeaderAccess) -> Option<Need> {
        let JwtKeys::Url(url) = &self.keys else {
            return None;
        };
        let token = self.token(inbound)?;
        Some(Need::Jwks {
            url: url.clone(),
            kid: crate::auth::token_kid(&token),
        })
    }

    /// The presented token: `Authorization: Bearer`, else the configured cookie.
    pub fn token(&self, headers: &dyn HeaderAccess) -> Option<String> {
        if let Some(auth) = headers.get("authorization") {
            let mut parts = auth.splitn(2, ' ');
            if let (Some(scheme), Some(tok)) = (parts.next(), parts.next()) {
                if scheme.eq_ignore_ascii_case("bearer") && !tok.trim().is_empty() {
                    return Some(tok.trim().to_string());
                }
            }
        }
        let name = self.cookie.as_deref()?;
        headers
            .get("cookie")
            .and_then(|c| cookie_value(&c, name))
            .filter(|t| !t.is_empty())
    }

    /// Verifies the token in `headers` (signature, time, issuer, audience, scopes,
    /// tenant): its claims, or the answer to refuse the request with. Also used by
    /// `rate_limit` keyed on a claim, over the request as received.
    pub fn check(
        &self,
        cx: &RequestCx<'_>,
        headers: &dyn HeaderAccess,
    ) -> Result<Rc<VerifiedClaims>, Flow> {
        let Some(token) = self.token(headers) else {
            return Err(unauthorized(false));
        };
        let keys = match &self.keys {
            JwtKeys::Inline(k) => k.clone(),
            JwtKeys::Url(url) => match cx.pre.jwks(url) {
                Some(Ok(k)) => k.clone(),
                Some(Err(e)) => return Err(Flow::Fail(jwks_failed(e))),
                None => return Err(Flow::Fail(jwks_failed(&NeedError::Missing))),
            },
        };
        let verified = self
            .verified
            .borrow_mut()
            .verify(&token, &keys, &self.policy, cx.now_s);
        let claims = match verified {
            Ok(c) => c,
            Err(AuthError::Missing) => return Err(unauthorized(false)),
            Err(_) => return Err(unauthorized(true)),
        };
        let missing: Vec<&str> = self
            .required_scopes
            .iter()
            .filter(|s| !claims.has_scope(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(forbidden(Some(format!(
                "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                self.required_scopes.join(" ")
            ))));
        }
        if let Some(claim) = &self.tenant_claim {
            if claims.raw.get(claim).and_then(Value::as_str) != Some(cx.tenant_id) {
                return Err(forbidden(None));
            }
        }
        Ok(claims)
    }

    /// Request phase.
    pub fn on_request(&self, cx: &RequestCx<'_>, headers: &mut dyn HeaderAccess) -> Flow {
        // Forgeable identity headers go first, whatever happens next — also their
        // underscore spellings, which some origins (CGI, PHP, Django) read as the
        // same header.
        for (_, header) in &self.forward {
            headers.remove(header);
            if header.contains('-') {
                headers.remove(&header.replace('-', "_"));
            }
        }
        let claims = match self.check(cx, headers) {
            Ok(c) => c,
            Err(refusal) => return refusal,
        };
        for (claim, header) in &self.forward {
            if let Some(v) = claims.header_value(claim) {
                if crate::message::is_header_value(&v) {
                    headers.set(header, &v);
                }
            }
        }
        Flow::Continue
    }
}

fn jwks_failed(e: &NeedError) -> ProxyError {
    ProxyError::HandlerFailed {
        handler: HandlerKind::Jwt.as_str(),
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
