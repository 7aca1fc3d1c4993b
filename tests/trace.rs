//! `--trace`: the wire tracer's annotated lines on stderr, for a WebSocket
//! echo and an SSE stream, and the tokens it must not print.

mod common;

use std::io::{BufReader, Write};

use common::events::read_chunk;
use common::wsclient::WsClient;
use common::{read_response, TestServer};

#[test]
fn trace_shows_websocket_frames_and_sse_events() {
    let server = TestServer::start(&["--trace", "--sse-max-age", "0.3"]);
    // A WebSocket echo and a clean close.
    let mut client = WsClient::connect(&server, "/echo", "");
    client.send_text("Hello");
    assert_eq!(client.read().unwrap().text(), "Hello");
    client.send(true, 8, &1000u16.to_be_bytes());
    assert_eq!(client.read().unwrap().close_code(), Some(1000));
    // An SSE stream with one event, ended by --sse-max-age.
    let id = server.publish("traced", "line one\nline two");
    assert_eq!(id, server.id(1));
    let event_line = format!("-> sse id={id} data: 2 lines");
    let mut stream = server.connect();
    stream
        .write_all(b"GET /sse/traced?since=0 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
    while read_chunk(&mut reader).unwrap().is_some() {}
    std::thread::sleep(std::time::Duration::from_millis(200));
    let trace = server.stop_and_stderr();
    assert_contains_all(
        &trace,
        &[
            "<- GET /echo HTTP/1.1",
            "<-   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "-> HTTP/1.1 101 Switching Protocols",
            "->   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "<- ws FIN=1 opcode=0x1 text MASK=1 key=37fa213d len=5 \"Hello\"",
            "-> ws FIN=1 opcode=0x1 text MASK=0 len=5 \"Hello\"",
            "<- ws FIN=1 opcode=0x8 close MASK=1 key=37fa213d len=2 code=1000",
            "-> ws FIN=1 opcode=0x8 close MASK=0 len=2 code=1000",
            "<- GET /sse/traced?since=0 HTTP/1.1",
            "->   Content-Type: text/event-stream",
            "-> sse retry: 2000 ms",
            &event_line,
            "-> end of chunked body",
        ],
    );
    // Every line names its connection.
    assert!(
        trace
            .lines()
            .filter(|l| !l.starts_with("pushwire:"))
            .all(|l| l.starts_with("[#")),
        "{trace}"
    );
}

#[test]
fn trace_never_prints_a_token() {
    let server = TestServer::start(&["--trace", "--sse-max-age", "0.3"]);
    // A token in the query, the Authorization field and a cookie; the
    // answer does not matter (200 and a stream, or a refusal).
    let mut stream = server.connect();
    stream
        .write_all(
            b"GET /sse/room.1?since=4&token=SECRETVALUE123 HTTP/1.1\r\nHost: t\r\n\
              Authorization: Bearer SECRETVALUE456\r\n\
              Cookie: a=1; pushwire_token=SECRETVALUE789\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    if read_response(&mut reader).unwrap().status == 200 {
        while read_chunk(&mut reader).unwrap().is_some() {}
    }
    // A token offered as a WebSocket subprotocol, whatever the answer.
    let client = WsClient::try_connect(
        &server,
        "/ws/room.1",
        "Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.SECRETVALUE000\r\n",
    );
    drop(client);
    // A head the server refuses (a control byte in the target) is shown up
    // to the bad byte, the token before it redacted.
    let refused = server.exchange(b"GET /poll/a?token=SECRETVALUE321\x01 HTTP/1.1\r\n\r\n");
    assert_eq!(refused.status, 400);
    // A barrier instead of a sleep: the loop is one thread, so once this
    // answer is back every earlier connection's lines have been printed.
    assert_eq!(server.get("/help").status, 200);
    let trace = server.stop_and_stderr();
    assert_contains_all(
        &trace,
        &[
            "<- GET /sse/room.1?since=4&token=[redacted] HTTP/1.1",
            "<-   Authorization: Bearer [redacted]",
            "<-   Cookie: a=[redacted]; pushwire_token=[redacted]",
            "<-   Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.[redacted]",
            "<- not parseable as HTTP (invalid method or target) at byte 33: \
         \"GET /poll/a?token=[redacted]\"",
        ],
    );
    assert!(!trace.contains("SECRETVALUE"), "a token leaked:\n{trace}");
}

fn assert_contains_all(trace: &str, needles: &[&str]) {
    for needle in needles {
        assert!(trace.contains(needle), "missing {needle:?} in:\n{trace}");
    }
}

#[test]
fn without_trace_nothing_is_printed() {
    let server = TestServer::start(&[]);
    server.publish("quiet", "x");
    let mut client = WsClient::connect(&server, "/echo", "");
    client.send_text("quiet");
    client.read().unwrap();
    let stderr = server.stop_and_stderr();
    assert!(!stderr.contains("[#"), "{stderr}");
}
