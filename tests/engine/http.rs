//! HTTP at the engine's layer: the demo page and the index, channel info,
//! publish (`Content-Length`, chunked, `Expect: 100-continue`, the token,
//! the origin check), Ajax polling and its kept answers, `Date`, `HEAD`,
//! the CORS preflight and the CORS fields of subscribe answers,
//! keep-alive, HTTP/1.0, `Connection: close`, pipelining, 404 and 405.

use std::time::Duration;

use pushwire::config::AllowOrigin;
use pushwire::Config;

use crate::harness::{each_store, get_request, publish_request, Harness, DATE};

/// A whole JSON answer (poll, long-poll, channel info) as the engine
/// writes it to an HTTP/1.1 client that sent no `Origin`, with the `Date`
/// of the first second.
pub fn json_answer(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nDate: {DATE}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nCache-Control: no-cache\r\n\
         Access-Control-Allow-Origin: *\r\n\r\n{body}",
        body.len()
    )
}

/// The end of a channel's info: its subscribers per transport.
pub fn subscribers(ws: u32, sse: u32, longpoll: u32) -> String {
    format!(r#""subscribers":{{"ws":{ws},"sse":{sse},"longpoll":{longpoll}}}}}"#)
}

/// The `202` answer to a publish that got `id`.
fn accepted(id: u64) -> String {
    let body = format!(r#"{{"id":{id}}}"#);
    format!(
        "HTTP/1.1 202 Accepted\r\nDate: {DATE}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nAccess-Control-Allow-Origin: *\r\n\r\n{body}",
        body.len()
    )
}

/// A plain-text refusal that keeps the connection.
fn refusal(status: &str, reason: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nDate: {DATE}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n{reason}\n",
        reason.len() + 1
    )
}

/// The head of a raw response (up to and including the blank line).
fn head_of(raw: &str) -> &str {
    let end = raw.find("\r\n\r\n").expect("a whole head") + 4;
    &raw[..end]
}

const DEMO: &str = include_str!("../../src/engine/demo.html");

#[test]
fn the_demo_page_is_served_whole_and_self_contained() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    h.send(c, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        h.take_text(c),
        format!(
            "HTTP/1.1 200 OK\r\nDate: {DATE}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\n\r\n{DEMO}",
            DEMO.len()
        )
    );
    for needle in [
        "new EventSource(",
        "new WebSocket(",
        "/longpoll/",
        "/poll/",
        "id=\"publish\"",
    ] {
        assert!(DEMO.contains(needle), "{needle}");
    }
    // No external scripts, styles or images.
    assert!(!DEMO.contains("src=\"http") && !DEMO.contains("href=\"http"));
}

#[test]
fn help_lists_every_endpoint_in_plain_text() {
    let mut h = Harness::new(Config::default());
    let help = h.get("/help");
    assert_eq!(help.status, 200);
    assert_eq!(
        help.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let text = help.text();
    assert!(text.starts_with("pushwire: four ways to push data to a client\n"));
    for line in [
        "\nPOST /pub/{channel} ",
        "\nGET  /pub/{channel} ",
        "\nGET  /poll/{channel}?since=ID ",
        "\nGET  /longpoll/{channel}?since=ID&timeout=SECS\n",
        "\nGET  /sse/{channel} ",
        "\nGET  /ws/{channel} ",
        "\nGET  /echo ",
    ] {
        assert!(text.contains(line), "{line:?} missing from /help");
    }
    // Continuation lines keep their indentation, under the description
    // column.
    let pad = " ".repeat(37);
    assert!(text.contains(&format!(
        "\n{pad}long-polling: answers when there is news\n"
    )));
    assert!(text.contains(&format!("\n{pad}subprotocol pushwire.json")));
}

#[test]
fn channel_info_counts_history_and_subscribers_per_transport() {
    each_store(|| {
        let mut h = Harness::new(Config {
            history: 2,
            ..Config::default()
        });
        for data in ["a", "b", "c"] {
            h.publish("news", data).unwrap().unwrap();
        }
        for target in ["/sse/news", "/sse/news", "/longpoll/news"] {
            let c = h.connect();
            h.send(c, get_request(target, "").as_bytes());
        }
        let ws = h.connect();
        h.send(ws, crate::websocket::upgrade("/ws/news", "").as_bytes());
        let c = h.connect();
        h.send(c, b"GET /pub/news HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            h.take_text(c),
            json_answer(r#"{"last_id":3,"history":2,"subscribers":{"ws":1,"sse":2,"longpoll":1}}"#)
        );
    });
}

#[test]
fn channel_info_of_an_unknown_channel_is_404_and_the_connection_stays() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    h.send(c, b"GET /pub/never HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(h.take_text(c), refusal("404 Not Found", "no such channel"));
    h.send(c, b"GET /pub/bad%20name HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        h.take_text(c),
        refusal(
            "400 Bad Request",
            "channel names are 1-128 bytes of [A-Za-z0-9._~-]"
        )
    );
    assert_eq!(h.get_on(c, "/poll/a").status, 200);
    assert!(!h.clients[c].shut_down);
}

#[test]
fn a_publish_is_answered_202_with_its_id() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        h.send(c, publish_request("news", "hello").as_bytes());
        assert_eq!(h.take_text(c), accepted(1));
        h.send(c, publish_request("news", "again").as_bytes());
        assert_eq!(h.take_text(c), accepted(2));
        // Channels count their ids separately.
        h.send(c, publish_request("other", "x").as_bytes());
        assert_eq!(h.take_text(c), accepted(1));
    });
}

