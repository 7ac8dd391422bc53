//! Typed arrays: zero-copy numeric data with full/empty blocks (what they mean:
//! `crate::semantics::tarray`).
//!
//! The body is an [`ObjectHeader`] and a [`TArrayHeader`] (directory shape: length).
//! The header names a heap block (`blob`) allocated when the array is created, which
//! holds the per-block state words ([`BlockWord`], 16 bytes each) and then, 64-byte
//! aligned, the elements. (The body cannot hold them itself: its size must follow from
//! the directory's shape alone, and the block words depend on the block length too.)
//!
//! A block's `state` word is `generation << 32 | phase << 30 | holder token`, and every
//! transition is one compare-and-swap:
//!
//! ```text
//!   EMPTY ──begin_write──▶ WRITING(me) ──end_write──▶ FULL ──begin_read──▶ READING(me)
//!     ▲        (holder dead: back to EMPTY) │                                 │
//!     │◀───────────────────────────────────┘        (holder dead: back to FULL)
//!     └───────────────────────────────────────── end_read ◀──────────────────┘
//! ```
//!
//! Each begin moves the generation, so an end by a holder whose block was taken back
//! (its attachment was declared gone) fails instead of ending someone else's turn.
//!
//! Waiting: the low 32 bits of `state` (phase and token) are the futex word, announced
//! in `sleepers`; every transition wakes its sleepers. A waiter for a block in a stable
//! state (EMPTY or FULL) sleeps until a transition or the region's removal word moves,
//! without polling. A waiter for a block held by another process sleeps in slices
//! (1 ms doubling to [`DEAD_HOLDER_NOTICE`]) and looks at the holder's liveness after
//! each, since a dead process wakes nobody: the holder found dead is replaced in one CAS
//! (WRITING → EMPTY, READING → FULL), the same step the sweep takes.
//!
//! Crash safety: a process killed at any instant leaves each block in one of the four
//! states; a WRITING or READING block names the dead holder and is recovered as above.
//! No other shared word changes after creation (the elements are the caller's). A
//! process killed while creating the array, after allocating the blob and before the
//! directory entry is published, leaks the blob (`plexus check` reports it).
//!
//! Huge pages: numeric code over a large array runs faster when the array is mapped
//! with huge pages (fewer TLB misses), which a tmpfs such as /dev/shm mounted without a
//! `huge=` option never allocates on its own. Opening an array whose elements span at
//! least one huge page (2 MiB) asks the kernel to move the huge pages of the file that
//! the elements touch into huge pages (`madvise(MADV_COLLAPSE)`, Linux 6.1, whatever
//! the mount option; `Mapping::collapse_huge_pages`); regions of that size are mapped
//! at huge-page-aligned addresses in every process, so each process maps them with one
//! page-table entry per huge page. Best effort and invisible to the data: a kernel that
//! cannot (no free huge page, THP denied, not tmpfs) leaves small pages. The pages at
//! either end may hold neighbouring heap blocks; a region file is fully allocated at
//! creation, so this costs no memory, only the copy (once, by the first opener).
//!
//! Element atomics operate on the elements in place with 32- or 64-bit atomics; `wait`
//! sleeps on the element's address (a 64-bit element: its low half, the full value
//! being re-checked after every wake), `notify` wakes that address.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::open::KindWords;
use crate::semantics::options::{FLAG_EXCLUSIVE, FLAG_FULL};
use crate::semantics::tarray::{not_held, DEAD_HOLDER_NOTICE};
pub use crate::semantics::tarray::{BlockState, Dtype, Shape, NOTIFY_ALL};
use crate::shm::format::layout::*;
use crate::shm::format::region::{Held, KindSpec, Region, RegionInner};
use crate::shm::format::scan::Scan;
use crate::shm::kinds::element::version_futex;
use crate::shm::kinds::{KindOps, Placed, Swept};
use crate::shm::os::mem::Shared;
use crate::shm::os::sys;
use crate::shm::wait::{self, Deadline};
use std::mem::size_of;

