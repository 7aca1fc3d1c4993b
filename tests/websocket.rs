//! WebSocket (RFC 6455) over real TCP with the test's own client: the
//! handshake and its refusals, echo, channels, limits, pings, slow
//! subscribers and shutdown.

mod common;

use std::io::{BufReader, Read, Write};
use std::process::Command;
use std::time::Duration;

use common::wsclient::{masked_frame, upgrade_request, WsClient};
use common::{read_response, TestServer};

/// The ids of the next `n` `pushwire.json` frames.
fn next_json_ids(client: &mut WsClient, n: usize) -> Vec<u64> {
    (0..n)
        .map(|_| {
            serde_json::from_str::<serde_json::Value>(client.read_data().text()).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn the_handshake_answers_101_with_the_rfc_accept_key() {
    let server = TestServer::start(&[]);
    let client = WsClient::connect(&server, "/echo", "");
    let h = &client.handshake;
    // RFC 6455 section 1.3's own example key and answer.
    assert_eq!(
        h.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(h.header("upgrade"), Some("websocket"));
    assert_eq!(h.header("connection"), Some("Upgrade"));
    assert_eq!(h.header("sec-websocket-protocol"), None);
    let json = WsClient::connect(
        &server,
        "/ws/p",
        "Sec-WebSocket-Protocol: chat, pushwire.json\r\n",
    );
    assert_eq!(
        json.handshake.header("sec-websocket-protocol"),
        Some("pushwire.json")
    );
    let other = WsClient::connect(&server, "/ws/p", "Sec-WebSocket-Protocol: chat\r\n");
    assert_eq!(other.handshake.header("sec-websocket-protocol"), None);
}

#[test]
fn bad_handshakes_get_an_error_status_not_101() {
    let server = TestServer::start(&["--allow-ws-origin", "https://app.example"]);
    let base = |extra: &str, drop: &str| upgrade_request("/echo", extra).replace(drop, "");
    let cases: Vec<(String, u16)> = vec![
        (
            base("", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            400,
        ),
        (base("", "Upgrade: websocket\r\n"), 400),
        (base("", "Connection: Upgrade\r\n"), 400),
        (
            upgrade_request("/echo", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
            400,
        ),
        (
            upgrade_request("/echo", "").replace("Version: 13", "Version: 8"),
            426,
        ),
        (
            upgrade_request("/echo", "Origin: https://evil.example\r\n"),
            403,
        ),
        (
            upgrade_request("/echo", "Content-Length: 0\r\n").replace("GET", "POST"),
            405,
        ),
        (upgrade_request("/ws/bad%name", ""), 400),
    ];
    for (request, status) in cases {
        let response = server.exchange(request.as_bytes());
        assert_eq!(response.status, status, "{request}");
        if status == 426 {
            assert_eq!(response.header("sec-websocket-version"), Some("13"));
        }
        assert!(!response.text().is_empty(), "a reason is given");
    }
    let ok = WsClient::connect(&server, "/echo", "Origin: https://app.example\r\n");
    assert_eq!(ok.handshake.status, 101);
    // "Connection: keep-alive, Upgrade" and a lowercase upgrade token pass.
    let request = upgrade_request("/echo", "")
        .replace("Connection: Upgrade", "Connection: keep-alive, upgrade");
    assert_eq!(server.exchange(request.as_bytes()).status, 101);
}

#[test]
fn echo_returns_text_and_binary_of_every_length_class() {
    let server = TestServer::start(&[]);
    let mut client = WsClient::connect(&server, "/echo", "");
    for len in [0usize, 1, 125, 126, 65535, 65536, 300_000] {
        let text: String = "é✓a".chars().cycle().take(len).collect();
        client.send_text(&text);
        let frame = client.read().unwrap();
        assert_eq!(
            (frame.opcode, frame.fin, frame.text()),
            (1, true, text.as_str())
        );
        let binary: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        client.send(true, 2, &binary);
        let frame = client.read().unwrap();
        assert_eq!((frame.opcode, frame.payload), (2, binary));
    }
    // A fragmented message with a ping in the middle comes back whole,
    // after the pong (RFC 6455 section 5.4).
    client.send(false, 1, b"frag");
    client.send(true, 9, b"ping!");
    client.send(true, 0, b"mented");
    let pong = client.read().unwrap();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"ping!"[..]));
    assert_eq!(client.read().unwrap().text(), "fragmented");
}

#[test]
fn frames_split_into_single_bytes_are_reassembled() {
    let server = TestServer::start(&[]);
    let mut client = WsClient::connect(&server, "/echo", "");
    let frame = masked_frame(true, 1, "byte by byte ✓".as_bytes(), [1, 2, 3, 4]);
    for byte in frame {
        client.writer.write_all(&[byte]).unwrap();
        client.writer.flush().unwrap();
    }
    assert_eq!(client.read().unwrap().text(), "byte by byte ✓");
}

#[test]
fn the_closing_handshake_echoes_the_code_and_closes_tcp() {
    let server = TestServer::start(&[]);
    let mut client = WsClient::connect(&server, "/echo", "");
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    client.send(true, 8, &payload);
    let close = client.read().unwrap();
    assert_eq!(close.close_code(), Some(4000));
    let mut rest = Vec::new();
    client.reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing after the close, then EOF");
}

#[test]
fn protocol_violations_close_with_the_code_rfc_6455_names() {
    let server = TestServer::start(&["--max-message-bytes", "1000"]);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"\x81\x05hello".to_vec(), 1002), // unmasked client frame
        (masked_frame(true, 3, b"x", [1, 2, 3, 4]), 1002), // reserved opcode
        (masked_frame(true, 0, b"x", [1, 2, 3, 4]), 1002), // continuation with nothing open
        (masked_frame(false, 9, b"x", [1, 2, 3, 4]), 1002), // fragmented ping
        (masked_frame(true, 9, &[0; 126], [1, 2, 3, 4]), 1002), // ping over 125 bytes
        (masked_frame(true, 1, b"\xff", [1, 2, 3, 4]), 1007), // invalid UTF-8
        (masked_frame(true, 2, &[0; 1001], [1, 2, 3, 4]), 1009), // over --max-message-bytes
        (
            masked_frame(true, 8, &999u16.to_be_bytes(), [1, 2, 3, 4]),
            1002,
        ), // invalid close code
        (masked_frame(true, 8, b"\x03\xe8\xff", [1, 2, 3, 4]), 1007), // close reason not UTF-8
    ];
    for (bytes, code) in cases {
        let mut client = WsClient::connect(&server, "/echo", "");
        client.writer.write_all(&bytes).unwrap();
        let frame = client.read().unwrap();
        assert_eq!(frame.close_code(), Some(code), "{bytes:x?}");
    }
    // A header announcing too much is refused before the payload arrives.
    let mut client = WsClient::connect(&server, "/echo", "");
    client
        .writer
        .write_all(&[0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4])
        .unwrap();
    assert_eq!(client.read().unwrap().close_code(), Some(1009));
}

#[test]
fn channel_messages_arrive_as_text_frames_and_json_envelopes() {
    let server = TestServer::start(&[]);
    let mut plain = WsClient::connect(&server, "/ws/news", "");
    let mut json = WsClient::connect(
        &server,
        "/ws/news",
        "Sec-WebSocket-Protocol: pushwire.json\r\n",
    );
    server.wait_subscribers("news", "ws", 2);
    server.publish("news", "hello \"world\"");
    assert_eq!(plain.read_data().text(), "hello \"world\"");
    let envelope: serde_json::Value = serde_json::from_str(json.read_data().text()).unwrap();
    assert_eq!(
        envelope,
        serde_json::json!({"id":server.id(1),"data":"hello \"world\""})
    );
    // A text frame from a client publishes: everyone gets it, the sender too.
    json.send_text("from the socket");
    assert_eq!(plain.read_data().text(), "from the socket");
    let mine: serde_json::Value = serde_json::from_str(json.read_data().text()).unwrap();
    assert_eq!(mine["id"], server.id(2));
    assert_eq!(
        server.poll("news", Some(server.id(1)))["messages"][0]["data"],
        "from the socket"
    );
    // A binary frame on a channel socket: close 1003.
    plain.send(true, 2, b"\x00\x01");
    assert_eq!(plain.read_data().close_code(), Some(1003));
    server.wait_subscribers("news", "ws", 1);
}

#[test]
fn since_replays_history_with_the_json_envelope() {
    let server = TestServer::start(&[]);
    for i in 1..=5 {
        server.publish("r", &format!("m{i}"));
    }
    let mut client = WsClient::connect(
        &server,
        &format!("/ws/r?since={}", server.id(2)),
        "Sec-WebSocket-Protocol: pushwire.json\r\n",
    );
    let ids = next_json_ids(&mut client, 3);
    assert_eq!(ids, server.ids(3..=5));
}

#[test]
fn a_resume_past_history_announces_the_gap_first() {
    let server = TestServer::start(&["--history", "3"]);
    for i in 1..=8 {
        server.publish("g", &format!("m{i}"));
    }
    let mut client = WsClient::connect(
        &server,
        &format!("/ws/g?since={}", server.id(2)),
        "Sec-WebSocket-Protocol: pushwire.json\r\n",
    );
    let gap: serde_json::Value = serde_json::from_str(client.read_data().text()).unwrap();
    assert_eq!(
        gap,
        serde_json::json!({"gap":true,"since":server.id(2),"oldest":server.id(6)})
    );
    let ids = next_json_ids(&mut client, 3);
    assert_eq!(ids, server.ids(6..=8));
}

/// The ping's timing is asserted to the tick at the engine's layer
/// (tests/engine/deadlines.rs); over TCP, the reactor wakes for it.
#[test]
fn a_silent_client_is_pinged_then_dropped() {
    let server = TestServer::start(&["--ping-interval", "0.3"]);
    let mut silent = WsClient::connect(&server, "/echo", "");
    let ping = silent.read().unwrap();
    assert_eq!((ping.opcode, &ping.payload[..]), (9, &b"pushwire"[..]));
    let mut rest = Vec::new();
    let _ = silent.reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "dropped without a Close: {rest:?}");
}

#[test]
fn a_slow_subscriber_gets_1008_while_others_keep_receiving_and_loses_nothing() {
    // The bound is all the fast reader may lag by, the kernel's send
    // buffer included: 4 MiB, half a second of this stream, so that a
    // debug build on a busy machine keeps up.
    let server = TestServer::start(&["--max-backlog-bytes", "4194304", "--history", "1024"]);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut slow_stream: std::net::TcpStream = socket.into();
    slow_stream
        .set_read_timeout(Some(common::READ_TIMEOUT))
        .unwrap();
    slow_stream
        .write_all(upgrade_request("/ws/s", "Sec-WebSocket-Protocol: pushwire.json\r\n").as_bytes())
        .unwrap();
    let mut fast = WsClient::connect(
        &server,
        "/ws/s",
        "Sec-WebSocket-Protocol: pushwire.json\r\n",
    );
    server.wait_subscribers("s", "ws", 2);
    let total = 600u64;
    let body = "y".repeat(16 * 1024);
    let addr = server.addr;
    let publisher = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let request = format!(
            "POST /pub/s HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        for _ in 0..total {
            stream.write_all(request.as_bytes()).unwrap();
            assert_eq!(read_response(&mut reader).unwrap().status, 202);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    for want in server.ids(1..=total) {
        let envelope: serde_json::Value = serde_json::from_str(fast.read_data().text()).unwrap();
        assert_eq!(envelope["id"], want);
    }
    publisher.join().unwrap();
    server.wait_subscribers("s", "ws", 1);
    // The slow one: its frames up to the cut, then close 1008, then EOF.
    let mut slow = WsClient {
        reader: BufReader::new(slow_stream.try_clone().unwrap()),
        writer: slow_stream,
        handshake: common::Response {
            status: 0,
            head: String::new(),
            headers: vec![],
            body: vec![],
        },
    };
    slow.handshake = read_response(&mut slow.reader).unwrap();
    assert_eq!(slow.handshake.status, 101);
    let mut last = server.floor();
    let code = loop {
        let frame = slow.read().unwrap();
        match frame.opcode {
            1 => {
                let envelope: serde_json::Value = serde_json::from_str(frame.text()).unwrap();
                assert_eq!(envelope["id"], last + 1);
                last += 1;
            }
            8 => break frame.close_code(),
            _ => {}
        }
    };
    assert_eq!(code, Some(1008));
    assert!(
        last < server.id(total),
        "the slow subscriber was never cut off"
    );
    // Reconnecting with ?since= the last id it saw: the rest, exactly once.
    let mut again = WsClient::connect(
        &server,
        &format!("/ws/s?since={last}"),
        "Sec-WebSocket-Protocol: pushwire.json\r\n",
    );
    for want in last + 1..=server.id(total) {
        let envelope: serde_json::Value = serde_json::from_str(again.read_data().text()).unwrap();
        assert_eq!(envelope["id"], want);
    }
}

#[test]
fn shutdown_sends_close_1001_to_open_websockets() {
    let server = TestServer::start(&[]);
    let mut client = WsClient::connect(&server, "/ws/bye", "");
    server.wait_subscribers("bye", "ws", 1);
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(client.read_data().close_code(), Some(1001));
}
