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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::value::Type;
use crate::shm::format::heap::{
    class_of, class_size, BLOCK_HEADER, STATE_FREE, STATE_MASK, STATE_USED,
};
use crate::shm::format::layout::*;
use crate::shm::format::proctable::ProcTable;
use crate::shm::format::region::{region_path, OpenMode, OpenOptions, Region, RegionInner};
use crate::shm::kinds::element::Cell;
use crate::shm::kinds::queue::{self, fifo_state as fifo};
use crate::shm::os::mem::Mapping;
use crate::shm::os::sys;
use crate::shm::wait::{self, Acquired, Deadline, LOCK_OWNER};

const OBJ_HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const ELEM: u64 = std::mem::size_of::<Element>() as u64;
const KEY_SLOT: u64 = std::mem::size_of::<KeySlot>() as u64;
const MAP_SLOT: u64 = KEY_SLOT + ELEM;
const MAP_HEADER: u64 = std::mem::size_of::<MapHeader>() as u64;
const Q_HEADER: u64 = std::mem::size_of::<QueueHeader>() as u64;
const Q_SLOT: u64 = std::mem::size_of::<QueueSlot>() as u64;
const B_HEADER: u64 = std::mem::size_of::<BusHeader>() as u64;
const B_SLOT: u64 = std::mem::size_of::<BusSlot>() as u64;
const S_HEADER: u64 = std::mem::size_of::<SemaphoreHeader>() as u64;
const S_RECORD: u64 = std::mem::size_of::<SemaphoreHolder>() as u64;
const BODY_64: u64 = OBJ_HEADER + 64; // mutex and barrier bodies

/// How long the sweep waits for a lock a live process holds before it leaves it alone.
const SWEEP_LOCK_WAIT: Duration = Duration::from_millis(200);

/// Options of [`check`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Clean up stale entries, and reclaim leaked heap blocks when no other process is
    /// attached (see the module docs of `check.rs`, or the README, for when it is safe).
    pub repair: bool,
}

/// The overall outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every structure is valid, nothing leaked, nothing stale.
    Consistent,
    /// Every structure is valid, but leaked heap blocks and/or stale entries of dead
    /// processes remain (what `kill -9` leaves behind); `repair` reclaims them.
    Reclaimable,
    /// At least one structure is damaged: see [`CheckReport::problems`].
    Corrupt,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Consistent => "consistent",
            Verdict::Reclaimable => "consistent except reclaimable leaks and stale entries",
            Verdict::Corrupt => "corrupt",
        })
    }
}

/// One finding: where (`"map 'jobs' slot 17"`, `"heap block at 0x5040"`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub location: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// One entry of the region's process table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecord {
    /// Index in the process table.
    pub slot: u32,
    pub pid: u32,
    /// False when the process has exited (or its pid now belongs to another process).
    pub alive: bool,
    /// When it attached (nanoseconds since the Unix epoch).
    pub attached_unix_ns: u64,
    /// `read_rw` locks it records holding.
    pub read_locks: u32,
    /// This entry is the checker's own attachment (repair mode only).
    pub is_checker: bool,
}

/// A lock found held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    /// Which lock: `"allocator"`, `"directory"`, `"array 'cells' element 3"`, `"mutex 'm'"`.
    pub location: String,
    /// The holder's pid, when its process-table entry still names it.
    pub pid: Option<u32>,
    /// Whether the holder is alive (false: a stale lock, taken over by the next user).
    pub alive: bool,
}

/// A heap block that nothing references (or that is free but on no free list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakedBlock {
    /// Absolute offset of the block (its 16-byte header) in the region file.
    pub offset: u64,
    /// Bytes, header included.
    pub size: u64,
    /// Why it counts as leaked.
    pub reason: &'static str,
}

/// One named object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub name: String,
    /// `"array"`, `"map"`, `"queue"`, `"stack"`, `"bus"`, `"mutex"`, `"barrier"`,
    /// `"semaphore"`.
    pub kind: &'static str,
    /// Length, capacity, parties or permits (1 for a mutex).
    pub shape: u64,
    /// Absolute offset of its body.
    pub offset: u64,
    /// Bytes of its body.
    pub bytes: u64,
}

/// What [`check`] found. See [`CheckReport::verdict`].
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The region file.
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Bytes of the heap (0 when the header could not be read).
    pub heap_size: u64,
    /// Bytes in allocated heap blocks, counted by walking the heap.
    pub heap_used: u64,
    /// Bytes in free heap blocks (on the free lists or leaked as free).
    pub heap_free_blocks: u64,
    /// Bytes of the heap never handed out yet.
    pub heap_untouched: u64,
    /// Every named object, in directory order.
    pub objects: Vec<ObjectSummary>,
    /// Every process-table entry in use (live and dead).
    pub processes: Vec<ProcessRecord>,
    /// Attached processes that are alive, not counting the checker itself.
    pub live_processes: u32,
    /// Every lock found held, by live or dead holders.
    pub locks: Vec<HeldLock>,
    /// Leaked heap blocks (reclaimable).
    pub leaks: Vec<LeakedBlock>,
    /// Stale entries of dead processes (reclaimable).
    pub stale: Vec<Finding>,
    /// Damage: what and where. Non-empty means [`Verdict::Corrupt`].
    pub problems: Vec<Finding>,
    /// What `repair` did.
    pub repaired: Vec<String>,
    /// Why `repair` did not reclaim leaks (another process attached, or corruption).
    pub repair_skipped: Option<String>,
}

impl CheckReport {
    /// Consistent, reclaimable (leaks / stale entries only) or corrupt.
    pub fn verdict(&self) -> Verdict {
        if !self.problems.is_empty() {
            Verdict::Corrupt
        } else if !self.leaks.is_empty() || !self.stale.is_empty() {
            Verdict::Reclaimable
        } else {
            Verdict::Consistent
        }
    }

