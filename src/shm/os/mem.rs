//! The mapping of one region file, with bounds-checked access to shared structs.

use std::fs::File;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::{Error, Result};
use crate::shm::os::sys;

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

/// A `MAP_SHARED` mapping of a whole region file. A region of at least one huge page
/// (2 MiB) is mapped at an address aligned to the huge page size, so that the kernel can
/// map the file's huge pages, where it has any, with one page-table entry each
/// ([`sys::map_shared`]); nothing stored in a region depends on where it is mapped.
pub struct Mapping {
    base: std::ptr::NonNull<u8>,
    len: u64,
}

// SAFETY: the mapping is plain shared memory owned by this struct until it is dropped;
// every access through it is bounds-checked and made of atomics or byte copies that the
// callers' protocols order, from any thread.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `file` read-write and shared. A region of at least one huge
    /// page is also advised to use huge pages (`madvise(MADV_HUGEPAGE)`, which only
    /// matters on a tmpfs mounted with `huge=advise` or `within_size`).
    pub fn new(file: &File, len: u64) -> Result<Mapping> {
        let map = Mapping::map(file, len, true)?;
        if len as usize >= sys::huge_page_size() {
            // SAFETY: the whole live mapping just made.
            unsafe { sys::advise_huge_pages(map.base(), len as usize) };
        }
        Ok(map)
    }

    /// Maps `len` bytes of `file` read-only and shared (the checker: it sees other
    /// processes' changes but can never write). Only loads may go through it.
    pub fn new_read_only(file: &File, len: u64) -> Result<Mapping> {
        Mapping::map(file, len, false)
    }

    fn map(file: &File, len: u64, writable: bool) -> Result<Mapping> {
        let size = usize::try_from(len)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::corrupt(format!("cannot map {len} bytes")))?;
        let p = sys::map_shared(file, size, writable).map_err(|e| Error::from_io(&e, "mmap"))?;
        let base = std::ptr::NonNull::new(p)
            .ok_or_else(|| Error::Internal("mmap gave a null address".into()))?;
        Ok(Mapping { base, len })
    }

    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Puts the data at `off..off + len` into huge pages now, where the kernel can
    /// ([`sys::collapse_huge_pages`]): every huge page of the file that the range
    /// touches, inside the mapping. For ranges of at least one huge page (smaller ones
    /// are left alone). Best effort: returns whether the kernel did it.
    pub fn collapse_huge_pages(&self, off: u64, len: u64) -> bool {
        let huge = sys::huge_page_size() as u64;
        if len < huge || (self.base() as usize) % huge as usize != 0 {
            return false;
        }
        let lo = off / huge * huge;
        let hi = off
            .saturating_add(len)
            .div_ceil(huge)
            .saturating_mul(huge)
            .min(self.len / huge * huge);
        if hi <= lo {
            return false;
        }
        // SAFETY: lo..hi lies inside the live mapping (hi <= len rounded down).
        unsafe { sys::collapse_huge_pages(self.base().add(lo as usize), (hi - lo) as usize) }
            .is_ok()
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

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`; every reference into it borrows `self`.
        unsafe { sys::unmap(self.base(), self.len as usize) };
    }
}

/// A file in /dev/shm (tmpfs, like volatile regions) of `len` bytes, unlinked at once.
#[cfg(test)]
pub(crate) fn shm_file(tag: &str, len: u64) -> File {
    let path = format!("/dev/shm/.plexus-mem-test-{tag}-{}", std::process::id());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file.set_len(len).unwrap();
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm_size_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn large_mappings_start_at_a_huge_page_and_share_the_file() {
        let huge = sys::huge_page_size() as u64;
        let len = 2 * huge + 3 * 4096; // not a multiple of the huge page size
        let file = shm_file("align", len);
        let a = Mapping::new(&file, len).unwrap();
        let b = Mapping::new_read_only(&file, len).unwrap();
        for m in [&a, &b] {
            assert_eq!(m.base() as usize % huge as usize, 0, "base {:p}", m.base());
        }
        a.write_bytes(len - 8, b"lastword").unwrap();
        a.write_bytes(0, b"first").unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        b.read_bytes(len - 8, 8, &mut x).unwrap();
        b.read_bytes(0, 5, &mut y).unwrap();
        assert_eq!((&x[..], &y[..]), (&b"lastword"[..], &b"first"[..]));
        // A small mapping is placed by the kernel, and works the same.
        let small = Mapping::new(&file, 8192).unwrap();
        small.write_bytes(4096, b"mid").unwrap();
        let mut z = Vec::new();
        a.read_bytes(4096, 3, &mut z).unwrap();
        assert_eq!(&z[..], b"mid");
    }

    /// Mapping and unmapping leaves no address space behind (a leaked reservation would
    /// grow the process by a huge page or more each time).
    #[test]
    fn mapping_and_unmapping_leaks_no_address_space() {
        let huge = sys::huge_page_size() as u64;
        let len = 2 * huge + 4096;
        let file = shm_file("leak", len);
        drop(Mapping::new(&file, len).unwrap());
        let before = vm_size_kib();
        let rounds = 2048;
        for _ in 0..rounds {
            drop(Mapping::new(&file, len).unwrap());
        }
        let grown = vm_size_kib().saturating_sub(before);
        // Other tests of this binary run meanwhile and map memory too: allow an eighth of
        // what leaking one huge page per round would add (4 GiB with 2 MiB pages).
        assert!(
            grown < rounds * huge / 1024 / 8,
            "address space grew by {grown} KiB over {rounds} mappings"
        );
    }
}
