//! The sockets of a cluster node (`--redis`): the reactor side of
//! [`crate::cluster`].
//!
//! A node holds two connections to Redis, both non-blocking and driven by
//! the loop like any client connection: one for commands (the publish
//! script, pipelined; the catch-up reads) and one subscribed to the bus.
//! This module connects them, moves bytes between them and the sans-IO
//! [`Node`](crate::cluster::Node), and drops both when either fails; the
//! node decides everything else (what to send, when to try again).
//!
//! Only the check at start ([`check`]) blocks: before the loop runs, a
//! Redis that cannot be reached or refuses the password stops the start
//! with a message and exit status 2.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::cluster::{RedisStore, RedisUrl};
use crate::resp;

/// The command connection's token.
pub(super) const CMD: Token = Token(usize::MAX - 3);
/// The bus connection's token.
pub(super) const SUB: Token = Token(usize::MAX - 4);

/// How long the check at start waits for Redis.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Redis cannot be used: the server does not start (exit status 2), and
/// the message says why.
#[derive(Debug)]
pub struct RedisError(pub String);

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedisError {}

fn refuse(url: &RedisUrl, why: impl std::fmt::Display) -> io::Error {
    io::Error::other(RedisError(format!("cannot use Redis at {url}: {why}")))
}

/// Before the loop runs: finds Redis, connects, logs in and asks `PING`,
/// blocking for at most a few seconds. Returns the address to connect to.
pub fn check(url: &RedisUrl) -> io::Result<SocketAddr> {
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| refuse(url, e))?
        .next()
        .ok_or_else(|| refuse(url, "the host name has no address"))?;
    let stream = std::net::TcpStream::connect_timeout(&addr, CHECK_TIMEOUT)
        .map_err(|e| refuse(url, format!("{e} (is redis-server running?)")))?;
    stream.set_read_timeout(Some(CHECK_TIMEOUT))?;
    let mut out = Vec::new();
    if let Some(password) = &url.password {
        match &url.user {
            Some(user) => {
                resp::encode_command(&mut out, &[b"AUTH", user.as_bytes(), password.as_bytes()])
            }
            None => resp::encode_command(&mut out, &[b"AUTH", password.as_bytes()]),
        }
    }
    resp::encode_command(&mut out, &[b"PING"]);
    (&stream).write_all(&out).map_err(|e| refuse(url, e))?;
    let mut reader = BufReader::new(&stream);
    let replies = 1 + usize::from(url.password.is_some());
    for _ in 0..replies {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| refuse(url, format!("no answer: {e}")))?;
        if let Some(error) = line.strip_prefix('-') {
            return Err(refuse(url, error.trim_end()));
        }
        if line.is_empty() {
            return Err(refuse(url, "it closed the connection"));
        }
    }
    Ok(addr)
}

/// A node's two connections.
#[derive(Debug)]
pub(super) struct Link {
    addr: SocketAddr,
    store: RedisStore,
    cmd: Option<Conn>,
    sub: Option<Conn>,
    /// Both connected and the node told so.
    up: bool,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    connected: bool,
    readable: bool,
    /// Why the connect failed (`ECONNREFUSED`, ...).
    failed: Option<String>,
}

impl Link {
    pub fn new(addr: SocketAddr, store: RedisStore) -> Link {
        Link {
            addr,
            store,
            cmd: None,
            sub: None,
            up: false,
        }
    }

