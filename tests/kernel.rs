//! What the kernel holds for the server and what it tells it, on real
//! sockets: a slow consumer's bound counts the server's kernel send queue
//! (read from `/proc/net/tcp`, whose `tx_queue` is what `SIOCOUTQ` says of
//! the socket, tcp(7)), and a FIN that arrives with a request is seen at
//! once.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;

use common::{read_response, read_until_closed, TestServer};
use pushwire::server::SEND_BUFFER_OVERSHOOT;

/// The `tx_queue` and `rx_queue` of the TCP socket on 127.0.0.1 from port
/// `local` to port `remote`: for a connected socket, the bytes written and
/// not yet acknowledged (`SIOCOUTQ`) and the bytes received and not yet
/// read (`SIOCINQ`), as the kernel shows them for every socket.
fn queues(local: u16, remote: u16) -> Option<(usize, usize)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |address: &str| {
        let (_, port) = address.split_once(':')?;
        u16::from_str_radix(port, 16).ok()
    };
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local_at, remote_at, queues) = (fields.get(1)?, fields.get(2)?, fields.get(4)?);
        if port(local_at)? != local || port(remote_at)? != remote {
            return None;
        }
        let (tx, rx) = queues.split_once(':')?;
        Some((
            usize::from_str_radix(tx, 16).ok()?,
            usize::from_str_radix(rx, 16).ok()?,
        ))
    })
}

/// What the kernel makes of `--send-buffer-bytes N`: the server asks for
/// N / 2 and Linux doubles it, within its limits, which are the same for
/// a socket made here.
fn send_buffer_in_force(send_buffer_bytes: usize) -> usize {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_send_buffer_size(send_buffer_bytes / 2).unwrap();
    socket.send_buffer_size().unwrap()
}

/// A client that sends `request` and then does not read, with a small
/// receive buffer so that its own kernel takes little; and its port.
fn non_reading_client(server: &TestServer, request: &str) -> (TcpStream, u16) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let port = stream.local_addr().unwrap().port();
    (stream, port)
}

/// One keep-alive connection that publishes.
struct Publisher {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Publisher {
    fn new(server: &TestServer) -> Publisher {
        let stream = server.connect();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Publisher { stream, reader }
    }

    fn publish(&mut self, channel: &str, data: &str) {
        let request = format!(
            "POST /pub/{channel} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{data}",
            data.len()
        );
        self.stream.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(&mut self.reader).unwrap().status, 202);
    }
}

/// What a slow-consumer run saw: the message whose delivery cut the
/// subscriber off, the most the server's kernel held for it before, and,
/// right after the cut, what the client's own kernel held.
struct Cut {
    by: usize,
    most_in_kernel: usize,
    in_client: usize,
}

/// Publishes `data` on `channel` until its one `kind` subscriber, the
/// client on `port`, is cut off; the server's kernel queue for it is read
/// after every publish (the answer comes after the fan-out and the
/// write).
fn publish_until_cut(server: &TestServer, channel: &str, kind: &str, port: u16) -> Cut {
    let data = "z".repeat(4000);
    let mut publisher = Publisher::new(server);
    let mut most_in_kernel = 0;
    for id in 1..=400 {
        publisher.publish(channel, &data);
        let (in_kernel, _) = queues(server.port(), port).unwrap_or_default();
        most_in_kernel = most_in_kernel.max(in_kernel);
        if server.subscribers(channel, kind) == 0 {
            let (_, in_client) = queues(port, server.port()).unwrap();
            return Cut {
                by: id,
                most_in_kernel,
                in_client,
            };
        }
    }
    panic!("400 messages of 4000 bytes never cut the {kind} subscriber off");
}

/// The last bytes of `text`, for a failure message.
fn tail(text: &str) -> &str {
    let from = text.len().saturating_sub(80);
    text.get(from..).unwrap_or(text)
}

fn chunk(text: &str) -> String {
    format!("{:x}\r\n{text}\r\n", text.len())
}

/// What an SSE subscriber cut off by the bound was sent and owed.
struct CutStream {
    /// The bytes it received before the stream's end.
    received: usize,
    /// What was written for it before the message that cut it off and
    /// never reached it: pushwire's queue at the cut (all but the event
    /// begun, which was finished: so the queue was `dropped` plus at most
    /// one event).
    dropped: usize,
    /// The event that cut it off.
    next: usize,
}