#[test]
fn published_data_comes_back_exactly_with_increasing_ids() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let texts = [
            "hello",
            "with \"quotes\" and \\ and\nnewline",
            "unicode: é ✓ 😀",
            "",
        ];
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(
                h.post("news", text).text(),
                format!(r#"{{"id":{}}}"#, i + 1)
            );
        }
        assert_eq!(
            h.get("/poll/news").text(),
            r#"{"last_id":4,"messages":[{"id":1,"data":"hello"},{"id":2,"data":"with \"quotes\" and \\ and\nnewline"},{"id":3,"data":"unicode: é ✓ 😀"},{"id":4,"data":""}]}"#
        );
    });
}

#[test]
fn a_chunked_publish_is_decoded_and_extensions_and_trailers_ignored() {
    each_store(|| {
        let request = b"POST /pub/c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;ext=1\r\nhello\r\n6 ; name=\"v\"\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n";
        // Whole, then one byte at a time: the same answer.
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        h.send(c, request);
        assert_eq!(h.take_text(c), accepted(1));
        let c = h.connect();
        for b in request {
            h.send(c, std::slice::from_ref(b));
        }
        assert_eq!(h.take_text(c), accepted(2));
        assert_eq!(
            h.get("/poll/c").text(),
            r#"{"last_id":2,"messages":[{"id":1,"data":"hello world"},{"id":2,"data":"hello world"}]}"#
        );
    });
}

#[test]
fn expect_100_continue_gets_an_interim_response_before_the_body() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        // A body over 1 KiB, as curl sends it: it waits for the 100.
        let body = "b".repeat(3000);
        h.send(
            c,
            b"POST /pub/e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3000\r\n\r\n",
        );
        assert_eq!(h.take_text(c), "HTTP/1.1 100 Continue\r\n\r\n");
        h.send(c, body.as_bytes());
        assert_eq!(h.take_text(c), accepted(1));
        assert_eq!(h.transcript(c).interim, [100]);
        // The body sent with the head: no 100 (the client is not waiting).
        h.send(
            c,
            b"POST /pub/e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
        );
        assert_eq!(h.take_text(c), accepted(2));
        // Chunked, the same.
        h.send(
            c,
            b"POST /pub/e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!(h.take_text(c), "HTTP/1.1 100 Continue\r\n\r\n");
        h.send(c, b"6\r\nchunky\r\n0\r\n\r\n");
        assert_eq!(h.take_text(c), accepted(3));
        assert_eq!(
            h.get("/poll/e?since=1").text(),
            r#"{"last_id":3,"messages":[{"id":2,"data":"ok"},{"id":3,"data":"chunky"}]}"#
        );
    });
}

