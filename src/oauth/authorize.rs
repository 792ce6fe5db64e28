//! The authorization code flow's front half (RFC 6749 §4.1, RFC 7636), pure: the
//! provider's authorize URL, the `state` value and the key its D1 row is stored
//! under, the callback's query read into a code or a distinct refusal, and the
//! `return_to` check. Randomness comes from the caller.

use super::pkce;
use super::token::form_encode;
use crate::connector::OAuth2Spec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// How long a state row is honoured.
pub const STATE_TTL_MS: u64 = 10 * 60 * 1000;
/// Longest callback parameter read (codes and states are far shorter).
const MAX_PARAM_LEN: usize = 4096;

/// The `state` sent to the provider: 32 random bytes, base64url.
pub fn new_state(random: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The key a state's row is stored under: its SHA-256, so a copy of the table does
/// not hold states anyone could replay.
pub fn state_key(state: &str) -> String {
    Sha256::digest(state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The provider's authorize URL for one attempt.
pub fn authorize_url(spec: &OAuth2Spec, redirect_uri: &str, state: &str, verifier: &str) -> String {
    let mut url = spec.authorization_url.clone();
    url.push(if url.contains('?') { '&' } else { '?' });
    let mut push = |k: &str, v: &str| {
        if !url.ends_with(['?', '&']) {
            url.push('&');
        }
        url.push_str(k);
        url.push('=');
        url.push_str(&form_encode(v));
    };
    push("response_type", "code");
    push("client_id", &spec.client_id);
    push("redirect_uri", redirect_uri);
    if !spec.scopes.is_empty() {
        push("scope", &spec.scopes.join(" "));
    }
    push("state", state);
    if spec.pkce {
        push("code_challenge", &pkce::challenge(verifier));
        push("code_challenge_method", pkce::METHOD);
    }
    url
}

/// What the callback's query says.
#[derive(Clone, PartialEq, Eq)]
pub struct Callback {
    /// The authorization code.
    pub code: String,
    /// The state it came back with.
    pub state: String,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither is printed: a code is a credential until exchanged.
        f.write_str("Callback { .. }")
    }
}

/// Why a callback is refused before any call to the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The provider answered with `error` (also when a `code` came beside it).
    #[error("the provider refused: {0}")]
    Provider(String),
    /// No `state`.
    #[error("no state")]
    MissingState,
    /// No `code`.
    #[error("no code")]
    MissingCode,
    /// A parameter repeated, overlong or not decodable.
    #[error("malformed callback parameter {0}")]
    Malformed(&'static str),
}

/// The first `state` parameter of a callback query, decoded, if any (to consume a
/// state even when the callback is refused for another reason).
pub fn state_param(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "state")
        .and_then(|(_, v)| crate::percent::decode(v, true))
        .filter(|v| !v.is_empty() && v.len() <= MAX_PARAM_LEN)
}

/// Reads the callback query. The provider's `error` is kept only as a short token
/// (it is shown to the user), never its free-text description.
pub fn parse_callback(query: &str) -> Result<Callback, CallbackError> {
    let (mut code, mut state, mut error) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match k {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            _ => continue,
        };
        let name: &'static str = match k {
            "code" => "code",
            "state" => "state",
            _ => "error",
        };
        if slot.is_some() || v.len() > MAX_PARAM_LEN {
            return Err(CallbackError::Malformed(name));
        }
        let decoded = crate::percent::decode(v, true).ok_or(CallbackError::Malformed(name))?;
        *slot = Some(decoded);
    }
    if let Some(e) = error {
        let token: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(CallbackError::Provider(if token.is_empty() {
            "unknown".into()
        } else {
            token
        }));
    }
    let state = state
        .filter(|s| !s.is_empty())
        .ok_or(CallbackError::MissingState)?;
    let code = code
        .filter(|c| !c.is_empty())
        .ok_or(CallbackError::MissingCode)?;
    Ok(Callback { code, state })
}

