//! `--data-dir` on real processes: a server killed with SIGKILL in the
//! middle of a publish storm comes back with every message it
//! acknowledged, ids go on above every id given, resuming clients of all
//! four transports get what they missed exactly once, a torn tail is cut,
//! a damaged record stops the start with its offset, and a second server
//! cannot take a data dir in use (docs/durability.md).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::resume::Resumed;
use common::TestServer;
use pushwire::config::Fsync;
use pushwire::log::{Record, Scan};
use pushwire::server::log::{open, segment_file_name, LogOptions};

/// How the tests open a log by hand.
const OPTIONS: LogOptions = LogOptions {
    fsync: Fsync::Never,
    repair: false,
    segment_bytes: 1 << 20,
    lock_wait: std::time::Duration::ZERO,
};

/// A fresh directory for one test.
fn data_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pushwire-durability-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start(dir: &Path, extra: &[&str]) -> TestServer {
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    TestServer::start(&args)
}

/// One publish on its own connection; `None` if it was not answered 202
/// (the server died under it).
fn try_publish(addr: SocketAddr, channel: &str, data: &str) -> Option<u64> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "POST /pub/{channel} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{data}",
        data.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    if !answer.starts_with("HTTP/1.1 202 ") {
        return None;
    }
    let body = answer.split("\r\n\r\n").nth(1)?;
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value["id"].as_u64()
}

/// Every message of `channel` from the start, page by page.
fn everything(server: &TestServer, channel: &str) -> Vec<(u64, String)> {
    let mut all = Vec::new();
    let mut since = 0;
    loop {
        let page = server.poll(channel, Some(since));
        let messages = page["messages"].as_array().unwrap();
        if messages.is_empty() {
            return all;
        }
        for m in messages {
            let id = m["id"].as_u64().unwrap();
            all.push((id, m["data"].as_str().unwrap().to_owned()));
            since = id;
        }
    }
}

