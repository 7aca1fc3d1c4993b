//! `pushwire bench`: a load generator for pushwire, nginx + nchan, or any
//! server that speaks the same transports, built on the crate's own sans-IO
//! codecs in the client role and one `mio::Poll` (one thread).
//!
//! Each scenario prints progress on stderr, then one JSON line and one
//! human line (the attack scenario: a markdown table and a few lines) on
//! stdout; the exit status is 1 when a message was lost, duplicated,
//! reordered or corrupted, a publish was not answered `202`, or a
//! connection failed (for an attack: when the attack could not run).

mod attack;
mod crowd;
mod echo;
mod fanout;
mod handshake;
mod idle;
mod link;
mod net;
mod pipeline;
mod publish;
mod publisher;
mod stamp;
mod stats;
mod subscriber;
mod target;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crowd::CrowdPlan;
use subscriber::{Format, Transport};
use target::Template;

pub const USAGE: &str = "\
Usage: pushwire bench SCENARIO [OPTIONS]

Scenarios:
  fanout   S subscribers, one publisher, M stamped messages: delivered msg/s,
           latency p50/p99/max, lost / duplicated / out-of-order (must be 0)
  echo     WebSocket echo: C connections, D messages in flight each
  publish  C connections each publishing, one message in flight (the next once the
           202 arrived): acknowledged msg/s, latency p50/p99/max; any answer but
           202 is an error
  idle     hold N idle subscribers; the server's resident memory per connection
  handshake  full TLS handshakes per second, C at a time, each a new session
           (--features tls): rate, handshake time p50/p99, the server's CPU per
           handshake (--pid), the bench's own CPU
  attack   one attack next to a normal client: the normal client's latency
           p50/p99/max (keep-alive poll, new connection + poll, publish, SSE and
           WebSocket delivery) before, during and after, the server's RSS and CPU
           per phase, and how the attackers' connections ended