/// Whether `return_to` may be redirected to: an absolute http(s) URL whose origin
/// is one of `allowed` (exact origins, `scheme://host[:port]`).
pub fn return_to_allowed(return_to: &str, allowed: &[String]) -> bool {
    let Some((origin, _)) = crate::url::split_origin(return_to) else {
        return false;
    };
    if return_to.contains(['\\', '\r', '\n']) || crate::url::authority_of(return_to).contains('@') {
        return false;
    }
    allowed.iter().any(|a| a.eq_ignore_ascii_case(&origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ClientAuth;

    fn spec(pkce: bool) -> OAuth2Spec {
        OAuth2Spec {
            authorization_url: "https://idp.example/authorize?prompt=consent".into(),
            token_url: "https://idp.example/token".into(),
            revocation_url: None,
            scopes: vec!["calendar.read".into(), "openid".into()],
            pkce,
            client_auth: ClientAuth::ClientSecretBasic,
            client_id: "portico app".into(),
            return_origins: Vec::new(),
        }
    }

    #[test]
    fn authorize_urls_carry_state_scopes_and_the_s256_challenge() {
        let v = pkce::verifier(&[7u8; 32]);
        let url = authorize_url(
            &spec(true),
            "https://api.example/api/v1/oauth/callback",
            "st&1",
            &v,
        );
        assert!(
            url.starts_with("https://idp.example/authorize?prompt=consent&response_type=code&"),
            "{url}"
        );
        assert!(url.contains("&client_id=portico+app&"));
        assert!(
            url.contains("&redirect_uri=https%3A%2F%2Fapi.example%2Fapi%2Fv1%2Foauth%2Fcallback&")
        );
        assert!(url.contains("&scope=calendar.read+openid&"));
        assert!(url.contains("&state=st%261&"));
        assert!(url.ends_with(&format!(
            "&code_challenge={}&code_challenge_method=S256",
            pkce::challenge(&v)
        )));
        assert!(!url.contains(&v), "the verifier itself never leaves");
        let no_pkce = authorize_url(&spec(false), "https://r", "s", &v);
        assert!(!no_pkce.contains("code_challenge"));
    }

    #[test]
    fn states_and_their_keys() {
        let s = new_state(&[1u8; 32]);
        assert_eq!(s.len(), 43);
        assert_eq!(state_key(&s).len(), 64);
        assert_ne!(state_key(&s), state_key(&new_state(&[2u8; 32])));
        assert!(!state_key(&s).contains(&s));
    }

    #[test]
    fn callbacks_are_read_or_refused_with_distinct_reasons() {
        assert_eq!(
            parse_callback("code=abc%2F1&state=xyz&iss=x"),
            Ok(Callback {
                code: "abc/1".into(),
                state: "xyz".into()
            })
        );
        assert_eq!(
            parse_callback("error=access_denied&error_description=<script>&state=xyz"),
            Err(CallbackError::Provider("access_denied".into()))
        );
        // A code beside an error is still a refusal.
        assert_eq!(
            parse_callback("code=abc&error=server_error&state=xyz"),
            Err(CallbackError::Provider("server_error".into()))
        );
        assert_eq!(parse_callback("code=abc"), Err(CallbackError::MissingState));
        assert_eq!(parse_callback("state=xyz"), Err(CallbackError::MissingCode));
        assert_eq!(
            parse_callback("code=&state=xyz"),
            Err(CallbackError::MissingCode)
        );
        assert_eq!(
            parse_callback("code=a&code=b&state=xyz"),
            Err(CallbackError::Malformed("code"))
        );
        assert_eq!(
            parse_callback(&format!("code={}&state=s", "a".repeat(5000))),
            Err(CallbackError::Malformed("code"))
        );
        assert!(!format!("{:?}", parse_callback("code=SECRETCODE&state=s")).contains("SECRETCODE"));
    }

    #[test]
    fn return_to_only_to_allowed_origins() {
        let allowed = vec![
            "https://app.example".to_string(),
            "http://localhost:3000".to_string(),
        ];
        assert!(return_to_allowed("https://app.example/done?x=1", &allowed));
        assert!(return_to_allowed("http://localhost:3000/", &allowed));
        for bad in [
            "https://app.example.evil.com/",
            "https://evil.com/?https://app.example",
            "https://app.example@evil.com/",
            "//evil.com/",
            "/relative",
            "javascript:alert(1)",
            "https://app.example\\@evil.com/",
            "http://app.example/",
        ] {
            assert!(!return_to_allowed(bad, &allowed), "{bad}");
        }
    }
}
