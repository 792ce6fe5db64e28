//! The token endpoint (RFC 6749 §4.4, §2.3.1): the client-credentials form, client
//! authentication, and the access token kept from an answer until shortly before
//! it expires.

use std::fmt::Write as _;

/// Renew this long before the token's reported expiry.
pub const RENEW_EARLY_MS: u64 = 30_000;

/// `application/x-www-form-urlencoded` encoding.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Form body of a client-credentials token request.
pub fn client_credentials_form(scope: &str, audience: Option<&str>) -> String {
    let mut s = format!("grant_type=client_credentials&scope={}", form_encode(scope));
    if let Some(a) = audience {
        s.push_str("&audience=");
        s.push_str(&form_encode(a));
    }
    s
}

/// `Authorization: Basic` value for client authentication (RFC 6749 §2.3.1: id and
/// secret are form-encoded before base64).
pub fn basic_auth(client_id: &str, client_secret: &str) -> String {
    use base64::Engine;
    let raw = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Why a token endpoint's 200 answer could not be used. Never carries the body:
/// it may hold the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenResponseError {
    /// The body is not JSON.
    #[error("token response is not JSON")]
    NotJson,
    /// `access_token` is absent or empty.
    #[error("token response has no access_token")]
    NoAccessToken,
}

/// A cached access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// The bearer token.
    pub token: String,
    /// When to stop using it (ms).
    pub use_until_ms: u64,
}

impl CachedToken {
    /// Parses a token endpoint response received at `now_ms`; without `expires_in`
    /// the token is kept for five minutes.
    pub fn from_response(body: &str, now_ms: u64) -> Result<Self, TokenResponseError> {
        let v: serde_json::Value =
            serde_json::from_str(body).map_err(|_| TokenResponseError::NotJson)?;
        let token = v
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or(TokenResponseError::NoAccessToken)?;
        let expires_in = v
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(300);
        let life = expires_in
            .saturating_mul(1000)
            .saturating_sub(RENEW_EARLY_MS)
            .max(1000);
        Ok(Self {
            token: token.to_string(),
            use_until_ms: now_ms.saturating_add(life),
        })
    }

    /// Whether it may still be sent.
    pub fn usable(&self, now_ms: u64) -> bool {
        now_ms < self.use_until_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_client_auth() {
        for (raw, encoded) in [
            ("proxy:resolve_host", "proxy%3Aresolve_host"),
            ("a b", "a+b"),
            ("A-z_0.9*", "A-z_0.9*"),
            ("é/&=", "%C3%A9%2F%26%3D"),
            ("", ""),
        ] {
            assert_eq!(form_encode(raw), encoded, "{raw}");
        }
        assert_eq!(
            client_credentials_form("proxy:resolve_host", None),
            "grant_type=client_credentials&scope=proxy%3Aresolve_host"
        );
        assert_eq!(
            client_credentials_form("a b", Some("https://api")),
            "grant_type=client_credentials&scope=a+b&audience=https%3A%2F%2Fapi"
        );
        assert_eq!(basic_auth("edge 1", "s:p"), "Basic ZWRnZSsxOnMlM0Fw");
    }

    #[test]
    fn cached_token_lifetime_and_refusals() {
        let t = CachedToken::from_response(r#"{"access_token":"abc","expires_in":3600}"#, 1_000)
            .expect("token");
        assert!(t.usable(1_000 + 3_500_000) && !t.usable(1_000 + 3_570_000));
        let short = CachedToken::from_response(r#"{"access_token":"abc","expires_in":1}"#, 0)
            .expect("token");
        assert_eq!(short.use_until_ms, 1000, "kept at least a second");
        let default = CachedToken::from_response(r#"{"access_token":"abc"}"#, 0).expect("token");
        assert_eq!(default.use_until_ms, 300_000 - RENEW_EARLY_MS);
        for (body, err) in [
            (r#"{"error":"x"}"#, TokenResponseError::NoAccessToken),
            (r#"{"access_token":""}"#, TokenResponseError::NoAccessToken),
            ("<html>", TokenResponseError::NotJson),
        ] {
            assert_eq!(CachedToken::from_response(body, 0), Err(err), "{body}");
        }
    }
}
