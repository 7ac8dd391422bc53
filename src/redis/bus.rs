//! The bus on Redis: a stream whose entry ids are `0-<seq>` (messages numbered 1, 2,
//! 3, ... in the order the `BUS` script published them: one total order for every
//! subscriber), trimmed exactly to the last `capacity` messages. The meta hash holds the
//! last sequence number given (`seq`) and, once shut down, `closed`.
//!
//! Publishing is one script (closed check, `HINCRBY seq`, `XADD ... MAXLEN cap 0-<seq>`)
//! and never waits for subscribers. A subscription is a private cursor (the next
//! sequence number it wants); it reads the stream from there, so a subscriber that fell
//! more than `capacity` behind gets the oldest message retained and sees the gap in the
//! sequence numbers. With nothing to read it blocks with `XREAD BLOCK` from its cursor
//! (in slices) on the stream itself, and takes the messages that reply brings.
//!
//! Shutdown appends an end marker with id [`END_ID`], after every message: a subscriber
//! reads what was published before, then the marker, and answers `Closed` from then on;
//! a blocked subscriber wakes on it. (No message follows it: publishing checks `closed`.)
//!
//! Topics: a message emitted with a topic carries it in the field `k` of its entry (plain
//! messages have none). A subscription filtering by a prefix reads every entry after its
//! cursor and keeps the matching ones, in the library: the server cannot filter a
//! blocked `XREAD`, so the subscriber's connection is woken by every message, but the
//! call (and the thread in it) returns only for matching ones.
//!
//! Keys (beside the table in `scripts`): `E o:<id>:s` (stream; fields `t` type digit, `v`
//! value bytes, `k` topic if any; the end marker has the field `closed`).

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::redis::element::{decode, encode};
use crate::redis::scripts::with_prologue;
use crate::redis::Unanswered;
use crate::redis::{Inner, Obj, Region, BLOCK_SLICE};
use crate::semantics::deadline::Deadline;
use crate::semantics::names::check_object_name;
use crate::semantics::open::{KindWords, KIND_BUS};
use crate::semantics::options::{Start, FLAG_EXCLUSIVE};
use crate::semantics::topics::{check_topic, topic_from_bytes, topic_matches};
use crate::semantics::value::{Value, ValueRef};

const BUS_WORDS: KindWords = KindWords {
    code: KIND_BUS,
    name: "bus",
    article: "a",
    shape: "capacity",
    items: "messages",
};

/// The id of the end marker shutdown appends: above every message's `0-<seq>`.
const END_ID: &str = "1-0";

/// Messages a subscriber fetches per request (it delivers them one by one).
const BATCH: usize = 32;

/// Every operation of buses. ARGV 5-8: op (`publish`, `publishm`, `read`, `shutdown`,
/// `state`), object prefix (`o:<id>:`), then for `publish` the type digit, the value
/// bytes and the topic (`''`: none), for `publishm` the count n and n pairs of type digit
/// and value bytes (one `HINCRBY` of n, then n `XADD`s: consecutive ids), for `read` the
/// first sequence number wanted and how many. Replies `{'ok', seq}` (publish; publishm:
/// the first one's), `{'ok', id, t, v, k, id, t, v, k, ...}` (read: the entries
/// from that sequence
/// number on, the end marker included), `{'wait'}` (read: nothing there yet),
/// `{'ok', last seq, closed}` (state), `{'ok'}` (shutdown), `{'closed'}` (publish), or
/// `{'removed'}` (its meta hash is gone: `remove_object` removed it).
const BUS: &str = r#"
local OP, OBJ = ARGV[5], ARGV[6]
local mk, sk = E .. OBJ .. 'm', E .. OBJ .. 's'
local m = redis.call('HMGET', mk, 'shape', 'closed', 'seq')
if not m[1] then return {'removed'} end
local closed = m[2] == '1'
if OP == 'publish' then
  if closed then return {'closed'} end
  local seq = redis.call('HINCRBY', mk, 'seq', 1)
  if ARGV[9] == '' then
    redis.call('XADD', sk, 'MAXLEN', m[1], '0-' .. seq, 't', ARGV[7], 'v', ARGV[8])
  else
    redis.call('XADD', sk, 'MAXLEN', m[1], '0-' .. seq, 't', ARGV[7], 'v', ARGV[8], 'k', ARGV[9])
  end
  return done({'ok', seq})
end
if OP == 'publishm' then
  if closed then return {'closed'} end
  local n = tonumber(ARGV[7])
  local last = redis.call('HINCRBY', mk, 'seq', n)
  local first = last - n + 1
  for k = 0, n - 1 do
    redis.call('XADD', sk, 'MAXLEN', m[1], '0-' .. (first + k), 't', ARGV[8 + 2 * k], 'v', ARGV[9 + 2 * k])
  end
  return done({'ok', first})
