//! The management API over HTTP: request → operation → token → authorisation →
//! the operation's handler (one file per resource) → JSON response. Errors are
//! rendered, and their causes logged, once here. Every decision is made by the pure
//! code in `crate::api` and `crate::auth`.

mod audit;
mod call;
mod connections;
mod connectors;
mod domains;
mod hosts;
mod oauth;
mod proxy;
mod routes;
mod tenants;
mod vault;

use super::headers::request_id;
use super::isolate::Isolate;
use super::jwks::keys_for;
use super::store::Store;
use crate::api::authz::authorize;
use crate::api::{openapi, route, Op, OpMatchError, Problem};
use crate::auth::{token_kid, verify, AuthError, KeySet, VerifiedClaims};
use crate::message::{HeaderList, SimpleResponse};
use crate::platform::execute::to_js_response;
use call::{Call, Caller};
use std::rc::Rc;
use worker::{Context, Env};

/// What an operation answers: a response Portico made, or (the proxy) one
/// streamed from upstream.
enum Answer {
    Simple(SimpleResponse),
    Streamed(web_sys::Response),
}

/// Serves `/api/v1{sub_path}` on a control-plane host.
pub(crate) async fn handle(
    iso: &Rc<Isolate>,
    env: &Env,
    ctx: &Context,
    req: &web_sys::Request,
    sub_path: &str,
    query: &str,
) -> worker::Result<web_sys::Response> {
    let rid = request_id(&req.headers());
    let head = req.method() == "HEAD";
    let res = match serve(iso, env, ctx, req, sub_path, query, &rid).await {
        Ok(Answer::Simple(r)) => r,
        Ok(Answer::Streamed(r)) => {
            let _ = r.headers().set("x-request-id", &rid);
            return Ok(r);
        }
        Err(p) => {
            if let Some(cause) = &p.cause {
                worker::console_error!("portico: management API {rid}: {cause}");
            }
            p.to_response(&rid)
        }
    };
    let mut res = res;
    res.headers.0.push(("x-request-id".into(), rid));
    to_js_response(&res, head)
}

async fn serve(
    iso: &Rc<Isolate>,
    env: &Env,
    ctx: &Context,
    req: &web_sys::Request,
    sub_path: &str,
    query: &str,
    rid: &str,
) -> Result<Answer, Problem> {
    // Without an issuer and audience any token from the configured keys would do
    // (e.g. one minted for another service): refuse everything instead.
    if let Some(why) = &iso.api.refusal {
        return Err(Problem::not_configured().caused_by(format!("refused: {why}")));
    }
    let m = route(&req.method(), sub_path).map_err(|e| match e {
        OpMatchError::NotFound => Problem::not_found("operation"),
        OpMatchError::MethodNotAllowed(allow) => Problem::method_not_allowed(&allow),
        OpMatchError::TableInvalid => {
            Problem::internal().caused_by("the operation table did not index")
        }
    })?;
    // Operations without a scope are public: no token is asked for.
    let caller = match m.spec.scope {
        None => None,
        Some(_) => {
            let claims = authenticate(iso, req).await?;
            let path_tenant = m.params.iter().find(|(n, _)| *n == "tid");
            let principal = authorize(
                m.spec,
                &claims,
                path_tenant.map(|(_, v)| v.as_str()),
                &iso.api.cp_tenant_id,
            )?;
            let scopes = claims
                .raw
                .get("scope")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            Some(Caller {
                principal,
                actor: claims.sub,
                scopes,
            })
        }
    };
    let call = Call {
        iso,
        env,
        req,
        query,
        m,
        caller,
        request_id: rid.to_string(),
    };
    if call.m.spec.op == Op::ProxyConnection {
        return proxy::serve(&call, ctx).await.map(Answer::Streamed);
    }
    dispatch(&call).await.map(Answer::Simple)
}

/// Verifies the bearer token against inline keys and the JWKS (if configured).
async fn authenticate(
    iso: &Rc<Isolate>,
    req: &web_sys::Request,
) -> Result<VerifiedClaims, Problem> {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let token = match header.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            t.trim()
        }
        _ if header.is_empty() => return Err(Problem::unauthorized(None)),
        _ => return Err(Problem::unauthorized(Some(&AuthError::Malformed))),
    };
    let now_s = (js_sys::Date::now() / 1000.0) as i64;
    let Some(url) = &iso.api.jwks_url else {
        // Inline keys only: the set never changes, so a token verified once is
        // answered from the cache (a signature check costs hundreds of µs in Wasm;
        // proxied calls repeat the same token).
        return iso
            .api_tokens
            .borrow_mut()
            .verify(token, &iso.api.keys, &iso.api.policy, now_s)
            .map(|c| (*c).clone())
            .map_err(|e| Problem::unauthorized(Some(&e)));
    };
    let mut keys: KeySet = (*iso.api.keys).clone();
    match keys_for(iso, url, token_kid(token).as_deref()).await {
        Ok(fetched) => keys.keys.extend(fetched.keys.iter().cloned()),
        Err(e) => worker::console_error!("portico: control-plane JWKS unavailable: {e}"),
    }
    verify(token, &keys, &iso.api.policy, now_s).map_err(|e| Problem::unauthorized(Some(&e)))
}

