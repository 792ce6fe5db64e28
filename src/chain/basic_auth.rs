//! `basic_auth`: HTTP Basic authentication with constant-time comparison.

use crate::config::diag::Diagnostics;
use crate::config::fields::Fields;
use crate::message::{HeaderAccess, SimpleResponse};
use crate::request::Flow;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Compiled `basic_auth` options. Only digests are kept, so the comparison time does
/// not depend on where or whether the inputs differ.
#[derive(Clone)]
pub struct BasicAuth {
    username_sha256: [u8; 32],
    password_sha256: [u8; 32],
    challenge: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BasicAuth { .. }")
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hi = (chunk[0] as char).to_digit(16)?;
        let lo = (chunk[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Rewrites options for storage: a plaintext `password` becomes `password_sha256`,
/// so stored config (D1, API responses, host records sent to remote data planes)
/// never holds the credential. Behaviour is identical: both forms compare digests.
pub fn seal_options(options: &mut serde_json::Map<String, serde_json::Value>) {
    if let Some(serde_json::Value::String(p)) = options.remove("password") {
        let hex: String = sha256(p.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        options.insert("password_sha256".into(), serde_json::Value::String(hex));
    }
}

/// Removes the credential from options shown in API responses: the digest is
/// write-only (an unsalted SHA-256 of a password is cheap to guess offline). The
/// stored route keeps it, and host records for remote data planes carry it.
pub fn redact_options(options: &mut serde_json::Map<String, serde_json::Value>) {
    options.remove("password");
    options.remove("password_sha256");
}

/// A write that re-sends the options it read back (without the write-only
/// credential) keeps the stored digest, as long as the username is unchanged.
/// `incoming` is left alone when it names a credential itself.
pub fn keep_stored_secret(
    incoming: &mut serde_json::Map<String, serde_json::Value>,
    stored: &serde_json::Map<String, serde_json::Value>,
) {
    if incoming.contains_key("password") || incoming.contains_key("password_sha256") {
        return;
    }
    let same_user = matches!(
        (incoming.get("username"), stored.get("username")),
        (Some(serde_json::Value::String(a)), Some(serde_json::Value::String(b))) if a == b
    );
    if let (true, Some(hash @ serde_json::Value::String(_))) =
        (same_user, stored.get("password_sha256"))
    {
        incoming.insert("password_sha256".into(), hash.clone());
    }
}

impl BasicAuth {
    /// Compiles options: `username`, `password` or `password_sha256`, `realm`.
    pub fn compile(f: &mut Fields<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let start = diags.len();
        let username = f.required_string("username", diags);
        if let Some(u) = username {
            if u.is_empty() || u.contains(':') {
                diags.error(
                    f.path_of("username"),
                    "must be non-empty and must not contain ':'",
                );
            }
        }
        let password = f.string("password", diags);
        let hashed = f.string("password_sha256", diags);
        let password_sha256 = match (password, hashed) {
            (Some(_), Some(_)) => {
                diags.error(
                    f.path_of("password_sha256"),
                    "set either password or password_sha256, not both",
                );
                None
            }
            (None, None) => {
                diags.error(f.path_of("password"), "is required (or password_sha256)");
                None
            }
            (Some(p), None) => {
                if p.is_empty() {
                    diags.error(f.path_of("password"), "must not be empty");
                }
                Some(sha256(p.as_bytes()))
            }
            (None, Some(h)) => {
                let parsed = parse_hex32(h);
                if parsed.is_none() {
                    diags.error(
                        f.path_of("password_sha256"),
                        "must be 64 hexadecimal characters (SHA-256)",
                    );
                }
                parsed
            }
        };
        let realm = f.string("realm", diags).unwrap_or("Restricted");
        if realm.contains(['"', '\\', '\r', '\n']) {
            diags.error(
                f.path_of("realm"),
                "must not contain quotes, backslashes or line breaks",
            );
        }
        if diags.len() != start {
            return None;
        }
        Some(Self {
            username_sha256: sha256(username?.as_bytes()),
            password_sha256: password_sha256?,
            challenge: format!("Basic realm=\"{realm}\""),
        })
    }

    fn check(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let mut parts = value.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or_default();
        let Some(token) = parts.next() else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
            return false;
        };
        let mut halves = decoded.splitn(2, |&b| b == b':');
        let (Some(user), Some(pass)) = (halves.next(), halves.next()) else {
            return false;
        };
        let user_ok = sha256(user).ct_eq(&self.username_sha256);
        let pass_ok = sha256(pass).ct_eq(&self.password_sha256);
        bool::from(user_ok & pass_ok)
    }

    /// Lets the request on (without its credentials) or answers 401.
    pub fn on_request(&self, headers: &mut dyn HeaderAccess) -> Flow {
        if self.check(headers.get("authorization").as_deref()) {
            // The credential is for Portico; the upstream never sees it.
            headers.remove("authorization");
            return Flow::Continue;
        }
        let mut res = SimpleResponse::text(401, "Unauthorized");
        res.headers.set("www-authenticate", &self.challenge);
        Flow::Respond(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;
    use serde_json::json;

    fn compile(v: serde_json::Value) -> Result<BasicAuth, Vec<String>> {
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "o", &mut d);
        let c = BasicAuth::compile(&mut f, &mut d);
        f.finish(&mut d);
        match c {
            Some(c) if d.is_empty() => Ok(c),
            _ => Err(d.into_errors().0.into_iter().map(|e| e.path).collect()),
        }
    }

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    #[test]
    fn accepts_right_credentials_and_strips_them() {
        let a = compile(json!({ "username": "demo", "password": "s3cret" })).expect("ok");
        let mut h = HeaderList::new().with("authorization", &basic("demo", "s3cret"));
        assert!(matches!(a.on_request(&mut h), Flow::Continue));
        assert_eq!(h.get("authorization"), None);
    }

    #[test]
    fn hashed_password_works() {
        let real: String = sha256(b"pw").iter().map(|b| format!("{b:02x}")).collect();
        let a = compile(json!({ "username": "u", "password_sha256": real, "realm": "Staff" }))
            .expect("ok");
        let mut ok = HeaderList::new().with("authorization", &basic("u", "pw"));
        assert!(matches!(a.on_request(&mut ok), Flow::Continue));
        let mut bad = HeaderList::new().with("authorization", &basic("u", "pw2"));
        match a.on_request(&mut bad) {
            Flow::Respond(r) => {
                assert_eq!(r.status, 401);
                assert_eq!(
                    r.headers.get("www-authenticate").as_deref(),
                    Some("Basic realm=\"Staff\"")
                );
            }
            Flow::Continue | Flow::Fail(_) => panic!("wrong password accepted"),
        }
    }

    #[test]
    fn refuses_everything_else() {
        let a = compile(json!({ "username": "demo", "password": "pw" })).expect("ok");
        for value in [
            None,
            Some(basic("demo", "PW")),
            Some(basic("Demo", "pw")),
            Some(basic("demo", "pw ")),
            Some("Bearer abc".to_string()),
            Some("Basic !!!notbase64".to_string()),
            Some("Basic".to_string()),
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("nocolon")
            )),
        ] {
            let mut h = HeaderList::new();
            if let Some(v) = &value {
                h.set("authorization", v);
            }
            assert!(
                matches!(a.on_request(&mut h), Flow::Respond(_)),
                "{value:?}"
            );
        }
        let mut lower = HeaderList::new().with(
            "authorization",
            &basic("demo", "pw").replace("Basic", "basic"),
        );
        assert!(
            matches!(a.on_request(&mut lower), Flow::Continue),
            "scheme is case-insensitive"
        );
    }

    #[test]
    fn the_credential_is_write_only() {
        let mut stored = serde_json::Map::new();
        stored.insert("password".into(), json!("pw"));
        stored.insert("username".into(), json!("u"));
        seal_options(&mut stored);
        assert!(stored.contains_key("password_sha256"));
        let mut shown = stored.clone();
        redact_options(&mut shown);
        assert_eq!(
            serde_json::Value::Object(shown.clone()),
            json!({"username": "u"})
        );
        // Re-sending what was shown keeps the stored digest...
        let mut again = shown.clone();
        keep_stored_secret(&mut again, &stored);
        assert_eq!(again, stored);
        // ...but not for another username, and never over a new credential.
        let mut other = serde_json::Map::new();
        other.insert("username".into(), json!("v"));
        keep_stored_secret(&mut other, &stored);
        assert!(!other.contains_key("password_sha256"));
        let mut new_pw = shown;
        new_pw.insert("password".into(), json!("new"));
        keep_stored_secret(&mut new_pw, &stored);
        assert!(!new_pw.contains_key("password_sha256"));
    }

    #[test]
    fn invalid_options() {
        assert_eq!(
            compile(json!({ "username": "u" })).err(),
            Some(vec!["o.password".to_string()])
        );
        assert_eq!(
            compile(json!({ "password": "p" })).err(),
            Some(vec!["o.username".to_string()])
        );
        assert_eq!(
            compile(json!({ "username": "u", "password": "p", "password_sha256": "ab" })).err(),
            Some(vec!["o.password_sha256".to_string()])
        );
        assert_eq!(
            compile(json!({ "username": "u", "password_sha256": "xyz" })).err(),
            Some(vec!["o.password_sha256".to_string()])
        );
        assert_eq!(
            compile(json!({ "username": "a:b", "password": "p" })).err(),
            Some(vec!["o.username".to_string()])
        );
        assert_eq!(
            compile(json!({ "username": "u", "password": "p", "realm": "a\"b" })).err(),
            Some(vec!["o.realm".to_string()])
        );
    }
}
