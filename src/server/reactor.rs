//! The loop: one thread, one `mio::Poll` (epoll, edge-triggered).
//!
//! Each pass: wait for readiness or the next deadline, read every readable
//! socket into the one shared read buffer and hand the bytes to the engine,
//! fire due deadlines, then write out whatever the engine queued, many
//! pieces per `writev`. Interest in WRITABLE is registered only while a
//! connection has output the kernel would not take.
//!
//! Edge-triggered readiness means a socket is reported once per change, so
//! a reader must drain it. A read shorter than the buffer proves the
//! socket was empty at that moment; anything that arrives later raises a
//! new edge, so the usual extra `read` that returns `WouldBlock` is skipped.
//! The exception is the peer's FIN: when it arrives with the last bytes,
//! the one event says both (`EPOLLIN | EPOLLRDHUP`, mio's
//! `is_read_closed`), no later edge comes, and a short read hides it. So a
//! connection whose event said "read closed" is read until `read` returns
//! 0, and a client that half-closes right after its request gets its
//! answer and the end of the connection at once, not after
//! `--idle-timeout`.
//!
//! # The kernel's share of a slow consumer's backlog
//!
//! `--max-backlog-bytes` bounds everything a subscriber is owed between
//! pushwire and the client: the engine's unsent queue plus what the
//! kernel's send queue holds for the socket (`SIOCOUTQ`, tcp(7): bytes not
//! yet sent or not yet acknowledged). Left alone, Linux autotunes a TCP
//! send buffer up to `net.ipv4.tcp_wmem`'s maximum (4 MiB by default,
//! measured at 3.9 MB on loopback), so a subscriber that stops reading
//! would pin megabytes of kernel memory on top of the bound. The options
//! measured (docs/limits.md has the numbers):
//!
//! - `TCP_NOTSENT_LOWAT` bounds only the bytes not yet sent; bytes sent and
//!   not acknowledged still grow with the autotuned buffer, so a client
//!   that stops acknowledging can keep up to 4 MiB. No measured cost.
//! - `SIOCOUTQ` after a write tells the count exactly but bounds nothing:
//!   it costs an `ioctl` per write (a 10,000-subscriber fan-out made 2.18
//!   system calls per message instead of 1.15), and the count grows stale
//!   as the client reads, which the sans-IO engine cannot check without
//!   asking the driver again.
//! - A fixed `SO_SNDBUF` (chosen) bounds both, always: the kernel holds at
//!   most the buffer, plus the one segment `tcp_sendmsg` may append past
//!   it (`SEND_BUFFER_OVERSHOOT`). It is set once on the listener, and
//!   every accepted socket inherits it: no syscall per connection or per
//!   write. The engine is told the kernel's share once
//!   (`Engine::set_kernel_send_buffer`) and counts it as full, so its
//!   own queue gets what is left of the bound. The cost: one connection
//!   moves at most about one buffer per round trip (448 KiB per 50 ms is
//!   9 MB/s), a message larger than pushwire's part of the bound cannot
//!   be queued for a stream, and a buffer smaller than a client's bursts
//!   means partial writes and WRITABLE interest toggled (the 64 KiB echo
//!   at depth 4 took 16 to 19% more CPU per message with a 192 KiB
//!   buffer, nothing measurable with the default 448 KiB).
//!
//! With `--trace`, the reactor shows the wire tracer exactly the bytes it
//! read and the bytes each write took: the tracer decodes what really
//! crossed the socket, not what the engine meant to send.
//!
//! # TLS
//!
//! With `Config::tls` (the `tls` feature), every connection's bytes go
//! through its [`TlsSession`] on the way in and out, and the tracer sees
//! the plaintext. A read is decrypted into one plaintext buffer shared by
//! all connections and handed to the engine; a flush hands the output
//! queue's slices to the session (the one copy, encrypted) and writes
//! every record with one `writev`. The handshake's deadline is on a wheel
//! of the reactor's own; plain HTTP to the port gets a 400 in plaintext.
//! docs/tls.md has the whole layer.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use slab::Slab;

use crate::broker::ConnId;
use crate::config::Config;
use crate::engine::{Engine, Event, MemoryStore, Step, TICK};
use crate::timer::{TimerHandle, Wheel};
use crate::trace::{Direction, Tracer};

use super::log::LogStore;
use super::process::ProcSelf;
use super::redis::{self, Link};
use super::tls::{self, ServerConfig, TlsCount, TlsCounters, TlsInput, TlsSession};
use super::{Inbox, Promise, Stop};
use crate::cluster::{NodeOptions, RedisStore};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// The listener of `--metrics-listen` (`redis` has `MAX - 3` and `- 4`).
const METRICS_LISTENER: Token = Token(usize::MAX - 5);

