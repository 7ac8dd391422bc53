//! The region checker: validates every structure of a region, lists dead processes and
//! the locks they hold, finds leaked heap blocks, and (on request) reclaims them.
//!
//! Entry point: [`check`]. What it guarantees:
//!
//! * **Never a crash, never a write without `repair`.** A plain check maps the file
//!   read-only, does not attach to the region (it is not counted as a user), and reads
//!   every offset through bounds checks: a damaged or hostile file gives a report listing
//!   what is wrong and where ([`Verdict::Corrupt`]), or an error for a file that is not a
//!   region of this format at all.
//! * **Three verdicts.** [`Verdict::Consistent`]: every structure is valid and nothing
//!   is stale. [`Verdict::Reclaimable`]: every structure is valid, but there are leaked
//!   heap blocks (a process died between allocating and committing a value, or between
//!   uncommitting and freeing one) and/or stale entries (processes that died while
//!   attached, locks and `read_rw` holds and semaphore permits they kept, unfinished queue
//!   pushes) — the normal aftermath of `kill -9`, which `repair` (and, for stale
//!   entries, the next [`Region::open`](super::Region::open)) cleans up. [`Verdict::Corrupt`]:
//!   something no crash of a plexus process can produce (damaged bytes, a reference to a
//!   block that is not allocated, a block referenced twice, a lost key...).
//! * **Exact when the region is idle.** A check while other processes work on the region
//!   reads a moving target: values being written have heap blocks that nothing
//!   references yet (reported as leaks), and a structure may be read in the middle of a
//!   change (damage is reported only when five scans in a row find exactly it, so a
//!   torn view of a change is not called corruption). [`CheckReport::live_processes`] says
//!   how many processes were attached; with 0 the report is exact.
//! * **Repair is safe while others work.** With [`CheckOptions::repair`], the checker
//!   opens the region (attaching to it, which clears the process-table entries of dead
//!   processes), then:
//!   1. releases stale entries with the same takeover steps every process uses when it
//!      meets a dead lock holder (element, allocator, directory, map, stack, bus and
//!      semaphore locks are taken over and repaired; a user mutex held by a dead process
//!      is released and its next locker still gets `OwnerDead`; unfinished pushes of dead
//!      producers are abandoned; `read_rw` counts and semaphore permits of dead holders
//!      are given back). These steps are safe whoever else is attached.
//!   2. reclaims leaked heap blocks **only when no other process is attached**: it takes
//!      the allocator and directory locks, checks that it is the only attached process
//!      (attachments of the calling process itself are assumed idle: do not repair from a
//!      process whose other threads are using the region), rescans, checks again that
//!      nobody attached meanwhile, and only then returns the blocks to the free lists.
//!      Any process that attaches later cannot allocate until the locks are released,
//!      and can only drop references that existed during the scan, so no block in use is
//!      ever reclaimed. If another process is attached, the leaks are left alone and
//!      [`CheckReport::repair_skipped`] says why.
//!   3. never repairs a region the scan found corrupt (it reports instead).
//!
//!   The report then describes the region *after* the repair, and
//!   [`CheckReport::repaired`] lists what was done.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::shm::format::heap::{class_of, class_size, STATE_FREE};
use crate::shm::format::layout::*;
use crate::shm::format::region::{region_path, OpenMode, OpenOptions, Region, RegionInner};
use crate::shm::format::scan::{finding, Scan};
pub use crate::shm::format::scan::{
    CheckReport, Finding, HeldLock, LeakReason, LeakedBlock, ObjectSummary, ProcessRecord, Verdict,
};
use crate::shm::kinds::element::Element;
use crate::shm::kinds::{self, Placed, Swept};
use crate::shm::os::mem::Mapping;
use crate::shm::os::sys;
use crate::shm::wait::{self, Deadline};

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;

/// Options of [`check`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Clean up stale entries, and reclaim leaked heap blocks when no other process is
    /// attached (see the module docs, or docs/cli.md, for when it is safe).
    pub repair: bool,
}

