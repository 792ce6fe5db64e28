//! Data-plane errors (DESIGN.md §5): each knows its status, body and machine code.

use crate::message::{HeaderAccess, SimpleResponse};

/// Header carrying the machine-readable error code.
pub const ERROR_HEADER: &str = "x-portico-error";

/// Everything that can go wrong while proxying one request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No `Host` (nor `X-Forwarded-Host`).
    #[error("Missing host")]
    MissingHost,
    /// A `Host` that is not a host name.
    #[error("Invalid host")]
    InvalidHost,
    /// No tenant owns the host.
    #[error("Unknown host")]
    UnknownHost,
    /// The host's routes match nothing.
    #[error("No matching route")]
    NoRoute,
    /// The path has an invalid escape, is not UTF-8, climbs above the root or
    /// holds a refused encoded slash (DESIGN §3).
    #[error("Invalid path: {0}")]
    InvalidPath(crate::canonical_path::PathError),
    /// A `rate_limit` handler's counter is over its limit.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the limiter's window has passed (`Retry-After`).
        retry_after_s: u32,
    },
    /// The host source failed and no stale copy was available.
    #[error("host lookup failed: {0}")]
    ResolveFailed(String),
    /// The host source did not answer in time and no stale copy was available.
    #[error("host lookup timed out")]
    ResolveTimeout,
    /// The stored configuration of this host is invalid.
    #[error("invalid configuration for this host: {0}")]
    HostConfigInvalid(String),
    /// The whole static document is invalid; nothing is served.
    #[error("configuration invalid")]
    ConfigInvalid,
    /// A handler (or its upstream) failed.
    #[error("{handler} failed: {detail}")]
    HandlerFailed {
        /// Handler type, e.g. `http`.
        handler: &'static str,
        /// Log-only detail.
        detail: String,
    },
    /// The credential vault is off (no usable key ring) for a call that needs it.
    #[error("vault unavailable")]
    VaultUnavailable,
    /// A connection's policy refuses the call (the reason names the rule only).
    #[error("connection policy denied the call: {0}")]
    PolicyDenied(String),
    /// The connection cannot be used in its current state.
    #[error("connection not ready: {0}")]
    ConnectionNotReady(&'static str),
    /// An OAuth2 connection's token cannot be refreshed now (transient provider
    /// failures; the keeper is cooling down).
    #[error("token unavailable for {retry_after_s} s")]
    TokenUnavailable {
        /// Seconds until the keeper tries the provider again.
        retry_after_s: u32,
    },
    /// A handler's upstream did not answer in time.
    #[error("{handler} timed out")]
    HandlerTimeout {
        /// Handler type.
        handler: &'static str,
    },
    /// A handler could not run because of its own configuration at request time
    /// (for example a script-name template that cannot be resolved).
    #[error("{handler} misconfigured: {detail}")]
    HandlerMisconfigured {
        /// Handler type.
        handler: &'static str,
        /// Log-only detail.
        detail: String,
    },
}

