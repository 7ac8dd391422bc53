//! `plexus_region`: opening, closing, flushing, removing and inspecting regions.

use std::ffi::c_char;
use std::sync::Arc;

use parking_lot::Mutex;

use super::handles::{self, Object, RegionEntry};
use super::status::{c_str, guard, out_ref, plexus_status};
use super::timeout;
use super::value::plexus_value;
use crate::backend::{OpenMode, OpenOptions, Region};
use crate::Error;

/// Handle of an open region. Id 0 is never valid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct plexus_region {
    pub id: u64,
}

/// How `plexus_region_open` treats an existing or missing region.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum plexus_open_mode {
    /// Open it if it exists, else create it (the default).
    PLEXUS_OPEN_OR_CREATE = 0,
    /// Create it; PLEXUS_E_EXISTS if it exists.
    PLEXUS_CREATE = 1,
    /// Open an existing region, waiting up to `wait_ns` for it to appear.
    PLEXUS_OPEN = 2,
    /// Remove any existing region of that name first, then create it.
    PLEXUS_RECREATE = 3,
}

/// The mode field as Rust reads it (any integer is defined behaviour; unknown modes are
/// rejected). Shown as `plexus_open_mode`.
pub type PlexusOpenModeField = u32;

/// Options of `plexus_region_open`. Initialize with PLEXUS_REGION_OPTIONS_INIT, then set
/// what you need; `struct_size` lets later versions add fields compatibly.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plexus_region_options {
    /// sizeof(plexus_region_options).
    pub struct_size: u32,
    /// What to do when the region exists or does not.
    pub mode: PlexusOpenModeField,
    /// Bytes, when creating (rounded up to 4 KiB; minimum about 236 KiB); 0 = 64 MiB. The
    /// whole size is reserved at creation, so a full /dev/shm fails here, not later.
    pub size: u64,
    /// File mode when creating, applied exactly (the umask is ignored); 0 = 0600.
    pub permissions: u32,
    /// PLEXUS_OPEN only: how long to wait for the region to appear, with the timeout
    /// convention (PLEXUS_FOREVER, 0 = do not wait, > 0 nanoseconds).
    pub wait_ns: i64,
}

/// Region statistics from `plexus_region_get_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct plexus_region_info {
    /// Size of the region file in bytes.
    pub size: u64,
    /// Bytes of the heap (where object bodies, strings, bytes and objects live).
    pub heap_size: u64,
    /// Heap bytes in use (allocated blocks including their headers).
    pub heap_used: u64,
    /// heap_size - heap_used (the largest single allocation may be smaller).
    pub heap_free: u64,
    /// Named objects in the region.
    pub object_count: u32,
    /// Live attachments (an attachment is one open region handle in one process).
    pub attached_processes: u32,
    /// Region format version (PLEXUS_FORMAT_VERSION when this library created it).
    pub format_version: u32,
    /// Reserved, 0.
    pub reserved0: u32,
    /// Random id chosen at creation: two handles with the same id share one region.
    pub region_id: u64,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_unix_ns: u64,
    /// Reserved for future fields, 0.
    pub reserved: [u64; 4],
}

/// Format version of regions this library creates and opens.
pub const PLEXUS_FORMAT_VERSION: u32 = 3;
const _: () = assert!(PLEXUS_FORMAT_VERSION == crate::FORMAT_VERSION);

/// Smallest `struct_size` accepted (the fields of version 0.1).
const OPTIONS_V1: usize = std::mem::size_of::<plexus_region_options>();

fn options(opts: *const plexus_region_options) -> Result<OpenOptions, Error> {
    if opts.is_null() {
        return Ok(OpenOptions::default());
    }
    // SAFETY: non-NULL; struct_size is the first field and read before anything else.
    let size = unsafe { std::ptr::addr_of!((*opts).struct_size).read() } as usize;
    if size < OPTIONS_V1 {
        return Err(Error::invalid(format!(
            "opts->struct_size is {size}, expected sizeof(plexus_region_options) = {OPTIONS_V1} (use PLEXUS_REGION_OPTIONS_INIT)"
        )));
    }
    // SAFETY: the caller's struct is at least as large as ours; every field is an integer.
    let o = unsafe { opts.read() };
    let mode = match o.mode {
        0 => OpenMode::OpenOrCreate,
        1 => OpenMode::Create,
        2 => OpenMode::Open,
        3 => OpenMode::Recreate,
        m => return Err(Error::invalid(format!("unknown open mode {m}"))),
    };
    let wait = timeout(o.wait_ns)?;
    Ok(OpenOptions {
        mode,
        size: o.size,
        permissions: o.permissions,
        wait,
    })
}

