//! The safe Rust API of plexus. All shared-memory logic lives here; `crate::ffi` only
//! converts between C and these types.

mod array;
mod barrier;
mod bus;
mod check;
mod element;
mod error;
mod heap;
mod layout;
mod map;
mod mem;
mod mutex;
mod proctable;
mod queue;
mod region;
mod semaphore;
mod sys;
mod value;
mod wait;

pub use array::{Array, FLAG_EXCLUSIVE, FLAG_FULL};
pub use bus::{Bus, Start, Subscription};
pub use check::{
    check, inspect, CheckOptions, CheckReport, Finding, HeldLock, LeakedBlock, ObjectSummary,
    ProcessRecord, RegionSummary, Verdict,
};
pub use error::{Error, Result};
pub use layout::{DEFAULT_SIZE, FORMAT_VERSION, MAX_NAME_LEN};
pub use map::{Map, MAX_KEY_LEN};
pub use queue::{test_pause_in_push, Queue, FLAG_LIFO};
pub use region::{region_path, OpenMode, OpenOptions, Region, RegionInfo};
pub use value::{Type, Value, ValueRef};
pub use wait::{recovered_locks, Acquired, Deadline};
// The lock kinds.
pub use barrier::Barrier;
pub use mutex::Mutex;
pub use semaphore::Semaphore;
