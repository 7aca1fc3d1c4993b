//! The TLS layer (`server::tls::TlsSession`, the `tls` feature) between
//! arbitrary bytes and the engine, driven as the reactor drives it:
//! ciphertext in, plaintext to `Engine::handle_input`; the engine's output
//! through the session, ciphertext out. No socket.
//!
//! Two ways in, chosen by the input:
//! - raw: the bytes go straight to a fresh session, cut as the input says
//!   (a ClientHello never seen before, plain text, records of every type
//!   and length);
//! - after a real handshake with an in-memory rustls client (trusting the
//!   test CA of `tests/tls`): the client writes arbitrary plaintext
//!   (requests, WebSocket frames, garbage), arbitrary raw bytes may be
//!   slipped into the record stream, the clock moves, the client closes.
//!
//! The input is read as operations, so that seeds can be written by hand
//! (`fuzz/corpus/tls_session/seed-*`): the first byte picks the way in
//! (even: raw, odd: after a handshake), then each operation is a tag byte
//! and its operands: `0 len_lo len_hi bytes` the client writes, `1 i` a
//! request from the list, `2 len_lo len_hi bytes` raw bytes, `3 n` cut
//! into pieces of n, `4 lo hi` milliseconds, `5` close_notify.
//!
//! Properties:
//! - nothing panics;
//! - the session hands the engine exactly the plaintext the client wrote,
//!   in order, however the records were cut, as long as no raw bytes were
//!   slipped in (a prefix of it once the server sent close_notify: what
//!   comes after is dropped);
//! - while nothing was slipped in, the client reads the server's records
//!   without an error: what the engine wrote, encrypted, is valid TLS;
//! - the session never takes more plaintext than it was offered, and
//!   keeps at most its 64 KiB of ciphertext (plus one record) unsent.
#![no_main]

use std::io::{IoSlice, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pushwire::engine::{Engine, Step};
use pushwire::server::tls::{load_pem, ServerConfig, TlsInput, TlsSession};
use pushwire::Config;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

const CHAIN: &[u8] = include_bytes!("../../tests/tls/leaf-chain.pem");
const KEY: &[u8] = include_bytes!("../../tests/tls/leaf.key");
const CA: &[u8] = include_bytes!("../../tests/tls/ca.pem");

/// Ciphertext the session may hold unsent: its limit, one record of
/// overshoot, and a flight of handshake messages.
const MAX_CIPHERTEXT: usize = 64 * 1024 + 20 * 1024;

#[derive(Debug)]
enum Op {
    /// The client writes plaintext (encrypted by the client).
    Write(Vec<u8>),
    /// A request the engine understands, so output flows back.
    Request(u8),
    /// Raw bytes slipped into the record stream.
    Raw(Vec<u8>),
    /// The next deliveries are cut into pieces of this many bytes (0: whole).
    Cut(u8),
    /// The clock moves this many milliseconds.
    Clock(u16),
    /// The client sends close_notify.
    Close,
}

struct Input {
    handshake: bool,
    ops: Vec<Op>,
}

/// Reads the operations (see the module docs); a truncated one ends them.
fn parse(data: &[u8]) -> Input {
    let mut rest = data;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        rest = tail;
        Some(head)
    };
    let handshake = take(1).is_some_and(|b| b[0] % 2 == 1);
    let mut ops = Vec::new();
    while let Some(tag) = take(1) {
        let op = match tag[0] % 6 {
            0 | 2 => {
                let Some(len) = take(2) else { break };
                let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
                let Some(bytes) = take(len) else { break };
                match tag[0] % 6 {
                    0 => Op::Write(bytes.to_vec()),
                    _ => Op::Raw(bytes.to_vec()),
                }
            }
            1 => match take(1) {
                Some(i) => Op::Request(i[0]),
                None => break,
            },
            3 => match take(1) {
                Some(n) => Op::Cut(n[0]),
                None => break,
            },
            4 => match take(2) {
                Some(ms) => Op::Clock(u16::from_le_bytes([ms[0], ms[1]])),
                None => break,
            },
            _ => Op::Close,
        };
        ops.push(op);
    }
    Input { handshake, ops }
}

const REQUESTS: &[&[u8]] = &[
    b"GET /help HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /poll/a?since=0 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /sse/a?since=0 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
];

fn server_config() -> Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        load_pem(CHAIN, "c".as_ref(), KEY, "k".as_ref()).expect("the test certificate")
    }))
}

fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(new_client_config))
}

