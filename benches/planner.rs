//! The pure planner, host to plan, as the lean JS entry runs it per request: the
//! `npm run bench` document (200 routes: decoys in three shapes, then the targets),
//! a `static` route and the cors → headers → http proxy route.
//! Run: `cargo bench --bench planner`.
#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use portico::canonical_path::EncodedSlashes;
use portico::config::document::StaticDocument;
use portico::header_edits::EditLog;
use portico::message::{HeaderAccess, HeaderList};
use portico::proxy::{enter, plan, route, Entry, Plan, ProxySettings};
use portico::request::Prefetched;
use portico::routing::limits::{FilterLimits, RouteLimits};
use serde_json::{json, Value};

fn document(routes: usize) -> StaticDocument {
    let mut list: Vec<Value> = (0..routes - 2)
        .map(|i| {
            let path = match i % 3 {
                0 => format!("/svc{i}/:id/*"),
                1 => format!("/api/v{i}/items/:id"),
                _ => format!("/t{i}/static/*"),
            };
            json!({"id": format!("d{i}"), "priority": i % 1000, "match": {"path": path},
                   "handlers": [{"type": "static", "options": {"body": "x"}}]})
        })
        .collect();
    list.push(json!({"id": "proxy", "priority": 5000, "match": {"path": "/bytes"}, "handlers": [
        {"type": "cors", "options": {"origins": ["*"]}},
        {"type": "headers", "options": {"request": {"x-bench": "1"}, "response": {"x-served-by": "portico"}}},
        {"type": "http", "options": {"upstream_url": "http://127.0.0.1:9/"}}
    ]}));
    list.push(
        json!({"id": "static", "priority": 5001, "match": {"path": "/static"}, "handlers": [
            {"type": "static", "options": {"body": "x".repeat(1024)}}
        ]}),
    );
    let doc = json!({"hosts": {"s200.test": {"tenant_id": "bench", "routes": list}}});
    StaticDocument::parse(&doc.to_string(), None, &RouteLimits::default()).expect("valid")
}

fn once(doc: &StaticDocument, path: &str, inbound: &HeaderList) -> usize {
    let settings = ProxySettings {
        encoded_slashes: EncodedSlashes::Reject,
        filter_limits: FilterLimits::default(),
    };
    let log = EditLog::new(inbound, false);
    let url = format!("http://s200.test{path}?n=1024");
    let Ok(Entry::Proxy(head)) = enter(&settings, "GET", &url, &log, &|_| false, 1_800_000_000)
    else {
        return 0;
    };
    let Some(cfg) = doc.lookup(&head.host) else {
        return 0;
    };
    let Ok(routed) = route(&head, cfg, &log, FilterLimits::default()) else {
        return 0;
    };
    let mut log = EditLog::new(inbound, false);
    match plan(head, routed, &Prefetched::new(), &mut log) {
        Plan::Respond { response, .. } => response.body.len(),
        Plan::Call { call, .. } => {
            let mut out = String::new();
            log.write_to(&mut out);
            call.url.len() + out.len()
        }
    }
}

fn bench(c: &mut Criterion) {
    let doc = document(200);
    let inbound = HeaderList::new()
        .with("host", "s200.test")
        .with("origin", "https://a.example")
        .with("user-agent", "bench")
        .with("accept", "*/*");
    assert!(inbound.get("host").is_some());
    c.bench_function("plan static route (200 routes)", |b| {
        b.iter(|| once(black_box(&doc), "/static", &inbound))
    });
    c.bench_function("plan proxy route (200 routes)", |b| {
        b.iter(|| once(black_box(&doc), "/bytes", &inbound))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
