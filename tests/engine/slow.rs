//! The slow-consumer policies at the engine's layer, in virtual time: with
//! `skip`, a subscriber that stops reading, while many messages are
//! published, then reads again gets every message it had begun, a gap
//! mark naming exactly the ids dropped, and every message after it, in
//! whole events and frames, and stays connected; a plain WebSocket keeps
//! `close`; `close` is as before; both are counted by transport.

use pushwire::config::SlowConsumer;
use pushwire::engine::SlowConsumerCounts;
use pushwire::sse::{EventStreamParser, SseItem};
use pushwire::ws::{close, WsEvent};
use pushwire::Config;

use crate::harness::{each_store, get_request, Harness};
use crate::websocket::{texts, upgrade};

const DATA_BYTES: usize = 1000;

fn config(policy: SlowConsumer) -> Config {
    Config {
        max_backlog_bytes: 10_000,
        slow_consumer: policy,
        ..Config::default()
    }
}

/// What a stream's client read: `("gap", data)` for a gap mark, `(id,
/// data)` for a message.
fn stream_items(h: &Harness, c: usize) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut parser = EventStreamParser::new(1 << 20);
    parser
        .feed(&h.last_response(c).body, &mut items)
        .expect("a well-formed event stream");
    items
        .into_iter()
        .filter_map(|item| match item {
            SseItem::Event(e) if e.event_type == "gap" => Some(("gap".into(), e.data)),
            SseItem::Event(e) => Some((e.last_event_id, e.data)),
            _ => None,
        })
        .collect()
}

/// Checks what a subscriber read against the ids `1..=last` published:
/// `first` messages in order, one gap mark `{since,oldest}` with `since`
/// the last of them, then every message from `oldest` to `last`. Returns
/// `oldest`.
fn assert_one_gap(read: &[(u64, bool)], gap: (u64, u64), first: u64, last: u64) -> u64 {
    let (since, oldest) = gap;
    assert_eq!(since, first, "the mark starts at the last message read");
    assert!(oldest > first + 1, "something was dropped: {gap:?}");
    let expected: Vec<(u64, bool)> = (1..=first)
        .map(|id| (id, false))
        .chain([(0, true)])
        .chain((oldest..=last).map(|id| (id, false)))
        .collect();
    assert_eq!(read, expected);
    oldest
}

#[test]
fn skip_gives_a_stalled_stream_a_gap_naming_exactly_the_dropped_ids_then_every_later_message() {
    // The client stops at an event boundary, and in the middle of one:
    // the event begun is finished, and the mark starts after it.
    for (window, first) in [(3.0, 3), (2.5, 3)] {
        each_store(|| {
            let mut h = Harness::new(config(SlowConsumer::Skip));
            let data = "x".repeat(DATA_BYTES);
            let c = h.connect();
            h.send(c, get_request("/sse/s", "").as_bytes());
            h.take(c);
            h.publish("s", &data).unwrap().unwrap();
            let one = h.take(c).len();
            // It reads `window` events more (the first it has), then stops.
            h.set_window(c, (one as f64 * (window - 1.0)) as usize);
            for _ in 1..40 {
                h.publish("s", &data).unwrap().unwrap();
            }
            assert!(!h.clients[c].closed && !h.clients[c].shut_down);
            h.read_all(c);
            let items = stream_items(&h, c);
            let mut read = Vec::new();
            let mut gap = None;
            for (id, data) in &items {
                if id == "gap" {
                    let v: serde_json::Value = serde_json::from_str(data).unwrap();
                    gap = Some((v["since"].as_u64().unwrap(), v["oldest"].as_u64().unwrap()));
                    read.push((0, true));
                } else {
                    read.push((id.parse().unwrap(), false));
                }
            }
            let oldest = assert_one_gap(&read, gap.expect("a gap mark"), first, 40);
            assert!(items.iter().all(|(id, d)| id == "gap" || *d == data));
            let counts = *h.engine.slow_consumer_counts();
            assert!(counts.sse_skips >= 1, "{counts:?}");
            assert_eq!(counts.skipped_messages, oldest - first - 1);
            assert_eq!((counts.sse_closed, counts.ws_closed), (0, 0));
            // /metrics counts the same.
            let metrics = metrics_text(&mut h);
            let skips = format!(
                "pushwire_slow_consumer_total{{transport=\"sse\",action=\"skip\"}} {}\n",
                counts.sse_skips
            );
            assert!(metrics.contains(&skips), "{metrics}");
            let dropped = format!(
                "pushwire_slow_consumer_skipped_messages_total {}\n",
                counts.skipped_messages
            );
            assert!(metrics.contains(&dropped), "{metrics}");
            // Still subscribed: the next message comes at once.
            let id = h.publish("s", "fresh").unwrap().unwrap();
            assert_eq!(
                stream_items(&h, c).last(),
                Some(&(id.to_string(), "fresh".into()))
            );
        });
    }
}

