//! `pushwire bench fanout`: S subscribers on one channel, one publisher,
//! M stamped messages; delivery rate, latency and the loss / duplicate /
//! order check.
//!
//! The run: open and subscribe everyone (a few hundred connects at a
//! time), wait `--settle`, then publish. Without `--rate` the publisher
//! keeps `--inflight` messages unanswered (default 1), so the server's own
//! pace of fanning out sets the rate (a closed loop: it measures capacity,
//! not a chosen load).
//! The run ends when every subscriber has the last message, or
//! `--timeout` after the last publish.
//!
//! With several subscriber URLs (servers sharing their channels, the
//! publisher on the first URL's server or wherever `--pub-url` says) the
//! subscribers are dealt round-robin over them, and the report adds each
//! server's share: `t1_p50_us`, `t2_p50_us`, ... in the order given.
//!
//! `client_cpu_share` is the bench's own CPU from the first publish to
//! the end, over that wall time: near 1, the bench and not the server may
//! have set the pace.

use std::time::Duration;

use mio::Token;

use super::crowd::{Crowd, CrowdPlan, FIRST_FREE_TOKEN};
use super::net::Sources;
use super::publisher::Publisher;
use super::stamp::Clock;
use super::stats::{micros, JsonLine};
use super::target::Template;

pub struct FanoutPlan {
    pub crowd: CrowdPlan,
    pub publish: Template,
    pub size: usize,
    /// Messages per second, or as fast as answered.
    pub rate: Option<f64>,
    /// Publishes sent and not yet answered, at most.
    pub inflight: u64,
    pub settle: Duration,
    pub timeout: Duration,
    pub sources: Option<usize>,
}

const PUB: Token = Token(FIRST_FREE_TOKEN);

fn progress(what: &str) {
    eprintln!("bench: {what}");
}

