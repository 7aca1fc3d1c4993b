//! The durable log in `--data-dir`: the segment files, the lock, the
//! fsyncs and the reclaiming of space behind the engine's commit
//! interface (docs/durability.md).
//!
//! Every publish becomes one record ([`crate::log`]) appended to the
//! active segment, `DIR/pushwire-NNNNNNNNNNNNNNNNNNNN.log` (20 digits, the
//! segment's number). The store hands out the id when it takes the
//! append, buffers the record, and the reactor writes all the records of
//! one loop pass with one `write` ([`LogStore::pump`]). When a record
//! counts as committed depends on `--fsync`:
//!
//! - `always`: after an `fdatasync` that covers it. The syncs run on one
//!   thread of their own, so the loop goes on serving readers while the
//!   disk works; the thread wakes the loop through the waker when a sync
//!   is done. Records written while a sync is in flight wait for the next
//!   one: one sync covers every record of a pass or more (group commit),
//!   never one per message.
//! - `batch` (the default): after the `write`; the thread syncs once a
//!   second, so a power cut loses at most about a second of acknowledged
//!   messages, and a crash of the process loses none (the kernel has them).
//! - `never`: after the `write`; the kernel syncs when it likes.
//!
//! # Segments and the space they take
//!
//! Once the active segment holds `--log-segment-bytes`, the next pass
//! rolls: a new segment is created (its directory entry synced by the
//! sync thread before any of its records), begins
//! with a floor record, and takes the writes. With `always`, the roll
//! waits until every record of the old segment is synced, so a failed
//! sync only ever cuts the active segment. At each roll the closed
//! segments are looked at with the engine's histories
//! (`Engine::oldest_in_history`): a record is *live* while its message is still in
//! its channel's history. A segment with no live record is deleted; one
//! whose live records take less than half its bytes goes to the
//! compaction thread, which writes them, as they are, to a new file,
//! syncs it and renames it over the segment, off the loop. After a roll
//! (and the compactions it started) every closed segment is at least half
//! live, so the closed segments take at most twice the bytes of the live
//! records, which the history bounds limit (a record is never larger
//! than the [`crate::broker::Message::cost`] the byte bound counts): the
//! formula is in docs/durability.md.
//!
//! On start every segment is read back ([`open`]): every message is
//! restored to its channel's history (a record found in two segments is
//! restored once), a torn
//! tail is cut, and damage before the tail stops the start with the file
//! and offset unless `--repair-log` says to cut there. `DIR/lock` holds
//! an exclusive `flock` while the server runs.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use mio::Waker;

use crate::config::Fsync;
use crate::engine::{Append, Commit, Store, StoreError, Ticket};
use crate::log::{encode_floor, encode_message, End, Record, Scan};

/// The lock file's name inside the data dir.
pub const LOCK_FILE: &str = "lock";

/// What a segment being rewritten by a compaction is called meanwhile:
/// its name and this.
const COMPACTING: &str = ".compacting";

/// The name of segment number `seq` inside the data dir: the numbers
/// have 20 digits, so the names sort as the segments were written.
///
/// ```
/// assert_eq!(
///     pushwire::server::log::segment_file_name(1),
///     "pushwire-00000000000000000001.log"
/// );
/// ```
pub fn segment_file_name(seq: u64) -> String {
    format!("pushwire-{seq:020}.log")
}

