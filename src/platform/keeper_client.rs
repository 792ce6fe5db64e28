//! Workers' side of the token keeper protocol (`token_keeper.rs`): one object per
//! connection, named `<tenant>/<connection>`, asked over an internal HTTP request.

use super::token_keeper::protocol::{KeeperCall, Outcome};
use super::token_keeper::{Revocation, BINDING};
use crate::oauth::token_set::TokenSet;
use serde_json::Value;
use worker::{Env, Method, Request, RequestInit};

/// Sends `op` to the keeper of `call`'s connection: its status and JSON answer.
async fn send(env: &Env, op: &str, call: &KeeperCall) -> Result<(u16, Value), String> {
    let ns = env
        .durable_object(BINDING)
        .map_err(|_| format!("no {BINDING} Durable Object binding"))?;
    let stub = ns
        .get_by_name(&format!("{}/{}", call.tenant, call.connection))
        .map_err(|e| format!("token keeper: {e}"))?;
    let body = serde_json::to_string(call).map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init(&format!("https://keeper/{op}"), &init)
        .map_err(|e| format!("token keeper request: {e}"))?;
    let mut res = stub
        .fetch_with_request(req)
        .await
        .map_err(|e| format!("token keeper: {e}"))?;
    let status = res.status_code();
    let value = res
        .json::<Value>()
        .await
        .map_err(|e| format!("token keeper answer: {e}"))?;
    Ok((status, value))
}

fn call(tenant: &str, connection: &str) -> KeeperCall {
    KeeperCall {
        tenant: tenant.to_string(),
        connection: connection.to_string(),
        replace: None,
        tokens: None,
    }
}

fn outcome(v: Value) -> Result<Outcome, String> {
    serde_json::from_value(v).map_err(|_| "token keeper answered something else".to_string())
}

/// A usable access token, or one other than the token hashed `replace` (a 401).
pub(crate) async fn token(
    env: &Env,
    tenant: &str,
    connection: &str,
    replace: Option<String>,
) -> Result<Outcome, String> {
    let mut c = call(tenant, connection);
    c.replace = replace;
    let (_, v) = send(env, "token", &c).await?;
    outcome(v)
}

/// Hands a token set from the code exchange to the keeper.
pub(crate) async fn store(
    env: &Env,
    tenant: &str,
    connection: &str,
    tokens: &TokenSet,
) -> Result<Outcome, String> {
    let mut c = call(tenant, connection);
    c.tokens = Some(tokens.to_json());
    let (_, v) = send(env, "store", &c).await?;
    outcome(v)
}

/// Revokes at the provider and forgets the tokens: `revoked`, `failed`,
/// `not_supported` or `none`.
pub(crate) async fn revoke(env: &Env, tenant: &str, connection: &str) -> Result<String, String> {
    let (_, v) = send(env, "revoke", &call(tenant, connection)).await?;
    serde_json::from_value::<Revocation>(v)
        .map(|r| r.revocation)
        .map_err(|_| "token keeper answered something else".to_string())
}

/// What the keeper knows (no token).
pub(crate) async fn status(env: &Env, tenant: &str, connection: &str) -> Result<Value, String> {
    let (status, v) = send(env, "status", &call(tenant, connection)).await?;
    if status == 200 {
        Ok(v)
    } else {
        Err(format!("token keeper answered {status}"))
    }
}

/// Re-seals the keeper's token set under the active key: the kid it is sealed
/// under afterwards (`None`: nothing stored).
pub(crate) async fn reseal(
    env: &Env,
    tenant: &str,
    connection: &str,
) -> Result<Option<String>, String> {
    let (status, v) = send(env, "reseal", &call(tenant, connection)).await?;
    if status != 200 {
        return Err(format!("token keeper answered {status}"));
    }
    Ok(v.get("kid").and_then(Value::as_str).map(str::to_string))
}
