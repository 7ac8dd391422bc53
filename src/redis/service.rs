//! Services on Redis (what they mean: `crate::semantics::service`).
//!
//! Each request is a hash `E o:<id>:r:<n>` (`n` from the meta hash's `seq` counter,
//! never reused, so it is also the request id: a stale id never names another
//! request): `c` the caller's attachment, `st` its state (`p` pending, `t` taken, `a`
//! abandoned by its caller, `d` replied, `e` replied with an error), `s` the server's
//! attachment once taken, `v` the request and `x` the response (each as a type digit
//! followed by its bytes). Beside it: `E o:<id>:rq` (list: pending request numbers,
//! oldest first), `E o:<id>:all` (set: every request not yet collected, the count the
//! capacity limits), and the wake streams `ws` (a request was placed: servers block on
//! it), `wf` (room was made: callers of a full service block on it) and `w:<n>` (the
//! request's caller blocks on it for the reply; it expires a minute after the reply).
//!
//! Every step is one call of the `SERVICE` script, which stores its result under the
//! call's operation id (a retry after a lost reply gets the same answer: a request is
//! placed once, taken by one server, and its reply delivered once). Dead processes are
//! found by their leases: a caller waiting on a taken request blocks in slices ending
//! just after the server's lease would expire, then the script sees the lease gone,
//! deletes the request and answers `dead` (OWNER_DEAD): within `lease_ms` plus a margin
//! of the server's death. Requests of dead callers are dropped when a server would take
//! one, when a server replies to one, and when a call finds the service full.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::redis::element::{decode, encode};
use crate::redis::locks::block_slice;
use crate::redis::scripts::with_prologue;
use crate::redis::{Inner, Obj, Region, Reply as ScriptReply};
use crate::semantics::deadline::{Deadline, Interrupt};
use crate::semantics::names::check_object_name;
use crate::semantics::open::{KindWords, KIND_SERVICE};
use crate::semantics::options::FLAG_EXCLUSIVE;
use crate::semantics::service::{handler_error, server_died, Reply, RequestId};
use crate::semantics::value::{Value, ValueRef};

/// One piece of an interruptible wait: `interrupt.every`, or less when `d` ends sooner
/// (`Err(Timeout)` once it has passed).
fn piece_of(d: &Deadline, interrupt: &Interrupt<'_>) -> Result<Duration> {
    Ok(d.remaining()?
        .map_or(interrupt.every, |l| l.min(interrupt.every)))
}

const SERVICE_WORDS: KindWords = KindWords {
    code: KIND_SERVICE,
    name: "service",
    article: "a",
    shape: "capacity",
    items: "pending requests",
};

/// Every operation of a service. ARGV 5-8: op, object prefix (`o:<id>:`), the request
/// number (`await`, `cancel`, `reply`), the item (`call`: the request; `reply`: `d` or
/// `e` followed by the response).
///
/// * `call`: `{'ok', n}` (placed), `{'wait', id}` (full: block on `wf` from `id`).
/// * `next`: `{'ok', n, item}` (taken), `{'wait', id}` (none: block on `ws`).
/// * `await`: `{'d', item}` / `{'e', item}` (the reply, collected: the request is gone),
///   `{'wait', id, server lease ms}` (block on `w:<n>`; 0 while pending), `{'dead'}`
///   (its server died; the request is gone), `{'gone'}` (no such request).
/// * `cancel`: `{'ok'}` (withdrawn: deleted when pending, marked abandoned when taken),
///   or a reply as `await` gives it (it came in time), `{'gone'}`.
/// * `reply`: `{'ok'}` (delivered, or discarded: the caller gave up or died),
///   `{'invalid', why}`.
/// * `pending`: `{'ok', count}`.
const SERVICE: &str = r#"
local OP, OBJ, N, ITEM = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local mk = E .. OBJ .. 'm'
local cap = tonumber(redis.call('HGET', mk, 'shape'))
if not cap then return {'removed'} end
local rq, all = E .. OBJ .. 'rq', E .. OBJ .. 'all'
local ws, wf = E .. OBJ .. 'ws', E .. OBJ .. 'wf'
local function rk(n) return E .. OBJ .. 'r:' .. n end
local function wk(n) return E .. OBJ .. 'w:' .. n end
-- Deletes request n (and its place in the pending list), making room.
local function drop(n, st)
  if st == 'p' then redis.call('LREM', rq, 1, n) end
  redis.call('DEL', rk(n), wk(n))
  redis.call('SREM', all, n)
  wake(wf)
end
if OP == 'pending' then return {'ok', redis.call('SCARD', all)} end
if OP == 'call' then
  if redis.call('SCARD', all) >= cap then
    -- Full: drop what dead processes left, then look again.
    for _, n in ipairs(redis.call('SMEMBERS', all)) do
      local r = redis.call('HMGET', rk(n), 'c', 'st', 's')
      if not r[1] then
        redis.call('SREM', all, n)
      elseif not alive(r[1]) or ((r[2] == 'a') and not alive(r[3])) then
        drop(n, r[2])
      end
    end
    if redis.call('SCARD', all) >= cap then return {'wait', last_id(wf)} end
  end
  local n = redis.call('HINCRBY', mk, 'seq', 1)
  redis.call('HSET', rk(n), 'c', CID, 'st', 'p', 'v', ITEM)
  redis.call('RPUSH', rq, n)
  redis.call('SADD', all, n)
  wake(ws)
  return done({'ok', n})
