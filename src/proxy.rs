//! The request lifecycle as pure Rust (DESIGN §9): authority → host → canonical path
//! → route → needs → middleware request phase → terminal plan → response phase, and
//! the one place errors meet the chain. It takes owned request facts and returns a
//! plan as data; the platform (the workers-rs path or the lean JS entry) only carries
//! plans out, so both give the same answers and everything here tests natively.

use crate::canonical_path::{canonicalize, EncodedSlashes};
use crate::chain::cookies::confine_domains;
use crate::chain::{Chain, TerminalPlan};
use crate::config::host::HostConfig;
use crate::config::route::Route;
use crate::error::ProxyError;
use crate::header_edits::{Edit, EditLog};
use crate::host::{normalize_host, HostError};
use crate::message::{HeaderAccess, HeaderList, SimpleResponse};
use crate::request::{CallAudit, Need, Prefetched, RequestCx, RequestHead, RequestState};
use crate::routing::limits::FilterLimits;
use crate::routing::RequestFacts;
use crate::upstream::{is_websocket_upgrade, strip_hop_by_hop, Target, UpstreamCall};
use crate::url::{canonical_url, split_request_url};
use std::rc::Rc;

/// Isolate-wide settings the lifecycle reads.
#[derive(Debug, Clone, Copy)]
pub struct ProxySettings {
    /// `PORTICO_ENCODED_SLASHES` (DESIGN §3).
    pub encoded_slashes: EncodedSlashes,
    /// Bounds on what route filters scan.
    pub filter_limits: FilterLimits,
}

/// Where a request goes once its head is read.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// The management API (a control-plane host under `/api/v1`).
    Api {
        /// The path below `/api/v1`.
        path: String,
        /// Raw query.
        query: String,
    },
    /// The data plane.
    Proxy(RequestHead),
}

/// Reads the request head: authority (`Host`, else `X-Forwarded-Host`), normalised
/// host, the API check, then the canonical path. `is_api_host` answers for the
/// control-plane hosts.
pub fn enter(
    settings: &ProxySettings,
    method: &str,
    url: &str,
    inbound: &dyn HeaderAccess,
    is_api_host: &dyn Fn(&str) -> bool,
    now_s: i64,
) -> Result<Entry, ProxyError> {
    let authority = inbound
        .get("host")
        .filter(|h| !h.trim().is_empty())
        .or_else(|| inbound.get("x-forwarded-host"))
        .ok_or(ProxyError::MissingHost)?;
    let host = normalize_host(&authority).map_err(|e| match e {
        HostError::Missing => ProxyError::MissingHost,
        HostError::Invalid => ProxyError::InvalidHost,
    })?;
    let (scheme, raw_path, query) = split_request_url(url);
    if is_api_host(&host) {
        if let Some(sub) = raw_path.strip_prefix("/api/v1") {
            if sub.is_empty() || sub.starts_with('/') {
                return Ok(Entry::Api {
                    path: sub.to_string(),
                    query: query.to_string(),
                });
            }
        }
    }
    let path = canonicalize(raw_path, settings.encoded_slashes).map_err(ProxyError::InvalidPath)?;
    // Upstreams and X-Original-URL see the canonical spelling only.
    let url = if path.upstream == raw_path {
        url.split('#').next().unwrap_or_default().to_string()
    } else {
        canonical_url(url, &path.upstream, query)
    };
    Ok(Entry::Proxy(RequestHead {
        method: method.to_string(),
        url,
        scheme,
        authority,
        host,
        path: path.upstream.into_owned(),
        matching_path: path.matching.into_owned(),
        query: query.to_string(),
        now_s,
        websocket: is_websocket_upgrade(inbound),
    }))
}

/// Route filters read the request through any header view.
struct Facts<'a> {
    limits: FilterLimits,
    head: &'a RequestHead,
    headers: &'a dyn HeaderAccess,
}

impl RequestFacts for Facts<'_> {
    fn method(&self) -> &str {
        &self.head.method
    }
    fn host(&self) -> &str {
        &self.head.host
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name)
    }
    fn query(&self) -> &str {
        &self.head.query
    }
    fn filter_limits(&self) -> FilterLimits {
        self.limits
    }
}

