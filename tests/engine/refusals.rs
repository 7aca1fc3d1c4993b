//! Every refusal a request can trigger (`engine::Refusal`, with the
//! `HttpError`, `ChunkedError` and `HandshakeError` inside it): the status,
//! the one-line reason, the fields the status needs, and whether the
//! connection goes on (the request's framing is known) or closes (it is
//! in doubt). Then the limits to the byte, the connection and channel
//! limits, and request smuggling.

use std::collections::VecDeque;
use std::time::Duration;

use pushwire::engine::{Append, Commit, PublishError, Store, REJECT_SLACK};
use pushwire::Config;

use crate::harness::{each_store, get_request, publish_request, Harness, DATE};
use crate::http::json_answer;
use crate::websocket::upgrade;

/// One request and what it must get.
struct Case {
    what: &'static str,
    request: Vec<u8>,
    /// Status code and reason phrase.
    status: &'static str,
    /// The body, without its final LF.
    reason: &'static str,
    /// Header fields the status needs, each ending in CRLF.
    fields: &'static str,
    /// The connection closes after the refusal.
    closes: bool,
}

fn case(
    what: &'static str,
    request: impl Into<Vec<u8>>,
    status: &'static str,
    reason: &'static str,
    closes: bool,
) -> Case {
    Case {
        what,
        request: request.into(),
        status,
        reason,
        fields: "",
        closes,
    }
}

impl Case {
    fn with_fields(self, fields: &'static str) -> Case {
        Case { fields, ..self }
    }
}

const CLOSES: bool = true;
const STAYS: bool = false;

/// The whole refusal as the client reads it, dated `date`.
fn refusal_bytes(case: &Case, date: &str) -> String {
    format!(
        "HTTP/1.1 {}\r\nDate: {date}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n{}{}\r\n{}\n",
        case.status,
        case.reason.len() + 1,
        case.fields,
        if case.closes {
            "Connection: close\r\n"
        } else {
            ""
        },
        case.reason
    )
}

