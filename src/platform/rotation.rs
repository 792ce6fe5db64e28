//! Key rotation: re-seals vault records still under an old kid, a bounded batch
//! at a time, resuming from a cursor kept in D1. Run by the scheduled job and by
//! `POST /vault/_reencrypt`; `GET /vault/status` reads what it left.

use super::env::var;
use super::isolate::Isolate;
use super::keeper_client;
use super::store::{counts_json, Store, StoreError};
use super::vault::{Record, Vault, VaultFailure};
use crate::vault::RecordKind;
use serde_json::{json, Value};
use worker::Env;

/// The job's name in `vault_jobs`.
pub(crate) const JOB: &str = "vault-reencrypt";
/// Default `PORTICO_VAULT_REENCRYPT_BATCH`: two KV operations per record, far
/// below the 1,000 one invocation may make.
const DEFAULT_BATCH: u32 = 50;
const MAX_BATCH: u32 = 400;

/// Why a batch could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RotationError {
    #[error("{0}")]
    Vault(#[from] VaultFailure),
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn batch_size(env: &Env) -> u32 {
    var(env, "PORTICO_VAULT_REENCRYPT_BATCH")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_BATCH)
        .min(MAX_BATCH)
}

/// Records not under the active kid.
async fn remaining(store: &Store, active: &str) -> Result<u64, StoreError> {
    Ok(store
        .vault_counts()
        .await?
        .iter()
        .filter(|(kid, _)| kid != active)
        .map(|(_, n)| n)
        .sum())
}

/// One batch: re-seals up to the batch size of records under old kids after the
/// saved cursor. A record that cannot be opened (tampered, or its key already
/// removed) is counted and skipped; the cursor moves past it, and the next pass
/// (the cursor resets when a batch comes up short) tries it again.
pub(crate) async fn reencrypt_batch(
    iso: &Isolate,
    env: &Env,
    store: &Store,
    at: &str,
) -> Result<Value, RotationError> {
    let vault = Vault::open(&iso.vault, env)?;
    let active = vault.active_kid().to_string();
    let job = store.vault_job(JOB).await?;
    let limit = batch_size(env);
    let rows = store
        .vault_stale(&active, job.cursor.as_deref(), limit)
        .await?;
    let (mut done, mut failed) = (0u64, 0u64);
    for r in &rows {
        let Some(kind) = RecordKind::from_key_segment(&r.kind) else {
            failed += 1;
            continue;
        };
        if kind == RecordKind::ConnectionTokens {
            // An OAuth2 token set lives in its connection's keeper: it re-seals
            // itself (and re-indexes under the new kid).
            match keeper_client::reseal(env, &r.tenant_id, &r.record_id).await {
                Ok(Some(kid)) if kid == active => done += 1,
                Ok(None) => store.vault_index_remove_if(&r.key, &r.object).await?,
                Ok(Some(_)) | Err(_) => {
                    failed += 1;
                    worker::console_error!("portico: vault re-encryption of {} failed", r.key);
                }
            }
            continue;
        }
        let record = Record {
            tenant: &r.tenant_id,
            kind,
            id: &r.record_id,
        };
        match vault.reseal(record, &r.object).await {
            Ok(Some(stored)) => {
                let switched = store
                    .vault_index_swap(&r.key, &r.object, &stored.object, &stored.kid, at)
                    .await?;
                if stored.object != r.object {
                    // The loser of a race with a write goes, or else the old object.
                    let stale = if switched { &r.object } else { &stored.object };
                    if let Err(e) = vault.delete(stale).await {
                        worker::console_error!("portico: vault re-encryption left {stale}: {e}");
                    }
                }
                if switched {
                    done += 1;
                }
            }
            // Gone from KV: the index row is stale (unless a write replaced it).
            Ok(None) => store.vault_index_remove_if(&r.key, &r.object).await?,
            Err(e) => {
                failed += 1;
                worker::console_error!("portico: vault re-encryption of {} failed: {e}", r.key);
            }
        }
    }
    let cursor = (rows.len() as u32 >= limit)
        .then(|| rows.last().map(|r| r.key.clone()))
        .flatten();
    let outcome = json!({
        "at": at,
        "active_kid": active,
        "reencrypted": done,
        "failed": failed,
        "remaining": remaining(store, &active).await?,
        "cursor": cursor,
    });
    store
        .save_vault_job(JOB, cursor.as_deref(), &outcome)
        .await?;
    Ok(outcome)
}

/// Records per kid (every kid of the ring listed), the cursor and the last run.
pub(crate) async fn status(iso: &Isolate, store: &Store) -> Result<Value, RotationError> {
    let ring = iso
        .vault
        .ring()
        .ok_or(VaultFailure::Unavailable("no key ring"))?;
    let kids: Vec<&str> = ring.kids().collect();
    let counts = store.vault_counts().await?;
    let job = store.vault_job(JOB).await?;
    Ok(json!({
        "active_kid": ring.active(),
        "kids": kids,
        "records": counts_json(&counts, &kids),
        "remaining": counts.iter().filter(|(k, _)| k != ring.active()).map(|(_, n)| n).sum::<u64>(),
        "cursor": job.cursor,
        "last_run": job.last_run,
    }))
}