/// A request's host config and the route it selected (owned, so it can outlive the
/// call that made it).
#[derive(Debug, Clone)]
pub struct Routed {
    config: Rc<HostConfig>,
    route: Rc<Route>,
    params: Vec<(String, String)>,
}

/// Selects the route for `head` among `config`'s routes.
pub fn route(
    head: &RequestHead,
    config: Rc<HostConfig>,
    inbound: &dyn HeaderAccess,
    limits: FilterLimits,
) -> Result<Routed, ProxyError> {
    let facts = Facts {
        limits,
        head,
        headers: inbound,
    };
    let (route, params) = {
        let m = config
            .table
            .select(&head.matching_path, &facts)
            .ok_or(ProxyError::NoRoute)?;
        (m.route.clone(), m.params)
    };
    Ok(Routed {
        config,
        route,
        params,
    })
}

impl Routed {
    /// The host config.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The selected route.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The selected route's chain.
    pub fn chain(&self) -> &Chain {
        &self.route().chain
    }

    /// The context handlers see.
    pub fn cx<'a>(&'a self, head: &'a RequestHead, pre: &'a Prefetched) -> RequestCx<'a> {
        RequestCx {
            method: &head.method,
            url: &head.url,
            scheme: head.scheme,
            authority: &head.authority,
            host: &head.host,
            path: &head.path,
            query: &head.query,
            tenant_id: &self.config.tenant_id,
            custom_domain_id: self.config.custom_domain_id.as_deref(),
            domain: &self.config.domain,
            params: &self.params,
            now_s: head.now_s,
            pre,
        }
    }

    /// The needs `pre` does not meet yet. The platform fetches them, adds them to
    /// `pre`, and asks again until this is empty (a need may build on another).
    pub fn needs(
        &self,
        head: &RequestHead,
        pre: &Prefetched,
        inbound: &dyn HeaderAccess,
    ) -> Vec<Need> {
        self.chain().needs(&self.cx(head, pre), inbound)
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Plan {
    /// Answer with this response (already through the response phase).
    Respond {
        /// The response. The executor drops its body for `HEAD`.
        response: SimpleResponse,
        /// The failure behind it, for the executor's log line.
        error: Option<ProxyError>,
    },
    /// Send this upstream call with the edited headers, then finish with `after`.
    Call {
        /// The call.
        call: UpstreamCall,
        /// The request state for the response phase (boxed: it is large, and
        /// the JS entry parks it until the upstream answers).
        after: Box<After>,
    },
}

/// Runs the request phase of the selected chain over `headers` (a mutable copy of
/// the inbound headers, which ends up as the upstream request's headers) and plans
/// the terminal. For a call, hop-by-hop headers are stripped and `Host` is set or
/// dropped, so `headers` is exactly what to send.
pub fn plan(
    head: RequestHead,
    routed: Routed,
    pre: &Prefetched,
    headers: &mut dyn HeaderAccess,
) -> Plan {
    let websocket = head.websocket;
    let mut state = RequestState::default();
    let (decided, ran) = {
        let cx = routed.cx(&head, pre);
        let chain = routed.chain();
        let outcome = chain.on_request(&cx, &mut state, headers);
        let decided = match outcome.early {
            Some(early) => Decided::Answer(early),
            None => match chain.terminal.plan(&cx, headers) {
                Ok(TerminalPlan::Respond(res)) => Decided::Answer(Ok(res)),
                Ok(TerminalPlan::Call(mut call)) => {
                    match chain.on_call(&cx, &mut state, &mut call, headers) {
                        Ok(()) => Decided::Call(call),
                        Err(e) => Decided::Answer(Err(e)),
                    }
                }
                Err(e) => Decided::Answer(Err(e)),
            },
        };
        (decided, outcome.ran)
    };
    let after = After {
        head,
        routed,
        state,
        ran,
    };
    let early = match decided {
        Decided::Answer(a) => a,
        Decided::Call(call) => {
            strip_hop_by_hop(headers, websocket);
            match &call.host_header {
                Some(host) => headers.set("host", host),
                // The copied inbound Host would otherwise reach a service binding as is.
                None => headers.remove("host"),
            }
            return Plan::Call {
                call,
                after: Box::new(after),
            };
        }
    };
    match early {
        Ok(mut response) => {
            after.on_response(response.status, &mut response.headers);
            Plan::Respond {
                response,
                error: None,
            }
        }
        Err(err) => Plan::Respond {
            response: after.on_error(&err),
            error: Some(err),
        },
    }
}

/// What the request phase and terminal came to.
enum Decided {
    Answer(Result<SimpleResponse, ProxyError>),
    Call(UpstreamCall),
}

/// What the response phase needs once the upstream has answered.
#[derive(Debug, Clone)]
pub struct After {
    head: RequestHead,
    routed: Routed,
    state: RequestState,
    ran: usize,
}

impl After {
    /// The request head.
    pub fn head(&self) -> &RequestHead {
        &self.head
    }

    /// The domain entry the host matched (for cookie confinement).
    pub fn domain(&self) -> &str {
        &self.routed.config.domain
    }

    /// Whether any middleware that ran edits responses (else the executor may hand
    /// the upstream response on untouched, unless it sets cookies).
    pub fn touches_response(&self) -> bool {
        self.routed.chain().touches_response(self.ran)
    }

    /// The response phase over a response's headers, then cookie confinement to
    /// the tenant's own domain.
    pub fn on_response(&self, status: u16, headers: &mut dyn HeaderAccess) {
        let pre = Prefetched::new();
        let cx = self.routed.cx(&self.head, &pre);
        self.routed
            .chain()
            .on_response(&cx, &self.state, self.ran, status, headers);
        self.confine(headers);
    }

    /// The response phase as edits, when it depends on nothing of the response
    /// (see `Middleware::response_is_static`) and does not touch `Set-Cookie`:
    /// the JS entry then applies them itself (and confines cookies only if the
    /// response has any). `None`: run [`After::on_response`] on the response.
    pub fn static_response_edits(&self) -> Option<Vec<Edit>> {
        // A call with a credential is audited once the upstream answered: it
        // comes back to Wasm for that anyway.
        if !self.routed.chain().static_response(self.ran) || self.call_audit().is_some() {
            return None;
        }
        let nothing = HeaderList::new();
        let mut log = EditLog::new(&nothing, false);
        let pre = Prefetched::new();
        let cx = self.routed.cx(&self.head, &pre);
        // The status is not read by static response phases.
        self.routed
            .chain()
            .on_response(&cx, &self.state, self.ran, 0, &mut log);
        let edits = log.edits().to_vec();
        let cookies = edits.iter().any(|e| e.name() == "set-cookie");
        (!cookies).then_some(edits)
    }

    /// The connection whose credential the call carries, if any.
    pub fn credential_use(&self) -> Option<&crate::request::CredentialUse> {
        self.state.credentials.as_ref()
    }

    /// The audit facts of a call made with a connection's credential.
    pub fn call_audit(&self) -> Option<&CallAudit> {
        self.state.credentials.as_ref()?.audit.as_ref()
    }

    /// Only the cookie confinement (for responses no middleware edits).
    pub fn confine(&self, headers: &mut dyn HeaderAccess) {
        confine_domains(headers, &self.head.host, &self.routed.config.domain);
    }

    /// A failure after middleware ran: rendered once, then passed back through the
    /// response phase of the middleware that ran, so e.g. `cors` headers reach the
    /// browser with a 502.
    pub fn on_error(&self, err: &ProxyError) -> SimpleResponse {
        let mut res = err.to_response();
        self.on_response(res.status, &mut res.headers);
        res
    }
}

/// Whether a call can be carried out by a plain `fetch` (the lean JS entry's
/// domain); bindings and dispatch stay on the workers-rs path.
pub fn is_plain_fetch(call: &UpstreamCall) -> bool {
    match call.target {
        Target::Fetch => true,
        Target::Service { .. } | Target::Dispatch { .. } => false,
    }
}

pub mod parked;

#[cfg(test)]
mod tests;