/// Opens or creates the region `name`.
///
/// `name` without '/' is a volatile region in /dev/shm (`/dev/shm/plexus.<name>`; 1-200
/// characters from A-Z a-z 0-9 . _ -); a name containing '/' is the path of a persistent
/// file. `opts` may be NULL for the defaults (open or create, 64 MiB, 0600).
///
/// A name `redis://[user:password@]host[:port]/NAME[?db=N&lease_ms=N&timeout_ms=N]` (or
/// `rediss://` for TLS) opens the remote region NAME on a Redis 7 or Valkey server:
/// every call then runs there, with the same meaning, for processes on any machine (see
/// docs/remote.md). The open modes mean the same; `size` and `permissions` do not apply.
/// `lease_ms` (default 5000): how long after a process stops (killed, or its machine
/// gone) its locks, `read_rw` holds and permits are taken back. `timeout_ms` (default
/// 5000): how long a call that takes no timeout of its own waits for the server before
/// PLEXUS_E_UNAVAILABLE. The password never appears in messages. Remote calls may also
/// return PLEXUS_E_UNAVAILABLE (the server could not be reached or did not answer in
/// time; the message says whether the change may have been made: a retry through the
/// same handle never makes it twice) and PLEXUS_E_REGION_LOST (the region's state
/// vanished on the server: flushed, restarted without persistence, removed or
/// replaced; open it again to start anew). A build without the Redis backend returns
/// PLEXUS_E_UNSUPPORTED for these names.
///
/// Creation is race-free: the region is built in a temporary file and published with one
/// atomic link, so an opener never sees a half-built region and concurrent creators
/// agree on one winner. Opening validates the header and never truncates, resizes or
/// writes to a file that fails validation.
///
/// Blocks: with PLEXUS_OPEN, until the region appears or `wait_ns` passes.
///
/// Returns PLEXUS_OK and `*out`; PLEXUS_E_NOT_FOUND (PLEXUS_OPEN, absent after the wait),
/// PLEXUS_E_EXISTS (PLEXUS_CREATE), PLEXUS_E_CORRUPT (not a region, damaged, truncated),
/// PLEXUS_E_INCOMPATIBLE (other format version, byte order or pointer width),
/// PLEXUS_E_PERMISSION, PLEXUS_E_NO_SPACE (file system or process table full),
/// PLEXUS_E_INVALID_ARGUMENT (NULL, bad name, size or option), PLEXUS_E_OS;
/// remote: PLEXUS_E_UNAVAILABLE, PLEXUS_E_PERMISSION (authentication refused),
/// PLEXUS_E_UNSUPPORTED. On failure `*out` is unchanged. Thread-safe.
#[no_mangle]
pub extern "C" fn plexus_region_open(
    name: *const c_char,
    opts: *const plexus_region_options,
    out: *mut plexus_region,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let opts = options(opts)?;
        let slot = out_ref(out, "out")?;
        let region = Region::open(name, &opts)?;
        let entry = RegionEntry {
            region,
            children: Mutex::new(Default::default()),
        };
        slot.id = handles::insert(Object::Region(Arc::new(entry)));
        Ok(())
    })
}

/// Closes a region handle and every object handle opened through it (they become
/// PLEXUS_E_BAD_HANDLE). Calls already running on other threads finish normally; the
/// mapping and the process-table entry go away after the last of them (another thread
/// that used one of the region's objects keeps a reference until its next call on an
/// object or its exit). Held `read_rw` locks are released then.
/// PLEXUS_E_BAD_HANDLE if already closed.
#[no_mangle]
pub extern "C" fn plexus_region_close(region: plexus_region) -> plexus_status {
    guard(|| handles::close_region(region.id))
}

/// Makes everything written to the region so far durable against power loss
/// (msync + fsync). Blocks until the data is on stable storage. Meaningful for
/// persistent (path) regions; harmless for volatile ones. Remote regions: waits until
/// the server says the writes are on disk (`WAITAOF`, Redis 7.2+ and Valkey, with AOF on)
/// or on its replicas (`WAIT`, Redis 7.0); how durable that is depends on the server's
/// persistence settings (docs/remote.md).
#[no_mangle]
pub extern "C" fn plexus_region_flush(region: plexus_region) -> plexus_status {
    guard(|| handles::region(region.id)?.region.flush())
}

