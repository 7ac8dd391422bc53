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
use crate::semantics::deadline::{Deadline, Interrupt};
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
/// `state`, `pushm`, `popm`, `release`), object prefix (`o:<id>:`), `1` for a stack,
/// the item to push (`popm`: the most values to take; `pushm`: two flags, `1` or `0`:
/// whether this call continues a batch that already pushed values, and whether more of
/// the batch follows the items of this call, which are ARGV 9 on). Replies `{'ok'}`
/// (push, shutdown, release), `{'ok', item}` (pop), `{'ok', count}` (pushm: how many of
/// the items went in: all that fit, at least one), `{'ok', item, ...}` (popm: at least
/// one), `{'ok', length, closed}` (state), `{'wait', id}` (full or empty, or another
/// producer's batch holds the queue: the id to block on the `wp` or `wc` stream from),
/// `{'closed'}`, or `{'removed'}` (its meta hash is gone: `remove_object` removed it).
///
/// A batch is one call when it fits: one wake-up, one stored result. One that does not
/// fit holds the queue for its producer between its calls (the meta hash's `hold`:
/// `<attachment> <thread> <until, server ms>`), so that no other push lands between its
/// parts; a hold lapses when its attachment's lease does, or 5 s after the holder's last
/// call (a waiting holder calls at least every second), and `release` ends it early.
const QUEUE: &str = r#"
local OP, OBJ, LIFO, ITEM = ARGV[5], ARGV[6], ARGV[7] == '1', ARGV[8]
local mk, lk = E .. OBJ .. 'm', E .. OBJ .. 'l'
local wp, wc = E .. OBJ .. 'wp', E .. OBJ .. 'wc'
local m = redis.call('HMGET', mk, 'shape', 'closed', 'hold')
if not m[1] then return {'removed'} end
local cap, closed = tonumber(m[1]), m[2] == '1'
local n = redis.call('LLEN', lk)
-- A batch that holds the queue: `mine` when it is this thread's, `held` when another
-- live producer's.
local me = CID .. ' ' .. (opfield or '')
local mine, held = false, false
if m[3] then
  local hc, ht, hu = string.match(m[3], '^(%S+) (%S+) (%d+)$')
  if hc and hc .. ' ' .. ht == me then
    mine = true
  elseif hc then
    local t = redis.call('TIME')
    held = tonumber(hu) > t[1] * 1000 + math.floor(t[2] / 1000) and alive(hc)
  end
end
local function hold()
  local t = redis.call('TIME')
  redis.call('HSET', mk, 'hold', me .. ' ' .. (t[1] * 1000 + math.floor(t[2] / 1000) + 5000))
end
local function unhold()
  if m[3] then
    redis.call('HDEL', mk, 'hold')
    wake(wp)
  end
end
if OP == 'peek' then
  -- Every value, front (the next pop of a FIFO) first; changes nothing.
  local all = redis.call('LRANGE', lk, 0, -1)
  table.insert(all, 1, 'ok')
  return all
