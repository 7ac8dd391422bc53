//! Mutexes, barriers and semaphores on Redis. Each transition is one call of the kind's
//! script (below); a caller that must wait blocks on the object's wake stream
//! (`E o:<id>:w`) from the id the script returned, in slices.
//!
//! * Mutex (`E o:<id>:l`, a hash: `cid`, `tid` of the holder, `fence`): owned by a
//!   thread through a region handle (attachment id `cid`, and a per-process thread
//!   number). Every acquisition increments `fence`, the fencing token; the holder keeps
//!   the token it got (per thread) and `unlock` must present it. A holder whose lease
//!   expired (its process died, its region handle was closed, or it could not renew it
//!   in time) is taken over by the next locker, who gets [`Acquired::Recovered`]; if the
//!   old holder comes back, its unlock is refused (the token moved on).
//! * Barrier (`E o:<id>:b`: `gen`, `arrived`): as the shared-memory barrier, with the
//!   state word split in two fields changed together by the script: the last arrival
//!   of a round advances `gen` and resets `arrived`; a waiter that times out withdraws
//!   its arrival unless `gen` moved (then it passed).
//! * Semaphore (`E o:<id>:h`: attachment id -> permits held): permits belong to the
//!   region handle. An acquirer counts the holders' permits, dropping the records of
//!   holders whose lease expired (their permits come back), and takes one if fewer than
//!   `permits` are held.
//!
//! Waiting never polls: the script that finds the lock (or permits) taken returns the
//! wake stream's last id, and the caller blocks with `XREAD BLOCK` from it, so a release
//! after the check wakes it. A holder that dies writes nothing, so the slices are short
//! enough to notice its lease expiring: at most half a lease, and ending just after the
//! remaining time of the holder's lease (the script returns it), after which the script
//! runs again and finds the holder dead.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::redis::scripts::with_prologue;
use crate::redis::{Inner, Obj, Region};
use crate::semantics::deadline::Deadline;
use crate::semantics::open::{KindWords, KIND_BARRIER, KIND_MUTEX, KIND_SEMAPHORE};
use crate::semantics::options::Acquired;

const MUTEX_WORDS: KindWords = KindWords {
    code: KIND_MUTEX,
    name: "mutex",
    article: "a",
    shape: "layout",
    items: "(the layout this library knows)",
};

/// Directory shape of every mutex (as in the shared-memory backend: the layout).
const MUTEX_SHAPE: u64 = 1;

const BARRIER_WORDS: KindWords = KindWords {
    code: KIND_BARRIER,
    name: "barrier",
    article: "a",
    shape: "parties",
    items: "parties",
};

const SEMAPHORE_WORDS: KindWords = KindWords {
    code: KIND_SEMAPHORE,
    name: "semaphore",
    article: "a",
    shape: "permits",
    items: "permits",
};

/// How long after a holder's lease should have expired a waiter looks again.
const EXPIRY_MARGIN: Duration = Duration::from_millis(20);

/// Mutex operations. ARGV 5-8: op (`lock`, `unlock`, `locked`), object prefix
/// (`o:<id>:`), the caller's thread number, the fencing token the caller holds (`0`:
/// none). Replies: `{'ok', recovered, fence}` (lock), `{'wait', id, holder's lease ms}`,
/// `{'relock'}`, `{'ok'}` (unlock), `{'stale', fence}`, `{'notheld', why}`,
/// `{'ok', locked}`, `{'removed'}` (every kind: `remove_object` removed it).
const MUTEX: &str = r#"
local OP, OBJ, TID, FENCE = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if removed(OBJ) then return {'removed'} end
local lk, wk = E .. OBJ .. 'l', E .. OBJ .. 'w'
local h = redis.call('HMGET', lk, 'cid', 'tid', 'fence')
local holder, htid, fence = h[1], h[2], h[3] or '0'
if OP == 'locked' then
  if holder then return {'ok', 1} end
  return {'ok', 0}