// ---- layout (in the region file) ----

/// The array-wide part of a typed array body, right after its [`ObjectHeader`].
///
/// * `layout`: [`LAYOUT`] (a later layout of this kind changes it; older code then
///   refuses the object with `Incompatible` instead of misreading it).
/// * `dtype`: the [`Dtype`] code; `length`: repeats the directory shape; `block_len`:
///   elements per block (the last block may be shorter); `blocks`: the block count.
/// * `blob`: data offset of the heap block holding the block words and the elements
///   (freed with `Heap::free_at` of this word when the array is reclaimed).
/// * `data`: absolute offset of element 0 (64-byte aligned, inside the blob).
#[repr(C, align(64))]
pub struct TArrayHeader {
    pub layout: AtomicU32,
    pub dtype: AtomicU32,
    pub length: AtomicU64,
    pub block_len: AtomicU64,
    pub blocks: AtomicU64,
    pub blob: AtomicU64,
    pub data: AtomicU64,
    pub _reserved: [AtomicU64; 2],
}
const _: () = assert!(size_of::<TArrayHeader>() == 64);

/// One block's state (see the module docs for `state`); `sleepers` counts the processes
/// sleeping on its low half.
#[repr(C)]
pub struct BlockWord {
    pub state: AtomicU64,
    pub sleepers: AtomicU32,
    pub _pad: AtomicU32,
}
const _: () = assert!(size_of::<BlockWord>() == 16);

// SAFETY: #[repr(C)], made only of atomics, valid for every bit pattern.
unsafe impl Shared for TArrayHeader {}
// SAFETY: as above.
unsafe impl Shared for BlockWord {}

const LAYOUT: u32 = 1;
const OBJ_HEADER: u64 = size_of::<ObjectHeader>() as u64;
const T_HEADER: u64 = size_of::<TArrayHeader>() as u64;
const WORD: u64 = size_of::<BlockWord>() as u64;

const EMPTY: u64 = 0;
const WRITING: u64 = 1;
const FULL: u64 = 2;
const READING: u64 = 3;
const TOKEN_BITS: u64 = (1 << 30) - 1;

fn state(gen: u32, phase: u64, token: u32) -> u64 {
    (gen as u64) << 32 | phase << 30 | token as u64
}
fn gen_of(s: u64) -> u32 {
    (s >> 32) as u32
}
fn phase_of(s: u64) -> u64 {
    (s >> 30) & 3
}
fn holder_of(s: u64) -> u32 {
    (s & TOKEN_BITS) as u32
}
fn block_state(s: u64) -> BlockState {
    match phase_of(s) {
        EMPTY => BlockState::Empty,
        WRITING => BlockState::Writing,
        FULL => BlockState::Full,
        _ => BlockState::Reading,
    }
}

/// Bytes of the blob before the elements: the block words, rounded up to 64.
fn words_bytes(blocks: u64) -> u64 {
    (blocks * WORD).div_ceil(64) * 64
}

fn body_size(_length: u64) -> Option<u64> {
    Some(OBJ_HEADER + T_HEADER)
}

pub(crate) const TARRAY_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_TARRAY,
        name: "typed array",
        article: "a",
        shape: "length",
        items: "elements",
    },
    size_of: body_size,
};

const SLICE_MIN: Duration = Duration::from_millis(1);

/// A typed array (see the module docs).
#[derive(Clone)]
pub struct TArray {
    held: Held,
    /// Absolute offsets of the first block word and of element 0.
    words: u64,
    data: u64,
    shape: Shape,
    name: String,
}

