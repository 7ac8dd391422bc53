//! The region file format: every shared-memory struct, its size, and its encoding.
//!
//! Format rules (DESIGN §2): offsets, never pointers; every struct `#[repr(C)]` with its
//! size asserted; every field that more than one process touches is an atomic. The fixed
//! part of the header is read once at open, validated, and cached: later code never
//! trusts an offset read from shared memory without a bounds check.
//!
//! ```text
//! 0        header (4 KiB): fixed fields + checksum, then the live allocator/directory words
//! 4096     process table: PROC_CAPACITY entries of 256 bytes
//! ...      directory: DIR_CAPACITY entries of 128 bytes
//! ...      heap (4 KiB aligned) up to the end of the file
//! ```

use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::{Error, Result};

/// First eight bytes of every region file.
pub const MAGIC: [u8; 8] = *b"PLEXUS\0R";
/// Bumped whenever the layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
/// Written in native order: reads back differently on a machine of the other byte order.
pub const BYTE_ORDER_MARK: u32 = 0x0102_0304;
pub const HEADER_SIZE: u64 = 4096;
pub const PROC_CAPACITY: u32 = 512;
pub const DIR_CAPACITY: u32 = 256;
/// Longest object name, in bytes of UTF-8.
pub use crate::semantics::names::MAX_NAME_LEN;
/// Smallest heap a region may have.
pub const MIN_HEAP: u64 = 64 * 1024;
/// Default region size (the file is reserved, not touched, so pages are mapped lazily).
pub const DEFAULT_SIZE: u64 = 64 * 1024 * 1024;
/// Largest region size accepted (offsets stay far below 2^56).
pub const MAX_SIZE: u64 = 1 << 44;

/// The fixed, immutable part of the header (first 128 bytes). Parsed from bytes, never
/// accessed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    pub format_version: u32,
    pub total_size: u64,
    pub created_unix_ns: u64,
    pub region_id: u64,
    pub proc_offset: u64,
    pub proc_capacity: u32,
    pub dir_offset: u64,
    pub dir_capacity: u32,
    pub heap_offset: u64,
    pub heap_size: u64,
}

// Byte offsets of the fixed fields.
const F_MAGIC: usize = 0;
const F_VERSION: usize = 8;
const F_BYTE_ORDER: usize = 12;
const F_POINTER_WIDTH: usize = 16;
const F_HEADER_SIZE: usize = 20;
const F_TOTAL: usize = 24;
const F_CREATED: usize = 32;
const F_ID: usize = 40;
const F_PROC_OFF: usize = 48;
const F_PROC_CAP: usize = 56;
const F_PROC_ESZ: usize = 60;
const F_DIR_OFF: usize = 64;
const F_DIR_CAP: usize = 72;
const F_DIR_ESZ: usize = 76;
const F_HEAP_OFF: usize = 80;
const F_HEAP_SIZE: usize = 88;
const F_ELEM_SIZE: usize = 96;
const F_CHECKSUM: usize = 104;
/// Bytes covered by the checksum.
const CHECKSUMMED: usize = 104;
/// Offset of [`LiveHeader`] inside the header page.
pub const LIVE_OFFSET: u64 = 128;

/// FNV-1a, 64 bit: detects accidental corruption of the fixed header.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

impl FixedHeader {
    /// The layout of a new region of `total_size` bytes (already rounded to pages).
    pub fn new(total_size: u64, region_id: u64, created_unix_ns: u64) -> FixedHeader {
        let proc_offset = HEADER_SIZE;
        let dir_offset = proc_offset + PROC_CAPACITY as u64 * size_of::<ProcEntry>() as u64;
        let heap_offset = round_up(
            dir_offset + DIR_CAPACITY as u64 * size_of::<DirEntry>() as u64,
            4096,
        );
        FixedHeader {
            format_version: FORMAT_VERSION,
            total_size,
            created_unix_ns,
            region_id,
            proc_offset,
            proc_capacity: PROC_CAPACITY,
            dir_offset,
            dir_capacity: DIR_CAPACITY,
            heap_offset,
            heap_size: total_size - heap_offset,
        }
    }

    /// Bytes of the region's metadata before the heap: the minimum size is this plus MIN_HEAP.
    pub fn overhead() -> u64 {
        FixedHeader::new(1 << 20, 0, 0).heap_offset
    }

