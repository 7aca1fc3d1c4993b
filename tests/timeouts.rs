//! Deadlines on the timer wheel: the header timeout (slowloris), the body
//! timeout and the keep-alive idle timeout.

mod common;

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use common::{read_response, read_until_closed, TestServer};

#[test]
fn slowloris_is_cut_off_by_the_header_timeout_counted_from_the_first_byte() {
    let server = TestServer::start(&["--header-timeout", "0.5"]);
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let started = Instant::now();
    // One byte every 100 ms from another thread: each byte arrives well
    // within the timeout, but the head as a whole never completes.
    let dribbler = std::thread::spawn(move || {
        for &byte in
            b"GET /poll/a HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter()
        {
            if writer.write_all(&[byte]).is_err() {
                return; // the server closed
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let text = String::from_utf8(read_until_closed(&mut stream).unwrap()).unwrap();
    let elapsed = started.elapsed();
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{text}"
    );
    assert!(text.contains("Connection: close"), "{text}");
    // Cut at about 0.5 s, not reset by each byte (which would give ~4 s).
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    // The dribbler ends by itself once the server's linger is over and its
    // writes fail; it is bounded by the length of its request either way.
    drop(dribbler);
}

#[test]
fn a_body_that_never_finishes_gets_408() {
    let server = TestServer::start(&["--body-timeout", "0.3"]);
    let mut stream = server.connect();
    stream
        .write_all(b"POST /pub/a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let text = String::from_utf8(read_until_closed(&mut stream).unwrap()).unwrap();
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert_eq!(server.get("/pub/a").status, 404);
}

#[test]
fn the_idle_timeout_closes_a_silent_keep_alive_connection() {
    let server = TestServer::start(&["--idle-timeout", "0.3"]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
    let idle_since = Instant::now();
    // The server closes it without a word (no request is in flight).
    let rest = read_until_closed(&mut reader).unwrap();
    assert!(rest.is_empty());
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(250) && idle < Duration::from_secs(3),
        "{idle:?}"
    );
}

#[test]
fn requests_keep_a_keep_alive_connection_from_idling_out() {
    let server = TestServer::start(&["--idle-timeout", "0.4"]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // Six requests 200 ms apart: 1.2 s in all, never 0.4 s idle.
    for _ in 0..6 {
        writer
            .write_all(b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut reader).unwrap().status, 200);
        std::thread::sleep(Duration::from_millis(200));
    }
}
