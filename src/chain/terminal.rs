//! The terminal at the end of every chain: one enum over the built-in terminals in
//! `crate::upstream` and registered custom ones, and the plan it makes per request.

use super::custom::CustomHandler;
use super::kind::HandlerKind;
use crate::error::ProxyError;
use crate::message::{HeaderAccess, SimpleResponse};
use crate::request::{Flow, RequestCx};
use crate::upstream::{dispatch, http, redirect, service, static_response, UpstreamCall};
use crate::url;
use std::rc::Rc;

/// Built-in terminal kinds, plus registered custom ones.
#[derive(Clone)]
pub enum Terminal {
    /// `http`
    Http(http::HttpUpstream),
    /// `service_binding`
    Service(service::ServiceUpstream),
    /// `dispatch_namespace`
    Dispatch(dispatch::DispatchUpstream),
    /// `redirect`
    Redirect(redirect::Redirect),
    /// `static`
    Static(static_response::StaticResponse),
    /// A registered custom terminal.
    Custom(Rc<dyn CustomHandler>),
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.type_name())
    }
}

/// What the terminal decided for this request.
#[derive(Debug)]
pub enum TerminalPlan {
    /// Answer without an upstream.
    Respond(SimpleResponse),
    /// Call an upstream.
    Call(UpstreamCall),
}

impl Terminal {
    /// The built-in kind (`None` for a registered custom terminal).
    pub fn kind(&self) -> Option<HandlerKind> {
        Some(match self {
            Self::Http(_) => HandlerKind::Http,
            Self::Service(_) => HandlerKind::ServiceBinding,
            Self::Dispatch(_) => HandlerKind::DispatchNamespace,
            Self::Redirect(_) => HandlerKind::Redirect,
            Self::Static(_) => HandlerKind::Static,
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

    /// Whether the terminal answers by itself or with a plain `fetch` (what the
    /// lean JS entry can carry out); bindings, dispatch and custom terminals need
    /// the workers-rs path.
    pub fn is_fetch_or_local(&self) -> bool {
        match self {
            Self::Http(_) | Self::Redirect(_) | Self::Static(_) => true,
            Self::Service(_) | Self::Dispatch(_) | Self::Custom(_) => false,
        }
    }

    /// Decides what to do for this request.
    pub fn plan(
        &self,
        cx: &RequestCx<'_>,
        headers: &mut dyn HeaderAccess,
    ) -> Result<TerminalPlan, ProxyError> {
        match self {
            Self::Http(t) => Ok(TerminalPlan::Call(t.plan(cx))),
            Self::Service(t) => Ok(TerminalPlan::Call(t.plan(cx))),
            Self::Dispatch(t) => t.plan(cx).map(TerminalPlan::Call),
            Self::Redirect(t) => Ok(TerminalPlan::Respond(t.respond(cx))),
            Self::Static(t) => Ok(TerminalPlan::Respond(t.respond())),
            Self::Custom(c) => match c.on_request(cx, headers) {
                Flow::Respond(r) => Ok(TerminalPlan::Respond(r)),
                Flow::Fail(e) => Err(e),
                Flow::Continue => Err(ProxyError::HandlerFailed {
                    handler: c.type_name(),
                    detail: "custom terminal did not respond".into(),
                }),
            },
        }
    }

    /// The upstream URL this terminal sends to, for inferring `rewrite_cookies` and
    /// `rewrite_location` defaults.
    pub fn upstream_base(&self) -> Option<&url::BaseUrl> {
        match self {
            Self::Http(t) => Some(&t.base),
            Self::Service(t) => Some(&t.base),
            Self::Dispatch(_) | Self::Redirect(_) | Self::Static(_) | Self::Custom(_) => None,
        }
    }
}
