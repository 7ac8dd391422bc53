//! The region heap: size-class free lists over a bump pointer, behind one robust lock.
//!
//! Blocks are 16-byte aligned and start with a 16-byte header:
//! `size_state` = block size in bytes (a class size, a multiple of 16) | state (low 4
//! bits: FREE or USED), and `next` = the next free block's absolute offset while on a
//! free list. A caller sees the data offset, 16 bytes after the block.
//!
//! An allocation takes, in order: a free block of its class (for one that needs 64-byte
//! alignment, an aligned one: object bodies); new space from the bump area; once that is
//! used up, a free block of up to [`BORROW_CLASSES`] classes above; then a larger free
//! block cut in pieces of class sizes (`split_larger`); and last, if blocks were freed
//! since the last time, it merges free blocks and tries again (see "Merging").
//!
//! Crash safety: every mutation is committed by one store while the allocator lock is
//! held — `heap_top` for a bump allocation, a free-list link for a pop or a push, a block
//! header for a split — and the lock records its owner, so a process that dies inside
//! the allocator leaves either the old or the new state, never a torn list. The worst
//! outcome is a leaked block (popped, bumped or split off but never handed out or freed,
//! or marked FREE but not yet pushed), which a checker can reclaim. [`Heap::free_at`] (used to reclaim removed objects) goes
//! further: it records what it frees in the live header first, so whoever takes the
//! lock over from a dead owner finishes the free and nothing leaks.
//!
//! ## Merging
//!
//! Free blocks are not merged as they are freed: space freed in small blocks serves small
//! requests only. When an allocation finds no room at all, [`Heap::coalesce`] walks the
//! heap (under the allocator lock: once to validate every header, once to rewrite) and
//! rebuilds every free list: each run of
//! adjacent free blocks becomes as few blocks of class sizes as can hold it, largest
//! first, and a run that ends at the bump pointer goes back to the bump area (the pointer
//! moves down to where the run starts), where any allocation, an aligned one too, can use
//! it. Steps, each a single store that leaves a heap walk consistent: `coalesce_intent`
//! is set; every list head is cleared (the free blocks are off their lists, still marked
//! FREE); for each run, its first header grows to the whole run (a *span*: a FREE block
//! whose size may be no class size, which only this pass makes), the headers of the new
//! pieces are written inside it, and the first shrinks to the first piece; each piece is
//! pushed on its list; `coalesce_intent` is cleared. A process that dies in the middle
//! leaves the intent set, and whoever takes the lock next (`after_lock`) runs the pass
//! again from the block headers, which hold the whole truth: every FREE block is free
//! (nothing hands out a block before marking it USED), spans included.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::semantics::options::Acquired;
use crate::shm::format::layout::{round_up, FixedHeader, LiveHeader, NCLASSES};
use crate::shm::format::proctable::ProcTable;
use crate::shm::os::mem::Mapping;
use crate::shm::wait::{self, Deadline};

pub const BLOCK_HEADER: u64 = 16;
pub(crate) const STATE_MASK: u64 = 0xF;
pub(crate) const STATE_FREE: u64 = 0x5;
pub(crate) const STATE_USED: u64 = 0xA;
/// How many classes above the wanted one an allocation may take a whole block from when
/// its own class is empty and the bump area is exhausted (at most 50 % more than the
/// class: a block further up is cut instead, `split_larger`; taking blocks of up to 8
/// classes above whole, up to 4 times the request, wasted most of such a block).
const BORROW_CLASSES: usize = 2;
/// How far down a free list an allocation that needs 64-byte alignment looks for a block
/// that has it (each step reads one block header, under the allocator lock).
const ALIGNED_SCAN: usize = 256;
/// How many blocks of the requested class a split carves beyond the one it returns.
const SPLIT_CARVE: u64 = 64;

/// Size of class `idx`: 32..128 in steps of 16, then four classes per power of two.
pub fn class_size(idx: usize) -> u64 {
    if idx < 7 {
        32 + 16 * idx as u64
    } else {
        let p = 7 + (idx - 7) / 4;
        let sub = (idx - 7) % 4 + 1;
        (1u64 << p) + sub as u64 * (1u64 << (p - 2))
    }
}

