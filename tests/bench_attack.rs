//! `pushwire bench attack` against a real server on 127.0.0.1: a short
//! empty-pong flood by two connections, with the normal client measuring
//! 50 times a second, must report the three phases and all five of the
//! normal client's measurements.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;

#[test]
fn attack_bench_reports_every_metric_in_every_phase() {
    let server = TestServer::start(&[]);
    let addr = server.addr.to_string();
    let pid = server.pid().to_string();
    let mut bench = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args([
            "bench",
            "attack",
            "--attack",
            "empty-pongs",
            "--server",
            &addr,
        ])
        .args(["--pid", &pid, "--attackers", "2", "--probe-rate", "50"])
        .args(["--quiet", "0.5", "--during", "1", "--after", "0.5"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = bench.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = bench.kill();
            let _ = bench.wait();
            panic!("the bench ran for more than 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    bench
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    bench
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stdout}\n{stderr}");

    let first = stdout.lines().next().unwrap_or_default();
    let json: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(json["scenario"], "attack");
    assert_eq!(json["attack"], "empty-pongs");
    let phases = json["phases"].as_array().unwrap();
    let metrics = json["metrics"].as_array().unwrap();
    for phase in ["quiet", "during", "after"] {
        let p = phases
            .iter()
            .find(|p| p["phase"] == phase)
            .unwrap_or_else(|| panic!("no phase {phase}: {first}"));
        assert!(p["seconds"].as_f64().unwrap() >= 0.5, "{p}");
        assert!(p["rss_end"].as_u64().unwrap() > 0, "{p}");
        assert!(p["client_cpu_s"].is_number(), "{p}");
        for metric in ["poll", "connect", "publish", "sse", "ws"] {
            let m = metrics
                .iter()
                .find(|m| m["phase"] == phase && m["metric"] == metric)
                .unwrap_or_else(|| panic!("no {metric} in {phase}: {first}"));
            let counted: u64 = ["samples", "failed", "unanswered"]
                .iter()
                .map(|k| m[k].as_u64().unwrap())
                .sum();
            assert!(counted > 0, "{m}");
            if phase == "quiet" {
                assert!(m["samples"].as_u64().unwrap() > 0, "{m}");
                assert!(m["p99_us"].as_f64().unwrap() > 0.0, "{m}");
            }
        }
    }
    // The attackers' two connections are accounted for.
    let opened = json["attackers_opened"]["ws"].as_u64().unwrap();
    let ended: u64 = json["attacker_endings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    assert!(opened >= 2 && ended == opened, "{first}");
    // The human lines are the table.
    assert!(stdout.contains("| empty-pongs, 2 connections | keep-alive poll, ms |"));
}
