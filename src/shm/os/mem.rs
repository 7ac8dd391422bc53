//! The mapping of one region file, with bounds-checked access to shared structs.

use std::fs::File;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::{Error, Result};
/// Types that may be viewed in place inside a shared mapping: `#[repr(C)]`, made only of
/// atomics (or bytes written once before publication), valid for every bit pattern.
///
/// # Safety
/// Implementors must be valid for any bit pattern and have no interior pointers.
pub unsafe trait Shared {}
// SAFETY: every listed type is #[repr(C)], consists of atomics and plain bytes, and
// every bit pattern is a valid value.
unsafe impl Shared for AtomicU32 {}
// SAFETY: as above.
unsafe impl Shared for AtomicU64 {}

/// A `MAP_SHARED` mapping of a whole region file.
pub struct Mapping {
    map: memmap2::MmapRaw,
    len: u64,
}

impl Mapping {
    /// Maps `len` bytes of `file` read-write and shared.
    pub fn new(file: &File, len: u64) -> Result<Mapping> {
        let map = memmap2::MmapOptions::new()
            .len(len as usize)
            .map_raw(file)
            .map_err(|e| Error::from_io(&e, "mmap"))?;
        Ok(Mapping { map, len })
    }

    /// Maps `len` bytes of `file` read-only and shared (the checker: it sees other
    /// processes' changes but can never write). Only loads may go through it.
    pub fn new_read_only(file: &File, len: u64) -> Result<Mapping> {
        let map = memmap2::MmapOptions::new()
            .len(len as usize)
            .map_raw_read_only(file)
            .map_err(|e| Error::from_io(&e, "mmap"))?;
        Ok(Mapping { map, len })
    }

    pub fn base(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    fn check(&self, off: u64, len: u64, align: usize) -> Result<()> {
        let end = off.checked_add(len);
        if end.is_none_or(|e| e > self.len) || off % align as u64 != 0 {
            return Err(Error::corrupt(format!(
                "offset {off:#x} (+{len}) is outside the region or misaligned"
            )));
        }
        Ok(())
    }

    /// A shared struct at absolute offset `off`, bounds- and alignment-checked.
    pub fn get<T: Shared>(&self, off: u64) -> Result<&T> {
        self.check(off, size_of::<T>() as u64, align_of::<T>())?;
        // SAFETY: the range is inside the live mapping (checked above), suitably aligned
        // (the base is page aligned), and T is valid for any bit pattern (`Shared`). The
        // reference cannot outlive `self`, which owns the mapping.
        Ok(unsafe { &*(self.base().add(off as usize) as *const T) })
    }

    /// The `i`-th of consecutive structs starting at `off`.
    pub fn get_nth<T: Shared>(&self, off: u64, i: u64) -> Result<&T> {
        let at = i
            .checked_mul(size_of::<T>() as u64)
            .and_then(|d| d.checked_add(off))
            .ok_or_else(|| Error::corrupt("offset overflow"))?;
        self.get(at)
    }

    /// Copies `len` bytes out of the region.
    pub fn read_bytes(&self, off: u64, len: u64, out: &mut Vec<u8>) -> Result<()> {
        self.check(off, len, 1)?;
        out.reserve(len as usize + 1);
        // SAFETY: source range checked inside the mapping; destination has `len` bytes of
        // spare capacity (reserved above) and does not overlap shared memory.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base().add(off as usize),
                out.as_mut_ptr().add(out.len()),
                len as usize,
            );
            out.set_len(out.len() + len as usize);
        }
        Ok(())
    }

    /// Whether the `data.len()` bytes at `off` equal `data` (bytes that other processes may
    /// be changing are compared as they are; callers validate seqlock-style).
    pub fn bytes_equal(&self, off: u64, data: &[u8]) -> Result<bool> {
        self.check(off, data.len() as u64, 1)?;
        // SAFETY: range checked inside the mapping; read as plain bytes, which any bit
        // pattern is. A concurrent writer can only make the comparison come out wrong,
        // which the caller's re-check of the slot state detects.
        let stored =
            unsafe { std::slice::from_raw_parts(self.base().add(off as usize), data.len()) };
        Ok(stored == data)
    }

    /// Copies `data` into the region at `off`.
    pub fn write_bytes(&self, off: u64, data: &[u8]) -> Result<()> {
        self.check(off, data.len() as u64, 1)?;
        // SAFETY: destination range checked inside the mapping; the source is a Rust slice
        // that cannot overlap the shared mapping's bytes being written (callers own them
        // under the allocator's protocol).
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base().add(off as usize), data.len());
        }
        Ok(())
    }

    /// Fills `len` bytes at `off` with zeros.
    pub fn zero(&self, off: u64, len: u64) -> Result<()> {
        self.check(off, len, 1)?;
        // SAFETY: range checked inside the mapping.
        unsafe { std::ptr::write_bytes(self.base().add(off as usize), 0, len as usize) };
        Ok(())
    }

    /// msync + fsync.
    pub fn flush(&self, file: &File) -> Result<()> {
        crate::shm::os::sys::sync_mapping(self.base(), self.len as usize, file)
            .map_err(|e| Error::from_io(&e, "flush"))
    }

    /// The absolute offset of a reference obtained from this mapping.
    pub fn offset_of<T>(&self, r: &T) -> u64 {
        (r as *const T as usize - self.base() as usize) as u64
    }
}
