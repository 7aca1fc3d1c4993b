//! The scenario's result: samples placed in their phase, then one JSON
//! line (an object per phase and per phase and metric) and a markdown
//! table that `benches/attacks.sh` stacks, one attack under the other.
//!
//! ```text
//! | attack | normal client (p50 / p99 / max) | quiet | during | after |
//! |---|---|---:|---:|---:|
//! | empty-pongs, 20 connections | keep-alive poll, ms | 0.21 / 0.60 / 1.1 | 41 / 241 / 310 | 0.22 / 0.70 / 1.3 |
//! | | ... one row per measurement ... | | | |
//! | | server RSS MiB, end (peak) | 8.1 (8.1) | 9.0 (9.4) | 8.9 (9.0) |
//! | | CPU s: server / bench (normal client) / stolen | 0.21 / 0.15 (0.09) / 0.00 | ... | ... |
//! ```

use std::collections::BTreeMap;

use super::super::stats::{json_array, json_string, micros, Histogram, JsonLine};
use super::attacker::AttackerReport;
use super::normal::{Metric, NormalReport, Outcome, Sample};
use super::phase::{Latencies, Phase, Resources, Timeline};

/// Each sample in the phase it started in.
pub fn tabulate(samples: &[Sample], timeline: &Timeline) -> BTreeMap<(Phase, Metric), Latencies> {
    let mut table = BTreeMap::new();
    for sample in samples {
        let Some(phase) = timeline.phase_at(sample.started) else {
            continue;
        };
        let entry = table
            .entry((phase, sample.metric))
            .or_insert_with(Latencies::new);
        match sample.outcome {
            Outcome::Answered(at) => {
                entry.answered += 1;
                entry.latency.record(at.saturating_sub(sample.started));
            }
            Outcome::Failed(_) => entry.failed += 1,
            Outcome::Unanswered => entry.unanswered += 1,
        }
    }
    table
}

/// Milliseconds, with the precision a table needs: `0.21`, `3.40`,
/// `41.2`, `241`.
pub fn ms(nanos: u64) -> String {
    let ms = nanos as f64 / 1e6;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A table cell: `p50 / p99 / max` in milliseconds, `never` where the
/// quantile falls on a sample never answered, then what failed or never
/// came; `-` when there was nothing.
pub fn cell(latencies: Option<&Latencies>) -> String {
    let Some(l) = latencies.filter(|l| l.answered + l.failed + l.unanswered > 0) else {
        return "-".into();
    };
    let show = |v: Option<u64>| v.map_or_else(|| "never".to_owned(), ms);
    let mut out = if l.answered + l.unanswered > 0 {
        format!(
            "{} / {} / {}",
            show(l.quantile(0.5)),
            show(l.quantile(0.99)),
            show(l.max())
        )
    } else {
        "none answered".to_owned()
    };
    let mut lost = Vec::new();
    if l.failed > 0 {
        lost.push(format!("{} failed", l.failed));
    }
    if l.unanswered > 0 {
        let of = l.answered + l.failed + l.unanswered;
        lost.push(format!("{} of {of} unanswered", l.unanswered));
    }
    if !lost.is_empty() {
        out.push_str(&format!(" ({})", lost.join(", ")));
    }
    out
}

fn mib(bytes: u64) -> String {
    let m = bytes as f64 / 1048576.0;
    if m < 100.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.0}")
    }
}

/// Everything one run produced.
pub struct Results {
    pub attack: String,
    /// What the attack's size was, in words: `20 connections`.
    pub size: String,
    pub target: String,
    pub probe_rate: f64,
    pub timeline: Timeline,
    pub resources: Resources,
    pub normal: NormalReport,
    pub attacker: AttackerReport,
    /// What the run itself has to say (it stopped the attack early).
    pub notes: Vec<String>,
}

impl Results {
    fn lateness(&self) -> BTreeMap<Phase, Histogram> {
        let mut out = BTreeMap::new();
        for &(due, late) in &self.normal.lateness {
            if let Some(phase) = self.timeline.phase_at(due) {
                out.entry(phase).or_insert_with(Histogram::new).record(late);
            }
        }
        out
    }

