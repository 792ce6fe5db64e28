//! The D1 index of vault records (one row per KV envelope, with its kid) and the
//! re-encryption job's cursor: vault status counts and the job's work list come
//! from here, so neither scans KV.

use super::{s, Store, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

/// One envelope's index row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VaultIndex<'a> {
    pub(crate) tenant: &'a str,
    /// `RecordKind::key_segment`.
    pub(crate) kind: &'a str,
    pub(crate) record_id: &'a str,
    /// The KV object holding the envelope.
    pub(crate) object: &'a str,
    pub(crate) kid: &'a str,
}

impl VaultIndex<'_> {
    fn key(&self) -> String {
        format!("v1/{}/{}/{}", self.tenant, self.kind, self.record_id)
    }
}

/// What a write does to one record's index row.
pub(crate) enum IndexChange<'a> {
    Unchanged,
    /// Stored (or re-sealed) under a kid.
    Put(VaultIndex<'a>),
    /// Deleted (the storage key).
    Remove(String),
}

/// A record the re-encryption job should look at.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IndexedRecord {
    pub(crate) key: String,
    pub(crate) tenant_id: String,
    pub(crate) kind: String,
    pub(crate) record_id: String,
    pub(crate) object: String,
}

#[derive(Deserialize)]
struct KidCount {
    kid: String,
    n: f64,
}

#[derive(Deserialize)]
struct JobRow {
    cursor: Option<String>,
    last_run: Option<String>,
}

/// The re-encryption job's saved state.
#[derive(Debug, Default, Clone)]
pub(crate) struct JobState {
    pub(crate) cursor: Option<String>,
    pub(crate) last_run: Option<Value>,
}

impl Store {
    pub(crate) fn vault_index_put(
        &self,
        ix: &VaultIndex<'_>,
        at: &str,
    ) -> Result<D1PreparedStatement, StoreError> {
        self.stmt(
            "INSERT INTO vault_records (key, tenant_id, kind, record_id, object, kid, updated_at) VALUES (?1, ?2, ?3, ?4, ?7, ?5, ?6) \
             ON CONFLICT(key) DO UPDATE SET object = excluded.object, kid = excluded.kid, updated_at = excluded.updated_at",
            &[s(&ix.key()), s(ix.tenant), s(ix.kind), s(ix.record_id), s(ix.kid), s(at), s(ix.object)],
        )
    }

    pub(crate) fn vault_index_remove(&self, key: &str) -> Result<D1PreparedStatement, StoreError> {
        self.stmt("DELETE FROM vault_records WHERE key = ?1", &[s(key)])
    }

    /// Forgets every record of a deleted tenant (after its envelopes went).
    pub(crate) async fn vault_index_remove_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        self.stmt(
            "DELETE FROM vault_records WHERE tenant_id = ?1",
            &[s(tenant)],
        )?
        .run()
        .await?;
        Ok(())
    }

    /// The statement for `change`, if it writes anything.
    pub(crate) fn vault_index_change(
        &self,
        change: &IndexChange<'_>,
        at: &str,
    ) -> Result<Option<D1PreparedStatement>, StoreError> {
        Ok(match change {
            IndexChange::Unchanged => None,
            IndexChange::Put(ix) => Some(self.vault_index_put(ix, at)?),
            IndexChange::Remove(key) => Some(self.vault_index_remove(key)?),
        })
    }

    /// Points a re-sealed record at its new object, only if it still points at
    /// the one the job read (a write in between wins); `true` when switched.
    pub(crate) async fn vault_index_swap(
        &self,
        key: &str,
        from_object: &str,
        to_object: &str,
        kid: &str,
        at: &str,
    ) -> Result<bool, StoreError> {
        let r = self
            .stmt(
                "UPDATE vault_records SET object = ?3, kid = ?4, updated_at = ?5 WHERE key = ?1 AND object = ?2",
                &[s(key), s(from_object), s(to_object), s(kid), s(at)],
            )?
            .run()
            .await?;
        Ok(r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) > 0)
    }

    /// Forgets a record whose object is gone, unless a write replaced it meanwhile.
    pub(crate) async fn vault_index_remove_if(
        &self,
        key: &str,
        object: &str,
    ) -> Result<(), StoreError> {
        self.stmt(
            "DELETE FROM vault_records WHERE key = ?1 AND object = ?2",
            &[s(key), s(object)],
        )?
        .run()
        .await?;
        Ok(())
    }

    /// The current object of a record, if it has one.
    pub(crate) async fn vault_object(&self, key: &str) -> Result<Option<String>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            object: String,
        }
        let rows: Vec<Row> = self
            .rows("SELECT object FROM vault_records WHERE key = ?1", &[s(key)])
            .await?;
        Ok(rows.into_iter().next().map(|r| r.object))
    }

    /// Records per kid.
    pub(crate) async fn vault_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<KidCount> = self
            .rows(
                "SELECT kid, COUNT(*) AS n FROM vault_records GROUP BY kid ORDER BY kid",
                &[],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.kid, r.n.max(0.0) as u64))
            .collect())
    }

    /// Up to `limit` records not under `active`, after `cursor` (key order).
    pub(crate) async fn vault_stale(
        &self,
        active: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Vec<IndexedRecord>, StoreError> {
        self.rows(
            "SELECT key, tenant_id, kind, record_id, object FROM vault_records \
             WHERE kid <> ?1 AND key > ?2 ORDER BY key LIMIT ?3",
            &[s(active), s(cursor.unwrap_or("")), JsValue::from(limit)],
        )
        .await
    }

    /// Every record of `tenant` (deleting a tenant deletes its envelopes).
    pub(crate) async fn vault_records_of(
        &self,
        tenant: &str,
    ) -> Result<Vec<IndexedRecord>, StoreError> {
        self.rows(
            "SELECT key, tenant_id, kind, record_id, object FROM vault_records WHERE tenant_id = ?1 LIMIT 900",
            &[s(tenant)],
        )
        .await
    }

    pub(crate) async fn vault_job(&self, name: &str) -> Result<JobState, StoreError> {
        let rows: Vec<JobRow> = self
            .rows(
                "SELECT cursor, last_run FROM vault_jobs WHERE name = ?1",
                &[s(name)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| JobState {
                cursor: r.cursor,
                last_run: r.last_run.and_then(|t| serde_json::from_str(&t).ok()),
            })
            .unwrap_or_default())
    }

    pub(crate) async fn save_vault_job(
        &self,
        name: &str,
        cursor: Option<&str>,
        last_run: &Value,
    ) -> Result<(), StoreError> {
        self.stmt(
            "INSERT INTO vault_jobs (name, cursor, last_run) VALUES (?1, ?2, ?3) \
             ON CONFLICT(name) DO UPDATE SET cursor = excluded.cursor, last_run = excluded.last_run",
            &[
                s(name),
                cursor.map_or(JsValue::NULL, JsValue::from_str),
                s(&last_run.to_string()),
            ],
        )?
        .run()
        .await?;
        Ok(())
    }
}

/// `{kid: count}` with every kid of the ring present (zero when none).
pub(crate) fn counts_json(counts: &[(String, u64)], ring_kids: &[&str]) -> Value {
    let mut m = serde_json::Map::new();
    for k in ring_kids {
        m.insert((*k).to_string(), json!(0));
    }
    for (kid, n) in counts {
        m.insert(kid.clone(), json!(n));
    }
    Value::Object(m)
}
