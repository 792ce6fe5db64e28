//! The `d1` host source: one query for the most specific domain and its routes.

use crate::config::host::HostRecord;
use crate::host::lookup_candidates;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::Env;

/// Binding name of the D1 database.
pub(crate) const DB_BINDING: &str = "DB";

/// Why a host could not be read from D1 (the runtime's message, which names no
/// bound values).
#[derive(Debug, thiserror::Error)]
pub(crate) enum D1Error {
    /// The `DB` binding is absent or not a D1 database.
    #[error("D1 binding {DB_BINDING}: {0}")]
    Binding(String),
    /// A statement could not be prepared or bound.
    #[error("D1 bind: {0}")]
    Bind(String),
    /// The query failed.
    #[error("D1 query: {0}")]
    Query(String),
    /// The rows are not of the expected shape.
    #[error("D1 rows: {0}")]
    Rows(String),
}

#[derive(Deserialize)]
struct Row {
    domain_id: String,
    tenant_id: String,
    domain: String,
    route_id: Option<String>,
    priority: Option<f64>,
    match_json: Option<String>,
    handlers_json: Option<String>,
    created_at: Option<String>,
}

fn parse_json_column(text: Option<&str>, default: Value) -> Value {
    match text {
        None => default,
        // A corrupt column must fail validation of this host, not the request.
        Some(t) => serde_json::from_str(t)
            .unwrap_or_else(|e| Value::String(format!("<stored JSON is invalid: {e}>"))),
    }
}

/// Loads a normalised host: `Ok(None)` when no active domain matches (a pending
/// domain is not served until its owner proves control, DESIGN §2.5).
pub(crate) async fn load_host(env: &Env, host: &str) -> Result<Option<HostRecord>, D1Error> {
    let db = env
        .d1(DB_BINDING)
        .map_err(|e| D1Error::Binding(e.to_string()))?;
    let candidates = lookup_candidates(host);
    let placeholders: Vec<String> = (1..=candidates.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "SELECT d.id AS domain_id, d.tenant_id, d.domain, r.id AS route_id, r.priority, \
         r.match_json, r.handlers_json, r.created_at \
         FROM domains d LEFT JOIN routes r ON r.tenant_id = d.tenant_id \
         AND (r.custom_domain_id IS NULL OR r.custom_domain_id = d.id) \
         WHERE d.domain IN ({}) AND d.status = 'active'",
        placeholders.join(", ")
    );
    let args: Vec<JsValue> = candidates.iter().map(|c| JsValue::from_str(c)).collect();
    let stmt = db
        .prepare(sql)
        .bind(&args)
        .map_err(|e| D1Error::Bind(e.to_string()))?;
    let result = stmt
        .all()
        .await
        .map_err(|e| D1Error::Query(e.to_string()))?;
    let rows: Vec<Row> = result.results().map_err(|e| D1Error::Rows(e.to_string()))?;
    // The most specific candidate that exists wins.
    let Some(best) = candidates
        .iter()
        .find(|c| rows.iter().any(|r| &r.domain == *c))
    else {
        return Ok(None);
    };
    let mut record: Option<HostRecord> = None;
    for row in rows.into_iter().filter(|r| &r.domain == best) {
        let rec = record.get_or_insert_with(|| HostRecord {
            tenant_id: row.tenant_id.clone(),
            custom_domain_id: Some(row.domain_id.clone()),
            domain: row.domain.clone(),
            routes: Vec::new(),
            exclusive: false,
        });
        if let Some(id) = row.route_id {
            rec.routes.push(json!({
                "id": id,
                "priority": row.priority.map(|p| p as i64).unwrap_or(crate::config::route::DEFAULT_PRIORITY),
                "created_at": row.created_at.unwrap_or_default(),
                "match": parse_json_column(row.match_json.as_deref(), json!({})),
                "handlers": parse_json_column(row.handlers_json.as_deref(), Value::Null),
            }));
        }
    }
    if let Some(rec) = record.as_mut() {
        if let Some(suffix) = rec.domain.strip_prefix("*.") {
            rec.exclusive = !has_domain_below(&db, suffix).await?;
        }
    }
    Ok(record)
}

/// Whether any domain other than `*.{suffix}` lies below `suffix`: when none
/// does, every host under the wildcard resolves to it and one cached copy serves
/// them all (DESIGN §2.5).
async fn has_domain_below(db: &worker::D1Database, suffix: &str) -> Result<bool, D1Error> {
    let escaped: String = suffix
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let stmt = db
        .prepare(
            "SELECT 1 AS hit FROM domains WHERE domain LIKE ?1 ESCAPE '\\' AND domain != ?2 LIMIT 1",
        )
        .bind(&[
            JsValue::from_str(&format!("%.{escaped}")),
            JsValue::from_str(&format!("*.{suffix}")),
        ])
        .map_err(|e| D1Error::Bind(e.to_string()))?;
    let result = stmt
        .all()
        .await
        .map_err(|e| D1Error::Query(e.to_string()))?;
    let rows: Vec<Value> = result.results().map_err(|e| D1Error::Rows(e.to_string()))?;
    Ok(!rows.is_empty())
}
