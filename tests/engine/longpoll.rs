//! Long-polling at the engine's layer: answered at once when there is
//! news, parked until a publish otherwise (every parked request getting
//! the same bytes), `since` omitted, gaps, clients that leave while
//! parked, keep-alive, requests pipelined behind a parked one and the
//! bound on them. (The deadline itself is in `deadlines.rs`.)

use std::time::Duration;

use pushwire::Config;

use crate::harness::{each_store, get_request, Harness};
use crate::http::{json_answer, subscribers};

fn get(target: &str) -> String {
    get_request(target, "")
}

#[test]
fn something_newer_than_since_is_answered_at_once() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        h.publish("now", "a").unwrap().unwrap();
        h.publish("now", "b").unwrap().unwrap();
        let c = h.connect();
        h.send(c, get("/longpoll/now?since=1&timeout=20").as_bytes());
        assert_eq!(
            h.take_text(c),
            json_answer(r#"{"last_id":2,"messages":[{"id":2,"data":"b"}]}"#)
        );
        h.send(c, get("/longpoll/now?since=0").as_bytes());
        assert_eq!(
            h.take_text(c),
            json_answer(r#"{"last_id":2,"messages":[{"id":1,"data":"a"},{"id":2,"data":"b"}]}"#)
        );
        // A timeout of zero never parks: nothing new is said at once.
        h.send(c, get("/longpoll/now?since=2&timeout=0").as_bytes());
        assert_eq!(
            h.take_text(c),
            json_answer(r#"{"last_id":2,"messages":[]}"#)
        );
        assert!(h.info("now").ends_with(&subscribers(0, 0, 0)));
    });
}

#[test]
fn without_since_only_what_is_published_from_now_on_answers() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        h.publish("now", "a").unwrap().unwrap();
        h.publish("now", "b").unwrap().unwrap();
        let c = h.connect();
        h.send(c, get("/longpoll/now?timeout=20").as_bytes());
        assert!(h.take(c).is_empty(), "parked");
        h.publish("now", "c").unwrap().unwrap();
        assert_eq!(
            h.take_text(c),
            json_answer(r#"{"last_id":3,"messages":[{"id":3,"data":"c"}]}"#)
        );
    });
}

#[test]
fn a_parked_long_poll_is_answered_by_a_publish_and_leaves_the_channel() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        h.send(c, get("/longpoll/lp?since=0&timeout=20").as_bytes());
        assert!(h.take(c).is_empty());
        assert_eq!(
            h.info("lp"),
            format!(r#"{{"last_id":0,"history":0,{}"#, subscribers(0, 0, 1))
        );
        // Time passes short of the deadline: still parked, still silent.
        h.advance(Duration::from_secs(19));
        assert!(h.take(c).is_empty());
        assert_eq!(h.post("lp", "news").text(), r#"{"id":1}"#);
        let answer = h.take_text(c);
        assert_eq!(
            answer,
            json_answer(r#"{"last_id":1,"messages":[{"id":1,"data":"news"}]}"#)
                .replace("00:00:00", "00:00:19")
        );
        assert_eq!(
            h.info("lp"),
            format!(r#"{{"last_id":1,"history":1,{}"#, subscribers(0, 0, 0))
        );
        // Keep-alive: the deadline it had is gone, the idle timer runs.
        h.advance(Duration::from_secs(1));
        assert!(h.take(c).is_empty());
        assert!(!h.clients[c].closed);
    });
}

#[test]
fn every_parked_long_poll_gets_the_same_bytes_from_one_publish() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let parked: Vec<usize> = (0..1000)
            .map(|_| {
                let c = h.connect();
                h.send(c, get("/longpoll/many?timeout=60").as_bytes());
                c
            })
            .collect();
        assert!(h.info("many").ends_with(&subscribers(0, 0, 1000)));
        h.publish("many", "to all").unwrap().unwrap();
        let expected = json_answer(r#"{"last_id":1,"messages":[{"id":1,"data":"to all"}]}"#);
        for c in parked {
            assert_eq!(h.take_text(c), expected, "client {c}");
        }
        assert!(h.info("many").ends_with(&subscribers(0, 0, 0)));
    });
}

#[test]
fn parked_long_polls_of_another_shape_get_answers_of_their_own() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let plain = h.connect();
        h.send(plain, get("/longpoll/a").as_bytes());
        let old = h.connect();
        h.send(
            old,
            b"GET /longpoll/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        );
        let closing = h.connect();
        h.send(closing, b"GET /longpoll/a HTTP/1.0\r\n\r\n");
        let head = h.connect();
        h.send(head, b"HEAD /longpoll/a HTTP/1.1\r\nHost: h\r\n\r\n");
        h.publish("a", "m").unwrap().unwrap();
        let expected = json_answer(r#"{"last_id":1,"messages":[{"id":1,"data":"m"}]}"#);
        assert_eq!(h.take_text(plain), expected);
        assert_eq!(
            h.take_text(old),
            expected.replace("\r\n\r\n", "\r\nConnection: keep-alive\r\n\r\n")
        );
        assert!(!h.clients[old].shut_down);
        assert_eq!(
            h.take_text(closing),
            expected.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
        );
        assert!(h.clients[closing].shut_down);
        let head_only = h.take_text(head);
        assert_eq!(
            head_only,
            expected[..expected.find("\r\n\r\n").unwrap() + 4]
        );
    });
}

