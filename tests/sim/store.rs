//! The simulated store: commits with each channel's next id, at once or
//! after a delay the seed decides, or fails the append (the publisher is
//! told `503`, a WebSocket publisher close 1011); every commit goes into
//! the [`Ledger`] the checks read.
//!
//! Or, for some seeds, a durable log on a simulated disk: each append is
//! a record in the crate's own log format (`pushwire::log`), written once
//! per pass; with `--fsync always` a message is committed only when a
//! sync that covers it completes (a sync may fail: the records it did not
//! cover are failed and cut off), with `batch` when it is written, and
//! the disk is synced once a second. A crash keeps what was synced and
//! any prefix of the rest, torn anywhere; the restart reads it back with
//! `log::Scan` and `Engine::restore`, above a floor, as the server does
//! (`src/server/log.rs`, docs/durability.md). The log's own file and
//! thread code is not in the simulation: its format, its commit rule and
//! the engine's restore are.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use pushwire::engine::{Append, Commit, Store, StoreError, Ticket};
use pushwire::log::{encode_floor, encode_message, End, Record, Scan};

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
    /// The durable log, when the seed asked for one.
    log: Option<Log>,
}

/// A log on a simulated disk.
#[derive(Debug)]
pub struct Log {
    /// `--fsync always` (else `batch`).
    pub always: bool,
    /// Probability that a sync fails.
    pub sync_fail: f64,
    /// The longest a sync takes.
    pub max_sync: Duration,
    /// What the kernel has: written bytes.
    disk: Vec<u8>,
    /// How much of it a sync made durable.
    synced: usize,
    /// Records of this pass, not written yet.
    unwritten: Vec<(Ticket, String, u64, String)>,
    /// Written, waiting for a sync (`always`): end offset and the record.
    unsynced: VecDeque<(usize, Ticket, String, u64, String)>,
    /// The sync in flight: done at, covering up to.
    sync: Option<(Instant, usize)>,
    /// `batch`: the next once-a-second sync.
    next_sync: Instant,
    /// The newest id given per channel.
    given: HashMap<String, u64>,
    floor: u64,
    pub sync_errors: u64,
}

impl Log {
    pub fn new(always: bool, sync_fail: f64, max_sync: Duration, now: Instant) -> Log {
        Log {
            always,
            sync_fail,
            max_sync,
            disk: Vec::new(),
            synced: 0,
            unwritten: Vec::new(),
            unsynced: VecDeque::new(),
            sync: None,
            next_sync: now + Duration::from_secs(1),
            given: HashMap::new(),
            floor: 0,
            sync_errors: 0,
        }
    }

    /// The same, its ids above `floor` (the wall clock at the start),
    /// which a floor record keeps on the disk, as every segment of the
    /// server's log starts with one: a restart never starts below it,
    /// whatever the wall clock says then.
    pub fn above(mut self, floor: u64) -> Log {
        self.floor = floor;
        encode_floor(&mut self.disk, floor);
        self.synced = self.disk.len();
        self
    }
}

