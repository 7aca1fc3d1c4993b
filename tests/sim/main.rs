//! The whole server in one thread, driven by a seed (docs/simulation.md).
//!
//! `cargo test sim` runs a few hundred seeds; `PUSHWIRE_SIM_SEED=N cargo
//! test sim` replays one and prints its summary line; `cargo test
//! --release sim -- --ignored` runs thousands.

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

#[test]
fn sim_seeds() {
    if let Some(seed) = replay_seed() {
        let summary = run_seed(seed, 24);
        println!("{}", line(seed, &summary));
        return;
    }
    let seeds: u64 = std::env::var("PUSHWIRE_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let began = Instant::now();
    let mut simulated = Duration::ZERO;
    for seed in 0..seeds {
        simulated += run_seed(seed, 24).simulated;
    }
    println!(
        "sim: {seeds} seeds, {:.0} simulated seconds in {:.2} s",
        simulated.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
}

#[test]
fn sim_a_seed_replays_exactly() {
    let a = run_seed(7, 24);
    let b = run_seed(7, 24);
    assert_eq!(line(7, &a), line(7, &b));
}
