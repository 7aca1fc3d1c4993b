//! A connection's unsent bytes: owned responses and shared message bytes.
//!
//! Responses made for one connection (a poll answer, an error) are owned
//! bytes; consecutive ones are written into the same buffer, so that the
//! answers to pipelined requests leave in one write. Published messages are
//! shared (`Rc<[u8]>`): ten thousand SSE subscribers hold ten thousand
//! pointers to one encoded event, not ten thousand copies. The reactor
//! gathers the queue into `IoSlice`s and sends it with one `writev`.
//!
//! An empty queue owns no memory: an idle connection costs nothing here.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;

/// One piece of output.
#[derive(Debug)]
enum Chunk {
    Owned(Vec<u8>),
    Shared(Rc<[u8]>),
    /// A published message's shared encoding, with its id: what the
    /// slow-consumer policy `skip` names when it drops it, and what a
    /// drain tells a WebSocket client it was sent last.
    Message(Rc<[u8]>, u64),
    /// Owned bytes that [`OutQueue::keep_started`] never drops, and that
    /// nothing is written into after them: a response head (a `101`, an
    /// event stream's head) the client may not have read yet. Without
    /// it a subscriber cut off before it read its head would get a Close
    /// frame, or the end of a stream, with no head before it.
    Head(Vec<u8>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) | Chunk::Head(v) => v,
            Chunk::Shared(rc) | Chunk::Message(rc, _) => rc,
        }
    }

    /// The id of the message it carries, if it is one.
    fn message_id(&self) -> Option<u64> {
        match self {
            Chunk::Message(_, id) => Some(*id),
            _ => None,
        }
    }

    /// Made for this connection alone (counted in `owned`).
    fn is_owned(&self) -> bool {
        !matches!(self, Chunk::Shared(_) | Chunk::Message(..))
    }
}

/// Owned chunks smaller than this are extended in place rather than queued
/// as a new chunk, so small responses coalesce into one buffer.
const COALESCE: usize = 16 * 1024;

/// Capacity of a new owned buffer.
const FIRST_CAPACITY: usize = 512;

/// The unsent bytes of one connection, oldest first.
///
/// It also counts the unsent bytes of its owned chunks (made for this
/// connection alone, as opposed to shared encodings of a message): what
/// the process-wide output budget, `--max-output-bytes`, adds up. A chunk
/// is at most 4 GiB (the engine bounds message and body sizes below
/// that), so both counts of a chunk fit in 32 bits.
#[derive(Debug, Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already sent.
    sent: u32,
    /// Unsent bytes of owned chunks.
    owned: u32,
    /// Unsent bytes in all.
    len: usize,
}

