//! `/tenants/{tid}/audit`: the tenant's audit log, newest first, narrowed by kind,
//! connection, status class and time.

use super::call::{json_response, Call};
use crate::api::audit_query::parse_audit_query;
use crate::api::Problem;
use crate::message::SimpleResponse;
use crate::platform::store::Store;

/// `GET /tenants/{tid}/audit`.
pub(super) async fn list(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let q = parse_audit_query(c.query).map_err(Problem::bad_query)?;
    Ok(json_response(200, &store.list_audit(c.tid(), &q).await?))
}