/// Checks the region `name` (a bare name in /dev/shm or a path, as for
/// [`Region::open`]) and, with `opts.repair`, cleans it up (see the module docs for what
/// is safe when).
///
/// `Ok(report)` whenever the file could be read, damaged or not (the damage is in
/// [`CheckReport::problems`]); `Err(NotFound)` when it does not exist,
/// `Err(Incompatible)` for a region of another format version, byte order or pointer
/// width, `Err(Permission)`/`Err(Os)` when it cannot be read, `Err(InvalidArgument)`
/// for a bad name. A plain check never writes to the file.
pub fn check(name: &str, opts: &CheckOptions) -> Result<CheckReport> {
    let path = region_path(name)?;
    let before = check_file(&path, &HashSet::new())?;
    if !opts.repair {
        return Ok(before);
    }
    if before.verdict() == Verdict::Corrupt {
        let mut r = before;
        r.repair_skipped =
            Some("the region is corrupt; repair only cleans up consistent regions".into());
        return Ok(r);
    }
    let mut repaired = Vec::new();
    let mut skipped = None;
    if before.verdict() == Verdict::Reclaimable {
        let opened = Region::open(
            name,
            &OpenOptions {
                mode: OpenMode::Open,
                ..OpenOptions::default()
            },
        );
        let region = match opened {
            Ok(region) => region,
            Err(e) => {
                let mut r = before;
                r.repair_skipped = Some(format!("cannot open the region to repair it: {e}"));
                return Ok(r);
            }
        };
        let r = &region.inner;
        // Opening swept already if processes died since the last sweep; once more in
        // case another opener's sweep is still running.
        sweep(r)?;
        match reclaim_leaks(r) {
            Ok(Ok(msg)) => repaired.extend(msg),
            Ok(Err(why)) => skipped = Some(why),
            Err(Error::Timeout) => {
                skipped =
                    Some("another process kept the allocator or directory locked for 10 s".into())
            }
            Err(e) => return Err(e),
        }
        drop(region);
    }
    let mut after = check_file(&path, &HashSet::new())?;
    // The stale entries that are gone now (the use counter is in the reclaim message).
    let cleared = before
        .stale
        .iter()
        .filter(|f| !after.stale.contains(f) && f.location != "allocator")
        .map(|f| format!("cleared: {f}"));
    repaired.splice(0..0, cleared);
    after.repaired = repaired;
    after.repair_skipped = skipped;
    Ok(after)
}

