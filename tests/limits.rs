//! Every refusal over real TCP: the status, a short reason, and the
//! connection closed where the request cannot be trusted.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{read_response, read_until_closed, TestServer};

/// Sends `raw`, reads everything until the server closes, and returns the
/// status line's code and the text. Fails if the server keeps the
/// connection open.
fn refused(server: &TestServer, raw: &[u8]) -> (u16, String) {
    let mut stream = server.connect();
    stream.write_all(raw).unwrap();
    let all = read_until_closed(&mut stream).expect("the server closes the connection");
    let text = String::from_utf8_lossy(&all).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn malformed_and_unframeable_requests_are_refused_and_closed() {
    let server = TestServer::start(&["--max-body-bytes", "100"]);
    let cases: &[(&[u8], u16, &str)] = &[
        (b"GARBAGE\r\n\r\n", 400, "malformed"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "without Host"),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
            "more than one Host",
        ),
        (
            b"POST /pub/a HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
            400,
            "not a number",
        ),
        (
            b"POST /pub/a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
            "differ",
        ),
        (
            b"POST /pub/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            "chunked",
        ),
        (
            b"POST /pub/a HTTP/1.1\r\nHost: a\r\n\r\n",
            411,
            "Content-Length",
        ),
        (
            b"POST /pub/a HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n",
            413,
            "too large",
        ),
        (
            b"POST /pub/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",
            413,
            "large",
        ),
        (
            b"POST /pub/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "chunk",
        ),
    ];
    for (raw, status, reason) in cases {
        let (got, text) = refused(&server, raw);
        assert_eq!(got, *status, "{}: {text}", String::from_utf8_lossy(raw));
        assert!(text.contains("Connection: close\r\n"), "{text}");
        assert!(text.contains(reason), "{text}");
    }
    // Nothing was published by any of them.
    assert_eq!(server.get("/pub/a").status, 404);
}

#[test]
fn long_targets_get_414_and_large_heads_get_431() {
    let server = TestServer::start(&["--max-header-bytes", "1024", "--max-uri-bytes", "256"]);
    let target = format!("/poll/{}", "a".repeat(300));
    let (status, _) = refused(
        &server,
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 414);
    let head = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(1100)
    );
    assert_eq!(refused(&server, head.as_bytes()).0, 431);
    // Just under both limits is fine.
    let ok = format!(
        "GET /poll/{} HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "a".repeat(100),
        "b".repeat(500)
    );
    assert_eq!(server.exchange(ok.as_bytes()).status, 200);
}

#[test]
fn the_default_limits_are_the_documented_ones() {
    let server = TestServer::start(&[]);
    let head = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "b".repeat(8192)
    );
    assert_eq!(refused(&server, head.as_bytes()).0, 431);
    let target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(4097));
    assert_eq!(refused(&server, target.as_bytes()).0, 414);
    let body = format!(
        "POST /pub/a HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024 + 1
    );
    assert_eq!(refused(&server, body.as_bytes()).0, 413);
    let fits = "x".repeat(1024 * 1024);
    assert_eq!(server.post("/pub/a", &fits).status, 202);
}