/// `n` as a chunk offset or size (see [`OutQueue`]).
fn chunk_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl OutQueue {
    /// Unsent bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Unsent bytes of the chunks made for this connection alone.
    pub fn owned(&self) -> usize {
        self.owned as usize
    }

    /// Appends bytes produced by `write` (a response writer) to the queue,
    /// reusing the last owned buffer when it is small.
    pub fn write_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let reuse = matches!(self.chunks.back(), Some(Chunk::Owned(v)) if v.len() < COALESCE);
        if !reuse {
            // Most responses fit: one allocation instead of a string of
            // reallocations while the head is written.
            self.chunks
                .push_back(Chunk::Owned(Vec::with_capacity(FIRST_CAPACITY)));
        }
        if let Some(Chunk::Owned(buf)) = self.chunks.back_mut() {
            let before = buf.len();
            write(buf);
            let added = buf.len() - before;
            self.len += added;
            self.owned = self.owned.saturating_add(chunk_u32(added));
        }
    }

    /// Appends an owned buffer as a piece of its own, without copying it
    /// (a large echoed message).
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.owned = self.owned.saturating_add(chunk_u32(bytes.len()));
        self.chunks.push_back(Chunk::Owned(bytes));
    }

    /// Appends shared bytes (an encoded message) without copying them.
    pub fn push_shared(&mut self, bytes: Rc<[u8]>) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.chunks.push_back(Chunk::Shared(bytes));
    }

    /// Appends a published message's shared encoding, with its id, without
    /// copying it.
    pub fn push_message(&mut self, bytes: Rc<[u8]>, id: u64) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.chunks.push_back(Chunk::Message(bytes, id));
    }

    /// The id of the newest message queued, if any is.
    pub fn newest_message_id(&self) -> Option<u64> {
        self.chunks.iter().rev().find_map(Chunk::message_id)
    }

    /// Fills `iov` with the unsent bytes, oldest first; returns how many
    /// slices were filled.
    pub fn fill<'a>(&'a self, iov: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, (chunk, slot)) in self.chunks.iter().zip(iov.iter_mut()).enumerate() {
            let bytes = chunk.bytes();
            let bytes = if i == 0 {
                bytes.get(self.sent as usize..).unwrap_or(&[])
            } else {
                bytes
            };
            *slot = IoSlice::new(bytes);
            n += 1;
        }
        n
    }

    /// Drops the first `n` unsent bytes (what a write accepted). When the
    /// queue empties, its memory is given back. Returns the id of the
    /// newest message of which some bytes were among them: from then on
    /// the client is owed that message whole (a frame or event is never
    /// cut).
    pub fn consume(&mut self, mut n: usize) -> Option<u64> {
        n = n.min(self.len);
        self.len -= n;
        let mut begun = None;
        while n > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            begun = front.message_id().or(begun);
            let owned = front.is_owned();
            let left = front.bytes().len().saturating_sub(self.sent as usize);
            let take = n.min(left);
            if owned {
                self.owned = self.owned.saturating_sub(chunk_u32(take));
            }
            if n < left {
                self.sent = self.sent.saturating_add(chunk_u32(n));
                return begun;
            }
            n -= left;
            self.sent = 0;
            self.chunks.pop_front();
        }
        if self.len == 0 {
            *self = OutQueue::default();
        }
        begun
    }

    /// Marks everything queued now as a head that is sent whatever is
    /// dropped later ([`OutQueue::keep_started`]); what is written next
    /// goes into a buffer of its own.
    pub fn protect(&mut self) {
        if let Some(chunk @ Chunk::Owned(_)) = self.chunks.back_mut() {
            if let Chunk::Owned(v) = chunk {
                *chunk = Chunk::Head(std::mem::take(v));
            }
        }
    }

    /// Drops everything unsent after the last protected head, except a
    /// chunk whose sending has begun, so that whatever is queued next
    /// starts on a message boundary. Returns how many messages
    /// ([`OutQueue::push_message`]) were dropped.
    pub fn keep_started(&mut self) -> usize {
        // Everything up to the last head stays: it was queued before the
        // head, and the head before what follows.
        let heads = self
            .chunks
            .iter()
            .rposition(|c| matches!(c, Chunk::Head(_)))
            .map_or(0, |i| i + 1);
        let keep = match self.sent == 0 && heads == 0 {
            true => 0,
            false => heads.max(1),
        };
        let dropped = self
            .chunks
            .iter()
            .skip(keep)
            .filter(|c| c.message_id().is_some())
            .count();
        if keep == 0 {
            self.clear();
            return dropped;
        }
        self.chunks.truncate(keep);
        let sent = self.sent as usize;
        let (mut len, mut owned) = (0, 0u32);
        for (i, chunk) in self.chunks.iter().enumerate() {
            let left = chunk
                .bytes()
                .len()
                .saturating_sub(if i == 0 { sent } else { 0 });
            len += left;
            if chunk.is_owned() {
                owned = owned.saturating_add(chunk_u32(left));
            }
        }
        self.len = len;
        self.owned = owned;
        dropped
    }

    /// Drops everything unsent.
    pub fn clear(&mut self) {
        *self = OutQueue::default();
    }
}

