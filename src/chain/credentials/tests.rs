use super::*;

#[test]
fn connection_sources_parse_or_are_refused() {
    assert_eq!(
        ConnectionSource::parse("conn_1"),
        Ok(ConnectionSource::Literal("conn_1".into()))
    );
    assert_eq!(
        ConnectionSource::parse("{header:X-Connection}"),
        Ok(ConnectionSource::Header("x-connection".into()))
    );
    assert_eq!(
        ConnectionSource::parse("{claim:conn}"),
        Ok(ConnectionSource::Claim("conn".into()))
    );
    for bad in [
        "",
        "{header:}",
        "{cookie:a}",
        "conn 1",
        "a/b",
        "{claim:a b}",
        "{x}",
    ] {
        assert!(ConnectionSource::parse(bad).is_err(), "{bad}");
    }
    assert!(!valid_connection_id(&"a".repeat(65)));
}