/// Reads a cut SSE stream of 4000-byte `z` events: `ids` are those
/// published, the last one the message that cut it off. The stream must
/// be a prefix of what was owed, end on an event boundary, then say why
/// and end with the last chunk.
fn cut_stream(received: Vec<u8>, ids: &[u64]) -> CutStream {
    let text = String::from_utf8(received).unwrap();
    let end = chunk(": too slow: reconnect with Last-Event-ID\n\n") + "0\r\n\r\n";
    let text = text
        .strip_suffix(&end)
        .unwrap_or_else(|| panic!("the stream does not end whole: {:?}", tail(&text)));
    let head_end = text.find("\r\n\r\n").unwrap() + 4;
    let data = "z".repeat(4000);
    let event = |id: &u64| chunk(&format!("id: {id}\ndata: {data}\n\n"));
    let (cut_by, before) = ids.split_last().unwrap();
    let mut owed = text[..head_end].to_owned() + &chunk("retry: 2000\n\n");
    for id in before {
        owed += &event(id);
    }
    assert!(owed.starts_with(text), "not a prefix of the stream");
    // ...that ends on an event boundary: the event begun is finished.
    assert!(text.ends_with("\n\n\r\n"), "{:?}", tail(text));
    CutStream {
        received: text.len(),
        dropped: owed.len() - text.len(),
        next: event(cut_by).len(),
    }
}

/// The SSE bound tests' server: a 256 KiB bound, a 64 KiB send buffer,
/// and no heartbeat to add bytes.
const SSE_BOUND: [&str; 6] = [
    "--max-backlog-bytes",
    "262144",
    "--send-buffer-bytes",
    "65536",
    "--heartbeat",
    "600",
];

#[test]
fn a_non_reading_sse_subscriber_is_cut_when_its_queue_and_the_kernels_reach_the_bound() {
    let (max, send_buffer) = (262_144, 65_536);
    let server = TestServer::start(&SSE_BOUND);
    let share = send_buffer_in_force(send_buffer) + SEND_BUFFER_OVERSHOOT;
    let (mut client, port) = non_reading_client(&server, "GET /sse/k HTTP/1.1\r\nHost: t\r\n\r\n");
    server.wait_subscribers("k", "sse", 1);
    let cut = publish_until_cut(&server, "k", "sse", port);
    // Without a fixed send buffer the kernel took megabytes here.
    assert!(
        cut.most_in_kernel > 0 && cut.most_in_kernel <= share,
        "the kernel held {} bytes, its share is {share}",
        cut.most_in_kernel
    );
    // The client gets what the kernels held when it was cut, then the
    // stream's end (why, and the last chunk), then EOF.
    let received = read_until_closed(&mut client).unwrap();
    let ids: Vec<u64> = (1..=cut.by).map(|k| server.id(k as u64)).collect();
    let CutStream {
        received: text_len,
        dropped,
        next,
    } = cut_stream(received, &ids);
    // Cut when its queue, the kernel's share and the next event would
    // pass the bound (to the byte in tests/engine/kernel.rs)...
    let queued = dropped + next;
    assert!(dropped + share <= max, "{dropped} dropped + {share}");
    assert!(
        queued + share + next > max,
        "{queued} queued + {share} + {next}"
    );
    // ...so what pushwire and its kernel held never passed it.
    assert!(dropped + cut.most_in_kernel <= max);
    // Seen from the client: what the server sent it beyond what the
    // client's kernel held at the cut.
    assert!(text_len - cut.in_client <= max);
}

#[test]
fn a_non_reading_websocket_subscriber_is_cut_at_the_same_bound_and_gets_1008() {
    let max = 262_144;
    let server = TestServer::start(&["--max-backlog-bytes", "262144", "--linger", "60"]);
    // The default buffer: half the bound, less the segment.
    let share = send_buffer_in_force(max / 2 - SEND_BUFFER_OVERSHOOT) + SEND_BUFFER_OVERSHOOT;
    let (client, port) =
        non_reading_client(&server, &common::wsclient::upgrade_request("/ws/k", ""));
    server.wait_subscribers("k", "ws", 1);
    let cut = publish_until_cut(&server, "k", "ws", port);
    assert!(
        cut.most_in_kernel > 0 && cut.most_in_kernel <= share,
        "the kernel held {} bytes, its share is {share}",
        cut.most_in_kernel
    );
    // Read late (well within the linger): whole frames of 4000 bytes,
    // then close 1008 on a frame boundary, then EOF.
    let mut reader = BufReader::new(client);
    let head = read_response(&mut reader).unwrap();
    assert_eq!(head.status, 101);
    let head_len = head.head.len();
    let mut frames = 0;
    let close = loop {
        let mut header = [0u8; 2];
        reader.read_exact(&mut header).unwrap();
        if header == [0x81, 126] {
            let mut rest = [0u8; 4002];
            reader.read_exact(&mut rest).unwrap();
            assert_eq!(&rest[..2], &4000u16.to_be_bytes());
            assert!(rest[2..].iter().all(|&b| b == b'z'));
            frames += 1;
            continue;
        }
        assert_eq!(header[0], 0x88, "a frame that is neither data nor Close");
        let mut payload = vec![0u8; usize::from(header[1])];
        reader.read_exact(&mut payload).unwrap();
        assert_eq!(&payload[..2], &1008u16.to_be_bytes());
        break 2 + payload.len();
    };
    let mut after = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut after).unwrap(),
        0,
        "nothing after the Close"
    );
    // Frames not begun when it was cut were dropped; the one begun was
    // finished. So the queue held between `dropped` and one frame more.
    let frame = 4004;
    let dropped = (cut.by - 1 - frames) * frame;
    assert!(dropped + share <= max, "{dropped} dropped + {share}");
    assert!(dropped + frame + share + frame > max);
    // Seen from the client: everything the server sent beyond what its
    // kernel held at the cut, the Close (at most 127 bytes, RFC 6455
    // section 5.5) aside.
    let received = head_len + frames * frame + close;
    assert!(received - cut.in_client - close <= max);
}