/// A WebSocket session writes its frames (pongs, closes, pings) straight
/// into the queue's last buffer.
impl crate::ws::Output for OutQueue {
    fn write_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        OutQueue::write_with(self, write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(q: &OutQueue) -> Vec<u8> {
        let mut iov = [IoSlice::new(&[]); 8];
        let n = q.fill(&mut iov);
        iov[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn small_responses_coalesce_and_shared_bytes_are_not_copied() {
        let mut q = OutQueue::default();
        q.write_with(|b| b.extend_from_slice(b"one "));
        q.write_with(|b| b.extend_from_slice(b"two "));
        let shared: Rc<[u8]> = Rc::from(&b"event "[..]);
        q.push_shared(Rc::clone(&shared));
        q.write_with(|b| b.extend_from_slice(b"three"));
        assert_eq!(q.chunks.len(), 3);
        assert_eq!(Rc::strong_count(&shared), 2);
        assert_eq!(gather(&q), b"one two event three");
        assert_eq!(q.len(), 19);
    }

    #[test]
    fn keep_started_keeps_a_protected_head_and_cuts_what_was_written_after_it() {
        let mut q = OutQueue::default();
        q.write_with(|b| b.extend_from_slice(b"HEAD"));
        q.protect();
        // Coalesced into the head's buffer, then shared: both droppable.
        q.write_with(|b| b.extend_from_slice(b"owned"));
        q.push_shared(Rc::from(&b"shared"[..]));
        q.keep_started();
        assert_eq!(gather(&q), b"HEAD");
        assert_eq!((q.len(), q.owned()), (4, 4));
        q.write_with(|b| b.extend_from_slice(b"+close"));
        assert_eq!(gather(&q), b"HEAD+close");
        assert_eq!((q.len(), q.owned()), (10, 10));
        // Half the head sent: the other half stays.
        let mut q = OutQueue::default();
        q.write_with(|b| b.extend_from_slice(b"HEAD"));
        q.protect();
        q.push_shared(Rc::from(&b"event"[..]));
        q.consume(2);
        q.keep_started();
        assert_eq!(gather(&q), b"AD");
        // All of it sent: nothing is protected any more.
        q.consume(2);
        q.push_shared(Rc::from(&b"event"[..]));
        q.keep_started();
        assert!(q.is_empty());
    }

    #[test]
    fn keep_started_keeps_only_a_begun_chunk() {
        let mut q = OutQueue::default();
        q.push_shared(Rc::from(&b"frame-one"[..]));
        q.push_shared(Rc::from(&b"frame-two"[..]));
        q.consume(3);
        q.keep_started();
        assert_eq!(gather(&q), b"me-one");
        q.consume(6);
        q.push_shared(Rc::from(&b"x"[..]));
        q.keep_started();
        assert!(q.is_empty());
    }

    #[test]
    fn message_ids_say_what_was_begun_and_what_was_dropped() {
        let mut q = OutQueue::default();
        q.write_with(|b| b.extend_from_slice(b"HEAD"));
        q.protect();
        q.push_message(Rc::from(&b"one"[..]), 7);
        q.push_message(Rc::from(&b"two"[..]), 8);
        q.push_shared(Rc::from(&b"beat"[..]));
        q.push_message(Rc::from(&b"three"[..]), 9);
        assert_eq!(q.newest_message_id(), Some(9));
        assert_eq!(q.consume(4), None, "the head carries no id");
        assert_eq!(q.consume(4), Some(8), "one whole, the first byte of two");
        assert_eq!((q.len(), q.owned()), (11, 0));
        // Two is begun: it stays whole; the beat and three are dropped.
        assert_eq!(q.keep_started(), 1);
        assert_eq!(gather(&q), b"wo");
        assert_eq!(q.newest_message_id(), Some(8));
        assert_eq!(q.consume(2), Some(8));
        assert_eq!(q.newest_message_id(), None);
        q.push_message(Rc::from(&b"four"[..]), 10);
        q.push_message(Rc::from(&b"five"[..]), 11);
        assert_eq!(q.keep_started(), 2, "nothing begun: all dropped");
        assert!(q.is_empty());
    }

    #[test]
    fn owned_bytes_are_counted_apart_from_shared_ones() {
        let mut q = OutQueue::default();
        q.write_with(|b| b.extend_from_slice(b"answer"));
        q.push_shared(Rc::from(&b"shared-message"[..]));
        q.push_owned(b"echo".to_vec());
        assert_eq!((q.len(), q.owned()), (24, 10));
        q.consume(3);
        assert_eq!(q.owned(), 7);
        q.consume(3 + 14);
        assert_eq!(q.owned(), 4);
        q.consume(2);
        q.keep_started();
        assert_eq!((q.len(), q.owned()), (2, 2));
        q.clear();
        assert_eq!(q.owned(), 0);
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut q = OutQueue::default();
        q.write_with(|b| b.extend_from_slice(b"abc"));
        q.push_shared(Rc::from(&b"defg"[..]));
        for (n, rest) in [(1, &b"bcdefg"[..]), (3, b"efg"), (2, b"g"), (1, b"")] {
            q.consume(n);
            assert_eq!(gather(&q), rest);
            assert_eq!(q.len(), rest.len());
        }
        assert!(q.is_empty() && q.chunks.capacity() == 0);
    }
}