    /// Total bytes of the leaked blocks.
    pub fn leaked_bytes(&self) -> u64 {
        self.leaks.iter().map(|l| l.size).sum()
    }

    /// Processes still in the process table although they are dead.
    pub fn dead_processes(&self) -> impl Iterator<Item = &ProcessRecord> {
        self.processes.iter().filter(|p| !p.alive)
    }
}

impl fmt::Display for CheckReport {
    /// A human-readable report, one finding per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "region {}: {}", self.path.display(), self.verdict())?;
        writeln!(
            f,
            "  {} bytes, heap {} bytes: {} used, {} in free blocks, {} never used",
            self.file_size,
            self.heap_size,
            self.heap_used,
            self.heap_free_blocks,
            self.heap_untouched
        )?;
        writeln!(
            f,
            "  {} objects, {} live processes attached{}",
            self.objects.len(),
            self.live_processes,
            if self.live_processes > 0 {
                " (the check is a snapshot of a region in use)"
            } else {
                ""
            }
        )?;
        for p in self.dead_processes() {
            writeln!(
                f,
                "  dead process: pid {} (process-table slot {})",
                p.pid, p.slot
            )?;
        }
        for l in &self.locks {
            let who = match (l.pid, l.alive) {
                (Some(pid), true) => format!("live pid {pid}"),
                (Some(pid), false) => format!("dead pid {pid}"),
                (None, _) => "a detached process".into(),
            };
            writeln!(f, "  lock held: {} by {who}", l.location)?;
        }
        if !self.leaks.is_empty() {
            writeln!(
                f,
                "  leaked heap blocks: {} ({} bytes)",
                self.leaks.len(),
                self.leaked_bytes()
            )?;
            for l in self.leaks.iter().take(20) {
                writeln!(
                    f,
                    "    block at {:#x}, {} bytes: {}",
                    l.offset, l.size, l.reason
                )?;
            }
            if self.leaks.len() > 20 {
                writeln!(f, "    ... and {} more", self.leaks.len() - 20)?;
            }
        }
        for s in &self.stale {
            writeln!(f, "  stale: {s}")?;
        }
        for p in &self.problems {
            writeln!(f, "  CORRUPT: {p}")?;
        }
        for r in &self.repaired {
            writeln!(f, "  repaired: {r}")?;
        }
        if let Some(why) = &self.repair_skipped {
            writeln!(f, "  not repaired: {why}")?;
        }
        Ok(())
    }
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
        scan.run();
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

fn finding(location: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        location: location.into(),
        message: message.into(),
    }
}

/// A heap block found by the walk.
#[derive(Clone, Copy)]
struct Block {
    size: u64,
    used: bool,
    on_list: bool,
    referenced: bool,
}

/// A map entry that is not LIVE but whose element still references a heap block (a
/// removal killed between retiring the key and resetting the value).
struct Orphan {
    elem_off: u64,
}

/// The scanner: one pass over everything, collecting findings.
struct Scan<'a> {
    map: &'a Mapping,
    fx: FixedHeader,
    procs: ProcTable<'a>,
    checker_pids: &'a HashSet<u32>,
    blocks: HashMap<u64, Block>,
    /// Live `read_rw` records per element offset.
    rw_live: HashMap<u64, u32>,
    objects: Vec<ObjectSummary>,
    processes: Vec<ProcessRecord>,
    locks: Vec<HeldLock>,
    stale: Vec<Finding>,
    problems: Vec<Finding>,
    orphans: Vec<Orphan>,
    heap_walk_ok: bool,
    heap_untouched: u64,
    /// False: only the directory and the process table (no heap walk, no object bodies).
    deep: bool,
}

