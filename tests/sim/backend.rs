//! What the world's clients talk to: one engine on the simulated store
//! (and durable log), or the nodes of a [`Cluster`] over the fake Redis,
//! with the cluster's chaos on the world's clock.
//!
//! The world drives either the same way (src/server/reactor.rs): it
//! accepts a client's connection on one engine, moves bytes, and passes
//! the time to every engine. With a cluster, each connection is on a node
//! the client picked when it connected, any live one: a client that comes
//! back (a reset, a crashed node) usually resumes on another node, which
//! may be behind or ahead of the one it left (docs/cluster.md, "Nodes are
//! not in step"). Between the nodes and Redis, bytes take a latency the
//! seed decides, and every pass may cut them anywhere (`Cluster::step`).
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use pushwire::engine::Engine;
use pushwire::Config;

use crate::cluster::{restart_kind, Cluster, Delivered};
use crate::ledger::Ledger;
use crate::redis::RestartKind;
use crate::rng::Rng;
use crate::store::SimStore;

/// The server.
pub enum Backend {
    /// One engine over the simulated store.
    Single {
        engine: Box<Engine>,
        store: SimStore,
    },
    /// Nodes over one Redis.
    Cluster(Box<Nodes>),
}

impl Backend {
    /// Node `node`'s engine (the one engine, whatever `node`). A crashed
    /// node has no connections, so the world never asks for one.
    pub fn engine(&mut self, node: usize) -> &mut Engine {
        match self {
            Backend::Single { engine, .. } => engine,
            Backend::Cluster(nodes) => nodes
                .cluster
                .engine_mut(node)
                .expect("a connection on a crashed node"),
        }
    }

    pub fn engine_ref(&self, node: usize) -> Option<&Engine> {
        match self {
            Backend::Single { engine, .. } => Some(engine),
            Backend::Cluster(nodes) => nodes.cluster.engine(node),
        }
    }

    /// How many engines (crashed nodes included).
    pub fn len(&self) -> usize {
        match self {
            Backend::Single { .. } => 1,
            Backend::Cluster(nodes) => nodes.cluster.len(),
        }
    }

    /// The live engines' indices.
    pub fn live(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.engine_ref(i).is_some())
            .collect()
    }

    /// The engines that take connections: with a cluster, the live
    /// nodes that have caught up with Redis once since they started (the
    /// reactor accepts nothing before: `Reactor::first_sync`).
    pub fn serving(&self) -> Vec<usize> {
        match self {
            Backend::Single { .. } => vec![0],
            Backend::Cluster(nodes) => (0..nodes.cluster.len())
                .filter(|&i| nodes.cluster.node(i).is_some_and(|n| n.synced_once()))
                .collect(),
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Backend::Cluster(_))
    }
}

/// Where the checks read what was committed: the simulated store's
/// ledger, or what the nodes delivered.
#[derive(Clone)]
pub enum Committed {
    Store(SimStore),
    Delivered(Rc<RefCell<Delivered>>),
}

impl Committed {
    pub fn read<T>(&self, read: impl FnOnce(&Ledger) -> T) -> T {
        match self {
            Committed::Store(store) => store.ledger(read),
            Committed::Delivered(delivered) => read(&delivered.borrow().ledger),
        }
    }

    /// The first rule a delivery broke (an id meaning two texts).
    pub fn broken(&self) -> Option<String> {
        match self {
            Committed::Store(_) => None,
            Committed::Delivered(delivered) => delivered.borrow().broken.clone(),
        }
    }
}

/// The cluster's faults, from the seed: how often, and Redis's
/// persistence.
#[derive(Clone, Copy, Debug)]
pub struct ClusterFaults {
    /// Mean time between two faults.
    pub every: Duration,
    /// Redis has an append-only file (each run's `appendfsync` is drawn
    /// afresh); without one a restart keeps everything, a snapshot or
    /// nothing.
    pub aof: bool,
    /// The longest a bus byte takes between a node and Redis.
    pub latency: Duration,
}

/// The nodes, Redis, and the chaos between them.
pub struct Nodes {
    pub cluster: Cluster,
    pub faults: ClusterFaults,
    pub next_fault: Instant,
    paused_until: Option<Instant>,
    unreachable_until: Option<Instant>,
    /// The next pass over the nodes' Redis side, when bytes are on the way.
    pub next_pass: Option<Instant>,
    /// The busy phase is over: Redis up, every node live.
    pub healed: bool,
    /// A restart of Redis may have lost writes, as the nodes see it (ids
    /// jumped, clients told `gap` for what they may not have missed).
    pub lossy: bool,
}

