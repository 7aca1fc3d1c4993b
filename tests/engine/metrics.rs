//! `GET /metrics` at the engine's layer: every counter moves by exactly
//! what happened (publishes, deliveries per transport, responses per
//! endpoint and status class, gaps, slow consumers, long-poll timeouts,
//! bytes, commit latency in virtual time), the gauges say what is open,
//! and `--metrics-token` and the metrics listener guard it.

use std::collections::HashMap;
use std::time::Duration;

use pushwire::Config;

use crate::harness::{each_store, get_request, publish_request, Harness};
use crate::store::Deferred;
use crate::websocket::upgrade;

/// One scrape, by series (`name{labels}`), and its response's head.
struct Scrape {
    series: HashMap<String, f64>,
}

impl Scrape {
    fn of(text: &str) -> Scrape {
        let mut series = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').expect("name value");
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
            };
            assert!(
                series.insert(name.to_owned(), value).is_none(),
                "{name} twice"
            );
        }
        Scrape { series }
    }

    /// The value of a series; every series is written, zero or not.
    fn get(&self, series: &str) -> f64 {
        *self
            .series
            .get(series)
            .unwrap_or_else(|| panic!("no series {series}"))
    }

    /// The value of `name{labels}`.
    fn labelled(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        self.get(&format!("{name}{{{}}}", labels.join(",")))
    }

    fn requests(&self, endpoint: &str, code: &str) -> f64 {
        let labels = [("endpoint", endpoint), ("code", code)];
        self.labelled("pushwire_http_requests_total", &labels)
    }

    fn by_transport(&self, name: &str, transport: &str) -> f64 {
        self.labelled(name, &[("transport", transport)])
    }
}

fn scrape(h: &mut Harness) -> Scrape {
    let response = h.get("/metrics");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    Scrape::of(std::str::from_utf8(&response.body).expect("UTF-8"))
}

fn open(h: &mut Harness, raw: &str) -> usize {
    let c = h.connect();
    h.send(c, raw.as_bytes());
    c
}

#[test]
fn three_publishes_count_three_and_every_delivery_by_its_transport() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let sse = [
            open(&mut h, &get_request("/sse/a", "")),
            open(&mut h, &get_request("/sse/a", "")),
        ];
        let ws = open(&mut h, &upgrade("/ws/a", ""));
        let parked = open(&mut h, &get_request("/longpoll/a", ""));
        let elsewhere = open(&mut h, &get_request("/sse/b", ""));
        let before = scrape(&mut h);
        assert_eq!(before.get("pushwire_messages_published_total"), 0.0);
        for i in 0..3 {
            h.publish("a", &format!("m{i}")).unwrap().unwrap();
        }
        let after = scrape(&mut h);
        assert_eq!(after.get("pushwire_messages_published_total"), 3.0);
        assert_eq!(after.get("pushwire_messages_replicated_total"), 0.0);
        let deliveries = "pushwire_deliveries_total";
        assert_eq!(after.by_transport(deliveries, "sse"), 6.0);
        assert_eq!(after.by_transport(deliveries, "websocket"), 3.0);
        // The long-poll was answered by the first message and left.
        assert_eq!(after.by_transport(deliveries, "longpoll"), 1.0);
        assert_eq!(after.get("pushwire_history_messages"), 3.0);
        assert!(after.get("pushwire_history_bytes") > 0.0);
        assert_eq!(after.get("pushwire_channels"), 2.0);
        let _ = (sse, ws, parked, elsewhere);
    });
}

#[test]
fn connections_are_counted_by_transport_and_state() {
    let mut h = Harness::new(Config::default());
    let _sse = open(&mut h, &get_request("/sse/a", ""));
    let _ws = open(&mut h, &upgrade("/ws/a", ""));
    let _echo = open(&mut h, &upgrade("/echo", ""));
    let _parked = open(&mut h, &get_request("/longpoll/a", ""));
    let _idle = h.connect();
    let _head = open(&mut h, "GET /poll/a HTTP/1.1\r\n");
    let s = scrape(&mut h);
    let state = |transport: &str, state: &str| {
        let labels = [("transport", transport), ("state", state)];
        s.labelled("pushwire_connections", &labels)
    };
    // The scrape's own connection is idle: its request arrived whole.
    assert_eq!(state("http", "idle"), 2.0);
    assert_eq!(state("http", "reading"), 1.0);
    assert_eq!(state("longpoll", "parked"), 1.0);
    assert_eq!(state("sse", "streaming"), 1.0);
    assert_eq!(state("websocket", "open"), 2.0);
    assert_eq!(state("any", "closing"), 0.0);
    assert_eq!(s.get("pushwire_connections_accepted_total"), 7.0);
    // Each connection has its one deadline.
    assert_eq!(s.get("pushwire_timers"), 7.0);
}

