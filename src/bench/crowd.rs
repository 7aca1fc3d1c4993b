//! Many subscribers on one `mio::Poll`: opened a few hundred at a time
//! (a burst of 10,000 SYNs would overflow the server's accept queue and
//! cost seconds of SYN retransmits), each driven by its [`Subscriber`].
//! With several targets (servers sharing their channels), subscriber `i`
//! goes to target `i % targets`, and each target keeps its own [`Tally`].
//! The fan-out and idle scenarios share this; a publisher or anything else
//! may use tokens from [`FIRST_FREE_TOKEN`] up on the same poll.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use mio::{Events, Poll, Token};
use slab::Slab;

use super::link::{Link, ReadOutcome};
use super::net::Sources;
use super::stamp::Clock;
use super::subscriber::{Format, Next, Rng, Subscriber, Tally, Transport};
use super::target::Template;

/// Tokens at and above this are not subscribers.
pub const FIRST_FREE_TOKEN: usize = usize::MAX / 2;

#[derive(Debug)]
struct Entry {
    link: Option<Link>,
    sub: Subscriber,
    /// Its index in [`CrowdPlan::targets`].
    target: usize,
    counted_ready: bool,
    finished: bool,
}

/// How a crowd subscribes.
#[derive(Debug, Clone)]
pub struct CrowdPlan {
    pub transport: Transport,
    /// Where to subscribe, round-robin; never empty.
    pub targets: Vec<Template>,
    pub channel: String,
    pub format: Format,
    pub subscribers: usize,
    /// Messages each subscriber expects (0: none, an idle crowd).
    pub messages: u64,
    /// Between two polls of `--transport poll`.
    pub interval: Duration,
    pub max_connecting: usize,
}

pub struct Crowd {
    pub poll: Poll,
    events: Events,
    entries: Slab<Entry>,
    buf: Vec<u8>,
    plan: CrowdPlan,
    sources: Sources,
    rng: Rng,
    pub clock: Clock,
    /// One per target.
    tallies: Vec<Tally>,
    opened: usize,
    /// Subscribers whose subscription is in place.
    pub ready: usize,
    /// Subscribers that saw the last message, or failed.
    pub finished: usize,
    pub failed: usize,
    /// Poll requests due later: (when, entry). The interval is constant,
    /// so the queue stays in time order.
    waiting: VecDeque<(u64, usize)>,
    /// The events of one turn: (token, readable, writable).
    fired: Vec<(usize, bool, bool)>,
}

