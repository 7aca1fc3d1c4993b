//! Server-Sent Events at the engine's layer: the stream's head and
//! `retry:`, events in order as one chunk each, multi-line data, resume
//! with `Last-Event-ID` and `?since=`, `event: gap` (history and the byte
//! bound), `HEAD`, the close-delimited stream of an HTTP/1.0 client, slow
//! readers, clients that leave, and requests pipelined behind a stream.
//! (Heartbeat and max-age ticks are in `deadlines.rs`.)

use std::time::Duration;

use pushwire::sse::{EventStreamParser, SseItem};
use pushwire::Config;

use crate::harness::{each_store, get_request, Harness, DATE};

/// The head of an event stream to an HTTP/1.1 client with no `Origin`.
fn stream_head() -> String {
    format!(
        "HTTP/1.1 200 OK\r\nDate: {DATE}\r\nContent-Type: text/event-stream\r\n\
         Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\
         X-Accel-Buffering: no\r\nAccess-Control-Allow-Origin: *\r\n\r\n"
    )
}

/// `payload` as one chunk.
fn chunk(payload: &str) -> String {
    format!("{:x}\r\n{payload}\r\n", payload.len())
}

/// One event as the event-stream format writes it (data with LF breaks).
fn event(id: u64, data: &str) -> String {
    let lines: String = data.split('\n').map(|l| format!("data: {l}\n")).collect();
    format!("id: {id}\n{lines}\n")
}

/// What a client reads when it opens a stream with `retry: 2000`.
fn opening() -> String {
    format!("{}{}", stream_head(), chunk("retry: 2000\n\n"))
}

fn open(h: &mut Harness, target: &str, headers: &str) -> usize {
    let c = h.connect();
    h.send(c, get_request(target, headers).as_bytes());
    c
}

fn subscribers(sse: u32) -> String {
    crate::http::subscribers(0, sse, 0)
}

#[test]
fn a_stream_to_a_client_that_asked_to_close_says_so_and_closes_at_its_end() {
    let mut h = Harness::new(Config {
        sse_max_age: Some(std::time::Duration::from_secs(1)),
        ..Config::default()
    });
    let c = open(&mut h, "/sse/news", "Connection: close\r\n");
    let head = h.last_response(c);
    assert_eq!(head.header("connection"), Some("close"));
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    h.advance(std::time::Duration::from_secs(1));
    assert!(h.last_response(c).complete, "ended with the last chunk");
    assert!(h.clients[c].shut_down, "then closed, as the client asked");
}

#[test]
fn a_stream_starts_with_its_head_and_retry() {
    let mut h = Harness::new(Config {
        sse_retry_ms: 1500,
        ..Config::default()
    });
    let c = open(&mut h, "/sse/news", "");
    assert_eq!(
        h.take_text(c),
        format!("{}{}", stream_head(), chunk("retry: 1500\n\n"))
    );
    assert_eq!(
        h.info("news"),
        format!(r#"{{"last_id":0,"history":0,{}"#, subscribers(1))
    );
    let head = h.last_response(c);
    assert!(!head.complete, "the stream goes on");
}

#[test]
fn events_arrive_in_order_one_chunk_each_and_the_same_bytes_for_all() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let a = open(&mut h, "/sse/news", "");
        let b = open(&mut h, "/sse/news", "");
        h.take(a);
        h.take(b);
        for i in 1..=5 {
            h.publish("news", &format!("message {i}")).unwrap().unwrap();
        }
        let expected: String = (1..=5)
            .map(|i| chunk(&event(i, &format!("message {i}"))))
            .collect();
        assert_eq!(h.take_text(a), expected);
        assert_eq!(h.take_text(b), expected);
    });
}

