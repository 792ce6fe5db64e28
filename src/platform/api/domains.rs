//! `/tenants/{tid}/domains`: list, read and delete, and the operations that carry
//! ownership rules: create and rename (overlap checks across tenants, the
//! per-tenant budget, pending for tenant tokens) and `_verify`.

use super::call::{json_response, now_iso, read_json, Call};
use crate::api::authz::Principal;
use crate::api::bodies;
use crate::api::time::new_id;
use crate::api::Problem;
use crate::domains::overlap::first_conflict;
use crate::domains::verification::{new_challenge_value, DomainStatus};
use crate::message::SimpleResponse;
use crate::platform::resolver::purge;
use crate::platform::store::{DomainRow, DomainState, GuardedWrite, Store};
use crate::platform::verify::check_domain;

const IN_USE: &str = "is already in use";
const OVERLAPS: &str = "overlaps a domain another tenant holds (an exact name under its wildcard, or a wildcard covering its names)";

/// The state a domain written by this caller starts in: the operator vouches for
/// its own writes; a tenant must prove control of the name first.
fn initial_state(principal: &Principal) -> Result<(DomainStatus, Option<String>), Problem> {
    match principal {
        Principal::ControlPlane => Ok((DomainStatus::Active, None)),
        Principal::Tenant(_) => {
            let token = new_challenge_value().map_err(|e| Problem::internal().caused_by(e))?;
            Ok((DomainStatus::Pending, Some(token)))
        }
    }
}

/// 409 for `domain` if a stored domain refuses it.
async fn check_overlap(
    store: &Store,
    domain: &str,
    tid: &str,
    exclude_id: Option<&str>,
) -> Result<(), Problem> {
    let claims = store.domain_claims(domain, tid, exclude_id).await?;
    match first_conflict(domain, tid, &claims) {
        None => Ok(()),
        Some(c) if c.domain == domain => Err(Problem::conflict("domain", IN_USE)),
        Some(_) => Err(Problem::conflict("domain", OVERLAPS)),
    }
}

fn over_budget(max: u32) -> Problem {
    Problem::conflict(
        "domain",
        &format!("the tenant already holds {max} domains, the most PORTICO_MAX_DOMAINS_PER_TENANT allows"),
    )
}

/// `GET /tenants/{tid}/domains`.
pub(super) async fn list(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    Ok(json_response(
        200,
        &store.list_domains(c.tid(), &c.page()?).await?,
    ))
}

/// `POST /tenants/{tid}/domains`.
pub(super) async fn create(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    c.require_tenant(store).await?;
    let domain = bodies::domain_body(&read_json(c.req).await?, &c.iso.api.hosts)
        .map_err(Problem::validation)?;
    check_overlap(store, &domain, c.tid(), None).await?;
    // Budgets bind tenants; the operator is trusted with everything.
    let principal = c.principal()?;
    let max = match principal {
        Principal::Tenant(_) => Some(c.iso.domains.max_domains_per_tenant),
        Principal::ControlPlane => None,
    };
    if let Some(max) = max {
        if store.count_domains(c.tid()).await? >= u64::from(max) {
            return Err(over_budget(max));
        }
    }
    let (status, token) = initial_state(principal)?;
    let id = new_id("dom_").map_err(|e| Problem::internal().caused_by(e))?;
    let at = now_iso();
    let state = DomainState {
        status,
        token: token.as_deref(),
    };
    let written = store
        .create_domain(c.tid(), &id, &domain, &state, max, &c.audit(&at)?)
        .await?;
    if written == GuardedWrite::Refused {
        // A write that raced ours won; say which rule it tripped.
        check_overlap(store, &domain, c.tid(), None).await?;
        return Err(match max {
            Some(max) => over_budget(max),
            None => Problem::conflict("domain", IN_USE),
        });
    }
    if status == DomainStatus::Active {
        c.purge_tenant(store, &[]).await;
    }
    let row = store.get_domain(c.tid(), &id).await?.ok_or_else(|| {
        Problem::internal().caused_by(format!("domain {id} gone after its write"))
    })?;
    Ok(json_response(201, &row.to_json()))
}

/// The path's tenant (which must exist) and its domain `{did}` (else 404).
async fn domain_of<'c>(c: &'c Call<'_>, store: &Store) -> Result<(&'c str, DomainRow), Problem> {
    c.require_tenant(store).await?;
    let did = c.m.param("did");
    let row = store
        .get_domain(c.tid(), did)
        .await?
        .ok_or_else(|| Problem::not_found("domain"))?;
    Ok((did, row))
}

/// `GET /tenants/{tid}/domains/{did}`.
pub(super) async fn get(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let (_, row) = domain_of(c, store).await?;
    Ok(json_response(200, &row.to_json()))
}

/// `DELETE /tenants/{tid}/domains/{did}`: with the routes scoped to it.
pub(super) async fn delete(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let (did, _) = domain_of(c, store).await?;
    let hosts = store.tenant_domain_names(c.tid()).await?;
    let at = now_iso();
    store.delete_domain(c.tid(), did, &c.audit(&at)?).await?;
    purge(c.iso, c.tid(), &hosts).await;
    Ok(SimpleResponse::empty(204))
}

/// `PATCH /tenants/{tid}/domains/{did}`: a tenant's rename starts pending again
/// with a new value (proof of the old name says nothing about the new one).
pub(super) async fn rename(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let (did, row) = domain_of(c, store).await?;
    let domain = bodies::domain_body(&read_json(c.req).await?, &c.iso.api.hosts)
        .map_err(Problem::validation)?;
    if domain == row.domain {
        return Ok(json_response(200, &row.to_json()));
    }
    check_overlap(store, &domain, c.tid(), Some(did)).await?;
    let (status, token) = initial_state(c.principal()?)?;
    let at = now_iso();
    let state = DomainState {
        status,
        token: token.as_deref(),
    };
    let written = store
        .rename_domain(c.tid(), did, &domain, &state, &c.audit(&at)?)
        .await?;
    if written == GuardedWrite::Refused {
        check_overlap(store, &domain, c.tid(), Some(did)).await?;
        return Err(Problem::conflict("domain", IN_USE));
    }
    c.purge_tenant(store, std::slice::from_ref(&row.domain))
        .await;
    let row = store
        .get_domain(c.tid(), did)
        .await?
        .ok_or_else(|| Problem::not_found("domain"))?;
    Ok(json_response(200, &row.to_json()))
}

/// `POST /tenants/{tid}/domains/{did}/_verify`: checks the DNS record now. Answers
/// 200 with the domain either way; `status` says whether it is served and, while
/// pending, `verification.last_check` says what the lookup found.
pub(super) async fn verify(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let (did, row) = domain_of(c, store).await?;
    if row.status() == DomainStatus::Pending {
        let at = now_iso();
        check_domain(c.iso, store, &row, &c.audit(&at)?).await?;
    }
    let row = store
        .get_domain(c.tid(), did)
        .await?
        .ok_or_else(|| Problem::not_found("domain"))?;
    Ok(json_response(200, &row.to_json()))
}