    /// Serializes the fixed header, checksum included.
    pub fn encode(&self) -> [u8; LIVE_OFFSET as usize] {
        let mut b = [0u8; LIVE_OFFSET as usize];
        b[F_MAGIC..F_MAGIC + 8].copy_from_slice(&MAGIC);
        put_u32(&mut b, F_VERSION, self.format_version);
        put_u32(&mut b, F_BYTE_ORDER, BYTE_ORDER_MARK);
        put_u32(&mut b, F_POINTER_WIDTH, usize::BITS);
        put_u32(&mut b, F_HEADER_SIZE, HEADER_SIZE as u32);
        put_u64(&mut b, F_TOTAL, self.total_size);
        put_u64(&mut b, F_CREATED, self.created_unix_ns);
        put_u64(&mut b, F_ID, self.region_id);
        put_u64(&mut b, F_PROC_OFF, self.proc_offset);
        put_u32(&mut b, F_PROC_CAP, self.proc_capacity);
        put_u32(&mut b, F_PROC_ESZ, size_of::<ProcEntry>() as u32);
        put_u64(&mut b, F_DIR_OFF, self.dir_offset);
        put_u32(&mut b, F_DIR_CAP, self.dir_capacity);
        put_u32(&mut b, F_DIR_ESZ, size_of::<DirEntry>() as u32);
        put_u64(&mut b, F_HEAP_OFF, self.heap_offset);
        put_u64(&mut b, F_HEAP_SIZE, self.heap_size);
        put_u32(&mut b, F_ELEM_SIZE, size_of::<Element>() as u32);
        let sum = fnv1a(&b[..CHECKSUMMED]);
        put_u64(&mut b, F_CHECKSUM, sum);
        b
    }

    /// Parses and validates a header read from a file of `file_size` bytes. Foreign files
    /// and damage give `Corrupt`; another format version, byte order or pointer width
    /// gives `Incompatible`.
    pub fn decode(b: &[u8], file_size: u64) -> Result<FixedHeader> {
        if b.len() < LIVE_OFFSET as usize || b[F_MAGIC..F_MAGIC + 8] != MAGIC {
            return Err(Error::corrupt("not a plexus region (bad magic)"));
        }
        let order = get_u32(b, F_BYTE_ORDER);
        if order != BYTE_ORDER_MARK {
            return Err(Error::Incompatible(
                if order == BYTE_ORDER_MARK.swap_bytes() {
                    "region was created on a machine of the other byte order".into()
                } else {
                    "byte-order mark damaged".into()
                },
            ));
        }
        let version = get_u32(b, F_VERSION);
        if version != FORMAT_VERSION {
            return Err(Error::Incompatible(format!(
                "region format version {version}, this library reads version {FORMAT_VERSION}"
            )));
        }
        if get_u32(b, F_POINTER_WIDTH) != usize::BITS {
            return Err(Error::Incompatible(format!(
                "region created by a {}-bit process, this one is {}-bit",
                get_u32(b, F_POINTER_WIDTH),
                usize::BITS
            )));
        }
        if get_u64(b, F_CHECKSUM) != fnv1a(&b[..CHECKSUMMED]) {
            return Err(Error::corrupt("header checksum mismatch"));
        }
        let h = FixedHeader {
            format_version: version,
            total_size: get_u64(b, F_TOTAL),
            created_unix_ns: get_u64(b, F_CREATED),
            region_id: get_u64(b, F_ID),
            proc_offset: get_u64(b, F_PROC_OFF),
            proc_capacity: get_u32(b, F_PROC_CAP),
            dir_offset: get_u64(b, F_DIR_OFF),
            dir_capacity: get_u32(b, F_DIR_CAP),
            heap_offset: get_u64(b, F_HEAP_OFF),
            heap_size: get_u64(b, F_HEAP_SIZE),
        };
        let sizes_ok = get_u32(b, F_HEADER_SIZE) as u64 == HEADER_SIZE
            && get_u32(b, F_PROC_ESZ) as usize == size_of::<ProcEntry>()
            && get_u32(b, F_DIR_ESZ) as usize == size_of::<DirEntry>()
            && get_u32(b, F_ELEM_SIZE) as usize == size_of::<Element>();
        if !sizes_ok {
            return Err(Error::Incompatible(
                "structure sizes differ from this build".into(),
            ));
        }
        if h.total_size != file_size {
            return Err(Error::corrupt(format!(
                "file is {file_size} bytes but the header says {} (truncated or extended)",
                h.total_size
            )));
        }
        // The layout must be exactly the one this version computes for that size.
        let expect = FixedHeader::new(h.total_size, h.region_id, h.created_unix_ns);
        if h.total_size > MAX_SIZE || h.total_size < expect.heap_offset + MIN_HEAP || h != expect {
            return Err(Error::corrupt("inconsistent layout in header"));
        }
        Ok(h)
    }
}

