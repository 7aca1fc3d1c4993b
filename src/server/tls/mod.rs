//! TLS on the listener: HTTPS and WSS in the same loop, with rustls's
//! sans-IO API (the `tls` cargo feature; docs/tls.md).
//!
//! TLS is one more layer between the socket and the engine, per
//! connection, and the engine never knows it is there:
//!
//! ```text
//! socket ──read()──▶ TlsSession::handle_ciphertext ──plaintext──▶ Engine::handle_input
//!   (read_tls, process_new_packets, reader())
//! socket ◀─writev()─ TlsSession::write_ciphertext ◀──IoSlices─── Engine::poll_output
//!   (write_tls)          TlsSession::handle_plaintext (writer(): one copy, encrypted)
//! ```
//!
//! [`TlsSession`] does no I/O: bytes in, plaintext out; plaintext in,
//! records out. The reactor moves the bytes, as it does for plain
//! connections, and the `tls_session` fuzz target drives the same type
//! from arbitrary bytes straight into an engine.
//!
//! What this layer decides, and nothing else:
//!
//! - TLS 1.3 and 1.2 only, the `ring` provider's cipher suites, ALPN
//!   `http/1.1` (RFC 7301: a client that offers ALPN without it gets the
//!   `no_application_protocol` alert);
//! - a connection whose first byte is an ASCII letter is someone speaking
//!   plain HTTP to the TLS port: it gets [`PLAIN_HTTP_REFUSAL`], a short
//!   `400` in plaintext, and is closed (a TLS connection starts with a
//!   record of type 22, handshake: RFC 8446 section 5.1);
//! - a bad record, an alert from the peer or a failed handshake closes the
//!   connection after the alert rustls queued, if any, is sent;
//! - the handshake has a deadline (`TlsSettings::handshake_timeout`),
//!   kept by the reactor on a timer wheel of its own.
//!
//! The certificate and key are read from PEM files ([`load`]) at start
//! and again at every reload ([`crate::Hub::reload_tls`], SIGHUP for the
//! `pushwire` command): a connection keeps the configuration it was
//! accepted with, new ones get the new one, and a file that does not load
//! leaves the old one in force.

#[cfg(feature = "tls")]
mod session;
#[cfg(feature = "tls")]
pub use rustls::ServerConfig;
#[cfg(feature = "tls")]
pub use session::{load_pem, TlsSession};

#[cfg(not(feature = "tls"))]
mod off;
#[cfg(not(feature = "tls"))]
pub use off::{ServerConfig, TlsSession};

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::TlsSettings;

/// What a TLS session may hold of a connection's output beyond what the
/// kernel took: rustls accepts plaintext until this much ciphertext waits
/// in it (`set_buffer_limit`). The engine's output waits in its own queue
/// (shared message bytes, not copies) until this is written. The
/// slow-consumer bound counts it as full, beside the kernel's share
/// ([`crate::engine::Engine::set_kernel_send_buffer`]): bytes the session
/// took are written as far as the engine knows.
pub const SESSION_OUTPUT_LIMIT: usize = 64 * 1024;

/// What a client that speaks plain HTTP to the TLS port is told, in
/// plaintext, before the connection is closed.
pub const PLAIN_HTTP_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 45\r\n\
Connection: close\r\n\
\r\n\
This port speaks TLS: use https:// or wss://\n";

/// Why a certificate and key could not be put in force.
#[derive(Debug)]
pub enum TlsError {
    /// This build has no TLS: rebuild with `--features tls`.
    NotBuilt,
    /// A reload was asked of a server started without TLS.
    NotConfigured,
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// A file is not valid PEM.
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    NoCertificate(PathBuf),
    /// The key file holds no private key section (`PRIVATE KEY`,
    /// `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
    NoKey(PathBuf),
    /// rustls refused the pair: a key it cannot use, or one that does not
    /// match the certificate.
    Refused(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NotBuilt => f.write_str(
                "this pushwire was built without TLS: rebuild with `cargo build --features tls`",
            ),
            TlsError::NotConfigured => {
                f.write_str("the server was started without a TLS certificate")
            }
            TlsError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            TlsError::BadPem { path, reason } => {
                write!(f, "{} is not valid PEM: {reason}", path.display())
            }
            TlsError::NoCertificate(path) => {
                write!(f, "{} holds no PEM CERTIFICATE", path.display())
            }
            TlsError::NoKey(path) => write!(
                f,
                "{} holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
                path.display()
            ),
            TlsError::Refused(why) => write!(f, "the certificate and key were refused: {why}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// Reads `settings`' certificate chain and key and builds the
/// configuration new connections are accepted with.
pub fn load(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|error| TlsError::Read {
            path: path.clone(),
            error,
        })
    };
    let cert = read(&settings.cert)?;
    let key = read(&settings.key)?;
    #[cfg(feature = "tls")]
    return load_pem(&cert, &settings.cert, &key, &settings.key);
    #[cfg(not(feature = "tls"))]
    {
        let _ = (cert, key);
        Err(TlsError::NotBuilt)
    }
}

/// What the TLS layer counts, readable from any thread
/// ([`crate::Hub::tls_counts`]). Only handshakes touch it, never a
/// message.
#[derive(Debug, Default)]
pub struct TlsCounters {
    handshakes: AtomicU64,
    failures: AtomicU64,
    timeouts: AtomicU64,
    plain_http: AtomicU64,
    reloads: AtomicU64,
}

/// A reading of [`TlsCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsCounts {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed: a bad record, an alert, no common version,
    /// cipher suite or protocol.
    pub failures: u64,
    /// Handshakes cut at their deadline.
    pub timeouts: u64,
    /// Connections that spoke plain HTTP and were answered
    /// [`PLAIN_HTTP_REFUSAL`].
    pub plain_http: u64,
    /// Certificates put in force by a reload.
    pub reloads: u64,
}

