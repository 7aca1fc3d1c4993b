//! A node of a cluster: the engine's store when channels are shared
//! through Redis (`--redis`), sans-IO.
//!
//! Every node pointed at the same Redis serves the same channels. Redis
//! holds, under the prefix `P` (`--redis-prefix`, default `pushwire:`):
//!
//! ```text
//! P seq:{channel}     string   the channel's newest id
//! P h:{channel}       stream   its history: entry id "{id}-1", fields
//!                              p (the id before it) and d (the text),
//!                              MAXLEN --history
//! P channels          set      every channel's name
//! P bus               pub/sub  every commit, for every node
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
//! without persistence) starts at Redis's clock in microseconds, or
//! above the newest id the publishing node has seen: the same rule as a
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
//! `SMEMBERS P channels`, then, pipelined, one `XRANGE P h:{channel}
//! ({last}-1 +` per channel (everything after the newest id it has).
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
//! have run it (docs/cluster.md).
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
use crate::resp::{self, Value};

/// The script that gives a message its id, keeps it and tells every node:
/// `KEYS` are the channel's `seq`, its stream and the set of channels;
/// `ARGV` the channel, the text, the newest id the node has, `--history`,
/// the publish's tag, the bus and the history ttl in ms (0: none).
/// Lua numbers are doubles, exact up to 2^53, which bounds ids anyway.
pub const PUBLISH_SCRIPT: &str = "\
local seq = tonumber(redis.call('GET', KEYS[1]))
local last = tonumber(ARGV[3])
local id, prev
if seq and seq >= last then
  id = seq + 1
  prev = seq
else
  local t = redis.call('TIME')
  id = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]), last + 1)
  prev = id - 1
  redis.call('SADD', KEYS[3], ARGV[1])
end
local sid = string.format('%d', id)
local sprev = string.format('%d', prev)
redis.call('SET', KEYS[1], sid)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], sid .. '-1', 'p', sprev, 'd', ARGV[2])
if ARGV[7] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[7]) end
redis.call('PUBLISH', ARGV[6], sid .. ' ' .. sprev .. ' ' .. ARGV[5] .. ' ' .. ARGV[1] .. '\\n' .. ARGV[2])
return id
";

/// The first wait before trying Redis again, doubled at each failure.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait before trying Redis again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long connecting, logging in and catching up may take before the
/// node gives up and tries again.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Ranges still due before the catch-up is done.
    ranges_left: usize,
    /// Bus messages that came during the catch-up.
    held: Vec<Bus>,
    /// Sent, their message not back on the bus yet: by tag.
    pending: BTreeMap<u64, Ticket>,
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
}

/// The key of `name` under the prefix.
fn key(prefix: &str, kind: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + kind.len() + name.len());
    key.extend_from_slice(prefix.as_bytes());
    key.extend_from_slice(kind.as_bytes());
    key.extend_from_slice(name.as_bytes());
    key
}

/// A decimal number as bytes.
fn num(n: u64) -> Vec<u8> {
    n.to_string().into_bytes()
}