#[test]
fn multi_line_data_becomes_one_data_line_per_line() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = open(&mut h, "/sse/ml", "");
        h.take(c);
        h.publish("ml", "two\nlines").unwrap().unwrap();
        assert_eq!(h.take_text(c), chunk("id: 1\ndata: two\ndata: lines\n\n"));
        let sent = [
            "trailing newline\n",
            "\n\nleading blank lines",
            " leading space",
            "data: looks like a field",
            "",
            "crlf\r\nand\rcr",
            "ünïcödé ✓",
        ];
        for data in sent {
            h.publish("ml", data).unwrap().unwrap();
        }
        // Through a WHATWG parser, as EventSource reads it: every line
        // break comes back as LF (a limit of the format).
        let body = h.last_response(c).body;
        let mut parser = EventStreamParser::new(1 << 20);
        let mut items = Vec::new();
        parser.feed(&body, &mut items).unwrap();
        let events: Vec<(String, String)> = items
            .into_iter()
            .filter_map(|item| match item {
                SseItem::Event(e) => Some((e.last_event_id, e.data)),
                _ => None,
            })
            .collect();
        let mut expected = vec![("1".to_string(), "two\nlines".to_string())];
        for (i, data) in sent.iter().enumerate() {
            let data = data.replace("\r\n", "\n").replace('\r', "\n");
            expected.push(((i + 2).to_string(), data));
        }
        assert_eq!(events, expected);
    });
}

#[test]
fn resume_with_last_event_id_or_since_gets_exactly_the_missed_events() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        for i in 1..=6 {
            h.publish("r", &format!("m{i}")).unwrap().unwrap();
        }
        let events = |ids: std::ops::RangeInclusive<u64>| -> String {
            ids.map(|i| chunk(&event(i, &format!("m{i}")))).collect()
        };
        let cases = [
            ("/sse/r", "Last-Event-ID: 4\r\n", events(5..=6)),
            ("/sse/r", "Last-Event-ID:  4 \r\n", events(5..=6)),
            ("/sse/r?since=2", "", events(3..=6)),
            // The header (what EventSource sends on reconnect) beats the
            // URL (which keeps the since of the first connection).
            ("/sse/r?since=1", "Last-Event-ID: 5\r\n", events(6..=6)),
            // An id ahead of the channel's: nothing missed, no gap.
            ("/sse/r", "Last-Event-ID: 1000\r\n", String::new()),
            // No since at all: only what comes from now on.
            ("/sse/r", "", String::new()),
        ];
        let mut open_streams = Vec::new();
        for (target, headers, missed) in cases {
            let c = open(&mut h, target, headers);
            assert_eq!(
                h.take_text(c),
                format!("{}{missed}", opening()),
                "{target} {headers:?}"
            );
            open_streams.push(c);
        }
        // A Last-Event-ID that is not an id of ours is treated as absent
        // (a 400 would make EventSource give up for good).
        for garbage in ["abc", "-1", "4x", ""] {
            let c = open(
                &mut h,
                "/sse/r?since=5",
                &format!("Last-Event-ID: {garbage}\r\n"),
            );
            assert_eq!(
                h.take_text(c),
                format!("{}{}", opening(), events(6..=6)),
                "{garbage:?}"
            );
            open_streams.push(c);
        }
        let c = open(&mut h, "/sse/r", "Last-Event-ID: abc\r\n");
        assert_eq!(h.take_text(c), opening());
        h.publish("r", "m7").unwrap().unwrap();
        assert_eq!(h.take_text(c), chunk(&event(7, "m7")));
        for c in open_streams {
            assert_eq!(h.take_text(c), chunk(&event(7, "m7")));
        }
    });
}