/// One thing the TLS layer counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsCount {
    /// A handshake completed.
    Handshake,
    /// A handshake failed.
    Failure,
    /// A handshake was cut at its deadline.
    Timeout,
    /// Plain HTTP on the TLS port.
    PlainHttp,
    /// A reload put a new certificate in force.
    Reload,
}

impl TlsCounters {
    /// Counts one more `what`.
    pub fn add(&self, what: TlsCount) {
        let counter = match what {
            TlsCount::Handshake => &self.handshakes,
            TlsCount::Failure => &self.failures,
            TlsCount::Timeout => &self.timeouts,
            TlsCount::PlainHttp => &self.plain_http,
            TlsCount::Reload => &self.reloads,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn read(&self) -> TlsCounts {
        TlsCounts {
            handshakes: self.handshakes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            plain_http: self.plain_http.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
        }
    }
}

/// What one batch of bytes from the socket did to a [`TlsSession`].
#[derive(Debug, PartialEq, Eq)]
pub enum TlsInput {
    /// Records were taken; the plaintext they carried, if any, was
    /// appended to the caller's buffer.
    Records,
    /// The first bytes were not a TLS record but plain text (an HTTP
    /// request): answer [`PLAIN_HTTP_REFUSAL`] in plaintext and close.
    PlainHttp,
    /// A bad record, an alert or a failed handshake: send what
    /// [`TlsSession::has_ciphertext`] says is left (the alert), then
    /// close.
    Failed(String),
}

/// Whether `first` (the first byte a client sent) starts plain text
/// rather than a TLS record: an ASCII letter, as every HTTP method
/// begins. A TLS record starts with its content type (20 to 24; 22 for
/// the ClientHello), an SSLv2-style hello with 0x80 or more.
pub fn is_plain_text(first: u8) -> bool {
    first.is_ascii_alphabetic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_refusal_is_a_whole_response_with_its_length() {
        let text = std::str::from_utf8(PLAIN_HTTP_REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(head.contains("Connection: close"));
    }

    #[test]
    fn http_methods_are_plain_text_and_tls_records_are_not() {
        for method in ["GET", "POST", "OPTIONS", "PUT", "HEAD", "PRI"] {
            assert!(is_plain_text(method.as_bytes()[0]), "{method}");
        }
        // change_cipher_spec, alert, handshake, application_data,
        // heartbeat (RFC 8446 5.1, RFC 6520), and an SSLv2 hello.
        for first in [20u8, 21, 22, 23, 24, 0x80] {
            assert!(!is_plain_text(first), "{first}");
        }
    }

    #[test]
    fn counters_count_each_kind_apart() {
        let counters = TlsCounters::default();
        for what in [
            TlsCount::Handshake,
            TlsCount::Handshake,
            TlsCount::Failure,
            TlsCount::Timeout,
            TlsCount::PlainHttp,
            TlsCount::Reload,
        ] {
            counters.add(what);
        }
        assert_eq!(
            counters.read(),
            TlsCounts {
                handshakes: 2,
                failures: 1,
                timeouts: 1,
                plain_http: 1,
                reloads: 1
            }
        );
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let settings = TlsSettings::new("/nonexistent/cert.pem", "/nonexistent/key.pem");
        let error = load(&settings).map(|_| ()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("cannot read /nonexistent/cert.pem"),
            "{error}"
        );
    }
}
