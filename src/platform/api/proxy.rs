//! `ANY /tenants/{tid}/connections/{cid}/proxy/{*path}` (DESIGN §7): forwards to the
//! connector's `base_url` + the canonical path with the connection's credential
//! injected. The decisions (target URL, which headers go, whether the call may use
//! the credential, what to inject) are pure (`crate::connection_proxy`,
//! `crate::grant`); this file does the I/O, streams bodies, and audits the call
//! after the response (`waitUntil`).

use super::call::Call;
use crate::api::Problem;
use crate::body_limit::check_declared;
use crate::connection_proxy::{forwardable_request_header, strip_response_headers, target};
use crate::error::ProxyError;
use crate::grant::{Grant, GrantRefusal, Use};
use crate::platform::body::{discard, read_capped, ReadError};
use crate::platform::execute::{log_error, to_js_response, with_mutable_headers};
use crate::platform::grants;
use crate::platform::headers::JsHeaders;
use crate::platform::store::{ProxyAudit, Store};
use crate::platform::upstream::fetch_with_body;
use crate::request::CredentialFailure;
use crate::upstream::{Target, UpstreamCall};
use crate::vault::inject::{inject_body, set_query_param, BodyError};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{Context, Env};

/// Largest body Portico reads to place a key in it.
const MAX_INJECTED_BODY: usize = 1024 * 1024;
/// The handler name in error codes (`proxy_failed`, `proxy_timeout`).
const HANDLER: &str = "proxy";

/// What the call came to, for the audit row.
struct Outcome {
    status: u16,
    response_bytes: Option<u64>,
}

fn length_of(h: &web_sys::Headers) -> Option<u64> {
    h.get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
}

fn refusal(r: GrantRefusal) -> ProxyError {
    match r {
        GrantRefusal::NotReady(state) => ProxyError::ConnectionNotReady(state),
        GrantRefusal::Policy(p) => ProxyError::PolicyDenied(p.to_string()),
        GrantRefusal::HostNotAllowed | GrantRefusal::Inject(_) => ProxyError::HandlerFailed {
            handler: "credentials",
            detail: r.to_string(),
        },
    }
}

/// A data-plane error as the proxy answers it (§5: plain text, code header).
fn answer(err: &ProxyError, c: &Call<'_>) -> Result<web_sys::Response, Problem> {
    log_error(err, &c.req.method(), &c.req.url());
    to_js_response(&err.to_response(), c.req.method() == "HEAD")
        .map_err(|_| Problem::internal().caused_by("cannot build response"))
}

/// Serves one proxied call.
pub(super) async fn serve(c: &Call<'_>, ctx: &Context) -> Result<web_sys::Response, Problem> {
    let started = js_sys::Date::now();
    let grant = match grants::open(c.iso, c.env, c.tid(), c.m.param("cid")).await {
        Ok(g) => g,
        Err(CredentialFailure::NotFound) => return Err(Problem::not_found("connection")),
        Err(CredentialFailure::VaultUnavailable) => {
            return answer(&ProxyError::VaultUnavailable, c)
        }
        Err(CredentialFailure::Unreadable(why)) => {
            let err = ProxyError::HandlerFailed {
                handler: "credentials",
                detail: why,
            };
            let res = answer(&err, c)?;
            audit(
                c,
                ctx,
                &grant_less(c),
                "",
                started,
                &Outcome {
                    status: 502,
                    response_bytes: None,
                },
            );
            return Ok(res);
        }
    };
    let (res, host, path, outcome) = match forward(c, &grant).await {
        Ok((res, host, path)) => {
            let outcome = Outcome {
                status: res.status(),
                response_bytes: length_of(&res.headers()),
            };
            (Ok(res), host, path, outcome)
        }
        Err(Failure::Problem(p)) => {
            let outcome = Outcome {
                status: p.status(),
                response_bytes: None,
            };
            (
                Err(p),
                grant.spec.base_url.host.clone(),
                String::new(),
                outcome,
            )
        }
        Err(Failure::Data(e, path)) => {
            let outcome = Outcome {
                status: e.status(),
                response_bytes: None,
            };
            (
                answer(&e, c),
                grant.spec.base_url.host.clone(),
                path,
                outcome,
            )
        }
    };
    let who = AuditWho {
        connector_id: grant.connector_id.clone(),
        connector_version: grant.connector_version,
        host,
    };
    audit(c, ctx, &who, &path, started, &outcome);
    res
}

