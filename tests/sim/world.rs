//! The world: the real engine, a simulated network between it and every
//! client, a simulated clock and store, all driven by one seed.
//!
//! The world does what the reactor does (src/server/reactor.rs), in the
//! same order, with faults between: input reaches the engine in pieces
//! of any size, or waits (the kernel said `WouldBlock`); a client reads
//! the engine's output in pieces, or stops reading for a while (a slow
//! consumer); a connection is reset at any moment, mid-head, mid-frame,
//! mid-event; the clock jumps; the store delays or fails commits. Time
//! moves from one thing that is due to the next, so a quiet simulated
//! minute costs nothing.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::io::IoSlice;
use std::time::{Duration, Instant};

use pushwire::broker::ConnId;
use pushwire::engine::{Engine, Event, Step, TICK};
use pushwire::Config;

use crate::backend::{Backend, Committed, Nodes};
use crate::client::{Client, Kind, Wants};
use crate::rng::Rng;
use crate::store::{Log, SimStore, StoreFaults};

/// A connection: the node it is on (0 with one engine), and its id there.
pub type LinkId = (usize, ConnId);

/// The network's faults, from the seed.
#[derive(Clone, Copy, Debug)]
pub struct NetFaults {
    /// Probability that a delivery stops after a random piece.
    pub split: f64,
    /// Probability that a delivery waits (`WouldBlock`), and how long.
    pub hold: f64,
    pub max_hold: Duration,
    /// Mean time between resets of a client's connection (`None`: never).
    pub reset_every: Option<Duration>,
    /// Probability, at each read, that a client stops reading for a
    /// while, and the longest while.
    pub slow: f64,
    pub max_slow: Duration,
    /// Probability, at each step, that the clock jumps, and how far.
    pub jump: f64,
    pub max_jump: Duration,
}

/// One run's shape.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub clients: usize,
    pub channels: usize,
    /// Simulated time with faults and publishes.
    pub busy: Duration,
    /// Then this long without faults or publishes: everyone must catch up.
    pub calm: Duration,
    pub net: NetFaults,
    pub store: StoreFaults,
    /// Mean time between two publishes through the `Hub`.
    pub hub_every: Duration,
    /// The share of clients that publish.
    pub publishers: f64,
    /// A durable log: (`--fsync always`, the chance a sync fails, the
    /// longest sync), and when the machine crashes (into the busy phase).
    pub log: Option<(bool, f64, Duration)>,
    pub crashes: Vec<Duration>,
    pub config: Config,
}

impl Scenario {
    /// A scenario drawn from the seed: faults, limits and the mix of
    /// clients all vary.
    pub fn from_seed(rng: &mut Rng, clients: usize) -> Scenario {
        let config = Config {
            history: rng.range(4, 64) as usize,
            max_backlog_bytes: rng.range(2, 256) as usize * 1024,
            send_buffer_bytes: Some(rng.range(0, 4) as usize * 1024),
            longpoll_max: Duration::from_secs(rng.range(1, 10)),
            heartbeat: Duration::from_secs(rng.range(1, 20)),
            ping_interval: Duration::from_secs(rng.range(2, 30)),
            idle_timeout: Duration::from_secs(rng.range(2, 60)),
            header_timeout: Duration::from_secs(rng.range(2, 10)),
            sse_retry_ms: rng.range(10, 3000),
            sse_max_age: rng
                .chance(0.3)
                .then(|| Duration::from_secs(rng.range(1, 30))),
            max_batch_messages: rng.range(1, 64) as usize,
            ..Config::default()
        };
        let net = NetFaults {
            split: rng.range(0, 80) as f64 / 100.0,
            hold: rng.range(0, 30) as f64 / 100.0,
            max_hold: Duration::from_millis(rng.range(1, 500)),
            reset_every: rng
                .chance(0.7)
                .then(|| Duration::from_millis(rng.range(500, 30_000))),
            slow: rng.range(0, 10) as f64 / 100.0,
            max_slow: Duration::from_millis(rng.range(10, 5000)),
            jump: rng.range(0, 2) as f64 / 1000.0,
            max_jump: Duration::from_millis(rng.range(10, 20_000)),
        };
        let store = StoreFaults {
            delay: rng.range(0, 50) as f64 / 100.0,
            max_delay: Duration::from_millis(rng.range(0, 2000)),
            fail: rng.range(0, 10) as f64 / 100.0,
        };
        let log = rng.chance(0.3).then(|| {
            let always = rng.chance(0.6);
            let fail = rng.range(0, 5) as f64 / 100.0;
            (always, fail, Duration::from_millis(rng.range(0, 50)))
        });
        let busy = Duration::from_secs(rng.range(5, 30));
        let crashes = match log {
            Some(_) => (0..rng.range(0, 3))
                .map(|_| Duration::from_micros(rng.below(busy.as_micros() as u64)))
                .collect(),
            None => Vec::new(),
        };
        Scenario {
            clients,
            channels: rng.range(1, 4) as usize,
            busy,
            calm: Duration::from_secs(60),
            net,
            store,
            hub_every: Duration::from_millis(rng.range(50, 2000)),
            publishers: 0.15,
            log,
            crashes,
            config,
        }
    }
}

/// What a run did, for the summary line.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub simulated: Duration,
    pub messages: u64,
    pub deliveries: u64,
    pub faults: u64,
    pub trace: u64,
}

/// A connection as the world sees it.
#[derive(Debug)]
struct Link {
    client: usize,
    /// Bytes the client sent that the engine has not read.
    unread: Vec<u8>,
    /// The kernel holds them until then.
    held_until: Option<Instant>,
    /// The client reads nothing until then (a slow consumer).
    slow_until: Option<Instant>,
    /// The engine shut its write side; the client closed too.
    shut: bool,
    /// When the engine took the last byte the client had sent.
    delivered: Option<Instant>,
    /// When the client last read an event or comment of a stream.
    stream_item: Option<Instant>,
    /// When the client last stopped reading (a slow consumer).
    paused: Option<Instant>,
    /// When the client began to read its last whole answer.
    answered: Option<Instant>,
    /// When it began to read the answer it is reading.
    began: Option<Instant>,
}

