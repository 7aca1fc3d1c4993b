//! The listening socket, made with `socket2` so that its options are set
//! before `bind` and `listen`.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};

/// A non-blocking listener on `addr` with `SO_REUSEADDR` (a restarted
/// server can bind while old connections sit in TIME_WAIT) and a real
/// `backlog` (the kernel caps it at `net.core.somaxconn`).
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}
