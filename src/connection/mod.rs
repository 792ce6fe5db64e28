//! Connections (DESIGN §7): one tenant's authenticated session with a connector —
//! its state, labels, the credentials a caller supplies and the policy that narrows
//! its use. Pure data and validation; storage, the vault and the API live elsewhere.

pub mod body;
pub mod policy;

pub use body::{check_credentials, connection_create, connection_patch};
pub use body::{ConnectionCreate, ConnectionPatch};
pub use policy::{Policy, PolicyCall, PolicyDenied};

use crate::vault::{Credential, Secret};
use std::fmt;

/// A connection's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Waiting for the OAuth2 flow to store tokens.
    Pending,
    /// Usable: a secret is stored (or the connector needs none).
    Ready,
    /// The provider refused the refresh token; a user must authorise again.
    NeedsReauth,
    /// Disconnected; its secrets are deleted.
    Disconnected,
}

impl ConnectionState {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::NeedsReauth => "needs_reauth",
            Self::Disconnected => "disconnected",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "ready" => Self::Ready,
            "needs_reauth" => Self::NeedsReauth,
            "disconnected" => Self::Disconnected,
            _ => return None,
        })
    }
}

/// Labels: up to 32 entries, keys `[a-z0-9_.-]{1,64}`, values ≤ 256 bytes without
/// control characters.
pub type Labels = std::collections::BTreeMap<String, String>;

/// Credentials a caller supplies on create or patch (write-only). Validated strings:
/// 1..=4096 bytes without control characters (so always header-safe), and a
/// username without `:`. `Debug` shows only the kind.
#[derive(PartialEq, Eq)]
pub enum SuppliedCredentials {
    /// For `api_key` connectors.
    ApiKey(String),
    /// For `basic` connectors.
    Basic {
        /// The user id.
        username: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for SuppliedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::Basic { .. } => {
                f.write_str("Basic { username: <redacted>, password: <redacted> }")
            }
        }
    }
}

impl SuppliedCredentials {
    /// The credential to seal (the strings move into wiped-on-drop secrets).
    pub fn into_credential(self) -> Credential {
        let secret = |s: String| Secret::new(s.into_bytes());
        match self {
            Self::ApiKey(k) => Credential::ApiKey(secret(k)),
            Self::Basic { username, password } => Credential::Basic {
                username: secret(username),
                password: secret(password),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in [
            ConnectionState::Pending,
            ConnectionState::Ready,
            ConnectionState::NeedsReauth,
            ConnectionState::Disconnected,
        ] {
            assert_eq!(ConnectionState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ConnectionState::NeedsReauth.as_str(), "needs_reauth");
        assert_eq!(ConnectionState::parse("Ready"), None);
        assert_eq!(ConnectionState::parse(""), None);
    }

    #[test]
    fn supplied_credentials_redact_and_convert() {
        let key = SuppliedCredentials::ApiKey("sk_secret".into());
        let basic = SuppliedCredentials::Basic {
            username: "sk_user".into(),
            password: "sk_pass".into(),
        };
        let shown = format!("{key:?} {basic:?}");
        assert!(!shown.contains("sk_"), "{shown}");
        match key.into_credential() {
            Credential::ApiKey(k) => assert_eq!(k.expose(), b"sk_secret"),
            other => panic!("wrong kind {other:?}"),
        }
        match basic.into_credential() {
            Credential::Basic { username, password } => {
                assert_eq!(username.expose(), b"sk_user");
                assert_eq!(password.expose(), b"sk_pass");
            }
            other => panic!("wrong kind {other:?}"),
        }
    }
}
