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
//!         let _ = hub.publish("clock", &format!("tick {i}"));
//!         std::thread::sleep(std::time::Duration::from_secs(1));
//!     }
//! });
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod listener;
mod reactor;
pub mod sys;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::broker::valid_channel_name;
use crate::config::Config;
use crate::engine::{PublishError, REJECT_SLACK};

/// File descriptors the server needs besides its connections: the
/// listener, the epoll instance, the waker, stdio, some slack.
const RESERVED_FDS: u64 = 16;

/// A bound server, ready to [`run`](Server::run). It is `Send`: bind it
/// on one thread, run it on another.
#[derive(Debug)]
pub struct Server {
    bound: reactor::Bound,
    hub: Hub,
    local_addr: SocketAddr,
    max_connections: usize,
}

impl Server {
    /// Binds the listener and prepares the loop. Raises the open-file soft
    /// limit to the hard limit, and lowers `max_connections` if even that
    /// cannot hold them (see [`Server::max_connections`]).
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
        let listener = listener::bind(config.listen, config.backlog)?;
        let local_addr = listener.local_addr()?;
        let bound = reactor::Bound::new(listener, config)?;
        let hub = Hub {
            inbox: Arc::new(Mutex::new(Inbox::default())),
            waker: bound.waker(),
        };
        Ok(Server {
            bound,
            hub,
            local_addr,
            max_connections,
        })
    }

    /// The address the server listens on (with the real port when
    /// `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The connection limit in force: the configured one, or less if the
    /// open-file limit could not be raised enough.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// A handle to publish into the server, and stop it, from any thread.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// Runs the event loop on this thread until [`Hub::stop`].
    pub fn run(self) -> io::Result<()> {
        self.bound.run(&self.hub.inbox)
    }
}

/// What other threads asked the loop to do.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    publishes: Vec<(String, String)>,
    stop: bool,
}

/// A publish handle: `Clone + Send + Sync`. Messages go into a queue and a
/// `mio::Waker` wakes the loop, which publishes them in order.
#[derive(Clone, Debug)]
pub struct Hub {
    inbox: Arc<Mutex<Inbox>>,
    waker: Arc<mio::Waker>,
}

impl Hub {
    /// Publishes `data` on `channel` (created if needed). The message gets
    /// its id inside the loop, a moment later. The name is checked here;
    /// a publish that would create a channel past `max_channels` is
    /// dropped by the loop (there is no one to answer).
    pub fn publish(&self, channel: &str, data: &str) -> Result<(), PublishError> {
        if !valid_channel_name(channel) {
            return Err(PublishError::InvalidChannel);
        }
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        let was_empty = inbox.publishes.is_empty();
        inbox.publishes.push((channel.to_owned(), data.to_owned()));
        drop(inbox);
        if was_empty {
            // One wake-up drains the whole queue: later publishes that find
            // it non-empty need not wake the loop again.
            let _ = self.waker.wake();
        }
        Ok(())
    }

    /// Asks the loop to stop; [`Server::run`] returns soon after.
    pub fn stop(&self) {
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        let _ = self.waker.wake();
    }
}
