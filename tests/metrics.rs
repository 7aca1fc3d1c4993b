//! `GET /metrics` over real TCP: the text format from the running server,
//! `--metrics-listen` (its own listener in the same loop) and
//! `--metrics-token`; and, ignored unless `.ci/run` installed them,
//! `promtool check metrics` on a real scrape and a real Prometheus that
//! scrapes pushwire and finds the published count through its HTTP API.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{tools, Response, TestServer};

/// `GET /metrics` on `addr` with `extra` header lines.
fn get_metrics(addr: SocketAddr, extra: &str) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    common::read_response(&mut std::io::BufReader::new(stream)).expect("response")
}

/// The value of the series `series` (`name{labels}`) in a scrape.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// The metrics address a server printed (`metrics:  curl http://ADDR/metrics`).
fn metrics_addr(server: &mut TestServer) -> SocketAddr {
    let line = server.stdout_line_with("metrics:");
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().strip_suffix("/metrics"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"))
}

#[test]
fn metrics_are_served_on_the_main_listener_in_the_text_format() {
    let server = TestServer::start(&[]);
    for i in 0..3 {
        server.publish("news", &format!("m{i}"));
    }
    let response = get_metrics(server.addr, "");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.text();
    assert_eq!(value(&text, "pushwire_messages_published_total"), Some(3.0));
    assert_eq!(
        value(
            &text,
            "pushwire_http_requests_total{endpoint=\"pub\",code=\"2xx\"}"
        ),
        Some(3.0)
    );
    // Bytes crossed the wire both ways; the loop counted its passes.
    assert!(value(&text, "pushwire_read_bytes_total").unwrap_or(0.0) > 0.0);
    assert!(value(&text, "pushwire_written_bytes_total").unwrap_or(0.0) > 0.0);
    assert!(value(&text, "pushwire_loop_pass_seconds_count").unwrap_or(0.0) >= 1.0);
    // The process's own figures, read from /proc/self.
    let rss = value(&text, "process_resident_memory_bytes").unwrap_or(0.0);
    assert!(rss > 1e6, "{rss}");
    assert!(value(&text, "process_open_fds").unwrap_or(0.0) >= 3.0);
    assert!(value(&text, "process_max_fds").unwrap_or(0.0) >= 64.0);
    let start = value(&text, "process_start_time_seconds").unwrap_or(0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(start <= now + 1.0 && start > now - 600.0, "{start} {now}");
    // Every line is a comment or a sample; every family has HELP and TYPE.
    for line in text.lines() {
        assert!(line.starts_with("# ") || line.starts_with("p"), "{line:?}");
    }
    let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
    let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(helps, types);
    assert!(helps >= 25, "{helps}");
}

#[test]
fn a_metrics_listener_serves_metrics_only_and_the_main_listener_no_longer_does() {
    let mut server = TestServer::start(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics = metrics_addr(&mut server);
    assert_ne!(metrics, server.addr);
    server.publish("a", "one");
    let response = get_metrics(metrics, "");
    assert_eq!(response.status, 200);
    assert_eq!(
        value(&response.text(), "pushwire_messages_published_total"),
        Some(1.0)
    );
    assert_eq!(get_metrics(server.addr, "").status, 404);
    // Nothing else is served on the metrics listener.
    let mut stream = TcpStream::connect(metrics).unwrap();
    stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    stream
        .write_all(
            b"POST /pub/a HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
        )
        .unwrap();
    let refused = common::read_response(&mut std::io::BufReader::new(stream)).unwrap();
    assert_eq!(refused.status, 404);
    assert_eq!(
        server.poll("a", Some(0))["messages"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn the_metrics_token_is_required() {
    let server = TestServer::start(&["--metrics-token", "s3cret"]);
    let refused = get_metrics(server.addr, "");
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer realm=\"pushwire\"")
    );
    assert_eq!(
        get_metrics(server.addr, "Authorization: Bearer nope\r\n").status,
        401
    );
    let ok = get_metrics(server.addr, "Authorization: Bearer s3cret\r\n");
    assert_eq!(ok.status, 200);
    assert_eq!(
        value(
            &ok.text(),
            "pushwire_http_requests_total{endpoint=\"metrics\",code=\"4xx\"}"
        ),
        Some(2.0)
    );
    // Other endpoints do not need it.
    assert_eq!(server.get("/help").status, 200);
}

/// A scrape of a server that has seen some of everything.
fn busy_scrape() -> String {
    let server = TestServer::start(&[]);
    server.publish("a", "one");
    assert_eq!(server.get("/nowhere").status, 404);
    get_metrics(server.addr, "").text()
}

#[test]
#[ignore = "needs promtool and prometheus (.ci/run installs them)"]
fn promtool_accepts_the_output_without_a_lint_warning() {
    let text = busy_scrape();
    let mut child = tools::promtool()
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool: {said}\n{text}");
    // Lint findings are printed (and fail the status); nothing at all is
    // printed for clean input.
    assert!(said.trim().is_empty(), "promtool said: {said}");
}

/// A child process this test started, killed by its handle when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free now on 127.0.0.1 (Prometheus takes its own address as a
/// flag, not a port 0 it would report).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET path` on `addr`, the body as text (Prometheus's HTTP API).
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

#[test]
#[ignore = "needs promtool and prometheus (.ci/run installs them)"]
fn a_real_prometheus_scrapes_the_published_count() {
    const N: u64 = 7;
    let server = TestServer::start(&["--metrics-token", "tok"]);
    let dir = std::env::temp_dir().join(format!("pushwire-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: pushwire\n    authorization:\n      credentials: tok\n    \
             static_configs:\n      - targets: ['{}']\n",
            server.addr
        ),
    )
    .unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let prometheus = tools::prometheus()
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("prometheus.log")).unwrap(),
        ))
        .spawn()
        .expect("start prometheus");
    let prometheus = Killed(prometheus);
    for i in 0..N {
        server.publish("news", &format!("m{i}"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    let found = loop {
        if let Some(body) = http_get(
            &web,
            "/api/v1/query?query=pushwire_messages_published_total",
        ) {
            // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[1.7e9,"7"]}]}}
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let value = json["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok());
            if value == Some(N) {
                break true;
            }
            last = body;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    drop(prometheus);
    let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        found,
        "Prometheus never saw {N} published messages within 30 s; last answer: {last}\n\
         its log:\n{log}"
    );
}

#[test]
fn with_a_data_dir_every_commit_is_timed() {
    let dir = std::env::temp_dir().join(format!("pushwire-metrics-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.display().to_string();
    let server = TestServer::start(&["--data-dir", &dir_arg, "--fsync", "always"]);
    for i in 0..3 {
        server.publish("news", &format!("m{i}"));
    }
    let text = get_metrics(server.addr, "").text();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        value(&text, "pushwire_store_commit_seconds_count"),
        Some(3.0)
    );
    assert_eq!(
        value(&text, "pushwire_store_commit_errors_total"),
        Some(0.0)
    );
    // Each waited for its fdatasync, on the sync thread, a pass later.
    let sum = value(&text, "pushwire_store_commit_seconds_sum").unwrap_or(0.0);
    assert!(sum > 0.0, "{text}");
    assert_eq!(value(&text, "pushwire_messages_published_total"), Some(3.0));
}

#[test]
#[ignore = "needs redis-server (.ci/run installs it)"]
fn with_redis_commits_are_timed_and_a_lost_redis_counts_errors() {
    let mut redis = common::redis::RedisServer::start(false);
    let url = redis.url();
    let server = TestServer::start(&["--redis", &url]);
    for i in 0..2 {
        server.publish("news", &format!("m{i}"));
    }
    let text = get_metrics(server.addr, "").text();
    assert_eq!(
        value(&text, "pushwire_store_commit_seconds_count"),
        Some(2.0)
    );
    // A round trip to Redis each: never in the same pass.
    assert!(value(&text, "pushwire_store_commit_seconds_sum").unwrap_or(0.0) > 0.0);
    assert_eq!(
        value(&text, "pushwire_store_commit_errors_total"),
        Some(0.0)
    );
    redis.kill();
    assert_eq!(server.post("/pub/news", "lost").status, 503);
    let text = get_metrics(server.addr, "").text();
    assert_eq!(
        value(&text, "pushwire_store_commit_errors_total"),
        Some(1.0)
    );
    assert_eq!(value(&text, "pushwire_messages_published_total"), Some(2.0));
}
