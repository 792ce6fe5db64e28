//! Budgets on what one route may ask of the isolate that serves every tenant
//! (DESIGN §3, §4): each an operator var with a safe default.

use regex_lite::{Regex, RegexBuilder};

/// Compile-time budgets of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLimits {
    /// regex-lite `size_limit` of each compiled regex (bytes of NFA). Matching
    /// costs about this size times the input length, so it bounds the time too.
    pub regex_size: usize,
    /// Regexes in one route: header and query filters plus path constraints.
    pub regexes_per_route: usize,
}

impl Default for RouteLimits {
    fn default() -> Self {
        Self {
            regex_size: DEFAULT_REGEX_SIZE,
            regexes_per_route: DEFAULT_REGEXES_PER_ROUTE,
        }
    }
}

/// Default `PORTICO_MAX_REGEX_SIZE`: fits ordinary filters (a UUID pattern is
/// ~1.9 KB) and refuses counted repetitions that cost seconds per request.
pub const DEFAULT_REGEX_SIZE: usize = 4096;
/// Default `PORTICO_MAX_REGEXES_PER_ROUTE`.
pub const DEFAULT_REGEXES_PER_ROUTE: usize = 16;
/// Longest regex source accepted before compiling at all.
pub const MAX_REGEX_SOURCE: usize = 1024;
/// regex-lite's nesting limit (its own default is 250; deep nesting is never needed).
const NEST_LIMIT: u32 = 64;

/// Compiles a tenant-written regex within `size_limit`; the error says why.
pub fn build_regex(source: &str, size_limit: usize) -> Result<Regex, String> {
    if source.len() > MAX_REGEX_SOURCE {
        return Err(format!(
            "regex must be at most {MAX_REGEX_SOURCE} characters"
        ));
    }
    RegexBuilder::new(source)
        .size_limit(size_limit)
        .nest_limit(NEST_LIMIT)
        .build()
        .map_err(|e| {
            let msg = e.to_string();
            if msg.contains("size limit") || msg.contains("exceeds") {
                format!("regex is too large when compiled (limit {size_limit} bytes, PORTICO_MAX_REGEX_SIZE)")
            } else {
                format!("invalid regex: {msg}")
            }
        })
}

/// Request-time bounds on the text route filters run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// A header, query value or path parameter longer than this does not match.
    pub max_input: usize,
    /// Bytes all filters of one request may scan together; past it, further
    /// filters do not match (so many routes cannot multiply the cost).
    pub budget: usize,
}

/// Default `PORTICO_FILTER_MAX_INPUT_BYTES` (DESIGN §3: 8 KiB).
pub const DEFAULT_FILTER_MAX_INPUT: usize = 8 * 1024;
/// Default `PORTICO_FILTER_BUDGET_BYTES`.
pub const DEFAULT_FILTER_BUDGET: usize = 16 * 1024;

impl Default for FilterLimits {
    fn default() -> Self {
        Self {
            max_input: DEFAULT_FILTER_MAX_INPUT,
            budget: DEFAULT_FILTER_BUDGET,
        }
    }
}

impl FilterLimits {
    /// Reads `PORTICO_FILTER_MAX_INPUT_BYTES` and `PORTICO_FILTER_BUDGET_BYTES`;
    /// a malformed value keeps its default and is reported.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let mut l = Self::default();
        let mut errors = Vec::new();
        for (name, slot) in [
            ("PORTICO_FILTER_MAX_INPUT_BYTES", &mut l.max_input),
            ("PORTICO_FILTER_BUDGET_BYTES", &mut l.budget),
        ] {
            if let Some(raw) = var(name).filter(|v| !v.trim().is_empty()) {
                match raw.trim().parse::<usize>() {
                    Ok(n) if (1..=1 << 20).contains(&n) => *slot = n,
                    _ => errors.push(format!("{name}={raw:?} must be 1..=1048576; using {slot}")),
                }
            }
        }
        (l, errors)
    }
}

/// What is left of one request's filter budget.
#[derive(Debug)]
pub struct FilterBudget {
    max_input: usize,
    left: usize,
}

impl FilterBudget {
    /// A fresh budget for one request.
    pub fn new(limits: FilterLimits) -> Self {
        Self {
            max_input: limits.max_input,
            left: limits.budget,
        }
    }

    /// Runs `re` on `text` if the text is within bounds; else "no match".
    pub fn is_match(&mut self, re: &Regex, text: &str) -> bool {
        if text.len() > self.max_input || text.len() > self.left {
            return false;
        }
        // Every run costs at least a little, so empty inputs cannot loop for free.
        self.left = self.left.saturating_sub(text.len().max(1));
        re.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_regexes_that_compile_large() {
        for bad in [
            "(a{1,100}){1,100}$",
            "a{1,1000}b",
            "[a-z]{1,200}[0-9]{1,200}x",
        ] {
            let e = build_regex(bad, DEFAULT_REGEX_SIZE).expect_err(bad);
            assert!(e.contains("too large"), "{bad}: {e}");
        }
        for good in [
            "^prod",
            "^Bearer [A-Za-z0-9._-]+$",
            "(?i)mobile|android|iphone",
            "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        ] {
            assert!(build_regex(good, DEFAULT_REGEX_SIZE).is_ok(), "{good}");
        }
        assert!(build_regex("(", DEFAULT_REGEX_SIZE)
            .expect_err("syntax")
            .starts_with("invalid regex"));
        assert!(build_regex(&"a".repeat(2000), DEFAULT_REGEX_SIZE).is_err());
        let nested = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(build_regex(&nested, DEFAULT_REGEX_SIZE).is_err());
    }

    #[test]
    fn budget_bounds_input_and_total_work() {
        let re = build_regex("a", DEFAULT_REGEX_SIZE).expect("re");
        let mut b = FilterBudget::new(FilterLimits {
            max_input: 10,
            budget: 25,
        });
        assert!(!b.is_match(&re, &"a".repeat(11)), "over max_input");
        assert!(b.is_match(&re, &"a".repeat(10)));
        assert!(b.is_match(&re, &"a".repeat(10)));
        assert!(!b.is_match(&re, &"a".repeat(10)), "budget spent");
        assert!(b.is_match(&re, "aaaaa"));
    }
}
