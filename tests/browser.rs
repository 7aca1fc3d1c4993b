//! Headless Chromium as the client: the browser's own `EventSource` and
//! `WebSocket`, driven by the node scripts in `tests/browser/` through
//! playwright-core. Ignored by plain `cargo test`: `.ci/run` installs
//! Chromium and the node modules (`.ci/install-test-deps`) and runs them.
//! Over `https://` and `wss://` the browser verifies the server's
//! certificate against the test CA, which each test adds to an NSS
//! database in a fresh HOME with certutil (Debian's `libnss3-tools`).

mod common;

#[cfg(feature = "tls")]
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::tools::{node_script, spawn};
use common::TestServer;

/// Generous: Chromium starts in about 2 s on the CI machine.
const SCRIPT_LIMIT: Duration = Duration::from_secs(90);

/// A fresh HOME whose NSS database trusts the test CA
/// (`tests/tls/ca.pem`) to issue server certificates, removed when
/// dropped. Chromium on Linux takes the certificates a user added from
/// `$HOME/.pki/nssdb`, so a browser started with this HOME accepts the
/// test leaf as a user's browser accepts a site: through its issuer, for
/// the name and dates the leaf carries, and nothing another CA signed.
/// A HOME of its own per test keeps the user's database untouched and
/// the tests independent.
#[cfg(feature = "tls")]
struct HomeTrustingTestCa {
    dir: PathBuf,
}

