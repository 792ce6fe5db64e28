//! `/tenants` and `/tenants/{tid}`: list, create, read, rename, and delete with
//! everything the tenant owns.

use super::call::{json_response, now_iso, read_json, Call};
use crate::api::bodies;
use crate::api::time::new_id;
use crate::api::Problem;
use crate::message::SimpleResponse;
use crate::platform::resolver::purge;
use crate::platform::store::Store;
use serde_json::json;

/// `GET /tenants`.
pub(super) async fn list(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    Ok(json_response(200, &store.list_tenants(&c.page()?).await?))
}

/// `POST /tenants`.
pub(super) async fn create(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let body = bodies::tenant_create(&read_json(c.req).await?, &c.iso.api.reserved_tenant_ids)
        .map_err(Problem::validation)?;
    let id = match body.id {
        Some(id) => id,
        None => new_id("t_").map_err(|e| Problem::internal().caused_by(e))?,
    };
    if store.get_tenant(&id).await?.is_some() {
        return Err(Problem::conflict("id", "is already in use"));
    }
    let at = now_iso();
    store.create_tenant(&id, &body.name, &c.audit(&at)?).await?;
    Ok(json_response(
        201,
        &json!({"id": id, "name": body.name, "created_at": at}),
    ))
}

/// `GET /tenants/{tid}`.
pub(super) async fn get(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    Ok(json_response(200, &c.require_tenant(store).await?))
}

/// `PATCH /tenants/{tid}`: an empty patch writes nothing.
pub(super) async fn update(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let mut t = c.require_tenant(store).await?;
    let name = bodies::tenant_patch(&read_json(c.req).await?).map_err(Problem::validation)?;
    if let Some(name) = name {
        let at = now_iso();
        store.rename_tenant(c.tid(), &name, &c.audit(&at)?).await?;
        t["name"] = json!(name);
    }
    Ok(json_response(200, &t))
}

/// `DELETE /tenants/{tid}`: its hosts stop being served here at once.
pub(super) async fn delete(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let hosts = store.tenant_domain_names(c.tid()).await?;
    let oauth_ids = store.oauth_connection_ids(c.tid()).await?;
    let at = now_iso();
    store.delete_tenant(c.tid(), &c.audit(&at)?).await?;
    purge(c.iso, c.tid(), &hosts).await;
    // Its connections and connectors went with the row; their secrets go too.
    super::connections::purge_tenant_secrets(c, store, c.tid(), &oauth_ids).await;
    c.iso.grants.forget_all();
    Ok(SimpleResponse::empty(204))
}
