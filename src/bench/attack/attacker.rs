//! The attacks, each as a setup (what must be in place first) and a load
//! (what runs while the attack lasts), on the attacker thread's own
//! `mio::Poll`. See the scenario's module docs for what each sends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll, Token};

use super::super::crowd::FIRST_FREE_TOKEN;
use super::super::net::Sources;
use super::super::pipeline::{write_get, write_post, Pipeline};
use super::super::stamp::Clock;
use super::super::stats::Histogram;
use super::super::subscriber::Rng;
use super::ending::{Endings, Statuses};
use super::fleet::{Behaviour, Fleet, Group, Opening};
use super::frames::{self, FloodFrame};

/// One of the attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    BigBacklogReaders,
    EmptyContinuations,
    EmptyPongs,
    NeverEndingMessage,
    StalledSubscribers,
    FanoutBurst,
}

impl Attack {
    pub const ALL: [Attack; 6] = [
        Attack::BigBacklogReaders,
        Attack::EmptyContinuations,
        Attack::EmptyPongs,
        Attack::NeverEndingMessage,
        Attack::StalledSubscribers,
        Attack::FanoutBurst,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attack::BigBacklogReaders => "big-backlog-readers",
            Attack::EmptyContinuations => "empty-continuations",
            Attack::EmptyPongs => "empty-pongs",
            Attack::NeverEndingMessage => "never-ending-message",
            Attack::StalledSubscribers => "stalled-subscribers",
            Attack::FanoutBurst => "fanout-burst",
        }
    }

    pub fn parse(name: &str) -> Result<Attack, String> {
        Attack::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
                format!("unknown attack '{name}': {}", names.join(", "))
            })
    }

    /// `--attackers` when not given: clients for big-backlog-readers (three
    /// connections each), connections for the others.
    pub fn default_attackers(self) -> usize {
        match self {
            Attack::BigBacklogReaders => 40,
            Attack::EmptyContinuations | Attack::EmptyPongs | Attack::NeverEndingMessage => 20,
            Attack::StalledSubscribers => 400,
            Attack::FanoutBurst => 10_000,
        }
    }

    /// Connections the attack holds at once.
    pub fn connections(self, attackers: usize) -> usize {
        match self {
            Attack::BigBacklogReaders => attackers * 3,
            _ => attackers,
        }
    }
}

/// An attack and its sizes.
#[derive(Debug, Clone)]
pub struct AttackPlan {
    pub attack: Attack,
    pub addr: SocketAddr,
    pub host: String,
    /// The channel the attack uses (never the normal client's).
    pub channel: String,
    pub attackers: usize,
    /// big-backlog-readers: bytes of history to fill, in messages of
    /// `message_bytes`.
    pub backlog_bytes: u64,
    pub message_bytes: usize,
    /// The WebSocket floods and the never-ending message: where they
    /// connect.
    pub ws_path: String,
    /// never-ending-message: one fragment per this.
    pub trickle: Duration,
    /// stalled-subscribers: the publisher's rate and message size.
    pub rate: f64,
    pub size: usize,
    /// fanout-burst: publishes per burst, and a burst every this.
    pub burst: usize,
    pub burst_every: Duration,
    /// Replace the connections the server closes.
    pub reconnect: bool,
    pub setup_timeout: Duration,
    /// stalled-subscribers: read this many of each kind again at the end.
    pub read_again: usize,
    /// `--sources`: how many source addresses the attack's sockets use.
    pub sources: Option<usize>,
    /// Connects in progress at once.
    pub max_connecting: usize,
}