/// Removes the region `name`: every process that still has it open gets
/// PLEXUS_E_REMOVED from its next call on any handle of it, and calls blocked in it
/// wake with PLEXUS_E_REMOVED within 100 ms. A shared-memory region's file is unlinked
/// (its memory goes when the last process lets go of it); a remote region's keys are
/// deleted on its server. PLEXUS_E_NOT_FOUND if absent. A `PLEXUS_RECREATE` open of the
/// name removes the old region the same way.
#[no_mangle]
pub extern "C" fn plexus_region_remove(name: *const c_char) -> plexus_status {
    guard(|| Region::remove(c_str(name, "name")?))
}

/// Fills `*out` with the region's size, heap use, object count, live attachments (the
/// entries of dead processes are cleared first), format version and id. A remote region
/// has no fixed size: its size and heap fields are 0; its attachments are the live
/// leases.
#[no_mangle]
pub extern "C" fn plexus_region_get_info(
    region: plexus_region,
    out: *mut plexus_region_info,
) -> plexus_status {
    guard(|| {
        let slot = out_ref(out, "out")?;
        let i = handles::region(region.id)?.region.info()?;
        *slot = plexus_region_info {
            size: i.size,
            heap_size: i.heap_size,
            heap_used: i.heap_used,
            heap_free: i.heap_free,
            object_count: i.object_count,
            attached_processes: i.attached_processes,
            format_version: i.format_version,
            reserved0: 0,
            region_id: i.region_id,
            created_unix_ns: i.created_unix_ns,
            reserved: [0; 4],
        };
        Ok(())
    })
}

/// Longest object name, in bytes of UTF-8 (`plexus_object_info.name` holds it and a NUL).
pub const PLEXUS_MAX_NAME_LEN: u32 = 96;
const _: () = assert!(PLEXUS_MAX_NAME_LEN as usize == crate::semantics::names::MAX_NAME_LEN);

/// One named object of a region, from `plexus_region_next_object`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct plexus_object_info {
    /// The object's name, NUL-terminated (UTF-8, at most PLEXUS_MAX_NAME_LEN bytes).
    pub name: [c_char; 97],
    /// Its kind, NUL-terminated: "array", "map", "queue", "stack" (a PLEXUS_LIFO queue),
    /// "bus", "mutex", "barrier" or "semaphore".
    pub kind: [c_char; 16],
    /// Its size argument: length, capacity, parties or permits (1 for a mutex).
    pub shape: u64,
    /// Reserved for future fields, 0.
    pub reserved: [u64; 2],
}

/// Iterates over the region's named objects: start with `*cursor = 0`; each call fills
/// `*out` with the next object, moves `*cursor` on and sets `*found = true`, or sets
/// `*found = false` when there are no more. An object that exists throughout an
/// iteration is reported exactly once, whatever other processes create meanwhile (an
/// object created during the iteration may or may not be). Local regions go in
/// directory order, remote ones in creation order.
#[no_mangle]
pub extern "C" fn plexus_region_next_object(
    region: plexus_region,
    cursor: *mut u64,
    out: *mut plexus_object_info,
    found: *mut bool,
) -> plexus_status {
    guard(|| {
        let cursor = out_ref(cursor, "cursor")?;
        let slot = out_ref(out, "out")?;
        let found = out_ref(found, "found")?;
        let mut at = *cursor;
        match handles::region(region.id)?.region.next_object(&mut at)? {
            None => *found = false,
            Some(o) => {
                let mut info = plexus_object_info {
                    name: [0; 97],
                    kind: [0; 16],
                    shape: o.shape,
                    reserved: [0; 2],
                };
                for (d, s) in info.name.iter_mut().zip(o.name.bytes().take(96)) {
                    *d = s as c_char;
                }
                for (d, s) in info.kind.iter_mut().zip(o.kind.bytes().take(15)) {
                    *d = s as c_char;
                }
                *slot = info;
                *found = true;
            }
        }
        *cursor = at;
        Ok(())
    })
}

/// Blocks until an object called `name` exists in the region (of any kind), or the
/// timeout passes (PLEXUS_TIMEOUT). Lets a consumer start before its producer.
#[no_mangle]
pub extern "C" fn plexus_region_wait_object(
    region: plexus_region,
    name: *const c_char,
    timeout_ns: i64,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let timeout = timeout(timeout_ns)?;
        handles::region(region.id)?
            .region
            .wait_object(name, timeout)
    })
}

