//! A store shared with other servers (the nodes of `--redis`,
//! docs/cluster.md), at the engine's layer: messages other nodes
//! committed arrive as `Decision::Replicated`, in the store's order with
//! the engine's own; a `prev` the engine does not have is a gap on every
//! transport; a client that resumes from an id this node has not caught
//! up to yet waits for what follows it, and is never given what it had.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use pushwire::cluster::RedisUrl;
use pushwire::engine::{Append, Commit, Decision, Replicated, Store, Ticket};
use pushwire::Config;

use crate::harness::{get_request, publish_request, Harness};
use crate::websocket::{texts, upgrade};

/// The test double: the test says what the shared store committed, in
/// its order; the engine's own appends wait until the test commits them
/// with [`Shared::commit_own`].
#[derive(Clone, Debug, Default)]
struct Shared(Rc<RefCell<Book>>);

#[derive(Debug, Default)]
struct Book {
    own: VecDeque<(Ticket, String, String)>,
    decided: VecDeque<Decision>,
}

impl Shared {
    /// Another node's message.
    fn other(&self, channel: &str, id: u64, prev: u64, data: &str) {
        self.0
            .borrow_mut()
            .decided
            .push_back(Decision::Replicated(Replicated {
                ticket: None,
                channel: channel.into(),
                id,
                prev,
                data: data.into(),
            }));
    }

    /// The store lost (`false`) or regained (`true`) its step with the
    /// shared history.
    fn sync(&self, in_sync: bool) {
        self.0
            .borrow_mut()
            .decided
            .push_back(Decision::Sync(in_sync));
    }

    /// The engine's oldest waiting append, committed with `id` after
    /// `prev`.
    fn commit_own(&self, id: u64, prev: u64) {
        let mut book = self.0.borrow_mut();
        let (ticket, channel, data) = book.own.pop_front().expect("an append waits");
        book.decided.push_back(Decision::Replicated(Replicated {
            ticket: Some(ticket),
            channel,
            id,
            prev,
            data,
        }));
    }
}

impl Store for Shared {
    fn append(&mut self, append: Append<'_>) {
        self.0.borrow_mut().own.push_back((
            append.ticket,
            append.name.to_owned(),
            append.data.to_owned(),
        ));
    }

    fn poll_commit(&mut self) -> Option<Commit> {
        None
    }

    fn poll_decision(&mut self) -> Option<Decision> {
        self.0.borrow_mut().decided.pop_front()
    }

    fn floor(&self) -> u64 {
        100
    }
}

fn cluster() -> (Harness, Shared) {
    let config = Config {
        redis: Some(RedisUrl::parse("redis://127.0.0.1:6379").unwrap()),
        ..Config::default()
    };
    let store = Shared::default();
    (Harness::with_store(config, Box::new(store.clone())), store)
}

/// SSE, pushwire.json WebSocket and a parked long-poll on `channel`, all
/// resuming after `since`.
fn subscribers(h: &mut Harness, channel: &str, since: u64) -> [usize; 3] {
    let sse = h.connect();
    h.send(
        sse,
        get_request(
            &format!("/sse/{channel}"),
            &format!("Last-Event-ID: {since}\r\n"),
        )
        .as_bytes(),
    );
    let ws = h.connect();
    h.send(
        ws,
        upgrade(
            &format!("/ws/{channel}?since={since}"),
            "Sec-WebSocket-Protocol: pushwire.json\r\n",
        )
        .as_bytes(),
    );
    let long_poll = h.connect();
    h.send(
        long_poll,
        get_request(&format!("/longpoll/{channel}?since={since}"), "").as_bytes(),
    );
    [sse, ws, long_poll]
}

