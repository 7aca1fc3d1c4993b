//! Messages leave history by age (`history_ttl`), asserted to the tick:
//! a message is there one tick before its ttl and gone at it; a client
//! that resumes from before a message that left is told `gap` on every
//! transport, as for eviction by count; a channel left with no message
//! and no subscriber is forgotten, and never gives an id twice.

use std::time::Duration;

use pushwire::engine::TICK;
use pushwire::Config;

use crate::harness::{each_store, get_request, Harness};
use crate::websocket::{texts, upgrade};

const TTL: Duration = Duration::from_secs(2);

/// The `pushwire.json` subprotocol, whose clients are told gaps.
const JSON: &str = "Sec-WebSocket-Protocol: pushwire.json\r\n";

fn config() -> Config {
    Config {
        history_ttl: Some(TTL),
        ..Config::default()
    }
}

/// `/poll/{channel}?since={since}`'s body.
fn poll(h: &mut Harness, channel: &str, since: u64) -> String {
    h.get(&format!("/poll/{channel}?since={since}"))
        .text()
        .to_owned()
}

/// Opens a stream or WebSocket subscriber on `target`; returns the client.
fn subscribe(h: &mut Harness, target: &str, headers: &str) -> usize {
    let c = h.connect();
    let request = match target.starts_with("/ws/") {
        true => upgrade(target, headers),
        false => get_request(target, headers),
    };
    h.send(c, request.as_bytes());
    c
}

#[test]
fn a_message_leaves_history_at_its_ttl_to_the_tick_and_not_before() {
    each_store(|| {
        let mut h = Harness::new(config());
        h.ticks(10);
        let first = h.elapsed();
        assert_eq!(h.publish("e", "m1").unwrap().unwrap(), 1);
        h.ticks(100);
        let second = h.elapsed();
        assert_eq!(h.publish("e", "m2").unwrap().unwrap(), 2);
        h.advance_to(first + TTL - TICK);
        assert_eq!(h.engine.oldest_in_history("e"), Some(1));
        assert_eq!(
            poll(&mut h, "e", 0),
            r#"{"last_id":2,"messages":[{"id":1,"data":"m1"},{"id":2,"data":"m2"}]}"#
        );
        h.advance_to(first + TTL);
        assert_eq!(h.engine.oldest_in_history("e"), Some(2));
        assert_eq!(
            poll(&mut h, "e", 0),
            r#"{"last_id":2,"gap":true,"messages":[{"id":2,"data":"m2"}]}"#
        );
        // Published between two ticks: gone at most a tick after its ttl.
        h.advance(Duration::from_micros(1500));
        let third = h.elapsed();
        assert_eq!(h.publish("e", "m3").unwrap().unwrap(), 3);
        h.advance_to(second + TTL - TICK);
        assert_eq!(h.engine.oldest_in_history("e"), Some(2));
        h.advance_to(second + TTL);
        assert_eq!(h.engine.oldest_in_history("e"), Some(3));
        h.advance_to(third + TTL - Duration::from_micros(1));
        assert_eq!(h.engine.oldest_in_history("e"), Some(3));
        h.advance_to(third + TTL + TICK);
        assert_eq!(h.engine.oldest_in_history("e"), None);
    });
}

