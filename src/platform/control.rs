//! The management API over HTTP: request → operation → token → authorisation →
//! validation → one D1 batch (with its audit row) → cache purge → JSON response.
//! Every decision is made by the pure code in `crate::api` and `crate::auth`.

use super::api_call::{json_response, now_iso, read_json, Call};
use super::domain_api;
use super::env::EnvBindings;
use super::isolate::Isolate;
use super::jwks::keys_for;
use super::resolver::purge;
use super::store::Store;
use crate::api::authz::{authorize, Principal};
use crate::api::bodies::{self, ValidRoute};
use crate::api::paging::parse_page;
use crate::api::router::{route, Op, RouteError};
use crate::api::time::new_id;
use crate::api::{openapi, Problem};
use crate::auth::{token_kid, verify, AuthError, KeySet, VerifiedClaims};
use crate::host::normalize_host;
use crate::message::{HeaderList, SimpleResponse};
use crate::percent::query_first;
use serde_json::{json, Value};
use std::rc::Rc;
use worker::Env;

fn request_id(req: &web_sys::Request) -> String {
    req.headers()
        .get("cf-ray")
        .ok()
        .flatten()
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .or_else(|| new_id("req_").ok())
        .unwrap_or_else(|| "req_unknown".into())
}

/// Serves `/api/v1{sub_path}` on a control-plane host.
pub(crate) async fn handle(
    iso: &Rc<Isolate>,
    env: &Env,
    req: &web_sys::Request,
    sub_path: &str,
    query: &str,
) -> SimpleResponse {
    let rid = request_id(req);
    let mut res = match serve(iso, env, req, sub_path, query, &rid).await {
        Ok(r) => r,
        Err(p) => p.to_response(&rid),
    };
    res.headers.0.push(("x-request-id".into(), rid));
    res
}

async fn serve(
    iso: &Rc<Isolate>,
    env: &Env,
    req: &web_sys::Request,
    sub_path: &str,
    query: &str,
    rid: &str,
) -> Result<SimpleResponse, Problem> {
    // Without an issuer and audience any token from the configured keys would do
    // (e.g. one minted for another service): refuse everything instead.
    if let Some(why) = &iso.api.refusal {
        worker::console_error!("portico: management API refused: {why}");
        return Err(Problem::not_configured());
    }
    let method = req.method();
    let m = route(&method, sub_path).map_err(|e| match e {
        RouteError::NotFound => Problem::not_found("operation"),
        RouteError::MethodNotAllowed(allow) => Problem::method_not_allowed(&allow),
    })?;
    if m.spec.op == Op::OpenApi {
        let mut r = SimpleResponse::text(200, openapi::DOCUMENT);
        r.headers = HeaderList::new().with("content-type", "application/json");
        return Ok(r);
    }
    let claims = authenticate(iso, req).await?;
    let path_tenant = m
        .params
        .iter()
        .find(|(n, _)| *n == "tid")
        .map(|(_, v)| v.clone());
    let principal: Principal = authorize(
        m.spec,
        &claims,
        path_tenant.as_deref(),
        &iso.api.cp_tenant_id,
    )?;
    let call = Call {
        iso,
        env,
        req,
        query,
        m,
        claims,
        principal,
        request_id: rid.to_string(),
    };
    dispatch(&call).await
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
    let mut keys: KeySet = (*iso.api.keys).clone();
    if let Some(url) = &iso.api.jwks_url {
        match keys_for(iso, url, token_kid(token).as_deref()).await {
            Ok(fetched) => keys.keys.extend(fetched.keys.iter().cloned()),
            Err(e) => worker::console_error!("portico: control-plane JWKS unavailable: {e}"),
        }
    }
    verify(token, &keys, &iso.api.policy, now_s).map_err(|e| Problem::unauthorized(Some(&e)))
}

fn page(query: &str) -> Result<crate::api::paging::PageRequest, Problem> {
    parse_page(query).map_err(Problem::bad_query)
}