end
if OP == 'push' then
  if closed then return {'closed'} end
  if n >= cap or held then return {'wait', last_id(wp)} end
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
if OP == 'pushm' then
  local cont, more = string.sub(ITEM, 1, 1) == '1', string.sub(ITEM, 2, 2) == '1'
  if held then return {'wait', last_id(wp)} end
  if closed then
    if mine then unhold() end
    return {'closed'}
  end
  if n >= cap then
    if cont then hold() end
    return {'wait', last_id(wp)}
  end
  local last = math.min(#ARGV, 8 + cap - n)
  -- RPUSH in slices (a Lua call takes a bounded number of arguments).
  for i = 9, last, 4000 do
    redis.call('RPUSH', lk, unpack(ARGV, i, math.min(i + 3999, last)))
  end
  if last < #ARGV or more then hold() else unhold() end
  if n == 0 then wake(wc) end
  return done({'ok', last - 8})
end
if OP == 'release' then
  if mine then unhold() end
  return {'ok'}
end
if OP == 'popm' then
  if n == 0 then
    if closed then return {'closed'} end
    return {'wait', last_id(wc)}
  end
  local take = math.min(tonumber(ITEM), n)
  local items
  if LIFO then items = redis.call('RPOP', lk, take) else items = redis.call('LPOP', lk, take) end
  if n >= cap then wake(wp) end
  local r = {'ok'}
  for i = 1, #items do r[i + 1] = items[i] end
  return done(r)
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
        self.transfer_items(op, None, &[item], d, None)
    }

    /// [`Queue::transfer`] with any number of items: ARGV 8 on, after `flags` (ARGV 8)
    /// when given. `push` and `pop` take one item, `pushm` its flags and the values,
    /// `popm` the most values to take. The operation id goes with the operation and its
    /// items, not the flags: a retry of a batch after UNAVAILABLE (the same values)
    /// gets the stored answer whatever part of its batch it was.
    fn transfer_items(
        &self,
        op: &str,
        flags: Option<&[u8]>,
        items: &[&[u8]],
        d: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> Result<Reply> {
        let i = self.inner();
        let mut what: Vec<&[u8]> = Vec::with_capacity(1 + items.len());
        what.push(op.as_bytes());
        what.extend_from_slice(items);
        let opid = self.unanswered.op_id(i, &what);
        let stream = self.stream(if op.starts_with("push") { "wp" } else { "wc" });
        let mut args: Vec<&[u8]> = Vec::with_capacity(4 + items.len());
        args.extend_from_slice(&self.args(op, b"")[..3]);
        args.extend(flags);
        args.extend_from_slice(items);
        loop {
            let r = self
                .unanswered
                .call(i, &self.obj, script(), &args, Some(d), &opid, &what)?;
            match r.status.as_str() {
                "ok" => return Ok(r),
                "closed" => return Err(Error::Closed),
                "wait" => match interrupt {
                    None => i.block(&stream, &r.text(0), Some(&self.obj), d)?,
                    Some(int) => {
                        // A piece at most, then the caller's check (the script call
                        // that follows renews a batch's hold).
                        let left = d.remaining()?;
                        let piece = left.map_or(int.every, |l| l.min(int.every));
                        i.block(
                            &stream,
                            &r.text(0),
                            Some(&self.obj),
                            &Deadline::after(Some(piece)),
                        )?;
                        (int.check)()?;
                    }
                },
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

    /// Every value, in the order pops would take them, without taking any (one script
    /// call: a consistent snapshot).
    pub fn peek_all(&self) -> Result<Vec<Value>> {
        let i = self.inner();
        let r = i.call_obj(&self.obj, script(), &self.args("peek", b""), None, false)?;
        if r.status != "ok" {
            return Err(i.unexpected(&r.status, &r));
        }
        let mut out = (0..r.items.len())
            .map(|k| self.decode_item(r.bytes(k)))
            .collect::<Result<Vec<_>>>()?;
        if self.lifo {
            out.reverse();
        }
        Ok(out)
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
        self.decode_item(r.bytes(0))
    }

    /// Appends `values` in order, waiting while the queue is full: as many as fit go in
    /// with one script call (one round trip, one wake-up), the rest after waiting for
    /// room. Returns how many went in (a prefix of `values`) and `Ok` when all did, else
    /// why it stopped (`Timeout`, `Closed`, `Unavailable`: see [`Unanswered`], a retry
    /// with `values[pushed..]` is answered from the stored result). Every value is
    /// checked before any is sent. In a FIFO the values of one script call follow one
    /// another; a batch larger than the room left may have other producers' values
    /// between its parts (each part is contiguous).
    pub fn push_many(
        &self,
        values: &[ValueRef<'_>],
        timeout: Option<Duration>,
    ) -> (usize, Result<()>) {
        self.push_many_until(values, &Deadline::after(timeout), None)
    }

    /// [`Queue::push_many`] with a deadline and an [`Interrupt`] run between the pieces
    /// of its waits.
    pub fn push_many_until(
        &self,
        values: &[ValueRef<'_>],
        d: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> (usize, Result<()>) {
        if let Err(e) = values.iter().try_for_each(|v| v.validate()) {
            return (0, Err(e));
        }
        let items: Vec<Vec<u8>> = values
            .iter()
            .map(|v| {
                let (mut item, bytes) = encode(*v);
                item.extend_from_slice(&bytes);
                item
            })
            .collect();
        let mut pushed = 0;
        let result = loop {
            if pushed == items.len() {
                break Ok(());
            }
            // No more than the queue can ever hold in one call.
            let end = items
                .len()
                .min(pushed + self.capacity.min(1 << 16) as usize);
            let part: Vec<&[u8]> = items[pushed..end].iter().map(Vec::as_slice).collect();
            let flags: &[u8] = match (pushed > 0, end < items.len()) {
                (false, false) => b"00",
                (false, true) => b"01",
                (true, false) => b"10",
                (true, true) => b"11",
            };
            match self.transfer_items("pushm", Some(flags), &part, d, interrupt) {
                Ok(r) => {
                    let n = r.int(0) as usize;
                    if n == 0 || n > part.len() {
                        break Err(self.inner().unexpected("pushm count", &r));
                    }
                    pushed += n;
                }
                Err(e) => break Err(e),
            }
        };
        if result.is_err() && pushed > 0 {
            // Let other producers in now rather than when the hold lapses (best effort).
            let _ = self
                .inner()
                .call(script(), &self.args("release", b""), None, true);
        }
        (pushed, result)
    }

    /// Removes up to `max` values with one script call: waits until there is one, then
    /// takes the ones after it (the oldest first; the newest first from a stack).
    pub fn pop_many(&self, max: usize, timeout: Option<Duration>) -> Result<Vec<Value>> {
        if max == 0 {
            return Err(Error::invalid(
                "pop_many: max is 0 (a batch takes at least one value)",
            ));
        }
        let r = self.transfer_items(
            "popm",
            None,
            &[max.to_string().as_bytes()],
            &Deadline::after(timeout),
            None,
        )?;
        if r.items.is_empty() || r.items.len() > max {
            return Err(self.inner().unexpected("popm count", &r));
        }
        (0..r.items.len())
            .map(|k| self.decode_item(r.bytes(k)))
            .collect()
    }

    fn decode_item(&self, item: Vec<u8>) -> Result<Value> {
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