    /// The JSON line.
    pub fn json(&self) -> String {
        let table = tabulate(&self.normal.samples, &self.timeline);
        let lateness = self.lateness();
        let phases = Phase::ALL.iter().map(|&phase| {
            let [server, bench, normal, steal] = self.resources.cpu(phase);
            let (rss_end, rss_peak) = self.resources.rss(phase).unwrap_or_default();
            let late = lateness.get(&phase);
            JsonLine::new()
                .str("phase", phase.name())
                .num("seconds", self.timeline.seconds(phase))
                .int("rss_end", rss_end)
                .int("rss_peak", rss_peak)
                .num("server_cpu_s", server)
                .num("client_cpu_s", bench)
                .num("normal_client_cpu_s", normal)
                .num("steal_s", steal)
                .num(
                    "normal_late_p99_us",
                    late.map_or(f64::NAN, |h| micros(h.quantile(0.99))),
                )
                .num(
                    "normal_late_max_us",
                    late.map_or(f64::NAN, |h| micros(h.max())),
                )
                .finish()
        });
        let metrics = Phase::ALL.iter().flat_map(|&phase| {
            let table = &table;
            Metric::ALL.iter().map(move |&metric| {
                let l = table.get(&(phase, metric));
                let q = |q: f64| l.and_then(|l| l.quantile(q));
                let us = |v: Option<u64>| v.map_or(f64::NAN, micros);
                JsonLine::new()
                    .str("phase", phase.name())
                    .str("metric", metric.name())
                    .int("samples", l.map_or(0, |l| l.answered))
                    .int("failed", l.map_or(0, |l| l.failed))
                    .int("unanswered", l.map_or(0, |l| l.unanswered))
                    .num("p50_us", us(q(0.5)))
                    .num("p99_us", us(q(0.99)))
                    .num("max_us", us(l.and_then(Latencies::max)))
                    .finish()
            })
        });
        let endings = self.attacker.endings.summary().into_iter().map(|e| {
            let [min, median, max] = e.lifetime_s;
            JsonLine::new()
                .str("group", &e.group)
                .str("ending", &e.ending.to_string())
                .int("count", e.count)
                .num("lifetime_min_s", min)
                .num("lifetime_median_s", median)
                .num("lifetime_max_s", max)
                .int("messages", e.messages)
                .finish()
        });
        let opened = self
            .attacker
            .endings
            .opened_counts()
            .fold(JsonLine::new(), |j, (group, n)| j.int(group, n))
            .finish();
        let figures = self
            .attacker
            .figures
            .iter()
            .fold(JsonLine::new(), |j, (k, v)| j.num(k, *v))
            .finish();
        let failures = self
            .normal
            .first_failures
            .iter()
            .fold(JsonLine::new(), |j, (m, why)| j.str(m.name(), why))
            .finish();
        let strings = |lines: &[String]| json_array(lines.iter().map(|l| json_string(l)));
        let mut line = JsonLine::new()
            .str("scenario", "attack")
            .str("attack", &self.attack)
            .str("size", &self.size)
            .str("target", &self.target)
            .num("probe_rate", self.probe_rate)
            .raw("phases", &json_array(phases))
            .raw("metrics", &json_array(metrics))
            .int("rss_peak", self.resources.peak_rss().unwrap_or(0))
            .raw("attackers_opened", &opened)
            .raw("attacker_endings", &json_array(endings))
            .raw("attack_figures", &figures)
            .raw("normal_first_failures", &failures)
            .raw("attack_notes", &strings(&self.attacker.notes))
            .raw("notes", &strings(&self.notes));
        if let Some(e) = &self.attacker.error {
            line = line.str("error", e);
        }
        line.finish()
    }

    /// The markdown table: the header and this attack's rows.
    pub fn table(&self) -> String {
        let table = tabulate(&self.normal.samples, &self.timeline);
        let mut out = String::from(TABLE_HEADER);
        let mut first = true;
        let mut row = |measure: &str, [quiet, during, after]: [String; 3]| {
            let name = if first {
                format!("{}, {}", self.attack, self.size)
            } else {
                String::new()
            };
            first = false;
            out.push_str(&format!(
                "| {name} | {measure} | {quiet} | {during} | {after} |\n"
            ));
        };
        for metric in Metric::ALL {
            let cells = Phase::COMPARED.map(|p| cell(table.get(&(p, metric))));
            row(&format!("{}, ms", metric.label()), cells);
        }
        let rss = Phase::COMPARED.map(|p| match self.resources.rss(p) {
            Some((end, peak)) => format!("{} ({})", mib(end), mib(peak)),
            None => "-".into(),
        });
        row("server RSS MiB, end (peak)", rss);
        let cpu = Phase::COMPARED.map(|p| {
            let [server, bench, normal, steal] = self.resources.cpu(p);
            format!("{server:.2} / {bench:.2} ({normal:.2}) / {steal:.2}")
        });
        row("CPU s: server / bench (normal client) / stolen", cpu);
        out
    }

