//! Requests Portico sends to a provider's token and revocation endpoints (RFC 6749
//! §4.1.3, §6; RFC 7009; RFC 7636), with the connector's client authentication:
//! `client_secret_basic` (an `Authorization: Basic` header), `client_secret_post`
//! (id and secret in the form) or `none` (the client id only; PKCE protects the
//! code). Pure: the platform sends them.

use super::token::{basic_auth, form_encode};
use crate::connector::{ClientAuth, OAuth2Spec};
use std::fmt;

/// A form POST to a provider endpoint. `Debug` never shows the body or header.
#[derive(Clone, PartialEq, Eq)]
pub struct FormRequest {
    /// `application/x-www-form-urlencoded` body.
    pub body: String,
    /// `Authorization` header, for `client_secret_basic`.
    pub authorization: Option<String>,
}

impl fmt::Debug for FormRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FormRequest")
            .field("body", &"<redacted>")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Why a request cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The connector authenticates with a secret and none is stored.
    #[error("the connector has no client secret")]
    NoClientSecret,
}

struct Form(String);

impl Form {
    fn new() -> Self {
        Self(String::with_capacity(256))
    }
    fn push(&mut self, k: &str, v: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(k);
        self.0.push('=');
        self.0.push_str(&form_encode(v));
    }
}

fn authenticated(
    spec: &OAuth2Spec,
    secret: Option<&str>,
    mut form: Form,
) -> Result<FormRequest, ExchangeError> {
    let authorization = match spec.client_auth {
        ClientAuth::ClientSecretBasic => Some(basic_auth(
            &spec.client_id,
            secret.ok_or(ExchangeError::NoClientSecret)?,
        )),
        ClientAuth::ClientSecretPost => {
            form.push("client_id", &spec.client_id);
            form.push(
                "client_secret",
                secret.ok_or(ExchangeError::NoClientSecret)?,
            );
            None
        }
        ClientAuth::None => {
            form.push("client_id", &spec.client_id);
            None
        }
    };
    Ok(FormRequest {
        body: form.0,
        authorization,
    })
}

/// The authorization-code exchange.
pub fn code_exchange(
    spec: &OAuth2Spec,
    secret: Option<&str>,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<FormRequest, ExchangeError> {
    let mut f = Form::new();
    f.push("grant_type", "authorization_code");
    f.push("code", code);
    f.push("redirect_uri", redirect_uri);
    if let Some(v) = verifier {
        f.push("code_verifier", v);
    }
    authenticated(spec, secret, f)
}

/// A refresh (scopes are not narrowed: the grant's stay).
pub fn refresh(
    spec: &OAuth2Spec,
    secret: Option<&str>,
    refresh_token: &str,
) -> Result<FormRequest, ExchangeError> {
    let mut f = Form::new();
    f.push("grant_type", "refresh_token");
    f.push("refresh_token", refresh_token);
    authenticated(spec, secret, f)
}

/// An RFC 7009 revocation of `token` (`hint`: `refresh_token` or `access_token`).
pub fn revoke(
    spec: &OAuth2Spec,
    secret: Option<&str>,
    token: &str,
    hint: &str,
) -> Result<FormRequest, ExchangeError> {
    let mut f = Form::new();
    f.push("token", token);
    f.push("token_type_hint", hint);
    authenticated(spec, secret, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(client_auth: ClientAuth) -> OAuth2Spec {
        OAuth2Spec {
            authorization_url: "https://idp.example/authorize".into(),
            token_url: "https://idp.example/token".into(),
            revocation_url: None,
            scopes: vec![],
            pkce: true,
            client_auth,
            client_id: "my app".into(),
            return_origins: vec![],
        }
    }

    #[test]
    fn basic_puts_the_secret_in_the_header_only() {
        let r = code_exchange(
            &spec(ClientAuth::ClientSecretBasic),
            Some("s3cr&t"),
            "the+code",
            "https://cp.example/api/v1/oauth/callback",
            Some("verifier-1"),
        )
        .expect("built");
        assert_eq!(
            r.body,
            "grant_type=authorization_code&code=the%2Bcode&redirect_uri=https%3A%2F%2Fcp.example%2Fapi%2Fv1%2Foauth%2Fcallback&code_verifier=verifier-1"
        );
        // RFC 6749 §2.3.1: form-encoded, then base64 ("my+app:s3cr%26t").
        assert_eq!(
            r.authorization.as_deref(),
            Some("Basic bXkrYXBwOnMzY3IlMjZ0")
        );
        assert!(!r.body.contains("s3cr"));
    }

    #[test]
    fn post_and_none_put_the_client_in_the_form() {
        let r = refresh(&spec(ClientAuth::ClientSecretPost), Some("sec"), "rt-1").expect("built");
        assert_eq!(
            r.body,
            "grant_type=refresh_token&refresh_token=rt-1&client_id=my+app&client_secret=sec"
        );
        assert_eq!(r.authorization, None);
        let r = refresh(&spec(ClientAuth::None), None, "rt-1").expect("built");
        assert_eq!(
            r.body,
            "grant_type=refresh_token&refresh_token=rt-1&client_id=my+app"
        );
        let r = revoke(
            &spec(ClientAuth::None),
            Some("ignored"),
            "rt",
            "refresh_token",
        )
        .expect("built");
        assert_eq!(
            r.body,
            "token=rt&token_type_hint=refresh_token&client_id=my+app"
        );
    }

    #[test]
    fn a_missing_secret_is_an_error_and_debug_redacts() {
        for auth in [ClientAuth::ClientSecretBasic, ClientAuth::ClientSecretPost] {
            assert_eq!(
                refresh(&spec(auth), None, "rt"),
                Err(ExchangeError::NoClientSecret)
            );
        }
        let r = refresh(
            &spec(ClientAuth::ClientSecretBasic),
            Some("sec"),
            "rt-secret",
        )
        .expect("built");
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("rt-secret") && !shown.contains("Basic "),
            "{shown}"
        );
    }
}