/// The world.
pub struct World {
    pub rng: Rng,
    /// One engine, or a cluster's nodes.
    pub backend: Backend,
    /// What the checks hold clients to: what was committed.
    committed: Committed,
    scenario: Scenario,
    start: Instant,
    pub now: Instant,
    clients: Vec<Client>,
    links: BTreeMap<LinkId, Link>,
    /// The client's connection, if any.
    conn_of: Vec<Option<LinkId>>,
    /// Client timers: (when, serial, client).
    timers: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    serial: u64,
    /// Connections with input the engine has not taken.
    waiting_input: BTreeSet<LinkId>,
    /// Hub publishes not decided: token -> (node, channel, data).
    hub: HashMap<u64, (usize, String, String)>,
    /// A cluster's calm: the channels whose last message (published
    /// after the faults, so that one a node delivered and Redis then
    /// lost is followed by one every node has) is not acknowledged yet,
    /// and when to try again.
    finals: BTreeSet<String>,
    next_final: Instant,
    hub_seq: u64,
    next_hub: Instant,
    /// Resets to come: (when, client).
    resets: BinaryHeap<Reverse<(Instant, usize)>>,
    /// The next look at every connection for one stuck.
    next_sweep: Instant,
    /// The busy phase ends here.
    busy_until: Instant,
    end: Instant,
    pub summary: Summary,
    /// The last events, for the failure's story.
    recent: std::collections::VecDeque<String>,
    /// The clock jumped at this time (timing checks skip across it).
    jumped: Option<Instant>,
    /// `PUSHWIRE_SIM_WATCH=N`: every event of client N on stderr.
    watch: Option<usize>,
    /// Crashes to come.
    crashes: Vec<Instant>,
    /// The wall clock's error, in seconds (NTP stepping it back, or a
    /// clock that stalls): the engine's monotonic clock is not affected.
    wall_skew: i64,
}

/// The wall clock at the start of a run, in Unix seconds.
const WALL: u64 = 1_795_564_800;

/// FNV-1a, 64 bits: the trace's hash.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// How long a request may wait for its answer with the client reading,
/// before the connection counts as stuck.
const STUCK: Duration = Duration::from_secs(120);

impl World {
    pub fn new(seed: u64, clients: usize) -> World {
        let mut rng = Rng::new(seed);
        let scenario = Scenario::from_seed(&mut rng, clients);
        World::with(rng, scenario)
    }

    /// `clients` clients for `busy` with the seed's faults, then the calm.
    pub fn crowd(seed: u64, clients: usize, busy: Duration) -> World {
        let mut rng = Rng::new(seed);
        let mut scenario = Scenario::from_seed(&mut rng, clients);
        scenario.busy = busy;
        scenario.channels = 10;
        scenario.publishers = 0.01;
        scenario.hub_every = Duration::from_secs(1);
        World::with(rng, scenario)
    }

    /// The seed's scenario with its clients on the nodes of a cluster
    /// (2 to 4 of them) over the fake Redis, with the cluster's faults
    /// instead of the store's and the log's.
    pub fn cluster(seed: u64, clients: usize) -> World {
        let mut rng = Rng::new(seed);
        let mut scenario = Scenario::from_seed(&mut rng, clients);
        scenario.log = None;
        scenario.crashes.clear();
        let nodes = rng.range(2, 4) as usize;
        World::with_nodes(rng, scenario, nodes)
    }

    pub fn with(rng: Rng, scenario: Scenario) -> World {
        World::with_nodes(rng, scenario, 0)
    }

    /// `nodes` 0: one engine over the simulated store; otherwise a
    /// cluster of that many.
    fn with_nodes(mut rng: Rng, mut scenario: Scenario, nodes: usize) -> World {
        let start = Instant::now();
        let (mut backend, committed) = if nodes == 0 {
            let store = match scenario.log {
                Some((always, fail, max_sync)) => {
                    let log = Log::new(always, fail, max_sync, start).above(WALL * 1_000_000);
                    SimStore::durable(rng.fork(), scenario.store, log)
                }
                None => SimStore::new(rng.fork(), scenario.store),
            };
            let engine =
                Engine::with_store(scenario.config.clone(), Box::new(store.clone()), start);
            let committed = Committed::Store(store.clone());
            let engine = Box::new(engine);
            (Backend::Single { engine, store }, committed)
        } else {
            let nodes = Nodes::new(nodes, scenario.config.clone(), &mut rng, start);
            scenario.config = nodes.cluster.config().clone();
            let committed = Committed::Delivered(nodes.cluster.delivered());
            (Backend::Cluster(Box::new(nodes)), committed)
        };
        for node in backend.live() {
            backend.engine(node).handle_wall_clock(WALL);
        }
        let kinds = [
            Kind::Poll,
            Kind::LongPoll,
            Kind::Sse,
            Kind::Sse,
            Kind::WsJson,
            Kind::WsJson,
            Kind::WsPlain,
        ];
        let mut clients = Vec::new();
        let mut timers = BinaryHeap::new();
        for i in 0..scenario.clients {
            let kind = if rng.chance(scenario.publishers / 2.0) {
                Kind::PubHttp
            } else {
                *rng.pick(&kinds)
            };
            let channel = format!("ch{}", rng.below(scenario.channels as u64));
            let publishes = kind == Kind::PubHttp
                || (kind == Kind::WsJson && rng.chance(scenario.publishers * 2.0));
            clients.push(Client::new(i, kind, channel, publishes, &mut rng));
            let at = start + Duration::from_millis(rng.below(2000));
            timers.push(Reverse((at, i as u64, i)));
        }
        let busy_until = start + scenario.busy;
        let end = busy_until + scenario.calm;
        let mut resets = BinaryHeap::new();
        if let Some(every) = scenario.net.reset_every {
            for c in 0..scenario.clients {
                resets.push(Reverse((start + random_interval(&mut rng, every), c)));
            }
        }
        let next_hub = start + random_interval(&mut rng, scenario.hub_every);
        let mut crashes: Vec<Instant> = scenario.crashes.iter().map(|d| start + *d).collect();
        crashes.sort();
        crashes.reverse();
        let finals = match backend.is_cluster() {
            true => (0..scenario.channels).map(|c| format!("ch{c}")).collect(),
            false => BTreeSet::new(),
        };
        World {
            rng,
            backend,
            committed,
            finals,
            next_final: busy_until + Duration::from_secs(2),
            conn_of: vec![None; scenario.clients],
            clients,
            links: BTreeMap::new(),
            timers,
            serial: scenario.clients as u64,
            waiting_input: BTreeSet::new(),
            hub: HashMap::new(),
            hub_seq: 0,
            next_hub,
            resets,
            next_sweep: start,
            busy_until,
            end,
            scenario,
            start,
            now: start,
            summary: Summary {
                trace: 0xcbf2_9ce4_8422_2325,
                ..Summary::default()
            },
            recent: Default::default(),
            jumped: None,
            watch: std::env::var("PUSHWIRE_SIM_WATCH")
                .ok()
                .and_then(|v| v.parse().ok()),
            crashes,
            wall_skew: 0,
        }
    }

