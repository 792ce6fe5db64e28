//! One request as handlers see it: the owned head, the borrowed context the phases
//! run over, the state carried between phases, and the I/O a request needs before
//! its chain runs (DESIGN §9: needs before the chain, then a synchronous chain).

use crate::auth::jwks_cache::JwksError;
use crate::auth::KeySet;
use crate::error::ProxyError;
use crate::grant::Grant;
use crate::message::SimpleResponse;
use std::rc::Rc;

/// The owned facts of one request, decided before any route is chosen. Owned so a
/// plan can outlive the call that made it (the JS fast path awaits the upstream
/// between planning and the response phase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Method as sent.
    pub method: String,
    /// The URL with the canonical path (fragment dropped).
    pub url: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The `Host` value as received (may carry a port).
    pub authority: String,
    /// The normalised host.
    pub host: String,
    /// Canonical path sent upstream (still percent-encoded where it must be).
    pub path: String,
    /// Canonical path routes match against.
    pub matching_path: String,
    /// Raw query without `?` (empty when none).
    pub query: String,
    /// Current time, Unix seconds (token checks).
    pub now_s: i64,
    /// The request asks to switch to WebSocket (read once, from the inbound headers).
    pub websocket: bool,
}

/// What one request looks like to handlers.
#[derive(Debug, Clone)]
pub struct RequestCx<'a> {
    /// Method as sent.
    pub method: &'a str,
    /// The full URL, canonical path.
    pub url: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The `Host` value as received (may carry a port).
    pub authority: &'a str,
    /// The normalised host.
    pub host: &'a str,
    /// Raw (still percent-encoded) path.
    pub path: &'a str,
    /// Raw query without `?` (empty when none).
    pub query: &'a str,
    /// Tenant the host resolved to.
    pub tenant_id: &'a str,
    /// Custom domain id, when the source has one.
    pub custom_domain_id: Option<&'a str>,
    /// The domain entry that matched (may be a `*.` wildcard).
    pub domain: &'a str,
    /// Path parameters of the selected route.
    pub params: &'a [(String, String)],
    /// Current time, Unix seconds (token checks).
    pub now_s: i64,
    /// What the platform fetched for this request's needs.
    pub pre: &'a Prefetched,
}

/// State carried from the request phase to the response phase of one request.
#[derive(Debug, Default, Clone)]
pub struct RequestState {
    /// The request's `Origin`, read once by `cors`.
    pub origin: Option<String>,
    /// The request carried credentials (`Authorization`, `Cookie`) or an auth
    /// middleware guards the route: its response is per user, so `cache` marks
    /// it `private`.
    pub credentialed: bool,
    /// What a `credentials` handler decided in the request phase, for the call.
    pub credentials: Option<CredentialUse>,
}

/// The connection a `credentials` handler uses and the verified caller it read
/// before removing the caller's `Authorization` (the connection policy needs it).
#[derive(Debug, Default, Clone)]
pub struct CredentialUse {
    /// The connection id.
    pub connection_id: String,
    /// The caller's verified `sub`.
    pub subject: Option<String>,
    /// The caller's verified `scope` claim.
    pub scopes: Option<String>,
    /// Response headers the connector strips.
    pub strip_response: Vec<String>,
    /// The call's audit facts, once the credential went into it.
    pub audit: Option<CallAudit>,
}

/// What the audit row of a call made with a connection's credential records
/// (never a header value, query or body). Status, duration and response size are
/// added by the platform once the upstream answered.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallAudit {
    /// The tenant owning the connection.
    pub tenant_id: String,
    /// Who called (`sub`), or empty when unknown.
    pub actor: String,
    /// The connection.
    pub connection_id: String,
    /// Its connector and version.
    pub connector_id: String,
    /// The connector version.
    pub connector_version: u32,
    /// Method sent.
    pub method: String,
    /// Upstream host.
    pub host: String,
    /// Upstream path, without query.
    pub path: String,
    /// Request body size, when declared.
    pub request_bytes: Option<u64>,
}

/// What a request-phase step decided.
#[derive(Debug)]
pub enum Flow {
    /// Go on to the next handler.
    Continue,
    /// Answer now; later handlers and the terminal do not run.
    Respond(SimpleResponse),
    /// Fail now with a data-plane error (rendered once, in `crate::error`); the
    /// response phase of the handlers before still runs over it.
    Fail(ProxyError),
}

/// I/O a handler needs done before the chain runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The key set at a JWKS URL, for a token naming `kid`.
    Jwks {
        /// The JWKS URL.
        url: Rc<str>,
        /// The presented token's `kid`, when it names one.
        kid: Option<String>,
    },
    /// One hit on a rate limiter binding.
    RateLimit {
        /// The limiter binding name (listed in `PORTICO_RATE_LIMITERS`).
        limiter: Rc<str>,
        /// The full counter key (tenant and route prefixed).
        key: String,
    },
    /// A connection of the route's tenant, opened for use (`credentials`).
    Credential {
        /// The connection id.
        connection_id: String,
    },
}