impl Node {
    /// A node that has not connected yet (the reactor connects at once).
    pub fn new(options: NodeOptions) -> Node {
        let limits = resp::Limits {
            max_bulk: options.max_message_bytes.saturating_add(64 * 1024),
            max_elements: options.history.max(options.max_channels).saturating_add(16),
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
            ranges_left: 0,
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
            Phase::Ready => None,
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
        resp::encode_command(
            &mut self.cmd_out,
            &[b"SCRIPT", b"LOAD", PUBLISH_SCRIPT.as_bytes()],
        );
        self.expect.push_back(Expect::ScriptLoad);
        let bus = key(&self.options.prefix, "bus", "");
        resp::encode_command(&mut self.sub_out, &[b"SUBSCRIBE", &bus]);
    }

    /// A connection failed, closed, or sent what cannot be read: every
    /// publish not yet back from the bus is refused, and the node tries
    /// again after its backoff. The reactor drops both sockets.
    pub fn handle_lost(&mut self, now: Instant, reason: &str) {
        let reason = format!("Redis connection lost ({reason}); retrying");
        self.stats.lost += 1;
        let why = StoreError::new(format!(
            "{reason}: the message may or may not have been stored"
        ));
        for ticket in std::mem::take(&mut self.pending).into_values() {
            self.decided.push_back(Decision::Commit(Commit {
                ticket,
                outcome: Err(why.clone()),
            }));
        }
        self.last_error = Some(reason.clone());
        self.down_reason = reason;
        self.cmd_out.clear();
        self.cmd_in.clear();
        self.sub_out.clear();
        self.sub_in.clear();
        self.expect.clear();
        self.sub_auth = 0;
        self.sha = None;
        self.subscribed = false;
        self.ranges_left = 0;
        self.held.clear();
        self.phase = Phase::Down(Some(now + self.backoff));
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Passes the time: `true` when connecting or catching up took too
    /// long (the node counts Redis as lost, and the reactor drops the
    /// sockets).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Connecting(at) | Phase::Syncing(at) if at <= now => {
                self.handle_lost(now, "no answer in time");
                true
            }
            _ => false,
        }
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
    pub fn handle_cmd_input(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.cmd_in.extend_from_slice(bytes);
        let mut at = 0;
        let result = loop {
            let rest = self.cmd_in.get(at..).unwrap_or(&[]);
            match resp::decode(rest, &self.limits) {
                Ok(Some((value, used))) => {
                    at += used;
                    if let Err(e) = self.cmd_reply(value) {
                        break Err(e);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(format!("command connection: {e}")),
            }
        };
        self.cmd_in.drain(..at.min(self.cmd_in.len()));
        result
    }

    /// Messages read on the bus connection.
    pub fn handle_sub_input(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.sub_in.extend_from_slice(bytes);
        let mut at = 0;
        let result = loop {
            let rest = self.sub_in.get(at..).unwrap_or(&[]);
            match resp::decode(rest, &self.limits) {
                Ok(Some((value, used))) => {
                    at += used;
                    if let Err(e) = self.sub_message(value) {
                        break Err(e);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(format!("bus connection: {e}")),
            }
        };
        self.sub_in.drain(..at.min(self.sub_in.len()));
        result
    }

    fn cmd_reply(&mut self, value: Value) -> Result<(), String> {
        let Some(expect) = self.expect.pop_front() else {
            return Err("a reply nothing asked for".into());
        };
        match (expect, value) {
            (Expect::Publish(tag), Value::Error(e)) => {
                if let Some(ticket) = self.pending.remove(&tag) {
                    self.decided.push_back(Decision::Commit(Commit {
                        ticket,
                        outcome: Err(StoreError::new(format!("Redis refused it: {e}"))),
                    }));
                }
                Ok(())
            }
            (Expect::Publish(_), _) => Ok(()), // the bus brings the message
            (Expect::Ok(what), Value::Error(e)) => Err(format!("{what}: {e}")),
            (Expect::Ok(_), _) => Ok(()),
            (Expect::ScriptLoad, Value::Bulk(sha)) => {
                self.sha = Some(String::from_utf8_lossy(&sha).into_owned());
                self.maybe_catch_up();
                Ok(())
            }
            (Expect::Members, Value::Array(names)) => {
                self.ranges(names);
                Ok(())
            }
            (Expect::Range(channel), Value::Array(entries)) => {
                self.range(&channel, entries);
                Ok(())
            }
            (_, Value::Error(e)) => Err(e),
            (expect, value) => Err(format!("unexpected reply to {expect:?}: {value:?}")),
        }
    }

    fn sub_message(&mut self, value: Value) -> Result<(), String> {
        if self.sub_auth > 0 {
            self.sub_auth -= 1;
            return match value {
                Value::Error(e) => Err(format!("AUTH: {e}")),
                _ => Ok(()),
            };
        }
        let Value::Array(parts) = value else {
            return match value {
                Value::Error(e) => Err(e),
                other => Err(format!("unexpected bus message {other:?}")),
            };
        };
        let mut parts = parts.into_iter();
        let kind = match parts.next() {
            Some(Value::Bulk(kind)) => kind,
            other => return Err(format!("unexpected bus message kind {other:?}")),
        };
        match kind.as_slice() {
            b"subscribe" => {
                self.subscribed = true;
                self.maybe_catch_up();
                Ok(())
            }
            b"message" => {
                let Some(Value::Bulk(payload)) = parts.nth(1) else {
                    return Err("a bus message without a payload".into());
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
    fn parse_bus(&self, payload: Vec<u8>) -> Result<Bus, String> {
        let bad = || "a bus message not in pushwire's format".to_string();
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
        if self.sha.is_none() || !self.subscribed || !matches!(self.phase, Phase::Syncing(_)) {
            return;
        }
        let set = key(&self.options.prefix, "channels", "");
        resp::encode_command(&mut self.cmd_out, &[b"SMEMBERS", &set]);
        self.expect.push_back(Expect::Members);
    }

    fn ranges(&mut self, names: Vec<Value>) {
        let mut names: Vec<String> = names
            .into_iter()
            .filter_map(|v| match v {
                Value::Bulk(name) => String::from_utf8(name).ok(),
                _ => None,
            })
            .filter(|name| crate::broker::valid_channel_name(name))
            .collect();
        names.sort();
        names.truncate(self.options.max_channels);
        for name in names {
            let stream = key(&self.options.prefix, "h:", &name);
            let start = match self.last.get(name.as_str()) {
                Some(&last) => format!("({last}-1").into_bytes(),
                None => b"-".to_vec(),
            };
            resp::encode_command(&mut self.cmd_out, &[b"XRANGE", &stream, &start, b"+"]);
            self.expect.push_back(Expect::Range(name.into()));
            self.ranges_left += 1;
        }
        if self.ranges_left == 0 {
            self.caught_up();
        }
    }

    fn range(&mut self, channel: &Rc<str>, entries: Vec<Value>) {
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
        if self.ranges_left == 0 {
            self.caught_up();
        }
    }

    fn caught_up(&mut self) {
        self.phase = Phase::Ready;
        self.backoff = FIRST_BACKOFF;
        self.synced_once = true;
        self.last_error = None;
        self.stats.synced += 1;
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
            true => self.pending.remove(&tag),
            false => None,
        };
        let last = match self.last.get_mut(channel.as_str()) {
            Some(last) => last,
            None => self.last.entry(Rc::from(channel.as_str())).or_insert(0),
        };
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
        let (seq, stream, set) = (
            key(prefix, "seq:", append.name),
            key(prefix, "h:", append.name),
            key(prefix, "channels", ""),
        );
        let bus = key(prefix, "bus", "");
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
                b"3",
                &seq,
                &stream,
                &set,
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
        node.pending.insert(tag, append.ticket);
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
