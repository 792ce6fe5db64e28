//! The closed set of management API problems, each with its status, stable code
//! and RFC 9457 title.

/// What went wrong, as a closed set: each kind knows its status, code and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// 400: the body (or the query) failed validation.
    ValidationFailed,
    /// 400: the body is not a JSON object.
    InvalidJson,
    /// 401: no token, or a refused one.
    Unauthorized,
    /// 403: the token lacks the operation's scope.
    InsufficientScope,
    /// 403: another tenant's resource, or a control-plane-only operation.
    Forbidden,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 409.
    Conflict,
    /// 413.
    PayloadTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 500.
    Internal,
    /// 503: storage is unavailable.
    Unavailable,
    /// 503: the API is not safely configured.
    NotConfigured,
    /// 409: a published connector version cannot change.
    VersionImmutable,
    /// 409: connections still use the connector.
    ConnectorInUse,
    /// 503: the credential vault has no usable key ring.
    VaultUnavailable,
}

impl ProblemKind {
    /// HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::ValidationFailed | Self::InvalidJson => 400,
            Self::Unauthorized => 401,
            Self::InsufficientScope | Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict | Self::VersionImmutable | Self::ConnectorInUse => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Internal => 500,
            Self::Unavailable | Self::NotConfigured | Self::VaultUnavailable => 503,
        }
    }

    /// Stable machine-readable code (`validation_failed`, `not_found`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::InvalidJson => "invalid_json",
            Self::Unauthorized => "unauthorized",
            Self::InsufficientScope => "insufficient_scope",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::NotConfigured => "not_configured",
            Self::VersionImmutable => "version_immutable",
            Self::ConnectorInUse => "connector_in_use",
            Self::VaultUnavailable => "vault_unavailable",
        }
    }

    /// The RFC 9457 `title`.
    pub fn title(self) -> &'static str {
        match self {
            Self::ValidationFailed => "Validation failed",
            Self::InvalidJson => "Invalid JSON",
            Self::Unauthorized => "Unauthorized",
            Self::InsufficientScope => "Insufficient scope",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict | Self::VersionImmutable | Self::ConnectorInUse => "Conflict",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Internal => "Internal error",
            Self::Unavailable | Self::NotConfigured | Self::VaultUnavailable => {
                "Service unavailable"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ProblemKind::{self, *};

    const ALL: [ProblemKind; 16] = [
        ValidationFailed,
        InvalidJson,
        Unauthorized,
        InsufficientScope,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        VersionImmutable,
        ConnectorInUse,
        VaultUnavailable,
        Internal,
        Unavailable,
        NotConfigured,
    ];

    #[test]
    fn codes_are_distinct_and_statuses_are_errors() {
        let mut codes: Vec<&str> = ALL.iter().map(|k| k.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        for k in ALL {
            assert!((400..600).contains(&k.status()), "{k:?}");
            assert!(!k.title().is_empty(), "{k:?}");
        }
        assert_eq!(
            (Conflict.status(), Conflict.code(), Conflict.title()),
            (409, "conflict", "Conflict")
        );
        assert_eq!(NotConfigured.title(), Unavailable.title());
    }
}
