//! Every limit and default, documented in one place.
//!
//! A [`Config`] is what the CLI flags fill in and what an embedder builds by
//! hand. Every bound on memory or time that a client can push against lives
//! here, with its default and the reply a client gets when it hits it:
//!
//! | field                | default      | flag                   | what the client sees        |
//! |----------------------|--------------|------------------------|-----------------------------|
//! | `max_connections`    | 10000        | `--max-connections`    | `503`, then close           |
//! | `max_header_bytes`   | 8192         | `--max-header-bytes`   | `431`, then close           |
//! | `max_uri_bytes`      | 4096         | `--max-uri-bytes`      | `414`, then close           |
//! | `max_body_bytes`     | 1 MiB        | `--max-body-bytes`     | `413`, then close           |
//! | `history`            | 1024         | `--history`            | `"gap":true` past it        |
//! | `max_channels`       | 100000       | `--max-channels`       | `503` for a new channel     |
//! | `max_history_bytes`  | 256 MiB      | `--max-history-bytes`  | oldest evicted, `gap` past it |
//! | `history_ttl`        | none         | `--history-ttl` (0 = none) | messages this old leave history, `gap` past them |
//! | `header_timeout`     | 10 s         | `--header-timeout`     | `408`, then close           |
//! | `body_timeout`       | 30 s         | `--body-timeout`       | `408`, then close           |
//! | `idle_timeout`       | 60 s         | `--idle-timeout`       | silent close                |
//! | `longpoll_max`       | 120 s        | `--longpoll-max`       | `timeout=` clamped to it    |
//! | `max_backlog_bytes`  | 1 MiB        | `--max-backlog-bytes`  | stream closed (SSE), close 1008 (WebSocket) |
//! | `send_buffer_bytes`  | half the backlog less 64 KiB | `--send-buffer-bytes` | the kernel's part of `max_backlog_bytes` |
//! | `sse_retry_ms`       | 2000 ms      | `--sse-retry`          | `retry:` at stream start    |
//! | `heartbeat`          | 15 s         | `--heartbeat`          | `: keep-alive` when idle    |
//! | `sse_max_age`        | none         | `--sse-max-age`        | stream ended, client reconnects |
//! | `max_message_bytes`  | 1 MiB        | `--max-message-bytes`  | close 1009                  |
//! | `max_unstored_publishes` | 64       | `--max-unstored-publishes` | not read until the store catches up |
//! | `max_fragments`      | 1024         | `--max-fragments`      | close 1009                  |
//! | `max_control_frames_per_sec` | 100  | `--max-control-frames` | close 1008                  |
//! | `message_timeout`    | 30 s         | `--message-timeout`    | close 1008                  |
//! | `max_work_per_pass`  | 1024         | `--max-work-per-pass`  | the rest waits for the next pass |
//! | `max_batch_bytes`    | 256 KiB      | `--max-batch-bytes`    | a poll answer stops, `"more":true` |
//! | `max_batch_messages` | 1024         | `--max-batch-messages` | a poll answer stops, `"more":true` |
//! | `max_output_bytes`   | 256 MiB      | `--max-output-bytes`   | `503` for new requests and connections |
//! | `ping_interval`      | 30 s         | `--ping-interval`      | ping; closed if silent for another interval |
//! | `allow_ws_origin`    | all          | `--allow-ws-origin`    | `403` for other browser origins |
//! | `linger`             | 2 s          | `--linger`             | how long a closing socket drains input |
//! | `auth.max_token_bytes` | 4096       | `--max-token-bytes`    | `401`, `too large` (docs/auth.md) |
//! | `auth.leeway`        | 5 s          | `--jwt-leeway`         | a stream open at `exp` + this ends (`event: auth`, close 4001) |
//! | `log_segment_bytes`  | 64 MiB       | `--log-segment-bytes`  | with `data_dir`: the log rolls, disk use bounded (docs/durability.md) |
//! | `metrics_listen`     | none (`listen`) | `--metrics-listen`  | `GET /metrics` there only; `404` for it on `listen` |
//! | `metrics_token`      | none         | `--metrics-token`      | `401` on `GET /metrics` without `Authorization: Bearer` |
//! | `tls.handshake_timeout` | 10 s      | `--tls-handshake-timeout` | with `tls`: the connection is closed mid-handshake (docs/tls.md) |
//!
//! The defaults follow nginx where nginx has the same knob
//! (`client_header_timeout` 60 s there; 10 s here because a push server
//! holds many connections and a slow header is more likely an attack),
//! `large_client_header_buffers` 8 KiB, `client_max_body_size` 1 MiB.