/// The number of a segment file, from its name.
fn segment_seq(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("pushwire-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A data dir that cannot be used: the server does not start (exit
/// status 2), and the message says why and what to do.
#[derive(Debug)]
pub struct DataDirError(pub String);

impl std::fmt::Display for DataDirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataDirError {}

fn refuse(message: String) -> io::Error {
    io::Error::other(DataDirError(message))
}

/// One message read back from the log, to restore into its channel.
#[derive(Debug)]
pub struct Restored {
    /// The channel's name.
    pub channel: String,
    /// Its id.
    pub id: u64,
    /// The message.
    pub data: String,
}

/// A message record in a segment, as the index keeps it: enough to tell
/// whether it is still live, and how many bytes it holds.
#[derive(Debug)]
struct Kept {
    channel: Arc<str>,
    id: u64,
    len: u32,
}

/// A segment file and the message records in it that may be live, in
/// the order written.
#[derive(Debug)]
struct Segment {
    seq: u64,
    /// Bytes of whole records.
    len: u64,
    records: Vec<Kept>,
    /// With the compaction thread.
    compacting: bool,
}

/// Whether the message `id` is still in its channel's history, given the
/// oldest id that history holds (`None`: none, or no such channel). Ids
/// only grow, and history keeps the newest.
fn keeps(oldest: Option<u64>, id: u64) -> bool {
    oldest.is_some_and(|oldest| id >= oldest)
}

/// How the log is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// When a record counts as committed (`--fsync`).
    pub fsync: Fsync,
    /// Cut the log at a damaged record instead of refusing to start
    /// (`--repair-log`).
    pub repair: bool,
    /// The size at which the active segment rolls
    /// (`--log-segment-bytes`).
    pub segment_bytes: u64,
    /// How long to wait for another process's lock (`--lock-wait`).
    pub lock_wait: std::time::Duration,
}

/// The log, opened and read back, before the loop runs (all of it
/// `Send`).
#[derive(Debug)]
pub struct Opened {
    dir: PathBuf,
    file: File,
    _lock: File,
    segments: Vec<Segment>,
    floor: u64,
    options: LogOptions,
    /// Every message in the log, in id order (which, per channel, is the
    /// order it was published in), each once.
    pub restored: Vec<Restored>,
}

/// Takes the lock, waiting up to `wait` for the process that holds it to
/// exit (a takeover: the new process listens already, and its first
/// connections wait in the kernel's queue meanwhile). Polled every 20
/// ms: `flock` has no timeout, and the lock goes with the process, so
/// nothing else is there to wait on.
fn wait_for_lock(
    lock: &File,
    dir: &Path,
    lock_path: &Path,
    wait: std::time::Duration,
) -> io::Result<()> {
    let started = std::time::Instant::now();
    let mut told = false;
    while !super::sys::lock_exclusive(lock)? {
        if started.elapsed() >= wait {
            let waited = match wait.is_zero() {
                true => String::new(),
                false => format!(" after waiting {} s (--lock-wait)", wait.as_secs_f64()),
            };
            return Err(refuse(format!(
                "the data dir {} is in use by another running pushwire (it holds {}){waited}",
                dir.display(),
                lock_path.display()
            )));
        }
        if !told {
            told = true;
            eprintln!(
                "pushwire: waiting up to {} s for the data dir {}: another pushwire holds it",
                wait.as_secs_f64(),
                dir.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// Opens (or creates) the log in `dir`, takes its lock and reads every
/// segment back. `now_micros` is the wall clock: the new run's ids start
/// above it and above every id in the log.
pub fn open(dir: &Path, options: LogOptions, now_micros: u64) -> io::Result<Opened> {
    std::fs::create_dir_all(dir)
        .map_err(|e| refuse(format!("cannot create the data dir {}: {e}", dir.display())))?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            refuse(format!(
                "the data dir {} is not writable: {e}",
                dir.display()
            ))
        })?;
    wait_for_lock(&lock, dir, &lock_path, options.lock_wait)?;
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(seq) = segment_seq(name) {
            seqs.push(seq);
        } else if name
            .strip_suffix(COMPACTING)
            .and_then(segment_seq)
            .is_some()
        {
            // A compaction the last run did not finish: the segment it
            // was rewriting is whole.
            std::fs::remove_file(dir.join(name))?;
        }
    }
    seqs.sort_unstable();
    let mut floor = now_micros;
    let mut names: HashSet<Arc<str>> = HashSet::new();
    // Every message record: (id, channel, segment index, length, data).
    let mut found: Vec<(u64, Arc<str>, usize, u32, String)> = Vec::new();
    let mut segments = Vec::with_capacity(seqs.len() + 1);
    for seq in seqs {
        let path = dir.join(segment_file_name(seq));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| refuse(format!("cannot open {}: {e}", path.display())))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut scan = Scan::new(&bytes);
        while let Some((at, record)) = scan.next() {
            match record {
                Record::Message { id, channel, data } => {
                    floor = floor.max(id);
                    let name = match names.get(channel) {
                        Some(name) => Arc::clone(name),
                        None => {
                            let name: Arc<str> = channel.into();
                            names.insert(Arc::clone(&name));
                            name
                        }
                    };
                    let len = u32::try_from(scan.offset() - at).unwrap_or(u32::MAX);
                    found.push((id, name, segments.len(), len, data.to_owned()));
                }
                Record::Floor(f) => floor = floor.max(f),
            }
        }
        let keep = match scan.end() {
            None | Some(End::Clean) => bytes.len(),
            Some(End::Torn { offset, dropped }) => {
                eprintln!(
                    "pushwire: {}: cut a torn record at the end: {dropped} bytes from offset \
                     {offset} (a write the last run did not finish)",
                    path.display()
                );
                offset
            }
            Some(End::Damaged { offset, damage }) if options.repair => {
                eprintln!(
                    "pushwire: {}: --repair-log: cut the segment at offset {offset} ({damage}); \
                     {} bytes after it dropped",
                    path.display(),
                    bytes.len() - offset
                );
                offset
            }
            Some(End::Damaged { offset, damage }) => {
                return Err(refuse(format!(
                    "{}: damaged record at offset {offset} ({damage}); the records after it in \
                     this segment cannot be trusted. Keep a copy of the file, then start with \
                     --repair-log to cut the segment at that offset (every record from it on \
                     in this file is lost)",
                    path.display()
                )));
            }
        };
        if keep < bytes.len() {
            file.set_len(keep as u64)?;
        }
        segments.push(Segment {
            seq,
            len: keep as u64,
            records: Vec::new(),
            compacting: false,
        });
    }
    // In id order; a record a cut-short compaction left in two segments
    // is kept once, in the later one.
    found.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    let mut restored = Vec::with_capacity(found.len());
    let mut found = found.into_iter().peekable();
    while let Some((id, channel, segment, len, data)) = found.next() {
        if found
            .peek()
            .is_some_and(|next| next.0 == id && next.1 == channel)
        {
            continue;
        }
        if let Some(s) = segments.get_mut(segment) {
            s.records.push(Kept {
                channel: Arc::clone(&channel),
                id,
                len,
            });
        }
        restored.push(Restored {
            channel: channel.to_string(),
            id,
            data,
        });
    }
    // Appends go on in the newest segment, or the first one.
    let (seq, created) = match segments.last() {
        Some(s) => (s.seq, false),
        None => (1, true),
    };
    let path = dir.join(segment_file_name(seq));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|e| refuse(format!("cannot open {}: {e}", path.display())))?;
    if created {
        segments.push(Segment {
            seq,
            len: 0,
            records: Vec::new(),
            compacting: false,
        });
        sync_dir(dir)?;
    }
    // Ids up to here may have been given: say so at the head of this run.
    let mut head = Vec::new();
    encode_floor(&mut head, floor);
    file.write_all(&head)?;
    file.sync_data()?;
    if let Some(active) = segments.last_mut() {
        active.len += head.len() as u64;
    }
    Ok(Opened {
        dir: dir.to_owned(),
        file,
        _lock: lock,
        segments,
        floor,
        options,
        restored,
    })
}

