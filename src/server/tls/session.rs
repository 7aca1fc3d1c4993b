//! One connection's TLS session: rustls's `ServerConnection`, driven
//! without I/O.

use std::io::{self, IoSlice, Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::{ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{is_plain_text, TlsError, TlsInput, SESSION_OUTPUT_LIMIT};

/// ALPN (RFC 7301): the only protocol spoken over TLS here.
const HTTP_1_1: &[u8] = b"http/1.1";

/// Builds the configuration new connections are accepted with from the
/// PEM text of a certificate chain (`cert_path`'s, the server's own
/// certificate first) and of its private key (`key_path`'s): TLS 1.3 and
/// 1.2, the `ring` provider, ALPN `http/1.1`. The paths only name the
/// files in errors.
///
/// ```
/// let chain = include_bytes!("../../../tests/tls/leaf-chain.pem");
/// let key = include_bytes!("../../../tests/tls/leaf.key");
/// let config = pushwire::server::tls::load_pem(
///     chain, "chain.pem".as_ref(), key, "key.pem".as_ref()).unwrap();
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// ```
pub fn load_pem(
    cert: &[u8],
    cert_path: &Path,
    key: &[u8],
    key_path: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let bad = |path: &Path, e: rustls_pki_types::pem::Error| TlsError::BadPem {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert_path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_path.to_owned()));
    }
    let key = match PrivateKeyDer::from_pem_slice(key) {
        Ok(key) => key,
        Err(rustls_pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey(key_path.to_owned()))
        }
        Err(e) => return Err(bad(key_path, e)),
    };
    let refused = |e: rustls::Error| TlsError::Refused(e.to_string());
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(refused)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(refused)?;
    config.alpn_protocols = vec![HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}

/// A server-side TLS session with no I/O of its own: ciphertext in,
/// plaintext out ([`handle_ciphertext`](TlsSession::handle_ciphertext));
/// plaintext in, ciphertext out
/// ([`handle_plaintext`](TlsSession::handle_plaintext), then
/// [`write_ciphertext`](TlsSession::write_ciphertext) into any writer).
///
/// The order of calls, as for the engine:
///
/// 1. bytes read from the socket: `handle_ciphertext`, then hand the
///    plaintext to the engine (and `Engine::handle_eof` once
///    [`peer_closed`](TlsSession::peer_closed));
/// 2. while [`has_ciphertext`](TlsSession::has_ciphertext) (the
///    handshake's flights, alerts, encrypted output): `write_ciphertext`
///    to the socket;
/// 3. with the ciphertext gone, the engine's output goes to
///    `handle_plaintext` (it says how much it took, for
///    `Engine::handle_written`), and back to 2.
#[derive(Debug)]
pub struct TlsSession {
    conn: ServerConnection,
    /// No byte has arrived yet: the first one says whether this is TLS.
    fresh: bool,
    /// The peer sent close_notify.
    closed: bool,
    /// rustls refused the input (and queued its fatal alert): it must not
    /// be asked to process more (it asserts so in debug builds), so any
    /// later input fails at once. Found by the `tls_session` fuzz target.
    failed: bool,
    /// This side sent close_notify: its output is over, and what still
    /// comes in is read and dropped unparsed (rustls counts close_notify
    /// as the one alert it may send, and asserts in a debug build that a
    /// bad record after it does not send another).
    closing: bool,
}