    fn busy(&self) -> bool {
        self.now < self.busy_until
    }

    /// Notes an event in the trace (hash, and the story of the last ones).
    fn note(&mut self, what: &str, client: usize, n: u64) {
        let micros = (self.now - self.start).as_micros() as u64;
        let mut h = self.summary.trace;
        h = fnv(h, &micros.to_le_bytes());
        h = fnv(h, what.as_bytes());
        h = fnv(h, &(client as u64).to_le_bytes());
        h = fnv(h, &n.to_le_bytes());
        self.summary.trace = h;
        if self.watch == Some(client) {
            eprintln!("{:>10.3}s client {client} {what} {n}", micros as f64 / 1e6);
        }
        if self.recent.len() == 40 {
            self.recent.pop_front();
        }
        self.recent.push_back(format!(
            "{:>10.3}s client {client:>4} {what} {n}",
            micros as f64 / 1e6
        ));
    }

    fn fail(&self, why: String) -> String {
        let story: Vec<&str> = self.recent.iter().map(String::as_str).collect();
        format!(
            "{why}\n  at {:.3}s; the last events:\n  {}",
            (self.now - self.start).as_secs_f64(),
            story.join("\n  ")
        )
    }

    fn timer(&mut self, at: Instant, client: usize) {
        if self.watch == Some(client) {
            eprintln!(
                "  timer for client {client} at {:.3}s",
                (at - self.start).as_secs_f64()
            );
        }
        self.serial += 1;
        self.timers.push(Reverse((at, self.serial, client)));
    }

    /// Runs to the end; `Err` carries the broken rule and the story.
    pub fn run(&mut self) -> Result<Summary, String> {
        let mut steps: u64 = 0;
        while self.now < self.end {
            steps += 1;
            if steps > 50_000_000 {
                return Err(self.fail("the run did not end".into()));
            }
            self.step()?;
            if self.now >= self.next_sweep {
                self.next_sweep = self.now + Duration::from_secs(1);
                self.check_bounds()?;
            }
            self.advance();
        }
        if let Backend::Single { store, .. } = &self.backend {
            if !self.busy() {
                store.calm();
            }
        }
        self.finish()?;
        self.summary.simulated = self.now - self.start;
        self.summary.messages = self.committed.read(|l| l.total());
        self.summary.deliveries = self.clients.iter().map(|c| c.view.received).sum();
        if let Backend::Single { store, .. } = &self.backend {
            let (failed, delayed) = store.faults();
            self.summary.faults += failed + delayed;
        }
        Ok(self.summary.clone())
    }

    /// Everything due now: client timers, resets, hub publishes, then the
    /// network and the engine until nothing moves.
    fn step(&mut self) -> Result<(), String> {
        if let Backend::Single { store, .. } = &self.backend {
            if !self.busy() {
                store.calm();
            }
        }
        while let Some(Reverse((at, _, c))) = self.timers.peek().copied() {
            if at > self.now {
                break;
            }
            self.timers.pop();
            self.wake(c)?;
        }
        if self.busy() {
            while let Some(&Reverse((at, c))) = self.resets.peek() {
                if at > self.now {
                    break;
                }
                self.resets.pop();
                let every = self.scenario.net.reset_every.unwrap_or(STUCK);
                let next = self.now + random_interval(&mut self.rng, every);
                self.resets.push(Reverse((next, c)));
                if let Some(id) = self.conn_of[c] {
                    self.summary.faults += 1;
                    self.note("reset", c, 0);
                    self.drop_conn(id);
                }
            }
            if self.crashes.last().is_some_and(|&at| at <= self.now) {
                self.crashes.pop();
                self.crash()?;
            }
            if self.next_hub <= self.now {
                self.next_hub = self.now + random_interval(&mut self.rng, self.scenario.hub_every);
                self.hub_publish(None)?;
            }
        }
        self.cluster_step()?;
        self.pump()
    }

