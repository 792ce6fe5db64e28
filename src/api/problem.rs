//! RFC 9457 problem documents: every management API error is one of these.

use crate::auth::AuthError;
use crate::config::ConfigError;
use crate::message::SimpleResponse;
use serde_json::{json, Value};

mod kind;
pub use kind::ProblemKind;

/// One management API error.
#[derive(Debug, Clone)]
pub struct Problem {
    /// What went wrong (status, code and title follow from it).
    pub kind: ProblemKind,
    /// Human-readable detail (never contains a credential).
    pub detail: String,
    /// Field errors for validation failures.
    pub errors: Vec<ConfigError>,
    /// Extra headers (`WWW-Authenticate`, `Allow`).
    pub headers: Vec<(&'static str, String)>,
    /// The underlying failure, for the log line of the request that met it; never
    /// sent to the client (it may name tables, bindings or hosts).
    pub cause: Option<String>,
}

const REALM: &str = "Bearer realm=\"portico\"";

impl Problem {
    fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// Machine-readable code.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// Keeps `cause` for the log (the client still sees only the generic detail).
    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// 400 with every field error.
    pub fn validation(errors: Vec<ConfigError>) -> Self {
        let mut p = Self::new(ProblemKind::ValidationFailed, "the request body is invalid");
        p.errors = errors;
        p
    }

    /// 400 for a body that is not JSON (or not an object).
    pub fn invalid_json(message: impl Into<String>) -> Self {
        let message = message.into();
        let mut p = Self::new(ProblemKind::InvalidJson, message.clone());
        p.errors = vec![ConfigError {
            path: String::new(),
            message,
        }];
        p
    }

    /// 400 for bad query parameters.
    pub fn bad_query(errors: Vec<ConfigError>) -> Self {
        let mut p = Self::new(
            ProblemKind::ValidationFailed,
            "the query parameters are invalid",
        );
        p.errors = errors;
        p
    }

    /// 401: no token (`err` = None) or a refused one.
    pub fn unauthorized(err: Option<&AuthError>) -> Self {
        let (detail, challenge) = match err {
            None | Some(AuthError::Missing) => {
                ("a bearer token is required".to_string(), REALM.to_string())
            }
            Some(e) => (
                e.to_string(),
                format!("{REALM}, error=\"invalid_token\", error_description=\"{e}\""),
            ),
        };
        let mut p = Self::new(ProblemKind::Unauthorized, detail);
        p.headers.push(("www-authenticate", challenge));
        p
    }

    /// 403 for a missing scope.
    pub fn insufficient_scope(scope: &str) -> Self {
        let mut p = Self::new(
            ProblemKind::InsufficientScope,
            format!("the token lacks scope {scope}"),
        );
        p.headers.push((
            "www-authenticate",
            format!("{REALM}, error=\"insufficient_scope\", scope=\"{scope}\""),
        ));
        p
    }

    /// 403 for another tenant's resources or a control-plane-only operation.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Forbidden, detail)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(ProblemKind::NotFound, format!("{what} not found"))
    }

    /// 405 with `Allow`.
    pub fn method_not_allowed(allow: &str) -> Self {
        let mut p = Self::new(
            ProblemKind::MethodNotAllowed,
            format!("allowed methods: {allow}"),
        );
        p.headers.push(("allow", allow.to_string()));
        p
    }

    /// 409 naming the conflicting field.
    pub fn conflict(path: &str, message: &str) -> Self {
        let mut p = Self::new(ProblemKind::Conflict, format!("{path} {message}"));
        p.errors = vec![ConfigError {
            path: path.into(),
            message: message.into(),
        }];
        p
    }

    /// 409 with a specific code (`version_immutable`, `connector_in_use`).
    pub fn conflict_kind(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self::new(kind, detail)
    }

    /// 503 while the credential vault has no usable key ring (the reason is logged
    /// once per isolate, not sent).
    pub fn vault_unavailable() -> Self {
        Self::new(
            ProblemKind::VaultUnavailable,
            "the credential vault is unavailable on this deployment",
        )
    }

    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            ProblemKind::PayloadTooLarge,
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    /// 415.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            ProblemKind::UnsupportedMediaType,
            "request bodies must be application/json",
        )
    }

    /// 415 for a body Portico must place a key in but cannot parse.
    pub fn unsupported_body_type() -> Self {
        Self::new(
            ProblemKind::UnsupportedMediaType,
            "this connector places its key in the body: send application/json or application/x-www-form-urlencoded",
        )
    }

    /// 500 (details go to the log, not the client).
    pub fn internal() -> Self {
        Self::new(ProblemKind::Internal, "internal error")
    }

    /// 503 when storage is unavailable.
    pub fn unavailable() -> Self {
        Self::new(
            ProblemKind::Unavailable,
            "storage is unavailable; nothing was changed",
        )
    }

    /// 503 while the API is not safely configured (the reason is logged, not sent).
    pub fn not_configured() -> Self {
        Self::new(
            ProblemKind::NotConfigured,
            "the management API is not configured on this deployment",
        )
    }

    /// The problem document.
    pub fn body(&self, request_id: &str) -> Value {
        let mut v = json!({
            "type": format!("urn:portico:problem:{}", self.code()),
            "title": self.kind.title(),
            "status": self.status(),
            "detail": self.detail,
            "code": self.code(),
            "request_id": request_id,
        });
        if !self.errors.is_empty() {
            v["errors"] = Value::Array(
                self.errors
                    .iter()
                    .map(|e| json!({"path": e.path, "message": e.message}))
                    .collect(),
            );
        }
        v
    }

    /// The full response.
    pub fn to_response(&self, request_id: &str) -> SimpleResponse {
        let mut res = SimpleResponse::text(self.status(), self.body(request_id).to_string());
        res.headers = crate::message::HeaderList::new()
            .with("content-type", "application/problem+json")
            .with("cache-control", "no-store")
            .with(crate::error::ERROR_HEADER, self.code());
        for (k, v) in &self.headers {
            res.headers = std::mem::take(&mut res.headers).with(k, v);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_code_errors_and_challenges() {
        let p = Problem::validation(vec![ConfigError {
            path: "handlers[0].type".into(),
            message: "unknown handler".into(),
        }]);
        let b = p.body("req-1");
        assert_eq!(b["status"], 400);
        assert_eq!(b["errors"][0]["path"], "handlers[0].type");
        assert_eq!(b["type"], "urn:portico:problem:validation_failed");
        let r = Problem::unauthorized(Some(&AuthError::Expired)).to_response("r");
        assert_eq!(r.status, 401);
        let h = r
            .headers
            .0
            .iter()
            .find(|(k, _)| k == "www-authenticate")
            .map(|(_, v)| v.clone());
        assert_eq!(h.as_deref(), Some("Bearer realm=\"portico\", error=\"invalid_token\", error_description=\"token has expired\""));
        let r = Problem::unauthorized(None).to_response("r");
        assert!(r
            .headers
            .0
            .iter()
            .any(|(k, v)| k == "www-authenticate" && v == "Bearer realm=\"portico\""));
    }
}
