//! The RESP2 codec (`pushwire::resp`) against an independent reference,
//! the `redis-protocol` crate's RESP2 decoder:
//!
//! - any bytes never panic;
//! - whatever pushwire reads as a whole reply, the reference reads too, as
//!   the same value and the same length;
//! - what pushwire says has not all arrived, the reference does not read
//!   as a reply either;
//! - where pushwire refuses what the reference reads, it is one of the
//!   checks pushwire makes and the reference does not (the CRLF after a
//!   bulk string, the size and depth limits);
//! - a value read, written back out, reads back the same; a command
//!   written from the input's bytes reads back as its arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushwire::resp::{decode, encode, encode_command, Limits, RespError, Value};
use redis_protocol::resp2::{decode::decode as reference, types::OwnedFrame};

fn same(ours: &Value, theirs: &OwnedFrame) -> bool {
    match (ours, theirs) {
        (Value::Simple(a), OwnedFrame::SimpleString(b)) => a == b,
        (Value::Error(a), OwnedFrame::Error(b)) => a == b,
        (Value::Integer(a), OwnedFrame::Integer(b)) => a == b,
        (Value::Bulk(a), OwnedFrame::BulkString(b)) => a == b,
        (Value::Array(a), OwnedFrame::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Nil, OwnedFrame::Null) => true,
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 8,
        ..Limits::default()
    };
    let ours = decode(data, &limits);
    // The reference recurses without a limit: keep it off inputs deep
    // enough to overflow the stack.
    let nesting = data.iter().filter(|&&b| b == b'*').count();
    if nesting <= 64 {
        let theirs = reference(data);
        match (&ours, &theirs) {
            (Ok(Some((value, used))), Ok(Some((frame, their_used)))) => {
                assert_eq!(used, their_used, "{value:?} vs {frame:?}");
                assert!(same(value, frame), "{value:?} vs {frame:?}");
            }
            (Ok(Some((value, _))), other) => {
                panic!("pushwire read {value:?}, the reference {other:?}")
            }
            (Ok(None), Ok(Some((frame, _)))) => {
                panic!("pushwire waits for more, the reference read {frame:?}")
            }
            (Err(e), Ok(Some((frame, _)))) => assert!(
                matches!(
                    e,
                    RespError::MissingCrlf | RespError::TooLarge | RespError::TooDeep
                ),
                "pushwire refused ({e}) what the reference read as {frame:?}"
            ),
            _ => {}
        }
    }
    if let Ok(Some((value, _))) = &ours {
        let mut out = Vec::new();
        encode(&mut out, value);
        assert_eq!(decode(&out, &limits), Ok(Some((value.clone(), out.len()))));
    }
    let args: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let mut command = Vec::new();
    encode_command(&mut command, &args);
    let expected = Value::Array(args.iter().map(|a| Value::Bulk(a.to_vec())).collect());
    assert_eq!(
        decode(&command, &Limits::default()),
        Ok(Some((expected, command.len())))
    );
});