fn openapi_document() -> SimpleResponse {
    let mut r = SimpleResponse::text(200, openapi::DOCUMENT);
    r.headers = HeaderList::new().with("content-type", "application/json");
    r
}

/// Operations that hold or use secrets: without a key ring they answer 503
/// `vault_unavailable` (connector writes need it only for a client secret).
fn needs_vault(op: Op) -> bool {
    matches!(
        op,
        Op::ListConnections
            | Op::CreateConnection
            | Op::GetConnection
            | Op::UpdateConnection
            | Op::DeleteConnection
            | Op::DisconnectConnection
            | Op::InitiateConnection
            | Op::ConnectionTokens
            | Op::OAuthCallback
            | Op::ProxyConnection
            | Op::VaultStatus
            | Op::VaultReencrypt
    )
}

/// The dispatch table: one row per operation, each served by its resource's file.
async fn dispatch(c: &Call<'_>) -> Result<SimpleResponse, Problem> {
    // Opening is a binding lookup, no I/O; an operation without D1 never unwraps it.
    let store = Store::open(c.env);
    if needs_vault(c.m.spec.op) && c.iso.vault.ring().is_none() {
        return Err(Problem::vault_unavailable());
    }
    match c.m.spec.op {
        Op::OpenApi => Ok(openapi_document()),
        Op::ListTenants => tenants::list(c, &store?).await,
        Op::CreateTenant => tenants::create(c, &store?).await,
        Op::GetTenant => tenants::get(c, &store?).await,
        Op::UpdateTenant => tenants::update(c, &store?).await,
        Op::DeleteTenant => tenants::delete(c, &store?).await,
        Op::ListDomains => domains::list(c, &store?).await,
        Op::CreateDomain => domains::create(c, &store?).await,
        Op::GetDomain => domains::get(c, &store?).await,
        Op::UpdateDomain => domains::rename(c, &store?).await,
        Op::VerifyDomain => domains::verify(c, &store?).await,
        Op::DeleteDomain => domains::delete(c, &store?).await,
        Op::ListRoutes => routes::list(c, &store?).await,
        Op::CreateRoute => routes::create(c, &store?).await,
        Op::UpdateRoute => routes::update(c, &store?).await,
        Op::GetRoute => routes::get(c, &store?).await,
        Op::DeleteRoute => routes::delete(c, &store?).await,
        Op::ListAudit => audit::list(c, &store?).await,
        Op::ResolveHost => hosts::resolve(c).await,
        Op::ListConnectors => connectors::list(c, &store?).await,
        Op::CreateConnector => connectors::create(c, &store?).await,
        Op::GetConnector => connectors::get(c, &store?).await,
        Op::DeleteConnector => connectors::delete(c, &store?).await,
        Op::ListConnectorVersions => connectors::versions(c, &store?).await,
        Op::CreateConnectorVersion => connectors::create_version(c, &store?).await,
        Op::GetConnectorVersion => connectors::version(c, &store?).await,
        Op::UpdateConnectorVersion => connectors::update_version(c, &store?).await,
        Op::PublishConnectorVersion => connectors::publish_version(c, &store?).await,
        Op::ListConnections => connections::list(c, &store?).await,
        Op::CreateConnection => connections::create(c, &store?).await,
        Op::GetConnection => connections::get(c, &store?).await,
        Op::UpdateConnection => connections::update(c, &store?).await,
        Op::DeleteConnection => connections::delete(c, &store?).await,
        Op::DisconnectConnection => connections::disconnect(c, &store?).await,
        Op::InitiateConnection => oauth::initiate(c, &store?).await,
        Op::ConnectionTokens => oauth::tokens(c, &store?).await,
        Op::OAuthCallback => oauth::callback(c, &store?).await,
        // Served by `serve` (it streams); never dispatched here.
        Op::ProxyConnection => Err(Problem::internal().caused_by("proxy dispatched as JSON")),
        Op::VaultStatus => vault::status(c, &store?).await,
        Op::VaultReencrypt => vault::reencrypt(c, &store?).await,
    }
}
