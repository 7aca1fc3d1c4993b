//! What a signed token costs: `Auth::check` per call, next to a request
//! the server already answers without one: `cargo bench --bench auth`.
//!
//! - a realistic token (`sub`, `iat`, `exp`, `pushwire.read`
//!   `["room.*","news"]`, `pushwire.write` `["room.1"]`, about 220 bytes),
//!   accepted;
//! - the same token with one signature character changed: `bad
//!   signature` (the header is decoded and read, the HMAC computed, the
//!   claims never read);
//! - a token one byte over `max_token_bytes` (4096): `too large`, refused
//!   before anything is decoded;
//! - the most work a client without the key can ask for: a token of
//!   exactly `max_token_bytes` whose header is padded with a long member,
//!   so the whole header is decoded and parsed and the HMAC runs over
//!   4 KB, then `bad signature`;
//! - for reference, `engine::Engine` answering one `GET /poll/news` on a
//!   fresh connection (a channel holding one message, no auth), driven as
//!   the reactor drives it: `handle_accept`, `handle_input`, `poll_ready`
//!   / `poll_step` / `poll_output` / `handle_written`, `handle_closed`.
//!   Poll answers are kept per channel within a second, so this is the
//!   cost of routing, the header timer, and writing a kept answer.
//!
//! Each figure is the median (and the range) of 11 runs of 10,000 calls,
//! in nanoseconds per call. Built as a test (`cargo test --benches`) it
//! runs each once, to prove it still works. The engine and the token code
//! read no clock; the benchmark gives them fixed times and reads the real
//! clock only to time itself.

use std::hint::black_box;
use std::io::IoSlice;
use std::time::Instant;

use pushwire::auth::token::MAX_HEADER_TEXT;
use pushwire::auth::{write_token, Auth, Claims, Patterns, TokenError};
use pushwire::engine::{Engine, Step};
use pushwire::Config;

const RUNS: usize = 11;
const CALLS: usize = 10_000;

/// "now" for the token checks, in Unix seconds.
const NOW: u64 = 1_800_000_000;

const SECRET: &[u8] = b"a benchmark secret of 32 bytes or more";

const POLL: &[u8] = b"GET /poll/news HTTP/1.1\r\nHost: h\r\n\r\n";

/// The tokens, and what `Auth::check` must say of each.
struct Tokens {
    valid: String,
    bad_signature: String,
    too_large: String,
    largest_bad: String,
    many_names: String,
    /// Members in `many_names`'s header.
    names: usize,
}

