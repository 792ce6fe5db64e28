//! An OAuth2 connection's token set (DESIGN §7 "OAuth2"), pure: a token endpoint
//! answer validated into one, the refresh token carried forward when a refresh
//! omits it, when to refresh, and how a failed refresh is classified. The platform
//! (one Durable Object per connection) only carries these decisions out.
//!
//! Token sets are plain data here (`oauth/` never imports the vault): `Debug`
//! never prints a token, and the caller seals them before storing.

use serde_json::{Map, Value};

/// Longest `expires_in` accepted: beyond a year the provider is not to be believed.
pub const MAX_EXPIRES_IN_S: u64 = 366 * 86_400;
/// Refresh before use when the access token expires within this.
pub const REFRESH_AHEAD_MS: u64 = 60_000;
/// Longest token accepted (providers' JWT access tokens run to a few KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Retries of a transiently failed refresh, and the wait before each.
pub const RETRY_DELAYS_MS: [u64; 2] = [250, 1_000];
/// After the retries, calls fail fast for this long (the connection stays ready).
pub const COOLDOWN_MS: u64 = 30_000;

/// A validated token set.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The bearer token sent upstream.
    pub access_token: String,
    /// The refresh token (only ever sent to the token endpoint).
    pub refresh_token: Option<String>,
    /// When the access token expires (ms), if the provider said.
    pub expires_at_ms: Option<u64>,
    /// Scopes granted, if the provider said.
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .field("expires_at_ms", &self.expires_at_ms)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why a token endpoint answer was refused. Never carries the body (it may hold
/// tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenSetError {
    /// Not JSON, or not a JSON object.
    #[error("token response is not a JSON object")]
    NotObject,
    /// `access_token` absent, empty, too long or not header-safe text.
    #[error("token response has no usable access_token")]
    NoAccessToken,
    /// `token_type` present and not `Bearer`.
    #[error("token response's token_type is not Bearer")]
    NotBearer,
    /// `expires_in` not a positive whole number of seconds up to a year.
    #[error("token response's expires_in is not a sensible number of seconds")]
    BadExpiresIn,
    /// `refresh_token` present and not usable text.
    #[error("token response's refresh_token is not usable")]
    BadRefreshToken,
    /// `scope` present and not a string.
    #[error("token response's scope is not a string")]
    BadScope,
}

/// A token as a header may carry it: visible ASCII (RFC 6750 `b64token` and the
/// opaque tokens providers use), no spaces, bounded.
fn usable_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_graphic())
}

fn expires_in(v: &Value) -> Result<u64, TokenSetError> {
    let secs = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        // Some providers send it as a string.
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    secs.filter(|s| (1..=MAX_EXPIRES_IN_S).contains(s))
        .ok_or(TokenSetError::BadExpiresIn)
}

