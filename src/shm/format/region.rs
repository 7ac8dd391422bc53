//! Regions: creating, opening, validating and closing the mapped file; the process
//! table attachment; the directory of named objects.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::{self, KindWords};
pub use crate::semantics::options::{OpenMode, OpenOptions, RegionInfo};
use crate::shm::format::heap::Heap;
use crate::shm::format::layout::*;
use crate::shm::format::proctable::ProcTable;
use crate::shm::os::mem::Mapping;
use crate::shm::os::sys;
use crate::shm::wait::{self, Deadline};

/// Directory where volatile (bare-name) regions live.
pub const SHM_DIR: &str = "/dev/shm";
/// File name prefix of volatile regions inside [`SHM_DIR`].
pub const SHM_PREFIX: &str = "plexus.";

/// Where an object lives, as the directory says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObjectRef {
    pub kind: u32,
    pub offset: u64,
    pub shape: u64,
    /// Its directory entry, and that entry's state word when it was found (the object's
    /// identity: the word changes when the object is removed or the entry reused).
    pub index: u32,
    pub state: u32,
}

/// What the layers above the format give the region: how an attachment ends and how a
/// removed object's body gives its heap blocks back.
pub(crate) struct Hooks {
    /// Runs when the last handle of an attachment goes (before its process-table entry
    /// is released).
    pub detach: fn(&RegionInner),
    /// Frees every heap block a removed object's body owns (not the body itself), with
    /// [`Heap::free_at`] so that it can be resumed after a crash: `(kind, body offset,
    /// shape, flags)` as the directory entry says.
    pub release: fn(&RegionInner, u32, u64, u64, u32) -> Result<()>,
}

/// How [`RegionInner::open_object`] names a kind of object in its messages.
#[derive(Clone, Copy)]
pub(crate) struct KindSpec {
    /// Its code and how messages name it (the open rules are in
    /// `crate::semantics::open`, shared by every backend).
    pub words: KindWords,
    /// the size of the body (header included) for a shape; None when it overflows
    pub size_of: fn(u64) -> Option<u64>,
}

pub(crate) struct RegionInner {
    pub name: String,
    pub path: PathBuf,
    file: File,
    pub map: Mapping,
    pub fixed: FixedHeader,
    pub slot: u32,
    pub token: u32,
    epoch: u64,
    /// The removed flag in the mapping (at [`REMOVED_OFFSET`], bounds-checked once at
    /// attach): every call reads it.
    removed: std::ptr::NonNull<AtomicU32>,
    /// What the layers above do for the format (see [`Hooks`]).
    hooks: &'static Hooks,
    /// Objects this attachment holds open (version 3 regions): directory index → (the
    /// entry's state word, number of handles). The first handle sets the process's bit
    /// in the entry's holders row, the last one clears it.
    holds: parking_lot::Mutex<std::collections::HashMap<u32, (u32, usize)>>,
}

// SAFETY: `removed` points into `map`, which lives as long as the RegionInner and is
// only accessed atomically; every other field is Send and Sync on its own.
unsafe impl Send for RegionInner {}
// SAFETY: as above.
unsafe impl Sync for RegionInner {}

/// An open region. Cheap to clone; the mapping lives until the last clone (and every
/// object opened through it) is dropped.
#[derive(Clone)]
pub struct Region {
    pub(crate) inner: Arc<RegionInner>,
}

// SAFETY: `removed` points into the region's mapping, which the `Region` kept in the same
// struct keeps alive; it is only accessed atomically. Every other field is Send + Sync.
unsafe impl Send for HeldInner {}
// SAFETY: as above.
unsafe impl Sync for HeldInner {}

/// One handle's claim on one object: keeps the region attached and the object's body
/// allocated (this process counts as one of its holders while any handle on it lives),
/// and answers every call's check. Cheap to clone. Dereferences to the region.
#[derive(Clone)]
pub(crate) struct Held(Arc<HeldInner>);

struct HeldInner {
    /// Copies of the region's removal word pointer and fork epoch, next to `seen`: the
    /// check reads one line of this struct and the word.
    removed: std::ptr::NonNull<AtomicU32>,
    epoch: u64,
    region: Region,
    /// The object's directory entry and the entry's state word when it was opened
    /// (`u32::MAX` index: a region without a holders table, where objects are never
    /// removed).
    index: u32,
    state: u32,
    /// The region's removal word when the object was last seen to be there.
    seen: AtomicU32,
    /// `queue 'jobs'`, for messages.
    what: String,
}