#[test]
fn skip_gives_a_stalled_json_websocket_a_gap_frame_then_every_later_message_in_whole_frames() {
    each_store(|| {
        let mut h = Harness::new(config(SlowConsumer::Skip));
        let data = "y".repeat(DATA_BYTES);
        let c = h.connect();
        let r = h.request(
            c,
            &upgrade("/ws/w", "Sec-WebSocket-Protocol: pushwire.json\r\n"),
        );
        assert_eq!(r.status, 101);
        h.publish("w", &data).unwrap().unwrap();
        h.publish("w", &data).unwrap().unwrap();
        h.set_window(c, 0);
        for _ in 2..40 {
            h.publish("w", &data).unwrap().unwrap();
        }
        h.read_all(c);
        let mut read = Vec::new();
        let mut gap = None;
        for text in texts(&h, c) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["gap"] == true {
                gap = Some((v["since"].as_u64().unwrap(), v["oldest"].as_u64().unwrap()));
                read.push((0, true));
            } else {
                assert_eq!(v["data"], data.as_str());
                read.push((v["id"].as_u64().unwrap(), false));
            }
        }
        let oldest = assert_one_gap(&read, gap.expect("a gap frame"), 2, 40);
        let counts = *h.engine.slow_consumer_counts();
        assert!(counts.ws_skips >= 1, "{counts:?}");
        assert_eq!(counts.skipped_messages, oldest - 3);
        assert_eq!(counts.ws_closed, 0);
        let id = h.publish("w", "fresh").unwrap().unwrap();
        assert_eq!(
            texts(&h, c).last().map(String::as_str),
            Some(format!(r#"{{"id":{id},"data":"fresh"}}"#).as_str())
        );
    });
}

#[test]
fn skip_leaves_a_plain_websocket_to_close_with_1008_since_its_frames_carry_no_ids() {
    let mut h = Harness::new(config(SlowConsumer::Skip));
    let c = h.connect();
    assert_eq!(h.request(c, &upgrade("/ws/p", "")).status, 101);
    h.set_window(c, 0);
    for _ in 0..20 {
        h.publish("p", &"z".repeat(DATA_BYTES)).unwrap().unwrap();
    }
    h.read_all(c);
    let close = h.transcript(c).frames.into_iter().find_map(|f| match f {
        WsEvent::Close { code, .. } => code,
        _ => None,
    });
    assert_eq!(close, Some(close::POLICY));
    assert_eq!(
        *h.engine.slow_consumer_counts(),
        SlowConsumerCounts {
            ws_closed: 1,
            ..SlowConsumerCounts::default()
        }
    );
}

#[test]
fn close_cuts_a_stalled_stream_off_as_before_and_counts_it() {
    let mut h = Harness::new(config(SlowConsumer::Close));
    let c = h.connect();
    h.send(c, get_request("/sse/c", "").as_bytes());
    h.set_window(c, 0);
    for _ in 0..20 {
        h.publish("c", &"x".repeat(DATA_BYTES)).unwrap().unwrap();
    }
    h.read_all(c);
    let body = String::from_utf8(h.last_response(c).body).unwrap();
    assert!(
        body.ends_with(": too slow: reconnect with Last-Event-ID\n\n"),
        "{body}"
    );
    assert!(!body.contains("event: gap"));
    assert!(h.last_response(c).complete);
    assert!(h.clients[c].shut_down);
    assert_eq!(
        *h.engine.slow_consumer_counts(),
        SlowConsumerCounts {
            sse_closed: 1,
            ..SlowConsumerCounts::default()
        }
    );
    let metrics = metrics_text(&mut h);
    for (action, n) in [("close", 1), ("skip", 0)] {
        let line =
            format!("pushwire_slow_consumer_total{{transport=\"sse\",action=\"{action}\"}} {n}\n");
        assert!(metrics.contains(&line), "{metrics}");
    }
}

/// What `GET /metrics` says now.
fn metrics_text(h: &mut Harness) -> String {
    String::from_utf8(h.get("/metrics").body).expect("UTF-8")
}
