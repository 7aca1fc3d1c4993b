//! What the store committed, and the checks every client's view is held
//! to (docs/simulation.md, "Invariants").
//!
//! The ledger knows every committed id of every channel, which makes the
//! central invariant a local one: a subscriber that has seen id `n` (or
//! resumed after it) must next see the next id committed after `n`,
//! unless the server told it, with the gap signal, that the ids between
//! were lost.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

/// Every committed message, by channel and id.
#[derive(Debug, Default)]
pub struct Ledger {
    channels: BTreeMap<String, BTreeMap<u64, String>>,
    /// Where each message went: every message's data is unique in a run.
    ids: HashMap<String, u64>,
}

impl Ledger {
    /// The store committed `data` as `id` on `channel`; returns false if
    /// the id does not come after every earlier one (the store broke its
    /// own rule).
    pub fn commit(&mut self, channel: &str, id: u64, data: &str) -> bool {
        let log = self.channels.entry(channel.to_owned()).or_default();
        if log.keys().next_back().is_some_and(|&last| last >= id) {
            return false;
        }
        log.insert(id, data.to_owned());
        self.ids.insert(data.to_owned(), id);
        true
    }

    /// A node of a cluster delivered `data` as `id` on `channel`: the
    /// first node to deliver a message commits it here, in its place
    /// among the channel's ids (nodes deliver one order, Redis's, but not
    /// in step: an id below the newest is one a node that was behind, or
    /// cut off, delivers only now); the others deliver what is here.
    /// `Err` when the id already means another text.
    pub fn deliver(&mut self, channel: &str, id: u64, data: &str) -> Result<(), String> {
        let log = self.channels.entry(channel.to_owned()).or_default();
        match log.get(&id) {
            Some(known) if known == data => Ok(()),
            Some(known) => Err(format!(
                "{channel}#{id} delivered as {:?} ({} bytes), but it was {:?} ({} bytes)",
                data.get(..12).unwrap_or(data),
                data.len(),
                known.get(..12).unwrap_or(known),
                known.len()
            )),
            None => match self.ids.insert(data.to_owned(), id) {
                Some(other) => Err(format!(
                    "{:?} ({} bytes) delivered as {channel}#{id} and as #{other}",
                    data.get(..12).unwrap_or(data),
                    data.len()
                )),
                None => {
                    log.insert(id, data.to_owned());
                    Ok(())
                }
            },
        }
    }

    /// The data committed as `id` on `channel`.
    pub fn data(&self, channel: &str, id: u64) -> Option<&str> {
        self.channels.get(channel)?.get(&id).map(String::as_str)
    }

    /// The id `data` was committed as (data is unique in a run).
    pub fn id_of(&self, data: &str) -> Option<u64> {
        self.ids.get(data).copied()
    }

    /// The newest id committed on `channel` (0: none).
    pub fn last(&self, channel: &str) -> u64 {
        self.channels
            .get(channel)
            .and_then(|log| log.keys().next_back().copied())
            .unwrap_or(0)
    }

    /// The first id committed on `channel` after `id`.
    pub fn next_after(&self, channel: &str, id: u64) -> Option<u64> {
        let log = self.channels.get(channel)?;
        log.range(id.saturating_add(1)..).next().map(|(&id, _)| id)
    }

    /// The ids committed on `channel` after `after` and before `before`.
    pub fn between(&self, channel: &str, after: u64, before: u64) -> Vec<u64> {
        let Some(log) = self.channels.get(channel) else {
            return Vec::new();
        };
        if before <= after.saturating_add(1) {
            return Vec::new();
        }
        log.range(after + 1..before).map(|(&id, _)| id).collect()
    }

    /// Messages committed, over all channels.
    pub fn total(&self) -> u64 {
        self.channels.values().map(|log| log.len() as u64).sum()
    }

    /// Every message, for a check after a crash.
    pub fn all(&self) -> impl Iterator<Item = (&str, u64, &str)> {
        self.channels.iter().flat_map(|(channel, log)| {
            log.iter()
                .map(move |(&id, data)| (channel.as_str(), id, data.as_str()))
        })
    }

    /// Forgets the messages `keep` says a crash lost (allowed only where
    /// the store never promised them: `--fsync batch`); returns how many.
    pub fn forget(&mut self, keep: impl Fn(&str, u64) -> bool) -> u64 {
        let mut lost = 0;
        for (channel, log) in &mut self.channels {
            let before = log.len();
            log.retain(|&id, _| keep(channel, id));
            lost += (before - log.len()) as u64;
        }
        lost
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
    /// A cluster's client that has seen nothing (`last` 0) is owed the
    /// ids committed after this: the channel's newest when it last
    /// connected. A node's history starts where that node caught up,
    /// not at the channel's first message, so "from the start" differs
    /// from node to node (docs/simulation.md, "Clients across nodes").
    /// `None`: owed every id (one engine, whose history is the channel's).
    pub start: Option<u64>,
    /// Gaps announced and not yet looked at by the world: `(since,
    /// oldest)`.
    pub told: Vec<(u64, u64)>,
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
        // The next committed id, or after an announced gap the oldest the
        // server still had (committed ids need not be consecutive: a
        // failed commit or a restart leaves holes nobody missed).
        let expected = match self.gap.take() {
            Some((since, oldest)) if since == self.last => {
                ledger.next_after(channel, oldest.saturating_sub(1).max(self.last))
            }
            Some((since, _)) => {
                return Err(format!(
                    "a gap from #{since} announced while at #{}",
                    self.last
                ))
            }
            None => ledger.next_after(channel, self.owed_after()),
        };
        // A cluster's client that has seen nothing may start anywhere in
        // its node's history, up to the first id owed.
        let first = self.last == 0 && self.start.is_some() && expected.is_none_or(|e| id < e);
        if Some(id) != expected && !first {
            return Err(format!(
                "got {channel}#{id} after #{}: #{} missing and no gap said so",
                self.last,
                expected.map_or("?".into(), |e| e.to_string())
            ));
        }
        self.last = id;
        self.received += 1;
        Ok(())
    }

    /// The id after which every committed id is owed: `last`, or for a
    /// cluster's client that has seen nothing, its start.
    pub fn owed_after(&self) -> u64 {
        match (self.last, self.start) {
            (0, Some(start)) => start,
            (last, _) => last,
        }
    }

    /// The server announced that `since + 1 .. oldest` are lost.
    pub fn gap(&mut self, since: u64, oldest: u64) -> Result<(), String> {
        // A cluster's client that has seen nothing is where its node said
        // the channel was (its floor, for a channel the node never had a
        // message of, docs/cluster.md): the gap covers what it was owed,
        // after `owed_after`, up to `oldest`.
        let since = match (self.last, self.start) {
            (0, Some(_)) => 0,
            _ => since,
        };
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
        self.told.push((since, oldest));
        Ok(())
    }

    /// A poll answer (or the end of a gap with nothing after it yet) says
    /// the channel is at `last_id`: everything up to it was seen or lost.
    pub fn caught_up(&mut self, last_id: u64, ledger_next: Option<u64>) -> Result<(), String> {
        if last_id < self.last {
            return Err(format!(
                "told the channel is at #{last_id}, after seeing #{}",
                self.last
            ));
        }
        if last_id > self.last {
            let missed = ledger_next.is_some_and(|next| next <= last_id);
            match self.gap.take() {
                // Everything after the gap's start is gone.
                Some((since, oldest)) if since == self.last && oldest > last_id => {}
                // Nothing committed in between (failed commits, ids a
                // restart skipped).
                None if !missed => {}
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
