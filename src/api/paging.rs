//! `?limit=&cursor=` paging with opaque cursors over (`created_at`, `id`).

use crate::config::ConfigError;
use crate::percent::query_first;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// A page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page.
    pub limit: u32,
    /// Continue after (or before, for newest-first lists) this `(created_at, id)`.
    pub after: Option<(String, String)>,
}

/// Encodes a position as a cursor.
pub fn encode_cursor(created_at: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}\n{id}"))
}

fn decode_cursor(c: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (a, b) = text.split_once('\n')?;
    (!a.is_empty() && !b.is_empty()).then(|| (a.to_string(), b.to_string()))
}

/// Reads `limit` and `cursor` from a raw query string.
pub fn parse_page(query: &str) -> Result<PageRequest, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let limit = match query_first(query, "limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.push(ConfigError {
                    path: "limit".into(),
                    message: format!("must be an integer from 1 to {MAX_LIMIT}"),
                });
                DEFAULT_LIMIT
            }
        },
    };
    let after = match query_first(query, "cursor") {
        None => None,
        Some(c) if c.is_empty() => None,
        Some(c) => match decode_cursor(&c) {
            Some(p) => Some(p),
            None => {
                errors.push(ConfigError {
                    path: "cursor".into(),
                    message: "is not a cursor returned by this API".into(),
                });
                None
            }
        },
    };
    if errors.is_empty() {
        Ok(PageRequest { limit, after })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert_eq!(parse_page("").map(|p| p.limit), Ok(50));
        let c = encode_cursor("2026-01-01T00:00:00.000Z", "rt_1");
        let p = parse_page(&format!("limit=3&cursor={c}")).expect("ok");
        assert_eq!(p.limit, 3);
        assert_eq!(
            p.after,
            Some(("2026-01-01T00:00:00.000Z".into(), "rt_1".into()))
        );
        for bad in ["limit=0", "limit=201", "limit=x", "limit=-1"] {
            assert_eq!(
                parse_page(bad).err().map(|e| e[0].path.clone()).as_deref(),
                Some("limit")
            );
        }
        assert_eq!(
            parse_page("cursor=%%%")
                .err()
                .map(|e| e[0].path.clone())
                .as_deref(),
            Some("cursor")
        );
        assert_eq!(parse_page("cursor=Zm9v").err().map(|e| e.len()), Some(1));
    }
}