end
if OP == 'next' then
  while true do
    local n = redis.call('LPOP', rq)
    if not n then return {'wait', last_id(ws)} end
    local r = redis.call('HMGET', rk(n), 'c', 'st', 'v')
    if r[1] and r[2] == 'p' then
      if alive(r[1]) then
        redis.call('HSET', rk(n), 'st', 't', 's', CID)
        return done({'ok', n, r[3]})
      end
      drop(n, 't')
    end
  end
end
local r = redis.call('HMGET', rk(N), 'c', 'st', 's', 'x')
local caller, st, server, x = r[1], r[2], r[3], r[4]
if OP == 'reply' then
  if not caller then return done({'invalid', 'is not pending (already answered, or its caller gave up)'}) end
  if st == 'd' or st == 'e' then return done({'invalid', 'was already replied to'}) end
  if st == 'p' then return done({'invalid', 'was not taken with next'}) end
  if server ~= CID then return done({'invalid', 'was taken by another server'}) end
  if st == 'a' or not alive(caller) then
    drop(N, st)
    return done({'ok'})
  end
  redis.call('HSET', rk(N), 'st', string.sub(ITEM, 1, 1), 'x', string.sub(ITEM, 2))
  local w = wk(N)
  wake(w)
  redis.call('PEXPIRE', w, 60000)
  return done({'ok'})
end
if not caller or caller ~= CID then return done({'gone'}) end
if st == 'd' or st == 'e' then
  drop(N, st)
  return done({st, x})
end
if OP == 'await' then
  if st == 't' then
    if not alive(server) then
      drop(N, st)
      return done({'dead'})
    end
    local ttl = 0
    if server ~= CID then ttl = math.max(redis.call('PTTL', P .. 'lease:' .. server), 0) end
    return {'wait', last_id(wk(N)), ttl}
  end
  return {'wait', last_id(wk(N)), 0}
end
if OP == 'cancel' then
  if st == 'p' then
    drop(N, st)
  elseif st == 't' then
    redis.call('HSET', rk(N), 'st', 'a')
  end
  return done({'ok'})
end
return {'invalid', 'unknown service operation ' .. OP}
"#;

fn script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| with_prologue(SERVICE))
}

/// A service on a remote region.
#[derive(Clone)]
pub struct Service {
    region: Region,
    obj: Obj,
    capacity: u64,
}

/// A value as one item: its type digit, then its bytes.
fn item(v: ValueRef<'_>) -> Vec<u8> {
    let (mut item, bytes) = encode(v);
    item.extend_from_slice(&bytes);
    item
}

fn decode_item(item: Vec<u8>, name: &str) -> Result<Value> {
    let Some(t) = item.first().map(|&t| char::from(t).to_string()) else {
        return Err(Error::corrupt(format!(
            "service '{name}' held an empty value"
        )));
    };
    decode(&t, item[1..].to_vec())
}

impl Service {
    pub(crate) fn open(region: &Region, name: &str, capacity: u64, flags: u32) -> Result<Service> {
        check_object_name(name)?;
        if flags & !FLAG_EXCLUSIVE != 0 {
            return Err(Error::invalid(format!("unknown service flags {flags:#x}")));
        }
        if capacity > u32::MAX as u64 {
            return Err(Error::invalid(format!(
                "service capacity {capacity} is above the limit {}",
                u32::MAX
            )));
        }
        let found = region.inner.open_object(
            name,
            &SERVICE_WORDS,
            capacity,
            0,
            flags & FLAG_EXCLUSIVE != 0,
        )?;
        if found.shape == 0 {
            return Err(Error::corrupt(format!(
                "service '{name}' has capacity 0 on the server"
            )));
        }
        Ok(Service {
            region: region.clone(),
            obj: Obj::new(&region.inner, &found, name, "service"),
            capacity: found.shape,
        })
    }

    fn inner(&self) -> &Inner {
        &self.region.inner
    }

    fn stream(&self, which: &str) -> String {
        let i = self.inner();
        format!("{}{}:{}{which}", i.prefix, i.epoch, self.obj.key)
    }

    fn op(&self, op: &str, n: &str, item: &[u8], d: Option<&Deadline>) -> Result<ScriptReply> {
        let changes = op != "pending";
        self.inner().call_obj(
            &self.obj,
            script(),
            &[op.as_bytes(), self.obj.key.as_bytes(), n.as_bytes(), item],
            d,
            changes,
        )
    }

