//! `--reuse-port`: two pushwire processes listen on one address, and the
//! kernel gives each some of the new connections; without the flag the
//! second cannot bind (docs/cluster.md).

mod common;

use std::io::BufReader;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};

use common::{read_response, TestServer};

#[test]
fn two_processes_with_reuse_port_on_one_address_both_accept() {
    // A port that is free now (the listener goes at the end of the line).
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let args = ["--listen", addr.as_str(), "--reuse-port"];
    let first = TestServer::start(&args);
    let second = TestServer::start(&args);
    assert_eq!(first.addr, second.addr);
    // Without the flag, a third cannot take the address.
    let refused = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args(["--listen", addr.as_str()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
    // 64 connections, each answered by whichever process the kernel
    // chose. A channel nobody used answers its process's floor as its
    // last id (the time it started, in microseconds), which tells the two
    // apart.
    let n = 64;
    let mut by_floor = std::collections::BTreeMap::<u64, usize>::new();
    for _ in 0..n {
        let mut stream = TcpStream::connect(first.addr).unwrap();
        stream
            .write_all(b"GET /poll/spread HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let answer = read_response(&mut BufReader::new(stream)).unwrap();
        assert_eq!(answer.status, 200);
        *by_floor
            .entry(answer.json()["last_id"].as_u64().unwrap())
            .or_default() += 1;
    }
    // Each took some: the chance that the kernel's hash sent all 64 to
    // one is 2^-63.
    let counts: Vec<usize> = by_floor.values().copied().collect();
    assert_eq!(counts.len(), 2, "{by_floor:?}");
    assert_eq!(counts.iter().sum::<usize>(), n);
}
