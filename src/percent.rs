//! Percent-decoding for matching paths and reading query parameters.

/// The value of one hex digit.
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`). `None` when an
/// escape is malformed or the result is not UTF-8.
pub fn decode(input: &str, plus_is_space: bool) -> Option<String> {
    decode_inner(input, plus_is_space, false)
}

/// The path used for route matching: escapes decoded so `/%61dmin` cannot slip past
/// a route for `/admin`, except `%2F`, which stays encoded so segments keep their
/// meaning. `None` when the path is not valid percent-encoded UTF-8.
pub fn decode_path(path: &str) -> Option<String> {
    if !path.contains('%') {
        return Some(path.to_string());
    }
    decode_inner(path, false, true)
}

fn decode_inner(input: &str, plus_is_space: bool, keep_slash: bool) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                let b = hi << 4 | lo;
                if keep_slash && b == b'/' {
                    out.extend_from_slice(bytes.get(i..i + 3)?);
                } else {
                    out.push(b);
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The first value of query parameter `name` (form-decoded), if present.
/// A parameter without `=` has the empty value.
pub fn query_first(query: &str, name: &str) -> Option<String> {
    for pair in query.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k, true).unwrap_or_else(|| k.to_string());
        if key == name {
            return Some(decode(v, true).unwrap_or_else(|| v.to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_paths_but_keeps_encoded_slash() {
        assert_eq!(decode_path("/%61dmin").as_deref(), Some("/admin"));
        assert_eq!(decode_path("/a%2Fb").as_deref(), Some("/a%2Fb"));
        assert_eq!(decode_path("/caf%C3%A9").as_deref(), Some("/café"));
        assert_eq!(decode_path("/%zz"), None);
        assert_eq!(decode_path("/%4"), None);
        assert_eq!(decode_path("/%FF"), None);
        assert_eq!(decode_path("/plain+x").as_deref(), Some("/plain+x"));
    }

    #[test]
    fn reads_first_query_value() {
        let q = "a=1&b=x+y&a=2&flag&e=%41%zz&%62%63=3";
        assert_eq!(query_first(q, "a").as_deref(), Some("1"));
        assert_eq!(query_first(q, "b").as_deref(), Some("x y"));
        assert_eq!(query_first(q, "flag").as_deref(), Some(""));
        assert_eq!(query_first(q, "e").as_deref(), Some("%41%zz"));
        assert_eq!(query_first(q, "bc").as_deref(), Some("3"));
        assert_eq!(query_first(q, "missing"), None);
        assert_eq!(query_first("", "a"), None);
    }
}