#[test]
fn sigkill_in_a_publish_storm_with_fsync_always_loses_nothing_acknowledged() {
    let dir = data_dir("storm");
    let server = start(&dir, &["--fsync", "always", "--history", "100000"]);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = (0..8)
        .map(|t| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let data = format!("t{t}-{i}");
                    match try_publish(addr, "storm", &data) {
                        Some(id) => acked.push((id, data)),
                        None => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    drop(server); // SIGKILL, publishes in flight
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(u64, String)> = publishers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    assert!(
        acked.len() >= 50,
        "only {} publishes acknowledged",
        acked.len()
    );

    let server = start(&dir, &["--fsync", "always", "--history", "100000"]);
    let kept = everything(&server, "storm");
    assert!(
        kept.windows(2).all(|w| w[0].0 < w[1].0),
        "ids strictly increasing, none twice"
    );
    let by_id: BTreeMap<u64, &str> = kept.iter().map(|(id, d)| (*id, d.as_str())).collect();
    for (id, data) in &acked {
        assert_eq!(by_id.get(id), Some(&data.as_str()), "acknowledged id {id}");
    }
    // Ids go on above every id given before the crash.
    let top = kept.last().map_or(0, |m| m.0);
    let next = server.publish("storm", "after");
    assert!(next > top, "{next} not above {top}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clients_of_all_four_transports_resume_across_a_restart_exactly_once() {
    let dir = data_dir("resume");
    let first = start(&dir, &[]);
    let ids: Vec<u64> = (1..=5)
        .map(|i| first.publish("r", &format!("m{i}")))
        .collect();
    drop(first); // SIGKILL
    let seen = ids[2];

    let server = start(&dir, &[]);
    let poll = server.poll("r", Some(seen));
    assert!(poll.get("gap").is_none(), "{poll}");
    let got: Vec<u64> = poll["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, &ids[3..]);

    let long_poll = server.get(&format!("/longpoll/r?since={seen}")).json();
    assert!(long_poll.get("gap").is_none());
    assert_eq!(long_poll["last_id"].as_u64(), Some(ids[4]));

    let mut resumed = Resumed::open(&server, "r", seen);
    let new = server.publish("r", "n1");
    assert!(new > ids[4]);

    let parser = resumed.sse_events(3);
    assert!(parser.events.iter().all(|e| e.event == "message"), "no gap");
    assert_eq!(parser.ids(), [ids[3], ids[4], new]);
    let frames = resumed.ws_texts(3);
    assert_eq!(
        frames,
        [
            format!("{{\"id\":{},\"data\":\"m4\"}}", ids[3]),
            format!("{{\"id\":{},\"data\":\"m5\"}}", ids[4]),
            format!("{{\"id\":{new},\"data\":\"n1\"}}"),
        ]
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A log with three messages on `r`, written by a real server; and where
/// each record starts.
fn three_messages(dir: &Path) -> (Vec<u8>, Vec<usize>) {
    let server = start(dir, &["--fsync", "always"]);
    for i in 1..=3 {
        server.publish("r", &format!("m{i}"));
    }
    drop(server);
    let bytes = std::fs::read(dir.join(segment_file_name(1))).unwrap();
    let mut scan = Scan::new(&bytes);
    let starts: Vec<usize> = scan
        .by_ref()
        .filter(|(_, r)| matches!(r, Record::Message { .. }))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(starts.len(), 3);
    (bytes, starts)
}

#[test]
fn a_log_cut_at_every_offset_of_its_last_record_restarts_with_the_earlier_records() {
    let dir = data_dir("torn");
    let (bytes, starts) = three_messages(&dir);
    let last = starts[2];
    let cut_dir = data_dir("torn-cut");
    for cut in last + 1..bytes.len() {
        let _ = std::fs::remove_dir_all(&cut_dir);
        std::fs::create_dir_all(&cut_dir).unwrap();
        std::fs::write(cut_dir.join(segment_file_name(1)), &bytes[..cut]).unwrap();
        let opened = open(&cut_dir, OPTIONS, 0).unwrap();
        let data: Vec<&str> = opened.restored.iter().map(|r| r.data.as_str()).collect();
        assert_eq!(data, ["m1", "m2"], "cut at {cut}");
        drop(opened);
        // The torn bytes are gone: what follows is a whole record.
        let after = std::fs::read(cut_dir.join(segment_file_name(1))).unwrap();
        assert_eq!(&after[..last], &bytes[..last]);
        let mut scan = Scan::new(&after);
        assert_eq!(
            scan.by_ref().count(),
            4,
            "floor, m1, m2, floor of the new run"
        );
    }
    // And on a real process: one line says what was cut.
    let _ = std::fs::remove_dir_all(&cut_dir);
    std::fs::create_dir_all(&cut_dir).unwrap();
    std::fs::write(cut_dir.join(segment_file_name(1)), &bytes[..last + 5]).unwrap();
    let server = start(&cut_dir, &[]);
    let kept: Vec<String> = everything(&server, "r").into_iter().map(|m| m.1).collect();
    assert_eq!(kept, ["m1", "m2"]);
    let stderr = server.stop_and_stderr();
    assert!(
        stderr.contains(&format!(
            "cut a torn record at the end: 5 bytes from offset {last}"
        )),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&cut_dir);
}

fn run_to_exit(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pushwire"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_flipped_byte_in_an_earlier_record_stops_the_start_with_its_offset() {
    let dir = data_dir("flip");
    let (mut bytes, starts) = three_messages(&dir);
    // The last byte of m1's data.
    let at = starts[1] - 1;
    bytes[at] ^= 0x20;
    std::fs::write(dir.join(segment_file_name(1)), &bytes).unwrap();
    let (code, stderr) = run_to_exit(&dir, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("damaged record at offset {}", starts[0])),
        "{stderr}"
    );
    assert!(stderr.contains("--repair-log"), "{stderr}");
    // The file is untouched until the user says to repair.
    assert_eq!(
        std::fs::read(dir.join(segment_file_name(1))).unwrap(),
        bytes
    );
    let server = start(&dir, &["--repair-log"]);
    assert!(everything(&server, "r").is_empty(), "cut at m1");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_server_on_a_data_dir_in_use_exits_2() {
    let dir = data_dir("lock");
    let server = start(&dir, &[]);
    let (code, stderr) = run_to_exit(&dir, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("in use by another running pushwire"),
        "{stderr}"
    );
    drop(server);
    // Once the first is gone (even killed), the lock is free.
    let server = start(&dir, &[]);
    drop(server);
    let not_a_dir = dir.join(segment_file_name(1)).join("sub");
    let (code, stderr) = run_to_exit(&not_a_dir, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_disk_answers_507_keeps_subscribers_and_recovers_when_space_returns() {
    let dir = data_dir("full");
    // RLIMIT_FSIZE stands in for a full disk: past 8 KiB a write fails
    // with EFBIG (SIGXFSZ ignored, as the shell leaves it for the exec).
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        "trap '' XFSZ; ulimit -S -f 8; exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_pushwire"),
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let server = TestServer::start_with(shell, &[]);
    let mut resumed = Resumed::open(&server, "f", 0);
    let data = "x".repeat(1000);
    let mut kept = Vec::new();
    let refused = loop {
        let response = server.post("/pub/f", &data);
        if response.status != 202 {
            break response;
        }
        kept.push(response.json()["id"].as_u64().unwrap());
        assert!(kept.len() < 20, "the file-size limit never bit");
    };
    assert_eq!(refused.status, 507, "{}", refused.text());
    assert!(
        refused.text().contains("the log is full"),
        "{}",
        refused.text()
    );
    // The log ends on a whole record: what was acknowledged, nothing more.
    let bytes = std::fs::read(dir.join(segment_file_name(1))).unwrap();
    let mut scan = Scan::new(&bytes);
    let logged: Vec<u64> = scan
        .by_ref()
        .filter_map(|(_, r)| match r {
            Record::Message { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(logged, kept);
    assert_eq!(scan.end(), Some(pushwire::log::End::Clean));
    // Space returns: publishing goes on by itself, and the subscriber
    // that stayed connected gets everything acknowledged, once, in order.
    let raised = Command::new("prlimit")
        .args(["--pid", &server.pid().to_string(), "--fsize=unlimited"])
        .status()
        .unwrap();
    assert!(raised.success());
    let after = server.publish("f", "after");
    let mut want: Vec<String> = kept
        .iter()
        .map(|id| format!("{{\"id\":{id},\"data\":\"{data}\"}}"))
        .collect();
    want.push(format!("{{\"id\":{after},\"data\":\"after\"}}"));
    assert_eq!(resumed.ws_texts(want.len()), want);
    assert_eq!(
        resumed.sse_events(want.len()).ids(),
        kept.iter().copied().chain([after]).collect::<Vec<_>>()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The segment files in `dir`, by number, with their sizes.
fn segments(dir: &Path) -> BTreeMap<u64, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let seq = name.strip_prefix("pushwire-")?.strip_suffix(".log")?;
            Some((seq.parse().unwrap(), e.metadata().unwrap().len()))
        })
        .collect()
}

/// The bytes a message takes in the log: the 12-byte header, then kind,
/// id, name length, name, data (docs/durability.md).
fn record_bytes(channel: &str, data: &str) -> u64 {
    (12 + 1 + 8 + 1 + channel.len() + data.len()) as u64
}

#[test]
fn segments_roll_and_are_reclaimed_once_their_messages_leave_history() {
    let dir = data_dir("segments");
    let segment_bytes = 4096;
    for fsync in ["always", "never"] {
        let _ = std::fs::remove_dir_all(&dir);
        let server = start(
            &dir,
            &[
                "--fsync",
                fsync,
                "--history",
                "4",
                "--log-segment-bytes",
                &segment_bytes.to_string(),
            ],
        );
        // One message on a quiet channel, then many on a busy one: the
        // quiet message stays in history, so the segment it was written
        // to is compacted (rewritten with it alone), never deleted.
        let quiet = server.publish("quiet", "still here");
        let data = "d".repeat(100);
        let mut last = 0;
        for i in 0..300 {
            last = server.publish("busy", &format!("{i:03}{data}"));
        }
        // 300 records of 130 bytes are about 10 segments' worth: the log
        // rolled, and (once the compaction thread is done) kept no more
        // than the bound: twice the live records (4 on busy, 1 on quiet)
        // plus two segments (docs/durability.md).
        let live =
            4 * record_bytes("busy", &format!("000{data}")) + record_bytes("quiet", "still here");
        let bound = 2 * live + 2 * segment_bytes;
        let started = std::time::Instant::now();
        // Segments are deleted and rewritten by a thread of the server's
        // own: wait (boundedly) for it to catch up.
        let on_disk = loop {
            let on_disk = segments(&dir);
            if on_disk.values().sum::<u64>() <= bound
                && on_disk.len() <= 4
                && on_disk.get(&1) == Some(&record_bytes("quiet", "still here"))
            {
                break on_disk;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{fsync}: not reclaimed to {bound} bytes in 4 files in 10 s: {on_disk:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let newest = *on_disk.keys().last().unwrap();
        assert!(newest >= 8, "{fsync}: {on_disk:?}");
        // Segment 1 holds the quiet message alone: rewritten, not
        // deleted, and not copied anywhere else.
        let first = std::fs::read(dir.join(segment_file_name(1))).unwrap();
        assert_eq!(
            first.len() as u64,
            record_bytes("quiet", "still here"),
            "{fsync}: {on_disk:?}"
        );
        assert!(on_disk.len() <= 4, "{fsync}: {on_disk:?}");
        drop(server);
        // A restart reads back exactly what history held.
        let server = start(&dir, &["--history", "4"]);
        assert_eq!(
            everything(&server, "quiet"),
            [(quiet, "still here".to_owned())],
            "{fsync}"
        );
        let busy: Vec<u64> = everything(&server, "busy").iter().map(|m| m.0).collect();
        assert_eq!(busy, (last - 3..=last).collect::<Vec<_>>(), "{fsync}");
        let next = server.publish("busy", "after");
        assert!(next > last, "{fsync}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_record_in_two_segments_is_restored_once() {
    // Segments copied by hand (a backup put back over a newer log, say)
    // may hold the same records twice.
    let dir = data_dir("twice");
    let (bytes, _) = three_messages(&dir);
    std::fs::write(dir.join(segment_file_name(7)), &bytes).unwrap();
    let opened = open(&dir, OPTIONS, 0).unwrap();
    let data: Vec<&str> = opened.restored.iter().map(|r| r.data.as_str()).collect();
    assert_eq!(data, ["m1", "m2", "m3"]);
    drop(opened);
    let server = start(&dir, &[]);
    let kept: Vec<String> = everything(&server, "r").into_iter().map(|m| m.1).collect();
    assert_eq!(kept, ["m1", "m2", "m3"]);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pipelined_publishes_on_one_connection_are_all_answered_under_every_policy() {
    // The second publish of a pipeline is taken when the first is
    // answered, after the pass wrote the log: the loop must come round
    // again for it at once, not wait for some other event.
    for fsync in ["always", "batch", "never"] {
        let dir = data_dir(&format!("pipelined-{fsync}"));
        let server = start(&dir, &["--fsync", fsync]);
        let mut stream = server.connect();
        let requests: String = (0..50)
            .map(|i| {
                let data = format!("p{i}");
                format!(
                    "POST /pub/p HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{data}",
                    data.len()
                )
            })
            .collect();
        stream.write_all(requests.as_bytes()).unwrap();
        let mut reader = std::io::BufReader::new(stream);
        let ids: Vec<u64> = (0..50)
            .map(|_| {
                let answer = common::read_response(&mut reader).unwrap();
                assert_eq!(answer.status, 202, "{fsync}");
                answer.json()["id"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(ids, server.ids(1..=50), "{fsync}");
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
