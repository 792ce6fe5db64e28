//! The management API's operations as one table: method, path template, required
//! scope and whether tenant tokens may call it. Every new operation is a row here
//! first; the OpenAPI test holds `openapi.json` to exactly these rows.

/// One management operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `GET /openapi.json`
    OpenApi,
    /// `GET /tenants`
    ListTenants,
    /// `POST /tenants`
    CreateTenant,
    /// `GET /tenants/{tid}`
    GetTenant,
    /// `PATCH /tenants/{tid}`
    UpdateTenant,
    /// `DELETE /tenants/{tid}`
    DeleteTenant,
    /// `GET /tenants/{tid}/domains`
    ListDomains,
    /// `POST /tenants/{tid}/domains`
    CreateDomain,
    /// `GET /tenants/{tid}/domains/{did}`
    GetDomain,
    /// `PATCH /tenants/{tid}/domains/{did}`
    UpdateDomain,
    /// `DELETE /tenants/{tid}/domains/{did}`
    DeleteDomain,
    /// `POST /tenants/{tid}/domains/{did}/_verify`
    VerifyDomain,
    /// `GET /tenants/{tid}/routes`
    ListRoutes,
    /// `POST /tenants/{tid}/routes`
    CreateRoute,
    /// `GET /tenants/{tid}/routes/{rid}`
    GetRoute,
    /// `PATCH /tenants/{tid}/routes/{rid}`
    UpdateRoute,
    /// `DELETE /tenants/{tid}/routes/{rid}`
    DeleteRoute,
    /// `GET /tenants/{tid}/audit`
    ListAudit,
    /// `GET /control-plane/hosts/{host}`
    ResolveHost,
    /// `GET /connectors`
    ListConnectors,
    /// `POST /connectors`
    CreateConnector,
    /// `GET /connectors/{cid}`
    GetConnector,
    /// `DELETE /connectors/{cid}`
    DeleteConnector,
    /// `GET /connectors/{cid}/versions`
    ListConnectorVersions,
    /// `POST /connectors/{cid}/versions`
    CreateConnectorVersion,
    /// `GET /connectors/{cid}/versions/{ver}`
    GetConnectorVersion,
    /// `PATCH /connectors/{cid}/versions/{ver}`
    UpdateConnectorVersion,
    /// `POST /connectors/{cid}/versions/{ver}/_publish`
    PublishConnectorVersion,
    /// `GET /tenants/{tid}/connections`
    ListConnections,
    /// `POST /tenants/{tid}/connections`
    CreateConnection,
    /// `GET /tenants/{tid}/connections/{cid}`
    GetConnection,
    /// `PATCH /tenants/{tid}/connections/{cid}`
    UpdateConnection,
    /// `DELETE /tenants/{tid}/connections/{cid}`
    DeleteConnection,
    /// `POST /tenants/{tid}/connections/{cid}/_disconnect`
    DisconnectConnection,
    /// `POST /tenants/{tid}/connections/_initiate`: an OAuth2 authorize URL.
    InitiateConnection,
    /// `GET /tenants/{tid}/connections/{cid}/tokens`: the token keeper's status.
    ConnectionTokens,
    /// `GET /oauth/callback`: the provider's redirect back.
    OAuthCallback,
    /// `ANY /tenants/{tid}/connections/{cid}/proxy/{*path}`
    ProxyConnection,
    /// `GET /vault/status`
    VaultStatus,
    /// `POST /vault/_reencrypt`
    VaultReencrypt,
}

/// The method an operation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// Every method (an operation that forwards the request as it came).
    Any,
}

impl OpMethod {
    /// The method's name (`ANY` for [`OpMethod::Any`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Any => "ANY",
        }
    }

    /// Whether a request with `method` is this operation's.
    pub fn accepts(self, method: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Get | Self::Post | Self::Patch | Self::Delete => self.as_str() == method,
        }
    }
}

/// Static facts about one operation.
#[derive(Debug, Clone, Copy)]
pub struct OpSpec {
    /// The operation.
    pub op: Op,
    /// HTTP method.
    pub method: OpMethod,
    /// Path under `/api/v1`, in matchit syntax: `{param}` is one non-empty segment
    /// (percent-decoded), `{*rest}` the rest of the path (as sent, still encoded).
    pub template: &'static str,
    /// Scope the token must carry (`None`: no authentication).
    pub scope: Option<&'static str>,
    /// Only control-plane tokens (no tenant claim) may call it.
    pub control_plane_only: bool,
}

/// One row of an operation table.
pub const fn spec(
    op: Op,
    method: OpMethod,
    template: &'static str,
    scope: Option<&'static str>,
    control_plane_only: bool,
) -> OpSpec {
    OpSpec {
        op,
        method,
        template,
        scope,
        control_plane_only,
    }
}

