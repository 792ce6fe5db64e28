//! Which stored domains a new one would overlap: an exact name and a `*.` wildcard
//! overlap when the wildcard covers the name; two wildcards overlap when one covers
//! the other. Overlaps across tenants are refused (409 `conflict`), so no tenant can
//! take over hosts another tenant's domain already answers for.

/// A stored domain row, as far as overlap checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The normalised domain (`a.example.com` or `*.example.com`).
    pub domain: String,
    /// Its tenant.
    pub tenant_id: String,
}

/// `(is_wildcard, base)`: `*.x.y` → `(true, "x.y")`, `x.y` → `(false, "x.y")`.
pub fn split_wildcard(domain: &str) -> (bool, &str) {
    match domain.strip_prefix("*.") {
        Some(base) => (true, base),
        None => (false, domain),
    }
}

/// Whether `name` lies strictly below `base` (`a.b.c` below `b.c`, not `b.c` itself).
fn strictly_below(name: &str, base: &str) -> bool {
    name.strip_suffix(base)
        .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
}

/// Whether `outer` (a wildcard) covers every host `inner` answers for.
fn covers(outer: &str, inner: &str) -> bool {
    let (ow, obase) = split_wildcard(outer);
    if !ow {
        return false;
    }
    let (_, ibase) = split_wildcard(inner);
    // `*.b.c` covers `*.b.c`, `x.b.c`, `*.x.b.c`; never the apex `b.c`.
    strictly_below(ibase, obase) || (inner != ibase && ibase == obase)
}

/// Whether two domains answer for at least one common host.
pub fn overlaps(a: &str, b: &str) -> bool {
    a == b || covers(a, b) || covers(b, a)
}

/// The first stored claim that refuses `domain` for `tenant_id`: the same name (any
/// tenant: names are unique) or an overlapping one of another tenant.
pub fn first_conflict<'a>(domain: &str, tenant_id: &str, claims: &'a [Claim]) -> Option<&'a Claim> {
    claims
        .iter()
        .find(|c| c.domain == domain || (c.tenant_id != tenant_id && overlaps(domain, &c.domain)))
}

/// The character-reversed name: names below `x.y` are exactly those whose reversed
/// form starts with `reverse("x.y") + "."`, so one index range finds them. Matches
/// the generated `domain_rev` column of `d1-migrations/0003_domain_ownership.sql`.
pub fn reversed(name: &str) -> String {
    name.chars().rev().collect()
}

/// What to read from storage to decide overlaps for a new `domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlapQuery {
    /// Names that may cover (or equal) it: itself and `*.` of every parent.
    pub names: Vec<String>,
    /// For a wildcard: the `domain_rev` range `[from, to)` of names below its base.
    pub below: Option<(String, String)>,
}

