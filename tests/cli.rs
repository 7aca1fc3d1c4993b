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
        "--slow-consumer",
        "--drain-timeout",
        "--lock-wait",
        "--tls-cert",
        "--tls-key",
        "--tls-handshake-timeout",
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
    // A certificate that cannot be read: exit 2 with the file named, in
    // a build with or without TLS (the files are read first).
    let out = pushwire(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent/chain.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot read /nonexistent/chain.pem"),
        "{stderr}"
    );
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

const SECRET: &str = "a test secret of thirty-two bytes or more";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn token_prints_one_line_that_reads_back_with_the_claims_asked_for() {
    let before = now();
    let out = pushwire(&[
        "token",
        "--secret",
        SECRET,
        "--sub",
        "alice",
        "--read",
        "room.*,news",
        "--read",
        "lobby",
        "--write",
        "room.1",
        "--ttl",
        "600",
    ]);
    let after = now();
    assert!(out.status.success(), "{:?}", out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(!token.contains('\n'));
    let key = pushwire::auth::hmac::Key::new(SECRET.as_bytes());
    let claims = pushwire::auth::read_token(token.as_bytes(), &key, 4096).unwrap();
    assert_eq!(claims.subject.as_deref(), Some("alice"));
    let list = |text| pushwire::auth::Patterns::parse_list(text).unwrap();
    assert_eq!(claims.read, list("room.*,news,lobby"));
    assert_eq!(claims.write, list("room.1"));
    let issued = claims.issued_at.unwrap();
    assert!((before..=after).contains(&issued), "iat {issued}");
    assert_eq!(claims.expires, issued + 600);
    assert_eq!(claims.not_before, None);
    assert_eq!(claims.check_time(now(), 0), Ok(()));
    let other = pushwire::auth::hmac::Key::new(b"another secret of thirty-two bytes or more");
    assert_eq!(
        pushwire::auth::read_token(token.as_bytes(), &other, 4096),
        Err(pushwire::auth::TokenError::BadSignature)
    );
}

#[test]
fn token_takes_the_secret_from_a_file_as_the_server_does() {
    let path = std::env::temp_dir().join(format!("pushwire-token-{}", std::process::id()));
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    let out = pushwire(&[
        "token",
        "--secret-file",
        path.to_str().unwrap(),
        "--write",
        "room.1",
        "--nbf",
        "100",
    ]);
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{:?}", out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The trailing newline of the file is not part of the key.
    let auth = pushwire::auth::Auth::new(SECRET.as_bytes());
    let claims = pushwire::auth::read_token(stdout.trim_end().as_bytes(), &auth.key, 4096).unwrap();
    let issued = claims.issued_at.unwrap();
    assert_eq!(claims.not_before, Some(issued + 100));
    assert_eq!(claims.expires, issued + 3600);
    assert_eq!(
        auth.check(stdout.trim_end().as_bytes(), issued),
        Err(pushwire::auth::TokenError::NotYetValid)
    );
    assert!(claims.read.is_empty() && claims.subject.is_none());
}

#[test]
fn token_refuses_bad_usage_with_status_2() {
    for (args, needle) in [
        (&["token"][..], "the secret is missing"),
        (
            &["token", "--secret", "only twenty-four bytes.."],
            "RFC 7518 section 3.2",
        ),
        (&["token", "--secret", SECRET, "--ttl", "-5"], "--ttl"),
        (&["token", "--secret", SECRET, "--read", "a*b"], "--read"),
        (&["token", "--secret", SECRET, "--bogus"], "unknown option"),
    ] {
        let out = pushwire(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let help = pushwire(&["token", "--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--secret-file",
        "--sub",
        "--read",
        "--write",
        "--ttl",
        "--nbf",
    ] {
        assert!(text.contains(flag), "{flag} missing from token --help");
    }
    let usage = String::from_utf8(pushwire(&["--help"]).stdout).unwrap();
    assert!(usage.contains("pushwire token"), "{usage}");
}