#[test]
fn wrong_paths_and_methods_keep_the_connection() {
    let server = TestServer::start(&[]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().status, 404);
    writer
        .write_all(b"DELETE /pub/a HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let response = read_response(&mut reader).unwrap();
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    writer
        .write_all(b"POST /poll/a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nxx")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().status, 405);
    writer
        .write_all(b"GET /poll/bad%20name HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().status, 400);
    writer
        .write_all(b"GET /poll/a?since=-1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().status, 400);
    writer
        .write_all(b"POST /pub/a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n\xff\xfe")
        .unwrap();
    let response = read_response(&mut reader).unwrap();
    assert_eq!(
        (response.status, response.text()),
        (400, "message data must be UTF-8 text\n".into())
    );
    // Still the same connection, still serving.
    writer
        .write_all(b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
}

#[test]
fn the_connection_limit_answers_503_and_frees_up_again() {
    let server = TestServer::start(&["--max-connections", "3"]);
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = server.connect();
            // A completed request proves the server counted the connection.
            s.write_all(b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            assert_eq!(read_response(&mut reader).unwrap().status, 200);
            s
        })
        .collect();
    let (status, text) = refused(&server, b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(status, 503, "{text}");
    drop(held);
    // Once they are gone, new connections are served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = server.connect();
        s.write_all(b"GET /poll/a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        if all.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_low_open_file_limit_lowers_the_connection_limit_at_start() {
    // `ulimit -n 100` in the shell sets soft and hard limits, so the
    // server cannot raise its own: it must say so and lower the limit.
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        r#"ulimit -n 100 && exec "$0" "$@""#,
        env!("CARGO_BIN_EXE_pushwire"),
    ]);
    let server = TestServer::start_with(shell, &["--max-connections", "5000"]);
    // 100 descriptors, less 64 for 503 answers and 16 for the server
    // itself: 20 connections.
    let held: Vec<TcpStream> = (0..19).map(|_| server.connect()).collect();
    let mut last = server.connect();
    last.write_all(b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut BufReader::new(last.try_clone().unwrap()))
            .unwrap()
            .status,
        200
    );
    let (status, _) = refused(&server, b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(status, 503);
    drop((held, last));
    let stderr = server.stop_and_stderr();
    assert!(
        stderr.contains("holds only 20 connections; --max-connections lowered from 5000"),
        "{stderr}"
    );
}

#[test]
fn the_channel_limit_refuses_new_channels_with_503() {
    let server = TestServer::start(&["--max-channels", "2"]);
    assert_eq!(server.publish("one", "x"), server.id(1));
    assert_eq!(server.publish("two", "x"), server.id(1));
    let refused = server.post("/pub/three", "x");
    assert_eq!(
        (refused.status, refused.text()),
        (503, "too many channels (see --max-channels)\n".into())
    );
    for path in ["/longpoll/three?timeout=5", "/sse/three"] {
        assert_eq!(server.get(path).status, 503, "{path}");
    }
    let ws = server.exchange(common::wsclient::upgrade_request("/ws/three", "").as_bytes());
    assert_eq!(ws.status, 503);
    // Polling a channel never creates it; existing channels carry on.
    assert_eq!(server.get("/poll/three").status, 200);
    assert_eq!(server.publish("one", "y"), server.id(2));
}

#[test]
fn the_history_byte_bound_evicts_the_oldest_message_anywhere() {
    // Each 1000-byte message costs a little over 5 KB (Message::cost);
    // 12 KB holds two.
    let server = TestServer::start(&["--max-history-bytes", "12000"]);
    let data = "z".repeat(1000);
    server.publish("a", &data);
    server.publish("b", &data);
    server.publish("a", &data);
    let first = server.poll("a", Some(0));
    assert_eq!(first["gap"], true, "{first}");
    assert_eq!(first["messages"].as_array().unwrap().len(), 1);
    assert_eq!(first["messages"][0]["id"], server.id(2));
    assert_eq!(
        server.poll("b", Some(0))["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_history_ttl_expires_messages_and_a_resume_from_before_them_is_told_gap() {
    let server = TestServer::start(&["--history-ttl", "0.3"]);
    // Asked first: the floor rises when a channel is forgotten.
    let floor = server.floor();
    let published = Instant::now();
    assert_eq!(server.publish("t", "short-lived"), server.id(1));
    let deadline = published + Duration::from_secs(10);
    let answer = loop {
        let answer = server.poll("t", Some(floor));
        if answer["gap"] == true {
            break answer;
        }
        assert_eq!(answer["messages"][0]["data"], "short-lived", "{answer}");
        assert!(Instant::now() < deadline, "never expired: {answer}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        published.elapsed() >= Duration::from_millis(300),
        "expired early"
    );
    assert_eq!(answer["messages"].as_array().map(Vec::len), Some(0));
    assert_eq!(answer["last_id"], server.id(1));
    // Nobody waits on it: the channel is forgotten. From its last id
    // nothing was missed; from 0 it is a channel that starts now.
    assert_eq!(server.get("/pub/t").status, 404);
    let caught_up = server.poll("t", Some(server.id(1)));
    assert!(caught_up.get("gap").is_none(), "{caught_up}");
    assert_eq!(caught_up["last_id"], server.id(1));
    assert!(server.poll("t", Some(0)).get("gap").is_none());
    assert_eq!(server.publish("t", "next"), server.id(2));
}

#[test]
fn input_held_behind_a_parked_long_poll_or_a_stream_is_bounded() {
    // While a long-poll is parked or a stream is open, the server keeps
    // reading (to notice a close) but processes nothing: what a client
    // pipelines meanwhile is held, up to twice --max-header-bytes, however
    // many reads it arrives in. Past that the connection is closed.
    let server = TestServer::start(&["--max-header-bytes", "1024"]);
    for (path, kind) in [
        ("/longpoll/held?timeout=30", "longpoll"),
        ("/sse/held", "sse"),
    ] {
        let mut stream = server.connect();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        server.wait_subscribers("held", kind, 1);
        // 10 pieces of 296 bytes, 20 ms apart so that each is its own read:
        // 2,960 bytes, over the 2,048 held at most.
        let piece = b"GET /poll/held HTTP/1.1\r\nHost: t\r\n\r\n".repeat(8);
        for _ in 0..10 {
            if stream.write_all(&piece).is_err() {
                break; // already closed and reset
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let started = Instant::now();
        read_until_closed(&mut stream)
            .unwrap_or_else(|e| panic!("{kind}: the connection stayed open: {e}"));
        assert!(started.elapsed() < Duration::from_secs(5), "{kind}");
        server.wait_subscribers("held", kind, 0);
    }
}

#[test]
fn out_of_descriptors_the_server_backs_off_and_keeps_serving() {
    // A launcher that leaves 50 of the server's 100 descriptors taken (it
    // inherits them), so its connection budget (100 - 64 - 16 = 20) plus
    // the sockets of 503 answers outruns what is really free: accept fails
    // with EMFILE. The server must neither spin nor give up: it pauses
    // accepting for 100 ms at a time, keeps serving its connections, and
    // accepts the waiting ones once descriptors are free again.
    let mut launcher = Command::new("python3");
    launcher.args([
        "-c",
        "import os, resource, sys\n\
         resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))\n\
         for _ in range(50):\n    os.set_inheritable(os.open('/dev/null', os.O_RDONLY), True)\n\
         os.execv(sys.argv[1], sys.argv[1:])",
        env!("CARGO_BIN_EXE_pushwire"),
    ]);
    let server =
        TestServer::start_with(launcher, &["--max-connections", "5000", "--linger", "0.2"]);
    let poll = b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut held: Vec<TcpStream> = (0..20).map(|_| server.connect()).collect();
    for stream in &mut held {
        stream.write_all(poll).unwrap();
        let response = read_response(&mut BufReader::new(stream.try_clone().unwrap())).unwrap();
        assert_eq!(response.status, 200);
    }
    // 40 more at once: about 25 descriptors are left, so some accepts
    // fail. Every one of the 40 still gets its 503 in the end, as the
    // answered ones close and free their descriptors.
    let started = Instant::now();
    let crowd: Vec<TcpStream> = (0..40).map(|_| server.connect()).collect();
    // Meanwhile the open connections are served.
    held[0].write_all(poll).unwrap();
    let response = read_response(&mut BufReader::new(held[0].try_clone().unwrap())).unwrap();
    assert_eq!(response.status, 200);
    for (i, mut stream) in crowd.into_iter().enumerate() {
        let all = read_until_closed(&mut stream)
            .unwrap_or_else(|e| panic!("connection {i} of the crowd never answered: {e}"));
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.starts_with("HTTP/1.1 503 "),
            "connection {i}: {text:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // Descriptors free again: a new connection is served normally.
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let mut fresh = server.connect();
    fresh.write_all(poll).unwrap();
    let response = read_response(&mut BufReader::new(fresh)).unwrap();
    assert_eq!(response.status, 200);
    // The pause was real, and said when it began and when it ended (once
    // per pause, not once per failed accept).
    let stderr = server.stop_and_stderr();
    assert!(
        stderr.contains("pushwire: accept: Too many open files"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pushwire: accepting connections again"),
        "{stderr}"
    );
    assert!(!stderr.contains("accept failed"), "{stderr}");
}
