//! The durable log in `--data-dir`: the files, the lock and the fsyncs
//! behind the engine's commit interface (docs/durability.md).
//!
//! Every publish becomes one record ([`crate::log`]) appended to the log
//! file `DIR/pushwire.log`. The store hands out the id when it takes the
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
//! On start the log is read back ([`open`]): every message is restored to
//! its channel's history, a torn tail is cut, and damage before the tail
//! stops the start with the offset unless `--repair-log` says to cut
//! there. `DIR/lock` holds an exclusive `flock` while the server runs.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
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

/// The log file's name inside the data dir.
pub const LOG_FILE: &str = "pushwire.log";
/// The lock file's name inside the data dir.
pub const LOCK_FILE: &str = "lock";

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

/// The log, opened and read back, before the loop runs (all of it
/// `Send`).
#[derive(Debug)]
pub struct Opened {
    file: File,
    _lock: File,
    path: PathBuf,
    len: u64,
    floor: u64,
    fsync: Fsync,
    /// Every message in the log, oldest first.
    pub restored: Vec<Restored>,
}

/// Opens (or creates) the log in `dir`, takes its lock and reads it back.
/// `now_micros` is the wall clock: the new run's ids start above it and
/// above every id in the log. `repair` cuts the log at a damaged record
/// instead of refusing to start.
pub fn open(dir: &Path, fsync: Fsync, repair: bool, now_micros: u64) -> io::Result<Opened> {
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
    if !super::sys::lock_exclusive(&lock)? {
        return Err(refuse(format!(
            "the data dir {} is in use by another running pushwire (it holds {})",
            dir.display(),
            lock_path.display()
        )));
    }
    let path = dir.join(LOG_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|e| refuse(format!("cannot open {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let mut floor = now_micros;
    let mut restored = Vec::new();
    let mut scan = Scan::new(&bytes);
    for (_, record) in scan.by_ref() {
        match record {
            Record::Message { id, channel, data } => {
                floor = floor.max(id);
                restored.push(Restored {
                    channel: channel.to_owned(),
                    id,
                    data: data.to_owned(),
                });
            }
            Record::Floor(f) => floor = floor.max(f),
        }
    }
    let keep = match scan.end() {
        None | Some(End::Clean) => bytes.len(),
        Some(End::Torn { offset, dropped }) => {
            eprintln!(
                "pushwire: {}: cut a torn record at the end: {dropped} bytes from offset {offset} \
                 (a write the last run did not finish)",
                path.display()
            );
            offset
        }
        Some(End::Damaged { offset, damage }) if repair => {
            eprintln!(
                "pushwire: {}: --repair-log: cut the log at offset {offset} ({damage}); \
                 {} bytes after it dropped",
                path.display(),
                bytes.len() - offset
            );
            offset
        }
        Some(End::Damaged { offset, damage }) => {
            return Err(refuse(format!(
                "{}: damaged record at offset {offset} ({damage}); the records after it cannot \
                 be trusted. Keep a copy of the file, then start with --repair-log to cut the \
                 log at that offset (every record from it on is lost)",
                path.display()
            )));
        }
    };
    let keep = keep as u64;
    if keep < bytes.len() as u64 {
        file.set_len(keep)?;
    }
    // Ids up to here may have been given: say so at the head of this run.
    let mut head = Vec::new();
    encode_floor(&mut head, floor);
    file.write_all(&head)?;
    file.sync_data()?;
    Ok(Opened {
        file,
        _lock: lock,
        path,
        len: keep + head.len() as u64,
        floor,
        fsync,
        restored,
    })
}

/// An append the store took, with the id it gave.
type Taken = (Ticket, u64);

#[derive(Debug)]
struct Book {
    file: File,
    path: PathBuf,
    /// Bytes of whole records in the file.
    len: u64,
    /// Bytes known synced (`always`); a failed sync cuts back to it.
    synced_len: u64,
    floor: u64,
    fsync: Fsync,
    last: HashMap<Box<str>, u64>,
    /// Records not yet written, and their appends.
    buf: Vec<u8>,
    buffered: Vec<Taken>,
    /// Written, waiting for the next sync; and the sync in flight.
    unsynced: Vec<Taken>,
    syncing: Vec<Taken>,
    syncing_len: u64,
    decided: VecDeque<Commit>,
    sync: Option<mpsc::Sender<()>>,
    synced: Option<mpsc::Receiver<io::Result<()>>>,
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
            file,
            _lock,
            path,
            len,
            floor,
            fsync,
            restored,
        } = opened;
        let mut last = HashMap::new();
        for r in &restored {
            last.insert(r.channel.as_str().into(), r.id);
        }
        let (sync, synced) = match fsync {
            Fsync::Never => (None, None),
            Fsync::Always | Fsync::Batch => {
                let (to_thread, requests) = mpsc::channel::<()>();
                let (done, results) = mpsc::channel();
                let disk = file.try_clone()?;
                let batch = fsync == Fsync::Batch;
                std::thread::Builder::new()
                    .name("pushwire-fsync".into())
                    .spawn(move || sync_thread(disk, batch, requests, done, waker))?;
                (Some(to_thread), Some(results))
            }
        };
        Ok(LogStore(Rc::new(RefCell::new(Book {
            file,
            path,
            len,
            synced_len: len,
            floor,
            fsync,
            last,
            buf: Vec::new(),
            buffered: Vec::new(),
            unsynced: Vec::new(),
            syncing: Vec::new(),
            syncing_len: len,
            decided: VecDeque::new(),
            sync,
            synced,
            _lock,
        }))))
    }

    /// Once per loop pass, before the engine's `handle_commits`: takes
    /// the finished sync, writes the pass's records with one `write`, and
    /// starts the next sync.
    pub fn pump(&self) {
        self.0.borrow_mut().pump();
    }
}

/// The sync thread: `always` syncs on request and answers; `batch`
/// syncs once a second, and on request.
fn sync_thread(
    file: File,
    batch: bool,
    requests: mpsc::Receiver<()>,
    done: mpsc::Sender<io::Result<()>>,
    waker: Arc<Waker>,
) {
    loop {
        let asked = if batch {
            match requests.recv_timeout(Duration::from_secs(1)) {
                Ok(()) => true,
                Err(mpsc::RecvTimeoutError::Timeout) => false,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match requests.recv() {
                Ok(()) => true,
                Err(_) => return,
            }
        };
        let result = file.sync_data();
        if let (false, Err(e)) = (asked, &result) {
            eprintln!("pushwire: fdatasync of the log failed: {e}");
        }
        if asked {
            if done.send(result).is_err() {
                return;
            }
            let _ = waker.wake();
        }
    }
}

impl Book {
    fn pump(&mut self) {
        self.take_synced();
        self.write_buffered();
        if self.fsync == Fsync::Always && self.syncing.is_empty() && !self.unsynced.is_empty() {
            if let Some(sync) = &self.sync {
                if sync.send(()).is_ok() {
                    self.syncing = std::mem::take(&mut self.unsynced);
                    self.syncing_len = self.len;
                }
            }
        }
    }

    fn take_synced(&mut self) {
        while let Some(result) = self.synced.as_ref().and_then(|s| s.try_recv().ok()) {
            if self.fsync != Fsync::Always {
                continue;
            }
            match result {
                Ok(()) => {
                    self.synced_len = self.syncing_len;
                    for (ticket, id) in self.syncing.drain(..) {
                        self.decided.push_back(Commit {
                            ticket,
                            outcome: Ok(id),
                        });
                    }
                }
                Err(e) => {
                    // What the failed sync covered may or may not be on
                    // the disk (fsync(2)): cut the file back to what was
                    // synced, and fail everything after it.
                    let reason = StoreError::new(format!("fdatasync of the log failed: {e}"));
                    let _ = self.file.set_len(self.synced_len);
                    self.len = self.synced_len;
                    let mut lost = std::mem::take(&mut self.syncing);
                    lost.append(&mut self.unsynced);
                    self.fail(lost, &reason);
                }
            }
        }
    }

    fn write_buffered(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let taken = std::mem::take(&mut self.buffered);
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.len += self.buf.len() as u64;
                match self.fsync {
                    Fsync::Always => self.unsynced.extend(taken),
                    Fsync::Batch | Fsync::Never => {
                        for (ticket, id) in taken {
                            self.decided.push_back(Commit {
                                ticket,
                                outcome: Ok(id),
                            });
                        }
                    }
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
                    StoreError::new(format!("cannot write the log {}: {e}", self.path.display()))
                };
                self.fail(taken, &error);
            }
        }
        self.buf.clear();
    }

    fn fail(&mut self, taken: Vec<Taken>, error: &StoreError) {
        for (ticket, _) in taken {
            self.decided.push_back(Commit {
                ticket,
                outcome: Err(error.clone()),
            });
        }
    }
}

impl Store for LogStore {
    fn append(&mut self, append: Append<'_>) {
        let mut book = self.0.borrow_mut();
        let floor = book.floor;
        let last = book.last.get(append.name).copied().unwrap_or(0);
        let id = last.max(append.last_id).max(floor).saturating_add(1);
        match book.last.get_mut(append.name) {
            Some(last) => *last = id,
            None => {
                book.last.insert(append.name.into(), id);
            }
        }
        let Book { buf, buffered, .. } = &mut *book;
        encode_message(buf, id, append.name, append.data);
        buffered.push((append.ticket, id));
    }

    fn poll_commit(&mut self) -> Option<Commit> {
        self.0.borrow_mut().decided.pop_front()
    }

    fn floor(&self) -> u64 {
        self.0.borrow().floor
    }
}