impl<'a> Scan<'a> {
    fn new(map: &'a Mapping, fx: FixedHeader, checker_pids: &'a HashSet<u32>) -> Scan<'a> {
        Scan {
            map,
            fx,
            procs: ProcTable {
                map,
                offset: fx.proc_offset,
                capacity: fx.proc_capacity,
            },
            checker_pids,
            blocks: HashMap::new(),
            rw_live: HashMap::new(),
            objects: Vec::new(),
            processes: Vec::new(),
            locks: Vec::new(),
            stale: Vec::new(),
            problems: Vec::new(),
            orphans: Vec::new(),
            heap_walk_ok: false,
            heap_untouched: 0,
            deep: true,
        }
    }

    fn problem(&mut self, location: impl Into<String>, message: impl Into<String>) {
        // A badly damaged region could produce millions of findings: keep the first ones.
        if self.problems.len() < 1000 {
            self.problems.push(finding(location, message));
        }
    }

    fn stale(&mut self, location: impl Into<String>, message: impl Into<String>) {
        if self.stale.len() < 1000 {
            self.stale.push(finding(location, message));
        }
    }

    fn live(&self) -> Option<&'a LiveHeader> {
        self.map.get(LIVE_OFFSET).ok()
    }

    fn run(&mut self) {
        self.scan_processes();
        self.walk_heap();
        if let Some(live) = self.live() {
            self.lock_word(&live.alloc_lock, || "allocator".into());
            self.lock_word(&live.dir_lock, || "directory".into());
        }
        self.scan_directory();
    }

    fn finish(mut self, mut report: CheckReport) -> CheckReport {
        let mut leaks = Vec::new();
        let (mut used, mut free) = (0, 0);
        if self.heap_walk_ok {
            let mut offs: Vec<u64> = self.blocks.keys().copied().collect();
            offs.sort_unstable();
            for off in offs {
                let b = self.blocks[&off];
                if b.used {
                    used += b.size;
                    if !b.referenced {
                        leaks.push(LeakedBlock {
                            offset: off,
                            size: b.size,
                            reason: "allocated, but nothing references it",
                        });
                    }
                } else {
                    free += b.size;
                    if !b.on_list {
                        leaks.push(LeakedBlock {
                            offset: off,
                            size: b.size,
                            reason: "free, but on no free list",
                        });
                    }
                }
            }
            if let Some(live) = self.live() {
                let counted = live.heap_used.load(Ordering::Relaxed);
                if counted != used {
                    self.stale(
                        "allocator",
                        format!("the heap-use counter says {counted} bytes, the blocks add up to {used}"),
                    );
                }
            }
        }
        for o in &self.orphans {
            self.stale.push(finding(
                format!("map element at {:#x}", o.elem_off),
                "a removed key's value was left behind (a removal was interrupted)",
            ));
        }
        report.heap_size = self.fx.heap_size;
        report.heap_used = used;
        report.heap_free_blocks = free;
        report.heap_untouched = self.heap_untouched;
        report.live_processes = self
            .processes
            .iter()
            .filter(|p| p.alive && !p.is_checker)
            .count() as u32;
        report.objects = self.objects;
        report.processes = self.processes;
        report.locks = self.locks;
        report.leaks = leaks;
        report.stale = self.stale;
        report.problems = self.problems;
        report
    }

    // ---- process table ----

    fn scan_processes(&mut self) {
        for slot in 0..self.fx.proc_capacity {
            let Ok(e) = self.procs.entry(slot) else {
                self.problem("process table", "out of bounds");
                return;
            };
            let Ok(Some((pid, alive))) = self.procs.peek(slot) else {
                continue;
            };
            let records: Vec<u64> = e
                .rw_held
                .iter()
                .map(|r| r.load(Ordering::Acquire))
                .filter(|&o| o != 0)
                .collect();
            if alive {
                for &o in &records {
                    *self.rw_live.entry(o).or_default() += 1;
                }
            }
            let is_checker = self.checker_pids.contains(&pid);
            if !alive {
                self.stale(
                    format!("process table slot {slot}"),
                    format!(
                        "process {pid} died while attached{}",
                        if records.is_empty() {
                            String::new()
                        } else {
                            format!(" holding {} read_rw lock(s)", records.len())
                        }
                    ),
                );
            }
            self.processes.push(ProcessRecord {
                slot,
                pid,
                alive,
                attached_unix_ns: e.attached_unix_ns.load(Ordering::Relaxed),
                read_locks: records.len() as u32,
                is_checker,
            });
        }
    }

    /// Records a held lock word (any kind); dead holders are stale entries.
    fn lock_word(&mut self, word: &AtomicU32, location: impl Fn() -> String) -> Option<bool> {
        let owner = word.load(Ordering::Acquire) & LOCK_OWNER;
        if owner == 0 {
            return None;
        }
        let (pid, alive) = match self.procs.token_owner(owner) {
            Some((pid, alive)) => (Some(pid), alive),
            None => (None, false),
        };
        let loc = location();
        if !alive {
            let msg = format!(
                "locked by {} (the next user takes it over)",
                self.gone(owner)
            );
            self.stale(loc.clone(), msg);
        }
        self.locks.push(HeldLock {
            location: loc,
            pid,
            alive,
        });
        Some(alive)
    }

    /// Who a dead owner token belonged to, for messages.
    fn gone(&self, token: u32) -> String {
        match self.procs.token_owner(token) {
            Some((pid, _)) => format!("process {pid}, which died"),
            None => "an attachment that is gone (closed, or its process died)".into(),
        }
    }

    fn token_alive(&self, token: u32) -> bool {
        self.procs.token_owner(token).is_some_and(|(_, a)| a)
    }

    // ---- heap ----

    fn walk_heap(&mut self) {
        let Some(live) = self.live() else {
            self.problem("header", "live header out of bounds");
            return;
        };
        let fx = self.fx;
        let mut top = live.heap_top.load(Ordering::Acquire);
        if top > fx.heap_size {
            self.problem(
                "allocator",
                format!("heap top {top} is beyond the heap ({} bytes)", fx.heap_size),
            );
            top = fx.heap_size;
        }
        self.heap_untouched = fx.heap_size - top;
        let end = fx.heap_offset + top;
        let mut p = fx.heap_offset;
        while p < end {
            let Ok(word) = self.map.get::<AtomicU64>(p) else {
                self.problem(format!("heap block at {p:#x}"), "out of bounds");
                return;
            };
            let ss = word.load(Ordering::Acquire);
            if ss == 0 {
                // The padding an aligned allocation leaves before its block.
                let next = round_up(p + BLOCK_HEADER, 64) - BLOCK_HEADER;
                if next <= p || next >= end {
                    self.problem(
                        format!("heap block at {p:#x}"),
                        "zero header where a block should start",
                    );
                    return;
                }
                p = next;
                continue;
            }
            let size = ss & !STATE_MASK;
            let state = ss & STATE_MASK;
            let size_ok = class_of(size).map(class_size) == Some(size);
            if !size_ok || p + size > end || (state != STATE_FREE && state != STATE_USED) {
                self.problem(
                    format!("heap block at {p:#x}"),
                    format!(
                        "bad block header {ss:#x} (size {size}, state {state:#x}); the heap walk stops here"
                    ),
                );
                return;
            }
            self.blocks.insert(
                p,
                Block {
                    size,
                    used: state == STATE_USED,
                    on_list: false,
                    referenced: false,
                },
            );
            p += size;
        }
        self.heap_walk_ok = true;
        // Free lists.
        let free_blocks = self.blocks.values().filter(|b| !b.used).count();
        for class in 0..NCLASSES {
            let mut off = live.free_heads[class].load(Ordering::Acquire);
            let mut steps = 0;
            while off != 0 {
                let loc = || format!("free list {class} ({} bytes)", class_size(class));
                steps += 1;
                if steps > free_blocks {
                    self.problem(loc(), "the list loops");
                    break;
                }
                let Some(b) = self.blocks.get_mut(&off) else {
                    self.problem(
                        loc(),
                        format!("links to {off:#x}, which is not a heap block"),
                    );
                    break;
                };
                if b.used || b.size != class_size(class) || b.on_list {
                    let why = if b.used {
                        "an allocated block"
                    } else if b.on_list {
                        "a block already on a free list"
                    } else {
                        "a block of another size"
                    };
                    self.problem(loc(), format!("holds {why} at {off:#x}"));
                    break;
                }
                b.on_list = true;
                off = match self.map.get::<AtomicU64>(off + 8) {
                    Ok(n) => n.load(Ordering::Acquire),
                    Err(_) => break,
                };
            }
        }
    }

    /// Marks the block whose data starts at `data_off` as referenced by `location`,
    /// which needs `len` bytes of it.
    fn reference(&mut self, data_off: u64, len: u64, location: impl Fn() -> String) -> bool {
        if !self.heap_walk_ok {
            return false;
        }
        let block_off = data_off.wrapping_sub(BLOCK_HEADER);
        match self.blocks.get_mut(&block_off) {
            Some(b) if b.used && !b.referenced && len <= b.size - BLOCK_HEADER => {
                b.referenced = true;
                true
            }
            Some(b) => {
                let why = if !b.used {
                    "a free heap block".to_string()
                } else if b.referenced {
                    "a heap block something else references too".to_string()
                } else {
                    format!("a heap block of {} bytes, too small for {len}", b.size)
                };
                self.problem(location(), format!("references {why} ({data_off:#x})"));
                false
            }
            None => {
                self.problem(
                    location(),
                    format!("references {data_off:#x}, which is not the start of a heap block"),
                );
                false
            }
        }
    }

    /// Checks a value's `meta`/`payload` words; `owned` marks its heap block referenced.
    fn value(&mut self, m: u64, p: u64, owned: bool, location: &dyn Fn() -> String) {
        let t = m >> 56;
        let len = m & META_LEN_MASK;
        let inline = m & META_INLINE != 0;
        if Type::from_u32(t as u32).is_none() || m & META_SLOT_BYTES != 0 {
            self.problem(location(), format!("value has an invalid type word {m:#x}"));
            return;
        }
        if t < Type::String as u64 {
            if len != 0 || inline {
                self.problem(
                    location(),
                    format!("scalar value with a length word {m:#x}"),
                );
            }
            return;
        }
        if inline {
            if len > 8 {
                self.problem(
                    location(),
                    format!("inline value of {len} bytes (at most 8)"),
                );
            } else if t == Type::String as u64
                && std::str::from_utf8(&p.to_le_bytes()[..len as usize]).is_err()
            {
                self.problem(location(), "string value is not UTF-8");
            }
            return;
        }
        if owned && self.reference(p, len, location) && t == Type::String as u64 {
            let mut bytes = Vec::new();
            if self.map.read_bytes(p, len, &mut bytes).is_ok()
                && std::str::from_utf8(&bytes).is_err()
            {
                self.problem(location(), "string value is not UTF-8");
            }
        }
    }

    // ---- directory and objects ----

    fn scan_directory(&mut self) {
        let mut names = HashSet::new();
        for i in 0..self.fx.dir_capacity {
            let Ok(e) = self.map.get_nth::<DirEntry>(self.fx.dir_offset, i as u64) else {
                self.problem("directory", "out of bounds");
                return;
            };
            let state = e.state.load(Ordering::Acquire);
            if state == DIR_FREE {
                continue;
            }
            let loc = format!("directory entry {i}");
            if state != DIR_READY {
                self.problem(loc, format!("invalid state {state}"));
                continue;
            }
            let len = e.name_len.load(Ordering::Relaxed) as usize;
            if len == 0 || len > MAX_NAME_LEN {
                self.problem(loc, format!("name length {len}"));
                continue;
            }
            let mut raw = Vec::new();
            if self
                .map
                .read_bytes(self.map.offset_of(e) + 32, len as u64, &mut raw)
                .is_err()
            {
                self.problem(loc, "name out of bounds");
                continue;
            }
            let Ok(name) = String::from_utf8(raw) else {
                self.problem(loc, "name is not UTF-8");
                continue;
            };
            if !names.insert(name.clone()) {
                self.problem(loc, format!("a second object named '{name}'"));
                continue;
            }
            let kind = e.kind.load(Ordering::Relaxed);
            let shape = e.shape.load(Ordering::Relaxed);
            let offset = e.offset.load(Ordering::Relaxed);
            let flags = e.flags.load(Ordering::Relaxed);
            self.object(&name, kind, shape, offset, flags);
        }
    }

    fn object(&mut self, name: &str, kind: u32, shape: u64, offset: u64, flags: u32) {
        let label = if kind == KIND_QUEUE && flags & queue::FLAG_LIFO != 0 {
            "stack"
        } else {
            kind_name(kind)
        };
        let loc = format!("{label} '{name}'");
        let size = match kind {
            KIND_ARRAY | KIND_MAP | KIND_QUEUE | KIND_BUS | KIND_MUTEX | KIND_BARRIER
            | KIND_SEMAPHORE => object_size(kind, shape),
            _ => {
                self.problem(loc, format!("unknown object kind {kind}"));
                return;
            }
        };
        let Some(size) = size.filter(|&s| s <= self.fx.heap_size) else {
            self.problem(loc, format!("impossible size {shape}"));
            return;
        };
        if offset % 64 != 0
            || offset < self.fx.heap_offset
            || offset
                .checked_add(size)
                .is_none_or(|e| e > self.fx.total_size)
        {
            self.problem(loc, format!("body at {offset:#x} lies outside the heap"));
            return;
        }
        if !self.reference(offset, size, || loc.clone()) && self.heap_walk_ok {
            return;
        }
        let Ok(hdr) = self.map.get::<ObjectHeader>(offset) else {
            return;
        };
        if hdr.magic.load(Ordering::Relaxed) != OBJECT_MAGIC ^ kind
            || hdr.shape.load(Ordering::Relaxed) != shape
        {
            self.problem(loc, "object header does not match its directory entry");
            return;
        }
        self.objects.push(ObjectSummary {
            name: name.to_owned(),
            kind: label,
            shape,
            offset,
            bytes: size,
        });
        if !self.deep {
            return;
        }
        let body = offset + OBJ_HEADER;
        match kind {
            KIND_ARRAY => {
                for i in 0..shape {
                    self.element(body + i * ELEM, true, &|| format!("{loc} element {i}"));
                }
            }
            KIND_MAP => self.map_body(&loc, body, shape),
            KIND_QUEUE => self.queue_body(&loc, body, shape, flags & queue::FLAG_LIFO != 0),
            KIND_BUS => self.bus_body(&loc, body, shape),
            KIND_MUTEX => {
                if let Ok(b) = self.map.get::<MutexBody>(body) {
                    self.lock_word(&b.lock, || loc.clone());
                }
            }
            KIND_BARRIER => {
                if let Ok(b) = self.map.get::<BarrierBody>(body) {
                    let parties = b.parties.load(Ordering::Relaxed);
                    let arrived = b.state.load(Ordering::Relaxed) as u32;
                    if parties as u64 != shape || parties == 0 {
                        self.problem(
                            loc,
                            format!("parties {parties}, the directory says {shape}"),
                        );
                    } else if arrived >= parties {
                        self.problem(loc, format!("{arrived} arrivals of {parties} parties"));
                    }
                }
            }
            KIND_SEMAPHORE => self.semaphore_body(&loc, body, shape),
            _ => {}
        }
    }

    /// Checks one element; `owned`: its value's heap block belongs to it.
    fn element(&mut self, off: u64, owned: bool, location: &dyn Fn() -> String) {
        let Ok(e) = self.map.get::<Element>(off) else {
            self.problem(location(), "out of bounds");
            return;
        };
        self.lock_word(&e.lock, location);
        let tag = e.tag.load(Ordering::Acquire);
        if tag & (TAG_READER_ONE - 1) & !(TAG_FULL | TAG_CUR) != 0 {
            self.problem(location(), format!("invalid tag {tag:#x}"));
            return;
        }
        let readers = tag >> TAG_READER_SHIFT;
        let recorded = self.rw_live.get(&off).copied().unwrap_or(0);
        if readers != recorded && owned {
            self.stale(
                location(),
                format!("the tag counts {readers} read_rw holders, {recorded} live ones hold it"),
            );
        }
        let slot = &e.slots[((tag & TAG_CUR) >> 1) as usize];
        let m = slot.meta.load(Ordering::Relaxed);
        let p = slot.payload.load(Ordering::Relaxed);
        self.value(m, p, owned, location);
    }

    fn map_body(&mut self, loc: &str, base: u64, capacity: u64) {
        let Ok(h) = self.map.get::<MapHeader>(base) else {
            return;
        };
        let Some(slots) = crate::shm::kinds::map::slots_for(capacity) else {
            return;
        };
        if h.slots.load(Ordering::Relaxed) != slots {
            self.problem(loc, "damaged header (slot count)");
            return;
        }
        let lock_held = self.lock_word(&h.lock, || loc.to_owned());
        let mut live = 0u64;
        let mut keys = HashSet::new();
        let mask = slots - 1;
        for i in 0..slots {
            let slot_off = base + MAP_HEADER + i * MAP_SLOT;
            let Ok(s) = self.map.get::<KeySlot>(slot_off) else {
                return;
            };
            let sloc = || format!("{loc} slot {i}");
            let state = s.state.load(Ordering::Acquire) & KEY_STATE_MASK;
            if state == KEY_LIVE {
                live += 1;
                let len = s.key_len.load(Ordering::Relaxed);
                if len > crate::shm::kinds::map::MAX_KEY_LEN as u64 {
                    self.problem(sloc(), format!("key of {len} bytes"));
                    continue;
                }
                let mut key = Vec::new();
                if len <= KEY_INLINE_MAX as u64 {
                    for w in &s.key_inline {
                        key.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
                    }
                    key.truncate(len as usize);
                } else {
                    let off = s.key_off.load(Ordering::Relaxed);
                    if !self.reference(off, len, || format!("{} key", sloc())) {
                        continue;
                    }
                    if self.map.read_bytes(off, len, &mut key).is_err() {
                        continue;
                    }
                }
                let Ok(key) = String::from_utf8(key) else {
                    self.problem(sloc(), "key is not UTF-8");
                    continue;
                };
                let hash = fnv1a(key.as_bytes());
                if s.hash.load(Ordering::Relaxed) != hash {
                    self.problem(sloc(), format!("key '{key}' has a wrong hash"));
                } else {
                    // Lookups probe from the hash to the first FREE slot: the key must lie
                    // on that path, or it can never be found.
                    let mut j = hash & mask;
                    while j != i {
                        let st = self
                            .map
                            .get::<KeySlot>(base + MAP_HEADER + j * MAP_SLOT)
                            .map(|k| k.state.load(Ordering::Acquire) & KEY_STATE_MASK)
                            .unwrap_or(KEY_FREE);
                        if st == KEY_FREE {
                            self.problem(
                                sloc(),
                                format!(
                                    "key '{key}' is unreachable (a free slot {j} lies before it)"
                                ),
                            );
                            break;
                        }
                        j = (j + 1) & mask;
                    }
                }
                if !keys.insert(key.clone()) {
                    self.problem(sloc(), format!("key '{key}' is stored twice"));
                }
                let kl = format!("{loc} key '{}'", key.chars().take(64).collect::<String>());
                self.element(slot_off + KEY_SLOT, true, &|| kl.clone());
            } else {
                // Not LIVE: the element should hold nothing; a heap value left there by an
                // interrupted removal is not a reference (an insert overwrites it).
                if let Ok(e) = self.map.get::<Element>(slot_off + KEY_SLOT) {
                    let tag = e.tag.load(Ordering::Relaxed);
                    let vs = &e.slots[((tag & TAG_CUR) >> 1) as usize];
                    if crate::shm::kinds::element::meta_in_heap(vs.meta.load(Ordering::Relaxed)) {
                        self.orphans.push(Orphan {
                            elem_off: slot_off + KEY_SLOT,
                        });
                    }
                    self.lock_word(&e.lock, sloc);
                }
            }
        }
        let len = h.len.load(Ordering::Relaxed);
        if len != live {
            let msg = format!("the key count says {len}, {live} keys are live");
            match lock_held {
                None => self.problem(loc, msg),
                Some(false) => self.stale(loc, msg),
                Some(true) => {} // a live process is in the middle of an insert or removal
            }
        }
        if live > capacity {
            self.problem(
                loc,
                format!("{live} keys, more than the capacity {capacity}"),
            );
        }
    }

    fn queue_body(&mut self, loc: &str, base: u64, capacity: u64, lifo: bool) {
        let Ok(h) = self.map.get::<QueueHeader>(base) else {
            return;
        };
        if h.capacity.load(Ordering::Relaxed) != capacity && h.capacity.load(Ordering::Relaxed) != 0
        {
            self.problem(loc, "damaged header (capacity)");
        }
        let slots = base + Q_HEADER;
        if lifo {
            self.lock_word(&h.lock, || loc.to_owned());
            let top = h.top.load(Ordering::Acquire);
            if top > capacity {
                self.problem(
                    loc,
                    format!("{top} values, more than the capacity {capacity}"),
                );
                return;
            }
            for i in 0..top {
                if let Ok(s) = self.map.get::<QueueSlot>(slots + i * Q_SLOT) {
                    let (m, p) = (
                        s.value.meta.load(Ordering::Relaxed),
                        s.value.payload.load(Ordering::Relaxed),
                    );
                    self.value(m, p, true, &|| format!("{loc} value {i}"));
                }
            }
            return;
        }
        for i in 0..capacity {
            let Ok(s) = self.map.get::<QueueSlot>(slots + i * Q_SLOT) else {
                return;
            };
            let st = s.state.load(Ordering::Acquire);
            let token = (st & fifo::TOKEN_MASK) as u32;
            let sloc = || format!("{loc} slot {i}");
            match st & fifo::PHASE_MASK {
                fifo::FREE if token == 0 => {}
                fifo::FULL if token == 0 => {
                    let (m, p) = (
                        s.value.meta.load(Ordering::Relaxed),
                        s.value.payload.load(Ordering::Relaxed),
                    );
                    self.value(m, p, true, &sloc);
                }
                fifo::WRITING if token != 0 => {
                    if !self.token_alive(token) {
                        let msg = format!("a push left unfinished by {}", self.gone(token));
                        self.stale(sloc(), msg);
                    }
                }
                _ => self.problem(sloc(), format!("invalid state {st:#x}")),
            }
        }
    }

    fn bus_body(&mut self, loc: &str, base: u64, capacity: u64) {
        let Ok(h) = self.map.get::<BusHeader>(base) else {
            return;
        };
        if h.capacity.load(Ordering::Relaxed) != capacity || capacity == 0 {
            self.problem(loc, "damaged header (capacity)");
            return;
        }
        let next = h.next_seq.load(Ordering::Acquire);
        if next == 0 {
            self.problem(loc, "damaged header (next sequence number 0)");
            return;
        }
        let lock = self.lock_word(&h.lock, || loc.to_owned());
        for i in 0..capacity {
            let Ok(s) = self.map.get::<BusSlot>(base + B_HEADER + i * B_SLOT) else {
                return;
            };
            let seq = s.seq.load(Ordering::Acquire);
            let sloc = || format!("{loc} slot {i}");
            if seq & BUS_BUSY != 0 {
                if lock != Some(true) {
                    self.stale(
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
                self.problem(sloc(), format!("holds message {seq}, next is {next}"));
                continue;
            }
            let m = s.meta.load(Ordering::Relaxed);
            if m & META_SLOT_BYTES != 0 {
                let len = m & META_LEN_MASK & !META_SLOT_BYTES;
                let t = m >> 56;
                if !(9..=BUS_INLINE_MAX as u64).contains(&len)
                    || !(Type::String as u64..=Type::Object as u64).contains(&t)
                    || m & META_INLINE != 0
                {
                    self.problem(sloc(), format!("invalid message word {m:#x}"));
                }
                continue;
            }
            let p = s.payload.load(Ordering::Relaxed);
            self.value(m, p, true, &sloc);
        }
    }

    fn semaphore_body(&mut self, loc: &str, base: u64, shape: u64) {
        let Ok(h) = self.map.get::<SemaphoreHeader>(base) else {
            return;
        };
        let permits = h.permits.load(Ordering::Relaxed);
        let records = h.records.load(Ordering::Relaxed);
        if permits as u64 != shape
            || permits == 0
            || records != crate::shm::kinds::semaphore::records_for(permits)
        {
            self.problem(loc, "damaged header (permits or records)");
            return;
        }
        let lock = self.lock_word(&h.lock, || loc.to_owned());
        let available = h.available.load(Ordering::Relaxed);
        let mut held: u64 = 0;
        for i in 0..records {
            let Ok(rec) = self
                .map
                .get::<SemaphoreHolder>(base + S_HEADER + i as u64 * S_RECORD)
            else {
                return;
            };
            let token = rec.token.load(Ordering::Relaxed);
            let count = rec.count.load(Ordering::Relaxed);
            if token == 0 {
                if count != 0 {
                    self.problem(
                        format!("{loc} holder record {i}"),
                        "permits without a holder",
                    );
                }
                continue;
            }
            held += count as u64;
            if count != 0 && !self.token_alive(token) {
                self.stale(
                    format!("{loc} holder record {i}"),
                    format!("{count} permit(s) held by {}", self.gone(token)),
                );
            }
        }
        if available as u64 + held != permits as u64 {
            let msg =
                format!("{available} available + {held} held does not add up to {permits} permits");
            match lock {
                None => self.problem(loc, msg),
                Some(false) => self.stale(loc, msg),
                Some(true) => {}
            }
        }
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
    scan.scan_directory();
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
        r.check_fork()?;
        let none = HashSet::new();
        let mut scan = Scan::new(&r.map, r.fixed, &none);
        scan.deep = false;
        scan.scan_directory();
        Ok(scan.objects)
    }
}

// ---- repair ----

/// What a sweep for stale entries did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Swept {
    pub locks: u32,
    pub readers: u32,
    pub pushes: u32,
    pub permits: u32,
}

