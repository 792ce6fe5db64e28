//! Plans waiting for their upstream's response on the lean JS path, by id. Bounded:
//! the JS entry always calls back, but a request that dies in between (a client
//! gone mid-fetch) must not leak; the oldest entry goes first.

use std::collections::{HashMap, VecDeque};

/// Parked values with non-zero `u32` ids (0 means "nothing parked" on the wire).
#[derive(Debug)]
pub struct Parked<T> {
    next: u32,
    max: usize,
    items: HashMap<u32, T>,
    order: VecDeque<u32>,
}

impl<T> Parked<T> {
    /// An empty slab holding at most `max` values.
    pub fn new(max: usize) -> Self {
        Self {
            next: 0,
            max: max.max(1),
            items: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Parks `value`, evicting the oldest entries past the bound; returns its id.
    pub fn park(&mut self, value: T) -> u32 {
        // Ids wrap past u32::MAX but skip 0; one that is still parked after 2^32
        // parks was evicted long ago (the bound is far smaller).
        self.next = self.next.wrapping_add(1).max(1);
        let id = self.next;
        while self.items.len() >= self.max {
            match self.order.pop_front() {
                Some(old) => {
                    self.items.remove(&old);
                }
                None => break,
            }
        }
        self.items.insert(id, value);
        self.order.push_back(id);
        id
    }

    /// Takes the value parked under `id`, if it is still there.
    pub fn take(&mut self, id: u32) -> Option<T> {
        let value = self.items.remove(&id)?;
        if let Some(pos) = self.order.iter().position(|x| *x == id) {
            self.order.remove(pos);
        }
        Some(value)
    }

    /// The value parked under `id`, left parked.
    pub fn get(&self, id: u32) -> Option<&T> {
        self.items.get(&id)
    }

    /// How many values are parked.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is parked.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn park_take_and_bounded_eviction_of_the_oldest() {
        let mut p = Parked::new(3);
        let ids: Vec<u32> = (0..3).map(|i| p.park(i)).collect();
        assert!(ids.iter().all(|&id| id != 0));
        assert_eq!(p.take(ids[1]), Some(1));
        assert_eq!(p.take(ids[1]), None, "taken once");
        let d = p.park(3);
        let e = p.park(4);
        assert_eq!(p.len(), 3);
        assert_eq!(p.take(ids[0]), None, "the oldest went first");
        assert_eq!(
            (p.take(ids[2]), p.take(d), p.take(e)),
            (Some(2), Some(3), Some(4))
        );
        assert!(p.is_empty());
        assert_eq!(p.take(0), None);
    }

    #[test]
    fn ids_skip_zero_when_they_wrap() {
        let mut p = Parked::new(2);
        p.next = u32::MAX - 1;
        assert_eq!(p.park('a'), u32::MAX);
        assert_eq!(p.park('b'), 1);
        assert_eq!((p.take(u32::MAX), p.take(1)), (Some('a'), Some('b')));
    }
}
