//! What the store committed, and the checks every client's view is held
//! to (docs/simulation.md, "Invariants").
//!
//! The simulated store gives each channel's ids one after another, so a
//! channel's committed ids are 1, 2, 3, ... with no hole. That makes the
//! central invariant a local one: a subscriber that has seen id `n` (or
//! resumed after it) must next see `n + 1`, unless the server told it,
//! with the gap signal, that exactly the ids between were lost.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

/// Every committed message, by channel and id.
#[derive(Debug, Default)]
pub struct Ledger {
    channels: BTreeMap<String, Vec<String>>,
    /// Where each message went: every message's data is unique in a run.
    ids: HashMap<String, u64>,
}

impl Ledger {
    /// The store committed `data` as `id` on `channel`; returns false if
    /// the id is not the next one (the store broke its own rule).
    pub fn commit(&mut self, channel: &str, id: u64, data: &str) -> bool {
        let log = self.channels.entry(channel.to_owned()).or_default();
        if id != log.len() as u64 + 1 {
            return false;
        }
        log.push(data.to_owned());
        self.ids.insert(data.to_owned(), id);
        true
    }

    /// The id `data` was committed as (data is unique in a run).
    pub fn id_of(&self, data: &str) -> Option<u64> {
        self.ids.get(data).copied()
    }

    /// The data committed as `id` on `channel`.
    pub fn data(&self, channel: &str, id: u64) -> Option<&str> {
        let index = usize::try_from(id.checked_sub(1)?).ok()?;
        self.channels.get(channel)?.get(index).map(String::as_str)
    }

    /// The newest id committed on `channel` (0: none).
    pub fn last(&self, channel: &str) -> u64 {
        self.channels.get(channel).map_or(0, |log| log.len() as u64)
    }

    /// Messages committed, over all channels.
    pub fn total(&self) -> u64 {
        self.channels.values().map(|log| log.len() as u64).sum()
    }
}

/// What one subscriber has seen of its channel: the newest id, and the
/// gaps it was told about.
#[derive(Debug, Default, Clone)]
pub struct View {
    /// The newest id seen (or resumed after): the next one must be this
    /// plus one, or announced lost.
    pub last: u64,
    /// Ids announced lost and not (yet) skipped: `(since, oldest)` means
    /// `since + 1 .. oldest` are gone and `oldest` comes next.
    pub gap: Option<(u64, u64)>,
    /// Messages taken, for the summary.
    pub received: u64,
}

impl View {
    /// A message arrived. `Err` says what rule it broke.
    pub fn message(
        &mut self,
        ledger: &Ledger,
        channel: &str,
        id: u64,
        data: &str,
    ) -> Result<(), String> {
        match ledger.data(channel, id) {
            None => return Err(format!("got {channel}#{id}, which was never committed")),
            Some(committed) if committed != data => {
                return Err(format!(
                    "got {channel}#{id} = {data:?}, but {committed:?} was committed as it"
                ))
            }
            Some(_) => {}
        }
        if id <= self.last {
            return Err(format!(
                "got {channel}#{id} after #{}: a repeat or out of order",
                self.last
            ));
        }
        let expected = match self.gap.take() {
            Some((since, oldest)) if since == self.last => oldest.max(self.last + 1),
            Some((since, _)) => {
                return Err(format!(
                    "a gap from #{since} announced while at #{}",
                    self.last
                ))
            }
            None => self.last + 1,
        };
        if id != expected {
            return Err(format!(
                "got {channel}#{id} after #{}: #{expected} to #{} missing and no gap said so",
                self.last,
                id - 1
            ));
        }
        self.last = id;
        self.received += 1;
        Ok(())
    }

    /// The server announced that `since + 1 .. oldest` are lost.
    pub fn gap(&mut self, since: u64, oldest: u64) -> Result<(), String> {
        if since != self.last {
            return Err(format!(
                "a gap announced from #{since}, but the client was at #{}",
                self.last
            ));
        }
        if oldest <= since {
            return Err(format!("a gap from #{since} to #{oldest}: nothing lost"));
        }
        self.gap = Some((since, oldest));
        Ok(())
    }

    /// A poll answer (or the end of a gap with nothing after it yet) says
    /// the channel is at `last_id`: everything up to it was seen or lost.
    pub fn caught_up(&mut self, last_id: u64) -> Result<(), String> {
        if last_id < self.last {
            return Err(format!(
                "told the channel is at #{last_id}, after seeing #{}",
                self.last
            ));
        }
        if last_id > self.last {
            match self.gap.take() {
                // Everything after the gap's start is gone.
                Some((since, oldest)) if since == self.last && oldest > last_id => {}
                other => {
                    return Err(format!(
                        "told the channel is at #{last_id}, but #{} to #{last_id} never came \
                         (gap {other:?})",
                        self.last + 1
                    ))
                }
            }
            self.last = last_id;
        }
        Ok(())
    }
}
