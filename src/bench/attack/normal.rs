//! The normal client: what an ordinary user of the server experiences
//! while someone attacks it, measured continuously at a fixed rate on its
//! own thread (so the attacker's work in the same process never delays
//! its reads).
//!
//! Five measurements, each `--probe-rate` times a second:
//!
//! | metric | what is timed |
//! |---|---|
//! | `poll` | `GET /poll/{ch}-poll?since=0` on a keep-alive connection, to the end of the answer |
//! | `connect` | a new TCP connection, then the same poll with `Connection: close`: connect to answer |
//! | `publish` | `POST /pub/{ch}` of a stamped message on a keep-alive connection, to its `202` |
//! | `sse` | that message, from the publish to its arrival on an `/sse/{ch}` stream |
//! | `ws` | the same on a `/ws/{ch}` WebSocket |
//!
//! Each measurement has at most one request in flight. Its requests are
//! *scheduled* every `1 / rate` seconds, and a request that had to wait
//! for the previous answer is timed from its schedule, not from when the
//! answer let it go: a server that stalls for a second shows a second of
//! latency on every request that was due in that second, not on one (see
//! [`Schedule`]). The published message's stamp carries the same start
//! time, so delivery latency runs from when the publish was meant to
//! happen.
//!
//! A request that waited for nothing but the loop to wake up is timed
//! from when it went out, and how late the loop woke is kept apart
//! ([`NormalReport::lateness`]): if the bench's own core were saturated,
//! it would show there rather than be blamed on the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll, Token};

use super::super::link::{Link, ReadOutcome};
use super::super::net::Sources;
use super::super::pipeline::{write_get, write_post, Pipeline, Reply};
use super::super::stamp::{payload, Clock};
use super::super::subscriber::{Format, Next, Rng, Subscriber, Tally, Transport};
use super::super::target::Template;

/// One of the normal client's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Poll,
    Connect,
    Publish,
    Sse,
    Ws,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::Poll,
        Metric::Connect,
        Metric::Publish,
        Metric::Sse,
        Metric::Ws,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Poll => "poll",
            Metric::Connect => "connect",
            Metric::Publish => "publish",
            Metric::Sse => "sse",
            Metric::Ws => "ws",
        }
    }

    /// A label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Poll => "keep-alive poll",
            Metric::Connect => "new connection + poll",
            Metric::Publish => "publish (POST to 202)",
            Metric::Sse => "SSE delivery",
            Metric::Ws => "WebSocket delivery",
        }
    }
}

/// How one sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered (or delivered) as expected, at this time.
    Answered(u64),
    /// Answered with an error (an unexpected status, the connection ended
    /// first, the connect failed), at this time.
    Failed(u64),
    /// No answer (or delivery) by the end of the run.
    Unanswered,
}

/// One timed request or delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub metric: Metric,
    /// When it was scheduled: the time it is measured from, and what
    /// places it in a phase.
    pub started: u64,
    pub outcome: Outcome,
}

/// A fixed-rate schedule for a measurement with at most one request in
/// flight.
///
/// Request `n` is due at `first + n * period`. When the previous answer
/// comes late, the requests that fell due meanwhile go out one after the
/// other as answers come back, each timed from its own due time, so that
/// a stall is counted once per request that waited for it. A request that
/// waited for nothing but the loop to wake up is timed from when it went
/// out: the loop's own lateness (`epoll` sleeps in whole milliseconds) is
/// reported apart, not charged to the server.
#[derive(Debug, Clone)]
pub struct Schedule {
    period: u64,
    next_due: u64,
    in_flight: Option<u64>,
    /// Since when nothing has been in flight.
    idle_since: u64,
}

impl Schedule {
    pub fn new(first_due: u64, period: u64) -> Schedule {
        Schedule {
            period: period.max(1),
            next_due: first_due,
            in_flight: None,
            idle_since: 0,
        }
    }

    /// Whether a request should go out now.
    pub fn due(&self, now: u64) -> bool {
        self.in_flight.is_none() && now >= self.next_due
    }

