//! `credentials` through the whole plan: the need, the checks against the
//! terminal's URL, the injection, and each refusal sending nothing.

use super::*;
use crate::connection::policy::Policy;
use crate::connection::ConnectionState;
use crate::connector::{validate_version, UrlRules};
use crate::grant::Grant;
use crate::request::CredentialFailure;
use crate::vault::{Credential, Secret};

fn connector(auth: Value) -> Rc<crate::connector::ConnectorSpec> {
    let body = json!({
        "name": "Origin API",
        "base_url": "https://origin.example/base",
        "auth": auth,
    });
    let rules = UrlRules {
        allow_loopback_http: false,
        tenant: None,
    };
    Rc::new(validate_version(&body, None, &rules).expect("valid").spec)
}

fn grant(auth: Value, policy: Option<Value>, state: ConnectionState) -> Grant {
    Grant {
        tenant_id: "acme".into(),
        connection_id: "conn_1".into(),
        connector_id: "cn_1".into(),
        connector_version: 1,
        state,
        spec: connector(auth),
        policy: policy.map(|p| Rc::new(Policy::compile(&p, "policy").expect("policy"))),
        credential: Some(Credential::ApiKey(Secret::new(b"k-123".to_vec()))),
        token_refresh_at_ms: None,
    }
}

fn opened(g: Grant) -> impl Fn(&Need) -> Prefetched {
    let g = Rc::new(g);
    move |n: &Need| {
        let mut p = Prefetched::new();
        if let Need::Credential { connection_id } = n {
            let r = if connection_id == "conn_1" {
                Ok(g.clone())
            } else {
                Err(NeedError::Credential(CredentialFailure::NotFound))
            };
            p.put_grant(connection_id.clone(), r);
        }
        p
    }
}

fn creds_doc(connection: &str, upstream: &str) -> StaticDocument {
    doc(json!([route(
        "/*",
        json!([
            {"type": "cors"},
            {"type": "credentials", "options": {"connection_id": connection}},
            {"type": "http", "options": {"upstream_url": upstream}}
        ])
    )]))
}

fn with_auth() -> HeaderList {
    host("app.example.com")
        .with("authorization", "Bearer caller-token")
        .with("cookie", "sid=1")
        .with("origin", "https://site.example")
}

#[test]
fn injects_the_key_and_drops_the_callers_credentials() {
    let d = creds_doc("conn_1", "https://origin.example/base");
    let g = grant(
        json!({"type": "api_key", "name": "authorization", "prefix": "Bearer "}),
        None,
        ConnectionState::Ready,
    );
    let (call, up, _) = run_with(
        &d,
        "GET",
        "https://app.example.com/x",
        with_auth(),
        &opened(g),
    )
    .call();
    assert_eq!(call.url, "https://origin.example/base/x");
    assert_eq!(up.get("authorization").as_deref(), Some("Bearer k-123"));
    assert_eq!(up.get("cookie"), None);
}

#[test]
fn query_placement_replaces_a_smuggled_parameter() {
    let d = creds_doc("conn_1", "https://origin.example/base");
    let g = grant(
        json!({"type": "api_key", "placement": "query", "name": "key"}),
        None,
        ConnectionState::Ready,
    );
    let (call, up, _) = run_with(
        &d,
        "GET",
        "https://app.example.com/x?key=mine&a=1",
        with_auth(),
        &opened(g),
    )
    .call();
    assert_eq!(call.url, "https://origin.example/base/x?a=1&key=k-123");
    assert_eq!(up.get("authorization"), None);
}

#[test]
fn refusals_send_nothing_and_pass_through_cors() {
    let cases: Vec<(StaticDocument, Grant, u16, &str)> = vec![
        // The terminal points elsewhere than the connector allows.
        (
            creds_doc("conn_1", "https://elsewhere.example/"),
            grant(
                json!({"type": "api_key", "name": "k"}),
                None,
                ConnectionState::Ready,
            ),
            502,
            "credentials_failed",
        ),
        // Another tenant's (or an unknown) connection.
        (
            creds_doc("conn_other", "https://origin.example/base"),
            grant(
                json!({"type": "api_key", "name": "k"}),
                None,
                ConnectionState::Ready,
            ),
            502,
            "credentials_failed",
        ),
        (
            creds_doc("conn_1", "https://origin.example/base"),
            grant(
                json!({"type": "api_key", "name": "k"}),
                None,
                ConnectionState::Disconnected,
            ),
            409,
            "connection_not_ready",
        ),
        (
            creds_doc("conn_1", "https://origin.example/base"),
            grant(
                json!({"type": "api_key", "name": "k"}),
                Some(json!({"methods": ["POST"]})),
                ConnectionState::Ready,
            ),
            403,
            "policy_denied",
        ),
    ];
    for (d, g, status, code) in cases {
        let (res, err) = match run_with(
            &d,
            "GET",
            "https://app.example.com/x",
            with_auth(),
            &opened(g),
        ) {
            Outcome::Respond(r, e) => (r, e),
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(res.status, status, "{code}");
        assert_eq!(res.headers.get("x-portico-error").as_deref(), Some(code));
        assert!(err.is_some());
        // The response phase of cors ran over the refusal.
        assert_eq!(
            res.headers.get("access-control-allow-origin").as_deref(),
            Some("*")
        );
        assert!(!res.body.contains("k-123"));
    }
}

#[test]
fn vault_unavailable_is_503_and_header_sources_are_read() {
    let d = creds_doc("{header:x-connection}", "https://origin.example/base");
    let down = |n: &Need| {
        let mut p = Prefetched::new();
        if let Need::Credential { connection_id } = n {
            assert_eq!(connection_id, "conn_9");
            p.put_grant(
                connection_id.clone(),
                Err(NeedError::Credential(CredentialFailure::VaultUnavailable)),
            );
        }
        p
    };
    let res = run_with(
        &d,
        "GET",
        "https://app.example.com/x",
        with_auth().with("x-connection", "conn_9"),
        &down,
    )
    .response();
    assert_eq!(res.status, 503);
    assert_eq!(
        res.headers.get("x-portico-error").as_deref(),
        Some("vault_unavailable")
    );
    // No connection named: nothing to open, and the request fails closed.
    let res = run_with(&d, "GET", "https://app.example.com/x", with_auth(), &down).response();
    assert_eq!(res.status, 502);
}

#[test]
fn write_time_rules() {
    let compile = |handlers: Value| {
        let raw = json!({ "hosts": { "a.example": { "tenant_id": "t", "routes": [route("/*", handlers)] } } });
        StaticDocument::parse(
            &raw.to_string(),
            Some(&AllBindings),
            &RouteLimits::default(),
        )
    };
    let claim = compile(json!([
        {"type": "credentials", "options": {"connection_id": "{claim:conn}"}},
        origin()
    ]));
    assert!(claim.is_err(), "a claim source needs a jwt before it");
    let not_http = compile(json!([
        {"type": "credentials", "options": {"connection_id": "conn_1"}},
        {"type": "static", "options": {"body": "x"}}
    ]));
    assert!(not_http.is_err(), "credentials need an http terminal");
    let bad = compile(json!([
        {"type": "credentials", "options": {"connection_id": "../x"}},
        origin()
    ]));
    let errors = bad.expect_err("refused");
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.path.ends_with("handlers[0].options.connection_id")),
        "{errors:?}"
    );
}