/// Why a call ended before an upstream response.
enum Failure {
    /// An API-level refusal (the body was not usable).
    Problem(Problem),
    /// A §5 error, with the path it was for.
    Data(ProxyError, String),
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

/// Plans, checks and sends the call: the response (headers stripped per the
/// connector), the upstream host and the canonical path.
async fn forward(
    c: &Call<'_>,
    grant: &Rc<Grant>,
) -> Result<(web_sys::Response, String, String), Failure> {
    let spec = &grant.spec;
    let t = target(
        &spec.base_url,
        c.m.param("path"),
        c.query,
        c.iso.encoded_slashes,
    )
    .map_err(|e| Failure::Data(ProxyError::InvalidPath(e), String::new()))?;
    let caller = c.caller()?;
    let method = c.req.method();
    let injection = grant
        .authorize(&Use {
            method: &method,
            url: &t.url,
            subject: Some(&caller.actor),
            scopes: caller.scopes.as_deref(),
        })
        .map_err(|r| Failure::Data(refusal(r), t.path.clone()))?;
    // Only what the third party should see: never the caller's own credentials,
    // proxy or forwarding headers, nor Portico's.
    let out = web_sys::Headers::new()
        .map_err(|_| Problem::internal().caused_by("cannot create headers"))?;
    let inbound = c.req.headers();
    for entry in inbound.entries() {
        let Ok(pair) = entry else { continue };
        let pair = js_sys::Array::from(&pair);
        let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
            continue;
        };
        if forwardable_request_header(&k) {
            let _ = out.append(&k, &v);
        }
    }
    if let Some((name, value)) = &injection.header {
        let _ = out.set(name, value.as_str());
    }
    let mut url = t.url.clone();
    if let Some((name, value)) = &injection.query {
        url = set_query_param(&url, name, value.as_str());
    }
    let body: Option<JsValue> = match &injection.body_field {
        None => c.req.body().map(JsValue::from),
        Some((field, value)) => {
            let declared = inbound.get("content-length").ok().flatten();
            if check_declared(declared.as_deref(), MAX_INJECTED_BODY).is_err() {
                discard(c.req.body());
                return Err(Problem::too_large(MAX_INJECTED_BODY).into());
            }
            let bytes = match c.req.body() {
                Some(stream) => {
                    read_capped(&stream, MAX_INJECTED_BODY)
                        .await
                        .map_err(|e| match e {
                            ReadError::TooLarge(_) => Problem::too_large(MAX_INJECTED_BODY),
                            ReadError::Stream(_) => {
                                Problem::invalid_json("the body could not be read")
                            }
                        })?
                }
                None => Vec::new(),
            };
            let ct = inbound.get("content-type").ok().flatten();
            let rewritten =
                inject_body(ct.as_deref(), &bytes, field, value.as_str()).map_err(|e| match e {
                    BodyError::UnsupportedType => Problem::unsupported_body_type(),
                    BodyError::NotAnObject | BodyError::Malformed => Problem::invalid_json(
                        "the body must be a JSON object or a form for this connector",
                    ),
                })?;
            let _ = out.delete("content-length");
            Some(js_sys::Uint8Array::from(rewritten.as_slice()).into())
        }
    };
    let call = UpstreamCall {
        handler: HANDLER,
        target: Target::Fetch,
        url,
        host_header: None,
        timeout_ms: spec.timeout_ms,
    };
    let res = fetch_with_body(&call, &method, &out, body.as_ref())
        .await
        .map_err(|e| Failure::Data(e, t.path.clone()))?;
    // Redirects come back as they are (`redirect: manual`): never followed with
    // the credential attached.
    let res = with_mutable_headers(res).map_err(|_| {
        Failure::Data(
            ProxyError::HandlerFailed {
                handler: HANDLER,
                detail: "cannot copy response headers".into(),
            },
            t.path.clone(),
        )
    })?;
    let headers = res.headers();
    strip_response_headers(&mut JsHeaders(&headers), &spec.strip_response_headers);
    Ok((res, spec.base_url.host.clone(), t.path))
}

/// The connector facts of an audit row.
struct AuditWho {
    connector_id: String,
    connector_version: u32,
    host: String,
}

/// For a connection that could not be opened: what is known without it.
fn grant_less(_c: &Call<'_>) -> AuditWho {
    AuditWho {
        connector_id: String::new(),
        connector_version: 0,
        host: String::new(),
    }
}

/// Writes the call's audit row after the response (and the connection's last use).
fn audit(c: &Call<'_>, ctx: &Context, who: &AuditWho, path: &str, started: f64, outcome: &Outcome) {
    let env: Env = c.env.clone();
    let tenant = c.tid().to_string();
    let connection = c.m.param("cid").to_string();
    let actor = c
        .caller
        .as_ref()
        .map(|k| k.actor.clone())
        .unwrap_or_default();
    let method = c.req.method();
    let request_id = c.request_id.clone();
    let request_bytes = length_of(&c.req.headers());
    let (connector_id, connector_version, host) = (
        who.connector_id.clone(),
        who.connector_version,
        who.host.clone(),
    );
    let path = path.to_string();
    let status = outcome.status;
    let response_bytes = outcome.response_bytes;
    let duration_ms = (js_sys::Date::now() - started).max(0.0) as u64;
    ctx.wait_until(async move {
        let Ok(store) = Store::open(&env) else { return };
        let at = crate::api::time::iso8601(js_sys::Date::now() as u64);
        let row = ProxyAudit {
            tenant: &tenant,
            actor: &actor,
            connection_id: &connection,
            connector_id: &connector_id,
            connector_version,
            method: &method,
            host: &host,
            path: &path,
            status,
            duration_ms,
            request_bytes,
            response_bytes,
            request_id: &request_id,
            at: &at,
        };
        if let Err(e) = store.insert_proxy_audit(&row).await {
            worker::console_error!("portico: audit of proxied call {request_id}: {e}");
        }
        let _ = store.touch_connection(&tenant, &connection, &at).await;
    });
}
