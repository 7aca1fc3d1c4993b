//! A node of a cluster: the engine's store when channels are shared
//! through Redis (`--redis`), sans-IO.
//!
//! Every node pointed at the same Redis serves the same channels. Redis
//! holds, under the prefix `P` (`--redis-prefix`, default `pushwire:`):
//!
//! ```text
//! P seq:{channel}     string   the channel's newest id, and when it was
//!                              given: "{id}:{µs}"
//! P h:{channel}       stream   its history: entry id "{id}-1", fields
//!                              p (the id before it) and d (the text),
//!                              MAXLEN --history
//! P channels          set      every channel's name
//! P runid, P boot     strings  the Redis run the nodes last saw, and
//!                              whether it was durable; when a Redis that
//!                              may have lost writes came back
//!                              ([`BOOT_SCRIPT`])
//! P bus               pub/sub  every commit, for every node (P bus:N in
//!                              database N: pub/sub ignores databases)
//! ```
//!
//! # A publish is one script
//!
//! A node publishes with one `EVALSHA` of [`PUBLISH_SCRIPT`] on its
//! command connection. Redis runs a script atomically (nothing else runs
//! meanwhile), so the script is where ids are given: it reads the
//! channel's `seq`, adds one, appends the message to the channel's
//! stream with that id, and `PUBLISH`es it on the bus, all in one step.
//! Two nodes publishing on one channel at the same time get consecutive
//! ids in the order Redis ran their scripts, and the bus carries the
//! messages in that order.
//!
//! A channel Redis has no `seq` for (new, or lost when Redis restarted
//! without persistence), or whose `seq` is behind the newest id the
//! publishing node has seen (Redis came back from an older snapshot),
//! starts again at Redis's clock in microseconds, or above that newest
//! id if it is higher: the same rule as a
//! restart without a data dir (docs/durability.md), so an id is never
//! given twice. Its first message then names, as the one before it, an id
//! nobody has: every node that had the channel tells its subscribers
//! `gap`.
//!
//! # How a node learns of every commit
//!
//! A second connection is `SUBSCRIBE`d to the bus. Each bus message is
//! `"{id} {prev} {tag} {channel}\n{text}"`; the node tells the engine
//! each, in bus order, as a [`Replicated`] decision. Its own publishes
//! come back the same way, recognised by their tag (the node's name and a
//! counter), and only then is the publisher answered: a node's own
//! message and everybody else's are delivered in one order, Redis's.
//! The `EVALSHA` reply only matters when it is an error (the publisher
//! gets `503` with it).
//!
//! Pub/sub forgets: a message published while a node is not subscribed
//! never reaches it. So whenever a node (re)connects it first subscribes,
//! and only once Redis confirms does it read what it may have missed:
//! the set of channels a page at a time (`SSCAN P channels`), and for
//! each channel, pipelined, `XREVRANGE P h:{channel} + ({last}-1 COUNT
//! --history` (the newest messages after the newest id it has, at most
//! as many as it keeps).
//! Bus messages that arrive meanwhile are held, and taken after the
//! ranges; any message the node already has (by id, per channel) is
//! skipped. Anything committed before the subscription is in the
//! streams, anything after it is on the bus, so nothing falls between.
//! A channel whose stream starts past what the node had (the node
//! missed more than `--history` messages) names a `prev` the node does
//! not have: `gap`, as for a client that resumes too late.
//!
//! While either connection is down, publishes are refused at once
//! (`503`, with the reason), subscribers keep their connections, and the
//! node tries again after a backoff (50 ms, doubling up to 1 s). A
//! publish that was sent but whose message had not come back on the bus
//! when the connection broke is answered `503` too: Redis may or may not
//! have run it (docs/cluster.md). A Redis that hangs with its
//! connections open is found the same way: a publish whose message has
//! not come back on the bus within [`SYNC_TIMEOUT`] counts Redis as lost.
//!
//! Nodes are not in step: a client that saw id N on one node and resumes
//! on another that has not had N from the bus yet waits there for what
//! follows N (the engine's side, `engine::replay` and `engine::longpoll`),
//! and is never sent N or anything before it again.
//!
//! Nothing here touches a socket or reads the clock: the reactor
//! connects, moves bytes ([`Node::cmd_output`], [`Node::handle_cmd_input`],
//! and the same for the bus connection) and passes the time.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::engine::{Append, Commit, Decision, Replicated, Store, StoreError, Ticket};
use crate::resp::{self, RespError, Value};

/// The script that gives a message its id, keeps it and tells every node:
/// `KEYS` are the channel's `seq`, its stream, the set of channels and
/// the `boot` mark ([`BOOT_SCRIPT`]); `ARGV` the channel, the text, the
/// newest id the node has, `--history`, the publish's tag, the bus and
/// the history ttl in ms (0: none).
///
/// `seq` holds `{id}:{when}`, the id and Redis's clock (µs) when it was
/// given. The channel goes on from `seq` only if `seq` is not behind the
/// node's newest id and was written after the last restart of a Redis
/// that may have lost writes (`boot`); otherwise it starts again at
/// Redis's clock, above anything given before (docs/cluster.md). Lua
/// numbers are doubles, exact up to 2^53, which bounds ids anyway.
pub const PUBLISH_SCRIPT: &str = "\
local v = redis.call('GET', KEYS[1])
local seq, at
if v then
  local i = string.find(v, ':', 1, true)
  if i then
    seq = tonumber(string.sub(v, 1, i - 1))
    at = tonumber(string.sub(v, i + 1))
  else
    seq = tonumber(v)
  end