/// Makes the directory's entries durable: a new segment's name, after a
/// power cut, is there with its file.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An append the store took, with the id it gave and its channel.
type Taken = (Ticket, u64, Arc<str>);

/// Records of closed segments looked at per pass by the sweep.
const SWEEP_PER_PASS: usize = 4096;

/// The last id given in a channel and how many of its appends the engine
/// has not taken back yet: the store remembers a channel only while it
/// has some (the engine tells the committed last id in each append).
#[derive(Clone, Copy, Debug)]
struct Given {
    id: u64,
    in_flight: u32,
}

/// The look through the closed segments that a roll starts, at most
/// [`SWEEP_PER_PASS`] records a pass, so that the loop never stops for
/// long: a segment found with no live record is deleted, one less than
/// half live is given to the compaction thread.
#[derive(Debug, Default)]
struct Sweep {
    /// The segments still to look at, by number.
    todo: VecDeque<u64>,
    /// In the first of them: records looked at, the bytes of the live
    /// ones, and which they are while the segment may still be compacted
    /// (less than half of it live so far: past that, none are kept).
    pos: usize,
    live: u64,
    wanted: Vec<(Arc<str>, u64)>,
}

impl Sweep {
    /// Done with the first segment.
    fn next(&mut self) {
        self.todo.pop_front();
        self.pos = 0;
        self.live = 0;
        self.wanted.clear();
    }
}

