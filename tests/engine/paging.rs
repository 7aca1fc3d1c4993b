//! Every answer is bounded: a poll or long-poll answer carries at most
//! `max_batch_bytes` and `max_batch_messages` of messages (at least one),
//! says `"more":true` when it stops short, and its `last_id` is where the
//! client continues. A client that follows `last_id` walks any backlog
//! in pages and gets every message once, in order.

use pushwire::json::parse_batch;
use pushwire::Config;

use crate::harness::{each_store, Harness};

fn config() -> Config {
    Config {
        history: 10_000,
        max_batch_bytes: 1000,
        max_batch_messages: 50,
        ..Config::default()
    }
}

/// Follows `last_id` from `since` until an answer says no more; returns
/// the ids read and how many answers it took.
fn walk(h: &mut Harness, endpoint: &str, since: u64) -> (Vec<u64>, usize) {
    let c = h.connect();
    let (mut ids, mut pages, mut since) = (Vec::new(), 0, since);
    loop {
        let answer = h.request(
            c,
            &format!("GET /{endpoint}/a?since={since}&timeout=0 HTTP/1.1\r\nHost: h\r\n\r\n"),
        );
        let batch = parse_batch(&answer.body).unwrap();
        pages += 1;
        assert!(answer.body.len() <= 1000 + 64, "a page is bounded");
        ids.extend(batch.messages.iter().map(|(id, _)| *id));
        if let Some(&(last, _)) = batch.messages.last() {
            assert_eq!(batch.last_id, last, "last_id is where to continue");
        }
        since = batch.last_id;
        if !batch.more {
            return (ids, pages);
        }
    }
}

#[test]
fn a_reader_that_follows_last_id_gets_every_message_once_in_order() {
    each_store(|| {
        let mut h = Harness::new(config());
        for i in 1..=500 {
            h.publish("a", &format!("message {i:04}")).unwrap().unwrap();
        }
        let item = r#"{"id":123,"data":"message 0123"},"#.len();
        for endpoint in ["poll", "longpoll"] {
            let (ids, pages) = walk(&mut h, endpoint, 0);
            assert_eq!(ids, (1..=500).collect::<Vec<u64>>(), "{endpoint}");
            // 1000 bytes hold 1000 / item messages a page.
            assert_eq!(pages, 500_usize.div_ceil(1000 / item), "{endpoint}");
            let (ids, _) = walk(&mut h, endpoint, 450);
            assert_eq!(ids, (451..=500).collect::<Vec<u64>>());
        }
    });
}

#[test]
fn the_message_count_bounds_a_page_too_and_a_short_answer_says_no_more() {
    let mut h = Harness::new(Config {
        max_batch_bytes: 1 << 20,
        ..config()
    });
    for i in 0..120 {
        h.publish("a", &i.to_string()).unwrap().unwrap();
    }
    let first = parse_batch(&h.get("/poll/a?since=0").body).unwrap();
    assert_eq!(
        (first.messages.len(), first.last_id, first.more),
        (50, 50, true)
    );
    let last = parse_batch(&h.get("/poll/a?since=100").body).unwrap();
    assert_eq!(
        (last.messages.len(), last.last_id, last.more),
        (20, 120, false)
    );
    assert!(!h.get("/poll/a?since=100").text().contains("more"));
}

#[test]
fn a_message_larger_than_a_page_still_comes_alone() {
    let mut h = Harness::new(config());
    let big = "b".repeat(5000);
    h.publish("a", &big).unwrap().unwrap();
    h.publish("a", "small").unwrap().unwrap();
    let first = parse_batch(&h.get("/poll/a?since=0").body).unwrap();
    assert_eq!(first.messages, [(1, big)]);
    assert!(first.more);
    let second = parse_batch(&h.get("/poll/a?since=1").body).unwrap();
    assert_eq!((second.messages.len(), second.more), (1, false));
}
