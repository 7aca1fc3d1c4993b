//! Placeholder: replaced by the hierarchical wheel from the `timer` branch.
#![allow(missing_docs)]
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerHandle(u64);
#[derive(Debug)]
pub struct Wheel<T> {
    map: BTreeMap<(Instant, u64), T>,
    keys: std::collections::HashMap<u64, Instant>,
    next: u64,
}
impl<T> Wheel<T> {
    pub fn new(_start: Instant, _tick: Duration) -> Self {
        Wheel {
            map: BTreeMap::new(),
            keys: Default::default(),
            next: 0,
        }
    }
    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerHandle {
        self.next += 1;
        self.map.insert((deadline, self.next), value);
        self.keys.insert(self.next, deadline);
        TimerHandle(self.next)
    }
    pub fn cancel(&mut self, h: TimerHandle) -> Option<T> {
        let d = self.keys.remove(&h.0)?;
        self.map.remove(&(d, h.0))
    }
    pub fn next_expiry(&self) -> Option<Instant> {
        self.map.keys().next().map(|k| k.0)
    }
    pub fn advance(&mut self, now: Instant, fired: &mut Vec<T>) {
        while let Some(e) = self.map.first_entry() {
            if e.key().0 > now {
                break;
            }
            let ((_, k), v) = e.remove_entry();
            self.keys.remove(&k);
            fired.push(v);
        }
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