/// Removes the object `name` (of any kind) from the region, for every process.
///
/// Every handle on the object, in every process (this process's own included), returns
/// PLEXUS_E_REMOVED from its next call, and calls blocked in it (a pop or push, a
/// read_fe or write_ef, a subscriber's next, a mutex lock, a barrier wait, a semaphore
/// acquire, a wait_change) wake with PLEXUS_E_REMOVED. The object's values, tags, held
/// locks and permits go with it; no call on it succeeds again. Give those handles back
/// with their `_close` as usual (PLEXUS_OK); to go on, open the name again.
///
/// The name is free at once: the next open that may create (a nonzero size, or a mutex
/// open) creates a new object of any kind under it, as the first open of a new name
/// does; until then an open with size 0 gives PLEXUS_E_NOT_FOUND. An open of the name
/// returns a new handle on the new object, also through a region handle that still has
/// a handle on the removed one. A queue or bus that was shut down is started again this
/// way: remove it and open it again with its capacity; every process learns of it from
/// the PLEXUS_E_REMOVED of its old handle, and opens it again.
///
/// The object's memory is reclaimed once no process can still be reading it: when the
/// last process that had it open has closed its handles on it (or its region handle),
/// or has died. A remote region's object is deleted on its server at once.
///
/// Does not wait for the object's users: it returns as soon as the object is removed.
///
/// Returns PLEXUS_OK; PLEXUS_E_NOT_FOUND (no object has that name: never created, or
/// already removed); PLEXUS_E_REMOVED (the region itself was removed or replaced);
/// PLEXUS_E_BAD_HANDLE (region handle closed or never opened); PLEXUS_E_INVALID_ARGUMENT
/// (NULL `name`, or not a valid object name: 1-96 bytes of UTF-8); PLEXUS_E_CORRUPT;
/// remote: PLEXUS_E_UNAVAILABLE (the message says whether the object may have been
/// removed), PLEXUS_E_REGION_LOST. Both backends remove objects: never
/// PLEXUS_E_UNSUPPORTED. Thread-safe.
#[no_mangle]
pub extern "C" fn plexus_region_remove_object(
    region: plexus_region,
    name: *const c_char,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let entry = handles::region(region.id)?;
        // Handles this region handle has on objects of that name now are all on the
        // object about to be removed (or on one removed before): once it is gone, a new
        // open of the name must not hand them out again.
        let before = handles::children_named(&entry, name);
        entry.region.remove_object(name)?;
        handles::retire(&entry, &before);
        Ok(())
    })
}

/// `plexus_region_check` flag: also clean up (see plexus_region_check).
pub const PLEXUS_CHECK_REPAIR: u32 = 1;

/// The verdict of `plexus_region_check`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum plexus_check_verdict {
    /// Every structure is valid; nothing leaked, nothing stale.
    PLEXUS_CHECK_CONSISTENT = 0,
    /// Every structure is valid, but leaked heap blocks and/or stale entries of dead
    /// processes remain (what kill -9 leaves behind); PLEXUS_CHECK_REPAIR reclaims them.
    PLEXUS_CHECK_RECLAIMABLE = 1,
    /// Something is damaged (no crash can cause it); the report says what and where.
    PLEXUS_CHECK_CORRUPT = 2,
}

/// The verdict field as Rust reads it. Shown as `plexus_check_verdict`.
pub type PlexusCheckVerdictField = u32;

/// What `plexus_region_check` found (after the repair, with PLEXUS_CHECK_REPAIR).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct plexus_check_result {
    /// PLEXUS_CHECK_CONSISTENT, PLEXUS_CHECK_RECLAIMABLE or PLEXUS_CHECK_CORRUPT.
    pub verdict: PlexusCheckVerdictField,
    /// Live processes attached to the region (the check is exact only when this is 0).
    pub live_processes: u32,
    /// Processes recorded as attached that are dead.
    pub dead_processes: u32,
    /// Locks held by dead processes (the next user of each takes it over).
    pub dead_locks: u32,
    /// Leaked heap blocks (allocated but unreferenced, or free but on no free list).
    pub leaked_blocks: u64,
    /// Their bytes.
    pub leaked_bytes: u64,
    /// Stale entries of dead processes (attachments, locks, read_rw holds, permits,
    /// unfinished pushes).
    pub stale_entries: u32,
    /// Damage found (non-zero exactly when the verdict is PLEXUS_CHECK_CORRUPT).
    pub problems: u32,
    /// With PLEXUS_CHECK_REPAIR: repair actions taken.
    pub repairs: u32,
    /// With PLEXUS_CHECK_REPAIR: 1 when leaked blocks were left alone because another
    /// process is attached or the region is corrupt (the report says which), else 0.
    pub repair_skipped: u32,
    /// Heap bytes in allocated blocks, counted by walking the heap.
    pub heap_used: u64,
    /// Reserved for future fields, 0.
    pub reserved: [u64; 4],
}