fn new_client_config() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(CA) {
        roots.add(cert.expect("the CA")).expect("the CA");
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The server side: a session in front of one engine connection.
struct Server {
    engine: Engine,
    id: usize,
    session: TlsSession,
    now: Instant,
    /// Plaintext the engine was given.
    delivered: Vec<u8>,
    alive: bool,
}

impl Server {
    fn new(now: Instant) -> Server {
        let config = Config {
            history: 8,
            max_body_bytes: 4096,
            max_header_bytes: 1024,
            ..Config::default()
        };
        let mut engine = Engine::new(config, now);
        let id = engine.handle_accept(now);
        let session = TlsSession::new(server_config()).expect("a session");
        Server {
            engine,
            id,
            session,
            now,
            delivered: Vec::new(),
            alive: true,
        }
    }

    /// Bytes from the wire, cut in pieces of `cut`.
    fn receive(&mut self, bytes: &[u8], cut: usize) {
        let mut plain = Vec::new();
        for piece in bytes.chunks(cut.max(1)) {
            if !self.alive {
                return;
            }
            plain.clear();
            match self.session.handle_ciphertext(piece, &mut plain) {
                TlsInput::Records => {}
                TlsInput::PlainHttp | TlsInput::Failed(_) => {
                    self.alive = false;
                    return;
                }
            }
            self.delivered.extend_from_slice(&plain);
            self.engine.handle_input(self.id, &plain, self.now);
            if self.session.peer_closed() {
                self.engine.handle_eof(self.id, self.now);
            }
        }
    }

    /// The engine's output through the session; the ciphertext.
    fn send(&mut self) -> Vec<u8> {
        let mut wire = Vec::new();
        for _ in 0..64 {
            while self.session.has_ciphertext() {
                let before = wire.len();
                self.session.write_ciphertext(&mut wire).expect("a Vec takes all");
                assert!(wire.len() > before);
            }
            if !self.alive {
                break;
            }
            match self.engine.poll_step(self.id) {
                Step::Write => {
                    let mut iov = [IoSlice::new(&[]); 64];
                    let n = self.engine.poll_output(self.id, &mut iov);
                    let slices = &iov[..n];
                    let offered: usize = slices.iter().map(|s| s.len()).sum();
                    let taken = self.session.handle_plaintext(slices);
                    assert!(taken <= offered, "took {taken} of {offered}");
                    self.engine.handle_written(self.id, taken, self.now);
                    if taken == 0 {
                        break;
                    }
                }
                Step::Shutdown => {
                    if self.session.is_handshaking() {
                        break;
                    }
                    self.session.close();
                    while self.session.has_ciphertext() {
                        self.session.write_ciphertext(&mut wire).expect("a Vec");
                    }
                    self.engine.handle_write_shutdown(self.id, self.now);
                    break;
                }
                Step::Close => {
                    self.engine.handle_closed(self.id);
                    self.alive = false;
                    break;
                }
                Step::Wait => break,
            }
        }
        wire
    }
}

fuzz_target!(|data: &[u8]| {
    let input = parse(data);
    let start = Instant::now();
    let mut server = Server::new(start);
    let mut cut = 0usize;
    if !input.handshake {
        for op in &input.ops {
            match op {
                Op::Raw(bytes) | Op::Write(bytes) => server.receive(bytes, cut),
                Op::Cut(n) => cut = usize::from(*n),
                Op::Clock(ms) => {
                    server.now += Duration::from_millis(u64::from(*ms));
                    server.engine.handle_timeout(server.now);
                }
                Op::Request(_) | Op::Close => {}
            }
            let out = server.send();
            assert!(out.len() <= MAX_CIPHERTEXT, "{} bytes at once", out.len());
        }
        return;
    }
    let name = ServerName::try_from("localhost").expect("a name");
    let mut client = ClientConnection::new(client_config(), name).expect("a client");
    client.set_buffer_limit(None);
    let mut written = Vec::new();
    let mut tainted = false;
    let mut client_ok = true;
    let mut closed = false;
    for op in input.ops.iter().chain(std::iter::once(&Op::Cut(0))) {
        match op {
            Op::Write(_) | Op::Request(_) if !closed => {
                let bytes = match op {
                    Op::Write(bytes) => bytes.as_slice(),
                    Op::Request(i) => REQUESTS[usize::from(*i) % REQUESTS.len()],
                    _ => &[],
                };
                // A client that got an alert writes no more.
                match client.writer().write_all(bytes) {
                    Ok(()) => written.extend_from_slice(bytes),
                    Err(e) => assert!(tainted || !server.alive, "the client failed: {e}"),
                }
            }
            Op::Raw(bytes) => {
                tainted |= !bytes.is_empty();
                server.receive(bytes, cut);
            }
            Op::Cut(n) => cut = usize::from(*n),
            Op::Clock(ms) => {
                server.now += Duration::from_millis(u64::from(*ms));
                server.engine.handle_timeout(server.now);
            }
            Op::Close if !closed => {
                client.send_close_notify();
                closed = true;
            }
            _ => {}
        }
        // Both ways until quiet.
        for _ in 0..16 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).expect("a Vec takes all");
            }
            server.receive(&wire, cut);
            let back = server.send();
            if client_ok {
                let mut rd = back.as_slice();
                while !rd.is_empty() {
                    let read = client.read_tls(&mut rd);
                    let processed = client.process_new_packets();
                    if read.is_err() || processed.is_err() {
                        assert!(
                            tainted || !server.alive,
                            "the client refused the server's records: {read:?} {processed:?}"
                        );
                        client_ok = false;
                        break;
                    }
                    let mut sink = [0u8; 4096];
                    while matches!(client.reader().read(&mut sink), Ok(n) if n > 0) {}
                }
            }
            if wire.is_empty() && back.is_empty() {
                break;
            }
        }
        if !tainted && server.alive && !server.session.is_handshaking() {
            match server.session.is_closing() {
                // After the server's close_notify, input is dropped: the
                // engine saw a prefix of what the client wrote.
                true => assert!(
                    written.starts_with(&server.delivered),
                    "the engine saw other plaintext than the client wrote"
                ),
                false => assert_eq!(
                    server.delivered, written,
                    "the engine saw other plaintext than the client wrote"
                ),
            }
        }
    }
});