    /// A cluster's part of a step: its faults while busy, healed when
    /// the calm begins, the last message of each channel in the calm,
    /// and a pass over every node's Redis side when one is due.
    fn cluster_step(&mut self) -> Result<(), String> {
        let now = self.now;
        let busy = self.busy();
        let Backend::Cluster(nodes) = &mut self.backend else {
            return Ok(());
        };
        nodes.expire(now);
        let mut crashed = None;
        let mut story = None;
        if busy && nodes.next_fault <= now {
            let (what, node) = nodes.fault(now, &mut self.rng);
            crashed = node;
            story = Some(what);
        }
        if !busy && !nodes.healed {
            nodes.heal(now);
            story = Some("healed".to_owned());
        }
        if let Some(what) = story {
            self.summary.faults += 1;
            self.note(&what, usize::MAX, 0);
            if self.watch.is_some() {
                eprintln!("{:>10.3}s {what}", (now - self.start).as_secs_f64());
            }
        }
        if let Some(node) = crashed {
            self.node_crashed(node);
        }
        if !busy && self.next_final <= now {
            self.next_final = now + Duration::from_secs(1);
            let pending: Vec<String> = self.finals.iter().cloned().collect();
            let flying: BTreeSet<String> = self.hub.values().map(|(_, c, _)| c.clone()).collect();
            for channel in pending {
                if !flying.contains(&channel) {
                    self.hub_publish(Some(channel))?;
                }
            }
        }
        let Backend::Cluster(nodes) = &mut self.backend else {
            return Ok(());
        };
        let (due, in_flight) = nodes.cluster.poll_timeout();
        let _ = in_flight; // the next pass is set when it was noticed
        if due.is_some_and(|t| t <= now) || nodes.next_pass.is_some_and(|t| t <= now) {
            nodes.cluster.step(now);
            nodes.next_pass = None;
        }
        if let Some(why) = self.committed.broken() {
            return Err(self.fail(format!("the nodes disagree: {why}")));
        }
        Ok(())
    }

