//! `pushwire bench echo`: C WebSocket connections to an echo endpoint,
//! each keeping D stamped messages in flight; throughput and round trip.
//!
//! A client must mask what it sends (RFC 6455 section 5.3), which for
//! 64 KiB messages would cost the load generator more than the server.
//! Each connection therefore builds its frame once, masked with its own
//! key, and per message re-masks only the 31-byte stamp: masking is a XOR
//! by position, so the rest of the masked payload never changes.
//!
//! One thread drives all the connections with one `mio::Poll`; against a
//! fast server that thread, not the server, is the limit. `--threads N`
//! splits the connections over N such loops, each with its own window of
//! `--seconds`, and adds up what they measured; the report gives the
//! bench's CPU (each thread's, `/proc/thread-self/stat`, from its warm-up
//! to its end) as a share of its threads' time, and says so when it is
//! above 90%: the numbers then measure the bench as much as the server.

use std::time::Duration;

use mio::{Events, Poll, Token};

use pushwire::http::response_reader::{ResponseEvent, ResponseReader};
use pushwire::ws::{self, Opcode, Role, Session, SessionEvent};

use super::link::{Link, ReadOutcome};
use super::net::Sources;
use super::stamp::{read_stamp, write_stamp, Clock, STAMP_LEN};
use super::stats::{micros, Histogram, JsonLine};
use super::subscriber::{check_upgrade, write_ws_request, Rng};
use super::target::Template;

/// The largest echo accepted (close 1009 past it).
const MAX_MESSAGE: usize = 1 << 26;

pub struct EchoPlan {
    pub target: Template,
    pub connections: usize,
    pub size: usize,
    pub depth: usize,
    pub seconds: Duration,
    pub warmup: Duration,
    pub binary: bool,
    pub sources: Option<usize>,
    pub max_connecting: usize,
    /// Event loops (threads) the connections are split over.
    pub threads: usize,
}

struct EchoConn {
    link: Link,
    responses: ResponseReader,
    key: String,
    /// The WebSocket, once the 101 arrived.
    session: Option<Session>,
    frame: Vec<u8>,
    stamp_at: usize,
    mask: [u8; 4],
    sent: u64,
    received: u64,
    dead: bool,
}

impl EchoConn {
    fn send(&mut self, now: u64) {
        let base = self.link.out.len();
        self.link.out.extend_from_slice(&self.frame);
        let mut stamp = [0u8; STAMP_LEN];
        write_stamp(&mut stamp, self.sent, now);
        let at = base + self.stamp_at;
        if let Some(dst) = self.link.out.get_mut(at..at + STAMP_LEN) {
            for (i, (d, s)) in dst.iter_mut().zip(stamp).enumerate() {
                *d = s ^ self.mask[i % 4];
            }
        }
        self.sent += 1;
    }
}

#[derive(Default)]
struct Counts {
    in_window: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Counts {
    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// What one thread's loop measured, and the CPU it used from the start
/// of its warm-up to its end, against the wall time of that span.
struct Share {
    hist: Histogram,
    counts: Counts,
    cpu: f64,
    wall: f64,
}

pub fn run(plan: EchoPlan) -> Result<(String, String, bool), String> {
    super::net::ensure_fd_limit(plan.connections + 16)?;
    let threads = plan.threads.clamp(1, plan.connections);
    let shares: Vec<Result<Share, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let plan = &plan;
                let connections =
                    plan.connections / threads + usize::from(t < plan.connections % threads);
                scope.spawn(move || run_thread(plan, connections, t as u64))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a bench thread panicked".into()))
            })
            .collect()
    });
    let mut hist = Histogram::new();
    let mut counts = Counts::default();
    let (mut cpu, mut wall) = (0.0, 0.0);
    for share in shares {
        let share = share?;
        cpu += share.cpu;
        wall += share.wall;
        hist.merge(&share.hist);
        counts.in_window += share.counts.in_window;
        counts.errors += share.counts.errors;
        if counts.first_error.is_none() {
            counts.first_error = share.counts.first_error;
        }
    }
    report(&plan, threads, &hist, &counts, cpu / wall)
}

