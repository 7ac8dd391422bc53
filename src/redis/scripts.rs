//! The Lua scripts: every state change of a remote region is one of these, run
//! atomically on the server.
//!
//! Every script starts the same way (ARGV 1-4): the region's key prefix, the epoch the
//! caller opened, the caller's attachment id and an operation id (`<thread>:<n>`, or
//! empty for a call that changes nothing; `!<thread>:<n>` when the request may have run
//! before, a retry after a lost reply). It returns `{'lost', why}` unless the
//! region's `meta` hash still holds that epoch: `removed` when a removal or RECREATE
//! retired it, `gone` when the server lost it (flushed, or restarted or failed over
//! without its data); and, when the operation id is the one the
//! thread's last mutation had (a retry after a lost reply), the result stored for it
//! instead of applying the operation again.
//!
//! Replies are arrays whose first element says what happened: `ok`, `wait` (the
//! condition does not hold; the second element is the id of the last entry of the wake
//! stream to block on with `XREAD`), `park` (a `read_fe` queued for the value: the list
//! to block on with `BLPOP`), `conflict`, `lost`, or an error word (`notfound`,
//! `nospace`, `invalid`, `closed`, ...).
//!
//! Key layout (`P` = `px:{REGION}:`; `E` = `P<epoch>:`, so a replaced region's keys are
//! never read again):
//!
//! | key | type | what |
//! |---|---|---|
//! | `P meta` | hash | `epoch`, `created_ns`, `ids` (object id counter) |
//! | `P lease:<attachment>` | string | exists while the attachment lives (PX lease) |
//! | `P born` | stream | an entry per creation (openers waiting for the region block on it) |
//! | `P retired` | zset | epochs ended by a removal or RECREATE (the last thousand; kept a week) |
//! | `E gone` | stream | an entry once the epoch is retired (blocked reads watch it; kept an hour) |
//! | `E dir` / `E dirw` | hash / stream | object name -> `kind shape flags id`; its wake stream |
//! | `E dirz` | zset | object names scored by id (creation order: the listing's cursor) |
//! | `E reclaim` | zset | ids of removed objects whose keys are still being deleted, scored by the removal's server time (ms) |
//! | `E ops:<attachment>` | hash | thread -> that thread's last mutation: id and result (kept 120 s past the attachment's last lease renewal) |
//! | `E o:<id>:m` | hash | the object's `kind`, `shape`, `flags` and per-kind words; exists from the object's creation until its removal (see "Removing one object") |
//! | `E o:<id>:gone` | stream | an entry once the object is removed (blocked reads watch it; the one key of the object left after its removal, kept a minute) |
//! | `E o:<id>:pk` | set | the elements (`e:<index>`, `k:<key>`) with parked `read_fe` callers (joined when the first one parks, left when the element is removed), for the removal to wake them |
//! | `E o:<id>:e:<index>` `E o:<id>:k:<key>` | hash | an element: `t` type, `v` value, `f` FULL, `ver`, `wq` waiters, `r` read_rw holds |
//! | `... :r` / `... :w` | hash / stream | its `read_rw` holders (attachment -> count); its wake stream |
//! | `... :q` | list | its parked `read_fe` callers (`<attachment> <operation id> <until, server ms>`) |
//! | `E wl:<attachment>:<thread>` | list | where a parked `read_fe` of that thread gets its value (`opid t f ver v`), or is told to start over (`retry`; `retry <opid>` from a removal, for that call only) |
//! | `E o:<id>:keys` | zset | a map's keys, scored by insertion order |
//! | `E o:<id>:chz` | zset | a map's present keys, scored by the map's change count at their last change (maps whose meta hash has `chg`: see "Map-wide changes") |
//! | `E o:<id>:rmz` | zset | a map's last removed keys (as many as the shared-memory removal log keeps), scored by the change count of their removal |
//! | `E o:<id>:cw` | stream | a map's map-wide wake stream (`cwq` in the meta hash counts its registered waiters) |
//!
//! ## Map-wide changes
//!
//! A map created by this version has `chg` (its change count), `chh` (the horizon: the
//! largest count of a removal dropped from `rmz`) and `cwq` in its meta hash. Every
//! change of a key in the ELEMENT script (`track()`) increments `chg` and scores the key
//! with it in `chz`; a removal moves the key from `chz` to `rmz` with its count, and
//! drops the oldest removal beyond the map's log size, raising `chh`. Maps made by older
//! versions have no `chg`: the map-wide calls answer `untracked` (Unsupported for the
//! caller), the rest works as before. The creating OPEN writes a map's initial keys
//! (FULL, version 1, counts 1..n) in the same script as the object itself.
//!
//! ## Removing one object
//!
//! Object ids come from the counter `ids` in `P meta` and are never reused within an
//! epoch, so an id names one incarnation of an object: a handle remembers the id it
//! opened (`o:<id>:`), and an object created later under the same name gets another id
//! and other keys. Every script that works on an object first checks that its meta hash
//! `E o:<id>:m` still exists (`removed(obj)` below, or the script's own read of the
//! meta hash), in the same atomic step as the epoch check, and replies `{'removed'}`
//! otherwise (REMOVED for the caller); the reads made without a script (`read_fields`)
//! pipeline an `EXISTS` of it after their read. No script re-creates the meta hash of a
//! removed object, since each checks first.
//!
//! `REMOVE_OBJECT` (`plexus_region_remove_object`), in one step: deletes the name from
//! the directory (`dir`, `dirz`: the name is free at once, for any kind, and listings no
//! longer show it), deletes the meta hash (every handle's next call gets REMOVED) and
//! the object's other keys of a fixed name (`l`, `wp`, `wc`, `s`, `w`, `b`, `h`, `keys`,
//! `pk`), appends to the object's `gone` stream (every blocked `XREAD` of its waiters
//! watches it, beside its own wake stream and the epoch's `gone`, so they wake at once
//! and their next script call reports REMOVED), pushes `retry <operation id>` to the
//! list of every parked `read_fe` (found through `pk`; they start over and get REMOVED),
//! and records the id in `reclaim`. The caller then deletes the object's per-element
//! keys (`e:*`, `k:*` and theirs; SCAN for `E o:<id>:*`, UNLINK in batches, all but
//! `gone`) and takes the id off `reclaim`; a removal whose caller failed before that is
//! finished by a later `remove_object` in the region (entries older than a minute). What
//! is left of an object after its removal: the `gone` stream (one entry, expires after a
//! minute) and the `retry` words pushed to the `wl:` lists of parked readers that were
//! no longer waiting (expire after a minute). Locks, permits and `read_rw` holds of the
//! object go with its keys; the holders' leases are the attachments', untouched.