impl ProxyError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingHost | Self::InvalidHost | Self::InvalidPath(_) => 400,
            Self::UnknownHost | Self::NoRoute => 404,
            Self::PolicyDenied(_) => 403,
            Self::ConnectionNotReady(_) => 409,
            Self::RateLimited { .. } => 429,
            Self::ResolveFailed(_) | Self::HostConfigInvalid(_) | Self::HandlerFailed { .. } => 502,
            Self::ConfigInvalid | Self::VaultUnavailable | Self::TokenUnavailable { .. } => 503,
            Self::ResolveTimeout | Self::HandlerTimeout { .. } => 504,
            Self::HandlerMisconfigured { .. } => 500,
        }
    }

    /// The `x-portico-error` code, if this error has one.
    pub fn code(&self) -> Option<String> {
        match self {
            Self::MissingHost | Self::InvalidHost | Self::UnknownHost | Self::NoRoute => None,
            Self::InvalidPath(_) => Some("invalid_path".into()),
            Self::RateLimited { .. } => Some("rate_limited".into()),
            Self::VaultUnavailable => Some("vault_unavailable".into()),
            Self::PolicyDenied(_) => Some("policy_denied".into()),
            Self::ConnectionNotReady(_) => Some("connection_not_ready".into()),
            Self::TokenUnavailable { .. } => Some("token_unavailable".into()),
            Self::ResolveFailed(_) | Self::HostConfigInvalid(_) => Some("data_plane_error".into()),
            Self::ResolveTimeout => Some("resolve_host_timeout".into()),
            Self::ConfigInvalid => Some("config_invalid".into()),
            Self::HandlerFailed { handler, .. } | Self::HandlerMisconfigured { handler, .. } => {
                Some(format!("{handler}_failed"))
            }
            Self::HandlerTimeout { handler } => Some(format!("{handler}_timeout")),
        }
    }

    /// The public body: short and free of internal detail.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::MissingHost => "Missing host",
            Self::InvalidHost => "Invalid host",
            Self::UnknownHost => "Unknown host",
            Self::NoRoute => "No matching route",
            Self::InvalidPath(_) => "Invalid path",
            Self::RateLimited { .. } => "Too many requests",
            Self::VaultUnavailable => "Service unavailable: credential vault unavailable",
            Self::PolicyDenied(_) => "Forbidden by the connection policy",
            Self::ConnectionNotReady(_) => "Connection not ready",
            Self::TokenUnavailable { .. } => {
                "Service unavailable: the provider cannot refresh this connection's token now"
            }
            Self::ResolveFailed(_) | Self::HostConfigInvalid(_) | Self::HandlerFailed { .. } => {
                "Bad gateway"
            }
            Self::ConfigInvalid => "Service unavailable: configuration invalid",
            Self::ResolveTimeout | Self::HandlerTimeout { .. } => "Gateway timeout",
            Self::HandlerMisconfigured { .. } => "Internal error",
        }
    }

    /// Whether the error deserves a log line (operator-facing failures only).
    pub fn should_log(&self) -> bool {
        self.status() >= 500
    }

    /// Renders the plain-text response of DESIGN.md §5.
    pub fn to_response(&self) -> SimpleResponse {
        let mut res = SimpleResponse::text(self.status(), self.public_message());
        if let Some(code) = self.code() {
            res.headers.set(ERROR_HEADER, &code);
        }
        res.headers.set("cache-control", "no-store");
        if let Self::RateLimited { retry_after_s } | Self::TokenUnavailable { retry_after_s } = self
        {
            res.headers.set("retry-after", &retry_after_s.to_string());
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_error_table() {
        let rows: Vec<(ProxyError, u16, Option<&str>, &str)> = vec![
            (ProxyError::MissingHost, 400, None, "Missing host"),
            (ProxyError::UnknownHost, 404, None, "Unknown host"),
            (ProxyError::NoRoute, 404, None, "No matching route"),
            (
                ProxyError::InvalidPath(crate::canonical_path::PathError::AboveRoot),
                400,
                Some("invalid_path"),
                "Invalid path",
            ),
            (
                ProxyError::ResolveFailed("d1".into()),
                502,
                Some("data_plane_error"),
                "Bad gateway",
            ),
            (
                ProxyError::ResolveTimeout,
                504,
                Some("resolve_host_timeout"),
                "Gateway timeout",
            ),
            (
                ProxyError::HostConfigInvalid("x".into()),
                502,
                Some("data_plane_error"),
                "Bad gateway",
            ),
            (
                ProxyError::ConfigInvalid,
                503,
                Some("config_invalid"),
                "Service unavailable: configuration invalid",
            ),
            (
                ProxyError::HandlerFailed {
                    handler: "http",
                    detail: "refused".into(),
                },
                502,
                Some("http_failed"),
                "Bad gateway",
            ),
            (
                ProxyError::HandlerTimeout {
                    handler: "service_binding",
                },
                504,
                Some("service_binding_timeout"),
                "Gateway timeout",
            ),
            (
                ProxyError::HandlerMisconfigured {
                    handler: "dispatch_namespace",
                    detail: "x".into(),
                },
                500,
                Some("dispatch_namespace_failed"),
                "Internal error",
            ),
            (
                ProxyError::RateLimited { retry_after_s: 60 },
                429,
                Some("rate_limited"),
                "Too many requests",
            ),
        ];
        for (err, status, code, body) in rows {
            let res = err.to_response();
            assert_eq!(res.status, status, "{err:?}");
            assert_eq!(res.headers.get(ERROR_HEADER).as_deref(), code, "{err:?}");
            assert_eq!(res.body, body, "{err:?}");
            let retry = matches!(err, ProxyError::RateLimited { .. }).then_some("60");
            assert_eq!(res.headers.get("retry-after").as_deref(), retry, "{err:?}");
        }
    }

    #[test]
    fn public_body_never_carries_detail() {
        let err = ProxyError::HandlerFailed {
            handler: "http",
            detail: "secret-token-123".into(),
        };
        assert!(!err.to_response().body.contains("secret"));
    }
}
