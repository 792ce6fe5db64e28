//! Connection request bodies (`POST` and `PATCH /tenants/{tid}/connections`): strict
//! reading with JSON-path errors, and the check that supplied credentials fit the
//! connector's auth type. Messages never repeat a credential.

use super::policy::Policy;
use super::{Labels, SuppliedCredentials};
use crate::config::diag::{field, Diagnostics};
use crate::config::fields::Fields;
use crate::config::ConfigError;
use crate::connector::{AuthSpec, Placement};
use serde_json::{Map, Value};

/// Most labels on one connection.
pub const MAX_LABELS: usize = 32;
/// Longest label value.
pub const MAX_LABEL_VALUE: usize = 256;
/// Longest credential string.
pub const MAX_CREDENTIAL_BYTES: usize = 4096;

/// Response fields the server owns; a body that sets them is refused.
const READ_ONLY: [&str; 11] = [
    "id",
    "tenant_id",
    "connector_version",
    "state",
    "auth_type",
    "scopes",
    "expires_at",
    "secret_set",
    "last_used_at",
    "created_at",
    "updated_at",
];

/// `POST /tenants/{tid}/connections` body.
#[derive(Debug, PartialEq, Eq)]
pub struct ConnectionCreate {
    /// The connector (its primary version is used).
    pub connector_id: String,
    /// Labels (empty when not given).
    pub labels: Labels,
    /// The secret for `api_key` / `basic` connectors.
    pub credentials: Option<SuppliedCredentials>,
    /// The narrowing policy, if any.
    pub policy: Option<Policy>,
}

/// `PATCH /tenants/{tid}/connections/{cid}` body; `None` = unchanged.
#[derive(Debug, PartialEq, Eq)]
pub struct ConnectionPatch {
    /// The new label set (replaces the old one whole).
    pub labels: Option<Labels>,
    /// A new secret (rotation).
    pub credentials: Option<SuppliedCredentials>,
    /// `Some(None)`: `"policy": null` clears the policy.
    pub policy: Option<Option<Policy>>,
}

impl ConnectionPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.credentials.is_none() && self.policy.is_none()
    }
}

/// Whether `id` is a valid connector id: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_connector_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_label_key(k: &str) -> bool {
    (1..=64).contains(&k.len())
        && k.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

fn object(v: &Value) -> Result<&Map<String, Value>, Vec<ConfigError>> {
    v.as_object().ok_or_else(|| {
        vec![ConfigError {
            path: String::new(),
            message: "the body must be a JSON object".into(),
        }]
    })
}

/// Refuses server-owned fields and marks them known so they are not also "unknown".
fn refuse_read_only(obj: &Map<String, Value>, f: &mut Fields<'_>, diags: &mut Diagnostics) {
    for key in READ_ONLY {
        let _ = f.raw(key);
        if obj.contains_key(key) {
            diags.error(key, "is read-only");
        }
    }
}

fn labels(v: &Value, diags: &mut Diagnostics) -> Option<Labels> {
    let Value::Object(m) = v else {
        diags.error("labels", "must be an object of strings");
        return None;
    };
    let start = diags.len();
    if m.len() > MAX_LABELS {
        diags.error("labels", format!("must have at most {MAX_LABELS} entries"));
    }
    let mut out = Labels::new();
    for (k, val) in m {
        let p = field("labels", k);
        if !valid_label_key(k) {
            diags.error(p, "key must match ^[a-z0-9_.-]{1,64}$");
            continue;
        }
        match val {
            Value::String(s) if s.len() <= MAX_LABEL_VALUE && !s.chars().any(char::is_control) => {
                out.insert(k.clone(), s.clone());
            }
            Value::String(_) => diags.error(
                p,
                format!("must be at most {MAX_LABEL_VALUE} bytes without control characters"),
            ),
            _ => diags.error(p, "must be a string"),
        }
    }
    (diags.len() == start).then_some(out)
}

/// One credential string: 1..=4096 bytes, no control characters.
fn credential_string(
    f: &mut Fields<'_>,
    key: &'static str,
    diags: &mut Diagnostics,
) -> Option<String> {
    let s = f.required_string(key, diags)?;
    if s.is_empty() || s.len() > MAX_CREDENTIAL_BYTES || s.chars().any(char::is_control) {
        diags.error(
            f.path_of(key),
            format!("must be 1 to {MAX_CREDENTIAL_BYTES} bytes without control characters"),
        );
        return None;
    }
    Some(s.to_string())
}

