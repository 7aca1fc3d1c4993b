//! Publish and Ajax polling over real TCP: ids, `since`, gaps, keep-alive,
//! pipelining, chunked bodies, `Expect: 100-continue`, CORS, curl.

mod common;

use std::io::{BufReader, Write};
use std::process::Command;

use common::{read_response, read_until_closed, TestServer};

/// The ids of a batch's messages, counted from the run's floor: the `k`th
/// message of a channel has id `floor + k` (docs/durability.md).
fn ids(server: &TestServer, batch: &serde_json::Value) -> Vec<u64> {
    batch["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap() - server.floor())
        .collect()
}

#[test]
fn publish_then_poll_returns_the_messages_with_increasing_ids() {
    let server = TestServer::start(&[]);
    let texts = [
        "hello",
        "with \"quotes\" and \\ and\nnewline",
        "unicode: é ✓ 😀",
        "",
    ];
    let got: Vec<u64> = texts.iter().map(|t| server.publish("news", t)).collect();
    assert_eq!(got, server.ids(1..=4));
    let batch = server.poll("news", None);
    assert_eq!(batch["last_id"], server.id(4));
    assert_eq!(ids(&server, &batch), [1, 2, 3, 4]);
    for (message, text) in batch["messages"].as_array().unwrap().iter().zip(texts) {
        assert_eq!(message["data"], text);
    }
    assert!(batch.get("gap").is_none());
    // Channels count their ids separately.
    assert_eq!(server.publish("other", "x"), server.id(1));
}

#[test]
fn since_returns_only_newer_messages() {
    let server = TestServer::start(&[]);
    for i in 1..=5 {
        server.publish("s", &format!("m{i}"));
    }
    assert_eq!(ids(&server, &server.poll("s", Some(0))), [1, 2, 3, 4, 5]);
    assert_eq!(ids(&server, &server.poll("s", Some(server.id(3)))), [4, 5]);
    let nothing = server.poll("s", Some(server.id(5)));
    assert_eq!(
        (ids(&server, &nothing), nothing["last_id"].as_u64()),
        (vec![], Some(server.id(5)))
    );
    // A client ahead of the server is told the real last id.
    let ahead = server.poll("s", Some(server.id(1000)));
    assert_eq!(
        (ids(&server, &ahead), ahead["last_id"].as_u64()),
        (vec![], Some(server.id(5)))
    );
    // A channel nobody used: empty, last_id the floor (every id of an
    // earlier run is at or below it), and it is not created.
    let empty = server.poll("never", None);
    assert_eq!(
        (ids(&server, &empty), empty["last_id"].as_u64()),
        (vec![], Some(server.floor()))
    );
    assert!(server.floor() > 1_000_000_000_000_000);
    assert_eq!(server.get("/pub/never").status, 404);
}

#[test]
fn eviction_from_history_is_reported_as_a_gap() {
    let server = TestServer::start(&["--history", "3"]);
    for i in 1..=6 {
        server.publish("g", &format!("m{i}"));
    }
    let all = server.poll("g", None);
    assert_eq!(ids(&server, &all), [4, 5, 6]);
    assert_eq!(all["gap"], true);
    assert_eq!(server.poll("g", Some(server.id(2)))["gap"], true);
    let exact = server.poll("g", Some(server.id(3)));
    assert_eq!(ids(&server, &exact), [4, 5, 6]);
    assert!(exact.get("gap").is_none());
    let info = server.get("/pub/g").json();
    assert_eq!(
        (info["last_id"].as_u64(), info["history"].as_u64()),
        (Some(server.id(6)), Some(3))
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    // Three requests in one write: a publish, a poll that must see it, and
    // a poll of another channel.
    stream
        .write_all(
            b"POST /pub/p HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none\
              GET /poll/p HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /poll/q HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let first = read_response(&mut reader).unwrap();
    assert_eq!(
        (first.status, first.text()),
        (202, format!(r#"{{"id":{}}}"#, server.id(1)))
    );
    let second = read_response(&mut reader).unwrap();
    assert_eq!(second.json()["messages"][0]["data"], "one");
    let third = read_response(&mut reader).unwrap();
    assert_eq!(third.json()["last_id"], server.floor());
}

#[test]
fn keep_alive_reuses_one_connection_for_many_requests() {
    let server = TestServer::start(&[]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for i in 1..=20u64 {
        writer
            .write_all(
                format!(
                    "POST /pub/k HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n{}",
                    i % 10
                )
                .as_bytes(),
            )
            .unwrap();
        let response = read_response(&mut reader).unwrap();
        assert_eq!(response.json()["id"], server.id(i));
        assert_eq!(response.header("connection"), None);
    }
    writer
        .write_all(
            format!(
                "GET /poll/k?since={} HTTP/1.1\r\nHost: t\r\n\r\n",
                server.id(19)
            )
            .as_bytes(),
        )
        .unwrap();
    assert_eq!(
        ids(&server, &read_response(&mut reader).unwrap().json()),
        [20]
    );
}

#[test]
fn http_10_closes_unless_keep_alive_is_asked_for() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"GET /poll/a HTTP/1.0\r\n\r\n").unwrap();
    let rest = read_until_closed(&mut stream).unwrap();
    let text = String::from_utf8(rest).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");

    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for _ in 0..2 {
        writer
            .write_all(b"GET /poll/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let response = read_response(&mut reader).unwrap();
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn connection_close_is_honoured() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /poll/a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /poll/b HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let text = String::from_utf8(read_until_closed(&mut stream).unwrap()).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200").count(), 1, "{text}");
}

#[test]
fn chunked_publish_is_decoded_and_extensions_and_trailers_ignored() {
    let server = TestServer::start(&[]);
    let response = server.exchange(
        b"POST /pub/c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    assert_eq!(response.status, 202);
    assert_eq!(server.poll("c", None)["messages"][0]["data"], "hello world");
}

#[test]
fn expect_100_continue_gets_an_interim_response_before_the_body() {
    let server = TestServer::start(&[]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(
            b"POST /pub/e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        )
        .unwrap();
    let interim = read_response(&mut reader).unwrap();
    assert_eq!(interim.status, 100);
    writer.write_all(b"body").unwrap();
    let last = read_response(&mut reader).unwrap();
    assert_eq!(
        (last.status, last.json()["id"].as_u64()),
        (202, Some(server.id(1)))
    );
}

#[test]
fn head_requests_get_headers_without_a_body() {
    let server = TestServer::start(&[]);
    server.publish("h", "x");
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    writer
        .write_all(
            b"HEAD /poll/h HTTP/1.1\r\nHost: t\r\n\r\nGET /poll/h HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    // The HEAD answer announces a length but carries no body, so the next
    // response starts right after its head.
    let mut head = String::new();
    loop {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let next = read_response(&mut reader).unwrap();
    assert_eq!(next.status, 200);
    let announced = format!("Content-Length: {}\r\n", next.body.len());
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains(&announced),
        "{head}"
    );
}

#[test]
fn subscribe_responses_carry_cors_and_preflight_is_answered() {
    let server = TestServer::start(&[]);
    let poll = server
        .exchange(b"GET /poll/x HTTP/1.1\r\nHost: t\r\nOrigin: https://elsewhere.example\r\n\r\n");
    assert_eq!(poll.header("access-control-allow-origin"), Some("*"));
    let preflight = server.exchange(
        b"OPTIONS /pub/x HTTP/1.1\r\nHost: t\r\nOrigin: https://elsewhere.example\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    );
    assert_eq!(preflight.status, 204);
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));

    let listed = TestServer::start(&["--allow-origin", "https://app.example"]);
    let ok =
        listed.exchange(b"GET /poll/x HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n");
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let other =
        listed.exchange(b"GET /poll/x HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n\r\n");
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn publish_token_is_required_when_set() {
    let server = TestServer::start(&["--publish-token", "s3cret"]);
    let refused = server.post("/pub/t", "x");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    let wrong = server.exchange(b"POST /pub/t HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nope\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(wrong.status, 401);
    let ok = server.exchange(b"POST /pub/t HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(ok.status, 202);
    // Refused publishes left nothing behind.
    assert_eq!(server.get("/pub/t").json()["last_id"], server.id(1));
}

#[test]
fn cross_site_publish_is_refused_unless_listed() {
    let server = TestServer::start(&[]);
    let evil = server.exchange(
        b"POST /pub/o HTTP/1.1\r\nHost: 127.0.0.1:1\r\nOrigin: https://evil.example\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(evil.status, 403);
    let same = server.exchange(
        b"POST /pub/o HTTP/1.1\r\nHost: 127.0.0.1:1\r\nOrigin: http://127.0.0.1:1\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(same.status, 202);
    let listed = TestServer::start(&["--allow-origin", "https://app.example"]);
    let ok = listed.exchange(
        b"POST /pub/o HTTP/1.1\r\nHost: 127.0.0.1:1\r\nOrigin: https://app.example\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(
        (ok.status, ok.header("access-control-allow-origin")),
        (202, Some("https://app.example"))
    );
    assert_eq!(server.get("/pub/o").json()["last_id"], server.id(1));
}

#[test]
fn curl_publishes_and_polls() {
    let server = TestServer::start(&[]);
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args)
            .output()
            .expect("curl is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        curl(&["-d", "from curl", &server.url("/pub/curl")]),
        format!(r#"{{"id":{}}}"#, server.id(1))
    );
    // Over 1 KiB, so curl sends Expect: 100-continue and waits for it.
    let big = "b".repeat(3000);
    assert_eq!(
        curl(&["--data-binary", &big, &server.url("/pub/curl")]),
        format!(r#"{{"id":{}}}"#, server.id(2))
    );
    // Chunked, as curl does for a body of unknown length.
    assert_eq!(
        curl(&[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "chunky",
            &server.url("/pub/curl")
        ]),
        format!(r#"{{"id":{}}}"#, server.id(3))
    );
    let batch: serde_json::Value =
        serde_json::from_str(&curl(&[&server.url("/poll/curl?since=0")])).unwrap();
    assert_eq!(ids(&server, &batch), [1, 2, 3]);
    assert_eq!(batch["messages"][1]["data"].as_str().unwrap().len(), 3000);
    assert_eq!(batch["messages"][2]["data"], "chunky");
}

#[test]
fn the_demo_page_and_the_endpoint_index_are_served() {
    let server = TestServer::start(&[]);
    let demo = server.get("/");
    assert_eq!(
        demo.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = demo.text();
    for needle in [
        "new EventSource(",
        "new WebSocket(",
        "/longpoll/",
        "/poll/",
        "id=\"publish\"",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    // Self-contained: no external scripts, styles or images.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    let help = server.get("/help").text();
    for endpoint in [
        "/pub/{channel}",
        "/poll/{channel}",
        "/longpoll/{channel}",
        "/sse/{channel}",
        "/ws/{channel}",
        "/echo",
    ] {
        assert!(help.contains(endpoint), "{endpoint} missing from /help");
    }
}

#[test]
fn a_kept_poll_answer_never_outlives_a_change_to_the_channel() {
    // Poll answers are kept and shared while they stay true: a publish on
    // the channel, or an eviction caused by another channel, must show.
    // 12 KB of history holds two messages of 1000 bytes (Message::cost).
    let server = TestServer::start(&["--max-history-bytes", "12000"]);
    let data = "z".repeat(1000);
    server.publish("a", &data);
    for _ in 0..3 {
        assert_eq!(ids(&server, &server.poll("a", Some(0))), [1]);
    }
    server.publish("a", &data);
    assert_eq!(ids(&server, &server.poll("a", Some(0))), [1, 2]);
    // Publishing on b evicts a's oldest message (the byte bound).
    server.publish("b", &data);
    let after = server.poll("a", Some(0));
    assert_eq!(
        (ids(&server, &after), after["gap"].as_bool()),
        (vec![2], Some(true))
    );
    // HTTP/1.0 and HEAD get answers of their own shape.
    let old = server.exchange(b"GET /poll/a?since=0 HTTP/1.0\r\n\r\n");
    assert_eq!(old.header("connection"), Some("close"));
}

/// The `Date` of `response`, checked to be the wall clock's, give or take
/// the test's own delays.
fn checked_date(response: &common::Response, what: &str) -> std::time::SystemTime {
    use std::time::{Duration, SystemTime};
    let value = response
        .header("date")
        .unwrap_or_else(|| panic!("{what}: no Date in {:?}", response.head));
    let date = httpdate::parse_http_date(value).unwrap_or_else(|e| panic!("{what}: {value}: {e}"));
    let now = SystemTime::now();
    assert!(
        date <= now && now <= date + Duration::from_secs(5),
        "{what}: Date {value} is not now"
    );
    date
}

#[test]
fn every_response_carries_a_date_and_kept_poll_answers_do_not_go_stale() {
    // RFC 9110 section 6.6.1: an origin server with a clock sends Date in
    // every 2xx, 3xx and 4xx response.
    let server = TestServer::start(&[]);
    checked_date(&server.post("/pub/d", "x"), "publish (202)");
    checked_date(&server.get("/pub/d"), "channel info (200)");
    let first = checked_date(&server.get("/poll/d?since=0"), "poll (200)");
    checked_date(&server.get("/nowhere"), "404");
    checked_date(&server.get("/poll/d?since=x"), "400");
    checked_date(
        &server.get("/longpoll/d?since=1&timeout=0.1"),
        "long-poll answered by its deadline",
    );
    checked_date(
        &server.exchange(
            b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ),
        "refused WebSocket handshake (400)",
    );
    // The head of an event stream.
    let mut stream = server.connect();
    stream
        .write_all(b"GET /sse/d HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        use std::io::BufRead;
        assert!(reader.read_line(&mut head).unwrap() > 0, "eof in {head:?}");
    }
    let date_line = head
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .unwrap_or_else(|| panic!("no Date in the SSE head {head:?}"));
    assert!(httpdate::parse_http_date(date_line).is_ok(), "{date_line}");
    // Poll answers are kept and shared while the channel does not change;
    // a new second must still get a new Date, not the kept one.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let later = checked_date(&server.get("/poll/d?since=0"), "the same poll, later");
    assert!(later > first, "a kept answer went out with its old Date");
}
