//! The proxy endpoint on the lean JS entry: a warm call (token verified before,
//! connection open in isolate memory, credential in a header or the query) is
//! planned from memory alone into the same `F` plan a route gets, so the JS entry
//! sends it without the workers-rs path. Every decision is the one the workers-rs
//! executor (`api/proxy.rs`) makes — the same pure functions — and anything else
//! (a refusal to render, a body placement, a cold connection, a JWKS-backed API)
//! answers `None`: the workers-rs path serves it, with the same answers.

use super::isolate::Isolate;
use crate::api::authz::authorize;
use crate::api::{route, Op};
use crate::connection_proxy::{dropped_request_headers, target};
use crate::grant::Use;
use crate::header_edits::Edit;
use crate::request::CallAudit;
use crate::upstream::HOP_BY_HOP;
use crate::vault::inject::set_query_param;

/// A planned proxied call.
pub(crate) struct ProxyPlan {
    /// Where to send it.
    pub(crate) url: String,
    /// Time allowed until response headers arrive.
    pub(crate) timeout_ms: u32,
    /// Edits to the inbound headers (what is not forwarded, the credential).
    pub(crate) request_edits: Vec<Edit>,
    /// Edits to the upstream response (stripped headers, the request id).
    pub(crate) response_edits: Vec<Edit>,
    /// The API host (cookies are confined to it).
    pub(crate) host: String,
    /// The audit facts, recorded once the upstream answered.
    pub(crate) audit: CallAudit,
    /// The request id (response header and audit row).
    pub(crate) request_id: String,
    /// OAuth2: the hash of the access token sent; an upstream 401 hands the call
    /// to the workers-rs path with it (one refresh, one replay).
    pub(crate) oauth_token: Option<String>,
}

/// Plans `method path?query` on a control-plane host, or `None` for the workers-rs
/// path. `names` are the inbound header names; `get` reads one inbound header;
/// `request_id` is the one the workers-rs path would give the request.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    iso: &Isolate,
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    names: &[String],
    get: &dyn Fn(&str) -> Option<String>,
    request_id: String,
    now_ms: f64,
) -> Option<ProxyPlan> {
    if iso.api.refusal.is_some() || iso.api.jwks_url.is_some() || iso.vault.ring().is_none() {
        return None;
    }
    let m = route(method, path).ok()?;
    if m.spec.op != Op::ProxyConnection {
        return None;
    }
    let header = get("authorization")?;
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return None;
    }
    let now_s = (now_ms / 1000.0) as i64;
    let claims = iso
        .api_tokens
        .borrow_mut()
        .verify(token.trim(), &iso.api.keys, &iso.api.policy, now_s)
        .ok()?;
    let tid = m.param("tid");
    let cid = m.param("cid");
    authorize(m.spec, &claims, Some(tid), &iso.api.cp_tenant_id).ok()?;
    let grant = iso.grants.now(tid, cid, now_ms)?.ok()?;
    // OAuth2: a token due for renewal needs its keeper, and a call with a body
    // must keep it for a replay after a 401: the workers-rs path serves those.
    let oauth_token = if matches!(grant.spec.auth, crate::connector::AuthSpec::OAuth2(_)) {
        let may_have_body = get("transfer-encoding").is_some()
            || get("content-length").is_some_and(|l| l.trim() != "0");
        if grant.token_due(now_ms) || may_have_body {
            return None;
        }
        Some(grant.token_hash()?)
    } else {
        None
    };
    let t = target(
        &grant.spec.base_url,
        m.param("path"),
        query,
        iso.encoded_slashes,
    )
    .ok()?;
    let scopes = claims.raw.get("scope").and_then(|v| v.as_str());
    let injection = grant
        .authorize(&Use {
            method,
            url: &t.url,
            subject: Some(&claims.sub),
            scopes,
        })
        .ok()?;
    if injection.body_field.is_some() {
        return None;
    }
    let connection = get("connection");
    let mut request_edits: Vec<Edit> =
        dropped_request_headers(names.iter().map(String::as_str), connection.as_deref())
            .into_iter()
            .map(Edit::Remove)
            .collect();
    if let Some((name, value)) = &injection.header {
        request_edits.push(Edit::Set(name.clone(), value.as_str().to_string()));
    }
    let mut url = t.url;
    if let Some((name, value)) = &injection.query {
        url = set_query_param(&url, name, value.as_str());
    }
    let mut response_edits: Vec<Edit> = grant
        .spec
        .strip_response_headers
        .iter()
        .map(String::as_str)
        .chain(HOP_BY_HOP)
        .map(|n| Edit::Remove(n.to_string()))
        .collect();
    response_edits.push(Edit::Set("x-request-id".into(), request_id.clone()));
    let audit = CallAudit {
        tenant_id: tid.to_string(),
        actor: claims.sub.clone(),
        connection_id: cid.to_string(),
        connector_id: grant.connector_id.clone(),
        connector_version: grant.connector_version,
        method: method.to_string(),
        host: grant.spec.base_url.host.clone(),
        path: t.path,
        request_bytes: get("content-length").and_then(|v| v.trim().parse().ok()),
    };
    Some(ProxyPlan {
        url,
        timeout_ms: grant.spec.timeout_ms,
        request_edits,
        response_edits,
        host: host.to_string(),
        audit,
        request_id,
        oauth_token,
    })
}