    /// The human lines: the table, then what the attackers saw.
    pub fn human(&self) -> String {
        let mut out = format!(
            "attack {} ({}) against {}; the normal client measures {} times a second; \
             phases: quiet {:.1} s, setup {:.1} s, during {:.1} s, after {:.1} s\n\n",
            self.attack,
            self.size,
            self.target,
            self.probe_rate,
            self.timeline.seconds(Phase::Quiet),
            self.timeline.seconds(Phase::Setup),
            self.timeline.seconds(Phase::During),
            self.timeline.seconds(Phase::After),
        );
        out.push_str(&self.table());
        out.push('\n');
        let opened: Vec<String> = self
            .attacker
            .endings
            .opened_counts()
            .map(|(g, n)| format!("{n} {g}"))
            .collect();
        if !opened.is_empty() {
            out.push_str(&format!("attackers opened: {}\n", opened.join(", ")));
        }
        for e in self.attacker.endings.summary() {
            out.push_str(&format!("attackers: {e}\n"));
        }
        for note in &self.attacker.notes {
            out.push_str(&format!("attack: {note}\n"));
        }
        if let Some(e) = &self.attacker.error {
            out.push_str(&format!("attack failed: {e}\n"));
        }
        for (metric, why) in &self.normal.first_failures {
            out.push_str(&format!(
                "normal client: first {} failure: {why}\n",
                metric.name()
            ));
        }
        let lateness = self.lateness();
        let late: Vec<String> = Phase::COMPARED
            .iter()
            .filter_map(|p| {
                let h = lateness.get(p)?;
                Some(format!(
                    "{} {} / {}",
                    p.name(),
                    ms(h.quantile(0.99)),
                    ms(h.max())
                ))
            })
            .collect();
        out.push_str(&format!(
            "normal client's own wake-up lateness, ms p99 / max: {}\n",
            late.join(", ")
        ));
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out.trim_end().to_owned()
    }
}

