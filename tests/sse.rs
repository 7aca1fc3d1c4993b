//! Server-Sent Events over real TCP, read with the test's own chunked
//! reader and WHATWG event-stream parser (`common::events`).

mod common;

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::events::{read_chunk, EventParser};
use common::{read_response, Response, TestServer};

struct SseStream {
    reader: BufReader<TcpStream>,
    head: Response,
    parser: EventParser,
    /// The server's floor: the `k`th message of a channel has id
    /// `floor + k` (docs/durability.md).
    floor: u64,
}

impl SseStream {
    fn open(server: &TestServer, path: &str, headers: &str) -> SseStream {
        let mut stream = server.connect();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(stream);
        let head = read_response(&mut reader).unwrap();
        SseStream {
            reader,
            head,
            parser: EventParser::default(),
            floor: server.floor(),
        }
    }

    /// Reads one chunk into the parser; `false` when the stream ended.
    fn pump(&mut self) -> io::Result<bool> {
        match read_chunk(&mut self.reader)? {
            Some(data) => {
                self.parser
                    .feed(std::str::from_utf8(&data).expect("UTF-8 events"));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Reads until `n` message events arrived; their ids counted from
    /// the floor (1 for a channel's first message).
    fn read_events(&mut self, n: usize) -> Vec<u64> {
        while self.parser.ids().len() < n {
            assert!(self.pump().unwrap(), "stream ended early");
        }
        self.parser.ids().iter().map(|id| id - self.floor).collect()
    }
}

#[test]
fn events_arrive_in_order_after_the_stream_headers_and_retry() {
    let server = TestServer::start(&["--sse-retry", "1500"]);
    let mut stream = SseStream::open(&server, "/sse/news", "");
    assert_eq!(stream.head.status, 200);
    assert_eq!(
        stream.head.header("content-type"),
        Some("text/event-stream")
    );
    assert_eq!(stream.head.header("cache-control"), Some("no-cache"));
    assert_eq!(stream.head.header("x-accel-buffering"), Some("no"));
    assert_eq!(stream.head.header("transfer-encoding"), Some("chunked"));
    stream.pump().unwrap();
    assert_eq!(stream.parser.retry, Some(1500));
    server.wait_subscribers("news", "sse", 1);
    for i in 1..=5 {
        server.publish("news", &format!("message {i}"));
    }
    assert_eq!(stream.read_events(5), [1, 2, 3, 4, 5]);
    let data: Vec<&str> = stream
        .parser
        .events
        .iter()
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(
        data,
        [
            "message 1",
            "message 2",
            "message 3",
            "message 4",
            "message 5"
        ]
    );
}

#[test]
fn multi_line_data_round_trips_through_a_whatwg_parser() {
    let server = TestServer::start(&[]);
    let mut stream = SseStream::open(&server, "/sse/ml", "");
    server.wait_subscribers("ml", "sse", 1);
    let sent = [
        "two\nlines",
        "trailing newline\n",
        "\n\nleading blank lines",
        " leading space",
        "data: looks like a field",
        "",
        "crlf\r\nand\rcr",
        "ünïcödé ✓",
    ];
    for data in sent {
        server.publish("ml", data);
    }
    stream.read_events(sent.len());
    for (event, data) in stream.parser.events.iter().zip(sent) {
        // The event-stream format carries line breaks as line ends, and a
        // conforming parser gives every one back as LF (WHATWG 9.2.6):
        // text with only LF breaks round-trips exactly.
        let expected = data.replace("\r\n", "\n").replace('\r', "\n");
        assert_eq!(event.data, expected);
    }
}

#[test]
fn resume_with_last_event_id_or_since_gets_exactly_the_missed_events() {
    let server = TestServer::start(&[]);
    for i in 1..=6 {
        server.publish("r", &format!("m{i}"));
    }
    let header = |k| format!("Last-Event-ID: {}\r\n", server.id(k));
    let mut by_header = SseStream::open(&server, "/sse/r", &header(4));
    assert_eq!(by_header.read_events(2), [5, 6]);
    let mut by_query = SseStream::open(&server, &format!("/sse/r?since={}", server.id(2)), "");
    assert_eq!(by_query.read_events(4), [3, 4, 5, 6]);
    // The header (what EventSource sends on reconnect) beats the URL.
    let mut both = SseStream::open(
        &server,
        &format!("/sse/r?since={}", server.id(1)),
        &header(5),
    );
    assert_eq!(both.read_events(1), [6]);
    // A Last-Event-ID that is not ours is ignored (a 400 would make
    // EventSource give up); a malformed ?since= is refused.
    let mut garbage = SseStream::open(&server, "/sse/r", "Last-Event-ID: abc\r\n");
    assert_eq!(garbage.head.status, 200);
    server.wait_subscribers("r", "sse", 4);
    server.publish("r", "m7");
    assert_eq!(garbage.read_events(1), [7]);
    assert_eq!(server.get("/sse/r?since=abc").status, 400);
    assert_eq!(server.get("/sse/bad%channel").status, 400);
}

#[test]
fn an_evicted_id_is_announced_as_a_gap_event() {
    let server = TestServer::start(&["--history", "3"]);
    for i in 1..=8 {
        server.publish("g", &format!("m{i}"));
    }
    let since = server.id(2);
    let mut stream = SseStream::open(&server, "/sse/g", &format!("Last-Event-ID: {since}\r\n"));
    assert_eq!(stream.read_events(3), [6, 7, 8]);
    let events = &stream.parser.events;
    assert_eq!(events[0].event, "gap");
    let gap: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(
        gap,
        serde_json::json!({"since":since,"oldest":server.id(6)})
    );
    // The gap event carries no id: lastEventId stays what the client had.
    assert_eq!(events[0].id, "");
}

#[test]
fn a_closed_client_leaves_no_subscriber_behind() {
    let server = TestServer::start(&[]);
    let streams: Vec<SseStream> = (0..3)
        .map(|_| SseStream::open(&server, "/sse/c", ""))
        .collect();
    server.wait_subscribers("c", "sse", 3);
    drop(streams);
    server.wait_subscribers("c", "sse", 0);
}

#[test]
fn max_age_ends_the_stream_cleanly_and_the_connection_serves_on() {
    let server = TestServer::start(&["--sse-max-age", "0.5"]);
    let mut stream = SseStream::open(&server, "/sse/age", "");
    // The reactor wakes for the deadline (its tick is asserted at the
    // engine's layer, tests/engine/deadlines.rs).
    while stream.pump().unwrap() {}
    server.wait_subscribers("age", "sse", 0);
    // Chunked framing ended with the last chunk: the connection is reusable.
    stream
        .reader
        .get_mut()
        .write_all(b"GET /poll/age HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream.reader).unwrap().status, 200);
}

#[test]
fn http_10_clients_get_a_close_delimited_stream() {
    let server = TestServer::start(&["--sse-max-age", "0.5"]);
    server.publish("old", "hello");
    let mut stream = server.connect();
    stream
        .write_all(b"GET /sse/old?since=0 HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains("Connection: close") && !head.contains("chunked"),
        "{head}"
    );
    let mut parser = EventParser::default();
    parser.feed(body);
    assert_eq!(parser.ids(), server.ids([1]));
}

#[test]
fn a_slow_reader_is_cut_off_and_loses_nothing_on_reconnect() {
    // The bound is all the fast reader may lag by, the kernel's send
    // buffer included: 4 MiB, half a second of this stream, so that a
    // debug build on a busy machine keeps up.
    let server = TestServer::start(&["--max-backlog-bytes", "4194304", "--history", "1024"]);
    // The slow client: a small receive buffer, and it does not read.
    let mut slow = server.connect_slow();
    slow.write_all(b"GET /sse/slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut fast = SseStream::open(&server, "/sse/slow", "");
    server.wait_subscribers("slow", "sse", 2);
    // 600 messages of 16 KiB: far more than the bound plus every kernel
    // buffer between the server and the slow client.
    let total = 600;
    let body = "x".repeat(16 * 1024);
    // How many the fast reader has: the publisher keeps at most 64
    // messages (1 MiB) ahead of it, so that it is never the one cut off,
    // however busy the machine.
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let publisher = {
        let url = server.addr;
        let body = body.clone();
        let read = std::sync::Arc::clone(&read);
        std::thread::spawn(move || {
            let mut stream = TcpStream::connect(url).unwrap();
            stream.set_nodelay(true).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let request = format!(
                "POST /pub/slow HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            for i in 0..total {
                while i > read.load(std::sync::atomic::Ordering::Acquire) + 64 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                stream.write_all(request.as_bytes()).unwrap();
                assert_eq!(read_response(&mut reader).unwrap().status, 202);
            }
        })
    };
    // The fast subscriber keeps receiving everything.
    for k in 1..=total {
        fast.read_events(k);
        read.store(k, std::sync::atomic::Ordering::Release);
    }
    assert_eq!(
        fast.read_events(total),
        (1..=total as u64).collect::<Vec<_>>()
    );
    publisher.join().unwrap();
    server.wait_subscribers("slow", "sse", 1);
    // The slow one was cut: it reads what the kernel holds, then EOF.
    let mut received = Vec::new();
    let _ = slow.read_to_end(&mut received);
    let text = String::from_utf8_lossy(&received);
    let body_start = text.find("\r\n\r\n").unwrap() + 4;
    let mut reader = BufReader::new(&received[body_start..]);
    let mut parser = EventParser::default();
    while let Ok(Some(chunk)) = read_chunk(&mut reader) {
        parser.feed(&String::from_utf8_lossy(&chunk));
    }
    let got = parser.ids();
    assert!(got.len() < total, "the slow reader was never cut off");
    assert_eq!(got, server.ids(1..=got.len() as u64));
    // Reconnecting with the last id it saw: every other message exactly once.
    let last = parser.last_event_id().to_owned();
    let mut again = SseStream::open(&server, "/sse/slow", &format!("Last-Event-ID: {last}\r\n"));
    let rest = again.read_events(total - got.len());
    assert_eq!(
        rest,
        ((got.len() as u64 + 1)..=total as u64).collect::<Vec<_>>()
    );
    assert!(again.parser.events.iter().all(|e| e.data == body));
}

#[test]
fn curl_reads_the_stream() {
    let server = TestServer::start(&["--sse-max-age", "1"]);
    server.publish("curl", "one");
    server.publish("curl", "two\nlines");
    let out = Command::new("curl")
        .args(["-sN", "--max-time", "10", &server.url("/sse/curl?since=0")])
        .stdout(Stdio::piped())
        .output()
        .expect("curl is installed");
    assert!(out.status.success());
    let mut parser = EventParser::default();
    parser.feed(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(parser.ids(), server.ids([1, 2]));
    assert_eq!(parser.events[1].data, "two\nlines");
}
