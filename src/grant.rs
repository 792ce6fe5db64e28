//! A connection made ready for one call: its connector version's spec, its policy,
//! its state and its opened credential. The one place that decides whether a call
//! may use the credential and what goes into the outbound request — shared by the
//! proxy endpoint and the `credentials` route handler, so both refuse alike.

use crate::connection::policy::{Policy, PolicyCall, PolicyDenied};
use crate::connection::ConnectionState;
use crate::connector::ConnectorSpec;
use crate::error::ProxyError;
use crate::vault::inject::{injection, InjectError, Injection};
use crate::vault::Credential;
use std::rc::Rc;

pub mod cache;

/// A connection with everything a call through it needs.
pub struct Grant {
    /// The tenant owning the connection.
    pub tenant_id: String,
    /// The connection id.
    pub connection_id: String,
    /// Its connector.
    pub connector_id: String,
    /// The connector version it was made with.
    pub connector_version: u32,
    /// Connection state.
    pub state: ConnectionState,
    /// The connector version's settings.
    pub spec: Rc<ConnectorSpec>,
    /// Who may use it for what (`None`: anyone with access to the connection).
    pub policy: Option<Rc<Policy>>,
    /// The opened credential (`None` for `none` connectors and pending ones).
    pub credential: Option<Credential>,
    /// OAuth2: from when the access token must be renewed by the connection's
    /// token keeper instead of used (ms since the epoch; `None`: no expiry known).
    pub token_refresh_at_ms: Option<f64>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credential.
        f.debug_struct("Grant")
            .field("tenant_id", &self.tenant_id)
            .field("connection_id", &self.connection_id)
            .field("connector_id", &self.connector_id)
            .field("connector_version", &self.connector_version)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// One call that wants to use a grant.
#[derive(Debug, Clone, Copy)]
pub struct Use<'a> {
    /// Method of the outbound request.
    pub method: &'a str,
    /// The outbound URL (absolute).
    pub url: &'a str,
    /// The caller's `sub`, when known.
    pub subject: Option<&'a str>,
    /// The caller's space-separated scopes, when known.
    pub scopes: Option<&'a str>,
}

/// Why a call may not use a grant. Messages carry no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    /// The connection is not `ready`.
    #[error("connection is {0}, not ready")]
    NotReady(&'static str),
    /// The connection policy refuses the call.
    #[error("{0}")]
    Policy(#[from] PolicyDenied),
    /// The URL's host is not one the connector allows (or not https).
    #[error("the connector does not allow this upstream host")]
    HostNotAllowed,
    /// The stored credential does not fit the connector's auth.
    #[error("credential unusable: {0}")]
    Inject(#[from] InjectError),
}

impl From<GrantRefusal> for ProxyError {
    /// How a refusal answers (§5): 409 `connection_not_ready`, 403 `policy_denied`,
    /// otherwise 502 `credentials_failed`; nothing is sent in any case.
    fn from(r: GrantRefusal) -> Self {
        match r {
            GrantRefusal::NotReady(state) => Self::ConnectionNotReady(state),
            GrantRefusal::Policy(p) => Self::PolicyDenied(p.to_string()),
            GrantRefusal::HostNotAllowed | GrantRefusal::Inject(_) => Self::HandlerFailed {
                handler: "credentials",
                detail: r.to_string(),
            },
        }
    }
}

impl Grant {
    /// Whether this is a ready OAuth2 connection whose access token must come from
    /// its token keeper first (none opened yet, or due for renewal at `now_ms`).
    pub fn token_due(&self, now_ms: f64) -> bool {
        matches!(self.spec.auth, crate::connector::AuthSpec::OAuth2(_))
            && self.state == ConnectionState::Ready
            && (self.credential.is_none()
                || self.token_refresh_at_ms.is_some_and(|at| now_ms >= at))
    }

    /// The hash the token keeper knows the current OAuth2 access token by.
    pub fn token_hash(&self) -> Option<String> {
        match &self.credential {
            Some(Credential::Bearer(t)) => std::str::from_utf8(t.expose())
                .ok()
                .map(crate::oauth::keeper::token_hash),
            _ => None,
        }
    }

    /// The same grant with a new access token from the keeper.
    pub fn with_token(&self, access_token: Credential, refresh_at_ms: Option<f64>) -> Self {
        Self {
            tenant_id: self.tenant_id.clone(),
            connection_id: self.connection_id.clone(),
            connector_id: self.connector_id.clone(),
            connector_version: self.connector_version,
            state: self.state,
            spec: Rc::clone(&self.spec),
            policy: self.policy.clone(),
            credential: Some(access_token),
            token_refresh_at_ms: refresh_at_ms,
        }
    }

    /// The path of `url` under the connector's base URL (policies match it); the
    /// whole path for a URL elsewhere on an allowed host.
    pub fn path_under_base<'u>(&self, url: &'u str) -> &'u str {
        let base = &self.spec.base_url;
        let rest = crate::url::strip_prefix_ignore_case(url, &base.origin).unwrap_or("");
        let path = rest.split(['?', '#']).next().unwrap_or("");
        let under = path
            .strip_prefix(base.base_path.as_str())
            .filter(|p| p.is_empty() || p.starts_with('/'));
        match under {
            Some("") => "/",
            Some(p) => p,
            None => match crate::url::split_origin(url) {
                Some((_, p)) => p.split(['?', '#']).next().unwrap_or("/"),
                None => "/",
            },
        }
    }

    /// Decides whether `call` may use this grant and, if so, what to inject.
    pub fn authorize(&self, call: &Use<'_>) -> Result<Injection, GrantRefusal> {
        if self.state != ConnectionState::Ready {
            return Err(GrantRefusal::NotReady(self.state.as_str()));
        }
        if !self.spec.allows_url(call.url) {
            return Err(GrantRefusal::HostNotAllowed);
        }
        if let Some(policy) = &self.policy {
            policy.check(&PolicyCall {
                method: call.method,
                path: self.path_under_base(call.url),
                subject: call.subject,
                scopes: call.scopes,
            })?;
        }
        Ok(injection(&self.spec.auth, self.credential.as_ref())?)
    }
}

#[cfg(test)]
mod tests;
