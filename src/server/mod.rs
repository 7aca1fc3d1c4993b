//! The reactor: the only layer that owns sockets, the `mio::Poll` and the
//! clock. It moves bytes between the kernel and the sans-IO
//! [`Engine`](crate::engine::Engine) and registers interest; it decides no
//! protocol question.
//!
//! ```no_run
//! let server = pushwire::Server::bind(pushwire::Config::default())?;
//! let hub = server.hub();
//! std::thread::spawn(move || {
//!     for i in 0.. {
//!         // The receipt says the message's id once the store has it.
//!         match hub.publish("clock", &format!("tick {i}")).map(|r| r.wait()) {
//!             Ok(Ok(id)) => println!("tick {i} is message {id}"),
//!             Ok(Err(e)) | Err(e) => eprintln!("tick {i}: {e}"),
//!         }
//!         std::thread::sleep(std::time::Duration::from_secs(1));
//!     }
//! });
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod listener;
pub mod log;
mod process;
mod reactor;
pub mod redis;
pub mod sys;
pub mod tls;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::broker::valid_channel_name;
use crate::config::{Config, TlsSettings};
use crate::engine::{PublishError, REJECT_SLACK};

/// File descriptors the server needs besides its connections: the
/// listener, the epoll instance, the waker, stdio, some slack.
const RESERVED_FDS: u64 = 16;

/// What the kernel may queue for a connection beyond its send buffer.
/// Linux's `tcp_sendmsg` starts a new buffer (skb) only while the queue is
/// below `SO_SNDBUF`, but goes on filling the last unsent one up to the
/// "size goal" without that check; the goal is at most the device's
/// `gso_max_size`: 64 KiB on loopback and on a NIC unless BIG TCP raises
/// it (measured: 65,377 bytes past the buffer, docs/limits.md).
pub const SEND_BUFFER_OVERSHOOT: usize = 64 * 1024;

/// The send buffer asked for when `send_buffer_bytes` is not set: the
/// kernel's share (the buffer plus [`SEND_BUFFER_OVERSHOOT`]) is half of
/// `max_backlog_bytes`.
fn default_send_buffer(max_backlog_bytes: usize) -> usize {
    (max_backlog_bytes / 2).saturating_sub(SEND_BUFFER_OVERSHOOT)
}

/// A bound server, ready to [`run`](Server::run). It is `Send`: bind it
/// on one thread, run it on another.
#[derive(Debug)]
pub struct Server {
    bound: reactor::Bound,
    hub: Hub,
    /// Closes the inbox when the loop is done (or never ran), so that a
    /// publish then is refused instead of waiting forever.
    closer: InboxCloser,
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    max_connections: usize,
    send_buffer: usize,
}