pub const fn round_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

/// Number of allocator size classes (see `heap.rs`).
pub const NCLASSES: usize = 167;

/// The mutable part of the header, at [`LIVE_OFFSET`].
#[repr(C)]
pub struct LiveHeader {
    /// Robust lock word (owner token, see `lock.rs`) guarding the allocator.
    pub alloc_lock: AtomicU32,
    /// Robust lock word guarding directory insertion.
    pub dir_lock: AtomicU32,
    /// Futex word bumped after each object is published (wakes `wait_object`).
    pub dir_seq: AtomicU32,
    /// Number of processes sleeping on `dir_seq`.
    pub dir_sleepers: AtomicU32,
    /// Bump pointer: bytes of the heap handed out so far (relative to `heap_offset`).
    pub heap_top: AtomicU64,
    /// Bytes in allocated blocks (headers included). Advisory: may drift after a crash.
    pub heap_used: AtomicU64,
    /// Number of process-table entries ever cleared because their process died (bumped
    /// by whoever reaps one). Zero in regions created before it existed.
    pub reaped: AtomicU64,
    /// The value of `reaped` when the last sweep for stale locks started (see
    /// `check.rs`): an open that finds the two different sweeps the region.
    pub swept: AtomicU64,
    pub _reserved: [AtomicU64; 10],
    /// Free-list heads per size class: absolute offset of the first free block, 0 = empty.
    pub free_heads: [AtomicU64; NCLASSES],
}
const _: () = assert!(size_of::<LiveHeader>() == 128 + NCLASSES * 8);
const _: () = assert!(LIVE_OFFSET as usize + size_of::<LiveHeader>() <= HEADER_SIZE as usize);

/// One attached process (one `Region` open) in the process table.
///
/// `word` = `generation << 32 | pid`; pid 0 means free. The generation is bumped each time
/// an entry is released, so lock owner tokens issued to a previous holder become stale.
#[repr(C)]
pub struct ProcEntry {
    pub word: AtomicU64,
    /// Start time of the process in clock ticks after boot (detects pid reuse); 0 = unknown.
    pub start_ticks: AtomicU64,
    pub attached_unix_ns: AtomicU64,
    pub _reserved: AtomicU64,
    /// Elements on which this attachment holds a `read_rw` lock: absolute element offsets,
    /// 0 = unused. Reader counts are recomputed from these records after a crash.
    pub rw_held: [AtomicU64; RW_RECORDS],
}
pub const RW_RECORDS: usize = 28;
const _: () = assert!(size_of::<ProcEntry>() == 256);

/// Directory entry for one named object. Written completely, then published by storing
/// `state = DIR_READY` (release); never modified afterwards.
#[repr(C)]
pub struct DirEntry {
    pub state: AtomicU32,
    /// One of the `KIND_*` constants.
    pub kind: AtomicU32,
    pub name_len: AtomicU32,
    pub flags: AtomicU32,
    /// Absolute offset of the object's body (an [`ObjectHeader`]).
    pub offset: AtomicU64,
    /// The object's size argument: array length, map/queue capacity, ...
    pub shape: AtomicU64,
    pub name: [u8; MAX_NAME_LEN],
}
const _: () = assert!(size_of::<DirEntry>() == 128);
pub const DIR_FREE: u32 = 0;
pub const DIR_READY: u32 = 1;

pub const KIND_ARRAY: u32 = 1;
pub const KIND_MAP: u32 = 2;
pub const KIND_QUEUE: u32 = 3;
pub const KIND_BUS: u32 = 4;
pub const KIND_MUTEX: u32 = 5;
pub const KIND_BARRIER: u32 = 6;
pub const KIND_SEMAPHORE: u32 = 7;

