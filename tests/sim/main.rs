//! The whole server in one thread, driven by a seed (docs/simulation.md).
//!
//! `cargo test sim` runs a few hundred seeds; `PUSHWIRE_SIM_SEED=N cargo
//! test sim` replays one and prints its summary line; `cargo test
//! --release sim -- --ignored` runs thousands.

mod rng;
