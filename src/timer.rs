//! The hierarchical timing wheel: every deadline in the server lives here.
//!
//! Header-read deadlines, keep-alive idle timeouts, long-poll deadlines, SSE
//! heartbeats and WebSocket pings are all one-shot timers keyed to a
//! connection. The reactor inserts one when a connection enters a state,
//! cancels it when the connection leaves that state, asks
//! [`Wheel::next_expiry`] how long `mio::Poll::poll` may sleep, and calls
//! [`Wheel::advance`] after every wake-up to collect what is due.
//!
//! # Why a wheel and not a binary heap
//!
//! A binary heap costs O(log n) per insert, and it cannot cancel cheaply:
//! either it keeps tombstones (memory grows with every cancelled timer) or it
//! keeps an index into the heap and pays O(log n) to sift on removal. In this
//! workload almost every timer is cancelled before it fires: a keep-alive
//! timer is replaced on every request, a header timeout is cancelled as soon
//! as the headers arrive, a long-poll deadline is cancelled when a message is
//! published. A timing wheel makes insert and cancel O(1) (add or remove one
//! index in a slot's array) and only pays for the timers that actually live
//! long enough to move down a level. This is the design of Varghese and
//! Lauck, "Hashed and Hierarchical Timing Wheels: Data Structures for the
//! Efficient Implementation of a Timer Facility" (SOSP 1987), as used by the
//! Linux kernel's timer wheel and by tokio.
//!
//! # Ticks and the rounding rule
//!
//! Time is counted in whole ticks since the `start` given to [`Wheel::new`]
//! (the server uses 1 to 4 ms). A deadline is rounded **up** to the next tick
//! boundary, `fire_tick = ceil((deadline - start) / tick)`, and
//! `advance(now)` processes every tick up to
//! `floor((now - start) / tick)`. Together these give the two guarantees the
//! tests pin down:
//!
//! - nothing fires early: a timer fires only in an `advance(now)` with
//!   `now >= deadline`;
//! - nothing fires more than one tick late: once `advance(now)` has been
//!   called with `now >= deadline + tick`, the timer has fired.
//!
//! A deadline at or before the wheel's current time goes to a "due" list and
//! fires on the next `advance` whatever its `now`.
//!
//! # Levels and ranges
//!
//! There are six levels of 64 slots. A slot on level `L` spans `64^L` ticks,
//! so level `L` covers `64^(L+1)` ticks. With a 1 ms tick:
//!
//! ```text
//! level  slot span      level range
//!   0    1 ms           64 ms
//!   1    64 ms          4.1 s
//!   2    4.1 s          4.4 min
//!   3    4.4 min        4.7 h
//!   4    4.7 h          12.4 days
//!   5    12.4 days      795 days   (2^36 ticks)
//! ```
//!
//! A timer goes to the lowest level whose current 64-slot rotation still
//! contains its fire tick: the level is the highest 6-bit digit in which
//! `fire_tick` and the current tick differ (the trick tokio uses:
//! `(now ^ fire_tick).leading_zeros()`), and the slot is that digit of
//! `fire_tick`. When time reaches a slot on level `L > 0`, its timers are
//! *cascaded*: re-inserted, which puts each one on a lower level, until on
//! level 0 a slot is exactly one tick and its timers fire. A timer is
//! cascaded at most five times, so expiry is O(levels) per timer that
//! survives, and a timer cancelled before its first cascade (the common
//! case) costs O(1) in total.
//!
//! Deadlines beyond the top level's range (more than `2^36 - 2^30` ticks
//! ahead) are clamped: the timer is parked in the top-level slot of the
//! farthest tick the wheel can represent and keeps its real fire tick, so
//! when that slot comes round it is re-inserted, further down or parked
//! again. The top level is treated as a ring, so no overflow list is needed.
//!
//! # Finding the next expiry without a scan
//!
//! Each level keeps a 64-bit occupancy bitmap, bit `s` set when slot `s`
//! holds a timer. The next occupied slot after the current one is a rotate
//! and a `trailing_zeros`, so [`Wheel::next_expiry`] costs six bit
//! operations, and [`Wheel::advance`] jumps over empty slots: hours of idle
//! time are a handful of steps, not millions of ticks. The time it returns
//! is the start of the earliest occupied slot, which for a higher level may
//! be earlier than the timer inside it; `advance` at that time just cascades.
//!
//! # Memory, and why slots are arrays and not linked lists
//!
//! Timers live in one `Vec` of nodes with a free list. Each slot is an
//! array of 32-bit node indices in no particular order, and each node
//! records its slot and its position in that array. Insert appends; cancel
//! moves the array's last index into the hole and tells that node its new
//! place: O(1), no search.
//!
//! The textbook wheel (and this one, until `benches/timer.rs` measured it
//! at a million timers) threads each slot as an intrusive doubly-linked
//! list through the nodes instead. That is also O(1), but emptying a slot
//! is then a pointer chase: the next node is only known once the current
//! one has been read, so with a million timers (32 MB of nodes, far beyond
//! the caches) every step waits for a cache miss, one after the other.
//! Reading a slot's index array, the addresses of the next 32 nodes are
//! known up front; `process` loads their fire ticks in one tight loop, the
//! processor overlaps the misses, and then it acts on nodes already in
//! cache. That took insert+expire at a million timers from 5-6x its cost at
//! a thousand to about the same cost (`docs/benchmarks.md`, "Timer wheel").
//!
//! A node is 24 bytes plus the value, padded to 8: **32 bytes for a `usize`
//! value**, 24 for a `u32` (the test `entry_is_32_bytes_for_a_usize_value`
//! holds it to that), plus its 4-byte index in a slot array, which grows
//! by doubling: about 37 bytes per timer in all. The caller keeps an 8-byte
//! [`TimerHandle`]. An emptied slot array (drained or cancelled down to
//! nothing) is kept for reuse up to 256 indices and freed above that, so an
//! empty wheel holds at most ~400 KiB.
//!
//! A handle carries the node's generation, bumped every time the node is
//! freed, so a handle to a timer that has fired or been cancelled (its node
//! possibly reused by another timer) is simply stale: [`Wheel::cancel`]
//! returns `None` and never touches the new occupant. A false match would
//! need the same node to be reused 2^32 times while the stale handle is kept.
//!
//! The wheel never reads the clock and does no I/O: the caller passes every
//! `Instant` in.

