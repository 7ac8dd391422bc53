//! Arrays and maps on Redis: each element is a hash (type, value, FULL tag, version)
//! with a wake stream beside it; every operation is one call of the `ELEMENT` script.
//! A read-modify-write (`faa`, `cas`) is computed here with the shared value code
//! (`crate::semantics::value`) from the element as read, and committed by the script only
//! if the element's version is still the one read (else read again and retry).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::redis::conn::REPLY_MARGIN;
use crate::redis::scripts::scripts;
use crate::redis::{Inner, Obj, Region, Reply, Unanswered, BLOCK_SLICE};
use crate::semantics::deadline::Deadline;
use crate::semantics::names::check_key;
use crate::semantics::open::{KindWords, KIND_ARRAY, KIND_MAP};
use crate::semantics::options::{FLAG_EXCLUSIVE, FLAG_FULL};
use crate::semantics::patch::Patch;
use crate::semantics::value::{js_add, msgpack_check, Type, Value, ValueRef};
use crate::semantics::watch::MapChange;

const ARRAY_WORDS: KindWords = KindWords {
    code: KIND_ARRAY,
    name: "array",
    article: "an",
    shape: "length",
    items: "elements",
};

const MAP_WORDS: KindWords = KindWords {
    code: KIND_MAP,
    name: "map",
    article: "a",
    shape: "capacity",
    items: "keys",
};

/// A value as the element hash stores it: a type digit and bytes (integers and floats
/// as 8 little-endian bytes, booleans as one byte, objects as MessagePack).
pub(crate) fn encode(v: ValueRef<'_>) -> (Vec<u8>, Vec<u8>) {
    let t = (v.type_of() as u8).to_string().into_bytes();
    let b = match v {
        ValueRef::Undefined | ValueRef::Null => Vec::new(),
        ValueRef::Bool(b) => vec![b as u8],
        ValueRef::Int(i) => i.to_le_bytes().to_vec(),
        ValueRef::Float(f) => f.to_bits().to_le_bytes().to_vec(),
        ValueRef::String(s) => s.as_bytes().to_vec(),
        ValueRef::Bytes(b) | ValueRef::Object(b) => b.to_vec(),
    };
    (t, b)
}

pub(crate) fn decode(t: &str, v: Vec<u8>) -> Result<Value> {
    let damaged = || Error::corrupt(format!("a remote element holds a damaged value (type {t})"));
    let ty = t
        .parse::<u32>()
        .ok()
        .and_then(Type::from_u32)
        .ok_or_else(damaged)?;
    let eight = |v: &[u8]| -> Result<[u8; 8]> { v.try_into().map_err(|_| damaged()) };
    Ok(match ty {
        Type::Undefined => Value::Undefined,
        Type::Null => Value::Null,
        Type::Bool => Value::Bool(v.first().copied().unwrap_or(0) != 0),
        Type::Int => Value::Int(i64::from_le_bytes(eight(&v)?)),
        Type::Float => Value::Float(f64::from_bits(u64::from_le_bytes(eight(&v)?))),
        Type::String => Value::String(String::from_utf8(v).map_err(|_| damaged())?),
        Type::Bytes => Value::Bytes(v),
        Type::Object => {
            msgpack_check(&v)?;
            Value::Object(v)
        }
    })
}

/// What a change pushed to a parked `read_fe`: `retry` (start over; `retry <opid>` from
/// `remove_object`, for the call `opid` only), or a result (`opid t f ver v`) as the
/// script's reply, for the call `opid` (another one's, left by an earlier call of this
/// thread that gave up with UNAVAILABLE or REMOVED, is not ours: its result stays stored
/// for that call's retry).
enum Pushed {
    Retry,
    Result(Reply),
    NotOurs,
}