    /// The next instant the node has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.store.node().poll_timeout()
    }

    /// Whether the loop must come back at once.
    pub fn has_pending(&self) -> bool {
        self.store.node().has_pending()
    }

    /// Caught up with Redis at least once; or why the last try failed.
    pub fn first_sync(&self) -> Result<bool, String> {
        let node = self.store.node();
        match (node.synced_once(), node.last_error()) {
            (true, _) => Ok(true),
            (false, Some(e)) => Err(e.to_owned()),
            (false, None) => Ok(false),
        }
    }

    /// A readiness event for one of the two sockets.
    pub fn event(&mut self, token: Token, readable: bool, writable: bool) {
        let conn = match token {
            CMD => self.cmd.as_mut(),
            _ => self.sub.as_mut(),
        };
        if let Some(conn) = conn {
            conn.readable |= readable;
            if writable && !conn.connected && conn.failed.is_none() {
                // The connect finished, one way or the other; an error
                // is taken (and so cleared) here, and said by `pump`.
                match conn.stream.take_error() {
                    Ok(Some(e)) | Err(e) => conn.failed = Some(e.to_string()),
                    Ok(None) => match conn.stream.peer_addr() {
                        Ok(_) => conn.connected = true,
                        Err(e) => conn.failed = Some(e.to_string()),
                    },
                }
            }
        }
    }

    /// Once per pass, before the engine takes its commits: connects when
    /// the node wants to, reads what came, writes what the node has.
    pub fn pump(&mut self, registry: &Registry, now: Instant, buf: &mut [u8]) {
        if self.store.node().handle_timeout(now) {
            self.drop_sockets(registry);
        }
        if self.cmd.is_none() && self.store.node().wants_connect(now) {
            if let Err(e) = self.connect(registry) {
                self.lost(registry, now, &e.to_string());
                return;
            }
            self.store.node().handle_connecting(now);
        }
        let failed = [&self.cmd, &self.sub]
            .into_iter()
            .flatten()
            .find_map(|c| c.failed.clone());
        if let Some(why) = failed {
            self.lost(registry, now, &why);
            return;
        }
        if !self.up {
            let both = self.cmd.as_ref().is_some_and(|c| c.connected)
                && self.sub.as_ref().is_some_and(|c| c.connected);
            if both {
                self.up = true;
                self.store.node().handle_connected(now);
            }
        }
        if let Err(e) = self.read(buf) {
            self.lost(registry, now, &e);
            return;
        }
        if self.up {
            if let Err(e) = self.write() {
                self.lost(registry, now, &e);
            }
        }
    }

    fn connect(&mut self, registry: &Registry) -> io::Result<()> {
        for (slot, token) in [(&mut self.cmd, CMD), (&mut self.sub, SUB)] {
            let mut stream = TcpStream::connect(self.addr)?;
            stream.set_nodelay(true)?;
            registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
            *slot = Some(Conn {
                stream,
                connected: false,
                readable: false,
                failed: None,
            });
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), String> {
        for which in [CMD, SUB] {
            let conn = match which {
                CMD => self.cmd.as_mut(),
                _ => self.sub.as_mut(),
            };
            let Some(conn) = conn.filter(|c| c.readable) else {
                continue;
            };
            conn.readable = false;
            loop {
                match conn.stream.read(buf) {
                    Ok(0) => return Err("Redis closed the connection".into()),
                    Ok(n) => {
                        let bytes = buf.get(..n).unwrap_or(&[]);
                        let mut node = self.store.node();
                        let read = match which {
                            CMD => node.handle_cmd_input(bytes),
                            _ => node.handle_sub_input(bytes),
                        };
                        read.map_err(|e| e.to_string())?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Ok(())
    }

    fn write(&mut self) -> Result<(), String> {
        for which in [CMD, SUB] {
            let conn = match which {
                CMD => self.cmd.as_mut(),
                _ => self.sub.as_mut(),
            };
            let Some(conn) = conn else {
                continue;
            };
            loop {
                let mut node = self.store.node();
                let out = match which {
                    CMD => node.cmd_output(),
                    _ => node.sub_output(),
                };
                if out.is_empty() {
                    break;
                }
                match conn.stream.write(out) {
                    Ok(n) => match which {
                        CMD => node.cmd_written(n),
                        _ => node.sub_written(n),
                    },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Ok(())
    }

    fn lost(&mut self, registry: &Registry, now: Instant, reason: &str) {
        self.store.node().handle_lost(now, reason);
        self.drop_sockets(registry);
    }

    fn drop_sockets(&mut self, registry: &Registry) {
        for conn in [self.cmd.take(), self.sub.take()].into_iter().flatten() {
            let mut stream = conn.stream;
            let _ = registry.deregister(&mut stream);
        }
        self.up = false;
    }
}