#[test]
fn an_http_10_client_gets_no_100_continue() {
    // RFC 9110 section 15.2: a 1xx is never sent to an HTTP/1.0 client,
    // which could not read it; its Expect is ignored.
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    h.send(
        c,
        b"POST /pub/e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    );
    assert!(h.take(c).is_empty());
    h.send(c, b"ok");
    let transcript = h.transcript(c);
    assert!(transcript.interim.is_empty());
    assert_eq!(transcript.responses[0].status, 202);
}

#[test]
fn a_refused_publish_gets_no_100_continue() {
    let mut h = Harness::new(Config {
        publish_token: Some("s3cret".into()),
        ..Config::default()
    });
    let c = h.connect();
    h.send(
        c,
        b"POST /pub/e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3000\r\n\r\n",
    );
    let transcript = h.transcript(c);
    assert!(transcript.interim.is_empty());
    assert_eq!(transcript.responses[0].status, 401);
    assert!(h.clients[c].shut_down);
}

#[test]
fn a_publish_token_is_required_and_its_absence_answered_401_bearer() {
    each_store(|| {
        let mut h = Harness::new(Config {
            publish_token: Some("s3cret".into()),
            ..Config::default()
        });
        let reason = "publishing needs Authorization: Bearer <token>\n";
        for auth in [
            "",
            "Authorization: Bearer nope\r\n",
            "Authorization: s3cret\r\n",
        ] {
            let c = h.connect();
            h.send(
                c,
                format!("POST /pub/t HTTP/1.1\r\nHost: h\r\n{auth}Content-Length: 1\r\n\r\nx")
                    .as_bytes(),
            );
            assert_eq!(
                h.take_text(c),
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nDate: {DATE}\r\n\
                     Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
                     WWW-Authenticate: Bearer\r\nConnection: close\r\n\r\n{reason}",
                    reason.len()
                ),
                "{auth:?}"
            );
            assert!(h.clients[c].shut_down, "{auth:?}");
        }
        let c = h.connect();
        h.send(
            c,
            b"POST /pub/t HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nContent-Length: 1\r\n\r\ny",
        );
        assert_eq!(h.take_text(c), accepted(1));
        // Refused publishes left nothing behind; reading needs no token.
        assert_eq!(
            h.get("/poll/t").text(),
            r#"{"last_id":1,"messages":[{"id":1,"data":"y"}]}"#
        );
    });
}

#[test]
fn a_cross_site_publish_is_refused_unless_same_origin_or_listed() {
    each_store(|| {
        let post = |origin: &str| {
            format!(
                "POST /pub/o HTTP/1.1\r\nHost: 127.0.0.1:1\r\nOrigin: {origin}\r\nContent-Length: 1\r\n\r\nx"
            )
        };
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        let refused = h.request(c, &post("https://evil.example"));
        assert_eq!(refused.status, 403);
        assert_eq!(
            refused.text(),
            "cross-site publish refused (see --allow-origin)\n"
        );
        assert_eq!(refused.header("connection"), Some("close"));
        assert!(h.clients[c].shut_down);
        // A page of the server's own origin may publish.
        let c = h.connect();
        assert_eq!(h.request(c, &post("http://127.0.0.1:1")).status, 202);
        // Behind TLS the own origin is https://: the http:// one is
        // another site (RFC 6454 4), whatever the Host.
        let mut tls = Harness::new(Config {
            tls: Some(pushwire::config::TlsSettings::new("c.pem", "k.pem")),
            ..Config::default()
        });
        let c = tls.connect();
        assert_eq!(tls.request(c, &post("https://127.0.0.1:1")).status, 202);
        let c = tls.connect();
        assert_eq!(tls.request(c, &post("http://127.0.0.1:1")).status, 403);
        // With a list, a listed origin may, and is named in the answer.
        let mut h = Harness::new(Config {
            allow_origin: AllowOrigin::List(vec!["https://app.example".into()]),
            ..Config::default()
        });
        let c = h.connect();
        h.send(c, post("https://app.example").as_bytes());
        assert_eq!(
            h.take_text(c),
            format!(
                "HTTP/1.1 202 Accepted\r\nDate: {DATE}\r\nContent-Type: application/json\r\n\
                 Content-Length: 8\r\nAccess-Control-Allow-Origin: https://app.example\r\n\
                 Vary: Origin\r\n\r\n{{\"id\":1}}"
            )
        );
        let c = h.connect();
        assert_eq!(h.request(c, &post("https://evil.example")).status, 403);
        // Without an Origin (not a browser) publishing needs nothing.
        assert_eq!(h.post("o", "y").status, 202);
        assert_eq!(
            h.get("/poll/o").text(),
            r#"{"last_id":2,"messages":[{"id":1,"data":"x"},{"id":2,"data":"y"}]}"#
        );
    });
}

#[test]
fn poll_without_since_gets_all_history_and_with_since_only_what_is_newer() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        for i in 1..=5 {
            h.publish("s", &format!("m{i}")).unwrap().unwrap();
        }
        let all = r#"{"last_id":5,"messages":[{"id":1,"data":"m1"},{"id":2,"data":"m2"},{"id":3,"data":"m3"},{"id":4,"data":"m4"},{"id":5,"data":"m5"}]}"#;
        let c = h.connect();
        for target in ["/poll/s", "/poll/s?since=0"] {
            h.send(c, get_request(target, "").as_bytes());
            assert_eq!(h.take_text(c), json_answer(all), "{target}");
        }
        let cases = [
            (
                "/poll/s?since=3",
                r#"{"last_id":5,"messages":[{"id":4,"data":"m4"},{"id":5,"data":"m5"}]}"#,
            ),
            ("/poll/s?since=5", r#"{"last_id":5,"messages":[]}"#),
            // A client ahead of the server (it restarted) is told the
            // real last id.
            ("/poll/s?since=1000", r#"{"last_id":5,"messages":[]}"#),
            // Other parameters are ignored; the first since counts.
            (
                "/poll/s?x=1&since=4&since=1",
                r#"{"last_id":5,"messages":[{"id":5,"data":"m5"}]}"#,
            ),
            // A channel nobody used: empty, and it is not created.
            ("/poll/never", r#"{"last_id":0,"messages":[]}"#),
        ];
        for (target, body) in cases {
            assert_eq!(h.get_on(c, target).text(), body, "{target}");
        }
        assert_eq!(h.get("/pub/never").status, 404);
    });
}