/// Reads the header of `path` and scans the file through a read-only mapping.
/// `checker_pids`: pids whose attachments belong to the checker.
fn check_file(path: &std::path::Path, checker_pids: &HashSet<u32>) -> Result<CheckReport> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::NotFound(format!("region {} does not exist", path.display()))
        }
        _ => Error::from_io(&e, &path.display().to_string()),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::from_io(&e, &path.display().to_string()))?;
    let mut report = CheckReport {
        path: path.to_owned(),
        file_size: meta.len(),
        ..CheckReport::default()
    };
    if !meta.is_file() {
        report.problems.push(finding("file", "not a regular file"));
        return Ok(report);
    }
    if meta.len() < HEADER_SIZE {
        report.problems.push(finding(
            "header",
            format!(
                "the file is {} bytes, smaller than a region header",
                meta.len()
            ),
        ));
        return Ok(report);
    }
    let mut head = [0u8; LIVE_OFFSET as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::from_io(&e, &path.display().to_string()))?;
    let fixed = match FixedHeader::decode(&head, meta.len()) {
        Ok(f) => f,
        Err(Error::Corrupt(m)) => {
            report.problems.push(finding("header", m));
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    let map = Mapping::new_read_only(&file, meta.len())?;
    // While other processes work, a scan is not a snapshot: it may read one structure
    // before a change and another after it, and see damage that is not there. So damage
    // is reported only when every one of up to five fresh scans finds exactly it again
    // (real damage stays where it is; a torn view of a change does not repeat).
    let mut persistent: Option<Vec<Finding>> = None;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut scan = Scan::new(&map, fixed, checker_pids);
        run(&mut scan);
        let mut found = scan.finish(report.clone());
        if found.live_processes == 0 {
            return Ok(found); // nobody changes anything: exact
        }
        let seen: Vec<Finding> = match persistent.take() {
            None => found.problems.clone(),
            Some(before) => before
                .into_iter()
                .filter(|f| found.problems.contains(f))
                .collect(),
        };
        if seen.is_empty() || attempt == 5 {
            found.problems = seen;
            return Ok(found);
        }
        persistent = Some(seen);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One whole scan: the process table, the heap, the region-wide locks, then every
/// object of the directory (each kind scans its own body).
fn run(scan: &mut Scan<'_>) {
    scan.scan_processes();
    scan.walk_heap();
    if let Some(live) = scan.live() {
        scan.lock_word(&live.alloc_lock, || "allocator".into());
        scan.lock_word(&live.dir_lock, || "directory".into());
    }
    scan_directory(scan);
}

// ---- directory and objects ----

fn scan_directory(scan: &mut Scan<'_>) {
    let mut names = HashSet::new();
    for i in 0..scan.fx.dir_capacity {
        let Ok(e) = scan.map.get_nth::<DirEntry>(scan.fx.dir_offset, i as u64) else {
            scan.problem("directory", "out of bounds");
            return;
        };
        let state = e.state.load(Ordering::Acquire);
        let code = dir_code(state);
        let loc = format!("directory entry {i}");
        let listed = match code {
            DIR_FREE | DIR_TOMB | DIR_WRITING
                if scan.fx.format_version >= 3 || code == DIR_FREE =>
            {
                continue
            }
            DIR_READY if scan.fx.format_version >= 3 || state == DIR_READY => true,
            // Removed, not yet reclaimed: its body and values are still allocated (they
            // count as referenced), but it is no object any more.
            DIR_REMOVED | DIR_RECLAIMING if scan.fx.format_version >= 3 => false,
            _ => {
                scan.problem(loc, format!("invalid state {state:#x}"));
                continue;
            }
        };
        let len = e.name_len.load(Ordering::Relaxed) as usize;
        if len == 0 || len > MAX_NAME_LEN {
            scan.problem(loc, format!("name length {len}"));
            continue;
        }
        let mut raw = Vec::new();
        if scan
            .map
            .read_bytes(scan.map.offset_of(e) + 32, len as u64, &mut raw)
            .is_err()
        {
            scan.problem(loc, "name out of bounds");
            continue;
        }
        let Ok(name) = String::from_utf8(raw) else {
            scan.problem(loc, "name is not UTF-8");
            continue;
        };
        if listed && !names.insert(name.clone()) {
            scan.problem(loc, format!("a second object named '{name}'"));
            continue;
        }
        let kind = e.kind.load(Ordering::Relaxed);
        let shape = e.shape.load(Ordering::Relaxed);
        let offset = e.offset.load(Ordering::Relaxed);
        let flags = e.flags.load(Ordering::Relaxed);
        if listed {
            object(scan, &name, kind, shape, offset, flags);
        } else if offset != 0 {
            // A reclaim cut short may have freed some values already (their words are
            // zero); what is left is still owned.
            let before = scan.objects.len();
            object(scan, &name, kind, shape, offset, flags);
            scan.objects.truncate(before);
        }
    }
}

/// Checks one directory entry's object: its kind, that its body lies in the heap and is
/// one block, its header; then (deep scans) asks its kind to scan the body.
fn object(scan: &mut Scan<'_>, name: &str, kind: u32, shape: u64, offset: u64, flags: u32) {
    let Some(ops) = kinds::by_code(kind) else {
        scan.problem(
            format!("object '{name}'"),
            format!("unknown object kind {kind}"),
        );
        return;
    };
    let label = (ops.label)(flags);
    let loc = format!("{label} '{name}'");
    let Some(size) = (ops.spec.size_of)(shape).filter(|&s| s <= scan.fx.heap_size) else {
        scan.problem(loc, format!("impossible size {shape}"));
        return;
    };
    if offset % 64 != 0
        || offset < scan.fx.heap_offset
        || offset
            .checked_add(size)
            .is_none_or(|e| e > scan.fx.total_size)
    {
        scan.problem(loc, format!("body at {offset:#x} lies outside the heap"));
        return;
    }
    if !scan.reference(offset, size, || loc.clone()) && scan.heap_walk_ok {
        return;
    }
    let Ok(hdr) = scan.map.get::<ObjectHeader>(offset) else {
        return;
    };
    if hdr.magic.load(Ordering::Relaxed) != OBJECT_MAGIC ^ kind
        || hdr.shape.load(Ordering::Relaxed) != shape
    {
        scan.problem(loc, "object header does not match its directory entry");
        return;
    }
    scan.objects.push(ObjectSummary {
        name: name.to_owned(),
        kind: label,
        shape,
        offset,
        bytes: size,
    });
    if scan.deep {
        let placed = Placed {
            loc: &loc,
            shape,
            flags,
            body: offset + OBJ_HEADER,
        };
        (ops.scan)(scan, &placed);
    }
}

/// A quick, read-only look at a region: its header, objects and attached processes,
/// without validating object bodies or walking the heap (see [`inspect`]).
#[derive(Debug, Clone)]
pub struct RegionSummary {
    pub path: PathBuf,
    pub file_size: u64,
    pub heap_size: u64,
    /// The allocator's use counter (advisory: it may drift after a crash; `check`
    /// counts exactly).
    pub heap_used: u64,
    pub format_version: u32,
    pub region_id: u64,
    pub created_unix_ns: u64,
    /// Every named object, in directory order.
    pub objects: Vec<ObjectSummary>,
    /// Every process-table entry in use, live or dead.
    pub processes: Vec<ProcessRecord>,
    /// Directory entries that could not be read (damage; `check` tells more).
    pub damaged_entries: u32,
}

impl RegionSummary {
    /// Attached processes that are alive.
    pub fn live_processes(&self) -> u32 {
        self.processes.iter().filter(|p| p.alive).count() as u32
    }

    /// Attached processes that died without detaching.
    pub fn dead_processes(&self) -> u32 {
        self.processes.iter().filter(|p| !p.alive).count() as u32
    }

    /// True when processes are recorded as attached but every one of them is dead:
    /// nobody uses the region any more (the next open clears their entries).
    pub fn abandoned(&self) -> bool {
        !self.processes.is_empty() && self.live_processes() == 0
    }
}

/// Reads the header, directory and process table of region `name` through a read-only
/// mapping, without attaching (so it does not count as a user, and clears nothing).
/// Errors as for [`check`], plus `Corrupt` when the header is damaged.
pub fn inspect(name: &str) -> Result<RegionSummary> {
    let path = region_path(name)?;
    let file = File::open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::NotFound(format!("region {} does not exist", path.display()))
        }
        _ => Error::from_io(&e, &path.display().to_string()),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::from_io(&e, &path.display().to_string()))?;
    if !meta.is_file() || meta.len() < HEADER_SIZE {
        return Err(Error::corrupt(format!(
            "{} is not a region file",
            path.display()
        )));
    }
    let mut head = [0u8; LIVE_OFFSET as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::from_io(&e, &path.display().to_string()))?;
    let fixed = FixedHeader::decode(&head, meta.len()).map_err(|e| match e {
        Error::Corrupt(m) => Error::Corrupt(format!("{}: {m}", path.display())),
        e => e,
    })?;
    let map = Mapping::new_read_only(&file, meta.len())?;
    let none = HashSet::new();
    let mut scan = Scan::new(&map, fixed, &none);
    scan.deep = false;
    scan.scan_processes();
    scan_directory(&mut scan);
    let heap_used = scan
        .live()
        .map_or(0, |l| l.heap_used.load(Ordering::Relaxed))
        .min(fixed.heap_size);
    Ok(RegionSummary {
        path,
        file_size: meta.len(),
        heap_size: fixed.heap_size,
        heap_used,
        format_version: fixed.format_version,
        region_id: fixed.region_id,
        created_unix_ns: fixed.created_unix_ns,
        damaged_entries: scan.problems.len() as u32,
        objects: scan.objects,
        processes: scan.processes,
    })
}

