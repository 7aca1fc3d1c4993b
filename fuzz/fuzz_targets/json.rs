//! The JSON writer and reader against `serde_json`.
//!
//! 1. `write_item` / `write_batch` output parses with serde_json back to the
//!    same last_id, gap, more, ids and data, and with `parse_batch` too.
//! 2. `parse_batch` on arbitrary bytes never panics, refuses any input that
//!    is not UTF-8, and on UTF-8 input agrees with a serde_json deserializer
//!    of the same shape (unknown fields ignored, duplicate known fields
//!    refused) on whether the input is a valid batch and on what it holds.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pushwire::json::{self, JsonError};
use serde::Deserialize;

#[derive(Deserialize, Debug, PartialEq)]
struct RefItem {
    id: u64,
    data: String,
}

#[derive(Deserialize, Debug, PartialEq)]
struct RefBatch {
    last_id: u64,
    #[serde(default)]
    gap: bool,
    #[serde(default)]
    more: bool,
    messages: Vec<RefItem>,
}

#[derive(Arbitrary, Debug)]
struct Written {
    last_id: u64,
    gap: bool,
    more: bool,
    items: Vec<(u64, String)>,
}

fn check_roundtrip(w: &Written) {
    let encoded: Vec<Vec<u8>> = w
        .items
        .iter()
        .map(|(id, data)| {
            let mut out = Vec::new();
            json::write_item(&mut out, *id, data);
            let item: RefItem = serde_json::from_slice(&out).expect("write_item output is JSON");
            assert_eq!((item.id, &item.data), (*id, data));
            assert_eq!(json::parse_item(&out), Ok((*id, data.clone())));
            out
        })
        .collect();
    let mut out = Vec::new();
    let head = json::BatchHead {
        last_id: w.last_id,
        gap: w.gap,
        more: w.more,
    };
    json::write_batch(&mut out, head, encoded.iter().map(Vec::as_slice));
    let batch: RefBatch = serde_json::from_slice(&out).expect("write_batch output is JSON");
    assert_eq!(batch.last_id, w.last_id);
    assert_eq!(batch.gap, w.gap);
    assert_eq!(batch.more, w.more);
    let got: Vec<(u64, String)> = batch.messages.into_iter().map(|m| (m.id, m.data)).collect();
    assert_eq!(got, w.items);
    let ours = json::parse_batch(&out).expect("parse_batch reads write_batch");
    assert_eq!(
        (ours.last_id, ours.gap, ours.more, ours.messages),
        (w.last_id, w.gap, w.more, w.items.clone())
    );
}

fn check_parse(input: &[u8]) {
    let ours = json::parse_batch(input);
    // RFC 8259 section 8.1: JSON text is UTF-8. serde_json only validates
    // the strings it keeps (a key or string inside a skipped value may hold
    // any bytes), so it is given text, and bytes that are not UTF-8
    // anywhere must be refused by pushwire.
    let Ok(text) = std::str::from_utf8(input) else {
        assert!(
            ours.is_err(),
            "parse_batch accepted non-UTF-8 input: {ours:?}"
        );
        return;
    };
    let theirs = serde_json::from_str::<RefBatch>(text);
    match (ours, theirs) {
        (Ok(a), Ok(b)) => {
            assert_eq!((a.last_id, a.gap, a.more), (b.last_id, b.gap, b.more));
            let b: Vec<(u64, String)> = b.messages.into_iter().map(|m| (m.id, m.data)).collect();
            assert_eq!(a.messages, b);
        }
        (Err(_), Err(_)) => {}
        // Skipped unknown values nest at most MAX_DEPTH (64) deep in ours,
        // 128 in serde_json: a documented difference.
        (Err(JsonError::TooDeep { .. }), Ok(_)) => {}
        (ours, theirs) => panic!(
            "parse_batch {ours:?} but serde_json {theirs:?} on {:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    // The raw bytes as a batch to read, and the same bytes as a batch to write.
    check_parse(data);
    if let Ok(w) = Written::arbitrary(&mut Unstructured::new(data)) {
        check_roundtrip(&w);
    }
});
