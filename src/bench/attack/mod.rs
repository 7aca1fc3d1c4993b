//! `pushwire bench attack`: one attack on the server, next to a normal
//! client, and what the normal client experienced before, during and after
//! it.
//!
//! The rule it measures: every connection has a bounded cost in memory
//! and in loop time, whatever it sends or fails to read, so that no
//! client can take the server's memory or its loop from the others. A
//! server that holds the rule keeps the normal client's latency where it
//! was when quiet, and its own resident memory within its documented
//! bounds, whatever the attack.
//!
//! # The run
//!
//! Three threads of one process: the normal client
//! ([`normal`]), the attacker ([`attacker`], on the connections of a
//! [`fleet`]), and this one, which keeps the time, reads the server's
//! `VmRSS` and CPU time (`/proc/PID/status`, `/proc/PID/stat`) every
//! 20 ms, and the bench's own CPU time at each phase's end. The phases
//! ([`phase`]): `--quiet` seconds of the normal client alone; the attack's
//! setup; `--during` seconds of attack; the attack's connections closed
//! and `--after` seconds of recovery.
//!
//! # The attacks
//!
//! | `--attack` | what the attacker does | default size |
//! |---|---|---|
//! | `big-backlog-readers` | setup: fills a channel's history with `--backlog-mb` MB in messages of `--message-bytes` (the server may refuse or evict; the report says what it kept). Then `--attackers` clients each send `GET /poll/{ch}?since=0`, `GET /longpoll/{ch}?since=0` and an HTTP/1.0 `GET /sse/{ch}?since=0`, each on its own connection, and never read | 40 clients, 64 MB in 1 MB messages |
//! | `empty-continuations` | `--attackers` WebSockets to `--ws-path`, each sending an empty text frame with FIN=0, then empty continuation frames (6 bytes, masked) as fast as the socket takes them | 20 |
//! | `empty-pongs` | the same with empty unsolicited pongs | 20 |
//! | `never-ending-message` | each WebSocket opens a text message (FIN=0) and sends a one-byte continuation every `--trickle` seconds, never the last | 20 |
//! | `stalled-subscribers` | setup: `--attackers` subscribers, half WebSocket (`/ws/{ch}`), half SSE (`/sse/{ch}`), which read their answer's head and then stop reading. Then one connection publishes `--rate` messages a second of `--size` bytes to their channel, pipelined. At the end `--read-again` of each kind read again, to see how their stream ends (a frame-aligned Close, or cut mid-frame) | 400, 1,000 msg/s of 1 KB |
//! | `fanout-burst` | setup: `--attackers` SSE subscribers that read everything. Then `--burst` publishes pipelined in one write, every `--burst-every` seconds (skipped while the previous burst is unanswered) | 10,000, 200 every 1 s |
//!
//! The attack's connections come from 127.0.0.2 and up; every one the
//! server ends is replaced 10 ms later (`--no-reconnect` keeps them
//! closed), and how each ended is reported (a WebSocket Close and its
//! code, an HTTP status, a reset, or still open). The attack stops early
//! if the server's RSS passes `--max-server-rss-mb` (default: a third of
//! the machine's available memory at the start), and says so.
//!
//! # The output
//!
//! The JSON line has one object per phase (its length, the server's RSS
//! at its end and its peak, CPU seconds of the server, the bench and the
//! normal client's thread, the normal client's wake-up lateness) and one
//! per phase and metric: p50, p99 and max, in which a sample never
//! answered counts as the slowest (`null`, and `never` in the table, when
//! the quantile falls on one), and the counts of samples answered, failed
//! (an error status, a connection cut) and never answered. The human
//! lines are a markdown table ([`report`]) and what the attackers saw.

mod attacker;
mod ending;
mod fleet;
mod frames;
mod normal;
mod phase;
mod report;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub use attacker::{Attack, AttackPlan};

use super::net::resident_bytes;
use super::stamp::Clock;
use attacker::AttackerReport;
use normal::{NormalClient, NormalPlan};
use phase::{Phase, Resources, Timeline};
use report::Results;