/// Human-readable name of an object kind.
pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        KIND_ARRAY => "array",
        KIND_MAP => "map",
        KIND_QUEUE => "queue",
        KIND_BUS => "bus",
        KIND_MUTEX => "mutex",
        KIND_BARRIER => "barrier",
        KIND_SEMAPHORE => "semaphore",
        _ => "unknown object",
    }
}

/// First 64 bytes of every object body; repeats the directory's kind and shape so a
/// mismatch between the two is detected as corruption.
#[repr(C, align(64))]
pub struct ObjectHeader {
    /// `OBJECT_MAGIC ^ kind`.
    pub magic: AtomicU32,
    pub flags: AtomicU32,
    pub shape: AtomicU64,
    pub _reserved: [AtomicU64; 6],
}
const _: () = assert!(size_of::<ObjectHeader>() == 64);
pub const OBJECT_MAGIC: u32 = 0x504c_5800;

/// One value slot of an element. `meta` = `type << 56 | INLINE flag | length`; `payload`
/// holds the scalar bits, up to 8 inline bytes, or the absolute offset of a heap block's data.
#[repr(C)]
pub struct ValueSlot {
    pub meta: AtomicU64,
    pub payload: AtomicU64,
}
/// In `ValueSlot::meta`: the bytes are stored in `payload` itself.
pub const META_INLINE: u64 = 1 << 55;
pub const META_LEN_MASK: u64 = (1 << 55) - 1;

/// One array element or map entry value: a cache line.
///
/// * `lock`: owner token in bits 0..30 (0 = free); bit 31 set when a process sleeps
///   waiting for the lock, bit 30 when one sleeps on `tag` or `version`.
/// * `tag`: bit 0 FULL, bit 1 = index of the live value slot, bits 8.. = number of
///   `read_rw` holders. Changed only under `lock`, by single stores, so stealing the lock
///   from a dead owner finds either the old or the new state.
/// * `version`: bumped on every change of value or tag; its low 32 bits are the futex
///   word of `wait_change`.
/// * `_reserved`: unused (0).
/// * `slots`: the live value and a scratch slot the next write fills before it flips
///   bit 1 of `tag`.
#[repr(C, align(64))]
pub struct Element {
    pub lock: AtomicU32,
    pub tag: AtomicU32,
    pub version: AtomicU64,
    pub _reserved: AtomicU32,
    pub _pad: AtomicU32,
    pub slots: [ValueSlot; 2],
}
const _: () = assert!(size_of::<Element>() == 64 && align_of::<Element>() == 64);

/// The map-wide part of a map body, right after its [`ObjectHeader`]. The body then holds
/// `slots` (a power of two, at least twice the capacity) entries of 128 bytes: a
/// [`KeySlot`] followed by its [`Element`].
///
/// * `lock`: robust lock (owner token) serializing inserts and removals.
/// * `seq`: futex word bumped after every insert; absent-key waiters sleep on it.
/// * `sleepers`: processes sleeping on `seq`.
/// * `len`: number of LIVE keys (changed under `lock`; recounted when the lock is taken
///   over from a dead owner).
/// * `version_floor`: every removal raises it above the removed key's last version, and
///   an insert starts its key's version above it, so a key's version never repeats
///   across remove and re-insert.
/// * `slots`: number of slots (repeats what the capacity implies; checked at open).
#[repr(C, align(64))]
pub struct MapHeader {
    pub lock: AtomicU32,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub _pad: AtomicU32,
    pub len: AtomicU64,
    pub version_floor: AtomicU64,
    pub slots: AtomicU64,
    pub _reserved: [AtomicU64; 3],
}
const _: () = assert!(size_of::<MapHeader>() == 64);

/// The key half of a map slot.
///
/// * `state`: `generation << 2 | KEY_FREE/KEY_LIVE/KEY_TOMB`. FREE slots were never used
///   (or no longer needed by any probe) and end a probe; TOMB (removed) slots continue
///   it and may be reused by an insert. A TOMB followed by a FREE slot becomes FREE.
///   Every transition adds [`KEY_GEN_ONE`], so a `state` value names one lifetime of one
///   key; it changes only under the map lock (and, for LIVE -> TOMB, the element lock),
///   by a single release store that commits the insert or removal.
/// * `hash`: FNV-1a of the key bytes.
/// * `key_len`, `key_off`, `key_inline`: the key's UTF-8 bytes: up to
///   [`KEY_INLINE_MAX`] bytes packed little-endian into `key_inline` (`key_off` 0),
///   longer keys in a heap block at `key_off`. Written before the slot is published
///   LIVE, never modified while LIVE.
#[repr(C, align(64))]
pub struct KeySlot {
    pub state: AtomicU64,
    pub hash: AtomicU64,
    pub key_len: AtomicU64,
    pub key_off: AtomicU64,
    pub key_inline: [AtomicU64; 4],
}
/// Longest key stored inside its [`KeySlot`].
pub const KEY_INLINE_MAX: usize = 32;
const _: () = assert!(size_of::<KeySlot>() == 64);
pub const KEY_FREE: u64 = 0;
pub const KEY_LIVE: u64 = 1;
pub const KEY_TOMB: u64 = 2;
pub const KEY_STATE_MASK: u64 = 3;
pub const KEY_GEN_ONE: u64 = 4;

