//! One client socket and the bytes waiting to go out on it.
//!
//! Sockets are registered once for READABLE | WRITABLE, edge-triggered:
//! reads go until `WouldBlock`, and whatever a write left over is retried
//! on the next WRITABLE edge.

use std::io::{self, Read, Write};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

#[derive(Debug)]
pub struct Link {
    pub stream: TcpStream,
    pub out: Vec<u8>,
    sent: usize,
    /// The connect completed (a WRITABLE edge arrived).
    pub connected: bool,
}

/// What one read returned.
pub enum ReadOutcome {
    Data(usize),
    Again,
    Closed,
}

impl Link {
    pub fn new(registry: &Registry, mut stream: TcpStream, token: Token) -> io::Result<Link> {
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Link {
            stream,
            out: Vec::new(),
            sent: 0,
            connected: false,
        })
    }

    /// Whether queued bytes are still unsent.
    pub fn pending(&self) -> bool {
        self.sent < self.out.len()
    }

    /// Writes queued bytes until done or `WouldBlock`.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        while let Some(rest) = self.out.get(self.sent..).filter(|r| !r.is_empty()) {
            match self.stream.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.sent = 0;
        Ok(())
    }

    /// A WRITABLE edge: the connect finished (or failed), and the socket
    /// has room.
    pub fn on_writable(&mut self) -> io::Result<()> {
        if !self.connected {
            if let Some(e) = self.stream.take_error()? {
                return Err(e);
            }
            // A refused connect also shows as a failed peer_addr.
            self.stream.peer_addr()?;
            self.connected = true;
        }
        self.flush()
    }

    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome> {
        loop {
            return match self.stream.read(buf) {
                Ok(0) => Ok(ReadOutcome::Closed),
                Ok(n) => Ok(ReadOutcome::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::Again),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(ReadOutcome::Closed),
                Err(e) => Err(e),
            };
        }
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}