#[test]
fn a_resume_from_before_history_starts_with_a_gap_event() {
    each_store(|| {
        let mut h = Harness::new(Config {
            history: 3,
            ..Config::default()
        });
        for i in 1..=8 {
            h.publish("g", &format!("m{i}")).unwrap().unwrap();
        }
        let kept: String = (6..=8)
            .map(|i| chunk(&event(i, &format!("m{i}"))))
            .collect();
        let resumed = open(&mut h, "/sse/g", "Last-Event-ID: 2\r\n");
        // retry: and the gap leave in one chunk, before the events.
        assert_eq!(
            h.take_text(resumed),
            format!(
                "{}{}{kept}",
                stream_head(),
                chunk("retry: 2000\n\nevent: gap\ndata: {\"since\":2,\"oldest\":6}\n\n")
            )
        );
        let c = open(&mut h, "/sse/g?since=0", "");
        assert_eq!(
            h.take_text(c),
            format!(
                "{}{}{kept}",
                stream_head(),
                chunk("retry: 2000\n\nevent: gap\ndata: {\"since\":0,\"oldest\":6}\n\n")
            )
        );
        // Since 5: message 6 is the oldest kept, nothing was lost.
        let c = open(&mut h, "/sse/g?since=5", "");
        assert_eq!(h.take_text(c), format!("{}{kept}", opening()));
        // The gap event carries no id: an EventSource's last event id
        // stays what it had until the next message.
        let body = h.last_response(resumed).body;
        let mut items = Vec::new();
        let mut parser = EventStreamParser::new(1 << 20);
        parser.feed(&body, &mut items).unwrap();
        let gap = items.iter().find_map(|item| match item {
            SseItem::Event(e) if e.event_type == "gap" => Some(e.clone()),
            _ => None,
        });
        assert_eq!(gap.map(|e| e.last_event_id), Some(String::new()));
        assert_eq!(parser.last_event_id(), "8");
    });
}

#[test]
fn an_eviction_by_the_history_byte_bound_is_announced_as_a_gap() {
    each_store(|| {
        // Messages of 1000 bytes cost a little over 5 KB of the bound
        // (Message::cost): 12 KB holds two, so the third evicts the oldest
        // anywhere.
        let mut h = Harness::new(Config {
            max_history_bytes: 12_000,
            ..Config::default()
        });
        let data = "z".repeat(1000);
        h.publish("a", &data).unwrap().unwrap();
        h.publish("b", &data).unwrap().unwrap();
        h.publish("a", &data).unwrap().unwrap();
        let c = open(&mut h, "/sse/a", "Last-Event-ID: 0\r\n");
        assert_eq!(
            h.take_text(c),
            format!(
                "{}{}{}",
                stream_head(),
                chunk("retry: 2000\n\nevent: gap\ndata: {\"since\":0,\"oldest\":2}\n\n"),
                chunk(&event(2, &data))
            )
        );
        let c = open(&mut h, "/sse/b", "Last-Event-ID: 0\r\n");
        assert_eq!(
            h.take_text(c),
            format!("{}{}", opening(), chunk(&event(1, &data)))
        );
    });
}

#[test]
fn a_head_request_gets_the_stream_head_and_makes_no_channel() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    h.send(
        c,
        b"HEAD /sse/x HTTP/1.1\r\nHost: h\r\n\r\nGET /poll/x HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let text = h.take_text(c);
    assert!(text.starts_with(&stream_head()), "{text}");
    assert!(
        text[stream_head().len()..].starts_with("HTTP/1.1 200 OK\r\n"),
        "the next answer follows the head at once: {text}"
    );
    assert_eq!(h.responses(c).len(), 2);
    assert_eq!(h.info("x"), "no such channel\n");
}

#[test]
fn an_http_10_client_gets_a_close_delimited_stream() {
    each_store(|| {
        let mut h = Harness::new(Config {
            sse_max_age: Some(Duration::from_secs(20)),
            ..Config::default()
        });
        h.publish("old", "hello").unwrap().unwrap();
        let c = h.connect();
        h.send(c, b"GET /sse/old?since=0 HTTP/1.0\r\n\r\n");
        assert_eq!(
            h.take_text(c),
            format!(
                "HTTP/1.1 200 OK\r\nDate: {DATE}\r\nContent-Type: text/event-stream\r\n\
                 Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\
                 Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n\
                 retry: 2000\n\n{}",
                event(1, "hello")
            )
        );
        // Events and heartbeats as they are, without chunk framing.
        h.publish("old", "two\nlines").unwrap().unwrap();
        assert_eq!(h.take_text(c), event(2, "two\nlines"));
        h.advance(Duration::from_secs(17));
        assert_eq!(h.take_text(c), ": keep-alive\n\n");
        // Its end is the connection's end.
        h.advance(Duration::from_secs(3));
        assert!(h.take(c).is_empty());
        assert!(h.clients[c].shut_down);
        assert!(h.info("old").ends_with(&subscribers(0)));
    });
}

