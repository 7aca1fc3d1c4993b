//! WebSocket at the engine's layer: the handshake and its refusals, echo,
//! channel subscribers with and without `pushwire.json`, resume and gap,
//! the closing handshake, protocol violations, slow subscribers, shutdown.

use pushwire::ws::{close, write_fragment, Opcode, WsEvent};
use pushwire::Config;

use crate::harness::{each_store, Harness};

/// The RFC 6455 section 1.3 sample key and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// An upgrade request for `/echo`.
pub const UPGRADE_ECHO: &str = "GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// An upgrade request for `target` with `extra` header lines.
pub fn upgrade(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// One masked client frame (FIN set) with opcode `op`.
pub fn masked(op: u8, payload: &[u8]) -> Vec<u8> {
    fragment(true, op, payload)
}

/// One masked client frame.
pub fn fragment(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    let opcode = match op {
        0x0 => Opcode::Continuation,
        0x1 => Opcode::Text,
        0x2 => Opcode::Binary,
        0x8 => Opcode::Close,
        0x9 => Opcode::Ping,
        _ => Opcode::Pong,
    };
    let mut out = Vec::new();
    write_fragment(
        &mut out,
        fin,
        opcode,
        payload,
        Some([0x37, 0xfa, 0x21, 0x3d]),
    );
    out
}

/// Opens a WebSocket on `target`; returns the client.
fn open(h: &mut Harness, target: &str, extra: &str) -> usize {
    let c = h.connect();
    let response = h.request(c, &upgrade(target, extra));
    assert_eq!(response.status, 101, "{}", h.dump(c));
    c
}

/// The frames the client has read so far.
fn frames(h: &Harness, c: usize) -> Vec<WsEvent> {
    h.transcript(c).frames
}

/// The text frames the client has read so far.
pub fn texts(h: &Harness, c: usize) -> Vec<String> {
    frames(h, c)
        .into_iter()
        .filter_map(|f| match f {
            WsEvent::Text(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn close_code(h: &Harness, c: usize) -> Option<u16> {
    frames(h, c).into_iter().find_map(|f| match f {
        WsEvent::Close { code, .. } => code,
        _ => None,
    })
}

#[test]
fn the_handshake_answers_101_with_the_accept_key_and_the_chosen_subprotocol() {
    let mut h = Harness::new(Config::default());
    let c = h.connect();
    let response = h.request(c, UPGRADE_ECHO);
    assert_eq!(response.status, 101);
    assert_eq!(response.header("sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(response.header("upgrade"), Some("websocket"));
    assert_eq!(response.header("sec-websocket-protocol"), None);
    let c = h.connect();
    let response = h.request(
        c,
        &upgrade("/ws/a", "Sec-WebSocket-Protocol: chat, pushwire.json\r\n"),
    );
    assert_eq!(
        response.header("sec-websocket-protocol"),
        Some("pushwire.json")
    );
}

#[test]
fn bad_handshakes_are_refused_with_the_status_that_names_the_fault() {
    let mut h = Harness::new(Config {
        allow_ws_origin: Some(vec!["http://good.example".into()]),
        ..Config::default()
    });
    let base = upgrade("/echo", "");
    let cases: Vec<(String, u16, &str)> = vec![
        (
            base.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
            426,
            "Sec-WebSocket-Version must be 13",
        ),
        (
            base.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            400,
            "missing Sec-WebSocket-Key",
        ),
        (
            base.replace(
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Key: short",
            ),
            400,
            "Sec-WebSocket-Key is not base64",
        ),
        (
            base.replace("Upgrade: websocket", "Upgrade: h2c"),
            400,
            "Upgrade header must list websocket",
        ),
        (
            base.replace("GET /echo", "POST /echo")
                .replace("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n"),
            405,
            "WebSocket handshake must use GET",
        ),
        (
            base.replace("\r\n\r\n", "\r\nOrigin: http://evil.example\r\n\r\n"),
            403,
            "origin not allowed",
        ),
        (upgrade("/ws/bad%20name", ""), 400, "channel names are"),
        (upgrade("/ws/a?since=x", ""), 400, "since must be"),
        (
            base.replace("\r\n\r\n", "\r\nContent-Length: 2\r\n\r\nab"),
            400,
            "a WebSocket handshake has no body",
        ),
    ];
    for (request, status, reason) in cases {
        let c = h.connect();
        let response = h.request(c, &request);
        assert_eq!(response.status, status, "{request}");
        assert!(response.text().starts_with(reason), "{}", response.text());
        assert_eq!(response.header("connection"), Some("close"));
        if status == 426 {
            assert_eq!(response.header("sec-websocket-version"), Some("13"));
        }
        if status == 405 {
            assert_eq!(response.header("allow"), Some("GET"));
        }
        assert!(h.clients[c].shut_down);
    }
    let c = h.connect();
    let ok = upgrade("/echo", "Origin: http://good.example\r\n");
    assert_eq!(h.request(c, &ok).status, 101);
}

#[test]
fn echo_returns_text_and_binary_of_every_length_class_split_any_way() {
    let mut h = Harness::new(Config::default());
    let c = open(&mut h, "/echo", "");
    let mut expected = Vec::new();
    for len in [0, 1, 125, 126, 65535, 65536, 100_000] {
        let text = "x".repeat(len);
        let frame = masked(0x1, text.as_bytes());
        // Byte by byte for the small ones, in two halves for the rest.
        if len < 200 {
            for b in &frame {
                h.send(c, std::slice::from_ref(b));
            }
        } else {
            let (a, b) = frame.split_at(frame.len() / 2);
            h.send(c, a);
            h.send(c, b);
        }
        h.send(c, &masked(0x2, &[len as u8; 3]));
        expected.push(WsEvent::Text(text));
        expected.push(WsEvent::Binary(vec![len as u8; 3]));
    }
    assert_eq!(frames(&h, c), expected);
}

#[test]
fn fragments_are_reassembled_and_a_ping_between_them_answered_first() {
    let mut h = Harness::new(Config::default());
    let c = open(&mut h, "/echo", "");
    h.send(c, &fragment(false, 0x1, b"Hel"));
    h.send(c, &masked(0x9, b"hi"));
    h.send(c, &fragment(true, 0x0, b"lo"));
    assert_eq!(
        frames(&h, c),
        [WsEvent::Pong(b"hi".to_vec()), WsEvent::Text("Hello".into())]
    );
}

#[test]
fn the_closing_handshake_echoes_the_code_then_closes() {
    let mut h = Harness::new(Config::default());
    let c = open(&mut h, "/echo", "");
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"done");
    h.send(c, &masked(0x8, &payload));
    assert_eq!(close_code(&h, c), Some(4000));
    assert!(
        h.clients[c].shut_down,
        "the server shuts its side after the echo"
    );
    h.send_eof(c);
    assert!(h.clients[c].closed);
}

#[test]
fn protocol_violations_close_with_the_code_rfc_6455_names() {
    let mut h = Harness::new(Config {
        max_message_bytes: 1000,
        ..Config::default()
    });
    let unmasked = {
        let mut f = Vec::new();
        write_fragment(&mut f, true, Opcode::Text, b"hi", None);
        f
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", unmasked, close::PROTOCOL_ERROR),
        (
            "reserved opcode",
            vec![0x83, 0x80, 1, 2, 3, 4],
            close::PROTOCOL_ERROR,
        ),
        (
            "continuation first",
            fragment(true, 0x0, b"x"),
            close::PROTOCOL_ERROR,
        ),
        (
            "invalid UTF-8",
            masked(0x1, b"\xff\xfe"),
            close::INVALID_DATA,
        ),
        ("too big", masked(0x2, &[0; 1001]), close::TOO_BIG),
        (
            "bad close code",
            masked(0x8, &1005u16.to_be_bytes()),
            close::PROTOCOL_ERROR,
        ),
        ("long ping", masked(0x9, &[0; 126]), close::PROTOCOL_ERROR),
    ];
    for (what, frame, code) in cases {
        let c = open(&mut h, "/echo", "");
        h.send(c, &frame);
        assert_eq!(close_code(&h, c), Some(code), "{what}");
        assert!(h.clients[c].shut_down, "{what}");
    }
}

#[test]
fn channel_messages_arrive_as_text_frames_or_json_envelopes() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let plain = open(&mut h, "/ws/news", "");
        let json = open(
            &mut h,
            "/ws/news",
            "Sec-WebSocket-Protocol: pushwire.json\r\n",
        );
        h.post("news", "first");
        h.publish("news", "line\nbreak \"quoted\"")
            .unwrap()
            .unwrap();
        assert_eq!(texts(&h, plain), ["first", "line\nbreak \"quoted\""]);
        assert_eq!(
            texts(&h, json),
            [
                r#"{"id":1,"data":"first"}"#,
                r#"{"id":2,"data":"line\nbreak \"quoted\""}"#
            ]
        );
    });
}

#[test]
fn a_text_frame_publishes_and_the_sender_gets_it_back_with_its_id() {
    each_store(|| {
        let mut h = Harness::new(Config::default());
        let other = open(&mut h, "/ws/room", "");
        let sender = open(
            &mut h,
            "/ws/room",
            "Sec-WebSocket-Protocol: pushwire.json\r\n",
        );
        h.send(sender, &masked(0x1, b"hello"));
        h.send(sender, &masked(0x1, b"again"));
        assert_eq!(texts(&h, other), ["hello", "again"]);
        assert_eq!(
            texts(&h, sender),
            [r#"{"id":1,"data":"hello"}"#, r#"{"id":2,"data":"again"}"#]
        );
        assert_eq!(
            h.get("/poll/room").text(),
            r#"{"last_id":2,"messages":[{"id":1,"data":"hello"},{"id":2,"data":"again"}]}"#
        );
    });
}

#[test]
fn a_binary_frame_on_a_channel_is_refused_with_1003() {
    let mut h = Harness::new(Config::default());
    let c = open(&mut h, "/ws/a", "");
    h.send(c, &masked(0x2, b"\x00\x01"));
    assert_eq!(close_code(&h, c), Some(close::UNSUPPORTED));
    assert_eq!(h.get("/pub/a").text(), "no such channel\n");
}

#[test]
fn since_replays_history_and_a_resume_past_history_announces_the_gap_first() {
    each_store(|| {
        let mut h = Harness::new(Config {
            history: 3,
            ..Config::default()
        });
        for i in 1..=5 {
            h.publish("a", &format!("m{i}")).unwrap().unwrap();
        }
        let json = "Sec-WebSocket-Protocol: pushwire.json\r\n";
        let c = open(&mut h, "/ws/a?since=3", json);
        assert_eq!(
            texts(&h, c),
            [r#"{"id":4,"data":"m4"}"#, r#"{"id":5,"data":"m5"}"#]
        );
        let c = open(&mut h, "/ws/a?since=1", json);
        assert_eq!(
            texts(&h, c),
            [
                r#"{"gap":true,"since":1,"oldest":3}"#,
                r#"{"id":3,"data":"m3"}"#,
                r#"{"id":4,"data":"m4"}"#,
                r#"{"id":5,"data":"m5"}"#
            ]
        );
        // A plain client cannot resume exactly anyway: no gap frame.
        let c = open(&mut h, "/ws/a?since=1", "");
        assert_eq!(texts(&h, c), ["m3", "m4", "m5"]);
    });
}

#[test]
fn a_slow_subscriber_gets_1008_after_its_frame_while_others_keep_receiving() {
    each_store(|| {
        let mut h = Harness::new(Config {
            max_backlog_bytes: 10_000,
            ..Config::default()
        });
        let slow = open(&mut h, "/ws/a", "");
        let fast = open(&mut h, "/ws/a", "");
        h.take(slow);
        h.set_window(slow, 0);
        let data = "y".repeat(1000);
        for _ in 0..12 {
            h.publish("a", &data).unwrap().unwrap();
        }
        assert_eq!(texts(&h, fast).len(), 12);
        assert!(h.take(slow).is_empty());
        h.read_all(slow);
        let got = texts(&h, slow);
        assert!(
            got.len() < 12 && got.iter().all(|t| *t == data),
            "{}",
            got.len()
        );
        assert_eq!(close_code(&h, slow), Some(close::POLICY));
        // History kept everything: a reconnect with since loses nothing.
        let again = open(&mut h, &format!("/ws/a?since={}", got.len()), "");
        assert_eq!(texts(&h, again).len(), 12 - got.len());
    });
}

/// Found by the simulator (docs/simulation.md, seed 38): a subscriber
/// that read nothing, not even its 101, when it was cut off got a Close
/// frame with no 101 before it.
#[test]
fn a_subscriber_cut_off_before_it_read_its_101_still_gets_the_101_first() {
    each_store(|| {
        let mut h = Harness::new(Config {
            max_backlog_bytes: 10_000,
            ..Config::default()
        });
        let data = "y".repeat(1000);
        for _ in 0..4 {
            h.publish("a", &data).unwrap().unwrap();
        }
        h.default_window = Some(0);
        let slow = h.connect();
        h.send(slow, upgrade("/ws/a?since=0", "").as_bytes());
        for _ in 0..12 {
            h.publish("a", &data).unwrap().unwrap();
        }
        h.read_all(slow);
        // The transcript is checked whole when the harness drops: a 101,
        // then whole frames, then the Close.
        assert_eq!(h.responses(slow)[0].status, 101);
        assert_eq!(close_code(&h, slow), Some(close::POLICY));
    });
}

#[test]
fn stopping_the_server_sends_1001_to_every_websocket() {
    let mut h = Harness::new(Config::default());
    let a = open(&mut h, "/ws/a", "");
    let b = open(&mut h, "/echo", "");
    let poller = h.connect();
    h.engine.handle_stop(h.now);
    h.pass();
    assert_eq!(close_code(&h, a), Some(close::GOING_AWAY));
    assert_eq!(close_code(&h, b), Some(close::GOING_AWAY));
    assert!(h.take(poller).is_empty());
}

#[test]
fn an_empty_continuation_flood_is_closed_with_1009_at_max_fragments() {
    let mut h = Harness::new(Config {
        max_fragments: 100,
        ..Config::default()
    });
    let c = open(&mut h, "/ws/a", "");
    let mut flood = fragment(false, 0x1, b"x");
    for _ in 0..99 {
        flood.extend(fragment(false, 0x0, b""));
    }
    h.send(c, &flood);
    assert_eq!(close_code(&h, c), None, "100 frames are allowed");
    h.send(c, &fragment(false, 0x0, b""));
    assert_eq!(close_code(&h, c), Some(close::TOO_BIG));
    assert!(h.clients[c].shut_down);
}

#[test]
fn an_empty_pong_flood_is_closed_with_1008_past_the_control_frame_rate() {
    let mut h = Harness::new(Config {
        max_control_frames_per_sec: 20,
        ..Config::default()
    });
    let c = open(&mut h, "/echo", "");
    // Twenty a second, for three seconds: within the rate.
    for _ in 0..60 {
        h.send(c, &masked(0xA, b""));
        h.advance(std::time::Duration::from_millis(50));
    }
    assert_eq!(close_code(&h, c), None);
    // Then a flood in one read: the 21st past the allowance fails it.
    let flood: Vec<u8> = (0..22).flat_map(|_| masked(0xA, b"")).collect();
    h.send(c, &flood);
    assert_eq!(close_code(&h, c), Some(close::POLICY));
}

#[test]
fn a_slow_subscriber_reading_ten_seconds_late_still_gets_whole_frames_and_the_1008() {
    let mut h = Harness::new(Config {
        max_backlog_bytes: 10_000,
        ..Config::default()
    });
    let slow = open(&mut h, "/ws/a", "");
    h.take(slow);
    h.set_window(slow, 2500); // it reads a little, stopping mid-frame
    let data = "y".repeat(1000);
    for _ in 0..30 {
        h.publish("a", &data).unwrap().unwrap();
    }
    h.advance(std::time::Duration::from_secs(10));
    assert!(!h.clients[slow].closed, "the Close still waits to be read");
    h.read_all(slow);
    // The transcript check (on drop) proves the frames are whole; the
    // stream ends in the Close.
    assert_eq!(close_code(&h, slow), Some(close::POLICY));
    assert!(texts(&h, slow).iter().all(|t| *t == data));
    assert!(h.clients[slow].shut_down);
}