#[test]
fn responses_are_counted_by_endpoint_and_status_class() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        assert_eq!(h.get("/help").status, 200);
        assert_eq!(h.get("/nowhere").status, 404);
        assert_eq!(h.get("/poll/bad%20name").status, 400);
        assert_eq!(h.post("a", "hello").status, 202);
        assert_eq!(h.get("/pub/a").status, 200);
        assert_eq!(h.get("/poll/a").status, 200);
        let c = open(&mut h, "BROKEN\r\n\r\n");
        assert_eq!(h.last_response(c).status, 400);
        let c = open(&mut h, "OPTIONS /pub/a HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(h.last_response(c).status, 204);
        let _ws = open(&mut h, &upgrade("/ws/a", ""));
        let c = open(&mut h, &upgrade("/ws/bad%20name", ""));
        assert_eq!(h.last_response(c).status, 400);
        let s = scrape(&mut h);
        for (endpoint, code, n) in [
            ("help", "2xx", 1.0),
            ("other", "4xx", 1.0),
            ("poll", "4xx", 1.0),
            ("poll", "2xx", 1.0),
            ("pub", "2xx", 2.0),
            ("none", "4xx", 1.0),
            ("options", "2xx", 1.0),
            ("ws", "1xx", 1.0),
            ("ws", "4xx", 1.0),
            ("metrics", "2xx", 0.0),
            ("sse", "2xx", 0.0),
        ] {
            assert_eq!(s.requests(endpoint, code), n, "{endpoint} {code}");
        }
        // The scrape itself is counted once it is answered.
        assert_eq!(scrape(&mut h).requests("metrics", "2xx"), 1.0);
    });
}

#[test]
fn gaps_are_counted_on_each_transport_that_tells_one() {
    each_store(|| {
        let mut h = Harness::new(Config {
            history: 3,
            ..Config::default()
        });
        for i in 1..=6 {
            h.publish("g", &format!("m{i}")).unwrap().unwrap();
        }
        // The second poll gets the kept answer: counted too.
        for _ in 0..2 {
            assert!(
                String::from_utf8_lossy(&h.get("/poll/g?since=1").body).contains("\"gap\":true")
            );
        }
        assert_eq!(h.get("/poll/g?since=5").status, 200); // no gap
        let lp = h.get("/longpoll/g?since=2");
        assert!(String::from_utf8_lossy(&lp.body).contains("\"gap\":true"));
        let _sse = open(&mut h, &get_request("/sse/g", "Last-Event-ID: 1\r\n"));
        let _json = open(
            &mut h,
            &upgrade("/ws/g?since=1", "Sec-WebSocket-Protocol: pushwire.json\r\n"),
        );
        // A plain WebSocket's frames carry no ids: no gap frame to send.
        let _plain = open(&mut h, &upgrade("/ws/g?since=1", ""));
        let s = scrape(&mut h);
        let gaps = "pushwire_gaps_total";
        assert_eq!(s.by_transport(gaps, "poll"), 2.0);
        assert_eq!(s.by_transport(gaps, "longpoll"), 1.0);
        assert_eq!(s.by_transport(gaps, "sse"), 1.0);
        assert_eq!(s.by_transport(gaps, "websocket"), 1.0);
    });
}

#[test]
fn slow_consumers_and_long_poll_timeouts_are_counted() {
    each_store(|| {
        let mut h = Harness::new(Config {
            max_backlog_bytes: 10_000,
            ..Config::default()
        });
        let slow_sse = open(&mut h, &get_request("/sse/a", ""));
        let slow_ws = open(&mut h, &upgrade("/ws/a", ""));
        let _fast = open(&mut h, &get_request("/sse/a", ""));
        h.set_window(slow_sse, 0);
        h.set_window(slow_ws, 0);
        let data = "y".repeat(1000);
        for _ in 0..12 {
            h.publish("a", &data).unwrap().unwrap();
        }
        let _parked = open(&mut h, &get_request("/longpoll/b?timeout=2", ""));
        h.advance(Duration::from_secs(1));
        let s = scrape(&mut h);
        let slow = |transport: &str| {
            let labels = [("transport", transport), ("action", "close")];
            s.labelled("pushwire_slow_consumer_total", &labels)
        };
        assert_eq!(slow("sse"), 1.0);
        assert_eq!(slow("websocket"), 1.0);
        assert_eq!(s.get("pushwire_longpoll_timeouts_total"), 0.0);
        h.advance(Duration::from_secs(1));
        assert_eq!(scrape(&mut h).get("pushwire_longpoll_timeouts_total"), 1.0);
    });
}

#[test]
fn bytes_read_and_written_are_what_crossed_the_wire() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let publish = publish_request("a", "hello");
        let c = open(&mut h, &publish);
        let answer = h.take(c).len();
        let scrape_request = get_request("/metrics", "");
        let s = scrape(&mut h);
        assert_eq!(
            s.get("pushwire_read_bytes_total"),
            (publish.len() + scrape_request.len()) as f64
        );
        assert_eq!(s.get("pushwire_written_bytes_total"), answer as f64);
    });
}

