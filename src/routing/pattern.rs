//! Hono-style path patterns (`/users/:id?`, `/post/:id{[0-9]+}`, `/api/*`, `/api*`)
//! compiled onto matchit's syntax, plus the overlap test the route index needs.

use regex_lite::Regex;

/// One `/`-separated piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal segment text (may be empty for a trailing slash).
    Static(String),
    /// One whole non-empty segment.
    Param,
    /// `prefix` followed by at least one character, to the end of the path.
    CatchAll { prefix: String },
}

/// One matchit pattern produced from a route pattern (optional parameters and
/// wildcards expand to several).
#[derive(Debug, Clone)]
pub struct Expansion {
    pub(crate) pieces: Vec<Piece>,
    /// Route-level names of the `Param` pieces, in order.
    pub(crate) param_names: Vec<String>,
    /// Anchored constraint per `Param` piece.
    pub(crate) constraints: Vec<Option<Regex>>,
    /// matchit's positional name per `Param` piece (`p0`, `p1`, …), made here once
    /// so that selecting a route formats nothing.
    pub(crate) keys: Vec<String>,
}

impl Expansion {
    /// Appends a `Param` piece with its route-level name and constraint.
    fn push_param(&mut self, name: String, constraint: Option<Regex>) {
        self.pieces.push(Piece::Param);
        self.keys.push(format!("p{}", self.keys.len()));
        self.param_names.push(name);
        self.constraints.push(constraint);
    }

    /// The matchit pattern; parameters get positional names so that routes with the
    /// same shape share one matchit entry.
    pub(crate) fn matchit_key(&self) -> String {
        let mut out = String::new();
        let mut keys = self.keys.iter();
        for piece in &self.pieces {
            out.push('/');
            match piece {
                Piece::Static(s) => push_escaped(&mut out, s),
                Piece::Param => {
                    out.push('{');
                    out.push_str(keys.next().map(String::as_str).unwrap_or_default());
                    out.push('}');
                }
                Piece::CatchAll { prefix } => {
                    push_escaped(&mut out, prefix);
                    out.push_str("{*rest}");
                }
            }
        }
        out
    }
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c => out.push(c),
        }
    }
}

/// A parsed route path pattern.
#[derive(Debug, Clone)]
pub struct PathPattern {
    /// The pattern as written.
    pub source: String,
    /// The matchit patterns it expands to.
    pub expansions: Vec<Expansion>,
}

/// Longest pattern accepted.
const MAX_PATTERN_LEN: usize = 2048;

enum Seg {
    Static(String),
    Param {
        name: String,
        optional: bool,
        constraint: Option<Regex>,
    },
    /// `*` as a whole segment.
    Star,
    /// `text*` as the last segment.
    PrefixStar(String),
}

impl PathPattern {
    /// Parses a pattern with the default regex budget.
    pub fn parse(source: &str) -> Result<Self, String> {
        Self::parse_limited(source, crate::routing::limits::DEFAULT_REGEX_SIZE)
    }

    /// How many `{regex}` constraints the pattern holds.
    pub fn constraint_count(&self) -> usize {
        self.expansions
            .iter()
            .map(|e| e.constraints.iter().flatten().count())
            .max()
            .unwrap_or(0)
    }

    /// Parses a pattern, compiling constraints within `regex_size`; the error says
    /// what is wrong in words.
    pub fn parse_limited(source: &str, regex_size: usize) -> Result<Self, String> {
        if source.len() > MAX_PATTERN_LEN {
            return Err(format!("must be at most {MAX_PATTERN_LEN} characters"));
        }
        let body = match source {
            "*" | "/*" => "*",
            s => s
                .strip_prefix('/')
                .ok_or_else(|| "must start with '/' (or be '*')".to_string())?,
        };
        let raw_segs = split_segments(body)?;
        let last = raw_segs.len().saturating_sub(1);
        let mut segs = Vec::with_capacity(raw_segs.len());
        let mut names: Vec<String> = Vec::new();
        for (i, raw) in raw_segs.iter().enumerate() {
            let seg = parse_segment(raw, regex_size)?;
            match &seg {
                Seg::Param { name, optional, .. } => {
                    if *optional && i != last {
                        return Err(format!("optional parameter ':{name}?' must be last"));
                    }
                    if names.iter().any(|n| n == name) {
                        return Err(format!("parameter ':{name}' appears twice"));
                    }
                    names.push(name.clone());
                }
                Seg::PrefixStar(_) if i != last => {
                    return Err("'*' inside a segment is only allowed at the end".into());
                }
                Seg::Star | Seg::PrefixStar(_) | Seg::Static(_) => {}
            }
            segs.push(seg);
        }
        Ok(Self {
            source: source.to_string(),
            expansions: expand(segs),
        })
    }
}