impl TokenSet {
    /// Validates a token endpoint's 200 answer received at `now_ms`.
    pub fn parse(body: &[u8], now_ms: u64) -> Result<Self, TokenSetError> {
        let v: Value = serde_json::from_slice(body).map_err(|_| TokenSetError::NotObject)?;
        let o = v.as_object().ok_or(TokenSetError::NotObject)?;
        let access_token = o
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| usable_token(t))
            .ok_or(TokenSetError::NoAccessToken)?;
        match o.get("token_type") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
            Some(_) => return Err(TokenSetError::NotBearer),
        }
        let expires_at_ms = match o.get("expires_in") {
            None | Some(Value::Null) => None,
            Some(e) => Some(now_ms.saturating_add(expires_in(e)?.saturating_mul(1000))),
        };
        let refresh_token = match o.get("refresh_token") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if usable_token(t) => Some(t.clone()),
            Some(_) => return Err(TokenSetError::BadRefreshToken),
        };
        let scope = match o.get("scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(TokenSetError::BadScope),
        };
        Ok(Self {
            access_token: access_token.to_string(),
            refresh_token,
            expires_at_ms,
            scope,
        })
    }

    /// A refresh's answer over the set it replaces: a provider that does not
    /// rotate refresh tokens omits it, and the old one stays valid; scopes the
    /// answer omits are unchanged (RFC 6749 §6, §5.1).
    pub fn refreshed_from(mut self, previous: &TokenSet) -> Self {
        if self.refresh_token.is_none() {
            self.refresh_token = previous.refresh_token.clone();
        }
        if self.scope.is_none() {
            self.scope = previous.scope.clone();
        }
        self
    }

    /// Whether to refresh before using the access token at `now_ms` (it expires
    /// within [`REFRESH_AHEAD_MS`]; a token without an expiry is used until a 401).
    pub fn needs_refresh(&self, now_ms: u64) -> bool {
        self.expires_at_ms
            .is_some_and(|at| at <= now_ms.saturating_add(REFRESH_AHEAD_MS))
    }

    /// The stored form (sealed by the caller).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("access_token".into(), self.access_token.clone().into());
        if let Some(r) = &self.refresh_token {
            m.insert("refresh_token".into(), r.clone().into());
        }
        if let Some(e) = self.expires_at_ms {
            m.insert("expires_at_ms".into(), e.into());
        }
        if let Some(s) = &self.scope {
            m.insert("scope".into(), s.clone().into());
        }
        Value::Object(m)
    }

    /// Reads [`TokenSet::to_json`] back (`None`: not a stored token set).
    pub fn from_stored(v: &Value) -> Option<Self> {
        let o = v.as_object()?;
        let access_token = o
            .get("access_token")?
            .as_str()
            .filter(|t| usable_token(t))?;
        let refresh_token = match o.get("refresh_token") {
            None => None,
            Some(t) => Some(t.as_str().filter(|t| usable_token(t))?.to_string()),
        };
        let expires_at_ms = match o.get("expires_at_ms") {
            None => None,
            Some(e) => Some(e.as_u64()?),
        };
        let scope = match o.get("scope") {
            None => None,
            Some(s) => Some(s.as_str()?.to_string()),
        };
        Some(Self {
            access_token: access_token.to_string(),
            refresh_token,
            expires_at_ms,
            scope,
        })
    }
}

/// Why a refresh failed, and so what becomes of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefreshFailure {
    /// The grant is gone or the client refused: `needs_reauth` (tokens kept).
    #[error("refresh refused permanently: {0}")]
    Permanent(Permanent),
    /// Worth retrying (with backoff), then a cooldown; the connection stays ready.
    #[error("refresh failed transiently: {0}")]
    Transient(Transient),
}

/// A permanent refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Permanent {
    /// `invalid_grant`: the refresh token is revoked, expired or replayed.
    #[error("invalid_grant")]
    InvalidGrant,
    /// `invalid_client`: the client credentials are wrong.
    #[error("invalid_client")]
    InvalidClient,
    /// Another 4xx (or an unexpected status).
    #[error("status {0}")]
    Rejected(u16),
    /// A 200 whose body is not a usable token set.
    #[error("{0}")]
    Malformed(TokenSetError),
}

/// A transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Transient {
    /// A 5xx or 429.
    #[error("status {0}")]
    Status(u16),
    /// The request never got an answer.
    #[error("network error")]
    Network,
    /// No answer in time.
    #[error("timeout")]
    Timeout,
}

/// Classifies a token endpoint answer that was not a 2xx (RFC 6749 §5.2).
pub fn classify(status: u16, body: &[u8]) -> RefreshFailure {
    if status >= 500 || status == 429 {
        return RefreshFailure::Transient(Transient::Status(status));
    }
    let error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
    RefreshFailure::Permanent(match error.as_deref() {
        Some("invalid_grant") => Permanent::InvalidGrant,
        Some("invalid_client") => Permanent::InvalidClient,
        _ if status == 401 => Permanent::InvalidClient,
        _ => Permanent::Rejected(status),
    })
}

