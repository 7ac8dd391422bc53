//! The object kinds. Each module is a kind's whole life: its layout in the region file,
//! its operations, its open rules ([`KindSpec`] and `Region::<kind>`), how it recovers
//! after a crash (the same steps whether a live process meets the damage or the sweep
//! does), and how the checker scans it. [`KINDS`] is the table the checker and the
//! sweep-on-open ask; they hold no kind-specific logic themselves.

pub mod array;
pub mod barrier;
pub mod bus;
pub mod element;
pub mod map;
pub mod mutex;
pub mod queue;
pub mod semaphore;
pub mod service;
pub mod tarray;

use crate::error::{Error, Result};
use crate::shm::format::region::{Hooks, KindSpec, RegionInner};
use crate::shm::format::scan::Scan;

/// An object where the directory places it, for the checker and the sweep. Its body
/// (`shape`, `flags`) has been bounds-checked: every offset inside `body ..
/// body + size_of(shape)` lies in the file.
pub(crate) struct Placed<'a> {
    /// How messages name it: `map 'jobs'`.
    pub loc: &'a str,
    pub shape: u64,
    pub flags: u32,
    /// Absolute offset of the body, right after the object header.
    pub body: u64,
}

/// What a sweep for stale entries did (counts, saturating).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Swept {
    /// Locks taken over from dead owners (and repaired under them).
    pub locks: u32,
    /// `read_rw` holds of dead holders released.
    pub readers: u32,
    /// Pushes left unfinished by dead producers, abandoned.
    pub pushes: u32,
    /// Semaphore holder records of dead holders dropped.
    pub permits: u32,
    /// Service request slots left by dead callers or servers, freed.
    pub requests: u32,
    /// Typed array blocks left WRITING or READING by dead holders, given back.
    pub blocks: u32,
}

impl Swept {
    pub(crate) fn lock_taken_over(&mut self, yes: bool) {
        if yes {
            self.locks = self.locks.saturating_add(1);
        }
    }
}