fn stored_route(v: &Value) -> ValidRoute {
    ValidRoute {
        custom_domain_id: v
            .get("custom_domain_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        priority: v.get("priority").and_then(Value::as_i64).unwrap_or(100),
        match_: v.get("match").cloned().unwrap_or(json!({})),
        handlers: v.get("handlers").cloned().unwrap_or(Value::Null),
    }
}

async fn dispatch(c: &Call<'_>) -> Result<SimpleResponse, Problem> {
    let store = Store::open(c.env)?;
    match c.m.spec.op {
        Op::OpenApi => Err(Problem::internal()),
        Op::ListTenants => Ok(json_response(
            200,
            &store.list_tenants(&page(c.query)?).await?,
        )),
        Op::CreateTenant => {
            let body =
                bodies::tenant_create(&read_json(c.req).await?, &c.iso.api.reserved_tenant_ids)
                    .map_err(Problem::validation)?;
            let id = match body.id {
                Some(id) => id,
                None => new_id("t_").map_err(|_| Problem::internal())?,
            };
            if store.get_tenant(&id).await?.is_some() {
                return Err(Problem::conflict("id", "is already in use"));
            }
            let at = now_iso();
            store.create_tenant(&id, &body.name, &c.audit(&at)).await?;
            Ok(json_response(
                201,
                &json!({"id": id, "name": body.name, "created_at": at}),
            ))
        }
        Op::GetTenant => Ok(json_response(200, &c.require_tenant(&store).await?)),
        Op::UpdateTenant => {
            let mut t = c.require_tenant(&store).await?;
            let name =
                bodies::tenant_patch(&read_json(c.req).await?).map_err(Problem::validation)?;
            if let Some(name) = name {
                let at = now_iso();
                store.rename_tenant(c.tid(), &name, &c.audit(&at)).await?;
                t["name"] = json!(name);
            }
            Ok(json_response(200, &t))
        }
        Op::DeleteTenant => {
            c.require_tenant(&store).await?;
            let hosts = store.tenant_domain_names(c.tid()).await?;
            let at = now_iso();
            store.delete_tenant(c.tid(), &c.audit(&at)).await?;
            purge(c.iso, c.tid(), &hosts).await;
            Ok(SimpleResponse::empty(204))
        }
        Op::ListDomains => {
            c.require_tenant(&store).await?;
            Ok(json_response(
                200,
                &store.list_domains(c.tid(), &page(c.query)?).await?,
            ))
        }
        Op::CreateDomain => domain_api::create(c, &store).await,
        Op::GetDomain => {
            c.require_tenant(&store).await?;
            let d = store.get_domain(c.tid(), c.m.param("did")).await?;
            d.map(|d| json_response(200, &d.to_json()))
                .ok_or_else(|| Problem::not_found("domain"))
        }
        Op::UpdateDomain => domain_api::rename(c, &store).await,
        Op::VerifyDomain => domain_api::verify(c, &store).await,
        Op::DeleteDomain => {
            c.require_tenant(&store).await?;
            store
                .get_domain(c.tid(), c.m.param("did"))
                .await?
                .ok_or_else(|| Problem::not_found("domain"))?;
            let hosts = store.tenant_domain_names(c.tid()).await?;
            let at = now_iso();
            store
                .delete_domain(c.tid(), c.m.param("did"), &c.audit(&at))
                .await?;
            purge(c.iso, c.tid(), &hosts).await;
            Ok(SimpleResponse::empty(204))
        }
        Op::ListRoutes => {
            c.require_tenant(&store).await?;
            let domain = query_first(c.query, "domain_id");
            let p = page(c.query)?;
            let mut list = store.list_routes(c.tid(), domain.as_deref(), &p).await?;
            if let Some(Value::Array(items)) = list.get_mut("items") {
                items.iter_mut().for_each(bodies::redact_route);
            }
            Ok(json_response(200, &list))
        }
        Op::CreateRoute | Op::UpdateRoute => write_route(c, &store).await,
        Op::GetRoute => {
            c.require_tenant(&store).await?;
            let r = store.get_route(c.tid(), c.m.param("rid")).await?;
            r.map(|mut r| {
                bodies::redact_route(&mut r);
                json_response(200, &r)
            })
            .ok_or_else(|| Problem::not_found("route"))
        }
        Op::DeleteRoute => {
            c.require_tenant(&store).await?;
            store
                .get_route(c.tid(), c.m.param("rid"))
                .await?
                .ok_or_else(|| Problem::not_found("route"))?;
            let at = now_iso();
            store
                .delete_route(c.tid(), c.m.param("rid"), &c.audit(&at))
                .await?;
            c.purge_tenant(&store, &[]).await;
            Ok(SimpleResponse::empty(204))
        }
        Op::ListAudit => {
            c.require_tenant(&store).await?;
            Ok(json_response(
                200,
                &store.list_audit(c.tid(), &page(c.query)?).await?,
            ))
        }
        Op::ResolveHost => {
            let host = normalize_host(c.m.param("host")).map_err(|_| Problem::not_found("host"))?;
            match super::d1::load_host(c.env, &host).await {
                Ok(Some(record)) => Ok(json_response(200, &json!(record))),
                Ok(None) => Err(Problem::not_found("host")),
                Err(e) => {
                    worker::console_error!("portico: resolve host {host}: {e}");
                    Err(Problem::unavailable())
                }
            }
        }
    }
}

async fn write_route(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let existing = if c.m.spec.op == Op::UpdateRoute {
        Some(
            store
                .get_route(c.tid(), c.m.param("rid"))
                .await?
                .ok_or_else(|| Problem::not_found("route"))?,
        )
    } else {
        None
    };
    let fields = bodies::route_fields(&read_json(c.req).await?).map_err(Problem::validation)?;
    if let Some(e) = existing.as_ref().filter(|_| fields.is_empty()) {
        // Nothing to change: no write, no audit row, no purge.
        let mut shown = e.clone();
        bodies::redact_route(&mut shown);
        return Ok(json_response(200, &shown));
    }
    let base = existing.as_ref().map(stored_route);
    let bindings = EnvBindings::new(c.env, c.iso);
    let tenant_caller = matches!(
        Principal::of(&c.claims, &c.iso.api.cp_tenant_id),
        Principal::Tenant(_)
    );
    let policy = &c.iso.route_policy;
    if existing.is_none() {
        let count = store.count_routes(c.tid()).await?;
        if count >= policy.max_routes_per_tenant {
            return Err(Problem::conflict(
                "",
                &format!(
                    "the tenant already has {count} routes; at most {} are allowed (PORTICO_MAX_ROUTES_PER_TENANT)",
                    policy.max_routes_per_tenant
                ),
            ));
        }
    }
    let route = bodies::validate_route(
        base.as_ref(),
        fields,
        Some(&bindings),
        policy,
        tenant_caller,
    );
    // Check the domain scope too, so every problem is reported at once.
    let domain_ok = match route.as_ref().ok().and_then(|r| r.custom_domain_id.clone()) {
        Some(did) => store.get_domain(c.tid(), &did).await?.is_some(),
        None => true,
    };
    let mut route = match route {
        Ok(r) => r,
        Err(errors) => return Err(Problem::validation(errors)),
    };
    if !domain_ok {
        return Err(Problem::validation(vec![crate::config::ConfigError {
            path: "custom_domain_id".into(),
            message: "no such domain for this tenant".into(),
        }]));
    }
    let at = now_iso();
    let (status, id, created_at) = match &existing {
        Some(e) => {
            let id = c.m.param("rid").to_string();
            store
                .update_route(c.tid(), &id, &route, &c.audit(&at))
                .await?;
            let created = e
                .get("created_at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (200, id, created)
        }
        None => {
            let id = new_id("rt_").map_err(|_| Problem::internal())?;
            store
                .create_route(c.tid(), &id, &route, &c.audit(&at))
                .await?;
            (201, id, at.clone())
        }
    };
    c.purge_tenant(store, &[]).await;
    let custom_domain_id = route.custom_domain_id.take();
    let mut shown = json!({
            "id": id,
            "tenant_id": c.tid(),
            "custom_domain_id": custom_domain_id,
            "priority": route.priority,
            "match": route.match_,
            "handlers": route.handlers,
            "created_at": created_at,
            "updated_at": at,
    });
    bodies::redact_route(&mut shown);
    Ok(json_response(status, &shown))
}
