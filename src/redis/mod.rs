//! The Redis backend: a region named `redis://host:port/NAME` lives on a Redis (7.0+)
//! or Valkey server, so processes on many machines share it.
//!
//! Each state change is one Lua script (`scripts`) that checks the region's epoch, the
//! element's tag, value and version together and commits atomically, then appends to the
//! object's wake stream. A call that must wait gets the stream's last id from the script
//! that found its condition false, and blocks on the server with `XREAD BLOCK` from that
//! id (in slices), so no wake-up is lost and nobody sleep-polls. What the operations
//! mean is not written here: values and JavaScript `+` come from `crate::semantics`
//! (a read-modify-write such as `faa` is computed here with that code and committed by a
//! version-checked script), and the open rules from `crate::semantics::open`.
//!
//! Removing one object (`remove_object`) is one script too (`REMOVE_OBJECT`; the design
//! is written in `scripts`, "Removing one object"): handles remember the id of the
//! incarnation they opened ([`Obj`]), every script of theirs checks that it still exists
//! in the same atomic step as the epoch, and their blocked calls watch its `gone` stream.
//!
//! A process is alive while its lease key exists (`lease_ms`, renewed in the background
//! by a thread per region handle); locks and `read_rw` holds of an attachment whose lease
//! expired are taken over as the shared-memory engine takes over those of a dead process.

pub mod url;

mod bus;
mod conn;
mod element;
mod locks;
mod queue;
mod scripts;
mod service;
mod tarray;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::semantics::deadline::Deadline;
use crate::semantics::names::check_object_name;
use crate::semantics::open::{self, KindWords};
use crate::semantics::options::{OpenMode, OpenOptions, RegionInfo};
pub use bus::{Bus, Subscription};
use conn::Server;
pub use element::{Array, Map};
pub use locks::{Barrier, Mutex, Semaphore};
pub use queue::Queue;
use scripts::{scripts, Lua};
pub use service::Service;
pub use tarray::TArray;
pub use url::RemoteName;

/// Longest a single `XREAD BLOCK` waits (a wait longer than this is several slices, so
/// a vanished server is noticed and the lease thread's view stays fresh).
pub(crate) const BLOCK_SLICE: Duration = Duration::from_millis(1000);

/// Format version of remote regions (the key layout in `scripts`).
pub const REMOTE_FORMAT_VERSION: u32 = 1;

/// An open remote region. Cheap to clone; its lease is renewed while any clone lives.
#[derive(Clone)]
pub struct Region {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub server: Server,
    /// The name as given (for `name()`), and parsed.
    pub given: String,
    pub remote: RemoteName,
    /// `px:{NAME}:`
    pub prefix: String,
    /// `px:{NAME}:meta`, the key every script names (Cluster routes by it).
    meta_key: String,
    /// The epoch this handle opened (a new one after RECREATE or loss).
    pub epoch: String,
    /// This attachment's id (its lease key is `px:{NAME}:lease:<id>`).
    pub cid: String,
    ops: AtomicU64,
    /// The server's clock, as last seen (for the deadlines of parked calls).
    clock: parking_lot::Mutex<Clock>,
    stop: Arc<AtomicBool>,
}

/// The server's clock in milliseconds at an instant of ours.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    at: Instant,
    ms: u64,
}

impl Clock {
    /// From the server's `TIME` (seconds, microseconds), read just now.
    pub fn new(secs: u64, micros: u64) -> Clock {
        Clock {
            at: Instant::now(),
            ms: secs * 1000 + micros / 1000,
        }
    }

    /// The server's clock now, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.ms + self.at.elapsed().as_millis() as u64
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // A clean detach: our locks and read_rw holds count as those of a process that
        // died (as closing a shared-memory region handle does).
        // (Its stored operation results go too: no retry can come from it any more.)
        let key = format!("{}lease:{}", self.prefix, self.cid);
        let ops = self.ops_key();
        let deadline = Instant::now() + Duration::from_millis(500);
        let _ = self.server.run(deadline, Duration::ZERO, true, |c| {
            redis::cmd("DEL").arg(&key).arg(&ops).query::<i64>(c)
        });
    }
}

/// A script's reply: its status word and the rest.
pub(crate) struct Reply {
    pub status: String,
    pub items: Vec<redis::Value>,
}

impl Reply {
    pub fn bytes(&self, i: usize) -> Vec<u8> {
        match self.items.get(i) {
            Some(redis::Value::BulkString(b)) => b.clone(),
            Some(redis::Value::SimpleString(s)) => s.clone().into_bytes(),
            Some(redis::Value::Int(n)) => n.to_string().into_bytes(),
            _ => Vec::new(),
        }
    }

    pub fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.bytes(i)).into_owned()
    }

    pub fn int(&self, i: usize) -> u64 {
        match self.items.get(i) {
            Some(redis::Value::Int(n)) => *n as u64,
            _ => self.text(i).parse::<f64>().map_or(0, |f| f as u64),
        }
    }
}

