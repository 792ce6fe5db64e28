//! Why a token was refused: the one error type of token checks, shared by
//! signature verification and claim reading.

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("no bearer token")]
    Missing,
    /// Not a compact JWS.
    #[error("token is malformed")]
    Malformed,
    /// `alg` is none, unknown, or not one any trusted key is pinned to.
    #[error("token algorithm {0:?} is not accepted")]
    Algorithm(String),
    /// No trusted key has the token's `kid`.
    #[error("token key id is not trusted")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    Signature,
    /// Claims are not a JSON object with numeric times.
    #[error("token claims are malformed")]
    Claims,
    /// `exp` is absent.
    #[error("token has no exp claim")]
    NoExpiry,
    /// `exp` has passed (beyond leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iss` differs.
    #[error("token issuer is not accepted")]
    Issuer,
    /// `aud` does not contain an accepted audience.
    #[error("token audience is not accepted")]
    Audience,
}