/// One thread's loop over `connections` of the plan's connections.
fn run_thread(plan: &EchoPlan, connections: usize, thread: u64) -> Result<Share, String> {
    let clock = Clock::new();
    let mut sources = Sources::for_connections(plan.target.addr, connections, plan.sources);
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let mut rng = Rng::new(
        0x2545_f491_4f6c_dd1d ^ u64::from(std::process::id()) ^ thread.wrapping_mul(0x9e37_79b9),
    );
    let opcode = if plan.binary {
        Opcode::Binary
    } else {
        Opcode::Text
    };
    let size = plan.size.max(STAMP_LEN);
    let path = plan.target.path("", "echo", 0);
    let mut conns: Vec<EchoConn> = Vec::with_capacity(connections);
    let mut hist = Histogram::new();
    let mut counts = Counts::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut upgraded = 0usize;

    // Phases, in nanoseconds on the bench clock, set once all are upgraded.
    let (mut window_start, mut window_end, mut drain_end) = (u64::MAX, u64::MAX, u64::MAX);
    // This thread's CPU seconds and the bench clock when its warm-up began.
    let mut measured_from = (0.0, 0u64);
    let connect_deadline = clock.now() + 30_000_000_000;
    loop {
        while conns.len() < connections && conns.len() - upgraded < plan.max_connecting {
            let stream = sources
                .connect(plan.target.addr)
                .map_err(|e| format!("connect: {e}"))?;
            let mut link = Link::new(poll.registry(), stream, Token(conns.len()), None)
                .map_err(|e| e.to_string())?;
            let key = write_ws_request(&mut link.out, &plan.target.host, &path, &mut rng);
            let mask = rng.mask();
            let mut frame = Vec::with_capacity(size + 14);
            ws::write_frame(&mut frame, opcode, &vec![b'x'; size], Some(mask));
            let stamp_at = frame.len() - size;
            conns.push(EchoConn {
                link,
                responses: ResponseReader::new(),
                key,
                session: None,
                frame,
                stamp_at,
                mask,
                sent: 0,
                received: 0,
                dead: false,
            });
        }
        let now = clock.now();
        if window_start == u64::MAX && upgraded == connections {
            eprintln!(
                "bench: {upgraded} WebSockets open; echoing for {:?}",
                plan.seconds
            );
            measured_from = (super::stat_cpu_seconds("/proc/thread-self/stat"), now);
            window_start = now + plan.warmup.as_nanos() as u64;
            window_end = window_start + plan.seconds.as_nanos() as u64;
            drain_end = window_end + 2_000_000_000;
            for c in conns.iter_mut() {
                for _ in 0..plan.depth {
                    c.send(now);
                }
                if let Err(e) = c.link.flush() {
                    counts.error(format!("write: {e}"));
                    c.dead = true;
                }
            }
        }
        if window_start == u64::MAX && now > connect_deadline {
            return Err(format!(
                "only {upgraded} of {connections} WebSockets opened in 30 s"
            ));
        }
        if now > drain_end
            || (now > window_end && conns.iter().all(|c| c.dead || c.received == c.sent))
        {
            break;
        }
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    Ok(())
                } else {
                    Err(e.to_string())
                }
            })?;
        for event in events.iter() {
            let Some(c) = conns.get_mut(event.token().0) else {
                continue;
            };
            if c.dead {
                continue;
            }
            if event.is_writable() || event.is_error() {
                if let Err(e) = c.link.on_writable() {
                    counts.error(format!("connect or write: {e}"));
                    c.dead = true;
                    continue;
                }
            }
            if !c.link.connected {
                continue;
            }
            'read: loop {
                let n = match c.link.read(&mut buf) {
                    Ok(ReadOutcome::Data(n)) => n,
                    Ok(ReadOutcome::Again) => break,
                    Ok(ReadOutcome::Closed) => {
                        counts.error("the server closed a connection".into());
                        c.dead = true;
                        break;
                    }
                    Err(e) => {
                        counts.error(format!("read: {e}"));
                        c.dead = true;
                        break;
                    }
                };
                let now = clock.now();
                let mut input = buf.get(..n).unwrap_or_default();
                while !input.is_empty() {
                    let Some(session) = c.session.as_mut() else {
                        let mut ignored = Vec::new();
                        let (used, event) = match c.responses.read(input, &mut ignored) {
                            Ok(p) => p,
                            Err(e) => {
                                counts.error(e.to_string());
                                c.dead = true;
                                break 'read;
                            }
                        };
                        input = input.get(used..).unwrap_or_default();
                        if let Some(ResponseEvent::Head(head)) = event {
                            if let Err(e) = check_upgrade(&head, &c.responses, &c.key) {
                                counts.error(e);
                                c.dead = true;
                                break 'read;
                            }
                            c.session = Some(Session::new(Role::Client, clock.instant(now)));
                            upgraded += 1;
                        }
                        continue;
                    };
                    // RFC 6455 5.3: a fresh key for whatever the session writes.
                    let (used, event) = session.handle_input(
                        input,
                        clock.instant(now),
                        &ws::Limits::client(MAX_MESSAGE),
                        &mut c.link.out,
                        Some(rng.mask()),
                    );
                    input = input.get(used..).unwrap_or_default();
                    let data = match event {
                        Some(SessionEvent::Text(text)) => text.into_bytes(),
                        Some(SessionEvent::Binary(data)) => data,
                        Some(SessionEvent::Closed { code, .. }) => {
                            counts.error(format!("server closed a WebSocket ({code:?})"));
                            c.dead = true;
                            break 'read;
                        }
                        Some(SessionEvent::Failed(e)) => {
                            counts.error(format!("WebSocket: {e}"));
                            c.dead = true;
                            break 'read;
                        }
                        None => continue,
                    };
                    match read_stamp(&data) {
                        Some((seq, sent_at)) if seq == c.received && data.len() == size => {
                            c.received += 1;
                            if (window_start..window_end).contains(&now) {
                                counts.in_window += 1;
                                hist.record(now.saturating_sub(sent_at));
                            }
                            if now < window_end {
                                c.send(now);
                            }
                        }
                        _ => {
                            counts.error(format!("a wrong echo: expected message {}", c.received));
                            c.dead = true;
                            break 'read;
                        }
                    }
                }
            }
            if !c.dead {
                if let Err(e) = c.link.flush() {
                    counts.error(format!("write: {e}"));
                    c.dead = true;
                }
            }
        }
    }

    let cpu = super::stat_cpu_seconds("/proc/thread-self/stat") - measured_from.0;
    let wall = clock.now().saturating_sub(measured_from.1) as f64 / 1e9;
    Ok(Share {
        hist,
        counts,
        cpu,
        wall,
    })
}

