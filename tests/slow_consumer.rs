//! `--slow-consumer skip` over real TCP on 127.0.0.1: an SSE subscriber
//! with a small receive buffer stops reading while 2 MB are published,
//! then reads again. It gets whole events, a gap mark naming exactly the
//! ids it lost, every message after it, and stays subscribed.

mod common;

use std::io::{BufReader, Write};

use common::events::{read_chunk, EventParser};
use common::{read_response, TestServer};

#[test]
fn a_stalled_sse_reader_under_skip_gets_a_gap_naming_exactly_what_it_lost_and_stays() {
    let server = TestServer::start(&["--slow-consumer", "skip"]);
    let mut slow = server.connect_slow();
    slow.write_all(b"GET /sse/slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    server.wait_subscribers("slow", "sse", 1);
    // 128 messages of 16 KiB while it reads nothing: twice the bound.
    let data = "x".repeat(16 * 1024);
    let ids: Vec<u64> = (0..128).map(|_| server.publish("slow", &data)).collect();
    assert_eq!(server.subscribers("slow", "sse"), 1, "still subscribed");
    let last = *ids.last().unwrap();

    // It reads again, until the last message.
    let mut reader = BufReader::new(slow);
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
    let mut parser = EventParser::default();
    while parser.ids().last() != Some(&last) {
        let chunk = read_chunk(&mut reader)
            .unwrap()
            .expect("the stream goes on");
        parser.feed(std::str::from_utf8(&chunk).unwrap());
    }
    // Every id is either read, in order, or inside a gap whose `since` is
    // the last id read before it.
    let mut seen = server.floor();
    let mut read = Vec::new();
    let mut lost = Vec::new();
    for event in &parser.events {
        if event.event == "gap" {
            let v: serde_json::Value = serde_json::from_str(&event.data).unwrap();
            let (since, oldest) = (v["since"].as_u64().unwrap(), v["oldest"].as_u64().unwrap());
            assert_eq!(since, seen, "the mark starts at the last message read");
            lost.extend(ids.iter().filter(|&&id| since < id && id < oldest));
        } else {
            assert_eq!(event.data, data, "whole events");
            let id: u64 = event.id.parse().unwrap();
            assert!(id > seen);
            seen = id;
            read.push(id);
        }
    }
    assert!(!lost.is_empty(), "nothing was skipped");
    let mut all: Vec<u64> = read.iter().chain(&lost).copied().collect();
    all.sort_unstable();
    // The first id read is the first published: nothing before it.
    assert_eq!(all, ids, "each id read or named lost, exactly once");
    // Still subscribed: a fresh message arrives.
    let fresh = server.publish("slow", "fresh");
    while parser.ids().last() != Some(&fresh) {
        let chunk = read_chunk(&mut reader)
            .unwrap()
            .expect("the stream goes on");
        parser.feed(std::str::from_utf8(&chunk).unwrap());
    }
}
