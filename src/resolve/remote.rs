//! The `remote` host source's pure parts: settings, and the client-credentials
//! token cache (kept until shortly before expiry, dropped on a 401).

use crate::host::normalize_host;

/// Renew this long before the token's reported expiry.
pub const RENEW_EARLY_MS: u64 = 30_000;

/// How to reach the control plane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteSettings {
    /// Base URL (`https://cp.example.com`), no trailing slash.
    pub base_url: String,
    /// Service binding to send the call through, if any.
    pub service: Option<String>,
    /// OAuth token endpoint.
    pub token_url: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Requested scope.
    pub scope: String,
    /// Optional `audience` parameter.
    pub audience: Option<String>,
}

impl RemoteSettings {
    /// Reads `PORTICO_REMOTE_*` vars; `Err` names what is missing or wrong.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |n: &str| {
            var(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let base = get("PORTICO_REMOTE_URL")
            .ok_or("PORTICO_HOST_SOURCE=remote needs PORTICO_REMOTE_URL")?;
        if crate::url::split_scheme(&base).is_none() {
            return Err("PORTICO_REMOTE_URL must be an http(s) URL".into());
        }
        let token_url = get("PORTICO_REMOTE_TOKEN_URL");
        let client_id = get("PORTICO_REMOTE_CLIENT_ID").unwrap_or_default();
        let client_secret = get("PORTICO_REMOTE_CLIENT_SECRET").unwrap_or_default();
        if token_url.is_some() && (client_id.is_empty() || client_secret.is_empty()) {
            return Err("PORTICO_REMOTE_TOKEN_URL needs PORTICO_REMOTE_CLIENT_ID and PORTICO_REMOTE_CLIENT_SECRET".into());
        }
        Ok(Self {
            base_url: base.trim_end_matches('/').to_string(),
            service: get("PORTICO_REMOTE_SERVICE"),
            token_url,
            client_id,
            client_secret,
            scope: get("PORTICO_REMOTE_SCOPE").unwrap_or_else(|| "proxy:resolve_host".into()),
            audience: get("PORTICO_REMOTE_AUDIENCE"),
        })
    }

    /// The control-plane URL for one host.
    pub fn host_url(&self, host: &str) -> Option<String> {
        let host = normalize_host(host).ok()?;
        Some(format!(
            "{}/api/v1/control-plane/hosts/{host}",
            self.base_url
        ))
    }

    /// Form body of the token request.
    pub fn token_form(&self) -> String {
        let mut s = format!(
            "grant_type=client_credentials&scope={}",
            form_encode(&self.scope)
        );
        if let Some(a) = &self.audience {
            s.push_str("&audience=");
            s.push_str(&form_encode(a));
        }
        s
    }

    /// `Authorization: Basic` value for client authentication (RFC 6749 §2.3.1).
    pub fn basic_auth(&self) -> String {
        use base64::Engine;
        let raw = format!(
            "{}:{}",
            form_encode(&self.client_id),
            form_encode(&self.client_secret)
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// `application/x-www-form-urlencoded` encoding.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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
    /// Parses a token endpoint response received at `now_ms`.
    pub fn from_response(body: &str, now_ms: u64) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(body).map_err(|_| "token response is not JSON".to_string())?;
        let token = v
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("token response has no access_token")?;
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
    fn settings_and_token_cache() {
        let s = RemoteSettings::from_vars(|n| match n {
            "PORTICO_REMOTE_URL" => Some("https://cp.example.com/".into()),
            "PORTICO_REMOTE_TOKEN_URL" => Some("https://idp/token".into()),
            "PORTICO_REMOTE_CLIENT_ID" => Some("edge 1".into()),
            "PORTICO_REMOTE_CLIENT_SECRET" => Some("s:p".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(
            s.host_url("A.Example.com:8443").as_deref(),
            Some("https://cp.example.com/api/v1/control-plane/hosts/a.example.com")
        );
        assert_eq!(
            s.token_form(),
            "grant_type=client_credentials&scope=proxy%3Aresolve_host"
        );
        assert_eq!(s.basic_auth(), "Basic ZWRnZSsxOnMlM0Fw");
        assert!(RemoteSettings::from_vars(|_| None).is_err());
        assert!(RemoteSettings::from_vars(
            |n| (n == "PORTICO_REMOTE_URL").then(|| "ftp://x".into())
        )
        .is_err());

        let t = CachedToken::from_response(r#"{"access_token":"abc","expires_in":3600}"#, 1_000)
            .expect("token");
        assert!(t.usable(1_000 + 3_500_000) && !t.usable(1_000 + 3_570_000));
        assert!(CachedToken::from_response(r#"{"error":"x"}"#, 0).is_err());
    }
}