/// The one read buffer shared by every connection.
const READ_BUFFER: usize = 64 * 1024;
/// Reads per connection per pass before others get a turn.
const READS_PER_PASS: usize = 16;
/// Slices per `writev` (Linux takes up to 1024): a subscriber that owes
/// hundreds of small events gets them in one call.
const IOV_MAX: usize = 256;
/// Connections flushed per pass before the loop reads, accepts and fires
/// timers again: a publish to ten thousand subscribers is written in
/// slices, so it does not stall everyone else for the time of ten
/// thousand `writev`s. What a subscriber has queued meanwhile still
/// leaves in one `writev` when its turn comes. A `writev` to a loopback
/// reader costs 10 to 25 µs of kernel time (the receiver's side of TCP
/// runs in it), so this is 2 to 3 ms of a pass.
const FLUSHES_PER_PASS: usize = 128;
/// Bytes written per pass before the loop looks at everything else again
/// (at loopback speed about a millisecond of copying).
const FLUSH_BYTES_PER_PASS: usize = 1024 * 1024;
/// Time a pass spends reading before the connections not yet read wait
/// for the next pass (they go first then): 120 clients asking at once for
/// a megabyte each are answered over several passes, with everyone else
/// served in between.
const READ_TIME_PER_PASS: Duration = Duration::from_millis(2);
/// Time a pass spends flushing, whatever the count and bytes so far.
const FLUSH_TIME_PER_PASS: Duration = Duration::from_millis(2);
/// Connections accepted per pass: ten thousand clients connecting at once
/// are taken in slices, with the open connections served in between.
const ACCEPTS_PER_PASS: usize = 256;
/// Readiness events taken per `epoll_wait`. Edges wait in the kernel's
/// ready list in arrival order, and during a fan-out every backlogged
/// subscriber raises a writable edge each time its client reads; with a
/// short list, a listener or a request edge would wait behind thousands of
/// them for several passes.
const EVENTS_PER_PASS: usize = 16 * 1024;
/// How long to stop accepting after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A connection's socket and what the reactor registered for it.
#[derive(Debug)]
struct Socket {
    stream: TcpStream,
    writable: bool,
    read_paused: bool,
    /// The peer's FIN has arrived (`EPOLLRDHUP`): a short read does not
    /// end the reading, the `read` that returns 0 must come.
    read_closed: bool,
    /// With TLS: its session and handshake deadline (boxed: a plain
    /// connection pays one pointer for them).
    tls: Option<Box<TlsSocket>>,
}

/// A TLS connection's part of its [`Socket`].
#[derive(Debug)]
struct TlsSocket {
    /// The session the bytes go through.
    session: TlsSession,
    /// Until the handshake is done: its deadline.
    handshake: Option<TimerHandle>,
}

/// The event loop's state.
#[derive(Debug)]
struct Reactor {
    poll: Poll,
    /// Closed (`None`) once a drain begins: new connections are refused
    /// by the kernel, or taken by another process on the same port.
    listener: Option<TcpListener>,
    /// When a drain that began stops whatever is still open
    /// (`--drain-timeout`).
    drain_deadline: Option<Instant>,
    /// The listener of `--metrics-listen`: its connections are served
    /// `/metrics` only.
    metrics: Option<TcpListener>,
    engine: Engine,
    /// The log of `--data-dir`: written and synced once per pass.
    log: Option<LogStore>,
    /// The connections to Redis, with `--redis`.
    redis: Option<Link>,
    sockets: Vec<Option<Socket>>,
    /// Connections to read again without waiting for an event.
    again: Vec<ConnId>,
    accept_paused_until: Option<Instant>,
    /// Accepting is paused for want of descriptors (or memory): said once
    /// on stderr when it starts, once when it ends.
    accept_starved: bool,
    /// Hub publishes waiting for their commit, by the token the engine
    /// reports them with.
    promises: Slab<Promise>,
    /// The wire tracer, with `--trace`.
    tracer: Option<Box<Tracer>>,
    /// The last pass stopped flushing at `FLUSHES_PER_PASS`: do not sleep.
    more_ready: bool,
    /// The last accept stopped at `ACCEPTS_PER_PASS` with connections
    /// still waiting (the listener raises no new edge for them).
    more_accepts: bool,
    /// Bytes written in this pass, against `FLUSH_BYTES_PER_PASS`.
    flushed_bytes: usize,
    /// With TLS: the certificate and settings new connections get.
    tls: Option<Arc<ServerConfig>>,
    /// How long a TLS handshake may take.
    handshake_timeout: Duration,
    /// The deadlines of the TLS handshakes under way, one per connection,
    /// on a wheel of the reactor's own (the engine's holds the
    /// connections' protocol deadlines; a handshake is below it).
    handshakes: Wheel<ConnId>,
    /// Handshake deadlines that fired in this pass.
    expired: Vec<ConnId>,
    counters: Arc<TlsCounters>,
    /// The plaintext one read decrypted, handed to the engine: one
    /// buffer for every TLS connection, like the read buffer.
    plaintext: Vec<u8>,
}

