//! What a connection's token keeper (its Durable Object, docs/oauth.md) decides,
//! pure: whether a caller gets the stored access token or a refresh, when to
//! refresh ahead of expiry, when the alarm fires, and how a refresh's outcome
//! changes what it remembers (needs_reauth, cooldown, counters). The platform
//! layer (`platform/token_keeper.rs`) stores, seals and calls the provider.

use super::token_set::{RefreshFailure, TokenSet, COOLDOWN_MS, REFRESH_AHEAD_MS};
use crate::api::time::iso8601;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The alarm fires this long before expiry for long-lived tokens.
pub const ALARM_AHEAD_MS: u64 = 5 * 60 * 1000;

/// What the keeper remembers beside the sealed token set (no secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeeperMeta {
    /// The owning tenant.
    pub tenant: String,
    /// The connection.
    pub connection: String,
    /// When the current token set was obtained.
    #[serde(default)]
    pub obtained_at_ms: u64,
    /// The permanent failure that made the connection `needs_reauth`.
    #[serde(default)]
    pub reauth: Option<String>,
    /// Calls fail fast until then after transient failures.
    #[serde(default)]
    pub cooldown_until_ms: u64,
    /// Successful refreshes.
    #[serde(default)]
    pub refreshes: u64,
    /// Failed refresh attempts.
    #[serde(default)]
    pub refresh_failures: u64,
    /// Token requests served (the warm path makes none).
    #[serde(default)]
    pub token_requests: u64,
    /// The last successful refresh.
    #[serde(default)]
    pub last_refresh_at_ms: Option<u64>,
    /// The last failure's code.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The alarm set, if any.
    #[serde(default)]
    pub next_alarm_ms: Option<u64>,
}

/// What a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask<'a> {
    /// A usable access token (its isolate's copy is about to expire).
    Usable,
    /// A token other than the one with this [`token_hash`] (the upstream said 401).
    Replace(&'a str),
    /// The alarm: refresh if the token is due for its ahead-of-expiry refresh.
    Alarm,
}

/// The keeper's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Hand out the stored access token.
    Serve,
    /// Refresh first.
    Refresh,
    /// The connection needs a user to authorise again.
    NeedsReauth,
    /// Transient failures: fail fast until then.
    CoolingDown {
        /// When calls may try again.
        until_ms: u64,
    },
    /// No token set is stored.
    NoTokens,
}

