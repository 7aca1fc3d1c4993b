//! The loop's time is shared: a connection may make the loop do at most
//! `max_work_per_pass` units of work in one pass (a request or a frame
//! read is one, a publish costs one more per 16 subscribers it reaches);
//! the rest of its input waits, unread, for the next pass.

use std::time::Duration;

use pushwire::engine::{LARGE_FAN_OUT, TIMERS_PER_PASS};
use pushwire::Config;

use crate::harness::Harness;
use crate::websocket::{masked, texts, upgrade};

/// `n` clients streaming `target`, their opening read.
fn streams(h: &mut Harness, target: &str, n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| {
            let c = h.connect();
            h.send(
                c,
                format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
            );
            h.take(c);
            c
        })
        .collect()
}

#[test]
fn a_flood_of_small_frames_is_read_a_pass_at_a_time() {
    let mut h = Harness::new(Config {
        max_work_per_pass: 100,
        ..Config::default()
    });
    let c = h.connect();
    h.request(c, &upgrade("/echo", ""));
    let id = h.clients[c].id;
    let flood: Vec<u8> = (0..250)
        .flat_map(|i| masked(0x1, format!("{i}").as_bytes()))
        .collect();
    // One read hands the engine all 250 frames: it answers 100 and keeps
    // the rest, and the driver is told not to read more for now.
    h.engine.handle_input(id, &flood, h.now);
    assert!(!h.engine.wants_input(id));
    assert!(h.engine.buffered_input(id) > 0);
    assert!(
        h.engine.poll_timeout().is_some_and(|t| t <= h.now),
        "due at once"
    );
    h.read_output(c, usize::MAX);
    assert_eq!(texts(&h, c).len(), 100);
    // The next pass: 100 more; the one after: the last 50.
    h.engine.handle_timeout(h.now);
    h.read_output(c, usize::MAX);
    assert_eq!(texts(&h, c).len(), 200);
    h.engine.handle_timeout(h.now);
    h.read_output(c, usize::MAX);
    let echoed = texts(&h, c);
    assert_eq!(echoed.len(), 250);
    assert_eq!(echoed[249], "249");
    assert!(h.engine.wants_input(id));
    assert_eq!(h.engine.buffered_input(id), 0);
}

#[test]
fn pipelined_requests_past_the_budget_wait_for_the_next_pass_in_order() {
    let mut h = Harness::new(Config {
        max_work_per_pass: 10,
        ..Config::default()
    });
    let c = h.connect();
    let id = h.clients[c].id;
    let requests = "GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n".repeat(25);
    h.engine.handle_input(id, requests.as_bytes(), h.now);
    h.read_output(c, usize::MAX);
    assert_eq!(h.responses(c).len(), 10);
    h.pass();
    assert_eq!(h.responses(c).len(), 25, "the rest, in the passes after");
}

