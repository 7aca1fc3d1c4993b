//! The attackers' connections: groups of sockets that open the same way
//! (an HTTP request, or a WebSocket handshake) and then behave the same
//! way (flood, trickle, never read, read the head and stall, or read
//! everything), on the attacker thread's `mio::Poll`.
//!
//! A connection the server ends is recorded with how it ended
//! ([`Ending`]) and, unless told otherwise, replaced after
//! [`RECONNECT_DELAY`]: an attacker whose connection is cut opens
//! another, so a limit that only closes connections keeps being tested
//! for the whole attack.
//!
//! Floods write whole blocks of frames: a block is queued only when the
//! output is empty, so the frames a WebSocket session answers with (a
//! pong to the server's ping) stay between frames. A connection writes at
//! most [`FLOOD_BUDGET`] bytes per turn of the loop and then waits its
//! turn again, so twenty floods share the thread evenly.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Duration;

use mio::{Registry, Token};
use slab::Slab;

use pushwire::http::response_reader::{ResponseEvent, ResponseReader};
use pushwire::sse::{EventStreamParser, SseItem};
use pushwire::ws::{Limits, Role, Session, SessionEvent};

use super::super::link::Link;
use super::super::net::Sources;
use super::super::stamp::Clock;
use super::super::subscriber::{check_upgrade, write_ws_request, Rng};
use super::ending::{Ending, Endings};
use super::frames;

/// How long an attacker waits before replacing a connection the server
/// ended.
pub const RECONNECT_DELAY: u64 = 10_000_000;

/// Bytes one flooding connection writes per turn before the others get
/// theirs.
pub const FLOOD_BUDGET: usize = 256 * 1024;

/// A stream read again at the end is taken to go on (still open) after
/// this long without a byte.
const READ_AGAIN_SILENCE: u64 = 100_000_000;

/// What an attacker accepts from the server: messages up to 16 MiB.
const LIMITS: Limits = Limits::client(1 << 24);

/// How a connection opens.
#[derive(Debug, Clone)]
pub enum Opening {
    /// This HTTP request, written whole at connect.
    Http(Vec<u8>),
    /// A WebSocket handshake for this path.
    WebSocket(String),
}

/// What a connection does once open.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// After the upgrade, and once armed: `prefix` once, then `block`
    /// again and again, as fast as the socket takes it.
    Flood { prefix: Vec<u8>, block: Vec<u8> },
    /// After the upgrade, and once armed: `prefix` once, then one
    /// continuation frame carrying `fragment` every `every` nanoseconds.
    Trickle {
        prefix: Vec<u8>,
        fragment: Vec<u8>,
        every: u64,
    },
    /// Sends its request and never reads.
    Silent,
    /// Reads the answer's head, then never reads again.
    StallAfterHead,
    /// Reads everything and throws it away.
    Drain,
}

/// Connections that open and behave alike.
#[derive(Debug, Clone)]
pub struct Group {
    /// What the report calls them: `ws`, `poll`, `sse-http1.0`.
    pub name: String,
    pub count: usize,
    pub opening: Opening,
    pub behaviour: Behaviour,
    /// Read again this many of them when the attack ends, to see how their
    /// stream ends (only for [`Behaviour::StallAfterHead`]).
    pub read_again: usize,
}

#[derive(Debug)]
struct Conn {
    group: usize,
    link: Link,
    opened_at: u64,
    responses: ResponseReader,
    ws_key: String,
    session: Option<Session>,
    status: Option<u16>,
    /// Its head arrived (or, for a silent one, its request is written).
    running: bool,
    /// A flood or trickle has written its prefix.
    started: bool,
    /// A flood waiting in the fleet's `hungry` queue for its next turn.
    hungry: bool,
    messages: u64,
}

/// What one read found.
enum Read1 {
    Data(usize),
    Again,
    Eof,
    Reset,
}

