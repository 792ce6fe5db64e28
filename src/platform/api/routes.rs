//! `/tenants/{tid}/routes`: list, read, delete, and create/update through one
//! validation (the same rules as the config file, plus the tenant's budgets).

use super::call::{json_response, now_iso, read_json, Call};
use crate::api::authz::Principal;
use crate::api::bodies::{self, ValidRoute};
use crate::api::time::new_id;
use crate::api::Problem;
use crate::config::ConfigError;
use crate::connector::{AuthSpec, ConnectorSpec, Placement};
use crate::message::SimpleResponse;
use crate::percent::query_first;
use crate::platform::env::EnvBindings;
use crate::platform::store::Store;
use serde_json::{json, Value};

/// A stored route as the base a PATCH applies to.
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

/// `GET /tenants/{tid}/routes` (optionally `?domain_id=`; empty: unscoped only).
pub(super) async fn list(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let domain = query_first(c.query, "domain_id");
    let p = c.page()?;
    let mut list = store.list_routes(c.tid(), domain.as_deref(), &p).await?;
    if let Some(Value::Array(items)) = list.get_mut("items") {
        items.iter_mut().for_each(bodies::redact_route);
    }
    Ok(json_response(200, &list))
}

/// `GET /tenants/{tid}/routes/{rid}` (sealed secrets redacted).
pub(super) async fn get(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let r = store.get_route(c.tid(), c.m.param("rid")).await?;
    r.map(|mut r| {
        bodies::redact_route(&mut r);
        json_response(200, &r)
    })
    .ok_or_else(|| Problem::not_found("route"))
}

/// `DELETE /tenants/{tid}/routes/{rid}`.
pub(super) async fn delete(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    store
        .get_route(c.tid(), c.m.param("rid"))
        .await?
        .ok_or_else(|| Problem::not_found("route"))?;
    let at = now_iso();
    store
        .delete_route(c.tid(), c.m.param("rid"), &c.audit(&at)?)
        .await?;
    c.purge_tenant(store, &[]).await;
    Ok(SimpleResponse::empty(204))
}

/// `POST /tenants/{tid}/routes`.
pub(super) async fn create(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    write(c, store, None).await
}

/// `PATCH /tenants/{tid}/routes/{rid}`: the body's fields over the stored route.
pub(super) async fn update(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let existing = store
        .get_route(c.tid(), c.m.param("rid"))
        .await?
        .ok_or_else(|| Problem::not_found("route"))?;
    write(c, store, Some(existing)).await
}

/// Validates and stores a new route (`existing` None) or a changed one.
async fn write(
    c: &Call<'_>,
    store: &Store,
    existing: Option<Value>,
) -> Result<SimpleResponse, Problem> {
    let fields = bodies::route_fields(&read_json(c.req).await?).map_err(Problem::validation)?;
    if let Some(e) = existing.as_ref().filter(|_| fields.is_empty()) {
        // Nothing to change: no write, no audit row, no purge.
        let mut shown = e.clone();
        bodies::redact_route(&mut shown);
        return Ok(json_response(200, &shown));
    }
    let base = existing.as_ref().map(stored_route);
    let bindings = EnvBindings::new(c.env, &c.iso.rate_limiters);
    let tenant_caller = match c.principal()? {
        Principal::Tenant(_) => true,
        Principal::ControlPlane => false,
    };
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
        return Err(Problem::validation(vec![ConfigError {
            path: "custom_domain_id".into(),
            message: "no such domain for this tenant".into(),
        }]));
    }
    let errors = check_connections(c, store, &route.handlers).await?;
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let at = now_iso();
    let (status, id, created_at) = match &existing {
        Some(e) => {
            let id = c.m.param("rid").to_string();
            store
                .update_route(c.tid(), &id, &route, &c.audit(&at)?)
                .await?;
            let created = e
                .get("created_at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (200, id, created)
        }
        None => {
            let id = new_id("rt_").map_err(|e| Problem::internal().caused_by(e))?;
            store
                .create_route(c.tid(), &id, &route, &c.audit(&at)?)
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

/// `credentials` handlers naming a connection literally: it must be this tenant's,
/// its connector must allow the terminal's upstream host, and its key must not go
/// in the body (routes stream bodies; only the proxy endpoint rewrites them).
async fn check_connections(
    c: &Call<'_>,
    store: &Store,
    handlers: &Value,
) -> Result<Vec<ConfigError>, Problem> {
    let Some(list) = handlers.as_array() else {
        return Ok(Vec::new());
    };
    let upstream = list
        .last()
        .filter(|h| h.get("type").and_then(Value::as_str) == Some("http"))
        .and_then(|h| h.pointer("/options/upstream_url"))
        .and_then(Value::as_str);
    let mut errors = Vec::new();
    for (i, h) in list.iter().enumerate() {
        if h.get("type").and_then(Value::as_str) != Some("credentials") {
            continue;
        }
        let Some(id) = h
            .pointer("/options/connection_id")
            .and_then(Value::as_str)
            .filter(|id| !id.starts_with('{'))
        else {
            continue;
        };
        let path = format!("handlers[{i}].options.connection_id");
        let mut fail = |message: String| {
            errors.push(ConfigError {
                path: path.clone(),
                message,
            })
        };
        let Some(used) = store.connection_for_use(c.tid(), id).await? else {
            fail("no such connection for this tenant".into());
            continue;
        };
        let spec = serde_json::from_str::<Value>(&used.spec_json)
            .ok()
            .and_then(|v| ConnectorSpec::from_stored(&v).ok());
        let Some(spec) = spec else {
            fail("the connection's connector cannot be read".into());
            continue;
        };
        if let Some(url) = upstream {
            if !spec.allows_url(url) {
                fail(format!(
                    "the connection's connector does not allow the upstream {} (its base_url host or allowed_hosts, over https)",
                    crate::url::authority_of(url)
                ));
            }
        }
        if matches!(
            spec.auth,
            AuthSpec::ApiKey {
                placement: Placement::Body,
                ..
            }
        ) {
            fail("the connector places its key in the body, which routes cannot do (use the proxy endpoint)".into());
        }
    }
    Ok(errors)
}