/// What the attacker saw.
#[derive(Debug, Default)]
pub struct AttackerReport {
    pub endings: Endings,
    /// One line each: what the fill, the publisher or the bursts saw.
    pub notes: Vec<String>,
    /// The same as numbers, for the JSON line.
    pub figures: Vec<(&'static str, f64)>,
    /// Why the attack could not run (setup failed).
    pub error: Option<String>,
}

const LOAD: Token = Token(FIRST_FREE_TOKEN);
/// A paced publisher keeps at most this many publishes unanswered.
const PACED_INFLIGHT: usize = 256;
/// How long the stalled streams read again at the end may take, in all.
const READ_AGAIN_BUDGET: Duration = Duration::from_secs(5);

/// What publishes during the attack.
enum Load {
    None,
    /// stalled-subscribers: `rate` publishes a second, pipelined.
    Paced {
        request: Vec<u8>,
        rate: f64,
        first: u64,
        sent: u64,
    },
    /// fanout-burst: `n` pipelined publishes at once, every `every`.
    Burst {
        requests: Vec<u8>,
        n: usize,
        every: u64,
        next: u64,
        /// When the burst in flight was sent.
        sent_at: Option<u64>,
        bursts: u64,
        skipped: u64,
        answered_in: Histogram,
    },
}

struct Attacker {
    plan: AttackPlan,
    clock: Clock,
    poll: Poll,
    events: Events,
    buf: Vec<u8>,
    sources: Sources,
    fleet: Option<Fleet>,
    conn: Option<Pipeline>,
    load: Load,
    statuses: Statuses,
    report: AttackerReport,
}

/// Runs the attack on this thread: the setup, then `during_began` is sent
/// the time the attack proper began, then the load until `stop`, then
/// the teardown.
pub fn run(
    plan: AttackPlan,
    clock: Clock,
    during_began: Sender<u64>,
    stop: Arc<AtomicBool>,
) -> AttackerReport {
    let mut attacker = match Attacker::new(plan, clock) {
        Ok(a) => a,
        Err(e) => {
            return AttackerReport {
                error: Some(e),
                ..AttackerReport::default()
            }
        }
    };
    if let Err(e) = attacker.setup(&stop) {
        attacker.report.error = Some(e);
        attacker.teardown();
        return attacker.report;
    }
    let began = clock.now();
    let _ = during_began.send(began);
    attacker.begin(began);
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = attacker.step(Duration::from_millis(5)) {
            attacker.report.error = Some(e);
            break;
        }
    }
    attacker.teardown();
    attacker.report
}

/// A number field of a flat JSON object (`"history":64`).
pub fn json_number(body: &[u8], field: &str) -> Option<u64> {
    let key = format!("\"{field}\":");
    let at = body.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    let digits: Vec<u8> = body
        .get(at..)?
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    pushwire::decimal::parse_decimal(&digits)
}

impl Attacker {
    fn new(plan: AttackPlan, clock: Clock) -> Result<Attacker, String> {
        let connections = plan.attack.connections(plan.attackers);
        let sources = Sources::for_connections(plan.addr, connections, plan.sources);
        Ok(Attacker {
            poll: Poll::new().map_err(|e| e.to_string())?,
            events: Events::with_capacity(4096),
            buf: vec![0; 64 * 1024],
            sources,
            fleet: None,
            conn: None,
            load: Load::None,
            statuses: Statuses::new(),
            report: AttackerReport::default(),
            plan,
            clock,
        })
    }

    fn ws_groups(&self, behaviour: Behaviour) -> Vec<Group> {
        let path = self.plan.ws_path.replace("{channel}", &self.plan.channel);
        vec![Group {
            name: "ws".into(),
            count: self.plan.attackers,
            opening: Opening::WebSocket(path),
            behaviour,
            read_again: 0,
        }]
    }

    fn fleet(&self, groups: Vec<Group>) -> Fleet {
        Fleet::new(
            groups,
            self.plan.addr,
            &self.plan.host,
            self.sources.clone(),
            self.plan.reconnect,
            self.plan.max_connecting,
            self.clock,
        )
    }

