//! Queues and stacks on Redis: a list of values beside the object's meta hash (which
//! holds the capacity and, once shut down, `closed`), and two wake streams: `wp`,
//! written when a pop makes room in a full queue (producers wait on it), and `wc`,
//! written when a push makes an empty queue non-empty (consumers wait on it). A
//! producer waits only on a full queue and a consumer only on an empty one, so those
//! transitions are the only ones that can unblock anybody; shutdown writes both.
//!
//! Every push, pop and shutdown is one call of the `QUEUE` script, carrying an operation
//! id: a call retried after its reply was lost is answered from the result the script
//! stored (a pop returns the value it took), so every value is delivered exactly once.
//! See [`Unanswered`] for a retry by the caller after UNAVAILABLE.
//!
//! Keys (beside the table in `scripts`): `E o:<id>:l` (list: each value as its type
//! digit followed by its bytes, oldest first), `E o:<id>:wp`, `E o:<id>:wc` (streams).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::redis::element::{decode, encode};
use crate::redis::scripts::with_prologue;
use crate::redis::{Inner, Obj, Region, Reply, Unanswered};
use crate::semantics::deadline::Deadline;
use crate::semantics::names::check_object_name;
use crate::semantics::open::{KindWords, KIND_QUEUE};
use crate::semantics::options::{FLAG_EXCLUSIVE, FLAG_LIFO};
use crate::semantics::value::{Value, ValueRef};

const QUEUE_WORDS: KindWords = KindWords {
    code: KIND_QUEUE,
    name: "queue",
    article: "a",
    shape: "capacity",
    items: "values",
};

/// Every operation of queues and stacks. ARGV 5-8: op (`push`, `pop`, `shutdown`,
/// `state`), object prefix (`o:<id>:`), `1` for a stack, the item to push. Replies
/// `{'ok'}` (push, shutdown), `{'ok', item}` (pop), `{'ok', length, closed}` (state),
/// `{'wait', id}` (full or empty: the id to block on the `wp` or `wc` stream from),
/// `{'closed'}`, or `{'removed'}` (its meta hash is gone: `remove_object` removed it).
const QUEUE: &str = r#"
local OP, OBJ, LIFO, ITEM = ARGV[5], ARGV[6], ARGV[7] == '1', ARGV[8]
local mk, lk = E .. OBJ .. 'm', E .. OBJ .. 'l'
local wp, wc = E .. OBJ .. 'wp', E .. OBJ .. 'wc'
local m = redis.call('HMGET', mk, 'shape', 'closed')
if not m[1] then return {'removed'} end
local cap, closed = tonumber(m[1]), m[2] == '1'
local n = redis.call('LLEN', lk)
if OP == 'push' then
  if closed then return {'closed'} end
  if n >= cap then return {'wait', last_id(wp)} end
  redis.call('RPUSH', lk, ITEM)
  if n == 0 then wake(wc) end
  return done({'ok'})
end
if OP == 'pop' then
  if n == 0 then
    if closed then return {'closed'} end
    return {'wait', last_id(wc)}
  end
  local item
  if LIFO then item = redis.call('RPOP', lk) else item = redis.call('LPOP', lk) end
  if n >= cap then wake(wp) end
  return done({'ok', item})
end
if OP == 'shutdown' then
  if not closed then
    redis.call('HSET', mk, 'closed', 1)
    wake(wp)
    wake(wc)
  end
  return done({'ok'})
end
if OP == 'state' then
  local c = 0
  if closed then c = 1 end
  return {'ok', n, c}
end
return {'invalid', 'unknown queue operation ' .. OP}
"#;

fn script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| with_prologue(QUEUE))
}

/// A queue (FIFO) or stack (LIFO) on a remote region.
#[derive(Clone)]
pub struct Queue {
    region: Region,
    /// The object (`o:<id>:`) and its name.
    obj: Obj,
    capacity: u64,
    lifo: bool,
    unanswered: Arc<Unanswered>,
}

