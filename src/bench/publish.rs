//! `pushwire bench publish`: publish throughput and latency, the way
//! `redis-benchmark` measures a command.
//!
//! C keep-alive connections each `POST /pub/{channel}` a B-byte body, wait
//! for the answer, and send the next: one publish in flight per connection
//! (a closed loop, like `redis-benchmark -P 1`), so the rate is what the
//! server acknowledges, not a load chosen in advance. pushwire answers
//! `202 Accepted` once the message is committed, which with `--data-dir`
//! means logged under the `--fsync` policy; every other answer is an
//! error, and any error fails the run.
//!
//! The run: every connection sends its first publish at once; answers
//! during `--warmup` are not counted; the window of `--seconds` counts the
//! answers that arrive in it, and their latency. After the window no
//! publish is sent; the ones in flight get up to [`DRAIN`] to be answered,
//! and one that never is counts as an error.
//!
//! Latency runs from the clock read just before the request's `write` to
//! the return of the `epoll_wait` that saw its answer; `redis-benchmark`
//! times nearly the same span (from before the write to when it handles
//! the answer). The bench's own work between an answer and the next
//! request is not in it: with one request in flight per connection,
//! C / throughput is the mean time around the whole loop, that work
//! included.

use std::ops::Range;
use std::time::Duration;

use mio::{Events, Poll, Token};

use super::net::Sources;
use super::pipeline::{write_post, Pipeline, Reply};
use super::stamp::Clock;
use super::stats::{Histogram, JsonLine};
use super::target::Template;

/// How long publishes still in flight at the end of the window may take.
pub const DRAIN: Duration = Duration::from_secs(10);

/// The answer of a committed publish.
const ACCEPTED: u16 = 202;

/// What to run: see the module docs.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    /// The publish URL template (`{channel}` filled in).
    pub target: Template,
    pub channel: String,
    pub connections: usize,
    /// Bytes of each message's body.
    pub size: usize,
    /// The measured window.
    pub seconds: Duration,
    /// Answers before the window, not counted.
    pub warmup: Duration,
    pub sources: Option<usize>,
}