fn credentials(v: &Value, diags: &mut Diagnostics) -> Option<SuppliedCredentials> {
    let start = diags.len();
    let mut f = Fields::new(Some(v), "credentials", diags);
    let has_key = f.has("api_key");
    let has_user = f.has("username") || f.has("password");
    let out = match (has_key, has_user) {
        (true, true) => {
            diags.error(
                "credentials",
                "give either api_key, or username and password, not both",
            );
            None
        }
        (true, false) => {
            credential_string(&mut f, "api_key", diags).map(SuppliedCredentials::ApiKey)
        }
        (false, true) => {
            let username = credential_string(&mut f, "username", diags);
            let password = credential_string(&mut f, "password", diags);
            if username.as_deref().is_some_and(|u| u.contains(':')) {
                diags.error(f.path_of("username"), "must not contain ':'");
            }
            username
                .zip(password)
                .map(|(username, password)| SuppliedCredentials::Basic { username, password })
        }
        (false, false) => {
            if v.is_object() {
                diags.error("credentials", "must hold api_key, or username and password");
            }
            None
        }
    };
    f.finish(diags);
    out.filter(|_| diags.len() == start)
}

fn policy(v: &Value, diags: &mut Diagnostics) -> Option<Policy> {
    match Policy::compile(v, "policy") {
        Ok(p) => Some(p),
        Err(errors) => {
            for e in errors {
                diags.error(e.path, e.message);
            }
            None
        }
    }
}

/// Validates a create body: `connector_id` (required), `labels`, `credentials`
/// (`{api_key}` or `{username, password}`), `policy`; `null` means not given.
/// Whether the credentials fit the connector is [`check_credentials`]'s job.
pub fn connection_create(v: &Value) -> Result<ConnectionCreate, Vec<ConfigError>> {
    let obj = object(v)?;
    let mut diags = Diagnostics::new();
    let mut f = Fields::new(Some(v), "", &mut diags);
    refuse_read_only(obj, &mut f, &mut diags);
    let connector_id = f.required_string("connector_id", &mut diags);
    if connector_id.is_some_and(|id| !valid_connector_id(id)) {
        diags.error("connector_id", "must match ^[A-Za-z0-9_-]{1,64}$");
    }
    let labels = f.raw("labels").map(|l| labels(l, &mut diags));
    let credentials = f
        .raw("credentials")
        .and_then(|c| credentials(c, &mut diags));
    let policy = f.raw("policy").and_then(|p| policy(p, &mut diags));
    f.finish(&mut diags);
    match (connector_id, labels) {
        (Some(id), Some(Some(labels))) if diags.is_empty() => Ok(ConnectionCreate {
            connector_id: id.to_string(),
            labels,
            credentials,
            policy,
        }),
        (Some(id), None) if diags.is_empty() => Ok(ConnectionCreate {
            connector_id: id.to_string(),
            labels: Labels::new(),
            credentials,
            policy,
        }),
        _ => Err(diags.into_errors().0),
    }
}

/// Validates a patch body: `labels` (replaces the set), `credentials` (rotates the
/// secret) and `policy` — where, unlike the others, `null` clears it.
pub fn connection_patch(v: &Value) -> Result<ConnectionPatch, Vec<ConfigError>> {
    let obj = object(v)?;
    let mut diags = Diagnostics::new();
    let mut f = Fields::new(Some(v), "", &mut diags);
    refuse_read_only(obj, &mut f, &mut diags);
    if f.raw("connector_id").is_some() {
        diags.error("connector_id", "cannot be changed; create a new connection");
    }
    let labels = f.raw("labels").map(|l| labels(l, &mut diags));
    let credentials = f
        .raw("credentials")
        .and_then(|c| credentials(c, &mut diags));
    let _ = f.raw("policy");
    let policy = match obj.get("policy") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(p) => Some(policy(p, &mut diags)),
    };
    f.finish(&mut diags);
    if !diags.is_empty() {
        return Err(diags.into_errors().0);
    }
    Ok(ConnectionPatch {
        labels: labels.flatten(),
        credentials,
        policy,
    })
}

