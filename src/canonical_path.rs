//! One canonical path per request, used for route matching and sent upstream
//! (DESIGN §3): so no spelling of a path can reach an upstream path that a
//! protected route would have caught.
//!
//! - each segment is percent-decoded once; an invalid escape or non-UTF-8 → error;
//! - `.` / `..` segments (also `%2e`) are resolved; `..` above the root → error;
//! - runs of `/` are merged; a trailing slash is kept;
//! - encoded slashes and backslashes (and raw backslashes) follow [`EncodedSlashes`];
//! - `;params` of a segment are ignored for matching and passed upstream unchanged;
//! - the upstream path is the decoded segments re-encoded in one spelling.

use crate::percent::hex;
use std::borrow::Cow;

/// Longest request path accepted (bytes as sent).
pub const MAX_PATH_LEN: usize = 16 * 1024;

/// What to do with `%2F` / `%5C` (and a raw `\`) inside a path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodedSlashes {
    /// Refuse the request (default): common origins decode them after routing.
    #[default]
    Reject,
    /// Decode them into path separators before matching.
    Decode,
    /// Keep them as data inside the segment (`%2F` stays encoded everywhere).
    Keep,
}

impl EncodedSlashes {
    /// Parses the `PORTICO_ENCODED_SLASHES` var (`reject` | `decode` | `keep`).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "reject" => Some(Self::Reject),
            "decode" => Some(Self::Decode),
            "keep" => Some(Self::Keep),
            _ => None,
        }
    }
}

/// Why a path was refused (400 `invalid_path`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-escape in path")]
    InvalidEscape,
    /// The decoded path is not UTF-8.
    #[error("path is not UTF-8")]
    NotUtf8,
    /// A `..` segment would climb above the root.
    #[error("path climbs above the root")]
    AboveRoot,
    /// An encoded slash or backslash while they are refused.
    #[error("encoded slash or backslash in path")]
    EncodedSlash,
    /// Longer than [`MAX_PATH_LEN`].
    #[error("path is too long")]
    TooLong,
}

/// A request path in its two canonical forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath<'a> {
    /// Decoded, dot segments resolved, no `;params`: what routes match against.
    pub matching: Cow<'a, str>,
    /// The same path re-encoded, `;params` kept: what the upstream receives.
    pub upstream: Cow<'a, str>,
}

/// Whether a path needs no work: only plain characters, no dot segments, no
/// slash runs. The warm path of ordinary requests stops here.
fn is_plain(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let chars_ok = rest.bytes().all(|c| {
        matches!(c,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/'
            | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@')
    });
    if !chars_ok {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if (seg.is_empty() && !last) || seg == "." || seg == ".." {
            return false;
        }
    }
    true
}

/// One segment as sent: its name decoded, its `;params` raw.
struct Segment<'a> {
    name: String,
    params: Option<&'a str>,
}

/// Decodes a segment name; `Ok(parts)` may hold several parts when encoded
/// slashes are decoded into separators.
fn decode_name(raw: &str, mode: EncodedSlashes) -> Result<Vec<String>, PathError> {
    let bytes = raw.as_bytes();
    let mut parts = Vec::new();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let (byte, encoded) = if c == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::InvalidEscape);
            };
            i += 3;
            (hi << 4 | lo, true)
        } else {
            i += 1;
            (c, false)
        };
        if byte == b'/' && encoded || byte == b'\\' {
            match mode {
                EncodedSlashes::Reject => return Err(PathError::EncodedSlash),
                EncodedSlashes::Decode => {
                    parts.push(
                        String::from_utf8(std::mem::take(&mut out))
                            .map_err(|_| PathError::NotUtf8)?,
                    );
                    continue;
                }
                EncodedSlashes::Keep => {}
            }
        }
        out.push(byte);
    }
    parts.push(String::from_utf8(out).map_err(|_| PathError::NotUtf8)?);
    Ok(parts)
}