#[test]
fn a_resume_from_before_an_expired_message_is_told_gap_on_every_transport() {
    each_store(|| {
        let mut h = Harness::new(config());
        h.publish("g", "m1").unwrap().unwrap();
        h.advance(Duration::from_secs(1));
        h.publish("g", "m2").unwrap().unwrap();
        h.advance_to(TTL);
        let gap = r#"{"last_id":2,"gap":true,"messages":[{"id":2,"data":"m2"}]}"#;
        assert_eq!(poll(&mut h, "g", 0), gap);
        assert_eq!(h.get("/longpoll/g?since=0").text(), gap, "answered at once");
        let sse = subscribe(&mut h, "/sse/g", "Last-Event-ID: 0\r\n");
        assert_eq!(
            h.last_response(sse).text(),
            "retry: 2000\n\nevent: gap\ndata: {\"since\":0,\"oldest\":2}\n\nid: 2\ndata: m2\n\n"
        );
        let ws = subscribe(&mut h, "/ws/g?since=0", JSON);
        assert_eq!(
            texts(&h, ws),
            [
                r#"{"gap":true,"since":0,"oldest":2}"#,
                r#"{"id":2,"data":"m2"}"#
            ]
        );
        // From the id of the expired message: nothing missed.
        assert_eq!(
            poll(&mut h, "g", 1),
            r#"{"last_id":2,"messages":[{"id":2,"data":"m2"}]}"#
        );
        // The last message goes too; the subscribers keep the channel.
        h.advance_to(Duration::from_secs(1) + TTL);
        assert_eq!(h.engine.oldest_in_history("g"), None);
        assert_eq!(
            poll(&mut h, "g", 1),
            r#"{"last_id":2,"gap":true,"messages":[]}"#
        );
        assert_eq!(poll(&mut h, "g", 2), r#"{"last_id":2,"messages":[]}"#);
        let ws = subscribe(&mut h, "/ws/g?since=1", JSON);
        assert_eq!(texts(&h, ws), [r#"{"gap":true,"since":1,"oldest":3}"#]);
    });
}

#[test]
fn a_resume_on_a_channel_forgotten_after_its_messages_expired_is_never_silent() {
    each_store(|| {
        let mut h = Harness::new(config());
        h.publish("f", "m1").unwrap().unwrap();
        h.publish("f", "m2").unwrap().unwrap();
        h.advance_to(TTL);
        assert_eq!(h.get("/pub/f").status, 404, "forgotten");
        // A client that saw 1 missed 2: told so on every transport.
        let gap = r#"{"last_id":2,"gap":true,"messages":[]}"#;
        assert_eq!(poll(&mut h, "f", 1), gap);
        assert_eq!(h.get("/longpoll/f?since=1").text(), gap, "answered at once");
        let sse = subscribe(&mut h, "/sse/f", "Last-Event-ID: 1\r\n");
        let ws = subscribe(&mut h, "/ws/f?since=1", JSON);
        // A client that saw 2 missed nothing: it waits for what comes.
        assert_eq!(poll(&mut h, "f", 2), r#"{"last_id":2,"messages":[]}"#);
        let parked = h.connect();
        h.send(parked, get_request("/longpoll/f?since=2", "").as_bytes());
        assert!(h.take(parked).is_empty(), "parked");
        // Made anew by its subscribers, the channel gives ids above 2.
        assert_eq!(h.publish("f", "m3").unwrap().unwrap(), 3);
        assert_eq!(
            h.last_response(parked).text(),
            r#"{"last_id":3,"messages":[{"id":3,"data":"m3"}]}"#
        );
        assert_eq!(
            h.last_response(sse).text(),
            "retry: 2000\n\nevent: gap\ndata: {\"since\":1,\"oldest\":3}\n\nid: 3\ndata: m3\n\n"
        );
        assert_eq!(
            texts(&h, ws),
            [
                r#"{"gap":true,"since":1,"oldest":3}"#,
                r#"{"id":3,"data":"m3"}"#
            ]
        );
    });
}

#[test]
fn a_channel_with_subscribers_is_kept_when_its_messages_expire_and_goes_with_the_last() {
    each_store(|| {
        let mut h = Harness::new(config());
        let sse = subscribe(&mut h, "/sse/k", "");
        let ws = subscribe(&mut h, "/ws/k", "");
        h.publish("k", "m1").unwrap().unwrap();
        h.advance_to(TTL);
        assert_eq!(
            h.get("/pub/k").text(),
            format!(
                r#"{{"last_id":1,"history":0,{}"#,
                crate::http::subscribers(1, 1, 0)
            )
        );
        h.reset(sse);
        assert_eq!(h.get("/pub/k").status, 200, "the WebSocket keeps it");
        h.reset(ws);
        assert_eq!(h.get("/pub/k").status, 404);
        assert_eq!(h.engine.broker().len(), 0);
        assert_eq!(poll(&mut h, "k", 1), r#"{"last_id":1,"messages":[]}"#);
    });
}

#[test]
fn an_idle_channel_whose_last_message_expired_is_freed_and_ids_go_on_above_it() {
    each_store(|| {
        let mut h = Harness::new(config());
        for i in 1..=3 {
            h.publish("i", &format!("m{i}")).unwrap().unwrap();
        }
        h.advance_to(TTL - TICK);
        assert_eq!(h.engine.broker().len(), 1);
        h.advance_to(TTL);
        assert_eq!(h.engine.broker().len(), 0);
        assert_eq!(h.engine.broker().stored(), (0, 0));
        assert_eq!(h.engine.oldest_in_history("i"), None);
        assert_eq!(h.get("/pub/i").status, 404);
        assert_eq!(h.publish("i", "again").unwrap().unwrap(), 4);
        // A channel made from now on starts above every id given.
        assert_eq!(h.publish("j", "new").unwrap().unwrap(), 4);
        assert_eq!(
            poll(&mut h, "i", 0),
            r#"{"last_id":4,"messages":[{"id":4,"data":"again"}]}"#
        );
    });
}

#[test]
fn with_no_ttl_messages_stay_in_history_forever() {
    for history_ttl in [None, Some(Duration::ZERO)] {
        let mut h = Harness::new(Config {
            history_ttl,
            ..Config::default()
        });
        h.publish("forever", "m1").unwrap().unwrap();
        h.advance(Duration::from_secs(400 * 24 * 3600));
        assert_eq!(h.engine.oldest_in_history("forever"), Some(1));
        assert_eq!(
            poll(&mut h, "forever", 0),
            r#"{"last_id":1,"messages":[{"id":1,"data":"m1"}]}"#
        );
    }
}

#[test]
fn a_poll_answer_kept_for_a_forgotten_channel_is_not_given_for_the_channel_made_anew() {
    // All within the first second: kept answers last until the `Date`
    // changes.
    let mut h = Harness::new(Config {
        history_ttl: Some(Duration::from_millis(100)),
        ..Config::default()
    });
    let sse = subscribe(&mut h, "/sse/r", "");
    h.publish("r", "m1").unwrap().unwrap();
    h.advance(Duration::from_millis(100));
    // Kept by its subscriber, with nothing left from its start: gap.
    let gap = r#"{"last_id":1,"gap":true,"messages":[]}"#;
    assert_eq!(poll(&mut h, "r", 0), gap);
    assert_eq!(poll(&mut h, "r", 0), gap);
    let id = h.engine.broker().find("r");
    h.reset(sse);
    assert_eq!(h.engine.broker().len(), 0);
    // Made anew under the same id, it starts at 1: nothing lost since.
    subscribe(&mut h, "/sse/r", "");
    assert_eq!(h.engine.broker().find("r"), id);
    assert_eq!(poll(&mut h, "r", 0), r#"{"last_id":1,"messages":[]}"#);
    assert!(h.elapsed() < Duration::from_secs(1));
}
