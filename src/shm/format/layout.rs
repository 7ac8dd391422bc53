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
//! ...      directory: dir_capacity entries of 128 bytes (one per 4 KiB of region,
//!          256 to 65536; version 1: 256), a hash table on the object name
//! ...      holders (version 3): one row of HOLDER_ROW bytes per directory entry, a bit
//!          per process-table entry that has the object open
//! ...      heap (4 KiB aligned) up to the end of the file
//! ```

use std::mem::size_of;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::{Error, Result};
use crate::shm::os::mem::Shared;

/// First eight bytes of every region file.
pub const MAGIC: [u8; 8] = *b"PLEXUS\0R";
/// Bumped whenever the layout changes incompatibly. Version 2: the directory's size
/// scales with the region and entries are placed by the hash of their name (version 1,
/// still read and written: 256 entries, each in the first free one). Version 3: objects
/// can be removed (directory entries carry a generation and can be reused; a holders
/// table records which processes have each object open, so its memory is reclaimed
/// only when none has). Libraries that read at most version 2 refuse a version 3
/// region, so every process attached to one knows the removal rules.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest format version this library opens.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Written in native order: reads back differently on a machine of the other byte order.
pub const BYTE_ORDER_MARK: u32 = 0x0102_0304;
pub const HEADER_SIZE: u64 = 4096;
pub const PROC_CAPACITY: u32 = 512;
/// Directory entries of a version 1 region, and the fewest of a version 2 one.
pub const DIR_CAPACITY: u32 = 256;
/// The most directory entries a region has.
pub const DIR_CAPACITY_MAX: u32 = 65536;
/// Bytes of one directory entry's row in the holders table: one bit per process-table
/// entry.
pub const HOLDER_ROW: u64 = PROC_CAPACITY as u64 / 8;
/// 64-bit words in a holders row.
pub const HOLDER_WORDS: usize = HOLDER_ROW as usize / 8;