/// Sends each case on a connection of its own, checks the refusal byte
/// for byte, then that the connection serves the next request or is shut
/// and serves nothing more.
fn run(h: &mut Harness, cases: Vec<Case>) {
    let next = b"GET /poll/next HTTP/1.1\r\nHost: h\r\n\r\n";
    for case in cases {
        let c = h.connect();
        h.send(c, &case.request);
        assert_eq!(h.take_text(c), refusal_bytes(&case, DATE), "{}", case.what);
        h.send(c, next);
        let after = h.take_text(c);
        if case.closes {
            assert!(h.clients[c].shut_down, "{}: not shut", case.what);
            assert_eq!(after, "", "{}: served after the refusal", case.what);
            h.send_eof(c);
            assert!(h.clients[c].closed, "{}", case.what);
        } else {
            assert!(!h.clients[c].shut_down, "{}: shut", case.what);
            assert_eq!(
                after,
                json_answer(r#"{"last_id":0,"messages":[]}"#),
                "{}: the next request",
                case.what
            );
        }
    }
}

fn post(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!("POST /pub/a HTTP/1.1\r\nHost: h\r\n{headers}\r\n").into_bytes();
    request.extend_from_slice(body);
    request
}

fn chunked(body: &[u8]) -> Vec<u8> {
    post("Transfer-Encoding: chunked\r\n", body)
}

fn limits() -> Config {
    Config {
        max_body_bytes: 100,
        max_header_bytes: 1024,
        max_uri_bytes: 256,
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

#[test]
fn every_refusal_a_request_can_trigger_gets_its_status_reason_and_connection_fate() {
    let mut h = Harness::new(limits());
    let bad_channel = "channel names are 1-128 bytes of [A-Za-z0-9._~-]";
    let bad_since = "since must be a message id (digits)";
    let bad_timeout = "timeout must be seconds, like 30 or 0.5";
    let long_name = "n".repeat(129);
    let many_fields = "X: y\r\n".repeat(64);
    let ws = upgrade("/echo", "");
    let cases = vec![
        // Request(HttpError): the head broke a rule; its framing is in
        // doubt, so the connection closes.
        case(
            "not HTTP",
            "GARBAGE\r\n\r\n",
            "400 Bad Request",
            "malformed request: invalid method or target",
            CLOSES,
        ),
        case(
            "HTTP/2.0",
            "GET /poll/a HTTP/2.0\r\nHost: h\r\n\r\n",
            "400 Bad Request",
            "malformed request: invalid HTTP version",
            CLOSES,
        ),
        case(
            "a space in a header name",
            "GET /poll/a HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
            "400 Bad Request",
            "malformed request: invalid header name",
            CLOSES,
        ),
        case(
            "a target that is not a path",
            "GET poll/a HTTP/1.1\r\nHost: h\r\n\r\n",
            "400 Bad Request",
            "malformed request: request target is not a path",
            CLOSES,
        ),
        case(
            "an empty Transfer-Encoding",
            post("Transfer-Encoding: ,\r\n", b""),
            "400 Bad Request",
            "malformed request: empty Transfer-Encoding",
            CLOSES,
        ),
        case(
            "no Host",
            "GET /poll/a HTTP/1.1\r\n\r\n",
            "400 Bad Request",
            "HTTP/1.1 request without Host",
            CLOSES,
        ),
        // A refusal that closes carries its body even for HEAD.
        case(
            "HEAD without Host",
            "HEAD /poll/a HTTP/1.1\r\n\r\n",
            "400 Bad Request",
            "HTTP/1.1 request without Host",
            CLOSES,
        ),
        case(
            "two Hosts",
            "GET /poll/a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "400 Bad Request",
            "more than one Host header",
            CLOSES,
        ),
        case(
            "Content-Length not a number",
            post("Content-Length: x\r\n", b""),
            "400 Bad Request",
            "Content-Length is not a number",
            CLOSES,
        ),
        case(
            "Content-Length negative",
            post("Content-Length: -1\r\n", b""),
            "400 Bad Request",
            "Content-Length is not a number",
            CLOSES,
        ),
        case(
            "two Content-Length values in one field",
            post("Content-Length: 1, 2\r\n", b"ab"),
            "400 Bad Request",
            "Content-Length values differ",
            CLOSES,
        ),
        case(
            "two Content-Length fields",
            post("Content-Length: 1\r\nContent-Length: 2\r\n", b"ab"),
            "400 Bad Request",
            "Content-Length values differ",
            CLOSES,
        ),
        case(
            "Content-Length and Transfer-Encoding",
            post(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                b"0\r\n\r\n",
            ),
            "400 Bad Request",
            "Content-Length and Transfer-Encoding together",
            CLOSES,
        ),
        case(
            "Transfer-Encoding in HTTP/1.0",
            "POST /pub/a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "400 Bad Request",
            "Transfer-Encoding in an HTTP/1.0 request",
            CLOSES,
        ),
        case(
            "gzip",
            post("Transfer-Encoding: gzip\r\n", b""),
            "501 Not Implemented",
            "only Transfer-Encoding: chunked is supported",
            CLOSES,
        ),
        case(
            "gzip, chunked",
            post("Transfer-Encoding: gzip, chunked\r\n", b""),
            "501 Not Implemented",
            "only Transfer-Encoding: chunked is supported",
            CLOSES,
        ),
        case(
            "chunked twice",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                b"",
            ),
            "501 Not Implemented",
            "only Transfer-Encoding: chunked is supported",
            CLOSES,
        ),
        case(
            "a head past max_header_bytes",
            get_request("/poll/a", &format!("X-Big: {}\r\n", "b".repeat(1100))),
            "431 Request Header Fields Too Large",
            "request header fields too large",
            CLOSES,
        ),
        case(
            "65 header fields",
            get_request("/poll/a", &many_fields),
            "431 Request Header Fields Too Large",
            "request header fields too large",
            CLOSES,
        ),
        case(
            "a target past max_uri_bytes",
            get_request(&format!("/poll/{}", "a".repeat(300)), ""),
            "414 URI Too Long",
            "request target too long",
            CLOSES,
        ),
        case(
            "a request line that never ends",
            format!("GET /poll/{}", "a".repeat(300)),
            "414 URI Too Long",
            "request target too long",
            CLOSES,
        ),
        case(
            "Content-Length past max_body_bytes",
            post("Content-Length: 101\r\n", b""),
            "413 Content Too Large",
            "request body too large",
            CLOSES,
        ),
        case(
            "POST without a length",
            post("", b""),
            "411 Length Required",
            "POST needs Content-Length or chunked encoding",
            CLOSES,
        ),
        // Chunked(ChunkedError): the body broke the coding or a limit.
        case(
            "chunk size not hex",
            chunked(b"zz\r\n"),
            "400 Bad Request",
            "chunk size is not a hexadecimal number",
            CLOSES,
        ),
        case(
            "chunks past max_body_bytes",
            chunked(b"65\r\n"),
            "413 Content Too Large",
            "chunked body is larger than the limit",
            CLOSES,
        ),
        case(
            "a control byte in a chunk extension",
            chunked(b"5;a\x01b\r\nhello\r\n0\r\n\r\n"),
            "400 Bad Request",
            "chunk extension contains a control character",
            CLOSES,
        ),
        case(
            "chunk extensions past the limit",
            chunked(format!("5;{}\r\n", "e".repeat(4100)).as_bytes()),
            "413 Content Too Large",
            "chunk extensions are longer than the limit",
            CLOSES,
        ),
        case(
            "a bare LF in the chunk framing",
            chunked(b"5\nhello\n0\n\n"),
            "400 Bad Request",
            "chunked framing line does not end in CRLF",
            CLOSES,
        ),
        case(
            "chunk data longer than its size",
            chunked(b"2\r\nabc\r\n0\r\n\r\n"),
            "400 Bad Request",
            "chunk data is longer than its chunk size",
            CLOSES,
        ),
        case(
            "a trailer that is not a field line",
            chunked(b"0\r\nnot a field\r\n\r\n"),
            "400 Bad Request",
            "trailer line is not a valid field line",
            CLOSES,
        ),
        case(
            "trailers past the limit",
            chunked(format!("0\r\nX: {}\r\n\r\n", "t".repeat(4100)).as_bytes()),
            "413 Content Too Large",
            "trailer section is larger than the limit",
            CLOSES,
        ),
        // BadChannel: a publish closes (its body is not wanted), a
        // subscribe request keeps the connection, a handshake closes.
        case(
            "publish to a bad name",
            "POST /pub/bad%20name HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx",
            "400 Bad Request",
            bad_channel,
            CLOSES,
        ),
        case(
            "publish to an empty name",
            "POST /pub/ HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx",
            "400 Bad Request",
            bad_channel,
            CLOSES,
        ),
        case(
            "publish to a name of 129 bytes",
            format!("POST /pub/{long_name} HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"),
            "400 Bad Request",
            bad_channel,
            CLOSES,
        ),
        case(
            "poll a bad name",
            get_request("/poll/bad%20name", ""),
            "400 Bad Request",
            bad_channel,
            STAYS,
        ),
        case(
            "poll a name with a slash",
            get_request("/poll/a/b", ""),
            "400 Bad Request",
            bad_channel,
            STAYS,
        ),
        case(
            "channel info of a bad name",
            get_request("/pub/", ""),
            "400 Bad Request",
            bad_channel,
            STAYS,
        ),
        case(
            "long-poll a bad name",
            get_request("/longpoll/a%2Fb", ""),
            "400 Bad Request",
            bad_channel,
            STAYS,
        ),
        case(
            "SSE on a bad name",
            get_request(&format!("/sse/{long_name}"), ""),
            "400 Bad Request",
            bad_channel,
            STAYS,
        ),
        case(
            "WebSocket on a bad name",
            upgrade("/ws/bad%20name", ""),
            "400 Bad Request",
            bad_channel,
            CLOSES,
        ),
        // BadQuery: the same split.
        case(
            "poll since=x",
            get_request("/poll/a?since=x", ""),
            "400 Bad Request",
            bad_since,
            STAYS,
        ),
        case(
            "poll since=-1",
            get_request("/poll/a?since=-1", ""),
            "400 Bad Request",
            bad_since,
            STAYS,
        ),
        case(
            "poll since empty",
            get_request("/poll/a?since=", ""),
            "400 Bad Request",
            bad_since,
            STAYS,
        ),
        case(
            "long-poll since=-3",
            get_request("/longpoll/a?since=-3", ""),
            "400 Bad Request",
            bad_since,
            STAYS,
        ),
        case(
            "long-poll timeout=abc",
            get_request("/longpoll/a?timeout=abc", ""),
            "400 Bad Request",
            bad_timeout,
            STAYS,
        ),
        case(
            "long-poll timeout=-1",
            get_request("/longpoll/a?timeout=-1", ""),
            "400 Bad Request",
            bad_timeout,
            STAYS,
        ),
        case(
            "long-poll timeout=1e3",
            get_request("/longpoll/a?timeout=1e3", ""),
            "400 Bad Request",
            bad_timeout,
            STAYS,
        ),
        case(
            "SSE since=abc",
            get_request("/sse/a?since=abc", ""),
            "400 Bad Request",
            bad_since,
            STAYS,
        ),
        case(
            "WebSocket since=x",
            upgrade("/ws/a?since=x", ""),
            "400 Bad Request",
            bad_since,
            CLOSES,
        ),
        // NotUtf8: the body was read whole, the connection goes on.
        case(
            "a publish that is not UTF-8",
            post("Content-Length: 2\r\n", b"\xff\xfe"),
            "400 Bad Request",
            "message data must be UTF-8 text",
            STAYS,
        ),
        case(
            "a chunked publish that is not UTF-8",
            chunked(b"1\r\n\xc3\r\n0\r\n\r\n"),
            "400 Bad Request",
            "message data must be UTF-8 text",
            STAYS,
        ),
        // BodyOnSubscribe: refused, the body skipped.
        case(
            "a long-poll with a body",
            get_request("/longpoll/a", "Content-Length: 2\r\n") + "xx",
            "400 Bad Request",
            "a subscribe request has no body",
            STAYS,
        ),
        case(
            "an SSE request with a chunked body",
            get_request("/sse/a", "Transfer-Encoding: chunked\r\n") + "2\r\nxx\r\n0\r\n\r\n",
            "400 Bad Request",
            "a subscribe request has no body",
            STAYS,
        ),
        // BodyOnHandshake.
        case(
            "a handshake with a body",
            ws.replace("\r\n\r\n", "\r\nContent-Length: 2\r\n\r\nab"),
            "400 Bad Request",
            "a WebSocket handshake has no body",
            CLOSES,
        ),
        // NoSuchEndpoint, NoSuchChannel, MethodNotAllowed: the request is
        // understood, the connection goes on.
        case(
            "an unknown path",
            get_request("/nope", ""),
            "404 Not Found",
            "no such endpoint (GET /help lists them)",
            STAYS,
        ),
        case(
            "info on a channel never used",
            get_request("/pub/never", ""),
            "404 Not Found",
            "no such channel",
            STAYS,
        ),
        case(
            "DELETE /poll/a",
            "DELETE /poll/a HTTP/1.1\r\nHost: h\r\n\r\n",
            "405 Method Not Allowed",
            "method not allowed here",
            STAYS,
        )
        .with_fields("Allow: GET, HEAD, OPTIONS\r\n"),
        case(
            "DELETE /pub/a",
            "DELETE /pub/a HTTP/1.1\r\nHost: h\r\n\r\n",
            "405 Method Not Allowed",
            "method not allowed here",
            STAYS,
        )
        .with_fields("Allow: GET, HEAD, POST, OPTIONS\r\n"),
        // Handshake(HandshakeError): every one closes.
        case(
            "POST /echo",
            ws.replace("GET /echo", "POST /echo")
                .replace("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n"),
            "405 Method Not Allowed",
            "WebSocket handshake must use GET",
            CLOSES,
        )
        .with_fields("Allow: GET\r\n"),
        case(
            "a handshake in HTTP/1.0",
            ws.replace("HTTP/1.1", "HTTP/1.0"),
            "400 Bad Request",
            "WebSocket handshake needs HTTP/1.1",
            CLOSES,
        ),
        case(
            "GET /echo without Upgrade",
            get_request("/echo", ""),
            "400 Bad Request",
            "Upgrade header must list websocket",
            CLOSES,
        ),
        case(
            "a handshake without Connection: Upgrade",
            ws.replace("Connection: Upgrade", "Connection: keep-alive"),
            "400 Bad Request",
            "Connection header must list upgrade",
            CLOSES,
        ),
        case(
            "a handshake without a key",
            ws.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            "400 Bad Request",
            "missing Sec-WebSocket-Key",
            CLOSES,
        ),
        case(
            "a handshake with two keys",
            ws.replace(
                "Sec-WebSocket-Version",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version",
            ),
            "400 Bad Request",
            "more than one Sec-WebSocket-Key",
            CLOSES,
        ),
        case(
            "a key that is not 16 bytes of base64",
            ws.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
            "400 Bad Request",
            "Sec-WebSocket-Key is not base64 of 16 bytes",
            CLOSES,
        ),
        case(
            "version 8",
            ws.replace("Version: 13", "Version: 8"),
            "426 Upgrade Required",
            "Sec-WebSocket-Version must be 13",
            CLOSES,
        )
        .with_fields("Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"),
    ];
    run(&mut h, cases);
    // Nothing was published by any of them.
    assert_eq!(h.get("/pub/a").status, 404);
}

#[test]
fn refusals_that_need_a_setting_or_time() {
    each_store(|| {
        // Unauthorized: 401 names the scheme.
        let mut h = Harness::new(Config {
            publish_token: Some("s3cret".into()),
            ..Config::default()
        });
        run(
            &mut h,
            vec![case(
                "no token",
                publish_request("a", "x"),
                "401 Unauthorized",
                "publishing needs Authorization: Bearer <token>",
                CLOSES,
            )
            .with_fields("WWW-Authenticate: Bearer\r\n")],
        );
        // CrossSitePublish, and OriginRejected for a WebSocket.
        let mut h = Harness::new(Config {
            allow_ws_origin: Some(vec!["https://app.example".into()]),
            ..Config::default()
        });
        let evil = "Origin: https://evil.example\r\n";
        run(
            &mut h,
            vec![
                case(
                    "a cross-site publish",
                    post(&format!("{evil}Content-Length: 1\r\n"), b"x"),
                    "403 Forbidden",
                    "cross-site publish refused (see --allow-origin)",
                    CLOSES,
                ),
                case(
                    "a WebSocket from an origin not allowed",
                    upgrade("/ws/a", evil),
                    "403 Forbidden",
                    "origin not allowed",
                    CLOSES,
                ),
            ],
        );
        assert_eq!(h.get("/pub/a").status, 404);
        // TooManyChannels: a publish or a subscription that would make
        // one channel more. Subscribe requests keep the connection, a
        // handshake closes.
        let mut h = Harness::new(Config {
            max_channels: 2,
            ..Config::default()
        });
        h.publish("one", "x").unwrap().unwrap();
        h.publish("two", "x").unwrap().unwrap();
        let full = "too many channels (see --max-channels)";
        run(
            &mut h,
            vec![
                case(
                    "publish",
                    publish_request("three", "x"),
                    "503 Service Unavailable",
                    full,
                    STAYS,
                ),
                case(
                    "long-poll",
                    get_request("/longpoll/three?timeout=5", ""),
                    "503 Service Unavailable",
                    full,
                    STAYS,
                ),
                case(
                    "SSE",
                    get_request("/sse/three", ""),
                    "503 Service Unavailable",
                    full,
                    STAYS,
                ),
                case(
                    "WebSocket",
                    upgrade("/ws/three", ""),
                    "503 Service Unavailable",
                    full,
                    CLOSES,
                ),
            ],
        );
        assert_eq!(
            h.publish("three", "x"),
            Some(Err(PublishError::TooManyChannels))
        );
        // Polling never makes a channel; the others carry on.
        assert_eq!(h.get("/poll/three").status, 200);
        assert_eq!(h.post("one", "y").text(), r#"{"id":2}"#);
        assert_eq!(h.engine.broker().len(), 2);
    });
    // Chunked(SizeOverflow): with no body limit to stop it first, a chunk
    // size past 64 bits.
    let mut h = Harness::new(Config {
        max_body_bytes: usize::MAX,
        ..Config::default()
    });
    run(
        &mut h,
        vec![case(
            "a chunk size of 17 hex digits",
            chunked(b"10000000000000000\r\n"),
            "413 Content Too Large",
            "chunk size does not fit in 64 bits",
            CLOSES,
        )],
    );
    // Request(Timeout): the header timer and the body timer.
    let mut h = Harness::new(limits());
    let c = h.connect();
    h.send(c, b"GET /poll/a HTTP/1.1\r\nHost: h\r\n");
    h.advance(Duration::from_secs(1));
    let date = "Wed, 25 Nov 2026 00:00:01 GMT";
    let late = case(
        "the head",
        "",
        "408 Request Timeout",
        "request took too long",
        CLOSES,
    );
    assert_eq!(h.take_text(c), refusal_bytes(&late, date));
    assert!(h.clients[c].shut_down);
    let c = h.connect();
    h.send(c, &post("Content-Length: 10\r\n", b"abc"));
    h.advance(Duration::from_secs(2));
    let date = "Wed, 25 Nov 2026 00:00:03 GMT";
    assert_eq!(h.take_text(c), refusal_bytes(&late, date));
    assert!(h.clients[c].shut_down);
}

/// A store with a bug: it gives every message id 1.
#[derive(Debug, Default)]
struct SameId(VecDeque<Commit>);

impl Store for SameId {
    fn append(&mut self, append: Append<'_>) {
        self.0.push_back(Commit {
            ticket: append.ticket,
            outcome: Ok(1),
        });
    }

    fn poll_commit(&mut self) -> Option<Commit> {
        self.0.pop_front()
    }
}

#[test]
fn a_store_that_repeats_an_id_gets_its_publisher_503_and_delivers_nothing() {
    let mut h = Harness::with_store(Config::default(), Box::new(SameId::default()));
    let sse = h.connect();
    h.send(sse, b"GET /sse/a HTTP/1.1\r\nHost: h\r\n\r\n");
    let c = h.connect();
    assert_eq!(h.request(c, &publish_request("a", "one")).status, 202);
    h.take(sse);
    let refused = h.request(c, &publish_request("a", "two"));
    assert_eq!(refused.status, 503);
    assert!(
        refused.text().starts_with("the message was not stored: "),
        "{}",
        refused.text()
    );
    assert_eq!(refused.header("connection"), None);
    assert!(h.take(sse).is_empty(), "nothing delivered");
    assert_eq!(
        h.get_on(c, "/poll/a").text(),
        r#"{"last_id":1,"messages":[{"id":1,"data":"one"}]}"#
    );
}

#[test]
fn the_limits_hold_to_the_byte() {
    each_store(|| {
        let mut h = Harness::new(limits());
        // A head of exactly max_header_bytes is read; one byte more is 431.
        let head_of = |n: usize| {
            let base = get_request("/poll/a", "X: \r\n").len();
            get_request("/poll/a", &format!("X: {}\r\n", "b".repeat(n - base)))
        };
        for (n, status) in [(1024, 200), (1025, 431)] {
            let c = h.connect();
            assert_eq!(h.request(c, &head_of(n)).status, status, "{n}");
        }
        // 64 header fields are read; 65 are 431 (see the table).
        let c = h.connect();
        let fields = "X: y\r\n".repeat(63);
        assert_eq!(h.request(c, &get_request("/poll/a", &fields)).status, 200);
        // A target of exactly max_uri_bytes is read; one byte more is 414.
        for (n, status) in [(256, 200), (257, 414)] {
            let target = format!("/poll/a?x={}", "u".repeat(n - 10));
            assert_eq!(target.len(), n);
            let c = h.connect();
            assert_eq!(
                h.request(c, &get_request(&target, "")).status,
                status,
                "{n}"
            );
        }
        // A channel name of 128 bytes is fine.
        let name = "n".repeat(128);
        assert_eq!(h.post(&name, "x").status, 202);
        // A body of exactly max_body_bytes is read, by either framing.
        let body = "x".repeat(100);
        assert_eq!(h.post("a", &body).text(), r#"{"id":1}"#);
        let c = h.connect();
        let mut request = chunked(b"32\r\n");
        request.extend_from_slice(&[b'y'; 50]);
        request.extend_from_slice(b"\r\n32\r\n");
        request.extend_from_slice(&[b'y'; 50]);
        request.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(
            h.request(c, std::str::from_utf8(&request).unwrap()).status,
            202
        );
        // 101 bytes in chunks of 50 is 413 at the chunk that passes it.
        let c = h.connect();
        let mut request = chunked(b"32\r\n");
        request.extend_from_slice(&[b'y'; 50]);
        request.extend_from_slice(b"\r\n33\r\n");
        let refused = h.request(c, std::str::from_utf8(&request).unwrap());
        assert_eq!(refused.status, 413);
        assert_eq!(
            h.get("/pub/a").text(),
            r#"{"last_id":2,"history":2,"subscribers":{"ws":0,"sse":0,"longpoll":0}}"#
        );
        // Identical Content-Length values are one value.
        let c = h.connect();
        let same = post("Content-Length: 2, 2\r\nContent-Length: 2\r\n", b"ok");
        assert_eq!(
            h.request(c, std::str::from_utf8(&same).unwrap()).text(),
            r#"{"id":3}"#
        );
    });
}

#[test]
fn the_default_limits_are_the_documented_ones() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        let head = get_request("/", &format!("X: {}\r\n", "b".repeat(8192)));
        assert_eq!(h.request(c, &head).status, 431);
        let c = h.connect();
        let target = format!("/{}", "a".repeat(4096));
        assert_eq!(h.request(c, &get_request(&target, "")).status, 414);
        let c = h.connect();
        let target = format!("/{}", "a".repeat(4095));
        assert_eq!(h.request(c, &get_request(&target, "")).status, 404);
        let c = h.connect();
        let too_big = post(&format!("Content-Length: {}\r\n", 1024 * 1024 + 1), b"");
        assert_eq!(
            h.request(c, std::str::from_utf8(&too_big).unwrap()).status,
            413
        );
        let fits = "x".repeat(1024 * 1024);
        assert_eq!(h.post("a", &fits).status, 202);
    });
}

#[test]
fn past_the_connection_limit_a_connection_gets_503_and_the_slot_frees_up() {
    let mut h = Harness::new(Config {
        max_connections: 2,
        ..Config::default()
    });
    let a = h.connect();
    let _b = h.connect();
    let c = h.connect();
    let limit = case(
        "the third connection",
        "",
        "503 Service Unavailable",
        "server at its connection limit",
        CLOSES,
    );
    // Told at once, before it says anything; what it says is dropped.
    assert_eq!(h.take_text(c), refusal_bytes(&limit, DATE));
    assert!(h.clients[c].shut_down);
    h.send(c, b"GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(h.take(c).is_empty());
    assert_eq!(
        h.engine.connections(),
        3,
        "a refused one counts until closed"
    );
    // Once one of the two and the refused one are gone, a new connection
    // is served.
    h.reset(a);
    h.send_eof(c);
    assert!(h.clients[c].closed);
    let d = h.connect();
    assert_eq!(h.get_on(d, "/poll/a").status, 200);
    // The driver can lower the limit (a low open-file limit).
    h.engine.set_max_connections(1);
    let e = h.connect();
    assert_eq!(h.last_response(e).status, 503);
}

#[test]
fn past_the_limit_and_the_slack_for_503s_the_engine_is_saturated() {
    let mut h = Harness::new(Config {
        max_connections: 2,
        ..Config::default()
    });
    let first = h.connect();
    h.connect();
    for _ in 0..REJECT_SLACK - 1 {
        h.connect();
        assert!(!h.engine.saturated());
    }
    let last = h.connect();
    assert_eq!(h.last_response(last).status, 503);
    assert!(
        h.engine.saturated(),
        "the driver closes new ones unanswered"
    );
    h.reset(first);
    assert!(!h.engine.saturated());
}

#[test]
fn content_length_with_transfer_encoding_never_runs_the_smuggled_request() {
    each_store(|| {
        let smuggled: [&[u8]; 6] = [
            // CL.TE: a front end that trusts Content-Length forwards all of
            // it; one that trusts chunked sees the body end at "0" and a
            // second request.
            b"POST /pub/front HTTP/1.1\r\nHost: a\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n\
              0\r\n\r\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
            // TE.CL.
            b"POST /pub/front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n\
              5c\r\nPOST /pub/smuggled HTTP/1.1\r\n",
            // An obfuscated coding.
            b"POST /pub/front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n\
              0\r\n\r\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
            // Two codings in two fields.
            b"POST /pub/front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n\
              0\r\n\r\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
            // Two lengths.
            b"POST /pub/front HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 60\r\n\r\n\
              POST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
            // A bare LF ending the last chunk.
            b"POST /pub/front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
              0\n\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
        ];
        let statuses = [400, 400, 501, 501, 400, 400];
        let mut h = Harness::new(Config::default());
        for (raw, status) in smuggled.iter().zip(statuses) {
            // Whole, and one byte at a time.
            for split in [false, true] {
                let c = h.connect();
                if split {
                    for b in *raw {
                        h.send(c, std::slice::from_ref(b));
                    }
                } else {
                    h.send(c, raw);
                }
                let responses = h.responses(c);
                let text = String::from_utf8_lossy(raw);
                assert_eq!(responses.len(), 1, "{text}");
                assert_eq!(responses[0].status, status, "{text}");
                assert_eq!(responses[0].header("connection"), Some("close"), "{text}");
                assert!(h.clients[c].shut_down, "{text}");
            }
        }
        assert_eq!(h.get("/pub/smuggled").status, 404);
        assert_eq!(h.get("/pub/front").status, 404);
    });
}
