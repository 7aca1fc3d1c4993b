//! Every deadline on the timer wheel, asserted to the tick: it fires at
//! its time, not one tick before.

use std::time::Duration;

use pushwire::engine::TICK;
use pushwire::ws::WsEvent;
use pushwire::Config;

use crate::harness::Harness;

const HEADER: Duration = Duration::from_secs(1);
const BODY: Duration = Duration::from_secs(2);
const IDLE: Duration = Duration::from_secs(3);
const LINGER: Duration = Duration::from_millis(500);
const HEARTBEAT: Duration = Duration::from_secs(5);
const PING: Duration = Duration::from_secs(7);

fn config() -> Config {
    Config {
        header_timeout: HEADER,
        body_timeout: BODY,
        idle_timeout: IDLE,
        linger: LINGER,
        heartbeat: HEARTBEAT,
        ping_interval: PING,
        longpoll_max: Duration::from_secs(20),
        ..Config::default()
    }
}

/// Advances to one tick before `at` (from the start), checks that `c` has
/// read nothing new meanwhile and is open, then advances the last tick.
fn up_to(h: &mut Harness, c: usize, at: Duration) {
    h.take(c);
    h.advance_to(at - TICK);
    let early = h.take(c);
    assert!(
        early.is_empty(),
        "one tick early: {:?}",
        String::from_utf8_lossy(&early)
    );
    assert!(!h.clients[c].closed, "closed one tick early");
    h.advance_to(at);
}

#[test]
fn the_header_timeout_answers_408_at_its_tick_counted_from_the_first_byte() {
    let mut h = Harness::new(config());
    h.ticks(10);
    let c = h.connect();
    let started = h.elapsed();
    h.send(c, b"GET /poll/a HTTP/1.1\r\n");
    // More bytes keep arriving, each well within the timeout: the deadline
    // still counts from the first one (slowloris).
    for _ in 0..4 {
        h.ticks(50);
        h.send(c, b"X-Slow: a\r\n");
    }
    up_to(&mut h, c, started + HEADER);
    let response = h.last_response(c);
    assert_eq!(response.status, 408);
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.text(), "request took too long\n");
}

#[test]
fn the_body_timeout_answers_408_at_its_tick_counted_from_the_end_of_the_head() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.send(
        c,
        b"POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc",
    );
    let head_done = h.elapsed();
    h.ticks(100);
    h.send(c, b"de");
    up_to(&mut h, c, head_done + BODY);
    assert_eq!(h.last_response(c).status, 408);
    // Nothing was published.
    assert_eq!(h.get("/pub/a").status, 404);
}

#[test]
fn the_idle_timeout_closes_a_silent_connection_at_its_tick() {
    let mut h = Harness::new(config());
    // A new connection that never says anything.
    let quiet = h.connect();
    h.ticks(3);
    // One that asked once and then went quiet.
    let c = h.connect();
    h.request(c, "GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n");
    h.take(c);
    let answered = h.elapsed();
    up_to(&mut h, quiet, IDLE);
    assert!(h.clients[quiet].closed, "closed without a word");
    assert!(h.take(quiet).is_empty());
    up_to(&mut h, c, answered + IDLE);
    assert!(h.clients[c].closed);
    assert!(h.take(c).is_empty(), "a silent close, no response");
}

#[test]
fn each_request_restarts_the_idle_timeout() {
    let mut h = Harness::new(config());
    let c = h.connect();
    for _ in 0..5 {
        h.advance(IDLE - TICK);
        assert!(!h.clients[c].closed);
        assert_eq!(
            h.request(c, "GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n")
                .status,
            200
        );
    }
    let last = h.elapsed();
    up_to(&mut h, c, last + IDLE);
    assert!(h.clients[c].closed);
}

#[test]
fn a_closing_connection_lingers_until_its_tick_then_closes() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.send(c, b"GET / HTTP/1.1\r\n\r\n"); // no Host: 400, then close
    assert_eq!(h.last_response(c).status, 400);
    assert!(h.clients[c].shut_down, "write side shut after the answer");
    let shut = h.elapsed();
    // Input during linger is read and dropped.
    h.send(c, b"GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n");
    up_to(&mut h, c, shut + LINGER);
    assert!(h.clients[c].closed);
    assert_eq!(h.responses(c).len(), 1);
}

