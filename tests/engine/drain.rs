//! The graceful drain at the engine's layer, in virtual time: each
//! transport's clean end on the wire, the retry jitter drawn from the seed
//! and the connection, a publish in flight committed and answered with
//! `Connection: close`, and `is_drained` once the last connection is gone.

use std::time::Duration;

use pushwire::engine::drain_retry_ms;
use pushwire::sse::{EventStreamParser, SseItem};
use pushwire::ws::{close, WsEvent};
use pushwire::Config;

use crate::harness::{get_request, publish_request, Harness};
use crate::store::Deferred;
use crate::websocket::{texts, upgrade};

const SEED: u64 = 0x5eed;

/// The Close frame a WebSocket client read: code and reason.
fn close_frame(h: &Harness, c: usize) -> Option<(Option<u16>, String)> {
    h.transcript(c).frames.into_iter().find_map(|f| match f {
        WsEvent::Close { code, reason } => Some((code, reason)),
        _ => None,
    })
}

fn drain(h: &mut Harness) {
    let now = h.now;
    h.engine.handle_drain(now, SEED);
    h.pass();
}

#[test]
fn a_drain_ends_each_transport_cleanly_with_where_to_resume() {
    let mut h = Harness::new(Config::default());
    let idle = h.connect();
    assert_eq!(h.get_on(idle, "/poll/a").status, 200);
    let parked = h.connect();
    h.send(parked, get_request("/longpoll/a?timeout=30", "").as_bytes());
    let stream = h.connect();
    h.send(stream, get_request("/sse/a", "").as_bytes());
    let json = h.connect();
    let r = h.request(
        json,
        &upgrade("/ws/a", "Sec-WebSocket-Protocol: pushwire.json\r\n"),
    );
    assert_eq!(r.status, 101);
    let plain = h.connect();
    assert_eq!(h.request(plain, &upgrade("/ws/a", "")).status, 101);
    // A message the long-poll takes (it parks again on its next request:
    // it has nothing when the drain comes) and the others queue.
    let last = h.publish("a", "m1").unwrap().unwrap();
    h.send(
        parked,
        get_request(&format!("/longpoll/a?since={last}&timeout=30"), "").as_bytes(),
    );
    let before: Vec<usize> = [idle, parked, stream, json, plain]
        .iter()
        .map(|&c| h.take(c).len())
        .collect();
    assert!(before.iter().skip(1).all(|&n| n > 0), "{before:?}");
    assert!(!h.engine.is_draining());
    drain(&mut h);
    assert!(h.engine.is_draining() && !h.engine.is_drained());

    // Keep-alive between requests: FIN, no bytes.
    assert!(h.take(idle).is_empty());
    assert!(h.clients[idle].shut_down);

    // The long-poll: answered at once, Retry-After the jittered delay.
    let id = |h: &Harness, c: usize| h.clients[c].id;
    let answer = h.last_response(parked);
    assert_eq!(answer.status, 200);
    let retry = drain_retry_ms(SEED, id(&h, parked), 2000);
    assert_eq!(
        answer.header("retry-after"),
        Some(retry.div_ceil(1000).to_string().as_str())
    );
    assert_eq!(answer.header("connection"), Some("close"));
    assert_eq!(
        String::from_utf8(answer.body).unwrap(),
        format!(r#"{{"last_id":{last},"messages":[]}}"#)
    );
    assert!(h.clients[parked].shut_down);

    // The stream: retry: with its own jitter, then the last chunk.
    let retry = drain_retry_ms(SEED, id(&h, stream), 2000);
    assert!((2000..=4000).contains(&retry));
    let body = h.last_response(stream);
    assert!(body.complete, "the last chunk");
    let mut items = Vec::new();
    EventStreamParser::new(1 << 20)
        .feed(&body.body, &mut items)
        .unwrap();
    assert_eq!(items.last(), Some(&SseItem::Retry(retry)));
    assert!(h.clients[stream].shut_down);
    assert_ne!(
        drain_retry_ms(SEED, id(&h, parked), 2000),
        drain_retry_ms(SEED, id(&h, stream), 2000),
        "two connections, two delays"
    );

    // WebSockets: 1001; pushwire.json is told the last id it was sent.
    assert_eq!(
        close_frame(&h, json),
        Some((Some(close::GOING_AWAY), format!(r#"{{"last_id":{last}}}"#)))
    );
    assert_eq!(
        close_frame(&h, plain),
        Some((Some(close::GOING_AWAY), "server shutting down".into()))
    );

    // Each client closes when it reads the end; the WebSockets after
    // their Close, the rest linger at most --linger.
    for c in [json, plain] {
        h.send(c, &crate::websocket::masked(0x8, &[0x03, 0xe9]));
    }
    h.advance(Config::default().linger + Duration::from_millis(8));
    assert!(h.engine.is_drained(), "{} open", h.engine.connections());
}

#[test]
fn a_pushwire_json_websocket_is_sent_what_was_queued_before_its_close_and_told_the_newest_id() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    let r = h.request(
        c,
        &upgrade("/ws/q", "Sec-WebSocket-Protocol: pushwire.json\r\n"),
    );
    assert_eq!(r.status, 101);
    // The client stops reading: three messages wait in its queue.
    h.set_window(c, 0);
    let ids: Vec<u64> = (0..3)
        .map(|i| h.publish("q", &format!("m{i}")).unwrap().unwrap())
        .collect();
    drain(&mut h);
    h.read_all(c);
    assert_eq!(texts(&h, c).len(), 3);
    assert_eq!(
        close_frame(&h, c),
        Some((
            Some(close::GOING_AWAY),
            format!(r#"{{"last_id":{}}}"#, ids[2])
        ))
    );
}

#[test]
fn a_publish_in_flight_is_committed_and_answered_with_connection_close() {
    let store = Deferred::above(0);
    let mut h = Harness::with_store(Config::default(), Box::new(store.clone()));
    let publisher = h.connect();
    h.send(publisher, publish_request("p", "late").as_bytes());
    assert_eq!(store.waiting(), 1, "not committed yet");
    drain(&mut h);
    assert!(!h.clients[publisher].shut_down, "it waits for its answer");
    store.decide();
    h.commits();
    let answer = h.last_response(publisher);
    assert_eq!(answer.status, 202);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(h.clients[publisher].shut_down);
}

#[test]
fn requests_during_a_drain_are_answered_with_connection_close_and_new_streams_end_at_once() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    // Half a head when the drain comes.
    h.send(c, b"GET /poll/d HTTP/1.1\r\n");
    drain(&mut h);
    h.send(c, b"Host: h\r\n\r\n");
    let answer = h.last_response(c);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(h.clients[c].shut_down);
    // A driver that still accepts: a stream opened now ends at once.
    let s = h.connect();
    h.send(s, get_request("/sse/d", "").as_bytes());
    assert!(h.take(s).is_empty(), "closed before it could ask");
    assert!(h.clients[s].shut_down);
}
