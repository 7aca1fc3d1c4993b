//! HTTPS and WSS (`--features tls`): the real server on 127.0.0.1 with
//! the test certificates of `tests/tls`, reached by curl, by `pushwire
//! sub` and `pub`, and by a rustls client that also sends what a proper
//! client never would.
#![cfg(feature = "tls")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::tls::{self, TlsStream};
use common::{read_response, read_until_closed, TestServer};

/// Runs curl trusting the test CA; returns (HTTP status, body, what
/// `-w` asked for after the body's last newline is cut off).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(tls::ca())
        .args(["-w", "\n%{http_code} %{http_version} %{ssl_verify_result}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, trailer) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut fields = trailer.split(' ');
    let status = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    if status != 0 {
        // Every answer came over HTTP/1.1 (ALPN) with the chain verified.
        assert_eq!(trailer, format!("{status} 1.1 0"), "{args:?}");
    }
    (status, body.to_owned())
}

/// Publishes over TLS; the id.
fn publish(server: &TestServer, channel: &str, data: &str) -> u64 {
    let response = tls::exchange(
        server.addr,
        format!(
            "POST /pub/{channel} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{data}",
            data.len()
        )
        .as_bytes(),
    );
    assert_eq!(response.status, 202, "{}", response.text());
    response.json()["id"].as_u64().unwrap()
}

#[test]
fn curl_reaches_every_endpoint_over_https() {
    let server = tls::start(&[]);
    let url = |path: &str| tls::url(&server, path);
    let (status, page) = curl(&[&url("/")]);
    assert_eq!(status, 200);
    assert!(page.starts_with("<!doctype html>"), "{page:.80}");
    let (status, help) = curl(&[&url("/help")]);
    assert_eq!((status, help.contains("/sse/")), (200, true));
    let (status, body) = curl(&["-d", "hello", &url("/pub/c")]);
    assert_eq!(status, 202, "{body}");
    let first: serde_json::Value = serde_json::from_str(&body).unwrap();
    let first = first["id"].as_u64().unwrap();
    let (status, info) = curl(&[&url("/pub/c")]);
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        (info["last_id"].as_u64(), &info["history"]),
        (Some(first), &1.into())
    );
    let (status, poll) = curl(&[&url("/poll/c?since=0")]);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&poll).unwrap()["messages"],
        serde_json::json!([{"id": first, "data": "hello"}])
    );
    // A long-poll held until a publish over another TLS connection.
    let publisher = {
        let addr = server.addr;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let body = "world";
            tls::exchange(
                addr,
                format!(
                    "POST /pub/c HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
        })
    };
    let started = Instant::now();
    let (status, held) = curl(&[&url(&format!("/longpoll/c?since={first}&timeout=20"))]);
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(publisher.join().unwrap().status, 202);
    let held: serde_json::Value = serde_json::from_str(&held).unwrap();
    assert_eq!(held["messages"][0]["data"], "world");
    // SSE: the stream stays open; curl stops it after a second (exit 28).
    let (status, stream) = curl(&["-N", "--max-time", "1", &url("/sse/c?since=0")]);
    assert_eq!(status, 200);
    assert!(
        stream.contains(&format!("id: {first}\ndata: hello\n\n"))
            && stream.contains(&format!("id: {}\ndata: world\n\n", first + 1)),
        "{stream}"
    );
    // TLS 1.2 too; not 1.1.
    let (status, _) = curl(&["--tlsv1.2", "--tls-max", "1.2", &url("/help")]);
    assert_eq!(status, 200);
    let (status, _) = curl(&["--tlsv1.1", "--tls-max", "1.1", &url("/help")]);
    assert_eq!(status, 0, "TLS 1.1 must be refused");
    // The address is in the certificate as well as the name.
    let (status, _) = curl(&[&format!("https://127.0.0.1:{}/help", server.port())]);
    assert_eq!(status, 200);
}