/// The wait before retry number `attempt` (0-based) of a transient failure;
/// `None`: give up and cool down.
pub fn retry_delay_ms(attempt: usize) -> Option<u64> {
    RETRY_DELAYS_MS.get(attempt).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000_000;

    fn parse(v: Value) -> Result<TokenSet, TokenSetError> {
        TokenSet::parse(v.to_string().as_bytes(), NOW)
    }

    #[test]
    fn valid_answers_parse_and_round_trip() {
        let t = parse(json!({"access_token": "at-1", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": "a b"}))
            .expect("valid");
        assert_eq!(t.expires_at_ms, Some(NOW + 3_600_000));
        assert_eq!(TokenSet::from_stored(&t.to_json()), Some(t.clone()));
        // Strings and whole floats are seconds too; no expiry is allowed.
        assert_eq!(
            parse(json!({"access_token": "a", "expires_in": "60"})).map(|t| t.expires_at_ms),
            Ok(Some(NOW + 60_000))
        );
        assert_eq!(
            parse(json!({"access_token": "a", "expires_in": 60.0})).map(|t| t.expires_at_ms),
            Ok(Some(NOW + 60_000))
        );
        assert_eq!(
            parse(json!({"access_token": "a"})).map(|t| t.expires_at_ms),
            Ok(None)
        );
        // Debug never shows a token.
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("at-1") && !shown.contains("rt-1"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_answers_are_refused_with_a_reason() {
        assert_eq!(
            TokenSet::parse(b"not json", NOW),
            Err(TokenSetError::NotObject)
        );
        assert_eq!(
            parse(json!(["access_token"])),
            Err(TokenSetError::NotObject)
        );
        for bad in [
            json!({}),
            json!({"access_token": ""}),
            json!({"access_token": 5}),
            json!({"access_token": "a b"}),
            json!({"access_token": "a\nb"}),
        ] {
            assert_eq!(
                parse(bad.clone()),
                Err(TokenSetError::NoAccessToken),
                "{bad}"
            );
        }
        assert_eq!(
            parse(json!({"access_token": "a", "token_type": "mac"})),
            Err(TokenSetError::NotBearer)
        );
        for e in [
            json!(0),
            json!(-5),
            json!("soon"),
            json!(1.5),
            json!(MAX_EXPIRES_IN_S + 1),
            json!(u64::MAX),
            json!(true),
        ] {
            assert_eq!(
                parse(json!({"access_token": "a", "expires_in": e.clone()})),
                Err(TokenSetError::BadExpiresIn),
                "{e}"
            );
        }
        assert_eq!(
            parse(json!({"access_token": "a", "refresh_token": ""})),
            Err(TokenSetError::BadRefreshToken)
        );
        assert_eq!(
            parse(json!({"access_token": "a", "scope": ["x"]})),
            Err(TokenSetError::BadScope)
        );
    }

    #[test]
    fn a_refresh_keeps_the_old_refresh_token_when_the_provider_omits_it() {
        let old = parse(
            json!({"access_token": "a1", "refresh_token": "r1", "scope": "s", "expires_in": 60}),
        )
        .expect("old");
        let same = parse(json!({"access_token": "a2", "expires_in": 60}))
            .expect("new")
            .refreshed_from(&old);
        assert_eq!(
            (same.refresh_token.as_deref(), same.scope.as_deref()),
            (Some("r1"), Some("s"))
        );
        let rotated = parse(json!({"access_token": "a3", "refresh_token": "r2"}))
            .expect("new")
            .refreshed_from(&old);
        assert_eq!(rotated.refresh_token.as_deref(), Some("r2"));
    }

    #[test]
    fn refresh_ahead_of_expiry() {
        let t = parse(json!({"access_token": "a", "expires_in": 120})).expect("valid");
        assert!(!t.needs_refresh(NOW));
        assert!(!t.needs_refresh(NOW + 59_999));
        assert!(t.needs_refresh(NOW + 60_000));
        assert!(t.needs_refresh(NOW + 500_000));
        let forever = parse(json!({"access_token": "a"})).expect("valid");
        assert!(!forever.needs_refresh(u64::MAX));
    }

    #[test]
    fn failures_are_classified() {
        let perm = |p| RefreshFailure::Permanent(p);
        assert_eq!(
            classify(400, br#"{"error":"invalid_grant"}"#),
            perm(Permanent::InvalidGrant)
        );
        assert_eq!(
            classify(401, br#"{"error":"invalid_client"}"#),
            perm(Permanent::InvalidClient)
        );
        assert_eq!(classify(401, b""), perm(Permanent::InvalidClient));
        assert_eq!(
            classify(400, br#"{"error":"invalid_scope"}"#),
            perm(Permanent::Rejected(400))
        );
        assert_eq!(classify(403, b"<html>"), perm(Permanent::Rejected(403)));
        assert_eq!(classify(302, b""), perm(Permanent::Rejected(302)));
        assert_eq!(
            classify(503, br#"{"error":"invalid_grant"}"#),
            RefreshFailure::Transient(Transient::Status(503))
        );
        assert_eq!(
            classify(429, b""),
            RefreshFailure::Transient(Transient::Status(429))
        );
        assert_eq!(
            (retry_delay_ms(0), retry_delay_ms(1), retry_delay_ms(2)),
            (Some(250), Some(1_000), None)
        );
    }
}
