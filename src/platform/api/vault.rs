//! `/vault/status` and `/vault/_reencrypt` (control plane): how many records each
//! kid still seals, and one re-encryption batch on demand.

use super::call::{json_response, now_iso, Call};
use crate::api::Problem;
use crate::message::SimpleResponse;
use crate::platform::rotation::{reencrypt_batch, status as vault_status, RotationError};
use crate::platform::store::Store;
use crate::platform::vault::VaultFailure;

fn problem(e: RotationError) -> Problem {
    match e {
        RotationError::Vault(VaultFailure::Unavailable(_)) => Problem::vault_unavailable(),
        RotationError::Vault(v) => Problem::internal().caused_by(v),
        RotationError::Store(s) => s.into(),
    }
}

/// `GET /vault/status`.
pub(super) async fn status(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    Ok(json_response(
        200,
        &vault_status(c.iso, store).await.map_err(problem)?,
    ))
}

/// `POST /vault/_reencrypt`: one batch now.
pub(super) async fn reencrypt(c: &Call<'_>, store: &Store) -> Result<SimpleResponse, Problem> {
    let at = now_iso();
    Ok(json_response(
        200,
        &reencrypt_batch(c.iso, c.env, store, &at)
            .await
            .map_err(problem)?,
    ))
}
