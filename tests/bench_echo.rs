//! `pushwire bench echo --threads N` against a real server on 127.0.0.1:
//! the connections are split over N loops and what they measured is
//! added up, with the bench's own CPU share in the report.

mod common;

use std::process::Command;

use common::TestServer;

#[test]
fn echo_over_several_threads_adds_up_every_loop() {
    let server = TestServer::start(&[]);
    let addr = server.addr.to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["bench", "echo", "--server", &addr])
        .args(["--connections", "7", "--depth", "2", "--threads", "3"])
        .args(["--seconds", "0.5", "--warmup", "0.1"])
        .output()
        .expect("start pushwire bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(stdout.lines().next().unwrap_or_default()).unwrap();
    assert_eq!(json["threads"], 3, "{json}");
    assert_eq!(json["connections"], 7, "{json}");
    assert_eq!(json["errors"], 0, "{json}");
    // 7 connections with 2 in flight each, for half a second on loopback:
    // thousands of round trips.
    assert!(json["echoed"].as_u64().unwrap() > 1000, "{json}");
    let share = json["client_cpu_share"].as_f64().unwrap();
    assert!(share > 0.0 && share <= 1.5, "{json}");
    let human = stdout.lines().nth(1).unwrap_or_default();
    assert!(human.contains("of 3 thread(s)"), "{human}");
}