/// Runs the scenario; returns the JSON line, the human line and whether
/// every message arrived exactly once and in order.
pub fn run(plan: FanoutPlan) -> Result<(String, String, bool), String> {
    let subscribers = plan.crowd.subscribers;
    let messages = plan.crowd.messages;
    super::net::ensure_fd_limit(subscribers + 16)?;
    let clock = Clock::new();
    let first_target = plan.crowd.targets.first().ok_or("no subscriber URL")?;
    let sources = Sources::for_connections(first_target.addr, subscribers, plan.sources);
    let mut publisher_sources = sources.clone();
    let transport = plan.crowd.transport;
    let mut crowd = Crowd::new(plan.crowd.clone(), sources, clock).map_err(|e| e.to_string())?;
    let mut others = Vec::new();
    let tick = Duration::from_millis(5);

    // Subscribe everyone.
    let started = clock.now();
    let deadline = started + plan.timeout.as_nanos() as u64;
    let mut shown = 0;
    while !crowd.all_ready() {
        crowd.turn(tick, &mut others).map_err(|e| e.to_string())?;
        others.clear();
        if crowd.ready >= shown + 10_000 {
            shown = crowd.ready;
            progress(&format!("{shown} subscribed"));
        }
        if clock.now() > deadline {
            return Err(format!(
                "only {} of {subscribers} subscribed within {:?} ({} failed; first error: {})",
                crowd.ready,
                plan.timeout,
                crowd.failed,
                crowd.tally().first_error.as_deref().unwrap_or("none")
            ));
        }
    }
    let subscribe_secs = (clock.now() - started) as f64 / 1e9;
    progress(&format!(
        "{} {} subscribers in {subscribe_secs:.2} s ({} failed); publishing {messages} messages",
        crowd.ready,
        transport.name(),
        crowd.failed
    ));
    crowd
        .turn_for(plan.settle, tick)
        .map_err(|e| e.to_string())?;

    let mut publisher = Publisher::new(
        crowd.poll.registry(),
        PUB,
        plan.publish.clone(),
        &plan.crowd.channel,
        plan.size,
        &mut publisher_sources,
    )
    .map_err(|e| format!("publisher: {e}"))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut end_by = u64::MAX;
    let (cpu_from, wall_from) = (super::cpu_seconds(), clock.now());
    loop {
        let now = clock.now();
        while publisher.sent < messages && publisher.can_send(plan.inflight) {
            let due = match (plan.rate, publisher.first_sent_at) {
                (Some(rate), Some(first)) => first + (publisher.sent as f64 * 1e9 / rate) as u64,
                _ => now,
            };
            if now < due {
                break;
            }
            publisher
                .send(&clock)
                .map_err(|e| format!("publisher: {e}"))?;
            if publisher.sent == messages {
                end_by = clock.now() + plan.timeout.as_nanos() as u64;
            }
        }
        if crowd.all_finished() && publisher.sent == messages {
            break;
        }
        if clock.now() > end_by {
            progress("timed out waiting for deliveries");
            break;
        }
        // With a paced publisher, wake up in time for the next message.
        let wait = if plan.rate.is_some() {
            Duration::from_micros(200)
        } else {
            tick
        };
        crowd.turn(wait, &mut others).map_err(|e| e.to_string())?;
        if !others.is_empty() {
            others.clear();
            publisher.on_event(crowd.poll.registry(), &mut publisher_sources, &mut buf)?;
        }
    }

    let publish_cpu = super::cpu_seconds() - cpu_from;
    let cpu_share = publish_cpu / ((clock.now() - wall_from) as f64 / 1e9).max(1e-9);
    let first = publisher.first_sent_at.unwrap_or(0);
    let tally = crowd.tally();
    let (mut distinct, mut duplicated, mut out_of_order, mut corrupt) = (0, 0, 0, tally.corrupt);
    for sub in crowd.subscribers() {
        distinct += sub.tracker.distinct();
        duplicated += sub.tracker.duplicated;
        out_of_order += sub.tracker.out_of_order;
        corrupt += sub.tracker.corrupt;
    }
    let expected = subscribers as u64 * messages;
    let lost = expected.saturating_sub(distinct);
    // Each server's share, when there are several.
    let targets = &plan.crowd.targets;
    let mut shares = Vec::new();
    if targets.len() > 1 {
        for (i, target) in targets.iter().enumerate() {
            let (mut count, mut got) = (0u64, 0u64);
            for sub in crowd.subscribers_of(i) {
                count += 1;
                got += sub.tracker.distinct();
            }
            let lat = &crowd.target_tally(i).latency;
            shares.push(Share {
                host: target.host.clone(),
                subscribers: count,
                delivered: got,
                lost: (count * messages).saturating_sub(got),
                p50: lat.quantile(0.5),
                p99: lat.quantile(0.99),
                max: lat.max(),
            });
        }
    }
    let secs = (tally.last_delivery.saturating_sub(first)) as f64 / 1e9;
    let rate = if secs > 0.0 {
        distinct as f64 / secs
    } else {
        0.0
    };
    let lat = &tally.latency;
    let (p50, p99, max) = (lat.quantile(0.5), lat.quantile(0.99), lat.max());
    let cpu = super::cpu_seconds();
    let clean = lost == 0 && duplicated == 0 && out_of_order == 0 && corrupt == 0;
    let hosts: Vec<&str> = targets.iter().map(|t| t.host.as_str()).collect();
    let mut json = JsonLine::new()
        .str("scenario", "fanout")
        .str("transport", transport.name())
        .str("target", &hosts.join(","))
        .int("subscribers", subscribers as u64)
        .int("messages", messages)
        .int("size", plan.size as u64)
        .int("inflight", plan.inflight)
        .int("delivered", distinct)
        .num("seconds", secs)
        .num("msgs_per_s", rate)
        .num("p50_us", micros(p50))
        .num("p99_us", micros(p99))
        .num("max_us", micros(max))
        .int("lost", lost)
        .int("duplicated", duplicated)
        .int("out_of_order", out_of_order)
        .int("corrupt", corrupt)
        .int("errors", tally.errors)
        .num("subscribe_s", subscribe_secs)
        .num("client_cpu_s", cpu)
        .num("client_cpu_publish_s", publish_cpu)
        .num("client_cpu_share", cpu_share);
    for (i, share) in shares.iter().enumerate() {
        let key = |name: &str| format!("t{}_{name}", i + 1);
        json = json
            .str(&key("host"), &share.host)
            .int(&key("subscribers"), share.subscribers)
            .int(&key("delivered"), share.delivered)
            .int(&key("lost"), share.lost)
            .num(&key("p50_us"), micros(share.p50))
            .num(&key("p99_us"), micros(share.p99))
            .num(&key("max_us"), micros(share.max));
    }
    let json = json.finish();
    let mut human = format!(
        "fanout {} x{subscribers} {messages} msgs of {} B: {distinct} delivered in {secs:.3} s = {rate:.0} msg/s, \
         latency p50 {:.0} us p99 {:.0} us max {:.0} us; lost {lost} dup {duplicated} ooo {out_of_order} corrupt {corrupt}",
        transport.name(),
        plan.size,
        micros(p50),
        micros(p99),
        micros(max)
    );
    for share in &shares {
        human.push_str(&format!(
            "; {} x{}: p50 {:.0} us p99 {:.0} us max {:.0} us lost {}",
            share.host,
            share.subscribers,
            micros(share.p50),
            micros(share.p99),
            micros(share.max),
            share.lost
        ));
    }
    human.push_str(&format!(
        "; bench CPU {:.0}% of the publish phase",
        cpu_share * 100.0
    ));
    if cpu_share > 0.9 {
        human.push_str(": the bench may be the limit");
    }
    if let Some(e) = &tally.first_error {
        human.push_str(&format!("; {} errors, first: {e}", tally.errors));
    }
    Ok((json, human, clean))
}

/// One server's subscribers, when they were spread over several.
struct Share {
    host: String,
    subscribers: u64,
    delivered: u64,
    lost: u64,
    p50: u64,
    p99: u64,
    max: u64,
}
