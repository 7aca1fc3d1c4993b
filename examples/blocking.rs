//! The sans-IO engine driven from blocking `std::net`, with no mio at all:
//! a thread per connection reads, one thread owns the `Engine` and writes.
//! It serves everything the real server serves (polling, long-polling,
//! SSE, WebSocket, publishing), which is the point: the engine does not
//! care who moves its bytes.
//!
//! ```sh
//! cargo run --example blocking                  # listens on 127.0.0.1:9002
//! curl -d hello http://127.0.0.1:9002/pub/demo
//! curl http://127.0.0.1:9002/poll/demo
//! ```
//!
//! Blocking writes make one slow client stall everyone, and a thread per
//! connection does not scale; the reactor in `src/server/` exists for
//! that. The order of calls is the one in the `engine` module docs.

use std::collections::HashMap;
use std::io::{IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use pushwire::engine::{Engine, Step};
use pushwire::Config;

/// What the socket threads tell the engine's thread.
enum Input {
    /// A new connection (its key, and the stream to write to).
    Accepted(u64, TcpStream),
    /// Bytes read from a connection.
    Bytes(u64, Vec<u8>),
    /// The connection's peer closed its side, or the read failed.
    Eof(u64),
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    let (tx, rx) = mpsc::channel();

    // 1. Accept on a thread of its own; every connection gets a key (an
    //    engine id is reused after a close, a key never) and a reader.
    std::thread::spawn(move || {
        for (stream, key) in listener.incoming().flatten().zip(0u64..) {
            let _ = stream.set_nodelay(true);
            let Ok(reader) = stream.try_clone() else {
                continue;
            };
            if tx.send(Input::Accepted(key, stream)).is_err() {
                return;
            }
            let tx = tx.clone();
            std::thread::spawn(move || read_loop(key, reader, &tx));
        }
    });

    // 2. The engine lives on this thread only (it is not Send: published
    //    messages are shared between connections with Rc).
    let mut engine = Engine::new(Config::default(), Instant::now());
    let mut streams: HashMap<u64, (usize, TcpStream)> = HashMap::new();
    let mut keys: HashMap<usize, u64> = HashMap::new();
    loop {
        // 3. Sleep until input or the engine's next deadline.
        let now = Instant::now();
        let wait = engine
            .poll_timeout()
            .map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(now)
            });
        let input = match rx.recv_timeout(wait) {
            Ok(input) => Some(input),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let now = Instant::now();
        // 4. The wall clock, for the Date header.
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        engine.handle_wall_clock(secs);
        // 5. Hand the engine what happened.
        match input {
            Some(Input::Accepted(key, stream)) => {
                let id = engine.handle_accept(now);
                keys.insert(id, key);
                streams.insert(key, (id, stream));
            }
            Some(Input::Bytes(key, bytes)) => {
                if let Some(&(id, _)) = streams.get(&key) {
                    engine.handle_input(id, &bytes, now);
                }
            }
            Some(Input::Eof(key)) => {
                if let Some(&(id, _)) = streams.get(&key) {
                    engine.handle_eof(id, now);
                }
            }
            None => {}
        }
        // 6. Deadlines that are due fire.
        engine.handle_timeout(now);
        // 7. Every connection with something to do gets its steps.
        while let Some(id) = engine.poll_ready() {
            let Some(&key) = keys.get(&id) else { continue };
            while let Some((_, stream)) = streams.get_mut(&key) {
                match engine.poll_step(id) {
                    Step::Write => {
                        let mut iov = [IoSlice::new(&[]); 64];
                        let n = engine.poll_output(id, &mut iov);
                        match stream.write_vectored(&iov[..n]) {
                            Ok(written) if written > 0 => engine.handle_written(id, written, now),
                            _ => {
                                close(&mut engine, &mut streams, &mut keys, id);
                                break;
                            }
                        }
                    }
                    Step::Wait => break,
                    Step::Shutdown => {
                        let _ = stream.shutdown(Shutdown::Write);
                        engine.handle_write_shutdown(id, now);
                    }
                    Step::Close => {
                        close(&mut engine, &mut streams, &mut keys, id);
                        break;
                    }
                }
            }
        }
    }
}

/// A connection's reader: every read goes to the engine's thread.
fn read_loop(key: u64, mut stream: TcpStream, tx: &Sender<Input>) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let input = match stream.read(&mut buf) {
            Ok(0) | Err(_) => Input::Eof(key),
            Ok(n) => Input::Bytes(key, buf[..n].to_vec()),
        };
        let eof = matches!(input, Input::Eof(_));
        if tx.send(input).is_err() || eof {
            return;
        }
    }
}

/// 8. Closing the socket ends its reader too (its read fails).
fn close(
    engine: &mut Engine,
    streams: &mut HashMap<u64, (usize, TcpStream)>,
    keys: &mut HashMap<usize, u64>,
    id: usize,
) {
    if let Some(key) = keys.remove(&id) {
        if let Some((_, stream)) = streams.remove(&key) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
    engine.handle_closed(id);
}
