//! Handler chains: middleware that wraps a terminal, compiled once per host version.
//!
//! Request phase runs middleware in order, response phase in reverse, like
//! middleware stacks everywhere. Everything here is synchronous and pure; only the
//! terminal's upstream call (in the platform layer) awaits.

pub mod basic_auth;
pub mod cache;
pub mod compile;
pub mod cookies;
pub mod cors;
pub mod credentials;
pub mod custom;
pub mod forwarded;
pub mod headers;
pub mod jwt;
pub mod kind;
pub mod location;
pub mod rate_limit;
pub mod terminal;

use crate::error::ProxyError;
use crate::message::{HeaderAccess, SimpleResponse};
use crate::request::{Flow, Need, RequestCx, RequestState};
use crate::upstream::UpstreamCall;
pub use kind::HandlerKind;
use std::rc::Rc;
pub use terminal::{Terminal, TerminalPlan};

/// Built-in middleware kinds, plus registered custom ones.
#[derive(Clone)]
pub enum Middleware {
    /// `cors`
    Cors(cors::Cors),
    /// `basic_auth`
    BasicAuth(basic_auth::BasicAuth),
    /// `headers`
    Headers(headers::HeaderEdits),
    /// `jwt`
    Jwt(jwt::Jwt),
    /// `cache`
    Cache(cache::CachePolicy),
    /// `forwarded_headers`
    Forwarded(forwarded::Forwarded),
    /// `rewrite_cookies`
    RewriteCookies(cookies::RewriteCookies),
    /// `rewrite_location`
    RewriteLocation(location::RewriteLocation),
    /// `rate_limit`
    RateLimit(rate_limit::RateLimit),
    /// `credentials`
    Credentials(credentials::Credentials),
    /// A type registered by an embedder.
    Custom(Rc<dyn custom::CustomHandler>),
}

impl std::fmt::Debug for Middleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.type_name())
    }
}

impl Middleware {
    /// The built-in kind (`None` for a registered custom handler).
    pub fn kind(&self) -> Option<HandlerKind> {
        Some(match self {
            Self::Cors(_) => HandlerKind::Cors,
            Self::BasicAuth(_) => HandlerKind::BasicAuth,
            Self::Headers(_) => HandlerKind::Headers,
            Self::Jwt(_) => HandlerKind::Jwt,
            Self::Cache(_) => HandlerKind::Cache,
            Self::Forwarded(_) => HandlerKind::ForwardedHeaders,
            Self::RewriteCookies(_) => HandlerKind::RewriteCookies,
            Self::RewriteLocation(_) => HandlerKind::RewriteLocation,
            Self::RateLimit(_) => HandlerKind::RateLimit,
            Self::Credentials(_) => HandlerKind::Credentials,
            Self::Custom(_) => return None,
        })
    }

    /// The handler `type` as written in config.
    pub fn type_name(&self) -> &'static str {
        if let Self::Custom(c) = self {
            return c.type_name();
        }
        self.kind().map_or("custom", HandlerKind::as_str)
    }

    /// Request phase: may edit the upstream request's headers or answer early.
    pub fn on_request(
        &self,
        cx: &RequestCx<'_>,
        state: &mut RequestState,
        headers: &mut dyn HeaderAccess,
    ) -> Flow {
        match self {
            Self::Cors(m) => m.on_request(cx, state, headers),
            Self::BasicAuth(m) => m.on_request(headers),
            Self::Jwt(m) => m.on_request(cx, headers),
            Self::Headers(m) => {
                m.on_request(headers);
                Flow::Continue
            }
            Self::Forwarded(m) => {
                m.on_request(cx, headers);
                Flow::Continue
            }
            Self::RateLimit(m) => m.on_request(cx),
            Self::Credentials(m) => m.on_request(cx, state, headers),
            Self::Custom(m) => m.on_request(cx, headers),
            Self::Cache(_) | Self::RewriteCookies(_) | Self::RewriteLocation(_) => Flow::Continue,
        }
    }

    /// Response phase: edits the response headers on the way back.
    pub fn on_response(
        &self,
        cx: &RequestCx<'_>,
        state: &RequestState,
        status: u16,
        headers: &mut dyn HeaderAccess,
    ) {
        match self {
            Self::Cors(m) => m.on_response(state, headers),
            Self::Headers(m) => m.on_response(headers),
            Self::Cache(m) => m.on_response(status, state.credentialed, headers),
            Self::RewriteCookies(m) => m.on_response(cx, headers),
            Self::RewriteLocation(m) => m.on_response(cx, status, headers),
            Self::Custom(m) => m.on_response(cx, status, headers),
            Self::Credentials(m) => m.on_response(state, headers),
            Self::BasicAuth(_) | Self::Jwt(_) | Self::Forwarded(_) | Self::RateLimit(_) => {}
        }
    }

    /// The I/O this middleware needs before the request phase, if any.
    pub fn need(&self, cx: &RequestCx<'_>, inbound: &dyn HeaderAccess) -> Option<Need> {
        match self {
            Self::Jwt(m) => m.need(cx, inbound),
            Self::RateLimit(m) => m.need(cx, inbound),
            Self::Credentials(m) => m.need(cx, inbound),
            Self::Cors(_)
            | Self::BasicAuth(_)
            | Self::Headers(_)
            | Self::Cache(_)
            | Self::Forwarded(_)
            | Self::RewriteCookies(_)
            | Self::RewriteLocation(_)
            | Self::Custom(_) => None,
        }
    }

    /// Whether its response phase depends on nothing of the response (its status
    /// or headers) beyond list edits the JS entry can apply itself: the edits are
    /// then known when the request is planned.
    pub fn response_is_static(&self) -> bool {
        match self {
            Self::Cors(_) | Self::Headers(_) | Self::Credentials(_) => true,
            Self::BasicAuth(_) | Self::Jwt(_) | Self::Forwarded(_) | Self::RateLimit(_) => true,
            Self::Cache(_)
            | Self::RewriteCookies(_)
            | Self::RewriteLocation(_)
            | Self::Custom(_) => false,
        }
    }

    /// Whether this middleware does anything in the response phase (lets the
    /// platform skip copying immutable upstream headers when nothing will change).
    pub fn touches_response(&self) -> bool {
        match self {
            Self::Cors(_)
            | Self::Headers(_)
            | Self::Cache(_)
            | Self::RewriteCookies(_)
            | Self::RewriteLocation(_)
            | Self::Credentials(_)
            | Self::Custom(_) => true,
            Self::BasicAuth(_) | Self::Jwt(_) | Self::Forwarded(_) | Self::RateLimit(_) => false,
        }
    }
}