/// The table's header: `benches/attacks.sh` prints it once, then each
/// run's rows.
pub const TABLE_HEADER: &str = "\
| attack | normal client: p50 / p99 / max | quiet | during | after |
|---|---|---:|---:|---:|
";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(metric: Metric, started: u64, outcome: Outcome) -> Sample {
        Sample {
            metric,
            started,
            outcome,
        }
    }

    fn timeline() -> Timeline {
        let mut t = Timeline::new();
        t.begin(Phase::Quiet, 1_000);
        t.begin(Phase::Setup, 2_000);
        t.begin(Phase::During, 3_000);
        t.begin(Phase::After, 4_000);
        t.finish(5_000);
        t
    }

    #[test]
    fn samples_count_in_the_phase_they_started_in() {
        let samples = [
            sample(Metric::Poll, 500, Outcome::Answered(600)),
            sample(Metric::Poll, 1_500, Outcome::Answered(1_600)),
            // Sent during, answered after: during.
            sample(Metric::Poll, 3_900, Outcome::Answered(4_500)),
            sample(Metric::Poll, 3_950, Outcome::Failed(4_000)),
            sample(Metric::Sse, 3_990, Outcome::Unanswered),
        ];
        let t = tabulate(&samples, &timeline());
        assert_eq!(t.len(), 3, "the warm-up sample is not counted");
        let quiet = &t[&(Phase::Quiet, Metric::Poll)];
        assert_eq!((quiet.answered, quiet.latency.max()), (1, 100));
        let during = &t[&(Phase::During, Metric::Poll)];
        assert_eq!((during.answered, during.failed), (1, 1));
        assert_eq!(during.latency.max(), 600);
        assert_eq!(t[&(Phase::During, Metric::Sse)].unanswered, 1);
    }

    #[test]
    fn milliseconds_keep_three_significant_figures_or_so() {
        for (ns, text) in [
            (210_000, "0.21"),
            (3_400_000, "3.40"),
            (41_230_000, "41.2"),
            (241_400_000, "241"),
            (1_100_000_000, "1100"),
        ] {
            assert_eq!(ms(ns), text);
        }
    }

    #[test]
    fn a_cell_shows_percentiles_then_losses() {
        assert_eq!(cell(None), "-");
        let mut l = Latencies::new();
        for v in [1_000_000, 2_000_000, 3_000_000] {
            l.latency.record(v);
            l.answered += 1;
        }
        // p50 is the upper edge of 2 ms's histogram bucket (within 1%).
        assert_eq!(cell(Some(&l)), "2.01 / 3.00 / 3.00");
        l.failed = 2;
        l.unanswered = 1;
        assert_eq!(
            cell(Some(&l)),
            "2.01 / never / never (2 failed, 1 of 6 unanswered)"
        );
        let mut none = Latencies::new();
        none.unanswered = 4;
        assert_eq!(
            cell(Some(&none)),
            "never / never / never (4 of 4 unanswered)"
        );
        none.unanswered = 0;
        none.failed = 3;
        assert_eq!(cell(Some(&none)), "none answered (3 failed)");
    }

    fn results() -> Results {
        let samples = Metric::ALL
            .iter()
            .flat_map(|&m| {
                [1_500, 3_500, 4_500].map(|t| sample(m, t, Outcome::Answered(t + 2_000_000)))
            })
            .chain([sample(Metric::Ws, 3_600, Outcome::Unanswered)])
            .collect();
        let mut resources = Resources::new();
        resources.sample_rss(Phase::During, 3 << 20);
        Results {
            attack: "empty-pongs".into(),
            size: "20 connections".into(),
            target: "127.0.0.1:1".into(),
            probe_rate: 100.0,
            timeline: timeline(),
            resources,
            normal: NormalReport {
                samples,
                lateness: vec![(3_500, 10_000)],
                first_failures: vec![(Metric::Ws, "a \"quoted\" reason".into())],
            },
            attacker: AttackerReport::default(),
            notes: vec!["stopped \"early\"".into()],
        }
    }

    #[test]
    fn the_table_has_a_row_per_measurement_and_the_attack_once() {
        let table = results().table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2 + 5 + 2);
        assert_eq!(lines[0], TABLE_HEADER.lines().next().unwrap());
        assert_eq!(
            lines[2],
            "| empty-pongs, 20 connections | keep-alive poll, ms | 2.00 / 2.00 / 2.00 | 2.00 / 2.00 / 2.00 | 2.00 / 2.00 / 2.00 |"
        );
        assert!(lines[3].starts_with("|  | new connection + poll, ms |"));
        assert_eq!(
            lines[7],
            "|  | server RSS MiB, end (peak) | - | 3.0 (3.0) | - |"
        );
        assert!(lines.iter().all(|l| l.matches('|').count() == 6));
    }

    #[test]
    fn the_json_line_has_every_phase_and_metric() {
        let json = results().json();
        assert!(json.starts_with(r#"{"scenario":"attack","attack":"empty-pongs""#));
        for phase in Phase::ALL {
            assert!(json.contains(&format!(r#"{{"phase":"{}","seconds":"#, phase.name())));
            for metric in Metric::ALL {
                let key = format!(
                    r#"{{"phase":"{}","metric":"{}""#,
                    phase.name(),
                    metric.name()
                );
                assert!(json.contains(&key), "{key}");
            }
        }
        assert!(json.contains(r#""normal_first_failures":{"ws":"a \"quoted\" reason"}"#));
        assert!(json.contains(r#""notes":["stopped \"early\""]"#), "{json}");
        assert!(json.contains(r#""attack_notes":[]"#));
        assert!(json.contains(r#""p50_us":2000.000"#));
        // A sample never answered: its metric's max is null.
        assert!(json.contains(
            r#""phase":"during","metric":"ws","samples":1,"failed":0,"unanswered":1,"p50_us":2000.000,"p99_us":null,"max_us":null}"#
        ), "{json}");
        assert!(!json.contains('\n'));
    }
}