/// What a restart read back from the disk.
pub struct Restart {
    pub store: SimStore,
    /// Every message record, in log order.
    pub restored: Vec<(String, u64, String)>,
    /// Acknowledged messages the crash lost (allowed with `batch` only).
    pub lost: u64,
    /// Bytes of a torn record cut off.
    pub torn: usize,
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
            log: None,
        })))
    }

    /// A store that keeps a durable log on a simulated disk.
    pub fn durable(rng: Rng, faults: StoreFaults, log: Log) -> SimStore {
        let store = SimStore::new(rng, faults);
        store.0.borrow_mut().log = Some(log);
        store
    }

    /// Whether it keeps a log, and with `--fsync always`.
    pub fn log_mode(&self) -> Option<bool> {
        self.0.borrow().log.as_ref().map(|log| log.always)
    }

    /// The machine crashes at `now`: what was synced stays, and a prefix
    /// of what was only written, torn anywhere. The restart reads the disk
    /// back above `floor` (the wall clock in microseconds, as the server
    /// does). `Err`: an acknowledged message is gone with `--fsync
    /// always`, or the log is damaged.
    pub fn crash(&self, floor: u64) -> Result<Restart, String> {
        let mut book = self.0.borrow_mut();
        let book = &mut *book;
        let Some(log) = book.log.as_mut() else {
            return Err("a crash without a log".into());
        };
        let keep = log.synced + book.rng.below((log.disk.len() - log.synced) as u64 + 1) as usize;
        let mut disk = std::mem::take(&mut log.disk);
        disk.truncate(keep);
        let mut scan = Scan::new(&disk);
        let mut restored = Vec::new();
        let mut max_id = 0;
        for (_, record) in scan.by_ref() {
            match record {
                Record::Message { id, channel, data } => {
                    max_id = max_id.max(id);
                    restored.push((channel.to_owned(), id, data.to_owned()));
                }
                Record::Floor(f) => max_id = max_id.max(f),
            }
        }
        let torn = match scan.end() {
            Some(End::Clean) | None => 0,
            Some(End::Torn { dropped, .. }) => dropped,
            Some(End::Damaged { offset, damage }) => {
                return Err(format!(
                    "the log is damaged after a crash at {offset}: {damage}"
                ))
            }
        };
        disk.truncate(disk.len() - torn);
        let on_disk: std::collections::HashSet<(String, u64)> =
            restored.iter().map(|(c, id, _)| (c.clone(), *id)).collect();
        let always = log.always;
        if always {
            if let Some((c, id, _)) = book
                .ledger
                .all()
                .find(|(c, id, _)| !on_disk.contains(&(c.to_string(), *id)))
            {
                return Err(format!(
                    "{c}#{id} was acknowledged with --fsync always and the crash lost it"
                ));
            }
        }
        let mut ledger = std::mem::take(&mut book.ledger);
        let lost = ledger.forget(|c, id| on_disk.contains(&(c.to_owned(), id)));
        // Records that were written but never acknowledged may survive:
        // they are committed now (their publishers were told nothing).
        for (c, id, data) in &restored {
            if ledger.data(c, *id).is_none() {
                ledger.commit(c, *id, data);
            }
        }
        let mut new = Log::new(always, log.sync_fail, log.max_sync, log.next_sync);
        new.disk = disk;
        let mut new = new.above(floor.max(max_id));
        for (c, id, _) in &restored {
            let given = new.given.entry(c.clone()).or_default();
            *given = (*given).max(*id);
        }
        let store = SimStore::durable(book.rng.fork(), book.faults, new);
        store.0.borrow_mut().ledger = ledger;
        Ok(Restart {
            store,
            restored,
            lost,
            torn,
        })
    }

    /// When the next waiting append is due.
    pub fn next_due(&self) -> Option<Instant> {
        let book = self.0.borrow();
        if let Some(log) = &book.log {
            let sync = log.sync.map(|(at, _)| at);
            let batch = (!log.always).then_some(log.next_sync);
            return [sync, batch].into_iter().flatten().min();
        }
        book.waiting.front().map(|(at, ..)| *at)
    }

    /// Decides every append due by `now`, in order; returns how many.
    pub fn decide(&self, now: Instant) -> usize {
        let mut book = self.0.borrow_mut();
        if book.log.is_some() {
            return book.pump_log(now);
        }
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

    /// Replaces the ledger (a store restarted after a crash carries it on).
    pub fn take_ledger(&self) -> Ledger {
        std::mem::take(&mut self.0.borrow_mut().ledger)
    }

    /// From now on, every append commits at once (the quiet end of a run).
    pub fn calm(&self) {
        let mut book = self.0.borrow_mut();
        book.faults.delay = 0.0;
        book.faults.fail = 0.0;
        if let Some(log) = book.log.as_mut() {
            log.sync_fail = 0.0;
        }
    }
}

impl Book {
    /// The log's pass: write this pass's records, settle a sync that is
    /// done, start the next.
    fn pump_log(&mut self, now: Instant) -> usize {
        let Some(log) = self.log.as_mut() else {
            return 0;
        };
        let mut decided = Vec::new();
        for (ticket, channel, id, data) in std::mem::take(&mut log.unwritten) {
            encode_message(&mut log.disk, id, &channel, &data);
            let end = log.disk.len();
            match log.always {
                true => log.unsynced.push_back((end, ticket, channel, id, data)),
                false => decided.push((ticket, Ok((channel, id, data)))),
            }
        }
        if !log.always && log.next_sync <= now {
            log.synced = log.disk.len();
            log.next_sync = now + Duration::from_secs(1);
        }
        if let Some((at, upto)) = log.sync.filter(|(at, _)| *at <= now) {
            let _ = at;
            log.sync = None;
            if self.rng.chance(log.sync_fail) {
                // The sync failed: what it did not make durable is cut
                // off and failed (the server cuts its active segment).
                log.sync_errors += 1;
                log.disk.truncate(log.synced);
                for (_, ticket, ..) in log.unsynced.drain(..) {
                    decided.push((ticket, Err(())));
                }
            } else {
                log.synced = upto;
                while log.unsynced.front().is_some_and(|(end, ..)| *end <= upto) {
                    if let Some((_, ticket, channel, id, data)) = log.unsynced.pop_front() {
                        decided.push((ticket, Ok((channel, id, data))));
                    }
                }
            }
        }
        if log.sync.is_none() && !log.unsynced.is_empty() {
            let max = log.max_sync.as_micros() as u64;
            let took = Duration::from_micros(self.rng.below(max + 1));
            log.sync = Some((now + took, log.disk.len()));
        }
        let n = decided.len();
        for (ticket, outcome) in decided {
            let outcome = match outcome {
                Ok((channel, id, data)) => {
                    self.ledger.commit(&channel, id, &data);
                    Ok(id)
                }
                Err(()) => {
                    self.failures += 1;
                    Err(StoreError::new("the simulated disk failed to sync"))
                }
            };
            self.decided.push_back(Commit { ticket, outcome });
        }
        n
    }

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
        if let Some(log) = book.log.as_mut() {
            // The id is given when the append is taken, as the log store
            // does: above every id given and committed, and the floor.
            let last = log
                .given
                .get(append.name)
                .copied()
                .unwrap_or(0)
                .max(book.ledger.last(append.name))
                .max(append.last_id)
                .max(log.floor);
            log.given.insert(append.name.to_owned(), last + 1);
            log.unwritten.push((
                append.ticket,
                append.name.to_owned(),
                last + 1,
                append.data.to_owned(),
            ));
            return;
        }
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

    fn floor(&self) -> u64 {
        self.0.borrow().log.as_ref().map_or(0, |log| log.floor)
    }
}