impl Region {
    /// Every named object of the region (name, kind, shape, place), in directory order.
    /// Entries that fail validation are left out (`plexus::check` reports them).
    pub fn objects(&self) -> Result<Vec<ObjectSummary>> {
        let r = &self.inner;
        r.check_usable()?;
        let none = HashSet::new();
        let mut scan = Scan::new(&r.map, r.fixed, &none);
        scan.deep = false;
        scan_directory(&mut scan);
        Ok(scan.objects)
    }

    /// The next named object at or after directory position `*cursor` (0 starts), and
    /// the cursor moved past it; `None` at the end. Entries never move, so an object
    /// that exists throughout an iteration is seen exactly once, whatever is created
    /// meanwhile. An entry that fails validation is `Corrupt`.
    pub fn next_object(&self, cursor: &mut u64) -> Result<Option<ObjectSummary>> {
        let r = &self.inner;
        r.check_usable()?;
        while *cursor < r.fixed.dir_capacity as u64 {
            let i = *cursor;
            *cursor += 1;
            let e: &DirEntry = r.map.get_nth(r.fixed.dir_offset, i)?;
            let state = e.state.load(Ordering::Acquire);
            if dir_code(state) != DIR_READY {
                continue;
            }
            let none = HashSet::new();
            let mut scan = Scan::new(&r.map, r.fixed, &none);
            scan.deep = false;
            scan.heap_walk_ok = false;
            let len = (e.name_len.load(Ordering::Relaxed) as usize).min(MAX_NAME_LEN);
            let mut raw = Vec::new();
            r.map
                .read_bytes(r.map.offset_of(e) + 32, len as u64, &mut raw)?;
            let name = String::from_utf8(raw)
                .map_err(|_| Error::corrupt(format!("directory entry {i}: name is not UTF-8")))?;
            object(
                &mut scan,
                &name,
                e.kind.load(Ordering::Relaxed),
                e.shape.load(Ordering::Relaxed),
                e.offset.load(Ordering::Relaxed),
                e.flags.load(Ordering::Relaxed),
            );
            std::sync::atomic::fence(Ordering::Acquire);
            if e.state.load(Ordering::Relaxed) != state {
                *cursor = i; // removed or reused while we read it: look at it again
                continue;
            }
            return match (scan.objects.pop(), scan.problems.first()) {
                (Some(o), _) => Ok(Some(o)),
                (None, Some(p)) => Err(Error::corrupt(p.to_string())),
                (None, None) => Err(Error::corrupt(format!("directory entry {i} is damaged"))),
            };
        }
        Ok(None)
    }
}