    /// What must be in place before the attack: a filled history, or the
    /// attack's connections open.
    fn setup(&mut self, stop: &AtomicBool) -> Result<(), String> {
        let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
        let plan = &self.plan;
        let channel = &plan.channel;
        let fleet = match plan.attack {
            Attack::BigBacklogReaders => {
                self.fill(stop)?;
                None
            }
            Attack::EmptyContinuations | Attack::EmptyPongs => {
                let kind = if plan.attack == Attack::EmptyPongs {
                    FloodFrame::EmptyPong
                } else {
                    FloodFrame::EmptyContinuation
                };
                let prefix = frames::flood_prefix(kind, &mut rng);
                let block = frames::flood_block(kind, 64 * 1024, &mut rng);
                Some(self.fleet(self.ws_groups(Behaviour::Flood { prefix, block })))
            }
            Attack::NeverEndingMessage => {
                let prefix = frames::opening_fragment(b"x", rng.mask());
                let every = plan.trickle.as_nanos() as u64;
                Some(self.fleet(self.ws_groups(Behaviour::Trickle {
                    prefix,
                    fragment: b"x".to_vec(),
                    every,
                })))
            }
            Attack::StalledSubscribers => {
                let ws = plan.attackers / 2;
                let mut sse_request = Vec::new();
                let path = format!("/sse/{channel}");
                write_get(&mut sse_request, &plan.host, &path, false);
                Some(self.fleet(vec![
                    Group {
                        name: "ws".into(),
                        count: ws,
                        opening: Opening::WebSocket(format!("/ws/{channel}")),
                        behaviour: Behaviour::StallAfterHead,
                        read_again: plan.read_again,
                    },
                    Group {
                        name: "sse".into(),
                        count: plan.attackers - ws,
                        opening: Opening::Http(sse_request),
                        behaviour: Behaviour::StallAfterHead,
                        read_again: plan.read_again,
                    },
                ]))
            }
            Attack::FanoutBurst => {
                let mut sse_request = Vec::new();
                write_get(
                    &mut sse_request,
                    &plan.host,
                    &format!("/sse/{channel}"),
                    false,
                );
                Some(self.fleet(vec![Group {
                    name: "sse".into(),
                    count: plan.attackers,
                    opening: Opening::Http(sse_request),
                    behaviour: Behaviour::Drain,
                    read_again: 0,
                }]))
            }
        };
        self.fleet = fleet;
        let deadline = self.clock.now() + self.plan.setup_timeout.as_nanos() as u64;
        while self.fleet.as_ref().is_some_and(|f| !f.ready()) {
            if stop.load(Ordering::Relaxed) {
                return Err("stopped during setup".into());
            }
            if self.clock.now() > deadline {
                let open = self.fleet.as_ref().map_or(0, Fleet::open_count);
                return Err(format!(
                    "setup: only {open} of {} connections open within {:?}",
                    self.plan.attack.connections(self.plan.attackers),
                    self.plan.setup_timeout
                ));
            }
            self.step(Duration::from_millis(5))?;
        }
        Ok(())
    }

    /// big-backlog-readers' setup: publishes `backlog_bytes` in messages
    /// of `message_bytes`, four in flight, and asks the channel what it
    /// kept.
    fn fill(&mut self, stop: &AtomicBool) -> Result<(), String> {
        let plan = &self.plan;
        let messages = plan
            .backlog_bytes
            .div_ceil(plan.message_bytes.max(1) as u64);
        let mut request = Vec::with_capacity(plan.message_bytes + 256);
        let path = format!("/pub/{}", plan.channel);
        write_post(
            &mut request,
            &plan.host,
            &path,
            &vec![b'x'; plan.message_bytes],
        );
        let mut info = Vec::new();
        write_get(&mut info, &plan.host, &path, false);
        let deadline = self.clock.now() + plan.setup_timeout.as_nanos() as u64;
        let message_bytes = plan.message_bytes;
        let mut sent = 0u64;
        let mut fill = Statuses::new();
        let mut asked = false;
        let mut kept: Option<(u64, u64)> = None;
        let started = self.clock.now();
        while kept.is_none() {
            if stop.load(Ordering::Relaxed) || self.clock.now() > deadline {
                return Err(format!(
                    "setup: the fill did not finish ({sent} of {messages} sent: {fill})"
                ));
            }
            let now = self.clock.now();
            let conn = self.connection()?;
            while sent < messages && conn.in_flight() < 4 {
                conn.send(&request, now, now);
                sent += 1;
            }
            if sent == messages && conn.in_flight() == 0 && !asked {
                conn.send(&info, now, now);
                asked = true;
            }
            self.step(Duration::from_millis(5))?;
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            for reply in conn.take_replies() {
                let answered = fill.total() < messages;
                if answered {
                    fill.record(reply.status);
                } else if reply.status == Some(200) {
                    let body = &reply.body;
                    kept = Some((
                        json_number(body, "history").unwrap_or(0),
                        json_number(body, "last_id").unwrap_or(0),
                    ));
                } else {
                    kept = Some((0, 0));
                }
            }
        }
        let (history, last_id) = kept.unwrap_or_default();
        let secs = (self.clock.now() - started) as f64 / 1e9;
        self.report.notes.push(format!(
            "fill: {messages} publishes of {message_bytes} B in {secs:.2} s: {fill}; \
             the channel's history holds {history} messages (last id {last_id})"
        ));
        self.report.figures.extend([
            ("fill_accepted", fill.accepted() as f64),
            ("history", history as f64),
        ]);
        Ok(())
    }