impl Crowd {
    pub fn new(plan: CrowdPlan, sources: Sources, clock: Clock) -> io::Result<Crowd> {
        Ok(Crowd {
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            entries: Slab::with_capacity(plan.subscribers),
            buf: vec![0; 256 * 1024],
            rng: Rng::new(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id())),
            tallies: plan.targets.iter().map(|_| Tally::new()).collect(),
            plan,
            sources,
            clock,
            opened: 0,
            ready: 0,
            finished: 0,
            failed: 0,
            waiting: VecDeque::new(),
            fired: Vec::new(),
        })
    }

    /// Whether every subscriber has opened and subscribed (or failed).
    pub fn all_ready(&self) -> bool {
        self.opened == self.plan.subscribers && self.ready + self.failed >= self.plan.subscribers
    }

    pub fn all_finished(&self) -> bool {
        self.finished >= self.plan.subscribers
    }

    pub fn subscribers(&self) -> impl Iterator<Item = &Subscriber> {
        self.entries.iter().map(|(_, e)| &e.sub)
    }

    /// The subscribers of target `i`.
    pub fn subscribers_of(&self, i: usize) -> impl Iterator<Item = &Subscriber> {
        self.entries
            .iter()
            .filter(move |(_, e)| e.target == i)
            .map(|(_, e)| &e.sub)
    }

    /// What the subscribers of every target measured, added up.
    pub fn tally(&self) -> Tally {
        let mut all = Tally::new();
        for t in &self.tallies {
            all.merge(t);
        }
        all
    }

    /// What the subscribers of target `i` measured.
    pub fn target_tally(&self, i: usize) -> &Tally {
        &self.tallies[i]
    }

    fn connect(&mut self, key: usize) -> io::Result<()> {
        let Some(target) = self.entries.get(key).map(|e| e.target) else {
            return Ok(());
        };
        let target = &self.plan.targets[target];
        let stream = self.sources.connect(target.addr)?;
        let mut link = Link::new(
            self.poll.registry(),
            stream,
            Token(key),
            target.tls.as_ref(),
        )?;
        if let Some(entry) = self.entries.get_mut(key) {
            entry
                .sub
                .write_request(&mut link.out, target, &self.plan.channel, &mut self.rng);
            entry.link = Some(link);
        }
        Ok(())
    }

    fn open_more(&mut self) {
        while self.opened < self.plan.subscribers
            && self.opened - self.ready - self.failed < self.plan.max_connecting
        {
            let key = self.entries.insert(Entry {
                link: None,
                sub: Subscriber::new(self.plan.transport, self.plan.messages, self.clock),
                target: self.opened % self.plan.targets.len(),
                counted_ready: false,
                finished: false,
            });
            self.opened += 1;
            if let Err(e) = self.connect(key) {
                self.fail(key, format!("connect: {e}"));
            }
        }
    }

    fn fail(&mut self, key: usize, why: String) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if let Some(mut link) = entry.link.take() {
            link.deregister(self.poll.registry());
        }
        self.tallies[entry.target].error(why);
        if !entry.counted_ready {
            entry.counted_ready = true;
            self.failed += 1;
        }
        if !entry.finished {
            entry.finished = true;
            self.finished += 1;
        }
    }

    fn after(&mut self, key: usize, next: Next) {
        let now = self.clock.now();
        match next {
            Next::Read => {}
            Next::Fail => self.fail(key, "subscriber failed".into()),
            Next::Wait if self.plan.transport == Transport::Poll => {
                let due = now + self.plan.interval.as_nanos() as u64;
                self.waiting.push_back((due, key));
            }
            Next::Wait => self.request_again(key),
            Next::Reconnect => {
                if let Some(mut link) = self.entries.get_mut(key).and_then(|e| e.link.take()) {
                    link.deregister(self.poll.registry());
                }
                if let Err(e) = self.connect(key) {
                    self.fail(key, format!("reconnect: {e}"));
                }
            }
        }
    }

    fn request_again(&mut self, key: usize) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let Some(link) = entry.link.as_mut() else {
            return;
        };
        entry.sub.write_request(
            &mut link.out,
            &self.plan.targets[entry.target],
            &self.plan.channel,
            &mut self.rng,
        );
        if let Err(e) = link.flush() {
            self.fail(key, format!("write: {e}"));
        }
    }

    fn update(&mut self, key: usize) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let request_sent = entry
            .link
            .as_ref()
            .is_some_and(|l| l.connected && !l.pending());
        if !entry.counted_ready
            && (entry.sub.ready
                || (request_sent
                    && matches!(self.plan.transport, Transport::LongPoll | Transport::Poll)))
        {
            entry.counted_ready = true;
            self.ready += 1;
        }
        let last = self.plan.messages.checked_sub(1);
        if !entry.finished && last.is_some() && entry.sub.tracker.highest() == last {
            entry.finished = true;
            self.finished += 1;
        }
    }

    fn on_event(&mut self, key: usize, readable: bool, writable: bool) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let Some(link) = entry.link.as_mut() else {
            return;
        };
        if writable {
            if let Err(e) = link.on_writable() {
                self.fail(key, format!("connect or write: {e}"));
                return;
            }
        }
        let mut next = Next::Read;
        let tally = &mut self.tallies[entry.target];
        if readable && link.connected {
            loop {
                match link.read(&mut self.buf) {
                    Ok(ReadOutcome::Data(n)) => {
                        let now = self.clock.now();
                        next = entry.sub.on_bytes(
                            self.buf.get(..n).unwrap_or_default(),
                            &mut link.out,
                            now,
                            self.plan.format,
                            &mut self.rng,
                            tally,
                        );
                        if next != Next::Read {
                            break;
                        }
                    }
                    Ok(ReadOutcome::Again) => break,
                    Ok(ReadOutcome::Closed) => {
                        next = entry.sub.on_eof(self.clock.now(), tally);
                        break;
                    }
                    Err(e) => {
                        self.fail(key, format!("read: {e}"));
                        return;
                    }
                }
            }
            if let Err(e) = link.flush() {
                self.fail(key, format!("write: {e}"));
                return;
            }
        }
        self.update(key);
        self.after(key, next);
    }

    /// Turns the loop for `length` (to settle, or to hold), `tick` at a
    /// time; events on other tokens are dropped.
    pub fn turn_for(&mut self, length: Duration, tick: Duration) -> io::Result<()> {
        let end = self.clock.now() + length.as_nanos() as u64;
        let mut others = Vec::new();
        while self.clock.now() < end {
            self.turn(tick, &mut others)?;
            others.clear();
        }
        Ok(())
    }

    /// One turn of the loop: opens more connections, sends due polls,
    /// waits up to `timeout` and handles what happened. The tokens at or
    /// above [`FIRST_FREE_TOKEN`] that had events are pushed to `others`.
    pub fn turn(&mut self, timeout: Duration, others: &mut Vec<Token>) -> io::Result<()> {
        self.open_more();
        let now = self.clock.now();
        while let Some(&(due, key)) = self.waiting.front() {
            if due > now {
                break;
            }
            self.waiting.pop_front();
            self.request_again(key);
        }
        let timeout = match self.waiting.front() {
            Some(&(due, _)) => timeout.min(Duration::from_nanos(due.saturating_sub(now))),
            None => timeout,
        };
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut fired = std::mem::take(&mut self.fired);
        fired.extend(self.events.iter().map(|e| {
            let closed = e.is_read_closed() || e.is_error();
            (
                e.token().0,
                e.is_readable() || closed,
                e.is_writable() || e.is_error(),
            )
        }));
        for &(key, readable, writable) in &fired {
            if key >= FIRST_FREE_TOKEN {
                others.push(Token(key));
            } else {
                self.on_event(key, readable, writable);
            }
        }
        fired.clear();
        self.fired = fired;
        Ok(())
    }
}
