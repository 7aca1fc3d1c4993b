//! Command-line flags, parsed with the standard library only.

use std::fmt;
use std::time::Duration;

use pushwire::config::AllowOrigin;
use pushwire::Config;

pub const USAGE: &str = "\
pushwire: Ajax polling, long-polling, Server-Sent Events and WebSocket,
by hand, in one event loop.

Usage: pushwire [OPTIONS]
       pushwire sub ws|sse|longpoll|poll URL [--since ID] [--count N] [--token TOKEN]   (sub --help)
       pushwire pub URL MESSAGE [--token TOKEN]
       pushwire token --secret SECRET [--read LIST] [--write LIST]   (a JWT for --jwt-secret; token --help)
       pushwire bench fanout|echo|idle|attack [OPTIONS]   (load generator; bench --help)

Options (durations are seconds, decimals allowed: 0.5):
  --listen ADDR             address to listen on [default: 127.0.0.1:8080]
  --backlog N               listen backlog [default: 1024]
  --reuse-port              let other processes listen on the same address (SO_REUSEPORT)
  --max-connections N       open connections at most; one more gets 503 [default: 10000]
  --max-header-bytes N      largest request head; 431 past it [default: 8192]
  --max-uri-bytes N         longest request target; 414 past it [default: 4096]
  --max-body-bytes N        largest request body; 413 past it [default: 1048576]
  --history N               messages kept per channel [default: 1024]
  --max-channels N          channels at most; 503 for one more [default: 100000]
  --max-history-bytes N     bytes of messages kept over all channels [default: 268435456]
  --history-ttl SECS        messages this old leave history, 0 = never [default: 0]
  --header-timeout SECS     time to send a request head; 408 past it [default: 10]
  --body-timeout SECS       time to send a request body; 408 past it [default: 30]
  --idle-timeout SECS       keep-alive connection idle time [default: 60]
  --longpoll-max SECS       largest long-poll timeout [default: 120]
  --max-batch-bytes N       bytes of messages in one poll answer, then \"more\":true [default: 262144]
  --max-batch-messages N    messages in one poll answer, then \"more\":true [default: 1024]
  --max-output-bytes N      unsent answers the process may hold; 503 for new work past it [default: 268435456]
  --max-backlog-bytes N     bytes a slow SSE/WebSocket subscriber may owe, pushwire's queue and
                            the kernel's send buffer together [default: 1048576]
  --send-buffer-bytes N     the kernel's send buffer per connection (SO_SNDBUF as Linux reports
                            it), counted in --max-backlog-bytes with one 64 KiB segment
                            [default: half of --max-backlog-bytes, less 65536]
  --sse-retry MILLIS        retry: sent at the start of an SSE stream [default: 2000]
  --heartbeat SECS          comment sent on an SSE stream idle this long [default: 15]
  --sse-max-age SECS        end SSE streams this old, 0 = never [default: 0]
  --max-message-bytes N     largest WebSocket message; close 1009 past it [default: 1048576]
  --max-fragments N         frames one WebSocket message may come in; close 1009 past it [default: 1024]
  --max-control-frames N    WebSocket pings and pongs a client may send per second; close 1008 [default: 100]
  --message-timeout SECS    time a WebSocket message may take to arrive; close 1008 [default: 30]
  --max-work-per-pass N     requests and frames one connection may have read per loop pass [default: 1024]
  --max-unstored-publishes N  a connection's publishes the store may hold undecided [default: 64]
  --ping-interval SECS      ping idle WebSockets this often; close if silent [default: 30]
  --allow-ws-origin LIST    origins allowed to open a WebSocket, comma-separated [default: all]
  --linger SECS             how long a closing connection drains input [default: 2]
  --publish-token TOKEN     require Authorization: Bearer TOKEN to publish
  --jwt-secret SECRET       every subscribe and publish needs a JWT (HS256) signed with SECRET,
                            at least 32 bytes, naming the channel (docs/auth.md)
  --jwt-secret-file FILE    the same, the secret read from FILE (one trailing newline dropped)
  --jwt-leeway SECS         clock difference allowed around exp, nbf, iat [default: 5]
  --max-token-bytes N       longest token read; 401 \"too large\" past it [default: 4096]
  --public-channels LIST    channel patterns anyone may read without a token, comma-separated
                            (news, room.*, *) [default: none]
  --allow-origin LIST       origins allowed cross-site, comma-separated, or * [default: *]
  --data-dir DIR            keep every message in an append-only log in DIR; restore on start
  --fsync POLICY            always | batch | never: when a logged message counts as committed
                            [default: batch]
  --repair-log              start even if the log is damaged, cutting it at the damage
  --lock-wait SECS          wait this long for another process's lock on --data-dir (a
                            takeover: docs/operations.md) [default: 0, refuse at once]
  --log-segment-bytes N     the log rolls to a new segment at N bytes [default: 67108864]
  --redis URL               share channels with every node on this Redis:
                            redis://[[user]:password@]host[:port][/db] (docs/cluster.md)
  --redis-prefix PREFIX     prefix of pushwire's Redis keys [default: pushwire:]
  --slow-consumer POLICY    close | skip: a subscriber past --max-backlog-bytes is cut off, or its
                            unsent messages are dropped for a gap mark naming them [default: close]
  --drain-timeout SECS      longest graceful drain on SIGTERM/SIGINT; a second signal stops at
                            once [default: 10]
  --metrics-listen ADDR     serve GET /metrics (Prometheus) on this address only, not on --listen
                            [default: none, /metrics on --listen] (docs/operations.md)
  --metrics-token TOKEN     require Authorization: Bearer TOKEN for GET /metrics [default: none]
  --tls-cert FILE           speak HTTPS and WSS with this PEM certificate chain (build with
                            --features tls; docs/tls.md); SIGHUP reads it and the key again
  --tls-key FILE            the PEM private key of --tls-cert
  --tls-handshake-timeout SECS  time to finish the TLS handshake; closed past it [default: 10]
  --trace                   print every head, SSE event and WebSocket frame to stderr (tokens redacted)
  -h, --help                print this help
  -V, --version             print the version
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Serve(Box<Config>),
    Help,
    Version,
}