// ---- repair ----

/// Cleans up what dead processes left behind, with the same steps a live process takes
/// when it meets them, so it is safe whoever else is attached: takes over the allocator
/// and directory locks from dead owners, then asks every object's kind to sweep it
/// (locks taken over and repaired under, `read_rw` holders recounted, unfinished pushes
/// abandoned, semaphore permits of dead holders given back, user mutexes of dead holders
/// released so that their next locker gets `OwnerDead`). Leaks nothing and frees
/// nothing. Errors only on corruption (what it had cleaned stays cleaned).
pub(crate) fn sweep(r: &RegionInner) -> Result<Swept> {
    let mut done = Swept::default();
    let live = r.live();
    done.lock_taken_over(
        r.take_over_dead(&live.alloc_lock, |how| r.with_heap(|h| h.after_lock(how)))?,
    );
    done.lock_taken_over(r.take_over_dead(&live.dir_lock, |_| Ok(()))?);
    for i in 0..r.fixed.dir_capacity {
        let e: &DirEntry = r.map.get_nth(r.fixed.dir_offset, i as u64)?;
        if dir_code(e.state.load(Ordering::Acquire)) != DIR_READY {
            continue;
        }
        let kind = e.kind.load(Ordering::Relaxed);
        let shape = e.shape.load(Ordering::Relaxed);
        let offset = e.offset.load(Ordering::Relaxed);
        let flags = e.flags.load(Ordering::Relaxed);
        if offset < r.fixed.heap_offset || offset % 64 != 0 || offset >= r.fixed.total_size {
            return Err(Error::corrupt(format!("directory entry {i} is damaged")));
        }
        let ops = kinds::by_code(kind).ok_or_else(|| {
            Error::corrupt(format!("directory entry {i}: unknown object kind {kind}"))
        })?;
        // Every slot offset a kind computes stays inside the object's block, so inside
        // the file, and no multiplication by the shape can overflow.
        if (ops.spec.size_of)(shape)
            .and_then(|size| offset.checked_add(size))
            .is_none_or(|end| end > r.fixed.total_size)
        {
            return Err(Error::corrupt(format!(
                "directory entry {i}: object of kind {kind} and shape {shape} does not fit"
            )));
        }
        let hdr: &ObjectHeader = r.map.get(offset)?;
        if hdr.magic.load(Ordering::Relaxed) != OBJECT_MAGIC ^ kind {
            return Err(Error::corrupt(format!("object at {offset:#x} is damaged")));
        }
        let placed = Placed {
            loc: "",
            shape,
            flags,
            body: offset + OBJ_HEADER,
        };
        (ops.sweep)(r, &placed, &mut done)?;
    }
    Ok(done)
}

fn reclaim_leaks(r: &RegionInner) -> Result<std::result::Result<Option<String>, String>> {
    let live = r.live();
    let procs = r.procs();
    let forever = Deadline::after(Some(Duration::from_secs(10)));
    // The directory lock first, then the allocator's: the order every object creation and
    // removal takes them in (it allocates under the directory lock). Taken the other way
    // round, a check beside a process creating an object held the allocator lock while
    // that process held the directory lock and waited for the allocator: both waited
    // until the allocator's waiters gave up on a live holder after 5 s.
    wait::lock(&live.dir_lock, r.token, &forever, &procs)?;
    let how = match wait::lock(&live.alloc_lock, r.token, &forever, &procs) {
        Ok(how) => how,
        Err(e) => {
            wait::unlock(&live.dir_lock);
            return Err(e);
        }
    };
    // What a dead owner of the allocator left unfinished is finished first (the scan
    // below then sees a heap of whole blocks).
    let result = r
        .with_heap(|h| h.after_lock(how))
        .and_then(|()| reclaim_locked(r));
    wait::unlock(&live.alloc_lock);
    wait::unlock(&live.dir_lock);
    result
}