    /// Node `node` crashed: every connection on it is gone (its clients
    /// come back later, on any live node), and so are the hub's
    /// publishes in flight there.
    fn node_crashed(&mut self, node: usize) {
        let gone: Vec<LinkId> = self
            .links
            .range((node, 0)..(node + 1, 0))
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            if let Some(link) = self.links.remove(&id) {
                self.waiting_input.remove(&id);
                self.conn_of[link.client] = None;
                self.note("node crashed", link.client, node as u64);
                let back = self.clients[link.client].disconnected(self.now, &mut self.rng);
                self.timer(back, link.client);
            }
        }
        self.hub.retain(|_, (n, ..)| *n != node);
    }

    /// A client's timer fired: (re)connect, or its next request.
    fn wake(&mut self, c: usize) -> Result<(), String> {
        let now = self.now;
        if !self.busy() && self.clients[c].kind == Kind::PubHttp {
            return Ok(()); // publishers rest in the calm
        }
        if self.conn_of[c].is_none() && self.clients[c].reconnect_at.is_some_and(|t| t > now) {
            return Ok(()); // a stale timer: it comes back later
        }
        let wants = if self.conn_of[c].is_none() {
            // Any node that serves (with one engine, that one).
            let live = self.backend.serving();
            let node = match (self.backend.is_cluster(), live.as_slice()) {
                (false, _) => 0,
                (true, []) => {
                    // No node serves: try again soon.
                    let back = now + Duration::from_millis(self.rng.range(50, 500));
                    self.clients[c].reconnect_at = Some(back);
                    self.timer(back, c);
                    return Ok(());
                }
                (true, live) => *self.rng.pick(live),
            };
            let id = (node, self.backend.engine(node).handle_accept(now));
            let client = &mut self.clients[c];
            // A gap told on a connection now gone, with the message after
            // it unread, was that node's word: the client resumes from the
            // last id it has, and another node may have more after it
            // (what Redis lost, delivered before it lost it). A client
            // that has seen nothing asks "from the start" anew at each
            // connection: it is owed what is committed from now.
            if self.backend.is_cluster() {
                client.view.gap = None;
                if client.view.last == 0 {
                    let channel = &client.channel;
                    client.view.start = Some(self.committed.read(|l| l.last(channel)));
                }
            }
            self.links.insert(
                id,
                Link {
                    client: c,
                    unread: Vec::new(),
                    held_until: None,
                    slow_until: None,
                    shut: false,
                    delivered: None,
                    stream_item: None,
                    paused: None,
                    answered: None,
                    began: None,
                },
            );
            self.conn_of[c] = Some(id);
            self.note("connect", c, id.1 as u64 | (node as u64) << 32);
            self.clients[c].connect(now, &mut self.rng)
        } else {
            if !self.busy() && self.clients[c].publishes && self.clients[c].kind == Kind::WsJson {
                self.clients[c].publishes = false;
            }
            self.clients[c].wake(now, &mut self.rng)
        };
        self.apply(c, wants)
    }

    fn apply(&mut self, c: usize, wants: Wants) -> Result<(), String> {
        if let Some(at) = wants.wake {
            self.timer(at, c);
        }
        let Some(id) = self.conn_of[c] else {
            return Ok(());
        };
        if !wants.send.is_empty() {
            if let Some(link) = self.links.get_mut(&id) {
                link.unread.extend_from_slice(&wants.send);
                self.waiting_input.insert(id);
            }
        }
        if wants.close {
            self.note("client closes", c, 0);
            self.drop_conn(id);
        }
        Ok(())
    }

    /// The connection is gone: the engine closes its end, the client comes
    /// back later.
    fn drop_conn(&mut self, id: LinkId) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        self.waiting_input.remove(&id);
        self.backend.engine(id.0).handle_closed(id.1);
        let c = link.client;
        self.conn_of[c] = None;
        let back = self.clients[c].disconnected(self.now, &mut self.rng);
        self.timer(back, c);
    }

    /// The machine crashes: every connection is gone, the disk keeps what
    /// it keeps, and a new engine starts on it as the server does: above
    /// a floor (the wall clock in microseconds), every message restored.
    fn crash(&mut self) -> Result<(), String> {
        self.note("crash", 0, 0);
        self.summary.faults += 1;
        // The floor comes from the wall clock, which may have been
        // stepped back: the log's ids keep the new ones above the old.
        let subsec = u64::from((self.now - self.start).subsec_micros());
        let floor = self.wall() * 1_000_000 + subsec;
        let Backend::Single { store, .. } = &self.backend else {
            return Err(self.fail("a machine crash with a cluster".into()));
        };
        let restart = store.crash(floor).map_err(|why| self.fail(why))?;
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for id in ids {
            if let Some(link) = self.links.remove(&id) {
                self.conn_of[link.client] = None;
                let back = self.clients[link.client].disconnected(self.now, &mut self.rng);
                self.timer(back, link.client);
            }
        }
        self.waiting_input.clear();
        // Publishes in flight are in doubt: their publishers are gone.
        self.hub.clear();
        let mut engine = Engine::with_store(
            self.scenario.config.clone(),
            Box::new(restart.store.clone()),
            self.now,
        );
        engine.handle_wall_clock(self.wall());
        for (channel, id, data) in &restart.restored {
            if let Err(e) = engine.restore(channel, *id, data, self.now) {
                return Err(self.fail(format!("restoring {channel}#{id}: {e:?}")));
            }
        }
        self.committed = Committed::Store(restart.store.clone());
        self.backend = Backend::Single {
            engine: Box::new(engine),
            store: restart.store,
        };
        self.note("restarted", restart.restored.len(), restart.lost);
        if restart.lost > 0 {
            // `--fsync batch` lost acknowledged messages (documented): a
            // client that saw them takes the server's word from here.
            let committed = &self.committed;
            for client in &mut self.clients {
                let last = committed.read(|l| l.last(&client.channel));
                if client.view.last > last {
                    client.view.last = last;
                    client.view.gap = None;
                }
            }
        }
        Ok(())
    }

    /// The `Hub` publishes on a random channel, or on `channel` (a
    /// cluster's final message of a channel); with a cluster, on any live
    /// node.
    fn hub_publish(&mut self, channel: Option<String>) -> Result<(), String> {
        self.hub_seq += 1;
        let channel = match channel {
            Some(channel) => channel,
            None => format!("ch{}", self.rng.below(self.scenario.channels as u64)),
        };
        let pad = self.rng.below(2048) as usize;
        let data = format!("hub-{}.{}", self.hub_seq, "y".repeat(pad));
        let token = self.hub_seq;
        let node = match self.backend.is_cluster() {
            true => match self.backend.serving().as_slice() {
                [] => return Ok(()),
                live => *self.rng.pick(live),
            },
            false => 0,
        };
        self.note("hub publish", usize::MAX, token);
        match self
            .backend
            .engine(node)
            .handle_publish(&channel, data.clone(), token, self.now)
        {
            Ok(()) => {
                self.hub.insert(token, (node, channel, data));
                Ok(())
            }
            Err(e) => Err(self.fail(format!("the hub's publish was refused: {e:?}"))),
        }
    }

    /// The reactor's loop body, repeated until nothing moves.
    fn pump(&mut self) -> Result<(), String> {
        for _ in 0..100_000 {
            let mut moved = false;
            if let Backend::Single { engine, store } = &mut self.backend {
                if store.decide(self.now) > 0 {
                    engine.handle_commits(self.now);
                    moved = true;
                }
            }
            moved |= self.deliver()?;
            for node in self.backend.live() {
                while let Some(id) = self.backend.engine(node).poll_ready() {
                    moved = true;
                    self.flush((node, id))?;
                }
                let engine = self.backend.engine(node);
                if engine.poll_timeout().is_some_and(|t| t <= self.now) {
                    engine.handle_timeout(self.now);
                    moved = true;
                }
                while let Some(event) = self.backend.engine(node).poll_event() {
                    self.hub_decided(event)?;
                }
            }
            if !moved {
                return Ok(());
            }
        }
        Err(self.fail("the engine did not settle".into()))
    }

    fn hub_decided(&mut self, event: Event) -> Result<(), String> {
        let Event::Published { token, outcome } = event;
        let Some((_, channel, data)) = self.hub.remove(&token) else {
            return Err(self.fail(format!("a hub outcome for token {token}, never given")));
        };
        if let Ok(id) = outcome {
            self.check_ack(&channel, id, &data)?;
            if !self.busy() {
                self.finals.remove(&channel);
            }
        }
        Ok(())
    }

    /// A publisher was told `id`: the store committed exactly that.
    fn check_ack(&self, channel: &str, id: u64, data: &str) -> Result<(), String> {
        let committed = self
            .committed
            .read(|l| l.data(channel, id).map(str::to_owned));
        if committed.as_deref() != Some(data) {
            let short = |d: &str| format!("{:?} ({} bytes)", d.get(..12).unwrap_or(d), d.len());
            return Err(self.fail(format!(
                "a publisher was told {channel}#{id} for {}, but the store has {}",
                short(data),
                committed.as_deref().map_or("nothing".into(), short)
            )));
        }
        Ok(())
    }

    /// Moves input the engine wants, in pieces, unless the kernel holds it.
    fn deliver(&mut self) -> Result<bool, String> {
        let mut moved = false;
        let ids: Vec<LinkId> = self.waiting_input.iter().copied().collect();
        for id in ids {
            loop {
                let Some(link) = self.links.get_mut(&id) else {
                    self.waiting_input.remove(&id);
                    break;
                };
                if link.unread.is_empty() {
                    self.waiting_input.remove(&id);
                    break;
                }
                if link.held_until.is_some_and(|t| t > self.now)
                    || !self.backend.engine(id.0).wants_input(id.1)
                {
                    break;
                }
                link.held_until = None;
                if self.rng.chance(self.scenario.net.hold) && self.now < self.busy_until {
                    let hold = random_upto(&mut self.rng, self.scenario.net.max_hold);
                    let link = self.links.get_mut(&id).expect("link");
                    link.held_until = Some(self.now + hold);
                    let c = link.client;
                    self.summary.faults += 1;
                    self.timer(self.now + hold, c);
                    break;
                }
                let link = self.links.get_mut(&id).expect("link");
                let mut n = link.unread.len();
                if self.rng.chance(self.scenario.net.split) {
                    n = self.rng.range(1, n as u64) as usize;
                }
                let bytes: Vec<u8> = link.unread.drain(..n).collect();
                if link.unread.is_empty() {
                    link.delivered = Some(self.now);
                }
                let c = link.client;
                self.backend
                    .engine(id.0)
                    .handle_input(id.1, &bytes, self.now);
                self.note("input", c, n as u64);
                moved = true;
            }
        }
        Ok(moved)
    }

    /// What the reactor does for a ready connection: write what the
    /// client reads, shut, close.
    fn flush(&mut self, id: LinkId) -> Result<(), String> {
        loop {
            let Some(link) = self.links.get(&id) else {
                return Ok(()); // already gone
            };
            let c = link.client;
            match self.backend.engine(id.0).poll_step(id.1) {
                Step::Write => {
                    if link.slow_until.is_some_and(|t| t > self.now) {
                        return Ok(());
                    }
                    if self.busy() && self.rng.chance(self.scenario.net.slow) {
                        let slow = random_upto(&mut self.rng, self.scenario.net.max_slow);
                        let link = self.links.get_mut(&id).expect("link");
                        link.slow_until = Some(self.now + slow);
                        link.paused = Some(self.now);
                        self.summary.faults += 1;
                        self.note("slow", c, slow.as_millis() as u64);
                        self.timer(self.now + slow, c);
                        return Ok(());
                    }
                    self.read_output(id, c)?;
                }
                Step::Wait => return Ok(()),
                Step::Shutdown => {
                    self.backend
                        .engine(id.0)
                        .handle_write_shutdown(id.1, self.now);
                    // The client reads the end and closes its side.
                    self.note("server shut", c, 0);
                    let at_end = self
                        .committed
                        .read(|ledger| self.clients[c].read(&[], self.now, ledger, &mut self.rng));
                    self.apply_read(c, at_end)?;
                    if self.links.contains_key(&id) {
                        self.backend.engine(id.0).handle_eof(id.1, self.now);
                    }
                }
                Step::Close => {
                    self.note("server closed", c, 0);
                    self.check_idle_close(id, c)?;
                    if let Some(link) = self.links.remove(&id) {
                        self.waiting_input.remove(&id);
                        self.backend.engine(id.0).handle_closed(id.1);
                        self.conn_of[link.client] = None;
                        let back = self.clients[c].disconnected(self.now, &mut self.rng);
                        self.timer(back, c);
                    }
                    return Ok(());
                }
            }
        }
    }

    /// The client reads some of the output.
    fn read_output(&mut self, id: LinkId, c: usize) -> Result<(), String> {
        let mut iov = [IoSlice::new(&[]); 16];
        let n = self.backend.engine(id.0).poll_output(id.1, &mut iov);
        let mut bytes = Vec::new();
        for slice in iov.iter().take(n) {
            bytes.extend_from_slice(slice);
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let mut take = bytes.len();
        if self.rng.chance(self.scenario.net.split) {
            take = self.rng.range(1, take as u64) as usize;
        }
        bytes.truncate(take);
        self.backend
            .engine(id.0)
            .handle_written(id.1, take, self.now);
        self.note("read", c, take as u64);
        // These bytes begin an answer (the client was between answers).
        if !self.clients[c].in_response() {
            if let Some(link) = self.links.get_mut(&id) {
                if link.began.is_none() {
                    link.began = Some(self.now);
                }
            }
        }
        self.check_unsent(id, c)?;
        if self.watch == Some(c) {
            eprintln!(
                "    {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            );
        }
        let result = self
            .committed
            .read(|ledger| self.clients[c].read(&bytes, self.now, ledger, &mut self.rng));
        self.apply_read(c, result)
    }

    fn apply_read(&mut self, c: usize, result: Result<Wants, String>) -> Result<(), String> {
        match result {
            Ok(wants) => {
                self.check_gaps(c)?;
                self.check_timing(c, &wants)?;
                let acks = std::mem::take(&mut self.clients[c].acks);
                for ack in acks {
                    self.check_ack(&ack.channel, ack.id, &ack.data)?;
                }
                self.apply(c, wants)
            }
            Err(why) => Err(self.fail(why)),
        }
    }

    /// With a cluster whose Redis never lost a write: a gap told to a
    /// client names only messages no node can still give it. A message
    /// still in Redis's stream of the channel is one a node that caught
    /// up has, or reads on its catch-up: a node's history and the stream
    /// both keep the newest `--history` (and until Redis loses writes, a
    /// node's are never newer than the stream's).
    fn check_gaps(&mut self, c: usize) -> Result<(), String> {
        let told = std::mem::take(&mut self.clients[c].view.told);
        let Backend::Cluster(nodes) = &mut self.backend else {
            return Ok(());
        };
        if nodes.lossy || told.is_empty() {
            return Ok(());
        }
        let channel = &self.clients[c].channel;
        let key = format!("{}h:{channel}", self.scenario.config.redis_prefix);
        let held: BTreeSet<u64> = nodes
            .cluster
            .redis()
            .stream_ids(0, &key)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for (since, oldest) in told {
            let skipped = self.committed.read(|l| l.between(channel, since, oldest));
            if let Some(id) = skipped.iter().find(|id| held.contains(id)) {
                let why = format!(
                    "client {c} ({:?}) was told gap from #{since} to #{oldest}, \
                     but Redis, which lost nothing, still holds {channel}#{id}",
                    self.clients[c].kind
                );
                return Err(self.fail(why));
            }
        }
        Ok(())
    }

    /// Deadlines fire on their tick: a long-poll with nothing new is
    /// answered at its timeout, and an open stream is never silent for
    /// longer than `--heartbeat`, both within a tick, unless the clock
    /// jumped or the client stopped reading meanwhile.
    fn check_timing(&mut self, c: usize, wants: &Wants) -> Result<(), String> {
        let Some(id) = self.conn_of[c] else {
            return Ok(());
        };
        let now = self.now;
        let jumped = self.jumped;
        let config = &self.scenario.config;
        let heartbeat = config.heartbeat;
        let longpoll = self.clients[c].timeout.min(config.longpoll_max);
        let Some(link) = self.links.get_mut(&id) else {
            return Ok(());
        };
        let calm_since =
            |t: Instant| jumped.is_none_or(|j| j < t) && link.paused.is_none_or(|p| p < t);
        if wants.timed_out {
            if let Some(asked) = link.delivered.filter(|&t| calm_since(t)) {
                let waited = now - asked;
                if waited + TICK < longpoll || waited > longpoll + TICK {
                    let why = format!(
                        "client {c}: a long-poll of {longpoll:?} answered empty after {waited:?}"
                    );
                    return Err(self.fail(why));
                }
            }
        }
        if wants.answered {
            link.answered = link.began.take();
        }
        if wants.stream_items > 0 {
            if let Some(last) = link.stream_item.filter(|&t| calm_since(t)) {
                let silent = now - last;
                if silent > heartbeat + TICK {
                    let why = format!(
                        "client {c}: a stream silent for {silent:?}, heartbeat {heartbeat:?}"
                    );
                    return Err(self.fail(why));
                }
            }
            link.stream_item = Some(now);
        }
        Ok(())
    }

    /// A keep-alive connection the server closed while its client was
    /// asking nothing was idle for `--idle-timeout` since its last answer,
    /// within a tick (unless the clock jumped or the client paused).
    fn check_idle_close(&self, id: LinkId, c: usize) -> Result<(), String> {
        let client = &self.clients[c];
        let Some(link) = self.links.get(&id) else {
            return Ok(());
        };
        let kinds = matches!(client.kind, Kind::Poll | Kind::LongPoll | Kind::PubHttp);
        let Some(answered) = link
            .answered
            .filter(|_| kinds && client.waiting_since().is_none())
        else {
            return Ok(());
        };
        // The idle timer starts when the answer is queued, which is when
        // the client began to read it if it read all along since it asked.
        let Some(asked) = link.delivered.filter(|&d| d <= answered) else {
            return Ok(());
        };
        let undisturbed = self.jumped.is_none_or(|j| j < asked)
            && link.paused.is_none_or(|p| p < asked)
            && link.unread.is_empty();
        if !undisturbed {
            return Ok(());
        }
        let idle = self.now - answered;
        let timeout = self.scenario.config.idle_timeout;
        if idle + TICK < timeout || idle > timeout + TICK {
            return Err(self.fail(format!(
                "client {c}: closed after {idle:?} idle, --idle-timeout {timeout:?}"
            )));
        }
        Ok(())
    }

    /// A connection's unsent bytes within their documented bound: a
    /// subscriber's queue is cut at `max_backlog_bytes`; a request's
    /// answers stop being read past 256 KiB, plus the answer in progress
    /// (a page of a batch) (docs/limits.md).
    fn check_unsent(&self, id: LinkId, c: usize) -> Result<(), String> {
        let config = &self.scenario.config;
        let bound = config.max_backlog_bytes.max(256 * 1024) + config.max_batch_bytes + 64 * 1024;
        let unsent = self.unsent(id);
        if unsent > bound {
            return Err(self.fail(format!(
                "connection {id:?} (client {c}) holds {unsent} unsent bytes, over {bound}"
            )));
        }
        Ok(())
    }

    fn unsent(&self, id: LinkId) -> usize {
        self.backend.engine_ref(id.0).map_or(0, |e| e.unsent(id.1))
    }

    /// Per-connection buffers within their documented bounds; nothing
    /// waits for an answer for ever.
    fn check_bounds(&self) -> Result<(), String> {
        let config = &self.scenario.config;
        // docs/limits.md: a subscriber's queue is cut at
        // max_backlog_bytes; a request's answers stop being read past
        // 256 KiB, plus the answer in progress (a page of a batch).
        let bound = config.max_backlog_bytes.max(256 * 1024) + config.max_batch_bytes + 64 * 1024;
        for (&id, link) in &self.links {
            let unsent = self.unsent(id);
            if unsent > bound {
                return Err(self.fail(format!(
                    "connection {id:?} (client {}) holds {unsent} unsent bytes, over {bound}",
                    link.client
                )));
            }
            let c = &self.clients[link.client];
            if let Some(since) = c.waiting_since() {
                let reading = link.slow_until.is_none_or(|t| t <= self.now);
                if reading && self.now.saturating_duration_since(since) > STUCK {
                    return Err(self.fail(format!(
                        "client {} ({:?}) has waited {:?} for an answer",
                        link.client,
                        c.kind,
                        self.now - since
                    )));
                }
            }
        }
        Ok(())
    }

    /// The wall clock the driver gives the engine: the simulated time,
    /// off by the skew, which sometimes changes: stepped back a few
    /// seconds, or held still (a stall) while time goes on.
    fn wall(&mut self) -> u64 {
        if self.busy() && self.rng.chance(self.scenario.net.jump) {
            self.wall_skew += match self.rng.below(2) {
                0 => -(self.rng.range(1, 5) as i64),
                _ => -((self.now - self.start).as_secs() as i64 % 3),
            };
            self.summary.faults += 1;
            self.note("wall clock", 0, self.wall_skew.unsigned_abs());
        }
        let secs = (self.now - self.start).as_secs() as i64 + self.wall_skew;
        WALL.saturating_add_signed(secs)
    }

    /// The next time something is due; sometimes the clock jumps past it.
    fn advance(&mut self) {
        let mut next = self.end;
        if let Some(Reverse((at, ..))) = self.timers.peek() {
            next = next.min(*at);
        }
        for node in self.backend.live() {
            if let Some(at) = self.backend.engine(node).poll_timeout() {
                next = next.min(at);
            }
        }
        let busy = self.busy();
        match &mut self.backend {
            Backend::Single { store, .. } => {
                if let Some(at) = store.next_due() {
                    next = next.min(at);
                }
            }
            Backend::Cluster(nodes) => {
                let (due, in_flight) = nodes.cluster.poll_timeout();
                if in_flight && nodes.next_pass.is_none() {
                    let latency = random_upto(&mut self.rng, nodes.faults.latency);
                    nodes.next_pass = Some(self.now + latency);
                }
                let fault = busy.then_some(nodes.next_fault);
                let last = (!self.finals.is_empty()).then_some(self.next_final);
                let due = [due, nodes.next_pass, nodes.next_expiry(), fault, last];
                for at in due.into_iter().flatten() {
                    next = next.min(at);
                }
            }
        }
        if self.busy() {
            next = next.min(self.next_hub);
            if let Some(&at) = self.crashes.last() {
                next = next.min(at);
            }
            if let Some(Reverse((at, _))) = self.resets.peek() {
                next = next.min(*at);
            }
            if self.rng.chance(self.scenario.net.jump) {
                let jump = random_upto(&mut self.rng, self.scenario.net.max_jump);
                next = next.max(self.now + jump);
                self.jumped = Some(next);
                self.summary.faults += 1;
                self.note("clock jump", 0, jump.as_millis() as u64);
            }
        }
        // Held input and slow readers wake through client timers.
        self.now = next
            .max(self.now + Duration::from_micros(1))
            .min(self.end.max(self.now));
        if self.now == self.end {
            return;
        }
        let wall = self.wall();
        for node in self.backend.live() {
            let engine = self.backend.engine(node);
            engine.handle_wall_clock(wall);
            if engine.poll_timeout().is_some_and(|t| t <= self.now) {
                engine.handle_timeout(self.now);
            }
        }
        // A slow reader whose pause is over reads again.
        let resumed: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| l.slow_until.is_some_and(|t| t <= self.now))
            .map(|(&id, _)| id)
            .collect();
        for id in resumed {
            if let Some(link) = self.links.get_mut(&id) {
                link.slow_until = None;
            }
            self.backend.engine(id.0).handle_writable(id.1);
        }
    }

    /// The calm at the end is over: every subscriber that is connected
    /// has seen its channel's last id (or the gap that covers it).
    fn finish(&mut self) -> Result<(), String> {
        let _ = TICK;
        for c in 0..self.clients.len() {
            let client = &self.clients[c];
            if !client.subscribes() || self.conn_of[c].is_none() {
                continue;
            }
            // Nothing committed after what it has seen (its `last` may be
            // a channel's origin, above a restart's floor, not an id).
            let last = self.committed.read(|l| l.last(&client.channel));
            let next = self
                .committed
                .read(|l| l.next_after(&client.channel, client.view.last));
            // A cluster's channels all end with a message every node has
            // (the finals): each subscriber must be exactly there, not at
            // an id no message has.
            let exact = !self.backend.is_cluster() || client.view.last == last;
            if next.is_some() || !exact {
                let link = self.conn_of[c].and_then(|id| self.links.get(&id));
                let nodes = self.nodes_story(&client.channel);
                return Err(self.fail(format!(
                    "after {:?} of calm, client {c} ({:?}, {}) is at #{} of #{last}\n  \
                     client: connected {}, waiting since {:?}, link {:?}{nodes}",
                    self.scenario.calm,
                    client.kind,
                    client.channel,
                    client.view.last,
                    client.connected,
                    client.waiting_since().map(|t| t - self.start),
                    link.map(|l| (
                        l.unread.len(),
                        l.held_until.map(|t| t - self.start),
                        l.slow_until.map(|t| t - self.start)
                    )),
                )));
            }
        }
        Ok(())
    }
}