/// Every operation the API serves.
pub static OPERATIONS: [OpSpec; 40] = [
    spec(Op::OpenApi, OpMethod::Get, "/openapi.json", None, false),
    spec(
        Op::ListTenants,
        OpMethod::Get,
        "/tenants",
        Some("tenants:read"),
        true,
    ),
    spec(
        Op::CreateTenant,
        OpMethod::Post,
        "/tenants",
        Some("tenants:write"),
        true,
    ),
    spec(
        Op::GetTenant,
        OpMethod::Get,
        "/tenants/{tid}",
        Some("tenants:read"),
        false,
    ),
    spec(
        Op::UpdateTenant,
        OpMethod::Patch,
        "/tenants/{tid}",
        Some("tenants:write"),
        true,
    ),
    spec(
        Op::DeleteTenant,
        OpMethod::Delete,
        "/tenants/{tid}",
        Some("tenants:write"),
        true,
    ),
    spec(
        Op::ListDomains,
        OpMethod::Get,
        "/tenants/{tid}/domains",
        Some("domains:read"),
        false,
    ),
    spec(
        Op::CreateDomain,
        OpMethod::Post,
        "/tenants/{tid}/domains",
        Some("domains:write"),
        false,
    ),
    spec(
        Op::GetDomain,
        OpMethod::Get,
        "/tenants/{tid}/domains/{did}",
        Some("domains:read"),
        false,
    ),
    spec(
        Op::UpdateDomain,
        OpMethod::Patch,
        "/tenants/{tid}/domains/{did}",
        Some("domains:write"),
        false,
    ),
    spec(
        Op::DeleteDomain,
        OpMethod::Delete,
        "/tenants/{tid}/domains/{did}",
        Some("domains:write"),
        false,
    ),
    spec(
        Op::VerifyDomain,
        OpMethod::Post,
        "/tenants/{tid}/domains/{did}/_verify",
        Some("domains:write"),
        false,
    ),
    spec(
        Op::ListRoutes,
        OpMethod::Get,
        "/tenants/{tid}/routes",
        Some("routes:read"),
        false,
    ),
    spec(
        Op::CreateRoute,
        OpMethod::Post,
        "/tenants/{tid}/routes",
        Some("routes:write"),
        false,
    ),
    spec(
        Op::GetRoute,
        OpMethod::Get,
        "/tenants/{tid}/routes/{rid}",
        Some("routes:read"),
        false,
    ),
    spec(
        Op::UpdateRoute,
        OpMethod::Patch,
        "/tenants/{tid}/routes/{rid}",
        Some("routes:write"),
        false,
    ),
    spec(
        Op::DeleteRoute,
        OpMethod::Delete,
        "/tenants/{tid}/routes/{rid}",
        Some("routes:write"),
        false,
    ),
    spec(
        Op::ListAudit,
        OpMethod::Get,
        "/tenants/{tid}/audit",
        Some("audit:read"),
        false,
    ),
    spec(
        Op::ResolveHost,
        OpMethod::Get,
        "/control-plane/hosts/{host}",
        Some("proxy:resolve_host"),
        true,
    ),
    spec(
        Op::ListConnectors,
        OpMethod::Get,
        "/connectors",
        Some("connectors:read"),
        false,
    ),
    spec(
        Op::CreateConnector,
        OpMethod::Post,
        "/connectors",
        Some("connectors:write"),
        false,
    ),
    spec(
        Op::GetConnector,
        OpMethod::Get,
        "/connectors/{cid}",
        Some("connectors:read"),
        false,
    ),
    spec(
        Op::DeleteConnector,
        OpMethod::Delete,
        "/connectors/{cid}",
        Some("connectors:write"),
        false,
    ),
    spec(
        Op::ListConnectorVersions,
        OpMethod::Get,
        "/connectors/{cid}/versions",
        Some("connectors:read"),
        false,
    ),
    spec(
        Op::CreateConnectorVersion,
        OpMethod::Post,
        "/connectors/{cid}/versions",
        Some("connectors:write"),
        false,
    ),
    spec(
        Op::GetConnectorVersion,
        OpMethod::Get,
        "/connectors/{cid}/versions/{ver}",
        Some("connectors:read"),
        false,
    ),
    spec(
        Op::UpdateConnectorVersion,
        OpMethod::Patch,
        "/connectors/{cid}/versions/{ver}",
        Some("connectors:write"),
        false,
    ),
    spec(
        Op::PublishConnectorVersion,
        OpMethod::Post,
        "/connectors/{cid}/versions/{ver}/_publish",
        Some("connectors:write"),
        false,
    ),
    spec(
        Op::ListConnections,
        OpMethod::Get,
        "/tenants/{tid}/connections",
        Some("connections:read"),
        false,
    ),
    spec(
        Op::CreateConnection,
        OpMethod::Post,
        "/tenants/{tid}/connections",
        Some("connections:write"),
        false,
    ),
    spec(
        Op::GetConnection,
        OpMethod::Get,
        "/tenants/{tid}/connections/{cid}",
        Some("connections:read"),
        false,
    ),
    spec(
        Op::UpdateConnection,
        OpMethod::Patch,
        "/tenants/{tid}/connections/{cid}",
        Some("connections:write"),
        false,
    ),
    spec(
        Op::DeleteConnection,
        OpMethod::Delete,
        "/tenants/{tid}/connections/{cid}",
        Some("connections:write"),
        false,
    ),
    spec(
        Op::DisconnectConnection,
        OpMethod::Post,
        "/tenants/{tid}/connections/{cid}/_disconnect",
        Some("connections:write"),
        false,
    ),
    spec(
        Op::InitiateConnection,
        OpMethod::Post,
        "/tenants/{tid}/connections/_initiate",
        Some("connections:write"),
        false,
    ),
    spec(
        Op::ConnectionTokens,
        OpMethod::Get,
        "/tenants/{tid}/connections/{cid}/tokens",
        Some("connections:read"),
        false,
    ),
    spec(
        Op::OAuthCallback,
        OpMethod::Get,
        "/oauth/callback",
        None,
        false,
    ),
    spec(
        Op::ProxyConnection,
        OpMethod::Any,
        "/tenants/{tid}/connections/{cid}/proxy/{*path}",
        Some("connections:proxy"),
        false,
    ),
    spec(
        Op::VaultStatus,
        OpMethod::Get,
        "/vault/status",
        Some("vault:read"),
        true,
    ),
    spec(
        Op::VaultReencrypt,
        OpMethod::Post,
        "/vault/_reencrypt",
        Some("vault:write"),
        true,
    ),
];
