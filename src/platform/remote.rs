//! The `remote` host source: asks another Portico's control plane for a host, with
//! an OAuth client-credentials token cached in the isolate and renewed once on 401.

use super::isolate::Isolate;
use super::outbound::{call, OutboundError};
use crate::config::host::HostRecord;
use crate::oauth::token::{CachedToken, TokenResponseError};
use crate::resolve::remote::RemoteSettings;
use worker::{Env, Method};

const REMOTE_TIMEOUT_MS: u64 = 5_000;

/// Why the control plane could not say what a host is. Safe to log: neither token
/// nor answer bodies appear (they may hold credentials or route secrets).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RemoteError {
    /// The host cannot be put in a control-plane URL.
    #[error("host cannot be put in a URL")]
    HostNotUrl,
    /// The token endpoint could not be used (only its status is kept: the body may
    /// echo client details).
    #[error("token endpoint: {0}")]
    Token(OutboundError),
    /// The token endpoint's 200 answer had no usable token.
    #[error(transparent)]
    TokenResponse(#[from] TokenResponseError),
    /// The control-plane call failed or answered an unusable status.
    #[error("control plane: {0}")]
    ControlPlane(OutboundError),
    /// The control plane's 200 answer is not a host record.
    #[error("control plane host record is malformed (line {line}, column {column})")]
    Record { line: usize, column: usize },
}

async fn fetch_token(env: &Env, s: &RemoteSettings, url: &str) -> Result<CachedToken, RemoteError> {
    let auth = s.basic_auth();
    let reply = call(
        env,
        None,
        Method::Post,
        url,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ],
        Some(s.token_form()),
        REMOTE_TIMEOUT_MS,
    )
    .await
    .map_err(RemoteError::Token)?;
    if reply.status != 200 {
        // The body may echo client details; keep only the status.
        return Err(RemoteError::Token(OutboundError::status(url, reply.status)));
    }
    Ok(CachedToken::from_response(
        &reply.body,
        js_sys::Date::now() as u64,
    )?)
}

/// A usable token: the cached one unless `renew` or expired.
async fn token(
    iso: &Isolate,
    env: &Env,
    s: &RemoteSettings,
    renew: bool,
) -> Result<Option<String>, RemoteError> {
    let Some(url) = &s.token_url else {
        return Ok(None);
    };
    let now = js_sys::Date::now() as u64;
    if !renew {
        if let Some(t) = iso.remote_token.borrow().as_ref().filter(|t| t.usable(now)) {
            return Ok(Some(t.token.clone()));
        }
    }
    let fresh = fetch_token(env, s, url).await?;
    let tok = fresh.token.clone();
    *iso.remote_token.borrow_mut() = Some(fresh);
    Ok(Some(tok))
}

/// Loads one host from the control plane: `Ok(None)` for unknown hosts.
pub(crate) async fn load_host(
    iso: &Isolate,
    env: &Env,
    s: &RemoteSettings,
    host: &str,
) -> Result<Option<HostRecord>, RemoteError> {
    let url = s.host_url(host).ok_or(RemoteError::HostNotUrl)?;
    let mut renewed = false;
    loop {
        let tok = token(iso, env, s, renewed).await?;
        let bearer = tok.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("accept", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        let reply = call(
            env,
            s.service.as_deref(),
            Method::Get,
            &url,
            &headers,
            None,
            REMOTE_TIMEOUT_MS,
        )
        .await
        .map_err(RemoteError::ControlPlane)?;
        match reply.status {
            200 => {
                return serde_json::from_str(&reply.body)
                    .map(|mut r: HostRecord| {
                        // Wildcards are looked up per host here: the control plane
                        // answers for concrete hosts only.
                        r.exclusive = false;
                        Some(r)
                    })
                    .map_err(|e| RemoteError::Record {
                        line: e.line(),
                        column: e.column(),
                    });
            }
            404 => return Ok(None),
            401 if !renewed && s.token_url.is_some() => {
                // The token died early (revoked, key rotated): renew once.
                *iso.remote_token.borrow_mut() = None;
                renewed = true;
            }
            other => {
                return Err(RemoteError::ControlPlane(OutboundError::status(
                    &url, other,
                )))
            }
        }
    }
}
