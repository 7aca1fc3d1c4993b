//! A Redis for the simulation: one in-memory server that speaks RESP2 on
//! connections the simulator drives by value, and runs pushwire's two
//! scripts (`cluster::PUBLISH_SCRIPT`, `cluster::BOOT_SCRIPT`) as Rust.
//!
//! No socket, no thread, no clock: bytes come in with
//! [`FakeRedis::handle_input`] (split anywhere: a command is run once its
//! last byte has come, as Redis's `processMultibulkBuffer` does), replies
//! and pub/sub messages leave with [`FakeRedis::take_output`], and the
//! time Redis's `TIME` answers is the one the simulator sets
//! ([`FakeRedis::set_time_micros`]).
//!
//! What a node sends, and what this Redis does with it (docs/cluster.md
//! has the same exchanges captured from redis-server 7.0):
//!
//! ```text
//! AUTH [user] password       +OK, WRONGPASS, or the error of a Redis
//!                            without a password
//! SELECT db                  +OK (16 databases)
//! CONFIG GET appendfsync     [appendfsync, always|everysec]
//! SCRIPT LOAD body           the body's SHA-1 in hex, for EVALSHA
//! EVAL body 2 runid boot f   the boot script (cached like SCRIPT LOAD)
//! EVALSHA sha 4 ... 7 args   the publish script; NOSCRIPT for a SHA-1
//!                            this run has not loaded
//! SUBSCRIBE bus              [subscribe, bus, 1], then the bus messages
//!                            [message, bus, payload]
//! SSCAN set cursor COUNT n   [cursor, names]: names in byte order, at
//!                            most min(n, scan page) a page; the cursor is
//!                            a position, so a name added during a scan
//!                            may come twice and none present is missed
//! XREVRANGE key + start COUNT n
//!                            the newest entries down to start (`-`, an
//!                            id, or `(id` exclusive), newest first
//! ```
//!
//! plus `PING` and `PUBLISH` (a test publishes what no node would).
//! Inside the scripts: `GET`, `SET` (which clears a key's ttl), `TIME`,
//! `SADD`, `XADD key MAXLEN n id ...` (exact trimming; an id not above
//! the stream's newest, even a trimmed one, is an error, and the script
//! stops there keeping its earlier writes, as Redis does: scripts are
//! atomic, not transactional), `PEXPIRE` (modelled: a key past its
//! deadline is gone when next touched, as by Redis's lazy expiry) and
//! `PUBLISH`.
//!
//! Faults: [`FakeRedis::restart`] with a [`RestartKind`] (every
//! connection dropped, scripts forgotten, a new `run_id`, and the data
//! kept, rolled back to [`FakeRedis::snapshot`], or lost),
//! [`FakeRedis::disconnect`] of one connection, [`FakeRedis::set_paused`]
//! (a stopped process: input is held, nothing runs) and
//! [`FakeRedis::flush_scripts`] (`SCRIPT FLUSH`).
//!
//! Every map is a `BTreeMap` or `BTreeSet`: the same inputs give the same
//! bytes, in the same order, on every run.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use pushwire::cluster::{BOOT_SCRIPT, PUBLISH_SCRIPT};
use sha1::{Digest, Sha1};

/// One client connection to the fake Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(u64);

/// How Redis comes back from [`FakeRedis::restart`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartKind {
    /// No persistence: every key is gone.
    Empty,
    /// From the last [`FakeRedis::snapshot`] (empty if none was taken):
    /// the writes since are gone.
    Snapshot,
    /// An append-only file synced at every write (`appendfsync always`):
    /// everything is kept.
    Durable,
}

/// Databases a Redis has by default (`databases 16`).
const DATABASES: u32 = 16;

/// A stream entry's id, `{ms}-{seq}`.
type StreamId = (u64, u64);

/// A stream entry's fields, names and values in order.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Clone, Debug)]
enum Data {
    Str(Vec<u8>),
    Set(BTreeSet<Vec<u8>>),
    Stream(Stream),
}

#[derive(Clone, Debug, Default)]
struct Stream {
    entries: BTreeMap<StreamId, Fields>,
    /// The newest id ever added, trimmed or not: `XADD` must go above it.
    top: StreamId,
}

#[derive(Clone, Debug)]
struct Entry {
    data: Data,
    /// Redis's clock (µs) at which the key expires.
    expires_at: Option<u64>,
}

type Keyspace = BTreeMap<(u32, Vec<u8>), Entry>;

#[derive(Debug, Default)]
struct Conn {
    input: Vec<u8>,
    output: Vec<u8>,
    db: u32,
    authed: bool,
    channels: BTreeSet<Vec<u8>>,
    /// Redis closed it (after a protocol error): what is in `output` is
    /// the last it sends.
    closed: bool,
    /// The client closed it while Redis was paused: the commands that
    /// came before the close still run when Redis resumes (it reads them
    /// before it reads the end), their replies going nowhere.
    hung_up: bool,
}

/// A reply, as Redis writes it in RESP2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(&'static str),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

impl Reply {
    fn bulk(bytes: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(bytes.as_ref().to_vec())
    }