fn tokens(auth: &Auth) -> Tokens {
    let claims = Claims {
        subject: Some("alice".into()),
        issued_at: Some(NOW - 60),
        expires: NOW + 3600,
        read: Patterns::parse_list("room.*,news").expect("patterns"),
        write: Patterns::parse_list("room.1").expect("patterns"),
        ..Claims::default()
    };
    let valid = write_token(&auth.key, &claims);
    // A character in the middle of the signature: still canonical
    // base64url, another MAC.
    let mut bad_signature = valid.clone().into_bytes();
    let at = bad_signature.len() - 10;
    bad_signature[at] = if bad_signature[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let bad_signature = String::from_utf8(bad_signature).expect("ASCII");
    let too_large = "a".repeat(auth.max_token_bytes + 1);
    // The most a client without the key can make the server do: a header
    // of the largest size read (512 bytes), claims that fill the rest of
    // `max_token_bytes` (the HMAC runs over all of it), a wrong signature.
    let header_room = MAX_HEADER_TEXT * 3 / 4;
    let base = r#"{"alg":"HS256","typ":"JWT","pad":""}"#;
    let header = format!(
        r#"{{"alg":"HS256","typ":"JWT","pad":"{}"}}"#,
        "x".repeat(header_room - base.len())
    );
    // The same header room filled with as many short names as fit: the
    // header's duplicate check must stay cheap ({"alg":"HS256","a0":0,...}).
    let mut names = String::from(r#"{"alg":"HS256""#);
    let mut count = 1;
    loop {
        let member = format!(r#","a{count}":0"#);
        if names.len() + member.len() + 1 > header_room {
            break;
        }
        names.push_str(&member);
        count += 1;
    }
    names.push('}');
    let signature = &valid[valid.rfind('.').expect("three parts")..];
    let filled = |header: &str| {
        let header = encode(header.as_bytes());
        let room = auth.max_token_bytes - header.len() - 1 - signature.len();
        // Claims text that is `room` characters of base64url.
        let pad = (room * 3 / 4).saturating_sub(10);
        let claims = encode(format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad)).as_bytes());
        format!("{header}.{claims}{signature}")
    };
    let largest_bad = filled(&header);
    let many_names = filled(&names);
    Tokens {
        valid,
        bad_signature,
        too_large,
        largest_bad,
        many_names,
        names: count,
    }
}

fn encode(bytes: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One `GET /poll/demo` on a fresh connection, driven as the reactor
/// does; the client closes once it has the answer. Returns the bytes
/// written (kept in `out`).
fn poll_once(engine: &mut Engine, request: &[u8], now: Instant, out: &mut Vec<u8>) -> usize {
    out.clear();
    let id = engine.handle_accept(now);
    engine.handle_input(id, request, now);
    while let Some(ready) = engine.poll_ready() {
        loop {
            match engine.poll_step(ready) {
                Step::Write => {
                    let mut iov = [IoSlice::new(&[]); 16];
                    let n = engine.poll_output(ready, &mut iov);
                    for slice in iov.iter().take(n) {
                        out.extend_from_slice(slice);
                    }
                    let written = iov.iter().take(n).map(|s| s.len()).sum();
                    engine.handle_written(ready, written, now);
                }
                Step::Wait => break,
                Step::Shutdown => {
                    engine.handle_write_shutdown(ready, now);
                    break;
                }
                Step::Close => {
                    engine.handle_closed(ready);
                    break;
                }
            }
        }
    }
    engine.handle_closed(id);
    out.len()
}

/// One `Auth::check` of `token`, for [`measure`].
fn check(auth: &Auth, token: Vec<u8>) -> impl FnMut() + '_ {
    move || {
        black_box(auth.check(black_box(&token), NOW)).ok();
    }
}

/// ns per call of `call`, as (median, min, max) over `runs` runs of
/// `calls` calls, after one run to warm up.
fn measure(runs: usize, calls: usize, mut call: impl FnMut()) -> (f64, f64, f64) {
    let mut run = || {
        let began = Instant::now();
        for _ in 0..calls {
            call();
        }
        began.elapsed().as_nanos() as f64 / calls as f64
    };
    run();
    let mut samples: Vec<f64> = (0..runs).map(|_| run()).collect();
    samples.sort_by(f64::total_cmp);
    (samples[runs / 2], samples[0], samples[runs - 1])
}

fn main() {
    // `cargo bench` passes `--bench`; without it, one short run as a check.
    let (runs, calls) = if std::env::args().any(|a| a == "--bench") {
        (RUNS, CALLS)
    } else {
        (1, 10)
    };
    let auth = Auth::new(SECRET);
    let t = tokens(&auth);
    assert!(auth.check(t.valid.as_bytes(), NOW).is_ok());
    assert_eq!(
        auth.check(t.bad_signature.as_bytes(), NOW),
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        auth.check(t.too_large.as_bytes(), NOW),
        Err(TokenError::TooLarge)
    );
    assert!(t.largest_bad.len() + 1 >= auth.max_token_bytes);
    assert_eq!(
        auth.check(t.largest_bad.as_bytes(), NOW),
        Err(TokenError::BadSignature)
    );

    assert!(t.many_names.len() <= auth.max_token_bytes);
    assert_eq!(
        auth.check(t.many_names.as_bytes(), NOW),
        Err(TokenError::BadSignature)
    );

    // The same poll on a server without tokens, and on one checking them
    // with the valid token in `Authorization` (the channel not public).
    let start = Instant::now();
    let engine = |auth: Option<Auth>| {
        let config = Config {
            auth,
            ..Config::default()
        };
        let mut engine = Engine::new(config, start);
        engine.handle_wall_clock(NOW);
        engine
            .handle_publish("news", "hello".into(), 1, start)
            .expect("publish");
        while engine.poll_event().is_some() {}
        engine
    };
    let mut open = engine(None);
    let mut checking = engine(Some(auth.clone()));
    let with_token = format!(
        "GET /poll/news HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {}\r\n\r\n",
        t.valid
    );
    let mut out = Vec::new();
    for (engine, request) in [(&mut open, POLL), (&mut checking, with_token.as_bytes())] {
        poll_once(engine, request, start, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 200 "), "{out:?}");
        assert!(out.ends_with(b"\"data\":\"hello\"}]}"), "{out:?}");
        assert_eq!(engine.connections(), 0);
    }

    let check = |token: &str| check(&auth, token.as_bytes().to_vec());
    let rows = [
        (
            format!("Auth::check, valid token ({} B)", t.valid.len()),
            measure(runs, calls, check(&t.valid)),
        ),
        (
            format!("Auth::check, bad signature ({} B)", t.bad_signature.len()),
            measure(runs, calls, check(&t.bad_signature)),
        ),
        (
            format!("Auth::check, too large ({} B)", t.too_large.len()),
            measure(runs, calls, check(&t.too_large)),
        ),
        (
            format!(
                "Auth::check, largest header and token, bad signature ({} B)",
                t.largest_bad.len()
            ),
            measure(runs, calls, check(&t.largest_bad)),
        ),
        (
            format!(
                "Auth::check, {} header names, bad signature ({} B)",
                t.names,
                t.many_names.len()
            ),
            measure(runs, calls, check(&t.many_names)),
        ),
        (
            format!(
                "reference: Engine, one GET /poll/news on a new connection ({} B answer)",
                out.len()
            ),
            measure(runs, calls, || {
                black_box(poll_once(&mut open, POLL, start, &mut out));
            }),
        ),
        (
            "the same with --jwt-secret and the valid token in Authorization".to_string(),
            measure(runs, calls, || {
                black_box(poll_once(
                    &mut checking,
                    with_token.as_bytes(),
                    start,
                    &mut out,
                ));
            }),
        ),
    ];
    println!("token checks and a poll, median of {runs} runs of {calls} calls");
    println!();
    println!("| what | ns/call (min-max) |");
    println!("|---|---:|");
    for (what, (median, min, max)) in rows {
        println!("| {what} | {median:.0} ({min:.0}-{max:.0}) |");
    }
}