end
if OP == 'read' then
  local r = redis.call('XRANGE', sk, '0-' .. ARGV[7], '+', 'COUNT', ARGV[8])
  if #r == 0 then return {'wait'} end
  local out = {'ok'}
  for _, e in ipairs(r) do
    local f = e[2]
    out[#out + 1] = e[1]
    out[#out + 1] = f[2] or ''
    out[#out + 1] = f[4] or ''
    out[#out + 1] = f[6] or ''
  end
  return out
end
if OP == 'shutdown' then
  if not closed then
    redis.call('HSET', mk, 'closed', 1)
    redis.call('XADD', sk, '1-0', 'closed', '1')
  end
  return done({'ok'})
end
if OP == 'state' then
  local c = 0
  if closed then c = 1 end
  return {'ok', m[3] or '0', c}
end
return {'invalid', 'unknown bus operation ' .. OP}
"#;

fn script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| with_prologue(BUS))
}

/// A broadcast bus on a remote region.
#[derive(Clone)]
pub struct Bus {
    region: Region,
    /// The object (`o:<id>:`) and its name.
    obj: Obj,
    capacity: u64,
    unanswered: Arc<Unanswered>,
}

/// A stream entry as read: its id, type digit, value bytes and topic (empty: none).
type Entry = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

/// A message fetched for delivery: sequence number, type digit, value bytes, topic.
type Fetched = (u64, Vec<u8>, Vec<u8>, Vec<u8>);

/// One subscriber's cursor over a remote bus.
pub struct Subscription {
    bus: Bus,
    /// The sequence number of the message wanted next.
    next: u64,
    /// Messages fetched and not yet delivered (matching ones only): sequence number,
    /// type digit, bytes, topic.
    ready: VecDeque<Fetched>,
    /// The topic prefix it filters by (empty: every message).
    prefix: String,
    /// The end marker was read: after `ready`, every call answers `Closed`.
    ended: bool,
}

impl Bus {
    pub(crate) fn open(region: &Region, name: &str, capacity: u64, flags: u32) -> Result<Bus> {
        check_object_name(name)?;
        if flags & !FLAG_EXCLUSIVE != 0 {
            return Err(Error::invalid(format!("unknown bus flags {flags:#x}")));
        }
        let found =
            region
                .inner
                .open_object(name, &BUS_WORDS, capacity, 0, flags & FLAG_EXCLUSIVE != 0)?;
        if found.shape == 0 {
            return Err(Error::corrupt(format!(
                "bus '{name}' has capacity 0 on the server"
            )));
        }
        Ok(Bus {
            region: region.clone(),
            obj: Obj::new(&region.inner, &found, name, "bus"),
            capacity: found.shape,
            unanswered: Arc::default(),
        })
    }

    fn inner(&self) -> &Inner {
        &self.region.inner
    }

    fn stream(&self) -> String {
        let i = self.inner();
        format!("{}{}:{}s", i.prefix, i.epoch, self.obj.key)
    }

    /// The last sequence number given (0 on a new bus) and whether it was shut down.
    fn state(&self) -> Result<(u64, bool)> {
        let i = self.inner();
        let r = i.call_obj(
            &self.obj,
            script(),
            &[b"state", self.obj.key.as_bytes()],
            None,
            false,
        )?;
        match r.status.as_str() {
            "ok" => Ok((r.int(0), r.int(1) == 1)),
            other => Err(i.unexpected(other, &r)),
        }
    }

    pub fn name(&self) -> &str {
        &self.obj.name
    }

    /// Number of messages retained.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Publishes `v` to every subscriber; returns its sequence number. Never waits for
    /// subscribers. `Closed` once the bus is shut down.
    pub fn publish(&self, v: ValueRef<'_>) -> Result<u64> {
        self.emit("", v)
    }

    /// Publishes `v` with the topic `topic` (`""`: a plain publish); returns its
    /// sequence number, in the one order of all messages of the bus.
    pub fn emit(&self, topic: &str, v: ValueRef<'_>) -> Result<u64> {
        check_topic(topic, "topic")?;
        v.validate()?;
        let (t, b) = encode(v);
        let i = self.inner();
        let what: [&[u8]; 4] = [b"publish", &t, &b, topic.as_bytes()];
        let opid = self.unanswered.op_id(i, &what);
        let r = self.unanswered.call(
            i,
            &self.obj,
            script(),
            &[
                b"publish",
                self.obj.key.as_bytes(),
                &t,
                &b,
                topic.as_bytes(),
            ],
            None,
            &opid,
            &what,
        )?;
        match r.status.as_str() {
            "ok" => Ok(r.int(0)),
            "closed" => Err(Error::Closed),
            other => Err(i.unexpected(other, &r)),
        }
    }

    /// Publishes `values` in order as consecutive messages with one script call (Redis
    /// runs a script alone: no other message comes between them, and blocked
    /// subscribers wake once); returns the first one's sequence number (0 for an empty
    /// batch, which sends nothing). Every value is checked before anything is sent.
    /// `Closed` once shut down (nothing published). The stream keeps the last
    /// `capacity` messages: a batch longer than that leaves only its tail.
    pub fn publish_many(&self, values: &[ValueRef<'_>]) -> Result<u64> {
        if values.is_empty() {
            return Ok(0);
        }
        values.iter().try_for_each(|v| v.validate())?;
        let encoded: Vec<(Vec<u8>, Vec<u8>)> = values.iter().map(|v| encode(*v)).collect();
        let count = values.len().to_string();
        let mut args: Vec<&[u8]> = Vec::with_capacity(3 + 2 * encoded.len());
        args.extend([
            b"publishm".as_slice(),
            self.obj.key.as_bytes(),
            count.as_bytes(),
        ]);
        for (t, b) in &encoded {
            args.push(t);
            args.push(b);
        }
        let i = self.inner();
        let mut what: Vec<&[u8]> = Vec::with_capacity(args.len());
        what.push(b"publishm");
        what.extend_from_slice(&args[2..]);
        let opid = self.unanswered.op_id(i, &what);
        let r = self
            .unanswered
            .call(i, &self.obj, script(), &args, None, &opid, &what)?;
        match r.status.as_str() {
            "ok" => Ok(r.int(0)),
            "closed" => Err(Error::Closed),
            other => Err(i.unexpected(other, &r)),
        }
    }

    /// Ends the bus for every process: publishing fails with `Closed` from now on;
    /// subscribers receive what was published before, then `Closed`.
    pub fn shutdown(&self) -> Result<()> {
        let i = self.inner();
        let r = i.call_obj(
            &self.obj,
            script(),
            &[b"shutdown", self.obj.key.as_bytes()],
            None,
            true,
        )?;
        match r.status.as_str() {
            "ok" => Ok(()),
            other => Err(i.unexpected(other, &r)),
        }
    }

    pub fn is_shutdown(&self) -> Result<bool> {
        Ok(self.state()?.1)
    }

    /// The sequence number the next message will get (1 on a new bus).
    pub fn next_seq(&self) -> Result<u64> {
        Ok(self.state()?.0 + 1)
    }

    /// A private cursor, starting with the next message published ([`Start::Now`]) or
    /// the oldest one retained ([`Start::Oldest`]). Nothing is registered on the server.
    pub fn subscribe(&self, from: Start) -> Result<Subscription> {
        self.subscribe_topic(from, "")
    }

    /// [`Bus::subscribe`] receiving only the messages whose topic starts with `prefix`
    /// (filtered in this library: see the module doc).
    pub fn subscribe_topic(&self, from: Start, prefix: &str) -> Result<Subscription> {
        check_topic(prefix, "topic prefix")?;
        let next_seq = self.state()?.0 + 1;
        let next = match from {
            Start::Now => next_seq,
            Start::Oldest => next_seq.saturating_sub(self.capacity).max(1),
        };
        Ok(Subscription {
            bus: self.clone(),
            next,
            ready: VecDeque::new(),
            prefix: prefix.to_owned(),
            ended: false,
        })
    }
}

impl Subscription {
    /// The next message and its sequence number, waiting while there is none. A
    /// sequence number more than one above the previous one means the subscriber fell
    /// more than the capacity behind. `Closed` once the bus is shut down and every
    /// message published before was received. `Removed` once the bus (or its region) was
    /// removed, and a blocked call wakes with it; but the messages this subscription
    /// fetched before the removal and has not handed out yet (at most [`BATCH`], all
    /// published before it) are handed out first, as they are without asking the server.
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<(Value, u64)> {
        self.next_event(timeout).map(|(_, v, n)| (v, n))
    }

    /// The next message with its topic (`""` for a plain one) and sequence number.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<(String, Value, u64)> {
        let d = Deadline::after(timeout);
        loop {
            if let Some((seq, t, v, k)) = self.ready.pop_front() {
                let topic = topic_from_bytes(&k, "topic")
                    .map_err(|_| {
                        Error::corrupt(format!(
                            "bus '{}', message {seq}: invalid topic",
                            self.bus.obj.name
                        ))
                    })?
                    .to_owned();
                let t = String::from_utf8_lossy(&t).into_owned();
                let v = decode(&t, v).map_err(|e| match e {
                    Error::Corrupt(msg) => {
                        Error::corrupt(format!("bus '{}', message {seq}: {msg}", self.bus.obj.name))
                    }
                    e => e,
                })?;
                return Ok((topic, v, seq));
            }
            if self.ended {
                return Err(Error::Closed);
            }
            let bus = &self.bus;
            let i = bus.inner();
            let r = i.call_obj(
                &bus.obj,
                script(),
                &[
                    b"read",
                    bus.obj.key.as_bytes(),
                    self.next.to_string().as_bytes(),
                    BATCH.to_string().as_bytes(),
                ],
                Some(&d),
                false,
            )?;
            match r.status.as_str() {
                "ok" => {
                    let entries = r
                        .items
                        .chunks_exact(4)
                        .map(|c| (bulk(&c[0]), bulk(&c[1]), bulk(&c[2]), bulk(&c[3])))
                        .collect();
                    self.take(entries)?;
                }
                "wait" => {
                    let entries = self.block(&d)?;
                    self.take(entries)?;
                }
                other => return Err(i.unexpected(other, &r)),
            }
        }
    }

    /// Queues the entries read (in id order) for delivery and moves the cursor past them.
    fn take(&mut self, entries: Vec<Entry>) -> Result<()> {
        for (id, t, v, k) in entries {
            if id == END_ID.as_bytes() {
                self.ended = true;
                break;
            }
            let seq = std::str::from_utf8(&id)
                .ok()
                .and_then(|id| id.strip_prefix("0-"))
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|&n| n >= self.next)
                .ok_or_else(|| {
                    Error::corrupt(format!(
                        "bus '{}' holds an entry with id {} where message {} or later belongs",
                        self.bus.obj.name,
                        String::from_utf8_lossy(&id),
                        self.next
                    ))
                })?;
            if topic_matches(&k, self.prefix.as_bytes()) {
                self.ready.push_back((seq, t, v, k));
            }
            self.next = seq + 1;
        }
        Ok(())
    }

    /// Blocks on the stream (one slice of at most `BLOCK_SLICE`, never past `d`) until
    /// an entry at or after the cursor is there, and returns what arrived (nothing when
    /// the slice ended first). `Err(Timeout)` when `d` passed before blocking.
    fn block(&self, d: &Deadline) -> Result<Vec<Entry>> {
        let i = self.bus.inner();
        let left = d.remaining()?;
        let slice = left.map_or(BLOCK_SLICE, |l| l.min(BLOCK_SLICE));
        let ms = (slice.as_millis() as u64).max(1);
        let deadline = Instant::now() + slice + i.remote.timeout.min(Duration::from_secs(2));
        let stream = self.bus.stream();
        let after = format!("0-{}", self.next - 1);
        // The region's `gone` stream too, and the bus's: a removal of either wakes the
        // subscriber, whose next script call then reports it.
        let gone = i.gone_key();
        let v: redis::Value = i.server.run(deadline, slice, false, |c| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(ms)
                .arg("STREAMS")
                .arg(&stream)
                .arg(&gone)
                .arg(&self.bus.obj.gone)
                .arg(&after)
                .arg("0-0")
                .arg("0-0")
                .query(c)
        })?;
        Ok(xread_entries(v, &stream))
    }
}

