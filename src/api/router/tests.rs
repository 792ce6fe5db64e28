//! Operation matching: the real table, and a test-only table with the shapes the
//! credential vault will add (`ANY` and a `{*path}` catch-all).

use super::*;
use crate::api::operations::{spec, Op, OpMethod};

#[test]
fn routes_and_params() {
    let m = route("GET", "/tenants/acme/routes/rt_1").expect("match");
    assert_eq!(m.spec.op, Op::GetRoute);
    assert_eq!(m.param("tid"), "acme");
    assert_eq!(m.param("rid"), "rt_1");
    assert_eq!(
        route("GET", "/tenants/").map(|m| m.spec.op),
        Ok(Op::ListTenants)
    );
    assert_eq!(
        route("GET", "/control-plane/hosts/a.example.com").map(|m| m.param("host").to_string()),
        Ok("a.example.com".to_string())
    );
    assert_eq!(
        route("GET", "/tenants/ac%6De").map(|m| m.param("tid").to_string()),
        Ok("acme".to_string())
    );
    assert_eq!(
        route("PUT", "/tenants/acme").err(),
        Some(OpMatchError::MethodNotAllowed("GET, PATCH, DELETE".into()))
    );
    assert_eq!(
        route("HEAD", "/tenants").err(),
        Some(OpMatchError::MethodNotAllowed("GET, POST".into()))
    );
    assert_eq!(
        route("POST", "/tenants/acme/domains/dom_1/_verify").map(|m| m.spec.op),
        Ok(Op::VerifyDomain)
    );
    for refused in [
        "/nope",
        "",
        "/tenants/a/b/c/d",
        "/tenants//routes",
        "/tenants/%zz/routes",
    ] {
        assert_eq!(
            route("GET", refused).err(),
            Some(OpMatchError::NotFound),
            "{refused}"
        );
    }
}

/// The vault's proxy row, on a table of its own: `Op::ListAudit` stands in for the
/// operation it will add.
static VAULT_SHAPES: [OpSpec; 2] = [
    spec(
        Op::GetTenant,
        OpMethod::Get,
        "/tenants/{tid}/connections/{cid}",
        Some("connections:read"),
        false,
    ),
    spec(
        Op::ListAudit,
        OpMethod::Any,
        "/tenants/{tid}/connections/{cid}/proxy/{*path}",
        Some("connections:proxy"),
        false,
    ),
];

#[test]
fn any_method_and_catch_all_rows_route() {
    let table = OpTable::new(&VAULT_SHAPES).expect("indexes");
    for method in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
        let m = table
            .at(
                method,
                "/tenants/acme/connections/c_1/proxy/v1/repos/a%2Fb/issues",
            )
            .expect("routes");
        assert_eq!(m.spec.op, Op::ListAudit);
        assert_eq!(m.param("tid"), "acme");
        assert_eq!(m.param("cid"), "c_1");
        // Forwarded as sent: the encoded slash stays encoded.
        assert_eq!(m.param("path"), "v1/repos/a%2Fb/issues");
    }
    assert_eq!(
        table
            .at("GET", "/tenants/acme/connections/c_1")
            .map(|m| m.spec.op),
        Ok(Op::GetTenant)
    );
    assert_eq!(
        table.at("POST", "/tenants/acme/connections/c_1").err(),
        Some(OpMatchError::MethodNotAllowed("GET".into()))
    );
}

#[test]
fn the_real_table_indexes() {
    assert!(OpTable::new(&OPERATIONS).is_ok());
}
