//! The vocabulary of the API, the same for every backend: how regions open, what
//! their statistics say, open flags, where a subscription starts, how a lock was
//! acquired.

use std::time::Duration;

/// How `Region::open` treats an existing or missing region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenMode {
    /// Open it if it exists, else create it.
    #[default]
    OpenOrCreate,
    /// Create it; `Exists` if it is already there.
    Create,
    /// Open an existing one; wait up to `OpenOptions::wait` for it to appear.
    Open,
    /// Remove any existing region of that name, then create a new one.
    Recreate,
}

/// Options of [`Region::open`].
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    pub mode: OpenMode,
    /// Bytes, when creating (rounded up to 4 KiB); 0 = `DEFAULT_SIZE` (64 MiB).
    pub size: u64,
    /// File mode bits when creating; 0 = 0o600. Applied exactly (the umask is ignored).
    pub permissions: u32,
    /// With `OpenMode::Open`: how long to wait for the region to appear
    /// (`None` = without limit, `Some(ZERO)` = do not wait).
    pub wait: Option<Duration>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            mode: OpenMode::OpenOrCreate,
            size: 0,
            permissions: 0,
            wait: Some(Duration::ZERO),
        }
    }
}

/// Statistics of an open region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    pub size: u64,
    pub heap_size: u64,
    pub heap_used: u64,
    pub heap_free: u64,
    pub object_count: u32,
    pub attached_processes: u32,
    pub format_version: u32,
    pub region_id: u64,
    pub created_unix_ns: u64,
}

/// Open flag (arrays, maps): new elements start FULL (default EMPTY).
pub const FLAG_FULL: u32 = 1;
/// Open flag (arrays, maps): fail with `Exists` if the object is already there.
pub const FLAG_EXCLUSIVE: u32 = 2;

/// Queue open flag: a LIFO stack instead of a FIFO queue.
pub const FLAG_LIFO: u32 = 4;

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the next message published after subscribing.
    Now,
    /// With the oldest message the bus still retains.
    Oldest,
}

/// How a robust lock was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Normally.
    Clean,
    /// Taken over from a dead owner: the protected state may need repair.
    Recovered,
}