impl Region {
    /// Opens the typed array `name` (see `crate::semantics::tarray` for the open rules).
    /// Flags: [`FLAG_FULL`] (blocks start FULL), [`FLAG_EXCLUSIVE`].
    pub fn tarray(
        &self,
        name: &str,
        dtype: Option<Dtype>,
        length: u64,
        block_len: u64,
        flags: u32,
    ) -> Result<TArray> {
        let r = &self.inner;
        r.check_usable()?;
        let want = Shape::wanted(dtype, length, block_len, flags, name)?;
        let (obj, held) = self.open_held(
            name,
            &TARRAY_KIND,
            length,
            flags & FLAG_EXCLUSIVE != 0,
            0,
            |off| match want {
                Some(shape) => init(r, off + OBJ_HEADER, &shape, flags & FLAG_FULL != 0),
                None => Err(Error::Internal(
                    "creating a typed array without a shape".into(),
                )),
            },
        )?;
        let base = obj.offset + OBJ_HEADER;
        let (shape, data) = read_header(r, base, obj.shape)
            .map_err(|e| Error::corrupt(format!("typed array '{name}': {e}")))?;
        Shape::check_found(name, (dtype, length, block_len), &shape)?;
        // Elements of at least one huge page go into huge pages (see the module docs).
        // The first process does the work; in the others the pages already are huge and
        // this only maps them. Outside the directory lock: it copies the elements.
        r.map.collapse_huge_pages(data, shape.bytes());
        let blob = r
            .map
            .get::<TArrayHeader>(base)?
            .blob
            .load(Ordering::Relaxed);
        Ok(TArray {
            held,
            words: blob,
            data,
            shape,
            name: name.to_owned(),
        })
    }
}

/// Under the directory lock, in a new zeroed body: allocates and zeroes the blob and
/// fills the header. An error gives the blob back.
fn init(r: &RegionInner, base: u64, shape: &Shape, full: bool) -> Result<()> {
    let words = words_bytes(shape.blocks());
    let len = words
        .checked_add(shape.bytes())
        .and_then(|n| n.checked_add(63))
        .filter(|&n| n <= r.fixed.heap_size)
        .ok_or_else(|| {
            Error::NoSpace(format!(
                "a typed array of {} {} elements does not fit in the region",
                shape.length,
                shape.dtype.name()
            ))
        })?;
    // Not from the 64-byte aligned bump area, so that freed blocks are reused: the
    // elements start at the first 64-byte boundary after the block words.
    let blob = r.with_heap(|h| h.alloc(len, false))?;
    let filled = (|| {
        r.map.zero(blob, len)?;
        let data = (blob + words).div_ceil(64) * 64;
        let h: &TArrayHeader = r.map.get(base)?;
        h.dtype.store(shape.dtype as u32, Ordering::Relaxed);
        h.length.store(shape.length, Ordering::Relaxed);
        h.block_len.store(shape.block_len, Ordering::Relaxed);
        h.blocks.store(shape.blocks(), Ordering::Relaxed);
        h.data.store(data, Ordering::Relaxed);
        if full {
            for b in 0..shape.blocks() {
                let w: &BlockWord = r.map.get_nth(blob, b)?;
                w.state.store(state(0, FULL, 0), Ordering::Relaxed);
            }
        }
        h.blob.store(blob, Ordering::Relaxed);
        h.layout.store(LAYOUT, Ordering::Release);
        Ok(())
    })();
    if filled.is_err() {
        let _ = r.with_heap(|h| h.free(blob));
    }
    filled
}

