//! `/tenants/{tid}/audit`: the tenant's audit log, newest first.

use super::call::{json_response, Call};
use crate::api::Problem;
use crate::message::SimpleResponse;
use crate::platform::store::Store;

/// `GET /tenants/{tid}/audit`.
pub(super) async fn list(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    Ok(json_response(
        200,
        &store.list_audit(c.tid(), &c.page()?).await?,
    ))
}
