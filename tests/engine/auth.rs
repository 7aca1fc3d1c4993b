//! Tokens at the engine's layer (docs/auth.md), in virtual time: every
//! refusal on every transport with its status and reason and nothing of
//! the channel leaked; where a token may travel; a valid token reads
//! exactly its channels; a token's end closes a stream, a WebSocket and a
//! parked long-poll on its tick, and a resume with a fresh token loses
//! nothing.

use std::time::Duration;

use pushwire::auth::hmac::Key;
use pushwire::auth::{write_token, Auth, Claims, Patterns};
use pushwire::engine::TICK;
use pushwire::sse::{EventStreamParser, SseItem};
use pushwire::ws::WsEvent;
use pushwire::Config;

use crate::harness::{get_request, Harness, WALL};
use crate::websocket::{masked, upgrade};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const LEEWAY: u64 = 5;
/// What the channels hold: it must never reach a refused client.
const HISTORY: &str = "secret-history";

fn config() -> Config {
    let mut auth = Auth::new(SECRET);
    auth.leeway = Duration::from_secs(LEEWAY);
    auth.public = Patterns::parse_list("demo").unwrap();
    Config {
        auth: Some(auth),
        // Large enough that a 100 KB token meets the token limit, not the
        // head's (which the default config hits first: `431`, `414`).
        max_header_bytes: 256 * 1024,
        max_uri_bytes: 256 * 1024,
        ..Config::default()
    }
}

/// A token signed with `secret`, reading `read`, writing `write`, good
/// until `exp` seconds after the harness's start.
fn token_with(secret: &[u8], read: &str, write: &str, exp: i64) -> String {
    let claims = Claims {
        subject: Some("alice".into()),
        expires: (WALL as i64 + exp) as u64,
        issued_at: Some(WALL),
        read: Patterns::parse_list(read).unwrap(),
        write: Patterns::parse_list(write).unwrap(),
        ..Claims::default()
    };
    write_token(&Key::new(secret), &claims)
}

fn token(read: &str, write: &str, exp: i64) -> String {
    token_with(SECRET, read, write, exp)
}

/// A harness whose channels `room.1` and `lobby` hold a message each.
fn harness() -> Harness {
    let mut h = Harness::new(config());
    for channel in ["room.1", "lobby"] {
        assert!(matches!(h.publish(channel, HISTORY), Some(Ok(_))));
    }
    h
}

/// The four ways to subscribe (and channel info), as request targets.
const SUBSCRIBE: &[&str] = &[
    "/poll/room.1?since=0",
    "/longpoll/room.1?since=0&timeout=1",
    "/sse/room.1?since=0",
    "/pub/room.1",
];

/// Every bad token, with the `error_description` it gets.
fn bad_tokens() -> Vec<(String, &'static str)> {
    let good = token("room.*", "room.*", 3600);
    let (input, _) = good.rsplit_once('.').unwrap();
    let none_header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = input.split_once('.').unwrap().1;
    let mut nbf = Claims {
        expires: WALL + 3600,
        not_before: Some(WALL + 600),
        read: Patterns::parse_list("*").unwrap(),
        ..Claims::default()
    };
    let not_yet = write_token(&Key::new(SECRET), &nbf);
    nbf.not_before = None;
    vec![
        (token("room.*", "", -3600), "expired"),
        (not_yet, "not yet valid"),
        (
            token_with(b"another secret", "room.*", "room.*", 3600),
            "bad signature",
        ),
        (format!("{none_header}.{payload}."), "unsupported alg"),
        (good[..good.len() - 10].to_string(), "malformed"),
        (input.to_string(), "malformed"),
        (format!("{good}{}", "A".repeat(100 * 1024)), "too large"),
    ]
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Sends `request` on a new connection; its response.
fn answer(h: &mut Harness, request: &str) -> crate::check::Response {
    let c = h.connect();
    h.request(c, request)
}

fn assert_refused(response: &crate::check::Response, status: u16, challenge: &str, body: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("www-authenticate"), Some(challenge));
    assert!(response.text().starts_with(body), "{}", response.text());
    assert!(!response.text().contains(HISTORY));
}

#[test]
fn every_bad_token_is_refused_on_every_transport_with_its_reason() {
    let mut h = harness();
    let bearer = |t: &str| format!("Authorization: Bearer {t}\r\n");
    for (token, reason) in bad_tokens() {
        let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{reason}\"");
        let body = format!("invalid token: {reason}");
        for target in SUBSCRIBE {
            let r = answer(&mut h, &get_request(target, &bearer(&token)));
            assert_refused(&r, 401, &challenge, &body);
        }
        let r = answer(&mut h, &upgrade("/ws/room.1?since=0", &bearer(&token)));
        assert_refused(&r, 401, &challenge, &body);
        let publish = format!(
            "POST /pub/room.1 HTTP/1.1\r\nHost: h\r\n{}Content-Length: 1\r\n\r\nx",
            bearer(&token)
        );
        assert_refused(&answer(&mut h, &publish), 401, &challenge, &body);
    }
    assert_eq!(
        h.engine.broker().backlog("room.1", 0).last_id,
        1,
        "nothing published"
    );
}