/// Splits on `/` except inside `{...}` constraints.
fn split_segments(body: &str) -> Result<Vec<String>, String> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut in_constraint = false;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if cur.starts_with(':') || in_constraint => {
                in_constraint = true;
                depth += 1;
                cur.push(c);
            }
            '}' if in_constraint => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_constraint = false;
                }
                cur.push(c);
            }
            '\\' if in_constraint => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '/' if !in_constraint => segs.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if in_constraint {
        return Err("unclosed '{' in parameter constraint".into());
    }
    segs.push(cur);
    Ok(segs)
}

fn parse_segment(raw: &str, regex_size: usize) -> Result<Seg, String> {
    if raw == "*" {
        return Ok(Seg::Star);
    }
    if let Some(rest) = raw.strip_prefix(':') {
        let (name, mut tail) = rest.split_at(
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len()),
        );
        if name.is_empty() {
            return Err(format!("parameter in segment '{raw}' has no name"));
        }
        let mut constraint = None;
        if let Some(inner) = tail.strip_prefix('{') {
            let (re, after) = inner
                .rsplit_once('}')
                .ok_or_else(|| format!("unclosed constraint in '{raw}'"))?;
            if re.is_empty() {
                return Err(format!("empty constraint in '{raw}'"));
            }
            constraint = Some(
                crate::routing::limits::build_regex(&format!("^(?:{re})$"), regex_size)
                    .map_err(|e| format!("constraint in '{raw}': {e}"))?,
            );
            tail = after;
        }
        let optional = match tail {
            "" => false,
            "?" => true,
            _ => return Err(format!("unexpected '{tail}' after parameter ':{name}'")),
        };
        return Ok(Seg::Param {
            name: name.to_string(),
            optional,
            constraint,
        });
    }
    if let Some(prefix) = raw.strip_suffix('*') {
        if prefix.contains('*') {
            return Err(format!("segment '{raw}' has more than one '*'"));
        }
        return Ok(Seg::PrefixStar(prefix.to_string()));
    }
    if raw.contains('*') {
        return Err(format!(
            "'*' in the middle of segment '{raw}' is not supported"
        ));
    }
    if raw.contains(['?', '#']) {
        return Err("must not contain a query or fragment".into());
    }
    if raw.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "segment '{raw}' contains spaces or control characters"
        ));
    }
    Ok(Seg::Static(raw.to_string()))
}

fn expand(segs: Vec<Seg>) -> Vec<Expansion> {
    let mut base = Expansion {
        pieces: Vec::new(),
        param_names: Vec::new(),
        constraints: Vec::new(),
        keys: Vec::new(),
    };
    let last = segs.len().saturating_sub(1);
    let mut wild = 0usize;
    for (i, seg) in segs.into_iter().enumerate() {
        let is_last = i == last;
        match seg {
            Seg::Static(s) => base.pieces.push(Piece::Static(s)),
            Seg::Param {
                name,
                optional,
                constraint,
            } => {
                if optional {
                    // `/users/:id?` = `/users` or `/users/:id`.
                    let mut with = base.clone();
                    with.push_param(name, constraint);
                    let mut without = base;
                    if without.pieces.is_empty() {
                        without.pieces.push(Piece::Static(String::new()));
                    }
                    return vec![without, with];
                }
                base.push_param(name, constraint);
            }
            Seg::Star if is_last => {
                // `/api/*` = `/api`, `/api/` and anything below.
                let mut out = Vec::new();
                if !base.pieces.is_empty() {
                    out.push(base.clone());
                }
                let mut slash = base.clone();
                slash.pieces.push(Piece::Static(String::new()));
                out.push(slash);
                let mut below = base;
                below.pieces.push(Piece::CatchAll {
                    prefix: String::new(),
                });
                out.push(below);
                return out;
            }
            Seg::Star => {
                // A `*` between segments stands for exactly one segment.
                base.push_param(format!("*{wild}"), None);
                wild += 1;
            }
            Seg::PrefixStar(prefix) => {
                // `/api*` = `/api` or `/api` followed by anything.
                let mut exact = base.clone();
                exact.pieces.push(Piece::Static(prefix.clone()));
                let mut more = base;
                more.pieces.push(Piece::CatchAll { prefix });
                return vec![exact, more];
            }
        }
    }
    vec![base]
}