#[test]
fn a_send_buffer_that_leaves_pushwire_no_room_is_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["--listen", "127.0.0.1:0", "--max-backlog-bytes", "65536"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("max_backlog_bytes 65536 leaves nothing for pushwire's own queue"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["--listen", "127.0.0.1:0", "--send-buffer-bytes", "1048576"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn a_fin_that_comes_with_the_request_gets_the_answer_and_the_end_at_once() {
    // A keep-alive connection would be closed only after 600 s.
    let server = TestServer::start(&["--idle-timeout", "600"]);
    server.publish("a", "one");
    for cork in [true, false] {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.connect(&server.addr.into()).unwrap();
        // Corked, the request and the FIN leave in one segment (tcp(7),
        // TCP_CORK): the server's socket gets both in one event.
        socket.set_tcp_cork(cork).unwrap();
        let mut stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
        stream
            .write_all(b"GET /poll/a?since=0 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        // The answer, then EOF: a read that times out (10 s, against the
        // idle timeout's 600) fails the test.
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader).unwrap();
        assert_eq!(response.status, 200);
        assert!(response.text().contains("\"one\""), "{}", response.text());
        assert!(
            reader.fill_buf().unwrap().is_empty(),
            "EOF after the answer"
        );
    }
}

/// Over TLS, the session holds up to `SESSION_OUTPUT_LIMIT` of the
/// subscriber's output beyond the kernel (bytes the engine counts as
/// written): the bound counts it as full too, so the subscriber is cut
/// that much earlier, and what pushwire, its TLS session and its kernel
/// held never passed `--max-backlog-bytes`.
#[cfg(feature = "tls")]
#[test]
fn a_non_reading_tls_sse_subscriber_is_cut_with_its_sessions_share_counted() {
    use common::tls;
    use pushwire::server::tls::SESSION_OUTPUT_LIMIT;

    let (max, send_buffer) = (262_144, 65_536);
    let server = tls::start(&SSE_BOUND);
    let share = send_buffer_in_force(send_buffer) + SEND_BUFFER_OVERSHOOT + SESSION_OUTPUT_LIMIT;
    // The handshake and the request, then no more reading, with a small
    // receive buffer as for the plain subscribers above.
    let tcp = server.connect_slow();
    let port = tcp.local_addr().unwrap().port();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(tls::client_config(), name).unwrap();
    let mut client = rustls::StreamOwned::new(conn, tcp);
    client
        .write_all(b"GET /sse/k HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    client.flush().unwrap();
    server.wait_subscribers("k", "sse", 1);
    // Publish until it is cut off (the server's helpers speak TLS to it,
    // a new connection each).
    let data = "z".repeat(4000);
    let mut ids = Vec::new();
    let mut cut = None;
    for _ in 0..400 {
        ids.push(server.publish("k", &data));
        if server.subscribers("k", "sse") == 0 {
            let (_, in_client) = queues(port, server.port()).unwrap();
            cut = Some(in_client);
            break;
        }
    }
    let in_client = cut.expect("400 messages of 4000 bytes never cut the subscriber off");
    // Everything the kernels and the session held, then the stream's end
    // and close_notify.
    let mut received = Vec::new();
    client.read_to_end(&mut received).unwrap();
    let CutStream {
        received: text_len,
        dropped,
        next,
    } = cut_stream(received, &ids);
    // Cut when its queue, the kernel's and the session's shares and the
    // next event would pass the bound; without the session's share
    // counted, the queue held up to 64 KiB more and the first fails.
    assert!(dropped + share <= max, "{dropped} dropped + {share}");
    assert!(
        dropped + next + share + next > max,
        "{dropped} dropped + {share} + {next}"
    );
    // Seen from the client: what the server's kernel and the session
    // held at the cut (the client's kernel held `in_client` of it, in
    // ciphertext, which is more than the plaintext it carries).
    assert!(dropped + text_len.saturating_sub(in_client) <= max);
}