/// What the sync thread is asked.
#[derive(Debug)]
enum ToSync {
    /// Sync the active segment now and answer (`always`).
    Now,
    /// The log rolled: sync the old segment once more, then keep syncing
    /// this one.
    Switch(Arc<File>),
}

#[derive(Debug)]
struct Book {
    dir: PathBuf,
    /// The active segment, the last of `segments`.
    file: Arc<File>,
    segments: Vec<Segment>,
    /// Bytes of whole records in the active segment.
    len: u64,
    /// Bytes of it known synced (`always`); a failed sync cuts back to it.
    synced_len: u64,
    /// Ids up to here may have been given before this run.
    floor: u64,
    /// The highest id given so far: the floor a roll writes down.
    given: u64,
    options: LogOptions,
    /// Per channel with appends the engine has not taken back, the last
    /// id given.
    last: HashMap<Arc<str>, Given>,
    sweep: Sweep,
    /// Records not yet written, their appends, and their index entries.
    buf: Vec<u8>,
    buffered: Vec<Taken>,
    buffered_kept: Vec<Kept>,
    /// Written, waiting for the next sync; and the sync in flight.
    unsynced: Vec<Taken>,
    syncing: Vec<Taken>,
    syncing_len: u64,
    decided: VecDeque<(Commit, Arc<str>)>,
    sync: Option<mpsc::Sender<ToSync>>,
    synced: Option<mpsc::Receiver<io::Result<()>>>,
    /// Why the last roll failed, said once.
    roll_error: Option<String>,
    /// To and from the compaction thread.
    compactor: mpsc::Sender<Compaction>,
    compacted: mpsc::Receiver<Compacted>,
    _lock: File,
}

/// The store over the log; clones share it, so the reactor keeps one to
/// drive the I/O while the engine owns another.
#[derive(Clone, Debug)]
pub struct LogStore(Rc<RefCell<Book>>);

impl LogStore {
    /// The store over an opened log; `waker` wakes the loop when a sync
    /// is done.
    pub fn new(opened: Opened, waker: Arc<Waker>) -> io::Result<LogStore> {
        let Opened {
            dir,
            file,
            _lock,
            segments,
            floor,
            options,
            restored: _,
        } = opened;
        let len = segments.last().map_or(0, |s| s.len);
        let file = Arc::new(file);
        let (compactor, jobs) = mpsc::channel();
        let (done, compacted) = mpsc::channel();
        {
            let (dir, waker) = (dir.clone(), Arc::clone(&waker));
            std::thread::Builder::new()
                .name("pushwire-compact".into())
                .spawn(move || compaction_thread(dir, jobs, done, waker))?;
        }
        let (sync, synced) = match options.fsync {
            Fsync::Never => (None, None),
            Fsync::Always | Fsync::Batch => {
                let (to_thread, requests) = mpsc::channel();
                let (done, results) = mpsc::channel();
                let current = Arc::clone(&file);
                let batch = options.fsync == Fsync::Batch;
                let dir = dir.clone();
                std::thread::Builder::new()
                    .name("pushwire-fsync".into())
                    .spawn(move || sync_thread(current, &dir, batch, requests, done, waker))?;
                (Some(to_thread), Some(results))
            }
        };
        Ok(LogStore(Rc::new(RefCell::new(Book {
            dir,
            file,
            segments,
            len,
            synced_len: len,
            floor,
            given: floor,
            options,
            last: HashMap::new(),
            sweep: Sweep::default(),
            buf: Vec::new(),
            buffered: Vec::new(),
            buffered_kept: Vec::new(),
            unsynced: Vec::new(),
            syncing: Vec::new(),
            syncing_len: len,
            decided: VecDeque::new(),
            sync,
            synced,
            roll_error: None,
            compactor,
            compacted,
            _lock,
        }))))
    }

