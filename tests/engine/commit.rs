//! Publish is a commit: with a store that answers later, nothing is
//! delivered and no publisher answered before the commit; afterwards in id
//! order; a failed commit gives `503` (close 1011 on a WebSocket, an error
//! to the embedder) and delivers nothing.

use pushwire::engine::{PublishError, StoreError};
use pushwire::ws::{close, WsEvent};
use pushwire::Config;

use crate::harness::Harness;
use crate::store::Deferred;
use crate::websocket::{masked, texts, upgrade};

fn deferred() -> (Harness, Deferred) {
    let store = Deferred::default();
    let h = Harness::with_store(Config::default(), Box::new(store.clone()));
    (h, store)
}

const POST: &str = "POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn nothing_is_delivered_or_answered_before_the_commit() {
    let (mut h, store) = deferred();
    let sse = h.connect();
    h.send(sse, b"GET /sse/a HTTP/1.1\r\nHost: h\r\n\r\n");
    let parked = h.connect();
    h.send(parked, b"GET /longpoll/a HTTP/1.1\r\nHost: h\r\n\r\n");
    h.take(sse);
    let publisher = h.connect();
    h.send(publisher, POST.as_bytes());
    assert_eq!(store.waiting(), 1);
    assert_eq!(h.engine.appends_in_flight(), 1);
    assert!(
        h.take(publisher).is_empty(),
        "not answered before the commit"
    );
    assert!(h.take(sse).is_empty() && h.take(parked).is_empty());
    assert_eq!(h.get("/poll/a").text(), r#"{"last_id":0,"messages":[]}"#);
    store.decide();
    h.commits();
    let answer = h.last_response(publisher);
    assert_eq!((answer.status, answer.text()), (202, r#"{"id":1}"#));
    assert!(h.take_text(sse).contains("id: 1\ndata: hello\n\n"));
    assert_eq!(
        h.last_response(parked).text(),
        r#"{"last_id":1,"messages":[{"id":1,"data":"hello"}]}"#
    );
    assert_eq!(h.engine.appends_in_flight(), 0);
}

#[test]
fn many_appends_committed_at_once_reach_subscribers_in_id_order() {
    let (mut h, store) = deferred();
    let ws = h.connect();
    h.request(
        ws,
        &upgrade("/ws/a", "Sec-WebSocket-Protocol: pushwire.json\r\n"),
    );
    let mut publishers = Vec::new();
    for i in 0..4 {
        let c = h.connect();
        let body = format!("m{i}");
        h.send(
            c,
            format!("POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{body}")
                .as_bytes(),
        );
        publishers.push(c);
    }
    h.send(ws, &masked(0x1, b"m4"));
    assert_eq!(store.waiting(), 5);
    assert_eq!(store.decide(), 5);
    h.commits();
    let frames = texts(&h, ws);
    let expected: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"id":{},"data":"m{i}"}}"#, i + 1))
        .collect();
    assert_eq!(frames, expected);
    for (i, &c) in publishers.iter().enumerate() {
        assert_eq!(h.last_response(c).text(), format!(r#"{{"id":{}}}"#, i + 1));
    }
}

#[test]
fn a_failed_commit_gives_the_publisher_503_and_delivers_nothing() {
    let (mut h, store) = deferred();
    store.fail_when("hello");
    let sse = h.connect();
    h.send(sse, b"GET /sse/a HTTP/1.1\r\nHost: h\r\n\r\n");
    h.take(sse);
    let c = h.connect();
    h.send(c, POST.as_bytes());
    store.decide();
    h.commits();
    let answer = h.last_response(c);
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.text(),
        "the message was not stored: the test store refused it\n"
    );
    assert!(h.take(sse).is_empty());
    assert_eq!(h.get("/poll/a").text(), r#"{"last_id":0,"messages":[]}"#);
    // The connection goes on: the next publish works.
    h.send(
        c,
        b"POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok",
    );
    store.decide();
    h.commits();
    assert_eq!(h.last_response(c).text(), r#"{"id":1}"#);
}

#[test]
fn a_failed_commit_closes_a_websocket_publisher_with_1011() {
    let (mut h, store) = deferred();
    store.fail_when("lost");
    let ws = h.connect();
    h.request(ws, &upgrade("/ws/a", ""));
    let other = h.connect();
    h.request(other, &upgrade("/ws/a", ""));
    h.send(ws, &masked(0x1, b"lost"));
    store.decide();
    h.commits();
    let frames = h.transcript(ws).frames;
    assert!(
        matches!(frames.as_slice(), [WsEvent::Close { code, .. }] if *code == Some(close::INTERNAL)),
        "{frames:?}"
    );
    assert!(h.transcript(other).frames.is_empty());
}

#[test]
fn an_embedders_publish_is_answered_with_the_id_once_committed() {
    let (mut h, store) = deferred();
    store.fail_when("no");
    assert_eq!(h.publish("a", "yes"), None, "not decided yet");
    assert_eq!(h.publish("a", "no"), None);
    store.decide();
    h.commits();
    assert_eq!(h.outcome(0), Some(Ok(1)));
    assert_eq!(
        h.outcome(1),
        Some(Err(PublishError::NotStored(StoreError::new(
            "the test store refused it"
        ))))
    );
    assert_eq!(
        h.publish("bad name", "x"),
        Some(Err(PublishError::InvalidChannel))
    );
}

#[test]
fn requests_pipelined_behind_a_publish_wait_for_its_commit() {
    let (mut h, store) = deferred();
    let c = h.connect();
    h.send(
        c,
        format!("{POST}GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
    );
    assert!(h.take(c).is_empty());
    assert!(h.engine.buffered_input(h.clients[c].id) > 0);
    store.decide();
    h.commits();
    let responses = h.responses(c);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].text(), r#"{"id":1}"#);
    // The poll, answered after the commit, sees the message.
    assert_eq!(
        responses[1].text(),
        r#"{"last_id":1,"messages":[{"id":1,"data":"hello"}]}"#
    );
}

#[test]
fn a_publisher_that_leaves_before_the_commit_still_publishes() {
    let (mut h, store) = deferred();
    let sub = h.connect();
    h.request(sub, &upgrade("/ws/a", ""));
    let c = h.connect();
    h.send(c, POST.as_bytes());
    h.reset(c);
    // A new connection may get the old one's id; the answer is not its.
    let newcomer = h.connect();
    store.decide();
    h.commits();
    assert!(h.take(newcomer).is_empty());
    assert!(matches!(
        h.transcript(sub).frames.as_slice(),
        [WsEvent::Text(t)] if t == "hello"
    ));
}

#[test]
fn a_half_closed_publisher_gets_its_answer_then_the_connection_closes() {
    let (mut h, store) = deferred();
    let c = h.connect();
    h.send(c, POST.as_bytes());
    h.send_eof(c);
    assert!(!h.clients[c].closed);
    store.decide();
    h.commits();
    assert_eq!(h.last_response(c).text(), r#"{"id":1}"#);
    assert!(h.clients[c].closed);
}

#[test]
fn input_behind_a_publish_waits_unread_until_the_commit() {
    let (mut h, store) = deferred();
    let c = h.connect();
    let id = h.clients[c].id;
    h.send(c, POST.as_bytes());
    // While the publish waits, the connection is not read: what the
    // client sends next stays in its socket, not in pushwire.
    h.send(c, &vec![b'x'; 2 * 8192 + 1]);
    assert!(!h.engine.wants_input(id));
    assert_eq!(h.engine.buffered_input(id), 0);
    assert!(!h.clients[c].closed);
    store.decide();
    h.commits();
    // Then the answer, and the garbage behind it is read: a request line
    // too long.
    let answers = h.responses(c);
    assert_eq!(answers[0].text(), r#"{"id":1}"#);
    assert_eq!(answers[1].status, 414);
    assert!(h.clients[c].shut_down);
    assert_eq!(
        h.get("/poll/a").text(),
        r#"{"last_id":1,"messages":[{"id":1,"data":"hello"}]}"#
    );
}

#[test]
fn a_websocket_publisher_is_not_read_past_its_limit_of_unstored_publishes() {
    let limit = 16;
    let store = Deferred::default();
    let config = Config {
        max_unstored_publishes: limit,
        ..Config::default()
    };
    let mut h = Harness::with_store(config, Box::new(store.clone()));
    let ws = h.connect();
    h.request(
        ws,
        &upgrade("/ws/a", "Sec-WebSocket-Protocol: pushwire.json\r\n"),
    );
    let frames: Vec<u8> = (0..limit + 36)
        .flat_map(|i| masked(0x1, format!("m{i}").as_bytes()))
        .collect();
    h.send(ws, &frames);
    assert_eq!(store.waiting(), limit, "no more than the limit undecided");
    let id = h.clients[ws].id;
    assert!(!h.engine.wants_input(id), "the reactor stops reading it");
    assert!(h.engine.buffered_input(id) > 0);
    // Each decision lets the next batch in, never more than the limit.
    let mut rounds = 0;
    while store.waiting() > 0 {
        assert!(store.waiting() <= limit);
        store.decide();
        h.commits();
        rounds += 1;
    }
    assert_eq!(rounds, 4, "16 + 16 + 16 + 4");
    assert!(h.engine.wants_input(id));
    let texts = texts(&h, ws);
    let expected: Vec<String> = (0..limit + 36)
        .map(|i| format!(r#"{{"id":{},"data":"m{i}"}}"#, i + 1))
        .collect();
    assert_eq!(texts, expected, "every message, once, in order");
}