    /// Writes the reply: written here rather than with
    /// `pushwire::resp::encode`, so that the node's decoder is checked
    /// against bytes it did not make.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(line) => out.extend_from_slice(format!("+{line}\r\n").as_bytes()),
            Reply::Error(line) => out.extend_from_slice(format!("-{line}\r\n").as_bytes()),
            Reply::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Bulk(bytes) => {
                out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

/// A command read from the front of a connection's input.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// The arguments and the bytes they took.
    Command(Vec<Vec<u8>>, usize),
    /// Not all of it has come.
    Incomplete,
    /// Redis answers this error and closes the connection.
    Protocol(String),
}

/// Reads one multibulk command (`*N\r\n` then N `$len\r\nbytes\r\n`).
fn parse_command(buf: &[u8]) -> Parsed {
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let rest = buf.get(at..)?;
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        Some((&rest[..end], at + end + 2))
    }
    fn number(bytes: &[u8]) -> Option<i64> {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }
    match buf.first() {
        None => return Parsed::Incomplete,
        Some(b'*') => {}
        Some(_) => return Parsed::Protocol("fake Redis: inline commands are not modelled".into()),
    }
    let Some((head, mut at)) = line(buf, 1) else {
        return Parsed::Incomplete;
    };
    let count = match number(head) {
        Some(n) if n <= 1024 * 1024 => n,
        _ => return Parsed::Protocol("Protocol error: invalid multibulk length".into()),
    };
    let mut args = Vec::new();
    for _ in 0..count.max(0) {
        match buf.get(at) {
            None => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(&other) => {
                return Parsed::Protocol(format!(
                    "Protocol error: expected '$', got '{}'",
                    other as char
                ))
            }
        }
        let Some((len, start)) = line(buf, at + 1) else {
            return Parsed::Incomplete;
        };
        let len = match number(len) {
            Some(n) if (0..=512 * 1024 * 1024).contains(&n) => n as usize,
            _ => return Parsed::Protocol("Protocol error: invalid bulk length".into()),
        };
        let end = start + len;
        if buf.len() < end + 2 {
            return Parsed::Incomplete;
        }
        args.push(buf[start..end].to_vec());
        at = end + 2;
    }
    Parsed::Command(args, at)
}

/// Lua's `tonumber` on the decimal integers the scripts write (anything
/// else is `nil` here).
fn to_number(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn int_arg(bytes: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "ERR value is not an integer or out of range".to_owned())
}

fn wrong_type() -> String {
    "WRONGTYPE Operation against a key holding the wrong kind of value".into()
}