#[test]
fn a_long_poll_from_before_history_is_answered_at_once_with_the_gap() {
    each_store(|| {
        let mut h = Harness::new(Config {
            history: 3,
            ..Config::default()
        });
        for i in 1..=6 {
            h.publish("g", &format!("m{i}")).unwrap().unwrap();
        }
        let c = h.connect();
        h.send(c, get("/longpoll/g?since=1").as_bytes());
        assert_eq!(
            h.take_text(c),
            json_answer(
                r#"{"last_id":6,"gap":true,"messages":[{"id":4,"data":"m4"},{"id":5,"data":"m5"},{"id":6,"data":"m6"}]}"#
            )
        );
        // Caught up: the next one parks.
        h.send(c, get("/longpoll/g?since=6").as_bytes());
        assert!(h.take(c).is_empty());
        h.publish("g", "m7").unwrap().unwrap();
        assert_eq!(
            h.take_text(c),
            json_answer(r#"{"last_id":7,"messages":[{"id":7,"data":"m7"}]}"#)
        );
    });
}

#[test]
fn a_client_that_disconnects_while_parked_leaves_the_channel_at_once() {
    let mut h = Harness::new(Config::default());
    let clients: Vec<usize> = (0..3)
        .map(|_| {
            let c = h.connect();
            h.send(c, get("/longpoll/gone?timeout=60").as_bytes());
            c
        })
        .collect();
    assert!(h.info("gone").ends_with(&subscribers(0, 0, 3)));
    // A reset.
    h.reset(clients[0]);
    assert!(h.info("gone").ends_with(&subscribers(0, 0, 2)));
    // A half-close: a parked request has nothing to finish, it is dropped.
    h.send_eof(clients[1]);
    assert!(h.clients[clients[1]].closed);
    assert!(h.take(clients[1]).is_empty());
    assert!(h.info("gone").ends_with(&subscribers(0, 0, 1)));
    // The last one gone and no message ever published: the channel too.
    h.reset(clients[2]);
    assert_eq!(h.info("gone"), "no such channel\n");
    assert!(h.engine.broker().is_empty());
}

#[test]
fn requests_pipelined_behind_a_parked_long_poll_wait_and_then_run() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        let poll = get("/poll/k");
        h.send(
            c,
            format!("{}{poll}", get("/longpoll/k?timeout=20")).as_bytes(),
        );
        assert!(h.take(c).is_empty(), "the poll waits behind the long-poll");
        assert_eq!(h.engine.buffered_input(h.clients[c].id), poll.len());
        h.publish("k", "one").unwrap().unwrap();
        let one = r#"{"last_id":1,"messages":[{"id":1,"data":"one"}]}"#;
        assert_eq!(h.take_text(c), json_answer(one).repeat(2));
        assert_eq!(h.engine.buffered_input(h.clients[c].id), 0);
        // The next long-poll rides the same connection; behind it, one
        // answered by its deadline.
        h.send(
            c,
            format!(
                "{}{}{poll}",
                get("/longpoll/k?since=1&timeout=20"),
                get("/longpoll/k?since=2&timeout=1")
            )
            .as_bytes(),
        );
        assert!(h.info("k").ends_with(&subscribers(0, 0, 1)));
        h.publish("k", "two").unwrap().unwrap();
        let two = r#"{"last_id":2,"messages":[{"id":2,"data":"two"}]}"#;
        assert_eq!(h.take_text(c), json_answer(two));
        h.advance(Duration::from_secs(1));
        let all = r#"{"last_id":2,"messages":[{"id":1,"data":"one"},{"id":2,"data":"two"}]}"#;
        assert_eq!(
            h.take_text(c),
            [
                json_answer(r#"{"last_id":2,"messages":[]}"#),
                json_answer(all),
            ]
            .concat()
            .replace("00:00:00", "00:00:01")
        );
    });
}

#[test]
fn input_held_behind_a_parked_long_poll_is_bounded_to_twice_max_header_bytes() {
    let mut h = Harness::new(Config {
        max_header_bytes: 1024,
        ..Config::default()
    });
    let c = h.connect();
    h.send(c, get("/longpoll/held?timeout=30").as_bytes());
    // 2,048 bytes in eight reads are held.
    for _ in 0..8 {
        h.send(c, &[b'x'; 256]);
    }
    assert_eq!(h.engine.buffered_input(h.clients[c].id), 2048);
    assert!(!h.clients[c].closed);
    assert!(h.info("held").ends_with(&subscribers(0, 0, 1)));
    // One byte more and the connection is closed, without an answer.
    h.send(c, b"x");
    assert!(h.clients[c].closed);
    assert!(h.take(c).is_empty());
    assert_eq!(h.info("held"), "no such channel\n");
}

#[test]
fn two_messages_committed_together_reach_a_parked_poll_over_two_answers() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        h.send(c, get("/longpoll/a?since=0").as_bytes());
        // Two publishes in one pass: with the store that commits later,
        // both commits come together.
        for (token, data) in [(100, "one"), (101, "two")] {
            let now = h.now;
            h.engine
                .handle_publish("a", data.into(), token, now)
                .unwrap();
        }
        h.pass();
        assert_eq!((h.outcome(100), h.outcome(101)), (Some(Ok(1)), Some(Ok(2))));
        // The parked request got the first; asking again gets the rest.
        assert_eq!(
            h.take_text(c),
            json_answer(r#"{"last_id":1,"messages":[{"id":1,"data":"one"}]}"#)
        );
        h.send(c, get("/longpoll/a?since=1").as_bytes());
        assert_eq!(
            h.take_text(c),
            json_answer(r#"{"last_id":2,"messages":[{"id":2,"data":"two"}]}"#)
        );
    });
}