impl World {
    /// With a cluster: each node's phase, and where it is on `channel`
    /// (for a failure's story).
    fn nodes_story(&self, channel: &str) -> String {
        let Backend::Cluster(nodes) = &self.backend else {
            return String::new();
        };
        let mut story = format!("\n  finals not acknowledged: {:?}", self.finals);
        for i in 0..nodes.cluster.len() {
            let Some(engine) = nodes.cluster.engine(i) else {
                story += &format!("\n  node {i}: crashed");
                continue;
            };
            let backlog = engine.broker().backlog(channel, 0);
            let node = nodes.cluster.node(i).expect("live");
            story += &format!(
                "\n  node {i} ({}): {:?}, {channel} at #{} ({} held), {:?}, last error {:?}",
                nodes.cluster.name(i).unwrap_or("?"),
                node.phase(),
                backlog.last_id,
                backlog.iter().count(),
                node.stats(),
                node.last_error(),
            );
        }
        story
    }
}

/// An exponential-ish interval with mean `mean` (a sum of two uniforms:
/// cheap, never zero, rarely long).
fn random_interval(rng: &mut Rng, mean: Duration) -> Duration {
    let micros = mean.as_micros() as u64;
    Duration::from_micros(1 + rng.below(micros + 1) + rng.below(micros + 1))
}

fn random_upto(rng: &mut Rng, max: Duration) -> Duration {
    Duration::from_micros(1 + rng.below(max.as_micros() as u64 + 1))
}