/// How often the server's RSS is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// A run: the attack, the normal client's rate and the phases' lengths.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    pub attack: AttackPlan,
    /// The server's process id.
    pub pid: u32,
    /// The normal client's channels: `{base}-normal` and `{base}-poll`.
    pub channel_base: String,
    pub probe_rate: f64,
    pub probe_size: usize,
    pub quiet: Duration,
    pub during: Duration,
    pub after: Duration,
    /// Stop the attack early past this server RSS.
    pub max_server_rss: u64,
}

/// Bytes the machine could still give (`MemAvailable` of
/// `/proc/meminfo`).
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = info
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// CPU seconds of (the server, this process, the normal client's thread,
/// and what the hypervisor stole from the machine's CPUs).
fn cpu(pid: u32, normal_tid: Option<u32>) -> [f64; 4] {
    let normal = normal_tid.map_or(f64::NAN, |tid| {
        super::stat_cpu_seconds(&format!("/proc/self/task/{tid}/stat"))
    });
    [
        super::stat_cpu_seconds(&format!("/proc/{pid}/stat")),
        super::cpu_seconds(),
        normal,
        super::steal_seconds(),
    ]
}

/// The main thread's bookkeeping while the others work.
struct Watch {
    clock: Clock,
    pid: u32,
    normal_tid: Option<u32>,
    timeline: Timeline,
    resources: Resources,
    phase: Phase,
    notes: Vec<String>,
}

impl Watch {
    fn sample(&mut self) -> u64 {
        let rss = resident_bytes(self.pid).unwrap_or(0);
        self.resources.sample_rss(self.phase, rss);
        rss
    }

    fn begin(&mut self, phase: Phase, at: u64) {
        self.sample();
        self.phase = phase;
        self.timeline.begin(phase, at);
        self.resources
            .mark_cpu(Some(phase), cpu(self.pid, self.normal_tid));
        self.sample();
    }

    /// Samples until `until` on the bench clock, or until `done` says so.
    fn wait(&mut self, until: u64, mut done: impl FnMut(&mut Watch, u64) -> bool) {
        loop {
            let now = self.clock.now();
            if now >= until {
                return;
            }
            let rss = self.sample();
            if done(self, rss) {
                return;
            }
            let left = Duration::from_nanos(until - now);
            thread::sleep(left.min(SAMPLE_EVERY));
        }
    }
}

