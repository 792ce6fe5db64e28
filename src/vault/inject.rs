//! Where a connection's credential goes on the outbound request (DESIGN §7): which
//! header, query parameter or body field carries it, and the query and body edits
//! that put it there so a caller's own value for that name never reaches upstream.

use super::{Credential, Secret};
use crate::connector::{AuthSpec, Placement};
use crate::oauth::token::form_encode;
use crate::percent::decode;
use std::fmt;

/// A plaintext value bound for an outbound request. Prints as `Exposed(..)`; wiped
/// on drop like [`Secret`].
pub struct Exposed(String);

impl Exposed {
    /// The value, to write into the request.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Exposed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Exposed(..)")
    }
}

impl Drop for Exposed {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8, so the `str` stays valid; volatile so
        // the wipe is not optimised away as a dead store.
        for b in unsafe { self.0.as_bytes_mut() } {
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// What to add to the outbound request. At most one of the three is set.
#[derive(Debug, Default)]
pub struct Injection {
    /// Header name (lowercase) and value, set replacing any caller value.
    pub header: Option<(String, Exposed)>,
    /// Query parameter name and value, for [`set_query_param`].
    pub query: Option<(String, Exposed)>,
    /// Top-level body field and value, for [`inject_body`].
    pub body_field: Option<(String, Exposed)>,
}

/// Why a credential cannot be injected. Messages never include the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The credential's kind does not fit the connector's auth type.
    #[error("the credential does not fit the connector's auth type")]
    Mismatch,
    /// The secret is not UTF-8.
    #[error("the credential is not text")]
    NotText,
    /// The value holds bytes a header cannot carry.
    #[error("the credential cannot be sent in a header")]
    InvalidHeaderValue,
}

/// Whether `v` can be a header value as the runtime sends it: visible ASCII, space
/// and tab only. Besides CR, LF and NUL, this refuses every non-ASCII character —
/// the Fetch `Headers` API takes byte strings and would throw or re-encode them.
fn header_safe(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
}

fn text(s: &Secret) -> Result<&str, InjectError> {
    std::str::from_utf8(s.expose()).map_err(|_| InjectError::NotText)
}

fn header(name: &str, value: String) -> Result<Injection, InjectError> {
    let value = Exposed(value);
    if !header_safe(value.as_str()) {
        return Err(InjectError::InvalidHeaderValue);
    }
    Ok(Injection {
        header: Some((name.to_ascii_lowercase(), value)),
        ..Injection::default()
    })
}

/// `Basic base64(user:pass)` (RFC 7617), built without unwiped intermediates.
fn basic_value(username: &str, password: &str) -> String {
    use base64::Engine as _;
    let mut raw = Vec::with_capacity(username.len() + password.len() + 1);
    raw.extend_from_slice(username.as_bytes());
    raw.push(b':');
    raw.extend_from_slice(password.as_bytes());
    let raw = Secret::new(raw);
    let mut out = String::with_capacity(6 + raw.expose().len().div_ceil(3) * 4);
    out.push_str("Basic ");
    base64::engine::general_purpose::STANDARD.encode_string(raw.expose(), &mut out);
    out
}

/// What to inject for a connector's `auth` and the connection's credential:
/// `api_key` → prefix + key at its placement; `basic` → `authorization: Basic ..`;
/// `none` → nothing (no credential may be given); `oauth2` with a bearer token →
/// `authorization: Bearer ..`. Any other pairing is [`InjectError::Mismatch`].
pub fn injection(auth: &AuthSpec, cred: Option<&Credential>) -> Result<Injection, InjectError> {
    match (auth, cred) {
        (
            AuthSpec::ApiKey {
                placement,
                name,
                prefix,
            },
            Some(Credential::ApiKey(key)),
        ) => {
            let key = text(key)?;
            let mut value = String::with_capacity(prefix.len() + key.len());
            value.push_str(prefix);
            value.push_str(key);
            match placement {
                Placement::Header => header(name, value),
                Placement::Query => Ok(Injection {
                    query: Some((name.clone(), Exposed(value))),
                    ..Injection::default()
                }),
                Placement::Body => Ok(Injection {
                    body_field: Some((name.clone(), Exposed(value))),
                    ..Injection::default()
                }),
            }
        }
        (AuthSpec::Basic, Some(Credential::Basic { username, password })) => header(
            "authorization",
            basic_value(text(username)?, text(password)?),
        ),
        (AuthSpec::None, None) => Ok(Injection::default()),
        (AuthSpec::OAuth2(_), Some(Credential::Bearer(token))) => {
            let token = text(token)?;
            let mut value = String::with_capacity(7 + token.len());
            value.push_str("Bearer ");
            value.push_str(token);
            header("authorization", value)
        }
        (AuthSpec::ApiKey { .. } | AuthSpec::Basic | AuthSpec::None | AuthSpec::OAuth2(_), _) => {
            Err(InjectError::Mismatch)
        }
    }
}

/// Whether a raw (encoded) parameter name names `name`. Both decodings count (`+`
/// as space or as itself), and the raw spelling too, so no spelling of the name
/// survives for an upstream to read instead of ours.
fn names_param(raw: &str, name: &str) -> bool {
    raw == name
        || decode(raw, true).is_some_and(|d| d == name)
        || decode(raw, false).is_some_and(|d| d == name)
}

/// `pairs` (`a=1&b=2`) without empty pairs and without every pair naming `name`,
/// followed by `name=value` form-encoded.
fn replace_pair(pairs: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(pairs.len() + name.len() + value.len() * 3 + 2);
    for pair in pairs.split('&') {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if pair.is_empty() || names_param(key, name) {
            continue;
        }
        out.push_str(pair);
        out.push('&');
    }
    out.push_str(&form_encode(name));
    out.push('=');
    out.push_str(&form_encode(value));
    out
}

/// `url` with every query parameter whose decoded name is `name` removed (so a
/// caller cannot smuggle a second key) and `name=<value>` appended, percent-encoded.
/// Empty pairs are dropped; other pairs keep their spelling. A fragment is dropped
/// (it is never sent).
pub fn set_query_param(url: &str, name: &str, value: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut out = String::with_capacity(url.len() + name.len() + value.len() * 3 + 2);
    out.push_str(base);
    out.push('?');
    out.push_str(&replace_pair(query, name, value));
    out
}

/// Why a body cannot carry the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not `application/json` (or `+json`) nor `application/x-www-form-urlencoded`.
    #[error("the body must be a JSON object or a form")]
    UnsupportedType,
    /// JSON, but not an object.
    #[error("the JSON body must be an object")]
    NotAnObject,
    /// Not valid JSON (an empty body included), or a form that is not UTF-8.
    #[error("the body is malformed")]
    Malformed,
}

