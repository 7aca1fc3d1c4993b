//! The listening socket, made with `socket2` so that its options are set
//! before `bind` and `listen`.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};

/// A non-blocking listener on `addr` with `SO_REUSEADDR` (a restarted
/// server can bind while old connections sit in TIME_WAIT), with
/// `SO_REUSEPORT` if `reuse_port` (other processes may bind the same
/// address, and the kernel hashes each new connection to one of them:
/// socket(7)), a real
/// `backlog` (the kernel caps it at `net.core.somaxconn`), and a fixed
/// send buffer of `send_buffer` bytes as the kernel counts them.
///
/// A connection accepted from a listener starts as a copy of it, so it
/// inherits the listener's send buffer size and the lock that keeps the
/// kernel from autotuning it: no call per connection. `SO_SNDBUF` is
/// given half of `send_buffer` because Linux doubles the value (socket(7);
/// the doubled value is what `getsockopt` reports), within
/// `net.core.wmem_max` and a minimum of its own. Returns the listener and
/// the send buffer in force, as `getsockopt(SO_SNDBUF)` reports it.
pub fn bind(
    addr: SocketAddr,
    backlog: i32,
    reuse_port: bool,
    send_buffer: usize,
) -> io::Result<(mio::net::TcpListener, usize)> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_send_buffer_size((send_buffer / 2).max(1))?;
    let in_force = socket.send_buffer_size()?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok((mio::net::TcpListener::from_std(socket.into()), in_force))
}