/// The answers, counted against the measured window by the time each
/// arrived (nanoseconds on the bench clock).
#[derive(Debug, Clone)]
pub struct Tally {
    window: Range<u64>,
    /// `202` answers that arrived in the window.
    pub acknowledged: u64,
    /// Request written to answer read, for the answers in the window.
    pub latency: Histogram,
    /// Wrong answers and publishes the connection ended before answering,
    /// at any time of the run.
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Tally {
    /// An empty tally for answers arriving in `window`.
    pub fn new(window: Range<u64>) -> Tally {
        Tally {
            window,
            acknowledged: 0,
            latency: Histogram::new(),
            errors: 0,
            first_error: None,
        }
    }

    /// Counts one publish's outcome; `closed_because` says why its
    /// connection ended, for a reply without a status.
    pub fn record(&mut self, reply: &Reply, closed_because: Option<&str>) {
        match reply.status {
            Some(ACCEPTED) => {
                if self.window.contains(&reply.at) {
                    self.acknowledged += 1;
                    self.latency.record(reply.at.saturating_sub(reply.started));
                }
            }
            Some(status) => {
                let body = reply.body.get(..200).unwrap_or(&reply.body);
                self.error(format!(
                    "publish answered {status}: {}",
                    String::from_utf8_lossy(body).trim()
                ));
            }
            None => self.error(format!(
                "a publish was not answered: {}",
                closed_because.unwrap_or("the server closed the connection")
            )),
        }
    }

    /// Counts one error; the first one's reason is kept.
    pub fn error(&mut self, why: String) {
        self.errors += 1;
        self.first_error.get_or_insert(why);
    }

    /// Counts the publishes still in flight when the run ended.
    pub fn unanswered(&mut self, count: u64) {
        if count > 0 {
            self.errors += count;
            self.first_error.get_or_insert_with(|| {
                format!("{count} publishes still unanswered {DRAIN:?} after the window")
            });
        }
    }

    /// Acknowledged publishes per second of the window.
    pub fn rate(&self) -> f64 {
        let secs = self.window.end.saturating_sub(self.window.start) as f64 / 1e9;
        if secs > 0.0 {
            self.acknowledged as f64 / secs
        } else {
            0.0
        }
    }
}

/// One publishing connection: open, or ended on an error (not reopened:
/// a server that refuses or resets would otherwise be hammered).
struct Publisher {
    conn: Pipeline,
    dead: bool,
}

fn millis(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

/// Runs the scenario; returns the JSON line, the human line and whether
/// every publish was answered `202`.
pub fn run(plan: PublishPlan) -> Result<(String, String, bool), String> {
    super::net::ensure_fd_limit(plan.connections + 16)?;
    let clock = Clock::new();
    let addr = plan.target.addr;
    let mut sources = Sources::for_connections(addr, plan.connections, plan.sources);
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut request = Vec::with_capacity(plan.size + 256);
    let path = plan.target.path(&plan.channel, "pub", 0);
    write_post(
        &mut request,
        &plan.target.host,
        &path,
        &vec![b'x'; plan.size],
    );

    let start = clock.now();
    let window_start = start.saturating_add(plan.warmup.as_nanos() as u64);
    let window_end = window_start.saturating_add(plan.seconds.as_nanos() as u64);
    let drain_end = window_end.saturating_add(DRAIN.as_nanos() as u64);
    let mut tally = Tally::new(window_start..window_end);
    let mut publishers = Vec::with_capacity(plan.connections);
    for i in 0..plan.connections {
        let mut conn = Pipeline::connect(poll.registry(), Token(i), addr, &mut sources)
            .map_err(|e| format!("connect: {e}"))?;
        conn.send(&request, start, start);
        publishers.push(Publisher { conn, dead: false });
    }
    eprintln!(
        "bench: {} connections publishing {} B to {} for {:?} after {:?} of warm-up",
        plan.connections, plan.size, plan.channel, plan.seconds, plan.warmup
    );

    let mut touched = Vec::with_capacity(plan.connections);
    loop {
        let now = clock.now();
        let busy = publishers.iter().any(|p| !p.dead && p.conn.in_flight() > 0);
        if now >= drain_end || (now >= window_end && !busy) {
            break;
        }
        match poll.poll(&mut events, Some(Duration::from_millis(5))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let now = clock.now();
        touched.clear();
        for event in events.iter() {
            let Some(p) = publishers.get_mut(event.token().0) else {
                continue;
            };
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_error();
            p.conn.on_event(readable, writable, now, &mut buf);
            touched.push(event.token().0);
        }
        for &i in &touched {
            let Some(p) = publishers.get_mut(i) else {
                continue;
            };
            if p.dead {
                continue;
            }
            let why = p.conn.error.clone();
            for reply in p.conn.take_replies() {
                tally.record(&reply, why.as_deref());
            }
            if p.conn.closed() {
                p.conn.deregister(poll.registry());
                if why.is_some() {
                    p.dead = true;
                    continue;
                }
                // Keep-alive ended between publishes: open another.
                p.conn = Pipeline::connect(poll.registry(), Token(i), addr, &mut sources)
                    .map_err(|e| format!("connect: {e}"))?;
            }
            if now < window_end && p.conn.in_flight() == 0 {
                // Not `now`: the events before this one in the batch took
                // the bench's time, which is not the server's latency.
                let sent_at = clock.now();
                p.conn.send(&request, sent_at, sent_at);
            }
        }
    }

    let unanswered: usize = publishers
        .iter()
        .filter(|p| !p.dead)
        .map(|p| p.conn.in_flight())
        .sum();
    tally.unanswered(unanswered as u64);
    let dead = publishers.iter().filter(|p| p.dead).count();
    let rate = tally.rate();
    let lat = &tally.latency;
    let (p50, p99, max) = (lat.quantile(0.5), lat.quantile(0.99), lat.max());
    let cpu = super::cpu_seconds();
    let json = JsonLine::new()
        .str("scenario", "publish")
        .str("target", &plan.target.host)
        .str("channel", &plan.channel)
        .int("connections", plan.connections as u64)
        .int("size", plan.size as u64)
        .num("seconds", plan.seconds.as_secs_f64())
        .int("acknowledged", tally.acknowledged)
        .num("msgs_per_s", rate)
        .num("p50_ms", millis(p50))
        .num("p99_ms", millis(p99))
        .num("max_ms", millis(max))
        .int("errors", tally.errors)
        .int("connections_failed", dead as u64)
        .num("client_cpu_s", cpu)
        .finish();
    let mut human = format!(
        "publish {} x{} {} B: {} acknowledged in {:.1} s = {rate:.0} msg/s, \
         latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms; errors {}",
        plan.target.host,
        plan.connections,
        plan.size,
        tally.acknowledged,
        plan.seconds.as_secs_f64(),
        millis(p50),
        millis(p99),
        millis(max),
        tally.errors
    );
    if let Some(e) = &tally.first_error {
        human.push_str(&format!(", first: {e}"));
    }
    Ok((json, human, tally.errors == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: Option<u16>, started: u64, at: u64) -> Reply {
        Reply {
            started,
            status,
            at,
            body: b"{\"error\":\"full\"}\n".to_vec(),
        }
    }

    #[test]
    fn only_answers_arriving_in_the_window_count() {
        let mut t = Tally::new(1_000..2_000);
        for (started, at) in [(900, 999), (950, 1_000), (1_500, 1_999), (1_990, 2_000)] {
            t.record(&reply(Some(202), started, at), None);
        }
        assert_eq!(t.acknowledged, 2);
        assert_eq!(t.latency.max(), 499);
        assert_eq!(t.latency.quantile(0.5), 50);
        assert_eq!(t.errors, 0);
        // Two acknowledged in a window of a microsecond.
        assert!((t.rate() - 2e6).abs() < 1e-6);
    }

    #[test]
    fn any_answer_but_202_is_an_error_even_outside_the_window() {
        let mut t = Tally::new(1_000..2_000);
        t.record(&reply(Some(200), 0, 10), None);
        t.record(&reply(Some(507), 1_100, 1_200), None);
        t.record(&reply(None, 1_300, 1_400), Some("read: connection reset"));
        t.record(&reply(None, 2_300, 2_400), None);
        t.unanswered(0);
        assert_eq!((t.acknowledged, t.errors), (0, 4));
        t.unanswered(3);
        assert_eq!(t.errors, 7);
        assert_eq!(
            t.first_error.as_deref(),
            Some("publish answered 200: {\"error\":\"full\"}")
        );
        let mut t = Tally::new(0..1);
        t.record(&reply(None, 0, 0), Some("read: connection reset"));
        assert_eq!(
            t.first_error.as_deref(),
            Some("a publish was not answered: read: connection reset")
        );
    }

    #[test]
    fn an_empty_window_has_no_rate() {
        let t = Tally::new(5..5);
        assert_eq!(t.rate(), 0.0);
    }
}