enum BodyType {
    Json,
    Form,
}

fn body_type(content_type: Option<&str>) -> Result<BodyType, BodyError> {
    let ct = content_type.ok_or(BodyError::UnsupportedType)?;
    let mime = ct.split(';').next().unwrap_or_default().trim();
    let mime = mime.to_ascii_lowercase();
    if mime == "application/json" || (mime.contains('/') && mime.ends_with("+json")) {
        Ok(BodyType::Json)
    } else if mime == "application/x-www-form-urlencoded" {
        Ok(BodyType::Form)
    } else {
        Err(BodyError::UnsupportedType)
    }
}

/// The body with top-level `field` set to the string `value`, replacing every value
/// the caller gave it. JSON (`application/json`, `*/*+json`; parameters ignored)
/// must be an object; the other members keep their exact bytes. A form
/// (`application/x-www-form-urlencoded`) loses every pair naming `field` and gains
/// the new pair. Anything else, a missing content type included, is refused.
pub fn inject_body(
    content_type: Option<&str>,
    body: &[u8],
    field: &str,
    value: &str,
) -> Result<Vec<u8>, BodyError> {
    match body_type(content_type)? {
        BodyType::Json => json_with_field(body, field, value),
        BodyType::Form => {
            let form = std::str::from_utf8(body).map_err(|_| BodyError::Malformed)?;
            Ok(replace_pair(form, field, value).into_bytes())
        }
    }
}

/// Splices `"field":"value"` into a JSON object without re-serialising the rest,
/// so numbers, key order and spelling reach upstream exactly as sent.
fn json_with_field(body: &[u8], field: &str, value: &str) -> Result<Vec<u8>, BodyError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|_| BodyError::Malformed)?;
    let members = top_level_members(body)?;
    let mut out = Vec::with_capacity(body.len() + field.len() + value.len() * 6 + 8);
    out.push(b'{');
    for (key, member) in members {
        let name: String = serde_json::from_slice(key).map_err(|_| BodyError::Malformed)?;
        if name == field {
            continue;
        }
        out.extend_from_slice(member);
        out.push(b',');
    }
    serde_json::to_writer(&mut out, field).map_err(|_| BodyError::Malformed)?;
    out.push(b':');
    serde_json::to_writer(&mut out, value).map_err(|_| BodyError::Malformed)?;
    out.push(b'}');
    Ok(out)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// Index just past the string starting at `i` (which holds `"`).
