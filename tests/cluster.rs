//! Nodes sharing channels through a real Redis (`--redis`,
//! docs/cluster.md): every test starts its own `redis-server` on a free
//! port and its own pushwire processes. They need redis-server, so they
//! are `#[ignore]` in plain `cargo test`; `.ci/run` installs it and runs
//! them. Only the check at start, which needs no Redis, runs everywhere.

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::events::{read_chunk, Event, EventParser};
use common::redis::RedisServer;
use common::wsclient::WsClient;
use common::{read_response, TestServer};

fn node(redis: &RedisServer, extra: &[&str]) -> TestServer {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str()];
    args.extend_from_slice(extra);
    TestServer::start(&args)
}

/// An SSE subscriber, reading events as they come.
struct Stream {
    reader: BufReader<TcpStream>,
    parser: EventParser,
}

impl Stream {
    fn open(server: &TestServer, channel: &str, last_event_id: Option<u64>) -> Stream {
        let mut stream = server.connect();
        let resume = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        stream
            .write_all(format!("GET /sse/{channel} HTTP/1.1\r\nHost: t\r\n{resume}\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(stream);
        assert_eq!(read_response(&mut reader).unwrap().status, 200);
        Stream {
            reader,
            parser: EventParser::default(),
        }
    }

    /// Reads until `n` events (gaps included) came, or the stream ends.
    fn events(&mut self, n: usize) -> &[Event] {
        while self.parser.events.len() < n {
            match read_chunk(&mut self.reader) {
                Ok(Some(chunk)) => self.parser.feed(std::str::from_utf8(&chunk).unwrap()),
                _ => break,
            }
        }
        &self.parser.events
    }

    /// Reads until the message with id `last` came (or the stream ends).
    fn until(&mut self, last: u64) -> Vec<u64> {
        while !self.parser.ids().contains(&last) {
            match read_chunk(&mut self.reader) {
                Ok(Some(chunk)) => self.parser.feed(std::str::from_utf8(&chunk).unwrap()),
                _ => break,
            }
        }
        self.parser.ids()
    }

    fn gaps(&self) -> Vec<&Event> {
        self.parser
            .events
            .iter()
            .filter(|e| e.event == "gap")
            .collect()
    }
}

/// Publishes, retrying while the node answers 503 (Redis away), for at
/// most 20 s.
fn publish_when_up(server: &TestServer, channel: &str, data: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = server.post(&format!("/pub/{channel}"), data);
        if response.status == 202 {
            return response.json()["id"].as_u64().unwrap();
        }
        assert_eq!(response.status, 503, "{}", response.text());
        assert!(Instant::now() < deadline, "Redis never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Publishes on a connection of its own to `addr` and returns the
/// response (202 or 503 expected).
fn post_once(addr: std::net::SocketAddr, channel: &str, body: &str) -> Option<common::Response> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write_publish(&mut s, channel, body, "Connection: close\r\n");
    read_response(&mut BufReader::new(s)).ok()
}

fn write_publish(s: &mut TcpStream, channel: &str, body: &str, extra: &str) {
    write!(
        s,
        "POST /pub/{channel} HTTP/1.1\r\nHost: t\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
}

/// Three nodes, a first message on `channel`, and an SSE subscriber on
/// each node resuming after it.
fn three_nodes_streaming(
    redis: &RedisServer,
    channel: &str,
) -> ([TestServer; 3], u64, Vec<Stream>) {
    let nodes = [node(redis, &[]), node(redis, &[]), node(redis, &[])];
    let start = nodes[0].publish(channel, "start");
    let streams: Vec<Stream> = nodes
        .iter()
        .map(|n| Stream::open(n, channel, Some(start)))
        .collect();
    for n in &nodes {
        n.wait_subscribers(channel, "sse", 1);
    }
    (nodes, start, streams)
}

fn is_consecutive(ids: &[u64]) -> bool {
    ids.windows(2).all(|w| w[1] == w[0] + 1)
}

#[test]
fn redis_unreachable_at_start_stops_with_status_2_and_says_why() {
    // A port nothing listens on: bound and closed at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["--listen", "127.0.0.1:0", "--redis"])
        .arg(format!("redis://127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot use Redis at redis://127.0.0.1:{port}/0"))
            && stderr.contains("is redis-server running?"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "it must not say it listens");

    for (args, why) in [
        (&["--redis", "http://x"][..], "starts with redis://"),
        (
            &["--redis", "redis://127.0.0.1:1", "--data-dir", "/tmp/x"][..],
            "cannot be used together",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_pushwire"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains(why));
    }
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn a_message_published_on_one_node_reaches_every_transport_on_the_others_with_one_id() {
    let redis = RedisServer::start(false);
    let (a, b, c) = (node(&redis, &[]), node(&redis, &[]), node(&redis, &[]));

    // Subscribers on B and C: SSE, a pushwire.json WebSocket, a parked
    // long-poll.
    let mut sse = [
        Stream::open(&b, "news", None),
        Stream::open(&c, "news", None),
    ];
    let mut ws = [&b, &c]
        .map(|n| WsClient::connect(n, "/ws/news", "Sec-WebSocket-Protocol: pushwire.json\r\n"));
    let floor_b = b.floor();
    let mut parked: Vec<BufReader<TcpStream>> = [&b, &c]
        .iter()
        .map(|n| {
            let mut s = n.connect();
            s.write_all(b"GET /longpoll/news HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            BufReader::new(s)
        })
        .collect();
    for n in [&b, &c] {
        n.wait_subscribers("news", "sse", 1);
        n.wait_subscribers("news", "ws", 1);
        n.wait_subscribers("news", "longpoll", 1);
    }

    let ids: Vec<u64> = (1..=3)
        .map(|i| a.publish("news", &format!("m{i}")))
        .collect();
    assert!(is_consecutive(&ids), "{ids:?}");
    // A new channel starts at Redis's clock in microseconds: above the
    // floor of every node started before it.
    assert!(ids[0] > floor_b, "{ids:?} not above {floor_b}");

    for stream in &mut sse {
        let events = stream.events(3).to_vec();
        let got: Vec<(u64, &str)> = events
            .iter()
            .map(|e| (e.id.parse().unwrap(), e.data.as_str()))
            .collect();
        assert_eq!(got, [(ids[0], "m1"), (ids[1], "m2"), (ids[2], "m3")]);
    }
    for client in &mut ws {
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                client.read_data().text(),
                format!("{{\"id\":{id},\"data\":\"m{}\"}}", i + 1)
            );
        }
    }
    for reader in &mut parked {
        let answer = read_response(reader).unwrap().json();
        assert_eq!(answer["messages"][0]["id"].as_u64(), Some(ids[0]));
        assert_eq!(answer["messages"][0]["data"], "m1");
    }
    // Polling: every node has the whole history, with the same ids.
    for n in [&a, &b, &c] {
        let poll = n.poll("news", Some(0));
        let got: Vec<u64> = poll["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        assert_eq!(got, ids);
        assert_eq!(poll["last_id"].as_u64(), Some(ids[2]));
    }
    // Redis holds the history, bounded by --history.
    assert_eq!(redis.command(&["XLEN", "pushwire:h:news"]), ":3");
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn a_client_resumes_on_any_node_and_a_restarted_node_continues_the_ids() {
    let redis = RedisServer::start(false);
    let a = node(&redis, &["--history", "3"]);
    let b = node(&redis, &["--history", "3"]);

    let first: Vec<u64> = (1..=3).map(|i| a.publish("r", &format!("a{i}"))).collect();
    // Poll on A, then long-poll on B from the id A gave: only what
    // follows, nothing lost.
    let seen = a.poll("r", Some(0))["last_id"].as_u64().unwrap();
    assert_eq!(seen, first[2]);
    let mut long_poll = b.connect();
    long_poll
        .write_all(format!("GET /longpoll/r?since={seen} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    b.wait_subscribers("r", "longpoll", 1);
    let next = a.publish("r", "a4");
    assert_eq!(next, seen + 1);
    let answer = read_response(&mut BufReader::new(long_poll))
        .unwrap()
        .json();
    assert_eq!(answer["messages"][0]["id"].as_u64(), Some(next));
    assert_eq!(answer["messages"].as_array().map(Vec::len), Some(1));

    // A node started now reads the history back from Redis before it
    // serves anyone: SSE with the Last-Event-ID of the first message.
    let c = node(&redis, &["--history", "3"]);
    let mut stream = Stream::open(&c, "r", Some(first[0]));
    assert_eq!(stream.until(next), [first[1], first[2], next]);
    // Resuming from before what history keeps is a gap on every node.
    let poll = c.poll("r", Some(first[0] - 1));
    assert_eq!(poll["gap"].as_bool(), Some(true), "{poll}");

    // A restarted node: the ids go on from Redis's, no jump, no repeat.
    drop(a);
    let a = node(&redis, &["--history", "3"]);
    let after = a.publish("r", "a5");
    assert_eq!(after, next + 1);
    assert_eq!(stream.until(after), [first[1], first[2], next, after]);
    assert!(stream.gaps().is_empty());
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn a_killed_node_s_clients_move_to_another_and_get_every_id_once_in_order() {
    let redis = RedisServer::start(false);
    let a = node(&redis, &[]);
    let b = node(&redis, &[]);
    let c = node(&redis, &[]);
    let published = Arc::new(Mutex::new(Vec::new()));
    let first = a.publish("k", "m0");
    published.lock().unwrap().push(first);

    let mut on_b = Stream::open(&b, "k", Some(first));
    b.wait_subscribers("k", "sse", 1);
    let publisher = {
        let published = Arc::clone(&published);
        let addr = a.addr;
        std::thread::spawn(move || {
            for i in 1..=300 {
                let body = format!("m{i}");
                let r = post_once(addr, "k", &body).expect("an answer");
                assert_eq!(r.status, 202);
                published
                    .lock()
                    .unwrap()
                    .push(r.json()["id"].as_u64().unwrap());
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    // Read a part of the stream on B, then kill B in the middle of it.
    on_b.events(50);
    let pid = b.pid();
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let before_kill = on_b.parser.ids();
    // Whatever B had sent before it died may still arrive; then the end.
    let mut got = on_b.until(u64::MAX);
    assert!(got.len() >= before_kill.len());
    // The client moves to C with the last id it saw.
    let last = *got.last().unwrap();
    publisher.join().unwrap();
    let published = published.lock().unwrap().clone();
    let newest = *published.last().unwrap();
    let mut on_c = Stream::open(&c, "k", Some(last));
    got.extend(on_c.until(newest));
    assert!(on_c.gaps().is_empty());
    let expected: Vec<u64> = published[1..].to_vec();
    assert_eq!(got, expected, "every id once, in order");
    assert!(is_consecutive(&got));
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn redis_down_for_two_seconds_in_a_publish_storm_then_every_committed_message_once_everywhere() {
    let mut redis = RedisServer::start(true);
    let (nodes, _, mut streams) = three_nodes_streaming(&redis, "storm");

    // Publishers on every node, for about four seconds.
    let stop_at = Instant::now() + Duration::from_secs(4);
    let publishers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let addr = n.addr;
            std::thread::spawn(move || {
                let (mut acked, mut refused) = (Vec::new(), 0);
                let mut i = 0;
                while Instant::now() < stop_at {
                    i += 1;
                    let body = format!("n{k}-{i}");
                    let Some(r) = post_once(addr, "storm", &body) else {
                        continue;
                    };
                    match r.status {
                        202 => acked.push(r.json()["id"].as_u64().unwrap()),
                        503 => {
                            refused += 1;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        other => panic!("{other}: {}", r.text()),
                    }
                }
                (acked, refused)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    redis.kill();
    std::thread::sleep(Duration::from_secs(2));
    redis.restart();
    let mut acked = Vec::new();
    let mut refused = 0;
    for p in publishers {
        let (a, r) = p.join().unwrap();
        acked.extend(a);
        refused += r;
    }
    assert!(refused > 0, "no publish was refused while Redis was down");
    assert!(!acked.is_empty());
    acked.sort_unstable();
    // One more publish once every node is back: the end marker.
    let end = publish_when_up(&nodes[0], "storm", "end");

    let seen: Vec<Vec<u64>> = streams.iter_mut().map(|s| s.until(end)).collect();
    for (k, ids) in seen.iter().enumerate() {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "node {k}: not in order"
        );
        for id in &acked {
            assert!(
                ids.contains(id),
                "node {k} never delivered acknowledged id {id}"
            );
        }
        assert_eq!(ids.last(), Some(&end));
        assert!(
            streams[k].gaps().is_empty(),
            "Redis kept everything: no gap"
        );
    }
    // What Redis committed (its stream) is exactly what every node
    // delivered: the same list everywhere.
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    assert!(is_consecutive(&seen[0]), "Redis gives consecutive ids");
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn redis_back_empty_gives_new_ids_above_the_old_and_a_gap() {
    let mut redis = RedisServer::start(false);
    let a = node(&redis, &[]);
    let b = node(&redis, &[]);
    let old: Vec<u64> = (1..=3).map(|i| a.publish("e", &format!("o{i}"))).collect();
    let mut stream = Stream::open(&b, "e", Some(old[2]));
    b.wait_subscribers("e", "sse", 1);
    redis.kill();
    redis.restart(); // no persistence: empty
    let new = publish_when_up(&a, "e", "fresh");
    assert!(new > old[2] + 1, "{new} must jump above {}", old[2]);
    let events = stream.events(2).to_vec();
    assert_eq!(events[0].event, "gap");
    assert_eq!(
        events[0].data,
        format!("{{\"since\":{},\"oldest\":{new}}}", old[2])
    );
    assert_eq!(
        (events[1].id.clone(), events[1].data.as_str()),
        (new.to_string(), "fresh")
    );
    // A poll from before is told the gap too, on either node.
    for n in [&a, &b] {
        let poll = n.poll("e", Some(old[2]));
        assert_eq!(poll["gap"].as_bool(), Some(true), "{poll}");
        assert_eq!(poll["messages"][0]["id"].as_u64(), Some(new));
    }
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn publishers_on_every_node_at_once_give_one_order_on_every_node() {
    let redis = RedisServer::start(false);
    let (nodes, start, mut streams) = three_nodes_streaming(&redis, "o");
    const EACH: usize = 100;
    let publishers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let addr = n.addr;
            std::thread::spawn(move || {
                // One keep-alive connection, publishes one after another.
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut reader = BufReader::new(s.try_clone().unwrap());
                (0..EACH)
                    .map(|i| {
                        let body = format!("p{k}-{i}");
                        write_publish(&mut s, "o", &body, "");
                        let r = read_response(&mut reader).unwrap();
                        assert_eq!(r.status, 202);
                        r.json()["id"].as_u64().unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let own: Vec<Vec<u64>> = publishers.into_iter().map(|p| p.join().unwrap()).collect();
    let total = 3 * EACH;
    let lists: Vec<Vec<(String, String)>> = streams
        .iter_mut()
        .map(|s| {
            s.events(total)
                .iter()
                .map(|e| (e.id.clone(), e.data.clone()))
                .collect()
        })
        .collect();
    assert_eq!(lists[0].len(), total);
    assert_eq!(lists[0], lists[1], "node 0 and node 1 differ");
    assert_eq!(lists[1], lists[2], "node 1 and node 2 differ");
    let ids: Vec<u64> = lists[0].iter().map(|(id, _)| id.parse().unwrap()).collect();
    assert_eq!(ids.first(), Some(&(start + 1)));
    assert!(is_consecutive(&ids));
    // Each publisher's messages are in its own order, with the ids it
    // was told.
    for (k, told) in own.iter().enumerate() {
        let mine: Vec<(u64, String)> = lists[0]
            .iter()
            .filter(|(_, data)| data.starts_with(&format!("p{k}-")))
            .map(|(id, data)| (id.parse().unwrap(), data.clone()))
            .collect();
        let expected: Vec<(u64, String)> = told
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, format!("p{k}-{i}")))
            .collect();
        assert_eq!(mine, expected);
    }
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn a_message_past_max_body_bytes_never_reaches_redis() {
    let redis = RedisServer::start(false);
    let a = node(
        &redis,
        &["--max-body-bytes", "100", "--max-message-bytes", "1000"],
    );
    let big = "x".repeat(200);
    assert_eq!(a.post("/pub/big", &big).status, 413);
    // Over a WebSocket (whose own bound is larger): refused by the store.
    let mut ws = WsClient::connect(&a, "/ws/big", "");
    ws.send_text(&big);
    let frame = ws.read().unwrap();
    assert_eq!(frame.close_code(), Some(1011), "{:?}", frame.text());
    assert_eq!(redis.command(&["EXISTS", "pushwire:h:big"]), ":0");
    assert_eq!(redis.command(&["EXISTS", "pushwire:seq:big"]), ":0");
    // A message within the bound goes through.
    a.publish("big", &"y".repeat(100));
    assert_eq!(redis.command(&["XLEN", "pushwire:h:big"]), ":1");
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn two_nodes_with_reuse_port_share_one_address_and_its_channels() {
    let redis = RedisServer::start(false);
    let first = node(&redis, &["--reuse-port"]);
    let addr = first.addr.to_string();
    let second = node(&redis, &["--reuse-port", "--listen", &addr]);
    assert_eq!(second.addr, first.addr);
    // New connections land on both: each answers an unused channel's
    // poll with its own floor.
    let mut floors = std::collections::HashSet::new();
    let mut streams = Vec::new();
    for _ in 0..32 {
        floors.insert(first.poll("nobody-here", None)["last_id"].as_u64().unwrap());
        streams.push(Stream::open(&first, "shared", None));
    }
    assert_eq!(floors.len(), 2, "both processes accept");
    std::thread::sleep(Duration::from_millis(100));
    let id = first.publish("shared", "to all");
    for s in &mut streams {
        assert_eq!(s.until(id), [id], "a subscriber on either process gets it");
    }
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn a_redis_that_hangs_gets_publishes_a_503_within_seconds_then_everything_resumes() {
    let redis = RedisServer::start(false);
    let a = node(&redis, &[]);
    let b = node(&redis, &[]);
    let first = a.publish("h", "before");
    let mut stream = Stream::open(&b, "h", Some(first));
    b.wait_subscribers("h", "sse", 1);
    redis.signal("-STOP");
    let asked = Instant::now();
    let refused = a.post("/pub/h", "during");
    let waited = asked.elapsed();
    redis.signal("-CONT");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        refused.text().contains("no answer in time")
            && refused.text().contains("may or may not have been stored"),
        "{}",
        refused.text()
    );
    // The node gives up after 5 s (the body timeout, 30 s, is not what
    // answers).
    assert!(waited < Duration::from_secs(15), "{waited:?}");
    let after = publish_when_up(&a, "h", "after");
    let ids = stream.until(after);
    // "during" was in doubt: Redis may have run it once it continued.
    // Either way every id once, in order, ending with "after".
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(ids.len() == 1 || ids.len() == 2, "{ids:?}");
    assert_eq!(ids.last(), Some(&after));
    assert!(stream.gaps().is_empty());
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn a_password_in_the_url_is_sent_and_a_wrong_one_stops_the_start_with_status_2() {
    let redis = RedisServer::start_with(false, &["--requirepass", "s3cret"]);
    let wrong = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["--listen", "127.0.0.1:0", "--redis"])
        .arg(format!("redis://:nope@127.0.0.1:{}", redis.port))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("WRONGPASS"), "{stderr}");
    assert!(
        !stderr.contains("nope"),
        "the password is never printed: {stderr}"
    );

    let url = format!("redis://:s3cret@127.0.0.1:{}/2", redis.port);
    let a = TestServer::start(&["--redis", &url, "--redis-prefix", "app1:"]);
    let id = a.publish("p", "x");
    assert_eq!(a.poll("p", Some(0))["last_id"].as_u64(), Some(id));
    // In database 2, under the prefix.
    let auth: &[&str] = &["AUTH", "s3cret"];
    assert_eq!(
        redis.commands(&[
            auth,
            &["SELECT", "2"],
            &["XLEN", "app1:h:p"],
            &["EXISTS", "pushwire:h:p"]
        ]),
        ["+OK", "+OK", ":1", ":0"]
    );
    assert_eq!(
        redis.commands(&[auth, &["EXISTS", "app1:h:p"]]),
        ["+OK", ":0"],
        "nothing in database 0"
    );
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn a_redis_restart_is_judged_by_the_run_that_died_not_by_the_next() {
    // An `everysec` run may lose its last second to a power cut: the
    // restart after it is not trusted, even when the next run says
    // `always` (the hole docs/simulation.md tells of, found by the
    // simulator).
    let mut redis = RedisServer::start_appendfsync("everysec");
    let a = node(&redis, &[]);
    let one = a.publish("t", "one");
    // `pushwire:runid` is "{run_id} {durable}": 0 for this run.
    let durable = |redis: &RedisServer| {
        let last = "return tonumber(string.sub(redis.call('GET', KEYS[1]), -1))";
        redis.command(&["EVAL", last, "1", "pushwire:runid"])
    };
    assert_eq!(durable(&redis), ":0");
    let mut stream = Stream::open(&a, "t", Some(one));
    a.wait_subscribers("t", "sse", 1);
    redis.kill();
    redis.set_appendfsync("always");
    redis.restart();
    let two = publish_when_up(&a, "t", "two");
    assert!(two > one + 1, "{two} must jump above {one}");
    let events = stream.events(2).to_vec();
    assert_eq!(events[0].event, "gap");
    assert_eq!(
        events[0].data,
        format!("{{\"since\":{one},\"oldest\":{two}}}")
    );
    assert_eq!(events[1].id, two.to_string());
    assert_eq!(durable(&redis), ":1");

    // That run answered nothing before it was on disk: the restart after
    // it is trusted, whatever the next run's setting, and ids go on.
    redis.kill();
    redis.set_appendfsync("everysec");
    redis.restart();
    let three = publish_when_up(&a, "t", "three");
    assert_eq!(three, two + 1);
    let events = stream.events(3).to_vec();
    assert_eq!(events.len(), 3, "no second gap: {events:?}");
    assert_eq!(events[2].event, "message");
    assert_eq!(events[2].id, three.to_string());
    // A node that starts now, knowing nothing, goes on too.
    let b = node(&redis, &[]);
    assert_eq!(b.publish("t", "four"), three + 1);
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn redis_back_from_an_older_snapshot_never_gives_an_id_twice() {
    // No append-only file: a restart reads the last snapshot back, without
    // the writes after it, whose ids the nodes have delivered.
    let mut redis = RedisServer::start(false);
    let a = node(&redis, &[]);
    let b = node(&redis, &[]);
    let early: Vec<u64> = (1..=3).map(|i| a.publish("s", &format!("e{i}"))).collect();
    assert_eq!(redis.command(&["SAVE"]), "+OK");
    let late: Vec<u64> = (1..=2).map(|i| b.publish("s", &format!("l{i}"))).collect();
    assert_eq!(late[0], early[2] + 1);
    let mut stream = Stream::open(&a, "s", Some(late[1]));
    a.wait_subscribers("s", "sse", 1);
    redis.kill();
    std::thread::sleep(Duration::from_millis(300));
    // While it is away, the reason says so.
    let refused = a.post("/pub/s", "away");
    assert_eq!(refused.status, 503);
    assert!(
        refused.text().contains("Connection refused"),
        "{}",
        refused.text()
    );
    redis.restart();
    assert_eq!(
        redis.command(&["XLEN", "pushwire:h:s"]),
        ":3",
        "the snapshot's"
    );
    // Whichever node publishes first, the ids Redis forgot are never
    // given again: the channel starts above them, with a gap.
    let next = publish_when_up(&a, "s", "after");
    assert!(next > late[1] + 1, "{next} must jump above {}", late[1]);
    let events = stream.events(2).to_vec();
    assert_eq!(events[0].event, "gap");
    assert_eq!(
        events[0].data,
        format!("{{\"since\":{},\"oldest\":{next}}}", late[1])
    );
    assert_eq!(events[1].id, next.to_string());
    // A node started after the restart goes on from there, and so does B.
    let c = node(&redis, &[]);
    assert_eq!(c.publish("s", "from c"), next + 1);
    assert_eq!(publish_when_up(&b, "s", "from b"), next + 2);
}
