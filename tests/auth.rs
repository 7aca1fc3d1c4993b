//! Tokens over real TCP (docs/auth.md): the server binary with
//! `--jwt-secret-file` and `--public-channels`; each transport with its
//! token where it travels, and refused without; a 100 KB token meets the
//! head's limits first unless they are raised; a stream and a WebSocket
//! ended by their token's `exp` on the real clock. (Every refusal on
//! every transport, and the tick a token ends on, are engine tests in
//! virtual time: tests/engine/auth.rs.)

mod common;

use std::io::{BufReader, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use common::events::{read_chunk, EventParser};
use common::wsclient::WsClient;
use common::{read_response, TestServer};
use pushwire::auth::hmac::Key;
use pushwire::auth::{write_token, Claims, Patterns};

const SECRET: &str = "pushwire test secret, 32 bytes or more";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(read: &str, write: &str, ttl: u64) -> String {
    let claims = Claims {
        subject: Some("test".into()),
        issued_at: Some(now()),
        expires: now() + ttl,
        read: Patterns::parse_list(read).unwrap(),
        write: Patterns::parse_list(write).unwrap(),
        ..Claims::default()
    };
    write_token(&Key::new(SECRET.as_bytes()), &claims)
}

/// A server checking tokens, its secret in a file, `demo` public.
fn server(extra: &[&str]) -> TestServer {
    let path = std::env::temp_dir().join(format!(
        "pushwire-auth-{}-{}",
        std::process::id(),
        extra.len()
    ));
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    let mut args = vec![
        "--jwt-secret-file",
        path.to_str().unwrap(),
        "--public-channels",
        "demo",
    ];
    args.extend_from_slice(extra);
    let server = TestServer::start(&args);
    let _ = std::fs::remove_file(&path);
    server
}

fn get(server: &TestServer, target: &str, headers: &str) -> common::Response {
    server.exchange(
        format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n")
            .as_bytes(),
    )
}

fn publish(server: &TestServer, channel: &str, token: &str, body: &str) -> common::Response {
    server.exchange(
        format!(
            "POST /pub/{channel} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

#[test]
fn each_transport_reads_with_its_token_and_is_refused_without() {
    let server = server(&[]);
    let t = token("room.*", "room.1", 600);
    assert_eq!(publish(&server, "room.1", &t, "first").status, 202);
    // Without a token: 401 everywhere, and nothing of the channel.
    for target in [
        "/poll/room.1",
        "/longpoll/room.1?since=0",
        "/sse/room.1?since=0",
    ] {
        let r = get(&server, target, "");
        assert_eq!(r.status, 401, "{target}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"pushwire\"")
        );
        assert!(!r.text().contains("first"));
    }
    let refused = WsClient::try_connect(&server, "/ws/room.1?since=0", "");
    assert_eq!(refused.handshake.status, 401);
    // Poll with ?token=.
    let r = get(&server, &format!("/poll/room.1?since=0&token={t}"), "");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["messages"][0]["data"], "first");
    // Long-poll with the Bearer field, then SSE with the cookie, a browser
    // WebSocket with the subprotocol entry: each gets what follows.
    let mut longpoll = server.connect();
    let last = r.json()["last_id"].as_u64().unwrap();
    longpoll
        .write_all(
            format!(
                "GET /longpoll/room.1?since={last} HTTP/1.1\r\nHost: t\r\n\
                 Authorization: Bearer {t}\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let mut sse = server.connect();
    sse.write_all(
        format!("GET /sse/room.1 HTTP/1.1\r\nHost: t\r\nCookie: pushwire_token={t}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut sse = BufReader::new(sse);
    assert_eq!(read_response(&mut sse).unwrap().status, 200);
    let mut ws = WsClient::connect(
        &server,
        "/ws/room.1",
        &format!("Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.{t}\r\n"),
    );
    assert_eq!(
        ws.handshake.header("sec-websocket-protocol"),
        Some("pushwire.json")
    );
    // Channel info needs the token too: it rides in the "channel" name's
    // query.
    let info = format!("room.1?token={t}");
    server.wait_subscribers(&info, "sse", 1);
    server.wait_subscribers(&info, "ws", 1);
    server.wait_subscribers(&info, "longpoll", 1);
    assert_eq!(publish(&server, "room.1", &t, "second").status, 202);
    let answer = read_response(&mut BufReader::new(longpoll)).unwrap();
    assert_eq!(answer.json()["messages"][0]["data"], "second");
    let mut events = EventParser::default();
    while events.events.is_empty() {
        let chunk = read_chunk(&mut sse).unwrap().expect("stream open");
        events.feed(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(events.events[0].data, "second");
    let frame: serde_json::Value = serde_json::from_str(ws.read_data().text()).unwrap();
    assert_eq!(frame["data"], "second");
    // The token reads room.*, writes room.1 only.
    assert_eq!(
        get(&server, &format!("/poll/lobby?token={t}"), "").status,
        403
    );
    let r = publish(&server, "room.2", &t, "x");
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text().trim(),
        "the token does not allow publishing to channel room.2"
    );
    // The public channel is read by anyone.
    assert_eq!(get(&server, "/poll/demo", "").status, 200);
}

#[test]
fn a_100_kb_token_meets_the_head_limits_first_unless_they_are_raised() {
    let huge = format!("{}{}", token("*", "*", 600), "A".repeat(100 * 1024));
    let server = server(&[]);
    let bearer = format!("Authorization: Bearer {huge}\r\n");
    assert_eq!(get(&server, "/poll/room.1", &bearer).status, 431);
    assert_eq!(
        get(&server, &format!("/poll/room.1?token={huge}"), "").status,
        414
    );
    let raised = self::server(&["--max-header-bytes", "262144", "--max-uri-bytes", "262144"]);
    for (target, headers) in [
        ("/poll/room.1".to_string(), bearer.clone()),
        (format!("/poll/room.1?token={huge}"), String::new()),
    ] {
        let r = get(&raised, &target, &headers);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\", error_description=\"too large\"")
        );
    }
    // --max-token-bytes is the token's own limit.
    let small = self::server(&["--max-token-bytes", "64"]);
    let r = get(
        &small,
        &format!("/poll/room.1?token={}", token("*", "", 600)),
        "",
    );
    assert_eq!(r.text().trim(), "invalid token: too large");
}

#[test]
fn a_stream_and_a_websocket_end_when_their_token_expires() {
    // No leeway: the token ends 2 s from now, on the real clock.
    let server = server(&["--jwt-leeway", "0"]);
    let t = token("room.*", "", 2);
    let mut sse = server.connect();
    sse.write_all(format!("GET /sse/room.1?token={t} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    let mut sse = BufReader::new(sse);
    assert_eq!(read_response(&mut sse).unwrap().status, 200);
    let mut ws = WsClient::connect(&server, &format!("/ws/room.1?token={t}"), "");
    let mut events = EventParser::default();
    while let Some(chunk) = read_chunk(&mut sse).unwrap() {
        events.feed(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(events.events.len(), 1, "{:?}", events.events);
    assert_eq!(events.events[0].event, "auth");
    assert_eq!(
        events.events[0].data,
        r#"{"error":"invalid_token","reason":"expired"}"#
    );
    let close = ws.read_data();
    assert_eq!(close.close_code(), Some(4001));
    assert_eq!(&close.payload[2..], b"token expired");
}

/// `pushwire token` mints, `pushwire pub --token` publishes with it and
/// `pushwire sub --token` reads it back, against a server checking tokens.
#[test]
fn the_terminal_commands_mint_publish_and_subscribe_with_a_token() {
    let server = server(&[]);
    let bin = env!("CARGO_BIN_EXE_pushwire");
    let minted = std::process::Command::new(bin)
        .args([
            "token", "--secret", SECRET, "--sub", "cli", "--read", "room.*",
        ])
        .args(["--write", "room.1", "--ttl", "600"])
        .output()
        .unwrap();
    assert!(minted.status.success());
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let published = std::process::Command::new(bin)
        .args([
            "pub",
            &server.url("/pub/room.1"),
            "from the shell",
            "--token",
            &token,
        ])
        .output()
        .unwrap();
    assert!(published.status.success(), "{published:?}");
    let read = std::process::Command::new(bin)
        .args(["sub", "poll", &server.url("/poll/room.1"), "--count", "1"])
        .args(["--token", &token])
        .output()
        .unwrap();
    assert!(read.status.success(), "{read:?}");
    let line = String::from_utf8(read.stdout).unwrap();
    assert!(line.trim_end().ends_with(" from the shell"), "{line}");
    // The same without the token: refused, and the command says why.
    let refused = std::process::Command::new(bin)
        .args(["pub", &server.url("/pub/room.1"), "no token"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stdout).to_string()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("401"), "{said}");
}