end
local boot = tonumber(redis.call('GET', KEYS[4]) or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(ARGV[3])
local id, prev
if seq and seq >= last and (at or 0) >= boot then
  id = seq + 1
  prev = seq
else
  id = math.max(now, last + 1)
  prev = id - 1
end
redis.call('SADD', KEYS[3], ARGV[1])
local sid = string.format('%d', id)
local sprev = string.format('%d', prev)
redis.call('SET', KEYS[1], sid .. ':' .. string.format('%d', now))
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], sid .. '-1', 'p', sprev, 'd', ARGV[2])
if ARGV[7] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[7]) end
redis.call('PUBLISH', ARGV[6], sid .. ' ' .. sprev .. ' ' .. ARGV[5] .. ' ' .. ARGV[1] .. '\\n' .. ARGV[2])
return id
";

/// Run by every node each time it connects, before it reads or publishes
/// anything: `KEYS` are `P runid` and `P boot`, `ARGV[1]` is `1` when
/// `CONFIG GET appendfsync` said `always`.
///
/// `P runid` holds `"{run_id} {durable}"`: the Redis run (INFO server) the
/// nodes last saw, and `1` if every node that connected to it found it
/// *durable*, an append-only file synced at every write (INFO persistence
/// `aof_enabled:1` and `appendfsync always`): such a run answers no write
/// before it is on disk, so nothing a node was told is lost when it dies.
///
/// A Redis whose `run_id` is not the one recorded has restarted since.
/// Whether it may have come back without writes whose ids nodes have
/// delivered (an older snapshot, the last second of an `everysec` file
/// after a power cut) depends on the run that *died*, not on the new one:
/// the restart is trusted only if the recorded run was durable and the
/// new one loaded its append-only file (`aof_enabled:1`). Otherwise `boot`
/// is set to Redis's clock, and every channel's next id starts again above
/// it ([`PUBLISH_SCRIPT`]): an id is never given twice, and subscribers
/// are told `gap`. A run no node connected to took no publish, and left
/// the append-only file as it found it, so judging by the last run a node
/// saw covers it. (A failover to a replica that had not received the last
/// writes is not told apart from such a restart: docs/cluster.md, known
/// limits.)
///
/// Returns `0` (a run already seen), `1` (a trusted restart) or `2` (the
/// mark was set).
pub const BOOT_SCRIPT: &str = "\
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local aof = string.match(redis.call('INFO', 'persistence'), 'aof_enabled:(%d)')
local durable = '0'
if aof == '1' and ARGV[1] == '1' then durable = '1' end
local seen, kept = string.match(redis.call('GET', KEYS[1]) or '', '^(%x+) ([01])$')
if seen == run then
  if kept == '1' and durable == '0' then redis.call('SET', KEYS[1], run .. ' 0') end
  return 0
end
redis.call('SET', KEYS[1], run .. ' ' .. durable)
if kept == '1' and aof == '1' then return 1 end
local t = redis.call('TIME')
redis.call('SET', KEYS[2], string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2])))
return 2
";

/// The first wait before trying Redis again, doubled at each failure.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait before trying Redis again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Channel names asked for per `SSCAN` page when catching up.
pub const SCAN_PAGE: usize = 1000;
/// How long connecting, logging in and catching up may take before the
/// node gives up and tries again.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// Which of a node's two connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Commands: the publish script, the catch-up reads.
    Commands,
    /// Subscribed to the bus.
    Bus,
}

/// Why a node drops its connections to Redis and connects again: each
/// is a reason the operator can act on, in the `503` publishers get
/// meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeError {
    /// Bytes that are not RESP, or past the size limits.
    Resp(Connection, RespError),
    /// Redis refused a command the node needs (`AUTH` with a wrong
    /// password, `SELECT` of a database that does not exist, a script
    /// that does not load, ...).
    Refused(&'static str, String),
    /// The scripts were flushed (`NOSCRIPT`): connecting again loads it.
    ScriptGone,
    /// A reply the node did not ask for, or not of the type it asked for.
    Unexpected(Connection, String),
    /// A bus message not in pushwire's format (another program publishes
    /// on the bus, or a prefix is shared by mistake).
    BadBusMessage,
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Resp(Connection::Commands, e) => write!(f, "command connection: {e}"),
            NodeError::Resp(Connection::Bus, e) => write!(f, "bus connection: {e}"),
            NodeError::Refused(what, e) => write!(f, "{what}: {e}"),
            NodeError::ScriptGone => f.write_str("the publish script was flushed (NOSCRIPT)"),
            NodeError::Unexpected(Connection::Commands, what) => {
                write!(f, "unexpected reply: {what}")
            }
            NodeError::Unexpected(Connection::Bus, what) => {
                write!(f, "unexpected bus message: {what}")
            }
            NodeError::BadBusMessage => f.write_str("a bus message not in pushwire's format"),
        }
    }
}

impl std::error::Error for NodeError {}

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Host name or address.
    pub host: String,
    /// Port (6379 when the URL has none).
    pub port: u16,
    /// ACL user name (Redis 6 and later), if any.
    pub user: Option<String>,
    /// Password, if any: sent with `AUTH`.
    pub password: Option<String>,
    /// Database number, sent with `SELECT` (0 when the URL has none).
    pub db: u32,
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        write!(f, "redis://{}:{}/{}", self.host, self.port, self.db)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl RedisUrl {
    /// Reads a URL.
    ///
    /// ```
    /// use pushwire::cluster::RedisUrl;
    ///
    /// let url = RedisUrl::parse("redis://:s3cret@10.0.0.5:6380/2").unwrap();
    /// assert_eq!((url.host.as_str(), url.port, url.db), ("10.0.0.5", 6380, 2));
    /// assert_eq!(url.password.as_deref(), Some("s3cret"));
    /// assert_eq!(RedisUrl::parse("redis://localhost").unwrap().port, 6379);
    /// assert!(RedisUrl::parse("http://localhost").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| format!("{url:?}: a Redis URL starts with redis://"))?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(auth) => match auth.split_once(':') {
                Some(("", pass)) => (None, Some(pass.to_owned())),
                Some((user, pass)) => (Some(user.to_owned()), Some(pass.to_owned())),
                None => (None, Some(auth.to_owned())),
            },
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((hostport, "")) => (hostport, 0),
            Some((hostport, db)) => (
                hostport,
                db.parse()
                    .map_err(|_| format!("{db:?} is not a Redis database number"))?,
            ),
            None => (rest, 0),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (
                host,
                port.parse()
                    .map_err(|_| format!("{port:?} is not a port number"))?,
            ),
            _ => (hostport, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        Ok(RedisUrl {
            host: host.to_owned(),
            port,
            user,
            password,
            db,
        })
    }
}