impl Server {
    /// Binds the listener and prepares the loop. Raises the open-file soft
    /// limit to the hard limit, and lowers `max_connections` if even that
    /// cannot hold them (see [`Server::max_connections`]). Fixes the
    /// kernel's send buffer of every connection (see
    /// [`Server::send_buffer`]); fails with `InvalidInput` if that buffer
    /// leaves nothing of `max_backlog_bytes` for pushwire's own queue.
    pub fn bind(mut config: Config) -> io::Result<Server> {
        let fd_limit = sys::raise_fd_limit().unwrap_or(u64::MAX);
        let need = config.max_connections as u64 + REJECT_SLACK as u64 + RESERVED_FDS;
        if fd_limit < need {
            let fit = fd_limit
                .saturating_sub(REJECT_SLACK as u64 + RESERVED_FDS)
                .max(1);
            config.max_connections = usize::try_from(fit).unwrap_or(1);
        }
        let max_connections = config.max_connections;
        let asked = config
            .send_buffer_bytes
            .unwrap_or_else(|| default_send_buffer(config.max_backlog_bytes));
        let (listener, send_buffer) =
            listener::bind(config.listen, config.backlog, config.reuse_port, asked)?;
        // With TLS the session holds up to its own limit more, below the
        // engine, as the kernel does.
        let session = match config.tls {
            Some(_) => tls::SESSION_OUTPUT_LIMIT,
            None => 0,
        };
        let kernel = send_buffer.saturating_add(SEND_BUFFER_OVERSHOOT);
        let kernel_share = kernel.saturating_add(session);
        if kernel_share >= config.max_backlog_bytes {
            let tls = match session {
                0 => String::new(),
                n => format!(", and {n} bytes in its TLS session"),
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "max_backlog_bytes {} leaves nothing for pushwire's own queue: the kernel \
                     may hold {} bytes of a connection (its send buffer of {send_buffer} bytes \
                     and one {SEND_BUFFER_OVERSHOOT}-byte segment past it){tls}; \
                     raise --max-backlog-bytes or lower --send-buffer-bytes",
                    config.max_backlog_bytes, kernel,
                ),
            ));
        }
        let local_addr = listener.local_addr()?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(listener::bind(addr, config.backlog, false, asked)?.0),
            None => None,
        };
        let metrics_addr = metrics.as_ref().map(|l| l.local_addr()).transpose()?;
        let log = match &config.data_dir {
            Some(dir) => Some(log::open(
                dir,
                log::LogOptions {
                    fsync: config.fsync,
                    repair: config.repair_log,
                    segment_bytes: config.log_segment_bytes,
                    lock_wait: config.lock_wait,
                },
                reactor::unix_micros(),
            )?),
            None => None,
        };
        let redis = match &config.redis {
            Some(url) => Some(redis::check(url)?),
            None => None,
        };
        let tls_settings = config.tls.clone();
        let tls = match &tls_settings {
            Some(settings) => Some(
                tls::load(settings).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            ),
            None => None,
        };
        let counters = Arc::new(tls::TlsCounters::default());
        let bound = reactor::Bound::new(
            (listener, metrics),
            config,
            kernel_share,
            log,
            redis,
            (tls, Arc::clone(&counters)),
        )?;
        let hub = Hub {
            inbox: Arc::new(Mutex::new(Inbox::default())),
            waker: bound.waker(),
            tls: tls_settings.map(Arc::new),
            counters,
        };
        let closer = InboxCloser(Arc::clone(&hub.inbox));
        Ok(Server {
            bound,
            hub,
            closer,
            local_addr,
            metrics_addr,
            max_connections,
            send_buffer,
        })
    }

    /// Whether the listener speaks TLS (`Config::tls`).
    pub fn is_tls(&self) -> bool {
        self.hub.tls.is_some()
    }

    /// The address the server listens on (with the real port when
    /// `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `GET /metrics` is served when `Config::metrics_listen` is
    /// set (with the real port when it asked for port 0); `None` when it
    /// is served on [`Server::local_addr`].
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The connection limit in force: the configured one, or less if the
    /// open-file limit could not be raised enough.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// The kernel's send buffer of every connection, as
    /// `getsockopt(SO_SNDBUF)` reports it: `send_buffer_bytes` (or its
    /// default) within the kernel's minimum and `net.core.wmem_max`
    /// doubled. It and [`SEND_BUFFER_OVERSHOOT`] are the kernel's share of
    /// `max_backlog_bytes`.
    pub fn send_buffer(&self) -> usize {
        self.send_buffer
    }

    /// A handle to publish into the server, and stop it, from any thread.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// Runs the event loop on this thread until [`Hub::stop`] has drained
    /// it (or [`Hub::stop_now`]).
    pub fn run(self) -> io::Result<()> {
        let Server {
            bound, hub, closer, ..
        } = self;
        let result = bound.run(&hub.inbox);
        drop(closer);
        result
    }
}

/// Marks the inbox closed when dropped: publishes still queued are
/// answered [`PublishError::Stopped`] (their promises drop), later ones
/// are refused at once.
#[derive(Debug)]
struct InboxCloser(Arc<Mutex<Inbox>>);

impl Drop for InboxCloser {
    fn drop(&mut self) {
        let left = {
            let mut inbox = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            inbox.closed = true;
            std::mem::take(&mut inbox.publishes)
        };
        drop(left);
    }
}

/// What other threads asked the loop to do.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    publishes: Vec<HubPublish>,
    stop: Stop,
    /// A certificate and key loaded by [`Hub::reload_tls`], for the
    /// connections accepted from now on.
    tls: Option<Arc<tls::ServerConfig>>,
    /// The loop is gone: nothing more will be taken.
    closed: bool,
}

/// One publish from a [`Hub`], with where its outcome goes.
#[derive(Debug)]
pub(crate) struct HubPublish {
    pub channel: String,
    pub data: String,
    pub promise: Promise,
}

/// Where the loop leaves one publish's outcome for its [`Receipt`].
#[derive(Debug, Default)]
struct Slot {
    outcome: Mutex<Option<Result<u64, PublishError>>>,
    decided: Condvar,
}

/// The loop's side of a [`Receipt`]: kept until the store decides. If it
/// is dropped undecided (the loop stopped first), the receipt says
/// [`PublishError::Stopped`].
#[derive(Debug)]
pub(crate) struct Promise(Arc<Slot>);

impl Promise {
    /// Hands the outcome to the receipt.
    pub fn fulfil(self, outcome: Result<u64, PublishError>) {
        self.set(outcome);
    }

    fn set(&self, outcome: Result<u64, PublishError>) {
        let mut slot = self
            .0
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(outcome);
            self.0.decided.notify_all();
        }
    }
}

impl Drop for Promise {
    fn drop(&mut self) {
        self.set(Err(PublishError::Stopped));
    }
}

/// The outcome of one [`Hub::publish`], known once the store has
/// committed the message (at once with the in-memory store, a moment
/// later in the loop's thread).
#[derive(Debug)]
pub struct Receipt(Arc<Slot>);

