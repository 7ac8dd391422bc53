//! Buses: broadcast of messages to every subscriber, in one order, without waiting for
//! anyone.
//!
//! A bus is a ring of `capacity` message slots. Publishers serialize on one robust lock
//! (so all subscribers see one total order), write the message into slot
//! `seq % capacity` seqlock-style — mark the slot BUSY, store the value, store the new
//! sequence number (the commit) — then advance `next_seq`, unlock, and wake sleeping
//! subscribers. Publishing never waits for subscribers: the oldest message is simply
//! overwritten.
//!
//! A subscription is a private cursor (the next sequence number it wants), not shared
//! state: any number of processes subscribe without registering. To receive message `n`
//! a subscriber copies slot `n % capacity` while its `seq` is `n`, then checks `seq`
//! again; a slot already holding a later message means the subscriber fell behind, and it
//! skips to the oldest message still retained (the caller sees the gap in the sequence
//! numbers). Messages of up to [`BUS_INLINE_MAX`] bytes are stored in the slot itself;
//! longer ones in a heap block freed when the slot is overwritten (a subscriber still
//! copying it notices by the seqlock check).
//!
//! Crash safety: a publisher that dies holding the lock is replaced by the next one,
//! which repairs `next_seq` if the dead one had committed its message but not advanced
//! it; a slot the dead publisher left BUSY holds no message (subscribers skip it as
//! overwritten or wait past it). No subscriber ever receives a torn message.
//!
//! Batches (`publish_many`): the values are prepared before the lock is taken, then
//! written under one hold of the lock into consecutive slots, each committed and counted
//! in `next_seq` as a single publish does, and the subscribers are woken once at the
//! end. A publisher that dies mid-batch leaves a prefix of its batch published and at
//! most one BUSY slot, exactly the state a single publisher leaves: the repair above is
//! unchanged, and the next publisher's messages follow the prefix.
//!
//! Topics (named events). A bus created by this version carries [`BUS_FLAG_TOPICS`] in
//! its object flags and, from its first use of a topic on, owns a second heap block,
//! its *topics extension* (offset in [`BusHeader::topics`], set once by compare-and-swap
//! after the block is filled; a process that dies between its allocation and the swap
//! leaks the block, which the checker reports): a [`TopicsHeader`], a table of [`TOPIC_WAITERS`] filtered
//! subscribers ([`TopicWaiter`]), and one [`TopicRec`] per slot. A message emitted with
//! a topic writes the topic into its slot's record inside the slot's seqlock window
//! (after BUSY, before the commit), tagged with its sequence number; a record whose
//! `seq` is not the message's (plain publishes never write one) means "no topic". Buses
//! made by older code have no extension: topic calls on them return `Unsupported`.
//!
//! Wake-ups. Unfiltered subscribers sleep on the bus-wide `notify` word. A subscriber
//! filtering by a prefix claims a row of the waiter table (owner = its attachment token,
//! its own futex word `wake`, a `waiting` flag and the prefix) and sleeps on its own word;
//! a publisher of a topic wakes only the rows whose prefix matches (plain publishes wake
//! no row). A full table: the subscriber sleeps on `notify` like an unfiltered one
//! (correct, only less selective). The pairing is Dekker's with `SeqCst` fences: the
//! subscriber sets `waiting`, fences, and looks for a new message; the publisher commits,
//! fences, and reads `waiting` — one of the two sees the other.
//!
//! Crash safety of the table: publishers only read it (no lock), so a subscriber killed
//! at any instant never blocks a publisher. Its row keeps its dead owner's token until a
//! new subscriber (or the sweep after the process was reaped) claims it back with one
//! compare-and-swap of `owner`; a dead row still marked `waiting` costs a matching
//! publisher one useless `FUTEX_WAKE`, nothing else. Rows are independent, so other
//! subscribers are woken as before. A publisher killed after its commit but before its
//! wake-ups leaves the subscribers asleep for at most one sleep slice (every sleep is
//! sliced, `sys::LONG_SLICE`), after which they find the message.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
pub use crate::semantics::options::Start;
use crate::semantics::topics::{check_topic, topic_matches};
use crate::semantics::value::{Type, Value, ValueRef};
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region, RegionInner};
use crate::shm::format::scan::Scan;
use crate::shm::kinds::array::FLAG_EXCLUSIVE;
use crate::shm::kinds::element::{
    copy_blob, decode_value, discard_value, meta_in_heap, prepare_value,
};
use crate::shm::kinds::{KindOps, Placed, Swept};
use crate::shm::os::mem::{Mapping, Shared};
use crate::shm::os::sys;
use crate::shm::wait::{self, Acquired, Deadline};
use std::mem::size_of;

// ---- layout (in the region file) ----

/// The bus-wide part of a bus body, right after its [`ObjectHeader`]: three cache lines
/// (read-mostly words; words publishers write on every message; subscribers' sleeper
/// count). The body then holds `capacity` [`BusSlot`]s.
///
/// * `closed`: 0, or 1 once `close` was called (set under `lock`; never reset).
/// * `capacity`: repeats the object's shape (checked at open).
/// * `lock`: robust lock serializing publishers (the message order is the lock order).
/// * `notify`: futex word bumped after every publish and on close.
/// * `next_seq`: sequence number the next message gets (messages are numbered from 1);
///   stored after the message's slot is committed, and repaired by the next publisher
///   if a publisher died between the two.
/// * `sleepers`: subscribers sleeping on `notify`.
/// * `aware`, `wake_due`: with `sleepers`, a [`wait::DueSleepers`] (zero in buses made
///   by older code, whose sleepers count only in `sleepers`).
/// * `topics`: see the field.
#[repr(C, align(64))]
pub struct BusHeader {
    pub closed: AtomicU32,
    pub _pad0: AtomicU32,
    pub capacity: AtomicU64,
    /// Absolute offset of the topics extension (buses with [`BUS_FLAG_TOPICS`]), 0 until
    /// the first emit with a topic or the first filtered subscription allocates it (so
    /// a bus used without topics costs nothing more). Set once, by compare-and-swap.
    pub topics: AtomicU64,
    pub _reserved: [AtomicU64; 5],
    pub lock: AtomicU32,
    pub notify: AtomicU32,
    pub next_seq: AtomicU64,
    pub _pad1: [AtomicU64; 6],
    pub sleepers: AtomicU32,
    /// Sleepers of this version (they also count in `sleepers`, and raise `wake_due`).
    pub aware: AtomicU32,
    /// 1 when a sleeper went to sleep after the last `FUTEX_WAKE` of `notify`.
    pub wake_due: AtomicU32,
    pub _pad2: AtomicU32,
    pub _pad3: [AtomicU64; 6],
}
const _: () = assert!(size_of::<BusHeader>() == 192);

impl BusHeader {
    /// The sleeper words of `notify`.
    fn due_sleepers(&self) -> wait::DueSleepers<'_> {
        wait::DueSleepers {
            count: &self.sleepers,
            aware: &self.aware,
            due: &self.wake_due,
        }
    }
}

/// Bytes of a message stored inside its [`BusSlot`] (longer ones go to the heap).
pub const BUS_INLINE_MAX: usize = 104;

/// One message slot of a bus: two cache lines.
///
/// * `seq`: the sequence number of the message held (0 = none yet), with [`BUS_BUSY`]
///   set while a publisher rewrites the slot: a seqlock, so a subscriber copies the
///   message and keeps it only if `seq` is unchanged afterwards.
/// * `meta`, `payload`: the value as in a [`ValueSlot`]; with [`META_SLOT_BYTES`] in
///   `meta`, the bytes are in `inline`.
/// * `inline`: up to [`BUS_INLINE_MAX`] bytes of a string, bytes or object value.
#[repr(C, align(64))]
pub struct BusSlot {
    pub seq: AtomicU64,
    pub meta: AtomicU64,
    pub payload: AtomicU64,
    pub inline: [AtomicU64; 13],
}
const _: () = assert!(size_of::<BusSlot>() == 128);
/// In [`BusSlot::seq`]: a publisher is rewriting the slot.
pub const BUS_BUSY: u64 = 1 << 63;