impl TlsSession {
    /// A session for a new connection, with the configuration in force.
    pub fn new(config: Arc<ServerConfig>) -> Result<TlsSession, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        conn.set_buffer_limit(Some(SESSION_OUTPUT_LIMIT));
        Ok(TlsSession {
            conn,
            fresh: true,
            closed: false,
            failed: false,
            closing: false,
        })
    }

    /// Takes `bytes` read from the socket (any split of a record stream
    /// gives the same result), appends the plaintext they carried to
    /// `plaintext`, and says whether the connection goes on.
    pub fn handle_ciphertext(&mut self, bytes: &[u8], plaintext: &mut Vec<u8>) -> TlsInput {
        if self.failed {
            return TlsInput::Failed("the session failed before".into());
        }
        if self.closing {
            return TlsInput::Records;
        }
        let input = self.take_ciphertext(bytes, plaintext);
        self.failed = matches!(input, TlsInput::Failed(_));
        input
    }

    fn take_ciphertext(&mut self, mut bytes: &[u8], plaintext: &mut Vec<u8>) -> TlsInput {
        if self.fresh {
            match bytes.first() {
                None => return TlsInput::Records,
                Some(&first) if is_plain_text(first) => return TlsInput::PlainHttp,
                Some(_) => self.fresh = false,
            }
        }
        while !bytes.is_empty() {
            // rustls takes at most a record's worth per call, and must
            // process it before taking more. An empty read would mean EOF
            // to it, so it is never offered one.
            let taken = match self.conn.read_tls(&mut bytes) {
                Ok(n) => n,
                Err(e) => return TlsInput::Failed(e.to_string()),
            };
            match self.conn.process_new_packets() {
                Ok(state) => self.closed |= state.peer_has_closed(),
                Err(e) => return TlsInput::Failed(e.to_string()),
            }
            self.drain_plaintext(plaintext);
            if taken == 0 {
                // After close_notify (RFC 8446 6.1) nothing more is read;
                // before it, rustls takes nothing only from a record whose
                // length it refuses.
                if !self.closed {
                    return TlsInput::Failed("a record rustls could not take".into());
                }
                break;
            }
        }
        TlsInput::Records
    }

    fn drain_plaintext(&mut self, plaintext: &mut Vec<u8>) {
        let mut reader = self.conn.reader();
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => plaintext.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
    }

    /// The handshake has not finished: no plaintext goes either way yet.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// This side sent close_notify ([`TlsSession::close`]): what comes in
    /// from then on is dropped unparsed.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// The peer sent close_notify: the end of its input, as EOF is for a
    /// plain connection.
    pub fn peer_closed(&self) -> bool {
        self.closed
    }

    /// Encrypts as much of `slices` as fits (at most 64 KiB of ciphertext
    /// waits in the session); returns how many plaintext bytes it took.
    /// Before the handshake is done it keeps them for later, within the
    /// same bound.
    pub fn handle_plaintext(&mut self, slices: &[IoSlice<'_>]) -> usize {
        self.conn.writer().write_vectored(slices).unwrap_or(0)
    }

    /// Ciphertext is waiting to be written.
    pub fn has_ciphertext(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes waiting ciphertext to `out`, every record in one
    /// `write_vectored`; returns what `out` took.
    pub fn write_ciphertext(&mut self, out: &mut dyn Write) -> io::Result<usize> {
        self.conn.write_tls(out)
    }

    /// Queues close_notify (RFC 8446 6.1): the end of this side's output.
    pub fn close(&mut self) {
        self.conn.send_close_notify();
        self.closing = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore};

    const CHAIN: &[u8] = include_bytes!("../../../tests/tls/leaf-chain.pem");
    const KEY: &[u8] = include_bytes!("../../../tests/tls/leaf.key");
    const KEY2: &[u8] = include_bytes!("../../../tests/tls/leaf2.key");
    const CA: &[u8] = include_bytes!("../../../tests/tls/ca.pem");

    fn server_config() -> Arc<ServerConfig> {
        load_pem(CHAIN, Path::new("c"), KEY, Path::new("k")).unwrap()
    }

    fn client(alpn: &[&[u8]]) -> ClientConnection {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(CA) {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let name = ServerName::try_from("localhost").unwrap();
        ClientConnection::new(Arc::new(config), name).unwrap()
    }

    /// Moves bytes both ways until neither side has any to send; what the
    /// server's plaintext was, and its last verdict.
    fn pump(client: &mut ClientConnection, server: &mut TlsSession, step: usize) -> Vec<u8> {
        let mut plain = Vec::new();
        for _ in 0..32 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            for piece in wire.chunks(step) {
                assert_eq!(
                    server.handle_ciphertext(piece, &mut plain),
                    TlsInput::Records
                );
            }
            let mut back = Vec::new();
            while server.has_ciphertext() {
                server.write_ciphertext(&mut back).unwrap();
            }
            if wire.is_empty() && back.is_empty() {
                break;
            }
            let mut rd = back.as_slice();
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets().unwrap();
            }
        }
        plain
    }

    /// After this side's close_notify, input is dropped unparsed: a bad
    /// record then would make rustls send a second alert, which it
    /// asserts against in a debug build (the `tls_session` fuzz target,
    /// in CI's smoke run).
    #[test]
    fn input_after_close_notify_is_dropped() {
        let mut session = TlsSession::new(server_config()).unwrap();
        let mut plaintext = Vec::new();
        session.close();
        let bad = [0x17, 0x03, 0x03, 0x00, 0x04, 9, 9, 9, 9];
        assert!(matches!(
            session.handle_ciphertext(&bad, &mut plaintext),
            TlsInput::Records
        ));
        assert!(plaintext.is_empty());
    }

    /// A record rustls refuses, then more bytes: the session fails once
    /// and stays failed without asking rustls again (which asserts, in a
    /// debug build, that nothing is processed after its fatal alert: the
    /// `tls_session` fuzz target's first find in CI).
    #[test]
    fn input_after_a_failure_fails_at_once() {
        let mut session = TlsSession::new(server_config()).unwrap();
        let mut plaintext = Vec::new();
        // A handshake record header with a length past what TLS allows.
        let bad = [0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(
            session.handle_ciphertext(&bad, &mut plaintext),
            TlsInput::Failed(_)
        ));
        let more = [0x16, 0x03, 0x01, 0x00, 0x04, 1, 2, 3, 4];
        assert!(matches!(
            session.handle_ciphertext(&more, &mut plaintext),
            TlsInput::Failed(why) if why == "the session failed before"
        ));
        assert!(plaintext.is_empty());
    }

    #[test]
    fn a_request_arrives_as_plaintext_whatever_the_split() {
        for step in [1, 7, 4096, usize::MAX] {
            let mut server = TlsSession::new(server_config()).unwrap();
            let mut client = client(&[b"h2", b"http/1.1"]);
            assert!(server.is_handshaking());
            client
                .writer()
                .write_all(b"GET /help HTTP/1.1\r\n\r\n")
                .unwrap();
            let plain = pump(&mut client, &mut server, step);
            assert!(!server.is_handshaking());
            assert_eq!(plain, b"GET /help HTTP/1.1\r\n\r\n", "step {step}");
            assert_eq!(client.alpn_protocol(), Some(HTTP_1_1));
            // And back: the server's answer reaches the client.
            let taken = server.handle_plaintext(&[IoSlice::new(b"HTTP/1.1 200 OK\r\n")]);
            assert_eq!(taken, 17);
            pump(&mut client, &mut server, step);
            let mut answer = [0u8; 17];
            client.reader().read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"HTTP/1.1 200 OK\r\n");
            assert!(!server.peer_closed());
            client.send_close_notify();
            pump(&mut client, &mut server, step);
            assert!(server.peer_closed());
        }
    }

    #[test]
    fn plain_http_is_told_apart_from_a_client_hello() {
        let mut server = TlsSession::new(server_config()).unwrap();
        let mut plain = Vec::new();
        assert_eq!(
            server.handle_ciphertext(b"GET / HTTP/1.1\r\n", &mut plain),
            TlsInput::PlainHttp
        );
        assert!(plain.is_empty());
    }

    #[test]
    fn garbage_and_a_client_without_http_1_1_fail_the_handshake() {
        let mut server = TlsSession::new(server_config()).unwrap();
        let mut plain = Vec::new();
        let verdict = server.handle_ciphertext(&[22, 3, 1, 0, 5, 1, 2, 3, 4, 5], &mut plain);
        assert!(matches!(verdict, TlsInput::Failed(_)), "{verdict:?}");
        // A client that only speaks h2 (RFC 7301 3.2: the server answers
        // no_application_protocol).
        let mut server = TlsSession::new(server_config()).unwrap();
        let mut client = client(&[b"h2"]);
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        let verdict = server.handle_ciphertext(&wire, &mut plain);
        assert!(
            matches!(&verdict, TlsInput::Failed(why) if why.contains("protocol")),
            "{verdict:?}"
        );
        // The alert is waiting to be sent.
        assert!(server.has_ciphertext());
    }

    #[test]
    fn files_that_do_not_fit_are_refused_with_a_reason() {
        let p = Path::new("x.pem");
        let cases: [(&[u8], &[u8], &str); 4] = [
            (b"", KEY, "holds no PEM CERTIFICATE"),
            (CHAIN, b"", "holds no PEM private key"),
            (CHAIN, KEY2, "refused"),
            (
                b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
                KEY,
                "not valid PEM",
            ),
        ];
        for (cert, key, needle) in cases {
            let error = load_pem(cert, p, key, p).map(|_| ()).unwrap_err();
            assert!(error.to_string().contains(needle), "{needle}: {error}");
        }
    }
}