/// A command-line mistake; printed with a hint, exit status 2.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(flag: &str, value: &str, what: &str) -> CliError {
    CliError(format!("invalid value '{value}' for {flag}: {what}"))
}

fn number(flag: &str, value: &str) -> Result<usize, CliError> {
    value
        .parse::<usize>()
        .map_err(|_| bad(flag, value, "expected a whole number"))
}

fn positive(flag: &str, value: &str) -> Result<usize, CliError> {
    match number(flag, value)? {
        0 => Err(bad(flag, value, "must be at least 1")),
        n => Ok(n),
    }
}

/// Seconds as a decimal number (`0.5`, `10`), at least a millisecond.
pub fn seconds(flag: &str, value: &str) -> Result<Duration, CliError> {
    let secs: f64 = value
        .parse()
        .map_err(|_| bad(flag, value, "expected seconds, like 10 or 0.5"))?;
    if !secs.is_finite() || !(0.001..=31_536_000.0).contains(&secs) {
        return Err(bad(
            flag,
            value,
            "must be between 0.001 and 31536000 seconds",
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Seconds as for [`seconds`], or `0` for "never" (`None`).
fn seconds_or_never(flag: &str, value: &str) -> Result<Option<Duration>, CliError> {
    match value.parse::<f64>() {
        Ok(0.0) => Ok(None),
        _ => seconds(flag, value).map(Some),
    }
}

/// A comma-separated list of origins (`https://a.example, http://b:8080`).
fn origins(flag: &str, value: &str) -> Result<Vec<String>, CliError> {
    let list: Vec<String> = value
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if list.is_empty() || list.iter().any(|o| !o.contains("://")) {
        return Err(bad(
            flag,
            value,
            "expected * or origins like https://example.com",
        ));
    }
    Ok(list)
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, CliError> {
    let mut config = Config::default();
    let mut auth = AuthFlags::default();
    let mut tls = TlsFlags::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            _ => {}
        }
        if flag == "--trace" {
            config.trace = true;
            continue;
        }
        if flag == "--reuse-port" {
            config.reuse_port = true;
            continue;
        }
        if flag == "--repair-log" {
            config.repair_log = true;
            continue;
        }
        if !flag.starts_with("--") {
            return Err(CliError(format!("unexpected argument '{arg}'")));
        }
        let mut value = || -> Result<String, CliError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => args
                    .next()
                    .ok_or_else(|| CliError(format!("{flag} needs a value"))),
            }
        };
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                config.listen = v
                    .parse()
                    .map_err(|_| bad(&flag, &v, "expected IP:PORT, like 127.0.0.1:8080"))?;
            }
            "--backlog" => {
                let v = value()?;
                config.backlog =
                    i32::try_from(positive(&flag, &v)?).map_err(|_| bad(&flag, &v, "too large"))?;
            }
            "--max-connections" => config.max_connections = positive(&flag, &value()?)?,
            "--max-header-bytes" => config.max_header_bytes = positive(&flag, &value()?)?,
            "--max-uri-bytes" => config.max_uri_bytes = positive(&flag, &value()?)?,
            "--max-body-bytes" => config.max_body_bytes = number(&flag, &value()?)?,
            "--history" => config.history = positive(&flag, &value()?)?,
            "--max-channels" => config.max_channels = positive(&flag, &value()?)?,
            "--max-history-bytes" => config.max_history_bytes = positive(&flag, &value()?)?,
            "--history-ttl" => config.history_ttl = seconds_or_never(&flag, &value()?)?,
            "--header-timeout" => config.header_timeout = seconds(&flag, &value()?)?,
            "--body-timeout" => config.body_timeout = seconds(&flag, &value()?)?,
            "--idle-timeout" => config.idle_timeout = seconds(&flag, &value()?)?,
            "--longpoll-max" => config.longpoll_max = seconds(&flag, &value()?)?,
            "--linger" => config.linger = seconds(&flag, &value()?)?,
            "--max-backlog-bytes" => config.max_backlog_bytes = positive(&flag, &value()?)?,
            "--send-buffer-bytes" => config.send_buffer_bytes = Some(positive(&flag, &value()?)?),
            "--sse-retry" => config.sse_retry_ms = number(&flag, &value()?)? as u64,
            "--heartbeat" => config.heartbeat = seconds(&flag, &value()?)?,
            "--max-message-bytes" => config.max_message_bytes = positive(&flag, &value()?)?,
            "--max-fragments" => config.max_fragments = positive(&flag, &value()?)?,
            "--max-control-frames" => {
                let v = value()?;
                config.max_control_frames_per_sec =
                    u32::try_from(positive(&flag, &v)?).map_err(|_| bad(&flag, &v, "too large"))?;
            }
            "--message-timeout" => config.message_timeout = seconds(&flag, &value()?)?,
            "--max-batch-bytes" => config.max_batch_bytes = positive(&flag, &value()?)?,
            "--max-batch-messages" => config.max_batch_messages = positive(&flag, &value()?)?,
            "--max-output-bytes" => config.max_output_bytes = positive(&flag, &value()?)?,
            "--data-dir" => config.data_dir = Some(value()?.into()),
            "--redis" => {
                let v = value()?;
                let url = pushwire::cluster::RedisUrl::parse(&v)
                    .map_err(|why| CliError(format!("invalid value for {flag}: {why}")))?;
                config.redis = Some(url);
            }
            "--redis-prefix" => {
                let v = value()?;
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(bad(&flag, &v, "expected printable ASCII without spaces"));
                }
                config.redis_prefix = v;
            }
            "--lock-wait" => config.lock_wait = seconds(&flag, &value()?)?,
            "--metrics-listen" => {
                let v = value()?;
                config.metrics_listen = Some(
                    v.parse()
                        .map_err(|_| bad(&flag, &v, "expected IP:PORT, like 127.0.0.1:9090"))?,
                );
            }
            "--metrics-token" => {
                let v = value()?;
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(bad(&flag, &v, "expected printable ASCII without spaces"));
                }
                config.metrics_token = Some(v);
            }
            "--log-segment-bytes" => config.log_segment_bytes = positive(&flag, &value()?)? as u64,
            "--fsync" => {
                let v = value()?;
                config.fsync = match v.as_str() {
                    "always" => pushwire::config::Fsync::Always,
                    "batch" => pushwire::config::Fsync::Batch,
                    "never" => pushwire::config::Fsync::Never,
                    _ => return Err(bad(&flag, &v, "expected always, batch or never")),
                };
            }
            "--max-work-per-pass" => {
                let v = value()?;
                config.max_work_per_pass =
                    u32::try_from(positive(&flag, &v)?).map_err(|_| bad(&flag, &v, "too large"))?;
            }
            "--max-unstored-publishes" => {
                config.max_unstored_publishes = positive(&flag, &value()?)?
            }
            "--ping-interval" => config.ping_interval = seconds(&flag, &value()?)?,
            "--allow-ws-origin" => {
                let v = value()?;
                config.allow_ws_origin = Some(origins(&flag, &v)?);
            }
            "--sse-max-age" => config.sse_max_age = seconds_or_never(&flag, &value()?)?,
            "--publish-token" => {
                let v = value()?;
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(bad(&flag, &v, "expected printable ASCII without spaces"));
                }
                config.publish_token = Some(v);
            }
            "--jwt-secret" => auth.secret = Some(secret(&flag, value()?.into_bytes())?),
            "--jwt-secret-file" => auth.secret = Some(secret_file(&flag, &value()?)?),
            "--jwt-leeway" => {
                let v = value()?;
                auth.leeway = Some(match v.parse::<f64>() {
                    Ok(0.0) => Duration::ZERO,
                    _ => seconds(&flag, &v)?,
                });
            }
            "--max-token-bytes" => auth.max_token_bytes = Some(positive(&flag, &value()?)?),
            "--public-channels" => {
                let v = value()?;
                let patterns = pushwire::auth::Patterns::parse_list(&v)
                    .map_err(|e| bad(&flag, &v, &e.to_string()))?;
                auth.public = Some(patterns);
            }
            "--allow-origin" => {
                let v = value()?;
                config.allow_origin = if v.trim() == "*" {
                    AllowOrigin::Any
                } else {
                    AllowOrigin::List(origins(&flag, &v)?)
                };
            }
            "--slow-consumer" => {
                config.slow_consumer = match value()?.as_str() {
                    "close" => pushwire::config::SlowConsumer::Close,
                    "skip" => pushwire::config::SlowConsumer::Skip,
                    other => {
                        return Err(CliError(format!("{flag}: '{other}' is not close or skip")))
                    }
                }
            }
            "--drain-timeout" => config.drain_timeout = seconds(&flag, &value()?)?,
            "--tls-cert" => tls.cert = Some(value()?.into()),
            "--tls-key" => tls.key = Some(value()?.into()),
            "--tls-handshake-timeout" => tls.timeout = Some(seconds(&flag, &value()?)?),
            _ => return Err(CliError(format!("unknown option '{flag}'"))),
        }
    }
    config.tls = tls.build()?;
    if config.redis.is_some() && config.data_dir.is_some() {
        return Err(CliError(
            "--redis and --data-dir cannot be used together: with --redis, Redis keeps the \
             messages (docs/cluster.md)"
                .into(),
        ));
    }
    config.auth = auth.build()?;
    Ok(Command::Serve(Box::new(config)))
}