/// Directory entries of a version 2 region of `total_size` bytes: one per 4 KiB (16384
/// for the default 64 MiB), within [DIR_CAPACITY, DIR_CAPACITY_MAX].
pub fn dir_capacity_for(total_size: u64) -> u32 {
    (total_size / 4096).clamp(DIR_CAPACITY as u64, DIR_CAPACITY_MAX as u64) as u32
}
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
    /// The holders table (version 3; 0 before): derived from the layout, not stored.
    pub holders_offset: u64,
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
/// The removed flag (an `AtomicU32`, outside the checksum): set once, before the file is
/// unlinked by `plexus_region_remove` or replaced by a RECREATE; every call checks it. It
/// shares its cache line only with fixed fields, which nobody writes, so reading it
/// costs the fast path a load that hits the cache.
pub const REMOVED_OFFSET: u64 = 112;
/// In the word at [`REMOVED_OFFSET`]: the region was removed. The other bits count
/// object removals (in steps of [`OBJECT_REMOVED_STEP`]): a handle remembers the word it
/// last saw, and looks at its object's directory entry only when the word moved.
pub const REGION_REMOVED: u32 = 1;
/// What each object removal adds to the word at [`REMOVED_OFFSET`].
pub const OBJECT_REMOVED_STEP: u32 = 2;
/// Bytes covered by the checksum.
const CHECKSUMMED: usize = 104;
/// Offset of [`LiveHeader`] inside the header page.
pub const LIVE_OFFSET: u64 = 128;
/// Size of an array or map element (`crate::shm::kinds::element::Element`), recorded in
/// the header so that a library with another element layout refuses the file.
pub const ELEMENT_SIZE: u32 = 64;

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
        Self::layout(FORMAT_VERSION, total_size, region_id, created_unix_ns)
    }

    /// The layout format `version` gives a region of `total_size` bytes.
    pub fn layout(
        version: u32,
        total_size: u64,
        region_id: u64,
        created_unix_ns: u64,
    ) -> FixedHeader {
        let dir_capacity = if version == 1 {
            DIR_CAPACITY
        } else {
            dir_capacity_for(total_size)
        };
        let proc_offset = HEADER_SIZE;
        let dir_offset = proc_offset + PROC_CAPACITY as u64 * size_of::<ProcEntry>() as u64;
        let dir_end = dir_offset + dir_capacity as u64 * size_of::<DirEntry>() as u64;
        let (holders_offset, holders_end) = if version >= 3 {
            (dir_end, dir_end + dir_capacity as u64 * HOLDER_ROW)
        } else {
            (0, dir_end)
        };
        let heap_offset = round_up(holders_end, 4096);
        FixedHeader {
            format_version: version,
            total_size,
            created_unix_ns,
            region_id,
            proc_offset,
            proc_capacity: PROC_CAPACITY,
            dir_offset,
            dir_capacity,
            holders_offset,
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
        put_u32(&mut b, F_ELEM_SIZE, ELEMENT_SIZE);
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
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::Incompatible(format!(
                "region format version {version}, this library reads versions \
                 {MIN_FORMAT_VERSION} to {FORMAT_VERSION}"
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
            holders_offset: 0,
            heap_offset: get_u64(b, F_HEAP_OFF),
            heap_size: get_u64(b, F_HEAP_SIZE),
        };
        let sizes_ok = get_u32(b, F_HEADER_SIZE) as u64 == HEADER_SIZE
            && get_u32(b, F_PROC_ESZ) as usize == size_of::<ProcEntry>()
            && get_u32(b, F_DIR_ESZ) as usize == size_of::<DirEntry>()
            && get_u32(b, F_ELEM_SIZE) == ELEMENT_SIZE;
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
        let expect = FixedHeader::layout(version, h.total_size, h.region_id, h.created_unix_ns);
        let h = FixedHeader {
            holders_offset: expect.holders_offset,
            ..h
        };
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
    /// While the allocator lock is held by [`crate::shm::format::heap::Heap::free_at`]:
    /// the absolute offset of the word naming the block being freed (0 otherwise), so
    /// that whoever takes the lock over from a dead owner finishes the free.
    pub free_intent: AtomicU64,
    /// Directory entries in state [`DIR_REMOVED`] or [`DIR_RECLAIMING`] (their memory not
    /// yet reclaimed): a reclaim pass runs only when this is nonzero.
    pub removed_pending: AtomicU64,
    /// Nonzero while the allocator lock's holder merges free blocks
    /// ([`crate::shm::format::heap::Heap`], "Merging"): whoever takes the lock next runs
    /// the merge again. Zero in regions created before it existed.
    pub coalesce_intent: AtomicU64,
    /// Blocks freed so far (changed under the allocator lock; wraps).
    pub frees: AtomicU64,
    /// `frees` when the last merge of free blocks ended: a merge runs only if blocks were
    /// freed since.
    pub coalesced_at: AtomicU64,
    pub _reserved: [AtomicU64; 5],
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
/// `state = DIR_READY` (release). Before version 3 never modified afterwards; from
/// version 3 an entry can be removed and, once reclaimed, reused for another object.
#[repr(C)]
pub struct DirEntry {
    /// `generation << 8 | code` (code: `DIR_*`). The generation moves on each time the
    /// entry is written for a new object, so a reader that saw the same whole word
    /// before and after reading the fields read one object's fields (a seqlock), and a
    /// handle recognises its own object by the word.
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
/// Never used: a lookup stops probing here.
pub const DIR_FREE: u32 = 0;
/// A live object.
pub const DIR_READY: u32 = 1;
/// Removed; its body is still allocated (processes may hold it open).
pub const DIR_REMOVED: u32 = 2;
/// Removed and held by no process: its memory is being freed under the directory lock.
pub const DIR_RECLAIMING: u32 = 3;
/// Removed and reclaimed: reusable; a lookup probes past it.
pub const DIR_TOMB: u32 = 4;
/// Being written for a new object under the directory lock.
pub const DIR_WRITING: u32 = 5;
/// The `DIR_*` code of a state word.
pub const fn dir_code(state: u32) -> u32 {
    state & 0xFF
}
/// The state word with code `code` and the generation of `state`.
pub const fn dir_state(state: u32, code: u32) -> u32 {
    state & !0xFF | code
}

pub use crate::semantics::open::{
    kind_name, KIND_ARRAY, KIND_BARRIER, KIND_BUS, KIND_MAP, KIND_MUTEX, KIND_QUEUE,
    KIND_SEMAPHORE, KIND_SERVICE, KIND_TARRAY,
};

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
/// In a bus slot's `meta`: the value's bytes are in the slot's `inline` words.
pub const META_SLOT_BYTES: u64 = 1 << 54;

/// One directory entry's row of the holders table: bit `slot` is set while the process
/// in process-table entry `slot` has the object open.
#[repr(C)]
pub struct HolderRow {
    pub words: [AtomicU64; HOLDER_WORDS],
}
const _: () = assert!(size_of::<HolderRow>() as u64 == HOLDER_ROW);

// SAFETY: the format's shared structs are #[repr(C)], made only of atomics, and valid
// for every bit pattern.
unsafe impl Shared for LiveHeader {}
// SAFETY: as above.
unsafe impl Shared for HolderRow {}
// SAFETY: as above.
unsafe impl Shared for ProcEntry {}
// SAFETY: as above.
unsafe impl Shared for DirEntry {}
// SAFETY: as above.
unsafe impl Shared for ObjectHeader {}

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
