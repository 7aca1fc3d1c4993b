//! Times `MessageReader` on a 16 MiB masked text message read in 64 KiB
//! pieces: `cargo run --release --example ws_read_speed`.

use std::time::Instant;

use pushwire::ws::{write_frame, MessageReader, Opcode, Role, WsEvent};

fn main() {
    let unit = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "pushwire é € 𝄞 ".into());
    let text: String = unit.repeat((16 << 20) / unit.len());
    let mut wire = Vec::new();
    write_frame(&mut wire, Opcode::Text, text.as_bytes(), Some([1, 2, 3, 4]));
    let rounds = 20;
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