fn parse_reply(v: redis::Value) -> Result<Reply> {
    match v {
        redis::Value::Array(mut items) if !items.is_empty() => {
            let status = match items.remove(0) {
                redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                redis::Value::SimpleString(s) => s,
                other => return Err(Error::Internal(format!("script reply {other:?}"))),
            };
            Ok(Reply { status, items })
        }
        other => Err(Error::Internal(format!("script reply {other:?}"))),
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A random 64-bit id, in hex (epochs, attachment ids).
fn random_id() -> String {
    let mut b = [0u8; 8];
    // SAFETY-free: getrandom through std's hasher seeds would be weaker; read the
    // kernel's generator directly.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        b = (now_ns() ^ (std::process::id() as u64).rotate_left(32)).to_le_bytes();
    }
    format!("{:016x}", u64::from_le_bytes(b))
}

impl Region {
    /// Opens or creates the remote region `name` as `opts` say (`size` and
    /// `permissions` do not apply to a remote region and are ignored).
    pub fn open(name: &str, opts: &OpenOptions) -> Result<Region> {
        let remote = RemoteName::parse(name)?;
        let server = Server::new(remote.clone());
        let prefix = remote.key_prefix();
        let mode = match opts.mode {
            OpenMode::OpenOrCreate => "ooc",
            OpenMode::Create => "create",
            OpenMode::Open => "open",
            OpenMode::Recreate => "recreate",
        };
        let wait = Deadline::after(opts.wait);
        let (epoch, replaced, clock) = loop {
            let deadline = Instant::now() + remote.timeout;
            let new_epoch = random_id();
            let now = now_ns().to_string();
            let v: redis::Value = server.run(deadline, Duration::ZERO, true, |c| {
                scripts()
                    .region
                    .key(format!("{prefix}meta"))
                    .arg(&prefix)
                    .arg(mode)
                    .arg(&new_epoch)
                    .arg(&now)
                    .invoke(c)
            })?;
            let r = parse_reply(v)?;
            match r.status.as_str() {
                "ok" => break (r.text(0), r.text(2), Clock::new(r.int(3), r.int(4))),
                "exists" => {
                    return Err(Error::Exists(format!(
                        "region {} already exists",
                        remote.display()
                    )))
                }
                "notfound" => match wait.remaining() {
                    Err(_) => {
                        return Err(Error::NotFound(format!(
                            "region {} does not exist",
                            remote.display()
                        )))
                    }
                    Ok(left) => {
                        // Block on the server until a creation (or the slice ends).
                        let slice = left.map_or(BLOCK_SLICE, |l| l.min(BLOCK_SLICE));
                        let ms = (slice.as_millis() as u64).max(1);
                        let born = format!("{prefix}born");
                        let id = r.text(0);
                        let _: Result<redis::Value> = server.run(
                            Instant::now() + slice + conn::REPLY_MARGIN,
                            slice,
                            false,
                            |c| {
                                redis::cmd("XREAD")
                                    .arg("BLOCK")
                                    .arg(ms)
                                    .arg("STREAMS")
                                    .arg(&born)
                                    .arg(&id)
                                    .query(c)
                            },
                        );
                    }
                },
                other => return Err(Error::Internal(format!("region script said {other}"))),
            }
        };
        if !replaced.is_empty() {
            // RECREATE: the replaced region's keys are never read again; wake its parked
            // callers and delete them (best effort: a failure leaves garbage, not a wrong
            // answer).
            let _ = retire_keys(&server, &prefix, &replaced, Instant::now() + remote.timeout);
        }
        let meta_key = format!("{prefix}meta");
        let region = Region {
            inner: Arc::new(Inner {
                server,
                given: name.to_owned(),
                prefix,
                meta_key,
                epoch,
                cid: random_id(),
                ops: AtomicU64::new(0),
                clock: parking_lot::Mutex::new(clock),
                stop: Arc::new(AtomicBool::new(false)),
                remote,
            }),
        };
        region
            .inner
            .renew_lease(Instant::now() + region.inner.remote.timeout)?;
        start_lease_thread(&region.inner);
        Ok(region)
    }

    /// Removes the remote region `name`: every handle of it returns REMOVED from its
    /// next call (a tombstone stays where its epoch was, for a day), its blocked callers
    /// wake, and its keys are deleted.
    pub fn remove(name: &str) -> Result<()> {
        let remote = RemoteName::parse(name)?;
        let server = Server::new(remote.clone());
        let prefix = remote.key_prefix();
        let deadline = Instant::now() + remote.timeout;
        let v: redis::Value = server.run(deadline, Duration::ZERO, true, |c| {
            scripts()
                .remove
                .key(format!("{prefix}meta"))
                .arg(&prefix)
                .invoke(c)
        })?;
        let r = parse_reply(v)?;
        match r.status.as_str() {
            "ok" => retire_keys(&server, &prefix, &r.text(0), deadline),
            "notfound" => Err(Error::NotFound(format!(
                "region {} does not exist",
                remote.display()
            ))),
            other => Err(Error::Internal(format!("remove script said {other}"))),
        }
    }

    /// The name it was opened with (with its password, as given).
    pub fn name(&self) -> &str {
        &self.inner.given
    }

    /// Makes what was written durable as far as the server can say. On one connection:
    /// a write (after every write acknowledged before, by any client), then `WAITAOF 1 0`
    /// (Redis 7.2+ and Valkey: the server's AOF fsynced up to it; UNAVAILABLE if it does
    /// not confirm within `timeout_ms`); on Redis 7.0, which has no WAITAOF, `WAIT` for
    /// every connected replica (UNAVAILABLE if fewer acknowledge). With neither AOF nor
    /// replicas there is nothing to wait for: the data is as durable as the server's own
    /// settings make it (docs/remote.md).
    pub fn flush(&self) -> Result<()> {
        enum Flushed {
            Aof(i64),
            NoAof,
            Replicas(i64, i64),
        }
        let i = &self.inner;
        let deadline = Instant::now() + i.remote.timeout;
        let ms = i.remote.timeout.as_millis() as u64;
        let key = format!("{}flushed", i.prefix);
        let outcome = i.server.run(deadline, i.remote.timeout, true, |c| {
            redis::cmd("SET").arg(&key).arg(now_ns()).query::<()>(c)?;
            match redis::cmd("WAITAOF")
                .arg(1)
                .arg(0)
                .arg(ms)
                .query::<Vec<i64>>(c)
            {
                Ok(v) => Ok(Flushed::Aof(v.first().copied().unwrap_or(0))),
                Err(e) if e.to_string().to_ascii_lowercase().contains("appendonly") => {
                    Ok(Flushed::NoAof)
                }
                Err(e)
                    if e.to_string()
                        .to_ascii_lowercase()
                        .contains("unknown command") =>
                {
                    let info: String = redis::cmd("INFO").arg("replication").query(c)?;
                    let replicas = info
                        .lines()
                        .find_map(|l| l.strip_prefix("connected_slaves:"))
                        .and_then(|n| n.trim().parse::<i64>().ok())
                        .unwrap_or(0);
                    if replicas == 0 {
                        return Ok(Flushed::NoAof);
                    }
                    let acked: i64 = redis::cmd("WAIT").arg(replicas).arg(ms).query(c)?;
                    Ok(Flushed::Replicas(acked, replicas))
                }
                Err(e) => Err(e),
            }
        })?;
        match outcome {
            Flushed::Aof(n) if n >= 1 => Ok(()),
            Flushed::Aof(_) => Err(Error::Unavailable(format!(
                "the server of {} did not confirm within {ms} ms that its AOF was fsynced",
                i.remote.display()
            ))),
            Flushed::NoAof => Ok(()),
            Flushed::Replicas(acked, n) if acked >= n => Ok(()),
            Flushed::Replicas(acked, n) => Err(Error::Unavailable(format!(
                "only {acked} of the {n} replicas of {} acknowledged within {ms} ms",
                i.remote.display()
            ))),
        }
    }

    /// Statistics: objects and attached processes; a remote region has no fixed size,
    /// so its size and heap fields are 0.
    pub fn info(&self) -> Result<RegionInfo> {
        let i = &self.inner;
        let r = i.call(&scripts().info, &[], None, false)?;
        let attached = count_keys(&i.server, &format!("{}lease:*", i.prefix), i.deadline())?;
        Ok(RegionInfo {
            size: 0,
            heap_size: 0,
            heap_used: 0,
            heap_free: 0,
            object_count: r.int(0) as u32,
            attached_processes: attached as u32,
            format_version: REMOTE_FORMAT_VERSION,
            region_id: u64::from_str_radix(&i.epoch, 16).unwrap_or(0),
            created_unix_ns: r.text(1).parse().unwrap_or(0),
        })
    }

    /// Every named object, sorted by name: its name, kind (`"stack"` for a LIFO
    /// queue) and shape (length, capacity, parties or permits; 1 for a mutex).
    /// `offset` and `bytes` are 0: a remote object has no place in a file.
    pub fn objects(&self) -> Result<Vec<crate::shm::ObjectSummary>> {
        static LIST: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = LIST.get_or_init(|| {
            scripts::with_prologue("return {'ok', redis.call('HGETALL', E .. 'dir')}")
        });
        let r = self.inner.call(script, &[], None, false)?;
        let flat: Vec<String> = match r.items.first() {
            Some(redis::Value::Array(v)) => v
                .iter()
                .map(|x| match x {
                    redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    redis::Value::SimpleString(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut list: Vec<crate::shm::ObjectSummary> = flat
            .chunks_exact(2)
            .map(|pair| {
                let words: Vec<u64> = pair[1].split(' ').map(|w| w.parse().unwrap_or(0)).collect();
                let (kind, shape, flags) = (
                    words.first().copied().unwrap_or(0) as u32,
                    words.get(1).copied().unwrap_or(0),
                    words.get(2).copied().unwrap_or(0) as u32,
                );
                let lifo = flags & crate::semantics::options::FLAG_LIFO != 0;
                crate::shm::ObjectSummary {
                    name: pair[0].clone(),
                    kind: if kind == open::KIND_QUEUE && lifo {
                        "stack"
                    } else {
                        open::kind_name(kind)
                    },
                    shape,
                    offset: 0,
                    bytes: 0,
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// The next object after `*cursor` (an object id; 0 starts) in creation order, and
    /// the cursor moved to it; `None` at the end. An object that exists throughout an
    /// iteration is seen exactly once.
    pub fn next_object(&self, cursor: &mut u64) -> Result<Option<crate::shm::ObjectSummary>> {
        let r = self.inner.call(
            &scripts().next_object,
            &[cursor.to_string().as_bytes()],
            None,
            false,
        )?;
        if r.items.is_empty() {
            return Ok(None);
        }
        let name = String::from_utf8(r.bytes(0))
            .map_err(|_| Error::corrupt("a remote object name is not UTF-8"))?;
        let words: Vec<u64> = r
            .text(1)
            .split(' ')
            .map(|w| w.parse().unwrap_or(0))
            .collect();
        let [kind, shape, flags, id] = words[..] else {
            return Err(Error::corrupt(format!(
                "the directory entry of remote object '{name}' is damaged"
            )));
        };
        *cursor = id;
        let lifo = flags as u32 & crate::semantics::options::FLAG_LIFO != 0;
        Ok(Some(crate::shm::ObjectSummary {
            name,
            kind: if kind as u32 == open::KIND_QUEUE && lifo {
                "stack"
            } else {
                open::kind_name(kind as u32)
            },
            shape,
            offset: 0,
            bytes: 0,
        }))
    }

    /// Blocks until an object called `name` exists.
    pub fn wait_object(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        check_object_name(name)?;
        let i = &self.inner;
        let d = Deadline::after(timeout);
        let stream = format!("{}{}:dirw", i.prefix, i.epoch);
        loop {
            let r = i.call(&scripts().wait_object, &[name.as_bytes()], Some(&d), false)?;
            match r.status.as_str() {
                "ok" => return Ok(()),
                "wait" => i.block(&stream, &r.text(0), None, &d)?,
                other => return Err(i.unexpected(other, &r)),
            }
        }
    }

    /// Removes the object `name` (see `crate::backend::Region::remove_object`): one
    /// script (`REMOVE_OBJECT`) frees the name, makes every handle of the object return
    /// REMOVED and wakes its blocked callers; then its remaining keys are deleted here.
    /// The removal stands once the script ran: a failure while deleting the keys leaves
    /// them to a later `remove_object` in the region (see [`Inner::reclaim_pending`]),
    /// and is not reported.
    pub fn remove_object(&self, name: &str) -> Result<()> {
        check_object_name(name)?;
        let i = &self.inner;
        let r = i.call(&scripts().remove_object, &[name.as_bytes()], None, true)?;
        match r.status.as_str() {
            "ok" => {}
            "notfound" => {
                return Err(Error::NotFound(format!(
                    "region {} has no object '{name}' to remove",
                    i.remote.display()
                )))
            }
            other => return Err(i.unexpected(other, &r)),
        }
        let deadline = i.deadline();
        if i.reclaim(&r.text(0), deadline).is_ok() {
            let _ = i.reclaim_pending(deadline);
        }
        Ok(())
    }

    /// Opens the array `name` (see `crate::backend::Region::array`).
    pub fn array(&self, name: &str, length: u64, flags: u32) -> Result<Array> {
        Array::open(self, name, length, flags)
    }

    /// Opens the map `name`.
    pub fn map(&self, name: &str, capacity: u64, flags: u32) -> Result<Map> {
        Map::open(self, name, capacity, flags, None)
    }

    /// Opens the map `name`, with initial data that applies only if this call creates it.
    pub fn map_with(
        &self,
        name: &str,
        capacity: u64,
        flags: u32,
        initial: Option<&[(String, crate::Value)]>,
    ) -> Result<Map> {
        Map::open(self, name, capacity, flags, initial)
    }

    /// Opens the queue `name`.
    pub fn queue(&self, name: &str, capacity: u64, flags: u32) -> Result<Queue> {
        Queue::open(self, name, capacity, flags)
    }

    /// Opens the bus `name`.
    pub fn bus(&self, name: &str, capacity: u64, flags: u32) -> Result<Bus> {
        Bus::open(self, name, capacity, flags)
    }

    /// Opens the mutex `name`.
    pub fn mutex(&self, name: &str) -> Result<Mutex> {
        Mutex::open(self, name)
    }

    /// Opens the barrier `name`.
    pub fn barrier(&self, name: &str, parties: u32) -> Result<Barrier> {
        Barrier::open(self, name, parties)
    }

    /// Opens the semaphore `name`.
    pub fn semaphore(&self, name: &str, permits: u32) -> Result<Semaphore> {
        Semaphore::open(self, name, permits)
    }

    /// Opens the service `name`.
    pub fn service(&self, name: &str, capacity: u64, flags: u32) -> Result<Service> {
        Service::open(self, name, capacity, flags)
    }

    /// Opens the typed array `name`.
    pub fn tarray(
        &self,
        name: &str,
        dtype: Option<crate::semantics::tarray::Dtype>,
        length: u64,
        block_len: u64,
        flags: u32,
    ) -> Result<TArray> {
        TArray::open(self, name, dtype, length, block_len, flags)
    }
}

/// A handle's last mutation whose reply never came (UNAVAILABLE: the server may or may
/// not have applied it): its operation id, what it was (the operation and its
/// arguments) and the thread that made it. The next call by the same thread on the same
/// handle (or a clone of it) with the same operation and arguments is taken for its
/// retry and goes out under the same id, so the script answers it from the result it
/// stored instead of applying it again: a retried push, publish or `faa` is not made
/// twice, and a retried pop returns the value the lost one took (or pops one, if the
/// lost one never ran). The retry must be the thread's next mutation through that
/// handle, within 120 s (the server keeps each thread's last result that long).
#[derive(Default)]
pub(crate) struct Unanswered(parking_lot::Mutex<Option<(String, Vec<u8>, u64)>>);

/// The parts of a call, length-prefixed (so different splits never compare equal).
fn call_signature(what: &[&[u8]]) -> Vec<u8> {
    let mut sig = Vec::new();
    for part in what {
        sig.extend_from_slice(&(part.len() as u64).to_le_bytes());
        sig.extend_from_slice(part);
    }
    sig
}

impl Unanswered {
    /// The operation id for the call `what`: the unanswered call's if this thread made
    /// exactly it, else a new one.
    pub fn op_id(&self, i: &Inner, what: &[&[u8]]) -> String {
        let mut pending = self.0.lock();
        let me = thread_tag();
        match pending.take() {
            // The retry of a call that may have run: the script looks its result up.
            Some((id, was, by)) if by == me && was == call_signature(what) => format!("!{id}"),
            // Another thread's unanswered call stays (it may retry); this thread's is
            // forgotten: the server keeps only a thread's last mutation.
            Some(other) if other.2 != me => {
                *pending = Some(other);
                i.next_op()
            }
            _ => i.next_op(),
        }
    }

    /// Remembers `opid` (a call `what` of this thread whose outcome is unknown) for a
    /// retry.
    pub fn remember(&self, opid: &str, what: &[&[u8]]) {
        let id = opid.trim_start_matches('!').to_owned();
        *self.0.lock() = Some((id, call_signature(what), thread_tag()));
    }

    /// [`Inner::call_on`], remembering the call when its reply did not come.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &self,
        i: &Inner,
        obj: &Obj,
        script: &dyn Lua,
        args: &[&[u8]],
        d: Option<&Deadline>,
        opid: &str,
        what: &[&[u8]],
    ) -> Result<Reply> {
        let r = i.call_on(obj, script, args, d, opid);
        if let Err(Error::Unavailable(_)) = r {
            self.remember(opid, what);
        }
        r
    }
}

/// The fields of a hash as `HMGET` replies them (None: absent).
pub(crate) type Fields = Vec<Option<Vec<u8>>>;

/// An object as the directory describes it.
pub(crate) struct Found {
    pub id: String,
    pub shape: u64,
    pub flags: u32,
}

/// The object a handle refers to: the incarnation it opened. Object ids are never
/// reused within a region epoch, so its keys (`o:<id>:...`) are never those of an
/// object created later under the same name; once `remove_object` removed it, every
/// script called with it replies `removed` (see `scripts`, "Removing one object").
#[derive(Clone)]
pub(crate) struct Obj {
    /// `o:<id>:`, what scripts take.
    pub key: String,
    pub name: String,
    /// Its kind, for messages ("array", "queue", ...).
    pub kind: &'static str,
    /// `E o:<id>:m`, its meta hash (exists until its removal).
    meta: String,
    /// `E o:<id>:gone`, the stream its removal appends to (blocked calls watch it).
    gone: String,
}

impl Obj {
    pub fn new(i: &Inner, found: &Found, name: &str, kind: &'static str) -> Obj {
        let key = format!("o:{}:", found.id);
        let full = format!("{}{}:{key}", i.prefix, i.epoch);
        Obj {
            meta: format!("{full}m"),
            gone: format!("{full}gone"),
            key,
            name: name.to_owned(),
            kind,
        }
    }

    /// REMOVED: the object was removed while this handle was open.
    pub fn removed(&self) -> Error {
        Error::Removed(format!(
            "{} '{}' was removed (remove_object) while this handle was open; open it \
             again by name (a new object of that name is another object)",
            self.kind, self.name
        ))
    }
}

impl Inner {
    /// The deadline of a call without a timeout of its own.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.remote.timeout
    }

    /// The network deadline of a request made while waiting until `d`: the region's
    /// `timeout_ms` from now, but never much past the caller's deadline.
    fn request_deadline(&self, d: Option<&Deadline>) -> Instant {
        let own = Instant::now() + self.remote.timeout;
        match d.map(|d| d.remaining()) {
            Some(Ok(Some(left))) => own.min(Instant::now() + left + conn::REPLY_MARGIN),
            Some(Err(_)) => own.min(Instant::now() + conn::REPLY_MARGIN),
            _ => own,
        }
    }

    /// The server's clock now (ms), as last seen.
    pub fn server_ms(&self) -> u64 {
        self.clock.lock().now_ms()
    }

    /// The server's clock read just now (a script's `TIME`).
    pub fn saw_clock(&self, clock: Clock) {
        *self.clock.lock() = clock;
    }

    /// A new operation id: `<thread>:<n>` (the attachment is passed separately).
    pub(crate) fn next_op(&self) -> String {
        format!(
            "{}:{}",
            thread_tag(),
            self.ops.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Runs `script` with the common arguments (prefix, epoch, attachment, operation id
    /// when it `changes` something) followed by `args`. `lost` replies become
    /// REGION_LOST.
    pub fn call(
        &self,
        script: &dyn Lua,
        args: &[&[u8]],
        d: Option<&Deadline>,
        changes: bool,
    ) -> Result<Reply> {
        self.call_as(script, args, d, &self.op_if(changes))
    }

    /// [`Inner::call`] under the operation id `opid` ("" for a call that changes
    /// nothing), chosen by the caller so that a retry can reuse it ([`Unanswered`]).
    pub fn call_as(
        &self,
        script: &dyn Lua,
        args: &[&[u8]],
        d: Option<&Deadline>,
        opid: &str,
    ) -> Result<Reply> {
        let key = &self.meta_key;
        let deadline = self.request_deadline(d);
        // A request sent again on a new connection may have run the first time: from
        // the second attempt on, the id says so (`!`), and the script looks its result up.
        let retry = if opid.is_empty() || opid.starts_with('!') {
            opid.to_owned()
        } else {
            format!("!{opid}")
        };
        let mut attempt = opid;
        let v: redis::Value = self
            .server
            .run(deadline, Duration::ZERO, !opid.is_empty(), |c| {
                let head: [&[u8]; 4] = [
                    self.prefix.as_bytes(),
                    self.epoch.as_bytes(),
                    self.cid.as_bytes(),
                    attempt.as_bytes(),
                ];
                attempt = &retry;
                script.invoke(c, key, &head, args)
            })?;
        let r = parse_reply(v)?;
        if r.status == "lost" {
            return Err(self.lost(&r.text(0)));
        }
        Ok(r)
    }

    /// A fresh operation id for a call that changes something (its retry must be
    /// recognised), none for one that only reads.
    fn op_if(&self, changes: bool) -> String {
        if changes {
            self.next_op()
        } else {
            String::new()
        }
    }

    /// [`Inner::call_as`] of a script on the object `obj`: its `removed` reply (the
    /// object was removed) becomes REMOVED.
    pub fn call_on(
        &self,
        obj: &Obj,
        script: &dyn Lua,
        args: &[&[u8]],
        d: Option<&Deadline>,
        opid: &str,
    ) -> Result<Reply> {
        let r = self.call_as(script, args, d, opid)?;
        if r.status == "removed" {
            return Err(obj.removed());
        }
        Ok(r)
    }

    /// [`Inner::call`] of a script on the object `obj` (see [`Inner::call_on`]).
    pub fn call_obj(
        &self,
        obj: &Obj,
        script: &dyn Lua,
        args: &[&[u8]],
        d: Option<&Deadline>,
        changes: bool,
    ) -> Result<Reply> {
        self.call_on(obj, script, args, d, &self.op_if(changes))
    }

    /// Reads `fields` of the hash `key` of the object `obj` (`E<key>`) without a
    /// script: one round trip of `HMGET`, the object check (its meta hash exists) and
    /// the epoch check, pipelined. The read comes first, so a matching epoch and an
    /// existing meta hash after it mean the region and the object were the ones this
    /// handle opened when the fields were read (epochs are random and never reused,
    /// object ids are never reused within an epoch, and a removed object's meta hash
    /// never comes back).
    pub fn read_fields(
        &self,
        obj: &Obj,
        key: &str,
        fields: &[&str],
        d: Option<&Deadline>,
    ) -> Result<Fields> {
        let full = format!("{}{}:{key}", self.prefix, self.epoch);
        let deadline = self.request_deadline(d);
        let (values, alive, epoch): (Fields, bool, Option<Vec<u8>>) =
            self.server
                .run_replies(deadline, Duration::ZERO, false, 3, |c| {
                    let mut p = redis::pipe();
                    p.cmd("HMGET").arg(&full);
                    for f in fields {
                        p.arg(*f);
                    }
                    p.cmd("EXISTS").arg(&obj.meta);
                    p.cmd("HGET").arg(&self.meta_key).arg("epoch");
                    p.query(c)
                })?;
        if epoch.as_deref() == Some(self.epoch.as_bytes()) {
            if !alive {
                return Err(obj.removed());
            }
            return Ok(values);
        }
        // Removed (its epoch retired), or lost: as the scripts' prologue tells them apart.
        let retired: Option<f64> = self.server.run(deadline, Duration::ZERO, false, |c| {
            redis::cmd("ZSCORE")
                .arg(format!("{}retired", self.prefix))
                .arg(&self.epoch)
                .query(c)
        })?;
        Err(self.lost(if retired.is_some() { "removed" } else { "gone" }))
    }

    pub fn lost(&self, why: &str) -> Error {
        if why == "removed" {
            return Error::Removed(format!(
                "region {} was removed (or replaced) while this handle was open; open it again",
                self.remote.display()
            ));
        }
        Error::RegionLost(format!(
            "region {} is gone from the server (flushed, or the server restarted or failed \
             over without its data); open it again to start anew",
            self.remote.display()
        ))
    }

    pub fn unexpected(&self, status: &str, r: &Reply) -> Error {
        match status {
            "invalid" => Error::invalid(r.text(0)),
            _ => Error::Internal(format!(
                "{}: unexpected script reply '{status}'",
                self.remote.display()
            )),
        }
    }

    /// Its epoch's `gone` stream: a removal (or RECREATE) appends to it, and every
    /// blocking read watches it too, so blocked callers wake at once.
    pub fn gone_key(&self) -> String {
        format!("{}{}:gone", self.prefix, self.epoch)
    }

    /// Blocks on the wake stream `stream` until an entry after `id` arrives, the slice
    /// ends, or `d` passes (`Err(Timeout)`, checked before blocking). It watches the
    /// epoch's `gone` stream too, and the object's (`obj`, whose removal appends to it),
    /// so a removal wakes it at once.
    pub fn block(&self, stream: &str, id: &str, obj: Option<&Obj>, d: &Deadline) -> Result<()> {
        let left = d.remaining()?;
        let slice = left.map_or(BLOCK_SLICE, |l| l.min(BLOCK_SLICE));
        let ms = (slice.as_millis() as u64).max(1);
        let deadline = Instant::now() + slice + conn::REPLY_MARGIN;
        let gone = self.gone_key();
        let woken: Result<redis::Value> = self.server.run(deadline, slice, false, |c| {
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(ms)
                .arg("STREAMS")
                .arg(stream)
                .arg(&gone);
            if let Some(obj) = obj {
                cmd.arg(&obj.gone);
            }
            cmd.arg(id).arg("0-0");
            if obj.is_some() {
                cmd.arg("0-0");
            }
            cmd.query(c)
        });
        match woken {
            // The wait changes nothing: a dropped connection or a server that is away
            // ends the slice like a wake-up. The caller's next script call finds out
            // what happened (with its own time budget: UNAVAILABLE, REGION_LOST, ...).
            Ok(_) | Err(Error::Unavailable(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes the keys of the removed object `id` (all of `E o:<id>:` but its `gone`
    /// stream, which expires on its own; SCAN + UNLINK in batches) and takes it off
    /// the epoch's `reclaim` set. Nothing re-creates them: every script of the object's
    /// handles checks its meta hash first.
    fn reclaim(&self, id: &str, deadline: Instant) -> Result<()> {
        let e = format!("{}{}:", self.prefix, self.epoch);
        let gone = format!("{e}o:{id}:gone");
        delete_keys(&self.server, &format!("{e}o:{id}:*"), deadline, |k| {
            k == gone.as_bytes()
        })?;
        let _: i64 = self.server.run(deadline, Duration::ZERO, true, |c| {
            redis::cmd("ZREM")
                .arg(format!("{e}reclaim"))
                .arg(id)
                .query(c)
        })?;
        Ok(())
    }

    /// Finishes removals whose caller did not delete the keys (it failed or died after
    /// the script): those in `reclaim` for more than a minute, a few at a time.
    fn reclaim_pending(&self, deadline: Instant) -> Result<()> {
        let before = self.server_ms().saturating_sub(60_000);
        let key = format!("{}{}:reclaim", self.prefix, self.epoch);
        let ids: Vec<String> = self.server.run(deadline, Duration::ZERO, false, |c| {
            redis::cmd("ZRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(before)
                .arg("LIMIT")
                .arg(0)
                .arg(4)
                .query(c)
        })?;
        for id in ids {
            self.reclaim(&id, deadline)?;
        }
        Ok(())
    }

    /// The hash of this attachment's last operation results, one per thread (`scripts`).
    fn ops_key(&self) -> String {
        format!("{}{}:ops:{}", self.prefix, self.epoch, self.cid)
    }

    /// Renews the lease, keeps the stored operation results for 120 s more, and reads
    /// the server's clock again.
    fn renew_lease(&self, deadline: Instant) -> Result<()> {
        let key = format!("{}lease:{}", self.prefix, self.cid);
        let ops = self.ops_key();
        let ms = self.remote.lease.as_millis() as u64;
        let (_, _, (secs, micros)): (redis::Value, redis::Value, (u64, u64)) = self
            .server
            .run_replies(deadline, Duration::ZERO, false, 3, |c| {
                redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("PX")
                    .arg(ms)
                    .cmd("PEXPIRE")
                    .arg(&ops)
                    .arg(120_000)
                    .cmd("TIME")
                    .query(c)
            })?;
        self.saw_clock(Clock::new(secs, micros));
        Ok(())
    }

    /// Finds or creates the object `name` of kind `words` (see `semantics::open`).
    pub fn open_object(
        &self,
        name: &str,
        words: &KindWords,
        shape: u64,
        flags: u32,
        exclusive: bool,
    ) -> Result<Found> {
        self.open_object_with(name, words, shape, flags, exclusive, &[])
    }

    /// [`Inner::open_object`] with the kind's extra arguments for the OPEN script (a
    /// map's change tracking and initial data), used only if this call creates it.
    pub fn open_object_with(
        &self,
        name: &str,
        words: &KindWords,
        shape: u64,
        flags: u32,
        exclusive: bool,
        extra: &[&[u8]],
    ) -> Result<Found> {
        check_object_name(name)?;
        let (code, shape_text, flags_text) =
            (words.code.to_string(), shape.to_string(), flags.to_string());
        let mut args: Vec<&[u8]> = vec![
            name.as_bytes(),
            code.as_bytes(),
            shape_text.as_bytes(),
            flags_text.as_bytes(),
        ];
        args.extend_from_slice(extra);
        let r = self.call(&scripts().open, &args, None, true)?;
        match r.status.as_str() {
            "ok" => {}
            "notfound" => return Err(open::not_found(name)),
            other => return Err(self.unexpected(other, &r)),
        }
        let found = Found {
            id: r.text(0),
            shape: r.text(2).parse().unwrap_or(0),
            flags: r.text(3).parse().unwrap_or(0),
        };
        let kind: u32 = r.text(1).parse().unwrap_or(0);
        open::check_found(
            name,
            words,
            shape,
            exclusive,
            kind,
            found.shape,
            r.int(4) == 1,
        )?;
        Ok(found)
    }
}

/// A number for the calling thread, unique in the process (never reused).
fn thread_tag() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TAG: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TAG.with(|t| *t)
}

/// Renews the lease every third of `lease_ms` while the region handle lives.
fn start_lease_thread(inner: &Arc<Inner>) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let stop = inner.stop.clone();
    let period = inner.remote.lease / 3;
    let _ = std::thread::Builder::new()
        .name("plexus-lease".into())
        .spawn(move || loop {
            let mut slept = Duration::ZERO;
            while slept < period {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let step = Duration::from_millis(50).min(period - slept);
                std::thread::sleep(step);
                slept += step;
            }
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let _ = inner.renew_lease(Instant::now() + period);
        });
}

/// Ends the region epoch `epoch` after its `retire` (the REGION or REMOVE script): its
/// parked `read_fe` callers are told to start over (they then find it removed), and its
/// keys are deleted, except the `gone` stream, which expires on its own.
fn retire_keys(server: &Server, prefix: &str, epoch: &str, deadline: Instant) -> Result<()> {
    let e = format!("{prefix}{epoch}:");
    let mut cursor: u64 = 0;
    loop {
        let (next, queues): (u64, Vec<String>) =
            server.run(deadline, Duration::ZERO, false, |c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{e}o:*:q"))
                    .arg("COUNT")
                    .arg(1000)
                    .arg("TYPE")
                    .arg("list")
                    .query(c)
            })?;
        for q in queues {
            let entries: Vec<String> = server.run(deadline, Duration::ZERO, false, |c| {
                redis::cmd("LRANGE").arg(&q).arg(0).arg(-1).query(c)
            })?;
            for entry in entries {
                let mut words = entry.split(' ');
                if let (Some(cid), Some(opid)) = (words.next(), words.next()) {
                    let thread = opid.split(':').next().unwrap_or("");
                    let list = format!("{e}wl:{cid}:{thread}");
                    // (Kept a minute, not deleted with the rest: a reader that blocks
                    // on it after the deletion still finds the word at once.)
                    let _: (i64, i64) =
                        server.run_replies(deadline, Duration::ZERO, true, 2, |c| {
                            redis::pipe()
                                .cmd("RPUSH")
                                .arg(&list)
                                .arg("retry")
                                .cmd("PEXPIRE")
                                .arg(&list)
                                .arg(60_000)
                                .query(c)
                        })?;
                }
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let (gone, wl) = (format!("{e}gone"), format!("{e}wl:"));
    delete_keys(server, &format!("{e}*"), deadline, |k| {
        k == gone.as_bytes() || k.starts_with(wl.as_bytes())
    })
}

/// Deletes every key matching `pattern` (SCAN + UNLINK, in batches), but those `keep`
/// says.
fn delete_keys(
    server: &Server,
    pattern: &str,
    deadline: Instant,
    keep: impl Fn(&[u8]) -> bool,
) -> Result<()> {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) =
            server.run(deadline, Duration::ZERO, true, |c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)
            })?;
        let keys: Vec<Vec<u8>> = keys.into_iter().filter(|k| !keep(k)).collect();
        if !keys.is_empty() {
            let _: i64 = server.run(deadline, Duration::ZERO, true, |c| {
                redis::cmd("UNLINK").arg(&keys).query(c)
            })?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Counts the keys matching `pattern` (SCAN).
fn count_keys(server: &Server, pattern: &str, deadline: Instant) -> Result<u64> {
    let mut cursor: u64 = 0;
    let mut n = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) =
            server.run(deadline, Duration::ZERO, false, |c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)
            })?;
        n += keys.len() as u64;
        if next == 0 {
            return Ok(n);
        }
        cursor = next;
    }
}