#[test]
fn a_publish_to_many_subscribers_costs_its_publisher_a_share_of_the_pass() {
    let mut h = Harness::new(Config {
        max_work_per_pass: 300,
        idle_timeout: Duration::from_secs(600),
        ..Config::default()
    });
    let subscribers = streams(&mut h, "/sse/news", 2000);
    let publisher = h.connect();
    let id = h.clients[publisher].id;
    let one = "POST /pub/news HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx";
    // Each publish costs 1 + 2000 / 16 = 126 units: with 300 a pass, the
    // third publish uses the budget up, and the others wait.
    h.engine.handle_input(id, one.repeat(10).as_bytes(), h.now);
    h.read_output(publisher, usize::MAX);
    assert_eq!(h.responses(publisher).len(), 3);
    assert!(!h.engine.wants_input(id));
    // Each later pass, three more: a publish that commits at once must
    // not hand its publisher a fresh budget within the same pass.
    for answered in [6, 9] {
        h.engine.handle_timeout(h.now);
        h.read_output(publisher, usize::MAX);
        assert_eq!(h.responses(publisher).len(), answered);
    }
    h.pass();
    let answers = h.responses(publisher);
    assert_eq!(answers.len(), 10);
    assert_eq!(answers[9].text(), r#"{"id":10}"#);
    // Every subscriber got all ten, in order.
    for &s in [subscribers[0], subscribers[1999]].iter() {
        let body = h.last_response(s).text().to_owned();
        assert_eq!(body.matches("data: x").count(), 10, "{body}");
        assert!(body.find("id: 9\n") < body.find("id: 10\n"));
    }
}

#[test]
fn past_the_output_budget_new_requests_and_connections_get_503_until_clients_read() {
    let mut h = Harness::new(Config {
        max_output_bytes: 150_000,
        ..Config::default()
    });
    // A message too large for a kept (shared) answer: each poll answer
    // is a copy for its connection.
    h.publish("a", &"z".repeat(100_000)).unwrap().unwrap();
    let open = h.connect();
    let stalled: Vec<usize> = (0..2)
        .map(|_| {
            let c = h.connect();
            h.set_window(c, 0);
            h.send(c, b"GET /poll/a?since=0 HTTP/1.1\r\nHost: h\r\n\r\n");
            c
        })
        .collect();
    assert!(h.engine.owned_output() >= 200_000);
    // New work is shed: a new connection is told 503 and closed ...
    let busy = "server busy: too much unsent output (see --max-output-bytes)\n";
    let c = h.connect();
    let refused = h.last_response(c);
    assert_eq!((refused.status, refused.text()), (503, busy));
    assert!(h.clients[c].shut_down);
    // ... a request on an open connection gets 503, and it stays open.
    let answer = h.request(open, "GET /poll/a?since=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(answer.status, 503);
    assert!(!h.clients[open].shut_down);
    // Once the stalled clients read, the server serves again.
    for c in stalled {
        h.read_all(c);
    }
    assert_eq!(h.engine.owned_output(), 0);
    let answer = h.request(open, "GET /poll/a?since=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(answer.status, 200);
}

#[test]
fn deadlines_due_at_once_are_handled_a_slice_per_pass() {
    let mut h = Harness::new(Config::default());
    let parked = TIMERS_PER_PASS + 500;
    let pollers: Vec<usize> = (0..parked)
        .map(|_| {
            let c = h.connect();
            h.send(
                c,
                b"GET /longpoll/quiet?timeout=5 HTTP/1.1\r\nHost: h\r\n\r\n",
            );
            c
        })
        .collect();
    let answered = |h: &mut Harness| {
        pollers
            .iter()
            .filter(|&&c| {
                h.read_output(c, usize::MAX);
                !h.responses(c).is_empty()
            })
            .count()
    };
    // All of them fall due at the same tick; one pass handles a slice
    // and says the rest is due at once.
    h.now += Duration::from_secs(6);
    h.engine.handle_timeout(h.now);
    while let Some(id) = h.engine.poll_ready() {
        let _ = id; // the answers are read below
    }
    assert_eq!(answered(&mut h), TIMERS_PER_PASS);
    assert!(h.engine.poll_timeout().is_some_and(|t| t <= h.now));
    h.engine.handle_timeout(h.now);
    assert_eq!(answered(&mut h), parked);
    let last = h.last_response(pollers[parked - 1]);
    assert_eq!(
        (last.status, last.text()),
        (200, r#"{"last_id":0,"messages":[]}"#)
    );
    assert!(h.engine.poll_timeout().is_none_or(|t| t > h.now));
}

#[test]
fn a_poll_is_answered_before_the_subscribers_of_a_large_fan_out() {
    let mut h = Harness::new(Config {
        idle_timeout: Duration::from_secs(600),
        ..Config::default()
    });
    let subscribers = streams(&mut h, "/sse/crowd", LARGE_FAN_OUT + 1);
    let few = h.connect();
    h.send(few, b"GET /sse/few HTTP/1.1\r\nHost: h\r\n\r\n");
    let poller = h.connect();
    let poller_id = h.clients[poller].id;
    let few_id = h.clients[few].id;
    h.engine
        .handle_publish("crowd", "to everyone".into(), 1, h.now)
        .unwrap();
    h.engine
        .handle_publish("few", "to one".into(), 2, h.now)
        .unwrap();
    h.engine.handle_input(
        poller_id,
        b"GET /poll/crowd?since=0 HTTP/1.1\r\nHost: h\r\n\r\n",
        h.now,
    );
    // The small channel's subscriber and the poll come first, though the
    // large fan-out was queued before them.
    let order: Vec<_> = std::iter::from_fn(|| h.engine.poll_ready()).collect();
    assert_eq!(order.len(), subscribers.len() + 2);
    assert_eq!(&order[..2], &[few_id, poller_id]);
    let crowd: Vec<_> = subscribers.iter().map(|&c| h.clients[c].id).collect();
    assert_eq!(
        &order[2..],
        &crowd[..],
        "the fan-out, in subscription order"
    );
}

#[test]
fn a_publisher_waits_while_a_large_fan_out_is_written_so_no_reader_is_cut() {
    // A subscriber's share of the bound is 40,000 bytes: the fan-outs
    // waiting for their turn may owe it a quarter, 10,000.
    let mut h = Harness::new(Config {
        max_backlog_bytes: 40_000,
        idle_timeout: Duration::from_secs(600),
        ..Config::default()
    });
    let subscribers = streams(&mut h, "/sse/crowd", LARGE_FAN_OUT + 1);
    let publisher = h.connect();
    let id = h.clients[publisher].id;
    let data = "m".repeat(3000);
    let one = format!("POST /pub/crowd HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n{data}");
    // Twenty publishes in one read, and the driver writes nothing yet:
    // twenty events would owe each subscriber 60,000 bytes, past the
    // bound. After four (12,000 owed) the fifth waits for the writes.
    h.engine.handle_input(id, one.repeat(20).as_bytes(), h.now);
    assert_eq!(h.engine.held_publishes(), 1);
    assert!(
        !h.engine.wants_input(id),
        "not read while its publish waits"
    );
    // A publish to a small channel does not wait.
    h.engine
        .handle_publish("few", "small".into(), 7, h.now)
        .unwrap();
    assert_eq!(h.engine.held_publishes(), 1);
    assert!(matches!(
        h.engine.poll_event(),
        Some(pushwire::engine::Event::Published {
            token: 7,
            outcome: Ok(1)
        })
    ));
    // Once the driver has written every fed subscriber, the rest goes
    // on, four at a time; every reader gets all twenty, none is cut.
    h.pass();
    let answers = h.responses(publisher);
    assert_eq!(answers.len(), 20);
    assert_eq!(answers[19].text(), r#"{"id":20}"#);
    for &s in [subscribers[0], subscribers[LARGE_FAN_OUT]].iter() {
        let body = h.take_text(s);
        assert_eq!(body.matches("data: m").count(), 20);
        assert!(body.find("id: 19\n") < body.find("id: 20\n"));
    }
    assert!(h
        .info("crowd")
        .ends_with(&crate::http::subscribers(0, LARGE_FAN_OUT as u32 + 1, 0)));
}