/// The `--tls-*` flags, gathered in any order, then checked together.
#[derive(Default)]
struct TlsFlags {
    cert: Option<std::path::PathBuf>,
    key: Option<std::path::PathBuf>,
    timeout: Option<Duration>,
}

impl TlsFlags {
    fn build(self) -> Result<Option<pushwire::config::TlsSettings>, CliError> {
        match (self.cert, self.key) {
            (Some(cert), Some(key)) => {
                let mut settings = pushwire::config::TlsSettings::new(cert, key);
                if let Some(timeout) = self.timeout {
                    settings.handshake_timeout = timeout;
                }
                Ok(Some(settings))
            }
            (None, None) if self.timeout.is_none() => Ok(None),
            (None, None) => Err(CliError(
                "--tls-handshake-timeout needs --tls-cert and --tls-key".into(),
            )),
            (Some(_), None) => Err(CliError("--tls-cert needs --tls-key".into())),
            (None, Some(_)) => Err(CliError("--tls-key needs --tls-cert".into())),
        }
    }
}

/// The `--jwt-*` flags, gathered in any order, then checked together.
#[derive(Default)]
struct AuthFlags {
    secret: Option<Vec<u8>>,
    leeway: Option<Duration>,
    max_token_bytes: Option<usize>,
    public: Option<pushwire::auth::Patterns>,
}

