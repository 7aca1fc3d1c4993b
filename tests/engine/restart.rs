//! A restart never gives an id twice, and a client that comes back with
//! an id from the run before is told `gap` and then given every message
//! of the new run, on all four transports: never silence. The run before
//! and the run after are two engines whose stores start above different
//! floors, as a server restarted later does (docs/durability.md).

use pushwire::Config;

use crate::harness::{each_store, get_request, Harness};
use crate::websocket::{texts, upgrade};

/// The floor of the first run, and of the run after the restart.
const BEFORE: u64 = 1_000;
const AFTER: u64 = 2_000;

#[test]
fn after_a_restart_ids_start_above_the_floor_and_an_earlier_id_is_a_gap() {
    each_store(|| {
        let mut first = Harness::above(Config::default(), BEFORE);
        let ids: Vec<u64> = (1..=5)
            .map(|i| first.publish("r", &format!("m{i}")).unwrap().unwrap())
            .collect();
        assert_eq!(ids, [1001, 1002, 1003, 1004, 1005]);
        drop(first);

        // The restart: history is gone, the clients come back with 1005.
        let mut h = Harness::above(Config::default(), AFTER);
        // A channel nobody used answers with the floor as its last id.
        assert_eq!(
            h.get("/poll/r?since=1005").text(),
            r#"{"last_id":2000,"gap":true,"messages":[]}"#
        );
        assert_eq!(h.get("/poll/r").text(), r#"{"last_id":2000,"messages":[]}"#);
        let long_poll = h.connect();
        h.send(
            long_poll,
            get_request("/longpoll/r?since=1005", "").as_bytes(),
        );
        assert_eq!(
            h.last_response(long_poll).text(),
            r#"{"last_id":2000,"gap":true,"messages":[]}"#,
            "answered at once, not parked"
        );
        // The long-poller asks again from the last id it was given.
        h.send(
            long_poll,
            get_request("/longpoll/r?since=2000", "").as_bytes(),
        );
        let sse = h.connect();
        h.send(
            sse,
            get_request("/sse/r", "Last-Event-ID: 1005\r\n").as_bytes(),
        );
        let ws = h.connect();
        h.send(
            ws,
            upgrade(
                "/ws/r?since=1005",
                "Sec-WebSocket-Protocol: pushwire.json\r\n",
            )
            .as_bytes(),
        );

        assert_eq!(h.publish("r", "n1").unwrap().unwrap(), 2001);
        assert_eq!(h.publish("r", "n2").unwrap().unwrap(), 2002);

        assert_eq!(
            h.last_response(long_poll).text(),
            r#"{"last_id":2001,"messages":[{"id":2001,"data":"n1"}]}"#
        );
        assert_eq!(
            h.last_response(sse).text(),
            "retry: 2000\n\nevent: gap\ndata: {\"since\":1005,\"oldest\":2001}\n\n\
             id: 2001\ndata: n1\n\nid: 2002\ndata: n2\n\n"
        );
        assert_eq!(
            texts(&h, ws),
            [
                r#"{"gap":true,"since":1005,"oldest":2001}"#,
                r#"{"id":2001,"data":"n1"}"#,
                r#"{"id":2002,"data":"n2"}"#,
            ]
        );
        let poll = h.get("/poll/r?since=1005");
        assert_eq!(
            poll.text(),
            r#"{"last_id":2002,"gap":true,"messages":[{"id":2001,"data":"n1"},{"id":2002,"data":"n2"}]}"#
        );
        // Within the run, resuming works as ever: no gap from the start
        // of the run or from any id of it.
        assert_eq!(
            h.get("/poll/r?since=2001").text(),
            r#"{"last_id":2002,"messages":[{"id":2002,"data":"n2"}]}"#
        );
        assert_eq!(
            h.get("/poll/r?since=2000").text(),
            h.get("/poll/r").text(),
            "since=0 is the start of the run"
        );
    });
}

#[test]
fn a_channel_created_after_the_restart_also_starts_above_the_floor() {
    each_store(|| {
        let mut h = Harness::above(Config::default(), AFTER);
        assert_eq!(h.publish("a", "x").unwrap().unwrap(), 2001);
        assert_eq!(h.publish("b", "y").unwrap().unwrap(), 2001);
        assert_eq!(h.publish("a", "z").unwrap().unwrap(), 2002);
        assert_eq!(
            h.get("/pub/b").text(),
            r#"{"last_id":2001,"history":1,"subscribers":{"ws":0,"sse":0,"longpoll":0}}"#
        );
    });
}
