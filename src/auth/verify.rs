//! JWT verification: pinned algorithm per key, `exp` required, `nbf`, `iss`, `aud`,
//! bounded leeway. Errors say what failed but never echo the token.

use super::claims::VerifiedClaims;
use super::error::AuthError;
use super::keys::{Alg, Key, KeySet, Material};
use jwt_compact::alg::{Ed25519, Es256, Hs256, Rsa};
use jwt_compact::{AlgorithmExt, Claims, UntrustedToken, ValidationError};
use serde_json::{Map, Value};

/// The largest clock leeway Portico allows anywhere.
pub const MAX_LEEWAY_SECONDS: u32 = 60;
/// Tokens longer than this are refused before parsing.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Keys tried for a token without `kid`.
const MAX_CANDIDATES: usize = 8;

/// What a verifier requires beyond a good signature.
#[derive(Debug, Clone, Default)]
pub struct VerifyPolicy {
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Accepted audiences; the token's `aud` must contain one (when non-empty).
    pub audiences: Vec<String>,
    /// Clock leeway, clamped to [`MAX_LEEWAY_SECONDS`].
    pub leeway_seconds: u32,
}

/// The `kid` a token names, read without verification (to decide a JWKS refetch).
pub fn token_kid(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    UntrustedToken::new(token).ok()?.header().key_id.clone()
}

fn alg_of(name: &str) -> Option<Alg> {
    match name {
        "RS256" => Some(Alg::Rs256),
        "ES256" => Some(Alg::Es256),
        "EdDSA" => Some(Alg::EdDsa),
        "HS256" => Some(Alg::Hs256),
        _ => None,
    }
}

fn check_signature(
    key: &Key,
    token: &UntrustedToken<'_>,
) -> Result<Claims<Map<String, Value>>, ValidationError> {
    let t = match &key.material {
        Material::Rs256(k) => Rsa::rs256().validator(k.as_ref()).validate(token)?,
        Material::Es256(k) => Es256.validator(k).validate(token)?,
        Material::EdDsa(k) => Ed25519.validator(k).validate(token)?,
        Material::Hs256(k) => Hs256.validator(k).validate(token)?,
    };
    Ok(t.into_parts().1)
}

fn map_validation(e: &ValidationError) -> AuthError {
    match e {
        ValidationError::MalformedClaims(_) => AuthError::Claims,
        ValidationError::AlgorithmMismatch { actual, .. } => AuthError::Algorithm(actual.clone()),
        _ => AuthError::Signature,
    }
}

/// Verifies `token` against `keys` at `now_s` (Unix seconds).
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &VerifyPolicy,
    now_s: i64,
) -> Result<VerifiedClaims, AuthError> {
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::Malformed);
    }
    let untrusted = UntrustedToken::new(token).map_err(|_| AuthError::Malformed)?;
    let alg_name = untrusted.algorithm();
    // `none` and anything not pinned to a key never reach signature code.
    let alg = alg_of(alg_name).ok_or_else(|| AuthError::Algorithm(alg_name.to_string()))?;
    let kid = untrusted.header().key_id.as_deref();
    let claims = match kid {
        Some(kid) => {
            let key = keys
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(AuthError::UnknownKey)?;
            if key.alg != alg {
                return Err(AuthError::Algorithm(alg_name.to_string()));
            }
            check_signature(key, &untrusted).map_err(|e| map_validation(&e))?
        }
        None => {
            let mut candidates = keys.keys.iter().filter(|k| k.alg == alg).peekable();
            if candidates.peek().is_none() {
                return Err(AuthError::Algorithm(alg_name.to_string()));
            }
            let mut last = AuthError::Signature;
            let mut found = None;
            for key in candidates.take(MAX_CANDIDATES) {
                match check_signature(key, &untrusted) {
                    Ok(c) => {
                        found = Some(c);
                        break;
                    }
                    Err(e) => last = map_validation(&e),
                }
            }
            found.ok_or(last)?
        }
    };
    check_times(&claims, policy, now_s)?;
    let expires_at = claims.expiration.map_or(0, |e| e.timestamp());
    let not_before = claims.not_before.map(|n| n.timestamp());
    let raw = claims.custom;
    if let Some(iss) = &policy.issuer {
        if raw.get("iss").and_then(Value::as_str) != Some(iss.as_str()) {
            return Err(AuthError::Issuer);
        }
    }
    if !policy.audiences.is_empty() {
        let ok = match raw.get("aud") {
            Some(Value::String(a)) => policy.audiences.iter().any(|p| p == a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| policy.audiences.iter().any(|p| p == a)),
            _ => false,
        };
        if !ok {
            return Err(AuthError::Audience);
        }
    }
    let mut verified = VerifiedClaims::from_map(raw)?;
    verified.expires_at = expires_at;
    verified.not_before = not_before;
    Ok(verified)
}

/// Whether a previously verified token is still inside its time window at `now_s`.
pub fn still_valid(claims: &VerifiedClaims, policy: &VerifyPolicy, now_s: i64) -> bool {
    let leeway = i64::from(policy.leeway_seconds.min(MAX_LEEWAY_SECONDS));
    now_s <= claims.expires_at.saturating_add(leeway)
        && claims
            .not_before
            .is_none_or(|n| now_s >= n.saturating_sub(leeway))
}

/// `exp` / `nbf` against `now_s` with saturating arithmetic: the library's own
/// maturity check subtracts the leeway from `nbf` unchecked and panics on a validly
/// signed extreme value.
fn check_times(
    claims: &Claims<Map<String, Value>>,
    policy: &VerifyPolicy,
    now_s: i64,
) -> Result<(), AuthError> {
    let leeway = i64::from(policy.leeway_seconds.min(MAX_LEEWAY_SECONDS));
    let exp = claims.expiration.ok_or(AuthError::NoExpiry)?.timestamp();
    if now_s > exp.saturating_add(leeway) {
        return Err(AuthError::Expired);
    }
    if let Some(nbf) = claims.not_before {
        if now_s < nbf.timestamp().saturating_sub(leeway) {
            return Err(AuthError::NotYetValid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
