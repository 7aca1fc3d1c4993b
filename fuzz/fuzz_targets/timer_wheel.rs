//! The timing wheel against a `BTreeMap` model: a sequence of insert,
//! cancel, reschedule and advance. Nothing fires early, nothing fires more
//! than one tick late, nothing fires twice, a cancelled timer never fires,
//! and `len`, `deadline` and `next_expiry` agree with the model.
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pushwire::timer::{TimerHandle, Wheel};

#[derive(Arbitrary, Debug)]
enum Delay {
    /// Within a few ticks: level 0 and 1.
    Short(u8),
    /// Up to a minute: the middle levels.
    Medium(u16),
    /// Up to ~50 days in ms, past the wheel's range with a 1 ms tick.
    Long(u32),
    /// Before the current time: goes to the due list.
    Past(u16),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(Delay),
    Cancel(u8),
    Reschedule(u8, Delay),
    Advance(Delay),
    Deadline(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    tick_ms: u8,
    ops: Vec<Op>,
}

/// The deadline `delay` after (or before) `now`, never before `start`.
fn deadline(start: Instant, now: Instant, delay: &Delay) -> Instant {
    match *delay {
        Delay::Short(ms) => now + Duration::from_millis(u64::from(ms) / 8),
        Delay::Medium(ms) => now + Duration::from_millis(u64::from(ms)),
        Delay::Long(ms) => now + Duration::from_millis(u64::from(ms)),
        Delay::Past(ms) => now
            .checked_sub(Duration::from_millis(u64::from(ms)))
            .filter(|t| *t >= start)
            .unwrap_or(start),
    }
}

fuzz_target!(|input: Input| {
    let tick = Duration::from_millis(u64::from(input.tick_ms % 8) + 1);
    let start = Instant::now();
    let mut now = start;
    let mut wheel: Wheel<u32> = Wheel::new(start, tick);
    // value -> (handle, deadline) for every live timer.
    let mut live: BTreeMap<u32, (TimerHandle, Instant)> = BTreeMap::new();
    // Every handle ever issued, in order, with its value.
    let mut handles: Vec<(TimerHandle, u32)> = Vec::new();
    let mut next_value = 0u32;
    let mut fired = Vec::new();
    for op in input.ops.iter().take(512) {
        match op {
            Op::Insert(delay) => {
                let at = deadline(start, now, delay);
                let handle = wheel.insert(at, next_value);
                live.insert(next_value, (handle, at));
                handles.push((handle, next_value));
                next_value += 1;
            }
            Op::Cancel(i) => {
                let Some(&(handle, value)) = handles.get(usize::from(*i)) else {
                    continue;
                };
                let expected = live.remove(&value).map(|_| value);
                assert_eq!(wheel.cancel(handle), expected, "cancel {value}");
            }
            Op::Reschedule(i, delay) => {
                let Some(&(handle, value)) = handles.get(usize::from(*i)) else {
                    continue;
                };
                let at = deadline(start, now, delay);
                let is_live = live.contains_key(&value);
                assert_eq!(wheel.reschedule(handle, at), is_live, "reschedule {value}");
                if is_live {
                    live.insert(value, (handle, at));
                }
            }
            Op::Deadline(i) => {
                let Some(&(handle, value)) = handles.get(usize::from(*i)) else {
                    continue;
                };
                // The deadline rounded up to the tick grid.
                match (wheel.deadline(handle), live.get(&value)) {
                    (None, None) => {}
                    (Some(d), Some(&(_, at))) => {
                        assert!(
                            d + tick > at && d < at + tick,
                            "deadline {value}: {d:?} vs {at:?}"
                        )
                    }
                    (d, at) => panic!("deadline {value}: {d:?} but model {at:?}"),
                }
            }
            Op::Advance(delay) => {
                let to = deadline(start, now, delay);
                // Time never goes backwards for the wheel's caller.
                now = now.max(to);
                fired.clear();
                wheel.advance(now, &mut fired);
                for value in &fired {
                    let Some((_, at)) = live.remove(value) else {
                        panic!("timer {value} fired but was not live (twice or cancelled)");
                    };
                    assert!(at <= now, "timer {value} fired early");
                }
                for (value, &(_, at)) in &live {
                    assert!(at + tick > now, "timer {value} more than one tick late");
                }
            }
        }
        assert_eq!(wheel.len(), live.len(), "len");
        let earliest = live.values().map(|&(_, at)| at).min();
        match (wheel.next_expiry(), earliest) {
            (None, None) => {}
            (Some(next), Some(at)) => {
                // The start of the earliest occupied slot: never after the
                // tick boundary the earliest deadline rounds up to; for a
                // timer already due, the wheel's current time (in the past).
                assert!(
                    next <= (at + tick).max(now),
                    "next_expiry {next:?} after deadline {at:?} (now {now:?})"
                );
            }
            (next, at) => panic!("next_expiry {next:?} but earliest deadline {at:?}"),
        }
    }
});