#[test]
fn a_poll_from_before_history_is_told_gap() {
    each_store(|| {
        let mut h = Harness::new(Config {
            history: 3,
            ..Config::default()
        });
        for i in 1..=6 {
            h.publish("g", &format!("m{i}")).unwrap().unwrap();
        }
        let kept = r#"[{"id":4,"data":"m4"},{"id":5,"data":"m5"},{"id":6,"data":"m6"}]"#;
        let gap = format!(r#"{{"last_id":6,"gap":true,"messages":{kept}}}"#);
        assert_eq!(h.get("/poll/g").text(), gap);
        assert_eq!(h.get("/poll/g?since=2").text(), gap);
        // Since 3: message 4 is the oldest kept, nothing was lost.
        assert_eq!(
            h.get("/poll/g?since=3").text(),
            format!(r#"{{"last_id":6,"messages":{kept}}}"#)
        );
        assert_eq!(
            h.get("/pub/g").text(),
            r#"{"last_id":6,"history":3,"subscribers":{"ws":0,"sse":0,"longpoll":0}}"#
        );
    });
}

#[test]
fn kept_poll_answers_never_go_stale() {
    each_store(|| {
        // Messages of 1000 bytes cost a little over 5 KB of the history
        // bound (Message::cost): 12 KB holds two.
        let mut h = Harness::new(Config {
            max_history_bytes: 12_000,
            ..Config::default()
        });
        let data = "z".repeat(1000);
        let item = |id: u64| format!(r#"{{"id":{id},"data":"{data}"}}"#);
        h.publish("a", &data).unwrap().unwrap();
        let c = h.connect();
        let first = json_answer(&format!(r#"{{"last_id":1,"messages":[{}]}}"#, item(1)));
        for _ in 0..3 {
            h.send(c, b"GET /poll/a?since=0 HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(h.take_text(c), first);
        }
        // A publish on the channel.
        h.publish("a", &data).unwrap().unwrap();
        assert_eq!(
            h.get_on(c, "/poll/a?since=0").text(),
            format!(r#"{{"last_id":2,"messages":[{},{}]}}"#, item(1), item(2))
        );
        // A publish on b evicts a's oldest message (the byte bound): the
        // channel's last id did not move, but its answer changed.
        h.publish("b", &data).unwrap().unwrap();
        assert_eq!(
            h.get_on(c, "/poll/a?since=0").text(),
            format!(r#"{{"last_id":2,"gap":true,"messages":[{}]}}"#, item(2))
        );
        // HTTP/1.0 and HEAD get answers of their own shape, not the kept
        // HTTP/1.1 GET one.
        let c10 = h.connect();
        let old = h.request(c10, "GET /poll/a?since=0 HTTP/1.0\r\n\r\n");
        assert_eq!(old.header("connection"), Some("close"));
        let ch = h.connect();
        h.send(ch, b"HEAD /poll/a?since=0 HTTP/1.1\r\nHost: h\r\n\r\n");
        let head = h.take_text(ch);
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        h.send(ch, b"GET /poll/a?since=0 HTTP/1.1\r\nHost: h\r\n\r\n");
        let get = h.take_text(ch);
        assert_eq!(head, head_of(&get));
        // A new second: the same question gets a new Date.
        h.advance(Duration::from_millis(999));
        assert_eq!(h.get_on(c, "/poll/a?since=0").header("date"), Some(DATE));
        h.advance(Duration::from_millis(1));
        assert_eq!(
            h.get_on(c, "/poll/a?since=0").header("date"),
            Some("Wed, 25 Nov 2026 00:00:01 GMT")
        );
    });
}

#[test]
fn every_final_response_carries_the_date_of_its_second() {
    each_store(|| {
        let mut h = Harness::new(Config {
            longpoll_max: Duration::from_secs(5),
            ..Config::default()
        });
        let second = |n: u64| format!("Wed, 25 Nov 2026 00:00:{n:02} GMT");
        h.advance(Duration::from_secs(3));
        let parked = h.connect();
        h.send(
            parked,
            b"GET /longpoll/d?timeout=2 HTTP/1.1\r\nHost: h\r\n\r\n",
        );
        let date = second(3);
        let sse = h.connect();
        h.send(sse, b"GET /sse/d HTTP/1.1\r\nHost: h\r\n\r\n");
        let responses = [
            h.post("d", "x"),
            h.get("/pub/d"),
            h.get("/poll/d?since=0"),
            h.get("/nowhere"),
            h.get("/poll/d?since=x"),
            h.get("/"),
            h.get("/help"),
            h.last_response(sse),
            h.last_response(parked),
        ];
        for response in &responses {
            assert_eq!(response.header("date"), Some(date.as_str()), "{response:?}");
        }
        let c = h.connect();
        let refused = h.request(
            c,
            &crate::websocket::upgrade("/echo", "").replace("13", "8"),
        );
        assert_eq!(
            (refused.status, refused.header("date")),
            (426, Some(date.as_str()))
        );
        // The long-poll answered by its deadline, two seconds later.
        let again = h.connect();
        h.send(
            again,
            b"GET /longpoll/d?since=1&timeout=2 HTTP/1.1\r\nHost: h\r\n\r\n",
        );
        h.advance(Duration::from_secs(2));
        assert_eq!(
            h.last_response(again).header("date"),
            Some(second(5).as_str())
        );
    });
}

#[test]
fn head_requests_get_the_head_of_the_get_answer_without_its_body() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        h.publish("h", "x").unwrap().unwrap();
        for target in [
            "/",
            "/help",
            "/poll/h",
            "/pub/h",
            "/pub/never",
            "/nowhere",
            "/poll/bad%20name",
        ] {
            let c = h.connect();
            h.send(c, get_request(target, "").as_bytes());
            let get = h.take_text(c);
            // The HEAD answer announces the length of the body it leaves
            // out, so the next response follows its head at once.
            h.send(
                c,
                format!(
                    "HEAD {target} HTTP/1.1\r\nHost: h\r\n\r\nGET {target} HTTP/1.1\r\nHost: h\r\n\r\n"
                )
                .as_bytes(),
            );
            let both = h.take_text(c);
            assert_eq!(both, format!("{}{get}", head_of(&get)), "{target}");
        }
    });
}

#[test]
fn the_preflight_answers_204_with_the_cors_fields() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    let preflight = "OPTIONS /pub/x HTTP/1.1\r\nHost: h\r\nOrigin: https://elsewhere.example\r\n\
        Access-Control-Request-Method: POST\r\n\r\n";
    let response = h.request(c, preflight);
    assert_eq!(response.status, 204);
    assert!(response.body.is_empty());
    // RFC 9110 section 8.6: no Content-Length on a 204.
    assert_eq!(response.header("content-length"), None);
    let cors = [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, HEAD, POST, OPTIONS"),
        (
            "access-control-allow-headers",
            "Authorization, Content-Type, Last-Event-ID",
        ),
        ("access-control-max-age", "600"),
        ("vary", "Origin"),
    ];
    for (name, value) in cors {
        assert_eq!(response.header(name), Some(value), "{name}");
    }
    assert_eq!(response.header("connection"), None);
    // Any path, the asterisk form too; the connection goes on.
    assert_eq!(
        h.request(c, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").status,
        204
    );
    assert_eq!(
        h.request(c, "OPTIONS /sse/x HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        204
    );
    assert_eq!(h.get_on(c, "/poll/x").status, 200);

    // With a list: a listed origin is named, any other is told "null".
    let mut h = Harness::new(Config {
        allow_origin: AllowOrigin::List(vec!["https://app.example".into()]),
        ..Config::default()
    });
    let c = h.connect();
    let listed = h.request(
        c,
        "OPTIONS /pub/x HTTP/1.1\r\nHost: h\r\nOrigin: https://app.example\r\n\r\n",
    );
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let other = h.request(c, preflight);
    assert_eq!(other.header("access-control-allow-origin"), Some("null"));
}

#[test]
fn subscribe_answers_allow_any_origin_by_default() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let origin = "Origin: https://elsewhere.example\r\n";
        let parked = h.connect();
        h.send(parked, get_request("/longpoll/x", origin).as_bytes());
        let sse = h.connect();
        h.send(sse, get_request("/sse/x", origin).as_bytes());
        h.publish("x", "m").unwrap().unwrap();
        let c = h.connect();
        let poll = h.request(c, &get_request("/poll/x", origin));
        let info = h.request(c, &get_request("/pub/x", origin));
        for response in [poll, info, h.last_response(parked), h.last_response(sse)] {
            assert_eq!(
                response.header("access-control-allow-origin"),
                Some("*"),
                "{response:?}"
            );
            // `*` does not depend on the request's origin.
            assert_eq!(response.header("vary"), None);
        }
    });
}

#[test]
fn a_listed_origin_is_named_with_vary_origin_and_another_gets_no_cors() {
    each_store(|| {
        let mut h = Harness::new(Config {
            allow_origin: AllowOrigin::List(vec!["https://app.example".into()]),
            ..Config::default()
        });
        for (origin, allowed) in [
            (
                "Origin: https://app.example\r\n",
                Some("https://app.example"),
            ),
            ("Origin: https://evil.example\r\n", None),
            ("", None),
        ] {
            let parked = h.connect();
            h.send(parked, get_request("/longpoll/x", origin).as_bytes());
            let sse = h.connect();
            h.send(sse, get_request("/sse/x", origin).as_bytes());
            h.publish("x", "m").unwrap().unwrap();
            let c = h.connect();
            let poll = h.request(c, &get_request("/poll/x", origin));
            // Twice: an answer naming an origin is never kept for others.
            let again = h.request(c, &get_request("/poll/x", origin));
            let info = h.request(c, &get_request("/pub/x", origin));
            for response in [
                poll,
                again,
                info,
                h.last_response(parked),
                h.last_response(sse),
            ] {
                assert_eq!(
                    response.header("access-control-allow-origin"),
                    allowed,
                    "{origin:?} {response:?}"
                );
                let vary = allowed.map(|_| "Origin");
                assert_eq!(response.header("vary"), vary, "{origin:?} {response:?}");
            }
        }
        // The listed origin's poll did not leave its answer for the others.
        let c = h.connect();
        let plain = h.request(c, "GET /poll/x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(plain.header("access-control-allow-origin"), None);
    });
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        for i in 1..=20u64 {
            let response = h.request(c, &publish_request("k", &(i % 10).to_string()));
            assert_eq!(response.text(), format!(r#"{{"id":{i}}}"#));
            assert_eq!(response.header("connection"), None);
        }
        assert_eq!(
            h.get_on(c, "/poll/k?since=19").text(),
            r#"{"last_id":20,"messages":[{"id":20,"data":"0"}]}"#
        );
        assert!(!h.clients[c].shut_down && !h.clients[c].closed);
        assert_eq!(h.engine.connections(), 1);
    });
}

#[test]
fn http_10_closes_unless_keep_alive_is_asked_for() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    h.send(c, b"GET /poll/a HTTP/1.0\r\n\r\n");
    let body = r#"{"last_id":0,"messages":[]}"#;
    assert_eq!(
        h.take_text(c),
        json_answer(body).replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
    );
    assert!(h.clients[c].shut_down);

    let c = h.connect();
    for _ in 0..2 {
        h.send(c, b"GET /poll/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            h.take_text(c),
            json_answer(body).replace("\r\n\r\n", "\r\nConnection: keep-alive\r\n\r\n")
        );
    }
    assert!(!h.clients[c].shut_down);
    // HTTP/1.0 asking for keep-alive and for close: close wins.
    let response = h.request(
        c,
        "GET /poll/a HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
    );
    assert_eq!(response.header("connection"), Some("close"));
    assert!(h.clients[c].shut_down);
}

#[test]
fn connection_close_is_honoured_and_nothing_pipelined_after_it_runs() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        h.send(
            c,
            format!(
                "GET /poll/a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n{}",
                publish_request("a", "late")
            )
            .as_bytes(),
        );
        let responses = h.responses(c);
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].header("connection"), Some("close"));
        assert!(h.clients[c].shut_down);
        // The publish after it never ran.
        assert_eq!(h.get("/pub/a").status, 404);
        // A publish with Connection: close is answered, then the close.
        let c = h.connect();
        let response = h.request(
            c,
            &publish_request("a", "x").replace("Host: h\r\n", "Host: h\r\nConnection: close\r\n"),
        );
        assert_eq!(
            (response.status, response.header("connection")),
            (202, Some("close"))
        );
        assert!(h.clients[c].shut_down);
    });
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        // A publish, a poll that must see it, a poll of another channel,
        // a 404 and channel info, in one write.
        h.send(
            c,
            format!(
                "{}GET /poll/p HTTP/1.1\r\nHost: h\r\n\r\nGET /poll/q HTTP/1.1\r\nHost: h\r\n\r\n\
                 GET /nope HTTP/1.1\r\nHost: h\r\n\r\nGET /pub/p HTTP/1.1\r\nHost: h\r\n\r\n",
                publish_request("p", "one")
            )
            .as_bytes(),
        );
        assert_eq!(
            h.take_text(c),
            [
                accepted(1),
                json_answer(r#"{"last_id":1,"messages":[{"id":1,"data":"one"}]}"#),
                json_answer(r#"{"last_id":0,"messages":[]}"#),
                refusal("404 Not Found", "no such endpoint (GET /help lists them)"),
                json_answer(
                    r#"{"last_id":1,"history":1,"subscribers":{"ws":0,"sse":0,"longpoll":0}}"#
                ),
            ]
            .concat()
        );
    });
}