/// Reads and checks a header: the shape and the elements' offset.
fn read_header(r: &RegionInner, base: u64, length: u64) -> Result<(Shape, u64)> {
    let h: &TArrayHeader = r.map.get(base)?;
    let layout = h.layout.load(Ordering::Acquire);
    if layout != LAYOUT {
        return Err(Error::Incompatible(format!(
            "layout {layout} of this typed array is not known to this plexus (it knows {LAYOUT})"
        )));
    }
    let dtype = Dtype::from_u32(h.dtype.load(Ordering::Relaxed))
        .ok_or_else(|| Error::corrupt("damaged header (dtype)"))?;
    let block_len = h.block_len.load(Ordering::Relaxed);
    let shape = Shape::new(dtype, length, block_len)
        .ok()
        .filter(|s| {
            s.length == h.length.load(Ordering::Relaxed)
                && s.blocks() == h.blocks.load(Ordering::Relaxed)
                && block_len != 0
        })
        .ok_or_else(|| Error::corrupt("damaged header (shape)"))?;
    let blob = h.blob.load(Ordering::Relaxed);
    let data = h.data.load(Ordering::Relaxed);
    let end = blob
        .checked_add(words_bytes(shape.blocks()))
        .filter(|&w| data >= w && data % 64 == 0 && data - w < 64)
        .and_then(|_| data.checked_add(shape.bytes()));
    if blob < r.fixed.heap_offset || end.is_none_or(|e| e > r.fixed.total_size) {
        return Err(Error::corrupt("damaged header (data offsets)"));
    }
    Ok((shape, data))
}

impl TArray {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn region(&self) -> &Region {
        self.held.region()
    }

    fn word(&self, block: u64) -> Result<&BlockWord> {
        self.held.map.get_nth(self.words, block)
    }

    /// The elements in place: a pointer and the element count, valid while this handle
    /// (any clone of it) lives. Other processes change them at any time.
    pub fn data(&self) -> Result<(*mut u8, u64)> {
        self.held.check_usable()?;
        Ok((self.ptr_at(0), self.shape.length))
    }

    fn ptr_at(&self, index: u64) -> *mut u8 {
        // SAFETY: `data + index * size` is inside the mapping (checked at open for the
        // whole array; callers pass index <= length), which this handle keeps mapped.
        unsafe {
            self.held
                .map
                .base()
                .add((self.data + index * self.shape.dtype.size()) as usize)
        }
    }

    /// A block's state now (a snapshot).
    pub fn block_state(&self, block: u64) -> Result<BlockState> {
        self.held.check_usable()?;
        self.shape.block_range(block)?;
        Ok(block_state(self.word(block)?.state.load(Ordering::Acquire)))
    }

    /// Waits until `block` is EMPTY and makes it WRITING(this process): returns the
    /// pointer to its first element and its element count.
    pub fn begin_write(&self, block: u64, timeout: Option<Duration>) -> Result<(*mut u8, u64)> {
        self.begin(block, EMPTY, WRITING, &Deadline::after(timeout))
    }

    /// Leaves `block`, written by this process, FULL and wakes a reader.
    pub fn end_write(&self, block: u64) -> Result<()> {
        self.end(block, WRITING, FULL, "written")
    }

    /// Waits until `block` is FULL and makes it READING(this process).
    pub fn begin_read(&self, block: u64, timeout: Option<Duration>) -> Result<(*mut u8, u64)> {
        self.begin(block, FULL, READING, &Deadline::after(timeout))
    }

    /// Leaves `block`, read by this process, EMPTY and wakes a writer.
    pub fn end_read(&self, block: u64) -> Result<()> {
        self.end(block, READING, EMPTY, "read")
    }

    /// [`TArray::begin_write`] / [`TArray::begin_read`] until `deadline`.
    pub fn begin_until(
        &self,
        block: u64,
        write: bool,
        deadline: &Deadline,
    ) -> Result<(*mut u8, u64)> {
        if write {
            self.begin(block, EMPTY, WRITING, deadline)
        } else {
            self.begin(block, FULL, READING, deadline)
        }
    }