#[test]
fn other_nodes_messages_reach_every_transport_once_and_in_the_store_s_order() {
    let (mut h, store) = cluster();
    let [sse, ws, long_poll] = subscribers(&mut h, "c", 100);
    // Our own publish waits for the store; another node's message comes
    // first in the store's order.
    let publisher = h.connect();
    h.send(publisher, publish_request("c", "ours").as_bytes());
    store.other("c", 500, 499, "theirs");
    store.commit_own(501, 500);
    // A message the engine has already is not told twice.
    store.other("c", 500, 499, "theirs");
    h.commits();
    assert_eq!(h.last_response(publisher).text(), r#"{"id":501}"#);
    assert_eq!(
        h.last_response(sse).text(),
        "retry: 2000\n\nid: 500\ndata: theirs\n\nid: 501\ndata: ours\n\n"
    );
    assert_eq!(
        texts(&h, ws),
        [
            r#"{"id":500,"data":"theirs"}"#,
            r#"{"id":501,"data":"ours"}"#
        ]
    );
    assert_eq!(
        h.last_response(long_poll).text(),
        r#"{"last_id":500,"messages":[{"id":500,"data":"theirs"}]}"#
    );
    assert_eq!(
        h.get("/poll/c?since=0").text(),
        r#"{"last_id":501,"messages":[{"id":500,"data":"theirs"},{"id":501,"data":"ours"}]}"#
    );
}

/// The three `subscribers` were told `gap` from `since` to `oldest`,
/// then given `oldest` (`data`), each as its transport says it.
fn assert_gap_then(
    h: &Harness,
    [sse, ws, long_poll]: [usize; 3],
    since: u64,
    oldest: u64,
    data: &str,
) {
    assert_eq!(
        h.last_response(sse).text(),
        format!(
            "retry: 2000\n\nevent: gap\ndata: {{\"since\":{since},\"oldest\":{oldest}}}\n\nid: {oldest}\ndata: {data}\n\n"
        )
    );
    assert_eq!(
        texts(h, ws),
        [
            format!(r#"{{"gap":true,"since":{since},"oldest":{oldest}}}"#),
            format!(r#"{{"id":{oldest},"data":"{data}"}}"#)
        ]
    );
    assert_eq!(
        h.last_response(long_poll).text(),
        format!(
            r#"{{"last_id":{oldest},"gap":true,"messages":[{{"id":{oldest},"data":"{data}"}}]}}"#
        )
    );
}

/// A channel this node never had a message of, whose subscribers came
/// before the store last lost step with the shared history: what was
/// committed meanwhile may never reach this node (trimmed, or lost by the
/// store), so its first message comes after a `gap`, each subscriber's
/// from where it subscribed (found by the simulator, docs/simulation.md).
#[test]
fn a_channel_never_had_here_tells_gap_at_its_first_message_after_a_loss_of_step() {
    let (mut h, store) = cluster();
    store.sync(true);
    h.commits();
    let [sse, ws, long_poll] = subscribers(&mut h, "n", 100);
    let fresh = h.connect();
    h.send(fresh, get_request("/sse/n", "").as_bytes());
    store.sync(false);
    store.sync(true);
    store.other("n", 700, 699, "after");
    h.commits();
    assert_gap_then(&h, [sse, ws, long_poll], 100, 700, "after");
    // Without Last-Event-ID: where the channel was when it subscribed,
    // the floor.
    assert_eq!(h.last_response(fresh).text(), h.last_response(sse).text());
    // In step all along: the first message starts the channel, no gap.
    let sub = h.connect();
    h.send(sub, get_request("/sse/m", "").as_bytes());
    store.other("m", 800, 799, "first");
    h.commits();
    assert_eq!(
        h.last_response(sub).text(),
        "retry: 2000\n\nid: 800\ndata: first\n\n"
    );
}

#[test]
fn a_prev_this_node_never_had_is_a_gap_on_every_transport() {
    let (mut h, store) = cluster();
    store.other("g", 200, 199, "a");
    h.commits();
    let [sse, ws, long_poll] = subscribers(&mut h, "g", 200);
    // The store lost 201..=899 (Redis came back empty): the next message
    // names 899 as the one before it.
    store.other("g", 900, 899, "b");
    h.commits();
    assert_gap_then(&h, [sse, ws, long_poll], 200, 900, "b");
    // History starts after the gap: a poll from before it is told so, a
    // poll from 899 is not.
    assert_eq!(
        h.get("/poll/g?since=200").text(),
        r#"{"last_id":900,"gap":true,"messages":[{"id":900,"data":"b"}]}"#
    );
    assert_eq!(
        h.get("/poll/g?since=899").text(),
        r#"{"last_id":900,"messages":[{"id":900,"data":"b"}]}"#
    );
}

#[test]
fn a_client_ahead_of_this_node_waits_for_what_follows_its_id() {
    let (mut h, store) = cluster();
    store.other("k", 300, 299, "m300");
    h.commits();
    // The client saw 302 on another node; this one has only 300.
    assert_eq!(
        h.get("/poll/k?since=302").text(),
        r#"{"last_id":302,"messages":[]}"#,
        "nothing new yet, and the client keeps its place"
    );
    let [sse, ws, long_poll] = subscribers(&mut h, "k", 302);
    store.other("k", 301, 300, "m301");
    store.other("k", 302, 301, "m302");
    h.commits();
    assert_eq!(h.last_response(sse).text(), "retry: 2000\n\n");
    assert!(texts(&h, ws).is_empty());
    assert_eq!(h.responses(long_poll).len(), 0, "still parked");
    store.other("k", 303, 302, "m303");
    h.commits();
    assert_eq!(
        h.last_response(sse).text(),
        "retry: 2000\n\nid: 303\ndata: m303\n\n"
    );
    assert_eq!(texts(&h, ws), [r#"{"id":303,"data":"m303"}"#]);
    assert_eq!(
        h.last_response(long_poll).text(),
        r#"{"last_id":303,"messages":[{"id":303,"data":"m303"}]}"#
    );
    // Caught up: the stream takes new messages as they come.
    store.other("k", 304, 303, "m304");
    h.commits();
    assert_eq!(
        h.last_response(sse).text(),
        "retry: 2000\n\nid: 303\ndata: m303\n\nid: 304\ndata: m304\n\n"
    );
}

#[test]
fn a_parked_long_poll_ahead_of_this_node_still_times_out_on_its_deadline() {
    let (mut h, store) = cluster();
    store.other("t", 300, 299, "m300");
    h.commits();
    let c = h.connect();
    h.send(
        c,
        get_request("/longpoll/t?since=305&timeout=5", "").as_bytes(),
    );
    store.other("t", 301, 300, "m301");
    h.commits();
    h.advance(std::time::Duration::from_millis(4_900));
    assert_eq!(h.responses(c).len(), 0);
    h.advance(std::time::Duration::from_millis(200));
    assert_eq!(
        h.last_response(c).text(),
        r#"{"last_id":305,"messages":[]}"#,
        "the client keeps its place"
    );
}
