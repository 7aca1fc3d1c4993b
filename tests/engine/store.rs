//! A store that commits one pass later, for the engine tests: appends
//! wait until [`Deferred::decide`], which answers them all at once (a
//! group commit), committed with the channel's next id or, for data the
//! test named with [`Deferred::fail_when`], failed.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use pushwire::broker::ChannelId;
use pushwire::engine::{Append, Commit, Store, StoreError, Ticket};

/// The test double; clones share one book, so the test keeps a handle
/// while the engine owns the store.
#[derive(Clone, Debug, Default)]
pub struct Deferred(Rc<RefCell<Book>>);

#[derive(Debug, Default)]
struct Book {
    waiting: Vec<(Ticket, ChannelId, u64, String)>,
    decided: VecDeque<Commit>,
    last: HashMap<ChannelId, u64>,
    fail: Vec<String>,
    appends: usize,
    floor: u64,
}

impl Deferred {
    /// A store whose earlier runs gave ids up to `floor`.
    pub fn above(floor: u64) -> Deferred {
        let store = Deferred::default();
        store.0.borrow_mut().floor = floor;
        store
    }

    /// Appends the store has and has not decided.
    pub fn waiting(&self) -> usize {
        self.0.borrow().waiting.len()
    }

    /// Appends the store was ever given.
    pub fn appends(&self) -> usize {
        self.0.borrow().appends
    }

    /// Appends whose data is `data` fail from now on.
    pub fn fail_when(&self, data: &str) {
        self.0.borrow_mut().fail.push(data.to_owned());
    }

    /// Decides every waiting append, in the order they came; returns how
    /// many.
    pub fn decide(&self) -> usize {
        let mut book = self.0.borrow_mut();
        let waiting = std::mem::take(&mut book.waiting);
        let n = waiting.len();
        for (ticket, channel, last_id, data) in waiting {
            let outcome = if book.fail.contains(&data) {
                Err(StoreError::new("the test store refused it"))
            } else {
                let last = book.last.entry(channel).or_insert(0);
                *last = (*last).max(last_id) + 1;
                Ok(*last)
            };
            book.decided.push_back(Commit { ticket, outcome });
        }
        n
    }
}

impl Store for Deferred {
    fn append(&mut self, append: Append<'_>) {
        let mut book = self.0.borrow_mut();
        book.appends += 1;
        book.waiting.push((
            append.ticket,
            append.channel,
            append.last_id,
            append.data.to_owned(),
        ));
    }

    fn poll_commit(&mut self) -> Option<Commit> {
        self.0.borrow_mut().decided.pop_front()
    }

    fn floor(&self) -> u64 {
        self.0.borrow().floor
    }
}