#[test]
fn commit_latency_is_measured_in_virtual_time_and_failures_counted() {
    let store = Deferred::above(0);
    let mut h = Harness::with_store(Config::default(), Box::new(store.clone()));
    let c = open(&mut h, &publish_request("a", "kept"));
    let failing = open(&mut h, &publish_request("a", "lost"));
    store.fail_when("lost");
    h.advance(Duration::from_millis(20));
    assert_eq!(store.decide(), 2);
    h.commits();
    assert_eq!(h.last_response(c).status, 202);
    assert_eq!(h.last_response(failing).status, 503);
    let s = scrape(&mut h);
    assert_eq!(s.get("pushwire_store_commit_seconds_count"), 2.0);
    assert_eq!(s.get("pushwire_store_commit_seconds_sum"), 0.04);
    assert_eq!(
        s.get("pushwire_store_commit_seconds_bucket{le=\"0.01\"}"),
        0.0
    );
    assert_eq!(
        s.get("pushwire_store_commit_seconds_bucket{le=\"0.025\"}"),
        2.0
    );
    assert_eq!(s.get("pushwire_store_commit_errors_total"), 1.0);
    assert_eq!(s.get("pushwire_messages_published_total"), 1.0);
}

#[test]
fn loop_passes_are_counted_as_the_driver_times_them() {
    let mut h = Harness::new(Config::default());
    h.engine.handle_pass_time(Duration::from_micros(30));
    h.engine.handle_pass_time(Duration::from_millis(3));
    let s = scrape(&mut h);
    let bucket = |le: &str| s.get(&format!("pushwire_loop_pass_seconds_bucket{{le=\"{le}\"}}"));
    assert_eq!(bucket("0.00005"), 1.0);
    assert_eq!(bucket("0.0025"), 1.0);
    assert_eq!(bucket("0.005"), 2.0);
    assert_eq!(bucket("+Inf"), 2.0);
    assert_eq!(s.get("pushwire_loop_pass_seconds_sum"), 0.00303);
}

#[test]
fn the_metrics_token_is_required_as_a_bearer() {
    let mut h = Harness::new(Config {
        metrics_token: Some("s3cret".into()),
        ..Config::default()
    });
    let none = h.get("/metrics");
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"pushwire\"")
    );
    let c = open(
        &mut h,
        &get_request("/metrics", "Authorization: Bearer wrong\r\n"),
    );
    assert_eq!(h.last_response(c).status, 401);
    let c = open(
        &mut h,
        &get_request("/metrics", "Authorization: Bearer s3cret\r\n"),
    );
    let ok = h.last_response(c);
    assert_eq!(ok.status, 200);
    let s = Scrape::of(std::str::from_utf8(&ok.body).unwrap());
    assert_eq!(s.requests("metrics", "4xx"), 2.0);
    // The keep-alive connection goes on.
    assert_eq!(h.get_on(c, "/help").status, 200);
}

#[test]
fn with_a_metrics_listener_metrics_are_served_there_only() {
    let mut h = Harness::new(Config {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    });
    assert_eq!(h.get("/metrics").status, 404);
    assert_eq!(h.get("/help").status, 200);
    let m = h.connect_metrics();
    assert_eq!(h.get_on(m, "/help").status, 404);
    let ok = h.get_on(m, "/metrics");
    assert_eq!(ok.status, 200);
    let s = Scrape::of(std::str::from_utf8(&ok.body).unwrap());
    // `/metrics` on the main listener is a path it does not serve.
    assert_eq!(s.requests("other", "4xx"), 2.0);
    assert_eq!(s.requests("metrics", "4xx"), 0.0);
    // Without a metrics listener, a connection of the main one serves it.
    let mut plain = Harness::new(Config::default());
    assert_eq!(plain.get("/metrics").status, 200);
}

#[test]
fn refused_connections_are_counted_by_reason() {
    let mut h = Harness::new(Config {
        max_connections: 2,
        ..Config::default()
    });
    let a = h.connect();
    let b = h.connect();
    let refused = h.connect();
    assert_eq!(h.last_response(refused).status, 503);
    h.engine.handle_accept_dropped();
    // The scrape's own connection would be refused too: slots are freed.
    h.reset(a);
    h.reset(b);
    let s = scrape(&mut h);
    let reason = |r: &str| s.labelled("pushwire_connections_refused_total", &[("reason", r)]);
    assert_eq!(reason("max_connections"), 1.0);
    assert_eq!(reason("saturated"), 1.0);
    assert_eq!(reason("overloaded"), 0.0);
    assert_eq!(s.get("pushwire_connections_accepted_total"), 3.0);
    assert_eq!(s.requests("none", "5xx"), 1.0);
}
