//! Typed arrays on Redis (what they mean: `crate::semantics::tarray`).
//!
//! The elements are one Redis string `E o:<id>:d` (little-endian, `length * size`
//! bytes, zero-filled at creation; calls copy ranges with GETRANGE / SETRANGE). The
//! block states are the hash `E o:<id>:b` (field = block number, `f` when FULL, absent
//! when EMPTY); the dtype and block length are fields of the meta hash. There is no
//! pointer into a remote region, so no process ever holds a block between two calls:
//! `read_block` (wait FULL, copy out, leave EMPTY) and `write_block` (wait EMPTY, copy
//! in, leave FULL) are each one atomic script, and a process that dies mid-call leaves
//! the block as it was before the call or as after it, never between. So remote blocks
//! need no leases; `begin_*`, `end_*` and `data` are `Unsupported` (the message names
//! the copying calls).
//!
//! Waiting: every block change appends to the block's wake stream `wb:<block>`; a
//! waiter blocks on it (XREAD BLOCK, from the id its check returned). Element atomics:
//! `load` reads the element's bytes; `store` writes them; `cas` is one script
//! comparing and setting the bytes; `faa` is a `cas` loop (Lua has no exact 64-bit
//! integers). `wait` checks the element and registers the waiter in `ww:<index>` (a
//! sorted set scored by expiry, so a dead waiter is forgotten), then blocks on
//! `we:<index>`; `notify` appends to that stream (every waiter wakes and checks its
//! value again) and reports at most `count` of the registered waiters as woken.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::redis::scripts::with_prologue;
use crate::redis::{Inner, Obj, Region};
use crate::semantics::deadline::Deadline;
use crate::semantics::open::{KindWords, KIND_TARRAY};
use crate::semantics::options::{FLAG_EXCLUSIVE, FLAG_FULL};
use crate::semantics::tarray::{no_pointer_remotely, BlockState, Dtype, Shape};

const TARRAY_WORDS: KindWords = KindWords {
    code: KIND_TARRAY,
    name: "typed array",
    article: "a",
    shape: "length",
    items: "elements",
};

/// Every operation of a typed array. ARGV 5-6: op, object prefix (`o:<id>:`); then:
///
/// * `init` dtype, block_len, bytes, blocks, full: sets the shape once (the creator;
///   a second call changes nothing) → `{'ok', dtype, block_len}`.
/// * `shape` → `{'ok', dtype or '', block_len or ''}`.
/// * `read` offset, len → `{'ok', bytes}`; `write` offset, bytes → `{'ok'}`.
/// * `rblock` block, offset, len → `{'ok', bytes}` (it was FULL: now EMPTY) or
///   `{'wait', id}`; `wblock` block, offset, bytes → `{'ok'}` or `{'wait', id}`.
/// * `state` block → `{'ok', 'f' or 'e'}`; `restore` block, `f`/`e` → `{'ok'}`.
/// * `cas` offset, expected bytes, new bytes → `{'ok', bytes before}`.
/// * `wait` index, offset, expected bytes, waiter id, ttl ms → `{'ok'}` (differs) or
///   `{'wait', id}` (registered; block on `we:<index>`); `leave` index, waiter id.
/// * `notify` index, count → `{'ok', woken}`.
const TARRAY: &str = r#"
local OP, OBJ = ARGV[5], ARGV[6]
local mk = E .. OBJ .. 'm'
if redis.call('EXISTS', mk) == 0 then return {'removed'} end
local dk, bk = E .. OBJ .. 'd', E .. OBJ .. 'b'
local function wb(b) return E .. OBJ .. 'wb:' .. b end
local function we(i) return E .. OBJ .. 'we:' .. i end
local function ww(i) return E .. OBJ .. 'ww:' .. i end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if OP == 'init' then
  if redis.call('HSETNX', mk, 'dtype', ARGV[7]) == 1 then
    redis.call('HSET', mk, 'block_len', ARGV[8])
    redis.call('SETRANGE', dk, tonumber(ARGV[9]) - 1, '\0')
    if ARGV[11] == '1' then
      for b = 0, tonumber(ARGV[10]) - 1 do redis.call('HSET', bk, b, 'f') end
    end
  end
  return done({'ok', redis.call('HGET', mk, 'dtype'), redis.call('HGET', mk, 'block_len')})