    /// The keep-alive connection publishes go on, reopened if the server
    /// ended it.
    fn connection(&mut self) -> Result<&mut Pipeline, String> {
        if self.conn.as_ref().is_none_or(Pipeline::closed) {
            if let Some(mut old) = self.conn.take() {
                old.deregister(self.poll.registry());
            }
            let conn = Pipeline::connect(
                self.poll.registry(),
                LOAD,
                self.plan.addr,
                &mut self.sources,
            )
            .map_err(|e| format!("connect: {e}"))?;
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or_else(|| "no connection".into())
    }

    /// The attack proper begins.
    fn begin(&mut self, now: u64) {
        let plan = &self.plan;
        let channel = &plan.channel;
        match plan.attack {
            Attack::BigBacklogReaders => {
                let http = |version: &str, transport: &str, accept: bool| {
                    let mut r = format!(
                        "GET /{transport}/{channel}?since=0 HTTP/{version}\r\nHost: {}\r\n",
                        plan.host
                    );
                    if accept {
                        r.push_str("Accept: text/event-stream\r\n");
                    }
                    r.push_str("\r\n");
                    Opening::Http(r.into_bytes())
                };
                let group = |name: &str, opening| Group {
                    name: name.into(),
                    count: plan.attackers,
                    opening,
                    behaviour: Behaviour::Silent,
                    read_again: 0,
                };
                let groups = vec![
                    group("poll", http("1.1", "poll", false)),
                    group("longpoll", http("1.1", "longpoll", false)),
                    group("sse-http1.0", http("1.0", "sse", true)),
                ];
                self.fleet = Some(self.fleet(groups));
            }
            Attack::StalledSubscribers => {
                let mut request = Vec::new();
                let body = vec![b'x'; plan.size];
                write_post(&mut request, &plan.host, &format!("/pub/{channel}"), &body);
                self.load = Load::Paced {
                    request,
                    rate: plan.rate.max(0.001),
                    first: now,
                    sent: 0,
                };
            }
            Attack::FanoutBurst => {
                let mut requests = Vec::new();
                let path = format!("/pub/{channel}");
                for i in 0..plan.burst {
                    let body = format!("burst message {i:>8} ").repeat(3);
                    write_post(&mut requests, &plan.host, &path, body.as_bytes());
                }
                self.load = Load::Burst {
                    requests,
                    n: plan.burst,
                    every: plan.burst_every.as_nanos() as u64,
                    next: now,
                    sent_at: None,
                    bursts: 0,
                    skipped: 0,
                    answered_in: Histogram::new(),
                };
            }
            _ => {}
        }
        let registry = self.poll.registry();
        if let Some(fleet) = self.fleet.as_mut() {
            fleet.arm(registry, now);
        }
    }

    /// One turn: due publishes and connections, then events.
    fn step(&mut self, timeout: Duration) -> Result<(), String> {
        let now = self.clock.now();
        self.publish(now)?;
        let registry = self.poll.registry();
        let mut wake = now.saturating_add(timeout.as_nanos() as u64);
        if let Some(fleet) = self.fleet.as_mut() {
            fleet.tick(registry, now);
            if fleet.busy() {
                wake = now;
            }
            if let Some(at) = fleet.wake_at() {
                wake = wake.min(at);
            }
        }
        if let Load::Paced { .. } = self.load {
            wake = wake.min(now + 1_000_000);
        }
        let timeout = Duration::from_nanos(wake.saturating_sub(now));
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("poll: {e}")),
        }
        let now = self.clock.now();
        let registry = self.poll.registry();
        for event in self.events.iter() {
            let hung_up = event.is_read_closed() || event.is_error();
            let readable = event.is_readable() || hung_up;
            let writable = event.is_writable() || event.is_error();
            if event.token() == LOAD {
                if let Some(conn) = self.conn.as_mut() {
                    conn.on_event(readable, writable, now, &mut self.buf);
                }
            } else if let Some(fleet) = self.fleet.as_mut() {
                fleet.on_event(registry, event.token().0, readable, writable, hung_up, now);
            }
        }
        self.answers(now);
        Ok(())
    }

    /// The load's due publishes.
    fn publish(&mut self, now: u64) -> Result<(), String> {
        match &mut self.load {
            Load::None => {}
            Load::Paced {
                request,
                rate,
                first,
                sent,
            } => {
                let request = std::mem::take(request);
                let (rate, first) = (*rate, *first);
                let mut n = *sent;
                let conn = self.connection()?;
                while conn.in_flight() < PACED_INFLIGHT
                    && now >= first + (n as f64 * 1e9 / rate) as u64
                {
                    conn.send(&request, now, now);
                    n += 1;
                }
                if let Load::Paced {
                    request: r,
                    sent: s,
                    ..
                } = &mut self.load
                {
                    *r = request;
                    *s = n;
                }
            }
            Load::Burst {
                requests,
                n,
                every,
                next,
                sent_at,
                bursts,
                skipped,
                ..
            } => {
                if now < *next {
                    return Ok(());
                }
                *next += *every;
                if sent_at.is_some() {
                    *skipped += 1;
                    return Ok(());
                }
                *sent_at = Some(now);
                *bursts += 1;
                let requests = std::mem::take(requests);
                let starts = vec![now; *n];
                let conn = self.connection()?;
                conn.send_many(&requests, &starts, now);
                if let Load::Burst { requests: r, .. } = &mut self.load {
                    *r = requests;
                }
            }
        }
        Ok(())
    }

    /// Counts the publishes' answers; a burst is done when all are in.
    fn answers(&mut self, now: u64) {
        if matches!(self.load, Load::None) {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        for reply in conn.take_replies() {
            self.statuses.record(reply.status);
        }
        let in_flight = conn.in_flight();
        if let Load::Burst {
            sent_at,
            answered_in,
            ..
        } = &mut self.load
        {
            if in_flight == 0 {
                if let Some(at) = sent_at.take() {
                    answered_in.record(now.saturating_sub(at));
                }
            }
        }
    }

    fn teardown(&mut self) {
        let registry = self.poll.registry();
        if let Some(mut conn) = self.conn.take() {
            conn.deregister(registry);
        }
        let secs = |ns: u64| ns as f64 / 1e9;
        match &self.load {
            Load::None => {}
            Load::Paced { sent, first, .. } => {
                let took = secs(self.clock.now().saturating_sub(*first));
                let accepted = self.statuses.accepted();
                let rate = accepted as f64 / took.max(1e-9);
                self.report.notes.push(format!(
                    "publisher: {sent} publishes of {} B sent in {took:.1} s (asked: {} a second): {}; {rate:.0} accepted a second",
                    self.plan.size, self.plan.rate, self.statuses
                ));
                self.report.figures.extend([
                    ("publishes_sent", *sent as f64),
                    ("publishes_accepted", accepted as f64),
                    ("publishes_accepted_per_s", rate),
                ]);
            }
            Load::Burst {
                bursts,
                skipped,
                answered_in,
                n,
                ..
            } => {
                let (p50, max) = (answered_in.quantile(0.5), answered_in.max());
                self.report.notes.push(format!(
                    "bursts: {bursts} of {n} pipelined publishes: {}; a whole burst answered in {:.0} / {:.0} ms (median / max); {skipped} bursts skipped (the one before still unanswered)",
                    self.statuses,
                    p50 as f64 / 1e6,
                    max as f64 / 1e6
                ));
                self.report.figures.extend([
                    ("bursts", *bursts as f64),
                    ("bursts_skipped", *skipped as f64),
                    ("burst_answered_p50_ms", p50 as f64 / 1e6),
                    ("burst_answered_max_ms", max as f64 / 1e6),
                ]);
            }
        }
        if let Some(mut fleet) = self.fleet.take() {
            fleet.finish(registry, READ_AGAIN_BUDGET);
            if fleet.drained_bytes > 0 {
                self.report.notes.push(format!(
                    "subscribers read {:.1} MB",
                    fleet.drained_bytes as f64 / 1e6
                ));
                self.report
                    .figures
                    .push(("subscribers_read_mb", fleet.drained_bytes as f64 / 1e6));
            }
            self.report.endings = std::mem::take(&mut fleet.endings);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attacks_parse_by_name() {
        for attack in Attack::ALL {
            assert_eq!(Attack::parse(attack.name()), Ok(attack));
        }
        let err = Attack::parse("nope").unwrap_err();
        assert!(err.contains("empty-pongs"), "{err}");
        assert_eq!(Attack::BigBacklogReaders.connections(40), 120);
        assert_eq!(Attack::EmptyPongs.connections(20), 20);
    }

    #[test]
    fn json_numbers_are_found_by_field() {
        let body = br#"{"last_id":64,"history":63,"subscribers":{"ws":0}}"#;
        assert_eq!(json_number(body, "history"), Some(63));
        assert_eq!(json_number(body, "last_id"), Some(64));
        assert_eq!(json_number(body, "ws"), Some(0));
        assert_eq!(json_number(body, "gone"), None);
        assert_eq!(json_number(b"{\"history\":}", "history"), None);
    }
}