impl OverlapQuery {
    /// The query for a normalised domain (exact or wildcard).
    pub fn for_domain(domain: &str) -> Self {
        let (wild, base) = split_wildcard(domain);
        let mut names = vec![domain.to_string()];
        // `*.parent` for every parent of `base` (the apex `base` itself is not
        // covered by `*.base`; for an exact name it is `domain`, listed above). All
        // of them, however deep: they travel as one JSON parameter.
        let mut rest = base;
        while let Some((_, parent)) = rest.split_once('.') {
            if parent.is_empty() {
                break;
            }
            names.push(format!("*.{parent}"));
            rest = parent;
        }
        let below = wild.then(|| {
            let r = reversed(base);
            // '/' is the byte after '.', so [r".", r"/") is every name below `base`.
            (format!("{r}."), format!("{r}/"))
        });
        Self { names, below }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claim(domain: &str, tenant: &str) -> Claim {
        Claim {
            domain: domain.into(),
            tenant_id: tenant.into(),
        }
    }

    #[test]
    fn overlap_table() {
        let yes = [
            ("x.a.test", "x.a.test"),
            ("*.a.test", "x.a.test"),
            ("*.a.test", "y.x.a.test"),
            ("*.a.test", "*.x.a.test"),
            ("*.a.test", "*.a.test"),
            ("*.parent", "shop.parent"),
        ];
        let no = [
            ("*.a.test", "a.test"),
            ("*.a.test", "xa.test"),
            ("*.a.test", "*.b.test"),
            ("x.a.test", "y.a.test"),
            ("*.x.a.test", "a.test"),
            ("*.x.a.test", "y.a.test"),
            ("a.test", "b.a.test"),
        ];
        for (a, b) in yes {
            assert!(overlaps(a, b) && overlaps(b, a), "{a} / {b}");
        }
        for (a, b) in no {
            assert!(!overlaps(a, b) && !overlaps(b, a), "{a} / {b}");
        }
    }

    #[test]
    fn conflicts_only_across_tenants_or_on_the_same_name() {
        let stored = [claim("*.a-wild.test", "a"), claim("shop.parent", "a")];
        assert_eq!(
            first_conflict("x.a-wild.test", "b", &stored),
            Some(&stored[0])
        );
        assert_eq!(first_conflict("*.parent", "b", &stored), Some(&stored[1]));
        assert_eq!(first_conflict("x.a-wild.test", "a", &stored), None);
        assert_eq!(first_conflict("*.parent", "a", &stored), None);
        assert_eq!(
            first_conflict("shop.parent", "a", &stored),
            Some(&stored[1])
        );
        assert_eq!(first_conflict("parent", "b", &stored), None);
    }

    #[test]
    fn query_lists_covering_names_and_the_range_below() {
        let q = OverlapQuery::for_domain("x.a.test");
        assert_eq!(q.names, ["x.a.test", "*.a.test", "*.test"]);
        assert_eq!(q.below, None);
        let q = OverlapQuery::for_domain("*.a.test");
        assert_eq!(q.names, ["*.a.test", "*.test"]);
        assert_eq!(
            q.below,
            Some(("tset.a.".to_string(), "tset.a/".to_string()))
        );
        // Every parent, however deep the name (no cap on labels here).
        let deep = format!("{}example.com", "a.".repeat(60));
        let q = OverlapQuery::for_domain(&deep);
        assert_eq!(q.names.len(), 62);
        assert_eq!(q.names.last().map(String::as_str), Some("*.com"));
    }

    fn label() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "c", "x", "ab"]).prop_map(str::to_string)
    }

    fn domain() -> impl Strategy<Value = String> {
        (any::<bool>(), prop::collection::vec(label(), 1..5)).prop_map(|(wild, labels)| {
            let base = labels.join(".");
            if wild && labels.len() > 1 {
                format!("*.{base}")
            } else {
                base
            }
        })
    }

    /// Hosts a domain answers for, among `a`..`ab` names of up to 6 labels.
    fn answers(domain: &str, host: &str) -> bool {
        crate::host::HostPattern::parse(domain).is_ok_and(|p| p.matches(host))
    }

    proptest! {
        /// `overlaps` agrees with "some host is served by both", checked on hosts
        /// built from both names.
        #[test]
        fn prop_overlap_means_a_shared_host(a in domain(), b in domain(), extra in label()) {
            let host_of = |d: &str| match d.strip_prefix("*.") {
                Some(base) => format!("{extra}.{base}"),
                None => d.to_string(),
            };
            let shared = [host_of(&a), host_of(&b)]
                .iter()
                .any(|h| answers(&a, h) && answers(&b, h));
            prop_assert_eq!(overlaps(&a, &b), shared);
        }

        /// The storage query finds every stored overlap: either by name or in the
        /// reversed-name range.
        #[test]
        fn prop_query_finds_every_overlap(new in domain(), stored in domain()) {
            let q = OverlapQuery::for_domain(&new);
            let rev = reversed(&stored);
            let found = q.names.contains(&stored)
                || q.below.as_ref().is_some_and(|(from, to)| rev >= *from && rev < *to);
            if overlaps(&new, &stored) {
                prop_assert!(found, "{} vs {}", new, stored);
            }
        }
    }
}