#[test]
fn a_pipeline_fed_one_byte_at_a_time_gets_the_same_bytes() {
    each_store(|| {
        let pipeline = format!(
            "{}GET /poll/p HTTP/1.1\r\nHost: h\r\n\r\nPOST /poll/p HTTP/1.1\r\nHost: h\r\n\
             Transfer-Encoding: chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\nHEAD /help HTTP/1.1\r\nHost: h\r\n\r\n\
             OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\nGET /pub/p HTTP/1.1\r\nHost: h\r\n\r\n",
            publish_request("p", "one")
        );
        let mut whole = Harness::new(Config::default());
        let c = whole.connect();
        whole.send(c, pipeline.as_bytes());
        let expected = whole.take_text(c);
        assert_eq!(whole.responses(c).len(), 6);
        let mut h = Harness::new(Config::default());
        let c = h.connect();
        for b in pipeline.as_bytes() {
            h.send(c, std::slice::from_ref(b));
        }
        assert_eq!(h.take_text(c), expected);
    });
}

#[test]
fn unknown_paths_get_404_and_the_connection_stays() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    let not_found = refusal("404 Not Found", "no such endpoint (GET /help lists them)");
    for target in [
        "/nope",
        "/pub",
        "/poll",
        "/sse",
        "/help/",
        "/index.html",
        "/x/a",
        "/echo/x",
    ] {
        h.send(c, get_request(target, "").as_bytes());
        assert_eq!(h.take_text(c), not_found, "{target}");
    }
    assert_eq!(h.get_on(c, "/poll/a").status, 200);
    assert!(!h.clients[c].shut_down);
}