impl Receipt {
    /// Blocks until the message is committed: its id, or why it was not
    /// kept ([`PublishError::Stopped`] if the server stopped first).
    pub fn wait(self) -> Result<u64, PublishError> {
        let mut slot = self
            .0
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(outcome) = slot.take() {
                return outcome;
            }
            slot = self
                .0
                .decided
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The outcome, if it is known already.
    pub fn outcome(&self) -> Option<Result<u64, PublishError>> {
        self.0
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A publish handle: `Clone + Send + Sync`. Messages go into a queue and a
/// `mio::Waker` wakes the loop, which publishes them in order.
#[derive(Clone, Debug)]
pub struct Hub {
    inbox: Arc<Mutex<Inbox>>,
    waker: Arc<mio::Waker>,
    /// Where the certificate and key are read again at a reload.
    tls: Option<Arc<TlsSettings>>,
    counters: Arc<tls::TlsCounters>,
}

impl Hub {
    /// Publishes `data` on `channel` (created if needed). The message gets
    /// its id inside the loop, once the store commits it: the [`Receipt`]
    /// says which (or why not, e.g. a channel past `max_channels`). The
    /// name is checked here, and a server that is no longer running
    /// refuses at once ([`PublishError::Stopped`]). Dropping the receipt
    /// does not cancel the publish.
    pub fn publish(&self, channel: &str, data: &str) -> Result<Receipt, PublishError> {
        if !valid_channel_name(channel) {
            return Err(PublishError::InvalidChannel);
        }
        let slot = Arc::new(Slot::default());
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        if inbox.closed {
            return Err(PublishError::Stopped);
        }
        let was_empty = inbox.publishes.is_empty();
        inbox.publishes.push(HubPublish {
            channel: channel.to_owned(),
            data: data.to_owned(),
            promise: Promise(Arc::clone(&slot)),
        });
        drop(inbox);
        if was_empty {
            // One wake-up drains the whole queue: later publishes that find
            // it non-empty need not wake the loop again.
            let _ = self.waker.wake();
        }
        Ok(Receipt(slot))
    }

    /// Reads the TLS certificate chain and key again from the files of
    /// `Config::tls` and, if they load, puts them in force for the
    /// connections accepted from then on; open connections keep theirs
    /// and are not disturbed. If they do not load, the certificate in
    /// force stays and the error says why. The files are read on the
    /// calling thread, not the loop's. The `pushwire` command calls this
    /// on SIGHUP.
    pub fn reload_tls(&self) -> Result<(), tls::TlsError> {
        let settings = self.tls.as_ref().ok_or(tls::TlsError::NotConfigured)?;
        let config = tls::load(settings)?;
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        inbox.tls = Some(config);
        drop(inbox);
        let _ = self.waker.wake();
        Ok(())
    }

    /// What the TLS layer has counted so far: handshakes completed,
    /// failed and cut at their deadline, plain HTTP refused, reloads.
    /// All zero without TLS.
    pub fn tls_counts(&self) -> tls::TlsCounts {
        self.counters.read()
    }

    /// Asks the loop to drain and stop (what SIGTERM and SIGINT do): it
    /// stops accepting, then ends every connection cleanly, each with
    /// where to resume (long-polls answered with `Retry-After`, streams
    /// ended after a jittered `retry:`, WebSockets closed with 1001 and,
    /// for `pushwire.json`, the last id they were sent; docs/operations.md),
    /// lets publishes in flight be committed and answered, and
    /// [`Server::run`] returns once no connection is left, or after
    /// `Config::drain_timeout` whatever is still open. Publishes made
    /// meanwhile are still taken. Calling it again changes nothing.
    pub fn stop(&self) {
        self.request_stop(Stop::Drain);
    }

    /// Asks the loop to stop at once, draining or not (what a second
    /// signal does): open WebSockets get close 1001 with what fits in
    /// the socket buffers, and [`Server::run`] returns after that pass.
    pub fn stop_now(&self) {
        self.request_stop(Stop::Now);
    }

    fn request_stop(&self, stop: Stop) {
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        inbox.stop = inbox.stop.max(stop);
        drop(inbox);
        let _ = self.waker.wake();
    }
}

/// What the loop was asked about stopping, in increasing urgency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    /// Go on.
    #[default]
    Run,
    /// Drain, then stop ([`Hub::stop`]).
    Drain,
    /// Stop after this pass ([`Hub::stop_now`]).
    Now,
}

impl Inbox {
    /// Takes the queued publishes and whether to stop.
    pub(crate) fn take(&mut self) -> (Vec<HubPublish>, Stop) {
        (std::mem::take(&mut self.publishes), self.stop)
    }

    /// Takes the TLS configuration a reload loaded, if any.
    pub(crate) fn take_tls(&mut self) -> Option<Arc<tls::ServerConfig>> {
        self.tls.take()
    }
}
