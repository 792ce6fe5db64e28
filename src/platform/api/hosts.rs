//! `/control-plane/hosts/{host}`: the host record another Portico (a `remote`
//! host source) asks this one for.

use super::call::{json_response, Call};
use crate::api::Problem;
use crate::host::normalize_host;
use crate::message::SimpleResponse;
use crate::platform::d1::load_host;
use serde_json::json;

/// `GET /control-plane/hosts/{host}`.
pub(super) async fn resolve(c: &Call<'_>) -> Result<SimpleResponse, Problem> {
    let host = normalize_host(c.m.param("host")).map_err(|_| Problem::not_found("host"))?;
    match load_host(c.env, &host).await {
        Ok(Some(record)) => Ok(json_response(200, &json!(record))),
        Ok(None) => Err(Problem::not_found("host")),
        Err(e) => Err(Problem::unavailable().caused_by(format!("resolve host {host}: {e}"))),
    }
}