    fn begin(&self, block: u64, from: u64, to: u64, deadline: &Deadline) -> Result<(*mut u8, u64)> {
        let r = &self.held;
        r.check_usable()?;
        let (first, count) = self.shape.block_range(block)?;
        let w = self.word(block)?;
        let mut spun = false;
        let mut slept = false;
        let mut slice = SLICE_MIN;
        loop {
            let s = w.state.load(Ordering::SeqCst);
            let phase = phase_of(s);
            if phase == from {
                let next = state(gen_of(s).wrapping_add(1), to, r.token);
                if w.state
                    .compare_exchange(s, next, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    wake(w);
                    return Ok((self.ptr_at(first), count));
                }
                continue;
            }
            let held = phase == WRITING || phase == READING;
            let holder = holder_of(s);
            if held && holder == r.token && phase == to {
                return Err(Error::invalid(format!(
                    "block {block} of typed array '{}' is already being {} by this process",
                    self.name,
                    if to == WRITING { "written" } else { "read" }
                )));
            }
            // Liveness is looked at after a sleep (a dead holder wakes nobody), and by a
            // try-once call, which never sleeps.
            let look = slept || deadline.is_try_once();
            if held && look && holder != r.token && r.procs().token_is_dead(holder) {
                recover(w, s);
                continue;
            }
            r.check_usable()?;
            if !spun {
                spun = true;
                if wait::spin_until(&w.state, deadline, || w.state.load(Ordering::Acquire) != s) {
                    continue;
                }
            }
            if held {
                // A holder that dies wakes nobody: look at it after each slice.
                sleep_block(w, s, deadline, Some(slice), None)?;
                slept = true;
                slice = (slice * 2).min(DEAD_HOLDER_NOTICE);
            } else {
                // EMPTY or FULL: only a live process's transition (which wakes this
                // word) or a removal (which wakes the removal word) can end the wait.
                let removal = r.removed_word();
                let removal_seen = removal.load(Ordering::SeqCst);
                r.check_usable()?;
                sleep_block(w, s, deadline, None, Some((removal, removal_seen)))?;
            }
        }
    }

    fn end(&self, block: u64, from: u64, to: u64, verb: &str) -> Result<()> {
        let r = &self.held;
        r.check_usable()?;
        self.shape.block_range(block)?;
        let w = self.word(block)?;
        let s = w.state.load(Ordering::Acquire);
        if phase_of(s) != from || holder_of(s) != r.token {
            return Err(not_held(&self.name, block, verb, block_state(s)));
        }
        // Only this process changes a block it holds, unless it is declared gone; then
        // the CAS fails and the block is someone else's.
        w.state
            .compare_exchange(
                s,
                state(gen_of(s), to, 0),
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .map_err(|now| not_held(&self.name, block, verb, block_state(now)))?;
        wake(w);
        Ok(())
    }

    // ---- element atomics ----

    fn atomic_at(&self, index: u64) -> Result<Elem<'_>> {
        let r = &self.held;
        r.check_usable()?;
        self.shape.dtype.check_atomic(&self.name)?;
        self.shape.check_index(index)?;
        let off = self.data + index * self.shape.dtype.size();
        Ok(if self.shape.dtype.size() == 4 {
            Elem::W32(r.map.get(off)?)
        } else {
            Elem::W64(r.map.get(off)?)
        })
    }

    pub fn load(&self, index: u64) -> Result<i64> {
        let e = self.atomic_at(index)?;
        Ok(self.shape.dtype.to_i64(e.load()))
    }

    pub fn store(&self, index: u64, value: i64) -> Result<()> {
        let bits = self.shape.dtype.check_value(value, "value")?;
        let e = self.atomic_at(index)?;
        match e {
            Elem::W32(a) => a.store(bits as u32, Ordering::SeqCst),
            Elem::W64(a) => a.store(bits, Ordering::SeqCst),
        }
        Ok(())
    }

    /// Adds `delta` modulo 2^bits; returns the value before.
    pub fn faa(&self, index: u64, delta: i64) -> Result<i64> {
        let e = self.atomic_at(index)?;
        let old = match e {
            Elem::W32(a) => a.fetch_add(delta as u32, Ordering::SeqCst) as u64,
            Elem::W64(a) => a.fetch_add(delta as u64, Ordering::SeqCst),
        };
        Ok(self.shape.dtype.to_i64(old))
    }

