//! `ANY /tenants/{tid}/connections/{cid}/proxy/{*path}` (DESIGN §7): forwards to the
//! connector's `base_url` + the canonical path with the connection's credential
//! injected. The decisions (target URL, which headers go, whether the call may use
//! the credential, what to inject) are pure (`crate::connection_proxy`,
//! `crate::grant`); this file does the I/O, streams bodies, and audits the call
//! after the response (`waitUntil`).

use super::call::Call;
use crate::api::Problem;
use crate::body_limit::check_declared;
use crate::chain::cookies::confine_domains;
use crate::connection_proxy::{dropped_request_headers, strip_response_headers, target};
use crate::connector::{AuthSpec, ConnectorSpec};
use crate::error::ProxyError;
use crate::grant::{Grant, Use};
use crate::platform::body::{discard, read_capped, ReadError};
use crate::platform::call_audit::{declared_length, record, Ended};
use crate::platform::execute::{handed_over_401, log_error, to_js_response, with_mutable_headers};
use crate::platform::grants;
use crate::platform::headers::JsHeaders;
use crate::platform::upstream::fetch_with_body;
use crate::request::{CallAudit, CredentialFailure};
use crate::upstream::{Target, UpstreamCall};
use crate::vault::inject::{inject_body, set_query_param, BodyError, Injection};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::Context;

/// Largest body Portico reads to place a key in it.
const MAX_INJECTED_BODY: usize = 1024 * 1024;
/// The handler name in error codes (`proxy_failed`, `proxy_timeout`).
const HANDLER: &str = "proxy";

/// A data-plane error as the proxy answers it (§5: plain text, code header).
fn answer(err: &ProxyError, c: &Call<'_>) -> Result<web_sys::Response, Problem> {
    log_error(err, &c.req.method(), &c.req.url());
    to_js_response(&err.to_response(), c.req.method() == "HEAD")
        .map_err(|_| Problem::internal().caused_by("cannot build response"))
}

/// Serves one proxied call; every call that reached a connection is audited,
/// refusals included.
pub(super) async fn serve(c: &Call<'_>, ctx: &Context) -> Result<web_sys::Response, Problem> {
    let started_ms = js_sys::Date::now();
    let opened = grants::open_for_call(
        &c.iso.grants,
        &c.iso.vault,
        c.env,
        c.tid(),
        c.m.param("cid"),
    )
    .await;
    let grant = match opened {
        Ok(g) => g,
        Err(CredentialFailure::NotFound) => return Err(Problem::not_found("connection")),
        Err(CredentialFailure::VaultUnavailable) => {
            return answer(&ProxyError::VaultUnavailable, c)
        }
        Err(f) => {
            let err = f.to_proxy_error();
            let mut facts = audit_facts(c, None);
            facts.path = String::new();
            finish(c, ctx, facts, err.status(), started_ms, None);
            return answer(&err, c);
        }
    };
    let mut facts = audit_facts(c, Some(&grant));
    let (res, status, response_bytes) = match forward(c, &grant, &mut facts).await {
        Ok(res) => {
            let (status, bytes) = (res.status(), declared_length(&res.headers()));
            (Ok(res), status, bytes)
        }
        Err(Failure::Problem(p)) => {
            let status = p.status();
            (Err(p), status, None)
        }
        Err(Failure::Data(e)) => (answer(&e, c), e.status(), None),
    };
    finish(c, ctx, facts, status, started_ms, response_bytes);
    res
}

fn audit_facts(c: &Call<'_>, grant: Option<&Grant>) -> CallAudit {
    CallAudit {
        tenant_id: c.tid().to_string(),
        actor: c
            .caller
            .as_ref()
            .map(|k| k.actor.clone())
            .unwrap_or_default(),
        connection_id: c.m.param("cid").to_string(),
        connector_id: grant.map(|g| g.connector_id.clone()).unwrap_or_default(),
        connector_version: grant.map_or(0, |g| g.connector_version),
        method: c.req.method(),
        host: grant
            .map(|g| g.spec.base_url.host.clone())
            .unwrap_or_default(),
        path: String::new(),
        request_bytes: declared_length(&c.req.headers()),
    }
}

