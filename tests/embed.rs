//! The library API: a `Server` run on its own thread, a `Hub` publishing
//! from other threads, and a clean stop.

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;

use pushwire::{Config, Server};

#[test]
fn hub_publishes_from_other_threads_and_stops_the_loop() {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let server = Server::bind(config).unwrap();
    let addr = server.local_addr();
    let hub = server.hub();
    let running = std::thread::spawn(move || server.run());
    let publishers: Vec<_> = (0..4)
        .map(|t| {
            let hub = hub.clone();
            std::thread::spawn(move || {
                // Each thread waits only for its last receipt: the loop
                // commits a thread's publishes in the order they came.
                let receipts: Vec<_> = (0..50)
                    .map(|i| hub.publish("shared", &format!("{t}-{i}")).unwrap())
                    .collect();
                let ids: Vec<u64> = receipts.into_iter().map(|r| r.wait().unwrap()).collect();
                assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
                ids
            })
        })
        .collect();
    let mut ids: Vec<u64> = publishers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    ids.sort_unstable();
    // The first id is above every id an earlier run could have given (the
    // floor, time in microseconds); from there they count by one.
    let first = ids[0];
    assert!(first > 1_000_000_000_000_000, "{first}");
    assert_eq!(
        ids,
        (first..first + 200).collect::<Vec<u64>>(),
        "every id given once"
    );
    assert!(hub.publish("bad name", "x").is_err());
    // Every message is there once its receipt said so, each thread's in
    // its own order.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /poll/shared HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let batch = common::read_response(&mut BufReader::new(stream))
        .unwrap()
        .json();
    assert_eq!(batch["last_id"], first + 199);
    let data: Vec<String> = batch["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["data"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(data.len(), 200);
    for t in 0..4 {
        let mine: Vec<&String> = data
            .iter()
            .filter(|d| d.starts_with(&format!("{t}-")))
            .collect();
        let want: Vec<String> = (0..50).map(|i| format!("{t}-{i}")).collect();
        assert_eq!(mine, want.iter().collect::<Vec<_>>());
    }
    hub.stop();
    running.join().unwrap().unwrap();
    // The loop has stopped: a publish now is refused instead of waiting
    // forever.
    assert_eq!(
        hub.publish("shared", "too late").err(),
        Some(pushwire::engine::PublishError::Stopped)
    );
}

#[test]
fn a_library_server_with_a_data_dir_keeps_what_its_hub_published_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("pushwire-embed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: Some(dir.clone()),
        fsync: pushwire::config::Fsync::Always,
        ..Config::default()
    };
    let run = |texts: &[&str]| {
        let server = Server::bind(config.clone()).unwrap();
        let addr = server.local_addr();
        let hub = server.hub();
        let running = std::thread::spawn(move || server.run());
        let ids: Vec<u64> = texts
            .iter()
            .map(|t| hub.publish("kept", t).unwrap().wait().unwrap())
            .collect();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /poll/kept?since=0 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let batch = common::read_response(&mut BufReader::new(stream))
            .unwrap()
            .json();
        hub.stop();
        running.join().unwrap().unwrap();
        (ids, batch)
    };
    let (first, _) = run(&["a", "b"]);
    // The second run on the same dir: the history is back, and ids go on
    // above every id of the first.
    let (second, batch) = run(&["c"]);
    assert!(second[0] > first[1], "{second:?} after {first:?}");
    let kept: Vec<(u64, String)> = batch["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().unwrap(),
                m["data"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            (first[0], "a".to_owned()),
            (first[1], "b".to_owned()),
            (second[0], "c".to_owned())
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "tls"))]
#[test]
fn a_tls_config_is_refused_by_a_build_without_tls() {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(pushwire::config::TlsSettings::new("cert.pem", "key.pem")),
        ..Config::default()
    };
    let error = pushwire::Server::bind(config).unwrap_err();
    // The files are read first: a missing one is named.
    assert!(
        error.to_string().contains("cannot read cert.pem"),
        "{error}"
    );
    let dir = std::env::temp_dir().join(format!("pushwire-no-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.pem"), "x").unwrap();
    std::fs::write(dir.join("k.pem"), "x").unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(pushwire::config::TlsSettings::new(
            dir.join("c.pem"),
            dir.join("k.pem"),
        )),
        ..Config::default()
    };
    let error = pushwire::Server::bind(config).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(error.to_string().contains("--features tls"), "{error}");
}

#[test]
fn a_server_without_tls_refuses_a_certificate_reload_and_counts_nothing() {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let server = pushwire::Server::bind(config).unwrap();
    assert!(!server.is_tls());
    let hub = server.hub();
    let error = hub.reload_tls().unwrap_err();
    assert!(matches!(
        error,
        pushwire::server::tls::TlsError::NotConfigured
    ));
    assert_eq!(
        error.to_string(),
        "the server was started without a TLS certificate"
    );
    assert_eq!(
        hub.tls_counts(),
        pushwire::server::tls::TlsCounts::default()
    );
}