/// In a bus's object flags (stored): the bus has a topics extension.
pub const BUS_FLAG_TOPICS: u32 = 1 << 16;
/// Rows of a bus's filtered-subscriber table.
pub const TOPIC_WAITERS: u64 = 64;
/// [`TopicWaiter::waiting`]: the owner is not waiting.
pub const ROW_IDLE: u32 = 0;
/// [`TopicWaiter::waiting`]: the owner is about to sleep (it spins on `wake` first).
pub const ROW_SPINNING: u32 = 2;
/// [`TopicWaiter::waiting`]: the owner sleeps on `wake` (a waker makes the system call).
pub const ROW_SLEEPING: u32 = 1;
/// [`TopicsHeader::magic`].
pub const TOPICS_MAGIC: u32 = 0x544f_5043;

pub use crate::semantics::topics::MAX_TOPIC_LEN;

/// The head of a bus's topics extension.
///
/// * `magic`: [`TOPICS_MAGIC`]; `rows`: [`TOPIC_WAITERS`]; `capacity`: the bus's.
/// * `used`: rows `0..used` have ever been claimed (only grows): publishers look at
///   those only.
#[repr(C, align(64))]
pub struct TopicsHeader {
    pub magic: AtomicU32,
    pub rows: AtomicU32,
    pub capacity: AtomicU64,
    pub used: AtomicU32,
    pub _pad: AtomicU32,
    pub _reserved: [AtomicU64; 5],
}
const _: () = assert!(size_of::<TopicsHeader>() == 64);

/// One filtered subscriber (two cache lines).
///
/// * `owner`: attachment token of the subscriber's process (0: free). Claimed with a
///   compare-and-swap from 0 or from a dead owner's token; given back with one from the
///   owner's token to 0.
/// * `wake`: the futex word the subscriber sleeps on; a publisher of a matching topic
///   adds one and wakes it.
/// * `waiting`: [`ROW_IDLE`], [`ROW_SPINNING`] (a matching publisher bumps `wake`) or
///   [`ROW_SLEEPING`] (and also wakes it). Written only by the owner (and cleared by a
///   new owner).
/// * `prefix_len`, `prefix`: the filter (at most [`MAX_TOPIC_LEN`] bytes), written by the
///   owner before it first sets `waiting`.
#[repr(C, align(64))]
pub struct TopicWaiter {
    pub owner: AtomicU32,
    pub wake: AtomicU32,
    pub waiting: AtomicU32,
    pub prefix_len: AtomicU32,
    pub prefix: [AtomicU64; 14],
}
const _: () = assert!(size_of::<TopicWaiter>() == 128);

/// The topic of the message in the slot with the same index.
///
/// * `seq`: the message it belongs to (written last, inside the slot's seqlock window);
///   any other value means the message in the slot has no topic.
/// * `len`, `bytes`: the topic, at most [`MAX_TOPIC_LEN`] bytes of UTF-8.
#[repr(C, align(64))]
pub struct TopicRec {
    pub seq: AtomicU64,
    pub len: AtomicU64,
    pub bytes: [AtomicU64; 14],
}
const _: () = assert!(size_of::<TopicRec>() == 128);
const _: () = assert!(MAX_TOPIC_LEN == 14 * 8);

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for TopicsHeader {}
// SAFETY: as above.
unsafe impl Shared for TopicWaiter {}
// SAFETY: as above.
unsafe impl Shared for TopicRec {}

const T_HEADER: u64 = size_of::<TopicsHeader>() as u64;
const T_ROW: u64 = size_of::<TopicWaiter>() as u64;
const T_REC: u64 = size_of::<TopicRec>() as u64;

/// Bytes of the topics extension of a bus of `capacity` messages.
fn topics_size(capacity: u64) -> Option<u64> {
    capacity
        .checked_mul(T_REC)?
        .checked_add(T_HEADER + TOPIC_WAITERS * T_ROW)
}

/// Whether the prefix of row `w` starts the topic of `topic_len` bytes held in `words`
/// (as [`store_bytes`] stores it): `crate::semantics::topics::topic_matches`, word by
/// word.
fn prefix_matches(w: &TopicWaiter, words: &[u64; 14], topic_len: usize) -> bool {
    let len = w.prefix_len.load(Ordering::Relaxed) as usize;
    if len > topic_len || len > MAX_TOPIC_LEN {
        return false;
    }
    let (full, rest) = (len / 8, len % 8);
    for (p, &t) in w.prefix.iter().zip(words).take(full) {
        if p.load(Ordering::Relaxed) != t {
            return false;
        }
    }
    rest == 0
        || (w.prefix[full].load(Ordering::Relaxed) ^ words[full]) & ((1u64 << (rest * 8)) - 1) == 0
}

/// Copies `bytes` (at most 112) into 14 words, little-endian.
fn store_bytes(words: &[AtomicU64; 14], bytes: &[u8]) {
    for (w, chunk) in words.iter().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        w.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
}

/// Reads `len` (at most 112) bytes out of 14 words.
fn load_bytes(words: &[AtomicU64; 14], len: usize) -> Vec<u8> {
    let len = len.min(MAX_TOPIC_LEN);
    let mut out = Vec::with_capacity(len.div_ceil(8) * 8);
    for w in words.iter().take(len.div_ceil(8)) {
        out.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
    }
    out.truncate(len);
    out
}

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for BusHeader {}
// SAFETY: as above.
unsafe impl Shared for BusSlot {}

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const B_HEADER: u64 = std::mem::size_of::<BusHeader>() as u64;
const SLOT: u64 = std::mem::size_of::<BusSlot>() as u64;

/// The length bits of `meta` for a value stored in the slot's `inline` words.
const SLOT_LEN_MASK: u64 = META_LEN_MASK & !META_SLOT_BYTES;

pub(crate) fn body_size(capacity: u64) -> Option<u64> {
    capacity
        .checked_mul(SLOT)?
        .checked_add(OBJ_HEADER + B_HEADER)
}

/// Sequence numbers count every message since creation, so they never come near
/// [`BUS_BUSY`] (a billion messages a second for 290 years); a larger one was damaged,
/// and counting on from it would overflow or collide with the BUSY bit.
fn checked_seq(seq: u64) -> Result<u64> {
    if seq >= BUS_BUSY - 1 {
        return Err(Error::corrupt(format!(
            "bus sequence number {seq} is beyond any reachable count"
        )));
    }
    Ok(seq)
}

/// A broadcast bus of values.
#[derive(Clone)]
pub struct Bus {
    held: Held,
    /// Absolute offset of the [`BusHeader`].
    base: u64,
    capacity: u64,
    name: String,
    /// The topics extension's absolute offset, once known (validated); `None` on a bus
    /// made by older code.
    topics: Option<Arc<OnceLock<u64>>>,
}

/// One subscriber's position on a bus.
pub struct Subscription {
    bus: Bus,
    next: u64,
    /// The topic prefix it filters by (empty: every message).
    prefix: String,
    /// Absolute offset of its row in the waiter table (filtered subscriptions that got
    /// one; the others sleep on the bus-wide word).
    row: Option<u64>,
    /// Sleeps that ended because a publisher moved this subscription's own wake word.
    woken: u64,
}

/// A message as published: the value prepared for a slot.
struct Message {
    meta: u64,
    payload: u64,
    inline: [u64; 13],
    blob: Option<crate::shm::kinds::element::Prepared>,
}

pub(crate) const BUS_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_BUS,
        name: "bus",
        article: "a",
        shape: "capacity",
        items: "messages",
    },
    size_of: body_size,
};