fn finish(
    c: &Call<'_>,
    ctx: &Context,
    facts: CallAudit,
    status: u16,
    started_ms: f64,
    response_bytes: Option<u64>,
) {
    let ended = Ended {
        status,
        started_ms,
        response_bytes,
    };
    record(c.env, ctx, facts, ended, c.request_id.clone());
}

/// Why a call ended before an upstream response.
enum Failure {
    /// An API-level refusal (the body was not usable).
    Problem(Problem),
    /// A §5 error.
    Data(ProxyError),
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

/// A request body as Portico sends it: streamed once, or kept (so a call can be
/// replayed after a refreshed token).
enum OutBody {
    None,
    Stream(web_sys::ReadableStream),
    Kept(Vec<u8>),
}

impl OutBody {
    fn js(&self) -> Option<JsValue> {
        match self {
            Self::None => None,
            Self::Stream(s) => Some(s.clone().into()),
            Self::Kept(b) => Some(js_sys::Uint8Array::from(b.as_slice()).into()),
        }
    }

    fn replayable(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }
}

async fn read_kept(c: &Call<'_>) -> Result<Vec<u8>, Problem> {
    match c.req.body() {
        Some(stream) => read_capped(&stream, MAX_INJECTED_BODY)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge(_) => Problem::too_large(MAX_INJECTED_BODY),
                ReadError::Stream(_) => Problem::invalid_json("the body could not be read"),
            }),
        None => Ok(Vec::new()),
    }
}

/// The body to send: rewritten when the key goes into it; kept when an OAuth2
/// call may be replayed and its declared length is at most 1 MiB; else streamed.
async fn out_body(
    c: &Call<'_>,
    injection: &Injection,
    oauth: bool,
    out: &web_sys::Headers,
) -> Result<OutBody, Problem> {
    let inbound = c.req.headers();
    let declared = inbound.get("content-length").ok().flatten();
    match &injection.body_field {
        None => match c.req.body() {
            None => Ok(OutBody::None),
            Some(stream) => {
                let small = declared
                    .as_deref()
                    .is_some_and(|d| check_declared(Some(d), MAX_INJECTED_BODY).is_ok());
                if oauth && small {
                    Ok(OutBody::Kept(read_kept(c).await?))
                } else {
                    Ok(OutBody::Stream(stream))
                }
            }
        },
        Some((field, value)) => {
            if check_declared(declared.as_deref(), MAX_INJECTED_BODY).is_err() {
                discard(c.req.body());
                return Err(Problem::too_large(MAX_INJECTED_BODY));
            }
            let bytes = read_kept(c).await?;
            let ct = inbound.get("content-type").ok().flatten();
            let rewritten =
                inject_body(ct.as_deref(), &bytes, field, value.as_str()).map_err(|e| match e {
                    BodyError::UnsupportedType => Problem::unsupported_body_type(),
                    BodyError::NotAnObject | BodyError::Malformed => Problem::invalid_json(
                        "the body must be a JSON object or a form for this connector",
                    ),
                })?;
            let _ = out.delete("content-length");
            Ok(OutBody::Kept(rewritten))
        }
    }
}

/// The headers Portico forwards: never the caller's own credentials, proxy or
/// forwarding headers, nor Portico's.
fn forwarded_headers(c: &Call<'_>) -> Result<web_sys::Headers, Problem> {
    let out = web_sys::Headers::new()
        .map_err(|_| Problem::internal().caused_by("cannot create headers"))?;
    let inbound = c.req.headers();
    let mut names: Vec<String> = Vec::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for entry in inbound.entries() {
        let Ok(pair) = entry else { continue };
        let pair = js_sys::Array::from(&pair);
        if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            names.push(k.clone());
            pairs.push((k, v));
        }
    }
    let connection = inbound.get("connection").ok().flatten();
    let dropped = dropped_request_headers(names.iter().map(String::as_str), connection.as_deref());
    for (k, v) in &pairs {
        if !dropped.contains(&k.to_ascii_lowercase()) {
            let _ = out.append(k, v);
        }
    }
    Ok(out)
}