fn read1(link: &mut Link, buf: &mut [u8]) -> Read1 {
    loop {
        return match link.stream.read(buf) {
            Ok(0) => Read1::Eof,
            Ok(n) => Read1::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read1::Again,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => Read1::Reset,
        };
    }
}

/// The status of the answer waiting unread in the socket, if its status
/// line has arrived (`HTTP/1.1 200 `).
fn peek_status(link: &Link) -> Option<u16> {
    let mut head = [0u8; 12];
    let n = link.stream.peek(&mut head).ok()?;
    let line = head.get(..n)?;
    if !line.starts_with(b"HTTP/1.") {
        return None;
    }
    pushwire::decimal::parse_decimal(line.get(9..12)?).and_then(|s| u16::try_from(s).ok())
}

/// How a closed socket ended: reset, or closed.
fn closed_how(link: &Link) -> Ending {
    match link.stream.take_error() {
        Ok(Some(_)) => Ending::Reset,
        _ => Ending::Closed,
    }
}

pub struct Fleet {
    groups: Vec<Group>,
    conns: Slab<Conn>,
    /// Initial connections not opened yet, per group.
    to_open: Vec<usize>,
    /// Opened and neither running nor ended.
    connecting: usize,
    max_connecting: usize,
    reconnect: bool,
    /// Replacements due: (when, group).
    reconnects: VecDeque<(u64, usize)>,
    /// Trickles due: (when, key, that connection's opening time).
    trickles: VecDeque<(u64, usize, u64)>,
    /// Floods that stopped with room left in their socket.
    hungry: VecDeque<usize>,
    armed: bool,
    addr: SocketAddr,
    host: String,
    sources: Sources,
    rng: Rng,
    buf: Vec<u8>,
    body: Vec<u8>,
    clock: Clock,
    pub endings: Endings,
    /// Bytes the draining connections read.
    pub drained_bytes: u64,
}

impl Fleet {
    pub fn new(
        groups: Vec<Group>,
        addr: SocketAddr,
        host: &str,
        sources: Sources,
        reconnect: bool,
        max_connecting: usize,
        clock: Clock,
    ) -> Fleet {
        Fleet {
            to_open: groups.iter().map(|g| g.count).collect(),
            groups,
            conns: Slab::new(),
            connecting: 0,
            max_connecting: max_connecting.max(1),
            reconnect,
            reconnects: VecDeque::new(),
            trickles: VecDeque::new(),
            hungry: VecDeque::new(),
            armed: false,
            addr,
            host: host.to_owned(),
            sources,
            rng: Rng::new(0xd1b5_4a32_d192_ed03 ^ u64::from(std::process::id())),
            buf: vec![0; 64 * 1024],
            body: Vec::new(),
            clock,
            endings: Endings::new(),
            drained_bytes: 0,
        }
    }

    /// Whether every first connection was opened and is running (or ended).
    pub fn ready(&self) -> bool {
        self.to_open.iter().all(|&n| n == 0) && self.connecting == 0
    }

    /// Connections open now.
    pub fn open_count(&self) -> usize {
        self.conns.len()
    }

