//! A minimal WebSocket echo load client, written apart from pushwire's
//! own code (std only, blocking sockets), to check that `pushwire bench
//! echo` measures the server and not itself.
//!
//! `echo-client ADDR PATH THREADS CONNS_PER_THREAD DEPTH SIZE SECONDS`
//!
//! Each thread owns its connections and goes round them in rounds: it
//! writes DEPTH masked text frames of SIZE bytes to each in one `write`,
//! then reads each one's DEPTH echoes back (unmasked frames, RFC 6455
//! section 5.2), checking their length. It prints the echoes per second over the
//! measured seconds (after one second of warm-up) and its own CPU share.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn handshake(addr: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("write handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("read handshake");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

fn frames(depth: usize, size: usize) -> Vec<u8> {
    assert!(size < 126, "sizes below 126 bytes: one-byte lengths");
    let key = [0x12u8, 0x34, 0x56, 0x78];
    let mut out = Vec::new();
    for _ in 0..depth {
        out.push(0x81);
        out.push(0x80 | size as u8);
        out.extend_from_slice(&key);
        out.extend((0..size).map(|i| b'x' ^ key[i % 4]));
    }
    out
}

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12) // utime, stime (fields 14 and 15)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, path, threads, conns, depth, size, seconds] = &args[..] else {
        eprintln!("usage: echo-client ADDR PATH THREADS CONNS_PER_THREAD DEPTH SIZE SECONDS");
        std::process::exit(2);
    };
    let n = |s: &String| s.parse::<usize>().expect("a number");
    let (threads, conns, depth, size, seconds) = (n(threads), n(conns), n(depth), n(size), n(seconds));
    let warm = Duration::from_secs(1);
    let run = Duration::from_secs(seconds as u64);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (addr, path) = (addr.clone(), path.clone());
            std::thread::spawn(move || {
                let mut socks: Vec<TcpStream> = (0..conns).map(|_| handshake(&addr, &path)).collect();
                let out = frames(depth, size);
                let expect = depth * (2 + size);
                let mut buf = vec![0u8; expect];
                let mut counted = 0u64;
                loop {
                    let now = start.elapsed();
                    if now >= warm + run {
                        return counted;
                    }
                    // Every connection gets its frames first, then every
                    // connection's echoes are read: all of them in flight.
                    for s in &mut socks {
                        s.write_all(&out).expect("write");
                    }
                    for s in &mut socks {
                        s.read_exact(&mut buf).expect("read echoes");
                        assert!(buf.chunks(2 + size).all(|f| f[0] == 0x81 && f[1] as usize == size));
                    }
                    if start.elapsed() >= warm {
                        counted += (conns * depth) as u64;
                    }
                }
            })
        })
        .collect();
    let ticks0 = cpu_ticks();
    let total: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    let cpu = (cpu_ticks() - ticks0) as f64 / 100.0; // USER_HZ
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{:.0} echoes/s ({threads} threads x {conns} connections, depth {depth}, {size} bytes); client CPU {:.0}% of one core",
        total as f64 / run.as_secs_f64(),
        100.0 * cpu / wall
    );
}