    pub fn name(&self) -> &str {
        &self.obj.name
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Requests placed and not yet collected by their callers.
    pub fn pending(&self) -> Result<u64> {
        let r = self.op("pending", "", b"", None)?;
        match r.status.as_str() {
            "ok" => Ok(r.int(0)),
            other => Err(self.inner().unexpected(other, &r)),
        }
    }

    pub fn call(&self, request: ValueRef<'_>, timeout: Option<Duration>) -> Result<Value> {
        self.call_until(request, &Deadline::after(timeout), None)
    }

    /// Places the request (waiting for room), then waits for its reply; a timeout or
    /// the interrupt's error withdraws it.
    pub fn call_until(
        &self,
        request: ValueRef<'_>,
        d: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> Result<Value> {
        request.validate()?;
        let i = self.inner();
        let v = item(request);
        let n = loop {
            let r = self.op("call", "", &v, Some(d))?;
            match r.status.as_str() {
                "ok" => break r.text(0),
                "wait" => match interrupt {
                    None => block_slice(i, &self.obj, &self.stream("wf"), &r.text(0), 0, d)?,
                    Some(int) => {
                        let piece = Deadline::after(Some(piece_of(d, int)?));
                        block_slice(i, &self.obj, &self.stream("wf"), &r.text(0), 0, &piece)?;
                        d.remaining()?;
                        (int.check)()?;
                    }
                },
                other => return Err(i.unexpected(other, &r)),
            }
        };
        match self.await_reply(&n, d, interrupt) {
            // No reply in time: withdraw, unless it came meanwhile.
            Err(Error::Timeout) => self.withdraw(&n, Error::Timeout),
            Err(e) if !matches!(e, Error::Service(_) | Error::OwnerDead) => {
                // The interrupt's error, a removal, an unreachable server: withdraw if
                // possible (a reply that came is dropped), then report it.
                let _ = self.withdraw(&n, Error::Timeout);
                Err(e)
            }
            other => other,
        }
    }

    fn outcome(&self, r: &ScriptReply) -> Option<Result<Value>> {
        match r.status.as_str() {
            "d" => Some(decode_item(r.bytes(0), &self.obj.name)),
            "e" => Some(match decode_item(r.bytes(0), &self.obj.name) {
                Ok(Value::String(m)) => Err(handler_error(m)),
                Ok(_) => Err(handler_error("the handler failed".into())),
                Err(e) => Err(e),
            }),
            "dead" => Some(Err(server_died())),
            "gone" => Some(Err(Error::Internal(format!(
                "service '{}': a waiting call's request vanished from the server",
                self.obj.name
            )))),
            _ => None,
        }
    }

    fn await_reply(
        &self,
        n: &str,
        d: &Deadline,
        interrupt: Option<&Interrupt<'_>>,
    ) -> Result<Value> {
        let i = self.inner();
        let stream = self.stream(&format!("w:{n}"));
        loop {
            let r = self.op("await", n, b"", Some(d))?;
            if let Some(out) = self.outcome(&r) {
                return out;
            }
            if r.status != "wait" {
                return Err(i.unexpected(&r.status, &r));
            }
            match interrupt {
                None => block_slice(i, &self.obj, &stream, &r.text(0), r.int(1), d)?,
                Some(int) => {
                    block_slice(
                        i,
                        &self.obj,
                        &stream,
                        &r.text(0),
                        r.int(1),
                        &Deadline::after(Some(piece_of(d, int)?)),
                    )?;
                    d.remaining()?;
                    (int.check)()?;
                }
            }
        }
    }

    /// Withdraws request `n` after `why`; returns its reply instead when one came.
    fn withdraw(&self, n: &str, why: Error) -> Result<Value> {
        let r = match self.op("cancel", n, b"", None) {
            Ok(r) => r,
            Err(_) => return Err(why),
        };
        match self.outcome(&r) {
            Some(out) => out,
            None => Err(why),
        }
    }

    pub fn next(&self, timeout: Option<Duration>) -> Result<(RequestId, Value)> {
        let d = Deadline::after(timeout);
        let i = self.inner();
        loop {
            let r = self.op("next", "", b"", Some(&d))?;
            match r.status.as_str() {
                "ok" => {
                    let n: RequestId = r.text(0).parse().map_err(|_| {
                        Error::corrupt(format!("service '{}': bad request number", self.obj.name))
                    })?;
                    return Ok((n, decode_item(r.bytes(1), &self.obj.name)?));
                }
                "wait" => i.block(&self.stream("ws"), &r.text(0), Some(&self.obj), &d)?,
                other => return Err(i.unexpected(other, &r)),
            }
        }
    }

    pub fn reply(&self, id: RequestId, response: ValueRef<'_>) -> Result<()> {
        self.reply_with(id, Reply::Value(response))
    }

    pub fn reply_error(&self, id: RequestId, message: &str) -> Result<()> {
        self.reply_with(id, Reply::Error(message))
    }

    fn reply_with(&self, id: RequestId, reply: Reply<'_>) -> Result<()> {
        let (v, is_error) = reply.stored()?;
        let mut x = vec![if is_error { b'e' } else { b'd' }];
        x.extend_from_slice(&item(v));
        let r = self.op("reply", &id.to_string(), &x, None)?;
        match r.status.as_str() {
            "ok" => Ok(()),
            "invalid" => Err(Error::invalid(format!(
                "request {id:#x} of service '{}' {}",
                self.obj.name,
                r.text(0)
            ))),
            other => Err(self.inner().unexpected(other, &r)),
        }
    }
}
