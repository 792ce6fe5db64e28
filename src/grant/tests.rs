use super::*;
use crate::connector::{validate_version, UrlRules};
use crate::vault::Secret;
use serde_json::json;
use std::rc::Rc;

fn spec(auth: serde_json::Value) -> Rc<ConnectorSpec> {
    let body = json!({
        "name": "Calendar",
        "base_url": "https://api.example.com/v1",
        "allowed_hosts": ["uploads.example.com"],
        "auth": auth,
    });
    let rules = UrlRules {
        allow_loopback_http: false,
        tenant: None,
    };
    Rc::new(validate_version(&body, None, &rules).expect("valid").spec)
}

fn grant(auth: serde_json::Value, cred: Option<Credential>, policy: Option<Policy>) -> Grant {
    Grant {
        tenant_id: "acme".into(),
        connection_id: "conn_1".into(),
        connector_id: "cn_1".into(),
        connector_version: 1,
        state: ConnectionState::Ready,
        spec: spec(auth),
        policy: policy.map(Rc::new),
        credential: cred,
        token_refresh_at_ms: None,
    }
}

fn key(k: &str) -> Option<Credential> {
    Some(Credential::ApiKey(Secret::new(k.as_bytes().to_vec())))
}

fn call<'a>(method: &'a str, url: &'a str) -> Use<'a> {
    Use {
        method,
        url,
        subject: Some("agent-7"),
        scopes: Some("calendar:read"),
    }
}

#[test]
fn injects_only_for_allowed_hosts_over_https() {
    let g = grant(
        json!({"type": "api_key", "name": "x-api-key", "prefix": "Key "}),
        key("s3cret"),
        None,
    );
    let inj = g
        .authorize(&call("GET", "https://api.example.com/v1/events?x=1"))
        .expect("allowed");
    let (name, value) = inj.header.expect("header");
    assert_eq!((name.as_str(), value.as_str()), ("x-api-key", "Key s3cret"));
    assert!(g
        .authorize(&call("GET", "https://uploads.example.com/up"))
        .is_ok());
    for elsewhere in [
        "https://evil.com/v1/events",
        "http://api.example.com/v1/events",
        "https://api.example.com.evil.com/v1",
        "https://user@api.example.com/v1",
        "https://example.com/v1",
    ] {
        assert_eq!(
            g.authorize(&call("GET", elsewhere)).err(),
            Some(GrantRefusal::HostNotAllowed),
            "{elsewhere}"
        );
    }
}

#[test]
fn state_and_policy_refuse_before_any_injection() {
    let mut g = grant(json!({"type": "api_key", "name": "k"}), key("s"), None);
    g.state = ConnectionState::Disconnected;
    assert_eq!(
        g.authorize(&call("GET", "https://api.example.com/v1/a"))
            .err(),
        Some(GrantRefusal::NotReady("disconnected"))
    );
    let policy = Policy::compile(
        &json!({"methods": ["GET"], "paths": ["/calendar/v3/*"], "subjects": ["agent-7"]}),
        "policy",
    )
    .expect("policy");
    let g = grant(
        json!({"type": "api_key", "name": "k"}),
        key("s"),
        Some(policy),
    );
    assert!(g
        .authorize(&call(
            "GET",
            "https://api.example.com/v1/calendar/v3/events"
        ))
        .is_ok());
    assert!(matches!(
        g.authorize(&call(
            "POST",
            "https://api.example.com/v1/calendar/v3/events"
        )),
        Err(GrantRefusal::Policy(_))
    ));
    assert!(matches!(
        g.authorize(&call("GET", "https://api.example.com/v1/gmail/v1/x")),
        Err(GrantRefusal::Policy(_))
    ));
    let stranger = Use {
        subject: Some("someone-else"),
        ..call("GET", "https://api.example.com/v1/calendar/v3/events")
    };
    assert!(matches!(
        g.authorize(&stranger),
        Err(GrantRefusal::Policy(_))
    ));
}

