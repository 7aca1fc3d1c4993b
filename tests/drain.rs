//! The graceful drain of the real process on SIGTERM, over TCP on
//! 127.0.0.1: one client per transport sees a clean end with where to
//! resume (a long-poll answer with `Retry-After`, an SSE stream's last
//! chunk after `retry:`, a WebSocket's 1001 with its last id), the exit
//! status is 0, and a new process on the same `--data-dir` lets each
//! resume with nothing lost; a client that never reads does not hold the
//! drain past `--drain-timeout`; a second SIGTERM stops at once.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::events::{read_chunk, EventParser};
use common::wsclient::WsClient;
use common::{read_response, TestServer};

/// A temporary data dir, removed when the test ends.
struct DataDir(std::path::PathBuf);

impl DataDir {
    fn new(name: &str) -> DataDir {
        let dir = std::env::temp_dir().join(format!("pushwire-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        DataDir(dir)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An SSE client: the chunked body read through the test's own parser.
struct Stream {
    reader: BufReader<TcpStream>,
    parser: EventParser,
}

impl Stream {
    fn open(server: &TestServer, path: &str, headers: &str) -> Stream {
        let mut socket = server.connect();
        socket
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(socket);
        assert_eq!(read_response(&mut reader).unwrap().status, 200);
        Stream {
            reader,
            parser: EventParser::default(),
        }
    }

    /// Reads chunks until `n` events arrived, or the last chunk (false).
    fn read_events(&mut self, n: usize) -> bool {
        while self.parser.events.len() < n {
            match read_chunk(&mut self.reader).unwrap() {
                Some(data) => self.parser.feed(std::str::from_utf8(&data).unwrap()),
                None => return false,
            }
        }
        true
    }
}

/// The ids of the `pushwire.json` frames `ws` reads until its Close,
/// and the Close's code and reason.
fn ws_until_close(ws: &mut WsClient) -> (Vec<u64>, Option<u16>, String) {
    let mut ids = Vec::new();
    loop {
        let frame = ws.read_data();
        if frame.opcode == 8 {
            let reason = String::from_utf8(frame.payload[2..].to_vec()).unwrap();
            return (ids, frame.close_code(), reason);
        }
        let v: serde_json::Value = serde_json::from_str(frame.text()).unwrap();
        ids.push(v["id"].as_u64().unwrap());
    }
}

fn json_ws(server: &TestServer, path: &str) -> WsClient {
    WsClient::connect(server, path, "Sec-WebSocket-Protocol: pushwire.json\r\n")
}

#[test]
fn sigterm_ends_every_transport_cleanly_and_a_new_process_on_the_data_dir_loses_nothing() {
    let dir = DataDir::new("drain");
    let mut old = TestServer::start(&["--data-dir", dir.arg(), "--fsync", "always"]);
    let first = old.publish("d", "m1");
    // One client per transport, each caught up to m1.
    let mut parked = old.connect();
    parked
        .write_all(
            format!("GET /longpoll/d?since={first}&timeout=60 HTTP/1.1\r\nHost: t\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut stream = Stream::open(&old, "/sse/d?since=0", "");
    assert!(stream.read_events(1));
    let mut ws = json_ws(&old, "/ws/d?since=0");
    let got: serde_json::Value = serde_json::from_str(ws.read_data().text()).unwrap();
    assert_eq!(got["id"], first);
    old.wait_subscribers("d", "longpoll", 1);

    let signalled = Instant::now();
    old.signal(libc::SIGTERM);

    // The long-poll: answered at once with what it has, Retry-After.
    let mut reader = BufReader::new(parked.try_clone().unwrap());
    let answer = read_response(&mut reader).unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), Some("close"));
    let retry_after: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((2..=4).contains(&retry_after), "{retry_after}");
    assert_eq!(answer.json()["last_id"], first);
    assert_eq!(answer.json()["messages"], serde_json::json!([]));
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0, "then EOF");

    // The stream: retry: with jitter, then the last chunk, then EOF.
    assert!(!stream.read_events(2), "the stream ended");
    let retry = stream.parser.retry.unwrap();
    assert!((2000..=4000).contains(&retry), "{retry}");
    let mut rest = Vec::new();
    assert_eq!(stream.reader.read_to_end(&mut rest).unwrap(), 0);

    // The WebSocket: 1001, and the last id it was sent.
    let (ids, code, reason) = ws_until_close(&mut ws);
    assert!(ids.is_empty());
    assert_eq!(code, Some(1001));
    assert_eq!(reason, format!(r#"{{"last_id":{first}}}"#));
    drop(ws);

    let status = old.wait_exit(Duration::from_secs(10)).expect("exited");
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );

    // The new process on the same data dir: each client resumes from
    // where the drain told it, and gets exactly what was published since.
    let new = TestServer::start(&["--data-dir", dir.arg(), "--fsync", "always"]);
    let second = new.publish("d", "m2");
    let poll = new
        .get(&format!("/longpoll/d?since={first}&timeout=5"))
        .json();
    assert_eq!(
        poll["messages"],
        serde_json::json!([{"id": second, "data": "m2"}])
    );
    let mut again = Stream::open(&new, "/sse/d", &format!("Last-Event-ID: {first}\r\n"));
    assert!(again.read_events(1));
    assert_eq!(again.parser.ids(), [second]);
    assert_eq!(again.parser.events[0].data, "m2");
    let mut ws = json_ws(&new, &format!("/ws/d?since={first}"));
    let got: serde_json::Value = serde_json::from_str(ws.read_data().text()).unwrap();
    assert_eq!(got, serde_json::json!({"id": second, "data": "m2"}));
}

/// A stream whose client never reads, with more queued for it than the
/// socket buffers hold.
fn stalled_stream(server: &TestServer) -> TcpStream {
    let mut stalled = server.connect_slow();
    stalled
        .write_all(b"GET /sse/stalled HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    server.wait_subscribers("stalled", "sse", 1);
    let data = "x".repeat(64 * 1024);
    for _ in 0..16 {
        server.publish("stalled", &data);
    }
    assert_eq!(server.subscribers("stalled", "sse"), 1, "not cut off");
    stalled
}

#[test]
fn a_client_that_never_reads_does_not_hold_the_drain_past_drain_timeout() {
    let mut server = TestServer::start(&["--drain-timeout", "1", "--max-backlog-bytes", "8388608"]);
    let _stalled = stalled_stream(&server);
    let mut stderr = server.stderr();
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(10)).expect("exited");
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took >= Duration::from_millis(990), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("--drain-timeout passed with 1 connections open"),
        "{text}"
    );
}

#[test]
fn a_second_sigterm_stops_at_once() {
    let mut server =
        TestServer::start(&["--drain-timeout", "60", "--max-backlog-bytes", "8388608"]);
    let _stalled = stalled_stream(&server);
    server.signal(libc::SIGTERM);
    assert!(
        server.wait_exit(Duration::from_millis(300)).is_none(),
        "draining: the stalled client holds it"
    );
    // The listener is closed: the kernel refuses new connections.
    let refused = TcpStream::connect(server.addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(10)).expect("exited");
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        signalled.elapsed()
    );
}

/// The takeover of docs/operations.md: with `--reuse-port`, a new
/// process started with `--lock-wait` listens at once, opens the data
/// dir when the old one, drained by SIGTERM, lets go of it, and then
/// answers the connections that waited in its queue. A client that
/// comes back at once, to the same address, finds everything.
#[test]
fn a_new_process_with_lock_wait_takes_over_the_address_and_the_data_dir() {
    let dir = DataDir::new("takeover");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let common = [
        "--listen",
        addr.as_str(),
        "--reuse-port",
        "--data-dir",
        dir.arg(),
    ];
    let mut old = TestServer::start(&common);
    let first = old.publish("t", "m1");
    let mut stream = Stream::open(&old, "/sse/t?since=0", "");
    assert!(stream.read_events(1));

    // The new one: listening (its first line) while it waits for the lock.
    let mut args: Vec<String> = common.iter().map(|s| s.to_string()).collect();
    args.extend(["--lock-wait".into(), "30".into()]);
    let new = std::thread::spawn(move || {
        TestServer::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
    });
    // Until the old one lets go, the new one has not printed it listens.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!new.is_finished(), "the new process waits for the lock");

    old.signal(libc::SIGTERM);
    assert!(!stream.read_events(2), "the old stream ended");
    let resume = stream.parser.events[0].id.clone();
    assert_eq!(resume, first.to_string());
    assert_eq!(
        old.wait_exit(Duration::from_secs(10)).map(|s| s.code()),
        Some(Some(0))
    );

    let new = new.join().unwrap();
    assert_eq!(new.addr.to_string(), addr);
    let second = new.publish("t", "m2");
    assert!(second > first);
    let mut again = Stream::open(&new, "/sse/t", &format!("Last-Event-ID: {resume}\r\n"));
    assert!(again.read_events(1));
    assert_eq!(again.parser.ids(), [second]);
    assert_eq!(
        new.poll("t", Some(0))["messages"].as_array().unwrap().len(),
        2
    );
}

/// `--lock-wait` is a bound: past it, the start is refused (status 2)
/// with the reason.
#[test]
fn lock_wait_refuses_the_start_once_it_has_passed() {
    let dir = DataDir::new("lockwait");
    let _holder = TestServer::start(&["--data-dir", dir.arg()]);
    let started = Instant::now();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.arg(),
            "--lock-wait",
            "0.5",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(stderr.contains("waiting up to 0.5 s"), "{stderr}");
    assert!(
        stderr.contains("is in use by another running pushwire")
            && stderr.contains("after waiting 0.5 s (--lock-wait)"),
        "{stderr}"
    );
}
