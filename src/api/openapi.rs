//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`. A test checks it
//! documents exactly the operations in [`super::OPERATIONS`].

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::operations::OpMethod;
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
        // An `ANY` operation is documented under each method it forwards, and a
        // catch-all `{*name}` is OpenAPI's `{name}`.
        let implemented: BTreeSet<_> = OPERATIONS
            .iter()
            .flat_map(|s| {
                let methods: Vec<&str> = match s.method {
                    OpMethod::Any => vec!["GET", "POST", "PUT", "PATCH", "DELETE"],
                    m => vec![m.as_str()],
                };
                let template = s.template.replace("{*", "{");
                methods
                    .into_iter()
                    .map(move |m| (m.to_string(), template.clone(), s.scope.map(str::to_string)))
            })
            .collect();
        assert_eq!(documented, implemented);
    }
}
