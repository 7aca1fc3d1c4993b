//! The engine on a virtual network and a virtual clock: no socket, no
//! sleep. In the spirit of quinn-proto's `Pair` and smoltcp's socket
//! tests: open a connection, send bytes, advance the clock by ticks, read
//! what the connection wrote, see whether it was shut down or closed.
//!
//! The harness drives the engine the way the reactor does (see the call
//! order in `engine`'s module docs), with a model of the kernel between:
//! what a client sends waits in its receive buffer until the engine wants
//! input, and a client reads only as much as its window allows (a slow
//! consumer has a window of zero). Every transcript is checked on drop
//! ([`check::read_transcript`]), so every engine test also checks that
//! the server's bytes are well-formed HTTP and WebSocket.
//!
//! The `connection` fuzz target includes this file too.
#![allow(dead_code)]

use std::cell::Cell;
use std::collections::HashMap;
use std::io::IoSlice;
use std::time::{Duration, Instant};

use pushwire::broker::ConnId;
use pushwire::engine::{Engine, Event, MemoryStore, PublishError, Step, Store, TICK};
use pushwire::Config;

use crate::check::{read_transcript, Response, Transcript};
use crate::store::Deferred;

thread_local! {
    /// Whether [`Harness::new`] gives the engine a store that commits a
    /// pass later (see [`each_store`]).
    static DEFERRED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `test` twice: with the in-memory store, which commits in the same
/// call, and with a store that commits one pass later. Behaviour on the
/// wire must not depend on when the store answers.
pub fn each_store(test: impl Fn()) {
    for deferred in [false, true] {
        DEFERRED.set(deferred);
        let store = if deferred {
            "a store that commits a pass later"
        } else {
            "the in-memory store"
        };
        eprintln!("--- with {store}");
        test();
    }
    DEFERRED.set(false);
}

/// The wall clock at the start of a run, in Unix seconds
/// (2026-11-25 00:00:00 UTC).
pub const WALL: u64 = 1_795_564_800;

/// The `Date` of every response written in the first second of a run.
pub const DATE: &str = "Wed, 25 Nov 2026 00:00:00 GMT";

/// A `GET` of `target` with `headers` (each line ending in CRLF).
pub fn get_request(target: &str, headers: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: h\r\n{headers}\r\n")
}

/// A `POST /pub/{channel}` with `body`, framed by `Content-Length`.
pub fn publish_request(channel: &str, body: &str) -> String {
    format!(
        "POST /pub/{channel} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// How much the reactor reads at once (its one read buffer).
const READ_BUFFER: usize = 64 * 1024;

/// A client's view of one connection.
#[derive(Debug)]
pub struct Client {
    /// The engine's id for the connection (reused once it is closed).
    pub id: ConnId,
    /// Everything the client has read, in order.
    pub transcript: Vec<u8>,
    /// Where [`Harness::take`] last stopped.
    taken: usize,
    /// Bytes sent that the server has not read yet.
    unread: Vec<u8>,
    /// The client half-closed; the server sees EOF after `unread`.
    eof_sent: bool,
    eof_seen: bool,
    /// Bytes the client will still read; `None`: all there is.
    pub window: Option<usize>,
    /// The server shut down its write side: the client read EOF.
    pub shut_down: bool,
    /// The server closed the socket.
    pub closed: bool,
}

/// The engine, its clients and its clock.
pub struct Harness {
    pub engine: Engine,
    pub now: Instant,
    pub start: Instant,
    pub clients: Vec<Client>,
    live: HashMap<ConnId, usize>,
    /// What the engine reported ([`Engine::poll_event`]).
    pub events: Vec<Event>,
    next_token: u64,
    /// A store the harness decides for at the start of every pass.
    auto: Option<Deferred>,
    /// The read window of new clients (`None`: they read everything).
    pub default_window: Option<usize>,
}

impl Harness {
    /// An engine with `config` and the in-memory store (or, inside
    /// [`each_store`], in turn a store that commits a pass later).
    pub fn new(config: Config) -> Harness {
        Harness::above(config, 0)
    }

    /// As [`Harness::new`], with a store whose earlier runs gave ids up to
    /// `floor`: the engine of a server restarted at that floor.
    pub fn above(config: Config, floor: u64) -> Harness {
        let start = Instant::now();
        if DEFERRED.get() {
            let store = Deferred::above(floor);
            let engine = Engine::with_store(config, Box::new(store.clone()), start);
            let mut h = Harness::from_engine(engine, start);
            h.auto = Some(store);
            return h;
        }
        let store = MemoryStore::above(floor);
        Harness::from_engine(Engine::with_store(config, Box::new(store), start), start)
    }

    /// An engine with `config` whose publishes `store` commits.
    pub fn with_store(config: Config, store: Box<dyn Store>) -> Harness {
        let start = Instant::now();
        Harness::from_engine(Engine::with_store(config, store, start), start)
    }

    fn from_engine(mut engine: Engine, start: Instant) -> Harness {
        engine.handle_wall_clock(WALL);
        Harness {
            engine,
            now: start,
            start,
            clients: Vec::new(),
            live: HashMap::new(),
            events: Vec::new(),
            next_token: 0,
            auto: None,
            default_window: None,
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A new connection; returns the client's index.
    pub fn connect(&mut self) -> usize {
        let id = self.engine.handle_accept(self.now);
        self.add_client(id)
    }

    /// A new connection on the metrics listener (`Config::metrics_listen`).
    pub fn connect_metrics(&mut self) -> usize {
        let id = self.engine.handle_accept_metrics(self.now);
        self.add_client(id)
    }

    fn add_client(&mut self, id: ConnId) -> usize {
        assert!(
            !self.live.contains_key(&id),
            "handle_accept gave live id {id}"
        );
        self.clients.push(Client {
            id,
            transcript: Vec::new(),
            taken: 0,
            unread: Vec::new(),
            eof_sent: false,
            eof_seen: false,
            window: self.default_window,
            shut_down: false,
            closed: false,
        });
        let c = self.clients.len() - 1;
        self.live.insert(id, c);
        self.pass();
        c
    }

    /// The client sends `bytes`.
    pub fn send(&mut self, c: usize, bytes: &[u8]) {
        self.clients[c].unread.extend_from_slice(bytes);
        self.pass();
    }

    /// The client half-closes its side.
    pub fn send_eof(&mut self, c: usize) {
        self.clients[c].eof_sent = true;
        self.pass();
    }

    /// The client's socket is gone (a reset): the reactor closes it.
    pub fn reset(&mut self, c: usize) {
        let client = &mut self.clients[c];
        if !client.closed {
            client.closed = true;
            self.live.remove(&client.id);
            self.engine.handle_closed(client.id);
        }
        self.pass();
    }

    /// The client reads at most `n` more bytes from now on (0: it stops
    /// reading).
    pub fn set_window(&mut self, c: usize, n: usize) {
        self.clients[c].window = Some(n);
        let id = self.clients[c].id;
        if !self.clients[c].closed && n > 0 {
            self.engine.handle_writable(id);
        }
        self.pass();
    }

    /// The client reads everything again; a backlog is flushed.
    pub fn read_all(&mut self, c: usize) {
        self.clients[c].window = None;
        let id = self.clients[c].id;
        if !self.clients[c].closed {
            self.engine.handle_writable(id);
        }
        self.pass();
    }

    /// The clock moves by `by`. Like the reactor, which sleeps until the
    /// next deadline, the harness stops at every deadline on the way and
    /// fires it at its own time, then one pass each.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        for _ in 0..100_000 {
            match self.engine.poll_timeout() {
                Some(next) if next <= target => self.set_clock(next.max(self.now)),
                _ => break,
            }
        }
        self.set_clock(target);
    }

    fn set_clock(&mut self, now: Instant) {
        self.now = now;
        let secs = (self.now - self.start).as_secs();
        self.engine.handle_wall_clock(WALL + secs);
        self.engine.handle_timeout(self.now);
        self.pass();
    }

    /// The clock moves by `n` ticks of the timer wheel.
    pub fn ticks(&mut self, n: u32) {
        self.advance(TICK * n);
    }

    /// Moves the clock to `start + at`.
    pub fn advance_to(&mut self, at: Duration) {
        let target = self.start + at;
        assert!(target >= self.now, "the clock does not go back");
        self.advance(target - self.now);
    }

    /// An embedder's publish; its outcome if the store decided at once.
    pub fn publish(&mut self, channel: &str, data: &str) -> Option<Result<u64, PublishError>> {
        let token = self.next_token;
        self.next_token += 1;
        if let Err(e) = self
            .engine
            .handle_publish(channel, data.to_owned(), token, self.now)
        {
            return Some(Err(e));
        }
        self.pass();
        self.outcome(token)
    }

    /// The outcome of the publish with `token`, once reported.
    pub fn outcome(&self, token: u64) -> Option<Result<u64, PublishError>> {
        self.events.iter().find_map(|event| match event {
            Event::Published { token: t, outcome } if *t == token => Some(outcome.clone()),
            _ => None,
        })
    }

    /// The store may have decided: take its commits; one pass.
    pub fn commits(&mut self) {
        self.engine.handle_commits(self.now);
        self.pass();
    }

    /// One reactor pass, repeated until nothing moves: the server reads
    /// what clients sent (while it wants input), then every ready
    /// connection gets its steps.
    pub fn pass(&mut self) {
        for _ in 0..4096 {
            let mut moved = false;
            if self.auto.as_ref().is_some_and(|store| store.decide() > 0) {
                self.engine.handle_commits(self.now);
                moved = true;
            }
            moved |= self.deliver_input();
            moved |= self.flush_ready();
            // Work a connection could not finish in its pass goes on in
            // the next, as the reactor's loop does without sleeping.
            if self.engine.poll_timeout().is_some_and(|t| t <= self.now) {
                self.engine.handle_timeout(self.now);
                moved = true;
            }
            while let Some(event) = self.engine.poll_event() {
                self.events.push(event);
            }
            if !moved {
                return;
            }
        }
        panic!("the engine did not settle in 4096 passes");
    }

    fn deliver_input(&mut self) -> bool {
        let mut moved = false;
        for c in 0..self.clients.len() {
            loop {
                let client = &mut self.clients[c];
                if client.closed || !self.engine.wants_input(client.id) {
                    break;
                }
                if client.unread.is_empty() {
                    if client.eof_sent && !client.eof_seen {
                        client.eof_seen = true;
                        self.engine.handle_eof(client.id, self.now);
                        moved = true;
                    }
                    break;
                }
                let n = client.unread.len().min(READ_BUFFER);
                let bytes: Vec<u8> = client.unread.drain(..n).collect();
                self.engine.handle_input(client.id, &bytes, self.now);
                moved = true;
            }
        }
        moved
    }

    fn flush_ready(&mut self) -> bool {
        let mut moved = false;
        while let Some(id) = self.engine.poll_ready() {
            moved = true;
            let Some(&c) = self.live.get(&id) else {
                panic!("the ready list names connection {id}, which was closed");
            };
            self.flush(c);
        }
        moved
    }

    /// What the reactor does for a ready connection.
    fn flush(&mut self, c: usize) {
        loop {
            let id = self.clients[c].id;
            match self.engine.poll_step(id) {
                Step::Write => {
                    if self.read_output(c, usize::MAX) == 0 {
                        return; // the client's window is shut: wait
                    }
                }
                Step::Wait => return,
                Step::Shutdown => {
                    self.clients[c].shut_down = true;
                    self.engine.handle_write_shutdown(id, self.now);
                }
                Step::Close => {
                    self.clients[c].closed = true;
                    self.live.remove(&id);
                    self.engine.handle_closed(id);
                    return;
                }
            }
        }
    }

    /// The client reads up to `max` bytes of the connection's output (and
    /// no more than its window); returns how many.
    pub fn read_output(&mut self, c: usize, max: usize) -> usize {
        let client = &mut self.clients[c];
        if client.closed {
            return 0;
        }
        let max = max.min(client.window.unwrap_or(usize::MAX));
        let mut taken = 0;
        while taken < max {
            let mut iov = [IoSlice::new(&[]); 16];
            let n = self.engine.poll_output(client.id, &mut iov);
            let mut round = 0;
            for slice in &iov[..n] {
                let take = slice.len().min(max - taken - round);
                client.transcript.extend_from_slice(&slice[..take]);
                round += take;
                if take < slice.len() {
                    break;
                }
            }
            if round == 0 {
                break;
            }
            self.engine.handle_written(client.id, round, self.now);
            taken += round;
        }
        if let Some(window) = &mut client.window {
            *window -= taken;
        }
        taken
    }

    /// What the client read since the last `take`.
    pub fn take(&mut self, c: usize) -> Vec<u8> {
        let client = &mut self.clients[c];
        let new = client.transcript[client.taken..].to_vec();
        client.taken = client.transcript.len();
        new
    }

    /// [`Harness::take`] as text.
    pub fn take_text(&mut self, c: usize) -> String {
        String::from_utf8(self.take(c)).expect("UTF-8")
    }

    /// Everything the client read, taken apart (and checked).
    pub fn transcript(&self, c: usize) -> Transcript {
        read_transcript(&self.clients[c].transcript)
            .unwrap_or_else(|e| panic!("client {c}: {e}\n{}", self.dump(c)))
    }

    /// Every response the client read.
    pub fn responses(&self, c: usize) -> Vec<Response> {
        self.transcript(c).responses
    }

    /// The last response the client read.
    pub fn last_response(&self, c: usize) -> Response {
        self.responses(c)
            .pop()
            .unwrap_or_else(|| panic!("client {c} read no response\n{}", self.dump(c)))
    }

    /// Sends a request and returns the response it got (the last one).
    pub fn request(&mut self, c: usize, raw: &str) -> Response {
        let before = self.responses(c).len();
        self.send(c, raw.as_bytes());
        let responses = self.responses(c);
        assert!(
            responses.len() > before,
            "no response to {raw:?}\n{}",
            self.dump(c)
        );
        responses[responses.len() - 1].clone()
    }

    /// A one-shot `GET` on a new connection.
    pub fn get(&mut self, target: &str) -> Response {
        let c = self.connect();
        self.get_on(c, target)
    }

    /// A `GET` on the client's connection; the response it got.
    pub fn get_on(&mut self, c: usize, target: &str) -> Response {
        self.request(c, &get_request(target, ""))
    }

    /// `GET /pub/{channel}` on a new connection: the channel's info, or
    /// the reason of the `404`.
    pub fn info(&mut self, channel: &str) -> String {
        self.get(&format!("/pub/{channel}")).text().to_owned()
    }

    /// A `POST /pub/{channel}` on a new connection.
    pub fn post(&mut self, channel: &str, body: &str) -> Response {
        let c = self.connect();
        self.request(c, &publish_request(channel, body))
    }

    /// The client's transcript, for a failure message.
    pub fn dump(&self, c: usize) -> String {
        let t = &self.clients[c].transcript;
        format!(
            "--- client {c} read {} bytes ---\n{}",
            t.len(),
            String::from_utf8_lossy(&t[..t.len().min(4096)])
        )
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        for c in 0..self.clients.len() {
            if let Err(e) = read_transcript(&self.clients[c].transcript) {
                panic!("client {c}: {e}\n{}", self.dump(c));
            }
        }
    }
}
