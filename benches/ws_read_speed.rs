//! Times `MessageReader` on a 16 MiB masked text message read in 64 KiB
//! pieces, the way the reactor's shared read buffer hands it over:
//! `cargo bench --bench ws_read_speed`.
//!
//! The message repeats a unit of text, by default mixed ASCII and 2-, 3-
//! and 4-byte UTF-8 (so the incremental UTF-8 check is part of the cost);
//! give another unit to time that instead
//! (`cargo bench --bench ws_read_speed -- aaaa`). The figure is the
//! throughput over 20 rounds, in MiB of frame bytes per second. Built as a
//! test (`cargo test --benches`) it runs one round, to prove it still works.

use std::time::Instant;

use pushwire::ws::{write_frame, MessageReader, Opcode, Role, WsEvent};

const USAGE: &str = "\
Usage: cargo bench --bench ws_read_speed [-- UNIT]

Times MessageReader on a 16 MiB masked text message made of UNIT repeated
(default: \"pushwire é € 𝄞 \"), read in 64 KiB pieces; prints MiB/s.
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return;
    }
    // `cargo bench` passes `--bench`; without it we run as a smoke test.
    let rounds = if args.iter().any(|a| a == "--bench") {
        20
    } else {
        1
    };
    let unit = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .cloned()
        .unwrap_or_else(|| "pushwire é € 𝄞 ".into());
    let text: String = unit.repeat((16 << 20) / unit.len().max(1));
    let mut wire = Vec::new();
    write_frame(&mut wire, Opcode::Text, text.as_bytes(), Some([1, 2, 3, 4]));
    let start = Instant::now();
    for _ in 0..rounds {
        let mut reader = MessageReader::new(Role::Server, 32 << 20);
        let mut got = None;
        for piece in wire.chunks(64 * 1024) {
            let mut input = piece;
            while let Ok((used, Some(event))) = reader.read(input) {
                input = input.get(used..).unwrap_or(&[]);
                got = Some(event);
            }
        }
        match got {
            Some(WsEvent::Text(t)) if t.len() == text.len() => {}
            _ => {
                eprintln!("wrong result");
                std::process::exit(1);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mib = (rounds * wire.len()) as f64 / f64::from(1 << 20);
    println!("{:.0} MiB/s ({} bytes per message)", mib / secs, text.len());
}