/// A compiled handler list: middleware in order, then one terminal.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Middleware, `forwarded_headers` first unless the route placed it.
    pub middleware: Vec<Middleware>,
    /// What produces the response.
    pub terminal: Terminal,
}

/// Result of the request phase of a chain.
#[derive(Debug)]
pub struct RequestOutcome {
    /// How many middleware ran (the response phase runs these in reverse).
    pub ran: usize,
    /// An early answer (or failure) from middleware, if any.
    pub early: Option<Result<SimpleResponse, ProxyError>>,
}

impl Chain {
    /// The I/O this chain needs before its request phase, in chain order, leaving
    /// out what `cx.pre` already holds. Called again after each round of fetches:
    /// a need may depend on an earlier one (a key from verified claims needs the
    /// keys first).
    pub fn needs(&self, cx: &RequestCx<'_>, inbound: &dyn HeaderAccess) -> Vec<Need> {
        let mut out: Vec<Need> = Vec::new();
        for m in &self.middleware {
            if let Some(n) = m.need(cx, inbound) {
                if !cx.pre.has(&n) && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// Runs the request phase over the upstream request's headers.
    pub fn on_request(
        &self,
        cx: &RequestCx<'_>,
        state: &mut RequestState,
        headers: &mut dyn HeaderAccess,
    ) -> RequestOutcome {
        // Only `cache` reads it: routes without one pay no header lookups for it.
        if self
            .middleware
            .iter()
            .any(|m| matches!(m, Middleware::Cache(_)))
        {
            state.credentialed = self
                .middleware
                .iter()
                .any(|m| matches!(m, Middleware::BasicAuth(_) | Middleware::Jwt(_)))
                || headers.get("authorization").is_some()
                || headers.get("cookie").is_some();
        }
        for (i, m) in self.middleware.iter().enumerate() {
            let early = match m.on_request(cx, state, headers) {
                Flow::Continue => continue,
                Flow::Respond(res) => Ok(res),
                Flow::Fail(err) => Err(err),
            };
            return RequestOutcome {
                ran: i,
                early: Some(early),
            };
        }
        RequestOutcome {
            ran: self.middleware.len(),
            early: None,
        }
    }

    /// After the terminal planned `call`: the middleware that act on the call itself
    /// (`credentials` checks its URL and injects into it).
    pub fn on_call(
        &self,
        cx: &RequestCx<'_>,
        state: &mut RequestState,
        call: &mut UpstreamCall,
        headers: &mut dyn HeaderAccess,
    ) -> Result<(), ProxyError> {
        for m in &self.middleware {
            if let Middleware::Credentials(c) = m {
                c.on_call(cx, state, call, headers)?;
            }
        }
        Ok(())
    }

    /// The `credentials` handlers' literal connection ids (checked at write time).
    pub fn literal_connections(&self) -> impl Iterator<Item = &str> {
        self.middleware.iter().filter_map(|m| match m {
            Middleware::Credentials(c) => c.literal_connection(),
            _ => None,
        })
    }

    /// Runs the response phase of the first `ran` middleware, innermost first.
    pub fn on_response(
        &self,
        cx: &RequestCx<'_>,
        state: &RequestState,
        ran: usize,
        status: u16,
        headers: &mut dyn HeaderAccess,
    ) {
        for m in self.middleware[..ran.min(self.middleware.len())]
            .iter()
            .rev()
        {
            m.on_response(cx, state, status, headers);
        }
    }

    /// Whether the response phase of the first `ran` middleware is static (see
    /// [`Middleware::response_is_static`]).
    pub fn static_response(&self, ran: usize) -> bool {
        self.middleware[..ran.min(self.middleware.len())]
            .iter()
            .all(Middleware::response_is_static)
    }

    /// Whether any of the first `ran` middleware edits responses.
    pub fn touches_response(&self, ran: usize) -> bool {
        self.middleware[..ran.min(self.middleware.len())]
            .iter()
            .any(Middleware::touches_response)
    }
}
