//! The examples really work: each is built by cargo, started as a child
//! process on 127.0.0.1 with port 0, and talked to in raw bytes written
//! from RFC 6455, independent of the crate's codec.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An example's executable, next to the test's own directory
/// (`target/<profile>/examples/`); built first if `cargo test` was told
/// to build only this test.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--quiet", "--example", name]);
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo");
        assert!(status.success(), "cargo build --example {name}");
    }
    path
}

/// A child process, killed (by its pid, which we own) when dropped, even
/// when an assertion fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads exactly `n` bytes.
fn read_n(stream: &mut impl Read, n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    stream.read_exact(&mut bytes).expect("read");
    bytes
}

/// Starts an example with `127.0.0.1:0`; returns it and the address it
/// printed after `scheme`.
fn start(name: &str, scheme: &str) -> (Running, String) {
    let child = Command::new(example(name))
        .arg("127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start the {name} example: {e}"));
    let mut child = Running(child);
    let mut line = String::new();
    let stdout = child.0.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let addr = line
        .split(scheme)
        .nth(1)
        .map(|rest| rest.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, addr)
}

/// Sends `request` on a new connection to `addr`; returns everything the
/// server sent until it closed.
fn exchange(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).expect("read until closed");
    String::from_utf8(all).expect("UTF-8")
}

#[test]
fn blocking_example_serves_a_parked_long_poll_a_publish_and_a_poll() {
    let (_child, addr) = start("blocking", "http://");
    // A long-poll parks on one connection (its own reader thread) ...
    let parked = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            exchange(
                &addr,
                "GET /longpoll/x?timeout=20 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            )
        })
    };
    // ... until channel info counts it (each ask is a round trip through
    // the engine's thread), then a publish on another connection answers
    // it.
    let info = "GET /pub/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let counted = (0..10_000).any(|_| exchange(&addr, info).contains(r#""longpoll":1"#));
    assert!(counted, "the long-poll never parked");
    let published = exchange(
        &addr,
        "POST /pub/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert!(
        published.starts_with("HTTP/1.1 202 Accepted\r\n"),
        "{published}"
    );
    assert!(published.ends_with(r#"{"id":1}"#), "{published}");
    let answer = parked.join().unwrap();
    assert!(
        answer.ends_with(r#"{"last_id":1,"messages":[{"id":1,"data":"hi"}]}"#),
        "{answer}"
    );
    let poll = exchange(
        &addr,
        "GET /poll/x?since=0 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(poll.starts_with("HTTP/1.1 200 OK\r\n"), "{poll}");
    assert!(poll.ends_with(r#"{"last_id":1,"messages":[{"id":1,"data":"hi"}]}"#));
}

#[test]
fn ws_echo_example_echoes_text_answers_ping_and_echoes_close() {
    let (_child, addr) = start("ws_echo", "ws://");
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The opening handshake with RFC 6455's own example key (section 1.3).
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut stream, response.len())),
        String::from_utf8_lossy(response)
    );

    // "Hello", masked with 37 fa 21 3d (section 5.7), comes back unmasked.
    stream
        .write_all(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ])
        .unwrap();
    assert_eq!(
        read_n(&mut stream, 7),
        [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
    );

    // A Ping "hi" is answered by a Pong "hi" (section 5.5.2).
    stream
        .write_all(&[0x89, 0x82, 0x37, 0xfa, 0x21, 0x3d, b'h' ^ 0x37, b'i' ^ 0xfa])
        .unwrap();
    assert_eq!(read_n(&mut stream, 4), [0x8a, 0x02, b'h', b'i']);

    // A Close 1000 is echoed (section 5.5.1), then the server closes TCP.
    stream
        .write_all(&[0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x03 ^ 0x37, 0xe8 ^ 0xfa])
        .unwrap();
    assert_eq!(read_n(&mut stream, 4), [0x88, 0x02, 0x03, 0xe8]);
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("EOF after the Close");
    assert_eq!(rest, b"");
}