use std::sync::OnceLock;

/// The common prologue, in three parts: the names every script shares (declared before
/// the helpers, which read them), the helpers, and what each call runs first: the epoch
/// check and the operation-id replay. A script (`with_prologue`) is the three followed by
/// its body; the function library (`library`) defines the names and helpers once, at
/// load, and each call of its functions runs `PROLOGUE_START` (it only assigns the
/// shared names, so the helpers see this call's values: the server runs one function at
/// a time).
///
/// Defines `P`, `E`, `CID`, `OPID`, `alive(cid)`, `wake(key)`, `last_id(key)`,
/// `done(result)`, `removed(obj)`, `thread_of(opid)`, `wl_key(cid, opid)`.
const PROLOGUE_DECLS: &str = r#"
local P, EPOCH, CID, OPID, E, opkey, opfield, RETRY
"#;

const PROLOGUE_HELPERS: &str = r#"
local function done(result)
  if opkey then
    -- A new thread's first entry: the hash outlives its attachment by 120 s at most
    -- (the lease renewal pushes that back while the attachment lives).
    if redis.call('HSET', opkey, opfield, cmsgpack.pack({OPID, result})) == 1 then
      redis.call('PEXPIRE', opkey, 120000)
    end
  end
  return result
end
local function alive(cid)
  return cid == CID or redis.call('EXISTS', P .. 'lease:' .. cid) == 1
end
local function wake(key)
  redis.call('XADD', key, 'MAXLEN', '1', '*', 'x', '1')
end
local function last_id(key)
  local r = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #r == 0 then return '0-0' end
  return r[1][1]
end
-- True once the object `obj` (`o:<id>:`, the incarnation a handle opened) was removed:
-- its meta hash exists from its creation until remove_object deletes it, and no script
-- creates it again (object scripts check this first and reply {'removed'}).
local function removed(obj)
  return redis.call('EXISTS', E .. obj .. 'm') == 0
end
-- A parked read_fe's private list (see the ELEMENT function).
local function thread_of(opid)
  return string.sub(opid, 1, (string.find(opid, ':', 1, true) or 1) - 1)
end
local function wl_key(cid, opid) return E .. 'wl:' .. cid .. ':' .. thread_of(opid) end
"#;

const PROLOGUE_START: &str = r#"
P, EPOCH, CID, OPID = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local epoch = redis.call('HGET', P .. 'meta', 'epoch')
if epoch ~= EPOCH then
  -- Our epoch was retired by a removal or RECREATE: removed. Otherwise the server lost
  -- the region (flushed, restarted empty, failed over to an empty replica), whether or
  -- not someone created it anew since.
  if redis.call('ZSCORE', P .. 'retired', EPOCH) then return {'lost', 'removed'} end
  return {'lost', 'gone'}
