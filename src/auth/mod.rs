//! Token verification shared by the management API and the `jwt` route handler:
//! public keys with pinned algorithms, JWT checks, and the JWKS refetch policy.
//! Pure Rust (jwt-compact underneath); the platform layer only fetches JWKS bytes.

pub mod claims;
pub mod error;
pub mod jwks_cache;
pub mod keys;
pub mod token_cache;
pub mod verify;

pub use claims::VerifiedClaims;
pub use error::AuthError;
pub use keys::{Alg, KeySet};
pub use verify::{still_valid, token_kid, verify, VerifyPolicy, MAX_LEEWAY_SECONDS};