impl Held {
    /// The claim on `obj`, which [`RegionInner::open_object`] holds already (this takes
    /// that hold over: dropping the last clone gives it back).
    pub(crate) fn new(region: &Region, obj: &ObjectRef, what: String) -> Held {
        let tracked = region.inner.fixed.holders_offset != 0;
        Held(Arc::new(HeldInner {
            removed: region.inner.removed,
            epoch: region.inner.epoch,
            region: region.clone(),
            index: if tracked { obj.index } else { u32::MAX },
            state: obj.state,
            // Never with REGION_REMOVED: a removal before this point still shows.
            seen: AtomicU32::new(
                region.inner.removed_word().load(Ordering::Acquire) & !REGION_REMOVED,
            ),
            what,
        }))
    }

    pub(crate) fn region(&self) -> &Region {
        &self.0.region
    }

    /// Every call's check: the region's ([`RegionInner::check_usable`]), and that the
    /// object was not removed. Costs one compare with the word the region check reads
    /// anyway; the directory entry is only looked at after some object was removed.
    #[inline]
    pub(crate) fn check_usable(&self) -> Result<()> {
        let h = &*self.0;
        // SAFETY: `removed` points into the mapping of `h.region`, which `h` keeps alive;
        // the word is only ever accessed atomically.
        let now = unsafe { h.removed.as_ref() }.load(Ordering::Acquire);
        // The word had no REGION_REMOVED bit when it was seen: equal means usable.
        if now == h.seen.load(Ordering::Relaxed) && sys::current_fork_epoch() == h.epoch {
            return Ok(());
        }
        self.check_object(now)
    }

    #[cold]
    fn check_object(&self, now: u32) -> Result<()> {
        let h = &self.0;
        h.region.inner.check_usable()?;
        if h.index == u32::MAX || h.region.inner.still_there(h.index, h.state) {
            h.seen.store(now, Ordering::Relaxed);
            Ok(())
        } else {
            Err(Error::Removed(format!(
                "{} was removed from region '{}' while this handle was open; open it again by name",
                h.what, h.region.inner.name
            )))
        }
    }

    /// The process table, answering lock waiters that the object (or the region) was
    /// removed.
    pub(crate) fn owners(&self) -> HeldOwners<'_> {
        HeldOwners {
            procs: self.0.region.inner.procs(),
            held: self,
        }
    }
}

impl std::ops::Deref for Held {
    type Target = RegionInner;
    fn deref(&self) -> &RegionInner {
        &self.0.region.inner
    }
}

impl Drop for HeldInner {
    fn drop(&mut self) {
        if self.index != u32::MAX && sys::current_fork_epoch() == self.region.inner.epoch {
            self.region.inner.unhold(self.index, self.state);
        }
    }
}

/// [`Held::owners`].
pub(crate) struct HeldOwners<'a> {
    procs: ProcTable<'a>,
    held: &'a Held,
}

impl wait::Owners for HeldOwners<'_> {
    fn is_dead(&self, token: u32) -> bool {
        self.procs.is_dead(token)
    }
    fn is_paused(&self, token: u32) -> bool {
        self.procs.is_paused(token)
    }
    fn removed(&self) -> Option<Error> {
        self.held.check_usable().err()
    }
}

/// Resolves a region name: bare names live in /dev/shm, names with '/' are paths.
pub fn region_path(name: &str) -> Result<PathBuf> {
    if name.is_empty() {
        return Err(Error::invalid("region name is empty"));
    }
    if name.contains('\0') {
        return Err(Error::invalid("region name contains a NUL byte"));
    }
    if name.contains('/') {
        if name.ends_with('/') {
            return Err(Error::invalid(format!(
                "region path '{name}' names a directory"
            )));
        }
        return Ok(PathBuf::from(name));
    }
    let ok = name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        return Err(Error::invalid(format!(
            "region name '{name}': use 1-200 characters from A-Z a-z 0-9 . _ - (not starting with '.'), or a path containing '/'"
        )));
    }
    Ok(Path::new(SHM_DIR).join(format!("{SHM_PREFIX}{name}")))
}

fn io_err(e: std::io::Error, path: &Path) -> Error {
    Error::from_io(&e, &path.display().to_string())
}

/// Builds a complete region in a temporary file beside `path`, then publishes it with
/// one atomic no-replace link. `Exists` when another creator won.
fn create_file(path: &Path, size: u64, mode: u32) -> Result<(File, Mapping, FixedHeader)> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_tmp(dir, &base);
    let tmp = dir.join(format!(
        ".{base}.{}.{:016x}.tmp",
        sys::pid(),
        sys::random_u64()
    ));
    let file = sys::create_exclusive(&tmp, mode).map_err(|e| io_err(e, &tmp))?;
    let cleanup = |e: Error| {
        let _ = std::fs::remove_file(&tmp);
        e
    };
    match sys::reserve(&file, size) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
            return Err(cleanup(Error::NoSpace(format!(
                "cannot reserve {size} bytes for region {}: no space left on {}",
                path.display(),
                dir.display()
            ))))
        }
        Err(e) => return Err(cleanup(io_err(e, &tmp))),
    }
    let fixed = FixedHeader::new(size, sys::random_u64(), sys::unix_time_ns());
    let map = Mapping::new(&file, size).map_err(cleanup)?;
    map.write_bytes(0, &fixed.encode()).map_err(cleanup)?;
    let published = sys::link_no_replace(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match published {
        Ok(()) => Ok((file, map, fixed)),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Err(Error::Exists(format!(
            "region {} already exists",
            path.display()
        ))),
        Err(e) => Err(io_err(e, path)),
    }
}