fn wrong_arity(name: &str) -> Reply {
    Reply::Error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// An id as `XADD` and `XREVRANGE` take it: `ms-seq`, or `ms` (its seq
/// being `missing`).
fn parse_stream_id(bytes: &[u8], missing: u64) -> Option<StreamId> {
    let text = std::str::from_utf8(bytes).ok()?;
    match text.split_once('-') {
        Some((ms, seq)) => Some((ms.parse().ok()?, seq.parse().ok()?)),
        None => Some((text.parse().ok()?, missing)),
    }
}

fn format_stream_id((ms, seq): StreamId) -> Vec<u8> {
    format!("{ms}-{seq}").into_bytes()
}

/// The fake Redis: its keys, its connections, its scripts.
#[derive(Debug)]
pub struct FakeRedis {
    keys: Keyspace,
    snapshot: Option<Keyspace>,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    /// Loaded scripts by SHA-1 hex: which of pushwire's two it is.
    scripts: BTreeMap<String, Script>,
    /// Restarts so far: the run_id is made from it.
    run: u64,
    now_micros: u64,
    password: Option<String>,
    aof_enabled: bool,
    appendfsync: &'static str,
    paused: bool,
    scan_page: usize,
    /// Commands run (a script counts as one).
    pub commands: u64,
    /// Bus messages sent to subscribers.
    pub messages_sent: u64,
}

/// A `redis.call` that failed, or a Lua error: the script stops there.
#[derive(Debug)]
struct ScriptError {
    error: String,
    /// The script's line (from 1), for the message.
    line: usize,
}

impl ScriptError {
    /// `error` at the first line of `script` holding `needle`.
    fn at(script: &str, needle: &str, error: String) -> ScriptError {
        let line = script.lines().position(|l| l.contains(needle)).unwrap_or(0) + 1;
        ScriptError { error, line }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    Publish,
    Boot,
}

impl Default for FakeRedis {
    fn default() -> FakeRedis {
        FakeRedis::new()
    }
}

impl FakeRedis {
    /// A Redis as installed: no password, no append-only file
    /// (`appendfsync everysec` all the same), empty.
    pub fn new() -> FakeRedis {
        FakeRedis {
            keys: BTreeMap::new(),
            snapshot: None,
            conns: BTreeMap::new(),
            next_conn: 0,
            scripts: BTreeMap::new(),
            run: 1,
            now_micros: 0,
            password: None,
            aof_enabled: false,
            appendfsync: "everysec",
            paused: false,
            scan_page: usize::MAX,
            commands: 0,
            messages_sent: 0,
        }
    }

    /// Requires `AUTH password` (`requirepass`).
    pub fn set_password(&mut self, password: Option<&str>) {
        self.password = password.map(str::to_owned);
    }

    /// What `INFO persistence` (`aof_enabled`) and `CONFIG GET
    /// appendfsync` say, without changing what a restart keeps: a Redis
    /// that claims more than it does (the failover of docs/cluster.md's
    /// known limits).
    pub fn set_persistence(&mut self, aof_enabled: bool, appendfsync: &'static str) {
        self.aof_enabled = aof_enabled;
        self.appendfsync = appendfsync;
    }

    /// What `CONFIG GET appendfsync` says.
    pub fn appendfsync(&self) -> &'static str {
        self.appendfsync
    }

    /// Whether the last [`FakeRedis::snapshot`] was taken in this run
    /// after a node had run the boot script on it (its `runid` record
    /// names this run): the only snapshots an `everysec` append-only
    /// file can fall back to when the machine loses its last second (it
    /// loses this run's newest writes, not what the run loaded).
    pub fn snapshot_after_boot(&self) -> bool {
        let run = self.run_id().into_bytes();
        self.snapshot.as_ref().is_some_and(|keys| {
            keys.iter().any(|((_, key), entry)| {
                key.ends_with(b"runid")
                    && matches!(&entry.data, Data::Str(v) if v.starts_with(&run))
            })
        })
    }

    /// At most `n` names per `SSCAN` page, whatever `COUNT` says (a hint
    /// Redis may ignore), to make a catch-up take several pages.
    pub fn set_scan_page(&mut self, n: usize) {
        self.scan_page = n.max(1);
    }

    /// Redis's clock, in µs since the epoch, for `TIME` and expiry.
    pub fn set_time_micros(&mut self, micros: u64) {
        self.now_micros = micros;
    }

    /// This run's id, as `INFO server` says it.
    pub fn run_id(&self) -> String {
        format!("{:040x}", self.run)
    }

    /// A new connection.
    pub fn connect(&mut self) -> ConnId {
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.conns.insert(
            id,
            Conn {
                authed: self.password.is_none(),
                ..Conn::default()
            },
        );
        id
    }

    /// Whether the connection is still up on Redis's side (a closed one
    /// may still have its last bytes to take).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| !c.closed && !c.hung_up)
    }

    /// The client closed the connection: a command not all received is
    /// never run, and its subscriptions end. (While Redis is paused, the
    /// whole commands it holds run when it resumes.)
    pub fn disconnect(&mut self, conn: ConnId) {
        match self.conns.get_mut(&conn) {
            Some(c) if self.paused && !c.input.is_empty() => {
                c.hung_up = true;
                c.channels.clear();
            }
            _ => {
                self.conns.remove(&conn);
            }
        }
    }

    /// Bytes of a command that has not all come yet on `conn`.
    pub fn pending_input(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.input.len())
    }

    /// Every open connection, in the order they were made.
    pub fn connections(&self) -> Vec<ConnId> {
        let open = self.conns.iter().filter(|(_, c)| !c.hung_up);
        open.map(|(&id, _)| id).collect()
    }

    /// Redis closes the connection (`CLIENT KILL`): what it had not run
    /// never runs, what it had not written is lost.
    pub fn kill(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// Bytes that came on `conn`; every command they complete runs, in
    /// order (unless Redis is paused).
    pub fn handle_input(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed || c.hung_up {
            return;
        }
        c.input.extend_from_slice(bytes);
        if !self.paused {
            self.run_input(conn);
        }
    }

    /// Whether Redis has written on `conn` what nobody took yet.
    pub fn has_output(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| !c.output.is_empty())
    }

    /// What Redis has written on `conn` since the last call.
    pub fn take_output(&mut self, conn: ConnId) -> Vec<u8> {
        self.conns
            .get_mut(&conn)
            .map(|c| std::mem::take(&mut c.output))
            .unwrap_or_default()
    }

    /// A stopped process (`SIGSTOP`): connections stay open, input is
    /// held; resumed, it runs what it holds, connection by connection.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            let held: Vec<ConnId> = self.conns.keys().copied().collect();
            for conn in held {
                self.run_input(conn);
            }
            self.conns.retain(|_, c| !c.hung_up);
        }
    }

    /// `SCRIPT FLUSH`.
    pub fn flush_scripts(&mut self) {
        self.scripts.clear();
    }

    /// Remembers the data as it is now (`SAVE`), for a restart of kind
    /// [`RestartKind::Snapshot`].
    pub fn snapshot(&mut self) {
        self.snapshot = Some(self.keys.clone());
    }

    /// The process dies and starts again: every connection is dropped
    /// (unsent output lost), the scripts are forgotten, the `run_id` is
    /// new, and the data is what `kind` keeps. What `INFO persistence`
    /// and `CONFIG GET appendfsync` say from then on is what `kind`
    /// implies (`Durable`: `aof_enabled:1`, `always`; otherwise no
    /// append-only file, `everysec`).
    pub fn restart(&mut self, kind: RestartKind) {
        self.conns.clear();
        self.scripts.clear();
        self.run += 1;
        self.paused = false;
        match kind {
            RestartKind::Empty => {
                // Nothing on disk: had there been a snapshot, Redis would
                // have loaded it. A later restart cannot bring back what
                // this one did not (only an operator restoring a backup
                // could, which is not modelled).
                self.keys.clear();
                self.snapshot = None;
            }
            RestartKind::Snapshot => self.keys = self.snapshot.clone().unwrap_or_default(),
            RestartKind::Durable => {}
        }
        let durable = kind == RestartKind::Durable;
        self.set_persistence(durable, if durable { "always" } else { "everysec" });
    }

    /// A string key's value, for tests (database `db`).
    pub fn get(&mut self, db: u32, key: &str) -> Option<Vec<u8>> {
        match self.lookup(db, key.as_bytes()) {
            Some(Data::Str(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// The ids of a stream's entries, oldest first, for tests.
    pub fn stream_ids(&mut self, db: u32, key: &str) -> Vec<StreamId> {
        match self.lookup(db, key.as_bytes()) {
            Some(Data::Stream(s)) => s.entries.keys().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// The key, unless it is missing or past its ttl (then it is removed
    /// now: Redis's lazy expiry).
    fn lookup(&mut self, db: u32, key: &[u8]) -> Option<&mut Data> {
        let k = (db, key.to_vec());
        let expired = self
            .keys
            .get(&k)
            .is_some_and(|e| e.expires_at.is_some_and(|at| at <= self.now_micros));
        if expired {
            self.keys.remove(&k);
        }
        self.keys.get_mut(&k).map(|e| &mut e.data)
    }

    fn run_input(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.closed {
                return;
            }
            match parse_command(&c.input) {
                Parsed::Incomplete => return,
                Parsed::Protocol(e) => {
                    Reply::Error(format!("ERR {e}")).encode(&mut c.output);
                    c.input.clear();
                    c.closed = true;
                    return;
                }
                Parsed::Command(args, used) => {
                    c.input.drain(..used);
                    if args.is_empty() {
                        continue;
                    }
                    for reply in self.execute(conn, &args) {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            reply.encode(&mut c.output);
                        }
                    }
                }
            }
        }
    }

    /// Runs one command; its replies (several for a `SUBSCRIBE` of
    /// several channels).
    fn execute(&mut self, conn: ConnId, args: &[Vec<u8>]) -> Vec<Reply> {
        self.commands += 1;
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let rest = &args[1..];
        let Some(c) = self.conns.get(&conn) else {
            return Vec::new();
        };
        let (db, authed, subscribed) = (c.db, c.authed, !c.channels.is_empty());
        if !authed && name != "auth" {
            return vec![Reply::Error("NOAUTH Authentication required.".into())];
        }
        let pubsub_only = [
            "subscribe",
            "unsubscribe",
            "psubscribe",
            "punsubscribe",
            "ping",
        ];
        if subscribed && !pubsub_only.contains(&name.as_str()) {
            return vec![Reply::Error(format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ))];
        }
        let reply = match name.as_str() {
            "auth" => self.auth(conn, rest),
            "ping" if subscribed => Reply::Array(vec![Reply::bulk("pong"), Reply::bulk("")]),
            "ping" => Reply::Simple("PONG"),
            "select" => match rest {
                [n] => match int_arg(n) {
                    Ok(n) if (0..i64::from(DATABASES)).contains(&n) => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.db = n as u32;
                        }
                        Reply::Simple("OK")
                    }
                    Ok(_) => Reply::Error("ERR DB index is out of range".into()),
                    Err(e) => Reply::Error(e),
                },
                _ => wrong_arity("select"),
            },
            "config" => self.config(rest),
            "script" => self.script(rest),
            "eval" | "evalsha" => self.eval(&name, db, rest),
            "subscribe" => return self.subscribe(conn, rest),
            "publish" => match rest {
                [channel, payload] => Reply::Int(self.publish(channel, payload)),
                _ => wrong_arity("publish"),
            },
            "sscan" => self.sscan(db, rest),
            "xrevrange" => self.xrevrange(db, rest),
            _ => {
                let mut e = format!("ERR unknown command '{name}', with args beginning with: ");
                for arg in rest {
                    e.push_str(&format!("'{}' ", String::from_utf8_lossy(arg)));
                }
                Reply::Error(e)
            }
        };
        vec![reply]
    }

    fn auth(&mut self, conn: ConnId, rest: &[Vec<u8>]) -> Reply {
        let (user, password) = match rest {
            [password] => (&b"default"[..], password),
            [user, password] => (&user[..], password),
            _ => return wrong_arity("auth"),
        };
        let Some(expected) = &self.password else {
            return Reply::Error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into(),
            );
        };
        if user != b"default" || password != expected.as_bytes() {
            return Reply::Error(
                "WRONGPASS invalid username-password pair or user is disabled.".into(),
            );
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.authed = true;
        }
        Reply::Simple("OK")
    }

    fn config(&self, rest: &[Vec<u8>]) -> Reply {
        let [sub, param] = rest else {
            return wrong_arity("config|get");
        };
        if !sub.eq_ignore_ascii_case(b"get") {
            return Reply::Error("ERR fake Redis: only CONFIG GET is modelled".into());
        }
        let param = String::from_utf8_lossy(param).to_ascii_lowercase();
        let value = match param.as_str() {
            "appendfsync" => self.appendfsync,
            "appendonly" if self.aof_enabled => "yes",
            "appendonly" => "no",
            _ => return Reply::Array(Vec::new()),
        };
        Reply::Array(vec![Reply::bulk(&param), Reply::bulk(value)])
    }

    fn script(&mut self, rest: &[Vec<u8>]) -> Reply {
        match rest {
            [sub, body] if sub.eq_ignore_ascii_case(b"load") => match self.load(body) {
                Ok(sha) => Reply::bulk(sha),
                Err(e) => Reply::Error(e),
            },
            [sub] if sub.eq_ignore_ascii_case(b"flush") => {
                self.flush_scripts();
                Reply::Simple("OK")
            }
            _ => Reply::Error("ERR fake Redis: only SCRIPT LOAD and FLUSH are modelled".into()),
        }
    }

    /// Caches a script: its SHA-1, if it is one of pushwire's.
    fn load(&mut self, body: &[u8]) -> Result<String, String> {
        let script = if body == PUBLISH_SCRIPT.as_bytes() {
            Script::Publish
        } else if body == BOOT_SCRIPT.as_bytes() {
            Script::Boot
        } else {
            return Err("ERR fake Redis runs only pushwire's two scripts".into());
        };
        let sha: String = Sha1::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.scripts.insert(sha.clone(), script);
        Ok(sha)
    }

    fn eval(&mut self, name: &str, db: u32, rest: &[Vec<u8>]) -> Reply {
        let [script, numkeys, args @ ..] = rest else {
            return wrong_arity(name);
        };
        let (sha, kind) = if name == "eval" {
            match self.load(script) {
                Ok(sha) => {
                    let kind = self.scripts[&sha];
                    (sha, kind)
                }
                Err(e) => return Reply::Error(e),
            }
        } else {
            let sha = String::from_utf8_lossy(script).to_ascii_lowercase();
            match self.scripts.get(&sha) {
                Some(&kind) => (sha, kind),
                None => {
                    return Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into())
                }
            }
        };
        let numkeys = match int_arg(numkeys) {
            Ok(n) if n >= 0 && n as usize <= args.len() => n as usize,
            Ok(n) if n < 0 => {
                return Reply::Error("ERR Number of keys can't be negative".into());
            }
            Ok(_) => {
                return Reply::Error(
                    "ERR Number of keys can't be greater than number of args".into(),
                );
            }
            Err(e) => return Reply::Error(e),
        };
        let (keys, argv) = args.split_at(numkeys);
        let result = match kind {
            Script::Publish => self.publish_script(db, keys, argv),
            Script::Boot => self.boot_script(db, keys, argv),
        };
        match result {
            Ok(reply) => reply,
            // Redis 7 names the script and the line that failed.
            Err(ScriptError { error, line }) => {
                Reply::Error(format!("{error} script: {sha}, on @user_script:{line}."))
            }
        }
    }

    /// `PUBLISH_SCRIPT`, statement by statement; an error stops it where
    /// it is, with what it wrote until then kept, and says the line.
    fn publish_script(
        &mut self,
        db: u32,
        keys: &[Vec<u8>],
        argv: &[Vec<u8>],
    ) -> Result<Reply, ScriptError> {
        let at = |needle| move |e| ScriptError::at(PUBLISH_SCRIPT, needle, e);
        let (
            [seq_key, stream_key, set_key, boot_key],
            [channel, text, last, history, tag, bus, ttl],
        ) = (keys, argv)
        else {
            return Err(at("KEYS[1]")(
                "ERR fake Redis: not the publish script's keys and arguments".into(),
            ));
        };
        let (seq, when) = match self.get_str(db, seq_key).map_err(at("KEYS[1])"))? {
            None => (None, None),
            Some(v) => match v.iter().position(|&b| b == b':') {
                Some(i) => (to_number(&v[..i]), to_number(&v[i + 1..])),
                None => (to_number(&v), None),
            },
        };
        let compare = "attempt to compare nil with number";
        let boot = match self.get_str(db, boot_key).map_err(at("KEYS[4]"))? {
            None => 0,
            Some(v) => to_number(&v).ok_or_else(|| at("seq >= last")(compare.into()))?,
        };
        let now = self.now_micros;
        let last = to_number(last).ok_or_else(|| at("seq >= last")(compare.into()))?;
        let (id, prev) = match seq {
            Some(seq) if seq >= last && when.unwrap_or(0) >= boot => (seq + 1, seq),
            _ => {
                let id = now.max(last + 1);
                (id, id - 1)
            }
        };
        self.sadd(db, set_key, channel).map_err(at("'SADD'"))?;
        self.set(db, seq_key, format!("{id}:{now}").into_bytes());
        let maxlen = int_arg(history).map_err(at("'XADD'"))?;
        let fields = vec![
            (b"p".to_vec(), prev.to_string().into_bytes()),
            (b"d".to_vec(), text.clone()),
        ];
        self.xadd(db, stream_key, maxlen, (id, 1), fields)
            .map_err(at("'XADD'"))?;
        if ttl.as_slice() != b"0" {
            let ms = int_arg(ttl).map_err(at("'PEXPIRE'"))?;
            self.pexpire(db, stream_key, ms);
        }
        let mut payload = format!("{id} {prev} ").into_bytes();
        let parts: [&[u8]; 5] = [tag, b" ", channel, b"\n", text];
        for part in parts {
            payload.extend_from_slice(part);
        }
        self.publish(bus, &payload);
        Ok(Reply::Int(id as i64))
    }

    /// `BOOT_SCRIPT`.
    fn boot_script(
        &mut self,
        db: u32,
        keys: &[Vec<u8>],
        argv: &[Vec<u8>],
    ) -> Result<Reply, ScriptError> {
        let at = |needle| move |e| ScriptError::at(BOOT_SCRIPT, needle, e);
        let ([runid_key, boot_key], [trust, ..]) = (keys, argv) else {
            return Err(at("KEYS[1]")(
                "ERR fake Redis: not the boot script's keys and arguments".into(),
            ));
        };
        let run = self.run_id();
        let durable = self.aof_enabled && trust.as_slice() == b"1";
        // `^(%x+) ([01])$`: the run the nodes last saw, and whether it
        // was durable; anything else (no key, the format before the
        // flag) reads as no run.
        let recorded = self.get_str(db, runid_key).map_err(at("'GET'"))?;
        let (seen, kept) = match recorded.as_deref().map(|v| v.split(|&b| b == b' ')) {
            Some(mut parts) => match (parts.next(), parts.next(), parts.next()) {
                (Some(r), Some(k @ (b"0" | b"1")), None)
                    if !r.is_empty() && r.iter().all(u8::is_ascii_hexdigit) =>
                {
                    (Some(r.to_vec()), k == b"1")
                }
                _ => (None, false),
            },
            None => (None, false),
        };
        if seen.as_deref() == Some(run.as_bytes()) {
            if kept && !durable {
                self.set(db, runid_key, format!("{run} 0").into_bytes());
            }
            return Ok(Reply::Int(0));
        }
        let flag = if durable { 1 } else { 0 };
        self.set(db, runid_key, format!("{run} {flag}").into_bytes());
        if kept && self.aof_enabled {
            return Ok(Reply::Int(1));
        }
        self.set(db, boot_key, self.now_micros.to_string().into_bytes());
        Ok(Reply::Int(2))
    }

    fn get_str(&mut self, db: u32, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self.lookup(db, key) {
            None => Ok(None),
            Some(Data::Str(v)) => Ok(Some(v.clone())),
            Some(_) => Err(wrong_type()),
        }
    }

    /// `SET`: the value, and no ttl.
    fn set(&mut self, db: u32, key: &[u8], value: Vec<u8>) {
        self.keys.insert(
            (db, key.to_vec()),
            Entry {
                data: Data::Str(value),
                expires_at: None,
            },
        );
    }

    fn sadd(&mut self, db: u32, key: &[u8], member: &[u8]) -> Result<(), String> {
        match self.lookup(db, key) {
            Some(Data::Set(set)) => {
                set.insert(member.to_vec());
                Ok(())
            }
            Some(_) => Err(wrong_type()),
            None => {
                let set = BTreeSet::from([member.to_vec()]);
                self.keys.insert(
                    (db, key.to_vec()),
                    Entry {
                        data: Data::Set(set),
                        expires_at: None,
                    },
                );
                Ok(())
            }
        }
    }

    /// `XADD key MAXLEN maxlen id field value ...`, exact trimming.
    fn xadd(
        &mut self,
        db: u32,
        key: &[u8],
        maxlen: i64,
        id: StreamId,
        fields: Fields,
    ) -> Result<(), String> {
        if maxlen < 0 {
            return Err("ERR The MAXLEN argument must be >= 0.".into());
        }
        if id == (0, 0) {
            return Err("ERR The ID specified in XADD must be greater than 0-0".into());
        }
        if self.lookup(db, key).is_none() {
            self.keys.insert(
                (db, key.to_vec()),
                Entry {
                    data: Data::Stream(Stream::default()),
                    expires_at: None,
                },
            );
        }
        let Some(Data::Stream(stream)) = self.lookup(db, key) else {
            return Err(wrong_type());
        };
        if id <= stream.top {
            return Err(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                    .into(),
            );
        }
        stream.top = id;
        stream.entries.insert(id, fields);
        while stream.entries.len() > maxlen as usize {
            stream.entries.pop_first();
        }
        Ok(())
    }

    fn pexpire(&mut self, db: u32, key: &[u8], ms: i64) {
        let now = self.now_micros;
        if self.lookup(db, key).is_none() {
            return;
        }
        if ms <= 0 {
            self.keys.remove(&(db, key.to_vec()));
        } else if let Some(entry) = self.keys.get_mut(&(db, key.to_vec())) {
            entry.expires_at = Some(now.saturating_add((ms as u64).saturating_mul(1000)));
        }
    }

    /// Sends `payload` to every connection subscribed to `channel` (in
    /// every database: pub/sub ignores them); how many.
    fn publish(&mut self, channel: &[u8], payload: &[u8]) -> i64 {
        let message = Reply::Array(vec![
            Reply::bulk("message"),
            Reply::bulk(channel),
            Reply::bulk(payload),
        ]);
        let mut receivers = 0;
        for c in self.conns.values_mut() {
            if c.channels.contains(channel) && !c.closed {
                message.encode(&mut c.output);
                receivers += 1;
            }
        }
        self.messages_sent += receivers as u64;
        receivers
    }

    fn subscribe(&mut self, conn: ConnId, channels: &[Vec<u8>]) -> Vec<Reply> {
        if channels.is_empty() {
            return vec![wrong_arity("subscribe")];
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return Vec::new();
        };
        channels
            .iter()
            .map(|channel| {
                c.channels.insert(channel.clone());
                Reply::Array(vec![
                    Reply::bulk("subscribe"),
                    Reply::bulk(channel),
                    Reply::Int(c.channels.len() as i64),
                ])
            })
            .collect()
    }

    /// `SSCAN key cursor [COUNT n]`: the cursor is a position in the
    /// members' byte order.
    fn sscan(&mut self, db: u32, rest: &[Vec<u8>]) -> Reply {
        let (key, cursor, count) = match rest {
            [key, cursor] => (key, cursor, 10),
            [key, cursor, word, n] if word.eq_ignore_ascii_case(b"count") => match int_arg(n) {
                Ok(n) if n >= 1 => (key, cursor, n as usize),
                Ok(_) => return Reply::Error("ERR syntax error".into()),
                Err(e) => return Reply::Error(e),
            },
            [_, _, ..] => return Reply::Error("ERR fake Redis: only SSCAN COUNT".into()),
            _ => return wrong_arity("sscan"),
        };
        let Some(cursor) = to_number(cursor) else {
            return Reply::Error("ERR invalid cursor".into());
        };
        let page = count.min(self.scan_page);
        let members: Vec<Vec<u8>> = match self.lookup(db, key) {
            None => Vec::new(),
            Some(Data::Set(set)) => set.iter().cloned().collect(),
            Some(_) => return Reply::Error(wrong_type()),
        };
        let start = (cursor as usize).min(members.len());
        let end = start.saturating_add(page).min(members.len());
        let next = if end >= members.len() { 0 } else { end };
        Reply::Array(vec![
            Reply::bulk(next.to_string()),
            Reply::Array(members[start..end].iter().map(Reply::bulk).collect()),
        ])
    }

    /// `XREVRANGE key end start [COUNT n]`.
    fn xrevrange(&mut self, db: u32, rest: &[Vec<u8>]) -> Reply {
        let (key, end, start, count) = match rest {
            [key, end, start] => (key, end, start, usize::MAX),
            [key, end, start, word, n] if word.eq_ignore_ascii_case(b"count") => match int_arg(n) {
                Ok(n) => (key, end, start, n.max(0) as usize),
                Err(e) => return Reply::Error(e),
            },
            _ => return wrong_arity("xrevrange"),
        };
        let bad =
            || Reply::Error("ERR Invalid stream ID specified as stream command argument".into());
        let high = match end.as_slice() {
            b"+" => (u64::MAX, u64::MAX),
            b"-" => (0, 0),
            id => match id.strip_prefix(b"(") {
                Some(id) => match parse_stream_id(id, u64::MAX) {
                    Some((0, 0)) => {
                        return Reply::Error("ERR invalid end ID for the interval".into())
                    }
                    Some((ms, 0)) => (ms - 1, u64::MAX),
                    Some((ms, seq)) => (ms, seq - 1),
                    None => return bad(),
                },
                None => match parse_stream_id(id, u64::MAX) {
                    Some(id) => id,
                    None => return bad(),
                },
            },
        };
        let low = match start.as_slice() {
            b"-" => (0, 0),
            b"+" => (u64::MAX, u64::MAX),
            id => match id.strip_prefix(b"(") {
                Some(id) => match parse_stream_id(id, 0) {
                    Some((u64::MAX, u64::MAX)) => {
                        return Reply::Error("ERR invalid start ID for the interval".into())
                    }
                    Some((ms, u64::MAX)) => (ms + 1, 0),
                    Some((ms, seq)) => (ms, seq + 1),
                    None => return bad(),
                },
                None => match parse_stream_id(id, 0) {
                    Some(id) => id,
                    None => return bad(),
                },
            },
        };
        let stream = match self.lookup(db, key) {
            None => return Reply::Array(Vec::new()),
            Some(Data::Stream(s)) => s,
            Some(_) => return Reply::Error(wrong_type()),
        };
        if low > high {
            return Reply::Array(Vec::new());
        }
        Reply::Array(
            stream
                .entries
                .range(low..=high)
                .rev()
                .take(count)
                .map(|(&id, fields)| {
                    let mut flat = Vec::new();
                    for (name, value) in fields {
                        flat.push(Reply::bulk(name));
                        flat.push(Reply::bulk(value));
                    }
                    Reply::Array(vec![Reply::Bulk(format_stream_id(id)), Reply::Array(flat)])
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        pushwire::resp::encode_command(&mut out, args);
        out
    }

    /// `EVALSHA` of the publish script as node `3247-1796298776270901`
    /// sends it (docs/cluster.md, "A publish is one script").
    fn publish(sha: &[u8], text: &[u8], last: &[u8], tag: &[u8]) -> Vec<u8> {
        command(&[
            b"EVALSHA",
            sha,
            b"4",
            b"pushwire:seq:demo",
            b"pushwire:h:demo",
            b"pushwire:channels",
            b"pushwire:boot",
            b"demo",
            text,
            last,
            b"1024",
            tag,
            b"pushwire:bus",
            b"0",
        ])
    }

    const SHA: &[u8] = b"c25c7bd1c6a9aeb9cb02e2821d2ee77e8584baa4";

    /// Feeds `bytes` one at a time (each command runs once its last byte
    /// came) and returns what Redis wrote.
    fn bytewise(redis: &mut FakeRedis, conn: ConnId, bytes: &[u8]) -> Vec<u8> {
        for b in bytes {
            redis.handle_input(conn, std::slice::from_ref(b));
        }
        redis.take_output(conn)
    }

    #[test]
    fn sim_redis_answers_the_connect_and_a_publish_byte_for_byte_as_captured() {
        let mut redis = FakeRedis::new();
        redis.set_time_micros(1796298776272082);
        let (cmd, bus) = (redis.connect(), redis.connect());
        let mut hello = command(&[b"CONFIG", b"GET", b"appendfsync"]);
        hello.extend(command(&[b"SCRIPT", b"LOAD", PUBLISH_SCRIPT.as_bytes()]));
        assert_eq!(hello.len(), 1085);
        assert_eq!(
            bytewise(&mut redis, cmd, &hello),
            b"*2\r\n$11\r\nappendfsync\r\n$8\r\neverysec\r\n$40\r\nc25c7bd1c6a9aeb9cb02e2821d2ee77e8584baa4\r\n"
        );
        let boot = command(&[
            b"EVAL",
            BOOT_SCRIPT.as_bytes(),
            b"2",
            b"pushwire:runid",
            b"pushwire:boot",
            b"0",
        ]);
        assert_eq!(boot.len(), 735);
        assert_eq!(bytewise(&mut redis, cmd, &boot), b":2\r\n");
        assert_eq!(redis.get(0, "pushwire:boot").unwrap(), b"1796298776272082");
        // The next node to connect to the same run: no mark.
        let other = redis.connect();
        assert_eq!(bytewise(&mut redis, other, &boot), b":0\r\n");
        let subscribe = command(&[b"SUBSCRIBE", b"pushwire:bus"]);
        assert_eq!(
            bytewise(&mut redis, bus, &subscribe),
            b"*3\r\n$9\r\nsubscribe\r\n$12\r\npushwire:bus\r\n:1\r\n"
        );

        // hello: the channel's first message starts at Redis's clock.
        redis.set_time_micros(1796298776649370);
        let tag = b"3247-1796298776270901.1";
        let hello = publish(SHA, b"hello", b"1796298776270901", tag);
        assert_eq!(hello.len(), 272);
        assert_eq!(bytewise(&mut redis, cmd, &hello), b":1796298776649370\r\n");
        let message = redis.take_output(bus);
        assert_eq!(message.len(), 111);
        assert_eq!(
            message,
            &b"*3\r\n$7\r\nmessage\r\n$12\r\npushwire:bus\r\n$68\r\n1796298776649370 1796298776649369 3247-1796298776270901.1 demo\nhello\r\n"[..]
        );
        assert_eq!(
            redis.get(0, "pushwire:seq:demo").unwrap(),
            b"1796298776649370:1796298776649370"
        );
        // world goes on from the seq.
        redis.set_time_micros(1796298776872133);
        let world = publish(
            SHA,
            b"world",
            b"1796298776649370",
            b"3247-1796298776270901.2",
        );
        assert_eq!(bytewise(&mut redis, cmd, &world), b":1796298776649371\r\n");
        assert_eq!(
            redis.get(0, "pushwire:seq:demo").unwrap(),
            b"1796298776649371:1796298776872133"
        );
        redis.take_output(bus);

        // The catch-up's reads, as captured (one channel).
        let scan = command(&[b"SSCAN", b"pushwire:channels", b"0", b"COUNT", b"1000"]);
        assert_eq!(scan.len(), 67);
        assert_eq!(
            bytewise(&mut redis, cmd, &scan),
            b"*2\r\n$1\r\n0\r\n*1\r\n$4\r\ndemo\r\n"
        );
        let range = command(&[
            b"XREVRANGE",
            b"pushwire:h:demo",
            b"+",
            b"(1796298776649370-1",
            b"COUNT",
            b"1024",
        ]);
        assert_eq!(
            bytewise(&mut redis, cmd, &range),
            &b"*1\r\n*2\r\n$18\r\n1796298776649371-1\r\n*4\r\n$1\r\np\r\n$16\r\n1796298776649370\r\n$1\r\nd\r\n$5\r\nworld\r\n"[..]
        );
        let all = command(&[b"XREVRANGE", b"pushwire:h:demo", b"+", b"-", b"COUNT", b"1"]);
        let newest = bytewise(&mut redis, cmd, &all);
        assert!(newest.starts_with(b"*1\r\n*2\r\n$18\r\n1796298776649371-1\r\n"));
    }

    #[test]
    fn sim_redis_forgets_scripts_at_a_restart_and_keeps_what_a_failed_script_wrote() {
        let mut redis = FakeRedis::new();
        redis.set_time_micros(1000);
        let cmd = redis.connect();
        let load = command(&[b"SCRIPT", b"LOAD", PUBLISH_SCRIPT.as_bytes()]);
        redis.handle_input(cmd, &load);
        redis.take_output(cmd);
        redis.handle_input(cmd, &publish(SHA, b"a", b"0", b"n.1"));
        assert_eq!(redis.take_output(cmd), b":1000\r\n");
        redis.restart(RestartKind::Durable);
        assert!(!redis.is_open(cmd));
        let cmd = redis.connect();
        redis.handle_input(cmd, &publish(SHA, b"b", b"0", b"n.2"));
        assert_eq!(
            redis.take_output(cmd),
            b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
        );
        // The seq is lost but not the stream (as after a snapshot that
        // missed it): the id the script computes, 1000 again, is not
        // above the stream's top. The error names the line of the XADD;
        // the SADD and the SET before it stay done.
        redis.handle_input(cmd, &load);
        redis.take_output(cmd);
        redis.keys.remove(&(0, b"pushwire:seq:demo".to_vec()));
        redis.handle_input(cmd, &publish(SHA, b"c", b"0", b"n.3"));
        let reply = String::from_utf8(redis.take_output(cmd)).unwrap();
        assert_eq!(
            reply,
            format!(
                "-ERR The ID specified in XADD is equal or smaller than the target stream top item script: {}, on @user_script:28.\r\n",
                std::str::from_utf8(SHA).unwrap()
            )
        );
        assert_eq!(redis.get(0, "pushwire:seq:demo").unwrap(), b"1000:1000");
        assert_eq!(redis.stream_ids(0, "pushwire:h:demo"), [(1000, 1)]);
    }

    #[test]
    fn sim_redis_pages_sscan_and_closes_on_a_protocol_error() {
        let mut redis = FakeRedis::new();
        redis.set_scan_page(2);
        let cmd = redis.connect();
        for name in ["c", "a", "d", "b", "e"] {
            redis.sadd(0, b"s", name.as_bytes()).unwrap();
        }
        let mut names = Vec::new();
        let mut cursor = b"0".to_vec();
        loop {
            redis.handle_input(cmd, &command(&[b"SSCAN", b"s", &cursor, b"COUNT", b"1000"]));
            let out = redis.take_output(cmd);
            let Ok(Some((pushwire::resp::Value::Array(page), _))) =
                pushwire::resp::decode(&out, &pushwire::resp::Limits::default())
            else {
                panic!("{out:?}");
            };
            let [pushwire::resp::Value::Bulk(next), pushwire::resp::Value::Array(items)] =
                &page[..]
            else {
                panic!("{page:?}");
            };
            assert!(items.len() <= 2);
            names.extend(items.iter().cloned());
            if next == b"0" {
                break;
            }
            cursor = next.clone();
        }
        assert_eq!(names.len(), 5);
        redis.handle_input(cmd, b"*1\r\n?4\r\nPING\r\n");
        assert_eq!(
            redis.take_output(cmd),
            b"-ERR Protocol error: expected '$', got '?'\r\n"
        );
        assert!(!redis.is_open(cmd));
    }
}
