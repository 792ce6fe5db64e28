//! Small outbound calls Portico makes for itself (OAuth tokens, the remote control
//! plane): buffered text bodies, a deadline, optional service binding.

use super::shared::{with_deadline, Elapsed};
use crate::url::without_query;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

/// A buffered reply.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Why an outbound call failed. Safe to log: URLs are kept without query or
/// fragment, and header values (credentials) never appear.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutboundError {
    /// The request could not be built (a header value, the URL).
    #[error("cannot build the request to {url}: {what}")]
    Request { url: String, what: String },
    /// The named service binding is absent or not a Fetcher.
    #[error("service binding {0} is not available")]
    Binding(String),
    /// The network (or the callee) failed before a whole answer arrived.
    #[error("{url}: {detail}")]
    Network { url: String, detail: String },
    /// No whole answer within the deadline.
    #[error("{url}: timed out after {ms} ms")]
    Timeout { url: String, ms: u64 },
    /// An answer with a status the caller cannot use.
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
}

impl OutboundError {
    /// `Status` for a reply from `url`.
    pub(crate) fn status(url: &str, status: u16) -> Self {
        Self::Status {
            url: without_query(url).to_string(),
            status,
        }
    }

    fn network(url: &str, detail: impl std::fmt::Display) -> Self {
        Self::Network {
            url: without_query(url).to_string(),
            detail: detail.to_string(),
        }
    }
}

/// Sends one request and reads the whole answer within `timeout_ms`; any status is
/// a `Reply` (callers decide which they can use).
pub(crate) async fn call(
    env: &Env,
    service: Option<&str>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
    timeout_ms: u64,
) -> Result<Reply, OutboundError> {
    call_capped(
        env,
        service,
        method,
        url,
        headers,
        body,
        timeout_ms,
        usize::MAX,
    )
    .await
}

/// [`call`], reading at most `max_body` bytes of the answer (a longer one is a
/// network error): for endpoints a tenant chose, such as an OAuth provider's.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn call_capped(
    env: &Env,
    service: Option<&str>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
    timeout_ms: u64,
    max_body: usize,
) -> Result<Reply, OutboundError> {
    let build = |what: String| OutboundError::Request {
        url: without_query(url).to_string(),
        what,
    };
    let h = Headers::new();
    for (k, v) in headers {
        // The runtime's message may quote the value (a credential): name the header only.
        h.set(k, v)
            .map_err(|_| build(format!("header {k} is invalid")))?;
    }
    if service.is_some() {
        // A service-binding fetch carries only the headers it is given; the callee
        // routes on Host (a control-plane host), so send the URL's authority.
        let authority = crate::url::authority_of(url);
        if !authority.is_empty() {
            h.set("host", authority)
                .map_err(|_| build("header host is invalid".into()))?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(h);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init(url, &init).map_err(|e| build(e.to_string()))?;
    let send = async move {
        let mut res = match service {
            Some(name) => env
                .service(name)
                .map_err(|_| OutboundError::Binding(name.to_string()))?
                .fetch_request(req)
                .await
                .map_err(|e| OutboundError::network(url, format!("via {name}: {e}")))?,
            None => Fetch::Request(req)
                .send()
                .await
                .map_err(|e| OutboundError::network(url, e))?,
        };
        let status = res.status_code();
        let body = match res.body() {
            worker::ResponseBody::Stream(stream) if max_body < usize::MAX => {
                let bytes = super::body::read_capped(stream, max_body)
                    .await
                    .map_err(|_| {
                        OutboundError::network(
                            url,
                            format!("body over {max_body} bytes or unreadable"),
                        )
                    })?;
                String::from_utf8(bytes)
                    .map_err(|_| OutboundError::network(url, "body is not UTF-8"))?
            }
            _ => res
                .text()
                .await
                .map_err(|e| OutboundError::network(url, format!("body: {e}")))?,
        };
        Ok(Reply { status, body })
    };
    match with_deadline(timeout_ms, send).await {
        Ok(r) => r,
        Err(Elapsed) => Err(OutboundError::Timeout {
            url: without_query(url).to_string(),
            ms: timeout_ms,
        }),
    }
}
