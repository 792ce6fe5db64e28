//! The Public Suffix List, compiled in: which names are suffixes under which anyone
//! may register (`co.uk`, `github.io`), so no tenant can claim `*.co.uk`.
//!
//! The list lives in `public_suffix_list.dat` beside this file (both the ICANN and
//! the PRIVATE section, Unicode rules already in punycode) and is refreshed by
//! `scripts/update-public-suffix-list.sh`. It is parsed into a set on first use,
//! which only management writes need; the data plane never touches it.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The compact list: one rule per line, `//` comment lines.
const LIST: &str = include_str!("public_suffix_list.dat");

fn rules() -> &'static HashSet<&'static str> {
    static RULES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    RULES.get_or_init(|| {
        LIST.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .collect()
    })
}

/// Names with a public suffix strictly below them: `kawasaki.jp` (rule
/// `*.kawasaki.jp`), `amazonaws.com` (rule `s3.amazonaws.com`).
fn parents_of_suffixes() -> &'static HashSet<&'static str> {
    static PARENTS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    PARENTS.get_or_init(|| {
        let mut set = HashSet::new();
        for rule in rules().iter() {
            if rule.starts_with('!') {
                // An exception makes a name *not* a suffix; its parent is covered by
                // the wildcard rule it excepts from.
                continue;
            }
            let name = match rule.strip_prefix("*.") {
                Some(parent) => {
                    set.insert(parent);
                    parent
                }
                None => rule,
            };
            set.extend(suffixes(name).skip(1));
        }
        set
    })
}

/// `name` and every parent suffix of it, longest first: `a.b.c`, `b.c`, `c`.
fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |s| s.split_once('.').map(|(_, rest)| rest))
}

/// The public suffix of a normalised name (lowercase ASCII, no trailing dot), by the
/// PSL algorithm: an exception rule wins, else the longest matching rule (`*.x`
/// matches any one label under `x`), else the implicit `*` rule (the last label).
pub fn public_suffix(name: &str) -> &str {
    let rules = rules();
    let has = |prefix: &str, s: &str| {
        let mut key = String::with_capacity(prefix.len() + s.len());
        key.push_str(prefix);
        key.push_str(s);
        rules.contains(key.as_str())
    };
    // An exception `!www.ck` makes the suffix of www.ck (and below) `ck`.
    for s in suffixes(name) {
        if has("!", s) {
            return s.split_once('.').map_or(s, |(_, parent)| parent);
        }
    }
    for s in suffixes(name) {
        let wildcard = s
            .split_once('.')
            .is_some_and(|(_, parent)| has("*.", parent));
        if wildcard || has("", s) {
            return s;
        }
    }
    suffixes(name).last().unwrap_or(name)
}

/// Whether `name` itself is a public suffix (anyone may register directly below it).
pub fn is_public_suffix(name: &str) -> bool {
    public_suffix(name) == name
}

/// Whether a wildcard `*.{base}` would answer for names of more than one
/// registrant: `base` is a public suffix (`*.co.uk`), or has one below it
/// (`*.kawasaki.jp`, where every `x.kawasaki.jp` is a suffix).
pub fn wildcard_spans_registrants(base: &str) -> bool {
    is_public_suffix(base) || parents_of_suffixes().contains(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icann_private_wildcard_and_exception_rules() {
        let cases = [
            ("co.uk", "co.uk"),
            ("shop.co.uk", "co.uk"),
            ("a.b.shop.co.uk", "co.uk"),
            ("github.io", "github.io"), // PRIVATE section
            ("me.github.io", "github.io"),
            ("com", "com"),
            ("example.com", "com"),
            ("x.test", "test"), // not listed: the implicit `*` rule
            ("acme.localhost", "localhost"),
            ("a.b.ck", "b.ck"), // `*.ck`
            ("www.ck", "ck"),   // `!www.ck`
            ("a.www.ck", "ck"),
            ("city.kawasaki.jp", "kawasaki.jp"),
            ("x.y.kawasaki.jp", "y.kawasaki.jp"),
            ("xn--55qx5d.cn", "xn--55qx5d.cn"), // 公司.cn, stored as punycode
        ];
        for (name, want) in cases {
            assert_eq!(public_suffix(name), want, "{name}");
        }
        for ps in ["co.uk", "github.io", "com", "test", "localhost", "b.ck"] {
            assert!(is_public_suffix(ps), "{ps}");
        }
        for not in [
            "acme.localhost",
            "a-wild.test",
            "example.co.uk",
            "www.ck",
            "me.github.io",
        ] {
            assert!(!is_public_suffix(not), "{not}");
        }
    }

    #[test]
    fn wildcards_that_span_registrants() {
        for base in [
            "co.uk",
            "github.io",
            "com",
            "test",
            "localhost",
            "kawasaki.jp",
            "jp",
        ] {
            assert!(wildcard_spans_registrants(base), "{base}");
        }
        for base in [
            "example.co.uk",
            "me.github.io",
            "acme.localhost",
            "city.kawasaki.jp",
            "a-wild.test",
        ] {
            assert!(!wildcard_spans_registrants(base), "{base}");
        }
    }

    #[test]
    fn the_list_has_both_sections() {
        assert!(LIST.contains("===BEGIN ICANN DOMAINS==="));
        assert!(LIST.contains("===BEGIN PRIVATE DOMAINS==="));
        assert!(rules().len() > 5000);
    }

    #[test]
    fn total_over_odd_input() {
        for s in ["", ".", "..", "a.", ".a", "*.", "!", "a..b"] {
            let _ = public_suffix(s);
        }
    }

    proptest::proptest! {
        /// The suffix is always a tail of the name on a label boundary, and it is
        /// its own public suffix (the lookup is idempotent).
        #[test]
        fn prop_suffix_is_a_label_tail(
            labels in proptest::collection::vec("[a-z0-9-]{1,8}|co|uk|jp|kawasaki|city|github|io|ck|www", 1..6)
        ) {
            let name = labels.join(".");
            let ps = public_suffix(&name);
            proptest::prop_assert!(name == ps || name.ends_with(&format!(".{ps}")), "{} / {}", name, ps);
            // An exception rule (`!city.kawasaki.jp`) makes its parent the suffix
            // of that name only; looked up alone, the parent is not a suffix.
            let exception = suffixes(&name).any(|tail| rules().contains(format!("!{tail}").as_str()));
            proptest::prop_assert!(exception || is_public_suffix(ps), "{} / {}", name, ps);
        }

        #[test]
        fn prop_total_over_any_string(s in ".{0,80}") {
            let _ = wildcard_spans_registrants(&s);
            let _ = public_suffix(&s);
        }
    }
}