fn bulk(v: &redis::Value) -> Vec<u8> {
    match v {
        redis::Value::BulkString(b) => b.clone(),
        redis::Value::SimpleString(s) => s.clone().into_bytes(),
        redis::Value::Int(n) => n.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

/// The entries of the stream `key` in an `XREAD` reply (RESP2: nil, or
/// `[[stream, [[id, [field, value, ...]], ...]], ...]`), as (id, `t`, `v`).
fn xread_entries(v: redis::Value, key: &str) -> Vec<Entry> {
    let redis::Value::Array(streams) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in streams {
        let redis::Value::Array(mut s) = s else {
            continue;
        };
        let Some(redis::Value::Array(entries)) = s.pop() else {
            continue;
        };
        if s.first().map(bulk).as_deref() != Some(key.as_bytes()) {
            continue;
        }
        for e in entries {
            let redis::Value::Array(e) = e else { continue };
            let (Some(id), Some(redis::Value::Array(fields))) = (e.first(), e.get(1)) else {
                continue;
            };
            let mut t = Vec::new();
            let mut val = Vec::new();
            let mut topic = Vec::new();
            for pair in fields.chunks(2) {
                if let [name, value] = pair {
                    match bulk(name).as_slice() {
                        b"t" => t = bulk(value),
                        b"v" => val = bulk(value),
                        b"k" => topic = bulk(value),
                        _ => {}
                    }
                }
            }
            out.push((bulk(id), t, val, topic));
        }
    }
    out
}
