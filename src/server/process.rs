//! The standard `process_*` metrics, read from `/proc/self` when
//! `/metrics` is scraped (never on the hot path), as the Prometheus client
//! libraries read them on Linux (proc(5)):
//!
//! | metric | from |
//! |--------|------|
//! | `process_cpu_seconds_total` | `/proc/self/stat` fields 14 and 15 (`utime`, `stime`), in clock ticks |
//! | `process_start_time_seconds` | field 22 (`starttime`, ticks after boot) and `btime` of `/proc/stat` |
//! | `process_virtual_memory_bytes` | `VmSize` of `/proc/self/status` |
//! | `process_resident_memory_bytes` | `VmRSS` of `/proc/self/status` |
//! | `process_open_fds` | the entries of `/proc/self/fd` |
//! | `process_max_fds` | the soft limit of "Max open files" in `/proc/self/limits` |
//!
//! Clock ticks are `USER_HZ`, which Linux fixes at 100 for everything
//! it reports to user space (time(7)), as Prometheus's `procfs` assumes.
//! A file that cannot be read leaves its metric out.
//!
//! With TLS on the listener, the TLS layer's counts follow (the layer
//! sits in the reactor, below the engine, so they are the driver's own):
//!
//! | metric | counts |
//! |--------|--------|
//! | `pushwire_tls_handshakes_total` | handshakes completed |
//! | `pushwire_tls_handshake_failures_total{reason}` | `error` (a bad record, an alert, nothing in common), `timeout` (cut at `--tls-handshake-timeout`), `plain_http` (answered the plaintext 400) |
//! | `pushwire_tls_certificate_reloads_total` | certificates put in force by SIGHUP or `Hub::reload_tls` |

use std::fs;
use std::sync::Arc;

use crate::engine::ProcessProbe;
use crate::prometheus::{Exposition, Kind, ProcessStats};

use super::tls::TlsCounters;

/// Clock ticks per second in `/proc` (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// Reads `/proc/self` at each scrape, and the TLS layer's counts when
/// the listener speaks TLS.
#[derive(Debug, Default)]
pub(super) struct ProcSelf {
    pub(super) tls: Option<Arc<TlsCounters>>,
}

impl ProcessProbe for ProcSelf {
    fn write_own(&mut self, text: &mut Exposition<'_>) {
        let Some(tls) = &self.tls else {
            return;
        };
        let counts = tls.read();
        text.single(
            "pushwire_tls_handshakes_total",
            Kind::Counter,
            "TLS handshakes completed.",
            counts.handshakes,
        );
        let name = "pushwire_tls_handshake_failures_total";
        text.family(
            name,
            Kind::Counter,
            "TLS handshakes that did not complete, by reason: error (a bad record, an alert, nothing in common), timeout (--tls-handshake-timeout), plain_http (plain HTTP on the TLS port, answered 400).",
        );
        for (reason, n) in [
            ("error", counts.failures),
            ("timeout", counts.timeouts),
            ("plain_http", counts.plain_http),
        ] {
            text.sample(name, &[("reason", reason)], n);
        }
        text.single(
            "pushwire_tls_certificate_reloads_total",
            Kind::Counter,
            "Certificates put in force by a reload (SIGHUP or Hub::reload_tls).",
            counts.reloads,
        );
    }

    fn sample(&mut self) -> ProcessStats {
        let stat = fs::read_to_string("/proc/self/stat").ok();
        let times = stat.as_deref().and_then(parse_stat);
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let boot = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_btime(&s));
        let open_fds = fs::read_dir("/proc/self/fd")
            .ok()
            .map(|dir| dir.count() as u64);
        let max_fds = fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| parse_max_open_files(&s));
        ProcessStats {
            cpu_seconds: times.map(|t| (t.utime + t.stime) as f64 / USER_HZ),
            open_fds,
            max_fds,
            virtual_memory_bytes: status_kib(&status, "VmSize:").map(|k| k * 1024),
            resident_memory_bytes: status_kib(&status, "VmRSS:").map(|k| k * 1024),
            start_time_seconds: times
                .zip(boot)
                .map(|(t, boot)| boot as f64 + t.starttime as f64 / USER_HZ),
        }
    }
}

/// What `/proc/self/stat` tells, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Times {
    utime: u64,
    stime: u64,
    starttime: u64,
}

/// Fields 14, 15 and 22 of `/proc/self/stat`. The second field is the
/// command name in parentheses and may itself hold spaces and `)`, so
/// the fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<Times> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    // `rest` starts with field 3 (the state).
    let mut fields = rest.split_ascii_whitespace();
    let mut nth = |n: usize| fields.nth(n)?.parse::<u64>().ok();
    let utime = nth(11)?; // field 14
    let stime = nth(0)?; // 15
    let starttime = nth(6)?; // 22
    Some(Times {
        utime,
        stime,
        starttime,
    })
}

/// `btime` of `/proc/stat`: the boot time, seconds since the epoch.
fn parse_btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A `Key:   1234 kB` line of `/proc/self/status`, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix(key))?;
    line.split_ascii_whitespace().next()?.parse().ok()
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn parse_max_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name_even_with_parentheses() {
        // A command name with a space and a `)` in it, as a process may
        // name itself.
        let stat = "4242 (push wire) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 1 0 123456 10485760 512 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(Times {
                utime: 250,
                stime: 75,
                starttime: 123456
            })
        );
        assert_eq!(parse_stat("no parentheses"), None);
        assert_eq!(parse_stat("1 (short) S 1 2"), None);
    }

    #[test]
    fn status_limits_and_btime_lines_are_found_by_their_key() {
        let status = "Name:\tpushwire\nVmSize:\t   12345 kB\nVmRSS:\t    678 kB\n";
        assert_eq!(status_kib(status, "VmSize:"), Some(12345));
        assert_eq!(status_kib(status, "VmRSS:"), Some(678));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        assert_eq!(
            parse_btime("cpu  1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn this_process_reads_itself() {
        let stats = ProcSelf::default().sample();
        assert!(stats.open_fds.is_some_and(|n| n >= 3), "{stats:?}");
        assert!(stats.max_fds.is_some_and(|n| n >= 3), "{stats:?}");
        assert!(stats.resident_memory_bytes.is_some_and(|n| n > 0));
        assert!(stats.virtual_memory_bytes >= stats.resident_memory_bytes);
        // Started after 2020 and not in the future.
        let start = stats.start_time_seconds.unwrap_or(0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        assert!(start > 1.577e9 && start <= now + 1.0, "{start} {now}");
        assert!(stats.cpu_seconds.is_some_and(|s| s >= 0.0));
    }
}