    /// Stores `desired` if the element equals `expected`; returns the value before
    /// (equal to `expected` when it stored).
    pub fn cas(&self, index: u64, expected: i64, desired: i64) -> Result<i64> {
        let d = self.shape.dtype;
        let want = d.check_value(expected, "expected value")?;
        let new = d.check_value(desired, "desired value")?;
        let e = self.atomic_at(index)?;
        let old = match e {
            Elem::W32(a) => {
                match a.compare_exchange(
                    want as u32,
                    new as u32,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(v) | Err(v) => v as u64,
                }
            }
            Elem::W64(a) => match a.compare_exchange(want, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(v) | Err(v) => v,
            },
        };
        Ok(d.to_i64(old))
    }

    /// Sleeps while element `index` equals `expected` (re-checked after every wake), until
    /// it differs (`Ok`) or the deadline passes (`Timeout`).
    pub fn wait(&self, index: u64, expected: i64, timeout: Option<Duration>) -> Result<()> {
        self.wait_until(index, expected, &Deadline::after(timeout))
    }

    pub fn wait_until(&self, index: u64, expected: i64, deadline: &Deadline) -> Result<()> {
        let want = self.shape.dtype.check_value(expected, "expected value")?;
        let e = self.atomic_at(index)?;
        let r = &self.held;
        loop {
            let removal = r.removed_word();
            let removal_seen = removal.load(Ordering::SeqCst);
            r.check_usable()?;
            let now = e.load();
            if now != want {
                return Ok(());
            }
            let remaining = deadline.remaining()?;
            let word = e.futex();
            if !wait::sleep_either(word, now as u32, removal, removal_seen, remaining) {
                wait::sleep(word, now as u32, remaining);
            }
        }
    }

    /// Wakes up to `count` processes waiting on element `index` ([`NOTIFY_ALL`]: all);
    /// returns how many it woke.
    pub fn notify(&self, index: u64, count: u32) -> Result<u32> {
        let e = self.atomic_at(index)?;
        if count == 0 {
            return Ok(0);
        }
        let n = count.min(i32::MAX as u32) as i32;
        Ok(sys::futex_wake_count(e.futex(), n))
    }

    // ---- copies (the same calls as a remote region's) ----

    /// Copies elements `first .. first + count` into `out` (`count * size` bytes),
    /// ignoring block states.
    pub fn read(&self, first: u64, out: &mut [u8]) -> Result<()> {
        self.held.check_usable()?;
        let count = out.len() as u64 / self.shape.dtype.size();
        self.shape.check_buffer(count, out.len())?;
        self.shape.check_range(first, count)?;
        copy_out(self.ptr_at(first), out);
        Ok(())
    }

    /// Copies `data` into elements `first ..`, ignoring block states.
    pub fn write(&self, first: u64, data: &[u8]) -> Result<()> {
        self.held.check_usable()?;
        let count = data.len() as u64 / self.shape.dtype.size();
        self.shape.check_buffer(count, data.len())?;
        self.shape.check_range(first, count)?;
        copy_in(data, self.ptr_at(first));
        Ok(())
    }

    /// Waits until `block` is FULL, copies it into `out`, leaves it EMPTY.
    pub fn read_block(&self, block: u64, timeout: Option<Duration>, out: &mut [u8]) -> Result<()> {
        let (_, count) = self.shape.block_range(block)?;
        self.shape.check_buffer(count, out.len())?;
        let (p, _) = self.begin_read(block, timeout)?;
        copy_out(p, out);
        self.end_read(block)
    }

    /// Waits until `block` is EMPTY, copies `data` into it, leaves it FULL.
    pub fn write_block(&self, block: u64, timeout: Option<Duration>, data: &[u8]) -> Result<()> {
        let (_, count) = self.shape.block_range(block)?;
        self.shape.check_buffer(count, data.len())?;
        let (p, _) = self.begin_write(block, timeout)?;
        copy_in(data, p);
        self.end_write(block)
    }
}