/// Smallest class whose size is at least `total` (header included).
pub fn class_of(total: u64) -> Option<usize> {
    let total = total.max(32);
    let idx = if total <= 128 {
        (total.div_ceil(16) - 2) as usize
    } else {
        let p = 63 - (total - 1).leading_zeros() as usize; // 2^p < total <= 2^(p+1)
        let quarter = 1u64 << (p - 2);
        let sub = (total - (1u64 << p)).div_ceil(quarter) as usize; // 1..=4
        7 + (p - 7) * 4 + sub - 1
    };
    (idx < NCLASSES).then_some(idx)
}

/// `rest` bytes as blocks of class sizes, largest first: none for 0, `None` if it cannot
/// be (16 bytes, or not a multiple of 16). Every multiple of 16 from 32 to 128 is a class
/// size, so a greedy cut that never leaves 16 bytes always ends on one.
fn split_sizes(rest: u64) -> Option<Vec<u64>> {
    if (rest != 0 && rest < 32) || rest % 16 != 0 {
        return None;
    }
    let mut pieces = Vec::new();
    let mut left = rest;
    while left > 0 {
        let fits = |s: u64| s <= left && (left - s == 0 || left - s >= 32);
        let p = (0..NCLASSES).rev().map(class_size).find(|&s| fits(s))?;
        pieces.push(p);
        left -= p;
    }
    Some(pieces)
}

/// What a walk over the heap's block headers ([`HeapBlocks`]) found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Walked {
    Used,
    Free,
    /// Zero bytes before a block aligned to 64.
    Padding,
}

/// Where and why a walk over the heap's block headers stopped early.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BadBlock {
    pub at: u64,
    pub why: BadHeader,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BadHeader {
    /// A zero word where a block starts, not followed by an aligned block.
    Zero,
    /// A header word of no known state, of a size no block can have, or whose block
    /// runs past the bump pointer.
    Bad(u64),
    /// The header lies outside the mapping.
    OutOfBounds,
}

/// When a walk over the heap accepts a FREE block of no class size: a span of a merge in
/// progress (see "Merging" in the module documentation).
#[derive(Clone, Copy)]
pub(crate) enum Spans<'a> {
    /// Always: the merge's own walks, under the allocator lock.
    Accept,
    /// While this word (the live header's `coalesce_intent`) is set, read when the walk
    /// meets one: a check that runs beside live processes may see a merge start, or end,
    /// while it walks.
    WhileSet(&'a AtomicU64),
}

/// The blocks of the heap, in address order, from `start` to `end` (the bump pointer),
/// read from their headers: every walk over the heap (the allocator's merge, the
/// checker) reads and validates the headers here, and each says what a bad one means in
/// its own words. Yields `Err` once, at the first header that makes no sense, and
/// nothing after it.
pub(crate) struct HeapBlocks<'a> {
    map: &'a Mapping,
    p: u64,
    end: u64,
    spans: Spans<'a>,
}

impl<'a> HeapBlocks<'a> {
    pub(crate) fn new(map: &'a Mapping, start: u64, end: u64, spans: Spans<'a>) -> HeapBlocks<'a> {
        HeapBlocks {
            map,
            p: start,
            end,
            spans,
        }
    }

    fn spans_now(&self) -> bool {
        match self.spans {
            Spans::Accept => true,
            Spans::WhileSet(intent) => intent.load(Ordering::Acquire) != 0,
        }
    }

    fn next_block(&self) -> std::result::Result<(u64, Walked), BadHeader> {
        let p = self.p;
        let word = self
            .map
            .get::<AtomicU64>(p)
            .map_err(|_| BadHeader::OutOfBounds)?;
        let ss = word.load(Ordering::Acquire);
        if ss == 0 {
            let next = round_up(p + BLOCK_HEADER, 64) - BLOCK_HEADER;
            if next <= p || next >= self.end {
                return Err(BadHeader::Zero);
            }
            return Ok((next - p, Walked::Padding));
        }
        let size = ss & !STATE_MASK;
        let class_sized = class_of(size).map(class_size) == Some(size);
        let what = match ss & STATE_MASK {
            STATE_USED if class_sized => Walked::Used,
            STATE_FREE if class_sized || (size >= 32 && self.spans_now()) => Walked::Free,
            _ => return Err(BadHeader::Bad(ss)),
        };
        if size > self.end - p {
            return Err(BadHeader::Bad(ss));
        }
        Ok((size, what))
    }
}

