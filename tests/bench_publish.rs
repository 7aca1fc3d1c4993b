//! `pushwire bench publish` against a real server on 127.0.0.1: what it
//! reports as acknowledged the server has in the channel, with
//! `--fsync always`; an answer other than `202` fails the run.

mod common;

use std::process::{Command, Output};

use common::TestServer;

/// Runs `pushwire bench publish ARGS` (bounded by its own window and
/// drain) and returns its output and first stdout line as JSON.
fn bench(args: &[&str]) -> (Output, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["bench", "publish"])
        .args(args)
        .output()
        .expect("start pushwire bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    let json = serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    (output, json)
}

#[test]
fn acknowledged_publishes_are_in_the_channel_with_fsync_always() {
    let dir = std::env::temp_dir().join(format!("pushwire-bench-publish-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = TestServer::start(&["--data-dir", dir.to_str().unwrap(), "--fsync", "always"]);
    let addr = server.addr.to_string();
    let (output, json) = bench(&[
        "--server",
        &addr,
        "--connections",
        "4",
        "--seconds",
        "0.5",
        "--warmup",
        "0.2",
        "--size",
        "100",
        "--channel",
        "c",
    ]);
    assert!(output.status.success(), "{json}");
    assert_eq!(json["scenario"], "publish");
    assert_eq!(
        (json["connections"].as_u64(), json["size"].as_u64()),
        (Some(4), Some(100))
    );
    assert_eq!(json["errors"], 0);
    let acknowledged = json["acknowledged"].as_u64().unwrap();
    assert!(acknowledged > 0, "{json}");
    let rate = json["msgs_per_s"].as_f64().unwrap();
    assert!((rate - acknowledged as f64 / 0.5).abs() < 1.0, "{json}");
    let (p50, p99, max) = (
        json["p50_ms"].as_f64().unwrap(),
        json["p99_ms"].as_f64().unwrap(),
        json["max_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{json}");

    // The channel holds the window's publishes and those around it.
    let published = server.poll("c", None)["last_id"].as_u64().unwrap() - server.floor();
    assert!(published >= acknowledged, "{published} < {acknowledged}");
    let human = String::from_utf8_lossy(&output.stdout);
    assert!(human.contains("msg/s, latency p50"), "{human}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_answer_other_than_202_fails_the_run() {
    let server = TestServer::start(&[]);
    let url = format!("http://{}/nowhere/{{channel}}", server.addr);
    let (output, json) = bench(&[
        "--pub-url",
        &url,
        "--connections",
        "2",
        "--seconds",
        "0.2",
        "--warmup",
        "0",
    ]);
    assert_eq!(output.status.code(), Some(1), "{json}");
    assert!(json["errors"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["acknowledged"], 0);
    let human = String::from_utf8_lossy(&output.stdout);
    assert!(human.contains("first: publish answered 404"), "{human}");
}