/// Reads one unmasked server frame of a short text message.
fn read_text_frame(stream: &mut impl Read) -> String {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[0], 0x81, "a final text frame");
    let len = match head[1] {
        n @ 0..=125 => n as usize,
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).unwrap();
            u16::from_be_bytes(ext) as usize
        }
        other => panic!("length byte {other}"),
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    String::from_utf8(payload).unwrap()
}

#[test]
fn a_websocket_over_tls_gets_history_and_live_messages() {
    let server = tls::start(&[]);
    let first = publish(&server, "w", "before");
    let mut ws = tls::connect(server.addr);
    ws.write_all(common::wsclient::upgrade_request("/ws/w?since=0", "").as_bytes())
        .unwrap();
    let mut reader = BufReader::new(ws);
    let response = read_response(&mut reader).unwrap();
    assert_eq!(response.status, 101, "{}", response.head);
    assert_eq!(read_text_frame(&mut reader), "before");
    assert_eq!(publish(&server, "w", "after"), first + 1);
    assert_eq!(read_text_frame(&mut reader), "after");
    // The terminal client, over wss:// and https://.
    let sub = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args([
            "sub",
            "ws",
            &format!("wss://localhost:{}/ws/w", server.port()),
        ])
        .args(["--since", "0", "--count", "2", "--cacert"])
        .arg(tls::ca())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sub.stdout),
        format!("#{first} before\n#{} after\n", first + 1)
    );
    let publish = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["pub", &tls::url(&server, "/pub/w"), "third", "--cacert"])
        .arg(tls::ca())
        .output()
        .unwrap();
    assert!(publish.status.success(), "{publish:?}");
    assert_eq!(read_text_frame(&mut reader), "third");
    // Without the test CA the client refuses the server.
    let untrusted = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["pub", &tls::url(&server, "/pub/w"), "x"])
        .env("SSL_CERT_FILE", tls::file("leaf2.pem"))
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("UnknownIssuer"));
}

#[test]
fn plain_http_to_the_tls_port_gets_a_plaintext_400() {
    let server = tls::start(&[]);
    let mut plain = server.connect();
    plain
        .write_all(b"GET /help HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut plain).unwrap();
    assert_eq!(answer, pushwire::server::tls::PLAIN_HTTP_REFUSAL);
    // The server goes on.
    assert_eq!(tls::get(server.addr, "/help").status, 200);
}

#[test]
fn a_slow_handshake_is_cut_at_its_deadline_and_a_finished_one_is_not() {
    let server = tls::start(&["--tls-handshake-timeout", "0.5", "--idle-timeout", "30"]);
    // A finished handshake, then silence past the deadline: still open.
    let mut done = tls::connect(server.addr);
    done.write_all(b"GET /help HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(done);
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
    // Nothing at all, and half a record header: both cut.
    let silent = server.connect();
    let mut half = server.connect();
    half.write_all(&[22, 3, 1]).unwrap();
    let started = Instant::now();
    for mut stream in [silent, half] {
        assert_eq!(read_until_closed(&mut stream).unwrap(), b"");
    }
    let waited = started.elapsed();
    // The wheel's 4 ms tick and the loop's wake-up are all the slack.
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let mut done = reader.into_inner();
    done.write_all(b"GET /help HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut BufReader::new(done)).unwrap().status,
        200
    );
}

#[test]
fn bad_records_and_alerts_close_the_connection_and_the_server_goes_on() {
    let server = tls::start(&[]);
    let garbage: [&[u8]; 4] = [
        // A handshake record too short for a ClientHello.
        &[22, 3, 1, 0, 4, 1, 0, 0, 0],
        // A record longer than TLS allows (RFC 8446 5.1: 2^14 + 256).
        &[22, 3, 3, 0xff, 0xff, 0],
        // A fatal alert as the first record (handshake_failure).
        &[21, 3, 3, 0, 2, 2, 40],
        // Application data before any handshake.
        &[23, 3, 3, 0, 3, 1, 2, 3],
    ];
    for bytes in garbage {
        let mut raw = server.connect();
        raw.write_all(bytes).unwrap();
        // Closed, after at most an alert record (content type 21).
        let answer = read_until_closed(&mut raw).unwrap();
        assert!(
            answer.is_empty() || answer[0] == 21,
            "{bytes:?}: {answer:?}"
        );
    }
    // A record that fails to decrypt after the handshake.
    let mut stream = tls::connect(server.addr);
    stream
        .write_all(b"GET /help HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
    let mut stream: TlsStream = reader.into_inner();
    stream.sock.write_all(&[23, 3, 3, 0, 20]).unwrap();
    stream.sock.write_all(&[7u8; 20]).unwrap();
    let mut rest = Vec::new();
    let closed = stream.read_to_end(&mut rest);
    // rustls reports the server's bad_record_mac alert as an error.
    assert!(closed.is_err() || rest.is_empty(), "{closed:?} {rest:?}");
    assert_eq!(tls::get(server.addr, "/help").status, 200);
}

/// Lines of the server's stderr, as they come.
fn stderr_lines(server: &mut TestServer) -> mpsc::Receiver<String> {
    let stderr = server.stderr();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn wait_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {needle:?}: {e}"),
        }
    }
}

fn sighup(server: &TestServer) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Reads SSE bytes until `needle` has been seen.
fn read_stream_until(reader: &mut impl BufRead, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "ended: {seen}");
        seen.push_str(&line);
    }
    seen
}