pub fn run(plan: ScenarioPlan) -> Result<(String, String, bool), String> {
    let attack_plan = plan.attack.clone();
    let connections = attack_plan.attack.connections(attack_plan.attackers);
    super::net::ensure_fd_limit(connections + 64)?;
    resident_bytes(plan.pid)?;
    let clock = Clock::new();
    let secs = |d: Duration| d.as_secs_f64();
    let total = secs(plan.quiet)
        + secs(plan.during)
        + secs(plan.after)
        + secs(attack_plan.setup_timeout)
        + 30.0;
    let normal_plan = NormalPlan {
        addr: attack_plan.addr,
        host: attack_plan.host.clone(),
        channel: format!("{}-normal", plan.channel_base),
        poll_channel: format!("{}-poll", plan.channel_base),
        rate: plan.probe_rate,
        size: plan.probe_size,
        capacity: ((plan.probe_rate * total) as u64 + 16).min(50_000_000),
    };

    // 1. The normal client connects, subscribes and starts measuring.
    let (ready_tx, ready_rx) = mpsc::channel();
    let stop_normal = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&stop_normal);
    let normal = thread::Builder::new()
        .name("normal client".into())
        .spawn(move || NormalClient::connect(normal_plan, clock).map(|c| c.run(ready_tx, stop)))
        .map_err(|e| format!("thread: {e}"))?;
    let ready = match ready_rx.recv_timeout(Duration::from_secs(15)) {
        Ok(ready) => ready,
        Err(_) => {
            stop_normal.store(true, Ordering::Relaxed);
            return match normal.join() {
                Ok(Err(e)) => Err(e),
                _ => Err("the normal client did not start".into()),
            };
        }
    };
    let mut watch = Watch {
        clock,
        pid: plan.pid,
        normal_tid: ready.tid,
        timeline: Timeline::new(),
        resources: Resources::new(),
        phase: Phase::Quiet,
        notes: Vec::new(),
    };
    eprintln!("bench: normal client measuring; quiet for {:?}", plan.quiet);
    let start = clock.now();
    watch.begin(Phase::Quiet, start);
    watch.wait(start + plan.quiet.as_nanos() as u64, |_, _| false);

    // 2. The attacker prepares (setup) and attacks (during).
    watch.begin(Phase::Setup, clock.now());
    eprintln!("bench: {} setting up", attack_plan.attack.name());
    let (began_tx, began_rx) = mpsc::channel();
    let stop_attack = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&stop_attack);
    let attacker = thread::Builder::new()
        .name("attacker".into())
        .spawn(move || attacker::run(attack_plan, clock, began_tx, stop))
        .map_err(|e| format!("thread: {e}"))?;
    let began = loop {
        match began_rx.recv_timeout(SAMPLE_EVERY) {
            Ok(at) => break Some(at),
            Err(RecvTimeoutError::Timeout) => {
                watch.sample();
            }
            Err(RecvTimeoutError::Disconnected) => break None,
        }
    };
    if let Some(began) = began {
        watch.begin(Phase::During, began);
        eprintln!("bench: attacking for {:?}", plan.during);
        let limit = plan.max_server_rss;
        watch.wait(began + plan.during.as_nanos() as u64, |w, rss| {
            if rss <= limit {
                return false;
            }
            let at = w.clock.now().saturating_sub(began) as f64 / 1e9;
            w.notes.push(format!(
                "the attack was stopped after {at:.2} s: the server's RSS reached {} MiB, past --max-server-rss-mb {}",
                rss >> 20,
                limit >> 20
            ));
            true
        });
    }

    // 3. The attack ends; recovery.
    stop_attack.store(true, Ordering::Relaxed);
    let after = clock.now();
    watch.begin(Phase::After, after);
    eprintln!("bench: attack over; recovery for {:?}", plan.after);
    while !attacker.is_finished() {
        watch.sample();
        thread::sleep(SAMPLE_EVERY);
    }
    let attacker_report = attacker.join().unwrap_or_else(|_| AttackerReport {
        error: Some("the attacker thread panicked".into()),
        ..AttackerReport::default()
    });
    watch.wait(after + plan.after.as_nanos() as u64, |_, _| false);
    watch.sample();
    stop_normal.store(true, Ordering::Relaxed);
    let end = clock.now();
    watch.timeline.finish(end);
    watch
        .resources
        .mark_cpu(None, cpu(plan.pid, watch.normal_tid));
    let normal_report = match normal.join() {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err("the normal client's thread panicked".into()),
    };

    let attack = plan.attack.attack;
    let size = match attack {
        Attack::BigBacklogReaders => format!(
            "{} clients x 3 requests, {} MB history",
            plan.attack.attackers,
            plan.attack.backlog_bytes / 1_000_000
        ),
        Attack::FanoutBurst => format!(
            "{} SSE subscribers, {} publishes a burst",
            plan.attack.attackers, plan.attack.burst
        ),
        Attack::StalledSubscribers => format!(
            "{} subscribers, {} msg/s of {} B",
            plan.attack.attackers, plan.attack.rate, plan.attack.size
        ),
        _ => format!("{} connections", plan.attack.attackers),
    };
    let clean = attacker_report.error.is_none();
    let results = Results {
        attack: attack.name().into(),
        size,
        target: plan.attack.host.clone(),
        probe_rate: plan.probe_rate,
        timeline: watch.timeline,
        resources: watch.resources,
        normal: normal_report,
        attacker: attacker_report,
        notes: watch.notes,
    };
    Ok((results.json(), results.human(), clean))
}
