//! The region's process table: who is attached, and whether a lock owner still lives.
//!
//! An entry's `word` is `generation << 32 | pid` (pid 0: free; bit 31 of the pid half
//! set while the claimer is still filling the entry in). A process attaching takes a
//! free entry and gets an owner *token* `(generation & GEN_MASK) << SLOT_BITS | slot + 1`
//! that it writes into every lock word it holds (tokens are below 2^30). Releasing an entry (close, or reaping a
//! dead process) bumps the generation, so tokens of the old holder are recognisably stale
//! even after the entry is reused. Claiming an entry moves the generation on by a random
//! step (never a multiple of 2^20), so the token a process gets cannot be predicted from
//! the file: a damaged or hostile region cannot make a lock look held by the new
//! attachment itself, which would then wait for itself forever. Start times (clock ticks
//! after boot) detect pid reuse.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::shm::format::layout::{
    FixedHeader, HolderRow, LiveHeader, ProcEntry, LIVE_OFFSET, REGION_REMOVED, REMOVED_OFFSET,
    RW_RECORDS,
};
use crate::shm::os::mem::Mapping;
use crate::shm::os::sys::{self, ProcState};
use crate::shm::wait::Owners;

const SLOT_BITS: u32 = 10;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// Tokens must stay below 2^30 (the two top bits of a lock word are flags).
const GEN_MASK: u32 = (1 << (30 - SLOT_BITS)) - 1;
const PID_PENDING: u32 = 1 << 31;

/// A view of the process table inside a mapping.
pub struct ProcTable<'a> {
    pub map: &'a Mapping,
    pub offset: u64,
    pub capacity: u32,
    /// The holders table (0: the region has none, format version < 3) and its rows.
    pub holders: u64,
    pub holder_rows: u32,
}

fn word(gen: u32, pid: u32) -> u64 {
    (gen as u64) << 32 | pid as u64
}

fn split(w: u64) -> (u32, u32) {
    ((w >> 32) as u32, w as u32)
}

/// Slot index and generation bits named by a token.
fn token_parts(token: u32) -> (u32, u32) {
    ((token & SLOT_MASK).wrapping_sub(1), token >> SLOT_BITS)
}

impl<'a> ProcTable<'a> {
    /// The process table of the region `map` holds, as `fixed` places it.
    pub fn of(map: &'a Mapping, fixed: &FixedHeader) -> ProcTable<'a> {
        ProcTable {
            map,
            offset: fixed.proc_offset,
            capacity: fixed.proc_capacity,
            holders: fixed.holders_offset,
            holder_rows: if fixed.holders_offset == 0 {
                0
            } else {
                fixed.dir_capacity
            },
        }
    }

    /// Clears `slot`'s bit in every row of the holders table (its process died: it has
    /// nothing open any more). Runs before the entry is freed, so no new holder of the
    /// slot can have set a bit yet. Reads first, so untouched pages stay untouched.
    fn clear_holder_bits(&self, slot: u32) {
        let (word, bit) = ((slot / 64) as usize, 1u64 << (slot % 64));
        for row in 0..self.holder_rows as u64 {
            if let Ok(r) = self.map.get_nth::<HolderRow>(self.holders, row) {
                if r.words[word].load(Ordering::Acquire) & bit != 0 {
                    r.words[word].fetch_and(!bit, Ordering::SeqCst);
                }
            }
        }
    }

    pub fn entry(&self, slot: u32) -> Result<&'a ProcEntry> {
        if slot >= self.capacity {
            return Err(Error::corrupt(format!("process slot {slot} out of range")));
        }
        self.map.get_nth(self.offset, slot as u64)
    }