impl Region {
    /// Opens the bus `name`; `capacity > 0` (messages retained) creates it if missing (an
    /// existing one must have that capacity), `capacity == 0` opens an existing one only.
    /// Flags: [`FLAG_EXCLUSIVE`].
    pub fn bus(&self, name: &str, capacity: u64, flags: u32) -> Result<Bus> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        if flags & !FLAG_EXCLUSIVE != 0 {
            return Err(Error::invalid(format!("unknown bus flags {flags:#x}")));
        }
        let (obj, held) = self.open_held(
            name,
            &BUS_KIND,
            capacity,
            flags & FLAG_EXCLUSIVE != 0,
            BUS_FLAG_TOPICS,
            |off| {
                let h: &BusHeader = r.map.get(off + OBJ_HEADER)?;
                h.capacity.store(capacity, Ordering::Relaxed);
                h.next_seq.store(1, Ordering::Relaxed);
                Ok(())
            },
        )?;
        let h: &BusHeader = r.map.get(obj.offset + OBJ_HEADER)?;
        if h.capacity.load(Ordering::Relaxed) != obj.shape
            || obj.shape == 0
            || h.next_seq.load(Ordering::Relaxed) == 0
        {
            return Err(Error::corrupt(format!("bus '{name}' has a damaged header")));
        }
        let hdr: &ObjectHeader = r.map.get(obj.offset)?;
        let topics = (hdr.flags.load(Ordering::Relaxed) & BUS_FLAG_TOPICS != 0)
            .then(|| Arc::new(OnceLock::new()));
        Ok(Bus {
            held,
            base: obj.offset + OBJ_HEADER,
            capacity: obj.shape,
            name: name.to_owned(),
            topics,
        })
    }
}