#[test]
fn sighup_swaps_the_certificate_while_a_stream_stays_open() {
    let dir = std::env::temp_dir().join(format!("pushwire-tls-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(tls::file("leaf-chain.pem"), &cert).unwrap();
    std::fs::copy(tls::file("leaf.key"), &key).unwrap();
    let mut server = TestServer::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let lines = stderr_lines(&mut server);
    let mut stream = tls::connect(server.addr);
    stream
        .write_all(b"GET /sse/r HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    read_stream_until(&mut reader, "retry:");
    assert_eq!(tls::peer_cert(reader.get_ref()), tls::cert_der("leaf.pem"));

    std::fs::copy(tls::file("leaf2-chain.pem"), &cert).unwrap();
    std::fs::copy(tls::file("leaf2.key"), &key).unwrap();
    sighup(&server);
    let said = wait_line(&lines, "SIGHUP");
    assert!(said.contains("TLS certificate reloaded from"), "{said}");
    let mut fresh = tls::connect(server.addr);
    fresh
        .write_all(b"GET /help HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut fresh = BufReader::new(fresh);
    assert_eq!(read_response(&mut fresh).unwrap().status, 200);
    assert_eq!(tls::peer_cert(fresh.get_ref()), tls::cert_der("leaf2.pem"));
    // The stream opened before goes on, on its old session.
    let id = publish(&server, "r", "after the reload");
    read_stream_until(&mut reader, &format!("id: {id}\ndata: after the reload\n"));

    // A broken file: the certificate in force stays, and stderr says why.
    std::fs::write(&cert, b"not a certificate\n").unwrap();
    sighup(&server);
    let said = wait_line(&lines, "SIGHUP");
    assert!(
        said.contains("not reloaded, the one in force stays")
            && said.contains("holds no PEM CERTIFICATE"),
        "{said}"
    );
    let again = tls::connect(server.addr);
    let mut again = BufReader::new(again);
    again
        .get_mut()
        .write_all(b"GET /help HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut again).unwrap().status, 200);
    assert_eq!(tls::peer_cert(again.get_ref()), tls::cert_der("leaf2.pem"));
    let id = publish(&server, "r", "after the failed reload");
    read_stream_until(&mut reader, &format!("id: {id}\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_hub_counts_handshakes_failures_timeouts_plain_http_and_reloads() {
    let mut config = pushwire::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..pushwire::Config::default()
    };
    let mut settings =
        pushwire::config::TlsSettings::new(tls::file("leaf-chain.pem"), tls::file("leaf.key"));
    settings.handshake_timeout = Duration::from_millis(200);
    config.tls = Some(settings);
    let server = pushwire::Server::bind(config).unwrap();
    assert!(server.is_tls());
    let addr = server.local_addr();
    let hub = server.hub();
    let running = std::thread::spawn(move || server.run());
    assert_eq!(tls::get(addr, "/help").status, 200);
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    read_until_closed(&mut plain).unwrap();
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.write_all(&[22, 3, 1, 0, 4, 1, 0, 0, 0]).unwrap();
    read_until_closed(&mut bad).unwrap();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    read_until_closed(&mut slow).unwrap();
    hub.reload_tls().unwrap();
    let missing = pushwire::config::TlsSettings::new("/nonexistent.pem", "/nonexistent.key");
    assert!(pushwire::server::tls::load(&missing).is_err());
    // The loop takes the reload at its next pass.
    let deadline = Instant::now() + Duration::from_secs(5);
    while hub.tls_counts().reloads == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        hub.tls_counts(),
        pushwire::server::tls::TlsCounts {
            handshakes: 1,
            failures: 1,
            timeouts: 1,
            plain_http: 1,
            reloads: 1,
        }
    );
    // The same counts in /metrics (its own request's handshake is the
    // second one).
    let scraped = tls_metrics(addr);
    assert_eq!(
        (
            scraped.handshakes,
            scraped.error,
            scraped.timeout,
            scraped.plain_http,
            scraped.reloads
        ),
        (2, 1, 1, 1, 1),
        "{scraped:?}"
    );
    hub.stop();
    running.join().unwrap().unwrap();
}

#[test]
fn a_connection_past_the_limit_gets_its_503_once_the_handshake_is_done() {
    let server = tls::start(&["--max-connections", "1"]);
    // The one connection allowed, in its handshake (nothing sent).
    let _held = server.connect();
    std::thread::sleep(Duration::from_millis(100));
    // The engine refuses the next at once; the refusal waits in the
    // session until the handshake is done, then leaves, with close_notify.
    let mut refused = tls::connect(server.addr);
    refused
        .write_all(b"GET /help HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    refused.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
}

#[test]
fn the_load_generator_fans_out_over_https_and_wss_without_loss() {
    let server = tls::start(&[]);
    for transport in ["sse", "ws"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pushwire"))
            .args(["bench", "fanout", "--transport", transport])
            .args([
                "--sub-url",
                &tls::url(&server, &format!("/{transport}/{{channel}}?since=0")),
            ])
            .args(["--pub-url", &tls::url(&server, "/pub/{channel}")])
            .args(["--subscribers", "50", "--messages", "10", "--timeout", "20"])
            .env("SSL_CERT_FILE", tls::ca())
            .output()
            .unwrap();
        let result = bench_json(&out);
        assert_eq!(result["delivered"], 500, "{transport}: {result}");
        for bad in ["lost", "duplicated", "out_of_order", "corrupt", "errors"] {
            assert_eq!(result[bad], 0, "{transport} {bad}: {result}");
        }
    }
}

#[test]
fn a_client_close_notify_is_answered_with_the_servers_before_the_end() {
    let server = tls::start(&[]);
    let mut stream = tls::connect(server.addr);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    // An idle connection that ends: RFC 8446 6.1 wants the server's own
    // close_notify before its FIN, and rustls reads a bare FIN as
    // UnexpectedEof (a truncation attack, for all it knows).
    stream.conn.send_close_notify();
    stream.flush().unwrap();
    let mut rest = Vec::new();
    let ended = stream.read_to_end(&mut rest);
    assert!(ended.is_ok(), "{ended:?}");
    assert!(rest.is_empty(), "{rest:?}");
}

/// `pushwire bench handshake` against `server`; the JSON line and
/// whether it exited 0.
fn bench_handshakes(
    server: &TestServer,
    ca: &std::path::Path,
    extra: &[&str],
) -> (serde_json::Value, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["bench", "handshake", "--url", &tls::url(server, "/")])
        .args(["--seconds", "0.5", "--warmup", "0.1", "--concurrency", "4"])
        .args(["--pid", &server.pid().to_string()])
        .args(extra)
        .env("SSL_CERT_FILE", ca)
        .output()
        .unwrap();
    (bench_json(&out), out.status.success())
}

/// The JSON line a `pushwire bench` run printed.
fn bench_json(out: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!("{stdout} {}", String::from_utf8_lossy(&out.stderr));
        });
    serde_json::from_str(line).unwrap()
}

#[test]
fn the_handshake_bench_counts_full_handshakes_the_server_confirmed() {
    let server = tls::start(&[]);
    let before = tls_metrics(server.addr);
    let (result, ok) = bench_handshakes(&server, &tls::ca(), &[]);
    assert!(ok, "{result}");
    assert_eq!(result["errors"], 0, "{result}");
    assert_eq!(
        result["negotiated"], "TLSv1_3 TLS13_AES_256_GCM_SHA384",
        "{result}"
    );
    let done = result["handshakes"].as_u64().unwrap();
    assert!(done > 0, "{result}");
    assert!(result["server_cpu_us_per_handshake"].as_f64().unwrap() > 0.0);
    // The server counted them too (and those of the warm-up and of the
    // window's end, and the /metrics requests' own).
    let after = tls_metrics(server.addr);
    assert!(
        after.handshakes >= before.handshakes + done,
        "{before:?} {after:?} {result}"
    );
    let (tls12, ok) = bench_handshakes(
        &server,
        &tls::ca(),
        &["--tls-version", "1.2", "--no-verify"],
    );
    assert!(ok, "{tls12}");
    assert_eq!(
        tls12["negotiated"], "TLSv1_2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "{tls12}"
    );
    // A client that does not trust the server's CA fails every handshake,
    // and says so.
    let (refused, ok) = bench_handshakes(&server, &tls::file("leaf2.pem"), &[]);
    assert!(!ok, "{refused}");
    assert_eq!(refused["handshakes"], 0, "{refused}");
    assert!(refused["errors"].as_u64().unwrap() > 0, "{refused}");
    // The client's alert (unknown CA) is a failed handshake to the server.
    let failed = tls_metrics(server.addr);
    assert!(failed.error > after.error, "{after:?} {failed:?}");
}

/// The TLS families of `/metrics`.
#[derive(Debug, Default)]
struct TlsMetrics {
    handshakes: u64,
    error: u64,
    timeout: u64,
    plain_http: u64,
    reloads: u64,
}

fn tls_metrics(addr: std::net::SocketAddr) -> TlsMetrics {
    let response = tls::get(addr, "/metrics");
    assert_eq!(response.status, 200);
    let mut m = TlsMetrics::default();
    for line in String::from_utf8_lossy(&response.body).lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: u64 = match value.parse() {
            Ok(v) => v,
            Err(_) => continue,
        };
        match name {
            "pushwire_tls_handshakes_total" => m.handshakes = value,
            "pushwire_tls_handshake_failures_total{reason=\"error\"}" => m.error = value,
            "pushwire_tls_handshake_failures_total{reason=\"timeout\"}" => m.timeout = value,
            "pushwire_tls_handshake_failures_total{reason=\"plain_http\"}" => m.plain_http = value,
            "pushwire_tls_certificate_reloads_total" => m.reloads = value,
            _ => {}
        }
    }
    m
}

#[test]
fn a_backlog_bound_with_no_room_beside_the_tls_session_is_refused_at_start() {
    // The kernel's share here is 65,536 + 65,536 (tests/kernel.rs): room
    // for pushwire's own queue in plain HTTP, none once the TLS session's
    // 64 KiB are counted too.
    let bound = [
        "--max-backlog-bytes",
        "196608",
        "--send-buffer-bytes",
        "65536",
    ];
    let plain = TestServer::start(&bound);
    assert_eq!(plain.get("/help").status, 200);
    let out = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["--listen", "127.0.0.1:0"])
        .args(bound)
        .args(tls::leaf_args())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("max_backlog_bytes 196608 leaves nothing for pushwire's own queue")
            && stderr.contains("and 65536 bytes in its TLS session"),
        "{stderr}"
    );
}
