//! One client socket and the bytes waiting to go out on it.
//!
//! Sockets are registered once for READABLE | WRITABLE, edge-triggered:
//! reads go until `WouldBlock`, and whatever a write left over is retried
//! on the next WRITABLE edge.
//!
//! With `https://` or `wss://` (the `tls` feature) a rustls client sits
//! between the socket and the bytes: `out` is encrypted as it is flushed,
//! and reads give plaintext. It trusts `SSL_CERT_FILE` (else the system's
//! bundle), as `pushwire sub` does without `--cacert`.

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
    #[cfg(feature = "tls")]
    tls: Option<Box<rustls::ClientConnection>>,
}

/// How a link speaks TLS to its server: the client configuration and the
/// name the certificate must carry.
#[cfg(feature = "tls")]
pub type TlsClient = (
    std::sync::Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
);

/// No TLS in this build.
#[cfg(not(feature = "tls"))]
pub type TlsClient = std::convert::Infallible;

/// The TLS client for `host`, trusting `SSL_CERT_FILE` or the system.
#[cfg(feature = "tls")]
pub fn tls_client(host: &str) -> io::Result<TlsClient> {
    let trust = crate::client::http::Trust::default();
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    Ok((
        crate::client::tls::client_config(&trust)?,
        crate::client::tls::server_name(name)?,
    ))
}

/// No TLS in this build (the URL parser refuses `https://` first).
#[cfg(not(feature = "tls"))]
pub fn tls_client(_: &str) -> io::Result<TlsClient> {
    Err(io::Error::other("this pushwire was built without TLS"))
}

/// What one read returned.
pub enum ReadOutcome {
    Data(usize),
    Again,
    Closed,
}

impl Link {
    pub fn new(
        registry: &Registry,
        mut stream: TcpStream,
        token: Token,
        tls: Option<&TlsClient>,
    ) -> io::Result<Link> {
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        #[cfg(feature = "tls")]
        let tls = match tls {
            Some((config, name)) => Some(Box::new(
                rustls::ClientConnection::new(config.clone(), name.clone())
                    .map_err(io::Error::other)?,
            )),
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        Ok(Link {
            stream,
            out: Vec::new(),
            sent: 0,
            connected: false,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// Whether queued bytes are still unsent (with TLS: or the handshake
    /// is not done, the request waiting in the session).
    pub fn pending(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            if tls.is_handshaking() || tls.wants_write() {
                return true;
            }
        }
        self.sent < self.out.len()
    }

    /// Writes queued bytes until done or `WouldBlock`.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            if let Some(rest) = self.out.get(self.sent..).filter(|r| !r.is_empty()) {
                tls.writer().write_all(rest)?;
            }
            self.out.clear();
            self.sent = 0;
            return write_records(tls, &mut self.stream);
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
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return read_records(tls, &mut self.stream, buf);
        }
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

    /// Whether the TLS handshake is still going (false without TLS).
    #[cfg(feature = "tls")]
    pub fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.is_handshaking())
    }

    /// Queues close_notify (RFC 8446 section 6.1) and sends it: the end
    /// of this side's output.
    #[cfg(feature = "tls")]
    pub fn close_tls(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
        }
        self.flush()
    }

    /// The protocol version and cipher suite agreed, once the handshake
    /// is done: "TLSv1_3 TLS13_AES_256_GCM_SHA384".
    #[cfg(feature = "tls")]
    pub fn negotiated(&self) -> Option<String> {
        let tls = self.tls.as_ref()?;
        let version = tls.protocol_version()?;
        let suite = tls.negotiated_cipher_suite()?;
        Some(format!("{version:?} {:?}", suite.suite()))
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}

/// Sends what the session has encrypted, until done or `WouldBlock`.
#[cfg(feature = "tls")]
fn write_records(tls: &mut rustls::ClientConnection, stream: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Plaintext already decrypted, else records read from the socket until
/// some plaintext comes or it would block; the handshake's answers are
/// sent on the way.
#[cfg(feature = "tls")]
fn read_records(
    tls: &mut rustls::ClientConnection,
    stream: &mut TcpStream,
    buf: &mut [u8],
) -> io::Result<ReadOutcome> {
    loop {
        match tls.reader().read(buf) {
            Ok(0) => return Ok(ReadOutcome::Closed),
            Ok(n) => return Ok(ReadOutcome::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(ReadOutcome::Closed),
            Err(e) => return Err(e),
        }
        match tls.read_tls(stream) {
            Ok(0) => return Ok(ReadOutcome::Closed),
            Ok(_) => {
                if let Err(e) = tls.process_new_packets() {
                    // The alert rustls queued (a certificate it does not
                    // trust: unknown_ca) tells the server why, as any
                    // client would.
                    let _ = write_records(tls, stream);
                    return Err(io::Error::other(e));
                }
                write_records(tls, stream)?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::Again),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(ReadOutcome::Closed),
            Err(e) => return Err(e),
        }
    }
}