impl AuthFlags {
    fn build(self) -> Result<Option<pushwire::auth::Auth>, CliError> {
        let Some(secret) = self.secret else {
            let needs = [
                (self.leeway.is_some(), "--jwt-leeway"),
                (self.max_token_bytes.is_some(), "--max-token-bytes"),
                (self.public.is_some(), "--public-channels"),
            ];
            return match needs.iter().find(|(given, _)| *given) {
                // Without tokens every channel is public already.
                Some((_, flag)) => Err(CliError(format!(
                    "{flag} needs --jwt-secret or --jwt-secret-file"
                ))),
                None => Ok(None),
            };
        };
        let mut auth = pushwire::auth::Auth::new(&secret);
        if let Some(leeway) = self.leeway {
            auth.leeway = leeway;
        }
        if let Some(max) = self.max_token_bytes {
            auth.max_token_bytes = max;
        }
        if let Some(public) = self.public {
            auth.public = public;
        }
        Ok(Some(auth))
    }
}

/// A JWT secret: at least 32 bytes (RFC 7518 section 3.2: an HS256 key
/// as long as the hash or longer), without one trailing newline (as a
/// file written by `echo` or an editor ends). The server's `--jwt-secret`
/// and `pushwire token --secret` both take it this way, so a token
/// minted from the same text or file is signed with the same key.
pub fn secret(flag: &str, mut bytes: Vec<u8>) -> Result<Vec<u8>, CliError> {
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    if bytes.len() < 32 {
        return Err(CliError(format!(
            "{flag}: the secret must be at least 32 bytes (RFC 7518 section 3.2); \
             `head -c 32 /dev/urandom | base64` makes one"
        )));
    }
    Ok(bytes)
}

