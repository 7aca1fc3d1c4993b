//! The run's phases and what is measured per phase.
//!
//! ```text
//!  warm-up   quiet          setup         during            after
//! ---------|--------------|-------------|-----------------|--------------|
//!  normal    normal client  the attack    the attack runs   the attack's
//!  client    alone          gets ready    (--during)        connections
//!  connects  (--quiet)      (fill, crowd)                   are gone
//!                                                           (--after)
//! ```
//!
//! A sample belongs to the phase in which it *started* (its scheduled
//! time): a poll sent during the attack and answered after it counts as
//! during. Samples of the warm-up are not counted. The setup phase is
//! reported but is not one of the three the table compares: filling a
//! history with 64 MB or opening 10,000 connections is load of its own,
//! not the attack being measured.

use super::super::stats::Histogram;

/// One phase of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Before the attack: the normal client alone.
    Quiet,
    /// The attack's preparation (history filled, subscribers connected).
    Setup,
    /// The attack.
    During,
    /// Recovery: the attack's connections are closed.
    After,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 4] = [Phase::Quiet, Phase::Setup, Phase::During, Phase::After];

    /// The phases the table compares.
    pub const COMPARED: [Phase; 3] = [Phase::Quiet, Phase::During, Phase::After];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Quiet => "quiet",
            Phase::Setup => "setup",
            Phase::During => "during",
            Phase::After => "after",
        }
    }

    fn index(self) -> usize {
        match self {
            Phase::Quiet => 0,
            Phase::Setup => 1,
            Phase::During => 2,
            Phase::After => 3,
        }
    }
}

/// When each phase began and when the run ended, in nanoseconds on the
/// bench clock. Phases begin in order; one that never began (the run
/// failed in setup) has no samples.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    starts: [Option<u64>; 4],
    end: Option<u64>,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// `phase` began at `at` (and the one before it ended).
    pub fn begin(&mut self, phase: Phase, at: u64) {
        if let Some(slot) = self.starts.get_mut(phase.index()) {
            *slot = Some(at);
        }
    }

    /// The last phase ended at `at`.
    pub fn finish(&mut self, at: u64) {
        self.end = Some(at);
    }

    pub fn start(&self, phase: Phase) -> Option<u64> {
        self.starts.get(phase.index()).copied().flatten()
    }

    /// When `phase` ended: the start of the next phase that began, or the
    /// end of the run.
    pub fn end_of(&self, phase: Phase) -> Option<u64> {
        self.start(phase)?;
        Phase::ALL
            .iter()
            .filter(|p| p.index() > phase.index())
            .find_map(|&p| self.start(p))
            .or(self.end)
    }

    /// The phase running at `at`: the last one begun at or before it, if
    /// the run had not ended by then.
    pub fn phase_at(&self, at: u64) -> Option<Phase> {
        if self.end.is_some_and(|end| at >= end) {
            return None;
        }
        Phase::ALL
            .iter()
            .rev()
            .find(|&&p| self.start(p).is_some_and(|start| start <= at))
            .copied()
    }

    /// How long `phase` lasted, in seconds (0 if it never began).
    pub fn seconds(&self, phase: Phase) -> f64 {
        match (self.start(phase), self.end_of(phase)) {
            (Some(start), Some(end)) => end.saturating_sub(start) as f64 / 1e9,
            _ => 0.0,
        }
    }
}

/// The server's and the bench's resources, read at the end of each phase
/// and sampled in between: resident memory (`VmRSS`) and CPU seconds.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Per phase: (server RSS at its end, peak server RSS during it).
    rss: [Option<(u64, u64)>; 4],
    /// Cumulative CPU seconds at the start of each phase and at the end:
    /// (server, bench, the normal client's thread, the machine's steal).
    marks: [Option<[f64; 4]>; 5],
}

impl Resources {
    pub fn new() -> Resources {
        Resources::default()
    }

    /// A sample of the server's RSS taken while `phase` ran.
    pub fn sample_rss(&mut self, phase: Phase, bytes: u64) {
        if let Some(slot) = self.rss.get_mut(phase.index()) {
            let (_, peak) = slot.get_or_insert((bytes, bytes));
            *slot = Some((bytes, (*peak).max(bytes)));
        }
    }

    /// Cumulative CPU seconds (server, bench, normal client, the
    /// machine's steal) when `phase` began; `None` marks the end of the
    /// run.
    pub fn mark_cpu(&mut self, phase: Option<Phase>, cpu: [f64; 4]) {
        let index = phase.map_or(4, Phase::index);
        if let Some(slot) = self.marks.get_mut(index) {
            *slot = Some(cpu);
        }
    }

    /// (RSS at the end of `phase`, peak RSS during it).
    pub fn rss(&self, phase: Phase) -> Option<(u64, u64)> {
        self.rss.get(phase.index()).copied().flatten()
    }

    /// The highest RSS sampled in any phase.
    pub fn peak_rss(&self) -> Option<u64> {
        self.rss.iter().flatten().map(|&(_, peak)| peak).max()
    }

    /// CPU seconds used during `phase`: (server, bench, normal client,
    /// stolen from the machine's CPUs by its hypervisor). NaN where a mark
    /// is missing.
    pub fn cpu(&self, phase: Phase) -> [f64; 4] {
        let start = self.marks.get(phase.index()).copied().flatten();
        // The next mark taken: the next phase that began, or the end.
        let end = self.marks.iter().skip(phase.index() + 1).find_map(|m| *m);
        match (start, end) {
            (Some(s), Some(e)) => [0, 1, 2, 3].map(|i| e[i] - s[i]),
            _ => [f64::NAN; 4],
        }
    }
}