end
if OP == 'lock' then
  local recovered = 0
  if holder then
    if holder == CID and htid == TID then return {'relock'} end
    if alive(holder) then
      local ttl = 0
      if holder ~= CID then ttl = math.max(redis.call('PTTL', P .. 'lease:' .. holder), 0) end
      return {'wait', last_id(wk), ttl}
    end
    recovered = 1
  end
  local next = redis.call('HINCRBY', lk, 'fence', 1)
  redis.call('HSET', lk, 'cid', CID, 'tid', TID)
  return done({'ok', recovered, next})
end
if OP == 'unlock' then
  if holder == CID and htid == TID and fence == FENCE then
    redis.call('HDEL', lk, 'cid', 'tid')
    wake(wk)
    return done({'ok'})
  end
  if FENCE ~= '0' and fence ~= FENCE then return done({'stale', fence}) end
  if not holder then return done({'notheld', 'unlocked'}) end
  if holder == CID then return done({'notheld', 'thread'}) end
  return done({'notheld', 'other'})
end
return {'invalid', 'unknown mutex operation ' .. OP}
"#;

/// Barrier operations. ARGV 5-7: op (`arrive`, `check`, `withdraw`), object prefix,
/// the generation arrived in. Replies: `{'last'}`, `{'arrived', gen, id}`,
/// `{'passed'}`, `{'wait', id}`, `{'withdrawn'}`, `{'corrupt', arrived, parties}`.
const BARRIER: &str = r#"
local OP, OBJ, GEN = ARGV[5], ARGV[6], ARGV[7]
local bk, wk = E .. OBJ .. 'b', E .. OBJ .. 'w'
local parties = tonumber(redis.call('HGET', E .. OBJ .. 'm', 'shape'))
if not parties then return {'removed'} end
local h = redis.call('HMGET', bk, 'gen', 'arrived')
local gen, arrived = h[1] or '0', tonumber(h[2] or '0')
if OP == 'arrive' then
  if arrived >= parties then return {'corrupt', arrived, parties} end
  if arrived + 1 == parties then
    redis.call('HINCRBY', bk, 'gen', 1)
    redis.call('HSET', bk, 'arrived', 0)
    wake(wk)
    return done({'last'})
  end
  redis.call('HSET', bk, 'gen', gen, 'arrived', arrived + 1)
  return done({'arrived', gen, last_id(wk)})
end
if OP == 'check' then
  if gen ~= GEN then return {'passed'} end
  return {'wait', last_id(wk)}
end
if OP == 'withdraw' then
  if gen ~= GEN then return done({'passed'}) end
  if arrived == 0 then return done({'corrupt', arrived, parties}) end
  redis.call('HSET', bk, 'arrived', arrived - 1)
  return done({'withdrawn'})
end
return {'invalid', 'unknown barrier operation ' .. OP}
"#;

/// Semaphore operations. ARGV 5-6: op (`acquire`, `release`, `available`, `held`),
/// object prefix. Replies: `{'ok'}`, `{'ok', n}`, `{'wait', id, shortest lease ms of
/// the other holders}`, `{'none'}` (release without a permit).
const SEMAPHORE: &str = r#"
local OP, OBJ = ARGV[5], ARGV[6]
local hk, wk = E .. OBJ .. 'h', E .. OBJ .. 'w'
local permits = tonumber(redis.call('HGET', E .. OBJ .. 'm', 'shape'))
if not permits then return {'removed'} end
if OP == 'held' then return {'ok', tonumber(redis.call('HGET', hk, CID) or '0')} end
if OP == 'release' then
  local mine = tonumber(redis.call('HGET', hk, CID) or '0')
  if mine <= 0 then return done({'none'}) end
  if mine == 1 then redis.call('HDEL', hk, CID) else redis.call('HINCRBY', hk, CID, -1) end
  wake(wk)
  return done({'ok'})
end
local all = redis.call('HGETALL', hk)
if OP == 'available' then
  local n = 0
  for i = 2, #all, 2 do n = n + tonumber(all[i]) end
  return {'ok', math.max(permits - n, 0)}