    /// Takes a free entry for the calling process. Returns (slot, token).
    pub fn claim(&self) -> Result<(u32, u32)> {
        let pid = sys::pid();
        let start = sys::own_start_ticks();
        for pass in 0..2 {
            for slot in 0..self.capacity.min(SLOT_MASK) {
                let e = self.entry(slot)?;
                let w = e.word.load(Ordering::Acquire);
                let (gen, p) = split(w);
                if p != 0 {
                    continue;
                }
                // A fresh, unpredictable generation: no lock word in the file can name
                // the token we are about to get (a damaged or hostile file could
                // otherwise claim that we already hold a lock, and we would wait for
                // ourselves forever). It differs from the entry's last generation, so
                // the tokens of its previous holder stay stale.
                let gen = gen.wrapping_add(1 + (sys::random_u64() % GEN_MASK as u64) as u32);
                if e.word
                    .compare_exchange(
                        w,
                        word(gen, pid | PID_PENDING),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
                for r in &e.rw_held {
                    r.store(0, Ordering::Relaxed);
                }
                e.start_ticks.store(start, Ordering::Relaxed);
                e.attached_unix_ns
                    .store(sys::unix_time_ns(), Ordering::Relaxed);
                e.word.store(word(gen, pid), Ordering::Release);
                let token = (gen & GEN_MASK) << SLOT_BITS | (slot + 1);
                return Ok((slot, token));
            }
            if pass == 0 {
                self.reap_dead()?;
            }
        }
        Err(Error::NoSpace(format!(
            "the region's process table is full ({} attachments)",
            self.capacity
        )))
    }

    /// Releases our own entry (on close).
    pub fn release(&self, slot: u32, token: u32) {
        if let Ok(e) = self.entry(slot) {
            let w = e.word.load(Ordering::Acquire);
            let (gen, _) = split(w);
            if gen & GEN_MASK == token >> SLOT_BITS {
                e.start_ticks.store(0, Ordering::Relaxed);
                let _ = e.word.compare_exchange(
                    w,
                    word(gen.wrapping_add(1), 0),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// Whether the process in entry `slot` (with word `w`) is alive; reaps it if not.
    fn check_entry(&self, e: &ProcEntry, w: u64) -> bool {
        let (gen, p) = split(w);
        if p == 0 {
            return false;
        }
        let pid = p & !PID_PENDING;
        let alive = match sys::process_state(pid) {
            ProcState::Dead => false,
            ProcState::Unknown => true,
            ProcState::Alive { start_ticks } => {
                let recorded = e.start_ticks.load(Ordering::Relaxed);
                // Re-read the word: the start time belongs to it only if it did not change.
                let stable = e.word.load(Ordering::Acquire) == w;
                p & PID_PENDING != 0 || !stable || recorded == 0 || recorded == start_ticks
            }
        };
        if !alive {
            if let Some(slot) = self.slot_of(e) {
                self.clear_holder_bits(slot);
            }
            e.start_ticks.store(0, Ordering::Relaxed);
            let reaped = e
                .word
                .compare_exchange(
                    w,
                    word(gen.wrapping_add(1), 0),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
            if reaped {
                if let Ok(live) = self.map.get::<LiveHeader>(LIVE_OFFSET) {
                    live.reaped.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        alive
    }

    /// The index of entry `e` in the table.
    fn slot_of(&self, e: &ProcEntry) -> Option<u32> {
        let at = self.map.offset_of(e).checked_sub(self.offset)?;
        let slot = at / std::mem::size_of::<ProcEntry>() as u64;
        (slot < self.capacity as u64).then_some(slot as u32)
    }

    /// Whether the process that wrote word `w` into `e` is alive, without changing
    /// anything (the checker's read-only view; [`ProcTable::check_entry`] reaps).
    fn entry_alive(e: &ProcEntry, w: u64) -> bool {
        let p = split(w).1;
        if p == 0 {
            return false;
        }
        match sys::process_state(p & !PID_PENDING) {
            ProcState::Dead => false,
            ProcState::Unknown => true,
            ProcState::Alive { start_ticks } => {
                let recorded = e.start_ticks.load(Ordering::Relaxed);
                let stable = e.word.load(Ordering::Acquire) == w;
                p & PID_PENDING != 0 || !stable || recorded == 0 || recorded == start_ticks
            }
        }
    }

    /// A read-only look at entry `slot`: `None` when free, else (pid, alive). Never
    /// reaps.
    pub fn peek(&self, slot: u32) -> Result<Option<(u32, bool)>> {
        let e = self.entry(slot)?;
        let w = e.word.load(Ordering::Acquire);
        let p = split(w).1;
        if p == 0 {
            return Ok(None);
        }
        Ok(Some((p & !PID_PENDING, Self::entry_alive(e, w))))
    }

    /// Who holds owner token `token`, read-only: `Some((pid, alive))` when the token
    /// names a current attachment, `None` when it names a detached or reaped one (or
    /// nothing at all). Never reaps.
    pub fn token_owner(&self, token: u32) -> Option<(u32, bool)> {
        let (slot, gen) = token_parts(token);
        let e = self.entry(slot).ok()?;
        let w = e.word.load(Ordering::Acquire);
        let (egen, p) = split(w);
        if p == 0 || egen & GEN_MASK != gen {
            return None;
        }
        Some((p & !PID_PENDING, Self::entry_alive(e, w)))
    }

    /// Whether the attachment named by `token` is gone (detached, or its process died).
    pub fn token_is_dead(&self, token: u32) -> bool {
        let (slot, gen) = token_parts(token);
        let Ok(e) = self.entry(slot) else {
            return true; // a token naming no slot can only come from corruption
        };
        let w = e.word.load(Ordering::Acquire);
        let (egen, p) = split(w);
        if p == 0 || egen & GEN_MASK != gen {
            return true;
        }
        !self.check_entry(e, w)
    }

    /// Clears the entries of dead processes. Returns how many live entries remain.
    pub fn reap_dead(&self) -> Result<u32> {
        let mut live = 0;
        for slot in 0..self.capacity {
            let e = self.entry(slot)?;
            let w = e.word.load(Ordering::Acquire);
            if split(w).1 != 0 && self.check_entry(e, w) {
                live += 1;
            }
        }
        Ok(live)
    }

    /// Number of live `read_rw` records naming `elem_off`, over all live attachments.
    pub fn count_readers(&self, elem_off: u64) -> Result<u32> {
        let mut n = 0;
        for slot in 0..self.capacity {
            let e = self.entry(slot)?;
            let w = e.word.load(Ordering::Acquire);
            if split(w).1 == 0 {
                continue;
            }
            let held = e
                .rw_held
                .iter()
                .filter(|r| r.load(Ordering::Acquire) == elem_off)
                .count();
            if held > 0 && self.check_entry(e, w) {
                n += held as u32;
            }
        }
        Ok(n)
    }

    /// Records that our attachment holds a `read_rw` lock on `elem_off`.
    pub fn add_rw_record(&self, slot: u32, elem_off: u64) -> Result<()> {
        let e = self.entry(slot)?;
        for r in &e.rw_held {
            if r.compare_exchange(0, elem_off, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(());
            }
        }
        Err(Error::NoSpace(format!(
            "this process already holds {RW_RECORDS} read_rw locks in this region; release some first"
        )))
    }

    /// Removes one record of `elem_off`; false if we hold none.
    pub fn remove_rw_record(&self, slot: u32, elem_off: u64) -> Result<bool> {
        let e = self.entry(slot)?;
        for r in &e.rw_held {
            if r.compare_exchange(elem_off, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Our records (to release them on close).
    pub fn rw_records(&self, slot: u32) -> Result<Vec<u64>> {
        let e = self.entry(slot)?;
        Ok(e.rw_held
            .iter()
            .map(|r| r.load(Ordering::Acquire))
            .filter(|&o| o != 0)
            .collect())
    }
}

impl Owners for ProcTable<'_> {
    fn is_dead(&self, token: u32) -> bool {
        self.token_is_dead(token)
    }

    fn is_paused(&self, token: u32) -> bool {
        let (slot, _) = token_parts(token);
        self.entry(slot)
            .map(|e| split(e.word.load(Ordering::Acquire)).1)
            .is_ok_and(|pid| pid != 0 && sys::process_is_paused(pid))
    }

    fn removed(&self) -> Option<Error> {
        let flag = self.map.get::<AtomicU32>(REMOVED_OFFSET).ok()?;
        (flag.load(Ordering::Acquire) & REGION_REMOVED != 0).then(|| {
            Error::Removed(
                "the region was removed (or replaced) while this handle was open; open it again by name"
                    .into(),
            )
        })
    }
}
