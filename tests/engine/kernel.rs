//! The kernel's share of the slow-consumer bound: a driver that fixes its
//! sockets' send buffers tells the engine how much the kernel may hold
//! (`Engine::set_kernel_send_buffer`), and a stream or WebSocket
//! subscriber is cut off when its unsent bytes, that share and the next
//! message would pass `max_backlog_bytes`. Here the harness's kernel
//! takes nothing (a window of 0), as a full send buffer would.

use pushwire::ws::{close, WsEvent};
use pushwire::Config;

use crate::harness::{each_store, get_request, Harness};
use crate::http::subscribers;
use crate::websocket::upgrade;

const MAX: usize = 10_000;

fn harness(kernel_send_buffer: usize) -> Harness {
    let mut h = Harness::new(Config {
        max_backlog_bytes: MAX,
        ..Config::default()
    });
    h.engine.set_kernel_send_buffer(kernel_send_buffer);
    h
}

/// How many 1000-byte messages a WebSocket subscriber whose kernel takes
/// nothing has queued when the next one gets it close 1008.
fn frames_owed_at_1008(kernel_send_buffer: usize) -> usize {
    let mut h = harness(kernel_send_buffer);
    let c = h.connect();
    assert_eq!(h.request(c, &upgrade("/ws/k", "")).status, 101);
    h.take(c);
    h.set_window(c, 0);
    let id = h.clients[c].id;
    let data = "y".repeat(1000);
    let mut owed = 0;
    for _ in 0..12 {
        h.publish("k", &data).unwrap().unwrap();
        let unsent = h.engine.unsent(id);
        if unsent < owed {
            break; // the frames not begun were dropped for the Close
        }
        owed = unsent;
    }
    h.read_all(c);
    let frames = h.transcript(c).frames;
    assert!(
        matches!(
            &frames[..],
            [WsEvent::Close {
                code: Some(close::POLICY),
                ..
            }]
        ),
        "{frames:?}"
    );
    owed / 1004
}

#[test]
fn a_websocket_subscriber_counts_the_kernels_share_in_its_backlog() {
    each_store(|| {
        // Frames of 1004 bytes (a 4-byte header): nine fit in 10,000
        // bytes; beside 4000 in the kernel, five (5020 + 4000 + 1004
        // would pass).
        assert_eq!(frames_owed_at_1008(0), 9);
        assert_eq!(frames_owed_at_1008(4000), 5);
    });
}

/// How many 1000-byte messages an event stream whose kernel takes
/// nothing has queued when the next one cuts it off.
fn events_owed_when_cut(kernel_send_buffer: usize) -> usize {
    let mut h = harness(kernel_send_buffer);
    let c = h.connect();
    h.send(c, get_request("/sse/k", "").as_bytes());
    h.take(c);
    h.set_window(c, 0);
    let data = "y".repeat(1000);
    for queued in 0..12 {
        h.publish("k", &data).unwrap().unwrap();
        // Cut off: out of the channel (its stream's end waits for it to
        // read).
        if h.info("k").ends_with(&subscribers(0, 0, 0)) {
            return queued;
        }
    }
    panic!("never cut off");
}

#[test]
fn an_event_stream_counts_the_kernels_share_in_its_backlog() {
    each_store(|| {
        // Events of 1021 bytes as chunks: nine fit in 10,000 bytes;
        // beside 4000 in the kernel, five (5105 + 4000 + 1021 would pass).
        assert_eq!(events_owed_when_cut(0), 9);
        assert_eq!(events_owed_when_cut(4000), 5);
    });
}

#[test]
fn a_message_as_large_as_the_bound_still_reaches_subscribers_that_read() {
    each_store(|| {
        // The kernel's share leaves pushwire 4000 of the 10,000 bytes; a
        // 9000-byte message still goes to a subscriber whose queue is
        // empty (one such message is the most it holds), and a second
        // one while it has not read is too much.
        let mut h = harness(6000);
        let ws = h.connect();
        h.request(ws, &upgrade("/ws/k", ""));
        let sse = h.connect();
        h.send(sse, get_request("/sse/k", "").as_bytes());
        let big = "b".repeat(9000);
        h.publish("k", &big).unwrap().unwrap();
        assert!(matches!(
            h.transcript(ws).frames.as_slice(),
            [WsEvent::Text(t)] if *t == big
        ));
        assert!(h.last_response(sse).text().contains(&big));
        h.set_window(ws, 0);
        h.publish("k", &big).unwrap().unwrap();
        h.publish("k", &big).unwrap().unwrap();
        h.read_all(ws);
        let frames = h.transcript(ws).frames;
        assert!(
            matches!(frames.last(), Some(WsEvent::Close { code: Some(c), .. }) if *c == close::POLICY),
            "{frames:?}"
        );
    });
}
