//! OAuth 2.0 client pieces, pure: request bodies, client authentication and token
//! responses. The platform layer sends the requests; the `remote` host source uses
//! them today and the credential vault will too.

pub mod authorize;
pub mod exchange;
pub mod keeper;
pub mod pkce;
pub mod state;
pub mod token;
pub mod token_set;
