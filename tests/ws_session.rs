//! The sans-IO `ws::Session` against the server's WebSocket connection:
//! the same client frames, cut the same way, must draw the same bytes from
//! both. The server is the `Engine` driven in virtual time, as the reactor
//! drives it (no socket, no sleep); the model is a `Session` plus the one
//! rule `/echo` adds: every message comes back.
//!
//! This pins down that the session's answers (Pong, the echoed Close, the
//! Close that fails the connection, the keep-alive Ping and the silent
//! peer dropped without a Close) are the server's, byte for byte.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use pushwire::broker::ConnId;
use pushwire::engine::{Engine, Step, TICK};
use pushwire::ws::{write_fragment, write_frame, KeepAlive, Opcode, Role, Session, SessionEvent};
use pushwire::Config;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const MAX_MESSAGE: usize = 4096;
const PING_INTERVAL: Duration = Duration::from_secs(30);

const UPGRADE: &[u8] = b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// The server, one `/echo` connection on it, and what it sent after its 101.
struct Server {
    engine: Engine,
    id: ConnId,
    frames: Vec<u8>,
    closed: bool,
    now: Instant,
}

impl Server {
    fn upgraded(now: Instant) -> Server {
        let config = Config {
            max_message_bytes: MAX_MESSAGE,
            ping_interval: PING_INTERVAL,
            ..Config::default()
        };
        let mut engine = Engine::new(config, now);
        let id = engine.open(now);
        let mut server = Server {
            engine,
            id,
            frames: Vec::new(),
            closed: false,
            now,
        };
        server.engine.receive(id, UPGRADE, now);
        server.drain();
        let head_end = server
            .frames
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete 101 head");
        assert!(server.frames.starts_with(b"HTTP/1.1 101 "));
        server.frames.drain(..head_end + 4);
        server
    }

    /// One pass of the reactor: everything queued is written.
    fn drain(&mut self) {
        while let Some(id) = self.engine.pop_ready() {
            match self.engine.next_step(id, self.now) {
                Step::Write => loop {
                    let mut iov = [IoSlice::new(&[]); 16];
                    let n = self.engine.fill(id, &mut iov);
                    let mut round = 0;
                    for slice in &iov[..n] {
                        self.frames.extend_from_slice(slice);
                        round += slice.len();
                    }
                    if round == 0 {
                        break;
                    }
                    self.engine.written(id, round);
                },
                Step::Shutdown => {
                    self.closed = true;
                    self.engine.shut_down(id, self.now);
                }
                Step::Close => {
                    self.closed = true;
                    self.engine.remove(id);
                }
                Step::Wait => {}
            }
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        if !self.closed {
            self.engine.receive(self.id, bytes, self.now);
            self.drain();
        }
    }

    fn advance_to(&mut self, now: Instant) {
        self.now = now;
        self.engine.advance(now);
        self.drain();
    }
}

/// The model: a server `Session` that echoes every message.
struct Echo {
    session: Session,
    frames: Vec<u8>,
}

impl Echo {
    fn receive(&mut self, mut bytes: &[u8], now: Instant) {
        while !bytes.is_empty() {
            let (used, event) =
                self.session
                    .handle_input(bytes, now, MAX_MESSAGE, &mut self.frames, None);
            bytes = &bytes[used..];
            match event {
                Some(SessionEvent::Text(text)) => {
                    write_frame(&mut self.frames, Opcode::Text, text.as_bytes(), None)
                }
                Some(SessionEvent::Binary(data)) => {
                    write_frame(&mut self.frames, Opcode::Binary, &data, None)
                }
                Some(SessionEvent::Closed { .. } | SessionEvent::Failed(_)) | None => {}
            }
        }
    }
}

/// A client frame, valid or not, chosen by its kind.
fn client_frame(kind: u8, payload: &[u8], fin: bool) -> Vec<u8> {
    let mut wire = Vec::new();
    let control = payload.get(..payload.len().min(125)).unwrap_or_default();
    match kind % 12 {
        0 => write_frame(&mut wire, Opcode::Text, b"hello", Some(KEY)),
        1 => write_fragment(&mut wire, fin, Opcode::Text, payload, Some(KEY)),
        2 => write_fragment(&mut wire, fin, Opcode::Binary, payload, Some(KEY)),
        3 => write_fragment(&mut wire, fin, Opcode::Continuation, payload, Some(KEY)),
        4 => write_frame(&mut wire, Opcode::Ping, control, Some(KEY)),
        5 => write_frame(&mut wire, Opcode::Pong, control, Some(KEY)),
        6 => write_frame(&mut wire, Opcode::Close, control, Some(KEY)),
        7 => write_frame(&mut wire, Opcode::Close, b"\x03\xe9bye", Some(KEY)),
        8 => write_frame(&mut wire, Opcode::Ping, &[0; 126], Some(KEY)),
        9 => write_frame(&mut wire, Opcode::Text, payload, None),
        10 => write_frame(&mut wire, Opcode::Binary, &[7; MAX_MESSAGE + 1], Some(KEY)),
        _ => write_frame(&mut wire, Opcode::Ping, b"", Some(KEY)),
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_session_answers_client_frames_as_the_server_does(
        frames in proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300), any::<bool>()),
            1..8,
        ),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let wire: Vec<u8> = frames
            .iter()
            .flat_map(|(kind, payload, fin)| client_frame(*kind, payload, *fin))
            .collect();
        let now = Instant::now();
        let mut server = Server::upgraded(now);
        let mut echo = Echo { session: Session::new(Role::Server, now), frames: Vec::new() };
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(wire.len());
        let mut start = 0;
        for end in cuts {
            server.receive(&wire[start..end]);
            echo.receive(&wire[start..end], now);
            start = end;
        }
        prop_assert_eq!(server.frames, echo.frames);
    }
}

#[test]
fn the_session_pings_and_drops_a_silent_peer_as_the_server_does() {
    let start = Instant::now();
    let mut server = Server::upgraded(start);
    let mut echo = Echo {
        session: Session::new(Role::Server, start),
        frames: Vec::new(),
    };
    let mut pong = Vec::new();
    write_frame(&mut pong, Opcode::Pong, b"pushwire", Some(KEY));
    // The client answers the first ping, then falls silent. Both run their
    // timer one wheel tick after the deadline the session named.
    let mut deadline = start + PING_INTERVAL;
    let mut pings = 0;
    loop {
        let now = deadline + TICK;
        server.advance_to(now);
        let next = echo
            .session
            .handle_timeout(now, PING_INTERVAL, TICK, &mut echo.frames, None);
        assert_eq!(server.frames, echo.frames);
        match next {
            KeepAlive::NotDue(at) => deadline = at,
            KeepAlive::PingSent(at) => {
                deadline = at;
                pings += 1;
                if pings == 1 {
                    server.receive(&pong);
                    echo.receive(&pong, now);
                }
            }
            KeepAlive::PeerSilent => break,
        }
        assert!(!server.closed && pings < 3);
    }
    assert!(server.closed);
    assert_eq!(echo.frames, b"\x89\x08pushwire\x89\x08pushwire");
}