fn parked_item(item: &[u8], opid: &str) -> Result<Pushed> {
    if item == b"retry" {
        return Ok(Pushed::Retry);
    }
    if let Some(call) = item.strip_prefix(b"retry ") {
        return Ok(if call == opid.as_bytes() {
            Pushed::Retry
        } else {
            Pushed::NotOurs
        });
    }
    let mut parts = item.splitn(5, |b| *b == b' ');
    if parts.next() != Some(opid.as_bytes()) {
        return Ok(Pushed::NotOurs);
    }
    let mut next = || parts.next().map(<[u8]>::to_vec);
    let damaged = || Error::corrupt("a remote read_fe got a damaged value");
    let (t, f, ver, v) = (
        next().ok_or_else(damaged)?,
        next().ok_or_else(damaged)?,
        next().ok_or_else(damaged)?,
        next().ok_or_else(damaged)?,
    );
    let int = |b: Vec<u8>| -> Result<i64> {
        std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(damaged)
    };
    Ok(Pushed::Result(Reply {
        status: "ok".into(),
        items: vec![
            redis::Value::BulkString(t),
            redis::Value::BulkString(v),
            redis::Value::Int(int(f)?),
            redis::Value::Int(int(ver)?),
        ],
    }))
}

/// One array or map: what both share.
#[derive(Clone)]
struct Elements {
    region: Region,
    /// The object (`o:<id>:`) and its name.
    obj: Obj,
    is_map: bool,
    /// The last mutation whose reply never came, for a retry by the caller.
    unanswered: Arc<Unanswered>,
    /// Whether an array element no one wrote yet is FULL (the array's creation flags).
    full_at_start: bool,
    /// The last element a read-modify-write saw (element, version, value): the next one
    /// on it commits from there in one round trip, and reads only on a conflict.
    last_seen: Arc<parking_lot::Mutex<Option<(String, u64, Value)>>>,
}

/// An element's state as a script replied it.
struct State {
    value: Value,
    full: bool,
    version: u64,
}

impl Elements {
    fn inner(&self) -> &Inner {
        &self.region.inner
    }

    fn stream(&self, el: &str) -> String {
        let i = self.inner();
        format!("{}{}:{}{el}:w", i.prefix, i.epoch, self.obj.key)
    }

    fn state(&self, r: &Reply) -> Result<State> {
        Ok(State {
            value: decode(&r.text(0), r.bytes(1))?,
            full: r.int(2) == 1,
            version: r.int(3),
        })
    }

    /// One element operation, waiting (on the server) while the script says so.
    fn op(
        &self,
        el: &str,
        op: &str,
        v: Option<ValueRef<'_>>,
        arg: &str,
        d: &Deadline,
        changes: bool,
    ) -> Result<Reply> {
        self.op_as(el, op, v, arg, d, changes, None)
    }

    /// [`Elements::op`]; `call`, when given, is what the caller's call was (its parts) if
    /// it is not this one operation (a read-modify-write: the caller's `faa`, not the
    /// commit it made), for [`Unanswered`].
    #[allow(clippy::too_many_arguments)]
    fn op_as(
        &self,
        el: &str,
        op: &str,
        v: Option<ValueRef<'_>>,
        arg: &str,
        d: &Deadline,
        changes: bool,
        call: Option<&[&[u8]]>,
    ) -> Result<Reply> {
        if let Some(v) = v {
            v.validate()?;
        }
        let (t, b) = v.map(encode).unwrap_or_default();
        let i = self.inner();
        let is_map: &[u8] = if self.is_map { b"1" } else { b"0" };
        let args: [&[u8]; 7] = [
            op.as_bytes(),
            self.obj.key.as_bytes(),
            el.as_bytes(),
            is_map,
            &t,
            &b,
            arg.as_bytes(),
        ];
        let what = call.unwrap_or(&args);
        // One operation id for the whole call (a `wait` reply stores nothing).
        let opid = if changes {
            self.unanswered.op_id(i, what)
        } else {
            String::new()
        };
        let bare = opid.trim_start_matches('!');
        loop {
            // A read_fe may park: until when its entry holds (see `parked`).
            let until = if op == "fe" { self.until(d) } else { 0 };
            let until_text = until.to_string();
            let now = i.server_ms().to_string();
            let mut sent = [
                args[0],
                args[1],
                args[2],
                args[3],
                args[4],
                args[5],
                args[6],
                now.as_bytes(),
            ];
            if op == "fe" {
                sent[6] = until_text.as_bytes();
            }
            let r = if changes {
                self.unanswered.call(
                    i,
                    &self.obj,
                    &scripts().element,
                    &sent,
                    Some(d),
                    &opid,
                    what,
                )?
            } else {
                i.call_on(&self.obj, &scripts().element, &sent, Some(d), "")?
            };
            match r.status.as_str() {
                "ok" | "conflict" => return Ok(r),
                "wait" => i.block(&self.stream(el), &r.text(0), Some(&self.obj), d)?,
                "park" => {
                    match self.parked(el, &r.text(0), bare, until, d) {
                        Ok(Some(done)) => return Ok(done),
                        // Park again (the slice ended), or start over (the key was
                        // removed meanwhile).
                        Ok(None) => {}
                        Err(e) => {
                            if let Error::Unavailable(_) = e {
                                self.unanswered.remember(&opid, what);
                            }
                            return Err(e);
                        }
                    }
                }
                "nospace" => {
                    return Err(Error::NoSpace(format!(
                        "map '{}' is full ({} keys)",
                        self.obj.name,
                        r.text(0)
                    )))
                }
                "notfound" => {
                    return Err(Error::NotFound(format!(
                        "map '{}' has no key '{}'",
                        self.obj.name,
                        el[2..].chars().take(64).collect::<String>()
                    )))
                }
                other => return Err(i.unexpected(other, &r)),
            }
        }
    }

