//! Tests of connector version validation, the stored form and the host rules.

use super::*;
use serde_json::json;

fn dev() -> UrlRules {
    UrlRules {
        allow_loopback_http: true,
        tenant: None,
    }
}

fn prod() -> UrlRules {
    UrlRules::default()
}

fn tenant() -> UrlRules {
    UrlRules {
        allow_loopback_http: false,
        tenant: Some(TenantRules {
            target_exceptions: vec!["127.0.0.1".into()],
            control_plane_hosts: vec!["api.portico.test".into()],
            ..TenantRules::default()
        }),
    }
}

fn demo() -> Value {
    json!({
        "name": "Demo API",
        "base_url": "https://api.example.com/v1",
        "allowed_hosts": ["uploads.example.com", "*.cdn.example.com"],
        "strip_response_headers": ["set-cookie"],
        "timeout_ms": 30000,
        "auth": { "type": "api_key", "placement": "header", "name": "x-api-key", "prefix": "" }
    })
}

fn oauth() -> Value {
    json!({
        "name": "Calendar",
        "base_url": "https://www.googleapis.com",
        "auth": {
            "type": "oauth2",
            "authorization_url": "https://accounts.example.com/o/oauth2/auth?access_type=offline",
            "token_url": "https://oauth2.example.com/token",
            "scopes": ["https://www.googleapis.com/auth/calendar.readonly", "openid"],
            "client_id": "abc.apps.example.com",
            "client_secret": "s3cret"
        }
    })
}

