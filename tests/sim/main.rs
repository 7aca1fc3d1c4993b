//! The whole server in one thread, driven by a seed (docs/simulation.md).
//!
//! `cargo test sim` runs a few hundred seeds; `PUSHWIRE_SIM_SEED=N cargo
//! test sim` replays one and prints its summary line; `cargo test
//! --release sim -- --ignored` runs thousands.

mod backend;
mod client;
mod cluster;
mod ledger;
mod redis;
mod rng;
mod store;
mod world;

use std::time::{Duration, Instant};

use world::World;

/// Runs one seed; panics with the seed, the broken rule and the last
/// events if a rule breaks.
fn run_seed(seed: u64, clients: usize) -> world::Summary {
    let mut world = World::new(seed, clients);
    match world.run() {
        Ok(summary) => summary,
        Err(why) => panic!(
            "seed {seed} broke a rule (replay: PUSHWIRE_SIM_SEED={seed} cargo test sim):\n{why}"
        ),
    }
}

fn line(seed: u64, s: &world::Summary) -> String {
    format!(
        "sim seed={seed} simulated={:.1}s messages={} deliveries={} faults={} trace={:016x}",
        s.simulated.as_secs_f64(),
        s.messages,
        s.deliveries,
        s.faults,
        s.trace
    )
}

/// The seed to replay, from `PUSHWIRE_SIM_SEED`.
fn replay_seed() -> Option<u64> {
    std::env::var("PUSHWIRE_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Replays `PUSHWIRE_SIM_SEED` with `run` and prints its summary line;
/// or runs `count` seeds from `from`, stopping once `bound` has passed,
/// and prints what it did. Returns how many seeds ran.
fn seeds(
    what: &str,
    run: fn(u64, usize) -> world::Summary,
    from: u64,
    count: u64,
    bound: Duration,
) -> u64 {
    if let Some(seed) = replay_seed() {
        let summary = run(seed, 24);
        println!("{}", line(seed, &summary));
        return 1;
    }
    let began = Instant::now();
    let mut simulated = Duration::ZERO;
    let mut done = 0;
    for seed in from..from + count {
        if began.elapsed() > bound {
            break;
        }
        simulated += run(seed, 24).simulated;
        done += 1;
    }
    println!(
        "{what}: {done} seeds (from {from}), {:.0} simulated seconds in {:.2} s",
        simulated.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    done
}

#[test]
fn sim_seeds() {
    let count = env_or("PUSHWIRE_SIM_SEEDS", 300);
    seeds("sim", run_seed, 0, count, Duration::MAX);
}

/// Runs one seed with its clients on a cluster's nodes; panics as
/// [`run_seed`] does.
fn run_cluster_seed(seed: u64, clients: usize) -> world::Summary {
    let mut world = World::cluster(seed, clients);
    match world.run() {
        Ok(summary) => summary,
        Err(why) => panic!(
            "cluster seed {seed} broke a rule \
             (replay: PUSHWIRE_SIM_SEED={seed} cargo test sim_cluster_clients):\n{why}"
        ),
    }
}

/// Clients of every transport on the nodes of a cluster, resuming on
/// whichever node they reach next, through the cluster's faults
/// (docs/simulation.md, "Clients across nodes").
#[test]
fn sim_cluster_clients() {
    let count = env_or("PUSHWIRE_SIM_CLUSTER_SEEDS", 40);
    seeds(
        "sim cluster clients",
        run_cluster_seed,
        0,
        count,
        Duration::MAX,
    );
}

/// Seeds that found the bug of a channel a node never had, started
/// silently at the first message Redis gave it (docs/simulation.md,
/// "Bugs the simulator found"): each broke a rule before the fix.
#[test]
fn sim_cluster_a_channel_never_had_tells_its_subscribers_gap() {
    for seed in [133, 1_001_190] {
        run_cluster_seed(seed, 24);
    }
}

/// Seeds that found bugs of the checker itself with clients on a cluster
/// (docs/simulation.md): a gap told by a node a client then left is not
/// where the client is on the next node.
#[test]
fn sim_cluster_a_gap_told_on_a_connection_gone_does_not_follow_the_client() {
    for seed in [1_002_675, 1_004_387] {
        run_cluster_seed(seed, 24);
    }
}

#[test]
fn sim_a_seed_replays_exactly() {
    let a = run_seed(7, 24);
    let b = run_seed(7, 24);
    assert_eq!(line(7, &a), line(7, &b));
}

/// The long mode: `cargo test --release sim -- --ignored`. Seeds from
/// 1,000,000 up, `PUSHWIRE_SIM_SEEDS` of them (default 50,000) or for
/// `PUSHWIRE_SIM_SECS` seconds (default 240), whichever ends first.
#[test]
#[ignore = "thousands of seeds: run by .ci/run in release"]
fn sim_long() {
    let count = env_or("PUSHWIRE_SIM_SEEDS", 50_000);
    let bound = Duration::from_secs(env_or("PUSHWIRE_SIM_SECS", 240));
    seeds("sim long", run_seed, 1_000_000, count, bound);
}

/// The long mode of clients on a cluster: seeds from 1,000,000 for half
/// of `PUSHWIRE_SIM_CLUSTER_SECS` (default 60; the cluster's own long
/// mode, `sim_long_cluster`, has the other half), at most 10,000.
#[test]
#[ignore = "thousands of seeds: run by .ci/run in release"]
fn sim_long_cluster_clients() {
    let bound = Duration::from_secs(env_or("PUSHWIRE_SIM_CLUSTER_SECS", 60)) / 2;
    seeds(
        "sim long cluster clients",
        run_cluster_seed,
        1_000_000,
        10_000,
        bound,
    );
}

/// The crowd: 1,000 clients for a simulated five minutes, timed. Prints
/// simulated seconds per wall-clock second (docs/simulation.md).
#[test]
#[ignore = "a timing run: run by .ci/run in release"]
fn sim_crowd() {
    let mut world = World::crowd(42, 1_000, Duration::from_secs(300));
    let began = Instant::now();
    let summary = world
        .run()
        .unwrap_or_else(|why| panic!("crowd seed 42:\n{why}"));
    let wall = began.elapsed().as_secs_f64();
    println!("{}", line(42, &summary));
    println!(
        "sim crowd: 1000 clients, {:.0} simulated s in {wall:.2} s: {:.0} simulated s per second",
        summary.simulated.as_secs_f64(),
        summary.simulated.as_secs_f64() / wall
    );
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
