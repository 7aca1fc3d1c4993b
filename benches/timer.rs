//! Micro-benchmark of the timing wheel: `cargo bench --bench timer`.
//!
//! Two steady-state workloads at 1k, 100k and 1M live timers, tick 1 ms,
//! deadlines spread uniformly over the next 60 s (levels 0 to 2):
//!
//! - insert+cancel: cancel the oldest timer and insert a new one, the
//!   pattern of a keep-alive or header timeout that is reset or cleared
//!   before it fires. One op is one cancel plus one insert.
//! - insert+expire: advance virtual time so that about 32 timers fire per
//!   `advance`, and insert a replacement for each one that fired. One op is
//!   one insert plus its share of cascading and firing.
//!
//! - for reference, the insert+expire workload on `std`'s `BinaryHeap`.
//!
//! Each figure is the median of several runs, in nanoseconds per op; give
//! sizes as arguments (`cargo bench --bench timer -- 1000`) to run only those. The
//! wheel never reads the clock; the benchmark feeds it virtual instants and
//! reads the real clock only to time itself.

use pushwire::timer::{TimerHandle, Wheel};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::{Duration, Instant};

const RUNS: usize = 7;
const OPS: usize = 2_000_000;
const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const TICK: Duration = Duration::from_millis(1);
const WINDOW_NANOS: u64 = 60_000_000_000;
const FIRED_PER_ADVANCE: u64 = 32;

/// xorshift64: deterministic deadlines without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A deadline 1 ms to 60 s after `now`.
    fn deadline(&mut self, now: Instant) -> Instant {
        now + Duration::from_nanos(1_000_000 + self.next() % WINDOW_NANOS)
    }
}

fn filled(start: Instant, live: usize, rng: &mut Rng) -> (Wheel<usize>, Vec<TimerHandle>) {
    let mut wheel = Wheel::new(start, TICK);
    let handles = (0..live)
        .map(|i| wheel.insert(rng.deadline(start), i))
        .collect();
    (wheel, handles)
}

/// ns per (cancel oldest + insert new).
fn insert_cancel(live: usize, seed: u64) -> f64 {
    let start = Instant::now();
    let mut rng = Rng(seed);
    let (mut wheel, mut handles) = filled(start, live, &mut rng);
    let began = Instant::now();
    for i in 0..OPS {
        let k = i % live;
        black_box(wheel.cancel(handles[k]));
        handles[k] = wheel.insert(rng.deadline(start), i);
    }
    let nanos = began.elapsed().as_nanos() as f64;
    assert_eq!(wheel.len(), live);
    nanos / OPS as f64
}

/// ns per (fire + insert a replacement), including cascades.
fn insert_expire(live: usize, seed: u64) -> f64 {
    let start = Instant::now();
    let mut rng = Rng(seed);
    let (mut wheel, _) = filled(start, live, &mut rng);
    let step =
        Duration::from_nanos((WINDOW_NANOS * FIRED_PER_ADVANCE / live as u64).max(1_000_000));
    let mut now = start;
    let mut fired = Vec::with_capacity(4096);
    let mut total = 0;
    let began = Instant::now();
    while total < OPS {
        now += step;
        fired.clear();
        wheel.advance(now, &mut fired);
        total += fired.len();
        for &value in &fired {
            wheel.insert(rng.deadline(now), value);
        }
    }
    let nanos = began.elapsed().as_nanos() as f64;
    assert_eq!(wheel.len(), live);
    nanos / total as f64
}

/// The same workload on `std::collections::BinaryHeap`, for reference: a
/// heap fires exactly (no tick) but cannot cancel without tombstones.
fn heap_insert_expire(live: usize, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = (0..live)
        .map(|i| Reverse((1_000_000 + rng.next() % WINDOW_NANOS, i)))
        .collect();
    let step = (WINDOW_NANOS * FIRED_PER_ADVANCE / live as u64).max(1_000_000);
    let mut now = 0u64;
    let mut total = 0;
    let began = Instant::now();
    while total < OPS {
        now += step;
        while let Some(&Reverse((deadline, value))) = heap.peek() {
            if deadline > now {
                break;
            }
            heap.pop();
            total += 1;
            heap.push(Reverse((
                now + 1_000_000 + rng.next() % WINDOW_NANOS,
                black_box(value),
            )));
        }
    }
    let nanos = began.elapsed().as_nanos() as f64;
    assert_eq!(heap.len(), live);
    nanos / total as f64
}

/// (median, min, max) over `RUNS` runs.
fn measure(run: impl Fn(u64) -> f64) -> (f64, f64, f64) {
    let mut samples: Vec<f64> = (0..RUNS as u64)
        .map(|r| run(0x9e37_79b9_7f4a_7c15 ^ (r + 1)))
        .collect();
    samples.sort_by(f64::total_cmp);
    (samples[RUNS / 2], samples[0], samples[RUNS - 1])
}

fn main() {
    // `cargo test --benches` runs this binary too: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        black_box(insert_cancel(1_000, 1));
        black_box(insert_expire(1_000, 1));
        black_box(heap_insert_expire(1_000, 1));
        return;
    }
    // `cargo bench --bench timer -- 1000 1000000`: only these sizes.
    let chosen: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if chosen.is_empty() {
        SIZES.to_vec()
    } else {
        chosen
    };
    // `-- --once 1000`: one insert+expire run per size, for a profiler
    // (`valgrind --tool=callgrind`).
    if std::env::args().any(|a| a == "--once") {
        for live in sizes {
            println!(
                "{live} live timers: insert+expire {:.1} ns/op",
                insert_expire(live, 1)
            );
        }
        return;
    }
    println!(
        "timer wheel, tick 1 ms, deadlines uniform over 60 s, median of {RUNS} runs of {OPS} ops"
    );
    println!();
    println!(
        "| live timers | insert+cancel ns/op (min-max) | insert+expire ns/op (min-max) \
         | BinaryHeap push+pop ns/op (reference) |"
    );
    println!("|---:|---:|---:|---:|");
    for live in sizes {
        let (cm, clo, chi) = measure(|seed| insert_cancel(live, seed));
        let (em, elo, ehi) = measure(|seed| insert_expire(live, seed));
        let (hm, hlo, hhi) = measure(|seed| heap_insert_expire(live, seed));
        println!(
            "| {live} | {cm:.1} ({clo:.1}-{chi:.1}) | {em:.1} ({elo:.1}-{ehi:.1}) \
             | {hm:.1} ({hlo:.1}-{hhi:.1}) |"
        );
    }
}