    /// Starts the floods and trickles.
    pub fn arm(&mut self, registry: &Registry, now: u64) {
        self.armed = true;
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.start(registry, key, now);
        }
    }

    /// Whether a flood is waiting for its next turn (poll without
    /// sleeping).
    pub fn busy(&self) -> bool {
        !self.hungry.is_empty()
    }

    /// When something is due next: a replacement or a trickle.
    pub fn wake_at(&self) -> Option<u64> {
        let a = self.reconnects.front().map(|&(due, _)| due);
        let b = self.trickles.front().map(|&(due, _, _)| due);
        a.into_iter().chain(b).min()
    }

    /// Opens what is due, writes due trickles, gives each hungry flood its
    /// turn.
    pub fn tick(&mut self, registry: &Registry, now: u64) {
        for group in 0..self.groups.len() {
            while self.to_open.get(group).is_some_and(|&n| n > 0)
                && self.connecting < self.max_connecting
            {
                if let Some(n) = self.to_open.get_mut(group) {
                    *n -= 1;
                }
                self.open(registry, group, now);
            }
        }
        while let Some(&(due, group)) = self.reconnects.front() {
            if due > now || self.connecting >= self.max_connecting {
                break;
            }
            self.reconnects.pop_front();
            self.open(registry, group, now);
        }
        while let Some(&(due, key, opened_at)) = self.trickles.front() {
            if due > now {
                break;
            }
            self.trickles.pop_front();
            self.trickle(registry, key, opened_at, due, now);
        }
        for _ in 0..self.hungry.len() {
            let Some(key) = self.hungry.pop_front() else {
                break;
            };
            if let Some(conn) = self.conns.get_mut(key) {
                conn.hungry = false;
                self.flood(registry, key, now);
            }
        }
    }

    fn open(&mut self, registry: &Registry, group: usize, now: u64) {
        let Some(g) = self.groups.get(group) else {
            return;
        };
        self.endings.opened(&g.name);
        let stream = match self.sources.connect(self.addr) {
            Ok(s) => s,
            Err(_) => {
                let name = g.name.clone();
                self.endings.record(&name, Ending::ConnectFailed, 0, 0);
                self.replace(group, now);
                return;
            }
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let mut link = match Link::new(registry, stream, Token(key), None) {
            Ok(l) => l,
            Err(_) => {
                let name = g.name.clone();
                self.endings.record(&name, Ending::ConnectFailed, 0, 0);
                self.replace(group, now);
                return;
            }
        };
        let ws_key = match &g.opening {
            Opening::Http(request) => {
                link.out.extend_from_slice(request);
                String::new()
            }
            Opening::WebSocket(path) => {
                write_ws_request(&mut link.out, &self.host, path, &mut self.rng)
            }
        };
        entry.insert(Conn {
            group,
            link,
            opened_at: now,
            responses: ResponseReader::new(),
            ws_key,
            session: None,
            status: None,
            running: false,
            started: false,
            hungry: false,
            messages: 0,
        });
        self.connecting += 1;
    }

    fn replace(&mut self, group: usize, now: u64) {
        if self.reconnect {
            self.reconnects.push_back((now + RECONNECT_DELAY, group));
        }
    }

    /// The connection ended so: recorded, dropped (with a reset: the
    /// bench's sockets linger 0) and replaced.
    fn end(&mut self, registry: &Registry, key: usize, ending: Ending, now: u64) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        conn.link.deregister(registry);
        if !conn.running {
            self.connecting = self.connecting.saturating_sub(1);
        }
        if let Some(g) = self.groups.get(conn.group) {
            let name = g.name.clone();
            self.endings
                .record(&name, ending, now.saturating_sub(conn.opened_at), 0);
        }
        self.replace(conn.group, now);
    }

    fn behaviour(&self, key: usize) -> Option<&Behaviour> {
        let conn = self.conns.get(key)?;
        Some(&self.groups.get(conn.group)?.behaviour)
    }

    fn set_running(&mut self, registry: &Registry, key: usize, status: Option<u16>, now: u64) {
        if let Some(conn) = self.conns.get_mut(key) {
            if !conn.running {
                conn.running = true;
                conn.status = status;
                self.connecting = self.connecting.saturating_sub(1);
            }
        }
        if self.armed {
            self.start(registry, key, now);
        }
    }

    /// Starts a running flood or trickle: its prefix, then its first
    /// block or its first due time.
    fn start(&mut self, registry: &Registry, key: usize, now: u64) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if !conn.running || conn.started {
            return;
        }
        let Some(group) = self.groups.get(conn.group) else {
            return;
        };
        match &group.behaviour {
            Behaviour::Flood { prefix, .. } => {
                conn.started = true;
                conn.hungry = true;
                conn.link.out.extend_from_slice(prefix);
                self.hungry.push_back(key);
            }
            Behaviour::Trickle { prefix, every, .. } => {
                conn.started = true;
                conn.link.out.extend_from_slice(prefix);
                self.trickles.push_back((now + every, key, conn.opened_at));
                if conn.link.flush().is_err() {
                    self.end(registry, key, Ending::Reset, now);
                }
            }
            _ => {}
        }
    }

    fn flood(&mut self, registry: &Registry, key: usize, now: u64) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(Behaviour::Flood { block, .. }) =
            self.groups.get(conn.group).map(|g| &g.behaviour)
        else {
            return;
        };
        let mut written = 0;
        loop {
            if !conn.link.pending() {
                if written >= FLOOD_BUDGET {
                    // Room left: its next turn comes after the others'.
                    if !conn.hungry {
                        conn.hungry = true;
                        self.hungry.push_back(key);
                    }
                    return;
                }
                conn.link.out.extend_from_slice(block);
                written += block.len();
            }
            if conn.link.flush().is_err() {
                break;
            }
            if conn.link.pending() {
                // The socket is full: a WRITABLE edge resumes it.
                return;
            }
        }
        // A write failed: the server is gone. Its Close may be waiting.
        let ending = self.read_close(key).unwrap_or(Ending::Reset);
        self.end(registry, key, ending, now);
    }

    /// Reads what a WebSocket connection has left to read; the server's
    /// Close if it sent one.
    fn read_close(&mut self, key: usize) -> Option<Ending> {
        let conn = self.conns.get_mut(key)?;
        let session = conn.session.as_mut()?;
        let now = self.clock.now();
        loop {
            let Read1::Data(n) = read1(&mut conn.link, &mut self.buf) else {
                return None;
            };
            let mut input = self.buf.get(..n).unwrap_or_default();
            while !input.is_empty() {
                let mut ignored = Vec::new();
                let (used, event) = session.handle_input(
                    input,
                    self.clock.instant(now),
                    &LIMITS,
                    &mut ignored,
                    Some(self.rng.mask()),
                );
                input = input.get(used..).unwrap_or_default();
                if let Some(SessionEvent::Closed { code, .. }) = event {
                    return Some(Ending::WsClose(code));
                }
            }
        }
    }

    fn trickle(&mut self, registry: &Registry, key: usize, opened_at: u64, due: u64, now: u64) {
        let Some(conn) = self.conns.get_mut(key).filter(|c| c.opened_at == opened_at) else {
            return;
        };
        let Some(Behaviour::Trickle {
            fragment, every, ..
        }) = self.groups.get(conn.group).map(|g| &g.behaviour)
        else {
            return;
        };
        if !conn.link.pending() {
            frames::continuation(&mut conn.link.out, fragment, self.rng.mask());
        }
        let every = *every;
        if conn.link.flush().is_err() {
            let ending = self.read_close(key).unwrap_or(Ending::Reset);
            self.end(registry, key, ending, now);
            return;
        }
        self.trickles.push_back((due + every, key, opened_at));
    }

    /// An event on a connection's token.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        key: usize,
        readable: bool,
        writable: bool,
        hung_up: bool,
        now: u64,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if writable {
            let was_connected = conn.link.connected;
            if conn.link.on_writable().is_err() {
                let ending = if was_connected {
                    Ending::Reset
                } else {
                    Ending::ConnectFailed
                };
                self.end(registry, key, ending, now);
                return;
            }
        }
        if !conn.link.connected {
            return;
        }
        let Some(kind) = self.behaviour(key).map(Behaviour::kind) else {
            return;
        };
        match kind {
            Kind::Silent => {
                let written = self.conns.get(key).is_some_and(|c| !c.link.pending());
                let running = self.conns.get(key).is_some_and(|c| c.running);
                if written && !running {
                    self.set_running(registry, key, None, now);
                }
                if hung_up {
                    let ending = self
                        .conns
                        .get(key)
                        .map_or(Ending::Closed, |c| closed_how(&c.link));
                    self.end(registry, key, ending, now);
                }
            }
            Kind::StallAfterHead => {
                let running = self.conns.get(key).is_some_and(|c| c.running);
                if !running && readable {
                    self.read_head(registry, key, now);
                } else if running && hung_up {
                    let ending = self
                        .conns
                        .get(key)
                        .map_or(Ending::Closed, |c| closed_how(&c.link));
                    self.end(registry, key, ending, now);
                }
            }
            Kind::Drain => {
                if readable {
                    self.drain(registry, key, now);
                }
            }
            Kind::WebSocket => {
                if readable {
                    self.read_ws(registry, key, now);
                }
                let Some(conn) = self.conns.get_mut(key) else {
                    return;
                };
                if conn.running && conn.started && !conn.hungry && writable {
                    if matches!(
                        self.groups.get(conn.group).map(|g| &g.behaviour),
                        Some(Behaviour::Flood { .. })
                    ) {
                        self.flood(registry, key, now);
                    } else if conn.link.flush().is_err() {
                        self.end(registry, key, Ending::Reset, now);
                    }
                }
            }
        }
    }

    /// Reads until the answer's head (then stops reading for good). What
    /// came with the head is fed on, so that a stream read again at the
    /// end is read from where it was left.
    fn read_head(&mut self, registry: &Registry, key: usize, now: u64) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let n = match read1(&mut conn.link, &mut self.buf) {
                Read1::Data(n) => n,
                Read1::Again => return,
                Read1::Eof => return self.end(registry, key, Ending::Closed, now),
                Read1::Reset => return self.end(registry, key, Ending::Reset, now),
            };
            let mut input = self.buf.get(..n).unwrap_or_default();
            while !input.is_empty() {
                self.body.clear();
                let (used, event) = match conn.responses.read(input, &mut self.body) {
                    Ok(step) => step,
                    Err(_) => return self.end(registry, key, Ending::CutMidFrame, now),
                };
                input = input.get(used..).unwrap_or_default();
                let Some(ResponseEvent::Head(head)) = event else {
                    if used == 0 {
                        break;
                    }
                    continue;
                };
                let ws = !conn.ws_key.is_empty();
                let expected = if ws { 101 } else { 200 };
                if head.status != expected {
                    return self.end(registry, key, Ending::Refused(head.status), now);
                }
                if ws {
                    if check_upgrade(&head, &conn.responses, &conn.ws_key).is_err() {
                        return self.end(registry, key, Ending::CutMidFrame, now);
                    }
                    let mut session = Session::new(Role::Client, self.clock.instant(now));
                    let mut ignored = Vec::new();
                    while !input.is_empty() {
                        let at = self.clock.instant(now);
                        let mask = Some(self.rng.mask());
                        let (used, _) =
                            session.handle_input(input, at, &LIMITS, &mut ignored, mask);
                        input = input.get(used..).unwrap_or_default();
                    }
                    conn.session = Some(session);
                } else {
                    while !input.is_empty() {
                        self.body.clear();
                        match conn.responses.read(input, &mut self.body) {
                            Ok((used, _)) if used > 0 => {
                                input = input.get(used..).unwrap_or_default()
                            }
                            _ => break,
                        }
                    }
                }
                return self.set_running(registry, key, Some(head.status), now);
            }
        }
    }

    /// Reads everything; the head decides whether the stream was granted.
    fn drain(&mut self, registry: &Registry, key: usize, now: u64) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let n = match read1(&mut conn.link, &mut self.buf) {
                Read1::Data(n) => n,
                Read1::Again => return,
                Read1::Eof => return self.end(registry, key, Ending::Closed, now),
                Read1::Reset => return self.end(registry, key, Ending::Reset, now),
            };
            self.drained_bytes += n as u64;
            if conn.running {
                continue;
            }
            self.body.clear();
            match conn
                .responses
                .read(self.buf.get(..n).unwrap_or_default(), &mut self.body)
            {
                Ok((_, Some(ResponseEvent::Head(head)))) if head.status == 200 => {
                    self.set_running(registry, key, Some(200), now);
                }
                Ok((_, Some(ResponseEvent::Head(head)))) => {
                    return self.end(registry, key, Ending::Refused(head.status), now);
                }
                Ok(_) => {}
                Err(_) => return self.end(registry, key, Ending::CutMidFrame, now),
            }
        }
    }

    /// A flooding or trickling WebSocket: the upgrade, then whatever the
    /// server says (its Close ends the connection).
    fn read_ws(&mut self, registry: &Registry, key: usize, now: u64) {
        let mut buf = std::mem::take(&mut self.buf);
        self.read_ws_into(registry, key, now, &mut buf);
        self.buf = buf;
    }

    fn read_ws_into(&mut self, registry: &Registry, key: usize, now: u64, buf: &mut [u8]) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let n = match read1(&mut conn.link, buf) {
                Read1::Data(n) => n,
                Read1::Again => return,
                Read1::Eof => {
                    let ending = match &conn.session {
                        Some(s) if !s.is_idle() => Ending::CutMidFrame,
                        _ => Ending::Closed,
                    };
                    return self.end(registry, key, ending, now);
                }
                Read1::Reset => return self.end(registry, key, Ending::Reset, now),
            };
            let mut input = buf.get(..n).unwrap_or_default();
            while !input.is_empty() {
                let Some(conn) = self.conns.get_mut(key) else {
                    return;
                };
                if let Some(session) = conn.session.as_mut() {
                    let (used, event) = session.handle_input(
                        input,
                        self.clock.instant(now),
                        &LIMITS,
                        &mut conn.link.out,
                        Some(self.rng.mask()),
                    );
                    input = input.get(used..).unwrap_or_default();
                    match event {
                        Some(SessionEvent::Closed { code, .. }) => {
                            return self.end(registry, key, Ending::WsClose(code), now)
                        }
                        Some(SessionEvent::Failed(_)) => {
                            return self.end(registry, key, Ending::CutMidFrame, now)
                        }
                        Some(_) => conn.messages += 1,
                        None => {}
                    }
                    continue;
                }
                self.body.clear();
                match conn.responses.read(input, &mut self.body) {
                    Ok((used, Some(ResponseEvent::Head(head)))) => {
                        input = input.get(used..).unwrap_or_default();
                        if head.status != 101 {
                            return self.end(registry, key, Ending::Refused(head.status), now);
                        }
                        if check_upgrade(&head, &conn.responses, &conn.ws_key).is_err() {
                            return self.end(registry, key, Ending::CutMidFrame, now);
                        }
                        conn.session = Some(Session::new(Role::Client, self.clock.instant(now)));
                        self.set_running(registry, key, Some(101), now);
                    }
                    Ok((used, _)) => {
                        if used == 0 {
                            break;
                        }
                        input = input.get(used..).unwrap_or_default();
                    }
                    Err(_) => return self.end(registry, key, Ending::CutMidFrame, now),
                }
            }
        }
    }

    /// Ends the attack: up to `read_again` stalled connections per group
    /// are read to their end (for at most `budget` in all) to see how
    /// their stream ends; every other open connection is recorded as open,
    /// with the status waiting in its socket, and closed. Lifetimes run to
    /// now, the attack's end.
    pub fn finish(&mut self, registry: &Registry, budget: Duration) {
        let ended = self.clock.now();
        let deadline = ended + budget.as_nanos() as u64;
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        let mut read_again: Vec<usize> = self.groups.iter().map(|g| g.read_again).collect();
        for key in keys {
            let Some(mut conn) = self.conns.try_remove(key) else {
                continue;
            };
            conn.link.deregister(registry);
            let Some(group) = self.groups.get(conn.group) else {
                continue;
            };
            let left = read_again.get_mut(conn.group);
            let stalled = matches!(group.behaviour, Behaviour::StallAfterHead) && conn.running;
            let lifetime = ended.saturating_sub(conn.opened_at);
            match left {
                Some(left) if *left > 0 && stalled && self.clock.now() < deadline => {
                    *left -= 1;
                    let (ending, messages) = read_to_end(&mut conn, &self.clock, deadline);
                    let name = format!("{} read again", group.name);
                    self.endings.record(&name, ending, lifetime, messages);
                }
                _ => {
                    let status = conn.status.or_else(|| peek_status(&conn.link));
                    let name = group.name.clone();
                    self.endings
                        .record(&name, Ending::Open(status), lifetime, 0);
                }
            }
        }
        self.reconnects.clear();
        self.trickles.clear();
        self.hungry.clear();
    }
}