/// Why a need could not be met (never carries request data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeedError {
    /// The JWKS could not be had.
    #[error("JWKS unavailable: {0}")]
    Jwks(#[from] JwksError),
    /// The platform did not fetch it (a bug if it happens: needs are collected
    /// from the same chain).
    #[error("not fetched")]
    Missing,
    /// The limiter binding is missing or failed.
    #[error("rate limiter unavailable: {0}")]
    RateLimiter(String),
    /// The connection could not be opened.
    #[error("credential: {0}")]
    Credential(#[from] CredentialFailure),
}

/// Why a connection could not be opened for a request (never carries a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialFailure {
    /// No such connection for this tenant.
    #[error("no such connection")]
    NotFound,
    /// The vault is off.
    #[error("vault unavailable")]
    VaultUnavailable,
    /// Storage failed, or the stored secret or spec cannot be read or opened.
    #[error("{0}")]
    Unreadable(String),
    /// The provider refused the refresh: a user must authorise again.
    #[error("the connection needs to be authorised again")]
    NeedsReauth,
    /// Transient refresh failures: the token keeper is cooling down.
    #[error("the token cannot be refreshed for {0} s")]
    CoolingDown(u32),
}

impl CredentialFailure {
    /// The §5 answer of a failure to open a connection for a call: 503
    /// `vault_unavailable`, 409 `connection_not_ready`, 503 `token_unavailable`, or
    /// 502 `credentials_failed` (the detail is logged, never sent).
    pub fn to_proxy_error(&self) -> crate::error::ProxyError {
        use crate::error::ProxyError;
        match self {
            CredentialFailure::NeedsReauth => ProxyError::ConnectionNotReady("needs_reauth"),
            CredentialFailure::CoolingDown(s) => ProxyError::TokenUnavailable { retry_after_s: *s },
            CredentialFailure::VaultUnavailable => ProxyError::VaultUnavailable,
            CredentialFailure::NotFound | CredentialFailure::Unreadable(_) => {
                ProxyError::HandlerFailed {
                    handler: "credentials",
                    detail: self.to_string(),
                }
            }
        }
    }
}

/// A rate limiter's answer for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Under the limit: go on.
    Allowed,
    /// Over the limit.
    Limited,
}

/// Keys fetched for a JWKS URL, or why not.
pub type JwksResult = Result<Rc<KeySet>, NeedError>;

/// Results of a request's needs, read by the synchronous chain.
#[derive(Debug, Default, Clone)]
pub struct Prefetched {
    jwks: Vec<(Rc<str>, JwksResult)>,
    rate: Vec<(Rc<str>, String, Result<RateDecision, NeedError>)>,
    grants: Vec<(String, GrantResult)>,
}

/// A connection opened for use, or why not.
pub type GrantResult = Result<Rc<Grant>, NeedError>;

impl Prefetched {
    /// Nothing fetched.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys fetched for `url`, if that need was met (or failed).
    pub fn jwks(&self, url: &str) -> Option<&JwksResult> {
        self.jwks.iter().find(|(u, _)| &**u == url).map(|(_, k)| k)
    }

    /// The limiter's decision for `key`, if that need was met (or failed).
    pub fn rate_limit(&self, limiter: &str, key: &str) -> Option<&Result<RateDecision, NeedError>> {
        self.rate
            .iter()
            .find(|(l, k, _)| &**l == limiter && k == key)
            .map(|(_, _, d)| d)
    }

    /// The limiter's decision for the key under `prefix` (one handler's tenant,
    /// route and recipe), if that need was met (or failed).
    pub fn rate_limit_under(
        &self,
        limiter: &str,
        prefix: &str,
    ) -> Option<&Result<RateDecision, NeedError>> {
        self.rate
            .iter()
            .find(|(l, k, _)| &**l == limiter && k.starts_with(prefix))
            .map(|(_, _, d)| d)
    }

    /// Whether `need` already has a result here.
    pub fn has(&self, need: &Need) -> bool {
        match need {
            Need::Jwks { url, .. } => self.jwks(url).is_some(),
            Need::RateLimit { limiter, key } => self.rate_limit(limiter, key).is_some(),
            Need::Credential { connection_id } => self.grant(connection_id).is_some(),
        }
    }

    /// The connection opened for `connection_id`, if that need was met (or failed).
    pub fn grant(&self, connection_id: &str) -> Option<&GrantResult> {
        self.grants
            .iter()
            .find(|(c, _)| c == connection_id)
            .map(|(_, g)| g)
    }

    /// Records an opened connection (or why it could not be opened).
    pub fn put_grant(&mut self, connection_id: String, grant: GrantResult) {
        self.grants.retain(|(c, _)| *c != connection_id);
        self.grants.push((connection_id, grant));
    }

    /// Records the keys (or the failure) for a JWKS URL.
    pub fn put_jwks(&mut self, url: Rc<str>, keys: JwksResult) {
        self.jwks.retain(|(u, _)| *u != url);
        self.jwks.push((url, keys));
    }

    /// Records a limiter's decision (or its failure) for a key.
    pub fn put_rate_limit(
        &mut self,
        limiter: Rc<str>,
        key: String,
        decision: Result<RateDecision, NeedError>,
    ) {
        self.rate.retain(|(l, k, _)| !(*l == limiter && *k == key));
        self.rate.push((limiter, key, decision));
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A request context for handler tests.
    use super::{Prefetched, RequestCx};

    pub(crate) fn cx() -> RequestCx<'static> {
        cx_with(Box::leak(Box::new(Prefetched::default())))
    }

    pub(crate) fn cx_with(pre: &'static Prefetched) -> RequestCx<'static> {
        RequestCx {
            method: "GET",
            url: "https://app.example.com/a/b?x=1",
            scheme: "https",
            authority: "app.example.com",
            host: "app.example.com",
            path: "/a/b",
            query: "x=1",
            tenant_id: "acme",
            custom_domain_id: Some("dom_1"),
            domain: "app.example.com",
            params: &[],
            now_s: 1_800_000_000,
            pre,
        }
    }
}