/// What a node needs to know.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Where Redis is (for `AUTH` and `SELECT`; the reactor connects).
    pub url: RedisUrl,
    /// Prefix of every key and of the bus (`--redis-prefix`).
    pub prefix: String,
    /// Messages kept per channel in Redis (`--history`).
    pub history: usize,
    /// History ttl, for the streams' expiry (`--history-ttl`).
    pub history_ttl: Option<Duration>,
    /// Larger messages never reach Redis (`--max-body-bytes`).
    pub max_message_bytes: usize,
    /// Channels read back at most (`--max-channels`).
    pub max_channels: usize,
    /// This node's name in publish tags: unique among the nodes.
    pub name: String,
    /// Ids at or below this may have been given before this node started
    /// (its start time in microseconds).
    pub floor: u64,
}

/// Where the node is with Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not connected; tries again at the instant given (now, if none).
    Down(Option<Instant>),
    /// The reactor is connecting both sockets; gives up at the instant.
    Connecting(Instant),
    /// Connected: logging in, subscribing, catching up; gives up at the
    /// instant.
    Syncing(Instant),
    /// Caught up: publishes go to Redis.
    Ready,
}

/// What a reply on the command connection answers.
#[derive(Debug)]
enum Expect {
    Ok(&'static str),
    /// `CONFIG GET appendfsync`: whether Redis writes before it answers.
    Fsync,
    /// The boot script ran.
    Booted,
    ScriptLoad,
    Members,
    Range(Rc<str>),
    Publish(u64),
}

/// One bus message.
#[derive(Debug)]
struct Bus {
    id: u64,
    prev: u64,
    tag: u64,
    mine: bool,
    channel: String,
    data: String,
}

/// The node: its connections' protocol state and what it decided.
#[derive(Debug)]
pub struct Node {
    options: NodeOptions,
    phase: Phase,
    backoff: Duration,
    /// Why Redis is not usable now, for the `503`s.
    down_reason: String,
    limits: resp::Limits,
    cmd_out: Vec<u8>,
    cmd_in: Vec<u8>,
    sub_out: Vec<u8>,
    sub_in: Vec<u8>,
    expect: VecDeque<Expect>,
    /// `AUTH` replies still due on the bus connection before the
    /// subscription's.
    sub_auth: usize,
    sha: Option<String>,
    subscribed: bool,
    /// The boot script ran on this connection.
    booted: bool,
    /// Bytes came since the deadline was last looked at: a long catch-up
    /// that keeps making progress is not cut.
    progressed: bool,
    /// Ranges still due before the catch-up is done.
    ranges_left: usize,
    /// More pages of the set of channels are due.
    scanning: bool,
    /// Bus messages that came during the catch-up.
    held: Vec<Bus>,
    /// Sent, their message not back on the bus yet: by tag.
    pending: BTreeMap<u64, (Ticket, Instant)>,
    next_tag: u64,
    /// The newest id told per channel.
    last: HashMap<Rc<str>, u64>,
    decided: VecDeque<Decision>,
    /// Caught up at least once.
    synced_once: bool,
    /// Why the last attempt failed (for the start, which gives up on it).
    last_error: Option<String>,
    stats: NodeStats,
}

/// Counters, for the operator and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Times the node lost Redis.
    pub lost: u64,
    /// Times it caught up.
    pub synced: u64,
    /// Messages read back by catching up.
    pub caught_up: u64,
    /// Messages from the bus.
    pub from_bus: u64,
    /// Bus or stream messages skipped as already told.
    pub duplicates: u64,
    /// Messages left out as larger than this node takes.
    pub too_large: u64,
}

/// The key of `name` under the prefix.
fn key(prefix: &str, kind: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + kind.len() + name.len());
    key.extend_from_slice(prefix.as_bytes());
    key.extend_from_slice(kind.as_bytes());
    key.extend_from_slice(name.as_bytes());
    key
}

/// The bus: `P bus` in database 0, `P bus:N` in database N (pub/sub
/// channels are shared by every database of a Redis, keys are not).
fn bus_name(options: &NodeOptions) -> Vec<u8> {
    match options.url.db {
        0 => key(&options.prefix, "bus", ""),
        db => key(&options.prefix, "bus:", &db.to_string()),
    }
}

/// A decimal number as bytes.
fn num(n: u64) -> Vec<u8> {
    n.to_string().into_bytes()
}

impl Node {
    /// A node that has not connected yet (the reactor connects at once).
    pub fn new(options: NodeOptions) -> Node {
        let limits = resp::Limits {
            // Up to Redis's own bulk limit: a message larger than this
            // node takes (another node has a larger --max-body-bytes) is
            // read, then left out as a gap (`Node::tell`), rather than
            // breaking the connection again at every try.
            max_bulk: resp::Limits::default().max_bulk,
            // A page of the set of channels (SSCAN's COUNT is a hint it
            // may pass), or a channel's newest `history` messages.
            max_elements: options.history.saturating_add(16).max(1 << 16),
            max_depth: 4,
        };
        Node {
            options,
            phase: Phase::Down(None),
            backoff: FIRST_BACKOFF,
            down_reason: "not connected to Redis yet".into(),
            limits,
            cmd_out: Vec::new(),
            cmd_in: Vec::new(),
            sub_out: Vec::new(),
            sub_in: Vec::new(),
            expect: VecDeque::new(),
            sub_auth: 0,
            sha: None,
            subscribed: false,
            booted: false,
            progressed: false,
            ranges_left: 0,
            scanning: false,
            held: Vec::new(),
            pending: BTreeMap::new(),
            next_tag: 0,
            last: HashMap::new(),
            decided: VecDeque::new(),
            synced_once: false,
            last_error: None,
            stats: NodeStats::default(),
        }
    }