    /// Starts the next request at `now`: returns the time it is measured
    /// from and, when it was waiting only for the loop, how late the loop
    /// woke.
    pub fn start(&mut self, now: u64) -> (u64, Option<u64>) {
        let due = self.next_due;
        self.next_due = due.saturating_add(self.period);
        if self.idle_since <= due {
            self.in_flight = Some(now);
            (now, Some(now.saturating_sub(due)))
        } else {
            self.in_flight = Some(due);
            (due, None)
        }
    }

    /// The request in flight was answered (or given up) at `now`; returns
    /// its due time.
    pub fn finish(&mut self, now: u64) -> Option<u64> {
        self.idle_since = now;
        self.in_flight.take()
    }

    pub fn in_flight(&self) -> Option<u64> {
        self.in_flight
    }

    /// The due times before `until` of requests that have not gone out.
    pub fn unsent(&self, until: u64) -> impl Iterator<Item = u64> {
        let period = self.period;
        let first = self.next_due;
        (0..until.saturating_sub(first).div_ceil(period)).map(move |n| first + n * period)
    }

    /// When the loop must wake for this schedule: the next due time, if
    /// nothing is in flight.
    pub fn wake_at(&self) -> Option<u64> {
        self.in_flight.is_none().then_some(self.next_due)
    }
}

/// Where the normal client goes and how often.
#[derive(Debug, Clone)]
pub struct NormalPlan {
    pub addr: SocketAddr,
    pub host: String,
    /// The channel it publishes to and subscribes to.
    pub channel: String,
    /// The channel it polls: one small message, published at the start.
    pub poll_channel: String,
    /// Requests per second, for each measurement.
    pub rate: f64,
    /// Bytes per published message.
    pub size: usize,
    /// The most messages it may publish (sizes the delivery records).
    pub capacity: u64,
}

/// What the normal client measured.
#[derive(Debug, Clone, Default)]
pub struct NormalReport {
    pub samples: Vec<Sample>,
    /// (due time, how late the loop woke for it) for each request that
    /// was waiting for nothing but its time.
    pub lateness: Vec<(u64, u64)>,
    /// The first failure of each metric, in words.
    pub first_failures: Vec<(Metric, String)>,
}

/// Sent once the normal client is connected and subscribed.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    /// The thread's id, to read its CPU time from `/proc/self/task/TID/stat`.
    pub tid: Option<u32>,
}

const POLL: Token = Token(0);
const PUBLISH: Token = Token(1);
const SSE: Token = Token(2);
const WS: Token = Token(3);
/// A fresh token per new-connection probe, from here up, so that an event
/// for a closed probe's socket never reaches the next one.
const CONNECT_BASE: usize = 16;
/// How long to wait for answers and deliveries still due once told to
/// stop.
const GRACE: u64 = 1_000_000_000;
const WARM_UP: u64 = 10_000_000_000;

/// A subscriber stream (SSE or WebSocket) and the arrival time of each
/// message sequence number on it.
struct Stream {
    transport: Transport,
    token: Token,
    target: Template,
    link: Option<Link>,
    sub: Subscriber,
    tally: Tally,
    arrivals: Vec<Option<u64>>,
    delivered: u64,
}

/// This thread's id, from `/proc/thread-self` (a link to `PID/task/TID`).
fn thread_id() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

pub struct NormalClient {
    plan: NormalPlan,
    clock: Clock,
    poll: Poll,
    sources: Sources,
    rng: Rng,
    buf: Vec<u8>,
    poll_conn: Pipeline,
    poll_request: Vec<u8>,
    connect_request: Vec<u8>,
    pub_conn: Pipeline,
    pub_path: String,
    connect_conn: Option<(Token, Pipeline)>,
    connect_count: usize,
    schedules: [Schedule; 3],
    streams: [Stream; 2],
    /// Per sequence number: (scheduled time, publish answered 2xx).
    published: Vec<(u64, Option<bool>)>,
    report: NormalReport,
}