end
E = P .. EPOCH .. ':'
-- OPID is '<thread>:<n>': each thread of an attachment keeps the result of its last
-- mutation (a retry is that thread's next call) in the attachment's `ops` hash, so the
-- server holds one small entry per thread, whatever the traffic. A leading '!' marks a
-- request that may have run before (a retry after a lost reply): only then is the
-- stored result looked up; a first attempt cannot have one.
opkey, opfield, RETRY = nil, nil, false
if OPID ~= '' then
  RETRY = string.byte(OPID, 1) == 33
  if RETRY then OPID = string.sub(OPID, 2) end
  opkey = E .. 'ops:' .. CID
  opfield = string.sub(OPID, 1, (string.find(OPID, ':', 1, true) or 1) - 1)
  if RETRY then
    local seen = redis.call('HGET', opkey, opfield)
    if seen then
      local s = cmsgpack.unpack(seen)
      if s[1] == OPID then return s[2] end
    end
  end
end
"#;

/// Region lifecycle. ARGV: P, mode (`create`, `open`, `recreate`, `ooc`), new epoch,
/// now (ns). Not prefixed by PROLOGUE (it makes the epoch). Returns
/// `{'ok', epoch, created, replaced epoch or '', server seconds, microseconds}`, `{'exists'}` or `{'notfound', id}`
/// (`id`: of the last entry of the `born` stream, which every creation appends to).
const REGION: &str = r#"
local P, MODE, NEW, NOW = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- (RETIRE is put before this.)
local epoch = redis.call('HGET', P .. 'meta', 'epoch')
local time = redis.call('TIME')
if epoch and MODE == 'create' then return {'exists'} end
if epoch and MODE ~= 'recreate' then return {'ok', epoch, 0, '', time[1], time[2]} end
if not epoch and MODE == 'open' then
  -- The id to wait from (XREAD BLOCK) for the region to be created.
  local last = redis.call('XREVRANGE', P .. 'born', '+', '-', 'COUNT', 1)
  if #last == 0 then return {'notfound', '0-0'} end
  return {'notfound', last[1][1]}
end
if epoch then retire(epoch) end
redis.call('DEL', P .. 'meta')
redis.call('HSET', P .. 'meta', 'epoch', NEW, 'created_ns', NOW, 'ids', 0)
redis.call('XADD', P .. 'born', 'MAXLEN', '1', '*', 'epoch', NEW)
return {'ok', NEW, 1, epoch or '', time[1], time[2]}
"#;

/// Removes the region. ARGV: P. `{'ok', epoch}` or `{'notfound'}`. Retires the epoch
/// (the caller then wakes parked callers and deletes the keys).
const REMOVE: &str = r#"
local P = ARGV[1]
local epoch = redis.call('HGET', P .. 'meta', 'epoch')
if not epoch then return {'notfound'} end
retire(epoch)
redis.call('DEL', P .. 'meta', P .. 'born')
return {'ok', epoch}
"#;

/// What ends an epoch (REGION's RECREATE and REMOVE): it joins the `retired` set (the
/// last thousand, kept a week, by which attached handles tell a removal from a loss; a
/// handle that comes back later than that is told the region was lost), and its `gone`
/// stream, which every blocked `XREAD` of its handles also watches, gets an entry (kept
/// an hour, so that a waiter that blocks after the removal returns at once too).
const RETIRE: &str = r#"
local function retire(epoch)
  local g = P .. epoch .. ':gone'
  redis.call('XADD', g, '*', 'x', '1')
  redis.call('PEXPIRE', g, 3600000)
  local r = P .. 'retired'
  redis.call('ZADD', r, redis.call('TIME')[1], epoch)
  redis.call('ZREMRANGEBYRANK', r, 0, -1001)
  redis.call('PEXPIRE', r, 604800000)
end
"#;

/// Finds or creates an object. ARGV 5-8: name, kind, shape, flags; 9: `1` for a map
/// (change tracking), then its initial data (see the script). Returns
/// `{'ok', id, kind, shape, flags, created}` or `{'notfound'}` (shape 0, absent).
const OPEN: &str = r#"
local NAME, KIND, SHAPE, FLAGS = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local entry = redis.call('HGET', E .. 'dir', NAME)
if entry then
  local k, s, f, id = string.match(entry, '^(%d+) (%d+) (%d+) (%d+)$')
  return {'ok', id, k, s, f, 0}
end
if SHAPE == '0' then return {'notfound'} end
local id = redis.call('HINCRBY', P .. 'meta', 'ids', 1)
redis.call('HSET', E .. 'dir', NAME, KIND .. ' ' .. SHAPE .. ' ' .. FLAGS .. ' ' .. id)
redis.call('ZADD', E .. 'dirz', id, NAME)
local o = E .. 'o:' .. id .. ':'
redis.call('HSET', o .. 'm', 'kind', KIND, 'shape', SHAPE, 'flags', FLAGS,
  'seq', 0, 'vfloor', 0)
-- ARGV 9: '1' for a map that tracks changes map-wide; 10..: its initial data, as
-- (key, type, value) triples, stored FULL at version 1 before anyone can see the map.
if ARGV[9] == '1' then
  local n = 0
  for i = 10, #ARGV, 3 do
    n = n + 1
    local key = ARGV[i]
    redis.call('HSET', o .. 'k:' .. key, 't', ARGV[i + 1], 'v', ARGV[i + 2], 'f', 1, 'ver', 1)
    redis.call('ZADD', o .. 'keys', n, key)
    redis.call('ZADD', o .. 'chz', n, key)
  end
  redis.call('HSET', o .. 'm', 'seq', n, 'chg', n, 'chh', 0, 'cwq', 0)
end
wake(E .. 'dirw')
return {'ok', tostring(id), KIND, SHAPE, FLAGS, 1}
"#;

/// Removes an object (see "Removing one object" above). ARGV 5: name. Returns
/// `{'ok', id}` (the caller then deletes the keys of `o:<id>:` and takes the id off
/// `reclaim`) or `{'notfound'}`.
const REMOVE_OBJECT: &str = r#"
local NAME = ARGV[5]
local entry = redis.call('HGET', E .. 'dir', NAME)
if not entry then return done({'notfound'}) end
local id = string.match(entry, '^%d+ %d+ %d+ (%d+)$')
if not id then return {'invalid', 'the directory entry of this object is damaged'} end
local o = E .. 'o:' .. id .. ':'
redis.call('HDEL', E .. 'dir', NAME)
redis.call('ZREM', E .. 'dirz', NAME)
-- Parked read_fe callers start over, and find the object removed. The word names the
-- call it is for: a reader that gave up meanwhile leaves it in its thread's list, where
-- its next parked call skips it (and it expires).
for _, el in ipairs(redis.call('SMEMBERS', o .. 'pk')) do
  for _, e in ipairs(redis.call('LRANGE', o .. el .. ':q', 0, -1)) do
    local cid, opid = string.match(e, '^(%S+) (%S+)')
    if cid then
      local wl = wl_key(cid, opid)
      redis.call('RPUSH', wl, 'retry ' .. opid)
      redis.call('PEXPIRE', wl, 60000)
    end
  end
  redis.call('DEL', o .. el .. ':q')
end
-- From here on every script of the object's handles replies {'removed'}. (UNLINK: a
-- long queue, bus or map key set is freed in the background, not inside this script.)
redis.call('UNLINK', o .. 'm', o .. 'pk', o .. 'keys', o .. 'l', o .. 'wp', o .. 'wc', o .. 's',
  o .. 'w', o .. 'b', o .. 'h', o .. 'chz', o .. 'rmz', o .. 'cw')
