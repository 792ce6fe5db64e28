//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`. A test checks it
//! documents exactly the operations in [`super::OPERATIONS`].

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::OPERATIONS;
    use serde_json::Value;
    use std::collections::BTreeSet;

    #[test]
    fn documents_exactly_the_implemented_operations() {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        assert!(doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")));
        let mut documented = BTreeSet::new();
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                if !["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                    continue;
                }
                let scope = op
                    .get("x-required-scope")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                documented.insert((method.to_ascii_uppercase(), path.clone(), scope));
            }
        }
        let implemented: BTreeSet<_> = OPERATIONS
            .iter()
            .map(|s| {
                (
                    s.method.as_str().to_string(),
                    s.template.to_string(),
                    s.scope.map(str::to_string),
                )
            })
            .collect();
        assert_eq!(documented, implemented);
    }
}