impl NormalClient {
    /// Connects and subscribes; `run` then measures.
    pub fn connect(plan: NormalPlan, clock: Clock) -> Result<NormalClient, String> {
        let poll = Poll::new().map_err(|e| e.to_string())?;
        let mut sources = Sources::new(None, 0);
        let registry = poll.registry();
        let open = |token, sources: &mut Sources| {
            Pipeline::connect(registry, token, plan.addr, sources).map_err(|e| e.to_string())
        };
        let poll_conn = open(POLL, &mut sources)?;
        let pub_conn = open(PUBLISH, &mut sources)?;
        let mut poll_request = Vec::new();
        let poll_path = format!("/poll/{}?since=0", plan.poll_channel);
        write_get(&mut poll_request, &plan.host, &poll_path, false);
        let mut connect_request = Vec::new();
        write_get(&mut connect_request, &plan.host, &poll_path, true);
        let stream = |transport: Transport, token| -> Result<Stream, String> {
            let url = format!("http://{}/{}/{{channel}}", plan.host, transport.name());
            Ok(Stream {
                transport,
                token,
                target: Template::parse(&url)?,
                link: None,
                sub: Subscriber::new(transport, plan.capacity, clock),
                tally: Tally::recording(),
                arrivals: Vec::new(),
                delivered: 0,
            })
        };
        let streams = [stream(Transport::Sse, SSE)?, stream(Transport::Ws, WS)?];
        let period = (1e9 / plan.rate.max(0.001)) as u64;
        let mut client = NormalClient {
            pub_path: format!("/pub/{}", plan.channel),
            clock,
            poll,
            sources,
            rng: Rng::new(0x5851_f42d_4c95_7f2d ^ u64::from(std::process::id())),
            buf: vec![0; 64 * 1024],
            poll_conn,
            poll_request,
            connect_request,
            pub_conn,
            connect_conn: None,
            connect_count: 0,
            schedules: std::array::from_fn(|_| Schedule::new(u64::MAX, period)),
            streams,
            published: Vec::new(),
            report: NormalReport::default(),
            plan,
        };
        for i in 0..client.streams.len() {
            client.subscribe(i)?;
        }
        client.warm_up()?;
        Ok(client)
    }

    fn subscribe(&mut self, i: usize) -> Result<(), String> {
        let Some(stream) = self.streams.get_mut(i) else {
            return Ok(());
        };
        if let Some(mut old) = stream.link.take() {
            old.deregister(self.poll.registry());
        }
        let socket = self
            .sources
            .connect(self.plan.addr)
            .map_err(|e| e.to_string())?;
        let mut link = Link::new(self.poll.registry(), socket, stream.token, None)
            .map_err(|e| e.to_string())?;
        stream.sub = Subscriber::new(stream.transport, self.plan.capacity, self.clock);
        stream.sub.write_request(
            &mut link.out,
            &stream.target,
            &self.plan.channel,
            &mut self.rng,
        );
        stream.link = Some(link);
        Ok(())
    }

    /// Publishes the poll channel's message and waits until both streams
    /// are subscribed.
    fn warm_up(&mut self) -> Result<(), String> {
        let now = self.clock.now();
        let mut request = Vec::new();
        let path = format!("/pub/{}", self.plan.poll_channel);
        write_post(&mut request, &self.plan.host, &path, b"a message to poll");
        self.pub_conn.send(&request, now, now);
        let deadline = now + WARM_UP;
        let mut published = false;
        loop {
            let subscribed = self.streams.iter().all(|s| s.sub.ready);
            if published && subscribed {
                return Ok(());
            }
            if self.clock.now() > deadline {
                return Err(format!(
                    "the normal client did not get going within {} s (published: {published}, subscribed: {subscribed})",
                    WARM_UP / 1_000_000_000
                ));
            }
            self.turn(Duration::from_millis(5))?;
            for reply in self.pub_conn.take_replies() {
                match reply.status {
                    Some(s) if (200..300).contains(&s) => published = true,
                    other => {
                        return Err(format!(
                            "the normal client's first publish was answered {other:?}: {}",
                            String::from_utf8_lossy(&reply.body).trim()
                        ))
                    }
                }
            }
        }
    }