#[test]
fn no_token_and_a_token_for_another_channel_are_refused_on_every_transport() {
    let mut h = harness();
    let lobby = format!(
        "Authorization: Bearer {}\r\n",
        token("lobby", "lobby", 3600)
    );
    for target in SUBSCRIBE {
        let r = answer(&mut h, &get_request(target, ""));
        assert_refused(
            &r,
            401,
            "Bearer realm=\"pushwire\"",
            "this channel needs a token",
        );
        // A page of another origin may read why (CORS), not a bare error.
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let r = answer(&mut h, &get_request(target, &lobby));
        assert_refused(
            &r,
            403,
            "Bearer error=\"insufficient_scope\"",
            "the token does not allow reading channel room.1",
        );
    }
    let r = answer(&mut h, &upgrade("/ws/room.1", ""));
    assert_refused(
        &r,
        401,
        "Bearer realm=\"pushwire\"",
        "this channel needs a token",
    );
    let r = answer(&mut h, &upgrade("/ws/room.1", &lobby));
    assert_refused(
        &r,
        403,
        "Bearer error=\"insufficient_scope\"",
        "the token does not allow reading channel room.1",
    );
    // Reading is not writing.
    let reader = format!("Authorization: Bearer {}\r\n", token("room.*", "", 3600));
    let publish =
        format!("POST /pub/room.1 HTTP/1.1\r\nHost: h\r\n{reader}Content-Length: 1\r\n\r\nx");
    assert_refused(
        &answer(&mut h, &publish),
        403,
        "Bearer error=\"insufficient_scope\"",
        "the token does not allow publishing to channel room.1",
    );
}

#[test]
fn a_valid_token_reads_exactly_its_channels_from_wherever_it_travels() {
    let mut h = harness();
    let t = token("room.*", "room.1", 3600);
    let ways = [
        (format!("/poll/room.1?since=0&token={t}"), String::new()),
        (
            "/poll/room.1?since=0".into(),
            format!("Authorization: bearer {t}\r\n"),
        ),
        (
            "/poll/room.1?since=0".into(),
            format!("Cookie: a=b; pushwire_token={t}\r\n"),
        ),
    ];
    for (target, headers) in ways {
        let r = answer(&mut h, &get_request(&target, &headers));
        assert_eq!(r.status, 200, "{target} {headers}: {}", r.text());
        assert!(r.text().contains(HISTORY));
        let lobby = target.replace("room.1", "lobby");
        assert_eq!(answer(&mut h, &get_request(&lobby, &headers)).status, 403);
    }
    // A browser WebSocket: the token rides in the subprotocol list, and
    // pushwire.json is the one selected.
    let c = h.connect();
    let r = h.request(
        c,
        &upgrade(
            "/ws/room.1?since=0",
            &format!("Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.{t}\r\n"),
        ),
    );
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-protocol"), Some("pushwire.json"));
    assert!(crate::websocket::texts(&h, c)[0].contains(HISTORY));
    // It may publish where the token says, over HTTP and over the socket.
    h.send(c, &masked(0x1, b"from ws"));
    assert_eq!(h.engine.broker().backlog("room.1", 0).last_id, 2);
    let publish = format!(
        "POST /pub/room.1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}\r\n\
         Content-Length: 2\r\n\r\nhi"
    );
    assert_eq!(answer(&mut h, &publish).status, 202);
    // A public channel needs no token to read, and a broken one is not
    // held against it; publishing there still needs a good one.
    let bad = format!("Authorization: Bearer {}\r\n", bad_tokens()[0].0);
    assert_eq!(answer(&mut h, &get_request("/poll/demo", "")).status, 200);
    assert_eq!(answer(&mut h, &get_request("/poll/demo", &bad)).status, 200);
    let publish = "POST /pub/demo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx";
    assert_eq!(answer(&mut h, publish).status, 401);
}

#[test]
fn a_websocket_whose_token_does_not_write_is_closed_1008_when_it_publishes() {
    let mut h = harness();
    let reader = format!("Authorization: Bearer {}\r\n", token("room.*", "", 3600));
    let c = h.connect();
    assert_eq!(h.request(c, &upgrade("/ws/room.1", &reader)).status, 101);
    h.send(c, &masked(0x1, b"not allowed"));
    let close = close_frame(&h, c);
    assert_eq!(
        close,
        Some((
            Some(1008),
            "the token does not allow publishing here".into()
        ))
    );
    assert_eq!(h.engine.broker().backlog("room.1", 0).last_id, 1);
}

