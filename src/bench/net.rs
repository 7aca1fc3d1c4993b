//! Client sockets: non-blocking connects from many source addresses.
//!
//! One source address has about 28,000 ephemeral ports toward one server
//! port, so a bench holding 100,000 connections binds each socket (socket2,
//! before `connect`) to one of 127.0.0.2, 127.0.0.3, ... in turn. Every
//! address of 127.0.0.0/8 is the loopback interface on Linux, so nothing
//! needs configuring.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

/// Connections per source address before the next one is used.
pub const PER_SOURCE: usize = 16_000;

/// The source addresses, used round-robin.
#[derive(Debug, Clone)]
pub struct Sources {
    addrs: Vec<Ipv4Addr>,
    next: usize,
}

impl Sources {
    /// `count` addresses from `first` up (`None`: let the kernel choose,
    /// which is fine for a few thousand connections).
    pub fn new(first: Option<Ipv4Addr>, count: usize) -> Sources {
        let addrs = match first {
            None => Vec::new(),
            Some(first) => (0..count.max(1))
                .map(|i| Ipv4Addr::from(u32::from(first).wrapping_add(i as u32)))
                .collect(),
        };
        Sources { addrs, next: 0 }
    }

    /// Enough addresses for `connections` from 127.0.0.2 up when the
    /// server is on loopback, or `explicit` of them when given.
    pub fn for_connections(
        server: SocketAddr,
        connections: usize,
        explicit: Option<usize>,
    ) -> Sources {
        let loopback = matches!(server, SocketAddr::V4(a) if a.ip().is_loopback());
        match explicit {
            Some(0) => Sources::new(None, 0),
            Some(n) => Sources::new(Some(Ipv4Addr::new(127, 0, 0, 2)), n),
            None if loopback => Sources::new(
                Some(Ipv4Addr::new(127, 0, 0, 2)),
                connections.div_ceil(PER_SOURCE),
            ),
            None => Sources::new(None, 0),
        }
    }

    fn take(&mut self) -> Option<Ipv4Addr> {
        let addr = self.addrs.get(self.next % self.addrs.len().max(1)).copied();
        self.next = self.next.wrapping_add(1);
        addr
    }

    /// Starts a non-blocking connect to `server`.
    pub fn connect(&mut self, server: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        // Close with a reset: a load generator that leaves 10,000 sockets
        // in TIME_WAIT per run exhausts its source ports within a few runs.
        socket.set_linger(Some(std::time::Duration::ZERO))?;
        if let Some(ip) = self.take() {
            socket.bind(&SocketAddr::V4(SocketAddrV4::new(ip, 0)).into())?;
        }
        match socket.connect(&server.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
    }
}

/// Raises the open-file limit and checks that it covers `needed` sockets.
pub fn ensure_fd_limit(needed: usize) -> Result<(), String> {
    let limit = pushwire::server::sys::raise_fd_limit().map_err(|e| format!("getrlimit: {e}"))?;
    let wanted = needed as u64 + 64;
    if limit < wanted {
        return Err(format!(
            "the open-file limit is {limit}, {wanted} are needed: run 'ulimit -n {wanted}' (as root) first"
        ));
    }
    Ok(())
}

/// The resident memory of process `pid` in bytes (`VmRSS` of
/// `/proc/PID/status`).
pub fn resident_bytes(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("/proc/{pid}/status has no VmRSS"))
}