#[cfg(feature = "tls")]
impl HomeTrustingTestCa {
    /// Creates the HOME of the test `test` and its database with
    /// certutil (`-t "C,,"`: a CA trusted to issue TLS server
    /// certificates).
    fn create(test: &str) -> HomeTrustingTestCa {
        let dir = std::env::temp_dir().join(format!("pushwire-home-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let nssdb = dir.join(".pki/nssdb");
        std::fs::create_dir_all(&nssdb).expect("the NSS database folder");
        // Made before certutil runs, so that a failure below removes it too.
        let home = HomeTrustingTestCa { dir };
        let db = format!("sql:{}", nssdb.display());
        let ca = common::tls::ca();
        certutil(&["-N", "-d", &db, "--empty-password"]);
        certutil(&[
            "-A",
            "-d",
            &db,
            "-n",
            "pushwire-test-ca",
            "-t",
            "C,,",
            "-i",
            ca.to_str().expect("a UTF-8 path"),
        ]);
        home
    }

    /// Runs `command` (the node script, and the Chromium it launches,
    /// which inherits its environment) with this HOME.
    fn set(&self, command: &mut Command) {
        command.env("HOME", &self.dir);
    }
}

#[cfg(feature = "tls")]
impl Drop for HomeTrustingTestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs NSS's `certutil` with `args`, and fails the test with what to
/// install when it is missing.
#[cfg(feature = "tls")]
fn certutil(args: &[&str]) {
    let output = match Command::new("certutil").args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("certutil not found: apt-get install libnss3-tools (or run `bash .ci/install-test-deps`)")
        }
        Err(e) => panic!("cannot run certutil: {e}"),
    };
    assert!(
        output.status.success(),
        "certutil {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the test publishes as message `i`: plain, unicode and multi-line
/// text, so that the browser's own event-stream parser is exercised too.
fn message(i: u64) -> String {
    match i % 10 {
        0 => format!("message {i}\nsecond line"),
        5 => format!("message {i} ünïcödé ✓ 😀"),
        _ => format!("message {i}"),
    }
}

/// The `[{id, data}]` events a script reported, as `(id, data)` pairs.
fn id_data_pairs(events: &serde_json::Value) -> Vec<(u64, String)> {
    events
        .as_array()
        .expect("events array")
        .iter()
        .map(|e| {
            let id = match &e["id"] {
                serde_json::Value::String(s) => s.parse().expect("numeric id"),
                other => other.as_u64().expect("numeric id"),
            };
            (id, e["data"].as_str().expect("string data").to_owned())
        })
        .collect()
}

#[test]
#[ignore = "needs headless Chromium and tests/browser/node_modules: run by .ci/run"]
fn event_source_reconnects_with_last_event_id_and_gets_every_message_once() {
    event_source_reconnects_with_last_event_id_and_gets_every_message_once_on(
        TestServer::start(&["--sse-max-age", "1", "--sse-retry", "300"]),
        |_| {},
    );
}

#[cfg(feature = "tls")]
#[test]
#[ignore = "needs headless Chromium and tests/browser/node_modules: run by .ci/run"]
fn event_source_over_https_reconnects_and_gets_every_message_once() {
    let home = HomeTrustingTestCa::create("sse");
    event_source_reconnects_with_last_event_id_and_gets_every_message_once_on(
        common::tls::start(&["--sse-max-age", "1", "--sse-retry", "300"]),
        |command| home.set(command),
    );
}

fn event_source_reconnects_with_last_event_id_and_gets_every_message_once_on(
    server: TestServer,
    configure: impl FnOnce(&mut Command),
) {
    // The server ends every stream after 1 s and tells EventSource to come
    // back after 300 ms: over ~4 s of publishing the browser reconnects at
    // least twice, and messages are published while it is away.
    let count = 100;
    let mut command = node_script("sse.mjs");
    configure(&mut command);
    command.args([&server.url(""), "news", &count.to_string()]);
    let browser = spawn(command);
    server.wait_subscribers("news", "sse", 1);
    let mut published_while_away = 0;
    for i in 1..=count {
        if server.subscribers("news", "sse") == 0 {
            published_while_away += 1;
        }
        assert_eq!(server.publish("news", &message(i)), server.id(i));
        std::thread::sleep(Duration::from_millis(40));
    }
    let result = browser.finish(SCRIPT_LIMIT);
    println!(
        "opens {}, errors {}, published while away {published_while_away}",
        result["opens"], result["errors"]
    );
    let expected: Vec<(u64, String)> = (1..=count).map(|i| (server.id(i), message(i))).collect();
    // Exactly once and in order: a reconnect without Last-Event-ID would
    // have started again from ?since=0 and repeated everything.
    assert_eq!(id_data_pairs(&result["events"]), expected);
    assert_eq!(result["gaps"], serde_json::json!([]));
    let opens = result["opens"].as_u64().unwrap();
    assert!(
        opens >= 3,
        "the browser opened the stream {opens} times, expected >= 3: {result}"
    );
    assert!(
        published_while_away >= 2,
        "only {published_while_away} messages were published between streams"
    );
}

/// What the WebSocket test publishes as message `i`: as [`message`], and
/// one of 80 KB, which needs the 64-bit payload length (RFC 6455 5.2).
fn ws_message(i: u64) -> String {
    if i == 20 {
        "big ".repeat(20_000)
    } else {
        message(i)
    }
}

/// What `ws.mjs` sends from the page once it holds every message.
const FROM_BROWSER: &str = "from the browser ✓ 😀";

#[test]
#[ignore = "needs headless Chromium and tests/browser/node_modules: run by .ci/run"]
fn browser_websocket_receives_published_messages_and_publishes_its_own() {
    browser_websocket_receives_published_messages_and_publishes_its_own_on(
        TestServer::start(&[]),
        |_| {},
    );
}

#[cfg(feature = "tls")]
#[test]
#[ignore = "needs headless Chromium and tests/browser/node_modules: run by .ci/run"]
fn browser_websocket_over_wss_receives_and_publishes() {
    let home = HomeTrustingTestCa::create("ws");
    browser_websocket_receives_published_messages_and_publishes_its_own_on(
        common::tls::start(&[]),
        |command| home.set(command),
    );
}

fn browser_websocket_receives_published_messages_and_publishes_its_own_on(
    server: TestServer,
    configure: impl FnOnce(&mut Command),
) {
    let count = 40;
    let mut command = node_script("ws.mjs");
    configure(&mut command);
    command.args([&server.url(""), "live", &count.to_string()]);
    let browser = spawn(command);
    // `since` omitted: only what is published from now on, so wait for both.
    server.wait_subscribers("live", "ws", 2);
    for i in 1..=count {
        assert_eq!(server.publish("live", &ws_message(i)), server.id(i));
    }
    let result = browser.finish(SCRIPT_LIMIT);
    let mut plain: Vec<String> = (1..=count).map(ws_message).collect();
    plain.push(FROM_BROWSER.to_owned());
    assert_eq!(
        result["protocols"],
        serde_json::json!(["", "pushwire.json"])
    );
    assert_eq!(result["plain"], serde_json::json!(plain));
    // Compared as JSON values: key order and escaping are the server's.
    let frames: Vec<serde_json::Value> = result["json"]
        .as_array()
        .expect("json frames")
        .iter()
        .map(|f| serde_json::from_str(f.as_str().unwrap()).expect("a JSON frame"))
        .collect();
    let expected: Vec<serde_json::Value> = plain
        .iter()
        .zip(1..)
        .map(|(data, k)| serde_json::json!({"id": server.id(k), "data": data}))
        .collect();
    assert_eq!(frames, expected);
    assert_eq!(
        result["closes"],
        serde_json::json!([{"code":1000,"wasClean":true},{"code":1000,"wasClean":true}])
    );
    assert_eq!(result["refused"]["code"], 1003, "{}", result["refused"]);
    assert_eq!(result["errors"], 0);
    // The browser's own frame was published into the channel.
    let poll = server.poll("live", Some(server.id(count)));
    assert_eq!(
        poll["messages"],
        serde_json::json!([{"id": server.id(count + 1), "data": FROM_BROWSER}])
    );
    server.wait_subscribers("live", "ws", 0);
}

#[test]
#[ignore = "needs headless Chromium and tests/browser/node_modules: run by .ci/run"]
fn the_demo_page_shows_a_message_published_from_it_in_all_four_panels() {
    the_demo_page_shows_a_message_published_from_it_in_all_four_panels_on(
        TestServer::start(&[]),
        |_| {},
    );
}

#[cfg(feature = "tls")]
#[test]
#[ignore = "needs headless Chromium and tests/browser/node_modules: run by .ci/run"]
fn the_demo_page_over_https_shows_a_message_in_all_four_panels() {
    let home = HomeTrustingTestCa::create("demo");
    the_demo_page_shows_a_message_published_from_it_in_all_four_panels_on(
        common::tls::start(&[]),
        |command| home.set(command),
    );
}

fn the_demo_page_shows_a_message_published_from_it_in_all_four_panels_on(
    server: TestServer,
    configure: impl FnOnce(&mut Command),
) {
    // Messages from before the page opened must not show up: every panel
    // starts at "now".
    server.publish("demo", "before the page");
    let shot = std::env::temp_dir().join(format!("pushwire-demo-{}.png", std::process::id()));
    let mut command = node_script("demo.mjs");
    configure(&mut command);
    command.args([server.url("").trim_end_matches('/'), shot.to_str().unwrap()]);
    let result = spawn(command).finish(SCRIPT_LIMIT);
    let expected = vec![
        (server.id(2), "hello from the page #1".to_string()),
        (server.id(3), "second, ünïcödé ✓ #2".to_string()),
        (server.id(4), "over the WebSocket #3".to_string()),
    ];
    for panel in ["poll", "longpoll", "sse", "ws"] {
        assert_eq!(id_data_pairs(&result[panel]), expected, "{panel}: {result}");
    }
    // The costs the page counts tell the techniques apart.
    assert!(
        result["poll_stats"]["empty responses"].as_u64().unwrap() >= 1,
        "{result}"
    );
    assert!(
        result["longpoll_stats"]["requests"].as_u64().unwrap() >= 4,
        "{result}"
    );
    assert_eq!(result["sse_stats"]["connections"], 1);
    assert_eq!(result["ws_stats"]["connections"], 1);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"));
    if let Ok(dest) = std::env::var("PUSHWIRE_DEMO_SCREENSHOT") {
        std::fs::copy(&shot, dest).unwrap();
    }
    let _ = std::fs::remove_file(shot);
}
