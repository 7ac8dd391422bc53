//! The seam between the C ABI and the backends.
//!
//! Every object kind the C API offers is one enum here, with one variant per backend;
//! its methods are the kind's whole interface, and each dispatches to the backend that
//! holds the object (one `match`, inlined: the shared-memory path pays nothing for it).
//! The FFI (`crate::ffi`) calls only these. A region's name picks its backend when it
//! is opened ([`Region::open`]); every object opened through a region lives on the same
//! backend.
//!
//! Adding a backend: a folder beside `crate::shm` whose types have the methods listed
//! below with the same meaning (what the methods mean is written once, in
//! `crate::semantics` and in the C header), one variant per enum, one arm in
//! [`dispatch!`] and in the hand-written constructors. Nothing in the FFI, the header or
//! the bindings changes.
//!
//! Blocking calls take `timeout: Option<Duration>` (`None` = no limit, `Some(ZERO)` =
//! try once) or a [`Deadline`]; the C convention is converted in the FFI.

use std::time::Duration;

use crate::error::Result;
use crate::semantics::deadline::{Deadline, Interrupt};
pub use crate::semantics::options::{Acquired, OpenMode, OpenOptions, RegionInfo, Start};
use crate::semantics::value::{Value, ValueRef};
pub use crate::semantics::watch::MapChange;
use crate::shm;

/// `dispatch!(Kind { fn method(&self, arg: Type, ...) -> Ret; ... })`: the methods of
/// `Kind`, each forwarding to the backend's object of the same kind.
macro_rules! dispatch {
    ($kind:ident {
        $( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*
    }) => {
        impl $kind {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        $kind::Shm(x) => x.$name($($arg),*),
                        #[cfg(feature = "redis")]
                        $kind::Redis(x) => x.$name($($arg),*),
                    }
                }
            )*
        }
    };
}

// ---- regions ----

pub use crate::semantics::names::is_remote;

#[cfg(not(feature = "redis"))]
fn no_remote(name: &str) -> crate::Error {
    crate::Error::Unsupported(format!(
        "'{}' names a remote region, but this build of plexus has no Redis backend \
         (build it with the default `redis` feature)",
        crate::semantics::names::redact(name)
    ))
}

/// An open region, on the backend its name selects.
#[derive(Clone)]
pub enum Region {
    /// A bare name (in /dev/shm) or a path: the shared-memory backend.
    Shm(shm::Region),
    /// `redis://...` or `rediss://...`: the Redis backend.
    #[cfg(feature = "redis")]
    Redis(crate::redis::Region),
}

impl Region {
    /// Opens or creates the region `name`, on the backend the name selects.
    pub fn open(name: &str, opts: &OpenOptions) -> Result<Region> {
        if is_remote(name) {
            #[cfg(feature = "redis")]
            return Ok(Region::Redis(crate::redis::Region::open(name, opts)?));
            #[cfg(not(feature = "redis"))]
            return Err(no_remote(name));
        }
        Ok(Region::Shm(shm::Region::open(name, opts)?))
    }

    /// Removes the region `name`.
    pub fn remove(name: &str) -> Result<()> {
        if is_remote(name) {
            #[cfg(feature = "redis")]
            return crate::redis::Region::remove(name);
            #[cfg(not(feature = "redis"))]
            return Err(no_remote(name));
        }
        shm::Region::remove(name)
    }