/// What the loop needs before it runs: all of it `Send`, so a server can
/// be bound on one thread and run on another. The engine (which holds
/// `Rc`s) is made inside [`Bound::run`], on the loop's own thread.
#[derive(Debug)]
pub(super) struct Bound {
    poll: Poll,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    waker: Arc<Waker>,
    config: Config,
    /// The most the kernel may hold of a connection's output: its send
    /// buffer and the segment it may append past it.
    kernel_share: usize,
    /// The log of `--data-dir`, opened and read back.
    log: Option<super::log::Opened>,
    /// Where Redis is, with `--redis` (checked at bind).
    redis: Option<SocketAddr>,
    /// With TLS: the certificate and settings loaded at bind.
    tls: Option<Arc<ServerConfig>>,
    counters: Arc<TlsCounters>,
}

impl Bound {
    /// `listeners`: the main one, and `--metrics-listen`'s if any; `tls`:
    /// the loaded certificate, and where TLS counts what it does.
    pub fn new(
        (mut listener, mut metrics): (TcpListener, Option<TcpListener>),
        config: Config,
        kernel_share: usize,
        log: Option<super::log::Opened>,
        redis: Option<SocketAddr>,
        (tls, counters): (Option<Arc<ServerConfig>>, Arc<TlsCounters>),
    ) -> io::Result<Bound> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        if let Some(metrics) = &mut metrics {
            poll.registry()
                .register(metrics, METRICS_LISTENER, Interest::READABLE)?;
        }
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Bound {
            poll,
            listener,
            metrics,
            waker,
            config,
            kernel_share,
            log,
            redis,
            tls,
            counters,
        })
    }

    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Runs the loop on this thread until the inbox says stop.
    pub fn run(self, inbox: &Mutex<Inbox>) -> io::Result<()> {
        let tracer = self.config.trace.then(|| Box::new(Tracer::new()));
        let handshake_timeout = self
            .config
            .tls
            .as_ref()
            .map_or(Duration::ZERO, |t| t.handshake_timeout);
        // Ids start above the time this run starts, in microseconds, so a
        // restart never gives an id twice (docs/durability.md); with a
        // data dir, also above every id in the log.
        let mut link = None;
        let redis = self.redis.zip(self.config.redis.clone());
        let (mut engine, log) = match (self.log, redis) {
            (None, Some((addr, url))) => {
                let floor = unix_micros();
                let options = NodeOptions {
                    url,
                    prefix: self.config.redis_prefix.clone(),
                    history: self.config.history,
                    history_ttl: self.config.history_ttl,
                    max_message_bytes: self.config.max_body_bytes,
                    max_channels: self.config.max_channels,
                    name: format!("{}-{floor}", std::process::id()),
                    floor,
                };
                let store = RedisStore::new(options);
                link = Some(Link::new(addr, store.clone()));
                let engine = Engine::with_store(self.config, Box::new(store), Instant::now());
                (engine, None)
            }
            (None, None) => {
                let store = MemoryStore::above(unix_micros());
                let engine = Engine::with_store(self.config, Box::new(store), Instant::now());
                (engine, None)
            }
            (Some(mut opened), _) => {
                let restored = std::mem::take(&mut opened.restored);
                let store = LogStore::new(opened, Arc::clone(&self.waker))?;
                let now = Instant::now();
                let mut engine = Engine::with_store(self.config, Box::new(store.clone()), now);
                for r in &restored {
                    if let Err(e) = engine.restore(&r.channel, r.id, &r.data, now) {
                        eprintln!("pushwire: not restored: {} id {}: {e}", r.channel, r.id);
                    }
                }
                (engine, Some(store))
            }
        };
        engine.set_kernel_send_buffer(self.kernel_share);
        engine.set_process_probe(Box::new(ProcSelf {
            tls: self.tls.is_some().then(|| Arc::clone(&self.counters)),
        }));
        let mut reactor = Reactor {
            poll: self.poll,
            listener: Some(self.listener),
            drain_deadline: None,
            metrics: self.metrics,
            engine,
            log,
            redis: link,
            sockets: Vec::new(),
            again: Vec::new(),
            accept_paused_until: None,
            accept_starved: false,
            promises: Slab::new(),
            tracer,
            more_ready: false,
            more_accepts: false,
            flushed_bytes: 0,
            tls: self.tls,
            handshake_timeout,
            handshakes: Wheel::new(Instant::now(), TICK),
            expired: Vec::new(),
            counters: self.counters,
            plaintext: Vec::new(),
        };
        reactor.first_sync()?;
        reactor.run(inbox)
    }
}