    /// Measures until `stop` is set, then waits up to a second for what is
    /// still due and returns every sample.
    pub fn run(mut self, ready: Sender<Ready>, stop: Arc<AtomicBool>) -> NormalReport {
        let now = self.clock.now();
        let period = self.schedules.first().map_or(1, |s| s.period);
        for (i, schedule) in self.schedules.iter_mut().enumerate() {
            // Spread the three request kinds over one period.
            *schedule = Schedule::new(now + period * i as u64 / 3, period);
        }
        let _ = ready.send(Ready { tid: thread_id() });
        let mut stop_at: Option<u64> = None;
        loop {
            let now = self.clock.now();
            if stop_at.is_none() && stop.load(Ordering::Relaxed) {
                stop_at = Some(now);
            }
            match stop_at {
                None => self.start_due(now),
                Some(at) if now > at + GRACE || self.settled() => break,
                Some(_) => {}
            }
            let wake = self
                .schedules
                .iter()
                .filter_map(Schedule::wake_at)
                .min()
                .unwrap_or(u64::MAX);
            let timeout = Duration::from_nanos(wake.saturating_sub(now).min(5_000_000));
            if let Err(e) = self.turn(timeout).and_then(|()| self.collect()) {
                self.failure(Metric::Poll, e);
                break;
            }
        }
        let stopped = stop_at.unwrap_or_else(|| self.clock.now());
        self.finish(stopped)
    }

    /// Nothing is in flight and every publish answered 2xx has arrived on
    /// both streams.
    fn settled(&self) -> bool {
        let expected = self
            .published
            .iter()
            .filter(|(_, ok)| *ok == Some(true))
            .count() as u64;
        self.schedules.iter().all(|s| s.in_flight().is_none())
            && self.streams.iter().all(|s| s.delivered >= expected)
    }

    fn start_due(&mut self, now: u64) {
        let metrics = [Metric::Poll, Metric::Connect, Metric::Publish];
        for (i, metric) in metrics.into_iter().enumerate() {
            let Some(schedule) = self.schedules.get_mut(i) else {
                continue;
            };
            if !schedule.due(now) {
                continue;
            }
            if metric == Metric::Publish && self.published.len() as u64 >= self.plan.capacity {
                continue;
            }
            let (due, late) = schedule.start(now);
            if let Some(late) = late {
                self.report.lateness.push((due, late));
            }
            match metric {
                Metric::Poll => self.poll_conn.send(&self.poll_request, due, now),
                Metric::Connect => self.start_connect(due, now),
                _ => self.publish(due, now),
            }
        }
    }

    fn start_connect(&mut self, due: u64, now: u64) {
        self.connect_count = self.connect_count.wrapping_add(1);
        let token = Token(CONNECT_BASE + self.connect_count % (1 << 30));
        match Pipeline::connect(
            self.poll.registry(),
            token,
            self.plan.addr,
            &mut self.sources,
        ) {
            Ok(mut conn) => {
                conn.send(&self.connect_request, due, now);
                self.connect_conn = Some((token, conn));
            }
            Err(e) => {
                self.record(Metric::Connect, due, Outcome::Failed(now));
                self.failure(Metric::Connect, format!("connect: {e}"));
                if let Some(s) = self.schedules.get_mut(1) {
                    s.finish(now);
                }
            }
        }
    }

    fn publish(&mut self, due: u64, now: u64) {
        let seq = self.published.len() as u64;
        let body = payload(seq, due, self.plan.size);
        let mut request = Vec::with_capacity(body.len() + 128);
        write_post(&mut request, &self.plan.host, &self.pub_path, &body);
        self.published.push((due, None));
        self.pub_conn.send(&request, due, now);
    }

    fn record(&mut self, metric: Metric, started: u64, outcome: Outcome) {
        self.report.samples.push(Sample {
            metric,
            started,
            outcome,
        });
    }

    fn failure(&mut self, metric: Metric, why: String) {
        if !self.report.first_failures.iter().any(|(m, _)| *m == metric) {
            self.report.first_failures.push((metric, why));
        }
    }