/// Sends one attempt with `injection` placed.
async fn send(
    url: &str,
    method: &str,
    headers: &web_sys::Headers,
    injection: &Injection,
    body: &OutBody,
    timeout_ms: u32,
) -> Result<web_sys::Response, Failure> {
    if let Some((name, value)) = &injection.header {
        let _ = headers.set(name, value.as_str());
    }
    let mut url = url.to_string();
    if let Some((name, value)) = &injection.query {
        url = set_query_param(&url, name, value.as_str());
    }
    let call = UpstreamCall {
        handler: HANDLER,
        target: Target::Fetch,
        url,
        host_header: None,
        timeout_ms,
    };
    fetch_with_body(&call, method, headers, body.js().as_ref())
        .await
        .map_err(Failure::Data)
}

/// Plans, checks and sends the call: the response, headers stripped per the
/// connector (the canonical path goes into the audit facts). An OAuth2 call the
/// upstream answers 401 is replayed once with the keeper's replacement token when
/// its body allows (none, or kept); a second 401 goes back as it is.
async fn forward(
    c: &Call<'_>,
    grant: &Rc<Grant>,
    facts: &mut CallAudit,
) -> Result<web_sys::Response, Failure> {
    let spec = &grant.spec;
    let t = target(
        &spec.base_url,
        c.m.param("path"),
        c.query,
        c.iso.encoded_slashes,
    )
    .map_err(|e| Failure::Data(ProxyError::InvalidPath(e)))?;
    facts.path = t.path.clone();
    let caller = c.caller()?;
    let method = c.req.method();
    let call_use = Use {
        method: &method,
        url: &t.url,
        subject: Some(&caller.actor),
        scopes: caller.scopes.as_deref(),
    };
    let injection = grant
        .authorize(&call_use)
        .map_err(|r| Failure::Data(r.into()))?;
    let out = forwarded_headers(c)?;
    let oauth = matches!(spec.auth, AuthSpec::OAuth2(_));
    let body = out_body(c, &injection, oauth, &out).await?;
    let renew = |refused: String| async move {
        grants::reauthorize(&c.iso.grants, c.env, grant, refused, &call_use)
            .await
            .map_err(Failure::Data)
    };
    // The fast path already saw the upstream refuse a token: replace it first,
    // then send once (that was the replay).
    if let Some(refused) = handed_over_401(c.req).filter(|_| oauth) {
        let injection = renew(refused).await?;
        return finish_response(
            c,
            spec,
            send(&t.url, &method, &out, &injection, &body, spec.timeout_ms).await?,
        );
    }
    let mut res = send(&t.url, &method, &out, &injection, &body, spec.timeout_ms).await?;
    if oauth && res.status() == 401 && body.replayable() {
        discard(res.body());
        let refused = grant.token_hash().unwrap_or_default();
        let injection = renew(refused).await?;
        res = send(&t.url, &method, &out, &injection, &body, spec.timeout_ms).await?;
    }
    finish_response(c, spec, res)
}

/// The response as the caller gets it: headers stripped per the connector,
/// cookies confined to the API host.
fn finish_response(
    c: &Call<'_>,
    spec: &ConnectorSpec,
    res: web_sys::Response,
) -> Result<web_sys::Response, Failure> {
    // Redirects come back as they are (`redirect: manual`): never followed with
    // the credential attached.
    let res = with_mutable_headers(res).map_err(|_| {
        Failure::Data(ProxyError::HandlerFailed {
            handler: HANDLER,
            detail: "cannot copy response headers".into(),
        })
    })?;
    let headers = res.headers();
    strip_response_headers(&mut JsHeaders(&headers), &spec.strip_response_headers);
    // A third party's cookies stay on the API host (as a route's stay on its tenant's).
    let url = c.req.url();
    let api_host = crate::url::authority_host(crate::url::authority_of(&url)).to_ascii_lowercase();
    if headers.has("set-cookie").unwrap_or(false) {
        confine_domains(&mut JsHeaders(&headers), &api_host, &api_host);
    }
    Ok(res)
}
