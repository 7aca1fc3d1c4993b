//! `pushwire bench idle`: hold N idle subscribers and report how much the
//! server's resident memory grew per connection (`VmRSS` of
//! `/proc/PID/status`, read before connecting and after holding).

use std::time::Duration;

use super::crowd::{Crowd, CrowdPlan};
use super::net::{resident_bytes, Sources};
use super::stamp::Clock;
use super::stats::JsonLine;

pub struct IdlePlan {
    pub crowd: CrowdPlan,
    pub pid: u32,
    pub hold: Duration,
    pub sources: Option<usize>,
}

pub fn run(plan: IdlePlan) -> Result<(String, String, bool), String> {
    let n = plan.crowd.subscribers;
    super::net::ensure_fd_limit(n + 16)?;
    let clock = Clock::new();
    let transport = plan.crowd.transport;
    let [target] = plan.crowd.targets.as_slice() else {
        return Err("idle measures one server: give --sub-url one URL".into());
    };
    let target = target.clone();
    let sources = Sources::for_connections(target.addr, n, plan.sources);
    let mut crowd = Crowd::new(plan.crowd.clone(), sources, clock).map_err(|e| e.to_string())?;
    let before = resident_bytes(plan.pid)?;
    let mut others = Vec::new();
    let deadline = clock.now() + 120_000_000_000;
    while !crowd.all_ready() {
        crowd
            .turn(Duration::from_millis(5), &mut others)
            .map_err(|e| e.to_string())?;
        if clock.now() > deadline {
            return Err(format!("only {} of {n} subscribed in 120 s", crowd.ready));
        }
    }
    let connected_in = clock.now() as f64 / 1e9;
    eprintln!(
        "bench: {} idle {} subscribers in {connected_in:.2} s; holding {:?}",
        crowd.ready,
        transport.name(),
        plan.hold
    );
    crowd
        .turn_for(plan.hold, Duration::from_millis(50))
        .map_err(|e| e.to_string())?;
    let after = resident_bytes(plan.pid)?;
    let held = crowd.ready;
    let tally = crowd.tally();
    let per = after.saturating_sub(before) as f64 / held.max(1) as f64;
    let json = JsonLine::new()
        .str("scenario", "idle")
        .str("transport", transport.name())
        .str("target", &target.host)
        .int("connections", held as u64)
        .int("pid", u64::from(plan.pid))
        .int("rss_before", before)
        .int("rss_after", after)
        .num("bytes_per_conn", per)
        .int("errors", tally.errors)
        .finish();
    let human = format!(
        "idle {} x{held}: server RSS {:.1} MiB -> {:.1} MiB, {per:.0} bytes per connection{}",
        transport.name(),
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        tally
            .first_error
            .as_deref()
            .map(|e| format!("; {} errors, first: {e}", tally.errors))
            .unwrap_or_default()
    );
    Ok((json, human, tally.errors == 0 && held == n))
}