#[test]
fn a_client_that_closes_during_linger_is_closed_at_once() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.send(
        c,
        b"BREW /pot HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
    );
    assert_eq!(h.last_response(c).status, 400);
    assert!(h.clients[c].shut_down && !h.clients[c].closed);
    h.send_eof(c);
    assert!(h.clients[c].closed);
}

#[test]
fn a_long_poll_is_answered_empty_at_its_timeout_tick() {
    let mut h = Harness::new(config());
    h.publish("a", "old").unwrap().unwrap();
    let c = h.connect();
    h.ticks(7);
    let parked = h.elapsed();
    h.send(
        c,
        b"GET /longpoll/a?since=1&timeout=2.5 HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    up_to(&mut h, c, parked + Duration::from_millis(2500));
    let response = h.last_response(c);
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), r#"{"last_id":1,"messages":[]}"#);
    // Keep-alive: the connection is idle again, with the idle timer.
    let answered = h.elapsed();
    up_to(&mut h, c, answered + IDLE);
    assert!(h.clients[c].closed);
}

#[test]
fn a_long_poll_timeout_defaults_to_30_s_and_is_clamped_to_the_maximum() {
    let mut h = Harness::new(Config {
        longpoll_max: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(600),
        ..config()
    });
    let default = h.connect();
    h.send(default, b"GET /longpoll/a HTTP/1.1\r\nHost: h\r\n\r\n");
    let clamped = h.connect();
    h.send(
        clamped,
        b"GET /longpoll/b?timeout=9999 HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    up_to(&mut h, default, Duration::from_secs(30));
    assert_eq!(
        h.last_response(default).text(),
        r#"{"last_id":0,"messages":[]}"#
    );
    up_to(&mut h, clamped, Duration::from_secs(60));
    assert_eq!(h.last_response(clamped).status, 200);
}

#[test]
fn an_idle_event_stream_gets_a_heartbeat_at_each_interval_after_the_last_event() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.send(c, b"GET /sse/a HTTP/1.1\r\nHost: h\r\n\r\n");
    let opened = h.take_text(c);
    assert!(opened.contains("retry: 2000"), "{opened}");
    up_to(&mut h, c, HEARTBEAT);
    assert_eq!(h.take_text(c), "e\r\n: keep-alive\n\n\r\n");
    // An event moves the next heartbeat: a whole interval after it.
    h.advance(Duration::from_secs(2));
    h.publish("a", "news").unwrap().unwrap();
    let event_at = h.elapsed();
    assert!(h.take_text(c).contains("data: news"));
    up_to(&mut h, c, event_at + HEARTBEAT);
    assert_eq!(h.take_text(c), "e\r\n: keep-alive\n\n\r\n");
}

#[test]
fn max_age_ends_a_stream_at_its_tick_and_the_connection_serves_on() {
    let mut h = Harness::new(Config {
        sse_max_age: Some(Duration::from_secs(12)),
        ..config()
    });
    let c = h.connect();
    h.send(c, b"GET /sse/a HTTP/1.1\r\nHost: h\r\n\r\n");
    h.take(c);
    // Heartbeats at 5 and 10 s, then the end at 12 s.
    for at in [5, 10] {
        h.advance_to(Duration::from_secs(at));
        assert_eq!(h.take_text(c), "e\r\n: keep-alive\n\n\r\n");
    }
    up_to(&mut h, c, Duration::from_secs(12));
    assert_eq!(h.take_text(c), "0\r\n\r\n");
    assert!(h.responses(c)[0].complete);
    assert_eq!(
        h.request(c, "GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        200
    );
}

#[test]
fn a_silent_websocket_is_pinged_at_its_tick_and_closed_one_interval_later() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.send(c, crate::websocket::UPGRADE_ECHO.as_bytes());
    assert_eq!(h.last_response(c).status, 101);
    h.take(c);
    up_to(&mut h, c, PING);
    assert_eq!(h.take(c), b"\x89\x08pushwire");
    up_to(&mut h, c, PING * 2);
    assert!(h.clients[c].closed, "silent after its ping: dropped");
}

