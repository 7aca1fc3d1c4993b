//! The command line: help, version, clear errors with exit status 2, and a
//! clean stop on SIGTERM / SIGINT.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestServer;

fn pushwire(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_lists_every_flag_and_version_prints_the_version() {
    let help = pushwire(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--listen",
        "--max-connections",
        "--max-header-bytes",
        "--max-uri-bytes",
        "--max-body-bytes",
        "--history",
        "--history-ttl",
        "--header-timeout",
        "--body-timeout",
        "--idle-timeout",
        "--longpoll-max",
        "--max-backlog-bytes",
        "--send-buffer-bytes",
        "--publish-token",
        "--allow-origin",
        "--data-dir",
        "--fsync",
        "--log-segment-bytes",
        "--repair-log",
        "--reuse-port",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
    let version = pushwire(&["--version"]);
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("pushwire {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_flags_exit_with_status_2_and_say_why() {
    for (args, needle) in [
        (&["--bogus"][..], "unknown option '--bogus'"),
        (&["--history", "many"], "invalid value 'many' for --history"),
        (&["--idle-timeout"], "--idle-timeout needs a value"),
    ] {
        let out = pushwire(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains(needle) && stderr.contains("--help"),
            "{stderr}"
        );
    }
    let taken = TestServer::start(&[]);
    let out = pushwire(&["--listen", &taken.addr.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot listen"));
}

#[test]
fn sigterm_and_sigint_stop_the_server_cleanly() {
    for signal in ["-TERM", "-INT"] {
        let mut server = TestServer::start(&[]);
        server.publish("a", "x");
        let mut stderr = server.stderr();
        let status = Command::new("kill")
            .args([signal, &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        assert!(text.contains("pushwire: stopped"), "{signal}: {text}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