/// Removes the temporary files a creator of the region file `base` in `dir` left when it
/// was killed before publishing (`.{base}.{pid}.{16 hex digits}.tmp` of a dead pid), so
/// that killed creators leave nothing behind. Best effort.
fn remove_stale_tmp(dir: &Path, base: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{base}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, random)) = rest.split_once('.') else {
            continue;
        };
        let (Ok(pid), true) = (
            pid.parse::<u32>(),
            random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit()),
        ) else {
            continue;
        };
        if pid != 0 && matches!(sys::process_state(pid), sys::ProcState::Dead) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The `Permission` error of an open refused by the file's mode: says who owns the file,
/// its mode, and who we are, since that is what the user has to change.
fn denied(path: &Path, e: &std::io::Error) -> Error {
    use std::os::unix::fs::MetadataExt;
    let (uid, gid) = sys::effective_ids();
    let file = match std::fs::metadata(path) {
        Ok(m) => format!(
            "mode {:04o}, owner uid {} gid {}",
            m.mode() & 0o7777,
            m.uid(),
            m.gid()
        ),
        Err(_) => "its mode cannot be read".into(),
    };
    Error::Permission(format!(
        "cannot open region {} for reading and writing ({file}; this process runs as uid {uid} gid {gid}): {e}. \
         The creator decides who may open it: create it with a wider `permissions` mode (0660 for the file's group, 0666 for everyone)",
        path.display()
    ))
}