/// A behaviour without its data, to match on while the fleet is borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Silent,
    StallAfterHead,
    Drain,
    WebSocket,
}

impl Behaviour {
    fn kind(&self) -> Kind {
        match self {
            Behaviour::Silent => Kind::Silent,
            Behaviour::StallAfterHead => Kind::StallAfterHead,
            Behaviour::Drain => Kind::Drain,
            Behaviour::Flood { .. } | Behaviour::Trickle { .. } => Kind::WebSocket,
        }
    }
}

/// Reads a stalled stream until it ends or stays silent for
/// [`READ_AGAIN_SILENCE`] (or `deadline`): how it ended, and how many
/// messages it held.
fn read_to_end(conn: &mut Conn, clock: &Clock, deadline: u64) -> (Ending, u64) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut body = Vec::new();
    let mut items = Vec::new();
    let mut sse = EventStreamParser::new(1 << 24);
    let mut rng = Rng::new(0x9e37_79b9);
    let mut messages = 0u64;
    let mut quiet_since = clock.now();
    let ws = !conn.ws_key.is_empty();
    if ws && conn.session.is_none() {
        conn.session = Some(Session::new(Role::Client, clock.instant(clock.now())));
    }
    loop {
        let now = clock.now();
        let n = match read1(&mut conn.link, &mut buf) {
            Read1::Data(n) => n,
            Read1::Again => {
                if now > deadline || now.saturating_sub(quiet_since) > READ_AGAIN_SILENCE {
                    return (Ending::Open(conn.status), messages);
                }
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Read1::Eof => {
                let ending = match &conn.session {
                    Some(s) if ws && !s.is_idle() => Ending::CutMidFrame,
                    Some(_) => Ending::Closed,
                    None if conn.responses.in_response() => Ending::CutMidFrame,
                    None => Ending::Closed,
                };
                return (ending, messages);
            }
            Read1::Reset => return (Ending::Reset, messages),
        };
        quiet_since = now;
        let mut input = buf.get(..n).unwrap_or_default();
        while !input.is_empty() {
            if let Some(session) = conn.session.as_mut() {
                let mut ignored = Vec::new();
                let (used, event) = session.handle_input(
                    input,
                    clock.instant(now),
                    &LIMITS,
                    &mut ignored,
                    Some(rng.mask()),
                );
                input = input.get(used..).unwrap_or_default();
                match event {
                    Some(SessionEvent::Closed { code, .. }) => {
                        return (Ending::WsClose(code), messages)
                    }
                    Some(SessionEvent::Failed(_)) => return (Ending::CutMidFrame, messages),
                    Some(_) => messages += 1,
                    None => {}
                }
                continue;
            }
            body.clear();
            match conn.responses.read(input, &mut body) {
                Ok((used, event)) => {
                    input = input.get(used..).unwrap_or_default();
                    if sse.feed(&body, &mut items).is_ok() {
                        messages += items
                            .drain(..)
                            .filter(|i| matches!(i, SseItem::Event(_)))
                            .count() as u64;
                    }
                    if event == Some(ResponseEvent::Done) {
                        return (Ending::Closed, messages);
                    }
                    if used == 0 && event.is_none() {
                        break;
                    }
                }
                Err(_) => return (Ending::CutMidFrame, messages),
            }
        }
    }
}