/// Pids of live attachments other than the calling process.
fn other_users(r: &RegionInner) -> Result<Vec<u32>> {
    let procs = r.procs();
    procs.reap_dead()?;
    let me = sys::pid();
    let mut others = Vec::new();
    for slot in 0..r.fixed.proc_capacity {
        if let Some((pid, true)) = procs.peek(slot)? {
            if pid != me {
                others.push(pid);
            }
        }
    }
    Ok(others)
}

fn reclaim_locked(r: &RegionInner) -> Result<std::result::Result<Option<String>, String>> {
    let others = other_users(r)?;
    if !others.is_empty() {
        return Ok(Err(format!(
            "leaked blocks are reclaimed only when no other process uses the region; attached: pid {}",
            others
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let me: HashSet<u32> = [sys::pid()].into();
    let mut scan = Scan::new(&r.map, r.fixed, &me);
    run(&mut scan);
    let orphans: Vec<u64> = scan.orphans.iter().map(|o| o.elem_off).collect();
    let report = scan.finish(CheckReport::default());
    if report.verdict() == Verdict::Corrupt {
        return Ok(Err(format!(
            "the region is corrupt: {}",
            report.problems[0]
        )));
    }
    // Nobody may have attached since the scan started: what it saw is the whole truth.
    let others = other_users(r)?;
    if !others.is_empty() {
        return Ok(Err(
            "another process attached during the repair; run it again when the region is idle"
                .into(),
        ));
    }
    // Removed keys' elements: forget the value the interrupted removal left behind (the
    // block itself is one of the leaks below).
    for off in &orphans {
        let e: &Element = r.map.get(*off)?;
        for s in &e.slots {
            s.meta.store(0, Ordering::Relaxed);
            s.payload.store(0, Ordering::Relaxed);
        }
    }
    let live = r.live();
    let mut bytes = 0;
    for leak in &report.leaks {
        let class = class_of(leak.size)
            .filter(|&c| class_size(c) == leak.size)
            .ok_or_else(|| Error::corrupt("leaked block of no size class"))?;
        let size_state: &AtomicU64 = r.map.get(leak.offset)?;
        let next: &AtomicU64 = r.map.get(leak.offset + 8)?;
        let head = &live.free_heads[class];
        size_state.store(leak.size | STATE_FREE, Ordering::Relaxed);
        next.store(head.load(Ordering::Relaxed), Ordering::Relaxed);
        head.store(leak.offset, Ordering::Release); // the commit, as in `Heap::free`
        bytes += leak.size;
    }
    // The use counter is advisory and drifts after crashes: set it to the truth.
    let used = report.heap_used
        - report
            .leaks
            .iter()
            .filter(|l| l.reason == LeakReason::Unreferenced)
            .map(|l| l.size)
            .sum::<u64>();
    let before = live.heap_used.swap(used, Ordering::Relaxed);
    let mut parts = Vec::new();
    if !report.leaks.is_empty() {
        parts.push(format!(
            "reclaimed {} leaked heap block(s), {bytes} bytes",
            report.leaks.len()
        ));
    }
    if !orphans.is_empty() {
        parts.push(format!(
            "cleared {} value(s) left behind by interrupted map removals",
            orphans.len()
        ));
    }
    if before != used {
        parts.push(format!(
            "set the heap-use counter from {before} to {used} bytes"
        ));
    }
    Ok(Ok((!parts.is_empty()).then(|| parts.join("; "))))
}

/// Called by `Region::open` after it attached: if processes died since the last sweep
/// (the `reaped` counter moved), sweeps their stale entries (see [`sweep`]). One opener
/// does it; errors are ignored (the objects' own checks report damage when used).
pub(crate) fn sweep_on_open(r: &RegionInner) {
    let live = r.live();
    let reaped = live.reaped.load(Ordering::Acquire);
    let swept = live.swept.load(Ordering::Acquire);
    if reaped == swept
        || live
            .swept
            .compare_exchange(swept, reaped, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let _ = sweep(r);
    // Processes that died holding removed objects no longer hold them.
    let _ = r.reclaim_all();
}