impl Iterator for HeapBlocks<'_> {
    /// (offset, size, what) of the next block, or where the walk stopped.
    type Item = std::result::Result<(u64, u64, Walked), BadBlock>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.p >= self.end {
            return None;
        }
        let at = self.p;
        match self.next_block() {
            Ok((size, what)) => {
                self.p += size;
                Some(Ok((at, size, what)))
            }
            Err(why) => {
                self.p = self.end; // nothing after a bad header
                Some(Err(BadBlock { at, why }))
            }
        }
    }
}

struct BlockHeader<'a> {
    size_state: &'a AtomicU64,
    next: &'a AtomicU64,
}

/// A view of the heap of one region.
pub struct Heap<'a> {
    pub map: &'a Mapping,
    pub fixed: &'a FixedHeader,
    pub live: &'a LiveHeader,
    pub procs: &'a ProcTable<'a>,
    pub token: u32,
}

impl<'a> Heap<'a> {
    fn block(&self, block_off: u64) -> Result<BlockHeader<'a>> {
        let lo = self.fixed.heap_offset;
        if block_off < lo
            || block_off
                .checked_add(BLOCK_HEADER)
                .is_none_or(|end| end > self.fixed.total_size)
            || block_off % 16 != 0
        {
            return Err(Error::corrupt(format!(
                "heap block offset {block_off:#x} out of bounds"
            )));
        }
        Ok(BlockHeader {
            size_state: self.map.get(block_off)?,
            next: self.map.get(block_off + 8)?,
        })
    }

    fn with_lock<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        // A dead owner leaves a consistent allocator (single-store commits); only a
        // `free_at` it was in the middle of needs finishing.
        let how = wait::lock_internal(
            &self.live.alloc_lock,
            self.token,
            &Deadline::forever(),
            self.procs,
        )?;
        let r = self.after_lock(how).and_then(|_| f());
        wait::unlock(&self.live.alloc_lock);
        r
    }

    /// Just after taking the allocator lock (`how` it was acquired): finishes what a dead
    /// owner left unfinished — a [`Heap::free_at`], a merge of free blocks. A merge whose
    /// intent is still set is run again even when the lock was free (a sweep that took
    /// the lock over from the dead owner, or a version of this library without merging,
    /// released it without finishing): it depends only on the block headers.
    pub(crate) fn after_lock(&self, how: Acquired) -> Result<()> {
        if how == Acquired::Recovered {
            self.finish_free_at()?;
        }
        if self.live.coalesce_intent.load(Ordering::Acquire) != 0 {
            self.coalesce()?;
        }
        Ok(())
    }

    /// Frees the block whose data offset the word at absolute offset `at` holds, and
    /// clears the word, as one step that survives the caller's death: a process that
    /// takes the allocator lock over from a dead owner finishes it (see
    /// [`Heap::finish_free_at`]). A zero word means there is nothing (left) to free.
    pub fn free_at(&self, at: u64) -> Result<()> {
        let word: &AtomicU64 = self.map.get(at)?;
        self.with_lock(|| {
            if word.load(Ordering::Acquire) == 0 {
                return Ok(());
            }
            self.live.free_intent.store(at, Ordering::Release);
            self.finish_free_at()
        })
    }

    /// Under the allocator lock: completes the `free_at` recorded in `free_intent`, if
    /// any. Each of its steps can be recognised as done or not done: the word is nonzero
    /// until the end; the block is USED until marked FREE; a FREE block is on its list
    /// exactly when it is the list's head (nothing else touched the list since: the lock
    /// was held throughout).
    fn finish_free_at(&self) -> Result<()> {
        let at = self.live.free_intent.load(Ordering::Acquire);
        if at == 0 {
            return Ok(());
        }
        let word: &AtomicU64 = self.map.get(at)?;
        let data_off = word.load(Ordering::Acquire);
        if data_off != 0 {
            let block_off = data_off
                .checked_sub(BLOCK_HEADER)
                .ok_or_else(|| Error::corrupt("heap offset below the heap"))?;
            let b = self.block(block_off)?;
            let st = b.size_state.load(Ordering::Relaxed);
            match st & STATE_MASK {
                STATE_USED => self.release(block_off)?,
                STATE_FREE => {
                    let size = st & !STATE_MASK;
                    let class = class_of(size)
                        .filter(|&c| class_size(c) == size)
                        .ok_or_else(|| Error::corrupt("a free block of no class"))?;
                    let head = &self.live.free_heads[class];
                    if head.load(Ordering::Acquire) != block_off {
                        b.next
                            .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
                        head.store(block_off, Ordering::Release);
                    }
                }
                _ => {
                    return Err(Error::corrupt(format!(
                        "freeing a damaged heap block ({block_off:#x})"
                    )))
                }
            }
            word.store(0, Ordering::Release);
        }
        self.live.free_intent.store(0, Ordering::Release);
        Ok(())
    }

    /// Allocates room for `len` bytes; returns the absolute offset of the data. With
    /// `align64`, the data is 64-byte aligned (object bodies).
    pub fn alloc(&self, len: u64, align64: bool) -> Result<u64> {
        let total = len
            .checked_add(BLOCK_HEADER + 15)
            .map(|t| t & !15)
            .filter(|&t| t <= self.fixed.heap_size)
            .ok_or_else(|| self.no_space(len))?;
        let class = class_of(total).ok_or_else(|| self.no_space(len))?;
        self.with_lock(|| {
            if let Some(off) = self.try_alloc(class, align64)? {
                return Ok(off);
            }
            if self.coalesce_due(class_size(class)) {
                self.coalesce()?;
                if let Some(off) = self.try_alloc(class, align64)? {
                    return Ok(off);
                }
            }
            Err(self.no_space(len))
        })
    }

    /// [`Heap::alloc`] of a block of `class`, without merging; `None` when nothing fits.
    fn try_alloc(&self, class: usize, align64: bool) -> Result<Option<u64>> {
        let size = class_size(class);
        for c in class..(class + 1 + BORROW_CLASSES).min(NCLASSES) {
            if c > class && self.bump_room(size, align64) {
                break; // only borrow a bigger block when the bump area is exhausted
            }
            let got = if align64 {
                self.take_aligned(c)?
            } else {
                self.pop(c)?
            };
            if got.is_some() {
                return Ok(got);
            }
        }
        if let Some(off) = self.bump(size, align64)? {
            return Ok(Some(off));
        }
        self.split_larger(class, align64)
    }

    /// Whether a merge of free blocks may find room for `size` bytes: blocks were freed
    /// since the last merge, and the heap has that many bytes not in use (the use counter
    /// is advisory, so this is a hint).
    fn coalesce_due(&self, size: u64) -> bool {
        let l = self.live;
        l.frees.load(Ordering::Relaxed) != l.coalesced_at.load(Ordering::Relaxed)
            && self
                .fixed
                .heap_size
                .saturating_sub(l.heap_used.load(Ordering::Relaxed))
                >= size
    }

    /// Merges free blocks (see "Merging" in the module documentation). Under the
    /// allocator lock. A damaged heap (a bad block header) is reported as Corrupt before
    /// anything is changed.
    pub(crate) fn coalesce(&self) -> Result<()> {
        let l = self.live;
        self.walk(|_, _, _| Ok(()))?; // validates every header before the first change
        l.coalesce_intent.store(1, Ordering::Release);
        for head in &l.free_heads {
            head.store(0, Ordering::Release);
        }
        let end = self.fixed.heap_offset + l.heap_top.load(Ordering::Acquire);
        // The run of adjacent free blocks being collected (start, bytes), and where the
        // last block that stays ends (a block in use, or a settled run): the bump pointer
        // goes back to there when the last run reaches it, the padding before an aligned
        // block included.
        let mut run: Option<(u64, u64)> = None;
        let mut kept_end = self.fixed.heap_offset;
        self.walk(|off, size, what| {
            if let Some((start, bytes)) = run {
                if what == Walked::Free && start + bytes == off {
                    run = Some((start, bytes + size));
                    return Ok(());
                }
                self.settle_run(start, bytes)?;
                kept_end = start + bytes;
                run = None;
            }
            match what {
                Walked::Free => run = Some((off, size)),
                Walked::Used => kept_end = off + size,
                Walked::Padding => {}
            }
            Ok(())
        })?;
        if let Some((start, bytes)) = run {
            if start + bytes == end {
                // Commit: the run is bump area again.
                l.heap_top
                    .store(kept_end - self.fixed.heap_offset, Ordering::Release);
            } else {
                self.settle_run(start, bytes)?;
            }
        }
        l.coalesced_at
            .store(l.frees.load(Ordering::Relaxed), Ordering::Relaxed);
        l.coalesce_intent.store(0, Ordering::Release);
        Ok(())
    }

    /// Makes the run of `bytes` free bytes at `start` (blocks marked FREE, on no list)
    /// into blocks of class sizes, largest first, and puts them on their lists.
    fn settle_run(&self, start: u64, bytes: u64) -> Result<()> {
        let pieces = split_sizes(bytes)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::corrupt(format!("a free run of {bytes} bytes")))?;
        let first = self.block(start)?;
        if pieces.len() > 1 || first.size_state.load(Ordering::Relaxed) != bytes | STATE_FREE {
            // The run becomes one span; the pieces' headers are written inside it; then
            // the first block shrinks to the first piece, and the others appear.
            first
                .size_state
                .store(bytes | STATE_FREE, Ordering::Release);
            self.write_headers(start + pieces[0], &pieces[1..], STATE_FREE)?;
            first
                .size_state
                .store(pieces[0] | STATE_FREE, Ordering::Release);
        }
        let mut off = start;
        for &p in &pieces {
            let class = class_of(p).ok_or_else(|| Error::corrupt("a piece of no class"))?;
            let head = &self.live.free_heads[class];
            self.block(off)?
                .next
                .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
            head.store(off, Ordering::Release); // commit: on the list
            off += p;
        }
        Ok(())
    }

    /// Walks the heap's blocks in address order up to the bump pointer, calling `visit`
    /// with each block's offset, size and kind (and each stretch of padding before an
    /// aligned block). Corrupt, before visiting it, at a header no heap can hold: USED
    /// of no class size, FREE of less than 32 bytes or not a multiple of 16 (a FREE block
    /// of no class size is a span a merge left), any other state, or past the pointer.
    fn walk(&self, mut visit: impl FnMut(u64, u64, Walked) -> Result<()>) -> Result<()> {
        let top = self.live.heap_top.load(Ordering::Acquire);
        if top > self.fixed.heap_size {
            return Err(Error::corrupt("heap top beyond the heap"));
        }
        let start = self.fixed.heap_offset;
        for b in HeapBlocks::new(self.map, start, start + top, Spans::Accept) {
            let (p, size, what) = b.map_err(|BadBlock { at, why }| {
                Error::corrupt(match why {
                    BadHeader::Zero => format!("zero heap block header at {at:#x}"),
                    BadHeader::Bad(ss) => format!("bad heap block header {ss:#x} at {at:#x}"),
                    BadHeader::OutOfBounds => format!("heap block at {at:#x} out of bounds"),
                })
            })?;
            visit(p, size, what)?;
        }
        Ok(())
    }

    /// The bump area is exhausted and no block of `class` or of the few classes above it
    /// is free: carves a block of `class` from the smallest free block of a larger class,
    /// and gives the rest back as free blocks of class sizes. Without this, a heap whose
    /// free space sat in blocks much larger than a request (large values replaced by small
    /// ones) refused the request with most of the heap free. With `align64` the block is
    /// cut where its data is 64-byte aligned: the bytes before it become a free block of
    /// their own (0, 32, 48 or 80 bytes).
    ///
    /// Crash safety: the large block is taken off its list first (a crash leaks it whole);
    /// the headers of the pieces are written inside it while a heap walk still sees one
    /// block; one store then shrinks it to its first piece (the requested block, or the
    /// bytes before an aligned one), making the others blocks of their own (allocated: a
    /// crash before each is freed leaks it, which a check or a merge reclaims).
    fn split_larger(&self, class: usize, align64: bool) -> Result<Option<u64>> {
        let size = class_size(class);
        for c in (class + 1 + BORROW_CLASSES).min(NCLASSES)..NCLASSES {
            let head = self.live.free_heads[c].load(Ordering::Acquire);
            if head == 0 {
                continue;
            }
            // Bytes before the requested block: none, or a free block of 32 to 80 bytes
            // that puts the requested block's data on a multiple of 64.
            let before = if align64 {
                match (head + BLOCK_HEADER) % 64 {
                    0 => 0,
                    16 => 48,
                    32 => 32,
                    _ => 80,
                }
            } else {
                0
            };
            let Some(rest) = class_size(c).checked_sub(before + size) else {
                continue;
            };
            // The rest: for an unaligned request, up to SPLIT_CARVE more blocks of the
            // requested class (the next requests of that size find them on its list;
            // cutting the rest into ever smaller classes instead left a small unusable
            // piece per request), then class-size pieces.
            let mut carve = if align64 {
                0
            } else {
                (rest / size).min(SPLIT_CARVE)
            };
            let mut tail = rest - carve * size;
            if tail == 16 && carve > 0 {
                carve -= 1;
                tail += size;
            }
            let Some(mut pieces) = split_sizes(tail) else {
                continue;
            };
            pieces.extend(std::iter::repeat_n(size, carve as usize));
            let Some(data) = self.pop(c)? else {
                continue;
            };
            let block_off = data - BLOCK_HEADER;
            // The layout from `block_off`: [before] [the request] [pieces...]; the first
            // of them keeps the taken block's header.
            let mut layout = Vec::with_capacity(pieces.len() + 2);
            if before > 0 {
                layout.push(before);
            }
            layout.push(size);
            layout.extend(pieces);
            self.write_headers(block_off + layout[0], &layout[1..], STATE_USED)?;
            // Commit: the taken block is its first piece from here on.
            self.block(block_off)?
                .size_state
                .store(layout[0] | STATE_USED, Ordering::Release);
            let mut off = block_off;
            let mut taken = 0;
            for &p in &layout {
                if off == block_off + before {
                    taken = off + BLOCK_HEADER;
                } else {
                    self.release(off)?;
                }
                off += p;
            }
            debug_assert!(!align64 || taken % 64 == 0);
            return Ok(Some(taken));
        }
        Ok(None)
    }

    /// Writes the headers of blocks of `sizes`, one after the other from `off`, in state
    /// `state` and linked to nothing: inside a block that a heap walk still sees whole
    /// (a split, a merge), until the store that makes them blocks of their own.
    fn write_headers(&self, mut off: u64, sizes: &[u64], state: u64) -> Result<()> {
        for &p in sizes {
            let b = self.block(off)?;
            b.size_state.store(p | state, Ordering::Relaxed);
            b.next.store(0, Ordering::Relaxed);
            off += p;
        }
        Ok(())
    }

    /// Takes a free block of class `class` whose data is 64-byte aligned off its list: the
    /// first such block among the list's first [`ALIGNED_SCAN`] (an object's body, freed
    /// when the object was removed, is one). Without this, aligned allocations only ever
    /// took new space, and a region whose objects are removed and created again ran out
    /// of heap with nearly all of it free.
    fn take_aligned(&self, class: usize) -> Result<Option<u64>> {
        let mut link = &self.live.free_heads[class]; // the word that points at `cur`
        let mut cur = link.load(Ordering::Acquire);
        for _ in 0..ALIGNED_SCAN {
            if cur == 0 {
                return Ok(None);
            }
            let (b, next) = self.free_block(class, cur)?;
            if (cur + BLOCK_HEADER) % 64 == 0 {
                return self.unlink(class, link, cur, &b, next).map(Some);
            }
            link = b.next;
            cur = next;
        }
        Ok(None)
    }

    fn no_space(&self, len: u64) -> Error {
        Error::NoSpace(format!(
            "region heap cannot hold {len} more bytes ({} of {} bytes in use)",
            self.live.heap_used.load(Ordering::Relaxed),
            self.fixed.heap_size
        ))
    }

    fn bump_start(&self, top: u64, align64: bool) -> u64 {
        let base = self.fixed.heap_offset;
        if align64 {
            round_up(base + top + BLOCK_HEADER, 64) - BLOCK_HEADER - base
        } else {
            top
        }
    }

    fn bump_room(&self, size: u64, align64: bool) -> bool {
        let top = self.live.heap_top.load(Ordering::Relaxed);
        // A damaged top (beyond the heap) has no room; `bump` reports it.
        top <= self.fixed.heap_size && self.bump_start(top, align64) + size <= self.fixed.heap_size
    }

    fn bump(&self, size: u64, align64: bool) -> Result<Option<u64>> {
        let top = self.live.heap_top.load(Ordering::Relaxed);
        if top > self.fixed.heap_size {
            return Err(Error::corrupt("heap top beyond the heap"));
        }
        let start = self.bump_start(top, align64);
        if start + size > self.fixed.heap_size {
            return Ok(None);
        }
        let block_off = self.fixed.heap_offset + start;
        if start > top {
            // The padding before an aligned block must read as zeros (the region checker
            // walks the heap and skips zero words): a bump that died after writing a
            // block header but before committing `heap_top` may have left one here.
            self.map.zero(self.fixed.heap_offset + top, start - top)?;
        }
        let b = self.block(block_off)?;
        b.size_state.store(size | STATE_USED, Ordering::Relaxed);
        b.next.store(0, Ordering::Relaxed);
        // Commit: the block exists from this store on.
        self.live.heap_top.store(start + size, Ordering::Release);
        self.live.heap_used.fetch_add(size, Ordering::Relaxed);
        Ok(Some(block_off + BLOCK_HEADER))
    }

    fn pop(&self, class: usize) -> Result<Option<u64>> {
        let head = &self.live.free_heads[class];
        let block_off = head.load(Ordering::Acquire);
        if block_off == 0 {
            return Ok(None);
        }
        let (b, next) = self.free_block(class, block_off)?;
        self.unlink(class, head, block_off, &b, next).map(Some)
    }

    /// The header of the block at `block_off` on free list `class`, and its `next`; Corrupt
    /// if it is not a free block of that class.
    fn free_block(&self, class: usize, block_off: u64) -> Result<(BlockHeader<'a>, u64)> {
        let b = self.block(block_off)?;
        let st = b.size_state.load(Ordering::Relaxed);
        if st & STATE_MASK != STATE_FREE || st & !STATE_MASK != class_size(class) {
            return Err(Error::corrupt(format!(
                "free list {class} holds a bad block at {block_off:#x}"
            )));
        }
        let next = b.next.load(Ordering::Relaxed);
        Ok((b, next))
    }

    /// Takes the free block at `block_off` (header `b`) of class `class` off its list:
    /// `link` is the word that points at it (the list's head or the previous block's
    /// `next`), `next` its successor. Returns its data offset.
    fn unlink(
        &self,
        class: usize,
        link: &AtomicU64,
        block_off: u64,
        b: &BlockHeader<'a>,
        next: u64,
    ) -> Result<u64> {
        if next != 0 {
            self.block(next)?; // validate before committing
        }
        // Commit: the block is off the list (a crash from here on leaks it).
        link.store(next, Ordering::Release);
        b.size_state
            .store(class_size(class) | STATE_USED, Ordering::Relaxed);
        self.live
            .heap_used
            .fetch_add(class_size(class), Ordering::Relaxed);
        Ok(block_off + BLOCK_HEADER)
    }

    /// Returns a block obtained from [`Heap::alloc`]. A block that is not allocated gives
    /// `Corrupt` and changes nothing.
    pub fn free(&self, data_off: u64) -> Result<()> {
        let block_off = data_off
            .checked_sub(BLOCK_HEADER)
            .ok_or_else(|| Error::corrupt("heap offset below the heap"))?;
        self.with_lock(|| self.release(block_off))
    }

    /// [`Heap::free`] under the lock.
    fn release(&self, block_off: u64) -> Result<()> {
        {
            let b = self.block(block_off)?;
            let st = b.size_state.load(Ordering::Relaxed);
            let size = st & !STATE_MASK;
            let class = class_of(size)
                .filter(|&c| class_size(c) == size && st & STATE_MASK == STATE_USED)
                .ok_or_else(|| {
                    Error::corrupt(format!(
                        "freeing a block that is not allocated ({block_off:#x})"
                    ))
                })?;
            if block_off + size > self.fixed.total_size {
                return Err(Error::corrupt("heap block extends past the region"));
            }
            let head = &self.live.free_heads[class];
            b.size_state.store(size | STATE_FREE, Ordering::Relaxed);
            b.next
                .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
            // Commit: the block is on the list.
            head.store(block_off, Ordering::Release);
            let frees = &self.live.frees;
            frees.store(
                frees.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
            self.live.heap_used.fetch_sub(
                size.min(self.live.heap_used.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_rest_of_a_split_is_cut_into_class_sizes() {
        for rest in (32..=1 << 16).step_by(16) {
            let pieces = split_sizes(rest).unwrap_or_else(|| panic!("{rest}"));
            assert_eq!(pieces.iter().sum::<u64>(), rest);
            for p in pieces {
                assert_eq!(class_of(p).map(class_size), Some(p), "{rest}: piece {p}");
            }
        }
        assert_eq!(split_sizes(0), Some(vec![]));
        assert_eq!(split_sizes(16), None);
        assert_eq!(split_sizes(40), None);
    }

    /// A 4 KiB mapping of a file in /dev/shm (removed at once), its words all zero.
    fn scratch_map() -> Mapping {
        Mapping::new(&crate::shm::os::mem::shm_file("heap-walk", 4096), 4096).unwrap()
    }

    fn header(m: &Mapping, at: u64, word: u64) {
        m.get::<AtomicU64>(at)
            .unwrap()
            .store(word, Ordering::Relaxed);
    }

    fn walk(
        m: &Mapping,
        end: u64,
        spans: Spans,
    ) -> Vec<std::result::Result<(u64, u64, Walked), BadBlock>> {
        HeapBlocks::new(m, 0, end, spans).collect()
    }

    #[test]
    fn the_heap_walk_reads_blocks_padding_and_spans_and_stops_at_a_bad_header() {
        let span = (32..)
            .step_by(16)
            .find(|&s| class_of(s).map(class_size) != Some(s))
            .unwrap();
        let m = scratch_map();
        // [USED 32][FREE 48][padding to the next block whose data is 64-aligned][USED 64]
        // [FREE span]
        header(&m, 0, 32 | STATE_USED);
        header(&m, 32, 48 | STATE_FREE);
        let aligned = round_up(80 + BLOCK_HEADER, 64) - BLOCK_HEADER;
        header(&m, aligned, 64 | STATE_USED);
        let end = aligned + 64 + span;
        header(&m, aligned + 64, span | STATE_FREE);
        let good = vec![
            Ok((0, 32, Walked::Used)),
            Ok((32, 48, Walked::Free)),
            Ok((80, aligned - 80, Walked::Padding)),
            Ok((aligned, 64, Walked::Used)),
            Ok((aligned + 64, span, Walked::Free)),
        ];
        assert_eq!(walk(&m, end, Spans::Accept), good);
        // A span is a bad header unless the caller accepts spans: a check accepts them
        // while the merge intent is set, read when the walk meets one.
        let intent = AtomicU64::new(1);
        assert_eq!(walk(&m, end, Spans::WhileSet(&intent)), good);
        intent.store(0, Ordering::Relaxed);
        let mut no_spans = good.clone();
        no_spans[4] = Err(BadBlock {
            at: aligned + 64,
            why: BadHeader::Bad(span | STATE_FREE),
        });
        assert_eq!(walk(&m, end, Spans::WhileSet(&intent)), no_spans);
        // A merge that starts while the walk is under way (the intent set after the walk
        // began, before it reaches the span).
        intent.store(0, Ordering::Relaxed);
        let mut blocks = HeapBlocks::new(&m, 0, end, Spans::WhileSet(&intent));
        let first: Vec<_> = blocks.by_ref().take(4).collect();
        intent.store(1, Ordering::Relaxed);
        assert_eq!(first.into_iter().chain(blocks).collect::<Vec<_>>(), good);
        // A block running past the end, a header of no state, a used block of no class
        // size, a zero word with no aligned block after it: the walk stops there.
        let bad = |m: &Mapping, end: u64, why: BadHeader| {
            let mut want = good[..4].to_vec();
            want.push(Err(BadBlock {
                at: aligned + 64,
                why,
            }));
            assert_eq!(walk(m, end, Spans::Accept), want);
        };
        bad(&m, end - 16, BadHeader::Bad(span | STATE_FREE));
        header(&m, aligned + 64, span | 0x3);
        bad(&m, end, BadHeader::Bad(span | 0x3));
        header(&m, aligned + 64, span | STATE_USED);
        bad(&m, end, BadHeader::Bad(span | STATE_USED));
        header(&m, aligned + 64, 0);
        bad(&m, aligned + 64 + 32, BadHeader::Zero);
        // A walk that would leave the mapping.
        let at = 4096 - 32;
        header(&m, at, 64 | STATE_USED);
        assert_eq!(
            HeapBlocks::new(&m, at, 8192, Spans::Accept).collect::<Vec<_>>(),
            vec![
                Ok((at, 64, Walked::Used)),
                Err(BadBlock {
                    at: at + 64,
                    why: BadHeader::OutOfBounds
                })
            ]
        );
    }

    #[test]
    fn classes_are_monotonic_and_tight() {
        let mut prev = 0;
        for i in 0..NCLASSES {
            let s = class_size(i);
            assert!(s > prev && s % 16 == 0, "class {i} size {s}");
            assert_eq!(class_of(s), Some(i));
            assert_eq!(
                class_of(prev + 1),
                Some(i),
                "just above class {}",
                i.saturating_sub(1)
            );
            prev = s;
        }
        // Waste is at most a quarter above 128 bytes.
        for total in [129u64, 1000, 4097, 1 << 20, (1 << 20) + 1] {
            let s = class_size(class_of(total).unwrap());
            assert!(s >= total && s <= total + total / 4 + 16, "{total} -> {s}");
        }
    }
}
