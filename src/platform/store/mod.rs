//! The management API's view of D1, one file per resource. Reads return rows; every
//! write goes through [`Store::write_with_audit`] (audit.rs): one `batch` (a single
//! transaction) with its audit row, so a failure leaves nothing behind. Failures are
//! [`StoreError`]s; the API layer turns them into problems and logs them.

mod audit;
mod connections;
mod connectors;
mod domains;
mod error;
mod oauth;
mod pending;
mod routes;
mod tenants;
mod vault;

pub(crate) use audit::{AuditCx, CallRow, GuardedWrite};
pub(crate) use connections::{ConnectionChange, ConnectionRow, NewConnection};
pub(crate) use connectors::{
    client_secret_record_id, connector_json, ConnectorRow, VersionDbRow, VersionWriteRow,
};
pub(crate) use domains::{DomainRow, DomainState};
pub(crate) use error::StoreError;
pub(crate) use oauth::{Connected, NewState, OAuthConnectionRow, StateRow};
pub(crate) use vault::{counts_json, IndexChange, VaultIndex};

use super::d1::DB_BINDING;
use crate::api::paging::{encode_cursor, PageRequest};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

/// The management API's view of D1.
pub(crate) struct Store {
    db: D1Database,
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

/// A page of items and the cursor of the next one.
fn page_body(mut items: Vec<Value>, limit: u32, key: &str) -> Value {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = if more {
        items.last().map(|last| {
            encode_cursor(
                last.get(key).and_then(Value::as_str).unwrap_or_default(),
                last.get("id").and_then(Value::as_str).unwrap_or_default(),
            )
        })
    } else {
        None
    };
    json!({ "items": items, "next_cursor": next })
}

/// The keyset cursor's `(sort key, id)` as statement arguments (NULLs: first page).
fn after(p: &PageRequest) -> (JsValue, JsValue) {
    match &p.after {
        Some((c, id)) => (s(c), s(id)),
        None => (JsValue::NULL, JsValue::NULL),
    }
}

impl Store {
    pub(crate) fn open(env: &Env) -> Result<Self, StoreError> {
        Ok(Self {
            db: env.d1(DB_BINDING)?,
        })
    }

    fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, StoreError> {
        Ok(self.db.prepare(sql).bind(args)?)
    }

    /// Every row of a query, deserialized as `T`.
    async fn rows<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[JsValue],
    ) -> Result<Vec<T>, StoreError> {
        Ok(self.stmt(sql, args)?.all().await?.results::<T>()?)
    }

    /// A `SELECT count(*) AS n ...`.
    async fn count(&self, sql: &str, args: &[JsValue]) -> Result<u64, StoreError> {
        let row = self.rows::<Value>(sql, args).await?.into_iter().next();
        Ok(row
            .and_then(|r| r.get("n").and_then(Value::as_f64))
            .map_or(0, |n| n.max(0.0) as u64))
    }
}
