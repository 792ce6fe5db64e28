//! The route index: matchit routers in layers of non-overlapping patterns, so one
//! lookup per layer finds every route whose path matches, in any number of routes.

use super::filters::{MatchSpec, RequestFacts};
use super::limits::FilterBudget;
use super::pattern::{overlap, Expansion, PathPattern, Piece};
use std::collections::HashMap;

/// One route as the table sees it: its path, its filters and what it carries.
#[derive(Debug)]
pub struct TableRoute<T> {
    /// Compiled path pattern.
    pub path: PathPattern,
    /// Method/host/header/query filters.
    pub spec: MatchSpec,
    /// The caller's payload (handlers, ids).
    pub payload: T,
}

/// Routes sharing one matchit key (same shape), in priority order.
#[derive(Debug)]
struct Entry {
    pieces: Vec<Piece>,
    /// `(route index, expansion index)` pairs, ascending by route index.
    routes: Vec<(usize, usize)>,
}

/// One matchit router whose patterns never match the same path.
#[derive(Debug, Default)]
struct Layer {
    router: matchit::Router<usize>,
    /// Entries by their first segment's literal text, to keep overlap checks local.
    by_first: HashMap<String, Vec<usize>>,
    /// Entries whose first piece is not literal.
    dynamic_first: Vec<usize>,
}

/// The selected route and its path parameters.
#[derive(Debug)]
pub struct RouteMatch<'t, T> {
    /// The route's payload.
    pub route: &'t T,
    /// Named path parameters.
    pub params: Vec<(String, String)>,
}

/// Routes of one host, indexed for selection.
#[derive(Debug)]
pub struct RouteTable<T> {
    routes: Vec<TableRoute<T>>,
    entries: Vec<Entry>,
    layers: Vec<Layer>,
}

/// A pattern matchit refused even in an empty router (a bug in our compilation).
#[derive(Debug, thiserror::Error)]
#[error("route {route}: path pattern '{pattern}' cannot be indexed: {reason}")]
pub struct IndexError {
    /// Position of the offending route.
    pub route: usize,
    /// The pattern as written.
    pub pattern: String,
    /// matchit's reason.
    pub reason: String,
}

impl<T> RouteTable<T> {
    /// Builds the index. `routes` must already be in priority order.
    pub fn build(routes: Vec<TableRoute<T>>) -> Result<Self, IndexError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (ri, route) in routes.iter().enumerate() {
            for (ei, exp) in route.path.expansions.iter().enumerate() {
                let key = exp.matchit_key();
                let idx = *by_key.entry(key).or_insert_with(|| {
                    entries.push(Entry {
                        pieces: exp.pieces.clone(),
                        routes: Vec::new(),
                    });
                    entries.len() - 1
                });
                entries[idx].routes.push((ri, ei));
            }
        }
        let mut keys: Vec<(usize, String)> = by_key.into_iter().map(|(k, v)| (v, k)).collect();
        keys.sort_unstable_by_key(|(v, _)| *v);
        let mut layers: Vec<Layer> = Vec::new();
        for (idx, key) in keys {
            let pieces = &entries[idx].pieces;
            let first = match pieces.first() {
                Some(Piece::Static(s)) => Some(s.clone()),
                Some(Piece::Param | Piece::CatchAll { .. }) | None => None,
            };
            let mut placed = false;
            for layer in layers.iter_mut() {
                if layer_conflicts(layer, &entries, pieces, first.as_deref()) {
                    continue;
                }
                if layer.router.insert(key.clone(), idx).is_err() {
                    continue;
                }
                layer.add(idx, first.clone());
                placed = true;
                break;
            }
            if !placed {
                let mut layer = Layer::default();
                layer.router.insert(key.clone(), idx).map_err(|e| {
                    let route = entries[idx].routes.first().map(|r| r.0).unwrap_or(0);
                    IndexError {
                        route,
                        pattern: routes
                            .get(route)
                            .map(|r| r.path.source.clone())
                            .unwrap_or_default(),
                        reason: e.to_string(),
                    }
                })?;
                layer.add(idx, first);
                layers.push(layer);
            }
        }
        Ok(Self {
            routes,
            entries,
            layers,
        })
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Number of matchit layers (a measure of how much patterns overlap).
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// The first route in priority order whose path and filters all match.
    /// `path` is the canonical matching path (see `canonical_path`).
    pub fn select(&self, path: &str, req: &dyn RequestFacts) -> Option<RouteMatch<'_, T>> {
        // Candidates: (route index, expansion index, layer index). Each layer yields at
        // most one entry; an entry may hold several routes of the same shape.
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        let mut hits: Vec<matchit::Match<'_, '_, &usize>> = Vec::new();
        for layer in &self.layers {
            if let Ok(m) = layer.router.at(path) {
                let entry = &self.entries[*m.value];
                for &(ri, ei) in &entry.routes {
                    found.push((ri, ei, hits.len()));
                }
                hits.push(m);
            }
        }
        if found.len() > 1 {
            found.sort_unstable();
        }
        let mut budget = FilterBudget::new(req.filter_limits());
        for (ri, ei, hi) in found {
            let route = &self.routes[ri];
            let exp = &route.path.expansions[ei];
            let hit = &hits[hi];
            if !constraints_hold(exp, &hit.params, &mut budget)
                || !route.spec.matches(req, &mut budget)
            {
                continue;
            }
            let params = exp
                .param_names
                .iter()
                .zip(&exp.keys)
                .filter(|(name, _)| !name.starts_with('*'))
                .filter_map(|(name, key)| {
                    hit.params
                        .get(key.as_str())
                        .map(|v| (name.clone(), v.to_string()))
                })
                .collect();
            return Some(RouteMatch {
                route: &route.payload,
                params,
            });
        }
        None
    }
}

impl Layer {
    fn add(&mut self, idx: usize, first: Option<String>) {
        match first {
            Some(s) => self.by_first.entry(s).or_default().push(idx),
            None => self.dynamic_first.push(idx),
        }
    }
}

fn layer_conflicts(
    layer: &Layer,
    entries: &[Entry],
    pieces: &[Piece],
    first: Option<&str>,
) -> bool {
    let hits = |idx: &usize| overlap(&entries[*idx].pieces, pieces);
    match first {
        Some(s) => {
            layer.by_first.get(s).is_some_and(|v| v.iter().any(hits))
                || layer.dynamic_first.iter().any(hits)
        }
        None => layer.dynamic_first.iter().any(hits) || layer.by_first.values().flatten().any(hits),
    }
}

fn constraints_hold(
    exp: &Expansion,
    params: &matchit::Params<'_, '_>,
    budget: &mut FilterBudget,
) -> bool {
    exp.constraints
        .iter()
        .zip(&exp.keys)
        .all(|(c, key)| match c {
            None => true,
            Some(re) => params
                .get(key.as_str())
                .is_some_and(|v| budget.is_match(re, v)),
        })
}

#[cfg(test)]
mod tests;