/// `(path, message)` of every error.
fn errors(body: Value, base: Option<&Value>, rules: &UrlRules) -> Vec<(String, String)> {
    match validate_version(&body, base, rules) {
        Ok(w) => panic!("expected errors, got {w:?}"),
        Err(e) => e.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

fn paths(body: Value, base: Option<&Value>, rules: &UrlRules) -> Vec<String> {
    errors(body, base, rules)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn valid(body: Value, base: Option<&Value>, rules: &UrlRules) -> VersionWrite {
    validate_version(&body, base, rules).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn the_contract_example_is_valid_and_round_trips() {
    let w = valid(demo(), None, &prod());
    assert_eq!(w.client_secret, SecretField::Unchanged);
    let s = &w.spec;
    assert_eq!(s.name, "Demo API");
    assert_eq!(s.base_url.origin, "https://api.example.com");
    assert_eq!(s.base_url.base_path, "/v1");
    assert_eq!(
        s.allowed_hosts,
        vec![
            HostPattern::Exact("uploads.example.com".into()),
            HostPattern::Below("cdn.example.com".into())
        ]
    );
    assert_eq!(
        s.auth,
        AuthSpec::ApiKey {
            placement: Placement::Header,
            name: "x-api-key".into(),
            prefix: String::new()
        }
    );
    assert_eq!(s.to_json(), demo());
    assert_eq!(ConnectorSpec::from_stored(&s.to_json()).as_ref(), Ok(s));
}

#[test]
fn defaults_fill_what_is_left_out() {
    let w = valid(
        json!({"name":"n","base_url":"HTTPS://API.Example.com:443/","auth":{"type":"api_key","name":"X-Key"}}),
        None,
        &prod(),
    );
    let s = w.spec;
    assert_eq!(s.base_url.origin, "https://api.example.com");
    assert_eq!(s.base_url.base_path, "");
    assert!(s.allowed_hosts.is_empty());
    assert_eq!(s.strip_response_headers, vec!["set-cookie"]);
    assert_eq!(s.timeout_ms, DEFAULT_TIMEOUT_MS);
    assert_eq!(
        s.auth,
        AuthSpec::ApiKey {
            placement: Placement::Header,
            name: "x-key".into(),
            prefix: String::new()
        }
    );
    // `null` is "not given".
    let w = valid(
        json!({"name":"n","base_url":"https://a.example.com","allowed_hosts":null,"timeout_ms":null,
               "strip_response_headers":null,"auth":{"type":"none"}}),
        None,
        &prod(),
    );
    assert_eq!(w.spec.strip_response_headers, vec!["set-cookie"]);
    assert_eq!(w.spec.auth, AuthSpec::None);
    let w = valid(
        json!({"name":"n","base_url":"https://a.example.com","strip_response_headers":[],"auth":{"type":"basic"}}),
        None,
        &prod(),
    );
    assert!(w.spec.strip_response_headers.is_empty());
}

#[test]
fn every_problem_at_once_with_its_path() {
    let got = paths(
        json!({
            "name": "",
            "base_url": "ftp://x.example.com",
            "allowed_hosts": ["ok.example.com", "*.com", 5],
            "strip_response_headers": ["bad header"],
            "timeout_ms": 0,
            "colour": "red",
            "auth": {"type": "api_key", "plcement": "header", "placement": "cookie", "prefix": "a\nb"}
        }),
        None,
        &prod(),
    );
    assert_eq!(
        got,
        [
            "name",
            "base_url",
            "allowed_hosts[2]",
            "allowed_hosts[1]",
            "strip_response_headers[0]",
            "timeout_ms",
            "auth.placement",
            "auth.name",
            "auth.prefix",
            "auth.plcement",
            "colour",
        ]
    );
    assert_eq!(
        paths(json!({}), None, &prod()),
        ["name", "base_url", "auth"]
    );
    assert_eq!(paths(json!([1]), None, &prod()), [""]);
    assert_eq!(
        paths(
            json!({"name":"n","base_url":"https://a.example.com","auth":"none"}),
            None,
            &prod()
        ),
        ["auth"]
    );
    assert_eq!(
        paths(
            json!({"name":"n","base_url":"https://a.example.com","auth":{"type":"magic","x":1}}),
            None,
            &prod()
        ),
        ["auth.type"]
    );
    assert_eq!(
        paths(
            json!({"name":"n","base_url":"https://a.example.com","auth":{}}),
            None,
            &prod()
        ),
        ["auth.type"]
    );
    assert_eq!(
        paths(
            json!({"name":"n","base_url":"https://a.example.com","auth":{"type":"basic","name":"x"}}),
            None,
            &prod()
        ),
        ["auth.name"],
        "fields of another auth type are unknown"
    );
    assert_eq!(
        paths(
            json!({"name":"n","base_url":"https://a.example.com","auth":{"type":"none","prefix":null}}),
            None,
            &prod()
        ),
        ["auth.prefix"],
        "an unknown key is refused even when null"
    );
    assert_eq!(
        paths(
            json!({"name":"x".repeat(201),"base_url":"https://a.example.com","timeout_ms":300001,"auth":{"type":"none"}}),
            None,
            &prod()
        ),
        ["name", "timeout_ms"]
    );
    assert_eq!(
        paths(
            json!({"name":"n","base_url":"https://a.example.com","auth":{"type":"none"},"client_secret_set":true}),
            None,
            &prod()
        ),
        ["client_secret_set"]
    );
}

#[test]
fn url_scheme_rules() {
    let with = |url: &str, rules: &UrlRules| {
        validate_version(
            &json!({"name":"n","base_url":url,"auth":{"type":"none"}}),
            None,
            rules,
        )
        .map(|w| w.spec.base_url)
    };
    for url in [
        "http://127.0.0.1:9001",
        "http://localhost:8787/v1",
        "http://[::1]:9000/",
    ] {
        assert!(with(url, &dev()).is_ok(), "{url} in dev");
        assert!(with(url, &prod()).is_err(), "{url} outside dev");
    }
    for (url, want) in [
        ("http://api.example.com", InvalidUrl::Insecure),
        ("http://localhost.evil.com", InvalidUrl::Insecure),
        ("http://127.0.0.2", InvalidUrl::Insecure),
        ("https://user:pw@api.example.com", InvalidUrl::Userinfo),
        ("https://api.example.com@evil.com/", InvalidUrl::Userinfo),
        ("https://api.example.com\\@evil.com/", InvalidUrl::Userinfo),
        ("https://api.example.com/?q=1", InvalidUrl::QueryOrFragment),
        ("https://api.example.com/#f", InvalidUrl::QueryOrFragment),
        ("https://api.example.com/a b", InvalidUrl::Whitespace),
        ("https://api.example.com/\t", InvalidUrl::Whitespace),
        ("https://", InvalidUrl::Host),
        ("https:///x", InvalidUrl::Host),
        ("https://ex%61mple.com", InvalidUrl::Host),
        ("https://1.2.3.4.5/", InvalidUrl::Host),
        ("https://a.example.com:0", InvalidUrl::Port),
        ("https://a.example.com:70000", InvalidUrl::Port),
        ("https://a.example.com/v1/../admin", InvalidUrl::Path),
        ("https://a.example.com/v1/%2e%2e", InvalidUrl::Path),
        ("https://a.example.com/v1/./x", InvalidUrl::Path),
        ("https://a.example.com/v1%2Fx", InvalidUrl::Path),
        ("https://a.example.com/v1\\x", InvalidUrl::Path),
        ("https://a.example.com/%zz", InvalidUrl::Path),
        ("ftp://a.example.com", InvalidUrl::NotHttp),
        ("//a.example.com", InvalidUrl::NotHttp),
        ("javascript:alert(1)", InvalidUrl::NotHttp),
    ] {
        assert_eq!(
            with(url, &dev()),
            Err(vec![ConfigError {
                path: "base_url".into(),
                message: want.to_string()
            }]),
            "{url}"
        );
    }
    let b = with("https://A.example.com.:8443//v1//caf%c3%a9/", &prod()).expect("valid");
    assert_eq!(
        (b.origin.as_str(), b.host.as_str(), b.base_path.as_str()),
        (
            "https://a.example.com:8443",
            "a.example.com",
            "/v1/caf%C3%A9"
        )
    );
}

#[test]
fn tenant_connectors_meet_the_route_target_rules() {
    for url in [
        "https://10.0.0.1/",
        "https://169.254.169.254/",
        "https://2130706433/",
        "https://[::ffff:127.0.0.2]/",
        "https://api.portico.test/",
        "https://x.localhost/",
    ] {
        assert_eq!(
            paths(
                json!({"name":"n","base_url":url,"auth":{"type":"none"}}),
                None,
                &tenant()
            ),
            ["base_url"],
            "{url}"
        );
        // A global connector (control-plane token) is trusted with them.
        assert!(
            validate_version(
                &json!({"name":"n","base_url":url,"auth":{"type":"none"}}),
                None,
                &prod()
            )
            .is_ok(),
            "{url}"
        );
    }
    assert!(
        validate_version(
            &json!({"name":"n","base_url":"https://127.0.0.1/","auth":{"type":"none"}}),
            None,
            &tenant()
        )
        .is_ok(),
        "exception"
    );
    let got = errors(
        json!({"name":"n","base_url":"https://api.example.com","auth":{"type":"none"},
               "allowed_hosts":["192.168.1.1","ok.example.com","*.portico.test","localhost","*.a.localhost","[fd00::1]"]}),
        None,
        &tenant(),
    );
    let got: Vec<_> = got.into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        got,
        [
            "allowed_hosts[0]",
            "allowed_hosts[2]",
            "allowed_hosts[3]",
            "allowed_hosts[4]",
            "allowed_hosts[5]"
        ]
    );
    // The token endpoint is called by Portico: same rules. The authorize URL is
    // only where a browser goes.
    let mut o = oauth();
    o["auth"]["token_url"] = json!("https://10.1.1.1/token");
    o["auth"]["revocation_url"] = json!("https://api.portico.test/revoke");
    o["auth"]["authorization_url"] = json!("https://10.1.1.1/auth");
    assert_eq!(
        paths(o, None, &tenant()),
        ["auth.token_url", "auth.revocation_url"]
    );
}

#[test]
fn allowed_hosts_are_names_or_deep_wildcards() {
    let parse = |raw: &str| HostPattern::parse_allowed(raw, None, false);
    assert_eq!(
        parse("Uploads.Example.COM."),
        Ok(HostPattern::Exact("uploads.example.com".into()))
    );
    assert_eq!(
        parse("*.CDN.example.com"),
        Ok(HostPattern::Below("cdn.example.com".into()))
    );
    assert_eq!(
        parse("127.0.0.1"),
        Ok(HostPattern::Exact("127.0.0.1".into()))
    );
    assert_eq!(parse("[::1]"), Ok(HostPattern::Exact("[::1]".into())));
    for (raw, want) in [
        ("*.com", InvalidHostPattern::ShortWildcard),
        ("*.co.uk", InvalidHostPattern::PublicSuffix("co.uk".into())),
        (
            "*.s3.amazonaws.com",
            InvalidHostPattern::PublicSuffix("s3.amazonaws.com".into()),
        ),
        ("*.1.2.3", InvalidHostPattern::AddressWildcard),
        ("*.[::1]", InvalidHostPattern::AddressWildcard),
        ("a.example.com:443", InvalidHostPattern::Malformed),
        (" a.example.com", InvalidHostPattern::Malformed),
        ("https://a.example.com", InvalidHostPattern::Malformed),
        ("a.example.com/x", InvalidHostPattern::Malformed),
        ("a.*.example.com", InvalidHostPattern::Malformed),
        ("*", InvalidHostPattern::Malformed),
        ("", InvalidHostPattern::Malformed),
        ("1.2.3.4.5", InvalidHostPattern::Malformed),
        ("user@a.example.com", InvalidHostPattern::Malformed),
    ] {
        assert_eq!(parse(raw), Err(want), "{raw:?}");
    }
    // Stored versions are re-read without the (changing) Public Suffix List.
    assert!(HostPattern::parse_allowed("*.co.uk", None, true).is_ok());
    let many: Vec<String> = (0..33).map(|i| format!("h{i}.example.com")).collect();
    assert_eq!(
        paths(
            json!({"name":"n","base_url":"https://a.example.com","auth":{"type":"none"},"allowed_hosts":many}),
            None,
            &prod()
        ),
        ["allowed_hosts"]
    );
    let w = valid(
        json!({"name":"n","base_url":"https://a.example.com","auth":{"type":"none"},"allowed_hosts":["x.example.com","X.example.com"],
               "strip_response_headers":["Set-Cookie","set-cookie","Server"]}),
        None,
        &prod(),
    );
    assert_eq!(w.spec.allowed_hosts.len(), 1, "duplicates merge");
    assert_eq!(w.spec.strip_response_headers, vec!["set-cookie", "server"]);
    let many: Vec<String> = (0..33).map(|i| format!("x-h{i}")).collect();
    assert_eq!(
        paths(
            json!({"name":"n","base_url":"https://a.example.com","auth":{"type":"none"},"strip_response_headers":many}),
            None,
            &prod()
        ),
        ["strip_response_headers"]
    );
}

#[test]
fn api_key_names_and_prefixes() {
    let key = |auth: Value| {
        validate_version(
            &json!({"name":"n","base_url":"https://a.example.com","auth":auth}),
            None,
            &prod(),
        )
        .map(|w| w.spec.auth)
        .map_err(|e| e.into_iter().map(|e| e.path).collect::<Vec<_>>())
    };
    assert_eq!(
        key(json!({"type":"api_key","name":"Authorization","prefix":"Bearer "})),
        Ok(AuthSpec::ApiKey {
            placement: Placement::Header,
            name: "authorization".into(),
            prefix: "Bearer ".into()
        })
    );
    assert_eq!(
        key(json!({"type":"api_key","placement":"query","name":"Api Key"})),
        Ok(AuthSpec::ApiKey {
            placement: Placement::Query,
            name: "Api Key".into(),
            prefix: String::new()
        }),
        "query and body names keep their case and need not be tokens"
    );
    assert!(key(json!({"type":"api_key","placement":"body","name":"key"})).is_ok());
    for name in [
        "host",
        "Content-Length",
        "transfer-encoding",
        "connection",
        "cookie",
        "set-cookie",
        "proxy-authorization",
        "proxy-anything",
        "te",
        "upgrade",
        "keep-alive",
        "expect",
        "bad name",
        "",
    ] {
        assert_eq!(
            key(json!({"type":"api_key","name":name})),
            Err(vec!["auth.name".to_string()]),
            "{name:?}"
        );
    }
    assert_eq!(
        key(json!({"type":"api_key","placement":"query","name":"x".repeat(129)})),
        Err(vec!["auth.name".to_string()])
    );
    assert_eq!(
        key(json!({"type":"api_key","placement":"body","name":"a\u{0}"})),
        Err(vec!["auth.name".to_string()])
    );
    assert_eq!(
        key(json!({"type":"api_key","name":"k","prefix":"x".repeat(65)})),
        Err(vec!["auth.prefix".to_string()])
    );
    assert_eq!(
        key(json!({"type":"api_key","name":"k","prefix":"a\r\n"})),
        Err(vec!["auth.prefix".to_string()])
    );
    assert_eq!(
        key(json!({"type":"api_key","name":"k","placement":7})),
        Err(vec!["auth.placement".to_string()])
    );
    assert_eq!(
        key(json!({"type":"api_key"})),
        Err(vec!["auth.name".to_string()])
    );
}

#[test]
fn oauth2_fields() {
    let w = valid(oauth(), None, &prod());
    assert_eq!(w.client_secret, SecretField::Set("s3cret".into()));
    let AuthSpec::OAuth2(o) = &w.spec.auth else {
        panic!("oauth2 expected")
    };
    assert_eq!(
        o.authorization_url,
        "https://accounts.example.com/o/oauth2/auth?access_type=offline"
    );
    assert_eq!(o.revocation_url, None);
    assert!(o.pkce);
    assert_eq!(o.client_auth, ClientAuth::ClientSecretBasic);
    assert_eq!(o.scopes.len(), 2);
    let stored = w.spec.to_json();
    assert!(stored.to_string().find("s3cret").is_none(), "never stored");
    assert_eq!(ConnectorSpec::from_stored(&stored), Ok(w.spec.clone()));

    let bad = json!({"name":"n","base_url":"https://a.example.com","auth":{
        "type":"oauth2",
        "authorization_url":"https://a.example.com/auth#frag",
        "token_url":"http://a.example.com/token",
        "revocation_url":"https://u@a.example.com/revoke",
        "scopes":["ok", "two words", "quo\"te", ""],
        "pkce":"yes",
        "client_auth":"private_key_jwt",
        "client_id":"",
        "client_secret":""
    }});
    assert_eq!(
        paths(bad, None, &prod()),
        [
            "auth.authorization_url",
            "auth.token_url",
            "auth.revocation_url",
            "auth.scopes[1]",
            "auth.scopes[2]",
            "auth.scopes[3]",
            "auth.pkce",
            "auth.client_auth",
            "auth.client_id",
            "auth.client_secret",
        ]
    );
    let scopes: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
    let mut o = oauth();
    o["auth"]["scopes"] = json!(scopes);
    assert_eq!(paths(o, None, &prod()), ["auth.scopes"]);
    let mut o = oauth();
    o["auth"]["client_id"] = json!("x".repeat(513));
    o["auth"]["client_secret"] = json!("x".repeat(4097));
    assert_eq!(
        paths(o, None, &prod()),
        ["auth.client_id", "auth.client_secret"]
    );
    let mut o = oauth();
    o["auth"].as_object_mut().map(|a| a.remove("token_url"));
    assert_eq!(paths(o, None, &prod()), ["auth.token_url"]);
}

#[test]
fn client_secret_rules() {
    let mut public = oauth();
    public["auth"]["client_auth"] = json!("none");
    assert_eq!(
        paths(public.clone(), None, &prod()),
        ["auth.client_secret"],
        "a public client has no secret"
    );
    public["auth"]
        .as_object_mut()
        .map(|a| a.remove("client_secret"));
    assert_eq!(
        valid(public.clone(), None, &prod()).client_secret,
        SecretField::Unchanged
    );
    public["auth"]["pkce"] = json!(false);
    assert_eq!(
        paths(public, None, &prod()),
        ["auth.pkce"],
        "a public client needs PKCE"
    );

    let mut no_secret = oauth();
    no_secret["auth"]
        .as_object_mut()
        .map(|a| a.remove("client_secret"));
    assert_eq!(
        paths(no_secret.clone(), None, &prod()),
        ["auth.client_secret"]
    );

    // Over a stored version that has one: kept while the client stays the same.
    let mut base = valid(oauth(), None, &prod()).spec.to_json();
    base["client_secret_set"] = json!(true);
    assert_eq!(
        valid(json!({"name":"Renamed"}), Some(&base), &prod()).client_secret,
        SecretField::Unchanged
    );
    assert_eq!(
        valid(no_secret.clone(), Some(&base), &prod()).client_secret,
        SecretField::Unchanged
    );
    let mut other_client = no_secret.clone();
    other_client["auth"]["client_id"] = json!("another-client");
    assert_eq!(
        paths(other_client.clone(), Some(&base), &prod()),
        ["auth.client_secret"]
    );
    other_client["auth"]["client_secret"] = json!("new");
    assert_eq!(
        valid(other_client, Some(&base), &prod()).client_secret,
        SecretField::Set("new".into())
    );
    // Leaving oauth2 (or becoming a public client) clears it.
    assert_eq!(
        valid(json!({"auth":{"type":"basic"}}), Some(&base), &prod()).client_secret,
        SecretField::Clear
    );
    let mut public = no_secret.clone();
    public["auth"]["client_auth"] = json!("none");
    assert_eq!(
        valid(public, Some(&base), &prod()).client_secret,
        SecretField::Clear
    );
    // Nothing stored: nothing to clear.
    base["client_secret_set"] = json!(false);
    assert_eq!(
        valid(json!({"auth":{"type":"basic"}}), Some(&base), &prod()).client_secret,
        SecretField::Unchanged
    );
    assert_eq!(
        paths(no_secret, Some(&base), &prod()),
        ["auth.client_secret"]
    );
}

#[test]
fn a_body_applies_over_its_base() {
    let base = valid(demo(), None, &prod()).spec.to_json();
    let w = valid(
        json!({"timeout_ms": 5000, "name": null, "allowed_hosts": []}),
        Some(&base),
        &prod(),
    );
    assert_eq!(w.spec.timeout_ms, 5000);
    assert_eq!(w.spec.name, "Demo API", "null keeps the base's value");
    assert!(w.spec.allowed_hosts.is_empty());
    assert_eq!(w.spec.auth.type_name(), "api_key");
    // `auth` is replaced whole: the base's placement does not leak into it.
    let w = valid(
        json!({"auth": {"type":"api_key","name":"k"}}),
        Some(&base),
        &prod(),
    );
    assert_eq!(
        w.spec.auth,
        AuthSpec::ApiKey {
            placement: Placement::Header,
            name: "k".into(),
            prefix: String::new()
        }
    );
    assert_eq!(
        paths(json!({"auth": {"type":"oauth2"}}), Some(&base), &prod()),
        ["auth.authorization_url", "auth.token_url", "auth.client_id"]
    );
    assert_eq!(
        paths(json!({"auth": {"placement":"query"}}), Some(&base), &prod()),
        ["auth.type"]
    );
    assert_eq!(
        paths(json!({"nme": "x", "colour": null}), Some(&base), &prod()),
        ["colour", "nme"]
    );
    assert_eq!(paths(json!({}), Some(&json!("garbage")), &prod()), [""]);
    // Rules apply to the whole result: a tenant base now pointing somewhere refused.
    let local = json!({"name":"n","base_url":"http://127.0.0.1:9","auth":{"type":"none"}});
    let stored = valid(local, None, &dev()).spec.to_json();
    assert_eq!(
        paths(json!({"name":"m"}), Some(&stored), &prod()),
        ["base_url"]
    );
}

#[test]
fn secrets_never_show_in_debug() {
    let w = valid(oauth(), None, &prod());
    let shown = format!("{w:?} {:?}", SecretField::Set("s3cret".into()));
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("Set(<redacted>)"));
}

#[test]
fn from_stored_rereads_loopback_and_refuses_garbage() {
    let local = valid(
        json!({"name":"n","base_url":"http://127.0.0.1:9001/base","auth":{"type":"api_key","placement":"query","name":"key"},"client_secret_set":null}),
        None,
        &dev(),
    )
    .spec;
    let mut stored = local.to_json();
    stored["client_secret_set"] = json!(false);
    assert_eq!(ConnectorSpec::from_stored(&stored), Ok(local));
    assert!(ConnectorSpec::from_stored(&json!({"name":"n"})).is_err());
    assert!(ConnectorSpec::from_stored(&json!(null)).is_err());
}

#[test]
fn credentials_go_only_to_allowed_hosts_over_https() {
    let s = valid(demo(), None, &prod()).spec;
    for (host, ok) in [
        ("api.example.com", true),
        ("API.Example.com", true),
        ("api.example.com:8443", true),
        ("uploads.example.com", true),
        ("a.cdn.example.com", true),
        ("a.b.cdn.example.com", true),
        ("cdn.example.com", false),
        ("xcdn.example.com", false),
        ("example.com", false),
        ("evil.com", false),
        ("api.example.com.evil.com", false),
        ("", false),
        ("a b", false),
    ] {
        assert_eq!(s.allows_host(host), ok, "{host:?}");
    }
    for (url, ok) in [
        ("https://api.example.com/v1/x?y=1", true),
        ("HTTPS://API.EXAMPLE.COM", true),
        ("https://a.cdn.example.com/file", true),
        ("https://uploads.example.com:8443/", true),
        ("http://api.example.com/v1", false),
        ("https://user@api.example.com/", false),
        ("https://api.example.com@evil.com/", false),
        ("https://evil.com/api.example.com", false),
        ("https://evil.com?.api.example.com", false),
        ("https://evil.com#.api.example.com", false),
        ("https://evil.com\\.api.example.com", false),
        ("https://api.example.com\\@evil.com", false),
        ("https://api.example\t.com/", false),
        ("//api.example.com/", false),
        ("api.example.com", false),
        ("ftp://api.example.com/", false),
        ("https://", false),
    ] {
        assert_eq!(s.allows_url(url), ok, "{url:?}");
    }
    let local = valid(
        json!({"name":"n","base_url":"http://localhost:9001","allowed_hosts":["127.0.0.1","[::1]"],"auth":{"type":"none"}}),
        None,
        &dev(),
    )
    .spec;
    assert!(local.allows_url("http://localhost:9001/x"));
    assert!(local.allows_url("http://127.0.0.1:1/"));
    assert!(local.allows_url("http://[::1]:1/"));
    assert!(!local.allows_url("http://evil.com/"));
}