fn end_of_string(b: &[u8], mut i: usize) -> Result<usize, BodyError> {
    i += 1;
    loop {
        match b.get(i) {
            None => return Err(BodyError::Malformed),
            Some(b'\\') => i += 2,
            Some(b'"') => return Ok(i + 1),
            Some(_) => i += 1,
        }
    }
}

/// Index of the `,` or `}` that ends the value starting at `i`.
fn end_of_value(b: &[u8], mut i: usize) -> Result<usize, BodyError> {
    let mut depth = 0usize;
    loop {
        match b.get(i) {
            None => return Err(BodyError::Malformed),
            Some(b'"') => i = end_of_string(b, i)?,
            Some(b'{' | b'[') => {
                depth += 1;
                i += 1;
            }
            Some(b'}' | b']') if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            Some(b',' | b'}') if depth == 0 => return Ok(i),
            Some(_) => i += 1,
        }
    }
}

/// One top-level member: the raw key with its quotes, and the raw `"key":value`.
type Member<'a> = (&'a [u8], &'a [u8]);

/// Each top-level member of a body already known to be valid JSON.
fn top_level_members(b: &[u8]) -> Result<Vec<Member<'_>>, BodyError> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(BodyError::NotAnObject);
    }
    i = skip_ws(b, i + 1);
    let mut members = Vec::new();
    if b.get(i) == Some(&b'}') {
        return Ok(members);
    }
    loop {
        let start = i;
        if b.get(i) != Some(&b'"') {
            return Err(BodyError::Malformed);
        }
        let key_end = end_of_string(b, i)?;
        let end = end_of_value(b, key_end)?;
        let key = b.get(start..key_end).ok_or(BodyError::Malformed)?;
        let member = b.get(start..end).ok_or(BodyError::Malformed)?;
        let member = member
            .iter()
            .rposition(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .and_then(|last| member.get(..=last))
            .ok_or(BodyError::Malformed)?;
        members.push((key, member));
        match b.get(end) {
            Some(b',') => i = skip_ws(b, end + 1),
            Some(b'}') => return Ok(members),
            _ => return Err(BodyError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{ClientAuth, OAuth2Spec};

    fn s(text: &str) -> Secret {
        Secret::new(text.as_bytes().to_vec())
    }

    fn api_key(placement: Placement, name: &str, prefix: &str) -> AuthSpec {
        AuthSpec::ApiKey {
            placement,
            name: name.into(),
            prefix: prefix.into(),
        }
    }

    fn oauth2() -> AuthSpec {
        AuthSpec::OAuth2(OAuth2Spec {
            authorization_url: "https://p.example/auth".into(),
            token_url: "https://p.example/token".into(),
            revocation_url: None,
            scopes: vec![],
            pkce: true,
            client_auth: ClientAuth::None,
            client_id: "c".into(),
            return_origins: Vec::new(),
        })
    }

    fn pair(p: &Option<(String, Exposed)>) -> Option<(&str, &str)> {
        p.as_ref().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    #[test]
    fn places_an_api_key_with_its_prefix() {
        let key = Credential::ApiKey(s("sk_1"));
        let i = injection(
            &api_key(Placement::Header, "X-Api-Key", "Token "),
            Some(&key),
        )
        .expect("header");
        assert_eq!(pair(&i.header), Some(("x-api-key", "Token sk_1")));
        assert!(i.query.is_none() && i.body_field.is_none());
        let i = injection(&api_key(Placement::Query, "api_key", ""), Some(&key)).expect("query");
        assert_eq!(pair(&i.query), Some(("api_key", "sk_1")));
        assert!(i.header.is_none() && i.body_field.is_none());
        let i = injection(&api_key(Placement::Body, "key", "p-"), Some(&key)).expect("body");
        assert_eq!(pair(&i.body_field), Some(("key", "p-sk_1")));
    }

    #[test]
    fn basic_none_and_bearer() {
        let basic = Credential::Basic {
            username: s("Aladdin"),
            password: s("open sesame"),
        };
        let i = injection(&AuthSpec::Basic, Some(&basic)).expect("basic");
        assert_eq!(
            pair(&i.header),
            Some(("authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="))
        );
        let i = injection(&AuthSpec::None, None).expect("none");
        assert!(i.header.is_none() && i.query.is_none() && i.body_field.is_none());
        let bearer = Credential::Bearer(s("at_1"));
        let i = injection(&oauth2(), Some(&bearer)).expect("bearer");
        assert_eq!(pair(&i.header), Some(("authorization", "Bearer at_1")));
    }

    #[test]
    fn refuses_mismatches_non_text_and_unsafe_header_values() {
        let key = Credential::ApiKey(s("k"));
        let bearer = Credential::Bearer(s("t"));
        let header = api_key(Placement::Header, "x-k", "");
        for (auth, cred) in [
            (&header, None),
            (&header, Some(&bearer)),
            (&AuthSpec::Basic, Some(&key)),
            (&AuthSpec::Basic, None),
            (&AuthSpec::None, Some(&key)),
            (&oauth2(), Some(&key)),
            (&oauth2(), None),
        ] {
            assert_eq!(
                injection(auth, cred).err(),
                Some(InjectError::Mismatch),
                "{auth:?} {cred:?}"
            );
        }
        let binary = Credential::ApiKey(Secret::new(vec![0xff]));
        assert_eq!(
            injection(&header, Some(&binary)).err(),
            Some(InjectError::NotText)
        );
        for bad in ["a\r\nx-evil: 1", "a\nb", "a\0b", "caf\u{e9}", "a\u{7f}"] {
            let cred = Credential::ApiKey(s(bad));
            let e = injection(&header, Some(&cred)).expect_err(bad);
            assert_eq!(e, InjectError::InvalidHeaderValue);
            assert!(!e.to_string().contains(bad));
            let token = Credential::Bearer(s(bad));
            assert_eq!(
                injection(&oauth2(), Some(&token)).err(),
                Some(InjectError::InvalidHeaderValue)
            );
        }
        // Query and body placements percent- or JSON-encode: any text goes.
        let query = api_key(Placement::Query, "k", "");
        let cred = Credential::ApiKey(s("caf\u{e9}\n"));
        assert!(injection(&query, Some(&cred)).is_ok());
        // Basic is base64: any text goes.
        let basic = Credential::Basic {
            username: s("\u{e9}"),
            password: s("a\nb"),
        };
        assert!(injection(&AuthSpec::Basic, Some(&basic)).is_ok());
    }

    #[test]
    fn exposed_and_injection_debug_redact() {
        let key = Credential::ApiKey(s("sk_secret"));
        let i = injection(&api_key(Placement::Header, "x-k", ""), Some(&key)).expect("ok");
        let shown = format!("{i:?}");
        assert!(
            !shown.contains("sk_secret") && shown.contains("Exposed(..)"),
            "{shown}"
        );
    }

    #[test]
    fn query_param_replaces_every_spelling() {
        for (url, want) in [
            ("https://a.com/x", "https://a.com/x?api_key=v%2F%26+1"),
            ("https://a.com/x?", "https://a.com/x?api_key=v%2F%26+1"),
            (
                "https://a.com/x?a=1&b",
                "https://a.com/x?a=1&b&api_key=v%2F%26+1",
            ),
            (
                "https://a.com/x?api_key=mine&a=1&api%5Fkey=2&%61pi_key&api_key=3",
                "https://a.com/x?a=1&api_key=v%2F%26+1",
            ),
            (
                "https://a.com/x?&&a=%zz&",
                "https://a.com/x?a=%zz&api_key=v%2F%26+1",
            ),
            (
                "https://a.com/x?api_keyx=1&xapi_key=2",
                "https://a.com/x?api_keyx=1&xapi_key=2&api_key=v%2F%26+1",
            ),
            (
                "https://a.com/x?a=1#frag",
                "https://a.com/x?a=1&api_key=v%2F%26+1",
            ),
        ] {
            assert_eq!(set_query_param(url, "api_key", "v/& 1"), want, "{url}");
        }
        // Names with spaces: `+` and `%20` both spell it.
        assert_eq!(
            set_query_param(
                "https://a.com/?my+key=1&my%20key=2&my+keyz=3",
                "my key",
                "k"
            ),
            "https://a.com/?my+keyz=3&my+key=k"
        );
    }

    fn body(ct: Option<&str>, b: &str) -> Result<String, BodyError> {
        inject_body(ct, b.as_bytes(), "api_key", "sk\"1")
            .map(|v| String::from_utf8(v).expect("utf-8"))
    }

    #[test]
    fn json_body_keeps_other_members_exactly() {
        let json = Some("application/json; charset=utf-8");
        assert_eq!(
            body(json, r#" { "n": 12345678901234567890123, "s":"a,}\"]" , "o":{"k":[1,{"x":"}"}]} } "#),
            Ok(r#"{"n": 12345678901234567890123,"s":"a,}\"]","o":{"k":[1,{"x":"}"}]},"api_key":"sk\"1"}"#.into())
        );
        assert_eq!(
            body(
                Some("application/vnd.api+json"),
                r#"{"api_key":"mine","a":1,"\u0061pi_key":"again"}"#
            ),
            Ok(r#"{"a":1,"api_key":"sk\"1"}"#.into())
        );
        assert_eq!(body(json, "{}"), Ok(r#"{"api_key":"sk\"1"}"#.into()));
        assert_eq!(
            body(Some("APPLICATION/JSON"), "{ }"),
            Ok(r#"{"api_key":"sk\"1"}"#.into())
        );
    }

    #[test]
    fn json_body_refusals() {
        let json = Some("application/json");
        assert_eq!(body(json, ""), Err(BodyError::Malformed));
        assert_eq!(body(json, "{"), Err(BodyError::Malformed));
        assert_eq!(body(json, r#"{"a":1,}"#), Err(BodyError::Malformed));
        assert_eq!(body(json, r#"{"a":1} {}"#), Err(BodyError::Malformed));
        assert_eq!(body(json, "[1]"), Err(BodyError::NotAnObject));
        assert_eq!(body(json, r#""str""#), Err(BodyError::NotAnObject));
        assert_eq!(body(json, "null"), Err(BodyError::NotAnObject));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(500), "]".repeat(500));
        // Validation and the splice are both iterative: depth costs no stack.
        let spliced = body(json, &deep).expect("deep nesting is fine");
        assert!(spliced.ends_with(r#"]],"api_key":"sk\"1"}"#));
        for ct in [
            None,
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
            Some("json"),
            Some(""),
        ] {
            assert_eq!(body(ct, "{}"), Err(BodyError::UnsupportedType), "{ct:?}");
        }
        assert_eq!(body(None, ""), Err(BodyError::UnsupportedType));
    }

    #[test]
    fn form_body_replaces_the_field() {
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(body(form, ""), Ok("api_key=sk%221".into()));
        assert_eq!(
            body(form, "a=1&api_key=mine&api%5Fkey=x&b=2+3"),
            Ok("a=1&b=2+3&api_key=sk%221".into())
        );
        assert_eq!(
            inject_body(form, &[0xff], "k", "v"),
            Err(BodyError::Malformed)
        );
    }

    proptest::proptest! {
        #[test]
        fn prop_injection_edits_are_total(
            url in "[a-z:/?&=%#+.]{0,40}",
            name in "[a-z_%+]{0,8}",
            value in "\\PC{0,8}",
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let out = set_query_param(&url, &name, &value);
            proptest::prop_assert!(out.contains('?'));
            for ct in ["application/json", "application/x-www-form-urlencoded"] {
                if let Ok(b) = inject_body(Some(ct), &raw, &name, &value) {
                    if ct == "application/json" {
                        let v: serde_json::Value = serde_json::from_slice(&b).expect("valid JSON out");
                        proptest::prop_assert_eq!(v.get(&name).and_then(|v| v.as_str()), Some(value.as_str()));
                    }
                }
            }
            if let Ok(text) = std::str::from_utf8(&raw) {
                let json = format!("{{\"a\":{text:?},\"{name}\":1}}");
                if let Ok(b) = inject_body(Some("application/json"), json.as_bytes(), &name, &value) {
                    let v: serde_json::Value = serde_json::from_slice(&b).expect("valid JSON out");
                    proptest::prop_assert_eq!(v.get(&name).and_then(|v| v.as_str()), Some(value.as_str()));
                }
            }
        }
    }
}
