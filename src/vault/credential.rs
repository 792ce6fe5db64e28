//! What a connection's sealed secret holds (DESIGN §7): an API key, basic
//! credentials or an OAuth access token, and the JSON plaintext they are sealed as.
//! Like [`Secret`], a credential cannot be printed: its `Debug` shows only the kind.

use super::{Secret, VaultError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One connection's credential, in plaintext.
pub enum Credential {
    /// An API key (the connector adds its prefix).
    ApiKey(Secret),
    /// HTTP Basic credentials.
    Basic {
        /// The user id.
        username: Secret,
        /// The password.
        password: Secret,
    },
    /// An OAuth access token.
    Bearer(Secret),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::Basic { .. } => {
                f.write_str("Basic { username: <redacted>, password: <redacted> }")
            }
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// The sealed plaintext's shape. Borrowed on the way in, so the only copy written
/// is the one that becomes a [`Secret`].
#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn {
    api_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
    access_token: Option<String>,
}

const NOT_TEXT: VaultError = VaultError::Malformed("credential is not text");
const NOT_CREDENTIAL: VaultError = VaultError::Malformed("not a credential");

fn text(s: &Secret) -> Result<&str, VaultError> {
    std::str::from_utf8(s.expose()).map_err(|_| NOT_TEXT)
}

/// Moves a decoded string into a [`Secret`] (no copy), so it is wiped on drop.
fn secret(s: Option<String>) -> Option<Secret> {
    s.map(|s| Secret::new(s.into_bytes()))
}

impl Credential {
    /// The JSON that is sealed: `{"api_key":..}`, `{"username":..,"password":..}`
    /// or `{"access_token":..}`. A credential that is not UTF-8 is refused.
    pub fn to_plaintext(&self) -> Result<Secret, VaultError> {
        let mut wire = WireOut {
            api_key: None,
            username: None,
            password: None,
            access_token: None,
        };
        let mut len = 0;
        match self {
            Self::ApiKey(k) => {
                wire.api_key = Some(text(k)?);
                len += k.expose().len();
            }
            Self::Basic { username, password } => {
                wire.username = Some(text(username)?);
                wire.password = Some(text(password)?);
                len += username.expose().len() + password.expose().len();
            }
            Self::Bearer(t) => {
                wire.access_token = Some(text(t)?);
                len += t.expose().len();
            }
        }
        // Sized for the worst case (every byte escaped as `\u00XX`) so the buffer
        // never reallocates and leaves an unwiped copy behind.
        let mut out = Vec::with_capacity(len.saturating_mul(6).saturating_add(64));
        serde_json::to_writer(&mut out, &wire).map_err(|_| NOT_CREDENTIAL)?;
        Ok(Secret::new(out))
    }

    /// Reads a sealed plaintext; anything but exactly one of the three shapes is
    /// [`VaultError::Malformed`] (the message never repeats the content).
    pub fn from_plaintext(p: &Secret) -> Result<Self, VaultError> {
        let wire: WireIn = serde_json::from_slice(p.expose()).map_err(|_| NOT_CREDENTIAL)?;
        let (api_key, username, password, access_token) = (
            secret(wire.api_key),
            secret(wire.username),
            secret(wire.password),
            secret(wire.access_token),
        );
        match (api_key, username, password, access_token) {
            (Some(k), None, None, None) => Ok(Self::ApiKey(k)),
            (None, Some(username), Some(password), None) => Ok(Self::Basic { username, password }),
            (None, None, None, Some(t)) => Ok(Self::Bearer(t)),
            _ => Err(NOT_CREDENTIAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Secret {
        Secret::new(text.as_bytes().to_vec())
    }

    fn plain(c: &Credential) -> String {
        let p = c.to_plaintext().expect("text");
        String::from_utf8(p.expose().to_vec()).expect("utf-8")
    }

    #[test]
    fn round_trips_each_kind() {
        let key = Credential::ApiKey(s("sk_live_\"quoted\"\\é"));
        assert_eq!(plain(&key), r#"{"api_key":"sk_live_\"quoted\"\\é"}"#);
        let basic = Credential::Basic {
            username: s("u"),
            password: s("p:w"),
        };
        assert_eq!(plain(&basic), r#"{"username":"u","password":"p:w"}"#);
        let bearer = Credential::Bearer(s("tok"));
        assert_eq!(plain(&bearer), r#"{"access_token":"tok"}"#);
        for c in [key, basic, bearer] {
            let back =
                Credential::from_plaintext(&c.to_plaintext().expect("text")).expect("round trip");
            assert_eq!(plain(&back), plain(&c));
        }
        let parsed = Credential::from_plaintext(&s(r#"{"api_key":"\u0061b"}"#)).expect("ok");
        match parsed {
            Credential::ApiKey(k) => assert_eq!(k.expose(), b"ab"),
            Credential::Basic { .. } | Credential::Bearer(_) => panic!("wrong kind"),
        }
    }

    #[test]
    fn refuses_other_shapes_without_echoing_them() {
        for bad in [
            "",
            "not json sk_secret",
            "[]",
            "{}",
            r#"{"api_key":1}"#,
            r#"{"api_key":"sk_secret","username":"u"}"#,
            r#"{"username":"sk_secret"}"#,
            r#"{"password":"sk_secret"}"#,
            r#"{"api_key":"sk_secret","extra":true}"#,
            r#"{"access_token":"sk_secret","api_key":"x"}"#,
            r#"{"api_key":null}"#,
        ] {
            let e = Credential::from_plaintext(&s(bad)).expect_err(bad);
            assert!(matches!(e, VaultError::Malformed(_)), "{bad}");
            assert!(!e.to_string().contains("sk_secret"), "{bad}: {e}");
        }
        let not_utf8 = Credential::ApiKey(Secret::new(vec![0xff, 0xfe]));
        assert_eq!(
            not_utf8.to_plaintext().err(),
            Some(VaultError::Malformed("credential is not text"))
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!(
            "{:?} {:?} {:?}",
            Credential::ApiKey(s("sk_secret")),
            Credential::Basic {
                username: s("sk_user"),
                password: s("sk_pass")
            },
            Credential::Bearer(s("sk_token"))
        );
        assert!(!shown.contains("sk_"), "{shown}");
        assert!(shown.contains("ApiKey") && shown.contains("Basic") && shown.contains("Bearer"));
    }
}