/// A JWT secret read from the file at `path`, as [`secret`] takes it.
pub fn secret_file(flag: &str, path: &str) -> Result<Vec<u8>, CliError> {
    let bytes =
        std::fs::read(path).map_err(|e| CliError(format!("cannot read {flag} '{path}': {e}")))?;
    secret(flag, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Result<Config, CliError> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Serve(config) => Ok(*config),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jwt_flags_build_the_auth_settings() {
        let secret = "0123456789abcdef0123456789abcdef";
        assert!(serve(&[]).unwrap().auth.is_none());
        let config = serve(&[
            "--public-channels",
            "demo, news.*",
            "--jwt-secret",
            secret,
            "--jwt-leeway=0",
            "--max-token-bytes",
            "900",
        ])
        .unwrap();
        let auth = config.auth.unwrap();
        assert_eq!(auth.leeway, Duration::ZERO);
        assert_eq!(auth.max_token_bytes, 900);
        assert!(auth.public.allows("news.x") && auth.public.allows("demo"));
        assert!(!auth.public.allows("private"));
        let dir = std::env::temp_dir().join(format!("pushwire-cli-{}", std::process::id()));
        std::fs::write(&dir, format!("{secret}\n")).unwrap();
        let from_file = serve(&["--jwt-secret-file", dir.to_str().unwrap()]).unwrap();
        let _ = std::fs::remove_file(&dir);
        let claims = pushwire::auth::Claims {
            expires: u64::MAX,
            ..Default::default()
        };
        let token = pushwire::auth::write_token(
            &pushwire::auth::hmac::Key::new(secret.as_bytes()),
            &claims,
        );
        assert!(from_file.auth.unwrap().check(token.as_bytes(), 0).is_ok());
        for bad in [
            &["--jwt-secret", "short"][..],
            &["--public-channels", "a"],
            &["--jwt-secret", secret, "--public-channels", "a*b"],
            &["--jwt-secret-file", "/nonexistent/pushwire-secret"],
        ] {
            assert!(serve(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tls_flags_fill_the_tls_settings() {
        assert_eq!(serve(&[]).unwrap().tls, None);
        let tls = serve(&["--tls-key", "k.pem", "--tls-cert=c.pem"])
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(tls, pushwire::config::TlsSettings::new("c.pem", "k.pem"));
        let slow = serve(&[
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-handshake-timeout",
            "0.25",
        ])
        .unwrap();
        assert_eq!(
            slow.tls.unwrap().handshake_timeout,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn no_flags_give_the_defaults() {
        let config = serve(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.max_connections, 10_000);
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.metrics_token, None);
    }

    #[test]
    fn metrics_flags_set_the_listener_and_the_token() {
        let config = serve(&[
            "--metrics-listen",
            "127.0.0.1:9091",
            "--metrics-token=s3cret",
        ])
        .unwrap();
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9091".parse().unwrap())
        );
        assert_eq!(config.metrics_token.as_deref(), Some("s3cret"));
        for bad in [
            &["--metrics-listen", "localhost:9091"][..],
            &["--metrics-listen"],
            &["--metrics-token", "two words"],
            &["--metrics-token", ""],
        ] {
            assert!(serve(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_take_space_or_equals_and_decimal_seconds() {
        let config = serve(&[
            "--listen=127.0.0.1:0",
            "--header-timeout",
            "0.5",
            "--history",
            "4",
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.header_timeout, Duration::from_millis(500));
        assert_eq!(config.history, 4);
        let ws = serve(&[
            "--max-fragments",
            "16",
            "--max-control-frames",
            "5",
            "--message-timeout",
            "2.5",
        ])
        .unwrap();
        assert_eq!(
            (
                ws.max_fragments,
                ws.max_control_frames_per_sec,
                ws.message_timeout
            ),
            (16, 5, Duration::from_millis(2500))
        );
        let batch = serve(&["--max-batch-bytes", "1000", "--max-batch-messages", "7"]).unwrap();
        assert_eq!((batch.max_batch_bytes, batch.max_batch_messages), (1000, 7));
        assert_eq!(
            serve(&["--max-output-bytes", "4096"])
                .unwrap()
                .max_output_bytes,
            4096
        );
        let ttl = serve(&["--history-ttl", "0.3"]).unwrap();
        assert_eq!(ttl.history_ttl, Some(Duration::from_millis(300)));
        for never in ["0", "0.0"] {
            assert_eq!(serve(&["--history-ttl", never]).unwrap().history_ttl, None);
        }
        assert_eq!(serve(&[]).unwrap().history_ttl, None);
        let work = serve(&["--max-work-per-pass", "32"]).unwrap();
        assert_eq!(work.max_work_per_pass, 32);
        let unstored = serve(&["--max-unstored-publishes", "8"]).unwrap();
        assert_eq!(unstored.max_unstored_publishes, 8);
        assert_eq!(serve(&[]).unwrap().max_unstored_publishes, 64);
        let buffered = serve(&["--send-buffer-bytes=131072"]).unwrap();
        assert_eq!(buffered.send_buffer_bytes, Some(131072));
        assert_eq!(serve(&[]).unwrap().send_buffer_bytes, None);
        let config = serve(&[
            "--allow-origin",
            "https://a.example, http://b.example:8080/",
        ])
        .unwrap();
        assert_eq!(
            config.allow_origin,
            AllowOrigin::List(vec![
                "https://a.example".into(),
                "http://b.example:8080".into()
            ])
        );
    }

    #[test]
    fn mistakes_are_reported_with_the_flag() {
        for (args, needle) in [
            (&["--nope"][..], "unknown option '--nope'"),
            (&["--history"], "--history needs a value"),
            (&["--history", "x"], "invalid value 'x' for --history"),
            (&["--history", "0"], "must be at least 1"),
            (&["--send-buffer-bytes", "0"], "must be at least 1"),
            (&["--header-timeout", "-1"], "between 0.001"),
            (&["--header-timeout", "nan"], "between 0.001"),
            (&["--history-ttl", "-1"], "between 0.001"),
            (&["--history-ttl", "0.0001"], "between 0.001"),
            (&["--listen", "localhost"], "expected IP:PORT"),
            (&["--allow-origin", "example.com"], "expected * or origins"),
            (&["stray"], "unexpected argument 'stray'"),
            (&["--tls-cert", "c.pem"], "--tls-cert needs --tls-key"),
            (&["--tls-key", "k.pem"], "--tls-key needs --tls-cert"),
            (&["--tls-handshake-timeout", "5"], "needs --tls-cert"),
        ] {
            let err = serve(args).unwrap_err().0;
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