/// Opens and validates an existing region file. Never writes to a file that fails
/// validation, never truncates or resizes.
fn open_file(path: &Path) -> Result<(File, Mapping, FixedHeader)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::NotFound(format!("region {} does not exist", path.display()))
            }
            std::io::ErrorKind::PermissionDenied => denied(path, &e),
            _ => io_err(e, path),
        })?;
    let meta = file.metadata().map_err(|e| io_err(e, path))?;
    if !meta.is_file() {
        return Err(Error::corrupt(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let size = meta.len();
    if size < HEADER_SIZE {
        return Err(Error::corrupt(format!(
            "{} is {size} bytes, smaller than a region header (truncated or not a region)",
            path.display()
        )));
    }
    let mut head = [0u8; LIVE_OFFSET as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| io_err(e, path))?;
    let fixed = FixedHeader::decode(&head, size).map_err(|e| match e {
        Error::Corrupt(m) => Error::Corrupt(format!("{}: {m}", path.display())),
        Error::Incompatible(m) => Error::Incompatible(format!("{}: {m}", path.display())),
        other => other,
    })?;
    let map = Mapping::new(&file, size)?;
    Ok((file, map, fixed))
}

/// Marks the region file at `path` removed, if it is one this process can write (a file
/// that is not a valid region, or that we may not open, is unlinked unmarked: nobody
/// can be working on it through plexus, or we could not tell them anyway).
fn mark_removed(path: &Path) {
    if let Ok((_, map, _)) = open_file(path) {
        if let Ok(w) = map.get::<AtomicU32>(REMOVED_OFFSET) {
            w.fetch_or(REGION_REMOVED, Ordering::SeqCst);
            sys::futex_wake(w, i32::MAX); // sleepers that watch the word (long slices)
        }
    }
}

impl Region {
    /// Opens or creates the region `name` (see [`region_path`]) as `opts` say, and
    /// attaches to it, with the layers above's `hooks`. `Region::open` (in `crate::shm`)
    /// is this plus the sweep.
    pub(crate) fn attach(name: &str, opts: &OpenOptions, hooks: &'static Hooks) -> Result<Region> {
        let path = region_path(name)?;
        let size = match opts.size {
            0 => DEFAULT_SIZE,
            s => round_up(s, 4096),
        };
        let min = FixedHeader::overhead() + MIN_HEAP;
        if size < min || size > MAX_SIZE {
            return Err(Error::invalid(format!(
                "region size {} is outside {min}..={MAX_SIZE} bytes",
                opts.size
            )));
        }
        if opts.permissions & !0o7777 != 0 {
            return Err(Error::invalid(format!(
                "permissions {:#o} are not file mode bits",
                opts.permissions
            )));
        }
        let mode = if opts.permissions == 0 {
            0o600
        } else {
            opts.permissions
        };
        let (file, map, fixed) = match opts.mode {
            OpenMode::Create => create_file(&path, size, mode)?,
            OpenMode::Recreate => {
                let mut attempt = 0;
                loop {
                    mark_removed(&path);
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io_err(e, &path)),
                    }
                    match create_file(&path, size, mode) {
                        Err(Error::Exists(_)) if attempt < 100 => attempt += 1,
                        other => break other?,
                    }
                }
            }
            OpenMode::OpenOrCreate => {
                let mut attempt = 0;
                loop {
                    match open_file(&path) {
                        Err(Error::NotFound(_)) => {}
                        other => break other?,
                    }
                    match create_file(&path, size, mode) {
                        Err(Error::Exists(_)) if attempt < 100 => attempt += 1,
                        other => break other?,
                    }
                }
            }
            OpenMode::Open => {
                let deadline = Deadline::after(opts.wait);
                let mut pause = Duration::from_micros(500);
                loop {
                    match open_file(&path) {
                        Err(Error::NotFound(m)) => match deadline.remaining() {
                            Err(_) => return Err(Error::NotFound(m)),
                            Ok(left) => {
                                std::thread::sleep(left.map_or(pause, |l| l.min(pause)));
                                pause = (pause * 2).min(Duration::from_millis(20));
                            }
                        },
                        other => break other?,
                    }
                }
            }
        };
        let epoch = sys::fork_epoch();
        let procs = ProcTable::of(&map, &fixed);
        procs.reap_dead()?;
        let (slot, token) = procs.claim()?;
        let removed = std::ptr::NonNull::from(map.get::<AtomicU32>(REMOVED_OFFSET)?);
        let region = Region {
            inner: Arc::new(RegionInner {
                removed,
                name: name.to_owned(),
                path,
                file,
                map,
                fixed,
                slot,
                token,
                epoch,
                hooks,
                holds: Default::default(),
            }),
        };
        Ok(region)
    }

    /// Removes the region `name`: marks it removed (every attached process gets
    /// `Removed` from its next call, and its waiters within 100 ms), then unlinks it.
    pub fn remove(name: &str) -> Result<()> {
        let path = region_path(name)?;
        mark_removed(&path);
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::NotFound(format!("region {} does not exist", path.display()))
            }
            _ => io_err(e, &path),
        })
    }

    /// The name it was opened with.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The file backing it.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Makes everything written so far durable (msync + fsync).
    pub fn flush(&self) -> Result<()> {
        self.inner.check_usable()?;
        self.inner.map.flush(&self.inner.file)
    }

    /// Sizes, use, objects and attached processes (dead ones are cleared first).
    pub fn info(&self) -> Result<RegionInfo> {
        let r = &self.inner;
        r.check_usable()?;
        let attached = r.procs().reap_dead()?;
        // Removed objects that processes found dead just now were holding.
        r.reclaim_all()?;
        let live = r.live();
        let used = live
            .heap_used
            .load(Ordering::Relaxed)
            .min(r.fixed.heap_size);
        let mut objects = 0;
        for i in 0..r.fixed.dir_capacity {
            if dir_code(r.dir_entry(i)?.state.load(Ordering::Acquire)) == DIR_READY {
                objects += 1;
            }
        }
        Ok(RegionInfo {
            size: r.fixed.total_size,
            heap_size: r.fixed.heap_size,
            heap_used: used,
            heap_free: r.fixed.heap_size - used,
            object_count: objects,
            attached_processes: attached,
            format_version: r.fixed.format_version,
            region_id: r.fixed.region_id,
            created_unix_ns: r.fixed.created_unix_ns,
        })
    }

    /// [`RegionInner::open_object`], and the handle's claim on the object (taken at once,
    /// so that a check failing after it gives the hold back).
    pub(crate) fn open_held(
        &self,
        name: &str,
        kind: &KindSpec,
        shape: u64,
        exclusive: bool,
        stored_flags: u32,
        init: impl Fn(u64) -> Result<()>,
    ) -> Result<(ObjectRef, Held)> {
        let obj = self
            .inner
            .open_object(name, kind, shape, exclusive, stored_flags, init)?;
        let what = format!("{} '{name}'", kind.words.name);
        Ok((obj, Held::new(self, &obj, what)))
    }

    /// Removes the object `name` (see `crate::backend::Region::remove_object`): marks
    /// its directory entry removed (a handle that looks finds its object gone; a lookup
    /// no longer finds it, so the name is free at once), moves the region's removal word
    /// (so every handle looks at its next call), then reclaims the body if no process
    /// holds it open; otherwise the last holder to let go (or the sweep after it died)
    /// does.
    pub fn remove_object(&self, name: &str) -> Result<()> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        if r.fixed.holders_offset == 0 {
            return Err(Error::Unsupported(format!(
                "region '{}' has format version {}, made by an older plexus, whose processes                  cannot learn that an object was removed; recreate the region to remove objects",
                r.name, r.fixed.format_version
            )));
        }
        let index = r.with_dir_lock(|| {
            let obj = r.lookup(name)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "object '{name}' does not exist in region '{}'",
                    r.name
                ))
            })?;
            let e = r.dir_entry(obj.index)?;
            e.state
                .store(dir_state(obj.state, DIR_REMOVED), Ordering::SeqCst);
            r.live().removed_pending.fetch_add(1, Ordering::SeqCst);
            r.removed_word()
                .fetch_add(OBJECT_REMOVED_STEP, Ordering::SeqCst);
            Ok(obj.index)
        })?;
        // Sleepers that watch the word (long slices) look at their objects.
        sys::futex_wake(r.removed_word(), i32::MAX);
        r.reclaim(index)
    }

    /// Blocks until an object called `name` exists in the region.
    pub fn wait_object(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        let deadline = Deadline::after(timeout);
        let live = r.live();
        loop {
            let seq = live.dir_seq.load(Ordering::SeqCst);
            if r.lookup(name)?.is_some() {
                return Ok(());
            }
            wait::wait_for_change(&live.dir_seq, seq, &live.dir_sleepers, 1, &deadline)?;
            r.check_usable()?;
        }
    }
}