    /// Opens the array `name` (see the C header's `plexus_array_open`).
    pub fn array(&self, name: &str, length: u64, flags: u32) -> Result<Array> {
        match self {
            Region::Shm(r) => r.array(name, length, flags).map(Array::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r.array(name, length, flags).map(Array::Redis),
        }
    }

    /// Opens the map `name`.
    pub fn map(&self, name: &str, capacity: u64, flags: u32) -> Result<Map> {
        self.map_with(name, capacity, flags, None)
    }

    /// Opens the map `name` with `initial` data, stored only if this call creates it (the
    /// rules: the C header's `plexus_map_open_with`).
    pub fn map_with(
        &self,
        name: &str,
        capacity: u64,
        flags: u32,
        initial: Option<&[(String, Value)]>,
    ) -> Result<Map> {
        match self {
            Region::Shm(r) => r.map_with(name, capacity, flags, initial).map(Map::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r.map_with(name, capacity, flags, initial).map(Map::Redis),
        }
    }

    /// Opens the queue `name`.
    pub fn queue(&self, name: &str, capacity: u64, flags: u32) -> Result<Queue> {
        match self {
            Region::Shm(r) => r.queue(name, capacity, flags).map(Queue::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r.queue(name, capacity, flags).map(Queue::Redis),
        }
    }

    /// Opens the bus `name`.
    pub fn bus(&self, name: &str, capacity: u64, flags: u32) -> Result<Bus> {
        match self {
            Region::Shm(r) => r.bus(name, capacity, flags).map(Bus::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r.bus(name, capacity, flags).map(Bus::Redis),
        }
    }

    /// Opens the mutex `name`.
    pub fn mutex(&self, name: &str) -> Result<Mutex> {
        match self {
            Region::Shm(r) => r.mutex(name).map(Mutex::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r.mutex(name).map(Mutex::Redis),
        }
    }

    /// Opens the barrier `name`.
    pub fn barrier(&self, name: &str, parties: u32) -> Result<Barrier> {
        match self {
            Region::Shm(r) => r.barrier(name, parties).map(Barrier::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r.barrier(name, parties).map(Barrier::Redis),
        }
    }

    /// Opens the semaphore `name`.
    pub fn semaphore(&self, name: &str, permits: u32) -> Result<Semaphore> {
        match self {
            Region::Shm(r) => r.semaphore(name, permits).map(Semaphore::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r.semaphore(name, permits).map(Semaphore::Redis),
        }
    }
}

dispatch!(Region {
    /// The name it was opened with.
    fn name(&self) -> &str;
    /// Makes everything written so far durable.
    fn flush(&self) -> Result<()>;
    /// Size, use, objects and attached processes.
    fn info(&self) -> Result<RegionInfo>;
    /// Blocks until an object called `name` exists.
    fn wait_object(&self, name: &str, timeout: Option<Duration>) -> Result<()>;
    /// Every named object: name, kind, shape (`offset` and `bytes` are 0 remotely).
    fn objects(&self) -> Result<Vec<crate::shm::ObjectSummary>>;
    /// The next object after `*cursor` (0 starts), moving the cursor; `None` at the end.
    /// An object that exists throughout an iteration is seen exactly once, whatever is
    /// created meanwhile.
    fn next_object(&self, cursor: &mut u64) -> Result<Option<crate::shm::ObjectSummary>>;
    /// Removes the object `name`: every handle on it, in every process, returns
    /// `Removed` from its next call, its blocked waiters wake with `Removed`, the name
    /// can be created again at once (as any kind), and its memory is reclaimed once no
    /// process can still be reading it.
    fn remove_object(&self, name: &str) -> Result<()>;
});

// ---- arrays and maps ----

/// An array of full/empty elements.
#[derive(Clone)]
pub enum Array {
    Shm(shm::Array),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Array),
}

dispatch!(Array {
    fn name(&self) -> &str;
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool;
    fn read(&self, index: u64) -> Result<Value>;
    fn write(&self, index: u64, v: ValueRef<'_>) -> Result<()>;
    fn read_fe(&self, index: u64, timeout: Option<Duration>) -> Result<Value>;
    fn read_ff(&self, index: u64, timeout: Option<Duration>) -> Result<Value>;
    fn write_ef(&self, index: u64, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()>;
    fn write_xf(&self, index: u64, v: ValueRef<'_>) -> Result<()>;
    fn write_xe(&self, index: u64, v: ValueRef<'_>) -> Result<()>;
    fn set_tag(&self, index: u64, full: bool) -> Result<()>;
    /// Stores a value and tag, moving the version to at least `version` (exactly it on
    /// an element unchanged since it was made): how `plexus load` restores a dump.
    fn restore(&self, index: u64, v: ValueRef<'_>, full: bool, version: u64) -> Result<()>;
    fn is_full(&self, index: u64) -> Result<bool>;
    fn read_rw(&self, index: u64, timeout: Option<Duration>) -> Result<Value>;
    fn release_rw(&self, index: u64) -> Result<()>;
    fn faa(&self, index: u64, delta: ValueRef<'_>) -> Result<Value>;
    fn cas(&self, index: u64, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value>;
    fn exchange(&self, index: u64, v: ValueRef<'_>) -> Result<Value>;
    /// Applies a MongoDB-style patch (`crate::semantics::patch`) atomically; the tag is
    /// kept, the version moves by one; returns the new value.
    fn patch(&self, index: u64, patch: ValueRef<'_>) -> Result<Value>;
    fn version(&self, index: u64) -> Result<u64>;
    fn wait_change(&self, index: u64, seen: &mut u64, timeout: Option<Duration>) -> Result<()>;
    /// Returns the value as soon as the version differs from `*seen`, storing the
    /// version it belongs to in `*seen` (a consistent pair; see
    /// `crate::semantics::watch` for the observer guarantee).
    fn watch(&self, index: u64, seen: &mut u64, timeout: Option<Duration>) -> Result<Value>;
});

/// A map of full/empty elements under string keys.
#[derive(Clone)]
pub enum Map {
    Shm(shm::Map),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Map),
}

dispatch!(Map {
    fn name(&self) -> &str;
    fn capacity(&self) -> u64;
    fn len(&self) -> Result<u64>;
    fn is_empty(&self) -> Result<bool>;
    fn read(&self, key: &str) -> Result<Value>;
    fn write(&self, key: &str, v: ValueRef<'_>) -> Result<()>;
    fn read_fe(&self, key: &str, timeout: Option<Duration>) -> Result<Value>;
    fn read_ff(&self, key: &str, timeout: Option<Duration>) -> Result<Value>;
    fn write_ef(&self, key: &str, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()>;
    fn write_xf(&self, key: &str, v: ValueRef<'_>) -> Result<()>;
    fn write_xe(&self, key: &str, v: ValueRef<'_>) -> Result<()>;
    fn set_tag(&self, key: &str, full: bool) -> Result<()>;
    /// Stores a value and tag (inserting the key), moving the version to at least
    /// `version`: how `plexus load` restores a dump.
    fn restore(&self, key: &str, v: ValueRef<'_>, full: bool, version: u64) -> Result<()>;
    fn is_full(&self, key: &str) -> Result<bool>;
    fn read_rw(&self, key: &str, timeout: Option<Duration>) -> Result<Value>;
    fn release_rw(&self, key: &str) -> Result<()>;
    fn faa(&self, key: &str, delta: ValueRef<'_>) -> Result<Value>;
    fn cas(&self, key: &str, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value>;
    fn exchange(&self, key: &str, v: ValueRef<'_>) -> Result<Value>;
    /// [`Array::patch`] on a key (an absent key is inserted, its value counting as `{}`).
    fn patch(&self, key: &str, patch: ValueRef<'_>) -> Result<Value>;
    fn version(&self, key: &str) -> Result<u64>;
    fn wait_change(&self, key: &str, seen: &mut u64, timeout: Option<Duration>) -> Result<()>;
    /// Returns the value as soon as the version differs from `*seen`, storing the
    /// version it belongs to in `*seen` (a consistent pair; see
    /// `crate::semantics::watch` for the observer guarantee).
    fn watch(&self, key: &str, seen: &mut u64, timeout: Option<Duration>) -> Result<Value>;
    fn remove(&self, key: &str) -> Result<()>;
    /// The next key at or after `*cursor` (0 starts), advancing the cursor.
    fn next_key(&self, cursor: &mut u64) -> Result<Option<String>>;
    /// The map's change count: +1 for every change of any key (insert, write, tag
    /// change, removal). `Unsupported` for maps made by older versions.
    fn change_count(&self) -> Result<u64>;
    /// Blocks until the change count differs from `*counter`, then stores it there.
    fn wait_changes(&self, counter: &mut u64, timeout: Option<Duration>) -> Result<()>;
    /// Up to `max` keys changed after the change count `since`, from `*cursor` (0
    /// starts), advancing it; empty at the end. Present keys changed since, then the
    /// removals since that are still recorded (the map's last N removals, N = its
    /// capacity within 16..=1024 rounded up to a power of two). With `since == 0`: every
    /// key present. `OutOfRange` when removals after `since` were no longer all recorded
    /// (list again from 0).
    fn changes(&self, since: u64, cursor: &mut u64, max: usize) -> Result<Vec<MapChange>>;
});

// ---- queues and buses ----

/// A bounded FIFO queue or LIFO stack of values.
#[derive(Clone)]
pub enum Queue {
    Shm(shm::Queue),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Queue),
}

dispatch!(Queue {
    fn name(&self) -> &str;
    fn capacity(&self) -> u64;
    fn len(&self) -> Result<u64>;
    fn is_empty(&self) -> Result<bool>;
    fn push(&self, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()>;
    fn pop(&self, timeout: Option<Duration>) -> Result<Value>;
    /// Pushes `values` in order; how many went in (a prefix), and why not all did.
    fn push_many(&self, values: &[ValueRef<'_>], timeout: Option<Duration>) -> (usize, Result<()>);
    /// [`Queue::push_many`] until `deadline`, running `interrupt`'s check while it waits.
    fn push_many_until(
        &self,
        values: &[ValueRef<'_>],
        deadline: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> (usize, Result<()>);
    /// Pops at least one value (waiting for it) and up to `max` (without waiting more).
    fn pop_many(&self, max: usize, timeout: Option<Duration>) -> Result<Vec<Value>>;
    fn shutdown(&self) -> Result<()>;
    fn is_shutdown(&self) -> Result<bool>;
    /// Every value, in the order pops would take them, without taking any.
    fn peek_all(&self) -> Result<Vec<Value>>;
});

/// A broadcast bus.
#[derive(Clone)]
pub enum Bus {
    Shm(shm::Bus),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Bus),
}

impl Bus {
    /// A private cursor over the bus, starting as `from` says.
    pub fn subscribe(&self, from: Start) -> Result<Subscription> {
        match self {
            Bus::Shm(b) => b.subscribe(from).map(Subscription::Shm),
            #[cfg(feature = "redis")]
            Bus::Redis(b) => b.subscribe(from).map(Subscription::Redis),
        }
    }

    /// A private cursor receiving only the messages whose topic starts with `prefix`
    /// (`""`: every message; see `crate::semantics::topics`).
    pub fn subscribe_topic(&self, from: Start, prefix: &str) -> Result<Subscription> {
        match self {
            Bus::Shm(b) => b.subscribe_topic(from, prefix).map(Subscription::Shm),
            #[cfg(feature = "redis")]
            Bus::Redis(b) => b.subscribe_topic(from, prefix).map(Subscription::Redis),
        }
    }
}

dispatch!(Bus {
    fn name(&self) -> &str;
    fn capacity(&self) -> u64;
    fn publish(&self, v: ValueRef<'_>) -> Result<u64>;
    /// Publishes `values` as consecutive messages (no other message between them), with
    /// one wake-up; the first one's sequence number (0 for none). Nothing is published
    /// when a value is invalid.
    fn publish_many(&self, values: &[ValueRef<'_>]) -> Result<u64>;
    /// Publishes with a topic (`""`: a plain publish), in the bus's one order.
    fn emit(&self, topic: &str, v: ValueRef<'_>) -> Result<u64>;
    fn shutdown(&self) -> Result<()>;
    fn is_shutdown(&self) -> Result<bool>;
    fn next_seq(&self) -> Result<u64>;
});

/// One subscriber's cursor over a bus.
pub enum Subscription {
    Shm(shm::Subscription),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Subscription),
}

impl Subscription {
    /// The next message and its sequence number, waiting for one.
    #[inline]
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<(Value, u64)> {
        match self {
            Subscription::Shm(s) => s.next(timeout),
            #[cfg(feature = "redis")]
            Subscription::Redis(s) => s.next(timeout),
        }
    }

    /// The next message with its topic (`""` for a plain one) and sequence number.
    #[inline]
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<(String, Value, u64)> {
        match self {
            Subscription::Shm(s) => s.next_event(timeout),
            #[cfg(feature = "redis")]
            Subscription::Redis(s) => s.next_event(timeout),
        }
    }
}

// ---- locks ----

/// A robust mutex.
#[derive(Clone)]
pub enum Mutex {
    Shm(shm::Mutex),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Mutex),
}

dispatch!(Mutex {
    fn name(&self) -> &str;
    fn lock_until(&self, deadline: &Deadline) -> Result<Acquired>;
    fn unlock(&self) -> Result<()>;
    fn is_locked(&self) -> Result<bool>;
});

/// A reusable barrier.
#[derive(Clone)]
pub enum Barrier {
    Shm(shm::Barrier),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Barrier),
}

dispatch!(Barrier {
    fn name(&self) -> &str;
    fn parties(&self) -> u32;
    /// True for the last party to arrive in its round.
    fn wait_until(&self, deadline: &Deadline) -> Result<bool>;
});

/// A counting semaphore whose permits come back when their holder dies.
#[derive(Clone)]
pub enum Semaphore {
    Shm(shm::Semaphore),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Semaphore),
}

dispatch!(Semaphore {
    fn name(&self) -> &str;
    fn permits(&self) -> u32;
    fn available(&self) -> Result<u32>;
    fn held(&self) -> Result<u32>;
    fn acquire_until(&self, deadline: &Deadline) -> Result<()>;
    fn release(&self) -> Result<()>;
});

// ---- services ----

impl Region {
    /// Opens the service `name` (see the C header's `plexus_service_open`).
    pub fn service(&self, name: &str, capacity: u64, flags: u32) -> Result<Service> {
        match self {
            Region::Shm(r) => r.service(name, capacity, flags).map(Service::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r.service(name, capacity, flags).map(Service::Redis),
        }
    }
}

/// A request/response service (what it means: `crate::semantics::service`).
#[derive(Clone)]
pub enum Service {
    Shm(shm::Service),
    #[cfg(feature = "redis")]
    Redis(crate::redis::Service),
}

dispatch!(Service {
    fn name(&self) -> &str;
    /// Maximum number of pending requests.
    fn capacity(&self) -> u64;
    /// Requests placed and not yet collected by their callers (a snapshot).
    fn pending(&self) -> Result<u64>;
    /// Sends `request` and waits for the reply.
    fn call(&self, request: ValueRef<'_>, timeout: Option<Duration>) -> Result<Value>;
    /// [`Service::call`] until `deadline`, running `interrupt`'s check while it waits (its
    /// error withdraws the request, as a timeout does).
    fn call_until(
        &self,
        request: ValueRef<'_>,
        deadline: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> Result<Value>;
    /// Takes the oldest pending request: its id and value.
    fn next(&self, timeout: Option<Duration>) -> Result<(u64, Value)>;
    fn reply(&self, id: u64, response: ValueRef<'_>) -> Result<()>;
    fn reply_error(&self, id: u64, message: &str) -> Result<()>;
});

// ---- typed arrays ----

pub use crate::semantics::tarray::{BlockState, Dtype, Shape as TArrayShape, NOTIFY_ALL};

impl Region {
    /// Opens the typed array `name` (see the C header's `plexus_tarray_open`); `dtype`
    /// `None` opens an existing one (`length` 0) whatever its dtype.
    pub fn tarray(
        &self,
        name: &str,
        dtype: Option<Dtype>,
        length: u64,
        block_len: u64,
        flags: u32,
    ) -> Result<TArray> {
        match self {
            Region::Shm(r) => r
                .tarray(name, dtype, length, block_len, flags)
                .map(TArray::Shm),
            #[cfg(feature = "redis")]
            Region::Redis(r) => r
                .tarray(name, dtype, length, block_len, flags)
                .map(TArray::Redis),
        }
    }
}

/// A typed array (what it means: `crate::semantics::tarray`).
#[derive(Clone)]
pub enum TArray {
    Shm(shm::TArray),
    #[cfg(feature = "redis")]
    Redis(crate::redis::TArray),
}

dispatch!(TArray {
    fn name(&self) -> &str;
    fn shape(&self) -> TArrayShape;
    /// The elements in place (pointer, element count); `Unsupported` remotely.
    fn data(&self) -> Result<(*mut u8, u64)>;
    fn block_state(&self, block: u64) -> Result<BlockState>;
    /// Waits for the block (EMPTY to write, FULL to read) and holds it; its pointer and
    /// element count. `Unsupported` remotely (the copying block calls work there).
    fn begin_until(&self, block: u64, write: bool, deadline: &Deadline) -> Result<(*mut u8, u64)>;
    fn end_write(&self, block: u64) -> Result<()>;
    fn end_read(&self, block: u64) -> Result<()>;
    fn load(&self, index: u64) -> Result<i64>;
    fn store(&self, index: u64, value: i64) -> Result<()>;
    fn faa(&self, index: u64, delta: i64) -> Result<i64>;
    fn cas(&self, index: u64, expected: i64, desired: i64) -> Result<i64>;
    fn wait_until(&self, index: u64, expected: i64, deadline: &Deadline) -> Result<()>;
    fn notify(&self, index: u64, count: u32) -> Result<u32>;
    fn read(&self, first: u64, out: &mut [u8]) -> Result<()>;
    fn write(&self, first: u64, data: &[u8]) -> Result<()>;
    fn read_block(&self, block: u64, timeout: Option<Duration>, out: &mut [u8]) -> Result<()>;
    fn write_block(&self, block: u64, timeout: Option<Duration>, data: &[u8]) -> Result<()>;
    /// Sets a block EMPTY or FULL (for `plexus load`; refused while it is held).
    fn restore_block(&self, block: u64, full: bool) -> Result<()>;
});

// ---- region checks ----

pub use crate::shm::{CheckOptions, CheckReport, Verdict};

/// Checks the region `name` (and repairs it with `opts.repair`). A region file of the
/// shared-memory backend.
pub fn check(name: &str, opts: &CheckOptions) -> Result<CheckReport> {
    if is_remote(name) {
        return Err(crate::Error::Unsupported(
            "the region checker reads region files; a remote region is checked by its server \
             (see docs/remote.md)"
                .into(),
        ));
    }
    shm::check(name, opts)
}
