//! The reactor wakes for the timer wheel's deadlines with no traffic on
//! the socket. Every deadline's tick (header, body, idle, linger, long-poll,
//! heartbeat, max-age, ping) is asserted at the engine's layer, in virtual
//! time (tests/engine/deadlines.rs); these only check, over real TCP, that
//! the loop's poll timeout lets them fire.

mod common;

use std::io::{BufReader, Write};

use common::{read_response, read_until_closed, TestServer};

#[test]
fn a_head_that_never_ends_gets_408_with_no_more_traffic() {
    let server = TestServer::start(&["--header-timeout", "0.2"]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /poll/a HTTP/1.1\r\nHost: a\r\n")
        .unwrap();
    let text = String::from_utf8(read_until_closed(&mut stream).unwrap()).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{text}"
    );
    assert!(text.contains("Connection: close"), "{text}");
}

#[test]
fn a_silent_keep_alive_connection_is_closed_without_a_word() {
    let server = TestServer::start(&["--idle-timeout", "0.2"]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
    assert!(read_until_closed(&mut reader).unwrap().is_empty());
}
