//! A restart without a data dir, on real processes: the server that comes
//! back gives no id the one before gave, and a client of each of the four
//! transports that resumes with an id from before the restart is told
//! `gap`, then gets every message of the new run, once and in order
//! (docs/durability.md). The engine's side of this, byte for byte and in
//! virtual time, is `tests/engine/restart.rs`.

mod common;

use std::io::{BufReader, Write};

use common::resume::Resumed;
use common::{read_response, TestServer};

#[test]
fn after_a_restart_every_transport_gets_the_gap_then_the_new_messages() {
    // The first run: five messages; the clients saw all of them.
    let first = TestServer::start(&[]);
    let before: Vec<u64> = (1..=5)
        .map(|i| first.publish("r", &format!("m{i}")))
        .collect();
    assert_eq!(before, first.ids(1..=5));
    let seen = before[4];
    drop(first);

    // The restart. Every id of the new run is above every id of the old.
    let server = TestServer::start(&[]);
    let floor = server.floor();
    assert!(floor > seen, "floor {floor} not above {seen}");

    // Poll: the gap, nothing else yet.
    let poll = server.poll("r", Some(seen));
    assert_eq!(
        (poll["gap"].as_bool(), poll["last_id"].as_u64()),
        (Some(true), Some(floor))
    );
    assert_eq!(poll["messages"].as_array().map(Vec::len), Some(0));

    // Long-poll: answered at once with the gap, then parked from the
    // last id it was given.
    let answer = server.get(&format!("/longpoll/r?since={seen}")).json();
    assert_eq!(
        (answer["gap"].as_bool(), answer["last_id"].as_u64()),
        (Some(true), Some(floor))
    );
    let mut long_poll = server.connect();
    long_poll
        .write_all(format!("GET /longpoll/r?since={floor} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();

    // SSE with the Last-Event-ID a browser would send.
    let mut resumed = Resumed::open(&server, "r", seen);
    server.wait_subscribers("r", "longpoll", 1);

    let after = [server.publish("r", "n1"), server.publish("r", "n2")];
    assert_eq!(after, [floor + 1, floor + 2]);

    let mut reader = BufReader::new(long_poll);
    let parked = read_response(&mut reader).unwrap().json();
    assert_eq!(parked["last_id"].as_u64(), Some(floor + 1));
    assert_eq!(parked["messages"][0]["data"], "n1");
    assert!(parked.get("gap").is_none());

    let parser = resumed.sse_events(3);
    let gap = &parser.events[0];
    assert_eq!(gap.event, "gap");
    assert_eq!(
        gap.data,
        format!("{{\"since\":{seen},\"oldest\":{}}}", floor + 1)
    );
    assert_eq!(parser.ids(), [floor + 1, floor + 2]);
    assert_eq!(parser.last_event_id(), (floor + 2).to_string());

    let frames = resumed.ws_texts(3);
    assert_eq!(
        frames,
        [
            format!("{{\"gap\":true,\"since\":{seen},\"oldest\":{}}}", floor + 1),
            format!("{{\"id\":{},\"data\":\"n1\"}}", floor + 1),
            format!("{{\"id\":{},\"data\":\"n2\"}}", floor + 2),
        ]
    );

    // A poller from before the restart gets the gap and both messages.
    let poll = server.poll("r", Some(seen));
    assert_eq!(poll["gap"].as_bool(), Some(true));
    let ids: Vec<u64> = poll["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [floor + 1, floor + 2]);
}