use std::fmt;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

/// Bits of the tick count consumed by one level: 64 slots.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Number of levels.
const LEVELS: usize = 6;
/// Ticks covered by the whole wheel: `64^6 = 2^36`.
const WHEEL_RANGE: u64 = 1 << (SLOT_BITS * LEVELS as u32);
/// Ticks spanned by one slot of the top level: `64^5 = 2^30`.
const TOP_SLOT_SPAN: u64 = 1 << (SLOT_BITS * (LEVELS as u32 - 1));
/// The farthest ahead of the current tick a timer is placed. Keeping it
/// under one top-level rotation minus one slot means a parked timer never
/// lands in the top-level slot the current tick is in, so the top level can
/// be read as a ring.
const MAX_AHEAD: u64 = WHEEL_RANGE - TOP_SLOT_SPAN - 1;
/// List number of the "due" list: timers whose fire tick has already passed.
const DUE_LIST: usize = LEVELS * SLOTS;
/// Number of lists: one per slot plus the due list.
const LISTS: usize = DUE_LIST + 1;
/// The null index: the end of the free list, or no node.
const NIL: u32 = u32::MAX;
/// A slot's index array that held at most this many timers is kept, empty,
/// when the slot is drained, so a slot that fills and drains every rotation
/// does not reallocate; a bigger one is freed. 385 lists of 256 indices cap
/// what an empty wheel holds on to at 385 KiB.
const RETAIN: usize = 256;
/// Timers whose nodes [`Wheel::process`] fetches together before acting on
/// them.
const GATHER: usize = 32;

/// Identifies one timer in a [`Wheel`], for [`Wheel::cancel`].
///
/// A handle stays valid until its timer fires or is cancelled; after that it
/// is stale and every method given it returns `None` (or `false`), even once
/// the wheel reuses the storage for another timer.
///
/// ```
/// use pushwire::timer::Wheel;
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let mut wheel = Wheel::new(start, Duration::from_millis(1));
/// let handle = wheel.insert(start + Duration::from_secs(5), "keep-alive");
/// assert_eq!(wheel.cancel(handle), Some("keep-alive"));
/// assert_eq!(wheel.cancel(handle), None); // stale now
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerHandle {
    index: u32,
    generation: u32,
}

/// The list a node's index is in: `list + 1`, so the enum below gets a niche
/// and a node stays 32 bytes.
type ListId = NonZeroU16;

/// A live timer.
struct Entry<T> {
    /// Fire tick: the deadline rounded up to the tick grid.
    when: u64,
    /// Where this node's index sits in its list's index array.
    pos: u32,
    generation: u32,
    list: ListId,
    value: T,
}

/// One storage cell: a timer, or a link in the free list.
enum Node<T> {
    Occupied(Entry<T>),
    Vacant { next_free: u32, generation: u32 },
}

/// A hierarchical timing wheel of one-shot timers carrying values of type `T`.
///
/// `insert` and `cancel` are O(1); `next_expiry` is six bitmap scans;
/// `advance` costs O(fired + cascaded + occupied slots passed) and skips
/// empty slots. See the [module documentation](self) for the design.
///
/// ```
/// use pushwire::timer::Wheel;
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now(); // in the server, the reactor's clock
/// let mut wheel = Wheel::new(start, Duration::from_millis(2));
/// let idle = wheel.insert(start + Duration::from_secs(30), 7_usize);
/// wheel.insert(start + Duration::from_millis(100), 8_usize);
///
/// // The reactor bounds its poll timeout by the next expiry.
/// let wake = wheel.next_expiry().unwrap();
/// assert!(wake <= start + Duration::from_millis(100));
///
/// // A request arrived on connection 7: cancel its idle timer.
/// assert_eq!(wheel.cancel(idle), Some(7));
///
/// let mut fired = Vec::new();
/// wheel.advance(start + Duration::from_millis(99), &mut fired);
/// assert!(fired.is_empty()); // nothing fires early
/// wheel.advance(start + Duration::from_millis(100), &mut fired);
/// assert_eq!(fired, [8]);
/// assert!(wheel.is_empty());
/// ```
pub struct Wheel<T> {
    start: Instant,
    /// Tick length in nanoseconds, at least 1.
    tick_nanos: u128,
    /// The current tick: every tick up to and including it has been processed.
    elapsed: u64,
    nodes: Vec<Node<T>>,
    free_head: u32,
    /// The node indices of each slot's timers, in no order, then the due
    /// list's: `LISTS` arrays.
    lists: Box<[Vec<u32>]>,
    /// Per level, bit `s` set when slot `s` is non-empty.
    occupied: [u64; LEVELS],
    len: usize,
}

impl<T> Wheel<T> {
    /// An empty wheel whose tick 0 is `start`, counting ticks of `tick`.
    ///
    /// A zero `tick` is treated as one nanosecond.
    ///
    /// ```
    /// use pushwire::timer::Wheel;
    /// use std::time::{Duration, Instant};
    ///
    /// let wheel: Wheel<u32> = Wheel::new(Instant::now(), Duration::from_millis(1));
    /// assert!(wheel.is_empty());
    /// ```
    pub fn new(start: Instant, tick: Duration) -> Self {
        Wheel {
            start,
            tick_nanos: tick.as_nanos().max(1),
            elapsed: 0,
            nodes: Vec::new(),
            free_head: NIL,
            lists: (0..LISTS).map(|_| Vec::new()).collect(),
            occupied: [0; LEVELS],
            len: 0,
        }
    }