/// Checks supplied credentials against the connector's auth: `api_key` connectors
/// need an `api_key` (printable ASCII, with the prefix, when it goes in a header),
/// `basic` ones a username and password, `none` and `oauth2` take none. Errors
/// have path `credentials`. On a patch, call it only when credentials were given.
pub fn check_credentials(
    supplied: Option<&SuppliedCredentials>,
    auth: &AuthSpec,
) -> Result<(), Vec<ConfigError>> {
    let error = |message: String| {
        Err(vec![ConfigError {
            path: "credentials".into(),
            message,
        }])
    };
    match (auth, supplied) {
        (
            AuthSpec::ApiKey {
                placement, prefix, ..
            },
            Some(SuppliedCredentials::ApiKey(key)),
        ) => {
            let ascii = |s: &str| s.bytes().all(|b| b == b'\t' || (0x20..=0x7e).contains(&b));
            if *placement == Placement::Header && !(ascii(prefix) && ascii(key)) {
                return error(
                    "api_key must be printable ASCII: this connector sends it in a header".into(),
                );
            }
            Ok(())
        }
        (AuthSpec::Basic, Some(SuppliedCredentials::Basic { .. }))
        | (AuthSpec::None | AuthSpec::OAuth2(_), None) => Ok(()),
        (AuthSpec::ApiKey { .. }, _) => {
            error("this connector takes credentials {\"api_key\": ..}".into())
        }
        (AuthSpec::Basic, _) => {
            error("this connector takes credentials {\"username\": .., \"password\": ..}".into())
        }
        (AuthSpec::None | AuthSpec::OAuth2(_), Some(_)) => error(format!(
            "are not accepted by a connector with auth type {}",
            auth.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{ClientAuth, OAuth2Spec};
    use serde_json::json;

    fn paths(r: Result<impl std::fmt::Debug, Vec<ConfigError>>) -> Vec<String> {
        r.expect_err("invalid")
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    #[test]
    fn reads_a_full_create_body() {
        let c = connection_create(&json!({
            "connector_id": "cn_Demo-1",
            "labels": { "team": "data", "env.name": "" },
            "credentials": { "api_key": "sk_live_1" },
            "policy": { "methods": ["GET"], "paths": ["/calendar/v3/*"] }
        }))
        .expect("valid");
        assert_eq!(c.connector_id, "cn_Demo-1");
        assert_eq!(c.labels.get("team").map(String::as_str), Some("data"));
        assert_eq!(
            c.credentials,
            Some(SuppliedCredentials::ApiKey("sk_live_1".into()))
        );
        let p = c.policy.expect("policy");
        assert_eq!(
            p.to_json(),
            json!({ "methods": ["GET"], "paths": ["/calendar/v3/*"] })
        );
        let minimal = connection_create(&json!({
            "connector_id": "c", "labels": null, "credentials": null, "policy": null
        }))
        .expect("valid");
        assert!(
            minimal.labels.is_empty() && minimal.credentials.is_none() && minimal.policy.is_none()
        );
        let basic = connection_create(&json!({
            "connector_id": "c", "credentials": { "username": "u", "password": "p:w é" }
        }))
        .expect("valid");
        assert_eq!(
            basic.credentials,
            Some(SuppliedCredentials::Basic {
                username: "u".into(),
                password: "p:w é".into()
            })
        );
    }

    #[test]
    fn create_refusals_name_their_field() {
        assert_eq!(paths(connection_create(&json!([]))), vec![""]);
        assert_eq!(paths(connection_create(&json!({}))), vec!["connector_id"]);
        assert_eq!(
            paths(connection_create(
                &json!({ "connector_id": "a b", "extra": 1, "state": "ready" })
            )),
            vec!["state", "connector_id", "extra"]
        );
        assert_eq!(
            paths(connection_create(
                &json!({ "connector_id": "x".repeat(65) })
            )),
            vec!["connector_id"]
        );
        assert_eq!(
            paths(connection_create(
                &json!({ "connector_id": "c", "labels": { "Bad": "x", "ok": 1, "v": "a\nb", "w": "x".repeat(257) } })
            )),
            vec!["labels.Bad", "labels.ok", "labels.v", "labels.w"]
        );
        let many: Map<String, Value> = (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(
            paths(connection_create(
                &json!({ "connector_id": "c", "labels": many })
            )),
            vec!["labels"]
        );
        assert_eq!(
            paths(connection_create(
                &json!({ "connector_id": "c", "labels": [] })
            )),
            vec!["labels"]
        );
        assert_eq!(
            paths(connection_create(
                &json!({ "connector_id": "c", "policy": { "methods": [] } })
            )),
            vec!["policy.methods"]
        );
    }

    #[test]
    fn credential_refusals_never_echo_the_secret() {
        for (creds, want) in [
            (json!("sk_secret"), vec!["credentials"]),
            (json!({}), vec!["credentials"]),
            (
                json!({ "api_key": "sk_secret", "username": "u" }),
                vec!["credentials"],
            ),
            (
                json!({ "api_key": "sk_secret", "token": "x" }),
                vec!["credentials.token"],
            ),
            (json!({ "api_key": "" }), vec!["credentials.api_key"]),
            (
                json!({ "api_key": "sk_secret\r\n" }),
                vec!["credentials.api_key"],
            ),
            (
                json!({ "api_key": "x".repeat(4097) }),
                vec!["credentials.api_key"],
            ),
            (json!({ "api_key": 5 }), vec!["credentials.api_key"]),
            (
                json!({ "username": "sk_secret" }),
                vec!["credentials.password"],
            ),
            (
                json!({ "password": "sk_secret" }),
                vec!["credentials.username"],
            ),
            (
                json!({ "username": "a:sk_secret", "password": "p" }),
                vec!["credentials.username"],
            ),
            (
                json!({ "username": "u", "password": "sk_secret\u{7f}" }),
                vec!["credentials.password"],
            ),
        ] {
            let errs = connection_create(&json!({ "connector_id": "c", "credentials": creds }))
                .expect_err("invalid");
            let got: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(got, want, "{creds}");
            for e in &errs {
                assert!(!e.message.contains("sk_secret"), "{e}");
            }
        }
        assert!(connection_create(
            &json!({ "connector_id": "c", "credentials": { "api_key": "x".repeat(4096) } })
        )
        .is_ok());
    }

    #[test]
    fn patch_null_clears_only_the_policy() {
        let p = connection_patch(&json!({})).expect("valid");
        assert!(p.is_empty());
        let p = connection_patch(&json!({ "labels": null, "credentials": null })).expect("valid");
        assert!(p.is_empty(), "null labels and credentials are not given");
        let p = connection_patch(&json!({ "policy": null })).expect("valid");
        assert_eq!(p.policy, Some(None));
        assert!(!p.is_empty());
        let p = connection_patch(&json!({ "policy": { "subjects": ["a"] }, "labels": {} }))
            .expect("valid");
        assert!(matches!(p.policy, Some(Some(_))));
        assert_eq!(p.labels, Some(Labels::new()));
        let p = connection_patch(&json!({ "credentials": { "username": "u", "password": "p" } }))
            .expect("valid");
        assert!(p.credentials.is_some());
        assert_eq!(
            paths(connection_patch(
                &json!({ "connector_id": "c", "id": "x", "nope": 1, "policy": 3 })
            )),
            vec!["id", "connector_id", "policy", "nope"]
        );
        assert_eq!(paths(connection_patch(&json!("x"))), vec![""]);
    }

    fn oauth2() -> AuthSpec {
        AuthSpec::OAuth2(OAuth2Spec {
            authorization_url: "https://p.example/a".into(),
            token_url: "https://p.example/t".into(),
            revocation_url: None,
            scopes: vec![],
            pkce: true,
            client_auth: ClientAuth::None,
            client_id: "c".into(),
            return_origins: Vec::new(),
        })
    }

    #[test]
    fn credentials_must_fit_the_auth_type() {
        let header = AuthSpec::ApiKey {
            placement: Placement::Header,
            name: "x-k".into(),
            prefix: "".into(),
        };
        let query = AuthSpec::ApiKey {
            placement: Placement::Query,
            name: "k".into(),
            prefix: "".into(),
        };
        let key = SuppliedCredentials::ApiKey("k".into());
        let accented = SuppliedCredentials::ApiKey("caf\u{e9}".into());
        let basic = SuppliedCredentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        assert!(check_credentials(Some(&key), &header).is_ok());
        assert!(check_credentials(Some(&accented), &query).is_ok());
        assert!(check_credentials(Some(&basic), &AuthSpec::Basic).is_ok());
        assert!(check_credentials(None, &AuthSpec::None).is_ok());
        assert!(check_credentials(None, &oauth2()).is_ok());
        for (supplied, auth) in [
            (None, &header),
            (Some(&basic), &header),
            (Some(&accented), &header),
            (None, &AuthSpec::Basic),
            (Some(&key), &AuthSpec::Basic),
            (Some(&key), &AuthSpec::None),
            (Some(&basic), &oauth2()),
        ] {
            let e = check_credentials(supplied, auth).expect_err("refused");
            assert_eq!(e.len(), 1);
            assert_eq!(e[0].path, "credentials", "{supplied:?} {auth:?}");
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-zA-Z0-9_:/*.-]{0,8}".prop_map(Value::from),
            "\\PC{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            let key = prop_oneof![
                Just("connector_id".to_string()),
                Just("labels".to_string()),
                Just("credentials".to_string()),
                Just("policy".to_string()),
                Just("api_key".to_string()),
                Just("username".to_string()),
                Just("password".to_string()),
                Just("methods".to_string()),
                "[a-z]{1,3}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn prop_bodies_are_total(v in json_value()) {
            let _ = connection_create(&v);
            if let Ok(p) = connection_patch(&v) {
                if let Some(c) = &p.credentials {
                    let _ = check_credentials(Some(c), &AuthSpec::Basic);
                }
            }
        }
    }
}