    /// Once per loop pass, before the engine's `handle_commits`: takes
    /// the finished sync and compactions, rolls the segment if it is
    /// full, sweeps the closed segments a little further (`oldest` is the
    /// oldest id a channel still holds in history,
    /// `Engine::oldest_in_history`), writes the pass's records with one
    /// `write`, and starts the next sync.
    pub fn pump(&self, oldest: &dyn Fn(&str) -> Option<u64>) {
        self.0.borrow_mut().pump(oldest);
    }

    /// Whether the next pass must come at once: appends taken after this
    /// pass's [`LogStore::pump`] (a pipelined publish that its previous
    /// answer let go on, say) wait in memory until the next one,
    /// decisions wait for `handle_commits`, or the sweep of the closed
    /// segments is not done.
    pub fn has_pending(&self) -> bool {
        let book = self.0.borrow();
        !book.buf.is_empty() || !book.decided.is_empty() || !book.sweep.todo.is_empty()
    }
}

/// The sync thread: `always` syncs on request and answers; `batch`
/// syncs once a second, and on request. When the log rolls, either syncs
/// the old segment once more and then the directory, so that the new
/// segment's name is durable before any of its records is (requests are
/// taken in order). On ext4 a directory's sync commits the journal, which
/// waits for the data the old segment had not synced yet: tens of
/// milliseconds under load, which the loop does not wait for.
fn sync_thread(
    mut current: Arc<File>,
    dir: &Path,
    batch: bool,
    requests: mpsc::Receiver<ToSync>,
    done: mpsc::Sender<io::Result<()>>,
    waker: Arc<Waker>,
) {
    loop {
        let request = if batch {
            match requests.recv_timeout(Duration::from_secs(1)) {
                Ok(request) => Some(request),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match requests.recv() {
                Ok(request) => Some(request),
                Err(_) => return,
            }
        };
        let result = current.sync_data();
        match request {
            Some(ToSync::Now) => {
                if done.send(result).is_err() {
                    return;
                }
                let _ = waker.wake();
            }
            Some(ToSync::Switch(next)) => {
                if let Err(e) = result {
                    eprintln!("pushwire: fdatasync of a closed log segment failed: {e}");
                }
                if let Err(e) = sync_dir(dir) {
                    eprintln!("pushwire: fsync of {} failed: {e}", dir.display());
                }
                current = next;
            }
            None => {
                if let Err(e) = result {
                    eprintln!("pushwire: fdatasync of the log failed: {e}");
                }
            }
        }
    }
}

impl Book {
    fn pump(&mut self, oldest: &dyn Fn(&str) -> Option<u64>) {
        self.take_synced();
        self.take_compacted();
        self.sweep(oldest);
        if self.len >= self.options.segment_bytes {
            if self.options.fsync == Fsync::Always
                && !(self.syncing.is_empty() && self.unsynced.is_empty())
            {
                // Rolls wait for the old segment to be synced whole: the
                // pass's records wait with them.
                self.start_sync();
                return;
            }
            match self.roll(oldest) {
                Ok(()) => self.roll_error = None,
                Err(e) => {
                    let message = e.to_string();
                    if self.roll_error.as_deref() != Some(&message) {
                        eprintln!(
                            "pushwire: cannot start a new log segment in {}: {message}; \
                             writing on in the full one",
                            self.dir.display()
                        );
                        self.roll_error = Some(message);
                    }
                }
            }
        }
        self.write_buffered();
        self.start_sync();
    }

    /// `always`: the records written and not synced go to the sync
    /// thread, unless a sync is in flight (they wait for the next).
    fn start_sync(&mut self) {
        if self.options.fsync != Fsync::Always
            || !self.syncing.is_empty()
            || self.unsynced.is_empty()
        {
            return;
        }
        if let Some(sync) = &self.sync {
            if sync.send(ToSync::Now).is_ok() {
                self.syncing = std::mem::take(&mut self.unsynced);
                self.syncing_len = self.len;
            }
        }
    }

    fn take_synced(&mut self) {
        while let Some(result) = self.synced.as_ref().and_then(|s| s.try_recv().ok()) {
            if self.options.fsync != Fsync::Always {
                continue;
            }
            match result {
                Ok(()) => {
                    self.synced_len = self.syncing_len;
                    let synced = std::mem::take(&mut self.syncing);
                    self.decide(synced, Ok(()));
                }
                Err(e) => {
                    // What the failed sync covered may or may not be on
                    // the disk (fsync(2)): cut the segment back to what
                    // was synced, and fail everything after it. (A roll
                    // waits for its segment to be synced, so all of it is
                    // in the active one.)
                    let reason = StoreError::new(format!("fdatasync of the log failed: {e}"));
                    let _ = self.file.set_len(self.synced_len);
                    self.len = self.synced_len;
                    let mut lost = std::mem::take(&mut self.syncing);
                    lost.append(&mut self.unsynced);
                    if let Some(active) = self.segments.last_mut() {
                        let keep = active.records.len().saturating_sub(lost.len());
                        active.records.truncate(keep);
                    }
                    self.decide(lost, Err(reason));
                }
            }
        }
    }

    fn active_path(&self) -> PathBuf {
        let seq = self.segments.last().map_or(1, |s| s.seq);
        self.dir.join(segment_file_name(seq))
    }

    fn write_buffered(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let taken = std::mem::take(&mut self.buffered);
        match (&*self.file).write_all(&self.buf) {
            Ok(()) => {
                self.len += self.buf.len() as u64;
                if let Some(active) = self.segments.last_mut() {
                    active.records.append(&mut self.buffered_kept);
                }
                match self.options.fsync {
                    Fsync::Always => self.unsynced.extend(taken),
                    Fsync::Batch | Fsync::Never => self.decide(taken, Ok(())),
                }
            }
            Err(e) => {
                // A write cut short leaves part of a record: cut it, so
                // the log ends on a whole record.
                let _ = self.file.set_len(self.len);
                let error = if e.raw_os_error() == Some(libc::ENOSPC)
                    || e.raw_os_error() == Some(libc::EFBIG)
                {
                    StoreError::full(format!("the log is full ({e})"))
                } else {
                    StoreError::new(format!(
                        "cannot write the log {}: {e}",
                        self.active_path().display()
                    ))
                };
                self.buffered_kept.clear();
                self.decide(taken, Err(error));
            }
        }
        self.buf.clear();
    }

    /// The store's answer for these appends: committed with their ids,
    /// or failed with why.
    fn decide(&mut self, taken: Vec<Taken>, outcome: Result<(), StoreError>) {
        for (ticket, id, channel) in taken {
            let commit = Commit {
                ticket,
                outcome: outcome.clone().map(|()| id),
            };
            self.decided.push_back((commit, channel));
        }
    }

    /// Starts a new segment, then reclaims the closed ones.
    fn roll(&mut self, oldest: &dyn Fn(&str) -> Option<u64>) -> io::Result<()> {
        // (A sweep in progress goes on with the new list.)
        let seq = self.segments.last().map_or(1, |s| s.seq + 1);
        let path = self.dir.join(segment_file_name(seq));
        let mut file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut head = Vec::new();
        encode_floor(&mut head, self.floor.max(self.given));
        // The directory is synced by the sync thread, before the new
        // segment's first sync (`never` promises nothing on a power cut).
        if let Err(e) = file.write_all(&head) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        if let Some(old) = self.segments.last_mut() {
            old.len = self.len;
        }
        let file = Arc::new(file);
        if let Some(sync) = &self.sync {
            let _ = sync.send(ToSync::Switch(Arc::clone(&file)));
        }
        self.file = file;
        self.len = head.len() as u64;
        self.synced_len = self.len;
        self.syncing_len = self.len;
        self.segments.push(Segment {
            seq,
            len: self.len,
            records: Vec::new(),
            compacting: false,
        });
        // Every closed segment is looked at again: its records may have
        // left history since the last roll.
        for segment in self.segments.iter().rev().skip(1) {
            if !self.sweep.todo.contains(&segment.seq) {
                self.sweep.todo.push_back(segment.seq);
            }
        }
        self.sweep(oldest);
        Ok(())
    }

    /// Goes on with the sweep for at most [`SWEEP_PER_PASS`] records.
    fn sweep(&mut self, oldest: &dyn Fn(&str) -> Option<u64>) {
        let mut budget = SWEEP_PER_PASS;
        while budget > 0 {
            let Some(&seq) = self.sweep.todo.front() else {
                return;
            };
            let active = self.segments.len().saturating_sub(1);
            let Some(i) = self.segments.iter().position(|s| s.seq == seq) else {
                self.sweep.next();
                continue;
            };
            let Some(segment) = self
                .segments
                .get_mut(i)
                .filter(|s| !s.compacting && i < active)
            else {
                self.sweep.next();
                continue;
            };
            let sweep = &mut self.sweep;
            let end = segment.records.len().min(sweep.pos + budget);
            for kept in segment.records.get(sweep.pos..end).unwrap_or_default() {
                if keeps(oldest(&kept.channel), kept.id) {
                    sweep.live += u64::from(kept.len);
                    if 2 * sweep.live < segment.len {
                        sweep.wanted.push((Arc::clone(&kept.channel), kept.id));
                    }
                }
            }
            budget -= end - sweep.pos;
            sweep.pos = end;
            if end < segment.records.len() {
                return;
            }
            let path = self.dir.join(segment_file_name(seq));
            if sweep.live == 0 {
                // Unlinking 64 MiB on ext4 (with `discard`) took 40 ms
                // of the loop: the thread does it. Were it lost to a
                // crash, the segment is read back and its messages
                // evicted again by the same bounds.
                let job = Compaction {
                    seq,
                    path,
                    keep: None,
                };
                if self.compactor.send(job).is_ok() {
                    self.segments.remove(i);
                }
            } else if 2 * sweep.live < segment.len {
                let job = Compaction {
                    seq,
                    path,
                    keep: Some(std::mem::take(&mut sweep.wanted)),
                };
                if self.compactor.send(job).is_ok() {
                    segment.compacting = true;
                }
            }
            self.sweep.next();
        }
    }

    /// Takes the compaction thread's results: a compacted segment holds
    /// only the records that were live when it was given.
    fn take_compacted(&mut self) {
        while let Ok(done) = self.compacted.try_recv() {
            let Some(segment) = self.segments.iter_mut().find(|s| s.seq == done.seq) else {
                continue;
            };
            segment.compacting = false;
            match done.result {
                Ok((len, records)) => {
                    eprintln!(
                        "pushwire: compacted log segment {}: {} of its {} bytes were live, \
                         rewritten in {} ms",
                        done.seq,
                        len,
                        segment.len,
                        done.took.as_millis()
                    );
                    segment.len = len;
                    segment.records = records;
                    // Records may have left history while it was being
                    // rewritten (a sweep skips a segment in the thread's
                    // hands): look at it again.
                    if !self.sweep.todo.contains(&done.seq) {
                        self.sweep.todo.push_back(done.seq);
                    }
                }
                Err(e) => eprintln!(
                    "pushwire: cannot compact {}: {e}",
                    self.dir.join(segment_file_name(done.seq)).display()
                ),
            }
        }
    }
}

/// A closed segment to rewrite with only these records (channel and id),
/// or, with none, to delete.
#[derive(Debug)]
struct Compaction {
    seq: u64,
    path: PathBuf,
    keep: Option<Vec<(Arc<str>, u64)>>,
}

/// What became of a [`Compaction`]: the new length and records.
#[derive(Debug)]
struct Compacted {
    seq: u64,
    result: io::Result<(u64, Vec<Kept>)>,
    took: Duration,
}

/// The compaction thread: deletes dead segments and rewrites mostly dead
/// ones off the loop, and wakes it when a rewrite is done.
fn compaction_thread(
    dir: PathBuf,
    jobs: mpsc::Receiver<Compaction>,
    done: mpsc::Sender<Compacted>,
    waker: Arc<Waker>,
) {
    for job in jobs {
        let Some(keep) = job.keep else {
            if let Err(e) = std::fs::remove_file(&job.path) {
                eprintln!("pushwire: cannot delete {}: {e}", job.path.display());
            }
            continue;
        };
        let started = std::time::Instant::now();
        let mut wanted: HashMap<Arc<str>, HashSet<u64>> = HashMap::new();
        for (channel, id) in keep {
            wanted.entry(channel).or_default().insert(id);
        }
        let result = compact(&dir, &job.path, wanted);
        let compacted = Compacted {
            seq: job.seq,
            result,
            took: started.elapsed(),
        };
        if done.send(compacted).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}

/// Writes the wanted records of a closed segment, as they are, to
/// `NAME.compacting`, syncs it, and renames it over the segment: a crash
/// leaves the old segment or the new one, never half of either (a
/// leftover `.compacting` file is removed on start).
fn compact(
    dir: &Path,
    path: &Path,
    mut wanted: HashMap<Arc<str>, HashSet<u64>>,
) -> io::Result<(u64, Vec<Kept>)> {
    let bytes = std::fs::read(path)?;
    let mut out = Vec::new();
    let mut records = Vec::new();
    for (_, record) in Scan::new(&bytes) {
        let Record::Message { id, channel, data } = record else {
            continue;
        };
        let Some((name, ids)) = wanted.get_key_value(channel) else {
            continue;
        };
        if !ids.contains(&id) {
            continue;
        }
        let name = Arc::clone(name);
        if let Some(ids) = wanted.get_mut(channel) {
            ids.remove(&id);
        }
        let len = encode_message(&mut out, id, channel, data);
        records.push(Kept {
            channel: name,
            id,
            len: u32::try_from(len).unwrap_or(u32::MAX),
        });
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(COMPACTING);
    let tmp = PathBuf::from(tmp);
    let written = File::create(&tmp)
        .and_then(|mut file| file.write_all(&out).and_then(|()| file.sync_data()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .and_then(|()| sync_dir(dir));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok((out.len() as u64, records))
}

impl Store for LogStore {
    fn append(&mut self, append: Append<'_>) {
        let mut book = self.0.borrow_mut();
        let above = append.last_id.max(book.floor);
        let Book {
            buf,
            buffered,
            buffered_kept,
            last,
            given,
            ..
        } = &mut *book;
        let id = match last.get_mut(append.name) {
            Some(g) => {
                g.id = g.id.max(above).saturating_add(1);
                g.in_flight = g.in_flight.saturating_add(1);
                g.id
            }
            None => {
                let id = above.saturating_add(1);
                let first = Given { id, in_flight: 1 };
                last.insert(Arc::from(append.name), first);
                id
            }
        };
        let name = last
            .get_key_value(append.name)
            .map_or_else(|| Arc::from(append.name), |(name, _)| Arc::clone(name));
        *given = (*given).max(id);
        let len = encode_message(buf, id, append.name, append.data);
        buffered.push((append.ticket, id, Arc::clone(&name)));
        buffered_kept.push(Kept {
            channel: name,
            id,
            len: u32::try_from(len).unwrap_or(u32::MAX),
        });
    }

    fn poll_commit(&mut self) -> Option<Commit> {
        let mut book = self.0.borrow_mut();
        let (commit, channel) = book.decided.pop_front()?;
        // The engine takes it now: from here on it tells this id (or, if
        // the append failed, one below it) in the channel's appends.
        if let Some(given) = book.last.get_mut(&channel) {
            given.in_flight = given.in_flight.saturating_sub(1);
            if given.in_flight == 0 {
                book.last.remove(&channel);
            }
        }
        Some(commit)
    }

    fn floor(&self) -> u64 {
        self.0.borrow().floor
    }
}
