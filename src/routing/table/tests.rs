use super::*;
use crate::host::HostPattern;
use crate::routing::filters::MethodSet;
use regex_lite::Regex;

use crate::routing::testing::{get, Req};

fn route(path: &str, name: &'static str) -> TableRoute<&'static str> {
    TableRoute {
        path: PathPattern::parse(path).expect("valid pattern"),
        spec: MatchSpec::default(),
        payload: name,
    }
}

fn table(routes: Vec<TableRoute<&'static str>>) -> RouteTable<&'static str> {
    RouteTable::build(routes).expect("indexable")
}

fn pick(t: &RouteTable<&'static str>, path: &str) -> Option<&'static str> {
    t.select(path, &get()).map(|m| *m.route)
}

#[test]
fn every_pattern_form_matches_as_documented() {
    // (pattern, matching paths, non-matching paths)
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "/api/*",
            &["/api", "/api/", "/api/x", "/api/x/y"],
            &["/apix", "/ap", "/"],
        ),
        (
            "/api*",
            &["/api", "/apix", "/api/", "/api/x/y"],
            &["/ap", "/xapi"],
        ),
        (
            "/users/:id",
            &["/users/1", "/users/abc"],
            &["/users", "/users/", "/users/1/x"],
        ),
        (
            "/users/:id?",
            &["/users", "/users/7"],
            &["/users/7/x", "/users/"],
        ),
        (
            "/post/:id{[0-9]+}",
            &["/post/1", "/post/123"],
            &["/post/x1", "/post/", "/post/1a"],
        ),
        ("/*", &["/", "/a", "/a/b/c"], &[]),
        ("*", &["/", "/anything/at/all"], &[]),
        ("/about", &["/about"], &["/about/", "/About", "/about/x"]),
        ("/about/", &["/about/"], &["/about"]),
        ("/a/*/c", &["/a/b/c"], &["/a/c", "/a/b/d"]),
    ];
    for (pattern, yes, no) in cases {
        let t = table(vec![route(pattern, "r")]);
        for p in *yes {
            assert_eq!(pick(&t, p), Some("r"), "{pattern} should match {p}");
        }
        for p in *no {
            assert_eq!(pick(&t, p), None, "{pattern} should not match {p}");
        }
    }
}

#[test]
fn params_are_returned_by_name() {
    let t = table(vec![route("/orgs/:org/users/:id{[0-9]+}", "r")]);
    let m = t.select("/orgs/acme/users/42", &get()).expect("match");
    assert_eq!(
        m.params,
        vec![
            ("org".to_string(), "acme".to_string()),
            ("id".to_string(), "42".to_string())
        ]
    );
}

#[test]
fn priority_order_wins_over_specificity() {
    // Routes come in priority order; a broad early route beats a specific later one.
    let t = table(vec![
        route("/*", "catch-all"),
        route("/users/:id", "user"),
        route("/users/me", "me"),
    ]);
    assert_eq!(pick(&t, "/users/me"), Some("catch-all"));
    let t = table(vec![
        route("/users/me", "me"),
        route("/users/:id", "user"),
        route("/*", "catch-all"),
    ]);
    assert_eq!(pick(&t, "/users/me"), Some("me"));
    assert_eq!(pick(&t, "/users/7"), Some("user"));
    assert_eq!(pick(&t, "/other"), Some("catch-all"));
    let t = table(vec![route("/users/:id", "user"), route("/users/me", "me")]);
    assert_eq!(pick(&t, "/users/me"), Some("user"));
}

#[test]
fn same_shape_routes_share_an_entry_and_keep_order() {
    let mut a = route("/x/:a", "needs-header");
    a.spec.headers = vec![("x-beta".into(), Regex::new("1").expect("re"))];
    let b = route("/x/:b", "plain");
    let t = table(vec![a, b]);
    assert_eq!(t.layer_count(), 1);
    assert_eq!(
        pick(&t, "/x/1"),
        Some("plain"),
        "failed filter falls through"
    );
    let mut beta = get();
    beta.headers.push(("x-beta", "1"));
    assert_eq!(
        t.select("/x/1", &beta).map(|m| *m.route),
        Some("needs-header")
    );
    let m = t.select("/x/9", &get()).expect("match");
    assert_eq!(m.params, vec![("b".to_string(), "9".to_string())]);
}

#[test]
fn failed_constraint_falls_through() {
    let t = table(vec![
        route("/post/:id{[0-9]+}", "numeric"),
        route("/post/:slug", "slug"),
    ]);
    assert_eq!(pick(&t, "/post/12"), Some("numeric"));
    assert_eq!(pick(&t, "/post/hello"), Some("slug"));
}

#[test]
fn methods_hosts_and_query_fall_through() {
    let mut post_only = route("/*", "post");
    post_only.spec.methods = MethodSet::from_names(["POST"]);
    let mut other_host = route("/*", "other-host");
    other_host.spec.hosts = vec![HostPattern::parse("other.com").expect("h")];
    let mut q = route("/*", "query");
    q.spec.query = vec![("debug".into(), Regex::new("^1$").expect("re"))];
    let mut get_only = route("/*", "get");
    get_only.spec.methods = MethodSet::from_names(["GET"]);
    let t = table(vec![post_only, other_host, q, get_only]);
    assert_eq!(pick(&t, "/x"), Some("get"));
    let head = Req {
        method: "HEAD",
        ..get()
    };
    assert_eq!(
        t.select("/x", &head).map(|m| *m.route),
        Some("get"),
        "GET answers HEAD"
    );
    let with_q = Req {
        query: "debug=1",
        ..get()
    };
    assert_eq!(t.select("/x", &with_q).map(|m| *m.route), Some("query"));
    let put = Req {
        method: "PUT",
        ..get()
    };
    assert_eq!(t.select("/x", &put).map(|m| *m.route), None);
}

#[test]
fn overlapping_patterns_all_stay_reachable() {
    let t = table(vec![
        route("/api/v1/users/:id", "a"),
        route("/api/v1/*", "b"),
        route("/api*", "c"),
        route("/:section/v1/users/:id", "d"),
        route("/*", "e"),
    ]);
    assert!(t.layer_count() >= 2);
    assert_eq!(pick(&t, "/api/v1/users/1"), Some("a"));
    assert_eq!(pick(&t, "/api/v1/other"), Some("b"));
    assert_eq!(pick(&t, "/apix"), Some("c"));
    assert_eq!(pick(&t, "/web/v1/users/1"), Some("d"));
    assert_eq!(pick(&t, "/"), Some("e"));
}

#[test]
fn thousands_of_disjoint_routes_stay_in_one_layer() {
    let mut routes = Vec::new();
    for i in 0..3000 {
        let name: &'static str = Box::leak(format!("r{i}").into_boxed_str());
        let path = match i % 3 {
            0 => format!("/svc{i}/items"),
            1 => format!("/svc{i}/items/:id"),
            _ => format!("/svc{i}/*"),
        };
        routes.push(route(&path, name));
    }
    let t = table(routes);
    assert_eq!(t.layer_count(), 1);
    assert_eq!(pick(&t, "/svc2999/deep/path"), Some("r2999"));
    assert_eq!(pick(&t, "/svc1/items/5"), Some("r1"));
    assert_eq!(pick(&t, "/svc0/items"), Some("r0"));
    assert_eq!(pick(&t, "/nope"), None);
}

#[test]
fn matching_is_case_sensitive() {
    let t = table(vec![route("/Admin", "r")]);
    assert_eq!(pick(&t, "/Admin"), Some("r"));
    assert_eq!(pick(&t, "/admin"), None);
}