/// `;params` travel upstream as sent, so they must not smuggle what the name may
/// not hold: an origin that decodes the whole path would read `;%2F..%2Fadmin`
/// as a way up.
fn check_params(params: &str, mode: EncodedSlashes) -> Result<(), PathError> {
    let strict = match mode {
        EncodedSlashes::Keep => EncodedSlashes::Keep,
        EncodedSlashes::Reject | EncodedSlashes::Decode => EncodedSlashes::Reject,
    };
    decode_name(params, strict).map(|_| ())
}

/// Appends `name` to `out` percent-encoded in Portico's one spelling.
fn encode_into(out: &mut String, name: &str) {
    for &b in name.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@' => {
                out.push(char::from(b))
            }
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
}

/// Canonicalises a request path (the part of the URL before `?`).
pub fn canonicalize(raw: &str, mode: EncodedSlashes) -> Result<CanonicalPath<'_>, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if is_plain(raw) {
        return Ok(CanonicalPath {
            matching: Cow::Borrowed(raw),
            upstream: Cow::Borrowed(raw),
        });
    }
    let mut stack: Vec<Segment<'_>> = Vec::new();
    let mut trailing_slash = false;
    for raw_seg in raw.split('/') {
        let (name_raw, params) = match raw_seg.split_once(';') {
            Some((n, p)) => (n, Some(p)),
            None => (raw_seg, None),
        };
        if let Some(p) = params {
            check_params(p, mode)?;
        }
        let names = decode_name(name_raw, mode)?;
        let last = names.len().saturating_sub(1);
        for (i, name) in names.into_iter().enumerate() {
            match name.as_str() {
                // Empty segments (slash runs, `/;x/`) merge away; dot segments
                // lose their params (`..;x` is `..`, as Tomcat reads it).
                "" | "." => trailing_slash = true,
                ".." => {
                    stack.pop().ok_or(PathError::AboveRoot)?;
                    trailing_slash = true;
                }
                _ => {
                    let params = if i == last { params } else { None };
                    stack.push(Segment { name, params });
                    trailing_slash = false;
                }
            }
        }
    }
    let mut matching = String::with_capacity(raw.len() + 1);
    let mut upstream = String::with_capacity(raw.len() + 1);
    for seg in &stack {
        matching.push('/');
        upstream.push('/');
        if seg.name.contains(['/', '\\', '%']) {
            // Keep mode (or a literal `%`): spelled encoded in both forms, so a
            // decoded `%2F` can never look like a separator.
            encode_into(&mut matching, &seg.name);
        } else {
            matching.push_str(&seg.name);
        }
        encode_into(&mut upstream, &seg.name);
        if let Some(p) = seg.params {
            upstream.push(';');
            upstream.push_str(p);
        }
    }
    if stack.is_empty() || trailing_slash {
        matching.push('/');
        upstream.push('/');
    }
    Ok(CanonicalPath {
        matching: Cow::Owned(matching),
        upstream: Cow::Owned(upstream),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(raw: &str, mode: EncodedSlashes) -> Result<(String, String), PathError> {
        canonicalize(raw, mode).map(|c| (c.matching.into_owned(), c.upstream.into_owned()))
    }

    fn ok(raw: &str) -> (String, String) {
        both(raw, EncodedSlashes::Reject).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn plain_paths_pass_unchanged() {
        for p in [
            "/",
            "/a",
            "/a/",
            "/api/v1/users",
            "/a.b/c..d/.e",
            "/x:y@z!$&'()*+,=",
        ] {
            assert_eq!(ok(p), (p.to_string(), p.to_string()), "{p}");
        }
    }

    #[test]
    fn decodes_once_and_reencodes_in_one_spelling() {
        assert_eq!(ok("/%61dmin"), ("/admin".into(), "/admin".into()));
        assert_eq!(ok("/caf%c3%a9"), ("/café".into(), "/caf%C3%A9".into()));
        assert_eq!(ok("/café"), ("/café".into(), "/caf%C3%A9".into()));
        assert_eq!(ok("/a%20b"), ("/a b".into(), "/a%20b".into()));
        // A decoded `%` stays data: `%2541` is the text `%41`, never `A`.
        assert_eq!(ok("/%2541"), ("/%2541".into(), "/%2541".into()));
    }

    #[test]
    fn resolves_dot_segments_and_merges_slashes() {
        assert_eq!(ok("/a/./b").0, "/a/b");
        assert_eq!(ok("/a/b/../c").0, "/a/c");
        assert_eq!(ok("/public/%2e%2e/admin").0, "/admin");
        assert_eq!(ok("/public/%2E./admin").0, "/admin");
        assert_eq!(ok("//admin").0, "/admin");
        assert_eq!(ok("/a//b///c").0, "/a/b/c");
        assert_eq!(ok("/a/.."), ("/".into(), "/".into()));
        assert_eq!(ok("/a/b/."), ("/a/b/".into(), "/a/b/".into()));
        assert_eq!(ok("/a/b/.."), ("/a/".into(), "/a/".into()));
        assert_eq!(ok(""), ("/".into(), "/".into()));
    }

    #[test]
    fn refuses_bad_escapes_non_utf8_and_climbing() {
        let r = |p| both(p, EncodedSlashes::Reject);
        assert_eq!(r("/%zz"), Err(PathError::InvalidEscape));
        assert_eq!(r("/admin%"), Err(PathError::InvalidEscape));
        assert_eq!(r("/%4"), Err(PathError::InvalidEscape));
        assert_eq!(r("/%FF"), Err(PathError::NotUtf8));
        assert_eq!(r("/%C3"), Err(PathError::NotUtf8));
        assert_eq!(r("/.."), Err(PathError::AboveRoot));
        assert_eq!(r("/a/../.."), Err(PathError::AboveRoot));
        assert_eq!(r("/%2e%2e/x"), Err(PathError::AboveRoot));
        assert_eq!(r(&"/a".repeat(MAX_PATH_LEN)), Err(PathError::TooLong));
    }

    #[test]
    fn encoded_slashes_follow_the_mode() {
        for p in ["/admin%2Fx", "/a%2fb", "/a%5Cb", "/a\\b"] {
            assert_eq!(
                both(p, EncodedSlashes::Reject),
                Err(PathError::EncodedSlash),
                "{p}"
            );
        }
        assert_eq!(
            both("/public%2F..%2Fadmin", EncodedSlashes::Decode),
            Ok(("/admin".into(), "/admin".into()))
        );
        assert_eq!(
            both("/a%5Cb", EncodedSlashes::Decode),
            Ok(("/a/b".into(), "/a/b".into()))
        );
        assert_eq!(
            both("/a%2Fb", EncodedSlashes::Keep),
            Ok(("/a%2Fb".into(), "/a%2Fb".into()))
        );
        // Kept slashes are data: `..` next to one is an ordinary name.
        assert_eq!(
            both("/x/..%2F..%2Fadmin", EncodedSlashes::Keep),
            Ok(("/x/..%2F..%2Fadmin".into(), "/x/..%2F..%2Fadmin".into()))
        );
    }

    #[test]
    fn segment_params_are_ignored_for_matching_and_passed_on() {
        assert_eq!(ok("/admin;x/"), ("/admin/".into(), "/admin;x/".into()));
        assert_eq!(ok("/a;v=1/b;c"), ("/a/b".into(), "/a;v=1/b;c".into()));
        assert_eq!(ok("/public/..;x/admin").0, "/admin");
        assert_eq!(ok("/;x/admin").0, "/admin");
        assert_eq!(ok("/a%3Bb"), ("/a;b".into(), "/a%3Bb".into()));
        // Params cannot smuggle a way up past an origin that decodes everything.
        for p in ["/public;%2F..%2Fadmin", "/a;x%5C", "/a;\\..", "/a;%zz"] {
            assert!(both(p, EncodedSlashes::Reject).is_err(), "{p}");
            assert!(both(p, EncodedSlashes::Decode).is_err(), "{p}");
        }
    }

    #[test]
    fn parses_the_mode_var() {
        assert_eq!(
            EncodedSlashes::parse("Reject"),
            Some(EncodedSlashes::Reject)
        );
        assert_eq!(
            EncodedSlashes::parse("decode"),
            Some(EncodedSlashes::Decode)
        );
        assert_eq!(EncodedSlashes::parse(" keep "), Some(EncodedSlashes::Keep));
        assert_eq!(EncodedSlashes::parse("yes"), None);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// How a typical origin reads a path after Portico has routed it: decode
    /// everything (an encoded slash becomes a separator), drop `;params`, resolve
    /// dot segments, merge slashes.
    fn origin_view(path: &str) -> Option<String> {
        let mut bytes = Vec::new();
        let raw = path.as_bytes();
        let mut i = 0;
        while let Some(&c) = raw.get(i) {
            if c == b'%' {
                let h = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
                bytes.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            } else {
                bytes.push(c);
                i += 1;
            }
        }
        let text = String::from_utf8(bytes).ok()?.replace('\\', "/");
        let mut stack: Vec<&str> = Vec::new();
        for seg in text.split('/') {
            let seg = seg.split(';').next().unwrap_or_default();
            match seg {
                "" | "." => {}
                ".." => {
                    stack.pop()?;
                }
                s => stack.push(s),
            }
        }
        Some(format!("/{}", stack.join("/")))
    }

    fn path_strategy() -> impl Strategy<Value = String> {
        // Pieces that make path tricks likely: escapes (good and bad), dots,
        // slashes, params, non-ASCII.
        let piece = prop_oneof![
            Just("/".to_string()),
            Just("//".to_string()),
            Just(".".to_string()),
            Just("..".to_string()),
            Just("%2e".to_string()),
            Just("%2E%2e".to_string()),
            Just("%2F".to_string()),
            Just("%5c".to_string()),
            Just("\\".to_string()),
            Just(";".to_string()),
            Just(";x=1".to_string()),
            Just("%25".to_string()),
            Just("%".to_string()),
            Just("%zz".to_string()),
            Just("%C3%A9".to_string()),
            Just("%FF".to_string()),
            Just("é".to_string()),
            "[a-c]{1,3}",
            "[ -~]{0,3}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| format!("/{}", v.concat()))
    }

    fn modes() -> impl Strategy<Value = EncodedSlashes> {
        prop_oneof![
            Just(EncodedSlashes::Reject),
            Just(EncodedSlashes::Decode),
            Just(EncodedSlashes::Keep)
        ]
    }

    proptest! {
        #[test]
        fn prop_canonical_path_is_total(raw in any::<String>(), mode in modes()) {
            let _ = canonicalize(&raw, mode);
        }

        #[test]
        fn prop_canonical_path_is_idempotent(raw in path_strategy(), mode in modes()) {
            if let Ok(c) = canonicalize(&raw, mode) {
                let again = canonicalize(&c.upstream, mode).expect("canonical output is accepted");
                prop_assert_eq!(&again.upstream, &c.upstream);
                prop_assert_eq!(&again.matching, &c.matching);
                prop_assert!(c.matching.starts_with('/'));
                prop_assert!(!c.matching.contains("//"));
                for seg in c.matching.split('/') {
                    prop_assert!(seg != "." && seg != "..");
                }
            }
        }

        /// The security property: whatever the spelling, an origin that decodes
        /// the upstream path sees exactly the path routes were matched against.
        #[test]
        fn prop_origin_sees_the_matched_path(raw in path_strategy()) {
            for mode in [EncodedSlashes::Reject, EncodedSlashes::Decode] {
                if let Ok(c) = canonicalize(&raw, mode) {
                    let seen = origin_view(&c.upstream).expect("upstream path decodes");
                    let matched = origin_view(&c.matching).expect("matching path decodes");
                    prop_assert_eq!(seen, matched, "raw {:?}", raw);
                }
            }
        }
    }
}