end
if OP == 'acquire' then
  local n, dropped, ttl = 0, false, -1
  for i = 1, #all, 2 do
    local cid = all[i]
    if alive(cid) then
      n = n + tonumber(all[i + 1])
      if cid ~= CID then
        local t = redis.call('PTTL', P .. 'lease:' .. cid)
        if t >= 0 and (ttl < 0 or t < ttl) then ttl = t end
      end
    else
      redis.call('HDEL', hk, cid)
      dropped = true
    end
  end
  if n >= permits then return {'wait', last_id(wk), math.max(ttl, 0)} end
  redis.call('HINCRBY', hk, CID, 1)
  -- Permits taken back from dead holders may be more than this one: tell the others.
  if dropped and n + 1 < permits then wake(wk) end
  return done({'ok'})
end
return {'invalid', 'unknown semaphore operation ' .. OP}
"#;

struct LockScripts {
    mutex: redis::Script,
    barrier: redis::Script,
    semaphore: redis::Script,
}

fn scripts() -> &'static LockScripts {
    static S: OnceLock<LockScripts> = OnceLock::new();
    S.get_or_init(|| LockScripts {
        mutex: with_prologue(MUTEX),
        barrier: with_prologue(BARRIER),
        semaphore: with_prologue(SEMAPHORE),
    })
}

/// Blocks on the wake stream `stream` after `id` for one slice: until an entry arrives,
/// half a lease passes, or `holder_ttl_ms` (the remaining lease of the holder waited
/// for; 0 = unknown) has passed, so that the holder's death is noticed soon after its
/// lease expires. `Err(Timeout)` once `d` has passed.
pub(crate) fn block_slice(
    i: &Inner,
    obj: &Obj,
    stream: &str,
    id: &str,
    holder_ttl_ms: u64,
    d: &Deadline,
) -> Result<()> {
    let left = d.remaining()?;
    let mut slice = i.remote.lease / 2;
    if holder_ttl_ms > 0 {
        slice = slice.min(Duration::from_millis(holder_ttl_ms) + EXPIRY_MARGIN);
    }
    if let Some(left) = left {
        slice = slice.min(left);
    }
    match i.block(stream, id, Some(obj), &Deadline::after(Some(slice))) {
        // The slice ended: the caller runs its script again.
        Err(Error::Timeout) => Ok(()),
        other => other,
    }
}

/// This thread's number in this process (mutex ownership is per thread).
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static N: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    N.with(|n| *n)
}

thread_local! {
    /// The fencing tokens of the mutexes this thread holds, by mutex and attachment.
    static FENCES: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// The object `name` of kind `words` with size `shape` (0: existing only).
fn open(region: &Region, name: &str, words: &KindWords, shape: u64) -> Result<(Obj, u64)> {
    let found = region.inner.open_object(name, words, shape, 0, false)?;
    Ok((
        Obj::new(&region.inner, &found, name, words.name),
        found.shape,
    ))
}

fn stream(i: &Inner, obj: &Obj) -> String {
    format!("{}{}:{}w", i.prefix, i.epoch, obj.key)
}

/// A size stored in the directory, as the u32 the API counts in.
fn size_u32(kind: &str, name: &str, shape: u64) -> Result<u32> {
    match u32::try_from(shape) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::corrupt(format!(
            "{kind} '{name}' has a damaged size ({shape})"
        ))),
    }
}

/// A robust mutex on a remote region (see the module docs).
#[derive(Clone)]
pub struct Mutex {
    region: Region,
    /// The object (`o:<id>:`) and its name.
    obj: Obj,
    /// Key of this mutex and region handle in this thread's [`FENCES`].
    fence_key: String,
}

impl Mutex {
    pub(crate) fn open(region: &Region, name: &str) -> Result<Mutex> {
        let (obj, _) = open(region, name, &MUTEX_WORDS, MUTEX_SHAPE)?;
        let i = &region.inner;
        Ok(Mutex {
            fence_key: format!("{}{}:{} {}", i.prefix, i.epoch, obj.key, i.cid),
            region: region.clone(),
            obj,
        })
    }

    pub fn name(&self) -> &str {
        &self.obj.name
    }

    fn inner(&self) -> &Inner {
        &self.region.inner
    }

    fn op(
        &self,
        op: &str,
        fence: &str,
        d: Option<&Deadline>,
        changes: bool,
    ) -> Result<super::Reply> {
        let tid = thread_number().to_string();
        self.inner().call_obj(
            &self.obj,
            &scripts().mutex,
            &[
                op.as_bytes(),
                self.obj.key.as_bytes(),
                tid.as_bytes(),
                fence.as_bytes(),
            ],
            d,
            changes,
        )
    }