end
if OP == 'shape' then
  return {'ok', redis.call('HGET', mk, 'dtype') or '', redis.call('HGET', mk, 'block_len') or ''}
end
if OP == 'read' then
  local off = tonumber(ARGV[7])
  return {'ok', redis.call('GETRANGE', dk, off, off + tonumber(ARGV[8]) - 1)}
end
if OP == 'write' then
  redis.call('SETRANGE', dk, tonumber(ARGV[7]), ARGV[8])
  return done({'ok'})
end
if OP == 'state' then
  return {'ok', redis.call('HGET', bk, ARGV[7]) or 'e'}
end
if OP == 'restore' then
  if ARGV[8] == 'f' then redis.call('HSET', bk, ARGV[7], 'f') else redis.call('HDEL', bk, ARGV[7]) end
  wake(wb(ARGV[7]))
  return done({'ok'})
end
if OP == 'rblock' then
  local b = ARGV[7]
  if redis.call('HGET', bk, b) ~= 'f' then return {'wait', last_id(wb(b))} end
  local off = tonumber(ARGV[8])
  local data = redis.call('GETRANGE', dk, off, off + tonumber(ARGV[9]) - 1)
  redis.call('HDEL', bk, b)
  wake(wb(b))
  return done({'ok', data})
end
if OP == 'wblock' then
  local b = ARGV[7]
  if redis.call('HGET', bk, b) == 'f' then return {'wait', last_id(wb(b))} end
  redis.call('SETRANGE', dk, tonumber(ARGV[8]), ARGV[9])
  redis.call('HSET', bk, b, 'f')
  wake(wb(b))
  return done({'ok'})
end
if OP == 'cas' then
  local off = tonumber(ARGV[7])
  local cur = redis.call('GETRANGE', dk, off, off + #ARGV[8] - 1)
  if cur == ARGV[8] then redis.call('SETRANGE', dk, off, ARGV[9]) end
  return done({'ok', cur})
end
if OP == 'wait' then
  local i, off, want = ARGV[7], tonumber(ARGV[8]), ARGV[9]
  local cur = redis.call('GETRANGE', dk, off, off + #want - 1)
  if cur ~= want then return {'ok'} end
  redis.call('ZADD', ww(i), now_ms() + tonumber(ARGV[11]), ARGV[10])
  return {'wait', last_id(we(i))}
end
if OP == 'leave' then
  redis.call('ZREM', ww(ARGV[7]), ARGV[8])
  return {'ok'}
end
if OP == 'notify' then
  local i, count = ARGV[7], tonumber(ARGV[8])
  redis.call('ZREMRANGEBYSCORE', ww(i), '-inf', now_ms())
  local n = redis.call('ZCARD', ww(i))
  if count == 0 then return {'ok', 0} end
  if n > 0 then wake(we(i)) end
  return {'ok', math.min(n, count)}
end
return {'invalid', 'unknown typed array operation ' .. OP}
"#;

fn script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| with_prologue(TARRAY))
}

/// How long a waiter's registration outlives one blocking slice (a waiter that died
/// stops counting for `notify` after this).
const WAITER_TTL: Duration = Duration::from_secs(10);

/// The most bytes of elements a remote typed array holds (one Redis string).
const MAX_BYTES: u64 = 512 << 20;

/// A typed array on a remote region.
#[derive(Clone)]
pub struct TArray {
    region: Region,
    obj: Obj,
    shape: Shape,
}

