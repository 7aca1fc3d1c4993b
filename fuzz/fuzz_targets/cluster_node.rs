//! A cluster node (`pushwire::cluster`) reading whatever its two Redis
//! connections bring: any bytes never panic, and the messages it tells
//! the engine have, per channel, ids that only grow (a message is never
//! told twice, nor after a later one), whatever mix of replies, stream
//! ranges, bus messages and broken connections comes.
//!
//! The input is cut at every 0xff byte; each piece's first byte says
//! which connection it arrives on (even: commands, odd: the bus), the
//! rest is what arrives. A piece the node refuses breaks the connection:
//! the node is told it is lost and connects again, as the reactor does.
#![no_main]

use std::collections::HashMap;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use pushwire::cluster::{NodeOptions, RedisStore, RedisUrl};
use pushwire::engine::{Decision, Store};

fuzz_target!(|data: &[u8]| {
    let Ok(url) = RedisUrl::parse("redis://127.0.0.1:6379") else {
        return;
    };
    let store = RedisStore::new(NodeOptions {
        url,
        prefix: "p:".into(),
        history: 16,
        history_ttl: None,
        max_message_bytes: 4096,
        max_channels: 64,
        name: "n1".into(),
        floor: 100,
    });
    let mut engine_side = store.clone();
    let now = Instant::now();
    {
        let mut node = store.node();
        node.handle_connecting(now);
        node.handle_connected(now);
    }
    let mut last: HashMap<String, u64> = HashMap::new();
    for piece in data.split(|&b| b == 0xff) {
        let Some((&which, bytes)) = piece.split_first() else {
            continue;
        };
        {
            let mut node = store.node();
            let read = match which % 2 {
                0 => node.handle_cmd_input(bytes),
                _ => node.handle_sub_input(bytes),
            };
            let (cmd, sub) = (node.cmd_output().len(), node.sub_output().len());
            node.cmd_written(cmd);
            node.sub_written(sub);
            if read.is_err() {
                node.handle_lost(now, "fuzz");
                node.handle_connecting(now);
                node.handle_connected(now);
            }
        }
        while let Some(decision) = engine_side.poll_decision() {
            if let Decision::Replicated(m) = decision {
                let newest = last.entry(m.channel.clone()).or_insert(0);
                assert!(
                    m.id > *newest,
                    "{} told {} after {}",
                    m.channel,
                    m.id,
                    newest
                );
                *newest = m.id;
            }
        }
    }
});
