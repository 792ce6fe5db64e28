//! `credentials` (DESIGN §4, §7): injects a stored connection's credential into the
//! terminal's upstream request. The connection is opened before the chain runs (a
//! need); this file only decides, synchronously: the connection is the route
//! tenant's (the platform opens connections by tenant), the terminal's URL is one
//! the connector allows, the connection policy admits the caller — otherwise the
//! request fails and nothing is sent.

use super::jwt::Jwt;
use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::error::ProxyError;
use crate::grant::Use;
use crate::message::HeaderAccess;
use crate::request::{
    CallAudit, CredentialFailure, CredentialUse, Flow, Need, NeedError, RequestCx, RequestState,
};
use crate::upstream::{Target, UpstreamCall};
use crate::vault::inject::set_query_param;

const HANDLER: &str = "credentials";

/// Longest connection id accepted.
const MAX_ID_LEN: usize = 64;

/// Where the connection id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionSource {
    /// This connection.
    Literal(String),
    /// The value of a request header (as received).
    Header(String),
    /// A claim of the token the `jwt` handler before verified.
    Claim(String),
}

/// Whether `id` looks like a connection id (anything else is never looked up).
pub fn valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ConnectionSource {
    fn parse(raw: &str) -> Result<Self, &'static str> {
        let inner = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}'));
        let Some(inner) = inner else {
            return if valid_connection_id(raw) {
                Ok(Self::Literal(raw.to_string()))
            } else {
                Err("must be a connection id, {header:<name>} or {claim:<name>}")
            };
        };
        let named = |name: &str| -> Result<String, &'static str> {
            if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_graphic()) {
                Err("names an empty, overlong or invalid header or claim")
            } else {
                Ok(name.to_string())
            }
        };
        if let Some(h) = inner.strip_prefix("header:") {
            Ok(Self::Header(named(h)?.to_ascii_lowercase()))
        } else if let Some(c) = inner.strip_prefix("claim:") {
            Ok(Self::Claim(named(c)?))
        } else {
            Err("must be a connection id, {header:<name>} or {claim:<name>}")
        }
    }
}

/// A compiled `credentials` handler.
#[derive(Debug, Clone)]
pub struct Credentials {
    source: ConnectionSource,
    /// The `jwt` handler before this one: the caller's verified identity (for
    /// `{claim:..}` and the connection policy).
    jwt: Option<Jwt>,
}

/// What `compile` leaves to the chain: the `jwt` handler before it, if any.
#[derive(Debug, Clone)]
pub struct PendingCredentials {
    source: ConnectionSource,
}

impl PendingCredentials {
    /// Whether the id is a claim (which needs a `jwt` handler before).
    pub fn needs_jwt(&self) -> bool {
        matches!(self.source, ConnectionSource::Claim(_))
    }

    /// Finishes with the `jwt` handler before this one.
    pub fn with_jwt(self, jwt: Option<Jwt>) -> Credentials {
        Credentials {
            source: self.source,
            jwt,
        }
    }
}

impl Credentials {
    /// Compiles `connection_id`.
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<PendingCredentials> {
        let raw = f.required_string("connection_id", diags)?;
        match ConnectionSource::parse(raw) {
            Ok(source) => Some(PendingCredentials { source }),
            Err(why) => {
                diags.error(f.path_of("connection_id"), why);
                None
            }
        }
    }

    /// The literal connection id, when the config names one (checked at write time).
    pub fn literal_connection(&self) -> Option<&str> {
        match &self.source {
            ConnectionSource::Literal(id) => Some(id),
            ConnectionSource::Header(_) | ConnectionSource::Claim(_) => None,
        }
    }

    /// The verified claims of the `jwt` handler before this one, if it has any.
    fn caller(
        &self,
        cx: &RequestCx<'_>,
        inbound: &dyn HeaderAccess,
    ) -> Option<std::rc::Rc<crate::auth::VerifiedClaims>> {
        self.jwt.as_ref()?.check(cx, inbound).ok()
    }

    /// The connection this request names (`None`: it names none, or not a valid
    /// one), given the caller's verified claims.
    fn connection_id(
        &self,
        inbound: &dyn HeaderAccess,
        caller: Option<&crate::auth::VerifiedClaims>,
    ) -> Option<String> {
        let id = match &self.source {
            ConnectionSource::Literal(id) => Some(id.clone()),
            ConnectionSource::Header(name) => inbound.get(name),
            ConnectionSource::Claim(name) => caller?.header_value(name),
        }?;
        valid_connection_id(&id).then_some(id)
    }