impl Nodes {
    /// `n` nodes at `now` with `config`, Redis's persistence from the
    /// seed.
    pub fn new(n: usize, config: Config, rng: &mut Rng, now: Instant) -> Nodes {
        let faults = ClusterFaults {
            every: Duration::from_millis(rng.range(100, 5000)),
            aof: rng.chance(0.5),
            latency: Duration::from_micros(rng.range(50, 3000)),
        };
        let mut cluster = Cluster::new(n, config, rng.fork(), now);
        if rng.chance(0.3) {
            // A catch-up of one channel name a page.
            cluster.redis().set_scan_page(1);
        }
        let first = Nodes::fsync(faults.aof, rng);
        cluster.redis().set_persistence(faults.aof, first);
        let next_fault =
            now + Duration::from_micros(1 + rng.below(faults.every.as_micros() as u64));
        Nodes {
            cluster,
            faults,
            next_fault,
            paused_until: None,
            unreachable_until: None,
            next_pass: Some(now),
            healed: false,
            lossy: false,
        }
    }

    /// A run's `appendfsync`, drawn afresh at each restart (an operator
    /// changing it between restarts; docs/cluster.md's known limits say
    /// what a change at runtime would do).
    fn fsync(aof: bool, rng: &mut Rng) -> &'static str {
        match aof && rng.chance(0.5) {
            true => "always",
            false => "everysec",
        }
    }

    /// A pause or an unreachable spell that is over ends.
    pub fn expire(&mut self, now: Instant) {
        if self.paused_until.is_some_and(|t| t <= now) {
            self.paused_until = None;
            self.cluster.redis().set_paused(false);
        }
        if self.unreachable_until.is_some_and(|t| t <= now) {
            self.unreachable_until = None;
            self.cluster.set_redis_reachable(true);
        }
    }

    /// When a pause or an unreachable spell ends.
    pub fn next_expiry(&self) -> Option<Instant> {
        [self.paused_until, self.unreachable_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// One fault, drawn as `tests/sim/cluster.rs`'s chaos draws them: its
    /// story, and the node that crashed if one did (the world resets its
    /// clients' connections).
    pub fn fault(&mut self, now: Instant, rng: &mut Rng) -> (String, Option<usize>) {
        self.next_fault =
            now + Duration::from_micros(1 + rng.below(2 * self.faults.every.as_micros() as u64));
        let n = self.cluster.len() as u64;
        let i = rng.below(n) as usize;
        let aof = self.faults.aof;
        match rng.below(16) {
            0..=2 => {
                self.cluster.drop_redis_connections();
                ("connections cut".into(), None)
            }
            3..=4 => {
                let kind = restart_kind(self.cluster.redis(), aof, rng);
                // The boot script trusts a restart only after a run with an
                // append-only file and `appendfsync always`; after any
                // other, ids jump and clients are told `gap`, lost or not.
                let always = self.cluster.redis().appendfsync() == "always";
                self.lossy |= !(aof && always && kind == RestartKind::Durable);
                let next = Nodes::fsync(aof, rng);
                self.cluster.redis_restart(kind);
                self.cluster.redis().set_persistence(aof, next);
                self.paused_until = None;
                (
                    format!("Redis restarted {kind:?}, then appendfsync {next}"),
                    None,
                )
            }
            5..=6 => {
                self.cluster.redis().snapshot();
                ("snapshot".into(), None)
            }
            7 => {
                self.cluster.redis().flush_scripts();
                ("scripts flushed".into(), None)
            }
            8 if self.paused_until.is_none() => {
                let ms = rng.range(100, 7000);
                self.cluster.redis().set_paused(true);
                self.paused_until = Some(now + Duration::from_millis(ms));
                (format!("Redis paused {ms} ms"), None)
            }
            9 if self.unreachable_until.is_none() => {
                let ms = rng.range(10, 2000);
                self.cluster.set_redis_reachable(false);
                self.unreachable_until = Some(now + Duration::from_millis(ms));
                (format!("Redis unreachable {ms} ms"), None)
            }
            10..=13 => match self.cluster.engine(i) {
                Some(_) => {
                    self.cluster.crash_node(i);
                    (format!("node {i} crashed"), Some(i))
                }
                None => {
                    self.cluster.restart_node(i, now);
                    (format!("node {i} restarted"), None)
                }
            },
            _ => {
                self.cluster.whole = rng.below(101) as f64 / 100.0;
                (format!("whole {:.2}", self.cluster.whole), None)
            }
        }
    }

    /// The busy phase is over: Redis runs and is reachable, every node
    /// is live (a crashed one restarts), bytes flow as they usually do.
    pub fn heal(&mut self, now: Instant) {
        self.healed = true;
        self.paused_until = None;
        self.unreachable_until = None;
        self.cluster.redis().set_paused(false);
        self.cluster.set_redis_reachable(true);
        for i in 0..self.cluster.len() {
            if self.cluster.engine(i).is_none() {
                self.cluster.restart_node(i, now);
            }
        }
        self.cluster.whole = 0.5;
    }
}
