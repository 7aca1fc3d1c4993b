//! Headless Chromium as the client: the browser's own `EventSource` and
//! `WebSocket`, driven by the node scripts in `tests/browser/` through
//! playwright-core. Ignored by plain `cargo test`: `.ci/run` installs
//! Chromium and the node modules (`.ci/install-test-deps`) and runs them.

mod common;

use std::time::Duration;

use common::tools::{node_script, spawn};
use common::TestServer;

/// Generous: Chromium starts in about 2 s on the CI machine.
const SCRIPT_LIMIT: Duration = Duration::from_secs(90);

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
    // The server ends every stream after 1 s and tells EventSource to come
    // back after 300 ms: over ~4 s of publishing the browser reconnects at
    // least twice, and messages are published while it is away.
    let server = TestServer::start(&["--sse-max-age", "1", "--sse-retry", "300"]);
    let count = 100;
    let mut command = node_script("sse.mjs");
    command.args([&server.url(""), "news", &count.to_string()]);
    let browser = spawn(command);
    server.wait_subscribers("news", "sse", 1, Duration::from_secs(30));
    let mut published_while_away = 0;
    for i in 1..=count {
        if server.subscribers("news", "sse") == 0 {
            published_while_away += 1;
        }
        assert_eq!(server.publish("news", &message(i)), i);
        std::thread::sleep(Duration::from_millis(40));
    }
    let result = browser.finish(SCRIPT_LIMIT);
    println!(
        "opens {}, errors {}, published while away {published_while_away}",
        result["opens"], result["errors"]
    );
    let expected: Vec<(u64, String)> = (1..=count).map(|i| (i, message(i))).collect();
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