    /// The tick length the wheel was built with (at least one nanosecond).
    pub fn tick(&self) -> Duration {
        duration_from_nanos(self.tick_nanos).unwrap_or(Duration::MAX)
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `value` to fire at `deadline`, in O(1).
    ///
    /// The timer fires in the first [`advance`](Self::advance) whose `now` is
    /// at or after `deadline`, rounded up to the tick grid. A deadline at or
    /// before the wheel's current time fires on the next `advance`. Deadlines
    /// beyond the wheel's range (`2^36` ticks) are held and re-cascaded, not
    /// lost.
    ///
    /// At most `u32::MAX - 1` timers can be pending at once (32 bytes each,
    /// that is 128 GiB); past that the value is dropped and the returned
    /// handle is already stale.
    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerHandle {
        let when = self.fire_tick(deadline);
        let entry = Entry {
            when,
            pos: 0,
            generation: 0,
            list: list_id(DUE_LIST),
            value,
        };
        let Some(handle) = self.allocate(entry) else {
            return TimerHandle {
                index: NIL,
                generation: 0,
            };
        };
        let list = self.list_for(when);
        self.place(handle.index, list);
        self.len += 1;
        handle
    }

    /// Cancels a pending timer in O(1) and returns its value.
    ///
    /// Returns `None`, and changes nothing, when the handle is stale: its
    /// timer already fired or was cancelled, even if the storage has since
    /// been reused by another timer.
    pub fn cancel(&mut self, handle: TimerHandle) -> Option<T> {
        self.live(handle)?;
        self.remove(handle.index);
        let value = self.free(handle.index)?;
        self.len = self.len.saturating_sub(1);
        Some(value)
    }

    /// Moves a pending timer to a new deadline, keeping its handle, in O(1).
    ///
    /// Cheaper than `cancel` followed by `insert` (no free-list round trip),
    /// which suits a keep-alive timer pushed back on every request. Returns
    /// `false`, and changes nothing, when the handle is stale.
    pub fn reschedule(&mut self, handle: TimerHandle, deadline: Instant) -> bool {
        if self.live(handle).is_none() {
            return false;
        }
        let when = self.fire_tick(deadline);
        self.remove(handle.index);
        if let Some(entry) = self.entry_mut(handle.index) {
            entry.when = when;
        }
        let list = self.list_for(when);
        self.place(handle.index, list);
        true
    }

    /// The earliest time a pending timer can fire: its deadline rounded up
    /// to the tick grid. `None` when the handle is stale.
    pub fn deadline(&self, handle: TimerHandle) -> Option<Instant> {
        let entry = self.live(handle)?;
        self.instant_of(entry.when)
    }

    /// A time no later than the moment the earliest pending timer is due,
    /// for bounding `mio::Poll::poll`'s timeout; `None` when the wheel is
    /// empty.
    ///
    /// It is the start of the earliest occupied slot, found from the
    /// occupancy bitmaps without visiting any timer. For a slot on a higher
    /// level that is earlier than the timer itself: calling
    /// [`advance`](Self::advance) then only cascades, and the next call
    /// returns a closer time. When a timer is already due it returns the
    /// wheel's current time, which is in the caller's past: poll with a zero
    /// timeout. Round the timeout *up* to the poll's resolution, or the
    /// reactor wakes a little early and spins once.
    pub fn next_expiry(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let tick = if self.lists.get(DUE_LIST).is_some_and(|due| !due.is_empty()) {
            self.elapsed
        } else {
            self.next_slot()?.1
        };
        self.instant_of(tick)
    }

    /// Advances the wheel's time to `now` and appends the value of every
    /// timer due by then to `fired`.
    ///
    /// Timers fire exactly when `now` is at or after their deadline rounded
    /// up to the tick grid, so never early and never more than one tick
    /// late. Time never goes backwards: a `now` before the wheel's current
    /// tick only fires timers that were inserted with a deadline already
    /// past and that `now` has reached, and a `now` before `start` does
    /// nothing. Empty slots are skipped
    /// through the occupancy bitmaps, so a jump of hours costs what the
    /// timers in it cost, not one step per tick. Order within a call is
    /// unspecified. `fired` is not cleared, so one buffer can be reused.
    pub fn advance(&mut self, now: Instant, fired: &mut Vec<T>) {
        let Some(since_start) = now.checked_duration_since(self.start) else {
            return;
        };
        let now_tick = self.ticks(since_start, false);
        if now_tick < self.elapsed {
            // Time does not go back, but a timer inserted with a deadline
            // already past is due as soon as `now` reaches it.
            self.process(DUE_LIST, now_tick, fired);
            return;
        }
        self.process(DUE_LIST, self.elapsed, fired);
        while let Some((list, deadline)) = self.next_slot() {
            if deadline > now_tick {
                break;
            }
            // Slots are found strictly after the current tick, so this moves
            // time forward and the loop ends.
            self.elapsed = self.elapsed.max(deadline);
            self.process(list, self.elapsed, fired);
        }
        self.elapsed = now_tick;
    }

    /// The fire tick of `deadline`: rounded up, 0 for anything before start.
    fn fire_tick(&self, deadline: Instant) -> u64 {
        match deadline.checked_duration_since(self.start) {
            Some(d) => self.ticks(d, true),
            None => 0,
        }
    }

    /// Whole ticks in `d`, rounded up or down, saturating.
    ///
    /// Done in 64 bits whenever both fit (584 years of nanoseconds): a
    /// 128-bit division is a library call several times slower, and this
    /// runs on every insert and every advance.
    fn ticks(&self, d: Duration, round_up: bool) -> u64 {
        let nanos = d.as_nanos();
        match (u64::try_from(nanos), u64::try_from(self.tick_nanos)) {
            (Ok(nanos), Ok(tick)) if round_up => nanos.div_ceil(tick),
            (Ok(nanos), Ok(tick)) => nanos / tick,
            _ if round_up => u64::try_from(nanos.div_ceil(self.tick_nanos)).unwrap_or(u64::MAX),
            _ => u64::try_from(nanos / self.tick_nanos).unwrap_or(u64::MAX),
        }
    }

    /// The instant at which tick `tick` begins.
    fn instant_of(&self, tick: u64) -> Option<Instant> {
        let nanos = u128::from(tick).checked_mul(self.tick_nanos)?;
        self.start.checked_add(duration_from_nanos(nanos)?)
    }

    /// The list a timer firing at tick `when` belongs in, relative to the
    /// current tick.
    fn list_for(&self, when: u64) -> usize {
        if when <= self.elapsed {
            return DUE_LIST;
        }
        // Too far ahead: park it at the farthest tick the wheel holds; its
        // real `when` is kept and it is re-inserted when that slot comes up.
        let place = when.min(self.elapsed.saturating_add(MAX_AHEAD));
        // The level is the highest 6-bit digit where `place` and the current
        // tick differ; the `| 63` makes level 0 the floor.
        let differ = (self.elapsed ^ place) | (SLOTS as u64 - 1);
        let level = if differ >= WHEEL_RANGE {
            // A different top-level rotation: the top level is a ring.
            LEVELS - 1
        } else {
            ((63 - differ.leading_zeros()) / SLOT_BITS) as usize
        };
        let slot = (place >> (SLOT_BITS * level as u32)) as usize & (SLOTS - 1);
        level * SLOTS + slot
    }

    /// The earliest occupied slot strictly after the current tick, as
    /// (list, tick at which that slot starts).
    fn next_slot(&self) -> Option<(usize, u64)> {
        let mut best: Option<(usize, u64)> = None;
        for (level, &bits) in self.occupied.iter().enumerate() {
            if bits == 0 {
                continue;
            }
            let shift = SLOT_BITS * level as u32;
            let current = self.elapsed >> shift;
            // Rotate so that the slot after the current one is bit 0; the
            // current slot itself comes last, one full rotation ahead.
            let after = (current as u32).wrapping_add(1) % SLOTS as u32;
            let distance = u64::from(bits.rotate_right(after).trailing_zeros()) + 1;
            let slot = (current.wrapping_add(distance) as usize) & (SLOTS - 1);
            let start = current
                .checked_add(distance)
                .and_then(|s| s.checked_mul(1 << shift))
                .unwrap_or(u64::MAX);
            let earlier = match best {
                Some((_, t)) => start < t,
                None => true,
            };
            if earlier {
                best = Some((level * SLOTS + slot, start));
            }
        }
        best
    }

    /// Empties `list`: fires what is due by tick `limit`, re-inserts
    /// (cascades) the rest.
    ///
    /// The list's index array is read front to back, and each index leads
    /// to a node somewhere in `nodes`. Unlike a linked list, the next index
    /// does not depend on the node just visited, so the processor can fetch
    /// many nodes at once: with a million timers, where nearly every node is
    /// a cache miss, this is what keeps the cost per timer flat.
    fn process(&mut self, list: usize, limit: u64, fired: &mut Vec<T>) {
        let Some(slot) = self.lists.get_mut(list) else {
            return;
        };
        if slot.is_empty() {
            return;
        }
        let mut indices = std::mem::take(slot);
        self.set_occupied(list, false);
        for chunk in indices.chunks(GATHER) {
            // A first pass over the chunk only reads each node's fire tick:
            // independent loads in a tight loop, so their cache misses
            // overlap. The second pass finds the nodes in cache. `all_due`
            // is what the first pass computes so that it is not optimised
            // away (its loads would otherwise be dead); it also spares the
            // comparison when the whole chunk fires.
            let latest = chunk.iter().filter_map(|&index| self.when_of(index)).max();
            let all_due = latest.is_some_and(|latest| latest <= limit);
            for &index in chunk {
                let Some(when) = self.when_of(index) else {
                    continue;
                };
                if all_due || when <= limit {
                    if let Some(value) = self.free(index) {
                        self.len = self.len.saturating_sub(1);
                        fired.push(value);
                    }
                } else {
                    let to = self.list_for(when);
                    self.place(index, to);
                }
            }
        }
        // Give the emptied array back for reuse, unless it is large or the
        // list was refilled meanwhile (a backwards advance re-queues due
        // timers that `now` has not reached).
        indices.clear();
        if let Some(slot) = self.lists.get_mut(list) {
            if slot.capacity() == 0 && indices.capacity() <= RETAIN {
                *slot = indices;
            }
        }
    }

    /// The live entry a handle names, if the handle is not stale.
    fn live(&self, handle: TimerHandle) -> Option<&Entry<T>> {
        match self.nodes.get(handle.index as usize) {
            Some(Node::Occupied(entry)) if entry.generation == handle.generation => Some(entry),
            _ => None,
        }
    }

    /// The fire tick of node `index`, if it holds a timer.
    fn when_of(&self, index: u32) -> Option<u64> {
        match self.nodes.get(index as usize) {
            Some(Node::Occupied(entry)) => Some(entry.when),
            _ => None,
        }
    }

    fn entry_mut(&mut self, index: u32) -> Option<&mut Entry<T>> {
        match self.nodes.get_mut(index as usize) {
            Some(Node::Occupied(entry)) => Some(entry),
            _ => None,
        }
    }

    /// Keeps level `list / SLOTS`'s occupancy bit for `list` in step; the
    /// due list has no bit.
    fn set_occupied(&mut self, list: usize, occupied: bool) {
        if let Some(bits) = self.occupied.get_mut(list / SLOTS) {
            let bit = 1u64 << (list % SLOTS);
            if occupied {
                *bits |= bit;
            } else {
                *bits &= !bit;
            }
        }
    }

    /// Puts `entry` in a free node and returns its handle.
    fn allocate(&mut self, mut entry: Entry<T>) -> Option<TimerHandle> {
        let index = self.free_head;
        if let Some(node) = self.nodes.get_mut(index as usize) {
            if let Node::Vacant {
                next_free,
                generation,
            } = *node
            {
                self.free_head = next_free;
                entry.generation = generation;
                *node = Node::Occupied(entry);
                return Some(TimerHandle { index, generation });
            }
            // The free list never points at a live node; if it did, stop
            // trusting it rather than overwrite a timer.
            self.free_head = NIL;
        }
        let index = u32::try_from(self.nodes.len()).ok().filter(|&i| i != NIL)?;
        self.nodes.push(Node::Occupied(entry));
        Some(TimerHandle {
            index,
            generation: 0,
        })
    }

    /// Returns a node to the free list (it must already be unlinked) and
    /// bumps its generation so old handles go stale.
    fn free(&mut self, index: u32) -> Option<T> {
        let node = self.nodes.get_mut(index as usize)?;
        let generation = match node {
            Node::Occupied(entry) => entry.generation.wrapping_add(1),
            Node::Vacant { .. } => return None,
        };
        let old = std::mem::replace(
            node,
            Node::Vacant {
                next_free: self.free_head,
                generation,
            },
        );
        self.free_head = index;
        match old {
            Node::Occupied(entry) => Some(entry.value),
            Node::Vacant { .. } => None,
        }
    }

    /// Appends node `index` to `list` and records where it went.
    fn place(&mut self, index: u32, list: usize) {
        let Some(slot) = self.lists.get_mut(list) else {
            return;
        };
        let Ok(pos) = u32::try_from(slot.len()) else {
            return;
        };
        slot.push(index);
        if let Some(entry) = self.entry_mut(index) {
            entry.pos = pos;
            entry.list = list_id(list);
        }
        self.set_occupied(list, true);
    }

    /// Takes node `index` out of its list in O(1): the list's last index
    /// moves into the hole, and that node learns its new position.
    fn remove(&mut self, index: u32) {
        let Some(entry) = self.entry_mut(index) else {
            return;
        };
        let (list, pos) = (usize::from(entry.list.get()) - 1, entry.pos as usize);
        let Some(slot) = self.lists.get_mut(list) else {
            return;
        };
        if slot.get(pos) != Some(&index) {
            return;
        }
        slot.swap_remove(pos);
        let moved = slot.get(pos).copied();
        if slot.is_empty() {
            if slot.capacity() > RETAIN {
                *slot = Vec::new();
            }
            self.set_occupied(list, false);
        }
        if let Some(entry) = moved.and_then(|moved| self.entry_mut(moved)) {
            entry.pos = pos as u32;
        }
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("tick", &self.tick())
            .field("elapsed_ticks", &self.elapsed)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// The niche-carrying id of list `list` (always below `LISTS`).
fn list_id(list: usize) -> ListId {
    u16::try_from(list + 1)
        .ok()
        .and_then(NonZeroU16::new)
        .unwrap_or(NonZeroU16::MIN)
}

fn duration_from_nanos(nanos: u128) -> Option<Duration> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).ok()?;
    Some(Duration::new(secs, subsec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const MS: Duration = Duration::from_millis(1);

    /// Tests need an origin; this is the only clock read in the module, and
    /// every other instant is `origin() + offset`.
    fn origin() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn advance<T>(wheel: &mut Wheel<T>, now: Instant) -> Vec<T> {
        let mut fired = Vec::new();
        wheel.advance(now, &mut fired);
        fired
    }

    #[test]
    fn entry_is_32_bytes_for_a_usize_value() {
        assert_eq!(std::mem::size_of::<Node<usize>>(), 32);
        assert_eq!(std::mem::size_of::<Node<u32>>(), 24);
        assert_eq!(std::mem::size_of::<TimerHandle>(), 8);
    }

    #[test]
    fn timer_fires_at_its_deadline_and_not_before() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        wheel.insert(start + ms(10), 1);
        assert!(advance(&mut wheel, start + ms(9)).is_empty());
        assert!(advance(&mut wheel, start + ms(10) - Duration::from_nanos(1)).is_empty());
        assert_eq!(advance(&mut wheel, start + ms(10)), [1]);
        assert!(wheel.is_empty());
    }

    #[test]
    fn deadline_between_ticks_is_rounded_up_to_the_next_tick() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let deadline = start + Duration::from_micros(10_500);
        let handle = wheel.insert(deadline, 1);
        assert_eq!(wheel.deadline(handle), Some(start + ms(11)));
        // Past the deadline but inside its tick: not yet, and that is the
        // "at most one tick late" allowance.
        assert!(advance(&mut wheel, start + Duration::from_micros(10_900)).is_empty());
        assert_eq!(advance(&mut wheel, start + ms(11)), [1]);
    }

    #[test]
    fn deadline_in_the_past_fires_on_the_next_advance() {
        let start = origin() + Duration::from_secs(1);
        let mut wheel = Wheel::new(start, MS);
        wheel.advance(start + ms(500), &mut Vec::new());
        wheel.insert(start + ms(100), "late");
        wheel.insert(start - ms(100), "before start");
        wheel.insert(start + ms(500), "now");
        let mut fired = advance(&mut wheel, start + ms(500));
        fired.sort_unstable();
        assert_eq!(fired, ["before start", "late", "now"]);
        assert_eq!(wheel.next_expiry(), None);
    }

    #[test]
    fn cancelled_timer_never_fires() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let a = wheel.insert(start + ms(5), 'a');
        let b = wheel.insert(start + ms(5), 'b');
        let c = wheel.insert(start + Duration::from_secs(3600), 'c');
        assert_eq!(wheel.cancel(a), Some('a'));
        assert_eq!(wheel.cancel(c), Some('c'));
        assert_eq!(wheel.len(), 1);
        assert_eq!(
            advance(&mut wheel, start + Duration::from_secs(7200)),
            ['b']
        );
        assert_eq!(wheel.cancel(b), None);
    }