-- Blocked callers wake (their XREAD watches this stream); kept a minute, so that a
-- waiter whose XREAD reaches the server after this returns at once too.
local g = o .. 'gone'
redis.call('XADD', g, '*', 'x', '1')
redis.call('PEXPIRE', g, 60000)
local t = redis.call('TIME')
redis.call('ZADD', E .. 'reclaim', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), id)
return done({'ok', id})
"#;

/// Waits for an object name. ARGV 5: name. `{'ok'}` or `{'wait', id}`.
const WAIT_OBJECT: &str = r#"
if redis.call('HEXISTS', E .. 'dir', ARGV[5]) == 1 then return {'ok'} end
return {'wait', last_id(E .. 'dirw')}
"#;

/// Region statistics: `{'ok', objects, created_ns}`.
const INFO: &str = r#"
return {'ok', redis.call('HLEN', E .. 'dir'), redis.call('HGET', P .. 'meta', 'created_ns')}
"#;

/// Every element operation of arrays and maps: the library's `element` function (see
/// `library`), in four parts as the prologue: the names an element operation shares,
/// its helpers (defined once, at load), what each call runs first, and the operations.
/// ARGV 5-12: op, object prefix (`o:<id>:`), element suffix (`e:<index>` or `k:<key>`),
/// is-map, type, value, arg (an expected version, a tag, ...), the server's clock in ms
/// as the caller reckons it. Replies `{'ok', t, v, f, ver}` (the value the operation
/// read, or the state after it), `{'wait', id}`, `{'conflict'}`, or an error.
const ELEMENT_DECLS: &str = r#"
local OP, OBJ, EL, ISMAP, T, V, ARG, NOW, mk, ek
local present, absent_at_start, t, v, f, ver, waiters, held, parked, parked_at_start
local ver_at_start, inserted, mflags, tracked, cwq
"#;

const ELEMENT_START: &str = r#"
OP, OBJ, EL, ISMAP, T, V, ARG = ARGV[5], ARGV[6], ARGV[7], ARGV[8] == '1', ARGV[9], ARGV[10], ARGV[11]
-- The server's clock (ms) as the caller reckons it (from the server's TIME, read at
-- open and with every lease renewal): parked entries past it are over.
NOW = tonumber(ARGV[12])
mk = E .. OBJ .. 'm'
-- The object's meta hash, read once: `kind` (absent: the object was removed, as
-- `removed()` tells), an array's creation flags, and for a map that tracks changes its
-- change count and the number of its map-wide waiters.
local m = redis.call('HMGET', mk, 'kind', 'flags', 'chg', 'cwq')
if not m[1] then return {'removed'} end
mflags, tracked, cwq = m[2], m[3] ~= false, tonumber(m[4] or '0')
ek = E .. OBJ .. EL
local h = redis.call('HMGET', ek, 't', 'v', 'f', 'ver', 'wq', 'r', 'pq')
present = h[4] ~= false
absent_at_start = not present
t, v, f, ver = '0', '', false, 0
-- wq: how many waiters registered since the last wake-up (see wait()).
waiters = tonumber(h[5] or '0')
-- r: how many read_rw holds the readers hash counts (0: no need to read it).
held = tonumber(h[6] or '0')
-- pq: how many read_fe callers are parked on the element's queue `:q` (see park()).
parked = tonumber(h[7] or '0')
parked_at_start = parked
if present then
  t, v, f, ver = h[1], h[2], h[3] == '1', tonumber(h[4])
elseif not ISMAP then
  f = mflags == '1'
end
ver_at_start = ver
inserted = false
"#;

const ELEMENT_HELPERS: &str = r#"
local function fl(x) if x then return 1 end return 0 end
-- The read_rw holds of live attachments (those of attachments whose lease expired are
-- dropped, and the count in the element hash follows).
local function readers()
  if held <= 0 then return 0 end
  local rk = ek .. ':r'
  local all = redis.call('HGETALL', rk)
  local n = 0
  for i = 1, #all, 2 do
    if alive(all[i]) then n = n + tonumber(all[i + 1]) else redis.call('HDEL', rk, all[i]) end
  end
  if n ~= held then
    if n == 0 then redis.call('HDEL', ek, 'r') else redis.call('HSET', ek, 'r', n) end
    held = n
  end
  return n
