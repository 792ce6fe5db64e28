//! Connectors (DESIGN §7): how to reach one third-party API — its base URL, the hosts
//! a credential may be sent to, how the credential is placed, and the version states.
//! Pure data and validation; storage and the API live in the platform layer.

use crate::url::BaseUrl;

pub mod spec;
pub mod versions;

pub use spec::{
    validate_version, InvalidHostPattern, InvalidUrl, SecretField, UrlRules, VersionWrite,
};
pub use versions::{next_version, publish, settle, PublishError, VersionRow};

/// A connector version's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    /// Editable; no connection uses it.
    Draft,
    /// Immutable; new connections use it.
    Primary,
    /// A former primary that connections still use.
    Active,
    /// A former primary no connection uses.
    Archived,
}

impl VersionState {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Primary => "primary",
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => Self::Draft,
            "primary" => Self::Primary,
            "active" => Self::Active,
            "archived" => Self::Archived,
            _ => return None,
        })
    }
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
    /// A top-level field of a JSON object or form body.
    Body,
}

/// How the OAuth2 client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with client id and secret.
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
    /// Public client (PKCE only).
    None,
}

/// The OAuth2 fields of a connector (used by the OAuth2 flow; the client secret is
/// write-only and lives in the vault, never here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Spec {
    /// Provider authorize endpoint.
    pub authorization_url: String,
    /// Provider token endpoint.
    pub token_url: String,
    /// RFC 7009 revocation endpoint, if the provider has one.
    pub revocation_url: Option<String>,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// PKCE S256 (the only method offered).
    pub pkce: bool,
    /// Client authentication at the token endpoint.
    pub client_auth: ClientAuth,
    /// The client id (not secret).
    pub client_id: String,
    /// Exact origins a connection's `return_to` may point at (beside the tenant's
    /// active domains).
    pub return_origins: Vec<String>,
}

/// How a connection's credential is presented upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSpec {
    /// An API key at `placement` under `name`, after `prefix`.
    ApiKey {
        /// Header, query or body.
        placement: Placement,
        /// Header name (lowercase), query parameter or body field.
        name: String,
        /// Text before the key (e.g. `Bearer `).
        prefix: String,
    },
    /// HTTP Basic from the connection's username and password.
    Basic,
    /// Nothing injected.
    None,
    /// OAuth2 bearer tokens.
    OAuth2(OAuth2Spec),
}

impl AuthSpec {
    /// The `auth.type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ApiKey { .. } => "api_key",
            Self::Basic => "basic",
            Self::None => "none",
            Self::OAuth2(_) => "oauth2",
        }
    }
}

/// An allowed host: an exact name or `*.example.com` (any name below, not the apex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This host exactly (lowercase).
    Exact(String),
    /// Any host ending in `.suffix` (suffix lowercase, without the leading dot).
    Below(String),
}

/// One connector version's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorSpec {
    /// Display name.
    pub name: String,
    /// Where calls go; its host always may receive the credential.
    pub base_url: BaseUrl,
    /// Further hosts the credential may be sent to.
    pub allowed_hosts: Vec<HostPattern>,
    /// Response headers removed before the caller sees the response (lowercase).
    pub strip_response_headers: Vec<String>,
    /// Time allowed until response headers arrive.
    pub timeout_ms: u32,
    /// Credential placement.
    pub auth: AuthSpec,
}
