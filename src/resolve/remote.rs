//! The `remote` host source's settings: where the control plane is and how to get
//! a client-credentials token for it (the OAuth pieces are in `crate::oauth`).

use crate::host::normalize_host;
use crate::oauth::token::{basic_auth, client_credentials_form};

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
        client_credentials_form(&self.scope, self.audience.as_deref())
    }

    /// `Authorization: Basic` value for client authentication.
    pub fn basic_auth(&self) -> String {
        basic_auth(&self.client_id, &self.client_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_token_request() {
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
    }
}