impl Bus {
    /// Number of messages retained.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn region(&self) -> &Region {
        self.held.region()
    }

    fn r(&self) -> &Held {
        &self.held
    }

    fn header(&self) -> Result<&BusHeader> {
        self.r().map.get(self.base)
    }

    fn slot(&self, seq: u64) -> Result<&BusSlot> {
        self.r()
            .map
            .get(self.base + B_HEADER + (seq % self.capacity) * SLOT)
    }

    /// The sequence number the next message will get (one more than the last published).
    pub fn next_seq(&self) -> Result<u64> {
        self.r().check_usable()?;
        Ok(self.header()?.next_seq.load(Ordering::Acquire))
    }

    /// True once [`Bus::close`] was called (by any process).
    pub fn is_shutdown(&self) -> Result<bool> {
        self.r().check_usable()?;
        Ok(self.header()?.closed.load(Ordering::Acquire) != 0)
    }

    fn prepare(&self, v: ValueRef<'_>) -> Result<Message> {
        let mut m = Message {
            meta: 0,
            payload: 0,
            inline: [0; 13],
            blob: None,
        };
        if let Some(bytes) = v
            .bytes()
            .filter(|b| (9..=BUS_INLINE_MAX).contains(&b.len()))
        {
            v.validate()?;
            let mut buf = [0u8; BUS_INLINE_MAX];
            buf[..bytes.len()].copy_from_slice(bytes);
            for (w, chunk) in m.inline.iter_mut().zip(buf.chunks_exact(8)) {
                *w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            }
            m.meta = (v.type_of() as u64) << 56 | META_SLOT_BYTES | bytes.len() as u64;
            return Ok(m);
        }
        let p = prepare_value(self.r(), v)?;
        m.meta = p.meta;
        m.payload = p.payload;
        if p.blob.is_some() {
            m.blob = Some(p);
        }
        Ok(m)
    }

    /// Publishes `v` to every subscriber; returns its sequence number. Never waits for
    /// subscribers (only, briefly, for another publisher). `Closed` once closed.
    pub fn publish(&self, v: ValueRef<'_>) -> Result<u64> {
        self.emit("", v)
    }

    /// Whether this bus can carry topics (made by a version of plexus that has them).
    pub fn has_topics(&self) -> bool {
        self.topics.is_some()
    }

    /// The topics extension: `None` on a bus made by older code, or (without `create`)
    /// while no topic was used yet; with `create`, allocates it on first use.
    fn ext(&self, create: bool) -> Result<Option<u64>> {
        let Some(cache) = &self.topics else {
            return Ok(None);
        };
        if let Some(&ext) = cache.get() {
            return Ok(Some(ext));
        }
        let r = self.r();
        let h = self.header()?;
        let mut ext = h.topics.load(Ordering::Acquire);
        if ext == 0 {
            if !create {
                return Ok(None);
            }
            let size = topics_size(self.capacity)
                .ok_or_else(|| Error::NoSpace(format!("bus capacity {}", self.capacity)))?;
            let mine = r.with_heap(|hp| hp.alloc(size, true))?;
            let filled = (|| {
                r.map.zero(mine, size)?;
                let t: &TopicsHeader = r.map.get(mine)?;
                t.rows.store(TOPIC_WAITERS as u32, Ordering::Relaxed);
                t.capacity.store(self.capacity, Ordering::Relaxed);
                t.magic.store(TOPICS_MAGIC, Ordering::Relaxed);
                Ok(())
            })();
            // Published filled (release): whoever reads the offset sees the header.
            let won = filled.map(|()| {
                h.topics
                    .compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire)
            });
            match won {
                Ok(Ok(_)) => ext = mine,
                Ok(Err(theirs)) => {
                    let _ = r.with_heap(|hp| hp.free(mine));
                    ext = theirs;
                }
                Err(e) => {
                    let _ = r.with_heap(|hp| hp.free(mine));
                    return Err(e);
                }
            }
        }
        check_topics(&r.map, &r.fixed, ext, self.capacity)
            .map_err(|why| Error::corrupt(format!("bus '{}': {why}", self.name)))?;
        Ok(Some(*cache.get_or_init(|| ext)))
    }

    fn topic_rec(&self, ext: u64, seq: u64) -> Result<&TopicRec> {
        self.r()
            .map
            .get(ext + T_HEADER + TOPIC_WAITERS * T_ROW + (seq % self.capacity) * T_REC)
    }

    fn waiter(&self, ext: u64, row: u64) -> Result<&TopicWaiter> {
        self.r().map.get(ext + T_HEADER + row * T_ROW)
    }

    fn no_topics(&self, what: &str) -> Error {
        Error::Unsupported(format!(
            "bus '{}' was created by an older version of plexus and cannot carry topics \
             ({what}); remove it and open it again to get one that can, or publish and \
             subscribe without topics",
            self.name
        ))
    }

    /// Publishes `v` with the topic `topic` (see `crate::semantics::topics`; `""` is a
    /// plain publish) to every subscriber whose prefix matches; returns its sequence
    /// number, in the one order of all messages of the bus. `Unsupported` for a
    /// non-empty topic on a bus made by older code.
    pub fn emit(&self, topic: &str, v: ValueRef<'_>) -> Result<u64> {
        let r = self.r();
        r.check_usable()?;
        check_topic(topic, "topic")?;
        let ext = match topic.is_empty() {
            true => None,
            false => match self.ext(true)? {
                Some(ext) => Some(ext),
                None => return Err(self.no_topics("emit with a topic")),
            },
        };
        let h = self.header()?;
        if h.closed.load(Ordering::Relaxed) != 0 {
            return Err(Error::Closed);
        }
        let mut msg = self.prepare(v)?;
        let procs = r.procs();
        if wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &procs)?
            == Acquired::Recovered
        {
            if let Err(e) = self.repair(h) {
                wait::unlock(&h.lock); // a damaged bus: report it, never keep the lock
                return Err(e);
            }
        }
        let result = (|| {
            if h.closed.load(Ordering::Relaxed) != 0 {
                return Err(Error::Closed);
            }
            let seq = checked_seq(h.next_seq.load(Ordering::Relaxed))?;
            let topic = ext.map(|ext| (ext, topic));
            let old_blob = self.write_slot(h, seq, &msg, topic)?;
            Ok((seq, old_blob))
        })();
        wait::unlock(&h.lock);
        match result {
            Ok((seq, old_blob)) => {
                // The message's heap block (if any) now belongs to the slot.
                if let Some(off) = old_blob {
                    let _ = r.with_heap(|hp| hp.free(off));
                }
                crate::test_hooks::pause_after_emit();
                h.notify.fetch_add(1, Ordering::SeqCst);
                wait::wake_all_due(&h.notify, &h.due_sleepers());
                if let Some(ext) = ext {
                    self.wake_rows(ext, Some(topic))?;
                }
                Ok(seq)
            }
            Err(e) => {
                if let Some(p) = msg.blob.take() {
                    discard_value(r, p);
                }
                Err(e)
            }
        }
    }

    /// Under the publisher lock: writes `msg` (with its topic record, if any) into the
    /// slot of message `seq` seqlock-style, commits it and advances `next_seq` past it.
    /// Returns the heap block of the message it overwrote, to free once unlocked.
    fn write_slot(
        &self,
        h: &BusHeader,
        seq: u64,
        msg: &Message,
        topic: Option<(u64, &str)>,
    ) -> Result<Option<u64>> {
        let slot = self.slot(seq)?;
        let old = slot.seq.load(Ordering::Relaxed);
        let old_meta = slot.meta.load(Ordering::Relaxed);
        // A message stored inside the slot has no heap block to free.
        let old_blob = (old != 0
            && old & BUS_BUSY == 0
            && old_meta & META_SLOT_BYTES == 0
            && meta_in_heap(old_meta))
        .then(|| slot.payload.load(Ordering::Relaxed));
        slot.seq.store(seq | BUS_BUSY, Ordering::Relaxed);
        // Subscribers that see any of the stores below also see BUSY (or a later seq).
        fence(Ordering::Release);
        slot.meta.store(msg.meta, Ordering::Relaxed);
        slot.payload.store(msg.payload, Ordering::Relaxed);
        crate::test_hooks::pause_point();
        if msg.meta & META_SLOT_BYTES != 0 {
            let words = ((msg.meta & SLOT_LEN_MASK) as usize).div_ceil(8);
            for (w, &x) in slot.inline.iter().zip(&msg.inline).take(words) {
                w.store(x, Ordering::Relaxed);
            }
        }
        if let Some((ext, topic)) = topic {
            // Inside the seqlock window: a subscriber keeps what it read of the
            // record only if the slot still holds `seq` afterwards.
            let rec = self.topic_rec(ext, seq)?;
            rec.len.store(topic.len() as u64, Ordering::Relaxed);
            store_bytes(&rec.bytes, topic.as_bytes());
            rec.seq.store(seq, Ordering::Relaxed);
        }
        slot.seq.store(seq, Ordering::Release); // the commit point
        h.next_seq.store(seq + 1, Ordering::Release);
        Ok(old_blob)
    }

    /// Publishes `values` in order as consecutive messages (one claim of
    /// `values.len()` sequence numbers under the publisher lock: no other publisher's
    /// message comes between two of them), with one wake-up of the subscribers for the
    /// whole batch; returns the first one's sequence number (0 for an empty batch, which
    /// publishes nothing). Every value is prepared before the lock is taken: a value
    /// that is invalid or does not fit the heap publishes nothing. A batch longer than
    /// the capacity overwrites its own first messages, as any publish overwrites the
    /// oldest. `Closed` once closed (nothing published).
    ///
    /// Each message is committed, and `next_seq` advanced past it, on its own: a
    /// publisher killed in the middle of a batch leaves the messages it committed (a
    /// prefix of the batch, received by subscribers as usual), at most one slot marked
    /// BUSY (holding no message) and nothing else; the next publisher takes the lock over
    /// and numbers its messages from where the dead one stopped.
    pub fn publish_many(&self, values: &[ValueRef<'_>]) -> Result<u64> {
        let r = self.r();
        r.check_usable()?;
        if values.is_empty() {
            return Ok(0);
        }
        let h = self.header()?;
        if h.closed.load(Ordering::Relaxed) != 0 {
            return Err(Error::Closed);
        }
        let mut msgs = Vec::with_capacity(values.len());
        for v in values {
            match self.prepare(*v) {
                Ok(m) => msgs.push(m),
                Err(e) => {
                    discard_messages(r, msgs);
                    return Err(e);
                }
            }
        }
        let procs = r.procs();
        let locked = wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &procs);
        match locked {
            Ok(Acquired::Recovered) => {
                if let Err(e) = self.repair(h) {
                    wait::unlock(&h.lock); // a damaged bus: report it, never keep the lock
                    discard_messages(r, msgs);
                    return Err(e);
                }
            }
            Ok(_) => {}
            Err(e) => {
                discard_messages(r, msgs);
                return Err(e);
            }
        }
        let mut old_blobs = Vec::new();
        let mut written = 0;
        let result = (|| {
            if h.closed.load(Ordering::Relaxed) != 0 {
                return Err(Error::Closed);
            }
            let first = checked_seq(h.next_seq.load(Ordering::Relaxed))?;
            checked_seq(first.saturating_add(msgs.len() as u64))?;
            for (k, msg) in msgs.iter().enumerate() {
                if let Some(off) = self.write_slot(h, first + k as u64, msg, None)? {
                    old_blobs.push(off);
                }
                written = k + 1;
            }
            Ok(first)
        })();
        wait::unlock(&h.lock);
        match result {
            Ok(first) => {
                // The messages' heap blocks now belong to their slots; the overwritten
                // ones' are freed.
                for off in old_blobs {
                    let _ = r.with_heap(|hp| hp.free(off));
                }
                crate::test_hooks::pause_after_emit();
                h.notify.fetch_add(1, Ordering::SeqCst);
                wait::wake_all_due(&h.notify, &h.due_sleepers());
                Ok(first)
            }
            Err(e) => {
                // Only a damaged bus fails after a message was written: those written
                // keep their blocks (their slots own them), the others are given back.
                for off in old_blobs {
                    let _ = r.with_heap(|hp| hp.free(off));
                }
                discard_messages(r, msgs.into_iter().skip(written));
                Err(e)
            }
        }
    }

    /// Wakes the filtered subscribers that sleep (or are about to) and whose prefix
    /// matches `topic` (`None`: every one). Call after the change they wait for (a
    /// commit, a shutdown).
    fn wake_rows(&self, ext: u64, topic: Option<&str>) -> Result<()> {
        let t: &TopicsHeader = self.r().map.get(ext)?;
        // The topic as the rows store prefixes (words of little-endian bytes, zero
        // padded), so a row is matched word by word, without copying it.
        let mut words = [0u64; 14];
        let topic_len = topic.map_or(0, |t| t.len());
        for (w, chunk) in words
            .iter_mut()
            .zip(topic.unwrap_or("").as_bytes().chunks(8))
        {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        // Dekker with the subscriber's `waiting` store and fence (see the module doc):
        // after this fence, either we see it waiting or it sees the change made before.
        fence(Ordering::SeqCst);
        let used = (t.used.load(Ordering::Relaxed) as u64).min(TOPIC_WAITERS);
        for row in 0..used {
            let w = self.waiter(ext, row)?;
            if w.owner.load(Ordering::Relaxed) == 0 || w.waiting.load(Ordering::Acquire) == 0 {
                continue;
            }
            if topic.is_some() && !prefix_matches(w, &words, topic_len) {
                continue;
            }
            // A spinning owner sees the bump; a sleeping one needs the system call. Both
            // SeqCst: either the owner, going to sleep, sees the bump, or we see it
            // sleeping.
            w.wake.fetch_add(1, Ordering::SeqCst);
            if w.waiting.load(Ordering::SeqCst) == ROW_SLEEPING {
                sys::futex_wake(&w.wake, i32::MAX);
            }
        }
        Ok(())
    }

    /// After taking the publisher lock from a dead publisher: [`count_committed`].
    fn repair(&self, _h: &BusHeader) -> Result<()> {
        count_committed(self.r(), self.base, self.capacity)
    }

    /// Closes the bus for every process: publishing fails with `Closed` from now on;
    /// subscribers receive what was published before, then `Closed`. Closing twice is
    /// not an error.
    pub fn shutdown(&self) -> Result<()> {
        let r = self.r();
        r.check_usable()?;
        let h = self.header()?;
        let procs = r.procs();
        if wait::lock_internal(&h.lock, r.token, &Deadline::forever(), &procs)?
            == Acquired::Recovered
        {
            if let Err(e) = self.repair(h) {
                wait::unlock(&h.lock); // a damaged bus: report it, never keep the lock
                return Err(e);
            }
        }
        h.closed.store(1, Ordering::SeqCst);
        wait::unlock(&h.lock);
        h.notify.fetch_add(1, Ordering::SeqCst);
        wait::wake_all(&h.notify, &h.sleepers, u32::MAX);
        if let Some(ext) = self.ext(false)? {
            self.wake_rows(ext, None)?;
        }
        Ok(())
    }

    /// The oldest message retained (a publisher may be overwriting it right now: the
    /// seqlock check then sends the subscriber on to the next one).
    fn oldest(&self, next_seq: u64) -> u64 {
        next_seq.saturating_sub(self.capacity).max(1)
    }

    /// A new subscription, starting with the next message ([`Start::Now`]) or the oldest
    /// retained one ([`Start::Oldest`]).
    pub fn subscribe(&self, from: Start) -> Result<Subscription> {
        self.subscribe_topic(from, "")
    }

    /// [`Bus::subscribe`] receiving only the messages whose topic starts with `prefix`
    /// (`""`: every message). A filtered subscription claims a row of the bus's waiter
    /// table, so that publishers of other topics never wake it; with the table full it
    /// sleeps on the bus-wide word instead (woken by every publish, and still receiving
    /// only its messages). `Unsupported` for a non-empty prefix on a bus made by older
    /// code.
    pub fn subscribe_topic(&self, from: Start, prefix: &str) -> Result<Subscription> {
        check_topic(prefix, "topic prefix")?;
        if !prefix.is_empty() && self.topics.is_none() {
            return Err(self.no_topics("subscribe with a topic prefix"));
        }
        let next_seq = self.next_seq()?;
        let next = match from {
            Start::Now => next_seq,
            Start::Oldest => self.oldest(next_seq),
        };
        let row = match prefix.is_empty() {
            false => match self.ext(true)? {
                Some(ext) => self.claim_row(ext, prefix)?,
                None => None,
            },
            true => None,
        };
        Ok(Subscription {
            bus: self.clone(),
            next,
            prefix: prefix.to_owned(),
            row,
            woken: 0,
        })
    }

    /// Claims a free row of the waiter table (or one whose owner died) for a
    /// subscription filtering by `prefix`; its absolute offset, or `None` when every
    /// row belongs to a live subscriber.
    fn claim_row(&self, ext: u64, prefix: &str) -> Result<Option<u64>> {
        let r = self.r();
        let t: &TopicsHeader = r.map.get(ext)?;
        let procs = r.procs();
        for dead_too in [false, true] {
            for row in 0..TOPIC_WAITERS {
                let w = self.waiter(ext, row)?;
                let owner = w.owner.load(Ordering::Acquire);
                let free = owner == 0 || (dead_too && procs.token_is_dead(owner));
                if !free
                    || w.owner
                        .compare_exchange(owner, r.token, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                {
                    continue;
                }
                // Ours. Not waiting yet; the prefix is written before `waiting` is
                // ever set (a publisher reads it only after seeing `waiting`).
                w.waiting.store(0, Ordering::SeqCst);
                store_bytes(&w.prefix, prefix.as_bytes());
                w.prefix_len.store(prefix.len() as u32, Ordering::Release);
                t.used.fetch_max(row as u32 + 1, Ordering::SeqCst);
                return Ok(Some(r.map.offset_of(w)));
            }
        }
        Ok(None)
    }
}

impl Subscription {
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The sequence number of the message this subscription receives next.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The topic prefix this subscription filters by (`""`: none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether this filtered subscription has a row in the bus's waiter table (false:
    /// the table was full, or it does not filter, and it sleeps on the bus-wide word).
    pub fn has_own_wake_word(&self) -> bool {
        self.row.is_some()
    }

    /// How many of this subscription's sleeps ended because a publisher of a matching
    /// topic (or a shutdown) moved its own wake word: a diagnostic showing that
    /// publishers of other topics never wake it.
    pub fn woken_by_publishers(&self) -> u64 {
        self.woken
    }

    /// The next message and its sequence number, waiting while there is none. A
    /// sequence number more than one above the previous one means the subscriber fell
    /// behind and the messages between were overwritten (or, when it filters, had other
    /// topics). `Closed` once the bus is closed and every message published before was
    /// received.
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<(Value, u64)> {
        self.next_until(&Deadline::after(timeout))
    }

    /// [`Subscription::next`] with a deadline.
    pub fn next_until(&mut self, deadline: &Deadline) -> Result<(Value, u64)> {
        self.receive(deadline, false).map(|(_, v, n)| (v, n))
    }

    /// The next message with its topic (`""` for a plain one) and sequence number.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<(String, Value, u64)> {
        self.receive(&Deadline::after(timeout), true)
    }

    /// The topic of message `n` in `slot` (`""`: none), or `Ok(None)` when the slot was
    /// rewritten while it was read. `whole`: all of it; otherwise only as many bytes as
    /// the prefix has (enough to filter).
    fn topic_of(&self, slot: &BusSlot, n: u64, whole: bool) -> Result<Option<Vec<u8>>> {
        let Some(ext) = self.bus.ext(false)? else {
            return Ok(Some(Vec::new()));
        };
        let rec = self.bus.topic_rec(ext, n)?;
        let mut topic = Vec::new();
        if rec.seq.load(Ordering::Acquire) == n {
            let len = rec.len.load(Ordering::Relaxed) as usize;
            if len > MAX_TOPIC_LEN {
                fence(Ordering::Acquire);
                if slot.seq.load(Ordering::Relaxed) != n {
                    return Ok(None);
                }
                return Err(Error::corrupt(format!(
                    "bus '{}', message {n}: topic length {len}",
                    self.bus.name
                )));
            }
            let want = if whole {
                len
            } else {
                len.min(self.prefix.len())
            };
            topic = load_bytes(&rec.bytes, want);
            if whole {
                // Only whole topics are handed out: they must be what was emitted.
                fence(Ordering::Acquire);
                if slot.seq.load(Ordering::Relaxed) != n {
                    return Ok(None);
                }
                if std::str::from_utf8(&topic).is_err() {
                    return Err(Error::corrupt(format!(
                        "bus '{}', message {n}: topic is not UTF-8",
                        self.bus.name
                    )));
                }
            }
        }
        fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) != n {
            return Ok(None);
        }
        Ok(Some(topic))
    }

    fn receive(&mut self, deadline: &Deadline, with_topic: bool) -> Result<(String, Value, u64)> {
        let bus = &self.bus;
        let r = bus.r();
        r.check_usable()?;
        let h = bus.header()?;
        let filtered = !self.prefix.is_empty();
        loop {
            let n = checked_seq(self.next)?;
            let slot = bus.slot(n)?;
            let s = slot.seq.load(Ordering::Acquire);
            if s == n {
                let topic = if filtered || with_topic {
                    match self.topic_of(slot, n, with_topic)? {
                        Some(t) => t,
                        None => continue, // overwritten while reading
                    }
                } else {
                    Vec::new()
                };
                if !topic_matches(&topic, self.prefix.as_bytes()) {
                    self.next = n + 1; // another topic: not for this subscription
                    continue;
                }
                match self.copy(slot, n)? {
                    Some(v) => {
                        self.next = n + 1;
                        // Checked UTF-8 in `topic_of` when whole. Without the topic, no
                        // conversion at all: moving the empty Vec into a String reloaded
                        // it wider than it was stored (a store-forwarding stall on every
                        // message).
                        let topic = match with_topic {
                            true => String::from_utf8(topic).unwrap_or_default(),
                            false => String::new(),
                        };
                        return Ok((topic, v, n));
                    }
                    None => continue, // overwritten while copying
                }
            }
            let held = s & !BUS_BUSY;
            if s != 0 && held > n {
                // Message n was overwritten: skip to the oldest one retained.
                let next_seq = h.next_seq.load(Ordering::Acquire);
                if held > next_seq {
                    // A slot is committed (or marked BUSY) before `next_seq` moves past
                    // it, never after: a slot ahead of `next_seq` is damage (and
                    // stepping towards it one message at a time would never end).
                    return Err(Error::corrupt(format!(
                        "bus '{}': a slot holds message {held}, but only {next_seq} were published",
                        bus.name
                    )));
                }
                self.next = bus.oldest(next_seq).max(n + 1);
                continue;
            }
            // Message n is not published yet.
            if let Some(row) = self.row {
                // A filtered subscription with its own wake word: only publishers of
                // matching topics move it, so other topics never end its spin or sleep.
                let w: &TopicWaiter = r.map.get(row)?;
                let wake_seen = w.wake.load(Ordering::SeqCst);
                w.waiting.store(ROW_SPINNING, Ordering::SeqCst);
                // Dekker with `Bus::wake_rows` (see the module doc).
                fence(Ordering::SeqCst);
                let quiet =
                    slot.seq.load(Ordering::SeqCst) == s && h.next_seq.load(Ordering::SeqCst) <= n;
                if !quiet {
                    w.waiting.store(ROW_IDLE, Ordering::Relaxed);
                    continue;
                }
                if h.closed.load(Ordering::SeqCst) != 0 {
                    w.waiting.store(ROW_IDLE, Ordering::Relaxed);
                    return Err(Error::Closed);
                }
                let woke = || w.wake.load(Ordering::Acquire) != wake_seen;
                if wait::spin_until(&w.wake, deadline, woke) {
                    w.waiting.store(ROW_IDLE, Ordering::Relaxed);
                    continue;
                }
                let removal = r.removed_word();
                let removal_seen = removal.load(Ordering::SeqCst);
                w.waiting.store(ROW_SLEEPING, Ordering::SeqCst);
                let result = match r.check_usable() {
                    Ok(()) => wait::sleep_on_word_or_removed(
                        &w.wake,
                        wake_seen,
                        deadline,
                        removal,
                        removal_seen,
                    ),
                    Err(e) => Err(e),
                };
                w.waiting.store(ROW_IDLE, Ordering::Relaxed);
                if w.wake.load(Ordering::Relaxed) != wake_seen {
                    self.woken += 1;
                }
                result?;
                r.check_usable()?;
                continue;
            }
            let seen = h.notify.load(Ordering::SeqCst);
            if slot.seq.load(Ordering::SeqCst) != s {
                continue;
            }
            if h.closed.load(Ordering::SeqCst) != 0 {
                return Err(Error::Closed);
            }
            let moved = || {
                slot.seq.load(Ordering::Acquire) != s || h.notify.load(Ordering::Acquire) != seen
            };
            // Subscribers are often more than the CPUs: the spin yields (every
            // wait::SPIN_YIELD_EVERY), so the publisher and the other subscribers keep
            // running (benches/README.md, E9/E9a; benches/peers).
            if wait::spin_until(h, deadline, moved) {
                continue;
            }
            // The removal word before the check: a removal after this load wakes the
            // sleep below, one before it fails the check.
            let removal = r.removed_word();
            let removal_seen = removal.load(Ordering::SeqCst);
            r.check_usable()?;
            wait::sleep_while_equal_or_removed_due(
                &h.notify,
                seen,
                &h.due_sleepers(),
                deadline,
                removal,
                removal_seen,
            )?;
            r.check_usable()?;
        }
    }

    /// Copies message `n` out of `slot`; `None` if it was overwritten meanwhile.
    fn copy(&self, slot: &BusSlot, n: u64) -> Result<Option<Value>> {
        let r = self.bus.r();
        let m = slot.meta.load(Ordering::Relaxed);
        let p = slot.payload.load(Ordering::Relaxed);
        let mut bytes = None;
        if m & META_SLOT_BYTES != 0 {
            let len = (m & SLOT_LEN_MASK) as usize;
            if len <= BUS_INLINE_MAX {
                let mut buf = Vec::with_capacity(len.div_ceil(8) * 8);
                for w in slot.inline.iter().take(len.div_ceil(8)) {
                    buf.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
                }
                buf.truncate(len);
                bytes = Some(buf);
            }
        } else if meta_in_heap(m) {
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != n {
                return Ok(None);
            }
            match copy_blob(r, p, m & META_LEN_MASK) {
                Ok(b) => bytes = Some(b),
                Err(e) => {
                    if slot.seq.load(Ordering::Acquire) != n {
                        return Ok(None);
                    }
                    return Err(e);
                }
            }
        }
        // Seqlock check: everything above belongs to message n only if seq is unchanged.
        fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) != n {
            return Ok(None);
        }
        let m = m & !META_SLOT_BYTES;
        let v = decode_value(m, p, |_, _| {
            bytes
                .take()
                .ok_or_else(|| Error::corrupt("bus message has a bad length"))
        });
        v.map(Some).map_err(|e| match e {
            Error::Corrupt(msg) => Error::corrupt(format!("bus '{}': {msg}", self.bus.name)),
            e => e,
        })
    }
}