    /// Waits up to `timeout` for events and handles them.
    fn turn(&mut self, timeout: Duration) -> Result<(), String> {
        let mut events = Events::with_capacity(64);
        match self.poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("poll: {e}")),
        }
        let now = self.clock.now();
        for event in events.iter() {
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_error();
            match event.token() {
                POLL => self
                    .poll_conn
                    .on_event(readable, writable, now, &mut self.buf),
                PUBLISH => self
                    .pub_conn
                    .on_event(readable, writable, now, &mut self.buf),
                SSE => self.on_stream_event(0, readable, writable),
                WS => self.on_stream_event(1, readable, writable),
                token => {
                    if let Some((t, conn)) = self.connect_conn.as_mut() {
                        if *t == token {
                            conn.on_event(readable, writable, now, &mut self.buf);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Turns the replies of the three request connections into samples,
    /// and reopens a keep-alive connection the server ended.
    fn collect(&mut self) -> Result<(), String> {
        let replies: Vec<Reply> = self.poll_conn.take_replies().collect();
        for reply in replies {
            self.on_reply(Metric::Poll, reply, 200);
        }
        let replies: Vec<Reply> = self.pub_conn.take_replies().collect();
        for reply in replies {
            if let Some(entry) = self
                .published
                .iter_mut()
                .rev()
                .find(|(d, _)| *d == reply.started)
            {
                entry.1 = Some(reply.status.is_some_and(|s| (200..300).contains(&s)));
            }
            self.on_reply(Metric::Publish, reply, 202);
        }
        if let Some((_, conn)) = self.connect_conn.as_mut() {
            let replies: Vec<Reply> = conn.take_replies().collect();
            let done = !replies.is_empty();
            for reply in replies {
                self.on_reply(Metric::Connect, reply, 200);
            }
            if done {
                if let Some((_, mut conn)) = self.connect_conn.take() {
                    conn.deregister(self.poll.registry());
                }
            }
        }
        let registry = self.poll.registry();
        for (conn, token) in [(&mut self.poll_conn, POLL), (&mut self.pub_conn, PUBLISH)] {
            if conn.closed() {
                conn.deregister(registry);
                *conn = Pipeline::connect(registry, token, self.plan.addr, &mut self.sources)
                    .map_err(|e| format!("reconnect: {e}"))?;
            }
        }
        Ok(())
    }

    fn on_reply(&mut self, metric: Metric, reply: Reply, expected: u16) {
        let index = match metric {
            Metric::Poll => 0,
            Metric::Connect => 1,
            _ => 2,
        };
        if let Some(s) = self.schedules.get_mut(index) {
            s.finish(reply.at);
        }
        let outcome = match reply.status {
            Some(status) if status == expected => Outcome::Answered(reply.at),
            Some(status) => {
                self.failure(
                    metric,
                    format!(
                        "answered {status}: {}",
                        String::from_utf8_lossy(reply.body.get(..200).unwrap_or(&reply.body))
                            .trim()
                    ),
                );
                Outcome::Failed(reply.at)
            }
            None => {
                let why = match metric {
                    Metric::Poll => self.poll_conn.error.clone(),
                    Metric::Publish => self.pub_conn.error.clone(),
                    _ => self
                        .connect_conn
                        .as_ref()
                        .and_then(|(_, c)| c.error.clone()),
                };
                self.failure(
                    metric,
                    why.unwrap_or_else(|| "the server closed the connection".into()),
                );
                Outcome::Failed(reply.at)
            }
        };
        self.record(metric, reply.started, outcome);
    }

    fn on_stream_event(&mut self, i: usize, readable: bool, writable: bool) {
        let metric = if i == 0 { Metric::Sse } else { Metric::Ws };
        let Some(stream) = self.streams.get_mut(i) else {
            return;
        };
        let Some(link) = stream.link.as_mut() else {
            return;
        };
        let mut ended: Option<String> = None;
        if writable {
            if let Err(e) = link.on_writable() {
                ended = Some(format!("connect or write: {e}"));
            }
        }
        if ended.is_none() && readable && link.connected {
            loop {
                match link.read(&mut self.buf) {
                    Ok(ReadOutcome::Data(n)) => {
                        let now = self.clock.now();
                        let next = stream.sub.on_bytes(
                            self.buf.get(..n).unwrap_or_default(),
                            &mut link.out,
                            now,
                            Format::Auto,
                            &mut self.rng,
                            &mut stream.tally,
                        );
                        if next == Next::Fail {
                            ended = stream.tally.first_error.take();
                            break;
                        }
                    }
                    Ok(ReadOutcome::Again) => break,
                    Ok(ReadOutcome::Closed) => {
                        ended = Some("the server ended the stream".into());
                        break;
                    }
                    Err(e) => {
                        ended = Some(format!("read: {e}"));
                        break;
                    }
                }
            }
            if ended.is_none() {
                if let Err(e) = link.flush() {
                    ended = Some(format!("write: {e}"));
                }
            }
        }
        if let Some(arrivals) = stream.tally.arrivals.as_mut() {
            for (seq, at) in arrivals.drain(..) {
                let Ok(index) = usize::try_from(seq) else {
                    continue;
                };
                if stream.arrivals.len() <= index {
                    stream.arrivals.resize(index + 1, None);
                }
                if let Some(slot) = stream.arrivals.get_mut(index) {
                    if slot.is_none() {
                        *slot = Some(at);
                        stream.delivered += 1;
                    }
                }
            }
        }
        if let Some(why) = ended {
            self.failure(metric, why);
            if let Err(e) = self.subscribe(i) {
                self.failure(metric, format!("resubscribe: {e}"));
            }
        }
    }

    /// Every request still in flight is unanswered, and so is every one
    /// that fell due behind it before `stopped` and could not go out (a
    /// publish that could not go out counts as undelivered too); every
    /// message published becomes one delivery sample per stream.
    fn finish(mut self, stopped: u64) -> NormalReport {
        let metrics = [Metric::Poll, Metric::Connect, Metric::Publish];
        for (metric, schedule) in metrics.into_iter().zip(self.schedules.clone()) {
            let Some(due) = schedule.in_flight() else {
                // Idle: at most the request due as the stop came, not
                // started, and not the server's doing.
                continue;
            };
            self.record(metric, due, Outcome::Unanswered);
            for due in schedule.unsent(stopped) {
                self.record(metric, due, Outcome::Unanswered);
                if metric == Metric::Publish {
                    self.record(Metric::Sse, due, Outcome::Unanswered);
                    self.record(Metric::Ws, due, Outcome::Unanswered);
                }
            }
        }
        let published = std::mem::take(&mut self.published);
        for (seq, &(due, ok)) in published.iter().enumerate() {
            for (metric, stream) in [Metric::Sse, Metric::Ws].into_iter().zip(&self.streams) {
                let arrival = stream.arrivals.get(seq).copied().flatten();
                let outcome = match (arrival, ok) {
                    (Some(at), _) => Outcome::Answered(at),
                    // Refused, or the connection ended before the answer:
                    // no delivery was promised.
                    (None, Some(false)) => continue,
                    (None, _) => Outcome::Unanswered,
                };
                self.report.samples.push(Sample {
                    metric,
                    started: due,
                    outcome,
                });
            }
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_times_each_request_from_when_it_was_due() {
        let mut s = Schedule::new(100, 10);
        assert!(!s.due(99));
        assert!(s.due(100));
        // The loop woke 3 late for a schedule idle since 0: measured from
        // when it went out, the lateness kept apart.
        assert_eq!(s.start(103), (103, Some(3)));
        assert!(!s.due(200), "one request in flight at most");
        // A stall: the answer comes at 150; requests due at 110..150
        // go out back to back, each measured from its own due time.
        assert_eq!(s.finish(150), Some(103));
        for due in [110, 120, 130, 140, 150] {
            assert!(s.due(151));
            let (started, late) = s.start(151);
            assert_eq!(started, due);
            assert_eq!(
                late, None,
                "waiting for the server is not the loop's lateness"
            );
            assert_eq!(s.finish(152), Some(due));
        }
        assert!(!s.due(152));
        assert_eq!(s.wake_at(), Some(160));
        // Idle before its due time again: lateness counts.
        assert_eq!(s.start(161), (161, Some(1)));
        assert_eq!(s.wake_at(), None);
        // Never answered: what fell due before the end never went out.
        assert_eq!(s.unsent(200).collect::<Vec<_>>(), [170, 180, 190]);
        assert_eq!(s.unsent(201).collect::<Vec<_>>(), [170, 180, 190, 200]);
        assert_eq!(s.unsent(150).count(), 0);
    }
}