/// The queue-wide part of a queue body, right after its [`ObjectHeader`]: three cache
/// lines, so that producers (tail), consumers (head) and the read-mostly words do not
/// share one. The body then holds `capacity` [`QueueSlot`]s.
///
/// * `closed`: 0, or 1 once `close` was called (never reset).
/// * `lock`, `seq`, `sleepers`, `top` (LIFO queues only): a robust lock over the stack;
///   `top` is the number of values (the commit word of a push or pop); `seq` is the futex
///   word bumped after every push, pop and close, `sleepers` the processes sleeping on it.
/// * `head` (FIFO only): position of the next value to pop, a hint: consumers that find
///   its slot already consumed move it on.
/// * `tail` (FIFO only): position of the next slot to claim for a push, a hint likewise.
#[repr(C, align(64))]
pub struct QueueHeader {
    pub closed: AtomicU32,
    pub lock: AtomicU32,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub top: AtomicU64,
    pub capacity: AtomicU64,
    pub _reserved: [AtomicU64; 4],
    pub head: AtomicU64,
    pub _pad_head: [AtomicU64; 7],
    pub tail: AtomicU64,
    pub _pad_tail: [AtomicU64; 7],
}
const _: () = assert!(size_of::<QueueHeader>() == 192);

/// One slot of a queue: a cache line.
///
/// * `state` (FIFO only): `lap << 33 | WAITERS << 32 | phase << 30 | owner token`, where
///   position `p` of the queue lives in slot `p % capacity` during lap `p / capacity`
///   (31 bits, wrapping). Phases: FREE (waiting for the push of this lap), WRITING (a
///   producer, the owner token, claimed it and is storing the value), FULL (holds the
///   value of this lap). A pop or an abandoned push moves the slot to FREE of the next
///   lap. Every transition is one compare-and-swap or swap of this word.
/// * `wake`: futex word; bumped by a transition that finds the WAITERS bit set.
/// * `value`: the value while FULL (a heap block is owned by the slot until popped).
#[repr(C, align(64))]
pub struct QueueSlot {
    pub state: AtomicU64,
    pub wake: AtomicU32,
    pub _pad: AtomicU32,
    pub value: ValueSlot,
    pub _reserved: [AtomicU64; 4],
}
const _: () = assert!(size_of::<QueueSlot>() == 64);

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
#[repr(C, align(64))]
pub struct BusHeader {
    pub closed: AtomicU32,
    pub _pad0: AtomicU32,
    pub capacity: AtomicU64,
    pub _reserved: [AtomicU64; 6],
    pub lock: AtomicU32,
    pub notify: AtomicU32,
    pub next_seq: AtomicU64,
    pub _pad1: [AtomicU64; 6],
    pub sleepers: AtomicU32,
    pub _pad2: AtomicU32,
    pub _pad3: [AtomicU64; 7],
}
const _: () = assert!(size_of::<BusHeader>() == 192);

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
/// In [`BusSlot::meta`]: the value's bytes are in the slot's `inline` words.
pub const META_SLOT_BYTES: u64 = 1 << 54;

pub const TAG_FULL: u32 = 1;
pub const TAG_CUR: u32 = 2;
pub const TAG_READER_SHIFT: u32 = 8;
pub const TAG_READER_ONE: u32 = 1 << TAG_READER_SHIFT;

