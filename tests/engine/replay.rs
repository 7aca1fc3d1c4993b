//! A resuming stream or WebSocket is replayed its backlog a page at a
//! time: it never holds more than half of `max_backlog_bytes` (plus one
//! message) of output, a reader gets the whole backlog on one connection,
//! in order, and what is published meanwhile comes after it.

use pushwire::Config;

use crate::harness::{each_store, get_request, Harness};
use crate::websocket::{texts, upgrade};

const BACKLOG: usize = 64 * 1024;
const PAGE: usize = BACKLOG / 2;

fn config() -> Config {
    Config {
        history: 5000,
        max_backlog_bytes: BACKLOG,
        ..Config::default()
    }
}

fn data(i: usize) -> String {
    format!("{i:04}{}", "x".repeat(996))
}

/// The ids of the SSE events in `body`, in order.
fn event_ids(body: &str) -> Vec<u64> {
    body.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect()
}

#[test]
fn a_stream_resuming_far_behind_holds_a_page_and_reads_everything_in_order() {
    each_store(|| {
        for http10 in [false, true] {
            let mut h = Harness::new(config());
            for i in 1..=2000 {
                h.publish("a", &data(i)).unwrap().unwrap();
            }
            let c = h.connect();
            h.set_window(c, 0);
            let request = match http10 {
                false => get_request("/sse/a", "Last-Event-ID: 0\r\n"),
                true => "GET /sse/a?since=0 HTTP/1.0\r\n\r\n".to_owned(),
            };
            h.send(c, request.as_bytes());
            let id = h.clients[c].id;
            // Two million bytes owed; one page held.
            assert!(
                h.engine.unsent(id) <= PAGE + 1100,
                "{}",
                h.engine.unsent(id)
            );
            // The client reads in small bites; published meanwhile: 2001.
            let mut read = 0;
            while read < 2_400_000 {
                h.set_window(c, 10_000);
                read += 10_000;
                assert!(h.engine.unsent(id) <= PAGE + 1100);
                if read == 1_000_000 {
                    h.publish("a", "late").unwrap().unwrap();
                }
            }
            h.read_all(c);
            let body = h.last_response(c).text().to_owned();
            let ids = event_ids(&body);
            assert_eq!(ids, (1..=2001).collect::<Vec<u64>>(), "http10 {http10}");
            assert!(body.ends_with("id: 2001\ndata: late\n\n"));
            // Caught up: the next message is fed as any other.
            h.publish("a", "live").unwrap().unwrap();
            assert!(h
                .last_response(c)
                .text()
                .ends_with("id: 2002\ndata: live\n\n"));
        }
    });
}

#[test]
fn a_websocket_resuming_far_behind_gets_every_message_once_in_order() {
    each_store(|| {
        let mut h = Harness::new(config());
        for i in 1..=1000 {
            h.publish("a", &data(i)).unwrap().unwrap();
        }
        let c = h.connect();
        h.set_window(c, 0);
        h.send(
            c,
            upgrade("/ws/a?since=0", "Sec-WebSocket-Protocol: pushwire.json\r\n").as_bytes(),
        );
        let id = h.clients[c].id;
        assert!(h.engine.unsent(id) <= PAGE + 1200);
        h.read_all(c);
        let got = texts(&h, c);
        assert_eq!(got.len(), 1000);
        for (i, text) in got.iter().enumerate() {
            assert!(
                text.starts_with(&format!("{{\"id\":{},", i + 1)),
                "{text:.40}"
            );
        }
    });
}

#[test]
fn messages_evicted_before_the_replay_reaches_them_are_announced_as_a_gap() {
    let mut h = Harness::new(Config {
        history: 300,
        ..config()
    });
    for i in 1..=300 {
        h.publish("a", &data(i)).unwrap().unwrap();
    }
    let c = h.connect();
    h.set_window(c, 0);
    h.send(c, get_request("/sse/a", "Last-Event-ID: 0\r\n").as_bytes());
    // While the client does not read, 200 more arrive: the history of
    // 300 drops 1 to 200, some of which the replay has not queued yet.
    for i in 301..=500 {
        h.publish("a", &data(i)).unwrap().unwrap();
    }
    h.read_all(c);
    let body = h.last_response(c).text().to_owned();
    let ids = event_ids(&body);
    let queued_first = ids.iter().take_while(|&&id| id < 201).count();
    assert!(queued_first > 0 && queued_first < 200, "{queued_first}");
    assert!(body.contains("event: gap\n"), "the gap is announced");
    // After the gap: 201 to 500, in order, none twice.
    let after: Vec<u64> = ids[queued_first..].to_vec();
    assert_eq!(after, (201..=500).collect::<Vec<u64>>());
}
