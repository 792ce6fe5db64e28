//! A strict reader over a JSON object: typed getters that record errors with paths,
//! and a final check that refuses every key nobody asked for.

use super::diag::{field, index, Diagnostics};
use serde_json::{Map, Value};

/// Reads the fields of one JSON object, remembering which keys were consumed.
pub struct Fields<'a> {
    map: Option<&'a Map<String, Value>>,
    path: String,
    known: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// Starts reading `value` at `path`; records an error if it is not an object.
    /// A missing value (`None`) reads as an empty object.
    pub fn new(value: Option<&'a Value>, path: &str, diags: &mut Diagnostics) -> Self {
        let map = match value {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                diags.error(path, "must be an object");
                None
            }
        };
        Self {
            map,
            path: path.to_string(),
            known: Vec::new(),
        }
    }

    /// Path of a field of this object.
    pub fn path_of(&self, key: &str) -> String {
        field(&self.path, key)
    }

    /// Whether the key is present (and not null). Marks it as known.
    pub fn has(&mut self, key: &'static str) -> bool {
        self.known.push(key);
        matches!(self.map.and_then(|m| m.get(key)), Some(v) if !v.is_null())
    }

    /// The raw value of a key (marks it known); `None` when absent or null.
    pub fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// An optional string.
    pub fn string(&mut self, key: &'static str, diags: &mut Diagnostics) -> Option<&'a str> {
        match self.raw(key) {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                diags.error(self.path_of(key), "must be a string");
                None
            }
        }
    }

    /// A required string; records an error when absent.
    pub fn required_string(
        &mut self,
        key: &'static str,
        diags: &mut Diagnostics,
    ) -> Option<&'a str> {
        if !self.has(key) {
            diags.error(self.path_of(key), "is required");
            return None;
        }
        self.string(key, diags)
    }

    /// An optional boolean with a default.
    pub fn boolean(&mut self, key: &'static str, default: bool, diags: &mut Diagnostics) -> bool {
        match self.raw(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                diags.error(self.path_of(key), "must be a boolean");
                default
            }
        }
    }

    /// An optional integer within `min..=max`.
    pub fn integer(
        &mut self,
        key: &'static str,
        min: i64,
        max: i64,
        diags: &mut Diagnostics,
    ) -> Option<i64> {
        match self.raw(key) {
            None => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Some(v),
                _ => {
                    diags.error(
                        self.path_of(key),
                        format!("must be an integer from {min} to {max}"),
                    );
                    None
                }
            },
            Some(_) => {
                diags.error(self.path_of(key), "must be an integer");
                None
            }
        }
    }

    /// An optional list of strings; each element's error names its index.
    pub fn string_list(
        &mut self,
        key: &'static str,
        diags: &mut Diagnostics,
    ) -> Option<Vec<(String, &'a str)>> {
        let path = self.path_of(key);
        match self.raw(key) {
            None => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push((index(&path, i), s.as_str())),
                        _ => diags.error(index(&path, i), "must be a string"),
                    }
                }
                Some(out)
            }
            Some(_) => {
                diags.error(path, "must be a list of strings");
                None
            }
        }
    }

    /// An optional object of string values; yields `(path, key, value)` triples.
    pub fn string_map(
        &mut self,
        key: &'static str,
        diags: &mut Diagnostics,
    ) -> Option<Vec<(String, &'a str, &'a str)>> {
        let path = self.path_of(key);
        match self.raw(key) {
            None => None,
            Some(Value::Object(m)) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let p = field(&path, k);
                    match v {
                        Value::String(s) => out.push((p, k.as_str(), s.as_str())),
                        _ => diags.error(p, "must be a string"),
                    }
                }
                Some(out)
            }
            Some(_) => {
                diags.error(path, "must be an object of strings");
                None
            }
        }
    }

    /// Records an error for every key that no getter asked for.
    pub fn finish(self, diags: &mut Diagnostics) {
        if let Some(map) = self.map {
            for key in map.keys() {
                if !self.known.iter().any(|k| k == key) {
                    diags.error(field(&self.path, key), "unknown field");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_type_errors_and_unknown_keys_with_paths() {
        let v = json!({ "a": 1, "b": "x", "c": [1, "ok"], "zzz": true, "n": 500 });
        let mut d = Diagnostics::new();
        let mut f = Fields::new(Some(&v), "opts", &mut d);
        assert_eq!(f.string("a", &mut d), None);
        assert!(!f.boolean("b", false, &mut d));
        let list = f.string_list("c", &mut d).expect("present");
        assert_eq!(list, vec![("opts.c[1]".to_string(), "ok")]);
        assert_eq!(f.integer("n", 1, 100, &mut d), None);
        assert_eq!(f.required_string("missing", &mut d), None);
        f.finish(&mut d);
        let errs = d.into_errors().0;
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "opts.a",
                "opts.b",
                "opts.c[0]",
                "opts.n",
                "opts.missing",
                "opts.zzz"
            ]
        );
    }

    #[test]
    fn non_object_is_an_error() {
        let v = json!([1]);
        let mut d = Diagnostics::new();
        let f = Fields::new(Some(&v), "x", &mut d);
        f.finish(&mut d);
        assert_eq!(d.len(), 1);
    }
}