    /// The connection to open before the chain runs.
    pub fn need(&self, cx: &RequestCx<'_>, inbound: &dyn HeaderAccess) -> Option<Need> {
        let caller = match &self.source {
            ConnectionSource::Claim(_) => self.caller(cx, inbound),
            ConnectionSource::Literal(_) | ConnectionSource::Header(_) => None,
        };
        self.connection_id(inbound, caller.as_deref())
            .map(|connection_id| Need::Credential { connection_id })
    }

    /// Request phase: checks the connection was opened, records the verified caller
    /// for the policy, and removes the caller's own credentials.
    pub fn on_request(
        &self,
        cx: &RequestCx<'_>,
        state: &mut RequestState,
        headers: &mut dyn HeaderAccess,
    ) -> Flow {
        // Verified once: the claims name the connection and meet the policy.
        let caller = self.caller(cx, headers);
        let Some(id) = self.connection_id(headers, caller.as_deref()) else {
            return Flow::Fail(failed("the request names no valid connection"));
        };
        let grant = match cx.pre.grant(&id) {
            Some(Ok(g)) => g,
            Some(Err(e)) => return Flow::Fail(need_failed(e)),
            None => return Flow::Fail(failed(NeedError::Missing.to_string())),
        };
        let claim = |name: &str| {
            caller
                .as_ref()
                .and_then(|c| c.raw.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        state.credentials = Some(CredentialUse {
            subject: claim("sub"),
            scopes: claim("scope"),
            strip_response: grant.spec.strip_response_headers.clone(),
            connection_id: id,
            audit: None,
        });
        // The caller's own credentials are for Portico, never for the third party;
        // nor is the header that named the connection.
        for name in ["authorization", "cookie", "proxy-authorization"] {
            headers.remove(name);
        }
        if let ConnectionSource::Header(name) = &self.source {
            headers.remove(name);
        }
        Flow::Continue
    }

    /// After the terminal planned its call: the URL must be one the connector
    /// allows and the policy must admit the call; then the credential goes in.
    pub fn on_call(
        &self,
        cx: &RequestCx<'_>,
        state: &mut RequestState,
        call: &mut UpstreamCall,
        headers: &mut dyn HeaderAccess,
    ) -> Result<(), ProxyError> {
        if call.target != Target::Fetch {
            return Err(failed("the terminal is not an http upstream"));
        }
        let used = state
            .credentials
            .as_mut()
            .ok_or_else(|| failed(NeedError::Missing.to_string()))?;
        let grant = match cx.pre.grant(&used.connection_id) {
            Some(Ok(g)) => g,
            _ => return Err(failed(NeedError::Missing.to_string())),
        };
        let injection = grant
            .authorize(&Use {
                method: cx.method,
                url: &call.url,
                subject: used.subject.as_deref(),
                scopes: used.scopes.as_deref(),
            })
            .map_err(ProxyError::from)?;
        if let Some((name, value)) = &injection.header {
            headers.set(name, value.as_str());
        }
        if let Some((name, value)) = &injection.query {
            call.url = set_query_param(&call.url, name, value.as_str());
        }
        if injection.body_field.is_some() {
            // Refused when the route is written; a stored route that slipped
            // through fails rather than sending the body without its key.
            return Err(failed("body placement is not available on routes"));
        }
        let (origin, rest) = crate::url::split_origin(&call.url).unwrap_or_default();
        used.audit = Some(CallAudit {
            tenant_id: grant.tenant_id.clone(),
            actor: used.subject.clone().unwrap_or_default(),
            connection_id: grant.connection_id.clone(),
            connector_id: grant.connector_id.clone(),
            connector_version: grant.connector_version,
            method: cx.method.to_string(),
            host: crate::url::authority_host(crate::url::authority_of(&origin)).to_string(),
            path: rest.split(['?', '#']).next().unwrap_or("/").to_string(),
            request_bytes: headers
                .get("content-length")
                .and_then(|v| v.trim().parse().ok()),
        });
        Ok(())
    }

    /// Response phase: the connector's response headers to strip.
    pub fn on_response(&self, state: &RequestState, headers: &mut dyn HeaderAccess) {
        if let Some(used) = &state.credentials {
            for name in &used.strip_response {
                headers.remove(name);
            }
        }
    }
}

fn failed(detail: impl Into<String>) -> ProxyError {
    ProxyError::HandlerFailed {
        handler: HANDLER,
        detail: detail.into(),
    }
}

fn need_failed(e: &NeedError) -> ProxyError {
    match e {
        NeedError::Credential(
            f @ (CredentialFailure::VaultUnavailable
            | CredentialFailure::NeedsReauth
            | CredentialFailure::CoolingDown(_)),
        ) => f.to_proxy_error(),
        other => failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