impl TArray {
    pub(crate) fn open(
        region: &Region,
        name: &str,
        dtype: Option<Dtype>,
        length: u64,
        block_len: u64,
        flags: u32,
    ) -> Result<TArray> {
        let want = Shape::wanted(dtype, length, block_len, flags, name)?;
        if let Some(s) = want.filter(|s| s.bytes() > MAX_BYTES) {
            return Err(Error::NoSpace(format!(
                "a typed array of {} bytes does not fit in one Redis string (at most {MAX_BYTES} \
                 bytes, the server's default proto-max-bulk-len)",
                s.bytes()
            )));
        }
        let found = region.inner.open_object(
            name,
            &TARRAY_WORDS,
            length,
            0,
            flags & FLAG_EXCLUSIVE != 0,
        )?;
        let obj = Obj::new(&region.inner, &found, name, "typed array");
        let mut t = TArray {
            region: region.clone(),
            obj,
            shape: Shape {
                dtype: dtype.unwrap_or(Dtype::U8),
                length: found.shape,
                block_len: found.shape,
            },
        };
        // The shape beyond the length: set by the creator's `init` right after its
        // open (or by any creating opener, if the creator died in between).
        let mut tries = 0;
        let (d, b) = loop {
            let r = match want {
                Some(s) => t.op(
                    "init",
                    &[
                        (s.dtype as u32).to_string().as_bytes(),
                        s.block_len.to_string().as_bytes(),
                        s.bytes().to_string().as_bytes(),
                        s.blocks().to_string().as_bytes(),
                        if flags & FLAG_FULL != 0 { b"1" } else { b"0" },
                    ],
                    None,
                    true,
                )?,
                None => t.op("shape", &[], None, false)?,
            };
            if r.status != "ok" {
                return Err(t.inner().unexpected(&r.status, &r));
            }
            let (d, b) = (r.text(0), r.text(1));
            if !d.is_empty() {
                break (d, b);
            }
            tries += 1;
            if tries > 50 {
                return Err(Error::corrupt(format!(
                    "typed array '{name}' was never given its dtype (its creator died while \
                     creating it); remove it"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let found_shape = d
            .parse()
            .ok()
            .and_then(Dtype::from_u32)
            .zip(b.parse::<u64>().ok())
            .and_then(|(dt, bl)| Shape::new(dt, found.shape, bl).ok())
            .filter(|s| s.block_len != 0)
            .ok_or_else(|| Error::corrupt(format!("typed array '{name}' has a damaged shape")))?;
        Shape::check_found(name, (dtype, length, block_len), &found_shape)?;
        t.shape = found_shape;
        Ok(t)
    }

    fn inner(&self) -> &Inner {
        &self.region.inner
    }

    fn stream(&self, which: &str) -> String {
        let i = self.inner();
        format!("{}{}:{}{which}", i.prefix, i.epoch, self.obj.key)
    }

    fn op(
        &self,
        op: &str,
        args: &[&[u8]],
        d: Option<&Deadline>,
        changes: bool,
    ) -> Result<crate::redis::Reply> {
        let mut all: Vec<&[u8]> = vec![op.as_bytes(), self.obj.key.as_bytes()];
        all.extend_from_slice(args);
        self.inner().call_obj(&self.obj, script(), &all, d, changes)
    }

    fn ok(&self, r: crate::redis::Reply) -> Result<crate::redis::Reply> {
        if r.status == "ok" {
            Ok(r)
        } else {
            Err(self.inner().unexpected(&r.status, &r))
        }
    }

    pub fn name(&self) -> &str {
        &self.obj.name
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn data(&self) -> Result<(*mut u8, u64)> {
        Err(no_pointer_remotely(&self.obj.name))
    }

    pub fn begin_until(&self, _block: u64, _write: bool, _d: &Deadline) -> Result<(*mut u8, u64)> {
        Err(no_pointer_remotely(&self.obj.name))
    }

    pub fn end_write(&self, _block: u64) -> Result<()> {
        Err(no_pointer_remotely(&self.obj.name))
    }

    pub fn end_read(&self, _block: u64) -> Result<()> {
        Err(no_pointer_remotely(&self.obj.name))
    }

    pub fn block_state(&self, block: u64) -> Result<BlockState> {
        self.shape.block_range(block)?;
        let r = self.ok(self.op("state", &[block.to_string().as_bytes()], None, false)?)?;
        Ok(if r.text(0) == "f" {
            BlockState::Full
        } else {
            BlockState::Empty
        })
    }

    pub fn restore_block(&self, block: u64, full: bool) -> Result<()> {
        self.shape.block_range(block)?;
        let to: &[u8] = if full { b"f" } else { b"e" };
        self.ok(self.op("restore", &[block.to_string().as_bytes(), to], None, true)?)
            .map(drop)
    }

    fn byte_range(&self, first: u64, count: u64) -> Result<(u64, u64)> {
        self.shape.check_range(first, count)?;
        let size = self.shape.dtype.size();
        Ok((first * size, count * size))
    }

    pub fn read(&self, first: u64, out: &mut [u8]) -> Result<()> {
        let count = out.len() as u64 / self.shape.dtype.size();
        self.shape.check_buffer(count, out.len())?;
        let (off, len) = self.byte_range(first, count)?;
        if len == 0 {
            return Ok(());
        }
        let r = self.ok(self.op(
            "read",
            &[off.to_string().as_bytes(), len.to_string().as_bytes()],
            None,
            false,
        )?)?;
        self.fill(out, r.bytes(0))
    }

    fn fill(&self, out: &mut [u8], got: Vec<u8>) -> Result<()> {
        if got.len() != out.len() {
            return Err(Error::corrupt(format!(
                "typed array '{}': the server's data is {} bytes short",
                self.obj.name,
                out.len().saturating_sub(got.len())
            )));
        }
        out.copy_from_slice(&got);
        Ok(())
    }

    pub fn write(&self, first: u64, data: &[u8]) -> Result<()> {
        let count = data.len() as u64 / self.shape.dtype.size();
        self.shape.check_buffer(count, data.len())?;
        let (off, len) = self.byte_range(first, count)?;
        if len == 0 {
            return Ok(());
        }
        self.ok(self.op("write", &[off.to_string().as_bytes(), data], None, true)?)
            .map(drop)
    }

    /// One block copy (`rblock` / `wblock`), waiting on the block's stream.
    fn block_op(
        &self,
        op: &str,
        block: u64,
        timeout: Option<Duration>,
        data: &[u8],
        len: u64,
    ) -> Result<Vec<u8>> {
        let (first, count) = self.shape.block_range(block)?;
        self.shape.check_buffer(count, len as usize)?;
        let off = (first * self.shape.dtype.size()).to_string();
        let b = block.to_string();
        let n = len.to_string();
        let third: &[u8] = if op == "rblock" { n.as_bytes() } else { data };
        let d = Deadline::after(timeout);
        let stream = self.stream(&format!("wb:{block}"));
        loop {
            let r = self.op(op, &[b.as_bytes(), off.as_bytes(), third], Some(&d), true)?;
            match r.status.as_str() {
                "ok" => {
                    return Ok(if op == "rblock" {
                        r.bytes(0)
                    } else {
                        Vec::new()
                    })
                }
                "wait" => self
                    .inner()
                    .block(&stream, &r.text(0), Some(&self.obj), &d)?,
                other => return Err(self.inner().unexpected(other, &r)),
            }
        }
    }

    pub fn read_block(&self, block: u64, timeout: Option<Duration>, out: &mut [u8]) -> Result<()> {
        let got = self.block_op("rblock", block, timeout, &[], out.len() as u64)?;
        self.fill(out, got)
    }

    pub fn write_block(&self, block: u64, timeout: Option<Duration>, data: &[u8]) -> Result<()> {
        self.block_op("wblock", block, timeout, data, data.len() as u64)
            .map(drop)
    }

    // ---- element atomics ----

    /// The element's byte offset, after the dtype and index checks.
    fn atomic_off(&self, index: u64) -> Result<u64> {
        self.shape.dtype.check_atomic(&self.obj.name)?;
        self.shape.check_index(index)?;
        Ok(index * self.shape.dtype.size())
    }

    fn bytes_of(&self, bits: u64) -> Vec<u8> {
        bits.to_le_bytes()[..self.shape.dtype.size() as usize].to_vec()
    }

    fn bits_of(&self, b: &[u8]) -> Result<u64> {
        if b.len() as u64 != self.shape.dtype.size() {
            return Err(Error::corrupt(format!(
                "typed array '{}': the server's element is {} bytes",
                self.obj.name,
                b.len()
            )));
        }
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    }

    fn load_bits(&self, index: u64) -> Result<u64> {
        let off = self.atomic_off(index)?;
        let size = self.shape.dtype.size();
        let r = self.ok(self.op(
            "read",
            &[off.to_string().as_bytes(), size.to_string().as_bytes()],
            None,
            false,
        )?)?;
        self.bits_of(&r.bytes(0))
    }

    pub fn load(&self, index: u64) -> Result<i64> {
        Ok(self.shape.dtype.to_i64(self.load_bits(index)?))
    }

    pub fn store(&self, index: u64, value: i64) -> Result<()> {
        let bits = self.shape.dtype.check_value(value, "value")?;
        let off = self.atomic_off(index)?;
        self.ok(self.op(
            "write",
            &[off.to_string().as_bytes(), &self.bytes_of(bits)],
            None,
            true,
        )?)
        .map(drop)
    }

    /// One compare-and-set of the element's bits; the bits before.
    fn cas_bits(&self, index: u64, want: u64, new: u64) -> Result<u64> {
        let off = self.atomic_off(index)?;
        let r = self.ok(self.op(
            "cas",
            &[
                off.to_string().as_bytes(),
                &self.bytes_of(want),
                &self.bytes_of(new),
            ],
            None,
            true,
        )?)?;
        self.bits_of(&r.bytes(0))
    }

    pub fn faa(&self, index: u64, delta: i64) -> Result<i64> {
        let d = self.shape.dtype;
        let mut cur = self.load_bits(index)?;
        loop {
            let new = d.truncate(cur.wrapping_add(delta as u64));
            let before = self.cas_bits(index, cur, new)?;
            if before == cur {
                return Ok(d.to_i64(before));
            }
            cur = before;
        }
    }

    pub fn cas(&self, index: u64, expected: i64, desired: i64) -> Result<i64> {
        let d = self.shape.dtype;
        let want = d.check_value(expected, "expected value")?;
        let new = d.check_value(desired, "desired value")?;
        Ok(d.to_i64(self.cas_bits(index, want, new)?))
    }

    pub fn wait_until(&self, index: u64, expected: i64, d: &Deadline) -> Result<()> {
        let want = self.shape.dtype.check_value(expected, "expected value")?;
        let off = self.atomic_off(index)?;
        let i = self.inner();
        let who = format!("{}:{:?}", i.cid, std::thread::current().id());
        let idx = index.to_string();
        let ttl = (WAITER_TTL.as_millis() as u64).to_string();
        let stream = self.stream(&format!("we:{index}"));
        let result = loop {
            let r = self.op(
                "wait",
                &[
                    idx.as_bytes(),
                    off.to_string().as_bytes(),
                    &self.bytes_of(want),
                    who.as_bytes(),
                    ttl.as_bytes(),
                ],
                Some(d),
                false,
            );
            let r = match r {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            match r.status.as_str() {
                "ok" => break Ok(()),
                "wait" => {
                    if let Err(e) = i.block(&stream, &r.text(0), Some(&self.obj), d) {
                        break Err(e);
                    }
                }
                other => break Err(i.unexpected(other, &r)),
            }
        };
        let _ = self.op("leave", &[idx.as_bytes(), who.as_bytes()], None, false);
        result
    }

    pub fn notify(&self, index: u64, count: u32) -> Result<u32> {
        self.atomic_off(index)?;
        let r = self.ok(self.op(
            "notify",
            &[index.to_string().as_bytes(), count.to_string().as_bytes()],
            None,
            false,
        )?)?;
        Ok(r.int(0) as u32)
    }
}