/// The wall clock, for the `Date` header: seconds since the Unix epoch (0
/// if the clock is set before it).
fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The wall clock in microseconds since the Unix epoch (0 if the clock is
/// set before it): the floor of a run's ids.
pub(super) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Reactor {
    /// With `--redis`: before anyone is served, the node connects and
    /// reads back every channel's history, so that the first subscriber
    /// already finds what Redis has. Connections and hub publishes that
    /// arrive meanwhile wait for the loop.
    fn first_sync(&mut self) -> io::Result<()> {
        let Some(link) = &mut self.redis else {
            return Ok(());
        };
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; READ_BUFFER].into_boxed_slice();
        loop {
            let now = Instant::now();
            link.pump(self.poll.registry(), now, &mut buf);
            self.engine.handle_commits(now);
            match link.first_sync() {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    return Err(io::Error::other(redis::RedisError(format!(
                        "Redis could not be read at start: {e}"
                    ))))
                }
            }
            let wait = match link.has_pending() {
                true => Duration::ZERO,
                false => link
                    .poll_timeout()
                    .map_or(Duration::from_millis(100), |at| {
                        at.saturating_duration_since(now)
                    }),
            };
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                if matches!(event.token(), redis::CMD | redis::SUB) {
                    link.event(
                        event.token(),
                        event.is_readable() || event.is_read_closed() || event.is_error(),
                        event.is_writable(),
                    );
                }
            }
        }
        // Edges taken meanwhile: accept and drain the inbox in the first
        // pass.
        self.more_accepts = true;
        Ok(())
    }

    fn run(mut self, inbox: &Mutex<Inbox>) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_PASS);
        let mut buf = vec![0u8; READ_BUFFER].into_boxed_slice();
        let mut readable = Vec::new();
        let mut trace = Vec::new();
        let mut pass_start = None;
        loop {
            let waiting = Instant::now();
            if let Some(start) = pass_start {
                self.engine
                    .handle_pass_time(waiting.saturating_duration_since(start));
            }
            let timeout = self.timeout(waiting);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            let now = Instant::now();
            pass_start = Some(now);
            self.engine.handle_wall_clock(unix_secs());
            let mut stop = Stop::Run;
            // What the last pass left unread goes first.
            std::mem::swap(&mut readable, &mut self.again);
            // A reload woke the loop: a connection accepted in this pass,
            // after the reload returned, gets the new certificate.
            if self.tls.is_some() && events.iter().any(|e| e.token() == WAKER) {
                self.take_reload(inbox);
            }
            if std::mem::take(&mut self.more_accepts) {
                self.accept(now, &mut readable, false);
                self.accept(now, &mut readable, true);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now, &mut readable, false),
                    METRICS_LISTENER => self.accept(now, &mut readable, true),
                    WAKER => stop = stop.max(self.drain_inbox(inbox, now)),
                    token @ (redis::CMD | redis::SUB) => {
                        if let Some(link) = &mut self.redis {
                            link.event(
                                token,
                                event.is_readable() || event.is_read_closed() || event.is_error(),
                                event.is_writable(),
                            );
                        }
                    }
                    Token(id) => {
                        if event.is_read_closed() {
                            self.read_closed(id);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            readable.push(id);
                        }
                        if event.is_writable() {
                            self.engine_ready(id);
                        }
                    }
                }
            }
            let mut waiting = readable.drain(..);
            for id in waiting.by_ref() {
                self.read(id, &mut buf, now);
                if now.elapsed() >= READ_TIME_PER_PASS {
                    break;
                }
            }
            self.again.extend(waiting);
            if self.accept_paused_until.is_some_and(|t| t <= now) {
                self.accept_paused_until = None;
                self.more_accepts = true;
            }
            match stop {
                // Open WebSockets get close 1001; what fits in the socket
                // buffers leaves with one last flush.
                Stop::Now => self.engine.handle_stop(now),
                Stop::Drain if self.drain_deadline.is_none() => self.begin_drain(now),
                _ => {}
            }
            if let Some(log) = &self.log {
                let engine = &self.engine;
                log.pump(&|channel| engine.oldest_in_history(channel));
            }
            if let Some(link) = &mut self.redis {
                link.pump(self.poll.registry(), now, &mut buf);
            }
            self.engine.handle_commits(now);
            self.engine.handle_timeout(now);
            self.cut_slow_handshakes(now);
            self.more_ready = false;
            self.flushed_bytes = 0;
            let flushing = Instant::now();
            for _ in 0..FLUSHES_PER_PASS {
                if self.flushed_bytes >= FLUSH_BYTES_PER_PASS
                    || flushing.elapsed() >= FLUSH_TIME_PER_PASS
                {
                    break;
                }
                let Some(id) = self.engine.poll_ready() else {
                    break;
                };
                self.flush(id, now);
            }
            self.more_ready = self.engine.has_ready();
            while let Some(event) = self.engine.poll_event() {
                let Event::Published { token, outcome } = event;
                if let Some(promise) = usize::try_from(token)
                    .ok()
                    .and_then(|t| self.promises.try_remove(t))
                {
                    promise.fulfil(outcome);
                }
            }
            self.print_trace(&mut trace);
            if stop == Stop::Now || self.drain_done(now) {
                return Ok(());
            }
        }
    }

    /// The drain begins: the listener is closed, so that the kernel
    /// refuses new connections (or, with `--reuse-port`, hands them to
    /// the other processes on the port), and the engine ends every
    /// connection cleanly (`Engine::handle_drain`).
    fn begin_drain(&mut self, now: Instant) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.more_accepts = false;
        self.accept_paused_until = None;
        self.drain_deadline = Some(now + self.engine.config().drain_timeout);
        // The retry jitter's seed: another draw in every process.
        let seed = unix_micros() ^ u64::from(std::process::id()).rotate_left(40);
        self.engine.handle_drain(now, seed);
    }

    /// Whether a drain is over: every connection ended and every publish
    /// decided (and, with `--data-dir`, written), or `--drain-timeout`
    /// passed, after which what is still open is closed as the process
    /// exits.
    fn drain_done(&self, now: Instant) -> bool {
        let Some(deadline) = self.drain_deadline else {
            return false;
        };
        let pending = self.log.as_ref().is_some_and(LogStore::has_pending);
        if self.engine.is_drained() && !pending {
            return true;
        }
        if now < deadline {
            return false;
        }
        eprintln!(
            "pushwire: --drain-timeout passed with {} connections open; closing them",
            self.engine.connections()
        );
        true
    }

    /// `--trace`: what the tracer saw this pass, to stderr.
    fn print_trace(&mut self, lines: &mut Vec<String>) {
        let Some(tracer) = &mut self.tracer else {
            return;
        };
        tracer.take_lines(lines);
        if lines.is_empty() {
            return;
        }
        let mut err = io::stderr().lock();
        for line in lines.drain(..) {
            let _ = writeln!(err, "{line}");
        }
    }

    fn timeout(&self, now: Instant) -> Option<Duration> {
        if !self.again.is_empty()
            || self.more_ready
            || self.more_accepts
            || self.log.as_ref().is_some_and(LogStore::has_pending)
            || self.redis.as_ref().is_some_and(Link::has_pending)
        {
            return Some(Duration::ZERO);
        }
        let redis = self.redis.as_ref().and_then(Link::poll_timeout);
        let handshake = self.handshakes.next_expiry();
        let deadline = [
            self.engine.poll_timeout(),
            self.accept_paused_until,
            redis,
            self.drain_deadline,
            handshake,
        ]
        .into_iter()
        .flatten()
        .min();
        // Round up to whole milliseconds (epoll's unit), so that the loop
        // does not wake a hair early and spin until the deadline.
        deadline.map(|d| {
            let wait = d.saturating_duration_since(now);
            let ms = wait.as_nanos().div_ceil(1_000_000);
            Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
        })
    }

    /// The peer shut down its side: what it sent before is still to be
    /// read, then EOF (a FIN that came with the last request raises no
    /// edge of its own, epoll(7), so it must not be left unread).
    fn read_closed(&mut self, id: ConnId) {
        if let Some(Some(sock)) = self.sockets.get_mut(id) {
            sock.read_closed = true;
        }
    }

    /// A writable edge: let the flush pass try again.
    fn engine_ready(&mut self, id: ConnId) {
        if let Some(Some(sock)) = self.sockets.get_mut(id) {
            if sock.writable {
                self.engine.handle_writable(id);
            }
        }
    }

    /// TLS handshakes past their deadline: closed, counted.
    fn cut_slow_handshakes(&mut self, now: Instant) {
        if self.handshakes.is_empty() {
            return;
        }
        let mut expired = std::mem::take(&mut self.expired);
        self.handshakes.advance(now, &mut expired);
        for id in expired.drain(..) {
            if let Some(Some(Socket { tls: Some(tls), .. })) = self.sockets.get_mut(id) {
                // Fired: the handle is spent, not to be cancelled.
                tls.handshake = None;
                self.counters.add(TlsCount::Timeout);
                self.close(id);
            }
        }
        self.expired = expired;
    }

    /// Puts a certificate a reload loaded in force: new connections get
    /// it; open ones keep the session they were accepted with.
    fn take_reload(&mut self, inbox: &Mutex<Inbox>) {
        let reloaded = inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take_tls();
        if let Some(config) = reloaded {
            self.tls = Some(config);
            self.counters.add(TlsCount::Reload);
        }
    }

    fn drain_inbox(&mut self, inbox: &Mutex<Inbox>, now: Instant) -> Stop {
        self.take_reload(inbox);
        let (publishes, stop) = inbox.lock().unwrap_or_else(PoisonError::into_inner).take();
        for publish in publishes {
            let entry = self.promises.vacant_entry();
            let token = entry.key() as u64;
            entry.insert(publish.promise);
            let refused = self
                .engine
                .handle_publish(&publish.channel, publish.data, token, now)
                .err();
            if let Some(error) = refused {
                if let Some(promise) = self.promises.try_remove(token as usize) {
                    promise.fulfil(Err(error));
                }
            }
        }
        stop
    }

    /// Accepts up to `ACCEPTS_PER_PASS` connections; each goes on
    /// `readable`, to be read in this pass: a client sends its request
    /// right after the handshake, so it is usually there already, and
    /// reading it now saves the new connection a whole pass.
    /// `metrics`: from the metrics listener, whose connections are served
    /// `/metrics` only.
    fn accept(&mut self, now: Instant, readable: &mut Vec<ConnId>, metrics: bool) {
        for _ in 0..ACCEPTS_PER_PASS {
            let accepted = match (metrics, &self.listener, &self.metrics) {
                (false, Some(listener), _) => listener.accept(),
                (false, None, _) => return, // draining: closed
                (true, _, Some(listener)) => listener.accept(),
                (true, _, None) => return,
            };
            match accepted {
                Ok((stream, _peer)) => {
                    if self.accept_starved {
                        self.accept_starved = false;
                        eprintln!("pushwire: accepting connections again");
                    }
                    if let Some(id) = self.admit(stream, now, metrics) {
                        readable.push(id);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending
                    // connections stay in the backlog. Stop accepting for
                    // a moment instead of spinning on the same error, and
                    // keep serving the open connections meanwhile.
                    if !is_resource_exhaustion(&e) {
                        eprintln!("pushwire: accept failed: {e}");
                    } else if !self.accept_starved {
                        self.accept_starved = true;
                        eprintln!(
                            "pushwire: accept: {e}; new connections wait in the backlog, \
                             retried every {} ms",
                            ACCEPT_BACKOFF.as_millis()
                        );
                    }
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
        self.more_accepts = true;
    }

    fn admit(&mut self, mut stream: TcpStream, now: Instant, metrics: bool) -> Option<ConnId> {
        if self.engine.saturated() {
            self.engine.handle_accept_dropped();
            return None; // dropped: closed without a word
        }
        let _ = stream.set_nodelay(true);
        let session = match &self.tls {
            Some(config) => match TlsSession::new(Arc::clone(config)) {
                Ok(session) => Some(session),
                Err(_) => return None,
            },
            None => None,
        };
        let id = match metrics {
            true => self.engine.handle_accept_metrics(now),
            false => self.engine.handle_accept(now),
        };
        if self
            .poll
            .registry()
            .register(&mut stream, Token(id), Interest::READABLE)
            .is_err()
        {
            self.engine.handle_closed(id);
            return None;
        }
        if let Some(tracer) = &mut self.tracer {
            tracer.opened(id);
        }
        if self.sockets.len() <= id {
            self.sockets.resize_with(id + 1, || None);
        }
        let tls = session.map(|session| {
            let deadline = now + self.handshake_timeout;
            Box::new(TlsSocket {
                session,
                handshake: Some(self.handshakes.insert(deadline, id)),
            })
        });
        if let Some(slot) = self.sockets.get_mut(id) {
            *slot = Some(Socket {
                stream,
                writable: false,
                read_paused: false,
                read_closed: false,
                tls,
            });
        }
        Some(id)
    }

    /// Reads what the socket has, hands it to the engine, then writes this
    /// connection's answers at once: everything one read brought in is
    /// handled first and all the answers leave in one write (the "cork"),
    /// and a response buffer is freed (and reused by the next connection)
    /// before the next socket is read, so a burst of requests does not
    /// hold a burst of buffers.
    fn read(&mut self, id: ConnId, buf: &mut [u8], now: Instant) {
        for _ in 0..READS_PER_PASS {
            let Some(Some(sock)) = self.sockets.get_mut(id) else {
                return;
            };
            if !self.engine.wants_input(id) {
                sock.read_paused = true;
                return self.flush(id, now);
            }
            let fin = sock.read_closed;
            match sock.stream.read(buf) {
                Ok(0) => {
                    self.engine.handle_eof(id, now);
                    return self.flush(id, now);
                }
                Ok(n) => {
                    let bytes = buf.get(..n).unwrap_or_default();
                    if sock.tls.is_some() {
                        if !self.decrypt(id, bytes, now) {
                            return;
                        }
                        if n < buf.len() && !fin {
                            return self.flush(id, now);
                        }
                        continue;
                    }
                    if let Some(tracer) = &mut self.tracer {
                        tracer.observe(id, Direction::In, bytes);
                    }
                    self.engine.handle_input(id, bytes, now);
                    // A short read emptied the socket, and what comes
                    // later raises a new edge; but the FIN may have come
                    // with these bytes, and then only the next read (0)
                    // says so.
                    if n < buf.len() && !fin {
                        return self.flush(id, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.flush(id, now),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(id),
            }
        }
        // Still more to read: come back after the others had their turn.
        self.again.push(id);
        self.flush(id, now);
    }

    /// Bytes read from a TLS connection: through its session, and the
    /// plaintext to the engine. False if the connection was closed.
    fn decrypt(&mut self, id: ConnId, bytes: &[u8], now: Instant) -> bool {
        let Some(Some(sock)) = self.sockets.get_mut(id) else {
            return false;
        };
        let Some(tls) = sock.tls.as_deref_mut() else {
            return false;
        };
        let session = &mut tls.session;
        let was_handshaking = session.is_handshaking();
        let was_closed = session.peer_closed();
        let mut plaintext = std::mem::take(&mut self.plaintext);
        let verdict = session.handle_ciphertext(bytes, &mut plaintext);
        if was_handshaking && !session.is_handshaking() {
            self.counters.add(TlsCount::Handshake);
            if let Some(handle) = tls.handshake.take() {
                self.handshakes.cancel(handle);
            }
        }
        // close_notify: the end of the peer's input, said once.
        let peer_closed = !was_closed && session.peer_closed();
        match verdict {
            TlsInput::Records => {}
            TlsInput::PlainHttp => {
                // Said in plaintext, once, whatever the socket takes.
                let _ = sock.stream.write(tls::PLAIN_HTTP_REFUSAL);
                let _ = sock.stream.shutdown(Shutdown::Write);
                self.counters.add(TlsCount::PlainHttp);
                self.plaintext = plaintext;
                self.close(id);
                return false;
            }
            TlsInput::Failed(_) => {
                // The alert rustls queued, if the socket takes it.
                let _ = session.write_ciphertext(&mut sock.stream);
                if was_handshaking {
                    self.counters.add(TlsCount::Failure);
                }
                self.plaintext = plaintext;
                self.close(id);
                return false;
            }
        }
        if !plaintext.is_empty() {
            if let Some(tracer) = &mut self.tracer {
                tracer.observe(id, Direction::In, &plaintext);
            }
            self.engine.handle_input(id, &plaintext, now);
        }
        if peer_closed {
            self.engine.handle_eof(id, now);
        }
        plaintext.clear();
        self.plaintext = plaintext;
        true
    }

    /// Writes a TLS connection's waiting ciphertext. True if the socket
    /// took it all; otherwise WRITABLE interest is asked for (or the
    /// connection closed).
    fn write_ciphertext(&mut self, id: ConnId) -> bool {
        loop {
            let Some(Some(sock)) = self.sockets.get_mut(id) else {
                return false;
            };
            let Some(session) = sock.tls.as_deref_mut().map(|t| &mut t.session) else {
                return true;
            };
            if !session.has_ciphertext() {
                return true;
            }
            match session.write_ciphertext(&mut sock.stream) {
                Ok(0) => {
                    self.close(id);
                    return false;
                }
                Ok(k) => {
                    self.flushed_bytes += k;
                    if session.has_ciphertext() {
                        // The send buffer is full.
                        self.want_writable(id, true);
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.want_writable(id, true);
                    return false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(id);
                    return false;
                }
            }
        }
    }

    /// The engine's output for a TLS connection, into its session (one
    /// copy, encrypted), then to the socket.
    fn flush_tls(&mut self, id: ConnId, now: Instant) {
        loop {
            if !self.write_ciphertext(id) {
                return;
            }
            let Some(Some(sock)) = self.sockets.get_mut(id) else {
                self.engine.handle_closed(id);
                return;
            };
            let Some(session) = sock.tls.as_deref_mut().map(|t| &mut t.session) else {
                return;
            };
            match self.engine.poll_step(id) {
                Step::Write => {
                    let mut iov = [IoSlice::new(&[]); IOV_MAX];
                    let n = self.engine.poll_output(id, &mut iov);
                    let slices = iov.get(..n).unwrap_or(&[]);
                    let k = session.handle_plaintext(slices);
                    if let Some(tracer) = &mut self.tracer {
                        trace_written(tracer, id, slices, k);
                    }
                    self.engine.handle_written(id, k, now);
                    if k == 0 {
                        // Held until the handshake is done: the read that
                        // finishes it flushes again.
                        return self.want_writable(id, false);
                    }
                }
                Step::Wait => return self.wait_for_input(id),
                Step::Shutdown => {
                    if session.is_handshaking() {
                        // What is held (a 503) leaves once it is done.
                        return self.want_writable(id, false);
                    }
                    // RFC 8446 6.1: close_notify before the FIN, so the
                    // client can tell the end from a truncation.
                    session.close();
                    if session.has_ciphertext() {
                        continue;
                    }
                    return self.shut_down_write(id, now);
                }
                Step::Close => {
                    // The peer's close_notify answered with ours (RFC 8446
                    // 6.1: each side sends one before closing its write
                    // side), as on any close with nothing else waiting:
                    // one try, what the socket takes, then the close.
                    if !session.is_handshaking()
                        && !session.is_closing()
                        && !session.has_ciphertext()
                    {
                        session.close();
                        let _ = session.write_ciphertext(&mut sock.stream);
                    }
                    return self.close(id);
                }
            }
        }
    }

    fn flush(&mut self, id: ConnId, now: Instant) {
        if let Some(Some(Socket { tls: Some(_), .. })) = self.sockets.get(id) {
            return self.flush_tls(id, now);
        }
        loop {
            let Some(Some(sock)) = self.sockets.get_mut(id) else {
                self.engine.handle_closed(id);
                return;
            };
            match self.engine.poll_step(id) {
                Step::Write => {
                    let mut iov = [IoSlice::new(&[]); IOV_MAX];
                    let n = self.engine.poll_output(id, &mut iov);
                    let slices = iov.get(..n).unwrap_or(&[]);
                    let total: usize = slices.iter().map(|s| s.len()).sum();
                    match sock.stream.write_vectored(slices) {
                        Ok(0) => return self.close(id),
                        Ok(k) => {
                            self.flushed_bytes += k;
                            if let Some(tracer) = &mut self.tracer {
                                trace_written(tracer, id, slices, k);
                            }
                            self.engine.handle_written(id, k, now);
                            if k < total {
                                // The send buffer is full: wait for the
                                // writable edge instead of a write that
                                // would only say WouldBlock.
                                return self.want_writable(id, true);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return self.want_writable(id, true);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return self.close(id),
                    }
                }
                Step::Wait => return self.wait_for_input(id),
                Step::Shutdown => return self.shut_down_write(id, now),
                Step::Close => return self.close(id),
            }
        }
    }

    /// Nothing left to write: reading goes on if it waited for the output
    /// to drain, and WRITABLE interest is dropped.
    fn wait_for_input(&mut self, id: ConnId) {
        if let Some(Some(sock)) = self.sockets.get_mut(id) {
            if sock.read_paused && self.engine.wants_input(id) {
                sock.read_paused = false;
                self.again.push(id);
            }
        }
        self.want_writable(id, false)
    }

    /// Everything is sent and the connection is ending: the FIN, then
    /// the engine lingers, reading what still comes.
    fn shut_down_write(&mut self, id: ConnId, now: Instant) {
        if let Some(Some(sock)) = self.sockets.get_mut(id) {
            let _ = sock.stream.shutdown(Shutdown::Write);
            self.engine.handle_write_shutdown(id, now);
            if sock.read_paused {
                sock.read_paused = false;
                self.again.push(id);
            }
        }
        self.want_writable(id, false)
    }

    fn want_writable(&mut self, id: ConnId, writable: bool) {
        let Some(Some(sock)) = self.sockets.get_mut(id) else {
            return;
        };
        if sock.writable == writable {
            return;
        }
        let interest = if writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if self
            .poll
            .registry()
            .reregister(&mut sock.stream, Token(id), interest)
            .is_ok()
        {
            sock.writable = writable;
        }
    }

    fn close(&mut self, id: ConnId) {
        if let Some(slot) = self.sockets.get_mut(id) {
            let tls = slot.as_mut().and_then(|s| s.tls.as_deref_mut());
            if let Some(handle) = tls.and_then(|t| t.handshake.take()) {
                self.handshakes.cancel(handle);
            }
            // Dropping the stream closes the descriptor, which also takes
            // it out of the epoll set.
            *slot = None;
        }
        if let Some(tracer) = &mut self.tracer {
            tracer.closed(id);
        }
        self.engine.handle_closed(id);
    }
}

/// Shows the tracer the first `n` bytes of `slices`: what a write took.
fn trace_written(tracer: &mut Tracer, id: ConnId, slices: &[IoSlice<'_>], mut n: usize) {
    for slice in slices {
        if n == 0 {
            return;
        }
        let take = slice.len().min(n);
        tracer.observe(id, Direction::Out, slice.get(..take).unwrap_or_default());
        n -= take;
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