fn copy_out(src: *const u8, out: &mut [u8]) {
    // SAFETY: `src` points at `out.len()` bytes inside the live mapping (range checked
    // by the caller); other processes may write them meanwhile, which yields whatever
    // bytes they wrote (plain numbers: every bit pattern is a value).
    unsafe { std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
}

fn copy_in(data: &[u8], dst: *mut u8) {
    // SAFETY: `dst` points at `data.len()` bytes inside the live mapping (range checked
    // by the caller), which never overlaps a Rust slice.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
}

/// An atomic element.
enum Elem<'a> {
    W32(&'a AtomicU32),
    W64(&'a AtomicU64),
}

impl Elem<'_> {
    fn load(&self) -> u64 {
        match self {
            Elem::W32(a) => a.load(Ordering::SeqCst) as u64,
            Elem::W64(a) => a.load(Ordering::SeqCst),
        }
    }

    /// The futex word: the element, or a 64-bit element's low half.
    fn futex(&self) -> &AtomicU32 {
        match self {
            Elem::W32(a) => a,
            Elem::W64(a) => version_futex(a),
        }
    }
}

/// Wakes whoever sleeps on the block's word (after a transition).
fn wake(w: &BlockWord) {
    if wait::sleepers_after_change(&w.sleepers) != 0 {
        sys::futex_wake(version_futex(&w.state), i32::MAX);
    }
}

/// Sleeps while the block's state is `s`, announced in `sleepers`, for at most `slice`
/// and the deadline, or (with `removal`) until the region's removal word moves.
fn sleep_block(
    w: &BlockWord,
    s: u64,
    deadline: &Deadline,
    slice: Option<Duration>,
    removal: Option<(&AtomicU32, u32)>,
) -> Result<()> {
    let remaining = deadline.remaining()?;
    let timeout = match (remaining, slice) {
        (Some(r), Some(sl)) => Some(r.min(sl)),
        (r, sl) => r.or(sl),
    };
    let low = version_futex(&w.state);
    w.sleepers.fetch_add(1, Ordering::SeqCst);
    if w.state.load(Ordering::SeqCst) == s {
        let done = match removal {
            Some((word, seen)) => wait::sleep_either(low, s as u32, word, seen, timeout),
            None => false,
        };
        if !done {
            wait::sleep(low, s as u32, timeout);
        }
    }
    w.sleepers.fetch_sub(1, Ordering::SeqCst);
    Ok(())
}

/// Gives a block held by a dead process (state `s`) back: WRITING → EMPTY (the partial
/// data is never handed out as FULL), READING → FULL. False if the state moved.
fn recover(w: &BlockWord, s: u64) -> bool {
    let to = if phase_of(s) == WRITING { EMPTY } else { FULL };
    let ok = w
        .state
        .compare_exchange(
            s,
            state(gen_of(s), to, 0),
            Ordering::SeqCst,
            Ordering::Relaxed,
        )
        .is_ok();
    if ok {
        wait::note_recovered();
        wake(w);
    }
    ok
}

/// A block's state and the element offsets of an existing typed array, for dumps.
pub struct Dumped {
    pub shape: Shape,
    pub blocks: Vec<BlockState>,
    pub bytes: Vec<u8>,
}

impl TArray {
    /// A copy of the elements and the block states (not one instant: a snapshot taken
    /// while others write may mix old and new elements).
    pub fn snapshot(&self) -> Result<Dumped> {
        let mut bytes = vec![0u8; self.shape.bytes() as usize];
        self.read(0, &mut bytes)?;
        let blocks = (0..self.shape.blocks())
            .map(|b| self.block_state(b))
            .collect::<Result<_>>()?;
        Ok(Dumped {
            shape: self.shape,
            blocks,
            bytes,
        })
    }

    /// Sets a block's state (for `plexus load`, on an array nobody uses yet): only to
    /// EMPTY or FULL.
    pub fn restore_block(&self, block: u64, full: bool) -> Result<()> {
        self.held.check_usable()?;
        self.shape.block_range(block)?;
        let w = self.word(block)?;
        let s = w.state.load(Ordering::Acquire);
        if matches!(phase_of(s), WRITING | READING) {
            return Err(Error::invalid(format!(
                "block {block} of typed array '{}' is in use",
                self.name
            )));
        }
        let to = if full { FULL } else { EMPTY };
        w.state
            .compare_exchange(
                s,
                state(gen_of(s), to, 0),
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .map_err(|_| Error::invalid(format!("block {block} of '{}' changed", self.name)))?;
        wake(w);
        Ok(())
    }
}

// ---- crash recovery, checker and sweep ----

pub(crate) const OPS: KindOps = KindOps {
    spec: &TARRAY_KIND,
    label: |_| "typed array",
    scan,
    sweep,
    release,
};

/// Frees the blob of a removed typed array.
fn release(r: &RegionInner, o: &Placed<'_>) -> Result<()> {
    let at = o.body + std::mem::offset_of!(TArrayHeader, blob) as u64;
    r.with_heap(|h| h.free_at(at))
}

fn sweep(r: &RegionInner, o: &Placed<'_>, done: &mut Swept) -> Result<()> {
    let (shape, _) = read_header(r, o.body, o.shape)?;
    let blob = r
        .map
        .get::<TArrayHeader>(o.body)?
        .blob
        .load(Ordering::Relaxed);
    for b in 0..shape.blocks() {
        let w: &BlockWord = r.map.get_nth(blob, b)?;
        let s = w.state.load(Ordering::Acquire);
        let holder = holder_of(s);
        if matches!(phase_of(s), WRITING | READING)
            && holder != r.token
            && r.procs().token_is_dead(holder)
            && recover(w, s)
        {
            done.blocks = done.blocks.saturating_add(1);
        }
    }
    Ok(())
}

fn scan(sc: &mut Scan<'_>, o: &Placed<'_>) {
    let loc = o.loc;
    let Ok(h) = sc.map.get::<TArrayHeader>(o.body) else {
        return;
    };
    if h.layout.load(Ordering::Acquire) != LAYOUT {
        sc.problem(
            loc,
            format!("unknown layout {}", h.layout.load(Ordering::Relaxed)),
        );
        return;
    }
    let dtype = Dtype::from_u32(h.dtype.load(Ordering::Relaxed));
    let block_len = h.block_len.load(Ordering::Relaxed);
    let shape = dtype.and_then(|d| Shape::new(d, o.shape, block_len).ok());
    let Some(shape) = shape.filter(|s| {
        block_len != 0
            && s.length == h.length.load(Ordering::Relaxed)
            && s.blocks() == h.blocks.load(Ordering::Relaxed)
    }) else {
        sc.problem(loc, "damaged header (dtype or shape)");
        return;
    };
    let blob = h.blob.load(Ordering::Relaxed);
    let data = h.data.load(Ordering::Relaxed);
    let need = words_bytes(shape.blocks()) + 63 + shape.bytes();
    let words_end = blob + words_bytes(shape.blocks());
    if data < words_end || data - words_end >= 64 || data % 64 != 0 {
        sc.problem(loc, "damaged header (data offset)");
        return;
    }
    if !sc.reference(blob, need, || format!("{loc} data")) {
        return;
    }
    for b in 0..shape.blocks() {
        let Ok(w) = sc.map.get_nth::<BlockWord>(blob, b) else {
            return;
        };
        let s = w.state.load(Ordering::Acquire);
        let holder = holder_of(s);
        let held = matches!(phase_of(s), WRITING | READING);
        if held != (holder != 0) {
            sc.problem(format!("{loc} block {b}"), format!("invalid state {s:#x}"));
        } else if held && !sc.token_alive(holder) {
            let msg = format!(
                "block {} by {} (the next waiter or sweep makes it {})",
                block_state(s).name(),
                sc.gone(holder),
                if phase_of(s) == WRITING {
                    "empty"
                } else {
                    "full"
                }
            );
            sc.stale(format!("{loc} block {b}"), msg);
        }
    }
}