    /// Locks it for the calling thread, waiting until `deadline`. `Recovered`: taken
    /// over from a holder whose lease expired. `Timeout`; `InvalidArgument` if this
    /// thread already holds it.
    pub fn lock_until(&self, deadline: &Deadline) -> Result<Acquired> {
        let i = self.inner();
        loop {
            let r = self.op("lock", "0", Some(deadline), true)?;
            match r.status.as_str() {
                "ok" => {
                    let fence = r.text(1);
                    FENCES.with(|f| f.borrow_mut().insert(self.fence_key.clone(), fence));
                    return Ok(if r.int(0) == 1 {
                        Acquired::Recovered
                    } else {
                        Acquired::Clean
                    });
                }
                "wait" => block_slice(
                    i,
                    &self.obj,
                    &stream(i, &self.obj),
                    &r.text(0),
                    r.int(1),
                    deadline,
                )?,
                "relock" => {
                    return Err(Error::invalid(format!(
                        "this thread already holds mutex '{}' (locking it again would deadlock)",
                        self.obj.name
                    )))
                }
                other => return Err(i.unexpected(other, &r)),
            }
        }
    }

    /// Unlocks it. `InvalidArgument` unless the calling thread holds it through this
    /// region handle, with the fencing token it got when it locked it (it is then left
    /// as it was).
    pub fn unlock(&self) -> Result<()> {
        let ours = FENCES
            .with(|f| f.borrow().get(&self.fence_key).cloned())
            .unwrap_or_else(|| "0".to_owned());
        let forget = || {
            FENCES.with(|f| f.borrow_mut().remove(&self.fence_key));
        };
        let r = match self.op("unlock", &ours, None, true) {
            Ok(r) => r,
            Err(e @ Error::Removed(_)) => {
                // The mutex is gone, and its token with it.
                forget();
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let who = match r.status.as_str() {
            "ok" => {
                forget();
                return Ok(());
            }
            "stale" => {
                forget();
                return Err(Error::invalid(format!(
                    "unlock of mutex '{}' refused: the lease of this region handle expired \
                     while this thread held it, and it was taken over (fencing token {ours}, \
                     now {}); what it protects may have been changed by the new holder",
                    self.obj.name,
                    r.text(0)
                )));
            }
            "notheld" => match r.text(0).as_str() {
                "unlocked" => "it is not locked",
                "thread" => "another thread holds it",
                _ => "another process (or region handle) holds it",
            },
            other => return Err(self.inner().unexpected(other, &r)),
        };
        Err(Error::invalid(format!(
            "unlock of mutex '{}' by a thread that does not hold it: {who}",
            self.obj.name
        )))
    }

    /// Whether anyone holds it (a snapshot; a holder whose lease expired counts until
    /// the next locker takes it over).
    pub fn is_locked(&self) -> Result<bool> {
        Ok(self.op("locked", "0", None, false)?.int(0) == 1)
    }
}

/// A reusable barrier on a remote region (see the module docs).
#[derive(Clone)]
pub struct Barrier {
    region: Region,
    obj: Obj,
    parties: u32,
}

impl Barrier {
    pub(crate) fn open(region: &Region, name: &str, parties: u32) -> Result<Barrier> {
        let (obj, shape) = open(region, name, &BARRIER_WORDS, parties as u64)?;
        Ok(Barrier {
            region: region.clone(),
            obj,
            parties: size_u32("barrier", name, shape)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.obj.name
    }

    pub fn parties(&self) -> u32 {
        self.parties
    }

    fn op(
        &self,
        op: &str,
        generation: &str,
        d: Option<&Deadline>,
        changes: bool,
    ) -> Result<super::Reply> {
        let i = &self.region.inner;
        let r = i.call_obj(
            &self.obj,
            &scripts().barrier,
            &[
                op.as_bytes(),
                self.obj.key.as_bytes(),
                generation.as_bytes(),
            ],
            d,
            changes,
        )?;
        if r.status == "corrupt" {
            return Err(Error::corrupt(format!(
                "barrier '{}' counts {} arrivals of {} parties",
                self.obj.name,
                r.text(0),
                r.text(1)
            )));
        }
        Ok(r)
    }

    /// Arrives and waits until the round completes or `deadline` passes. `Ok(true)` for
    /// the arrival that completed the round. `Timeout`: the arrival was withdrawn.
    pub fn wait_until(&self, deadline: &Deadline) -> Result<bool> {
        let i = &self.region.inner;
        let r = self.op("arrive", "", Some(deadline), true)?;
        let (generation, mut id) = match r.status.as_str() {
            "last" => return Ok(true),
            "arrived" => (r.text(0), r.text(1)),
            other => return Err(i.unexpected(other, &r)),
        };
        let stream = stream(i, &self.obj);
        let waited = (|| loop {
            i.block(&stream, &id, Some(&self.obj), deadline)?;
            let r = self.op("check", &generation, Some(deadline), false)?;
            match r.status.as_str() {
                "passed" => return Ok(false),
                "wait" => id = r.text(0),
                other => return Err(i.unexpected(other, &r)),
            }
        })();
        match waited {
            Ok(last) => Ok(last),
            // Timed out (or the server failed us): take the arrival back, unless the
            // round completed meanwhile.
            Err(e) => match self.op("withdraw", &generation, None, true) {
                Ok(r) if r.status == "passed" => Ok(false),
                Ok(r) if r.status == "withdrawn" => Err(e),
                Ok(r) => Err(i.unexpected(&r.status, &r)),
                Err(_) => Err(e),
            },
        }
    }
}

/// A counting semaphore on a remote region (see the module docs).
#[derive(Clone)]
pub struct Semaphore {
    region: Region,
    obj: Obj,
    permits: u32,
}

impl Semaphore {
    pub(crate) fn open(region: &Region, name: &str, permits: u32) -> Result<Semaphore> {
        let (obj, shape) = open(region, name, &SEMAPHORE_WORDS, permits as u64)?;
        Ok(Semaphore {
            region: region.clone(),
            obj,
            permits: size_u32("semaphore", name, shape)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.obj.name
    }

    pub fn permits(&self) -> u32 {
        self.permits
    }

    fn op(&self, op: &str, d: Option<&Deadline>, changes: bool) -> Result<super::Reply> {
        self.region.inner.call_obj(
            &self.obj,
            &scripts().semaphore,
            &[op.as_bytes(), self.obj.key.as_bytes()],
            d,
            changes,
        )
    }

    fn count(&self, op: &str) -> Result<u32> {
        let r = self.op(op, None, false)?;
        match r.status.as_str() {
            "ok" => Ok(r.int(0).min(self.permits as u64) as u32),
            other => Err(self.region.inner.unexpected(other, &r)),
        }
    }

    /// Permits not held (a snapshot; permits of a holder whose lease expired count as
    /// held until an acquirer takes them back).
    pub fn available(&self) -> Result<u32> {
        self.count("available")
    }

    /// Permits this region handle holds.
    pub fn held(&self) -> Result<u32> {
        self.count("held")
    }

    /// Takes one permit for this region handle, waiting until `deadline` while none is
    /// available. `Timeout` if none became available.
    pub fn acquire_until(&self, deadline: &Deadline) -> Result<()> {
        let i = &self.region.inner;
        loop {
            let r = self.op("acquire", Some(deadline), true)?;
            match r.status.as_str() {
                "ok" => return Ok(()),
                "wait" => block_slice(
                    i,
                    &self.obj,
                    &stream(i, &self.obj),
                    &r.text(0),
                    r.int(1),
                    deadline,
                )?,
                other => return Err(i.unexpected(other, &r)),
            }
        }
    }

    /// Gives back one permit this region handle holds (`InvalidArgument` if none).
    pub fn release(&self) -> Result<()> {
        let r = self.op("release", None, true)?;
        match r.status.as_str() {
            "ok" => Ok(()),
            "none" => Err(Error::invalid(format!(
                "release of semaphore '{}' by a region handle that holds none of its permits",
                self.obj.name
            ))),
            other => Err(self.region.inner.unexpected(other, &r)),
        }
    }
}