use std::net::SocketAddr;
use std::time::Duration;

/// Who may read subscribe responses across origins, and publish from a page.
///
/// Browsers send a cross-site `POST` without asking first (a "simple"
/// request), so CORS alone would not stop a page on another site from
/// publishing into a server on the user's machine. pushwire therefore
/// refuses a publish whose `Origin` is neither its own nor explicitly listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowOrigin {
    /// `*`: any page may read subscribe responses; only same-origin pages
    /// (and non-browser clients, which send no `Origin`) may publish.
    Any,
    /// An explicit list of origins (`https://example.com`), each allowed to
    /// read and to publish.
    List(Vec<String>),
}

impl AllowOrigin {
    /// Whether `origin` is explicitly listed (never true for [`AllowOrigin::Any`]).
    pub fn lists(&self, origin: &[u8]) -> bool {
        match self {
            AllowOrigin::Any => false,
            AllowOrigin::List(list) => list.iter().any(|o| o.as_bytes() == origin),
        }
    }
}

/// Every setting of a pushwire server. `Config::default()` is what
/// `cargo run --release` uses.
///
/// ```
/// let mut config = pushwire::Config::default();
/// config.history = 16;
/// config.max_body_bytes = 64 * 1024;
/// assert_eq!(config.listen.port(), 8080);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (`--listen`, default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Listen backlog handed to `listen(2)` (`--backlog`, default 1024).
    pub backlog: i32,
    /// Set `SO_REUSEPORT` on the listener (`--reuse-port`, default off):
    /// several pushwire processes may listen on one address, and the
    /// kernel spreads new connections over them, one process per core.
    /// Each process keeps its own channels (docs/cluster.md).
    pub reuse_port: bool,
    /// Open connections at most (`--max-connections`, default 10000); one
    /// more gets `503` and is closed. Lowered at start if the open-file
    /// limit cannot hold this many.
    pub max_connections: usize,
    /// Largest request head, request line and headers included
    /// (`--max-header-bytes`, default 8192): `431`.
    pub max_header_bytes: usize,
    /// Longest request target (`--max-uri-bytes`, default 4096): `414`.
    pub max_uri_bytes: usize,
    /// Largest request body, after chunked decoding
    /// (`--max-body-bytes`, default 1 MiB): `413`.
    pub max_body_bytes: usize,
    /// Messages kept per channel (`--history`, default 1024). A client
    /// resuming from an id older than that is told `"gap":true`.
    pub history: usize,
    /// Channels at most (`--max-channels`, default 100000): a publish or
    /// subscription that would create one more gets `503`. A channel with
    /// no messages is forgotten when its last subscriber leaves.
    pub max_channels: usize,
    /// Bytes of messages kept in all histories together
    /// (`--max-history-bytes`, default 256 MiB): past it the oldest message
    /// anywhere is evicted, and a client resuming from before it is told
    /// `gap`. With `history` and `max_channels` this bounds the broker.
    pub max_history_bytes: usize,
    /// How long a message stays in history after it is committed
    /// (`--history-ttl`, default `None`: no age limit; `Some` of zero is
    /// taken as `None`, as `--history-ttl 0` is). A message this old
    /// leaves, at most one timer tick late; a client resuming from before
    /// it is told `gap`, as for `history`. A channel left with no message
    /// and no subscriber is then forgotten. A message restored from the
    /// durable log counts from the restart: the log does not carry
    /// publish times.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = pushwire::Config {
    ///     history_ttl: Some(Duration::from_secs(300)),
    ///     ..pushwire::Config::default()
    /// };
    /// assert_eq!(config.history_ttl, Some(Duration::from_secs(300)));
    /// assert_eq!(pushwire::Config::default().history_ttl, None);
    /// ```
    pub history_ttl: Option<Duration>,
    /// Time from the first byte of a request to the end of its head
    /// (`--header-timeout`, default 10 s): `408`.
    pub header_timeout: Duration,
    /// Time from the end of a request head to the end of its body
    /// (`--body-timeout`, default 30 s): `408`.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may sit between requests
    /// (`--idle-timeout`, default 60 s) before it is closed.
    pub idle_timeout: Duration,
    /// Upper bound for a long-poll's `timeout=` (`--longpoll-max`, default 120 s).
    pub longpoll_max: Duration,
    /// How long a connection that is being closed after an error keeps
    /// reading (and discarding) input so that the error response is not
    /// destroyed by a TCP reset (`--linger`, default 2 s).
    pub linger: Duration,
    /// Bytes a streaming subscriber (SSE, WebSocket) may fall behind by
    /// before it is cut off (`--max-backlog-bytes`, default 1 MiB):
    /// pushwire's unsent output for it and what the kernel's send buffer
    /// may hold for it ([`Config::send_buffer_bytes`]) together. History
    /// keeps the messages, so a reconnect loses nothing.
    pub max_backlog_bytes: usize,
    /// The kernel's send buffer of each connection, as
    /// `getsockopt(SO_SNDBUF)` reports it (`--send-buffer-bytes`; default
    /// `None`: half of `max_backlog_bytes`, less 64 KiB). The server asks
    /// for half of it, since Linux doubles the value it is given
    /// (socket(7)); a size set by hand also turns off the kernel's
    /// send-buffer autotuning, which would otherwise let it hold 4 MiB of
    /// a connection's output. The kernel's share of `max_backlog_bytes` is
    /// this buffer plus the one segment (64 KiB) the kernel may append
    /// past it; pushwire's own queue gets the rest. Larger: more
    /// throughput for one connection over a long round trip (about this
    /// much per round trip); smaller: more room for pushwire's queue, and
    /// a larger message a stream can take. `Server::bind` refuses a value
    /// that leaves pushwire no room.
    pub send_buffer_bytes: Option<usize>,
    /// The `retry:` an SSE stream starts with, in milliseconds
    /// (`--sse-retry`, default 2000): how long EventSource waits before it
    /// reconnects.
    pub sse_retry_ms: u64,
    /// A comment is sent on an SSE stream idle this long (`--heartbeat`,
    /// default 15 s), so proxies do not time it out.
    pub heartbeat: Duration,
    /// SSE streams are ended cleanly at this age (`--sse-max-age`, default
    /// `None`: never); EventSource reconnects with `Last-Event-ID`.
    pub sse_max_age: Option<Duration>,
    /// Largest WebSocket message, after reassembly
    /// (`--max-message-bytes`, default 1 MiB): close 1009.
    pub max_message_bytes: usize,
    /// Publishes of one connection the store may hold undecided at once
    /// (`--max-unstored-publishes`, default 64). A WebSocket publishes a
    /// message per text frame without waiting; with a store that commits
    /// later, a connection at the limit is not read until some of its
    /// publishes are decided. (The in-memory store decides at once.)
    pub max_unstored_publishes: usize,
    /// The most frames one WebSocket message may come in
    /// (`--max-fragments`, default 1024): close 1009. Empty continuation
    /// frames are the most work per byte a client can send.
    pub max_fragments: usize,
    /// WebSocket control frames (Ping, Pong) a client may send per second
    /// on average, a burst of one second's worth allowed
    /// (`--max-control-frames`, default 100): close 1008.
    pub max_control_frames_per_sec: u32,
    /// Time a WebSocket message may take from its first frame to its last
    /// (`--message-timeout`, default 30 s): close 1008. A message that
    /// never ends does not keep its connection alive by trickling.
    pub message_timeout: Duration,
    /// Work one connection may make the loop do in one pass
    /// (`--max-work-per-pass`, default 1024), counted in requests and
    /// frames read, plus one for every 16 subscribers a publish of its
    /// reaches. The rest of its input waits, unread, for the next pass,
    /// so a connection sending the smallest frames, or publishing to
    /// thousands, gets the same share of the loop as any other.
    pub max_work_per_pass: u32,
    /// Bytes of messages a poll or long-poll answer carries at most
    /// (`--max-batch-bytes`, default 256 KiB; at least one message, however
    /// large). Past it the answer stops with `"more":true` and its
    /// `last_id` says where to continue: a client walks a large backlog in
    /// pages, and no answer is a private copy of a whole history.
    pub max_batch_bytes: usize,
    /// Messages a poll or long-poll answer carries at most
    /// (`--max-batch-messages`, default 1024), as for `max_batch_bytes`.
    pub max_batch_messages: usize,
    /// Bytes of unsent output made for single connections (answers,
    /// echoes; not the shared encodings of published messages) the whole
    /// process may hold (`--max-output-bytes`, default 256 MiB). Past it,
    /// new connections and new requests get `503` until clients have read
    /// some: the server sheds work before the machine runs out of memory.
    pub max_output_bytes: usize,
    /// An idle WebSocket is pinged after this long, and closed if nothing
    /// arrives within one more interval (`--ping-interval`, default 30 s).
    pub ping_interval: Duration,
    /// Origins allowed to open a WebSocket (`--allow-ws-origin`); `None`
    /// (the default) allows all. A browser `Origin` not listed gets `403`.
    pub allow_ws_origin: Option<Vec<String>>,
    /// Print every request and response head, SSE event and WebSocket
    /// frame header, per connection, to stderr (`--trace`, default off).
    /// Off, it costs one branch per read and per write.
    pub trace: bool,
    /// Bearer token required by `POST /pub/*` (`--publish-token`); `None`:
    /// no token needed.
    pub publish_token: Option<String>,
    /// Who may read and write which channel: when set, every subscribe
    /// and publish needs a signed token naming the channel (`--jwt-secret`,
    /// `--jwt-secret-file`; default `None`: anyone may read, and publish
    /// as `publish_token` says). docs/auth.md.
    pub auth: Option<crate::auth::Auth>,
    /// Who may read subscribe responses and publish cross-site
    /// (`--allow-origin`, default `*`).
    pub allow_origin: AllowOrigin,
    /// Keep every committed message in an append-only log in this
    /// directory, and restore history from it on start (`--data-dir`;
    /// default none: history in memory only). docs/durability.md.
    pub data_dir: Option<std::path::PathBuf>,
    /// When a message in the log counts as committed (`--fsync`, default
    /// `batch`).
    pub fsync: Fsync,
    /// Start even if the log is damaged before its end, cutting it there
    /// (`--repair-log`; default off: the start is refused with the
    /// offset).
    pub repair_log: bool,
    /// With `data_dir`: how long to wait for another process's lock on it
    /// before refusing to start (`--lock-wait`, default 0: refuse at
    /// once). With `--reuse-port`, a new process started with a wait
    /// takes over from one it then drains with SIGTERM: it listens at
    /// once, and opens the log when the old one exits
    /// (docs/operations.md).
    pub lock_wait: Duration,
    /// With `data_dir`: the size at which the log's active segment rolls
    /// (`--log-segment-bytes`, default 64 MiB). Closed segments are
    /// deleted or compacted once their messages leave history; disk use
    /// stays under `2 * max_history_bytes + 2 * log_segment_bytes`
    /// (docs/durability.md).
    pub log_segment_bytes: u64,
    /// Share channels with every pushwire process pointed at the same
    /// Redis (`--redis redis://[[user]:password@]host[:port][/db]`;
    /// default none). Ids are given in Redis, history kept there, and
    /// every node delivers every message (docs/cluster.md). Not with
    /// `data_dir`.
    pub redis: Option<crate::cluster::RedisUrl>,
    /// Prefix of every Redis key pushwire uses (`--redis-prefix`,
    /// default `pushwire:`): several clusters can share one Redis.
    pub redis_prefix: String,
    /// What happens to a stream or WebSocket subscriber whose backlog
    /// reaches `max_backlog_bytes` (`--slow-consumer`, default
    /// [`SlowConsumer::Close`]).
    pub slow_consumer: SlowConsumer,
    /// How long a graceful drain ([`crate::Hub::stop`], SIGTERM, SIGINT)
    /// may take before the loop stops whatever is still open
    /// (`--drain-timeout`, default 10 s; docs/operations.md).
    pub drain_timeout: Duration,
    /// Where `GET /metrics` is served (`--metrics-listen ADDR`; default
    /// none: on `listen`, with every other endpoint). When set, a second
    /// listener in the same loop serves `/metrics` and nothing else, and
    /// `listen` answers `/metrics` with `404` (docs/operations.md).
    pub metrics_listen: Option<SocketAddr>,
    /// `GET /metrics` needs `Authorization: Bearer <token>`
    /// (`--metrics-token`; default none: anyone who reaches it may read
    /// it); `401` without it.
    pub metrics_token: Option<String>,
    /// Speak TLS on the listener (`--tls-cert FILE --tls-key FILE`;
    /// default none: plain HTTP). Needs the `tls` cargo feature; without
    /// it [`Server::bind`](crate::Server::bind) refuses such a config.
    /// docs/tls.md.
    pub tls: Option<TlsSettings>,
}