/// The code and reason of the Close frame the client read, if any.
fn close_frame(h: &Harness, c: usize) -> Option<(Option<u16>, String)> {
    h.transcript(c).frames.into_iter().find_map(|f| match f {
        WsEvent::Close { code, reason } => Some((code, reason)),
        _ => None,
    })
}

/// Decoded SSE items of a stream's body.
fn sse_items(body: &[u8]) -> Vec<SseItem> {
    let mut parser = EventStreamParser::new(64 * 1024);
    let mut items = Vec::new();
    parser.feed(body, &mut items).unwrap();
    items
}

#[test]
fn a_stream_ends_on_the_tick_its_token_expires_and_a_fresh_token_resumes_it() {
    let mut h = harness();
    // Good for 10 s, and the leeway: 15 s from the start.
    let short = format!("Authorization: Bearer {}\r\n", token("room.*", "", 10));
    let c = h.connect();
    h.send(c, get_request("/sse/room.1?since=1", &short).as_bytes());
    h.advance(Duration::from_secs(3));
    assert!(matches!(h.publish("room.1", "two"), Some(Ok(2))));
    let ends = Duration::from_secs(10 + LEEWAY);
    h.advance_to(ends - TICK);
    let open = h.last_response(c);
    assert!(!open.complete, "still open one tick early");
    h.ticks(1);
    let ended = h.last_response(c);
    assert!(ended.complete, "ended with the last chunk on its tick");
    let items = sse_items(&ended.body);
    let events: Vec<(String, String)> = items
        .iter()
        .filter_map(|i| match i {
            SseItem::Event(e) => Some((e.event_type.clone(), e.data.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("message".into(), "two".into()),
            (
                "auth".into(),
                r#"{"error":"invalid_token","reason":"expired"}"#.into()
            ),
        ]
    );
    // Published while it was away; the old token is refused, a new one
    // resumes from the last id it saw.
    assert!(matches!(h.publish("room.1", "three"), Some(Ok(3))));
    let again = get_request("/sse/room.1", &format!("{short}Last-Event-ID: 2\r\n"));
    assert_eq!(h.request(c, &again).status, 401);
    let fresh = format!(
        "Authorization: Bearer {}\r\nLast-Event-ID: 2\r\n",
        token("room.*", "", 3600)
    );
    let d = h.connect();
    h.send(d, get_request("/sse/room.1", &fresh).as_bytes());
    let resumed = h.last_response(d);
    let ids: Vec<String> = sse_items(&resumed.body)
        .iter()
        .filter_map(|i| match i {
            SseItem::Event(e) => Some(e.last_event_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec!["3".to_string()]);
}

#[test]
fn a_websocket_is_closed_4001_on_the_tick_its_token_expires() {
    let mut h = harness();
    let short = format!("Authorization: Bearer {}\r\n", token("room.*", "", 10));
    let c = h.connect();
    assert_eq!(h.request(c, &upgrade("/ws/room.1", &short)).status, 101);
    let ends = Duration::from_secs(10 + LEEWAY);
    h.advance_to(ends - TICK);
    assert!(h.transcript(c).frames.is_empty(), "nothing one tick early");
    h.ticks(1);
    let close = close_frame(&h, c);
    assert_eq!(close, Some((Some(4001), "token expired".into())));
    // Published after the close; a fresh token and `?since=` of the last
    // id it saw (none: 1, the history's last) get exactly what followed.
    assert!(matches!(h.publish("room.1", "after"), Some(Ok(2))));
    let fresh = format!("Authorization: Bearer {}\r\n", token("room.*", "", 3600));
    let d = h.connect();
    let r = h.request(
        d,
        &upgrade(
            "/ws/room.1?since=1",
            &format!("{fresh}Sec-WebSocket-Protocol: pushwire.json\r\n"),
        ),
    );
    assert_eq!(r.status, 101);
    assert_eq!(
        crate::websocket::texts(&h, d),
        vec![r#"{"id":2,"data":"after"}"#.to_string()]
    );
}

#[test]
fn a_parked_long_poll_is_answered_on_the_tick_its_token_expires() {
    let mut h = harness();
    let short = format!("Authorization: Bearer {}\r\n", token("room.*", "", 2));
    let c = h.connect();
    h.send(
        c,
        get_request("/longpoll/room.1?since=1&timeout=60", &short).as_bytes(),
    );
    let ends = Duration::from_secs(2 + LEEWAY);
    h.advance_to(ends - TICK);
    assert!(h.responses(c).is_empty(), "parked one tick early");
    h.ticks(1);
    let r = h.last_response(c);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"last_id":1,"messages":[]}"#);
    // The next poll with that token is refused.
    let again = h.request(c, &get_request("/longpoll/room.1?since=1", &short));
    assert_eq!(again.status, 401);
}