Common options:
  --server HOST:PORT     pushwire to drive with its default paths [default: 127.0.0.1:8080]
  --sub-url URL          subscriber URL template; {channel}, {transport} and {since}
                         (the last id of a pushwire poll answer) are filled in
                         [default: http://SERVER/{transport}/{channel}?since=0, longpoll and
                         poll: ...?since={since}]; fanout: URL,URL,... deals the
                         subscribers round-robin over several servers and reports each
                         server's share too
  --pub-url URL          publisher URL template [default: http://SERVER/pub/{channel}]
  --url URL              echo endpoint [default: ws://SERVER/echo]
  --channel NAME         channel name [default: bench-PID-NANOS, fresh each run]
  --format F             poll bodies: auto (JSON if Content-Type says so), json, raw [default: auto]
  --sources N            bind client sockets to 127.0.0.2 .. 127.0.0.(N+1); 0 = kernel's choice
                         [default: one per 16,000 connections]
  --max-connecting N     connects in progress at once [default: 256]

fanout:  --transport ws|sse|longpoll|poll  --subscribers S [100]  --messages M [100]
         --rate R (msg/s; default: as fast as answered)
         --inflight N (publishes pipelined before an answer) [1]
         --size B [64]  --interval SECS (poll) [0.5]  --settle SECS [0.5]  --timeout SECS [30]
echo:    --connections C [100]  --size B [32]  --depth D [16]  --seconds T [5]
         --warmup SECS [1]  --binary  --threads N: event loops the connections are
         split over [1]; the report says when the bench's own CPU is the limit
publish: --connections C [50]  --size B [64]  --seconds T [5]  --warmup SECS [1]
idle:    --transport T  --connections N [1000]  --pid P (the server)  --hold SECS [2]
handshake: --url https://HOST:PORT/ [https://SERVER/]  --concurrency C [64]  --seconds T [5]
         --warmup SECS [1]  --tls-version 1.3|1.2 [both offered]  --pid P (the server)
         --no-verify: skip the certificate and signature checks (the bench's cost,
           not the server's) [default: trust SSL_CERT_FILE or the system's CAs]
attack:  --attack NAME  --pid P (the server: RSS and CPU time, required)
         --quiet SECS [4]  --during SECS [8]  --after SECS [6]  (the three phases)
         --probe-rate R: each normal-client measurement R times a second [100]
         --probe-size B: the normal client's published messages [64]
         --attackers N: connections (big-backlog-readers: clients, 3 connections each)
         --no-reconnect: leave closed what the server closes [default: replace in 10 ms]
         --setup-timeout SECS [60]  --max-server-rss-mb M: stop the attack past it
           [default: a third of MemAvailable]
  big-backlog-readers   fill a channel's history (--backlog-mb [64], --message-bytes
                        [1000000]); then N clients [40] each send GET /poll/CH?since=0,
                        /longpoll/CH?since=0 and HTTP/1.0 /sse/CH?since=0, never reading
  empty-continuations   N WebSockets [20] to --ws-path [/echo; or /ws/{channel}]: a text
                        frame with FIN=0, then 6-byte empty continuations, as fast as they go
  empty-pongs           N WebSockets [20]: masked empty unsolicited pongs, as fast as they go
  never-ending-message  N WebSockets [20]: a message that never ends, one fragment each
                        --trickle SECS [1]
  stalled-subscribers   N subscribers [400], half ws, half sse, that stop reading while one
                        connection publishes --rate [1000] msg/s of --size [1024] B to them;
                        --read-again K [10] of each read again at the end
  fanout-burst          N SSE subscribers [10000]; --burst P [200] pipelined publishes every
                        --burst-every SECS [1]
";

struct Args {
    scenario: String,
    flags: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut args = args.into_iter().peekable();
        let scenario = args
            .next()
            .ok_or("which scenario? fanout, echo, publish, idle, handshake or attack")?;
        let mut flags = Vec::new();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument '{arg}'"));
            };
            if let Some((name, value)) = name.split_once('=') {
                flags.push((name.to_owned(), Some(value.to_owned())));
            } else if matches!(name, "binary" | "help" | "no-reconnect" | "no-verify") {
                flags.push((name.to_owned(), None));
            } else {
                let value = args
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                flags.push((name.to_owned(), Some(value)));
            }
        }
        Ok(Args { scenario, flags })
    }

    /// The value of `--name` (empty for a flag without one); given more
    /// than once, the last one wins.
    fn take(&mut self, name: &str) -> Option<String> {
        let mut value = None;
        self.flags.retain(|(n, v)| {
            if n != name {
                return true;
            }
            value = Some(v.clone().unwrap_or_default());
            false
        });
        value
    }

    fn num<T: std::str::FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        match self.take(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: '{v}' is not a number")),
        }
    }

    /// `--pid`, the server's process id, if given.
    fn pid(&mut self) -> Result<Option<u32>, String> {
        self.take("pid")
            .map(|p| {
                p.parse()
                    .map_err(|_| format!("--pid: '{p}' is not a process id"))
            })
            .transpose()
    }

    fn secs(&mut self, name: &str, default: f64) -> Result<Duration, String> {
        let v: f64 = self.num(name, default)?;
        if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
            return Err(format!("--{name}: {v} is not between 0 and 86400 seconds"));
        }
        Ok(Duration::from_secs_f64(v))
    }

    fn finish(self) -> Result<(), String> {
        match self.flags.first() {
            Some((name, _)) => Err(format!("unknown option --{name} for '{}'", self.scenario)),
            None => Ok(()),
        }
    }
}

/// CPU seconds this process used (user + system), from /proc/self/stat.
pub fn cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat")
}

/// CPU seconds the hypervisor gave to other guests while this machine's
/// CPUs wanted to run (`steal` of the `cpu` line of `/proc/stat`, all
/// CPUs together; proc(5)): on a shared virtual machine, time in which
/// nothing here ran, whatever the server or the bench did. NaN if
/// unknown.
pub fn steal_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    stat.lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .and_then(|rest| rest.split_whitespace().nth(7))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |ticks| ticks / 100.0)
}