    /// Where the node is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Caught up at least once since it started.
    pub fn synced_once(&self) -> bool {
        self.synced_once
    }

    /// Why the last attempt failed, if it did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The counters.
    pub fn stats(&self) -> NodeStats {
        self.stats
    }

    /// Whether the reactor should connect now.
    pub fn wants_connect(&self, now: Instant) -> bool {
        matches!(self.phase, Phase::Down(at) if at.is_none_or(|at| at <= now))
    }

    /// The next instant the node has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Down(at) => at,
            Phase::Connecting(at) | Phase::Syncing(at) => Some(at),
            Phase::Ready => self.oldest_pending().map(|since| since + SYNC_TIMEOUT),
        }
    }

    /// The reactor started connecting both sockets.
    pub fn handle_connecting(&mut self, now: Instant) {
        self.phase = Phase::Connecting(now + SYNC_TIMEOUT);
    }

    /// Both sockets are connected: log in, load the script, subscribe.
    pub fn handle_connected(&mut self, now: Instant) {
        let deadline = match self.phase {
            Phase::Connecting(at) => at,
            _ => now + SYNC_TIMEOUT,
        };
        self.phase = Phase::Syncing(deadline);
        self.sub_auth = 0;
        if let Some(password) = self.options.url.password.clone() {
            let user = self.options.url.user.clone();
            for out in [&mut self.cmd_out, &mut self.sub_out] {
                match &user {
                    Some(user) => {
                        resp::encode_command(out, &[b"AUTH", user.as_bytes(), password.as_bytes()])
                    }
                    None => resp::encode_command(out, &[b"AUTH", password.as_bytes()]),
                }
            }
            self.expect.push_back(Expect::Ok("AUTH"));
            self.sub_auth = 1;
        }
        if self.options.url.db != 0 {
            let db = num(u64::from(self.options.url.db));
            resp::encode_command(&mut self.cmd_out, &[b"SELECT", &db]);
            self.expect.push_back(Expect::Ok("SELECT"));
        }
        // Whether a restart of this Redis can lose what it acknowledged
        // decides the boot script's rule; CONFIG may be refused (managed
        // Redis services rename it): then it can.
        resp::encode_command(&mut self.cmd_out, &[b"CONFIG", b"GET", b"appendfsync"]);
        self.expect.push_back(Expect::Fsync);
        resp::encode_command(
            &mut self.cmd_out,
            &[b"SCRIPT", b"LOAD", PUBLISH_SCRIPT.as_bytes()],
        );
        self.expect.push_back(Expect::ScriptLoad);
        let bus = bus_name(&self.options);
        resp::encode_command(&mut self.sub_out, &[b"SUBSCRIBE", &bus]);
    }

    /// A connection failed, closed, or sent what cannot be read: every
    /// publish not yet back from the bus is refused, and the node tries
    /// again after its backoff. The reactor drops both sockets.
    pub fn handle_lost(&mut self, now: Instant, reason: &str) {
        self.last_error = Some(reason.to_owned());
        let reason = format!("Redis connection lost ({reason}); retrying");
        self.stats.lost += 1;
        let why = StoreError::new(format!(
            "{reason}: the message may or may not have been stored"
        ));
        for (ticket, _) in std::mem::take(&mut self.pending).into_values() {
            self.decided.push_back(Decision::Commit(Commit {
                ticket,
                outcome: Err(why.clone()),
            }));
        }
        self.down_reason = reason;
        self.cmd_out.clear();
        self.cmd_in.clear();
        self.sub_out.clear();
        self.sub_in.clear();
        self.expect.clear();
        self.sub_auth = 0;
        self.sha = None;
        self.subscribed = false;
        self.booted = false;
        self.progressed = false;
        self.ranges_left = 0;
        self.scanning = false;
        self.held.clear();
        if self.phase == Phase::Ready {
            self.decided.push_back(Decision::Sync(false));
        }
        self.phase = Phase::Down(Some(now + self.backoff));
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// When the oldest publish still waiting for the bus was sent.
    fn oldest_pending(&self) -> Option<Instant> {
        self.pending.values().next().map(|&(_, sent)| sent)
    }

    /// Passes the time: `true` when connecting or catching up took too
    /// long, or a publish has waited that long for its message to come
    /// back (a Redis that hangs): the node counts Redis as lost, and the
    /// reactor drops the sockets.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if let Phase::Syncing(at) = self.phase {
            if at <= now && std::mem::take(&mut self.progressed) {
                // Still reading (a large catch-up): another while.
                self.phase = Phase::Syncing(now + SYNC_TIMEOUT);
                return false;
            }
        }
        let late = match self.phase {
            Phase::Connecting(at) | Phase::Syncing(at) => at <= now,
            Phase::Ready => self
                .oldest_pending()
                .is_some_and(|sent| sent + SYNC_TIMEOUT <= now),
            Phase::Down(_) => false,
        };
        if late {
            self.handle_lost(now, "no answer in time");
        }
        late
    }

    /// Bytes to write on the command connection.
    pub fn cmd_output(&self) -> &[u8] {
        &self.cmd_out
    }

    /// `n` bytes of [`Node::cmd_output`] were written.
    pub fn cmd_written(&mut self, n: usize) {
        self.cmd_out.drain(..n.min(self.cmd_out.len()));
    }

    /// Bytes to write on the bus connection.
    pub fn sub_output(&self) -> &[u8] {
        &self.sub_out
    }

    /// `n` bytes of [`Node::sub_output`] were written.
    pub fn sub_written(&mut self, n: usize) {
        self.sub_out.drain(..n.min(self.sub_out.len()));
    }

    /// Whether the reactor must come back at once: output to write, or
    /// decisions for the engine.
    pub fn has_pending(&self) -> bool {
        !self.cmd_out.is_empty() || !self.sub_out.is_empty() || !self.decided.is_empty()
    }

    /// Replies read on the command connection. An error is a broken
    /// connection: the reactor calls [`Node::handle_lost`] with it.
    pub fn handle_cmd_input(&mut self, bytes: &[u8]) -> Result<(), NodeError> {
        self.progressed |= !bytes.is_empty();
        self.take_input(Connection::Commands, bytes)
    }

    /// Messages read on the bus connection.
    pub fn handle_sub_input(&mut self, bytes: &[u8]) -> Result<(), NodeError> {
        self.take_input(Connection::Bus, bytes)
    }

    /// Adds `bytes` to what the connection had not finished, and takes
    /// every whole value in it, in order.
    fn take_input(&mut self, which: Connection, bytes: &[u8]) -> Result<(), NodeError> {
        let held = match which {
            Connection::Commands => &mut self.cmd_in,
            Connection::Bus => &mut self.sub_in,
        };
        let mut input = std::mem::take(held);
        input.extend_from_slice(bytes);
        let mut at = 0;
        let result = loop {
            let rest = input.get(at..).unwrap_or(&[]);
            match resp::decode(rest, &self.limits) {
                Ok(Some((value, used))) => {
                    at += used;
                    let taken = match which {
                        Connection::Commands => self.cmd_reply(value),
                        Connection::Bus => self.sub_message(value),
                    };
                    if let Err(e) = taken {
                        break Err(e);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(NodeError::Resp(which, e)),
            }
        };
        input.drain(..at.min(input.len()));
        match which {
            Connection::Commands => self.cmd_in = input,
            Connection::Bus => self.sub_in = input,
        }
        result
    }

    fn cmd_reply(&mut self, value: Value) -> Result<(), NodeError> {
        let Some(expect) = self.expect.pop_front() else {
            return Err(NodeError::Unexpected(
                Connection::Commands,
                "a reply nothing asked for".into(),
            ));
        };
        match (expect, value) {
            (Expect::Publish(tag), Value::Error(e)) => {
                if let Some((ticket, _)) = self.pending.remove(&tag) {
                    self.decided.push_back(Decision::Commit(Commit {
                        ticket,
                        outcome: Err(StoreError::new(format!("Redis refused it: {e}"))),
                    }));
                }
                match e.starts_with("NOSCRIPT") {
                    // The scripts were flushed: connect again, which
                    // loads it again.
                    true => Err(NodeError::ScriptGone),
                    false => Ok(()),
                }
            }
            (Expect::Publish(_), _) => Ok(()), // the bus brings the message
            (Expect::Ok(what), Value::Error(e)) => Err(NodeError::Refused(what, e)),
            (Expect::Ok(_), _) => Ok(()),
            (Expect::Fsync, reply) => {
                let always = matches!(&reply, Value::Array(kv)
                    if matches!(kv.get(1), Some(Value::Bulk(v)) if v == b"always"));
                let (runid, boot) = (
                    key(&self.options.prefix, "runid", ""),
                    key(&self.options.prefix, "boot", ""),
                );
                let trust: &[u8] = if always { b"1" } else { b"0" };
                resp::encode_command(
                    &mut self.cmd_out,
                    &[b"EVAL", BOOT_SCRIPT.as_bytes(), b"2", &runid, &boot, trust],
                );
                self.expect.push_back(Expect::Booted);
                Ok(())
            }
            (Expect::Booted, Value::Error(e)) => Err(NodeError::Refused("the boot script", e)),
            (Expect::Booted, _) => {
                self.booted = true;
                self.maybe_catch_up();
                Ok(())
            }
            (Expect::ScriptLoad, Value::Bulk(sha)) => {
                self.sha = Some(String::from_utf8_lossy(&sha).into_owned());
                self.maybe_catch_up();
                Ok(())
            }
            (Expect::Members, Value::Array(page)) => self.ranges(page),
            (Expect::Range(channel), Value::Array(entries)) => {
                self.range(&channel, entries);
                Ok(())
            }
            (Expect::ScriptLoad, Value::Error(e)) => Err(NodeError::Refused("SCRIPT LOAD", e)),
            (Expect::Members, Value::Error(e)) => Err(NodeError::Refused("SSCAN", e)),
            (Expect::Range(_), Value::Error(e)) => Err(NodeError::Refused("XREVRANGE", e)),
            (expect, value) => Err(NodeError::Unexpected(
                Connection::Commands,
                format!("{value:?} to {expect:?}"),
            )),
        }
    }

    fn sub_message(&mut self, value: Value) -> Result<(), NodeError> {
        if self.sub_auth > 0 {
            self.sub_auth -= 1;
            return match value {
                Value::Error(e) => Err(NodeError::Refused("AUTH", e)),
                _ => Ok(()),
            };
        }
        let Value::Array(parts) = value else {
            return match value {
                Value::Error(e) => Err(NodeError::Refused("SUBSCRIBE", e)),
                other => Err(NodeError::Unexpected(Connection::Bus, format!("{other:?}"))),
            };
        };
        let mut parts = parts.into_iter();
        let kind = match parts.next() {
            Some(Value::Bulk(kind)) => kind,
            other => return Err(NodeError::Unexpected(Connection::Bus, format!("{other:?}"))),
        };
        match kind.as_slice() {
            b"subscribe" => {
                self.subscribed = true;
                self.maybe_catch_up();
                Ok(())
            }
            b"message" => {
                let Some(Value::Bulk(payload)) = parts.nth(1) else {
                    return Err(NodeError::BadBusMessage);
                };
                let bus = self.parse_bus(payload)?;
                match self.phase {
                    Phase::Ready => self.tell(bus),
                    _ => self.held.push(bus),
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `"{id} {prev} {tag} {channel}\n{text}"`.
    fn parse_bus(&self, payload: Vec<u8>) -> Result<Bus, NodeError> {
        let bad = || NodeError::BadBusMessage;
        let newline = payload.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
        let head =
            std::str::from_utf8(payload.get(..newline).ok_or_else(bad)?).map_err(|_| bad())?;
        let mut fields = head.split(' ');
        let id: u64 = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
        let prev: u64 = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
        let tag_field = fields.next().ok_or_else(bad)?;
        let channel = fields.next().ok_or_else(bad)?.to_owned();
        let (node, tag) = tag_field.rsplit_once('.').ok_or_else(bad)?;
        let tag: u64 = tag.parse().map_err(|_| bad())?;
        let mine = node == self.options.name;
        let text = payload.get(newline + 1..).unwrap_or(&[]);
        let data = String::from_utf8(text.to_vec()).map_err(|_| bad())?;
        Ok(Bus {
            id,
            prev,
            tag,
            mine,
            channel,
            data,
        })
    }

    /// Once the script is loaded and the bus subscribed: what was missed.
    fn maybe_catch_up(&mut self) {
        if self.sha.is_none()
            || !self.subscribed
            || !self.booted
            || !matches!(self.phase, Phase::Syncing(_))
        {
            return;
        }
        self.scanning = true;
        self.scan(b"0");
    }

    /// Asks for the next page of the set of channels.
    fn scan(&mut self, cursor: &[u8]) {
        let set = key(&self.options.prefix, "channels", "");
        let count = num(SCAN_PAGE as u64);
        resp::encode_command(
            &mut self.cmd_out,
            &[b"SSCAN", &set, cursor, b"COUNT", &count],
        );
        self.expect.push_back(Expect::Members);
    }

    /// A page of channel names: one read of each one's history after the
    /// newest id the node has (at most `--history` of the newest), and the
    /// next page unless this was the last.
    fn ranges(&mut self, page: Vec<Value>) -> Result<(), NodeError> {
        let mut page = page.into_iter();
        let (Some(Value::Bulk(cursor)), Some(Value::Array(names))) = (page.next(), page.next())
        else {
            return Err(NodeError::Unexpected(
                Connection::Commands,
                "an SSCAN reply without a cursor and names".into(),
            ));
        };
        let names = names.into_iter().filter_map(|v| match v {
            Value::Bulk(name) => String::from_utf8(name).ok(),
            _ => None,
        });
        let history = num(self.options.history as u64);
        for name in names.filter(|name| crate::broker::valid_channel_name(name)) {
            let stream = key(&self.options.prefix, "h:", &name);
            let after = match self.last.get(name.as_str()) {
                Some(&last) => format!("({last}-1").into_bytes(),
                None => b"-".to_vec(),
            };
            resp::encode_command(
                &mut self.cmd_out,
                &[b"XREVRANGE", &stream, b"+", &after, b"COUNT", &history],
            );
            self.expect.push_back(Expect::Range(name.into()));
            self.ranges_left += 1;
        }
        match cursor.as_slice() {
            b"0" => self.scanning = false,
            next => self.scan(next),
        }
        if self.ranges_left == 0 && !self.scanning {
            self.caught_up();
        }
        Ok(())
    }

    /// The newest messages of a channel after what the node had, newest
    /// first (`XREVRANGE`).
    fn range(&mut self, channel: &Rc<str>, mut entries: Vec<Value>) {
        entries.reverse();
        for entry in entries {
            let Some((id, prev, data)) = stream_entry(entry) else {
                continue;
            };
            self.stats.caught_up += 1;
            self.tell(Bus {
                id,
                prev,
                tag: 0,
                mine: false,
                channel: channel.to_string(),
                data,
            });
        }
        self.ranges_left = self.ranges_left.saturating_sub(1);
        if self.ranges_left == 0 && !self.scanning {
            self.caught_up();
        }
    }

    fn caught_up(&mut self) {
        self.phase = Phase::Ready;
        self.backoff = FIRST_BACKOFF;
        self.synced_once = true;
        self.last_error = None;
        self.stats.synced += 1;
        // Held bus messages were committed after the subscription began:
        // in step from here on.
        self.decided.push_back(Decision::Sync(true));
        for bus in std::mem::take(&mut self.held) {
            self.tell(bus);
        }
    }

    /// One committed message for the engine, unless it has it already.
    fn tell(&mut self, bus: Bus) {
        let Bus {
            id,
            prev,
            tag,
            mine,
            channel,
            data,
        } = bus;
        let ticket = match mine {
            true => self.pending.remove(&tag).map(|(ticket, _)| ticket),
            false => None,
        };
        let last = match self.last.get_mut(channel.as_str()) {
            Some(last) => last,
            None => self.last.entry(Rc::from(channel.as_str())).or_insert(0),
        };
        if !mine && data.len() > self.options.max_message_bytes {
            // Larger than this node takes (its --max-body-bytes is lower
            // than the publisher's): left out, and the next message,
            // whose prev is this one, tells the subscribers `gap`.
            self.stats.too_large += 1;
            return;
        }
        if id <= *last {
            self.stats.duplicates += 1;
            if let Some(ticket) = ticket {
                // Cannot happen with one Redis: its ids only grow.
                self.decided.push_back(Decision::Commit(Commit {
                    ticket,
                    outcome: Err(StoreError::new("Redis gave an id already given")),
                }));
            }
            return;
        }
        *last = id;
        self.stats.from_bus += u64::from(tag != 0);
        self.decided.push_back(Decision::Replicated(Replicated {
            ticket,
            channel,
            id,
            prev,
            data,
        }));
    }
}

/// `[ "{id}-1", [ "p", prev, "d", text ] ]` from `XRANGE`.
fn stream_entry(entry: Value) -> Option<(u64, u64, String)> {
    let Value::Array(parts) = entry else {
        return None;
    };
    let mut parts = parts.into_iter();
    let Some(Value::Bulk(sid)) = parts.next() else {
        return None;
    };
    let Some(Value::Array(fields)) = parts.next() else {
        return None;
    };
    let sid = std::str::from_utf8(&sid).ok()?;
    let id = sid.split_once('-')?.0.parse().ok()?;
    let (mut prev, mut data) = (None, None);
    let mut fields = fields.into_iter();
    while let (Some(Value::Bulk(name)), Some(Value::Bulk(value))) = (fields.next(), fields.next()) {
        match name.as_slice() {
            b"p" => prev = std::str::from_utf8(&value).ok()?.parse().ok(),
            b"d" => data = String::from_utf8(value).ok(),
            _ => {}
        }
    }
    Some((id, prev?, data?))
}

/// The engine's store over a [`Node`]; clones share the node, so the
/// reactor keeps one to move its bytes while the engine owns another.
#[derive(Clone, Debug)]
pub struct RedisStore(Rc<RefCell<Node>>);

impl RedisStore {
    /// A store over a new node.
    pub fn new(options: NodeOptions) -> RedisStore {
        RedisStore(Rc::new(RefCell::new(Node::new(options))))
    }

    /// The node, to drive it.
    pub fn node(&self) -> std::cell::RefMut<'_, Node> {
        self.0.borrow_mut()
    }
}

impl Store for RedisStore {
    fn append(&mut self, append: Append<'_>) {
        let mut node = self.0.borrow_mut();
        let refuse = |node: &mut Node, why: StoreError| {
            node.decided.push_back(Decision::Commit(Commit {
                ticket: append.ticket,
                outcome: Err(why),
            }));
        };
        if append.data.len() > node.options.max_message_bytes {
            let why = format!(
                "the message is larger than --max-body-bytes ({} bytes)",
                node.options.max_message_bytes
            );
            return refuse(&mut node, StoreError::new(why));
        }
        let (Phase::Ready, Some(sha)) = (node.phase, node.sha.clone()) else {
            let why = StoreError::new(node.down_reason.clone());
            return refuse(&mut node, why);
        };
        node.next_tag += 1;
        let tag = node.next_tag;
        let prefix = &node.options.prefix;
        let (seq, stream, set, boot) = (
            key(prefix, "seq:", append.name),
            key(prefix, "h:", append.name),
            key(prefix, "channels", ""),
            key(prefix, "boot", ""),
        );
        let bus = bus_name(&node.options);
        let last = match node.last.get(append.name) {
            Some(&told) => append.last_id.max(told),
            None => append.last_id,
        };
        let ttl = node
            .options
            .history_ttl
            .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        let history = num(node.options.history as u64);
        let tag_field = format!("{}.{tag}", node.options.name);
        let mut out = std::mem::take(&mut node.cmd_out);
        resp::encode_command(
            &mut out,
            &[
                b"EVALSHA",
                sha.as_bytes(),
                b"4",
                &seq,
                &stream,
                &set,
                &boot,
                append.name.as_bytes(),
                append.data.as_bytes(),
                &num(last),
                &history,
                tag_field.as_bytes(),
                &bus,
                &num(ttl),
            ],
        );
        node.cmd_out = out;
        node.expect.push_back(Expect::Publish(tag));
        node.pending.insert(tag, (append.ticket, append.now));
    }

    fn poll_commit(&mut self) -> Option<Commit> {
        // Every decision, commits included, comes through poll_decision.
        None
    }

    fn poll_decision(&mut self) -> Option<Decision> {
        self.0.borrow_mut().decided.pop_front()
    }

    fn floor(&self) -> u64 {
        self.0.borrow().options.floor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> NodeOptions {
        NodeOptions {
            url: RedisUrl::parse("redis://:pw@127.0.0.1:6379/3").unwrap(),
            prefix: "p:".into(),
            history: 8,
            history_ttl: None,
            max_message_bytes: 1024,
            max_channels: 100,
            name: "n1".into(),
            floor: 1000,
        }
    }

    fn command(args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        resp::encode_command(&mut out, args);
        out
    }

    fn bulk(s: &[u8]) -> Vec<u8> {
        let mut out = format!("${}\r\n", s.len()).into_bytes();
        out.extend_from_slice(s);
        out.extend_from_slice(b"\r\n");
        out
    }

    fn message(payload: &[u8]) -> Vec<u8> {
        let mut out = b"*3\r\n".to_vec();
        out.extend(bulk(b"message"));
        out.extend(bulk(b"p:bus"));
        out.extend(bulk(payload));
        out
    }

    fn replicated(node: &mut Node) -> Vec<(String, u64, u64, String)> {
        std::iter::from_fn(|| node.decided.pop_front())
            .filter_map(|d| match d {
                Decision::Replicated(r) => Some((r.channel, r.id, r.prev, r.data)),
                Decision::Commit(c) => panic!("{c:?}"),
                Decision::Sync(_) => None,
            })
            .collect()
    }

    /// A node taken through the handshake and the first page of the
    /// channels (one it knew up to 7): the range of "a" and the next page
    /// are asked for.
    fn ready(now: Instant) -> Node {
        let mut node = Node::new(options());
        node.last.insert(Rc::from("a"), 7);
        assert!(node.wants_connect(now));
        node.handle_connecting(now);
        node.handle_connected(now);
        let mut expected = command(&[b"AUTH", b"pw"]);
        expected.extend(command(&[b"SELECT", b"3"]));
        expected.extend(command(&[b"CONFIG", b"GET", b"appendfsync"]));
        expected.extend(command(&[b"SCRIPT", b"LOAD", PUBLISH_SCRIPT.as_bytes()]));
        assert_eq!(node.cmd_output(), expected);
        // Database 3: the bus is p:bus:3, pub/sub ignoring databases.
        let mut expected = command(&[b"AUTH", b"pw"]);
        expected.extend(command(&[b"SUBSCRIBE", b"p:bus:3"]));
        assert_eq!(node.sub_output(), expected);
        node.cmd_written(node.cmd_output().len());
        node.sub_written(node.sub_output().len());
        // appendfsync everysec: a restart may lose writes, the boot
        // script is told so.
        node.handle_cmd_input(
            b"+OK\r\n+OK\r\n*2\r\n$11\r\nappendfsync\r\n$8\r\neverysec\r\n\
              $40\r\n0123456789012345678901234567890123456789\r\n",
        )
        .unwrap();
        assert_eq!(
            node.cmd_output(),
            command(&[
                b"EVAL",
                BOOT_SCRIPT.as_bytes(),
                b"2",
                b"p:runid",
                b"p:boot",
                b"0"
            ])
        );
        node.cmd_written(node.cmd_output().len());
        node.handle_cmd_input(b":2\r\n").unwrap();
        assert!(node.cmd_output().is_empty(), "not before the subscription");
        node.handle_sub_input(b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n$7\r\np:bus:3\r\n:1\r\n")
            .unwrap();
        assert_eq!(
            node.cmd_output(),
            command(&[b"SSCAN", b"p:channels", b"0", b"COUNT", b"1000"])
        );
        node.cmd_written(node.cmd_output().len());
        // A bus message during the catch-up waits for it.
        node.handle_sub_input(&message(b"9 8 n2.4 a\nnine"))
            .unwrap();
        node.handle_cmd_input(b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n")
            .unwrap();
        let mut expected = command(&[b"XREVRANGE", b"p:h:a", b"+", b"(7-1", b"COUNT", b"8"]);
        expected.extend(command(&[
            b"SSCAN",
            b"p:channels",
            b"17",
            b"COUNT",
            b"1000",
        ]));
        assert_eq!(node.cmd_output(), expected);
        node.cmd_written(node.cmd_output().len());
        assert!(node.decided.is_empty());
        node
    }

    #[test]
    fn a_catch_up_tells_what_the_streams_have_then_the_held_bus_messages_once() {
        let now = Instant::now();
        let mut node = ready(now);
        // "a", newest first; then the last page: "b", whose range is empty.
        node.handle_cmd_input(
            b"*2\r\n\
              *2\r\n$3\r\n9-1\r\n*4\r\n$1\r\np\r\n$1\r\n8\r\n$1\r\nd\r\n$4\r\nnine\r\n\
              *2\r\n$3\r\n8-1\r\n*4\r\n$1\r\np\r\n$1\r\n7\r\n$1\r\nd\r\n$5\r\neight\r\n\
              *2\r\n$1\r\n0\r\n*1\r\n$1\r\nb\r\n",
        )
        .unwrap();
        assert_eq!(node.phase(), Phase::Syncing(now + SYNC_TIMEOUT));
        assert_eq!(
            node.cmd_output(),
            command(&[b"XREVRANGE", b"p:h:b", b"+", b"-", b"COUNT", b"8"])
        );
        node.handle_cmd_input(b"*0\r\n").unwrap();
        assert_eq!(node.phase(), Phase::Ready);
        assert_eq!(
            replicated(&mut node),
            [
                ("a".into(), 8, 7, "eight".into()),
                ("a".into(), 9, 8, "nine".into())
            ],
            "9 came from the stream and the bus: told once"
        );
        assert_eq!(node.stats().duplicates, 1);
        node.handle_sub_input(&message(b"10 9 n2.5 a\nten\nlines"))
            .unwrap();
        assert_eq!(
            replicated(&mut node),
            [("a".into(), 10, 9, "ten\nlines".into())]
        );
        // Larger than this node takes: left out; the next one names it
        // as its prev, which the engine tells as a gap.
        let big = format!("11 10 n2.6 a\n{}", "x".repeat(1025));
        node.handle_sub_input(&message(big.as_bytes())).unwrap();
        node.handle_sub_input(&message(b"12 11 n2.7 a\ntwelve"))
            .unwrap();
        assert_eq!(
            replicated(&mut node),
            [("a".into(), 12, 11, "twelve".into())]
        );
        assert_eq!(node.stats().too_large, 1);
    }

    #[test]
    fn bytes_that_are_not_redis_s_break_the_connection_and_publishes_are_refused_until_back() {
        let now = Instant::now();
        let mut node = ready(now);
        // A catch-up still reading at its deadline gets another while;
        // one that read nothing since counts Redis as lost.
        assert!(!node.handle_timeout(now + SYNC_TIMEOUT));
        assert_eq!(node.phase(), Phase::Syncing(now + SYNC_TIMEOUT * 2));
        assert!(node.handle_timeout(now + SYNC_TIMEOUT * 2));
        assert_eq!(node.last_error(), Some("no answer in time"));
        let mut node = ready(now);
        assert!(node.handle_sub_input(&message(b"no newline")).is_err());
        assert!(node.handle_cmd_input(b"?what\r\n").is_err());
        node.handle_lost(now, "test");
        assert_eq!(node.phase(), Phase::Down(Some(now + FIRST_BACKOFF)));
        assert!(!node.wants_connect(now));
        assert!(node.wants_connect(now + FIRST_BACKOFF));
        // Each failure doubles the wait, up to a second.
        for _ in 0..10 {
            node.handle_connecting(now);
            node.handle_lost(now, "again");
        }
        assert_eq!(node.phase(), Phase::Down(Some(now + MAX_BACKOFF)));
        assert!(node.last_error().unwrap().contains("again"));
        // Connecting that takes too long counts as lost.
        node.handle_connecting(now);
        assert!(!node.handle_timeout(now + SYNC_TIMEOUT - Duration::from_millis(1)));
        assert!(node.handle_timeout(now + SYNC_TIMEOUT));
    }

    #[test]
    fn redis_urls() {
        let url = RedisUrl::parse("redis://user:pw@[::1]:7000/").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.user.as_deref(), url.db),
            ("::1", 7000, Some("user"), 0)
        );
        assert_eq!(format!("{url}"), "redis://::1:7000/0", "no password shown");
        assert!(RedisUrl::parse("redis://:pw@").is_err());
        assert!(RedisUrl::parse("redis://h:port").is_err());
        assert!(RedisUrl::parse("redis://h/x").is_err());
    }
}