#[test]
fn a_slow_reader_is_cut_off_its_backlog_dropped_and_a_reconnect_loses_nothing() {
    each_store(|| {
        let mut h = Harness::new(Config {
            max_backlog_bytes: 10_000,
            ..Config::default()
        });
        let data = "x".repeat(1000);
        let events: Vec<String> = (1..=30).map(|i| chunk(&event(i, &data))).collect();
        let slow = open(&mut h, "/sse/slow", "");
        let fast = open(&mut h, "/sse/slow", "");
        h.take(slow);
        h.take(fast);
        // The slow client reads three events' worth, then stops reading.
        let three: usize = events[..3].iter().map(String::len).sum();
        h.set_window(slow, three);
        for _ in 0..30 {
            h.publish("slow", &data).unwrap().unwrap();
        }
        assert_eq!(h.take_text(fast), events.concat());
        assert_eq!(h.take_text(slow), events[..3].concat());
        // Cut off: out of the channel, what it was owed dropped. When it
        // reads again it gets the stream's whole end: why, the last
        // chunk, then the close.
        assert!(h.info("slow").ends_with(&subscribers(1)));
        assert!(!h.clients[slow].closed);
        h.read_all(slow);
        assert_eq!(
            h.take_text(slow),
            chunk(": too slow: reconnect with Last-Event-ID\n\n") + "0\r\n\r\n"
        );
        assert!(h.clients[slow].shut_down);
        // History kept everything: reconnecting with the last id it saw
        // gets every other message exactly once.
        let again = open(&mut h, "/sse/slow", "Last-Event-ID: 3\r\n");
        assert_eq!(
            h.take_text(again),
            format!("{}{}", opening(), events[3..].concat())
        );
    });
}

#[test]
fn a_slow_reader_reading_ten_seconds_late_gets_whole_events_and_the_streams_end() {
    let mut h = Harness::new(Config {
        max_backlog_bytes: 10_000,
        ..Config::default()
    });
    let data = "x".repeat(1000);
    let events: Vec<String> = (1..=30).map(|i| chunk(&event(i, &data))).collect();
    let slow = open(&mut h, "/sse/late", "");
    h.take(slow);
    // It reads two and a half events, then stops: the third is begun.
    let begun = events[0].len() + events[1].len() + events[2].len() / 2;
    h.set_window(slow, begun);
    for _ in 0..30 {
        h.publish("late", &data).unwrap().unwrap();
    }
    assert!(h.info("late").ends_with(&subscribers(0)), "cut off");
    h.advance(Duration::from_secs(10));
    assert!(!h.clients[slow].closed, "its end still waits to be read");
    h.read_all(slow);
    // The event begun is finished; those not begun are dropped.
    assert_eq!(
        h.take_text(slow),
        events[..3].concat() + &chunk(": too slow: reconnect with Last-Event-ID\n\n") + "0\r\n\r\n"
    );
    assert!(h.clients[slow].shut_down);
}

#[test]
fn a_client_that_leaves_leaves_no_subscriber_behind() {
    let mut h = Harness::new(Config::default());
    let streams: Vec<usize> = (0..3).map(|_| open(&mut h, "/sse/c", "")).collect();
    assert!(h.info("c").ends_with(&subscribers(3)));
    h.reset(streams[0]);
    assert!(h.info("c").ends_with(&subscribers(2)));
    // A half-close ends a stream: there is no request left to answer.
    h.send_eof(streams[1]);
    assert!(h.clients[streams[1]].closed);
    assert!(h.info("c").ends_with(&subscribers(1)));
    h.reset(streams[2]);
    assert_eq!(h.info("c"), "no such channel\n");
}