/// Whether some path could match both piece lists. May say `true` when unsure
/// (that only costs an extra index layer); never says `false` wrongly.
pub(crate) fn overlap(a: &[Piece], b: &[Piece]) -> bool {
    match (a.first(), b.first()) {
        (None, None) => true,
        (Some(Piece::CatchAll { prefix }), other) => {
            catch_all_overlaps(prefix, other, &b[1.min(b.len())..])
        }
        (other, Some(Piece::CatchAll { prefix })) => {
            catch_all_overlaps(prefix, other, &a[1.min(a.len())..])
        }
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Piece::Static(x)), Some(Piece::Static(y))) => x == y && overlap(&a[1..], &b[1..]),
        (Some(Piece::Static(x)), Some(Piece::Param))
        | (Some(Piece::Param), Some(Piece::Static(x))) => {
            !x.is_empty() && overlap(&a[1..], &b[1..])
        }
        (Some(Piece::Param), Some(Piece::Param)) => overlap(&a[1..], &b[1..]),
    }
}

fn catch_all_overlaps(prefix: &str, other: Option<&Piece>, other_rest: &[Piece]) -> bool {
    match other {
        None => false,
        Some(Piece::Static(t)) => {
            t.starts_with(prefix) && (t.len() > prefix.len() || !other_rest.is_empty())
        }
        Some(Piece::Param) => true,
        Some(Piece::CatchAll { prefix: q }) => {
            prefix.starts_with(q.as_str()) || q.starts_with(prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: &str) -> Vec<String> {
        PathPattern::parse(p)
            .expect("valid pattern")
            .expansions
            .iter()
            .map(Expansion::matchit_key)
            .collect()
    }

    #[test]
    fn expands_every_form() {
        assert_eq!(keys("/users/:id"), vec!["/users/{p0}"]);
        assert_eq!(keys("/users/:id?"), vec!["/users", "/users/{p0}"]);
        assert_eq!(keys("/:id?"), vec!["/", "/{p0}"]);
        assert_eq!(keys("/api/*"), vec!["/api", "/api/", "/api/{*rest}"]);
        assert_eq!(keys("/api*"), vec!["/api", "/api{*rest}"]);
        assert_eq!(keys("/*"), vec!["/", "/{*rest}"]);
        assert_eq!(keys("*"), vec!["/", "/{*rest}"]);
        assert_eq!(keys("/a/*/c"), vec!["/a/{p0}/c"]);
        assert_eq!(keys("/post/:id{[0-9]+}"), vec!["/post/{p0}"]);
        assert_eq!(keys("/x/:a/:b"), vec!["/x/{p0}/{p1}"]);
        assert_eq!(keys("/braces/{x}"), vec!["/braces/{{x}}"]);
        assert_eq!(keys("/about/"), vec!["/about/"]);
    }

    #[test]
    fn constraint_may_contain_slash_and_braces() {
        let p = PathPattern::parse("/d/:date{[0-9]{4}/[0-9]{2}}").expect("valid");
        let re = p.expansions[0].constraints[0].as_ref().expect("constraint");
        assert!(re.is_match("2024/01"));
        assert!(!re.is_match("2024/1x"));
    }

    #[test]
    fn refuses_bad_patterns() {
        for bad in [
            "",
            "users",
            "/users/:",
            "/users/:id?/more",
            "/a/:x/:x",
            "/post/:id{[0-9+}",
            "/post/:id{",
            "/a*/b",
            "/a*b",
            "/a/**",
            "/q?x=1",
            "/frag#x",
            "/has space",
            "/:id{}",
            "/:id!",
        ] {
            assert!(
                PathPattern::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(PathPattern::parse(&format!("/{}", "a".repeat(5000))).is_err());
    }

    fn pieces(p: &str, i: usize) -> Vec<Piece> {
        PathPattern::parse(p).expect("valid").expansions[i]
            .pieces
            .clone()
    }

    #[test]
    fn overlap_is_exact_for_statics_and_safe_for_wildcards() {
        assert!(!overlap(&pieces("/a/b", 0), &pieces("/a/c", 0)));
        assert!(overlap(&pieces("/a/b", 0), &pieces("/a/:x", 0)));
        assert!(!overlap(&pieces("/a/b", 0), &pieces("/a/b/:x", 0)));
        assert!(overlap(&pieces("/api/*", 2), &pieces("/api/x/y", 0)));
        assert!(!overlap(&pieces("/api/*", 2), &pieces("/web/x", 0)));
        assert!(!overlap(&pieces("/api/*", 2), &pieces("/api", 0)));
        assert!(overlap(&pieces("/api*", 1), &pieces("/apix", 0)));
        assert!(!overlap(&pieces("/api*", 1), &pieces("/apx", 0)));
        assert!(!overlap(&pieces("/api*", 1), &pieces("/api", 0)));
        assert!(overlap(&pieces("/*", 1), &pieces("/:x/y", 0)));
        assert!(overlap(&pieces("/a*", 1), &pieces("/ab*", 1)));
        assert!(!overlap(&pieces("/a*", 1), &pieces("/b*", 1)));
    }
}
