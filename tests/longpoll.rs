//! Long-polling over real TCP: parking, answering by publish and by
//! deadline, fan-out to many parked requests, disconnects, keep-alive.

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{read_response, Response, TestServer};

fn send(stream: &mut TcpStream, path: &str) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
}

#[test]
fn a_parked_long_poll_is_answered_by_a_publish() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    send(&mut stream, "/longpoll/lp?timeout=20");
    server.wait_subscribers("lp", "longpoll", 1);
    let id = server.publish("lp", "news");
    assert_eq!(id, server.id(1));
    let response = read_response(&mut BufReader::new(stream)).unwrap();
    assert_eq!(
        response.json(),
        serde_json::json!({"last_id":id,"messages":[{"id":id,"data":"news"}]})
    );
    assert_eq!(server.subscribers("lp", "longpoll"), 0);
}

#[test]
fn something_newer_than_since_is_answered_at_once() {
    let server = TestServer::start(&[]);
    let a = server.publish("now", "a");
    let b = server.publish("now", "b");
    let started = Instant::now();
    let batch = server
        .get(&format!("/longpoll/now?since={a}&timeout=20"))
        .json();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(batch["messages"][0]["id"], b);
    // Without `since`, only what comes from now on: this one parks.
    let mut stream = server.connect();
    send(&mut stream, "/longpoll/now?timeout=20");
    server.wait_subscribers("now", "longpoll", 1);
    server.publish("now", "c");
    let batch = read_response(&mut BufReader::new(stream)).unwrap().json();
    assert_eq!(batch["messages"].as_array().unwrap().len(), 1);
    assert_eq!(batch["messages"][0]["data"], "c");
}

#[test]
fn ten_thousand_parked_long_polls_are_answered_by_one_publish() {
    // Each connection costs this process one descriptor; raise our own
    // soft limit to the hard one and use fewer if even that is too low.
    let limit = pushwire::server::sys::raise_fd_limit().unwrap_or(1024);
    let n = 10_000usize.min(limit.saturating_sub(100) as usize);
    if n < 10_000 {
        eprintln!("open-file limit {limit}: using {n} long-polls instead of 10000");
    }
    let server = TestServer::start(&["--max-connections", "12000"]);
    let mut streams: Vec<TcpStream> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = server.connect();
        send(&mut stream, "/longpoll/many?timeout=60");
        streams.push(stream);
    }
    server.wait_subscribers("many", "longpoll", n as u64);
    let id = server.publish("many", "to all");
    assert_eq!(id, server.id(1));
    let mut first: Option<Vec<u8>> = None;
    for stream in streams {
        let response: Response = read_response(&mut BufReader::new(stream)).unwrap();
        assert_eq!(response.status, 200);
        match &first {
            None => {
                assert_eq!(response.json()["messages"][0]["id"], id);
                first = Some(response.body);
            }
            Some(body) => assert_eq!(&response.body, body),
        }
    }
    server.wait_subscribers("many", "longpoll", 0);
}

/// The deadline itself, and the clamp to `--longpoll-max`, are asserted to
/// the tick at the engine's layer (tests/engine/deadlines.rs); here, over
/// TCP, the flag reaches the engine and the reactor wakes for it.
#[test]
fn timeout_is_clamped_to_longpoll_max_and_validated() {
    let server = TestServer::start(&["--longpoll-max", "0.3"]);
    assert_eq!(
        server.get("/longpoll/c?timeout=60").json()["messages"],
        serde_json::json!([])
    );
    for bad in [
        "timeout=-1",
        "timeout=abc",
        "timeout=1e3",
        "since=-3",
        "since=x",
    ] {
        let response = server.get(&format!("/longpoll/c?{bad}"));
        assert_eq!(response.status, 400, "{bad}");
    }
}

#[test]
fn a_client_that_disconnects_while_parked_is_removed_at_once() {
    let server = TestServer::start(&[]);
    let mut streams: Vec<TcpStream> = (0..3).map(|_| server.connect()).collect();
    for s in &mut streams {
        send(s, "/longpoll/gone?timeout=60");
    }
    server.wait_subscribers("gone", "longpoll", 3);
    streams.truncate(1);
    server.wait_subscribers("gone", "longpoll", 1);
    drop(streams);
    // The last one gone and no message ever published: the channel too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.get("/pub/gone").status != 404 {
        assert!(Instant::now() < deadline, "channel never forgotten");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn keep_alive_carries_the_next_long_poll_and_pipelined_requests_wait() {
    let server = TestServer::start(&[]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // A long-poll with a poll pipelined behind it: the poll is answered
    // only after the long-poll, in order.
    writer
        .write_all(b"GET /longpoll/k?timeout=20 HTTP/1.1\r\nHost: t\r\n\r\nGET /poll/k HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    server.wait_subscribers("k", "longpoll", 1);
    let one = server.publish("k", "one");
    let first = read_response(&mut reader).unwrap().json();
    assert_eq!(first["messages"][0]["data"], "one");
    let second = read_response(&mut reader).unwrap().json();
    assert_eq!(second["last_id"], one);
    // The client's next long-poll on the same connection.
    writer
        .write_all(
            format!("GET /longpoll/k?since={one}&timeout=20 HTTP/1.1\r\nHost: t\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    server.wait_subscribers("k", "longpoll", 1);
    let two = server.publish("k", "two");
    assert_eq!(two, one + 1);
    assert_eq!(
        read_response(&mut reader).unwrap().json()["messages"][0]["id"],
        two
    );
}