/// The body of a mutex, right after its [`ObjectHeader`] (directory shape: always 1).
///
/// * `lock`: robust lock word (see `wait.rs`): owner token in bits 0..30 (0 = unlocked),
///   bit 31 set while some thread sleeps waiting for it. The owner token names the
///   holder's attachment (region handle); a lock whose token is dead is taken over by
///   the next locker, who gets `OwnerDead`.
/// * `owner_died`: see the field.
/// * `owner_tid`: kernel thread id of the holding thread (0 = none or not yet written).
///   Written by the holder right after it takes `lock`, cleared before it releases it;
///   `unlock` (and the relock check) require both token and thread id to be the caller's.
#[repr(C, align(64))]
pub struct MutexBody {
    pub lock: AtomicU32,
    pub owner_tid: AtomicU32,
    /// 1 when a stale-lock sweep released the lock of a holder that died: the next
    /// locker clears it and gets `OwnerDead`, as if it had taken the lock over itself.
    pub owner_died: AtomicU32,
    pub _pad: AtomicU32,
    pub _reserved: [AtomicU64; 6],
}
const _: () = assert!(size_of::<MutexBody>() == 64 && align_of::<MutexBody>() == 64);

/// The body of a barrier, right after its [`ObjectHeader`] (directory shape: parties).
///
/// * `state`: `generation << 32 | arrived`. An arrival adds 1; the last arrival of a
///   round (arrived + 1 == parties) replaces it by `(generation + 1) << 32` with one
///   compare-and-swap; a timed-out waiter withdraws with a CAS that subtracts 1 and
///   succeeds only while the generation is unchanged.
/// * `seq`: futex word, bumped after every completed round (after `state`).
/// * `sleepers`: processes sleeping on `seq`.
/// * `parties`: repeats the shape (checked at open).
#[repr(C, align(64))]
pub struct BarrierBody {
    pub state: AtomicU64,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub parties: AtomicU32,
    pub _pad: AtomicU32,
    pub _reserved: [AtomicU64; 5],
}
const _: () = assert!(size_of::<BarrierBody>() == 64 && align_of::<BarrierBody>() == 64);

/// The semaphore-wide part of a semaphore body, right after its [`ObjectHeader`]
/// (directory shape: permits). The body then holds `records` [`SemaphoreHolder`]s.
///
/// * `lock`: robust lock (owner token) over `available` and the holder records.
/// * `seq`: futex word bumped after every release; waiters for a permit sleep on it.
/// * `sleepers`: processes sleeping on `seq`.
/// * `permits`: repeats the shape (checked at open).
/// * `available`: permits not held. Changed under `lock`; recomputed as `permits` minus
///   the counts of the records of live holders whenever the lock is taken over from a
///   dead owner, or a waiter finds no permit (so permits of dead holders come back).
/// * `records`: number of holder records, `min(permits, PROC_CAPACITY)`.
#[repr(C, align(64))]
pub struct SemaphoreHeader {
    pub lock: AtomicU32,
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
    pub permits: AtomicU32,
    pub available: AtomicU32,
    pub records: AtomicU32,
    pub _reserved: [AtomicU64; 5],
}
const _: () = assert!(size_of::<SemaphoreHeader>() == 64);

/// Who holds permits of a semaphore: `token` (an attachment's owner token, 0 = unused
/// record) holds `count` permits. Changed only under the semaphore's lock; the token is
/// written before the count grows from 0 and cleared after it drops to 0.
#[repr(C)]
pub struct SemaphoreHolder {
    pub token: AtomicU32,
    pub count: AtomicU32,
}
const _: () = assert!(size_of::<SemaphoreHolder>() == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = FixedHeader::new(1 << 20, 42, 7);
        let mut b = h.encode();
        assert_eq!(FixedHeader::decode(&b, 1 << 20).unwrap(), h);
        assert!(matches!(
            FixedHeader::decode(&b, 1 << 19),
            Err(Error::Corrupt(_))
        ));
        b[F_ID] ^= 1;
        assert!(matches!(
            FixedHeader::decode(&b, 1 << 20),
            Err(Error::Corrupt(_))
        ));
        let mut v = h.encode();
        put_u32(&mut v, F_VERSION, 99);
        assert!(matches!(
            FixedHeader::decode(&v, 1 << 20),
            Err(Error::Incompatible(_))
        ));
        let mut o = h.encode();
        put_u32(&mut o, F_BYTE_ORDER, BYTE_ORDER_MARK.swap_bytes());
        assert!(matches!(
            FixedHeader::decode(&o, 1 << 20),
            Err(Error::Incompatible(_))
        ));
    }
}
