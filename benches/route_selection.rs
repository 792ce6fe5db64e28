//! Route selection cost for 10, 1,000 and 10,000 routes on one host: mixed static,
//! parameter and wildcard patterns, with the target near the end of priority order.
//! Run: `cargo bench --bench route_selection`.
#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use portico::config::host::{HostConfig, HostRecord};
use portico::config::Diagnostics;
use portico::routing::RequestFacts;
use serde_json::json;

struct Facts;

impl RequestFacts for Facts {
    fn method(&self) -> &str {
        "GET"
    }
    fn host(&self) -> &str {
        "bench.example.com"
    }
    fn header(&self, _name: &str) -> Option<String> {
        None
    }
    fn query(&self) -> &str {
        ""
    }
}

fn host_with_routes(n: usize) -> HostConfig {
    let routes = (0..n)
        .map(|i| {
            let path = match i % 3 {
                0 => format!("/svc{i}/items"),
                1 => format!("/svc{i}/items/:id{{[0-9]+}}"),
                _ => format!("/svc{i}/*"),
            };
            json!({
                "id": format!("r{i:05}"),
                "priority": 100,
                "match": { "path": path, "methods": ["GET", "POST"] },
                "handlers": [{ "type": "static", "options": { "body": "ok" } }]
            })
        })
        .collect();
    let record = HostRecord {
        tenant_id: "bench".into(),
        custom_domain_id: None,
        domain: "bench.example.com".into(),
        routes,
        exclusive: false,
    };
    let mut d = Diagnostics::new();
    HostConfig::compile(
        &record,
        "routes",
        None,
        &portico::routing::limits::RouteLimits::default(),
        &mut d,
    )
    .expect("benchmark routes are valid")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_selection");
    for n in [10usize, 1_000, 10_000] {
        let host = host_with_routes(n);
        // The last param route: near the end of the priority order.
        let last_param = (0..n).rev().find(|i| i % 3 == 1).unwrap_or(1);
        let path = format!("/svc{last_param}/items/42");
        assert!(
            host.table.select(&path, &Facts).is_some(),
            "target must match"
        );
        group.bench_with_input(
            BenchmarkId::new("param_target_near_end", n),
            &path,
            |b, p| b.iter(|| black_box(host.table.select(black_box(p), &Facts)).is_some()),
        );
        let miss = "/nowhere/at/all".to_string();
        group.bench_with_input(BenchmarkId::new("no_match", n), &miss, |b, p| {
            b.iter(|| black_box(host.table.select(black_box(p), &Facts)).is_none())
        });
    }
    group.finish();
    let mut build = c.benchmark_group("table_build");
    build.sample_size(10);
    for n in [10usize, 1_000, 10_000] {
        build.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| black_box(host_with_routes(n)))
        });
    }
    build.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