    #[test]
    fn stale_handle_cannot_cancel_reused_slot() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let old = wheel.insert(start + ms(5), 1);
        assert_eq!(wheel.cancel(old), Some(1));
        let new = wheel.insert(start + ms(5), 2);
        assert_eq!(new.index, old.index, "the node is reused");
        assert_eq!(wheel.cancel(old), None);
        assert!(!wheel.reschedule(old, start + ms(1)));
        assert_eq!(wheel.deadline(old), None);
        assert_eq!(advance(&mut wheel, start + ms(5)), [2]);
    }

    #[test]
    fn handle_of_a_fired_timer_is_stale() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let handle = wheel.insert(start + ms(1), 1);
        assert_eq!(advance(&mut wheel, start + ms(1)), [1]);
        assert_eq!(wheel.cancel(handle), None);
        assert_eq!(wheel.deadline(handle), None);
    }

    #[test]
    fn timer_fires_only_once() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        wheel.insert(start + ms(3), 1);
        assert_eq!(advance(&mut wheel, start + ms(3)), [1]);
        assert!(advance(&mut wheel, start + ms(3)).is_empty());
        assert!(advance(&mut wheel, start + Duration::from_secs(100_000)).is_empty());
    }

    #[test]
    fn long_idle_jump_fires_everything_due() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let day = Duration::from_secs(86_400);
        let due = [
            ms(1),
            ms(64),
            Duration::from_secs(1),
            Duration::from_secs(60),
            Duration::from_secs(3600),
            Duration::from_secs(5 * 3600),
            day * 30,
            day * 3 * 365,
        ];
        for (i, after) in due.iter().enumerate() {
            wheel.insert(start + *after, i);
        }
        let later = wheel.insert(start + day * 5 * 365, 99);
        let mut fired = advance(&mut wheel, start + day * 4 * 365);
        fired.sort_unstable();
        assert_eq!(fired, (0..due.len()).collect::<Vec<_>>());
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.deadline(later), Some(start + day * 5 * 365));
    }

    #[test]
    fn deadline_beyond_the_wheel_range_fires_on_time() {
        // 2^36 ms is about 795 days; three years is past the top level.
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let deadline = start + Duration::from_secs(3 * 365 * 86_400);
        wheel.insert(deadline, "far");
        let mut wakeups = 0;
        let mut fired = Vec::new();
        while let Some(wake) = wheel.next_expiry() {
            assert!(wake <= deadline);
            wheel.advance(wake, &mut fired);
            wakeups += 1;
            assert!(wakeups < 64, "following next_expiry must converge");
        }
        assert_eq!(fired, ["far"]);
    }

    #[test]
    fn timer_one_tick_past_a_top_level_rotation_fires_on_time() {
        // With a 1 ns tick the top-level rotation (2^36 ticks) is ~69 s.
        let start = origin();
        let mut wheel = Wheel::new(start, Duration::from_nanos(1));
        let edge = start + Duration::from_nanos(WHEEL_RANGE - 1);
        wheel.advance(edge, &mut Vec::new());
        wheel.insert(edge + Duration::from_nanos(1), 1);
        wheel.insert(edge + Duration::from_nanos(TOP_SLOT_SPAN), 2);
        assert_eq!(wheel.next_expiry(), Some(edge + Duration::from_nanos(1)));
        assert_eq!(advance(&mut wheel, edge + Duration::from_nanos(1)), [1]);
        assert!(advance(&mut wheel, edge + Duration::from_nanos(TOP_SLOT_SPAN - 1)).is_empty());
        assert_eq!(
            advance(&mut wheel, edge + Duration::from_nanos(TOP_SLOT_SPAN)),
            [2]
        );
    }

    #[test]
    fn timers_on_every_level_boundary_fire_on_time() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let mut deadlines = Vec::new();
        for level in 1..=LEVELS as u32 {
            let edge = 1u64 << (SLOT_BITS * level);
            for ticks in [edge - 1, edge, edge + 1] {
                deadlines.push(ticks);
                wheel.insert(start + ms(ticks), ticks);
            }
        }
        deadlines.sort_unstable();
        for &ticks in &deadlines {
            assert!(advance(&mut wheel, start + ms(ticks) - Duration::from_nanos(1)).is_empty());
            assert_eq!(advance(&mut wheel, start + ms(ticks)), [ticks]);
        }
        assert!(wheel.is_empty());
    }

    #[test]
    fn next_expiry_is_never_after_the_earliest_timer() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        assert_eq!(wheel.next_expiry(), None);
        wheel.insert(start + Duration::from_secs(3600), 1);
        let first = wheel.next_expiry().unwrap();
        assert!(first <= start + Duration::from_secs(3600));
        wheel.insert(start + ms(7), 2);
        assert_eq!(wheel.next_expiry(), Some(start + ms(7)));
    }

    #[test]
    fn following_next_expiry_fires_each_timer_on_time_with_few_wakeups() {
        let start = origin();
        let mut wheel = Wheel::new(start, Duration::from_millis(2));
        let mut deadlines = BTreeMap::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for id in 0..200u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let deadline = start + Duration::from_micros(seed % 20_000_000_000);
            deadlines.insert(id, deadline);
            wheel.insert(deadline, id);
        }
        let mut wakeups = 0;
        let mut fired = Vec::new();
        while let Some(wake) = wheel.next_expiry() {
            wakeups += 1;
            fired.clear();
            wheel.advance(wake, &mut fired);
            for id in &fired {
                let deadline = deadlines.remove(id).unwrap();
                assert!(deadline <= wake);
                assert!(wake < deadline + Duration::from_millis(2));
            }
        }
        assert!(deadlines.is_empty());
        assert!(wakeups <= 200 * LEVELS, "{wakeups} wake-ups");
    }

    #[test]
    fn advance_backwards_is_a_no_op() {
        let start = origin() + Duration::from_secs(1);
        let mut wheel = Wheel::new(start, MS);
        wheel.insert(start + ms(20), 1);
        wheel.advance(start + ms(10), &mut Vec::new());
        wheel.insert(start + ms(5), 2);
        assert!(advance(&mut wheel, start + ms(3)).is_empty());
        assert!(advance(&mut wheel, start - ms(500)).is_empty());
        assert_eq!(wheel.len(), 2);
        assert_eq!(advance(&mut wheel, start + ms(10)), [2]);
    }

    #[test]
    fn past_deadline_fires_even_if_now_is_behind_the_wheel() {
        // Found by the model test: time went back a little (a no-op for the
        // wheel), but a timer inserted with a deadline long past is due.
        let start = origin() + Duration::from_secs(1);
        let mut wheel = Wheel::new(start, MS);
        wheel.advance(start + ms(280), &mut Vec::new());
        wheel.insert(start + ms(100), 1);
        wheel.insert(start + ms(279), 2);
        assert_eq!(advance(&mut wheel, start + ms(200)), [1]);
        assert_eq!(advance(&mut wheel, start + ms(280)), [2]);
    }

    #[test]
    fn reschedule_moves_a_timer_and_keeps_its_handle() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let idle = wheel.insert(start + ms(100), 1);
        assert!(wheel.reschedule(idle, start + Duration::from_secs(60)));
        assert!(advance(&mut wheel, start + ms(100)).is_empty());
        assert_eq!(wheel.deadline(idle), Some(start + Duration::from_secs(60)));
        assert!(wheel.reschedule(idle, start + ms(150)));
        assert_eq!(advance(&mut wheel, start + ms(150)), [1]);
        assert!(!wheel.reschedule(idle, start + ms(200)));
    }

    #[test]
    fn many_timers_in_one_slot_all_fire_and_cancel_from_the_middle() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let handles: Vec<_> = (0..100).map(|i| wheel.insert(start + ms(42), i)).collect();
        for handle in handles.iter().skip(1).step_by(2) {
            assert!(wheel.cancel(*handle).is_some());
        }
        let mut fired = advance(&mut wheel, start + ms(42));
        fired.sort_unstable();
        assert_eq!(fired, (0..100).step_by(2).collect::<Vec<_>>());
    }

    #[test]
    fn an_emptied_wheel_gives_big_slot_arrays_back() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        let held = |wheel: &Wheel<usize>| -> usize { wheel.lists.iter().map(Vec::capacity).sum() };
        // 10,000 timers in one level-0 slot, then all cancelled.
        let handles: Vec<_> = (0..10_000)
            .map(|i| wheel.insert(start + ms(7), i))
            .collect();
        assert!(held(&wheel) >= 10_000);
        for handle in handles {
            assert!(wheel.cancel(handle).is_some());
        }
        assert!(held(&wheel) <= RETAIN, "{} indices held", held(&wheel));
        // 10,000 in one level-2 slot, cascaded down and fired.
        for i in 0..10_000 {
            wheel.insert(start + Duration::from_secs(60) + ms(i % 50), i as usize);
        }
        let fired = advance(&mut wheel, start + Duration::from_secs(61));
        assert_eq!(fired.len(), 10_000);
        assert!(wheel.is_empty());
        assert!(
            held(&wheel) <= LISTS * RETAIN,
            "{} indices held",
            held(&wheel)
        );
    }

    #[test]
    fn zero_tick_counts_as_one_nanosecond() {
        let start = origin();
        let mut wheel = Wheel::new(start, Duration::ZERO);
        assert_eq!(wheel.tick(), Duration::from_nanos(1));
        wheel.insert(start + Duration::from_nanos(5), 1);
        assert!(advance(&mut wheel, start + Duration::from_nanos(4)).is_empty());
        assert_eq!(advance(&mut wheel, start + Duration::from_nanos(5)), [1]);
    }

    #[test]
    fn advance_appends_without_clearing_the_buffer() {
        let start = origin();
        let mut wheel = Wheel::new(start, MS);
        wheel.insert(start + ms(1), 2);
        let mut fired = vec![1];
        wheel.advance(start + ms(1), &mut fired);
        assert_eq!(fired, [1, 2]);
    }

    // ----- property test against a BTreeMap model -------------------------

    #[derive(Clone, Debug)]
    enum Op {
        /// Insert with a deadline this many ns from the model's now.
        Insert(i64),
        /// Cancel the n-th handle ever issued (live or stale).
        Cancel(usize),
        /// Move the n-th handle ever issued to now + offset ns.
        Reschedule(usize, i64),
        /// Advance by this many ns (negative: try to go back in time).
        Advance(i64),
        /// Advance to exactly what next_expiry says, as the reactor does.
        AdvanceToNextExpiry,
    }

    const HOUR_NS: i64 = 3_600_000_000_000;

    fn offset() -> impl Strategy<Value = i64> {
        prop_oneof![
            -2_000_000_000i64..=0,
            0i64..=100_000_000,
            0i64..=10_000_000_000,
            0i64..=5 * HOUR_NS,
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => offset().prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Cancel),
            1 => (any::<usize>(), offset()).prop_map(|(i, o)| Op::Reschedule(i, o)),
            2 => prop_oneof![
                -5_000_000i64..=10_000_000,
                0i64..=2_000_000_000,
                0i64..=6 * HOUR_NS,
            ]
            .prop_map(Op::Advance),
            1 => Just(Op::AdvanceToNextExpiry),
        ]
    }

    fn shift(at: Instant, ns: i64) -> Instant {
        let by = Duration::from_nanos(ns.unsigned_abs());
        if ns >= 0 {
            at + by
        } else {
            at.checked_sub(by).unwrap_or(at)
        }
    }

    struct Model {
        start: Instant,
        tick: Duration,
        /// The latest `now` the wheel has been advanced to.
        now: Instant,
        /// Live timers: id -> deadline.
        live: BTreeMap<u64, Instant>,
        /// Every handle ever issued, with the id it was issued for.
        handles: Vec<(TimerHandle, u64)>,
    }

    impl Model {
        /// The deadline rounded up to the tick grid.
        fn fire_at(&self, deadline: Instant) -> Instant {
            let nanos = deadline.saturating_duration_since(self.start).as_nanos();
            let tick = self.tick.as_nanos();
            let rounded = nanos.div_ceil(tick) * tick;
            self.start + Duration::from_nanos(rounded as u64)
        }

        /// `now` rounded down to the tick grid: the wheel's current time.
        fn wheel_time(&self) -> Instant {
            let nanos = self.now.saturating_duration_since(self.start).as_nanos();
            let tick = self.tick.as_nanos();
            self.start + Duration::from_nanos((nanos / tick * tick) as u64)
        }
    }

    fn check_advance(
        wheel: &mut Wheel<u64>,
        model: &mut Model,
        now: Instant,
    ) -> Result<(), TestCaseError> {
        let now = now.max(model.start);
        let mut fired = Vec::new();
        wheel.advance(now, &mut fired);
        for id in fired {
            let deadline = model.live.remove(&id);
            prop_assert!(
                deadline.is_some(),
                "timer {} fired twice or after cancel",
                id
            );
            prop_assert!(deadline.unwrap_or(now) <= now, "timer {} fired early", id);
        }
        for (id, deadline) in &model.live {
            prop_assert!(
                *deadline + model.tick > now,
                "timer {} more than a tick late: deadline {:?} now {:?}",
                id,
                *deadline - model.start,
                now - model.start
            );
        }
        model.now = model.now.max(now);
        Ok(())
    }

    fn run_model(tick: Duration, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let start = origin() + Duration::from_secs(10);
        let mut wheel = Wheel::new(start, tick);
        let mut model = Model {
            start,
            tick,
            now: start,
            live: BTreeMap::new(),
            handles: Vec::new(),
        };
        let mut next_id = 0u64;
        for op in ops {
            match op {
                Op::Insert(offset) => {
                    let deadline = shift(model.now, offset);
                    let handle = wheel.insert(deadline, next_id);
                    model.live.insert(next_id, deadline);
                    model.handles.push((handle, next_id));
                    prop_assert_eq!(wheel.deadline(handle), Some(model.fire_at(deadline)));
                    next_id += 1;
                }
                Op::Cancel(n) if !model.handles.is_empty() => {
                    let (handle, id) = model.handles[n % model.handles.len()];
                    let expected = model.live.remove(&id).map(|_| id);
                    prop_assert_eq!(wheel.cancel(handle), expected);
                    prop_assert_eq!(wheel.deadline(handle), None);
                }
                Op::Reschedule(n, offset) if !model.handles.is_empty() => {
                    let (handle, id) = model.handles[n % model.handles.len()];
                    let deadline = shift(model.now, offset);
                    let live = model.live.contains_key(&id);
                    prop_assert_eq!(wheel.reschedule(handle, deadline), live);
                    if live {
                        model.live.insert(id, deadline);
                        prop_assert_eq!(wheel.deadline(handle), Some(model.fire_at(deadline)));
                    }
                }
                Op::Cancel(_) | Op::Reschedule(..) => {}
                Op::Advance(step) => {
                    let now = shift(model.now, step);
                    check_advance(&mut wheel, &mut model, now)?;
                }
                Op::AdvanceToNextExpiry => {
                    if let Some(wake) = wheel.next_expiry() {
                        check_advance(&mut wheel, &mut model, wake)?;
                    }
                }
            }
            prop_assert_eq!(wheel.len(), model.live.len());
            prop_assert_eq!(wheel.is_empty(), model.live.is_empty());
            let earliest = model.live.values().map(|d| model.fire_at(*d)).min();
            match (wheel.next_expiry(), earliest) {
                (None, None) => {}
                (Some(wake), Some(earliest)) => prop_assert!(
                    wake <= earliest.max(model.wheel_time()),
                    "next_expiry {:?} after the earliest timer {:?}",
                    wake - start,
                    earliest - start
                ),
                (wake, earliest) => prop_assert!(false, "next_expiry {:?} vs {:?}", wake, earliest),
            }
        }
        Ok(())
    }

    fn tick() -> impl Strategy<Value = Duration> {
        prop_oneof![
            Just(Duration::from_nanos(1)),
            Just(Duration::from_micros(1)),
            Just(Duration::from_millis(1)),
            Just(Duration::from_millis(3)),
            Just(Duration::from_millis(4)),
        ]
    }

    /// A case the model test once shrank to (timers inserted in the past
    /// must fire on an advance that lands before the wheel's own time).
    #[test]
    fn regression_past_deadlines_fire_after_a_backwards_advance() {
        let mut ops = vec![Op::Insert(-1); 22];
        ops.extend(
            [
                63,
                27027085,
                3634860058245,
                10831425463256,
                5747704444,
                1611501076,
                -1257946204,
            ]
            .into_iter()
            .chain([40705562, 58810442, 16034098854661, 10492482141749])
            .map(Op::Insert),
        );
        ops.push(Op::Advance(279959744));
        ops.push(Op::Insert(7623098081));
        ops.push(Op::Insert(-1328312554));
        ops.push(Op::Advance(-2628624));
        run_model(Duration::from_nanos(1), ops).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn wheel_agrees_with_a_btreemap_model(
            tick in tick(),
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            run_model(tick, ops)?;
        }
    }
}