#[test]
fn any_frame_counts_as_a_sign_of_life_and_moves_the_ping() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.send(c, crate::websocket::UPGRADE_ECHO.as_bytes());
    h.take(c);
    h.advance(Duration::from_secs(3));
    let heard = h.elapsed();
    // An unsolicited pong is allowed (RFC 6455 section 5.5.3) and is a
    // sign of life.
    h.send(c, &crate::websocket::masked(0xA, b""));
    up_to(&mut h, c, heard + PING);
    assert_eq!(h.take(c), b"\x89\x08pushwire");
    // The pong answering the ping keeps it open.
    h.advance(Duration::from_secs(1));
    h.send(c, &crate::websocket::masked(0xA, b"pushwire"));
    let answered = h.elapsed();
    h.advance_to(answered + PING - TICK);
    assert!(!h.clients[c].closed);
    assert!(h.take(c).is_empty());
    h.advance_to(answered + PING);
    assert_eq!(h.take(c), b"\x89\x08pushwire");
    let frames = h.transcript(c).frames;
    assert!(frames.iter().all(|f| !matches!(f, WsEvent::Close { .. })));
}

#[test]
fn a_publish_waiting_for_its_commit_keeps_the_body_timeout_from_its_body() {
    // The store may take its time; the publisher waits for the answer for
    // a whole body timeout after its request was complete, whatever timer
    // ran before (here the idle timer, one tick from firing).
    let store = crate::store::Deferred::default();
    let mut h = Harness::with_store(config(), Box::new(store.clone()));
    let c = h.connect();
    h.advance(IDLE - TICK);
    h.send(
        c,
        b"POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    );
    let sent = h.elapsed();
    h.advance_to(sent + BODY - TICK);
    assert!(!h.clients[c].closed, "closed while the store decides");
    store.decide();
    h.commits();
    assert_eq!(h.last_response(c).text(), r#"{"id":1}"#);
    // A store that never answers: the connection is dropped at the body
    // timeout (the message, if it is ever committed, is still published).
    let c = h.connect();
    h.send(
        c,
        b"POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi",
    );
    let sent = h.elapsed();
    up_to(&mut h, c, sent + BODY);
    assert!(h.clients[c].closed);
    assert!(h.take(c).is_empty());
}

#[test]
fn a_refusal_the_client_never_reads_is_dropped_at_the_idle_tick() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.set_window(c, 0);
    h.send(c, b"GET / HTTP/1.1\r\n\r\n"); // no Host: 400, then close
    let refused = h.elapsed();
    assert!(!h.clients[c].shut_down, "the refusal is still queued");
    up_to(&mut h, c, refused + IDLE);
    assert!(h.clients[c].closed);
    h.read_all(c);
    assert!(h.take(c).is_empty(), "dropped with the socket");
}

#[test]
fn a_refusal_read_late_still_arrives_whole_then_the_connection_lingers() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.set_window(c, 0);
    h.send(c, b"GET / HTTP/1.1\r\n\r\n");
    h.advance(IDLE - TICK);
    h.read_all(c);
    assert_eq!(h.last_response(c).status, 400);
    assert!(h.clients[c].shut_down && !h.clients[c].closed);
    let shut = h.elapsed();
    up_to(&mut h, c, shut + LINGER);
    assert!(h.clients[c].closed);
}

#[test]
fn a_chunked_body_dribbling_in_does_not_extend_the_body_timeout() {
    let mut h = Harness::new(config());
    let c = h.connect();
    h.send(
        c,
        b"POST /pub/a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let head_done = h.elapsed();
    for piece in [&b"5\r\n"[..], b"he", b"llo\r\n", b"1\r\n!\r\n"] {
        h.ticks(100);
        h.send(c, piece);
    }
    up_to(&mut h, c, head_done + BODY);
    assert_eq!(h.last_response(c).status, 408);
    assert_eq!(h.get("/pub/a").status, 404);
}

#[test]
fn a_websocket_message_that_never_ends_is_closed_with_1008_at_its_deadline() {
    let mut h = Harness::new(Config {
        message_timeout: Duration::from_secs(4),
        ..config()
    });
    let c = h.connect();
    h.send(c, crate::websocket::UPGRADE_ECHO.as_bytes());
    h.take(c);
    let started = h.elapsed();
    h.send(c, &crate::websocket::fragment(false, 0x1, b"a"));
    // A fragment every second: the peer is never silent, the message
    // never ends.
    for _ in 0..3 {
        h.advance(Duration::from_secs(1));
        h.send(c, &crate::websocket::fragment(false, 0x0, b"b"));
    }
    up_to(&mut h, c, started + Duration::from_secs(4));
    let frames = h.transcript(c).frames;
    assert!(
        matches!(
            frames.as_slice(),
            [WsEvent::Close { code: Some(1008), reason }] if reason == "message took too long"
        ),
        "{frames:?}"
    );
    assert!(h.clients[c].shut_down);
}
