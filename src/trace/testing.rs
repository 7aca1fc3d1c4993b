//! What the tracer's tests share: feeding a script of both directions in
//! any split, and the conversations they trace.

use super::{Direction, Tracer};
use crate::http::response::{write_chunk, LAST_CHUNK};
use crate::ws::{close, close::write_close, write_frame, Opcode};

/// One piece of a conversation: which direction, which bytes.
pub(super) type Script = Vec<(Direction, Vec<u8>)>;

pub(super) const CONN: usize = 3;

/// Feeds a script, each piece cut where `cut` says, and returns the lines.
pub(super) fn run(script: &Script, cut: &mut dyn FnMut(&[u8]) -> Vec<usize>) -> Vec<String> {
    let mut tracer = Tracer::new();
    tracer.opened(CONN);
    for (dir, bytes) in script {
        let mut cuts = cut(bytes);
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        for pair in cuts.windows(2) {
            tracer.observe(CONN, *dir, &bytes[pair[0]..pair[1]]);
        }
    }
    tracer.closed(CONN);
    let mut lines = Vec::new();
    tracer.take_lines(&mut lines);
    lines
}

pub(super) fn whole(script: &Script) -> Vec<String> {
    run(script, &mut |_| Vec::new())
}

pub(super) fn bytewise(script: &Script) -> Vec<String> {
    run(script, &mut |bytes| (1..bytes.len()).collect())
}

/// Checks the exact lines (without the `[#3] ` prefix and the opened /
/// closed lines), whole and byte by byte.
pub(super) fn assert_trace(script: &Script, expected: &[&str]) {
    let lines = whole(script);
    let prefix = format!("[#{CONN}] ");
    let inner: Vec<&str> = lines
        .iter()
        .skip(1)
        .take(lines.len().saturating_sub(2))
        .map(|line| line.strip_prefix(&prefix).unwrap_or(line))
        .collect();
    assert_eq!(inner, expected);
    assert_eq!(
        lines.first().map(String::as_str),
        Some("[#3] connection opened")
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("[#3] connection closed")
    );
    assert_eq!(bytewise(script), lines, "byte by byte differs from whole");
}

pub(super) fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub(super) fn poll_exchange() -> Script {
    vec![
        (
            Direction::In,
            b"GET /poll/news?since=17 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".to_vec(),
        ),
        (
            Direction::Out,
            response(
                "200 OK",
                "application/json",
                r#"{"last_id":19,"messages":[{"id":18,"data":"hello"},{"id":19,"data":"x"}]}"#,
            ),
        ),
    ]
}

pub(super) fn pipelined() -> Script {
    vec![
        (
            Direction::In,
            b"GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n\
              POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\nline\r\n1\
              HEAD /poll/a HTTP/1.1\r\nHost: h\r\n\r\n"
                .to_vec(),
        ),
        (
            Direction::Out,
            [
                response(
                    "200 OK",
                    "application/json",
                    r#"{"last_id":0,"messages":[]}"#,
                ),
                response("202 Accepted", "application/json", r#"{"id":1}"#),
                // The answer to HEAD announces a length but has no body.
                b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n".to_vec(),
                response("404 Not Found", "text/plain", "no such channel\n"),
            ]
            .concat(),
        ),
    ]
}

pub(super) fn chunked_publish() -> Script {
    let mut body = Vec::new();
    write_chunk(&mut body, b"hello");
    write_chunk(&mut body, b" world");
    body.extend_from_slice(LAST_CHUNK);
    vec![
        (
            Direction::In,
            [
                &b"POST /pub/news HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\
                   Transfer-Encoding: chunked\r\n\r\n"[..],
                &body,
            ]
            .concat(),
        ),
        (
            Direction::Out,
            [
                &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
                &response("202 Accepted", "application/json", r#"{"id":1}"#),
            ]
            .concat(),
        ),
    ]
}

pub(super) fn sse_stream() -> Script {
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                    Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    let mut events = Vec::new();
    crate::sse::write_retry(&mut events, 2000);
    write_chunk(&mut out, &std::mem::take(&mut events));
    crate::sse::write_event(&mut events, 7, None, "hello");
    write_chunk(&mut out, &std::mem::take(&mut events));
    crate::sse::write_comment(&mut events, "keep-alive");
    write_chunk(&mut out, &std::mem::take(&mut events));
    crate::sse::write_event(&mut events, 8, None, "two\nlines");
    // Two events in one chunk, and an event cut across chunks.
    crate::sse::write_gap(&mut events, 8, 11);
    crate::sse::write_event(&mut events, 11, Some("news"), "tab\there");
    let (first, second) = events.split_at(events.len() - 9);
    write_chunk(&mut out, first);
    write_chunk(&mut out, second);
    out.extend_from_slice(LAST_CHUNK);
    vec![
        (
            Direction::In,
            b"GET /sse/news HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n".to_vec(),
        ),
        (Direction::Out, out),
    ]
}

pub(super) const HANDSHAKE: &[u8] = b"GET /ws/demo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

pub(super) const SWITCHING: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

pub(super) fn websocket() -> Script {
    let mut client = Vec::new();
    // RFC 6455 section 5.7: "Hello", masked with 37 fa 21 3d.
    client.extend_from_slice(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    write_frame(&mut client, Opcode::Pong, b"", Some([1, 2, 3, 4]));
    let mut server = Vec::new();
    write_frame(&mut server, Opcode::Text, b"Hello", None);
    write_frame(&mut server, Opcode::Ping, b"", None);
    // A fragmented binary message, then a fragmented text one.
    crate::ws::write_fragment(&mut server, false, Opcode::Binary, &[0, 1, 2], None);
    crate::ws::write_fragment(&mut server, true, Opcode::Continuation, &[0xff; 20], None);
    crate::ws::write_fragment(&mut server, false, Opcode::Text, b"caf\xc3", None);
    crate::ws::write_fragment(
        &mut server,
        true,
        Opcode::Continuation,
        b"\xa9 \xe2\x9c\x93",
        None,
    );
    let long = "x".repeat(300);
    write_frame(&mut server, Opcode::Text, long.as_bytes(), None);
    let mut client_close = Vec::new();
    write_close(
        &mut client_close,
        close::NORMAL,
        "",
        Some([0x0a, 0x0b, 0x0c, 0x0d]),
    );
    let mut server_close = Vec::new();
    write_close(&mut server_close, close::GOING_AWAY, "bye!", None);
    vec![
        (Direction::In, HANDSHAKE.to_vec()),
        (Direction::Out, SWITCHING.to_vec()),
        (Direction::In, client),
        (Direction::Out, server),
        (Direction::In, client_close),
        (Direction::Out, server_close),
    ]
}

/// Tokens in each place they travel (every secret starts with `Zq`): a
/// request refused `401`, then a WebSocket upgrade that offers one as a
/// subprotocol.
pub(super) fn secrets() -> Script {
    vec![
        (
            Direction::In,
            b"GET /sse/room.1?since=4&token=Zq1 HTTP/1.1\r\nHost: h\r\n\
              Authorization: Bearer Zq2\r\nCookie: a=1; pushwire_token=Zq3\r\n\
              Referer: http://h/?token=Zq4\r\n\r\n\
              GET /ws/room.1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.Zq5\r\n\r\n"
                .to_vec(),
        ),
        (
            Direction::Out,
            [
                &response("401 Unauthorized", "text/plain", "invalid token\n")[..],
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                  Sec-WebSocket-Protocol: pushwire.json\r\n\r\n",
            ]
            .concat(),
        ),
    ]
}
