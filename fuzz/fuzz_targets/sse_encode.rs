//! Events written with `sse::write_event` parse back, with both
//! `sse::EventStreamParser` (fed in arbitrary pieces) and an independent
//! WHATWG HTML 9.2.6 parser written here, to the same data (CR and CRLF
//! become LF: the format cannot carry CR), the same id and the same type.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pushwire::sse::{self, EventStreamParser, SseItem};

#[derive(Arbitrary, Debug)]
struct Written {
    id: u64,
    event: Option<String>,
    data: String,
}

#[derive(Arbitrary, Debug)]
struct Input {
    events: Vec<Written>,
    comment: Option<String>,
    retry: Option<u64>,
    splits: Vec<u8>,
}

/// (type, data, last event id) of one dispatched event.
type Dispatched = (String, String, String);

/// WHATWG HTML 9.2.6 "Interpreting an event stream", as plainly as possible.
fn reference_parse(stream: &str) -> Vec<Dispatched> {
    // Lines end in CRLF, LF or CR.
    let normalised = stream.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<&str> = normalised.split('\n').collect();
    // The text after the last line end is an incomplete line: ignored.
    lines.pop();
    let (mut data, mut event_type, mut last_id) = (String::new(), String::new(), String::new());
    let mut out = Vec::new();
    for line in lines {
        if line.is_empty() {
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            let kind = if event_type.is_empty() {
                "message".to_string()
            } else {
                event_type.clone()
            };
            out.push((kind, std::mem::take(&mut data), last_id.clone()));
            event_type.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line, ""),
        };
        match field {
            "event" => event_type = value.to_string(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => last_id = value.to_string(),
            _ => {}
        }
    }
    out
}

/// What the writer promises: line breaks in data become LF; in the event
/// type (which must stay on one line) they become spaces.
fn expected(w: &Written) -> Dispatched {
    let data = w.data.replace("\r\n", "\n").replace('\r', "\n");
    let kind = match &w.event {
        Some(e) if !e.is_empty() => e.replace(['\r', '\n'], " "),
        _ => "message".to_string(),
    };
    (kind, data, w.id.to_string())
}

fuzz_target!(|input: Input| {
    let mut stream = Vec::new();
    if let Some(ms) = input.retry {
        sse::write_retry(&mut stream, ms);
    }
    let mut want = Vec::new();
    for (i, w) in input.events.iter().enumerate() {
        if i == 1 {
            if let Some(text) = &input.comment {
                sse::write_comment(&mut stream, text);
            }
        }
        sse::write_event(&mut stream, w.id, w.event.as_deref(), &w.data);
        want.push(expected(w));
    }
    let text = std::str::from_utf8(&stream).expect("the writer writes UTF-8");
    assert_eq!(reference_parse(text), want, "reference parser");

    let mut lens: Vec<usize> = input.splits.iter().map(|&b| usize::from(b) + 1).collect();
    if lens.is_empty() {
        lens.push(usize::MAX);
    }
    let mut parser = EventStreamParser::new(usize::MAX);
    let mut items = Vec::new();
    let (mut rest, mut i) = (stream.as_slice(), 0);
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(lens[i % lens.len()].min(rest.len()));
        parser.feed(piece, &mut items).expect("no limit was set");
        rest = tail;
        i += 1;
    }
    let got: Vec<Dispatched> = items
        .into_iter()
        .filter_map(|item| match item {
            SseItem::Event(e) => Some((e.event_type, e.data, e.last_event_id)),
            SseItem::Retry(ms) => {
                assert_eq!(Some(ms), input.retry, "retry");
                None
            }
            SseItem::Comment(_) => None,
        })
        .collect();
    assert_eq!(got, want, "EventStreamParser");
});