/// Checks the region `name` (a bare name or a path, as for plexus_region_open) without
/// opening a handle: validates the header, the directory, the heap and its free lists,
/// and every object (elements, map keys, queue and bus slots, locks, semaphore permits);
/// counts dead processes, locks they hold, leaked heap blocks and other stale entries.
///
/// Without flags it only reads: the file is mapped read-only and the caller does not
/// attach to the region. With PLEXUS_CHECK_REPAIR it attaches and cleans up: stale
/// entries of dead processes are released with the same takeover steps every process
/// uses (safe while other processes work), and leaked heap blocks are returned to the
/// allocator only when no other process is attached (attachments of the calling process
/// count as idle: do not repair while other threads of this process use the region). A
/// corrupt region is never repaired. `*out` then describes the region after the repair.
///
/// `report` may be NULL; otherwise it receives a STRING value with the human-readable
/// report (one finding per line, with its place), to be released with plexus_value_free.
///
/// Blocks: with PLEXUS_CHECK_REPAIR, for the allocator lock while another process
/// allocates (at most about 10 seconds; then the leaks are left alone and
/// `repair_skipped` is 1). A check of a region that others are changing reads a moving
/// target: exact when `out->live_processes` is 0; otherwise damage is reported only
/// when several scans in a row find exactly it.
///
/// Returns PLEXUS_OK whenever the file could be read, damaged or not (see
/// `out->verdict`); PLEXUS_E_NOT_FOUND, PLEXUS_E_INCOMPATIBLE (other format version,
/// byte order or pointer width), PLEXUS_E_PERMISSION, PLEXUS_E_OS,
/// PLEXUS_E_INVALID_ARGUMENT (NULL `name` or `out`, bad name, unknown flags),
/// PLEXUS_E_UNSUPPORTED for a remote (`redis://`) region: it has no file to check, its
/// server keeps it consistent (each change is one atomic script), and what dead
/// processes held is taken back through their leases. On failure `*out` and `*report`
/// are unchanged. Thread-safe.
#[no_mangle]
pub extern "C" fn plexus_region_check(
    name: *const c_char,
    flags: u32,
    out: *mut plexus_check_result,
    report: *mut plexus_value,
) -> plexus_status {
    guard(|| {
        let name = c_str(name, "name")?;
        let slot = out_ref(out, "out")?;
        if flags & !PLEXUS_CHECK_REPAIR != 0 {
            return Err(Error::invalid(format!(
                "unknown plexus_region_check flags {flags:#x}"
            )));
        }
        let r = crate::backend::check(
            name,
            &crate::backend::CheckOptions {
                repair: flags & PLEXUS_CHECK_REPAIR != 0,
            },
        )?;
        let verdict = match r.verdict() {
            crate::backend::Verdict::Consistent => plexus_check_verdict::PLEXUS_CHECK_CONSISTENT,
            crate::backend::Verdict::Reclaimable => plexus_check_verdict::PLEXUS_CHECK_RECLAIMABLE,
            crate::backend::Verdict::Corrupt => plexus_check_verdict::PLEXUS_CHECK_CORRUPT,
        };
        if !report.is_null() {
            super::value::put(report, crate::Value::String(r.to_string()))?;
        }
        *slot = plexus_check_result {
            verdict: verdict as u32,
            live_processes: r.live_processes,
            dead_processes: r.dead_processes().count() as u32,
            dead_locks: r.locks.iter().filter(|l| !l.alive).count() as u32,
            leaked_blocks: r.leaks.len() as u64,
            leaked_bytes: r.leaked_bytes(),
            stale_entries: r.stale.len() as u32,
            problems: r.problems.len() as u32,
            repairs: r.repaired.len() as u32,
            repair_skipped: r.repair_skipped.is_some() as u32,
            heap_used: r.heap_used,
            reserved: [0; 4],
        };
        Ok(())
    })
}