/// Takes over a lock word whose owner is dead (through the normal robust lock, so it is
/// safe against every live process), runs `repair` under it, releases it. Returns whether
/// it did (a lock that is free or held by a live process is left alone).
fn take_over(
    r: &RegionInner,
    word: &AtomicU32,
    repair: impl FnOnce(Acquired) -> Result<()>,
) -> Result<bool> {
    let owner = word.load(Ordering::Acquire) & LOCK_OWNER;
    let procs = r.procs();
    if owner == 0 || owner == r.token || !procs.token_is_dead(owner) {
        return Ok(false);
    }
    match wait::lock(
        word,
        r.token,
        &Deadline::after(Some(SWEEP_LOCK_WAIT)),
        &procs,
    ) {
        Ok(how) => {
            let result = repair(how);
            wait::unlock(word);
            result.map(|_| true)
        }
        Err(Error::Timeout) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The size of the heap block an object of `kind` and `shape` occupies (header
/// included), or None when the shape is impossible (the arithmetic overflows) or the
/// kind unknown.
fn object_size(kind: u32, shape: u64) -> Option<u64> {
    match kind {
        KIND_ARRAY => shape
            .checked_mul(ELEM)
            .and_then(|b| b.checked_add(OBJ_HEADER)),
        KIND_MAP => crate::shm::kinds::map::body_size(shape),
        KIND_QUEUE => crate::shm::kinds::queue::body_size(shape),
        KIND_BUS => crate::shm::kinds::bus::body_size(shape),
        KIND_MUTEX | KIND_BARRIER => Some(BODY_64),
        KIND_SEMAPHORE => u32::try_from(shape).ok().map(|p| {
            crate::shm::kinds::semaphore::body_size(crate::shm::kinds::semaphore::records_for(p))
        }),
        _ => None,
    }
}

/// Cleans up what dead processes left behind, with the same steps a live process takes
/// when it meets them, so it is safe whoever else is attached: takes over (and repairs
/// under) every lock a dead process holds, recounts `read_rw` holders, abandons pushes
/// left unfinished, gives back semaphore permits of dead holders, and releases user
/// mutexes of dead holders so that their next locker gets `OwnerDead`. Leaks nothing and
/// frees nothing. Errors only on corruption (what it had cleaned stays cleaned).
pub(crate) fn sweep(r: &RegionInner) -> Result<Swept> {
    let mut done = Swept::default();
    let live = r.live();
    if take_over(r, &live.alloc_lock, |_| Ok(()))? {
        done.locks = done.locks.saturating_add(1);
    }
    if take_over(r, &live.dir_lock, |_| Ok(()))? {
        done.locks = done.locks.saturating_add(1);
    }
    for i in 0..r.fixed.dir_capacity {
        let e: &DirEntry = r.map.get_nth(r.fixed.dir_offset, i as u64)?;
        if e.state.load(Ordering::Acquire) != DIR_READY {
            continue;
        }
        let kind = e.kind.load(Ordering::Relaxed);
        let shape = e.shape.load(Ordering::Relaxed);
        let offset = e.offset.load(Ordering::Relaxed);
        let flags = e.flags.load(Ordering::Relaxed);
        if offset < r.fixed.heap_offset || offset % 64 != 0 || offset >= r.fixed.total_size {
            return Err(Error::corrupt(format!("directory entry {i} is damaged")));
        }
        // Every slot offset computed below stays inside the object's block, so inside
        // the file, and no multiplication by the shape can overflow.
        if object_size(kind, shape)
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
        let body = offset + OBJ_HEADER;
        match kind {
            KIND_ARRAY => {
                for i in 0..shape {
                    sweep_element(r, body + i * ELEM, &mut done)?;
                }
            }
            KIND_MAP => {
                let h: &MapHeader = r.map.get(body)?;
                let slots = crate::shm::kinds::map::slots_for(shape)
                    .filter(|&s| s == h.slots.load(Ordering::Relaxed))
                    .ok_or_else(|| Error::corrupt("map header is damaged"))?;
                if take_over(r, &h.lock, |_| {
                    let mut n = 0;
                    for j in 0..slots {
                        let s: &KeySlot = r.map.get(body + MAP_HEADER + j * MAP_SLOT)?;
                        if s.state.load(Ordering::Acquire) & KEY_STATE_MASK == KEY_LIVE {
                            n += 1;
                        }
                    }
                    h.len.store(n, Ordering::Relaxed);
                    Ok(())
                })? {
                    done.locks = done.locks.saturating_add(1);
                }
                for j in 0..slots {
                    sweep_element(r, body + MAP_HEADER + j * MAP_SLOT + KEY_SLOT, &mut done)?;
                }
            }
            KIND_QUEUE => {
                let h: &QueueHeader = r.map.get(body)?;
                if flags & queue::FLAG_LIFO != 0 {
                    if take_over(r, &h.lock, |_| Ok(()))? {
                        done.locks = done.locks.saturating_add(1);
                    }
                    continue;
                }
                for j in 0..shape {
                    let s: &QueueSlot = r.map.get(body + Q_HEADER + j * Q_SLOT)?;
                    let st = s.state.load(Ordering::Acquire);
                    let token = (st & fifo::TOKEN_MASK) as u32;
                    if st & fifo::PHASE_MASK == fifo::WRITING
                        && token != r.token
                        && r.procs().token_is_dead(token)
                    {
                        // As a blocked consumer would: the push did not happen.
                        let next = fifo::state(fifo::lap_of(st) + 1, fifo::FREE, 0);
                        if s.state
                            .compare_exchange(st, next, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                        {
                            wait::note_recovered();
                            if st & fifo::WAITERS != 0 {
                                s.wake.fetch_add(1, Ordering::SeqCst);
                                sys::futex_wake(&s.wake, i32::MAX);
                            }
                            done.pushes = done.pushes.saturating_add(1);
                        }
                    }
                }
            }
            KIND_BUS => {
                let h: &BusHeader = r.map.get(body)?;
                let cap = h.capacity.load(Ordering::Relaxed);
                if cap == 0 || cap != shape {
                    return Err(Error::corrupt("bus header is damaged"));
                }
                if take_over(r, &h.lock, |_| {
                    // As the next publisher would: count a committed message.
                    let next = h.next_seq.load(Ordering::Relaxed);
                    if next == 0 || next >= BUS_BUSY - 1 {
                        return Err(Error::corrupt(format!(
                            "bus sequence number {next} is beyond any reachable count"
                        )));
                    }
                    let s: &BusSlot = r.map.get(body + B_HEADER + (next % cap) * B_SLOT)?;
                    if s.seq.load(Ordering::Acquire) == next {
                        h.next_seq.store(next + 1, Ordering::Release);
                    }
                    Ok(())
                })? {
                    done.locks = done.locks.saturating_add(1);
                }
            }
            KIND_MUTEX => {
                let b: &MutexBody = r.map.get(body)?;
                if take_over(r, &b.lock, |_| {
                    b.owner_tid.store(0, Ordering::Relaxed);
                    b.owner_died.store(1, Ordering::Relaxed);
                    Ok(())
                })? {
                    done.locks = done.locks.saturating_add(1);
                }
            }
            KIND_SEMAPHORE => {
                let h: &SemaphoreHeader = r.map.get(body)?;
                let permits = h.permits.load(Ordering::Relaxed);
                let records = crate::shm::kinds::semaphore::records_for(permits);
                if permits as u64 != shape || h.records.load(Ordering::Relaxed) != records {
                    return Err(Error::corrupt("semaphore header is damaged"));
                }
                let procs = r.procs();
                let mut dead_holder = false;
                for j in 0..records {
                    let rec: &SemaphoreHolder = r.map.get(body + S_HEADER + j as u64 * S_RECORD)?;
                    let t = rec.token.load(Ordering::Relaxed);
                    if t != 0 && t != r.token && procs.token_is_dead(t) {
                        dead_holder = true;
                    }
                }
                let owner = h.lock.load(Ordering::Acquire) & LOCK_OWNER;
                if !dead_holder && (owner == 0 || !procs.token_is_dead(owner)) {
                    continue;
                }
                // Under the semaphore lock (taken normally, or over from a dead owner):
                // drop dead holders' records and recompute `available`, as acquirers do.
                let how = match wait::lock(
                    &h.lock,
                    r.token,
                    &Deadline::after(Some(SWEEP_LOCK_WAIT)),
                    &procs,
                ) {
                    Ok(how) => how,
                    Err(Error::Timeout) => continue,
                    Err(e) => return Err(e),
                };
                if how == Acquired::Recovered {
                    done.locks = done.locks.saturating_add(1);
                }
                let result = (|| {
                    let mut held: u64 = 0;
                    for j in 0..records {
                        let rec: &SemaphoreHolder =
                            r.map.get(body + S_HEADER + j as u64 * S_RECORD)?;
                        let t = rec.token.load(Ordering::Relaxed);
                        if t == 0 {
                            continue;
                        }
                        let count = rec.count.load(Ordering::Relaxed);
                        if count == 0 || (t != r.token && procs.token_is_dead(t)) {
                            rec.count.store(0, Ordering::Relaxed);
                            rec.token.store(0, Ordering::Relaxed);
                            if count != 0 {
                                wait::note_recovered();
                                done.permits = done.permits.saturating_add(1);
                            }
                            continue;
                        }
                        held += count as u64;
                    }
                    let available = (permits as u64).saturating_sub(held) as u32;
                    h.available.store(available, Ordering::Relaxed);
                    Ok(())
                })();
                wait::unlock(&h.lock);
                result?;
                h.seq.fetch_add(1, Ordering::SeqCst);
                wait::wake_all(&h.seq, &h.sleepers, u32::MAX);
            }
            _ => {}
        }
    }
    Ok(done)
}

fn sweep_element(r: &RegionInner, off: u64, done: &mut Swept) -> Result<()> {
    match Cell::at(r, off)?.recover_stale(SWEEP_LOCK_WAIT)? {
        (true, readers) => {
            done.locks = done.locks.saturating_add(1);
            done.readers = done.readers.saturating_add(readers as u32);
        }
        (false, true) => done.readers = done.readers.saturating_add(1),
        (false, false) => {}
    }
    Ok(())
}

/// Under the allocator and directory locks, when no other process is attached: rescans
/// and returns every leaked block to its free list. `Err(reason)` when it must not.
fn reclaim_leaks(r: &RegionInner) -> Result<std::result::Result<Option<String>, String>> {
    let live = r.live();
    let procs = r.procs();
    let forever = Deadline::after(Some(Duration::from_secs(10)));
    wait::lock(&live.alloc_lock, r.token, &forever, &procs)?;
    let dir = wait::lock(&live.dir_lock, r.token, &forever, &procs);
    if let Err(e) = dir {
        wait::unlock(&live.alloc_lock);
        return Err(e);
    }
    let result = reclaim_locked(r);
    wait::unlock(&live.dir_lock);
    wait::unlock(&live.alloc_lock);
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
    scan.run();
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
            .filter(|l| l.reason.starts_with("allocated"))
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
}
