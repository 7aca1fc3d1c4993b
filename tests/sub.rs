//! `pushwire sub` and `pushwire pub` against the server, each transport
//! through a proxy that cuts every connection after a while, so that the
//! client must reconnect with its last id and still print every message
//! exactly once.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;

/// A TCP proxy on 127.0.0.1 that forwards to `upstream` and cuts each
/// connection `lifetime` after it opened. Runs until the test ends.
fn cutting_proxy(upstream: std::net::SocketAddr, lifetime: Duration) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().take(200) {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let pipes = [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server.try_clone().unwrap(), client.try_clone().unwrap()),
            ];
            for (mut from, mut to) in pipes {
                std::thread::spawn(move || {
                    let _ = io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
            std::thread::spawn(move || {
                std::thread::sleep(lifetime);
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    addr
}

/// Runs `pushwire sub` for `count` messages while `publish` runs, and
/// returns the lines it printed and what it said on stderr.
fn subscribe_while(args: &[&str], count: usize, publish: impl FnOnce()) -> (Vec<String>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .arg("sub")
        .args(args)
        .args(["--count", &count.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    publish();
    let started = Instant::now();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while lines.len() < count {
        let left = Duration::from_secs(30).saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    (lines, stderr)
}

fn expected(server: &TestServer, count: u64) -> Vec<String> {
    (1..=count)
        .map(|i| format!("#{} message {i}\\nline two", server.id(i)))
        .collect()
}

/// Publishes `count` messages over 2.5 s, directly to the server.
fn publish_slowly(server: &TestServer, count: u64) {
    for i in 1..=count {
        assert_eq!(
            server.publish("watch", &format!("message {i}\nline two")),
            server.id(i)
        );
        std::thread::sleep(Duration::from_millis(2500 / count));
    }
}

fn reconnecting_sub_loses_nothing(transport: &str, path: &str, extra: &[&str]) {
    let server = TestServer::start(&[]);
    let proxy = cutting_proxy(server.addr, Duration::from_millis(700));
    let scheme = if transport == "ws" { "ws" } else { "http" };
    let url = format!("{scheme}://{proxy}{path}");
    let mut args = vec![transport, url.as_str(), "--since", "0"];
    args.extend_from_slice(extra);
    let (lines, stderr) = subscribe_while(&args, 12, || publish_slowly(&server, 12));
    assert_eq!(lines, expected(&server, 12), "stderr: {stderr}");
    assert!(
        stderr.contains("reconnecting"),
        "the proxy never cut the connection: {stderr}"
    );
}

#[test]
fn sub_sse_reconnects_with_last_event_id_and_loses_nothing() {
    reconnecting_sub_loses_nothing("sse", "/sse/watch", &[]);
}

#[test]
fn sub_ws_reconnects_with_since_and_loses_nothing() {
    reconnecting_sub_loses_nothing("ws", "/ws/watch", &[]);
}

#[test]
fn sub_longpoll_reconnects_and_loses_nothing() {
    reconnecting_sub_loses_nothing("longpoll", "/longpoll/watch", &["--timeout", "5"]);
}

#[test]
fn sub_poll_reconnects_and_loses_nothing() {
    reconnecting_sub_loses_nothing("poll", "/poll/watch", &["--interval", "0.1"]);
}

#[test]
fn sub_without_since_starts_with_new_messages() {
    let server = TestServer::start(&[]);
    server.publish("fresh", "old news");
    let url = server.url("/sse/fresh");
    let (lines, _) = subscribe_while(&["sse", &url], 1, || {
        server.wait_subscribers("fresh", "sse", 1);
        server.publish("fresh", "new");
    });
    assert_eq!(lines, [format!("#{} new", server.id(2))]);
}

#[test]
fn pub_prints_the_id_and_fails_on_refusal() {
    let server = TestServer::start(&["--publish-token", "t0k"]);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pushwire"))
            .arg("pub")
            .args(args)
            .output()
            .unwrap()
    };
    let url = server.url("/pub/p");
    let ok = run(&[&url, "hello", "--token", "t0k"]);
    assert!(ok.status.success());
    assert_eq!(
        String::from_utf8(ok.stdout).unwrap(),
        format!("{{\"id\":{}}}\n", server.id(1))
    );
    let refused = run(&[&url, "hello"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8(refused.stderr)
        .unwrap()
        .contains("HTTP 401"));
    assert_eq!(run(&[&url]).status.code(), Some(2));
    // A token that would end the header line early, or none at all.
    assert_eq!(run(&[&url, "hello", "--token"]).status.code(), Some(2));
    let injected = run(&[&url, "hello", "--token", "t0k\r\nX-Evil: 1"]);
    assert_eq!(injected.status.code(), Some(2));
}

/// A stand-in server on 127.0.0.1 that records request heads: it drops
/// its first connection as soon as the head has come (so the client must
/// reconnect), and answers the second with `answer(head)`, then waits for
/// the client to go. Returns its address and the heads as they come.
fn recording_server(
    answer: fn(&str) -> Vec<u8>,
) -> (std::net::SocketAddr, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (i, client) in listener.incoming().take(2).enumerate() {
            let Ok(client) = client else { return };
            client.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
            let mut reader = BufReader::new(client);
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") {
                if reader.read_line(&mut head).unwrap_or(0) == 0 {
                    break;
                }
            }
            let _ = tx.send(head.clone());
            let mut client = reader.into_inner();
            if i == 1 {
                let _ = client.write_all(&answer(&head));
                let _ = io::copy(&mut client, &mut io::sink());
            }
        }
    });
    (addr, rx)
}

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2lnbmF0dXJl";

/// A `200` with a poll answer holding message 1, `x`.
fn poll_answer(_: &str) -> Vec<u8> {
    let body = r#"{"last_id":1,"messages":[{"id":1,"data":"x"}]}"#;
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An event stream holding message 1, `x`.
fn sse_answer(_: &str) -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: 1\ndata: x\n\n".to_vec()
}

/// The `101` for the handshake in `head`, with `pushwire.json`, then
/// message 1, `x`, in an unmasked text frame (RFC 6455 section 5.2).
fn ws_answer(head: &str) -> Vec<u8> {
    let key = head
        .lines()
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a Sec-WebSocket-Key");
    let accept = pushwire::ws::accept_key(key.as_bytes());
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: pushwire.json\r\n\r\n",
        std::str::from_utf8(&accept).unwrap()
    )
    .into_bytes();
    let message = br#"{"id":1,"data":"x"}"#;
    out.extend_from_slice(&[0x81, message.len() as u8]);
    out.extend_from_slice(message);
    out
}

/// `pushwire sub TRANSPORT ... --token TOKEN` against the stand-in: both
/// the first request and the one after the reconnection carry the token.
fn sub_sends_the_token_on_every_request(transport: &str, path: &str, answer: fn(&str) -> Vec<u8>) {
    let (addr, heads) = recording_server(answer);
    let scheme = if transport == "ws" { "ws" } else { "http" };
    let url = format!("{scheme}://{addr}{path}");
    let args = [transport, &url, "--since", "0", "--token", TOKEN];
    let (lines, stderr) = subscribe_while(&args, 1, || {});
    assert_eq!(lines, ["#1 x"], "stderr: {stderr}");
    let heads: Vec<String> = heads.try_iter().collect();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in &heads {
        assert!(
            head.contains(&format!("\r\nAuthorization: Bearer {TOKEN}\r\n")),
            "{head}"
        );
    }
}

#[test]
fn sub_poll_sends_the_token_on_every_request() {
    sub_sends_the_token_on_every_request("poll", "/poll/secret", poll_answer);
}

#[test]
fn sub_longpoll_sends_the_token_on_every_request() {
    sub_sends_the_token_on_every_request("longpoll", "/longpoll/secret", poll_answer);
}

#[test]
fn sub_sse_sends_the_token_on_every_request() {
    sub_sends_the_token_on_every_request("sse", "/sse/secret", sse_answer);
}

#[test]
fn sub_ws_sends_the_token_in_the_handshake_every_time() {
    sub_sends_the_token_on_every_request("ws", "/ws/secret", ws_answer);
}
