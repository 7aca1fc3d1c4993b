//! The simulated store: commits with each channel's next id, at once or
//! after a delay the seed decides, or fails the append (the publisher is
//! told `503`, a WebSocket publisher close 1011); every commit goes into
//! the [`Ledger`] the checks read.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use pushwire::engine::{Append, Commit, Store, StoreError, Ticket};

use crate::ledger::Ledger;
use crate::rng::Rng;

/// How the store behaves, from the seed.
#[derive(Clone, Copy, Debug)]
pub struct StoreFaults {
    /// Probability that an append is decided later rather than at once.
    pub delay: f64,
    /// The longest delay.
    pub max_delay: Duration,
    /// Probability that an append fails.
    pub fail: f64,
}

#[derive(Debug)]
struct Book {
    rng: Rng,
    faults: StoreFaults,
    /// Appends not decided yet, with when they will be, in order (a
    /// store decides in the order it was asked).
    waiting: VecDeque<(Instant, Ticket, String, String)>,
    decided: VecDeque<Commit>,
    ledger: Ledger,
    failures: u64,
    delays: u64,
}

/// The store the engine owns; clones share one book.
#[derive(Clone, Debug)]
pub struct SimStore(Rc<RefCell<Book>>);

impl SimStore {
    pub fn new(rng: Rng, faults: StoreFaults) -> SimStore {
        SimStore(Rc::new(RefCell::new(Book {
            rng,
            faults,
            waiting: VecDeque::new(),
            decided: VecDeque::new(),
            ledger: Ledger::default(),
            failures: 0,
            delays: 0,
        })))
    }

    /// When the next waiting append is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.0.borrow().waiting.front().map(|(at, ..)| *at)
    }

    /// Decides every append due by `now`, in order; returns how many.
    pub fn decide(&self, now: Instant) -> usize {
        let mut book = self.0.borrow_mut();
        let mut n = 0;
        while book.waiting.front().is_some_and(|(at, ..)| *at <= now) {
            let Some((_, ticket, channel, data)) = book.waiting.pop_front() else {
                break;
            };
            book.settle(ticket, &channel, &data);
            n += 1;
        }
        n
    }

    /// Reads the ledger.
    pub fn ledger<T>(&self, read: impl FnOnce(&Ledger) -> T) -> T {
        read(&self.0.borrow().ledger)
    }

    /// (failed appends, delayed appends) so far.
    pub fn faults(&self) -> (u64, u64) {
        let book = self.0.borrow();
        (book.failures, book.delays)
    }

    /// From now on, every append commits at once (the quiet end of a run).
    pub fn calm(&self) {
        let mut book = self.0.borrow_mut();
        book.faults.delay = 0.0;
        book.faults.fail = 0.0;
    }
}

impl Book {
    fn settle(&mut self, ticket: Ticket, channel: &str, data: &str) {
        let outcome = if self.rng.chance(self.faults.fail) {
            self.failures += 1;
            Err(StoreError::new("the simulated store failed"))
        } else {
            let id = self.ledger.last(channel) + 1;
            self.ledger.commit(channel, id, data);
            Ok(id)
        };
        self.decided.push_back(Commit { ticket, outcome });
    }
}

impl Store for SimStore {
    fn append(&mut self, append: Append<'_>) {
        let mut book = self.0.borrow_mut();
        let book = &mut *book;
        // Appends queued behind a delayed one wait for it: order is kept.
        let delayed = !book.waiting.is_empty() || book.rng.chance(book.faults.delay);
        if delayed {
            book.delays += 1;
            let max = book.faults.max_delay.as_micros() as u64;
            let after = Duration::from_micros(book.rng.below(max + 1));
            let at = book
                .waiting
                .back()
                .map_or(append.now + after, |(last, ..)| {
                    (*last).max(append.now + after)
                });
            book.waiting.push_back((
                at,
                append.ticket,
                append.name.to_owned(),
                append.data.to_owned(),
            ));
        } else {
            book.settle(append.ticket, append.name, append.data);
        }
    }

    fn poll_commit(&mut self) -> Option<Commit> {
        self.0.borrow_mut().decided.pop_front()
    }
}