/// What the checker and the sweep ask of a kind.
pub(crate) struct KindOps {
    /// Its directory code, names and size (the open rules use the same).
    pub spec: &'static KindSpec,
    /// What reports call an object of this kind with these flags ("stack" for a LIFO).
    pub label: fn(flags: u32) -> &'static str,
    /// Checks the body (read-only), reporting through `scan`.
    pub scan: fn(&mut Scan<'_>, &Placed<'_>),
    /// Cleans up what dead processes left in the body, with the steps a live process
    /// takes when it meets them (so it is safe whoever else is attached).
    pub sweep: fn(&RegionInner, &Placed<'_>, &mut Swept) -> Result<()>,
    /// Frees every heap block a removed body owns (no process holds it any more), each
    /// with `Heap::free_at` so that a reclaim cut short by a crash can run again: a word
    /// it already cleared names nothing.
    pub release: fn(&RegionInner, &Placed<'_>) -> Result<()>,
}

/// Every kind, by directory code.
pub(crate) const KINDS: [&KindOps; 9] = [
    &array::OPS,
    &map::OPS,
    &queue::OPS,
    &bus::OPS,
    &mutex::OPS,
    &barrier::OPS,
    &semaphore::OPS,
    &service::OPS,
    &tarray::OPS,
];

/// The kind with directory code `code`, if this library knows it.
pub(crate) fn by_code(code: u32) -> Option<&'static KindOps> {
    KINDS.iter().copied().find(|k| k.spec.words.code == code)
}

/// What the format layer asks of the kinds.
pub(crate) static HOOKS: Hooks = Hooks {
    detach: element::release_all_rw,
    release: release_body,
};

fn release_body(r: &RegionInner, kind: u32, offset: u64, shape: u64, flags: u32) -> Result<()> {
    let ops = by_code(kind)
        .ok_or_else(|| Error::corrupt(format!("removed object of unknown kind {kind}")))?;
    let loc = format!("{} being reclaimed", ops.spec.words.name);
    (ops.spec.size_of)(shape)
        .and_then(|size| offset.checked_add(size))
        .filter(|&end| offset >= r.fixed.heap_offset && end <= r.fixed.total_size)
        .ok_or_else(|| Error::corrupt(format!("{loc}: body does not fit the heap")))?;
    let placed = Placed {
        loc: &loc,
        shape,
        flags,
        body: offset + std::mem::size_of::<crate::shm::format::layout::ObjectHeader>() as u64,
    };
    (ops.release)(r, &placed)
}

/// A kind whose body owns no heap blocks.
pub(crate) fn nothing_to_release(_: &RegionInner, _: &Placed<'_>) -> Result<()> {
    Ok(())
}

/// A kind that leaves nothing to sweep.
pub(crate) fn nothing_to_sweep(_: &RegionInner, _: &Placed<'_>, _: &mut Swept) -> Result<()> {
    Ok(())
}

/// A fresh 1 MiB region for a unit test of a kind, named after `tag` and this process.
/// The name removes the region when dropped, so a failing test leaves nothing in
/// /dev/shm (drop the region's handles first).
#[cfg(test)]
pub(crate) fn unit_region(tag: &str) -> (crate::shm::Region, UnitRegionName) {
    use crate::shm::{OpenOptions, Region};
    let name = format!("unit-{tag}-{}", std::process::id());
    let _ = Region::remove(&name);
    let opts = OpenOptions {
        size: 1 << 20,
        ..OpenOptions::default()
    };
    (Region::open(&name, &opts).unwrap(), UnitRegionName(name))
}

/// See [`unit_region`].
#[cfg(test)]
pub(crate) struct UnitRegionName(pub String);

#[cfg(test)]
impl std::ops::Deref for UnitRegionName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
impl Drop for UnitRegionName {
    fn drop(&mut self) {
        let _ = crate::shm::Region::remove(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::unit_region;

    /// Objects removed and created again reuse the space of the removed ones: an object's
    /// body is allocated 64-byte aligned, and such allocations once took only new space,
    /// so a 1 MiB region ran out after ~200 create/remove rounds of a small queue with
    /// nearly all of its heap free. 3,000 rounds of three kinds must fit.
    #[test]
    fn objects_created_and_removed_again_and_again_reuse_their_space() {
        let (r, _name) = unit_region("object-churn");
        for round in 0..3000 {
            let q = r
                .queue("q", 8, 0)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let a = r
                .array("a", 8, 0)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let m = r
                .map("m", 16, 0)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            drop((q, a, m));
            for name in ["q", "a", "m"] {
                r.remove_object(name)
                    .unwrap_or_else(|e| panic!("round {round}: remove {name}: {e}"));
            }
        }
        let info = r.info().unwrap();
        assert!(info.heap_used < 64 << 10, "{} bytes in use", info.heap_used);
    }

    /// Arrays "big" (64 elements) and "small" (1,024) in `r`, and "big" filled with
    /// values of 50 KB until the heap refuses one (its bump area is nearly used up);
    /// returns them and how many values fitted.
    fn fill_with_large_values(
        r: &crate::shm::Region,
    ) -> (crate::shm::Array, crate::shm::Array, u64) {
        use crate::semantics::value::ValueRef;
        let big = r.array("big", 64, 0).unwrap();
        let small = r.array("small", 1024, 0).unwrap();
        let blob = vec![7u8; 50_000];
        let mut n = 0;
        while n < 64 && big.write(n, ValueRef::Bytes(&blob)).is_ok() {
            n += 1;
        }
        assert!(n > 4 && n < 64, "{n} large values");
        (big, small, n)
    }

    /// Uses up the rest of the bump area with 600-byte values that stay, in elements
    /// 0.. of `small` (fewer than `limit` of them: the heap refuses one first).
    fn fill_bump_rest(small: &crate::shm::Array, limit: u64) {
        use crate::semantics::value::ValueRef;
        let v = vec![1u8; 600];
        let mut m = 0;
        while m < limit && small.write(m, ValueRef::Bytes(&v)).is_ok() {
            m += 1;
        }
        assert!(m < limit, "{m} small values");
    }

    /// Space freed by large values serves small ones: with the bump area used up and
    /// only large blocks free, a small allocation is carved from a large block (it was
    /// refused, with most of the heap free).
    #[test]
    fn small_values_fit_where_large_ones_were_freed() {
        use crate::semantics::value::ValueRef;
        let (r, _name) = unit_region("heap-split");
        let (big, small, n) = fill_with_large_values(&r);
        for i in 0..n {
            big.write(i, ValueRef::Int(0)).unwrap();
        }
        let v = vec![1u8; 600];
        for i in 0..1024 {
            small
                .write(i, ValueRef::Bytes(&v))
                .unwrap_or_else(|e| panic!("small value {i}: {e}"));
        }
        drop((big, small));
    }

    /// Fills the heap of a fresh unit region with values of `len` bytes in array "small"
    /// (until it refuses one: the bump area is used up), then frees them all. Returns the
    /// region, its name and how many values fitted.
    fn fill_and_free(
        tag: &str,
        len: usize,
    ) -> (
        crate::shm::Region,
        super::UnitRegionName,
        crate::shm::Array,
        u64,
    ) {
        use crate::semantics::value::ValueRef;
        let (r, name) = unit_region(tag);
        let small = r.array("small", 4096, 0).unwrap();
        let v = vec![3u8; len];
        let mut n = 0;
        while n < 4096 && small.write(n, ValueRef::Bytes(&v)).is_ok() {
            n += 1;
        }
        assert!(n > 100 && n < 4096, "{n} values of {len} bytes");
        for i in 0..n {
            small.write(i, ValueRef::Int(0)).unwrap();
        }
        (r, name, small, n)
    }

    /// Space freed by many small values serves large ones: adjacent free blocks are
    /// merged when an allocation finds no room (large values were refused, with the heap
    /// all free in blocks of 600-odd bytes), and the free run at the end of the heap goes
    /// back to the bump area, where an object (an aligned allocation) fits again.
    #[test]
    fn large_values_fit_where_small_ones_were_freed() {
        use crate::semantics::value::ValueRef;
        let (r, name, small, _) = fill_and_free("heap-merge", 600);
        let big = r.array("big", 64, 0).unwrap();
        let blob = vec![9u8; 50_000];
        let mut n = 0;
        while n < 64 && big.write(n, ValueRef::Bytes(&blob)).is_ok() {
            n += 1;
        }
        assert!(n >= 8, "only {n} values of 50 KB fit in the freed heap");
        for i in 0..n {
            big.write(i, ValueRef::Int(0)).unwrap();
        }
        // An object body is allocated 64-byte aligned: from the bump area, given back.
        let q = r.queue("q", 4_000, 0).unwrap();
        drop((q, big, small));
        let report = crate::shm::check::check(&name, &Default::default()).unwrap();
        assert_eq!(
            report.verdict(),
            crate::shm::check::Verdict::Consistent,
            "{report:?}"
        );
    }

    /// Objects (their bodies are allocated 64-byte aligned) fit where large values were
    /// freed: with the bump area used up and the free space in large blocks, an aligned
    /// allocation is cut from one where its data is aligned (it took only aligned blocks
    /// of its own size class or a few above, or new space, and was refused).
    #[test]
    fn objects_fit_where_large_values_were_freed() {
        use crate::semantics::value::ValueRef;
        let (r, _name) = unit_region("heap-split-aligned");
        let (big, small, n) = fill_with_large_values(&r);
        fill_bump_rest(&small, 1024);
        // Free the large values but the last (no free space at the end of the heap).
        for i in 0..n - 1 {
            big.write(i, ValueRef::Int(0)).unwrap();
        }
        let mut queues = Vec::new();
        for i in 0..40 {
            let name = format!("q{i}");
            queues.push(
                r.queue(&name, 16, 0)
                    .unwrap_or_else(|e| panic!("queue {i}: {e}")),
            );
        }
        drop((queues, big, small));
    }

    /// A freed block much larger than a request is cut, not handed out whole: with the
    /// bump area used up and one 50 KB value freed (a block of 56 KiB), four values of
    /// 14,000 bytes (blocks of 14 KiB) fit in its place (a block up to 8 classes above a
    /// request was taken whole, and the second value was refused).
    #[test]
    fn a_large_free_block_serves_several_smaller_requests() {
        use crate::semantics::value::ValueRef;
        let (r, _name) = unit_region("heap-borrow");
        let (big, small, n) = fill_with_large_values(&r);
        fill_bump_rest(&small, 1000);
        big.write(n - 1, ValueRef::Int(0)).unwrap();
        let mid = vec![2u8; 14_000];
        for i in 0..4 {
            small
                .write(1000 + i, ValueRef::Bytes(&mid))
                .unwrap_or_else(|e| panic!("value {i} of 14,000 bytes: {e}"));
        }
        drop((big, small));
    }

    /// A merge interrupted by the death of its process (simulated: the intent set, the
    /// lists cleared, two runs grown into spans of no class size) is finished by the next
    /// allocator call, and a check in between sees spans, not damage.
    #[test]
    fn an_interrupted_merge_is_finished_by_the_next_allocation() {
        use crate::semantics::value::ValueRef;
        use crate::shm::format::heap::{BLOCK_HEADER, STATE_FREE, STATE_MASK};
        use std::sync::atomic::{AtomicU64, Ordering};
        let (r, name, small, _) = fill_and_free("heap-merge-crash", 600);
        let inner = &r.inner;
        let live = inner.live();
        let heap_offset = inner.fixed.heap_offset;
        let mut spans = 0;
        live.coalesce_intent.store(1, Ordering::Release);
        for head in &live.free_heads {
            head.store(0, Ordering::Release);
        }
        // Grow free blocks over their free neighbours, as the pass does first.
        let end = heap_offset + live.heap_top.load(Ordering::Acquire);
        let mut p = heap_offset;
        while p < end && spans < 2 {
            let w: &AtomicU64 = inner.map.get(p).unwrap();
            let ss = w.load(Ordering::Relaxed);
            if ss == 0 {
                p = crate::shm::format::layout::round_up(p + BLOCK_HEADER, 64) - BLOCK_HEADER;
                continue;
            }
            let size = ss & !STATE_MASK;
            // This block and the next two, if all three are free (3 x 640 bytes: no class).
            let mut span = size;
            for _ in 0..2 {
                let q = p + span;
                if ss & STATE_MASK != STATE_FREE || q >= end {
                    break;
                }
                let ns = inner
                    .map
                    .get::<AtomicU64>(q)
                    .unwrap()
                    .load(Ordering::Relaxed);
                if ns & STATE_MASK != STATE_FREE {
                    break;
                }
                span += ns & !STATE_MASK;
            }
            let class = crate::shm::format::heap::class_of(span);
            if span > size && class.map(crate::shm::format::heap::class_size) != Some(span) {
                w.store(span | STATE_FREE, Ordering::Release);
                spans += 1;
            }
            p += span;
        }
        assert_eq!(spans, 2);
        let mid = crate::shm::check::check(&name, &Default::default()).unwrap();
        assert_ne!(
            mid.verdict(),
            crate::shm::check::Verdict::Corrupt,
            "{mid:?}"
        );
        // The next allocation finishes the merge; large values fit.
        let big = r.array("big", 6, 0).unwrap();
        let blob = vec![9u8; 50_000];
        for i in 0..6 {
            big.write(i, ValueRef::Bytes(&blob))
                .unwrap_or_else(|e| panic!("large value {i}: {e}"));
        }
        assert_eq!(live.coalesce_intent.load(Ordering::Acquire), 0);
        drop((big, small));
        let report = crate::shm::check::check(&name, &Default::default()).unwrap();
        assert_eq!(
            report.verdict(),
            crate::shm::check::Verdict::Consistent,
            "{report:?}"
        );
    }
}