impl Queue {
    pub(crate) fn open(region: &Region, name: &str, capacity: u64, flags: u32) -> Result<Queue> {
        check_object_name(name)?;
        if flags & !(FLAG_LIFO | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!("unknown queue flags {flags:#x}")));
        }
        let found = region.inner.open_object(
            name,
            &QUEUE_WORDS,
            capacity,
            flags & FLAG_LIFO,
            flags & FLAG_EXCLUSIVE != 0,
        )?;
        if found.shape == 0 {
            return Err(Error::corrupt(format!(
                "queue '{name}' has capacity 0 on the server"
            )));
        }
        // As locally: capacity 0 opens either kind, unless FLAG_LIFO asks for a stack.
        let lifo = found.flags & FLAG_LIFO != 0;
        let want_lifo = flags & FLAG_LIFO != 0;
        if lifo != want_lifo && (want_lifo || capacity != 0) {
            let (is, not) = if lifo {
                ("a LIFO stack", "a FIFO queue")
            } else {
                ("a FIFO queue", "a LIFO stack")
            };
            return Err(Error::Incompatible(format!(
                "queue '{name}' is {is}, not {not}"
            )));
        }
        Ok(Queue {
            region: region.clone(),
            obj: Obj::new(&region.inner, &found, name, "queue"),
            capacity: found.shape,
            lifo,
            unanswered: Arc::default(),
        })
    }

    fn inner(&self) -> &Inner {
        &self.region.inner
    }

    fn stream(&self, which: &str) -> String {
        let i = self.inner();
        format!("{}{}:{}{which}", i.prefix, i.epoch, self.obj.key)
    }

    fn args<'a>(&'a self, op: &'a str, item: &'a [u8]) -> [&'a [u8]; 4] {
        [
            op.as_bytes(),
            self.obj.key.as_bytes(),
            if self.lifo { b"1" } else { b"0" },
            item,
        ]
    }

    /// A push or pop: one script call, waiting on the server (on the wake stream the
    /// script named) while the queue is full or empty. One operation id for the whole
    /// call: a `wait` reply stores no result, so the id stays unused until it succeeds.
    fn transfer(&self, op: &str, item: &[u8], d: &Deadline) -> Result<Reply> {
        let i = self.inner();
        let what: [&[u8]; 2] = [op.as_bytes(), item];
        let opid = self.unanswered.op_id(i, &what);
        let stream = self.stream(if op == "push" { "wp" } else { "wc" });
        loop {
            let r = self.unanswered.call(
                i,
                &self.obj,
                script(),
                &self.args(op, item),
                Some(d),
                &opid,
                &what,
            )?;
            match r.status.as_str() {
                "ok" => return Ok(r),
                "closed" => return Err(Error::Closed),
                "wait" => i.block(&stream, &r.text(0), Some(&self.obj), d)?,
                other => return Err(i.unexpected(other, &r)),
            }
        }
    }

    /// The number of values and whether the queue was shut down.
    fn state(&self) -> Result<(u64, bool)> {
        let i = self.inner();
        let r = i.call_obj(&self.obj, script(), &self.args("state", b""), None, false)?;
        match r.status.as_str() {
            "ok" => Ok((r.int(0), r.int(1) == 1)),
            other => Err(i.unexpected(other, &r)),
        }
    }

    pub fn name(&self) -> &str {
        &self.obj.name
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// True for a LIFO stack.
    pub fn is_lifo(&self) -> bool {
        self.lifo
    }

    pub fn len(&self) -> Result<u64> {
        Ok(self.state()?.0)
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Appends `v`, waiting while the queue is full. `Closed` once it is shut down.
    pub fn push(&self, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()> {
        v.validate()?;
        let (mut item, bytes) = encode(v);
        item.extend_from_slice(&bytes);
        self.transfer("push", &item, &Deadline::after(timeout))
            .map(|_| ())
    }

    /// Removes the oldest value (the newest, for a stack), waiting while the queue is
    /// empty. `Closed` once it is shut down and empty.
    pub fn pop(&self, timeout: Option<Duration>) -> Result<Value> {
        let r = self.transfer("pop", b"", &Deadline::after(timeout))?;
        let item = r.bytes(0);
        let Some(t) = item.first().map(|&t| char::from(t).to_string()) else {
            return Err(Error::corrupt(format!(
                "queue '{}' held an empty item",
                self.obj.name
            )));
        };
        decode(&t, item[1..].to_vec())
    }

    /// Ends the queue for every process: pushes fail with `Closed` from now on, pops
    /// return what is left and then `Closed`, and every blocked push and pop wakes.
    pub fn shutdown(&self) -> Result<()> {
        let i = self.inner();
        let r = i.call_obj(&self.obj, script(), &self.args("shutdown", b""), None, true)?;
        match r.status.as_str() {
            "ok" => Ok(()),
            other => Err(i.unexpected(other, &r)),
        }
    }

    pub fn is_shutdown(&self) -> Result<bool> {
        Ok(self.state()?.1)
    }
}