#[test]
fn policy_paths_are_under_the_base_path() {
    let g = grant(json!({"type": "none"}), None, None);
    assert_eq!(
        g.path_under_base("https://api.example.com/v1/calendar/v3/e?q=1"),
        "/calendar/v3/e"
    );
    assert_eq!(g.path_under_base("https://api.example.com/v1"), "/");
    // A path that only shares a prefix with the base path is not under it.
    assert_eq!(g.path_under_base("https://api.example.com/v10/x"), "/v10/x");
    assert_eq!(g.path_under_base("https://uploads.example.com/up"), "/up");
}

#[test]
fn a_credential_of_the_wrong_kind_is_refused() {
    let g = grant(json!({"type": "basic"}), key("only-a-key"), None);
    assert!(matches!(
        g.authorize(&call("GET", "https://api.example.com/v1/a")),
        Err(GrantRefusal::Inject(_))
    ));
    let g = grant(json!({"type": "none"}), None, None);
    let inj = g
        .authorize(&call("GET", "https://api.example.com/v1/a"))
        .expect("none");
    assert!(inj.header.is_none() && inj.query.is_none() && inj.body_field.is_none());
    // Debug never shows the credential.
    let g = grant(
        json!({"type": "api_key", "name": "k"}),
        key("TOPSECRET"),
        None,
    );
    assert!(!format!("{g:?}").contains("TOPSECRET"));
}

fn oauth() -> serde_json::Value {
    json!({
        "type": "oauth2",
        "authorization_url": "https://idp.example.com/authorize",
        "token_url": "https://idp.example.com/token",
        "scopes": ["read"],
        "client_auth": "none",
        "client_id": "app",
    })
}

fn bearer(t: &str) -> Option<Credential> {
    Some(Credential::Bearer(Secret::new(t.as_bytes().to_vec())))
}

#[test]
fn an_oauth_token_is_due_without_one_or_from_its_refresh_time() {
    let mut g = grant(oauth(), bearer("at-1"), None);
    assert!(
        !g.token_due(1_000.0),
        "no refresh time known: used until a 401"
    );
    g.token_refresh_at_ms = Some(5_000.0);
    assert!(!g.token_due(4_999.0));
    assert!(g.token_due(5_000.0));
    let none = grant(oauth(), None, None);
    assert!(none.token_due(0.0), "ready without a token: ask the keeper");
    let mut pending = grant(oauth(), None, None);
    pending.state = ConnectionState::Pending;
    assert!(!pending.token_due(0.0), "not ready: refused, not renewed");
    let key = grant(
        json!({"type": "api_key", "placement": "header", "name": "x-key"}),
        key("k"),
        None,
    );
    assert!(!key.token_due(f64::MAX), "only OAuth2 tokens are renewed");
}

#[test]
fn a_renewed_grant_keeps_everything_but_the_token() {
    let mut g = grant(oauth(), bearer("at-1"), None);
    g.token_refresh_at_ms = Some(1.0);
    assert_eq!(
        g.token_hash(),
        Some(crate::oauth::keeper::token_hash("at-1"))
    );
    let r = g.with_token(Credential::Bearer(Secret::new(b"at-2".to_vec())), Some(9.0));
    assert_eq!(
        r.token_hash(),
        Some(crate::oauth::keeper::token_hash("at-2"))
    );
    assert_eq!(r.token_refresh_at_ms, Some(9.0));
    assert!(!r.token_due(5.0));
    assert_eq!(
        (r.tenant_id.as_str(), r.connection_id.as_str()),
        ("acme", "conn_1")
    );
    assert!(Rc::ptr_eq(&r.spec, &g.spec));
    let inj = r
        .authorize(&Use {
            method: "GET",
            url: "https://api.example.com/v1/x",
            subject: None,
            scopes: None,
        })
        .expect("authorized");
    let (name, value) = inj.header.expect("header");
    assert_eq!(
        (name.as_str(), value.as_str()),
        ("authorization", "Bearer at-2")
    );
    assert_eq!(grant(oauth(), key("k"), None).token_hash(), None);
}