    /// Until when (the server's clock, ms) a read_fe parked now may be served: one wait
    /// slice, never past the caller's deadline nor the region's `timeout_ms` (a request
    /// that reaches the server later than that, after its caller gave up, parks an
    /// entry that is already over); 0 when there is no time to wait.
    fn until(&self, d: &Deadline) -> u64 {
        let i = self.inner();
        let mut span = BLOCK_SLICE.min(i.remote.timeout);
        match d.remaining() {
            Ok(Some(left)) => span = span.min(left),
            Ok(None) => {}
            // No time to wait: 0 asks the script not to park.
            Err(_) => return 0,
        }
        if span.is_zero() {
            return 0;
        }
        i.server_ms() + span.as_millis() as u64
    }

    /// A parked `read_fe` (see the ELEMENT script; `opid` its operation, `until` when
    /// its entry ends): blocks on its `list` until the change that fills the element
    /// completes the call for it and pushes the result. `Ok(None)`: park again or start
    /// over. When the entry ends, or a reply may have been lost, it asks the server
    /// ([`Elements::unpark`]): a call completed meanwhile is returned, never dropped.
    fn parked(
        &self,
        el: &str,
        list: &str,
        opid: &str,
        until: u64,
        d: &Deadline,
    ) -> Result<Option<Reply>> {
        let i = self.inner();
        let entry = format!("{opid} {until}");
        loop {
            let left = until.saturating_sub(i.server_ms());
            let slice = Duration::from_millis(left.max(1));
            let secs = format!("{:.3}", slice.as_secs_f64());
            let mut tries = 0;
            let got: Result<Option<(Vec<u8>, Vec<u8>)>> =
                i.server
                    .run(Instant::now() + slice + REPLY_MARGIN, slice, false, |c| {
                        tries += 1;
                        if tries > 1 {
                            // Sent again on a new connection: the first may have taken
                            // the value; ask instead.
                            return Ok(None);
                        }
                        redis::cmd("BLPOP").arg(list).arg(&secs).query(c)
                    });
            match got {
                Ok(Some((_, item))) => match parked_item(&item, opid)? {
                    Pushed::Result(r) => return Ok(Some(r)),
                    Pushed::Retry => return Ok(None),
                    Pushed::NotOurs => continue,
                },
                Ok(None) | Err(Error::Unavailable(_)) => {}
                Err(e) => return Err(e),
            }
            // The entry is over (or the reply may be lost): completed meanwhile?
            return match self.unpark(el, &entry)? {
                Some(r) => Ok(Some(r)),
                None if d.remaining().is_err() => Err(Error::Timeout),
                None => Ok(None),
            };
        }
    }

    /// Takes a parked `read_fe` (`entry`: its operation id and end) off the element's
    /// queue; if it was completed already, its result.
    fn unpark(&self, el: &str, entry: &str) -> Result<Option<Reply>> {
        let now = self.inner().server_ms().to_string();
        let args: [&[u8]; 8] = [
            b"unpark",
            self.obj.key.as_bytes(),
            el.as_bytes(),
            if self.is_map { b"1" } else { b"0" },
            b"",
            b"",
            entry.as_bytes(),
            now.as_bytes(),
        ];
        let i = self.inner();
        let r = i.call_on(&self.obj, &scripts().element, &args, None, "")?;
        match r.status.as_str() {
            "ok" => Ok(Some(r)),
            "cancelled" => Ok(None),
            other => Err(i.unexpected(other, &r)),
        }
    }