/// The certificate and key the listener speaks TLS with, and how long a
/// client may take over its handshake (`Config::tls`).
///
/// ```
/// let mut config = pushwire::Config::default();
/// config.tls = Some(pushwire::config::TlsSettings::new("chain.pem", "key.pem"));
/// assert_eq!(config.tls.unwrap().handshake_timeout.as_secs(), 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file with the certificate chain, the server's own certificate
    /// first (`--tls-cert`). Read again at every reload.
    pub cert: std::path::PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1;
    /// `--tls-key`). Read again at every reload.
    pub key: std::path::PathBuf,
    /// A connection whose TLS handshake has not finished this long after
    /// it was accepted is closed (`--tls-handshake-timeout`, default 10 s,
    /// like `header_timeout`).
    pub handshake_timeout: Duration,
}

impl TlsSettings {
    /// The files `cert` and `key`, with the default handshake timeout.
    pub fn new(
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> TlsSettings {
        TlsSettings {
            cert: cert.into(),
            key: key.into(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// The slow-consumer policy (`--slow-consumer close|skip`): what a stream
/// or WebSocket subscriber gets when its unsent bytes, with the kernel's
/// share, would pass `max_backlog_bytes` (docs/operations.md, "Slow
/// consumers").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Cut it off: the event or frame begun is finished, then the stream
    /// ends (`: too slow`, the last chunk) or the WebSocket gets close
    /// 1008. It reconnects with its last id and loses nothing.
    #[default]
    Close,
    /// Drop the messages queued for it that have not started to go out,
    /// and queue in their place a mark naming exactly the ids it missed
    /// (SSE `event: gap`, the `pushwire.json` gap frame); it stays
    /// connected. A plain WebSocket (its frames carry no ids, so it could
    /// not be told) and a long-poll (never queued past one answer) keep
    /// `Close`.
    Skip,
}

/// When a message written to the log counts as committed: the publisher
/// is answered and subscribers fed only then (docs/durability.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// After an `fdatasync` that covers it (one per loop pass at most,
    /// on a thread of its own): nothing acknowledged is lost, even in a
    /// power cut.
    Always,
    /// After the write; synced once a second: a power cut loses at most
    /// about a second of acknowledged messages, a crash none.
    Batch,
    /// After the write; the kernel syncs when it likes.
    Never,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            backlog: 1024,
            reuse_port: false,
            max_connections: 10_000,
            max_header_bytes: 8192,
            max_uri_bytes: 4096,
            max_body_bytes: 1024 * 1024,
            history: 1024,
            max_channels: 100_000,
            max_history_bytes: 256 * 1024 * 1024,
            history_ttl: None,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            longpoll_max: Duration::from_secs(120),
            linger: Duration::from_secs(2),
            max_backlog_bytes: 1024 * 1024,
            send_buffer_bytes: None,
            sse_retry_ms: 2000,
            heartbeat: Duration::from_secs(15),
            sse_max_age: None,
            max_message_bytes: 1024 * 1024,
            max_unstored_publishes: 64,
            max_fragments: 1024,
            max_control_frames_per_sec: 100,
            message_timeout: Duration::from_secs(30),
            max_work_per_pass: 1024,
            max_batch_bytes: 256 * 1024,
            max_batch_messages: 1024,
            max_output_bytes: 256 * 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            allow_ws_origin: None,
            trace: false,
            publish_token: None,
            auth: None,
            allow_origin: AllowOrigin::Any,
            data_dir: None,
            redis: None,
            redis_prefix: "pushwire:".into(),
            slow_consumer: SlowConsumer::Close,
            drain_timeout: Duration::from_secs(10),
            fsync: Fsync::Batch,
            repair_log: false,
            lock_wait: Duration::ZERO,
            log_segment_bytes: 64 * 1024 * 1024,
            metrics_listen: None,
            metrics_token: None,
            tls: None,
        }
    }
}