#[test]
fn a_known_path_with_the_wrong_method_gets_405_with_its_allow_field() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    let with_allow = |allow: &str| {
        let reason = "method not allowed here\n";
        format!(
            "HTTP/1.1 405 Method Not Allowed\r\nDate: {DATE}\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Allow: {allow}\r\n\r\n{reason}",
            reason.len()
        )
    };
    let cases = [
        ("DELETE /pub/a", "GET, HEAD, POST, OPTIONS"),
        ("PUT /pub/a", "GET, HEAD, POST, OPTIONS"),
        ("DELETE /poll/a", "GET, HEAD, OPTIONS"),
        ("DELETE /longpoll/a", "GET, HEAD, OPTIONS"),
        ("DELETE /sse/a", "GET, HEAD, OPTIONS"),
        ("DELETE /", "GET, HEAD, OPTIONS"),
        ("PATCH /help", "GET, HEAD, OPTIONS"),
    ];
    for (line, allow) in cases {
        h.send(c, format!("{line} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(h.take_text(c), with_allow(allow), "{line}");
    }
    // A POST to a read-only path: 405, its body (either framing) is
    // skipped and the connection goes on.
    for line in [
        "POST /poll/a",
        "POST /longpoll/a",
        "POST /sse/a",
        "POST /",
        "POST /help",
    ] {
        h.send(
            c,
            format!("{line} HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxx").as_bytes(),
        );
        assert_eq!(h.take_text(c), with_allow("GET, HEAD, OPTIONS"), "{line}");
        h.send(
            c,
            format!("{line} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(h.take_text(c), with_allow("GET, HEAD, OPTIONS"), "{line}");
    }
    assert_eq!(h.get_on(c, "/poll/a").status, 200);
    assert!(!h.clients[c].shut_down);
}

#[test]
fn a_body_on_a_get_is_skipped_and_the_next_request_served() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    h.send(
        c,
        b"GET /poll/a HTTP/1.1\r\nHost: h\r\nContent-Length: 22\r\n\r\nGET /nope HTTP/1.1\r\n\r\n",
    );
    assert_eq!(
        h.take_text(c),
        json_answer(r#"{"last_id":0,"messages":[]}"#)
    );
    // The body arrives in pieces; the answer was sent before it.
    h.send(
        c,
        b"GET /help HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
    );
    assert_eq!(h.responses(c).len(), 2);
    h.send(c, b"c\r\n0\r\n\r\nGET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(h.responses(c).len(), 3);
    assert_eq!(h.last_response(c).status, 200);
}

#[test]
fn an_absolute_form_target_is_routed_by_its_path() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        h.publish("a", "m").unwrap().unwrap();
        let c = h.connect();
        let response = h.request(c, "GET http://h/poll/a?since=0 HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            response.text(),
            r#"{"last_id":1,"messages":[{"id":1,"data":"m"}]}"#
        );
        assert_eq!(
            h.request(c, "GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n")
                .header("content-type"),
            Some("text/html; charset=utf-8")
        );
    });
}

#[test]
fn a_channel_whose_whole_history_was_evicted_still_reports_the_gap() {
    each_store(|| {
        // 12 KB of history holds two messages of 1000 bytes: two on b
        // evict a's only one.
        let mut h = Harness::new(Config {
            max_history_bytes: 12_000,
            ..Config::default()
        });
        let data = "z".repeat(1000);
        h.publish("a", &data).unwrap().unwrap();
        h.publish("b", &data).unwrap().unwrap();
        h.publish("b", &data).unwrap().unwrap();
        assert_eq!(
            h.get("/pub/a").text(),
            r#"{"last_id":1,"history":0,"subscribers":{"ws":0,"sse":0,"longpoll":0}}"#
        );
        let gap = r#"{"last_id":1,"gap":true,"messages":[]}"#;
        assert_eq!(h.get("/poll/a").text(), gap);
        assert_eq!(h.get("/longpoll/a?since=0").text(), gap);
        // Up to date: nothing was lost.
        assert_eq!(
            h.get("/poll/a?since=1").text(),
            r#"{"last_id":1,"messages":[]}"#
        );
        let sse = h.connect();
        h.send(
            sse,
            b"GET /sse/a HTTP/1.1\r\nHost: h\r\nLast-Event-ID: 0\r\n\r\n",
        );
        assert_eq!(
            h.last_response(sse).text(),
            "retry: 2000\n\nevent: gap\ndata: {\"since\":0,\"oldest\":2}\n\n"
        );
        let ws = h.connect();
        h.send(
            ws,
            crate::websocket::upgrade("/ws/a?since=0", "Sec-WebSocket-Protocol: pushwire.json\r\n")
                .as_bytes(),
        );
        assert_eq!(
            h.transcript(ws).frames,
            [pushwire::ws::WsEvent::Text(
                r#"{"gap":true,"since":0,"oldest":2}"#.into()
            )]
        );
    });
}

#[test]
fn pipelined_requests_wait_while_the_client_does_not_read_and_resume_when_it_does() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        // Each answer carries 100 KB: three of them pass the 256 KiB the
        // engine lets a connection queue before it stops reading.
        let data = "d".repeat(100_000);
        h.publish("big", &data).unwrap().unwrap();
        let c = h.connect();
        h.set_window(c, 0);
        let poll = "GET /poll/big HTTP/1.1\r\nHost: h\r\n\r\n";
        h.send(c, poll.repeat(6).as_bytes());
        let id = h.clients[c].id;
        let answer = json_answer(&format!(
            r#"{{"last_id":1,"messages":[{{"id":1,"data":"{data}"}}]}}"#
        ));
        assert_eq!(h.engine.unsent(id), 3 * answer.len());
        assert_eq!(h.engine.buffered_input(id), 3 * poll.len());
        assert!(!h.engine.wants_input(id));
        // A publish meanwhile: the polls still waiting see it.
        h.publish("big", "small").unwrap().unwrap();
        h.read_all(c);
        let later = json_answer(&format!(
            r#"{{"last_id":2,"messages":[{{"id":1,"data":"{data}"}},{{"id":2,"data":"small"}}]}}"#
        ));
        assert_eq!(h.take_text(c), [answer.repeat(3), later.repeat(3)].concat());
        assert_eq!(h.engine.buffered_input(id), 0);
        assert!(h.engine.wants_input(id));
    });
}

#[test]
fn a_half_closed_client_gets_the_answers_it_asked_for_then_is_closed() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    h.set_window(c, 0);
    h.send(
        c,
        "GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n"
            .repeat(2)
            .as_bytes(),
    );
    h.send_eof(c);
    assert!(!h.clients[c].closed);
    h.read_all(c);
    assert_eq!(
        h.take_text(c),
        json_answer(r#"{"last_id":0,"messages":[]}"#).repeat(2)
    );
    assert!(h.clients[c].closed);
    // A half-closed client in the middle of a head has nothing coming.
    let c = h.connect();
    h.send(c, b"GET /poll/a HTTP/1.1\r\n");
    h.send_eof(c);
    assert!(h.clients[c].closed);
    assert!(h.take(c).is_empty());
}