#[test]
fn a_busy_stream_gets_no_heartbeat() {
    each_store(|| {
        let mut h = Harness::new(Config {
            heartbeat: Duration::from_secs(5),
            ..Config::default()
        });
        let c = open(&mut h, "/sse/hb", "");
        h.take(c);
        // A message every 4 s for a minute: never 5 s idle.
        let mut expected = String::new();
        for i in 1..=15 {
            h.advance(Duration::from_secs(4));
            h.publish("hb", &i.to_string()).unwrap().unwrap();
            expected.push_str(&chunk(&event(i, &i.to_string())));
        }
        assert_eq!(h.take_text(c), expected);
        // Then idle: a comment 5 s after the last event.
        h.advance(Duration::from_secs(5));
        assert_eq!(h.take_text(c), chunk(": keep-alive\n\n"));
    });
}

#[test]
fn a_request_pipelined_behind_a_stream_runs_when_the_stream_ends() {
    each_store(|| {
        let mut h = Harness::new(Config {
            sse_max_age: Some(Duration::from_secs(3)),
            ..Config::default()
        });
        let c = h.connect();
        let poll = "GET /poll/age HTTP/1.1\r\nHost: h\r\n\r\n";
        h.send(
            c,
            format!("GET /sse/age HTTP/1.1\r\nHost: h\r\n\r\n{poll}").as_bytes(),
        );
        assert_eq!(h.take_text(c), opening());
        assert_eq!(h.engine.buffered_input(h.clients[c].id), poll.len());
        h.publish("age", "m").unwrap().unwrap();
        h.advance(Duration::from_secs(3));
        // The last chunk ends the stream; the poll is answered after it.
        let rest = h.take_text(c);
        let end = format!("{}0\r\n\r\n", chunk(&event(1, "m")));
        assert!(rest.starts_with(&end), "{rest}");
        assert_eq!(
            &rest[end.len()..],
            crate::http::json_answer(r#"{"last_id":1,"messages":[{"id":1,"data":"m"}]}"#)
                .replace("00:00:00", "00:00:03")
        );
        assert!(h.info("age").ends_with(&subscribers(0)));
    });
}

#[test]
fn input_held_behind_a_stream_is_bounded_to_twice_max_header_bytes() {
    let mut h = Harness::new(Config {
        max_header_bytes: 1024,
        ..Config::default()
    });
    let c = open(&mut h, "/sse/held", "");
    let piece = "GET /poll/held HTTP/1.1\r\nHost: t\r\n\r\n".repeat(8);
    assert_eq!(piece.len(), 288);
    // Seven reads: 2,016 bytes held.
    for _ in 0..7 {
        h.send(c, piece.as_bytes());
    }
    assert!(!h.clients[c].closed);
    assert_eq!(h.engine.buffered_input(h.clients[c].id), 2016);
    // The eighth passes 2,048: closed.
    h.send(c, piece.as_bytes());
    assert!(h.clients[c].closed);
    assert_eq!(h.info("held"), "no such channel\n");
}

/// Found by the simulator with its WebSocket twin (docs/simulation.md): a
/// stream cut off as too slow before its client read the head got the
/// end of a body with no head before it.
#[test]
fn a_stream_cut_off_before_its_head_was_read_still_starts_with_its_head() {
    each_store(|| {
        let mut h = Harness::new(Config {
            max_backlog_bytes: 10_000,
            ..Config::default()
        });
        let data = "y".repeat(1000);
        h.default_window = Some(0);
        let slow = open(&mut h, "/sse/a", "");
        for _ in 0..12 {
            h.publish("a", &data).unwrap().unwrap();
        }
        h.read_all(slow);
        let response = h.last_response(slow);
        assert_eq!(response.status, 200);
        assert!(response.complete, "the stream ended");
        assert!(response
            .text()
            .ends_with(": too slow: reconnect with Last-Event-ID\n\n"));
    });
}