/// Object names: 1..=96 bytes of UTF-8 without NUL.
/// How long a sweep waits for a lock it wants to repair under before it leaves the lock
/// to its holder (a live holder repairs nothing; the next user of the object does).
pub(crate) const SWEEP_LOCK_WAIT: Duration = Duration::from_millis(200);

impl RegionInner {
    /// Takes over a lock word whose owner is dead (through the normal robust lock, so it
    /// is safe against every live process), runs `repair` under it, releases it. Returns
    /// whether it did (a lock that is free or held by a live process is left alone).
    pub(crate) fn take_over_dead(
        &self,
        word: &AtomicU32,
        repair: impl FnOnce(wait::Acquired) -> Result<()>,
    ) -> Result<bool> {
        let owner = word.load(Ordering::Acquire) & wait::LOCK_OWNER;
        let procs = self.procs();
        if owner == 0 || owner == self.token || !procs.token_is_dead(owner) {
            return Ok(false);
        }
        match wait::lock(
            word,
            self.token,
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

    pub fn live(&self) -> &LiveHeader {
        self.map.get(LIVE_OFFSET).expect("header validated at open")
    }

    pub fn procs(&self) -> ProcTable<'_> {
        ProcTable::of(&self.map, &self.fixed)
    }

    /// Runs `f` with a view of the heap.
    pub fn with_heap<T>(&self, f: impl FnOnce(&Heap<'_>) -> T) -> T {
        let procs = self.procs();
        let heap = Heap {
            map: &self.map,
            fixed: &self.fixed,
            live: self.live(),
            procs: &procs,
            token: self.token,
        };
        f(&heap)
    }

    /// Every call's check: the handle is this process's (handles inherited across
    /// fork() belong to the parent's attachment) and the region was not removed.
    #[inline]
    pub fn check_usable(&self) -> Result<()> {
        if sys::current_fork_epoch() != self.epoch {
            return Err(Error::BadHandle(
                "region was opened before fork(); open it again in the child process".into(),
            ));
        }
        if self.is_removed() {
            return Err(self.removed_error());
        }
        Ok(())
    }

    /// Whether the region was removed (or replaced) since this handle opened it.
    #[inline]
    pub fn is_removed(&self) -> bool {
        self.removed_word().load(Ordering::Relaxed) & REGION_REMOVED != 0
    }

    /// The word at [`REMOVED_OFFSET`]: [`REGION_REMOVED`], plus a count of object
    /// removals.
    #[inline]
    pub fn removed_word(&self) -> &AtomicU32 {
        // SAFETY: `removed` points into `self.map` (checked at attach), which outlives
        // `self`; the word is only ever accessed atomically.
        unsafe { self.removed.as_ref() }
    }

    #[cold]
    pub fn removed_error(&self) -> Error {
        Error::Removed(format!(
            "region '{}' was removed (or replaced) while this handle was open; open '{}' again",
            self.name, self.name
        ))
    }

    fn dir_entry(&self, i: u32) -> Result<&DirEntry> {
        self.map.get_nth(self.fixed.dir_offset, i as u64)
    }

    /// The directory positions where `name` may be, in the order to look: from the
    /// name's hash on (wrapping around) in a version 2 region, every entry in version 1.
    fn probe(&self, name: &str) -> impl Iterator<Item = u32> {
        let cap = self.fixed.dir_capacity;
        let start = if self.fixed.format_version >= 2 {
            (fnv1a(name.as_bytes()) % cap as u64) as u32
        } else {
            0
        };
        (0..cap).map(move |k| (start + k) % cap)
    }

    /// Finds a published object by name. In a version 2 or 3 region it probes from the
    /// name's hash and stops at the first never-used entry (entries are never freed, only
    /// turned into reusable tombstones, so an object is always found before one). Each
    /// entry is read as a seqlock: its state word before and after the fields.
    pub fn lookup(&self, name: &str) -> Result<Option<ObjectRef>> {
        let hashed = self.fixed.format_version >= 2;
        let mut stored = Vec::with_capacity(name.len());
        for i in self.probe(name) {
            let e = self.dir_entry(i)?;
            loop {
                let state = e.state.load(Ordering::Acquire);
                match dir_code(state) {
                    DIR_FREE if hashed => return Ok(None),
                    DIR_READY => {}
                    _ => break,
                }
                let len = e.name_len.load(Ordering::Relaxed) as usize;
                let found = if len != name.len() || len > MAX_NAME_LEN {
                    None
                } else {
                    stored.clear();
                    self.map
                        .read_bytes(self.map.offset_of(e) + 32, len as u64, &mut stored)?;
                    (stored == name.as_bytes()).then(|| ObjectRef {
                        kind: e.kind.load(Ordering::Relaxed),
                        offset: e.offset.load(Ordering::Relaxed),
                        shape: e.shape.load(Ordering::Relaxed),
                        index: i,
                        state,
                    })
                };
                std::sync::atomic::fence(Ordering::Acquire);
                if e.state.load(Ordering::Relaxed) != state {
                    continue; // rewritten while we read it: look again
                }
                match found {
                    Some(o) => return Ok(Some(o)),
                    None => break,
                }
            }
        }
        Ok(None)
    }

    /// Opens `name` as an object of `kind` (sized by `shape`, its length or capacity):
    /// `shape == 0` opens an existing one only (NotFound); otherwise it is created if
    /// missing, with a body of `kind.size_of(shape)` bytes filled by `init` (see
    /// [`RegionInner::find_or_create`]). Then the checks every kind shares: the kind
    /// (TypeMismatch), `exclusive` (Exists when not created by this call), the shape
    /// (Incompatible) and the body's bounds (Corrupt).
    pub(crate) fn open_object(
        &self,
        name: &str,
        kind: &KindSpec,
        shape: u64,
        exclusive: bool,
        stored_flags: u32,
        init: impl Fn(u64) -> Result<()>,
    ) -> Result<ObjectRef> {
        let KindSpec { words, size_of } = *kind;
        loop {
            let (obj, created) = if shape == 0 {
                let o = self.lookup(name)?.ok_or_else(|| open::not_found(name))?;
                (o, false)
            } else {
                let size = size_of(shape)
                    .filter(|&s| s <= self.fixed.heap_size)
                    .ok_or_else(|| open::too_large(&words, shape))?;
                self.find_or_create(name, words.code, shape, stored_flags, size, &init)?
            };
            open::check_found(name, &words, shape, exclusive, obj.kind, obj.shape, created)?;
            if !self.hold(&obj)? {
                continue; // removed between the lookup and the hold: look again
            }
            let size = size_of(obj.shape)
                .ok_or_else(|| Error::corrupt(format!("{} {} overflows", words.name, words.shape)));
            if let Err(e) = size.and_then(|size| self.validate_body(&obj, size)) {
                self.unhold(obj.index, obj.state);
                return Err(e);
            }
            return Ok(obj);
        }
    }

    /// Finds `name` or creates it: under the directory lock, allocates a 64-byte aligned
    /// body of `body_size` bytes, zeroes it, lets `init` fill it, then publishes the
    /// directory entry with one release store (a reused tombstone is first marked
    /// WRITING with a new generation, so lock-free readers never take a half-written
    /// entry for the new object). Returns the object and whether it is new.
    pub fn find_or_create(
        &self,
        name: &str,
        kind: u32,
        shape: u64,
        flags: u32,
        body_size: u64,
        init: impl FnOnce(u64) -> Result<()>,
    ) -> Result<(ObjectRef, bool)> {
        if let Some(o) = self.lookup(name)? {
            return Ok((o, false));
        }
        let result = self.with_dir_lock(|| {
            if let Some(o) = self.lookup(name)? {
                return Ok((o, false));
            }
            let mut free = None;
            for i in self.probe(name) {
                let code = dir_code(self.dir_entry(i)?.state.load(Ordering::Acquire));
                if code == DIR_FREE || code == DIR_TOMB {
                    free = Some(i);
                    break;
                }
            }
            let index = free.ok_or_else(|| {
                Error::NoSpace(format!(
                    "the region's directory is full ({} objects)",
                    self.fixed.dir_capacity
                ))
            })?;
            let e = self.dir_entry(index)?;
            let offset = self.with_heap(|h| h.alloc(body_size, true))?;
            let old = e.state.load(Ordering::Acquire);
            let state = if self.fixed.format_version >= 3 {
                // A new generation (never 0, so that a reused entry's word differs from
                // every word it had before, for the next 2^24 reuses).
                let gen = ((old >> 8).wrapping_add(1) & 0xFF_FFFF).max(1);
                let writing = gen << 8 | DIR_WRITING;
                if dir_code(old) == DIR_TOMB {
                    e.state.store(writing, Ordering::SeqCst);
                }
                gen << 8 | DIR_READY
            } else {
                DIR_READY
            };
            let made = (|| {
                self.map.zero(offset, body_size)?;
                let hdr: &ObjectHeader = self.map.get(offset)?;
                hdr.magic.store(OBJECT_MAGIC ^ kind, Ordering::Relaxed);
                hdr.flags.store(flags, Ordering::Relaxed);
                hdr.shape.store(shape, Ordering::Relaxed);
                init(offset)
            })();
            if let Err(err) = made {
                e.state.store(old, Ordering::SeqCst);
                let _ = self.with_heap(|h| h.free(offset));
                return Err(err);
            }
            e.kind.store(kind, Ordering::Relaxed);
            e.flags.store(flags, Ordering::Relaxed);
            e.offset.store(offset, Ordering::Relaxed);
            e.shape.store(shape, Ordering::Relaxed);
            e.name_len.store(name.len() as u32, Ordering::Relaxed);
            self.map
                .write_bytes(self.map.offset_of(e) + 32, name.as_bytes())?;
            e.state.store(state, Ordering::Release);
            Ok((
                ObjectRef {
                    kind,
                    offset,
                    shape,
                    index,
                    state,
                },
                true,
            ))
        });
        if let Ok((_, true)) = result {
            let live = self.live();
            live.dir_seq.fetch_add(1, Ordering::SeqCst);
            wait::wake_all(&live.dir_seq, &live.dir_sleepers, u32::MAX);
        }
        result
    }

    /// Runs `f` under the directory lock. Taking the lock over from a dead owner first
    /// finishes what it may have left half done (reclaiming a removed object).
    pub(crate) fn with_dir_lock<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let live = self.live();
        let procs = self.procs();
        let how = wait::lock_internal(&live.dir_lock, self.token, &Deadline::forever(), &procs)?;
        let result = match how {
            wait::Acquired::Recovered => self.reclaim_all_locked().and_then(|_| f()),
            wait::Acquired::Clean => f(),
        };
        wait::unlock(&live.dir_lock);
        result
    }

    fn holder_row(&self, index: u32) -> Result<&HolderRow> {
        if index >= self.fixed.dir_capacity {
            return Err(Error::corrupt(format!(
                "directory index {index} out of range"
            )));
        }
        self.map.get_nth(self.fixed.holders_offset, index as u64)
    }

    /// Records that this process has the object `obj` open (one more handle). False when
    /// the object was removed since `obj` was looked up (nothing is recorded then). In a
    /// region without a holders table there is nothing to record.
    ///
    /// The holder sets its bit, then checks the entry's state word; a remover changes the
    /// word, then checks the bits (all SeqCst): at least one of the two sees the other,
    /// so a body is never reclaimed under a holder that goes on to use it.
    pub(crate) fn hold(&self, obj: &ObjectRef) -> Result<bool> {
        if self.fixed.holders_offset == 0 {
            return Ok(true);
        }
        let mut holds = self.holds.lock();
        if let Some((state, count)) = holds.get_mut(&obj.index) {
            if *state == obj.state {
                *count += 1;
                return Ok(true);
            }
        }
        let row = self.holder_row(obj.index)?;
        let (word, bit) = ((self.slot / 64) as usize, 1u64 << (self.slot % 64));
        row.words[word].fetch_or(bit, Ordering::SeqCst);
        if self.dir_entry(obj.index)?.state.load(Ordering::SeqCst) != obj.state {
            drop(holds);
            row.words[word].fetch_and(!bit, Ordering::SeqCst);
            self.reclaim(obj.index)?;
            return Ok(false);
        }
        if let Some(stale) = holds.insert(obj.index, (obj.state, 1)) {
            // An entry is only reused after every holder let go of it, us included.
            return Err(Error::corrupt(format!(
                "directory entry {} was reused while this process held it (state {:#x})",
                obj.index, stale.0
            )));
        }
        Ok(true)
    }

    /// One handle less on the object at directory `index` (state word `state`); the
    /// last one clears this process's bit and, if the object was removed, reclaims it.
    pub(crate) fn unhold(&self, index: u32, state: u32) {
        if self.fixed.holders_offset == 0 {
            return;
        }
        {
            let mut holds = self.holds.lock();
            match holds.get_mut(&index) {
                Some((s, count)) if *s == state => {
                    *count -= 1;
                    if *count > 0 {
                        return;
                    }
                    holds.remove(&index);
                }
                _ => return,
            }
            let Ok(row) = self.holder_row(index) else {
                return;
            };
            let (word, bit) = ((self.slot / 64) as usize, 1u64 << (self.slot % 64));
            row.words[word].fetch_and(!bit, Ordering::SeqCst);
        }
        // Errors here mean damage the next check reports; the handle is gone either way.
        let _ = self.reclaim(index);
    }

    /// Whether the object this handle holds (directory `index`, state word `state`) is
    /// still the entry's object.
    pub(crate) fn still_there(&self, index: u32, state: u32) -> bool {
        self.dir_entry(index)
            .is_ok_and(|e| e.state.load(Ordering::Acquire) == state)
    }

    /// Reclaims the removed object at directory `index` if no process holds it any more.
    pub(crate) fn reclaim(&self, index: u32) -> Result<()> {
        let e = self.dir_entry(index)?;
        if dir_code(e.state.load(Ordering::SeqCst)) != DIR_REMOVED || self.is_held(index)? {
            return Ok(());
        }
        self.with_dir_lock(|| self.reclaim_locked(index))
    }

    /// Reclaims every removed object no process holds any more, and finishes reclaims
    /// that dead processes left half done. Cheap when nothing waits to be reclaimed.
    pub(crate) fn reclaim_all(&self) -> Result<()> {
        if self.fixed.holders_offset == 0
            || self.live().removed_pending.load(Ordering::Acquire) == 0
        {
            return Ok(());
        }
        self.with_dir_lock(|| self.reclaim_all_locked())
    }

    fn reclaim_all_locked(&self) -> Result<()> {
        if self.fixed.holders_offset == 0
            || self.live().removed_pending.load(Ordering::Acquire) == 0
        {
            return Ok(());
        }
        for i in 0..self.fixed.dir_capacity {
            self.reclaim_locked(i)?;
        }
        Ok(())
    }

    fn is_held(&self, index: u32) -> Result<bool> {
        Ok(self
            .holder_row(index)?
            .words
            .iter()
            .any(|w| w.load(Ordering::SeqCst) != 0))
    }

    /// Under the directory lock: reclaims entry `index` if it is removed and unheld, or
    /// finishes its reclaim if a dead process left it RECLAIMING (under the lock, a
    /// RECLAIMING entry has no live reclaimer). Each step can be taken again: values are
    /// freed with [`Heap::free_at`], which clears the word naming them.
    fn reclaim_locked(&self, index: u32) -> Result<()> {
        let e = self.dir_entry(index)?;
        let state = e.state.load(Ordering::SeqCst);
        match dir_code(state) {
            DIR_REMOVED if !self.is_held(index)? => {
                e.state
                    .store(dir_state(state, DIR_RECLAIMING), Ordering::SeqCst);
            }
            DIR_RECLAIMING => {}
            _ => return Ok(()),
        }
        let offset = e.offset.load(Ordering::Acquire);
        if offset != 0 {
            let (kind, shape, flags) = (
                e.kind.load(Ordering::Relaxed),
                e.shape.load(Ordering::Relaxed),
                e.flags.load(Ordering::Relaxed),
            );
            (self.hooks.release)(self, kind, offset, shape, flags)?;
            let at = self.map.offset_of(&e.offset);
            self.with_heap(|h| h.free_at(at))?;
        }
        e.state.store(dir_state(state, DIR_TOMB), Ordering::Release);
        let pending = &self.live().removed_pending;
        let _ = pending.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        Ok(())
    }

    /// Checks that an object body found through the directory is what it claims to be
    /// and lies inside the heap; `body_size` is the size its shape implies.
    pub fn validate_body(&self, o: &ObjectRef, body_size: u64) -> Result<()> {
        let end = o.offset.checked_add(body_size);
        if o.offset < self.fixed.heap_offset
            || o.offset % 64 != 0
            || end.is_none_or(|e| e > self.fixed.total_size)
        {
            return Err(Error::corrupt(format!(
                "object body at {:#x} lies outside the heap",
                o.offset
            )));
        }
        let hdr: &ObjectHeader = self.map.get(o.offset)?;
        if hdr.magic.load(Ordering::Relaxed) != OBJECT_MAGIC ^ o.kind
            || hdr.shape.load(Ordering::Relaxed) != o.shape
        {
            return Err(Error::corrupt(
                "object header does not match its directory entry",
            ));
        }
        Ok(())
    }
}

impl Drop for RegionInner {
    fn drop(&mut self) {
        if sys::current_fork_epoch() != self.epoch {
            return; // a forked child: the attachment is the parent's
        }
        (self.hooks.detach)(self);
        self.procs().release(self.slot, self.token);
    }
}