impl Drop for Subscription {
    /// Gives the subscription's waiter-table row back (one compare-and-swap from this
    /// attachment's token to 0; a process that dies first leaves the row to be claimed
    /// back by whoever finds its owner dead).
    fn drop(&mut self) {
        let Some(row) = self.row else { return };
        let r = self.bus.r();
        if r.check_usable().is_err() {
            return; // a forked child's copy, or a removed region: nothing to give back
        }
        if let Ok(w) = r.map.get::<TopicWaiter>(row) {
            w.waiting.store(0, Ordering::Relaxed);
            let _ = w
                .owner
                .compare_exchange(r.token, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}

/// Gives back the heap blocks of prepared messages that were not published.
fn discard_messages(r: &RegionInner, msgs: impl IntoIterator<Item = Message>) {
    for m in msgs {
        if let Some(p) = m.blob {
            discard_value(r, p);
        }
    }
}

// ---- crash recovery, checker and sweep ----

/// Under the publisher lock taken over from a dead publisher (bus body at `base`, of
/// `capacity` slots): if it committed its message but died before advancing `next_seq`,
/// advances it (that message was delivered). The next publisher and the sweep both use
/// this.
fn count_committed(r: &RegionInner, base: u64, capacity: u64) -> Result<()> {
    let h: &BusHeader = r.map.get(base)?;
    let next = checked_seq(h.next_seq.load(Ordering::Relaxed))?;
    if next == 0 || capacity == 0 {
        return Err(Error::corrupt("bus header is damaged"));
    }
    let slot: &BusSlot = r.map.get(base + B_HEADER + (next % capacity) * SLOT)?;
    if slot.seq.load(Ordering::Acquire) == next {
        h.next_seq.store(next + 1, Ordering::Release);
    }
    Ok(())
}

/// Why the topics extension at `ext` does not belong to a bus of `capacity` messages
/// (`Err`), checked at open so that every later offset computed from it lies inside it.
fn check_topics(
    map: &Mapping,
    fx: &FixedHeader,
    ext: u64,
    capacity: u64,
) -> std::result::Result<(), String> {
    let size = topics_size(capacity).ok_or("its topics extension overflows")?;
    if ext < fx.heap_offset
        || ext % 64 != 0
        || ext.checked_add(size).is_none_or(|end| end > fx.total_size)
    {
        return Err(format!(
            "its topics extension at {ext:#x} lies outside the heap"
        ));
    }
    let t: &TopicsHeader = map.get(ext).map_err(|e| e.to_string())?;
    if t.magic.load(Ordering::Relaxed) != TOPICS_MAGIC
        || t.rows.load(Ordering::Relaxed) as u64 != TOPIC_WAITERS
        || t.capacity.load(Ordering::Relaxed) != capacity
    {
        return Err("its topics extension has a damaged header".into());
    }
    Ok(())
}

/// The topics extension of the bus whose body is `o`, if it has one (and it is sound).
fn topics_of(r: &RegionInner, o: &Placed<'_>) -> Option<u64> {
    if o.flags & BUS_FLAG_TOPICS == 0 {
        return None;
    }
    let h: &BusHeader = r.map.get(o.body).ok()?;
    let ext = h.topics.load(Ordering::Acquire);
    if ext == 0 {
        return None;
    }
    check_topics(&r.map, &r.fixed, ext, o.shape)
        .ok()
        .map(|()| ext)
}

/// Gives back the waiter-table rows of subscribers whose process died (one
/// compare-and-swap each, as a new subscriber claiming one does); how many.
fn reclaim_dead_rows(r: &RegionInner, ext: u64) -> Result<u32> {
    let procs = r.procs();
    let mut n = 0;
    for row in 0..TOPIC_WAITERS {
        let w: &TopicWaiter = r.map.get(ext + T_HEADER + row * T_ROW)?;
        let owner = w.owner.load(Ordering::Acquire);
        if owner != 0
            && procs.token_is_dead(owner)
            && w.owner
                .compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            n += 1;
        }
    }
    Ok(n)
}

pub(crate) const OPS: KindOps = KindOps {
    spec: &BUS_KIND,
    label: |_| "bus",
    scan,
    sweep,
    release,
};

/// Frees the messages a removed bus still holds in the heap (committed slots whose value
/// does not live in the slot itself).
fn release(r: &RegionInner, o: &Placed<'_>) -> Result<()> {
    for i in 0..o.shape {
        let s: &BusSlot = r.map.get(o.body + B_HEADER + i * SLOT)?;
        let seq = s.seq.load(Ordering::Acquire);
        let m = s.meta.load(Ordering::Acquire);
        if seq != 0
            && seq & BUS_BUSY == 0
            && m & META_SLOT_BYTES == 0
            && crate::shm::kinds::element::meta_in_heap(m)
        {
            r.with_heap(|h| h.free_at(r.map.offset_of(&s.payload)))?;
        }
    }
    if let Some(_ext) = topics_of(r, o) {
        let h: &BusHeader = r.map.get(o.body)?;
        r.with_heap(|hp| hp.free_at(r.map.offset_of(&h.topics)))?;
    }
    Ok(())
}

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let h: &BusHeader = r.map.get(o.body)?;
    let cap = h.capacity.load(Ordering::Relaxed);
    if cap == 0 || cap != o.shape {
        return Err(Error::corrupt("bus header is damaged"));
    }
    done.lock_taken_over(r.take_over_dead(&h.lock, |_| count_committed(r, o.body, cap))?);
    if let Some(ext) = topics_of(r, o) {
        reclaim_dead_rows(r, ext)?;
    }
    Ok(())
}

/// Checks a bus's topics extension: referenced as one heap block, and its waiter rows
/// (rows of dead subscribers are stale: the next subscriber or the sweep takes them
/// back). Returns the extension when it is sound (its topic records are then checked
/// per slot).
fn scan_topics(sc: &mut Scan<'_>, o: &Placed<'_>, h: &BusHeader) -> Option<u64> {
    if o.flags & BUS_FLAG_TOPICS == 0 {
        return None;
    }
    let loc = o.loc;
    let ext = h.topics.load(Ordering::Acquire);
    if ext == 0 {
        return None; // no topic used yet
    }
    if let Err(why) = check_topics(sc.map, &sc.fx, ext, o.shape) {
        sc.problem(loc, why);
        return None;
    }
    let size = topics_size(o.shape)?;
    if !sc.reference(ext, size, || format!("{loc} topics")) && sc.heap_walk_ok {
        return None;
    }
    for row in 0..TOPIC_WAITERS {
        let Ok(w) = sc.map.get::<TopicWaiter>(ext + T_HEADER + row * T_ROW) else {
            return None;
        };
        let owner = w.owner.load(Ordering::Acquire);
        if owner == 0 {
            continue;
        }
        let len = w.prefix_len.load(Ordering::Relaxed) as usize;
        if len == 0 || len > MAX_TOPIC_LEN {
            sc.problem(
                format!("{loc} subscriber row {row}"),
                format!("invalid prefix length {len}"),
            );
            continue;
        }
        let prefix = String::from_utf8_lossy(&load_bytes(&w.prefix, len)).into_owned();
        // (The checker's mapping is read-only: ask, never reap.)
        if !matches!(sc.procs.token_owner(owner), Some((_, true))) {
            let who = sc.gone(owner);
            sc.stale(
                format!("{loc} subscriber row {row} (topic prefix '{prefix}')"),
                format!("belongs to {who} (the next subscriber takes it back)"),
            );
        }
    }
    Some(ext)
}

/// Checks the topic record of the committed message `seq` in slot `i`.
fn scan_topic_rec(sc: &mut Scan<'_>, loc: &str, ext: u64, capacity: u64, i: u64, seq: u64) {
    let Ok(rec) = sc
        .map
        .get::<TopicRec>(ext + T_HEADER + TOPIC_WAITERS * T_ROW + i * T_REC)
    else {
        return;
    };
    if rec.seq.load(Ordering::Acquire) != seq || capacity == 0 {
        return; // a plain message
    }
    let len = rec.len.load(Ordering::Relaxed) as usize;
    let bytes = load_bytes(&rec.bytes, len);
    if len > MAX_TOPIC_LEN || std::str::from_utf8(&bytes).is_err() {
        sc.problem(
            format!("{loc} slot {i}"),
            format!("message {seq} has an invalid topic (length {len})"),
        );
    }
}

fn scan(sc: &mut Scan<'_>, o: &Placed<'_>) {
    let (loc, base, capacity) = (o.loc, o.body, o.shape);
    let Ok(h) = sc.map.get::<BusHeader>(base) else {
        return;
    };
    if h.capacity.load(Ordering::Relaxed) != capacity || capacity == 0 {
        sc.problem(loc, "damaged header (capacity)");
        return;
    }
    let next = h.next_seq.load(Ordering::Acquire);
    if next == 0 {
        sc.problem(loc, "damaged header (next sequence number 0)");
        return;
    }
    let lock = sc.lock_word(&h.lock, || loc.to_owned());
    let ext = scan_topics(sc, o, h);
    for i in 0..capacity {
        let Ok(s) = sc.map.get::<BusSlot>(base + B_HEADER + i * SLOT) else {
            return;
        };
        let seq = s.seq.load(Ordering::Acquire);
        let sloc = || format!("{loc} slot {i}");
        if seq & BUS_BUSY != 0 {
            // A publisher killed while writing the slot of message `next` leaves it BUSY
            // (holding no message) until the next publish overwrites it: subscribers
            // skip it, and nothing needs repair. BUSY anywhere else, with the lock not
            // held by a live publisher, is left over from an older state.
            if lock != Some(true) && seq & !BUS_BUSY != next {
                sc.stale(
                    sloc(),
                    "left half-written by a publisher that died (holds no message)",
                );
            }
            continue;
        }
        if seq == 0 {
            continue;
        }
        // The newest message may be committed but not yet counted in `next_seq`
        // when its publisher died (the next publisher repairs that).
        if seq % capacity != i || seq > next || (seq == next && lock.is_none()) {
            sc.problem(sloc(), format!("holds message {seq}, next is {next}"));
            continue;
        }
        if let Some(ext) = ext {
            scan_topic_rec(sc, loc, ext, capacity, i, seq);
        }
        let m = s.meta.load(Ordering::Relaxed);
        if m & META_SLOT_BYTES != 0 {
            let len = m & META_LEN_MASK & !META_SLOT_BYTES;
            let t = m >> 56;
            if !(9..=BUS_INLINE_MAX as u64).contains(&len)
                || !(Type::String as u64..=Type::Object as u64).contains(&t)
                || m & META_INLINE != 0
            {
                sc.problem(sloc(), format!("invalid message word {m:#x}"));
            }
            continue;
        }
        let p = s.payload.load(Ordering::Relaxed);
        sc.value(m, p, true, &sloc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::kinds::unit_region;
    use std::time::Instant;

    /// A bus as a version of plexus without topics made it: no BUS_FLAG_TOPICS.
    fn old_layout_bus(r: &Region, name: &str, capacity: u64) -> Bus {
        let inner = &r.inner;
        let (obj, held) = r
            .open_held(name, &BUS_KIND, capacity, false, 0, |off| {
                let h: &BusHeader = inner.map.get(off + OBJ_HEADER)?;
                h.capacity.store(capacity, Ordering::Relaxed);
                h.next_seq.store(1, Ordering::Relaxed);
                Ok(())
            })
            .unwrap();
        drop((obj, held));
        r.bus(name, capacity, 0).unwrap()
    }

    #[test]
    fn rows_match_prefixes_word_by_word_as_topics_match_bytewise() {
        let row = |prefix: &str| {
            let w: TopicWaiter = unsafe_zeroed_row();
            store_bytes(&w.prefix, prefix.as_bytes());
            w.prefix_len.store(prefix.len() as u32, Ordering::Relaxed);
            w
        };
        let topics = [
            "",
            "a",
            "ab",
            "job.done",
            "job.done.",
            "job.done.late",
            "jöb.ü",
            "x".repeat(112).leak(),
        ];
        for t in topics {
            let mut words = [0u64; 14];
            for (w, c) in words.iter_mut().zip(t.as_bytes().chunks(8)) {
                let mut b = [0u8; 8];
                b[..c.len()].copy_from_slice(c);
                *w = u64::from_le_bytes(b);
            }
            for p in topics
                .iter()
                .chain(&["j", "job.", "job.done.l", "jöb", "y"])
            {
                assert_eq!(
                    prefix_matches(&row(p), &words, t.len()),
                    topic_matches(t.as_bytes(), p.as_bytes()),
                    "topic {t:?}, prefix {p:?}"
                );
            }
        }
    }

    /// A publisher killed while it wrote the slot of the next message leaves that slot
    /// BUSY with the lock free once it is taken over: the next publish overwrites it, and
    /// a check calls the region consistent (it once called it stale, which no repair can
    /// clear). BUSY in any other slot is still reported.
    #[test]
    fn the_slot_a_killed_publisher_left_busy_is_no_finding() {
        let (r, name) = unit_region("bus-busy-slot");
        let b = r.bus("b", 4, 0).unwrap();
        b.publish(ValueRef::Int(1)).unwrap();
        let next = b.next_seq().unwrap();
        let check = || crate::shm::check::check(&name, &Default::default()).unwrap();
        b.slot(next)
            .unwrap()
            .seq
            .store(next | BUS_BUSY, Ordering::Release);
        let report = check();
        assert_eq!(
            report.verdict(),
            crate::shm::check::Verdict::Consistent,
            "{report:?}"
        );
        // The next publish takes the slot, as after a real kill.
        assert_eq!(b.publish(ValueRef::Int(2)).unwrap(), next);
        let mut sub = b.subscribe(Start::Oldest).unwrap();
        assert_eq!(sub.next(Some(Duration::ZERO)).unwrap().0, Value::Int(1));
        assert_eq!(sub.next(Some(Duration::ZERO)).unwrap().0, Value::Int(2));
        // BUSY on a slot of an older message: stale.
        b.slot(next - 1)
            .unwrap()
            .seq
            .store((next - 1) | BUS_BUSY, Ordering::Release);
        let report = check();
        assert!(
            format!("{report:?}").contains("left half-written by a publisher that died"),
            "{report:?}"
        );
        drop((sub, b));
    }

    /// A row of zeros (every field is an atomic, valid at zero).
    fn unsafe_zeroed_row() -> TopicWaiter {
        // SAFETY: TopicWaiter is made only of atomics, for which all-zero is valid.
        unsafe { std::mem::zeroed() }
    }

    #[test]
    fn an_old_layout_bus_still_works_and_refuses_topics_with_a_message() {
        let (r, name) = unit_region("bus-old-layout");
        let b = old_layout_bus(&r, "old", 4);
        assert!(!b.has_topics());
        let mut plain = b.subscribe(Start::Now).unwrap();
        assert_eq!(b.publish(ValueRef::Int(1)).unwrap(), 1);
        assert_eq!(
            b.emit("", ValueRef::Int(2)).unwrap(),
            2,
            "'' is a plain publish"
        );
        match b.emit("job.done", ValueRef::Int(3)) {
            Err(Error::Unsupported(m)) => assert!(m.contains("older version"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            b.subscribe_topic(Start::Now, "job."),
            Err(Error::Unsupported(_))
        ));
        assert_eq!(plain.next_event(Some(Duration::ZERO)).unwrap().2, 1);
        assert_eq!(
            plain.next_event(Some(Duration::ZERO)).unwrap(),
            (String::new(), Value::Int(2), 2)
        );
        // A bus made now has topics (allocated at first use only).
        let new = r.bus("new", 4, 0).unwrap();
        assert!(new.has_topics() && new.ext(false).unwrap().is_none());
        new.emit("t", ValueRef::Int(1)).unwrap();
        assert!(new.ext(false).unwrap().is_some());
        drop((b, plain, new, r));
        Region::remove(&name).unwrap();
    }

    /// Subscribers that sleep before every message (one message per 5 ms teaches them
    /// not to spin) are each woken by the publish they wait for, never left to their
    /// sleep's one-second slice, though publishers make the system call only when a
    /// sleeper arrived since the last one.
    #[test]
    fn sleeping_subscribers_wake_for_every_message() {
        let (r, name) = unit_region("bus-sleepers");
        let b = r.bus("b", 64, 0).unwrap();
        const N: u64 = 40;
        let latest = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let subs: Vec<_> = (0..3)
            .map(|_| {
                let mut sub = b.subscribe(Start::Now).unwrap();
                std::thread::spawn(move || {
                    let mut late = Duration::ZERO;
                    for i in 1..=N {
                        let (v, n) = sub.next(Some(Duration::from_secs(30))).unwrap();
                        let Value::Int(sent_us) = v else {
                            panic!("{v:?}")
                        };
                        assert_eq!(n, i);
                        let now = std::time::UNIX_EPOCH.elapsed().unwrap().as_micros() as i64;
                        late = late.max(Duration::from_micros((now - sent_us).max(0) as u64));
                    }
                    late
                })
            })
            .collect();
        let h = b.header().unwrap();
        let mut slept = 0;
        for _ in 1..=N {
            std::thread::sleep(Duration::from_millis(5));
            slept += h.sleepers.load(Ordering::SeqCst);
            let now = std::time::UNIX_EPOCH.elapsed().unwrap().as_micros() as i64;
            b.publish(ValueRef::Int(now)).unwrap();
        }
        for t in subs {
            latest.lock().unwrap().push(t.join().unwrap());
        }
        assert!(
            slept > 0,
            "the subscribers never slept: the test proves nothing"
        );
        let worst = latest.lock().unwrap().iter().max().copied().unwrap();
        assert!(
            worst < Duration::from_millis(500),
            "a subscriber received a message {worst:?} after its publish"
        );
        drop((b, r));
        Region::remove(&name).unwrap();
    }

    /// A sleeper of older code counts itself in `sleepers` only (not `aware`, no
    /// `wake_due`): a publisher still wakes it at once.
    #[test]
    fn a_sleeper_of_older_code_is_woken() {
        let (r, name) = unit_region("bus-old-sleeper");
        let b = r.bus("b", 8, 0).unwrap();
        let base = b.base;
        let inner = r.inner.clone();
        let seen = b.header().unwrap().notify.load(Ordering::SeqCst);
        let sleeper = std::thread::spawn(move || {
            let h: &BusHeader = inner.map.get(base).unwrap();
            h.sleepers.fetch_add(1, Ordering::SeqCst);
            let t0 = Instant::now();
            // FUTEX_WAIT for up to 20 s, without the engine's slices.
            let ts = libc::timespec {
                tv_sec: 20,
                tv_nsec: 0,
            };
            while h.notify.load(Ordering::SeqCst) == seen && t0.elapsed() < Duration::from_secs(20)
            {
                // SAFETY: `notify` is a live, aligned word of the mapping; `ts` is on this
                // frame.
                unsafe {
                    libc::syscall(
                        libc::SYS_futex,
                        h.notify.as_ptr(),
                        libc::FUTEX_WAIT,
                        seen,
                        &ts as *const libc::timespec,
                        std::ptr::null::<u32>(),
                        0u32,
                    );
                }
            }
            h.sleepers.fetch_sub(1, Ordering::SeqCst);
            t0.elapsed()
        });
        let h = b.header().unwrap();
        while h.sleepers.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(100)); // inside FUTEX_WAIT by now
        assert_eq!(h.wake_due.load(Ordering::SeqCst), 0);
        b.publish(ValueRef::Int(1)).unwrap();
        let took = sleeper.join().unwrap();
        assert!(took < Duration::from_secs(10), "woken after {took:?}");
        drop((b, r));
        Region::remove(&name).unwrap();
    }
}
