//! Third-party clients in Python against the real server: `requests` as an
//! SSE client (`tests/interop/sse_requests.py`), the `websockets`
//! library (`tests/interop/ws_websockets.py`), and tokens minted by PyJWT
//! (`tests/interop/jwt_pyjwt.py`). Ignored by plain
//! `cargo test`: `.ci/run` installs the modules (`.ci/install-test-deps`)
//! and runs them. Each script asserts as it goes and reports what it
//! checked as one JSON line; the test compares those counts.

mod common;

use std::time::Duration;

use common::tools::{python_script, python_script_importing, run_for_json};
use common::TestServer;

const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

#[test]
#[ignore = "needs the Python module requests: run by .ci/run"]
fn python_requests_resumes_the_event_stream_with_last_event_id() {
    let server = TestServer::start(&["--sse-max-age", "1", "--sse-retry", "300"]);
    let mut command = python_script("sse_requests.py");
    command.args([&server.url(""), "py-sse", "80"]);
    let result = run_for_json(command, SCRIPT_LIMIT);
    assert_eq!(result["events"], 80, "{result}");
    assert_eq!(result["retry_ms"], 300, "{result}");
    // ~2.4 s of publishing against 1 s streams: at least two server closes.
    assert!(result["connections"].as_u64().unwrap() >= 3, "{result}");
    assert!(
        result["published_while_away"].as_u64().unwrap() >= 2,
        "{result}"
    );
    assert_eq!(server.poll("py-sse", Some(0))["last_id"], server.id(80));
}

#[test]
#[ignore = "needs the Python module websockets: run by .ci/run"]
fn python_websockets_echo_channels_resume_publish_and_refusal() {
    let server = TestServer::start(&[]);
    let mut command = python_script("ws_websockets.py");
    command.arg(server.url(""));
    let result = run_for_json(command, SCRIPT_LIMIT);
    assert_eq!(
        result,
        serde_json::json!({
            // 8 sizes x (binary, text), unicode, fragmented, ping, close
            "echo": 20,
            // 4 messages, then the subscriber is gone after the close
            "channel": 5,
            // 3 live, 3 resumed with ?since=, nothing more
            "resume": 7,
            // the sender, an SSE subscriber and poll all see it
            "publish": 3,
            // close 1003, and nothing was published
            "refused": 2,
        })
    );
    // What the WebSocket client published went into the channel.
    assert_eq!(server.poll("py-pub", Some(0))["last_id"], server.id(1));
}

/// `command` trusting only the test CA of `tests/tls`: `requests` reads
/// `REQUESTS_CA_BUNDLE`, `websockets` (Python's `ssl` default context)
/// `SSL_CERT_FILE`.
#[cfg(feature = "tls")]
fn trusting_the_test_ca(mut command: std::process::Command) -> std::process::Command {
    let ca = common::tls::ca();
    command
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca);
    command
}

#[cfg(feature = "tls")]
#[test]
#[ignore = "needs the Python module requests: run by .ci/run"]
fn python_requests_resumes_the_event_stream_over_https() {
    let server = common::tls::start(&["--sse-max-age", "1", "--sse-retry", "300"]);
    let mut command = trusting_the_test_ca(python_script("sse_requests.py"));
    command.args([&server.url(""), "py-sse", "80"]);
    let result = run_for_json(command, SCRIPT_LIMIT);
    assert_eq!(result["events"], 80, "{result}");
    assert!(result["connections"].as_u64().unwrap() >= 3, "{result}");
    assert_eq!(server.poll("py-sse", Some(0))["last_id"], server.id(80));
}

#[cfg(feature = "tls")]
#[test]
#[ignore = "needs the Python module websockets: run by .ci/run"]
fn python_websockets_over_wss_echo_channels_resume_publish_and_refusal() {
    let server = common::tls::start(&[]);
    let mut command = trusting_the_test_ca(python_script("ws_websockets.py"));
    command.arg(server.url(""));
    let result = run_for_json(command, SCRIPT_LIMIT);
    assert_eq!(
        result,
        serde_json::json!({"echo": 20, "channel": 5, "resume": 7, "publish": 3, "refused": 2})
    );
    assert_eq!(server.poll("py-pub", Some(0))["last_id"], server.id(1));
}

/// 64 bytes: the script also signs HS384 and HS512 tokens with it (which
/// the server must refuse), and PyJWT warns about an HMAC key shorter
/// than the hash (RFC 7518 section 3.2).
const JWT_SECRET: &str = "pyjwt-interop-secret-0123456789abcdef-pyjwt-interop-secret-01234";

#[test]
#[ignore = "needs the Python modules PyJWT (jwt) and cryptography: run by .ci/run"]
fn pyjwt_hs256_tokens_are_accepted_and_other_keys_and_algorithms_refused() {
    let server = TestServer::start(&["--jwt-secret", JWT_SECRET, "--public-channels", "demo"]);
    let mut command = python_script_importing(
        "jwt_pyjwt.py",
        &["jwt", "cryptography", "requests", "websockets"],
    );
    command.arg(server.url("")).arg(JWT_SECRET);
    let result = run_for_json(command, SCRIPT_LIMIT);
    // Each bad token: 3 carriers (Bearer, ?token=, the cookie) x (poll,
    // long-poll, SSE, channel info, publish), and a WebSocket handshake.
    let refused = 3 * 5 + 1;
    assert_eq!(
        result,
        serde_json::json!({
            // publish, long-poll, SSE and poll with each carrier; the
            // WebSocket's subprotocol selected, a message in, one out
            "accepted": {"bearer": 4, "query": 4, "cookie": 4, "subprotocol": 3},
            "refused": {
                // 5 transports and a WebSocket, 401 with the realm
                "no token": 6,
                "HS256, another key": refused,
                "HS384": refused,
                "HS512": refused,
                "RS256": refused,
                "none": refused,
                "exp a minute ago": refused,
                "nbf in a minute": refused,
                "iat in a minute": refused,
                "no exp": refused,
                "crit header": refused,
            },
            // room.2 read 4 ways and published, a WebSocket to room.2,
            // a publish to room.1 with a token that only reads it
            "forbidden": 7,
            // the history and what the good token published, nothing more
            "room.1 messages": 6,
        })
    );
}