/// The JSON line and the human line for what all the threads measured.
fn report(
    plan: &EchoPlan,
    threads: usize,
    hist: &Histogram,
    counts: &Counts,
    cpu_share: f64,
) -> Result<(String, String, bool), String> {
    let size = plan.size.max(STAMP_LEN);
    let secs = plan.seconds.as_secs_f64();
    let rate = counts.in_window as f64 / secs;
    let mbps = rate * size as f64 / 1e6;
    let (p50, p99) = (hist.quantile(0.5), hist.quantile(0.99));
    let cpu = super::cpu_seconds();
    let json = JsonLine::new()
        .str("scenario", "echo")
        .str("target", &plan.target.host)
        .int("connections", plan.connections as u64)
        .int("size", size as u64)
        .int("depth", plan.depth as u64)
        .str("opcode", if plan.binary { "binary" } else { "text" })
        .num("seconds", secs)
        .int("echoed", counts.in_window)
        .num("msgs_per_s", rate)
        .num("mb_per_s", mbps)
        .num("rtt_p50_us", micros(p50))
        .num("rtt_p99_us", micros(p99))
        .int("errors", counts.errors)
        .num("client_cpu_s", cpu)
        .int("threads", threads as u64)
        .num("client_cpu_share", cpu_share)
        .finish();
    let mut human = format!(
        "echo {} x{} {} B depth {}: {rate:.0} msg/s, {mbps:.1} MB/s, rtt p50 {:.0} us p99 {:.0} us",
        plan.target.host,
        plan.connections,
        size,
        plan.depth,
        micros(p50),
        micros(p99)
    );
    human.push_str(&format!(
        "; bench CPU {:.0}% of {threads} thread(s)",
        cpu_share * 100.0
    ));
    if cpu_share > 0.9 {
        human.push_str(": the bench may be the limit, try more --threads");
    }
    if let Some(e) = &counts.first_error {
        human.push_str(&format!("; {} errors, first: {e}", counts.errors));
    }
    Ok((json, human, counts.errors == 0))
}