    fn read_state(&self, el: &str, op: &str, d: &Deadline, changes: bool) -> Result<State> {
        // Reads that change nothing and need no script: one pipelined round trip. A
        // `read_ff` that finds the element EMPTY goes on with the script, which
        // registers it as a waiter.
        if matches!(op, "read" | "ver" | "ff") {
            let s = self.read_plain(el, d)?;
            if op != "ff" || s.full {
                return Ok(s);
            }
        }
        let r = self.op(el, op, None, "", d, changes)?;
        self.state(&r)
    }

    /// The element's state without a script (see [`Inner::read_fields`]).
    fn read_plain(&self, el: &str, d: &Deadline) -> Result<State> {
        let key = format!("{}{el}", self.obj.key);
        let mut h = self
            .inner()
            .read_fields(&self.obj, &key, &["t", "v", "f", "ver"], Some(d))?;
        let Some(ver) = h.get_mut(3).and_then(Option::take) else {
            // Absent: UNDEFINED, EMPTY (an array element: as the array was created).
            return Ok(State {
                value: Value::Undefined,
                full: !self.is_map && self.full_at_start,
                version: 0,
            });
        };
        let text =
            |b: Option<Vec<u8>>| String::from_utf8(b.unwrap_or_default()).unwrap_or_default();
        let t = text(h[0].take());
        Ok(State {
            value: decode(&t, h[1].take().unwrap_or_default())?,
            full: h[2].as_deref() == Some(b"1"),
            version: text(Some(ver))
                .parse()
                .map_err(|_| Error::corrupt("a remote element has a damaged version"))?,
        })
    }

    fn write(&self, el: &str, op: &str, v: ValueRef<'_>, d: &Deadline) -> Result<()> {
        self.op(el, op, Some(v), "", d, true).map(|_| ())
    }

    /// `faa`, `cas`, `patch`: reads, computes the new value with `f` (None: no change),
    /// commits if the version did not move meanwhile; retries otherwise. Returns the old
    /// value and the new one (None: unchanged).
    fn rmw(
        &self,
        el: &str,
        call: &[&[u8]],
        f: impl Fn(&Value) -> Result<Option<Value>>,
    ) -> Result<(Value, Option<Value>)> {
        let forever = Deadline::after(None);
        let cached = self
            .last_seen
            .lock()
            .as_ref()
            .filter(|(e, _, _)| e == el)
            .map(|(_, ver, v)| (*ver, v.clone()));
        // Whether (version, value) came from the server just now (the cache may be stale:
        // a commit from it is checked by the script, an answer without a commit is not).
        let mut verified = cached.is_none();
        let (mut version, mut value) = match cached {
            Some(c) => c,
            None => {
                let s = self.read_state(el, "read", &forever, false)?;
                (s.version, s.value)
            }
        };
        loop {
            let Some(new) = f(&value)? else {
                if !verified {
                    let s = self.read_state(el, "read", &forever, false)?;
                    (version, value, verified) = (s.version, s.value, true);
                    continue;
                }
                if self.is_map && version == 0 {
                    // As every writing call, an absent key is inserted first.
                    self.op(el, "ensure", None, "", &forever, true)?;
                }
                return Ok((value, None));
            };
            // The commit replies the value it replaced, or on a conflict the current
            // state; a retry after a lost reply (the same `call`) gets the original answer.
            let r = self.op_as(
                el,
                "commit",
                Some(new.as_ref()),
                &version.to_string(),
                &forever,
                true,
                Some(call),
            )?;
            let s = self.state(&r)?;
            if r.status == "ok" {
                // The answer of an earlier attempt of the same call (a retry after a lost
                // reply) replaced another value than the one `new` was computed from:
                // what it committed is `f` of the value it replaced.
                let new = if s.version == version {
                    new
                } else {
                    f(&s.value)?.unwrap_or_else(|| s.value.clone())
                };
                *self.last_seen.lock() = Some((el.to_owned(), s.version + 1, new.clone()));
                return Ok((s.value, Some(new)));
            }
            (version, value, verified) = (s.version, s.value, true);
        }
    }

