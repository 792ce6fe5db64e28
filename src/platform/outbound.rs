//! Small outbound calls Portico makes for itself (JWKS, OAuth tokens, the remote
//! control plane): buffered text bodies, a deadline, optional service binding.

use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit};

/// A buffered reply.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Sends one request; `Err` carries a description safe to log (no credentials).
pub(crate) async fn call(
    env: &Env,
    service: Option<&str>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
    timeout_ms: u64,
) -> Result<Reply, String> {
    let h = Headers::new();
    for (k, v) in headers {
        h.set(k, v).map_err(|e| format!("header {k}: {e}"))?;
    }
    if service.is_some() {
        // A service-binding fetch carries only the headers it is given; the callee
        // routes on Host (a control-plane host), so send the URL's authority.
        let authority = crate::url::authority_of(url);
        if !authority.is_empty() {
            h.set("host", authority)
                .map_err(|e| format!("header host: {e}"))?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(h);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init(url, &init).map_err(|e| format!("request to {url}: {e}"))?;
    let send = async move {
        let mut res = match service {
            Some(name) => env
                .service(name)
                .map_err(|e| format!("service binding {name}: {e}"))?
                .fetch_request(req)
                .await
                .map_err(|e| format!("{url} via {name}: {e}"))?,
            None => Fetch::Request(req)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?,
        };
        let status = res.status_code();
        let body = res.text().await.map_err(|e| format!("{url}: body: {e}"))?;
        Ok::<_, String>(Reply { status, body })
    };
    let timeout = Delay::from(Duration::from_millis(timeout_ms));
    futures_util::pin_mut!(send);
    match select(send, timeout).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err(format!("{url}: timed out after {timeout_ms} ms")),
    }
}