/// What one of the normal client's measurements saw in one phase.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// Latencies of the answered samples, in nanoseconds.
    pub latency: Histogram,
    pub answered: u64,
    /// Answered with an error (a status other than the expected one, a
    /// connection closed before the answer).
    pub failed: u64,
    /// Still waiting for their answer (or delivery) when the run ended.
    pub unanswered: u64,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            latency: Histogram::new(),
            answered: 0,
            failed: 0,
            unanswered: 0,
        }
    }

    /// The latency at quantile `q` of the samples that were answered or
    /// never were (a failed one has no latency), counting those never
    /// answered as the slowest: `None` when `q` falls on one of them, or
    /// when there is no sample at all.
    ///
    /// ```text
    /// 1 answered in 15 s, 799 unanswered:  p50 None, p99 None, max None
    /// 990 answered, 10 unanswered:         p99 the slowest answered
    /// ```
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.answered + self.unanswered;
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        if rank > self.answered {
            return None;
        }
        Some(self.latency.quantile(rank as f64 / self.answered as f64))
    }

    /// The slowest sample: `None` if one was never answered.
    pub fn max(&self) -> Option<u64> {
        self.quantile(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline() -> Timeline {
        let mut t = Timeline::new();
        t.begin(Phase::Quiet, 100);
        t.begin(Phase::Setup, 200);
        t.begin(Phase::During, 250);
        t.begin(Phase::After, 400);
        t.finish(500);
        t
    }

    #[test]
    fn a_time_belongs_to_the_last_phase_begun_before_it() {
        let t = timeline();
        let cases = [
            (99, None),
            (100, Some(Phase::Quiet)),
            (199, Some(Phase::Quiet)),
            (200, Some(Phase::Setup)),
            (250, Some(Phase::During)),
            (399, Some(Phase::During)),
            (400, Some(Phase::After)),
            (499, Some(Phase::After)),
            (500, None),
        ];
        for (at, want) in cases {
            assert_eq!(t.phase_at(at), want, "at {at}");
        }
    }

    #[test]
    fn phases_end_where_the_next_begins() {
        let t = timeline();
        assert_eq!(t.end_of(Phase::Quiet), Some(200));
        assert_eq!(t.end_of(Phase::After), Some(500));
        assert!((t.seconds(Phase::During) - 150e-9).abs() < 1e-15);
        // A run that stopped in setup: during and after never began.
        let mut short = Timeline::new();
        short.begin(Phase::Quiet, 0);
        short.begin(Phase::Setup, 10);
        short.finish(30);
        assert_eq!(short.end_of(Phase::Setup), Some(30));
        assert_eq!(short.phase_at(20), Some(Phase::Setup));
        assert_eq!(short.seconds(Phase::During), 0.0);
    }

    #[test]
    fn resources_keep_the_end_and_peak_of_each_phase() {
        let mut r = Resources::new();
        for (phase, bytes) in [
            (Phase::Quiet, 10),
            (Phase::Quiet, 12),
            (Phase::During, 50),
            (Phase::During, 30),
            (Phase::After, 20),
        ] {
            r.sample_rss(phase, bytes);
        }
        assert_eq!(r.rss(Phase::Quiet), Some((12, 12)));
        assert_eq!(r.rss(Phase::During), Some((30, 50)));
        assert_eq!(r.rss(Phase::Setup), None);
        assert_eq!(r.peak_rss(), Some(50));
    }

    #[test]
    fn unanswered_samples_count_as_the_slowest() {
        let mut l = Latencies::new();
        assert_eq!(l.quantile(0.5), None);
        for v in 1..=98u64 {
            l.latency.record(v);
            l.answered += 1;
        }
        l.unanswered = 2;
        assert_eq!(l.quantile(0.5), Some(50));
        assert_eq!(l.quantile(0.98), Some(98));
        assert_eq!(l.quantile(0.99), None);
        assert_eq!(l.max(), None);
        l.unanswered = 0;
        assert_eq!(l.max(), Some(98));
        // Failed samples have no latency and do not move the quantiles.
        l.failed = 1000;
        assert_eq!(l.quantile(0.5), Some(49));
    }

    #[test]
    fn cpu_per_phase_is_the_difference_of_marks() {
        let mut r = Resources::new();
        r.mark_cpu(Some(Phase::Quiet), [1.0, 2.0, 0.5, 7.0]);
        r.mark_cpu(Some(Phase::Setup), [1.5, 2.5, 0.6, 7.0]);
        // No during mark: setup runs until after begins.
        r.mark_cpu(Some(Phase::After), [4.0, 3.0, 1.0, 7.5]);
        r.mark_cpu(None, [4.5, 3.5, 1.25, 7.75]);
        let near =
            |got: [f64; 4], want: [f64; 4]| got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-9);
        assert!(near(r.cpu(Phase::Quiet), [0.5, 0.5, 0.1, 0.0]));
        assert!(near(r.cpu(Phase::Setup), [2.5, 0.5, 0.4, 0.5]));
        assert!(near(r.cpu(Phase::After), [0.5, 0.5, 0.25, 0.25]));
        assert!(r.cpu(Phase::During)[0].is_nan());
    }
}
