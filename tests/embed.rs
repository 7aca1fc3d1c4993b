//! The library API: a `Server` run on its own thread, a `Hub` publishing
//! from other threads, and a clean stop.

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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
                for i in 0..50 {
                    hub.publish("shared", &format!("{t}-{i}")).unwrap();
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    assert!(hub.publish("bad name", "x").is_err());
    // Every message arrives, each thread's in its own order.
    let deadline = Instant::now() + Duration::from_secs(5);
    let batch = loop {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /poll/shared HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let response = common::read_response(&mut BufReader::new(stream)).unwrap();
        let batch = response.json();
        if batch["last_id"] == 200 || Instant::now() > deadline {
            break batch;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
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
}