    fn faa(&self, el: &str, delta: ValueRef<'_>) -> Result<Value> {
        delta.validate()?;
        let (t, b) = encode(delta);
        let call: [&[u8]; 4] = [b"faa", el.as_bytes(), &t, &b];
        self.rmw(el, &call, |old| js_add(old.as_ref(), delta).map(Some))
            .map(|(old, _)| old)
    }

    /// Applies a patch (`crate::semantics::patch`) as a version-checked commit; returns
    /// the new value. A retry after a lost reply carries the same operation id, so a
    /// patch is applied once however often its commit is sent.
    fn patch(&self, el: &str, patch: ValueRef<'_>) -> Result<Value> {
        let p = Patch::parse(patch)?;
        let (t, b) = encode(patch);
        let call: [&[u8]; 4] = [b"patch", el.as_bytes(), &t, &b];
        let (_, new) = self.rmw(el, &call, |old| p.apply(old.as_ref()).map(Some))?;
        new.ok_or_else(|| Error::Internal("a patch committed no value".into()))
    }

    fn cas(&self, el: &str, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value> {
        expected.validate()?;
        desired.validate()?;
        let (te, be) = encode(expected);
        let (td, bd) = encode(desired);
        let call: [&[u8]; 6] = [b"cas", el.as_bytes(), &te, &be, &td, &bd];
        self.rmw(el, &call, |old| {
            Ok(old.as_ref().same_as(&expected).then(|| desired.to_owned()))
        })
        .map(|(old, _)| old)
    }

    /// The element's value once its version differs from `*seen` (see
    /// `crate::semantics::watch`): one read (a single HMGET, so value and version belong
    /// together) and, while unchanged, a wait on the server.
    fn watch(&self, el: &str, seen: &mut u64, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        crate::semantics::watch::watch(
            seen,
            &d,
            || {
                let s = self.read_plain(el, &d)?;
                Ok((s.value, s.version))
            },
            |now, d| {
                self.op(el, "waitver", None, &now.to_string(), d, false)
                    .map(|_| ())
            },
        )
    }

    fn wait_change(&self, el: &str, seen: &mut u64, timeout: Option<Duration>) -> Result<()> {
        let d = Deadline::after(timeout);
        // Changed already: no script.
        let now = self.read_plain(el, &d)?.version;
        if now != *seen {
            *seen = now;
            return Ok(());
        }
        let r = self.op(el, "waitver", None, &seen.to_string(), &d, false)?;
        *seen = r.int(3);
        Ok(())
    }
}

/// Ops that take no timeout of their own wait without limit (as locally).
fn forever() -> Deadline {
    Deadline::after(None)
}

/// An array on a remote region.
#[derive(Clone)]
pub struct Array {
    e: Elements,
    length: u64,
}

impl Array {
    pub(crate) fn open(region: &Region, name: &str, length: u64, flags: u32) -> Result<Array> {
        if flags & !(FLAG_FULL | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!("unknown array flags {flags:#x}")));
        }
        let found = region.inner.open_object(
            name,
            &ARRAY_WORDS,
            length,
            flags & FLAG_FULL,
            flags & FLAG_EXCLUSIVE != 0,
        )?;
        Ok(Array {
            e: Elements {
                region: region.clone(),
                obj: Obj::new(&region.inner, &found, name, "array"),
                is_map: false,
                full_at_start: found.flags & FLAG_FULL != 0,
                unanswered: Arc::default(),
                last_seen: Arc::default(),
            },
            length: found.shape,
        })
    }

    fn el(&self, index: u64) -> Result<String> {
        if index >= self.length {
            return Err(Error::OutOfRange {
                index,
                length: self.length,
            });
        }
        Ok(format!("e:{index}"))
    }

    pub fn name(&self) -> &str {
        &self.e.obj.name
    }
    pub fn len(&self) -> u64 {
        self.length
    }
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
    pub fn read(&self, index: u64) -> Result<Value> {
        Ok(self
            .e
            .read_state(&self.el(index)?, "read", &forever(), false)?
            .value)
    }
    pub fn write(&self, index: u64, v: ValueRef<'_>) -> Result<()> {
        self.e.write(&self.el(index)?, "w", v, &forever())
    }
    pub fn read_fe(&self, index: u64, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        Ok(self.e.read_state(&self.el(index)?, "fe", &d, true)?.value)
    }
    pub fn read_ff(&self, index: u64, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        Ok(self.e.read_state(&self.el(index)?, "ff", &d, false)?.value)
    }
    pub fn write_ef(&self, index: u64, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()> {
        self.e
            .write(&self.el(index)?, "ef", v, &Deadline::after(timeout))
    }
    pub fn write_xf(&self, index: u64, v: ValueRef<'_>) -> Result<()> {
        self.e.write(&self.el(index)?, "xf", v, &forever())
    }
    pub fn write_xe(&self, index: u64, v: ValueRef<'_>) -> Result<()> {
        self.e.write(&self.el(index)?, "xe", v, &forever())
    }
    pub fn set_tag(&self, index: u64, full: bool) -> Result<()> {
        let arg = if full { "1" } else { "0" };
        self.e
            .op(&self.el(index)?, "tag", None, arg, &forever(), true)
            .map(|_| ())
    }
    /// Stores a value and tag, moving the version to at least `version` (`plexus load`).
    pub fn restore(&self, index: u64, v: ValueRef<'_>, full: bool, version: u64) -> Result<()> {
        v.validate()?;
        let arg = format!("{} {version}", if full { 1 } else { 0 });
        self.e
            .op(&self.el(index)?, "restore", Some(v), &arg, &forever(), true)
            .map(|_| ())
    }
    pub fn is_full(&self, index: u64) -> Result<bool> {
        Ok(self
            .e
            .read_state(&self.el(index)?, "read", &forever(), false)?
            .full)
    }
    pub fn read_rw(&self, index: u64, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        Ok(self.e.read_state(&self.el(index)?, "rw", &d, true)?.value)
    }
    pub fn release_rw(&self, index: u64) -> Result<()> {
        self.e
            .op(&self.el(index)?, "release", None, "", &forever(), true)
            .map(|_| ())
    }
    pub fn faa(&self, index: u64, delta: ValueRef<'_>) -> Result<Value> {
        self.e.faa(&self.el(index)?, delta)
    }
    pub fn cas(&self, index: u64, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value> {
        self.e.cas(&self.el(index)?, expected, desired)
    }
    pub fn exchange(&self, index: u64, v: ValueRef<'_>) -> Result<Value> {
        let r = self
            .e
            .op(&self.el(index)?, "xchg", Some(v), "", &forever(), true)?;
        Ok(self.e.state(&r)?.value)
    }
    pub fn patch(&self, index: u64, patch: ValueRef<'_>) -> Result<Value> {
        self.e.patch(&self.el(index)?, patch)
    }
    pub fn version(&self, index: u64) -> Result<u64> {
        Ok(self
            .e
            .read_state(&self.el(index)?, "ver", &forever(), false)?
            .version)
    }
    pub fn wait_change(&self, index: u64, seen: &mut u64, timeout: Option<Duration>) -> Result<()> {
        self.e.wait_change(&self.el(index)?, seen, timeout)
    }
    pub fn watch(&self, index: u64, seen: &mut u64, timeout: Option<Duration>) -> Result<Value> {
        self.e.watch(&self.el(index)?, seen, timeout)
    }
}

/// A map on a remote region.
#[derive(Clone)]
pub struct Map {
    e: Elements,
    capacity: u64,
}

fn key_el(key: &str) -> Result<String> {
    check_key(key)?;
    Ok(format!("k:{key}"))
}

impl Map {
    pub(crate) fn open(
        region: &Region,
        name: &str,
        capacity: u64,
        flags: u32,
        initial: Option<&[(String, Value)]>,
    ) -> Result<Map> {
        if flags & !(FLAG_FULL | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!("unknown map flags {flags:#x}")));
        }
        let initial = initial.unwrap_or_default();
        crate::semantics::watch::check_initial(name, capacity, initial)?;
        // ARGV 9 onwards of the OPEN script: change tracking, then (key, type, value).
        let mut encoded = Vec::with_capacity(initial.len());
        for (k, v) in initial {
            check_key(k)?;
            v.as_ref().validate()?;
            let (t, b) = encode(v.as_ref());
            encoded.push((k.as_bytes(), t, b));
        }
        let mut extra: Vec<&[u8]> = vec![b"1"];
        for (k, t, b) in &encoded {
            extra.extend_from_slice(&[k, t, b]);
        }
        let found = region.inner.open_object_with(
            name,
            &MAP_WORDS,
            capacity,
            flags & FLAG_FULL,
            flags & FLAG_EXCLUSIVE != 0,
            &extra,
        )?;
        Ok(Map {
            e: Elements {
                region: region.clone(),
                obj: Obj::new(&region.inner, &found, name, "map"),
                is_map: true,
                full_at_start: found.flags & FLAG_FULL != 0,
                unanswered: Arc::default(),
                last_seen: Arc::default(),
            },
            capacity: found.shape,
        })
    }

    /// One call of the MAP_CHANGES script.
    fn changes_call(&self, args: &[&[u8]], d: Option<&Deadline>) -> Result<Reply> {
        let i = self.e.inner();
        let mut all: Vec<&[u8]> = vec![self.e.obj.key.as_bytes()];
        all.extend_from_slice(args);
        let r = i.call_obj(&self.e.obj, &scripts().map_changes, &all, d, false)?;
        match r.status.as_str() {
            "ok" | "wait" => Ok(r),
            "untracked" => Err(Error::Unsupported(format!(
                "map '{}' was made by an older version of plexus, without map-wide change \
                 tracking; watch its keys one by one (watch, wait_change), or remove it and \
                 create it again to use change counts and change listings",
                self.e.obj.name
            ))),
            "truncated" => Err(Error::OutOfRange {
                index: args
                    .get(1)
                    .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
                    .unwrap_or(0),
                length: r.text(0).parse().unwrap_or(0),
            }),
            other => Err(i.unexpected(other, &r)),
        }
    }

    /// The map's change count (see the shared-memory map's `change_count`).
    pub fn change_count(&self) -> Result<u64> {
        Ok(self
            .changes_call(&[b"count"], None)?
            .text(0)
            .parse()
            .unwrap_or(0))
    }

    /// Blocks (on the server, on the map's wake stream) until the change count differs
    /// from `*counter`, then stores it there.
    pub fn wait_changes(&self, counter: &mut u64, timeout: Option<Duration>) -> Result<()> {
        let d = Deadline::after(timeout);
        let seen = counter.to_string();
        let stream = {
            let i = self.e.inner();
            format!("{}{}:{}cw", i.prefix, i.epoch, self.e.obj.key)
        };
        loop {
            let r = self.changes_call(&[b"wait", seen.as_bytes()], Some(&d))?;
            if r.status == "ok" {
                *counter = r.text(0).parse().unwrap_or(0);
                return Ok(());
            }
            self.e
                .inner()
                .block(&stream, &r.text(0), Some(&self.e.obj), &d)?;
        }
    }

    /// Up to `max` changes after the count `since`, from `*cursor` (0 starts), in count
    /// order; empty at the end (see the shared-memory map's `next_change`).
    pub fn changes(&self, since: u64, cursor: &mut u64, max: usize) -> Result<Vec<MapChange>> {
        let (since_t, cursor_t, max_t) = (
            since.to_string(),
            cursor.to_string(),
            max.max(1).to_string(),
        );
        let r = self.changes_call(
            &[
                b"list",
                since_t.as_bytes(),
                cursor_t.as_bytes(),
                max_t.as_bytes(),
            ],
            None,
        )?;
        let mut out = Vec::with_capacity(r.items.len() / 4);
        for n in 0..r.items.len() / 4 {
            let key = String::from_utf8(r.bytes(4 * n))
                .map_err(|_| Error::corrupt("a remote map key is not UTF-8"))?;
            let counter: u64 = r.text(4 * n + 1).parse().unwrap_or(0);
            *cursor = counter;
            out.push(MapChange {
                key,
                counter,
                removed: r.text(4 * n + 2) == "1",
                version: r.text(4 * n + 3).parse().unwrap_or(0),
            });
        }
        Ok(out)
    }

    pub fn name(&self) -> &str {
        &self.e.obj.name
    }
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
    pub fn len(&self) -> Result<u64> {
        let r = self.e.inner().call_obj(
            &self.e.obj,
            &scripts().map_len,
            &[self.e.obj.key.as_bytes()],
            None,
            false,
        )?;
        Ok(r.int(0))
    }
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    pub fn read(&self, key: &str) -> Result<Value> {
        Ok(self
            .e
            .read_state(&key_el(key)?, "read", &forever(), false)?
            .value)
    }
    pub fn write(&self, key: &str, v: ValueRef<'_>) -> Result<()> {
        self.e.write(&key_el(key)?, "w", v, &forever())
    }
    pub fn read_fe(&self, key: &str, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        Ok(self.e.read_state(&key_el(key)?, "fe", &d, true)?.value)
    }
    pub fn read_ff(&self, key: &str, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        Ok(self.e.read_state(&key_el(key)?, "ff", &d, false)?.value)
    }
    pub fn write_ef(&self, key: &str, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()> {
        self.e
            .write(&key_el(key)?, "ef", v, &Deadline::after(timeout))
    }
    pub fn write_xf(&self, key: &str, v: ValueRef<'_>) -> Result<()> {
        self.e.write(&key_el(key)?, "xf", v, &forever())
    }
    pub fn write_xe(&self, key: &str, v: ValueRef<'_>) -> Result<()> {
        self.e.write(&key_el(key)?, "xe", v, &forever())
    }
    pub fn set_tag(&self, key: &str, full: bool) -> Result<()> {
        let arg = if full { "1" } else { "0" };
        self.e
            .op(&key_el(key)?, "tag", None, arg, &forever(), true)
            .map(|_| ())
    }
    /// Stores a value and tag, moving the version to at least `version` (`plexus load`).
    pub fn restore(&self, key: &str, v: ValueRef<'_>, full: bool, version: u64) -> Result<()> {
        v.validate()?;
        let arg = format!("{} {version}", if full { 1 } else { 0 });
        self.e
            .op(&key_el(key)?, "restore", Some(v), &arg, &forever(), true)
            .map(|_| ())
    }
    pub fn is_full(&self, key: &str) -> Result<bool> {
        Ok(self
            .e
            .read_state(&key_el(key)?, "read", &forever(), false)?
            .full)
    }
    pub fn read_rw(&self, key: &str, timeout: Option<Duration>) -> Result<Value> {
        let d = Deadline::after(timeout);
        Ok(self.e.read_state(&key_el(key)?, "rw", &d, true)?.value)
    }
    pub fn release_rw(&self, key: &str) -> Result<()> {
        self.e
            .op(&key_el(key)?, "release", None, "", &forever(), true)
            .map(|_| ())
    }
    pub fn faa(&self, key: &str, delta: ValueRef<'_>) -> Result<Value> {
        self.e.faa(&key_el(key)?, delta)
    }
    pub fn cas(&self, key: &str, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value> {
        self.e.cas(&key_el(key)?, expected, desired)
    }
    pub fn exchange(&self, key: &str, v: ValueRef<'_>) -> Result<Value> {
        let r = self
            .e
            .op(&key_el(key)?, "xchg", Some(v), "", &forever(), true)?;
        Ok(self.e.state(&r)?.value)
    }
    pub fn patch(&self, key: &str, patch: ValueRef<'_>) -> Result<Value> {
        self.e.patch(&key_el(key)?, patch)
    }
    pub fn version(&self, key: &str) -> Result<u64> {
        Ok(self
            .e
            .read_state(&key_el(key)?, "ver", &forever(), false)?
            .version)
    }
    pub fn wait_change(&self, key: &str, seen: &mut u64, timeout: Option<Duration>) -> Result<()> {
        self.e.wait_change(&key_el(key)?, seen, timeout)
    }
    pub fn watch(&self, key: &str, seen: &mut u64, timeout: Option<Duration>) -> Result<Value> {
        self.e.watch(&key_el(key)?, seen, timeout)
    }
    pub fn remove(&self, key: &str) -> Result<()> {
        self.e
            .op(&key_el(key)?, "remove", None, "", &forever(), true)
            .map(|_| ())
    }
    /// The next key after `*cursor` in insertion order (0 starts), advancing the cursor.
    pub fn next_key(&self, cursor: &mut u64) -> Result<Option<String>> {
        let r = self.e.inner().call_obj(
            &self.e.obj,
            &scripts().next_key,
            &[self.e.obj.key.as_bytes(), cursor.to_string().as_bytes()],
            None,
            false,
        )?;
        if r.items.is_empty() {
            return Ok(None);
        }
        let key = String::from_utf8(r.bytes(0))
            .map_err(|_| Error::corrupt("a remote map key is not UTF-8"))?;
        *cursor = r.text(1).parse::<f64>().map_or(u64::MAX, |f| f as u64);
        Ok(Some(key))
    }
}
