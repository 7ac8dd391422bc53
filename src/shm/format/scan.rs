//! The scanner behind the checker: one read-only pass over a region's format-level
//! structures (process table, heap blocks and free lists, lock words, values), collecting
//! findings. It knows no kind of object: each kind's module scans its own body through
//! the helpers here (`crate::shm::kinds`), and `crate::shm::check` drives the whole.

use std::collections::HashMap;
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::semantics::value::Type;
use crate::shm::format::heap::{
    class_size, BadBlock, BadHeader, HeapBlocks, Spans, Walked, BLOCK_HEADER, STATE_MASK,
};
use crate::shm::format::layout::*;
use crate::shm::format::proctable::ProcTable;
use crate::shm::os::mem::Mapping;
use crate::shm::wait::LOCK_OWNER;

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
    pub reason: LeakReason,
}

/// Why a heap block counts as leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakReason {
    /// Allocated, but nothing references it (a process died between allocating and
    /// committing a value, or between uncommitting and freeing one).
    Unreferenced,
    /// Free, but on no free list (a process died inside the allocator).
    Unlisted,
}

impl LeakReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeakReason::Unreferenced => "allocated, but nothing references it",
            LeakReason::Unlisted => "free, but on no free list",
        }
    }
}

impl fmt::Display for LeakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for LeakReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
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

pub(crate) fn finding(location: impl Into<String>, message: impl Into<String>) -> Finding {
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
pub(crate) struct Orphan {
    pub elem_off: u64,
}

/// The scanner: one pass over everything, collecting findings.
pub(crate) struct Scan<'a> {
    pub(crate) map: &'a Mapping,
    pub(crate) fx: FixedHeader,
    pub(crate) procs: ProcTable<'a>,
    pub(crate) checker_pids: &'a HashSet<u32>,
    blocks: HashMap<u64, Block>,
    /// Live `read_rw` records per element offset.
    pub(crate) rw_live: HashMap<u64, u32>,
    pub(crate) objects: Vec<ObjectSummary>,
    pub(crate) processes: Vec<ProcessRecord>,
    pub(crate) locks: Vec<HeldLock>,
    pub(crate) stale: Vec<Finding>,
    pub(crate) problems: Vec<Finding>,
    pub(crate) orphans: Vec<Orphan>,
    pub(crate) heap_walk_ok: bool,
    pub(crate) heap_untouched: u64,
    /// False: only the directory and the process table (no heap walk, no object bodies).
    pub(crate) deep: bool,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(
        map: &'a Mapping,
        fx: FixedHeader,
        checker_pids: &'a HashSet<u32>,
    ) -> Scan<'a> {
        Scan {
            map,
            fx,
            procs: ProcTable::of(map, &fx),
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

    pub(crate) fn problem(&mut self, location: impl Into<String>, message: impl Into<String>) {
        // A badly damaged region could produce millions of findings: keep the first ones.
        if self.problems.len() < 1000 {
            self.problems.push(finding(location, message));
        }
    }

    pub(crate) fn stale(&mut self, location: impl Into<String>, message: impl Into<String>) {
        if self.stale.len() < 1000 {
            self.stale.push(finding(location, message));
        }
    }

    pub(crate) fn live(&self) -> Option<&'a LiveHeader> {
        self.map.get(LIVE_OFFSET).ok()
    }

    pub(crate) fn finish(mut self, mut report: CheckReport) -> CheckReport {
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
                            reason: LeakReason::Unreferenced,
                        });
                    }
                } else {
                    free += b.size;
                    if !b.on_list {
                        leaks.push(LeakedBlock {
                            offset: off,
                            size: b.size,
                            reason: LeakReason::Unlisted,
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

    pub(crate) fn scan_processes(&mut self) {
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
    pub(crate) fn lock_word(
        &mut self,
        word: &AtomicU32,
        location: impl Fn() -> String,
    ) -> Option<bool> {
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
    pub(crate) fn gone(&self, token: u32) -> String {
        match self.procs.token_owner(token) {
            Some((pid, _)) => format!("process {pid}, which died"),
            None => "an attachment that is gone (closed, or its process died)".into(),
        }
    }

    pub(crate) fn token_alive(&self, token: u32) -> bool {
        self.procs.token_owner(token).is_some_and(|(_, a)| a)
    }

    // ---- heap ----

    pub(crate) fn walk_heap(&mut self) {
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
        // FREE blocks of no class size are spans of a merge in progress, or of one a dead
        // process left, which the allocator's next locker finishes (see the heap module,
        // "Merging"); `coalesce_intent` says which, read when the walk meets one (a merge
        // may start while this check runs beside live processes).
        let spans = Spans::WhileSet(&live.coalesce_intent);
        for b in HeapBlocks::new(self.map, fx.heap_offset, end, spans) {
            let (p, size, what) = match b {
                Ok(block) => block,
                Err(BadBlock { at, why }) => {
                    let why = match why {
                        BadHeader::Zero => "zero header where a block should start".to_owned(),
                        BadHeader::Bad(ss) => format!(
                            "bad block header {ss:#x} (size {}, state {:#x}); the heap walk stops here",
                            ss & !STATE_MASK,
                            ss & STATE_MASK
                        ),
                        BadHeader::OutOfBounds => "out of bounds".to_owned(),
                    };
                    self.problem(format!("heap block at {at:#x}"), why);
                    return;
                }
            };
            if what != Walked::Padding {
                self.blocks.insert(
                    p,
                    Block {
                        size,
                        used: what == Walked::Used,
                        on_list: false,
                        referenced: false,
                    },
                );
            }
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
    pub(crate) fn reference(
        &mut self,
        data_off: u64,
        len: u64,
        location: impl Fn() -> String,
    ) -> bool {
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
    pub(crate) fn value(&mut self, m: u64, p: u64, owned: bool, location: &dyn Fn() -> String) {
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
}