/// CPU seconds (user + system) from a `stat` file of /proc: a process's
/// (`/proc/PID/stat`) or one thread's (`/proc/PID/task/TID/stat`).
pub fn stat_cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // Fields after the ")" that ends the command name; utime and stime are
    // fields 14 and 15 of the whole line, in clock ticks (100 per second).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn fresh_channel() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("bench-{}-{nanos}", std::process::id())
}

fn crowd_plan(
    args: &mut Args,
    server: &str,
    subscribers_flag: &str,
    messages: u64,
) -> Result<CrowdPlan, String> {
    let transport = Transport::parse(&args.take("transport").unwrap_or_else(|| "ws".into()))?;
    let sub_url = args
        .take("sub-url")
        .unwrap_or_else(|| format!("http://{server}{}", transport.default_path()));
    let targets = sub_url
        .split(',')
        .map(Template::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let channel = args.take("channel").unwrap_or_else(fresh_channel);
    let format = match args.take("format").as_deref() {
        None | Some("auto") => Format::Auto,
        Some("json") => Format::Json,
        Some("raw") => Format::Raw,
        Some(other) => return Err(format!("--format: '{other}' is not auto, json or raw")),
    };
    Ok(CrowdPlan {
        transport,
        targets,
        channel,
        format,
        subscribers: args.num(subscribers_flag, if messages == 0 { 1000 } else { 100 })?,
        messages,
        interval: args.secs("interval", 0.5)?,
        max_connecting: args.num("max-connecting", 256usize)?.max(1),
    })
}

fn publish_plan(
    args: &mut Args,
    server: &str,
    sources: Option<usize>,
) -> Result<publish::PublishPlan, String> {
    let target = Template::parse(
        &args
            .take("pub-url")
            .unwrap_or_else(|| format!("http://{server}/pub/{{channel}}")),
    )?;
    Ok(publish::PublishPlan {
        target,
        channel: args.take("channel").unwrap_or_else(fresh_channel),
        connections: args.num("connections", 50usize)?.max(1),
        size: args.num("size", 64usize)?,
        seconds: args.secs("seconds", 5.0)?.max(Duration::from_millis(100)),
        warmup: args.secs("warmup", 1.0)?,
        sources,
    })
}

fn attack_plan(
    args: &mut Args,
    server: &str,
    sources: Option<usize>,
) -> Result<attack::ScenarioPlan, String> {
    let name = args
        .take("attack")
        .ok_or("attack needs --attack NAME (see --help)")?;
    let which = attack::Attack::parse(&name)?;
    let pid = args
        .pid()?
        .ok_or("attack needs --pid (the server's process id)")?;
    let target = Template::parse(&format!("http://{server}/"))?;
    let base = args.take("channel").unwrap_or_else(fresh_channel);
    let default_rss = attack::available_memory().map_or(4 << 30, |b| b / 3);
    let max_rss_mb: u64 = args.num("max-server-rss-mb", default_rss >> 20)?;
    let rate: f64 = args.num("probe-rate", 100.0)?;
    if !(rate > 0.0 && rate <= 10_000.0) {
        return Err(format!("--probe-rate: {rate} is not between 0 and 10000"));
    }
    let plan = attack::AttackPlan {
        attack: which,
        addr: target.addr,
        host: target.host.clone(),
        channel: format!("{base}-attack"),
        attackers: args.num("attackers", which.default_attackers())?.max(1),
        backlog_bytes: args.num::<u64>("backlog-mb", 64)? * 1_000_000,
        message_bytes: args.num("message-bytes", 1_000_000usize)?.max(1),
        ws_path: args.take("ws-path").unwrap_or_else(|| "/echo".into()),
        trickle: args.secs("trickle", 1.0)?.max(Duration::from_millis(1)),
        rate: args.num("rate", 1000.0f64)?.max(0.001),
        size: args.num("size", 1024usize)?,
        burst: args.num("burst", 200usize)?.max(1),
        burst_every: args.secs("burst-every", 1.0)?.max(Duration::from_millis(1)),
        reconnect: args.take("no-reconnect").is_none(),
        setup_timeout: args.secs("setup-timeout", 60.0)?,
        read_again: args.num("read-again", 10usize)?,
        sources,
        max_connecting: args.num("max-connecting", 256usize)?,
    };
    Ok(attack::ScenarioPlan {
        attack: plan,
        pid,
        channel_base: base,
        probe_rate: rate,
        probe_size: args.num("probe-size", 64usize)?,
        quiet: args.secs("quiet", 4.0)?,
        during: args.secs("during", 8.0)?,
        after: args.secs("after", 6.0)?,
        max_server_rss: max_rss_mb << 20,
    })
}

fn run(args: impl IntoIterator<Item = String>) -> Result<(String, String, bool), String> {
    let mut args = Args::parse(args)?;
    if args.scenario == "--help" || args.scenario == "-h" || args.take("help").is_some() {
        print!("{USAGE}");
        std::process::exit(0);
    }
    let server = args
        .take("server")
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let sources = args
        .take("sources")
        .map(|v| v.parse::<usize>())
        .transpose()
        .map_err(|_| "--sources: not a number")?;
    let result = match args.scenario.clone().as_str() {
        "fanout" => {
            let messages: u64 = args.num("messages", 100)?;
            if messages == 0 {
                return Err("--messages must be at least 1".into());
            }
            let crowd = crowd_plan(&mut args, &server, "subscribers", messages)?;
            let publish = Template::parse(
                &args
                    .take("pub-url")
                    .unwrap_or_else(|| format!("http://{server}/pub/{{channel}}")),
            )?;
            let rate = match args.num("rate", 0.0f64)? {
                r if r > 0.0 => Some(r),
                _ => None,
            };
            let plan = fanout::FanoutPlan {
                crowd,
                publish,
                size: args.num("size", 64usize)?,
                rate,
                inflight: args.num("inflight", 1u64)?.max(1),
                settle: args.secs("settle", 0.5)?,
                timeout: args.secs("timeout", 30.0)?,
                sources,
            };
            args.finish()?;
            fanout::run(plan)
        }
        "echo" => {
            let plan = echo::EchoPlan {
                target: Template::parse(
                    &args
                        .take("url")
                        .unwrap_or_else(|| format!("ws://{server}/echo")),
                )?,
                connections: args.num("connections", 100usize)?.max(1),
                size: args.num("size", 32usize)?,
                depth: args.num("depth", 16usize)?.max(1),
                seconds: args.secs("seconds", 5.0)?.max(Duration::from_millis(100)),
                warmup: args.secs("warmup", 1.0)?,
                binary: args.take("binary").is_some(),
                sources,
                max_connecting: args.num("max-connecting", 256usize)?.max(1),
                threads: args.num("threads", 1usize)?.max(1),
            };
            args.finish()?;
            echo::run(plan)
        }
        "publish" => {
            let plan = publish_plan(&mut args, &server, sources)?;
            args.finish()?;
            publish::run(plan)
        }
        "idle" => {
            let pid = args
                .pid()?
                .ok_or("idle needs --pid (the server's process id)")?;
            let crowd = crowd_plan(&mut args, &server, "connections", 0)?;
            let plan = idle::IdlePlan {
                crowd,
                pid,
                hold: args.secs("hold", 2.0)?,
                sources,
            };
            args.finish()?;
            idle::run(plan)
        }
        "handshake" => {
            let pid = args.pid()?;
            let plan = handshake::HandshakePlan {
                target: Template::parse(
                    &args
                        .take("url")
                        .unwrap_or_else(|| format!("https://{server}/")),
                )?,
                concurrency: args.num("concurrency", 64usize)?.max(1),
                seconds: args.secs("seconds", 5.0)?.max(Duration::from_millis(100)),
                warmup: args.secs("warmup", 1.0)?,
                version: args.take("tls-version"),
                verify: args.take("no-verify").is_none(),
                pid,
                sources,
            };
            args.finish()?;
            handshake::run(plan)
        }
        "attack" => {
            let plan = attack_plan(&mut args, &server, sources)?;
            args.finish()?;
            attack::run(plan)
        }
        other => {
            return Err(format!(
                "unknown scenario '{other}': fanout, echo, publish, idle, handshake or attack"
            ))
        }
    };
    result
}

/// `pushwire bench ARGS...` (the arguments after `bench`).
pub fn main(args: impl IntoIterator<Item = String>) -> ExitCode {
    match run(args) {
        Ok((json, human, clean)) => {
            let _ = writeln!(std::io::stdout(), "{json}\n{human}");
            if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("pushwire bench: {e}\nTry 'pushwire bench --help'.");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Args {
        Args::parse(line.split_whitespace().map(str::to_owned)).unwrap()
    }

    #[test]
    fn a_flag_given_twice_takes_its_last_value() {
        let mut a = args("attack --during 8 --no-reconnect --during=35");
        assert_eq!(a.scenario, "attack");
        assert_eq!(a.take("during").as_deref(), Some("35"));
        assert_eq!(a.take("no-reconnect").as_deref(), Some(""));
        assert_eq!(a.take("during"), None);
        assert!(a.finish().is_ok());
    }

    #[test]
    fn publish_defaults_to_fifty_connections_for_five_seconds() {
        let p = publish_plan(&mut args("publish"), "127.0.0.1:9", None).unwrap();
        assert_eq!((p.connections, p.size), (50, 64));
        assert_eq!((p.seconds.as_secs(), p.warmup.as_secs()), (5, 1));
        assert_eq!(p.target.host, "127.0.0.1:9");
        assert!(p.channel.starts_with("bench-"));
        let mut a = args("publish --connections 3 --size 10 --seconds 0.5 --channel c --warmup 0");
        let p = publish_plan(&mut a, "127.0.0.1:9", None).unwrap();
        assert_eq!((p.connections, p.size, p.channel.as_str()), (3, 10, "c"));
        assert_eq!((p.seconds.as_millis(), p.warmup.as_millis()), (500, 0));
        assert!(a.finish().is_ok());
        let mut a = args("publish --seconds x");
        assert!(publish_plan(&mut a, "127.0.0.1:9", None).is_err());
    }

    #[test]
    fn sub_url_may_list_several_servers() {
        let plan = |line: &str| crowd_plan(&mut args(line), "127.0.0.1:9", "subscribers", 1);
        let p = plan("fanout --transport sse").unwrap();
        let hosts: Vec<&str> = p.targets.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(hosts, ["127.0.0.1:9"]);
        let p = plan(
            "fanout --sub-url http://127.0.0.1:1/sse/{channel},http://127.0.0.1:2/s/{channel}",
        )
        .unwrap();
        let hosts: Vec<&str> = p.targets.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(hosts, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(p.targets[1].path("c", "sse", 0), "/s/c");
        assert!(plan("fanout --sub-url http://127.0.0.1:1/,").is_err());
    }

    #[test]
    fn an_attack_needs_its_name_and_the_server_pid() {
        let plan = |line: &str| attack_plan(&mut args(line), "127.0.0.1:1", None);
        assert!(plan("attack --pid 1").unwrap_err().contains("--attack"));
        assert!(plan("attack --attack empty-pongs")
            .unwrap_err()
            .contains("--pid"));
        assert!(plan("attack --attack nope --pid 1")
            .unwrap_err()
            .contains("empty-pongs"));
        let p = plan("attack --attack big-backlog-readers --pid 7 --backlog-mb 2").unwrap();
        assert_eq!((p.pid, p.attack.attackers), (7, 40));
        assert_eq!(p.attack.backlog_bytes, 2_000_000);
        assert!(p.attack.reconnect);
        assert!(p.attack.channel.ends_with("-attack"));
    }
}
