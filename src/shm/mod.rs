//! The shared-memory backend: a region is one file mapped into every process (DESIGN
//! §2). Layers, lowest first; no module imports one above it:
//!
//! - [`os`]: files, mmap, futex, pids (the only libc calls);
//! - [`wait`]: spinning, futex sleeps and the robust owner-recording lock;
//! - [`format`]: the region file (header, process table, heap, directory, open rules);
//! - [`kinds`]: arrays, maps, queues, buses, mutexes, barriers, semaphores;
//! - [`check`]: the checker and the sweep, which walk the directory and ask each kind.

pub mod check;
pub mod format;
pub mod kinds;
pub mod os;
pub mod wait;

pub use check::{
    check, inspect, CheckOptions, CheckReport, Finding, HeldLock, LeakedBlock, ObjectSummary,
    ProcessRecord, RegionSummary, Verdict,
};
pub use format::layout::{DEFAULT_SIZE, FORMAT_VERSION};
pub use format::region::{region_path, OpenMode, OpenOptions, Region, RegionInfo};
pub use kinds::array::{Array, FLAG_EXCLUSIVE, FLAG_FULL};
pub use kinds::barrier::Barrier;
pub use kinds::bus::{Bus, Start, Subscription, TOPIC_WAITERS};
pub use kinds::map::Map;
pub use kinds::mutex::Mutex;
pub use kinds::queue::{Queue, FLAG_LIFO};
pub use kinds::semaphore::Semaphore;
pub use kinds::service::Service;
pub use kinds::tarray::{BlockState, Dtype, TArray, NOTIFY_ALL};
pub use wait::{recovered_locks, Acquired};

impl Region {
    /// Opens or creates the region `name` (a bare name lives in /dev/shm, a name with
    /// `/` is a path: [`region_path`]) as `opts` say. If processes died since the last
    /// sweep, first releases what they held (DESIGN §6): see [`check`].
    pub fn open(name: &str, opts: &OpenOptions) -> crate::Result<Region> {
        let region = Region::attach(name, opts, &kinds::HOOKS)?;
        check::sweep_on_open(&region.inner);
        Ok(region)
    }
}