/// A short, non-reversible name for an access token (which token a 401 was for).
pub fn token_hash(access_token: &str) -> String {
    Sha256::digest(access_token.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// When callers must stop using the access token and ask for a refresh: 60 s before
/// expiry, or halfway through a lifetime shorter than two minutes (so a short-lived
/// token is still used after it was fetched). `None`: no expiry known.
pub fn refresh_at_ms(tokens: &TokenSet, obtained_at_ms: u64) -> Option<u64> {
    let expires = tokens.expires_at_ms?;
    let lifetime = expires.saturating_sub(obtained_at_ms);
    Some(expires.saturating_sub(REFRESH_AHEAD_MS.min(lifetime / 2)))
}

/// When the alarm should refresh: 5 minutes before expiry for lifetimes over ten
/// minutes, else at the refresh point. `None` without a refresh token or expiry.
pub fn alarm_at_ms(tokens: &TokenSet, obtained_at_ms: u64) -> Option<u64> {
    tokens.refresh_token.as_ref()?;
    let expires = tokens.expires_at_ms?;
    if expires.saturating_sub(obtained_at_ms) > 2 * ALARM_AHEAD_MS {
        Some(expires - ALARM_AHEAD_MS)
    } else {
        refresh_at_ms(tokens, obtained_at_ms)
    }
}

/// The stable code of a refresh failure (status, audit, `last_error`).
pub fn failure_code(f: &RefreshFailure) -> String {
    use super::token_set::{Permanent, Transient};
    match f {
        RefreshFailure::Permanent(Permanent::InvalidGrant) => "invalid_grant".into(),
        RefreshFailure::Permanent(Permanent::InvalidClient) => "invalid_client".into(),
        RefreshFailure::Permanent(Permanent::Rejected(s)) => format!("rejected_{s}"),
        RefreshFailure::Permanent(Permanent::Malformed(_)) => "malformed_token_response".into(),
        RefreshFailure::Transient(Transient::Status(s)) => format!("unavailable_{s}"),
        RefreshFailure::Transient(Transient::Network) => "network_error".into(),
        RefreshFailure::Transient(Transient::Timeout) => "timeout".into(),
    }
}

impl KeeperMeta {
    /// A keeper for `tenant`'s `connection`.
    pub fn new(tenant: &str, connection: &str) -> Self {
        Self {
            tenant: tenant.to_string(),
            connection: connection.to_string(),
            ..Self::default()
        }
    }

    /// What to do for `ask` at `now_ms` with the stored `tokens`.
    pub fn decide(&self, tokens: Option<&TokenSet>, ask: Ask<'_>, now_ms: u64) -> Decision {
        let Some(tokens) = tokens else {
            return Decision::NoTokens;
        };
        if self.reauth.is_some() {
            return Decision::NeedsReauth;
        }
        let due = refresh_at_ms(tokens, self.obtained_at_ms).is_some_and(|at| now_ms >= at);
        let stale = match ask {
            Ask::Usable => due,
            Ask::Alarm => {
                alarm_at_ms(tokens, self.obtained_at_ms).is_some_and(|at| now_ms >= at) || due
            }
            Ask::Replace(failed) => token_hash(&tokens.access_token) == failed,
        };
        if !stale {
            return Decision::Serve;
        }
        if tokens.refresh_token.is_none() {
            // Nothing to refresh with: usable until it actually expires, then a user
            // must authorise again.
            let expired = tokens.expires_at_ms.is_some_and(|e| now_ms >= e);
            return match ask {
                Ask::Usable | Ask::Alarm if !expired => Decision::Serve,
                _ => Decision::NeedsReauth,
            };
        }
        if now_ms < self.cooldown_until_ms {
            return Decision::CoolingDown {
                until_ms: self.cooldown_until_ms,
            };
        }
        Decision::Refresh
    }

    /// A token set from the code exchange was stored at `now_ms`.
    pub fn connected(&mut self, now_ms: u64) {
        self.obtained_at_ms = now_ms;
        self.reauth = None;
        self.cooldown_until_ms = 0;
        self.last_error = None;
    }

    /// A refresh succeeded at `now_ms`.
    pub fn refreshed(&mut self, now_ms: u64) {
        self.connected(now_ms);
        self.refreshes += 1;
        self.last_refresh_at_ms = Some(now_ms);
    }

    /// A refresh attempt failed at `now_ms`. `final_attempt`: no retry follows, so a
    /// transient failure starts the cooldown.
    pub fn failed(&mut self, f: &RefreshFailure, final_attempt: bool, now_ms: u64) {
        self.refresh_failures += 1;
        let code = failure_code(f);
        match f {
            RefreshFailure::Permanent(_) => self.reauth = Some(code.clone()),
            RefreshFailure::Transient(_) if final_attempt => {
                self.cooldown_until_ms = now_ms.saturating_add(COOLDOWN_MS);
            }
            RefreshFailure::Transient(_) => {}
        }
        self.last_error = Some(code);
    }

    /// The no-secret status the API shows.
    pub fn status(&self, tokens: Option<&TokenSet>, now_ms: u64) -> Value {
        let iso = |ms: Option<u64>| ms.map(iso8601);
        json!({
            "has_access_token": tokens.is_some(),
            "has_refresh_token": tokens.is_some_and(|t| t.refresh_token.is_some()),
            "access_expires_at": iso(tokens.and_then(|t| t.expires_at_ms)),
            "needs_reauth": self.reauth.is_some(),
            "refreshes": self.refreshes,
            "refresh_failures": self.refresh_failures,
            "token_requests": self.token_requests,
            "last_refresh_at": iso(self.last_refresh_at_ms),
            "last_error": self.last_error,
            "cooldown_until": iso(Some(self.cooldown_until_ms).filter(|&c| c > now_ms)),
            "next_alarm_at": iso(self.next_alarm_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::token_set::{Permanent, Transient};

    const NOW: u64 = 1_800_000_000_000;

    fn set(expires_in_ms: Option<u64>, refresh: bool) -> TokenSet {
        TokenSet {
            access_token: "at-1".into(),
            refresh_token: refresh.then(|| "rt-1".to_string()),
            expires_at_ms: expires_in_ms.map(|e| NOW + e),
            scope: None,
        }
    }

    fn meta() -> KeeperMeta {
        let mut m = KeeperMeta::new("acme", "conn_1");
        m.connected(NOW);
        m
    }

    #[test]
    fn a_fresh_token_is_served_and_one_near_expiry_refreshed() {
        let t = set(Some(3_600_000), true);
        let m = meta();
        assert_eq!(m.decide(Some(&t), Ask::Usable, NOW), Decision::Serve);
        let edge = NOW + 3_600_000 - 60_000;
        assert_eq!(m.decide(Some(&t), Ask::Usable, edge - 1), Decision::Serve);
        assert_eq!(m.decide(Some(&t), Ask::Usable, edge), Decision::Refresh);
        assert_eq!(m.decide(None, Ask::Usable, NOW), Decision::NoTokens);
        // No expiry: used until a 401.
        assert_eq!(
            m.decide(Some(&set(None, true)), Ask::Usable, NOW + 10_000_000),
            Decision::Serve
        );
    }

    #[test]
    fn short_lifetimes_refresh_halfway() {
        let t = set(Some(30_000), true);
        assert_eq!(refresh_at_ms(&t, NOW), Some(NOW + 15_000));
        let m = meta();
        assert_eq!(
            m.decide(Some(&t), Ask::Usable, NOW + 14_999),
            Decision::Serve
        );
        assert_eq!(
            m.decide(Some(&t), Ask::Usable, NOW + 15_000),
            Decision::Refresh
        );
        assert_eq!(
            refresh_at_ms(&set(Some(3_600_000), true), NOW),
            Some(NOW + 3_540_000)
        );
    }

    #[test]
    fn a_401_refreshes_only_the_token_it_was_for() {
        let t = set(Some(3_600_000), true);
        let m = meta();
        let current = token_hash("at-1");
        assert_eq!(
            m.decide(Some(&t), Ask::Replace(&current), NOW),
            Decision::Refresh
        );
        // Someone refreshed meanwhile: the newer token is handed out.
        let old = token_hash("at-0");
        assert_eq!(m.decide(Some(&t), Ask::Replace(&old), NOW), Decision::Serve);
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_eq!(token_hash("a").len(), 32);
    }

    #[test]
    fn without_a_refresh_token_the_token_serves_until_it_expires() {
        let t = set(Some(30_000), false);
        let m = meta();
        assert_eq!(
            m.decide(Some(&t), Ask::Usable, NOW + 20_000),
            Decision::Serve
        );
        assert_eq!(
            m.decide(Some(&t), Ask::Usable, NOW + 30_000),
            Decision::NeedsReauth
        );
        assert_eq!(
            m.decide(Some(&t), Ask::Replace(&token_hash("at-1")), NOW),
            Decision::NeedsReauth
        );
        assert_eq!(alarm_at_ms(&t, NOW), None);
    }

    #[test]
    fn permanent_failures_mark_reauth_transient_ones_cool_down() {
        let t = set(Some(10_000), true);
        let mut m = meta();
        m.failed(
            &RefreshFailure::Transient(Transient::Status(503)),
            false,
            NOW,
        );
        assert_eq!(m.cooldown_until_ms, 0, "a retry follows: no cooldown yet");
        m.failed(&RefreshFailure::Transient(Transient::Timeout), true, NOW);
        assert_eq!(
            m.decide(Some(&t), Ask::Usable, NOW + 6_000),
            Decision::CoolingDown {
                until_ms: NOW + COOLDOWN_MS
            }
        );
        // A token that is still fresh is served during a cooldown.
        assert_eq!(
            m.decide(Some(&t), Ask::Usable, NOW + 1_000),
            Decision::Serve
        );
        assert_eq!(
            m.decide(Some(&t), Ask::Usable, NOW + COOLDOWN_MS),
            Decision::Refresh
        );
        assert_eq!(m.refresh_failures, 2);
        assert_eq!(m.last_error.as_deref(), Some("timeout"));
        m.failed(
            &RefreshFailure::Permanent(Permanent::InvalidGrant),
            true,
            NOW,
        );
        assert_eq!(m.decide(Some(&t), Ask::Usable, NOW), Decision::NeedsReauth);
        assert_eq!(m.reauth.as_deref(), Some("invalid_grant"));
        // A new authorisation clears it.
        m.connected(NOW);
        assert_eq!(m.decide(Some(&t), Ask::Usable, NOW), Decision::Serve);
        m.refreshed(NOW + 5);
        assert_eq!((m.refreshes, m.last_refresh_at_ms), (1, Some(NOW + 5)));
    }

    #[test]
    fn the_alarm_fires_ahead_of_expiry() {
        let long = set(Some(3_600_000), true);
        assert_eq!(
            alarm_at_ms(&long, NOW),
            Some(NOW + 3_600_000 - ALARM_AHEAD_MS)
        );
        let short = set(Some(120_000), true);
        assert_eq!(alarm_at_ms(&short, NOW), refresh_at_ms(&short, NOW));
        let m = meta();
        assert_eq!(m.decide(Some(&long), Ask::Alarm, NOW), Decision::Serve);
        assert_eq!(
            m.decide(Some(&long), Ask::Alarm, NOW + 3_600_000 - ALARM_AHEAD_MS),
            Decision::Refresh
        );
    }

    #[test]
    fn status_shows_no_token() {
        let t = set(Some(3_600_000), true);
        let mut m = meta();
        m.token_requests = 3;
        let s = m.status(Some(&t), NOW).to_string();
        assert!(!s.contains("at-1") && !s.contains("rt-1"), "{s}");
        assert!(s.contains("\"token_requests\":3"), "{s}");
        assert!(s.contains("\"has_refresh_token\":true"), "{s}");
        let back: KeeperMeta =
            serde_json::from_str(&serde_json::to_string(&m).expect("json")).expect("back");
        assert_eq!(back, m);
    }
}