end
-- A waiter registers (wq + 1) and blocks from the stream's last id; a change wakes
-- every registered waiter with one XADD and clears the count (they register again if
-- they still have to wait), so a change that nobody waits for appends nothing.
local function wait()
  if present then redis.call('HINCRBY', ek, 'wq', 1) end
  return {'wait', last_id(ek .. ':w')}
end
-- Map-wide change tracking (see "Map-wide changes"): a change of the key moves the map's
-- change count and scores the key with it.
local function wake_changes()
  if cwq > 0 then
    wake(E .. OBJ .. 'cw')
    redis.call('HSET', mk, 'cwq', 0)
    cwq = 0
  end
end
local function track()
  if not ISMAP or ver == ver_at_start or not tracked then return end
  local c = redis.call('HINCRBY', mk, 'chg', 1)
  redis.call('ZADD', E .. OBJ .. 'chz', c, string.sub(EL, 3))
  wake_changes()
end
local function track_removal()
  if not tracked then return end
  local c = redis.call('HINCRBY', mk, 'chg', 1)
  local key = string.sub(EL, 3)
  redis.call('ZREM', E .. OBJ .. 'chz', key)
  local rmz = E .. OBJ .. 'rmz'
  redis.call('ZADD', rmz, c, key)
  -- As many removals as the shared-memory log keeps: the capacity, within 16..1024,
  -- rounded up to a power of two.
  local cap = math.min(math.max(tonumber(redis.call('HGET', mk, 'shape')), 16), 1024)
  local keep = 16
  while keep < cap do keep = keep * 2 end
  if redis.call('ZCARD', rmz) > keep then
    local old = redis.call('ZPOPMIN', rmz, 1)
    if tonumber(old[2]) > tonumber(redis.call('HGET', mk, 'chh') or '0') then
      redis.call('HSET', mk, 'chh', old[2])
    end
  end
  wake_changes()
