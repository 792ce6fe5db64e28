use super::*;
use proptest::prelude::*;

const TTL: u64 = 600_000;
const MIN: u64 = 60_000;
const STALE: u64 = 1_800_000;

fn policy() -> JwksPolicy {
    JwksPolicy {
        ttl_ms: TTL,
        min_refetch_ms: MIN,
        max_stale_ms: STALE,
        max_keys: 32,
        max_bytes: 1024,
        max_urls: 4,
    }
}

fn set(kid: &str) -> KeySet {
    let body = serde_json::json!({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":kid}]});
    KeySet::from_fetched(body.to_string().as_bytes(), 32).expect("valid set")
}

fn is_fetch(d: &JwksDecision) -> bool {
    matches!(d, JwksDecision::Fetch)
}

fn used_kid(d: &JwksDecision) -> Option<String> {
    match d {
        JwksDecision::Use(k) => k.keys.first().and_then(|k| k.kid.clone()),
        JwksDecision::Fetch | JwksDecision::Fail(_) => None,
    }
}

#[test]
fn fresh_sets_are_used_and_unknown_kids_refetch_at_most_once_per_interval() {
    let mut c = JwksCache::new(policy(), None);
    assert!(is_fetch(&c.decide("u", None, 0)));
    assert!(c.record("u", Ok(set("a")), 1_000).is_ok());
    assert_eq!(
        used_kid(&c.decide("u", Some("a"), 2_000)).as_deref(),
        Some("a")
    );
    assert_eq!(
        used_kid(&c.decide("u", Some("new"), 60_999)).as_deref(),
        Some("a"),
        "unknown kid within the interval"
    );
    assert!(is_fetch(&c.decide("u", Some("new"), 61_000)));
    assert!(is_fetch(&c.decide("u", None, 601_000)), "ttl");
}

#[test]
fn a_failed_first_fetch_is_remembered_for_the_interval() {
    let mut c = JwksCache::new(policy(), None);
    let err = c.record("u", Err(JwksError::Status(500)), 0);
    assert_eq!(err.err(), Some(JwksError::Status(500)));
    for t in [1, 30_000, MIN - 1] {
        match c.decide("u", None, t) {
            JwksDecision::Fail(JwksError::RecentlyFailed(inner)) => {
                assert_eq!(*inner, JwksError::Status(500))
            }
            other => panic!("at {t}: {other:?}"),
        }
    }
    assert!(is_fetch(&c.decide("u", None, MIN)));
}

#[test]
fn stale_sets_are_trusted_only_up_to_the_stale_allowance() {
    let mut c = JwksCache::new(policy(), None);
    assert!(c.record("u", Ok(set("a")), 0).is_ok());
    // Expired: refetch; the fetch fails; the old keys serve this request.
    assert!(is_fetch(&c.decide("u", None, TTL)));
    let r = c.record("u", Err(JwksError::Timeout), TTL);
    assert!(r.is_ok(), "stale keys within the allowance");
    // Within the interval after that failure: old keys, no fetch.
    assert_eq!(
        used_kid(&c.decide("u", None, TTL + 1)).as_deref(),
        Some("a")
    );
    // After the interval: try again.
    assert!(is_fetch(&c.decide("u", None, TTL + MIN)));
    // A failure at the edge of the allowance fails closed.
    let edge = TTL + STALE;
    assert_eq!(
        c.record("u", Err(JwksError::Timeout), edge).err(),
        Some(JwksError::Timeout)
    );
    match c.decide("u", None, edge + 1) {
        JwksDecision::Fail(JwksError::Stale) => {}
        other => panic!("{other:?}"),
    }
    // The JWKS comes back: fresh keys again.
    assert!(is_fetch(&c.decide("u", None, edge + MIN)));
    assert!(c.record("u", Ok(set("b")), edge + MIN).is_ok());
    assert_eq!(
        used_kid(&c.decide("u", Some("b"), edge + MIN + 1)).as_deref(),
        Some("b")
    );
}

#[test]
fn failed_refetch_for_an_unknown_kid_keeps_the_fresh_set() {
    let mut c = JwksCache::new(policy(), None);
    assert!(c.record("u", Ok(set("a")), 0).is_ok());
    assert!(is_fetch(&c.decide("u", Some("x"), MIN)));
    let r = c.record("u", Err(JwksError::Status(503)), MIN);
    assert!(r.is_ok_and(|k| k.has_kid("a")));
    // The failure does not make every unknown kid refetch.
    assert_eq!(
        used_kid(&c.decide("u", Some("y"), MIN + 1)).as_deref(),
        Some("a")
    );
}

#[test]
fn urls_are_bounded_lru_and_the_pinned_url_stays() {
    let mut c = JwksCache::new(policy(), Some("cp".into()));
    assert!(c.record("cp", Ok(set("cp")), 0).is_ok());
    for i in 0..100u64 {
        let _ = c.record(&format!("t{i}"), Err(JwksError::Status(404)), i);
        assert!(c.len() <= 4);
    }
    assert_eq!(used_kid(&c.decide("cp", None, 200)).as_deref(), Some("cp"));
    // Recently used survives, the oldest goes.
    let _ = c.decide("t97", None, 201);
    let _ = c.record("n1", Err(JwksError::Timeout), 202);
    assert!(matches!(c.decide("t97", None, 203), JwksDecision::Fail(_)));
    assert!(
        is_fetch(&c.decide("t98", None, 204)),
        "evicted: unknown again"
    );
}

#[derive(Debug, Clone)]
enum Step {
    Decide { url: u8, kid: Option<u8>, dt: u64 },
    Record { url: u8, ok: Option<u8>, dt: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..8, proptest::option::of(0u8..3), 0u64..200_000)
            .prop_map(|(url, kid, dt)| Step::Decide { url, kid, dt }),
        (0u8..8, proptest::option::of(0u8..3), 0u64..200_000)
            .prop_map(|(url, ok, dt)| Step::Record { url, ok, dt }),
    ]
}

proptest! {
    /// Over any sequence of decisions and fetch outcomes: the URL map never grows
    /// past its bound, keys are never used past TTL + stale allowance, and a URL
    /// whose last fetch failed is not fetched again within the minimum interval.
    #[test]
    fn prop_invariants_hold_for_any_sequence(steps in proptest::collection::vec(step(), 1..120)) {
        let mut c = JwksCache::new(policy(), Some("u0".into()));
        let mut now = 0u64;
        // Model: per URL, when the last good set was fetched and when the last
        // attempt failed (if it did).
        let mut good_at: HashMap<String, u64> = HashMap::new();
        let mut failed_at: HashMap<String, u64> = HashMap::new();
        for s in steps {
            match s {
                Step::Decide { url, kid, dt } => {
                    now = now.saturating_add(dt);
                    let u = format!("u{url}");
                    let kid = kid.map(|k| format!("k{k}"));
                    match c.decide(&u, kid.as_deref(), now) {
                        JwksDecision::Use(_) => {
                            let at = good_at.get(&u).copied();
                            prop_assert!(at.is_some_and(|at| now - at < TTL + STALE));
                        }
                        JwksDecision::Fetch => {
                            if let Some(f) = failed_at.get(&u) {
                                // Unless evicted meanwhile (then it is unknown).
                                if c.entries.contains_key(&u) {
                                    prop_assert!(now - f >= MIN);
                                }
                            }
                        }
                        JwksDecision::Fail(_) => {}
                    }
                }
                Step::Record { url, ok, dt } => {
                    now = now.saturating_add(dt);
                    let u = format!("u{url}");
                    let outcome = match ok {
                        Some(k) => Ok(set(&format!("k{k}"))),
                        None => Err(JwksError::Status(500)),
                    };
                    let was_ok = outcome.is_ok();
                    let had = c.entries.contains_key(&u);
                    let r = c.record(&u, outcome, now);
                    if !had {
                        good_at.remove(&u);
                    }
                    if was_ok {
                        good_at.insert(u.clone(), now);
                        failed_at.remove(&u);
                        prop_assert!(r.is_ok());
                    } else {
                        failed_at.insert(u.clone(), now);
                        if r.is_ok() {
                            let at = good_at.get(&u).copied();
                            prop_assert!(at.is_some_and(|at| now - at < TTL + STALE));
                        }
                    }
                    // Entries evicted by this insertion lose their model state.
                    good_at.retain(|k, _| c.entries.contains_key(k));
                    failed_at.retain(|k, _| c.entries.contains_key(k));
                }
            }
            prop_assert!(c.len() <= 4);
        }
    }
}