end
local function wake_waiters()
  track()
  -- (An absent element's waiters cannot register: its first write always wakes.)
  if waiters > 0 or absent_at_start then
    wake(ek .. ':w')
    if waiters > 0 then redis.call('HSET', ek, 'wq', 0) end
    waiters = 0
  end
end
-- A read_fe that finds the element EMPTY (or held by read_rw) parks: it queues itself
-- (`<attachment> <operation id> <until>`) on the element's `:q` list and blocks with
-- BLPOP on its thread's private list `wl:<attachment>:<thread>`. The change that makes
-- the element FULL again completes the first parked read_fe in the same script
-- (serve()): the value goes to that list and, as the reader's operation result, to its
-- `ops` hash, so the reader gets it in the BLPOP reply, one step as for BLPOP itself,
-- and a reader whose reply was lost finds it with 'unpark'. `until` (ARG, server clock
-- in ms, never past the caller's deadline or one wait slice) bounds the entry: an entry
-- past it, or of an attachment that died, is dropped unserved, so a call that gave up
-- (or a request the server ran late, after a stall) never takes a value afterwards.
-- The reader parks again for its next slice. The object's `pk` set lists the elements
-- with parked callers, so that remove_object finds them: an element joins it when its
-- first caller parks (`pq` was 0) and stays in it until the element is removed (a
-- listed element with an empty queue costs remove_object one LRANGE; this saves a
-- SREM and a SADD per hand-off while callers are parked).
local function park()
  local q = ek .. ':q'
  local again = 0
  if RETRY then
    -- The same call again: queued once.
    local mine = CID .. ' ' .. OPID .. ' '
    for _, e in ipairs(redis.call('LRANGE', q, 0, -1)) do
      if string.sub(e, 1, #mine) == mine then again = again + redis.call('LREM', q, 0, e) end
    end
  end
  redis.call('RPUSH', q, CID .. ' ' .. OPID .. ' ' .. ARG)
  if parked - again <= 0 then redis.call('SADD', E .. OBJ .. 'pk', EL) end
  parked = parked + 1 - again
  redis.call('HINCRBY', ek, 'pq', 1 - again)
  parked_at_start = parked
  return {'park', wl_key(CID, OPID)}
end
-- Inserts an absent map key (EMPTY holding UNDEFINED, or FULL for a map created FULL).
-- Its version starts at the map's floor; the operation that inserted it moves it once
-- (an operation that changes nothing else still moves it: see `settle()`), so a key's
-- first write moves its version exactly once, as locally.
local function insert()
  if present or not ISMAP then return nil end
  local cap = tonumber(redis.call('HGET', mk, 'shape'))
  local keys = E .. OBJ .. 'keys'
  if redis.call('ZCARD', keys) >= cap then return {'nospace', cap} end
  local seq = redis.call('HINCRBY', mk, 'seq', 1)
  redis.call('ZADD', keys, seq, string.sub(EL, 3))
  f = mflags == '1'
  ver = math.max(ver, tonumber(redis.call('HGET', mk, 'vfloor')))
  t, v, present, inserted = '0', '', true, true
  return nil
end

local function save()
  if parked ~= parked_at_start then
    redis.call('HSET', ek, 't', t, 'v', v, 'f', fl(f), 'ver', ver, 'pq', parked)
    parked_at_start = parked
  else
    redis.call('HSET', ek, 't', t, 'v', v, 'f', fl(f), 'ver', ver)
  end
end
local function state() return {'ok', t, v, fl(f), ver} end
-- Completes parked read_fe calls while the element is FULL and no read_rw holds it
-- (at most one, as read_fe empties it); entries that are over are dropped (an
-- attachment that died leaves one for at most a wait slice). True if it changed the
-- element (the caller saves it).
local function serve()
  local served = false
  while parked > 0 and f and readers() == 0 do
    local e = redis.call('LPOP', ek .. ':q')
    if not e then parked = 0; break end
    parked = parked - 1
    served = true
    local cid, opid, till = string.match(e, '^(%S+) (%S+) (%d+)$')
    if cid and tonumber(till) >= NOW then
      local old = state()
      f, ver = false, ver + 1
      local ok = E .. 'ops:' .. cid
      if redis.call('HSET', ok, thread_of(opid), cmsgpack.pack({opid, old})) == 1 then
        redis.call('PEXPIRE', ok, 120000)
      end
      redis.call('RPUSH', wl_key(cid, opid), opid .. ' ' .. old[2] .. ' ' .. old[4] .. ' ' .. old[5] .. ' ' .. old[3])
    end
  end
  return served
end

-- After an operation that changed nothing: an insertion alone is still one change.
local function settle()
  if inserted then ver = ver + 1; serve(); save(); wake_waiters() else serve(); save() end
end
"#;

const ELEMENT_OPS: &str = r#"
if OP == 'read' then return state() end
if OP == 'ver' then return {'ok', '0', '', 0, ver} end
if OP == 'waitver' then
  if tostring(ver) ~= ARG then return {'ok', '0', '', 0, ver} end
  return wait()
end
if OP == 'ff' then
  if f then return state() end
  return wait()
end
if OP == 'rw' then
  if not f then return wait() end
  redis.call('HINCRBY', ek .. ':r', CID, 1)
  redis.call('HINCRBY', ek, 'r', 1)
  return done(state())
end
if OP == 'release' then
  local rk = ek .. ':r'
  local mine = tonumber(redis.call('HGET', rk, CID) or '0')
  if mine <= 0 then return done({'invalid', 'release_rw without a read_rw held by this region handle on that element'}) end
  if mine == 1 then redis.call('HDEL', rk, CID) else redis.call('HINCRBY', rk, CID, -1) end
  if held <= 1 then redis.call('HDEL', ek, 'r') else redis.call('HINCRBY', ek, 'r', -1) end
  held = held - 1
  if serve() then save() end
  wake_waiters()
  return done({'ok', '0', '', 0, ver})
end
if OP == 'fe' then
  if not f or readers() > 0 then
    if ARG == '0' then return wait() end
    return park()
  end
  local old = state()
  f, ver = false, ver + 1
  save(); wake_waiters()
  return done(old)
end
if OP == 'unpark' then
  -- A parked read_fe gives up (ARG: its operation id): still queued, it leaves the
  -- queue; already completed, its result is returned (and its list emptied).
  -- ARG: `<operation id> <until>`, as parked.
  if redis.call('LREM', ek .. ':q', 1, CID .. ' ' .. ARG) == 1 then
    redis.call('HINCRBY', ek, 'pq', -1)
    return {'cancelled'}
  end
  local opid = string.match(ARG, '^(%S+)')
  redis.call('DEL', wl_key(CID, opid))
  local seen = redis.call('HGET', E .. 'ops:' .. CID, thread_of(opid))
  if seen then
    local s = cmsgpack.unpack(seen)
    if s[1] == opid then return s[2] end
  end
  return {'cancelled'}
end
if OP == 'ef' then
  if f then return wait() end
  local full = insert(); if full then return done(full) end
  t, v, f, ver = T, V, true, ver + 1
  serve(); save(); wake_waiters()
  return done(state())
end
if OP == 'remove' then
  if not present then return {'notfound'} end
  if readers() > 0 then return wait() end
  local floor = tonumber(redis.call('HGET', mk, 'vfloor'))
  if ver + 1 > floor then redis.call('HSET', mk, 'vfloor', ver + 1) end
  redis.call('DEL', ek, ek .. ':r')
  redis.call('ZREM', E .. OBJ .. 'keys', string.sub(EL, 3))
  track_removal()
  wake(ek .. ':w')
  -- Parked read_fe calls start over (they find the key absent).
  if parked > 0 then
    for _, e in ipairs(redis.call('LRANGE', ek .. ':q', 0, -1)) do
      local cid, opid = string.match(e, '^(%S+) (%S+)')
      if cid then redis.call('RPUSH', wl_key(cid, opid), 'retry') end
    end
    redis.call('DEL', ek .. ':q')
  end
  -- (Listed while it had parked callers, and possibly since: see park().)
  redis.call('SREM', E .. OBJ .. 'pk', EL)
  return done({'ok', '0', '', 0, 0})
end
-- The rest change the element whatever its tag, once no read_rw holds it.
if readers() > 0 then return wait() end
-- A read-modify-write computed by the caller from the state at version ARG (0: the
-- map key was absent); on a conflict the reply carries the current state to compute
-- from again.
if OP == 'commit' and tostring(ver) ~= ARG then return {'conflict', t, v, fl(f), ver} end
local full = insert(); if full then return done(full) end
if OP == 'ensure' then
  settle()
  return done(state())
end
if OP == 'w' or OP == 'xf' or OP == 'xe' then
  t, v, ver = T, V, ver + 1
  if OP == 'xf' then f = true elseif OP == 'xe' then f = false end
  serve(); save(); wake_waiters()
  return done(state())
end
if OP == 'restore' then
  -- plexus load: value, tag and a version of at least the one given (ARG: `<full>
  -- <version>`), exactly that one on an element that has not changed since it was made.
  local full, want = string.match(ARG, '^([01]) (%d+)$')
  if not full then return done({'invalid', 'restore needs a tag and a version'}) end
  t, v, f = T, V, full == '1'
  -- (A key inserted by this call has its new version already.)
  if absent_at_start then ver = math.max(ver, 1) else ver = ver + 1 end
  ver = math.max(ver, tonumber(want))
  serve(); save(); wake_waiters()
  return done(state())
end
if OP == 'tag' then
  local want = ARG == '1'
  if want ~= f then f, ver = want, ver + 1; serve(); save(); wake_waiters() else settle() end
  return done(state())
end
if OP == 'xchg' then
  local old = state()
  t, v, ver = T, V, ver + 1
  serve(); save(); wake_waiters()
  return done(old)
end
if OP == 'commit' then
  local old = state()
  t, v, ver = T, V, ver + 1
  serve(); save(); wake_waiters()
  return done(old)
end
return {'invalid', 'unknown element operation ' .. OP}
"#;

/// The next object after a cursor (an object id; creation order). ARGV 5: cursor.
/// `{'ok', name, 'kind shape flags id'}` or `{'ok'}` at the end.
const NEXT_OBJECT: &str = r#"
local r = redis.call('ZRANGEBYSCORE', E .. 'dirz', '(' .. ARGV[5], '+inf', 'LIMIT', 0, 1)
if #r == 0 then return {'ok'} end
return {'ok', r[1], redis.call('HGET', E .. 'dir', r[1])}
"#;

/// A map's next key after a cursor (insertion order). ARGV 5-6: object prefix, cursor.
/// `{'ok', key, score}` or `{'ok'}` at the end.
const NEXT_KEY: &str = r#"
if removed(ARGV[5]) then return {'removed'} end
local r = redis.call('ZRANGEBYSCORE', E .. ARGV[5] .. 'keys', '(' .. ARGV[6], '+inf',
  'WITHSCORES', 'LIMIT', 0, 1)
if #r == 0 then return {'ok'} end
return {'ok', r[1], r[2]}
"#;

/// A map's change count, map-wide waits and change listing (see "Map-wide changes").
/// ARGV 5: object prefix; 6: `count`, `wait` (7: the count seen) or `list` (7: since,
/// 8: cursor, the last count listed or 0, 9: how many at most). Replies `{'ok', count}`,
/// `{'wait', id}`, `{'ok', key, count, removed, version, ...}` (in count order; empty at
/// the end), `{'truncated', horizon}` or `{'untracked'}` (a map of an older version).
const MAP_CHANGES: &str = r#"
local OBJ, OP = ARGV[5], ARGV[6]
if removed(OBJ) then return {'removed'} end
local mk = E .. OBJ .. 'm'
local chg = redis.call('HGET', mk, 'chg')
if not chg then return {'untracked'} end
if OP == 'count' then return {'ok', chg} end
if OP == 'wait' then
  if chg ~= ARGV[7] then return {'ok', chg} end
  redis.call('HINCRBY', mk, 'cwq', 1)
  return {'wait', last_id(E .. OBJ .. 'cw')}
end
local since, cur, max = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local chh = tonumber(redis.call('HGET', mk, 'chh') or '0')
if since ~= 0 and since < chh then return {'truncated', chh} end
local from = '(' .. math.max(since, cur)
local live = redis.call('ZRANGEBYSCORE', E .. OBJ .. 'chz', from, '+inf', 'WITHSCORES', 'LIMIT', 0, max)
local gone = redis.call('ZRANGEBYSCORE', E .. OBJ .. 'rmz', from, '+inf', 'WITHSCORES', 'LIMIT', 0, max)
local out, i, j, n = {'ok'}, 1, 1, 0
while n < max and (i <= #live or j <= #gone) do
  if j > #gone or (i <= #live and tonumber(live[i + 1]) < tonumber(gone[j + 1])) then
    local ver = redis.call('HGET', E .. OBJ .. 'k:' .. live[i], 'ver') or '0'
    table.insert(out, live[i]); table.insert(out, live[i + 1]); table.insert(out, '0'); table.insert(out, ver)
    i = i + 2
  else
    table.insert(out, gone[j]); table.insert(out, gone[j + 1]); table.insert(out, '1'); table.insert(out, '0')
    j = j + 2
  end
  n = n + 1
end
return out
"#;

/// A map's number of keys. ARGV 5: object prefix.
const MAP_LEN: &str = r#"
if removed(ARGV[5]) then return {'removed'} end
return {'ok', redis.call('ZCARD', E .. ARGV[5] .. 'keys')}
"#;

/// A script made of the common prologue (epoch check, operation-id replay, `alive`,
/// `wake`, `last_id`, `done`) and `body`. Kinds keep their scripts beside their code and
/// build them once (e.g. in a `OnceLock`).
pub(crate) fn with_prologue(body: &str) -> redis::Script {
    redis::Script::new(&format!(
        "{PROLOGUE_DECLS}\n{PROLOGUE_HELPERS}\n{PROLOGUE_START}\n{body}"
    ))
}

/// Server-side code the library calls with the meta key as its one key (so that Redis
/// Cluster routes it to the region's slot), the common arguments (`head`) and `args`.
pub(crate) trait Lua: Sync {
    fn invoke(
        &self,
        c: &mut redis::Connection,
        key: &str,
        head: &[&[u8]],
        args: &[&[u8]],
    ) -> redis::RedisResult<redis::Value>;
}

impl Lua for redis::Script {
    /// `EVALSHA` (and `EVAL` when the server does not have the script yet).
    fn invoke(
        &self,
        c: &mut redis::Connection,
        key: &str,
        head: &[&[u8]],
        args: &[&[u8]],
    ) -> redis::RedisResult<redis::Value> {
        let mut inv = self.key(key);
        for a in head.iter().chain(args) {
            inv.arg(*a);
        }
        inv.invoke(c)
    }
}

/// A function of the plexus function library (Redis 7 / Valkey `FUNCTION LOAD`,
/// called with `FCALL`). The library defines the helpers of its functions once, when
/// the server loads it, where a script defines them again on every call: the hot
/// element operations run as functions.
///
/// The library's name, and its functions', end with the first 12 hex digits of the
/// SHA-1 of its code (`plexus_<hash>`, `plexus_<hash>_element`), so processes of
/// different plexus versions sharing one server each call their own code, and a
/// library of that name is always exactly this code: loading it is never a
/// replacement, and "already exists" (another process loaded it first) is success. The
/// server keeps loaded libraries across `FLUSHALL` (which a region still notices: its
/// epoch is gone) and persists and replicates them; a server that lost them (restarted
/// without persistence, a new replica) answers "Function not found", on which the call
/// loads the library on that connection and is sent again (it had not run).
pub(crate) struct Function {
    /// The library's code, with its `#!lua name=...` line.
    library: String,
    name: String,
}

impl Function {
    /// Loads the library on the server of `c`; "already exists" is success.
    fn load(&self, c: &mut redis::Connection) -> redis::RedisResult<()> {
        match redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(&self.library)
            .query::<redis::Value>(c)
        {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("already exists") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Lua for Function {
    fn invoke(
        &self,
        c: &mut redis::Connection,
        key: &str,
        head: &[&[u8]],
        args: &[&[u8]],
    ) -> redis::RedisResult<redis::Value> {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(&self.name).arg(1).arg(key);
        for a in head.iter().chain(args) {
            cmd.arg(*a);
        }
        match cmd.query(c) {
            Err(e) if e.to_string().contains("Function not found") => {
                self.load(c)?;
                cmd.query(c)
            }
            r => r,
        }
    }
}

/// The function library (see [`Function`]): the prologue's and the element
/// operations' names and helpers, defined once, and the `element` function.
fn library() -> Function {
    let code = format!(
        "{PROLOGUE_DECLS}\n{PROLOGUE_HELPERS}\n{ELEMENT_DECLS}\n{ELEMENT_HELPERS}\n\
         -- (A function of its own: a Lua function refers to at most 60 outer names.)\n\
         local function element_ops()\n{ELEMENT_OPS}\nend\n\
         local function element(ARGV)\n{PROLOGUE_START}\n{ELEMENT_START}\nreturn element_ops()\nend\n"
    );
    let hash = redis::Script::new(&code).get_hash()[..12].to_owned();
    let name = format!("plexus_{hash}");
    Function {
        library: format!(
            "#!lua name={name}\n{code}\n\
             redis.register_function('{name}_element', function(KEYS, ARGV) return element(ARGV) end)\n"
        ),
        name: format!("{name}_element"),
    }
}

/// The scripts, compiled (hashed) once per process.
pub(crate) struct Scripts {
    pub region: redis::Script,
    pub remove: redis::Script,
    pub remove_object: redis::Script,
    pub open: redis::Script,
    pub wait_object: redis::Script,
    pub info: redis::Script,
    pub element: Function,
    pub next_key: redis::Script,
    pub next_object: redis::Script,
    pub map_len: redis::Script,
    pub map_changes: redis::Script,
}

pub(crate) fn scripts() -> &'static Scripts {
    static S: OnceLock<Scripts> = OnceLock::new();
    S.get_or_init(|| {
        let with = with_prologue;
        Scripts {
            region: redis::Script::new(&format!("local P = ARGV[1]\n{RETIRE}\n{REGION}")),
            remove: redis::Script::new(&format!("local P = ARGV[1]\n{RETIRE}\n{REMOVE}")),
            remove_object: with(REMOVE_OBJECT),
            open: with(OPEN),
            wait_object: with(WAIT_OBJECT),
            info: with(INFO),
            element: library(),
            next_key: with(NEXT_KEY),
            next_object: with(NEXT_OBJECT),
            map_len: with(MAP_LEN),
            map_changes: with(MAP_CHANGES),
        }
    })
}
