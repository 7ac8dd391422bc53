//! MongoDB-style patches (`plexus_map_patch`, `plexus_array_patch`): an update document
//! of operators applied to an element's OBJECT value, written once for both backends.
//! The backends run [`Patch::apply`] inside their read-modify-write (shared memory: under
//! the element lock; Redis: committed only if the version did not move), so a patch is
//! atomic and all-or-nothing: an error anywhere leaves the stored value untouched, since
//! the new value is built apart and committed only when every operator succeeded.
//!
//! The document: `{"$op": {"dotted.path": argument, ...}, ...}` with the operators
//!
//! | operator    | on an existing field                          | on a missing field        |
//! |-------------|-----------------------------------------------|---------------------------|
//! | `$set`      | replaces it                                   | creates it                |
//! | `$unset`    | removes it (an array item becomes `null`)     | nothing                   |
//! | `$inc`      | adds a number to a number                     | sets the argument         |
//! | `$mul`      | multiplies a number by a number               | sets 0 (int or float)     |
//! | `$min`      | keeps the smaller of it and the argument      | sets the argument         |
//! | `$max`      | keeps the larger                              | sets the argument         |
//! | `$push`     | appends to an array (`{"$each": [...]}`: many)| creates the array         |
//! | `$addToSet` | appends what the array does not hold yet      | creates the array         |
//! | `$pull`     | removes every item equal to the argument      | nothing                   |
//!
//! Paths: field names separated by dots; a segment that meets an array is an index
//! (`"items.2.name"`, 0-based, below the array's length). Missing maps along a path are
//! created by every operator but `$unset` and `$pull`. Segments match string keys only;
//! keys of other types are kept as they are.
//!
//! Numbers: int op int stays int, exact over MessagePack's integer range (-2^63 ..
//! 2^64-1); a result outside it is an error (unlike `faa`, which wraps as a CPU adds:
//! a patch follows MongoDB, which refuses an overflow). Any float makes a float. Booleans
//! and null are not numbers here. `$min`/`$max` compare numbers with numbers (ints and
//! floats by value, NaN below every number, as MongoDB orders them) and strings with
//! strings (by UTF-8 bytes, i.e. by code point); any other pair is a type mismatch.
//! Equality for `$pull` and `$addToSet`: same structure, numbers by value (`1 == 1.0`),
//! maps with the same entries in the same order.

use std::cmp::Ordering;

use rmpv::Value as Mp;

use crate::error::{Error, Result};
use crate::semantics::value::{Value, ValueRef};

/// Longest path, in segments (MongoDB's nesting limit): keeps every recursion over a
/// patched value bounded.
pub const MAX_PATH_SEGMENTS: usize = 100;

/// Applies the update document `patch` to `old` (an OBJECT, or UNDEFINED which counts as
/// `{}`), returning the new value. See the module documentation for the operators.
pub fn apply(old: ValueRef<'_>, patch: ValueRef<'_>) -> Result<Value> {
    Patch::parse(patch)?.apply(old)
}

/// A checked update document, ready to apply (any number of times: a backend that
/// retries after a conflict applies it again to the value it then finds).
#[derive(Debug, Clone)]
pub struct Patch {
    ops: Vec<Op>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Set,
    Unset,
    Inc,
    Mul,
    Min,
    Max,
    Push,
    AddToSet,
    Pull,
}

const KINDS: [(&str, Kind); 9] = [
    ("$set", Kind::Set),
    ("$unset", Kind::Unset),
    ("$inc", Kind::Inc),
    ("$mul", Kind::Mul),
    ("$min", Kind::Min),
    ("$max", Kind::Max),
    ("$push", Kind::Push),
    ("$addToSet", Kind::AddToSet),
    ("$pull", Kind::Pull),
];

impl Kind {
    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }
}

/// One operator on one path.
#[derive(Debug, Clone)]
struct Op {
    kind: Kind,
    path: Vec<String>,
    /// The path as written, for messages.
    shown: String,
    /// The argument (for `$push`/`$addToSet`: an array of the items to add).
    arg: Mp,
}

/// What an operator does to the field it names.
enum Change {
    Keep,
    Remove,
    Put(Mp),
}

fn invalid(msg: String) -> Error {
    Error::InvalidArgument(format!("patch: {msg}"))
}

fn mismatch(msg: String) -> Error {
    Error::TypeMismatch(format!("patch: {msg}"))
}

/// The name of a MessagePack value's kind, in the words of `plexus_type`.
fn kind_of(v: &Mp) -> &'static str {
    match v {
        Mp::Nil => "null",
        Mp::Boolean(_) => "bool",
        Mp::Integer(_) => "int",
        Mp::F32(_) | Mp::F64(_) => "float",
        Mp::String(_) => "string",
        Mp::Binary(_) => "bytes",
        Mp::Array(_) => "array",
        Mp::Map(_) => "map",
        Mp::Ext(..) => "extension",
    }
}

fn decode(bytes: &[u8], what: &str) -> Result<Mp> {
    let mut rd = bytes;
    let v = rmpv::decode::read_value(&mut rd)
        .map_err(|e| Error::invalid(format!("patch: {what} is not valid MessagePack: {e}")))?;
    if !rd.is_empty() {
        return Err(Error::invalid(format!(
            "patch: {what} is not one MessagePack value ({} trailing bytes)",
            rd.len()
        )));
    }
    Ok(v)
}

impl Patch {
    /// Checks an update document: an OBJECT holding a map of operators, each a map of
    /// paths to arguments. INVALID_ARGUMENT (naming the operator and path) otherwise.
    pub fn parse(patch: ValueRef<'_>) -> Result<Patch> {
        let ValueRef::Object(bytes) = patch else {
            return Err(invalid(format!(
                "a patch is an OBJECT such as {{\"$set\": {{\"a.b\": 1}}}}, not {}",
                patch.type_of().name()
            )));
        };
        patch.validate()?;
        let Mp::Map(entries) = decode(bytes, "the patch")? else {
            return Err(invalid(
                "a patch is a map of operators such as {\"$set\": {\"a.b\": 1}}".into(),
            ));
        };
        if entries.is_empty() {
            return Err(invalid("the patch has no operator".into()));
        }
        let mut ops = Vec::new();
        for (name, args) in entries {
            let kind = name
                .as_str()
                .and_then(|n| KINDS.iter().find(|(k, _)| *k == n))
                .map(|(_, k)| *k)
                .ok_or_else(|| {
                    let known: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
                    invalid(format!(
                        "unknown operator {name} (known: {})",
                        known.join(", ")
                    ))
                })?;
            let Mp::Map(args) = args else {
                return Err(invalid(format!(
                    "{} takes a map of paths to arguments, not {}",
                    kind.name(),
                    kind_of(&args)
                )));
            };
            for (path, arg) in args {
                let Some(shown) = path.as_str() else {
                    return Err(invalid(format!(
                        "{} has a path that is a {}, not a string",
                        kind.name(),
                        kind_of(&path)
                    )));
                };
                let op = Op::new(kind, shown, arg)?;
                ops.push(op);
            }
        }
        check_overlaps(&ops)?;
        Ok(Patch { ops })
    }

    /// Applies the patch to `old` (an OBJECT, or UNDEFINED which counts as `{}`).
    /// TYPE_MISMATCH when the value does not fit a path or an operator; `old` itself is
    /// never changed.
    pub fn apply(&self, old: ValueRef<'_>) -> Result<Value> {
        let mut root = match old {
            ValueRef::Undefined => Mp::Map(Vec::new()),
            ValueRef::Object(b) => decode(b, "the element's value")?,
            other => {
                return Err(mismatch(format!(
                    "a patch changes an OBJECT (or an UNDEFINED element, which counts as {{}}); \
                     this element holds {}",
                    other.type_of().name()
                )))
            }
        };
        if !matches!(root, Mp::Map(_) | Mp::Array(_)) {
            return Err(mismatch(format!(
                "a patch changes a map or an array; this element holds an OBJECT that is {}",
                kind_of(&root)
            )));
        }
        for op in &self.ops {
            op.apply(&mut root)?;
        }
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &root)
            .map_err(|e| Error::Internal(format!("patch: cannot encode the result: {e}")))?;
        Ok(Value::Object(out))
    }
}

/// Two operators on the same path, or on a path and one inside it, would depend on their
/// order: MongoDB refuses such a patch, and so does this.
fn check_overlaps(ops: &[Op]) -> Result<()> {
    let mut sorted: Vec<&Op> = ops.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    // Sorted by segments, a path comes right before the paths inside it.
    for w in sorted.windows(2) {
        if w[1].path.starts_with(&w[0].path) {
            return Err(invalid(format!(
                "{} '{}' and {} '{}' touch the same field (a patch may change each field once)",
                w[0].kind.name(),
                w[0].shown,
                w[1].kind.name(),
                w[1].shown
            )));
        }
    }
    Ok(())
}

/// A segment that meets an array: a decimal index (`None` when it is not one; an index
/// too large for `usize` is past any array's end).
fn index_of(segment: &str) -> Option<usize> {
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(segment.parse().unwrap_or(usize::MAX))
}

enum Num {
    Int(i128),
    Float(f64),
}

fn num(v: &Mp) -> Option<Num> {
    match v {
        Mp::Integer(i) => i
            .as_i64()
            .map(i128::from)
            .or_else(|| i.as_u64().map(i128::from))
            .map(Num::Int),
        Mp::F32(f) => Some(Num::Float(f64::from(*f))),
        Mp::F64(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

impl Num {
    fn float(&self) -> f64 {
        match *self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// An integer result back into MessagePack's range; None when it does not fit.
fn int_value(i: i128) -> Option<Mp> {
    if let Ok(s) = i64::try_from(i) {
        Some(Mp::from(s))
    } else {
        u64::try_from(i).ok().map(Mp::from)
    }
}

/// An int against a float, exactly (no rounding of large ints); NaN is below every number.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Greater;
    }
    // Beyond MessagePack's integer range (and the exact range of an i128 cast).
    if f >= 2f64.powi(64) {
        return Ordering::Less;
    }
    if f < -(2f64.powi(63)) {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    match i.cmp(&(whole as i128)) {
        Ordering::Equal => 0f64.partial_cmp(&(f - whole)).unwrap_or(Ordering::Equal),
        o => o,
    }
}

/// The order of two numbers: by value, NaN below every number (and equal to NaN).
fn cmp_num(a: &Num, b: &Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(y),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(*x, *y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(*y, *x).reverse(),
        (Num::Float(x), Num::Float(y)) => match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        },
    }
}

/// Equality for `$pull` and `$addToSet`: numbers by value, the rest by structure.
fn same(a: &Mp, b: &Mp) -> bool {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return cmp_num(&x, &y) == Ordering::Equal;
    }
    match (a, b) {
        (Mp::Nil, Mp::Nil) => true,
        (Mp::Boolean(x), Mp::Boolean(y)) => x == y,
        (Mp::String(x), Mp::String(y)) => x.as_bytes() == y.as_bytes(),
        (Mp::Binary(x), Mp::Binary(y)) => x == y,
        (Mp::Ext(t, x), Mp::Ext(u, y)) => t == u && x == y,
        (Mp::Array(x), Mp::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Mp::Map(x), Mp::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        _ => false,
    }
}

impl Op {
    fn new(kind: Kind, shown: &str, arg: Mp) -> Result<Op> {
        let name = kind.name();
        let path: Vec<String> = shown.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(invalid(format!(
                "{name} '{shown}': a path is field names joined by dots, none of them empty"
            )));
        }
        if path.iter().any(|s| s.starts_with('$')) {
            return Err(invalid(format!(
                "{name} '{shown}': a path segment cannot start with '$' (positional operators \
                 are not supported)"
            )));
        }
        if path.len() > MAX_PATH_SEGMENTS {
            return Err(invalid(format!(
                "{name} '{}...': a path has at most {MAX_PATH_SEGMENTS} segments",
                shown.chars().take(40).collect::<String>()
            )));
        }
        let arg = match kind {
            Kind::Inc | Kind::Mul if num(&arg).is_none() => {
                return Err(invalid(format!(
                    "{name} '{shown}' takes a number, not {}",
                    kind_of(&arg)
                )))
            }
            Kind::Min | Kind::Max if num(&arg).is_none() && !matches!(arg, Mp::String(_)) => {
                return Err(invalid(format!(
                    "{name} '{shown}' takes a number or a string, not {}",
                    kind_of(&arg)
                )))
            }
            Kind::Push | Kind::AddToSet => Mp::Array(items(name, shown, arg)?),
            Kind::Pull => {
                if let Some(k) = modifier(&arg) {
                    return Err(invalid(format!(
                        "{name} '{shown}': conditions such as {k} are not supported; $pull \
                         removes the items equal to its argument"
                    )));
                }
                arg
            }
            _ => arg,
        };
        Ok(Op {
            kind,
            path,
            shown: shown.to_owned(),
            arg,
        })
    }

    /// Applies this operator to `root` (already a map or an array).
    fn apply(&self, root: &mut Mp) -> Result<()> {
        let creates = !matches!(self.kind, Kind::Unset | Kind::Pull);
        let Some(parent) = self.walk(root, creates)? else {
            return Ok(()); // $unset, $pull: nothing there
        };
        let last = self.path.last().expect("a path has a segment");
        match parent {
            Mp::Map(entries) => {
                let at = entries.iter().position(|(k, _)| k.as_str() == Some(last));
                let change = self.change(at.map(|i| &mut entries[i].1))?;
                match (change, at) {
                    (Change::Keep, _) | (Change::Remove, None) => {}
                    (Change::Remove, Some(i)) => {
                        entries.remove(i);
                    }
                    (Change::Put(v), Some(i)) => entries[i].1 = v,
                    (Change::Put(v), None) => entries.push((Mp::from(last.as_str()), v)),
                }
            }
            Mp::Array(items) => {
                let i = self.index(last, items.len())?;
                if i >= items.len() {
                    if creates {
                        return Err(self.past_end(last, items.len()));
                    }
                    return Ok(());
                }
                match self.change(Some(&mut items[i]))? {
                    Change::Keep => {}
                    // MongoDB's $unset of an array item: it becomes null, the others keep
                    // their places.
                    Change::Remove => items[i] = Mp::Nil,
                    Change::Put(v) => items[i] = v,
                }
            }
            // `walk` returns only maps and arrays.
            other => return Err(self.through(self.path.len() - 1, other)),
        }
        Ok(())
    }

    /// The map or array holding the path's last segment; missing maps on the way are
    /// created when `creates`, else `None`.
    fn walk<'a>(&self, root: &'a mut Mp, creates: bool) -> Result<Option<&'a mut Mp>> {
        let mut cur = root;
        for (depth, seg) in self.path[..self.path.len() - 1].iter().enumerate() {
            cur = match cur {
                Mp::Map(entries) => {
                    let at = match entries.iter().position(|(k, _)| k.as_str() == Some(seg)) {
                        Some(i) => i,
                        None if creates => {
                            entries.push((Mp::from(seg.as_str()), Mp::Map(Vec::new())));
                            entries.len() - 1
                        }
                        None => return Ok(None),
                    };
                    &mut entries[at].1
                }
                Mp::Array(items) => {
                    let i = self.index(seg, items.len())?;
                    if i >= items.len() {
                        if creates {
                            return Err(self.past_end(seg, items.len()));
                        }
                        return Ok(None);
                    }
                    &mut items[i]
                }
                other => return Err(self.through(depth, other)),
            };
        }
        if !matches!(cur, Mp::Map(_) | Mp::Array(_)) {
            return Err(self.through(self.path.len() - 1, cur));
        }
        Ok(Some(cur))
    }

    fn index(&self, seg: &str, len: usize) -> Result<usize> {
        index_of(seg).ok_or_else(|| {
            mismatch(format!(
                "{} '{}': '{seg}' meets an array (length {len}), where a segment is an index",
                self.kind.name(),
                self.shown
            ))
        })
    }

    fn past_end(&self, seg: &str, len: usize) -> Error {
        mismatch(format!(
            "{} '{}': index {seg} is past the end of an array of length {len}",
            self.kind.name(),
            self.shown
        ))
    }

    /// The error for a path that goes on through a value that is not a map or array:
    /// `depth` segments lead to it.
    fn through(&self, depth: usize, v: &Mp) -> Error {
        let at = if depth == 0 {
            "the value".to_owned()
        } else {
            format!("'{}'", self.path[..depth].join("."))
        };
        mismatch(format!(
            "{} '{}': {at} is {} {}, not a map or an array",
            self.kind.name(),
            self.shown,
            if matches!(v, Mp::Array(_) | Mp::Integer(_) | Mp::Ext(..)) {
                "an"
            } else {
                "a"
            },
            kind_of(v)
        ))
    }

    fn wrong_type(&self, needs: &str, found: &Mp) -> Error {
        mismatch(format!(
            "{} '{}' needs {needs}; the field holds {}",
            self.kind.name(),
            self.shown,
            kind_of(found)
        ))
    }

    fn overflow(&self) -> Error {
        invalid(format!(
            "{} '{}': the result does not fit in a 64-bit integer",
            self.kind.name(),
            self.shown
        ))
    }

    /// What the operator does to the field (`None`: the field is missing).
    fn change(&self, field: Option<&mut Mp>) -> Result<Change> {
        let arg = &self.arg;
        let Some(cur) = field else {
            return Ok(match self.kind {
                Kind::Unset | Kind::Pull => Change::Keep,
                Kind::Mul => Change::Put(match num(arg) {
                    Some(Num::Int(_)) => Mp::from(0),
                    _ => Mp::F64(0.0),
                }),
                _ => Change::Put(arg.clone()),
            });
        };
        Ok(match self.kind {
            Kind::Set => Change::Put(arg.clone()),
            Kind::Unset => Change::Remove,
            Kind::Inc | Kind::Mul => {
                let (Some(a), Some(b)) = (num(cur), num(arg)) else {
                    return Err(self.wrong_type("a number", cur));
                };
                let r = match (a, b) {
                    (Num::Int(x), Num::Int(y)) => {
                        let r = if self.kind == Kind::Inc {
                            x.checked_add(y)
                        } else {
                            x.checked_mul(y)
                        };
                        r.and_then(int_value).ok_or_else(|| self.overflow())?
                    }
                    (a, b) if self.kind == Kind::Inc => Mp::F64(a.float() + b.float()),
                    (a, b) => Mp::F64(a.float() * b.float()),
                };
                Change::Put(r)
            }
            Kind::Min | Kind::Max => {
                let order = match (num(arg), num(cur), arg, &*cur) {
                    (Some(a), Some(c), _, _) => cmp_num(&a, &c),
                    (_, _, Mp::String(a), Mp::String(c)) => a.as_bytes().cmp(c.as_bytes()),
                    _ => {
                        return Err(mismatch(format!(
                            "{} '{}': cannot compare {} with {} (numbers compare with numbers, \
                             strings with strings)",
                            self.kind.name(),
                            self.shown,
                            kind_of(cur),
                            kind_of(arg)
                        )))
                    }
                };
                let wanted = if self.kind == Kind::Min {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                if order == wanted {
                    Change::Put(arg.clone())
                } else {
                    Change::Keep
                }
            }
            Kind::Push | Kind::AddToSet | Kind::Pull => {
                let Mp::Array(have) = cur else {
                    return Err(self.wrong_type("an array", cur));
                };
                match (self.kind, arg) {
                    (Kind::Push, Mp::Array(add)) => have.extend(add.iter().cloned()),
                    (Kind::AddToSet, Mp::Array(add)) => {
                        for x in add {
                            if !have.iter().any(|h| same(h, x)) {
                                have.push(x.clone());
                            }
                        }
                    }
                    _ => have.retain(|h| !same(h, arg)),
                }
                Change::Keep
            }
        })
    }
}

/// The first `$`-key of a map argument (a modifier or condition), if any.
fn modifier(arg: &Mp) -> Option<String> {
    let Mp::Map(entries) = arg else { return None };
    entries
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .find(|k| k.starts_with('$'))
        .map(str::to_owned)
}

/// The items a `$push`/`$addToSet` adds: its argument, or the array of `{"$each": [...]}`.
fn items(name: &str, shown: &str, arg: Mp) -> Result<Vec<Mp>> {
    let Mp::Map(entries) = &arg else {
        return Ok(vec![arg]);
    };
    let Some(first) = modifier(&arg) else {
        return Ok(vec![arg]); // a plain map is one item
    };
    if first != "$each" || entries.len() != 1 {
        let what = if first == "$each" {
            entries
                .iter()
                .filter_map(|(k, _)| k.as_str())
                .find(|k| *k != "$each")
                .unwrap_or("a second key")
                .to_owned()
        } else {
            first
        };
        return Err(invalid(format!(
            "{name} '{shown}': {what} is not supported (the one modifier is $each)"
        )));
    }
    match arg {
        Mp::Map(mut entries) => match entries.pop().map(|(_, v)| v) {
            Some(Mp::Array(each)) => Ok(each),
            other => Err(invalid(format!(
                "{name} '{shown}': $each takes an array, not {}",
                other.as_ref().map_or("nothing", kind_of)
            ))),
        },
        _ => unreachable!("checked to be a map above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantics::value::Value;

    fn obj(json: &str) -> Value {
        Value::from_json(json).unwrap()
    }

    /// `old` patched with `patch`, as JSON (both given as JSON; "undefined" for UNDEFINED).
    fn run(old: &str, patch: &str) -> Result<String> {
        let old = if old == "undefined" {
            Value::Undefined
        } else {
            obj(old)
        };
        apply(old.as_ref(), obj(patch).as_ref())?.as_ref().to_json()
    }

    fn ok(old: &str, patch: &str) -> String {
        run(old, patch).unwrap_or_else(|e| panic!("{patch} on {old}: {e}"))
    }

    /// The patch fails with the given kind of error, and the message names `names`.
    fn fails(old: &str, patch: &str, invalid_arg: bool, names: &[&str]) {
        let e = run(old, patch).expect_err(patch);
        let msg = match (&e, invalid_arg) {
            (Error::InvalidArgument(m), true) | (Error::TypeMismatch(m), false) => m,
            _ => panic!("{patch} on {old}: wrong error {e:?}"),
        };
        for n in names {
            assert!(msg.contains(n), "{patch}: message {msg:?} lacks {n:?}");
        }
    }

    #[test]
    fn set_creates_and_replaces() {
        assert_eq!(ok("{}", r#"{"$set":{"a":1}}"#), r#"{"a":1}"#);
        assert_eq!(
            ok("undefined", r#"{"$set":{"a.b.c":"x"}}"#),
            r#"{"a":{"b":{"c":"x"}}}"#
        );
        assert_eq!(
            ok(r#"{"a":1,"b":2}"#, r#"{"$set":{"a":{"n":[1]}}}"#),
            r#"{"a":{"n":[1]},"b":2}"#,
            "a replaced field keeps its place"
        );
        assert_eq!(
            ok(
                r#"{"items":[{"name":"a"},{"name":"b"}]}"#,
                r#"{"$set":{"items.1.name":"z"}}"#
            ),
            r#"{"items":[{"name":"a"},{"name":"z"}]}"#
        );
        assert_eq!(
            ok(r#"{"l":[1,2]}"#, r#"{"$set":{"l.0":null}}"#),
            r#"{"l":[null,2]}"#
        );
        // A missing field whose name is a number is a map key (as in MongoDB).
        assert_eq!(ok("{}", r#"{"$set":{"a.0":1}}"#), r#"{"a":{"0":1}}"#);
        // Several operators and paths at once.
        assert_eq!(
            ok(r#"{"n":1}"#, r#"{"$set":{"a":1,"b.c":2},"$inc":{"n":2}}"#),
            r#"{"n":3,"a":1,"b":{"c":2}}"#
        );
        // A top-level array is a container too.
        assert_eq!(ok("[1,2]", r#"{"$set":{"1":5}}"#), "[1,5]");
        // Empty operator maps change nothing.
        assert_eq!(ok(r#"{"a":1}"#, r#"{"$set":{}}"#), r#"{"a":1}"#);
    }

    #[test]
    fn unset_removes() {
        assert_eq!(
            ok(r#"{"a":1,"b":2}"#, r#"{"$unset":{"a":""}}"#),
            r#"{"b":2}"#
        );
        assert_eq!(
            ok(r#"{"a":{"b":1,"c":2}}"#, r#"{"$unset":{"a.b":1}}"#),
            r#"{"a":{"c":2}}"#
        );
        // Missing: nothing (and nothing created).
        assert_eq!(ok(r#"{"a":1}"#, r#"{"$unset":{"x.y.z":""}}"#), r#"{"a":1}"#);
        assert_eq!(ok("undefined", r#"{"$unset":{"x":""}}"#), "{}");
        // An array item becomes null; past the end: nothing.
        assert_eq!(
            ok(r#"{"l":[1,2,3]}"#, r#"{"$unset":{"l.1":""}}"#),
            r#"{"l":[1,null,3]}"#
        );
        assert_eq!(
            ok(r#"{"l":[1]}"#, r#"{"$unset":{"l.5":""}}"#),
            r#"{"l":[1]}"#
        );
        fails(
            r#"{"a":5}"#,
            r#"{"$unset":{"a.b":""}}"#,
            false,
            &["$unset", "a.b", "int"],
        );
    }

    #[test]
    fn inc_and_mul_numbers() {
        assert_eq!(
            ok("undefined", r#"{"$inc":{"stats.hits":1}}"#),
            r#"{"stats":{"hits":1}}"#
        );
        assert_eq!(ok(r#"{"n":41}"#, r#"{"$inc":{"n":1}}"#), r#"{"n":42}"#);
        assert_eq!(ok(r#"{"n":1}"#, r#"{"$inc":{"n":-3}}"#), r#"{"n":-2}"#);
        assert_eq!(ok(r#"{"n":1}"#, r#"{"$inc":{"n":0.5}}"#), r#"{"n":1.5}"#);
        assert_eq!(ok(r#"{"n":1.5}"#, r#"{"$inc":{"n":1}}"#), r#"{"n":2.5}"#);
        assert_eq!(ok("{}", r#"{"$inc":{"n":2.5}}"#), r#"{"n":2.5}"#);
        assert_eq!(ok(r#"{"n":6}"#, r#"{"$mul":{"n":7}}"#), r#"{"n":42}"#);
        assert_eq!(ok(r#"{"n":3}"#, r#"{"$mul":{"n":0.5}}"#), r#"{"n":1.5}"#);
        assert_eq!(ok("{}", r#"{"$mul":{"n":5}}"#), r#"{"n":0}"#);
        assert_eq!(ok("{}", r#"{"$mul":{"n":5.0}}"#), r#"{"n":0.0}"#);
        // int stays int: the result's type, not only its JSON.
        let v = apply(
            obj(r#"{"n":2}"#).as_ref(),
            obj(r#"{"$inc":{"n":1}}"#).as_ref(),
        )
        .unwrap();
        let Value::Object(b) = v else { panic!() };
        assert_eq!(b, [0x81, 0xa1, b'n', 0x03]);
        // MessagePack's whole integer range; outside it: an error, value untouched.
        let max = i64::MAX;
        assert_eq!(
            ok(&format!(r#"{{"n":{max}}}"#), r#"{"$inc":{"n":1}}"#),
            format!(r#"{{"n":{}}}"#, max as u64 + 1)
        );
        assert_eq!(
            ok(r#"{"n":18446744073709551615}"#, r#"{"$inc":{"n":-1}}"#),
            r#"{"n":18446744073709551614}"#
        );
        fails(
            r#"{"n":18446744073709551615}"#,
            r#"{"$inc":{"n":1}}"#,
            true,
            &["64-bit"],
        );
        fails(
            &format!(r#"{{"n":{}}}"#, i64::MIN),
            r#"{"$inc":{"n":-1}}"#,
            true,
            &["$inc", "'n'", "64-bit"],
        );
        fails(
            &format!(r#"{{"n":{max}}}"#),
            r#"{"$mul":{"n":-3}}"#,
            true,
            &["$mul", "'n'"],
        );
        // Not numbers: the field (TYPE_MISMATCH) or the argument (INVALID_ARGUMENT).
        for held in [r#""s""#, "true", "null", "[1]", r#"{"x":1}"#] {
            fails(
                &format!(r#"{{"n":{held}}}"#),
                r#"{"$inc":{"n":1}}"#,
                false,
                &["$inc", "'n'", "number"],
            );
            fails(
                &format!(r#"{{"n":{held}}}"#),
                r#"{"$mul":{"n":2}}"#,
                false,
                &["$mul", "'n'"],
            );
        }
        for arg in [r#""1""#, "true", "null", "[1]", "{}"] {
            fails(
                r#"{"n":1}"#,
                &format!(r#"{{"$inc":{{"n":{arg}}}}}"#),
                true,
                &["$inc", "'n'", "number"],
            );
            fails(
                r#"{"n":1}"#,
                &format!(r#"{{"$mul":{{"n":{arg}}}}}"#),
                true,
                &["$mul"],
            );
        }
    }

    #[test]
    fn min_and_max() {
        assert_eq!(ok(r#"{"n":5}"#, r#"{"$min":{"n":3}}"#), r#"{"n":3}"#);
        assert_eq!(ok(r#"{"n":5}"#, r#"{"$min":{"n":7}}"#), r#"{"n":5}"#);
        assert_eq!(ok(r#"{"n":5}"#, r#"{"$max":{"n":7}}"#), r#"{"n":7}"#);
        assert_eq!(ok(r#"{"n":5}"#, r#"{"$max":{"n":2}}"#), r#"{"n":5}"#);
        assert_eq!(ok("{}", r#"{"$max":{"a.n":2}}"#), r#"{"a":{"n":2}}"#);
        // Ints and floats by value; an equal one keeps what is there.
        assert_eq!(ok(r#"{"n":5}"#, r#"{"$min":{"n":4.5}}"#), r#"{"n":4.5}"#);
        assert_eq!(ok(r#"{"n":5}"#, r#"{"$max":{"n":5.0}}"#), r#"{"n":5}"#);
        assert_eq!(ok(r#"{"n":5.5}"#, r#"{"$max":{"n":6}}"#), r#"{"n":6}"#);
        // Large ints are not rounded through floats.
        assert_eq!(
            ok(
                r#"{"n":9007199254740993}"#,
                r#"{"$min":{"n":9007199254740992.0}}"#
            ),
            r#"{"n":9007199254740992.0}"#
        );
        assert_eq!(
            ok(
                r#"{"n":9007199254740993}"#,
                r#"{"$max":{"n":9007199254740992.0}}"#
            ),
            r#"{"n":9007199254740993}"#
        );
        // Strings by code point.
        assert_eq!(ok(r#"{"s":"b"}"#, r#"{"$min":{"s":"a"}}"#), r#"{"s":"a"}"#);
        assert_eq!(ok(r#"{"s":"b"}"#, r#"{"$max":{"s":"é"}}"#), r#"{"s":"é"}"#);
        assert_eq!(ok(r#"{"s":"b"}"#, r#"{"$max":{"s":"a"}}"#), r#"{"s":"b"}"#);
        // Mixed kinds: a type mismatch; an argument that is neither: invalid.
        fails(
            r#"{"n":5}"#,
            r#"{"$min":{"n":"a"}}"#,
            false,
            &["$min", "'n'", "int", "string"],
        );
        fails(
            r#"{"n":"a"}"#,
            r#"{"$max":{"n":1}}"#,
            false,
            &["$max", "'n'"],
        );
        fails(
            r#"{"n":null}"#,
            r#"{"$max":{"n":1}}"#,
            false,
            &["$max", "null"],
        );
        fails(
            r#"{"n":1}"#,
            r#"{"$max":{"n":[1]}}"#,
            true,
            &["$max", "'n'", "array"],
        );
        fails(r#"{"n":1}"#, r#"{"$min":{"n":null}}"#, true, &["$min"]);
    }

    #[test]
    fn nan_orders_below_numbers() {
        let nan = Num::Float(f64::NAN);
        assert_eq!(
            cmp_num(&nan, &Num::Int(i128::from(i64::MIN))),
            Ordering::Less
        );
        assert_eq!(
            cmp_num(&Num::Float(f64::NEG_INFINITY), &nan),
            Ordering::Greater
        );
        assert_eq!(cmp_num(&nan, &Num::Float(f64::NAN)), Ordering::Equal);
        assert_eq!(cmp_num(&Num::Int(3), &Num::Float(3.5)), Ordering::Less);
        assert_eq!(cmp_num(&Num::Int(-3), &Num::Float(-3.5)), Ordering::Greater);
        assert_eq!(cmp_num(&Num::Int(3), &Num::Float(3.0)), Ordering::Equal);
        assert_eq!(
            cmp_num(&Num::Int(u64::MAX.into()), &Num::Float(1e30)),
            Ordering::Less
        );
        assert_eq!(
            cmp_num(&Num::Int(i64::MIN.into()), &Num::Float(-1e30)),
            Ordering::Greater
        );
        assert!(same(&Mp::F64(f64::NAN), &Mp::F64(f64::NAN)));
        assert!(same(&Mp::from(1), &Mp::F32(1.0)));
    }

    #[test]
    fn push_and_each() {
        assert_eq!(ok("{}", r#"{"$push":{"l":1}}"#), r#"{"l":[1]}"#);
        assert_eq!(
            ok("undefined", r#"{"$push":{"a.l":"x"}}"#),
            r#"{"a":{"l":["x"]}}"#
        );
        assert_eq!(
            ok(r#"{"l":[1]}"#, r#"{"$push":{"l":[2,3]}}"#),
            r#"{"l":[1,[2,3]]}"#
        );
        assert_eq!(
            ok(r#"{"l":[1]}"#, r#"{"$push":{"l":{"$each":[2,3]}}}"#),
            r#"{"l":[1,2,3]}"#
        );
        assert_eq!(
            ok(r#"{"l":[1]}"#, r#"{"$push":{"l":{"$each":[]}}}"#),
            r#"{"l":[1]}"#
        );
        assert_eq!(
            ok("{}", r#"{"$push":{"l":{"$each":[1,1]}}}"#),
            r#"{"l":[1,1]}"#
        );
        assert_eq!(ok("{}", r#"{"$push":{"l":{"k":1}}}"#), r#"{"l":[{"k":1}]}"#);
        assert_eq!(
            ok(r#"{"l":[[0]]}"#, r#"{"$push":{"l.0":1}}"#),
            r#"{"l":[[0,1]]}"#
        );
        fails(
            r#"{"l":5}"#,
            r#"{"$push":{"l":1}}"#,
            false,
            &["$push", "'l'", "array", "int"],
        );
        fails(
            r#"{"l":{}}"#,
            r#"{"$push":{"l":1}}"#,
            false,
            &["$push", "map"],
        );
        fails(
            "{}",
            r#"{"$push":{"l":{"$each":1}}}"#,
            true,
            &["$push", "'l'", "$each", "array"],
        );
        fails(
            "{}",
            r#"{"$push":{"l":{"$each":[1],"$slice":2}}}"#,
            true,
            &["$push", "$slice"],
        );
        fails(
            "{}",
            r#"{"$push":{"l":{"$each":[1],"x":2}}}"#,
            true,
            &["$push", "x"],
        );
        fails(
            "{}",
            r#"{"$push":{"l":{"$sort":1}}}"#,
            true,
            &["$push", "$sort"],
        );
    }

    #[test]
    fn add_to_set_and_pull() {
        assert_eq!(
            ok(r#"{"s":[1,2]}"#, r#"{"$addToSet":{"s":2}}"#),
            r#"{"s":[1,2]}"#
        );
        assert_eq!(
            ok(r#"{"s":[1,2]}"#, r#"{"$addToSet":{"s":2.0}}"#),
            r#"{"s":[1,2]}"#
        );
        assert_eq!(
            ok(r#"{"s":[1,2]}"#, r#"{"$addToSet":{"s":3}}"#),
            r#"{"s":[1,2,3]}"#
        );
        assert_eq!(
            ok(
                r#"{"s":[1]}"#,
                r#"{"$addToSet":{"s":{"$each":[1,4,4,{"a":1}]}}}"#
            ),
            r#"{"s":[1,4,{"a":1}]}"#
        );
        assert_eq!(
            ok(
                r#"{"s":[{"a":1,"b":2}]}"#,
                r#"{"$addToSet":{"s":{"b":2,"a":1}}}"#
            ),
            r#"{"s":[{"a":1,"b":2},{"b":2,"a":1}]}"#,
            "maps are equal with the same entries in the same order"
        );
        assert_eq!(ok("{}", r#"{"$addToSet":{"s":"x"}}"#), r#"{"s":["x"]}"#);
        fails(
            r#"{"s":"x"}"#,
            r#"{"$addToSet":{"s":1}}"#,
            false,
            &["$addToSet", "'s'"],
        );

        assert_eq!(
            ok(r#"{"l":[1,2,1,3,1.0]}"#, r#"{"$pull":{"l":1}}"#),
            r#"{"l":[2,3]}"#
        );
        assert_eq!(
            ok(
                r#"{"l":[[1],{"a":[2]},"x",{"a":[2]}]}"#,
                r#"{"$pull":{"l":{"a":[2]}}}"#
            ),
            r#"{"l":[[1],"x"]}"#
        );
        assert_eq!(ok(r#"{"l":[1]}"#, r#"{"$pull":{"l":9}}"#), r#"{"l":[1]}"#);
        // Missing: nothing, and nothing created.
        assert_eq!(ok(r#"{"a":1}"#, r#"{"$pull":{"x.l":1}}"#), r#"{"a":1}"#);
        fails(
            r#"{"l":1}"#,
            r#"{"$pull":{"l":1}}"#,
            false,
            &["$pull", "'l'", "array"],
        );
        fails(
            r#"{"l":[1]}"#,
            r#"{"$pull":{"l":{"$gte":1}}}"#,
            true,
            &["$pull", "$gte"],
        );
    }

    #[test]
    fn paths_that_do_not_fit() {
        // Through a scalar, at any depth, for every operator.
        for op in [
            "$set",
            "$unset",
            "$inc",
            "$mul",
            "$min",
            "$max",
            "$push",
            "$addToSet",
            "$pull",
        ] {
            fails(
                r#"{"a":{"b":"text"}}"#,
                &format!(r#"{{"{op}":{{"a.b.c.d":1}}}}"#),
                false,
                &[op, "a.b.c.d", "'a.b' is a string"],
            );
        }
        fails(
            r#"{"a":null}"#,
            r#"{"$set":{"a.b":1}}"#,
            false,
            &["$set", "'a' is a null"],
        );
        // Indices: a word on an array; past the end.
        fails(
            r#"{"l":[1]}"#,
            r#"{"$set":{"l.x":1}}"#,
            false,
            &["$set", "l.x", "index"],
        );
        fails(
            r#"{"l":[1]}"#,
            r#"{"$set":{"l.1":1}}"#,
            false,
            &["$set", "l.1", "past the end"],
        );
        fails(
            r#"{"l":[{}]}"#,
            r#"{"$inc":{"l.3.n":1}}"#,
            false,
            &["$inc", "l.3.n", "length 1"],
        );
        fails(
            r#"{"l":[1]}"#,
            r#"{"$set":{"l.99999999999999999999999":1}}"#,
            false,
            &["past the end"],
        );
        fails(r#"{"l":[1]}"#, r#"{"$set":{"l.-1":1}}"#, false, &["index"]);
        // The element is not a map or array.
        for held in [
            Value::Int(1),
            Value::Null,
            Value::String("s".into()),
            Value::Bytes(vec![1]),
        ] {
            let e = apply(held.as_ref(), obj(r#"{"$set":{"a":1}}"#).as_ref()).unwrap_err();
            assert!(matches!(e, Error::TypeMismatch(_)), "{held:?}: {e:?}");
        }
        let e = apply(
            ValueRef::Object(&[0x05]),
            obj(r#"{"$set":{"a":1}}"#).as_ref(),
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::TypeMismatch(ref m) if m.contains("OBJECT that is int")),
            "{e:?}"
        );
        fails(r#""s""#, r#"{"$set":{"a":1}}"#, false, &["string"]);
    }

    #[test]
    fn bad_documents() {
        // Not an object, not a map, empty, unknown operator, operator not given a map.
        let e = apply(ValueRef::Undefined, ValueRef::Int(1)).unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument(ref m) if m.contains("OBJECT")),
            "{e:?}"
        );
        let e = apply(ValueRef::Undefined, ValueRef::Object(&[0xc1])).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        fails("{}", "[1]", true, &["map of operators"]);
        fails("{}", "{}", true, &["no operator"]);
        fails(
            "{}",
            r#"{"$rename":{"a":"b"}}"#,
            true,
            &["unknown operator", "$rename", "$addToSet"],
        );
        fails("{}", r#"{"a":1}"#, true, &["unknown operator", "\"a\""]);
        fails("{}", r#"{"$set":[1]}"#, true, &["$set", "map of paths"]);
        // Paths: empty segments, positional operators, too deep.
        for p in ["", ".a", "a.", "a..b"] {
            fails(
                "{}",
                &format!(r#"{{"$set":{{"{p}":1}}}}"#),
                true,
                &["$set", "dots"],
            );
        }
        fails("{}", r#"{"$set":{"l.$.a":1}}"#, true, &["$set", "'$'"]);
        let deep = vec!["a"; MAX_PATH_SEGMENTS + 1].join(".");
        fails(
            "{}",
            &format!(r#"{{"$set":{{"{deep}":1}}}}"#),
            true,
            &["at most 100"],
        );
        let deepest = vec!["a"; MAX_PATH_SEGMENTS].join(".");
        ok("{}", &format!(r#"{{"$set":{{"{deepest}":1}}}}"#));
        // A path key that is not a string (MessagePack allows it; JSON cannot say it).
        let e = apply(
            ValueRef::Undefined,
            ValueRef::Object(&[0x81, 0xa4, b'$', b's', b'e', b't', 0x81, 0x01, 0x01]),
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument(ref m) if m.contains("$set")),
            "{e:?}"
        );
    }

    #[test]
    fn overlapping_paths_are_refused() {
        fails(
            "{}",
            r#"{"$set":{"a":1},"$inc":{"a":1}}"#,
            true,
            &["$set 'a'", "$inc 'a'"],
        );
        fails(
            "{}",
            r#"{"$set":{"a.b":1},"$unset":{"a":1}}"#,
            true,
            &["'a.b'", "$unset 'a'"],
        );
        fails("{}", r#"{"$set":{"a":1,"a.b.c":1}}"#, true, &["same field"]);
        fails(
            "{}",
            r#"{"$push":{"l":1},"$pull":{"l":1}}"#,
            true,
            &["$push", "$pull"],
        );
        // Siblings and shared prefixes of names are fine.
        assert_eq!(
            ok("{}", r#"{"$set":{"a.b":1,"a.c":2,"ab":3}}"#),
            r#"{"a":{"b":1,"c":2},"ab":3}"#
        );
    }

    #[test]
    fn errors_leave_the_old_value_alone() {
        // A failure in the second operator after the first one applied: the caller's
        // value is never touched (the patch works on its own copy).
        let old = obj(r#"{"a":1,"s":"x"}"#);
        let before = old.clone();
        let e = apply(
            old.as_ref(),
            obj(r#"{"$set":{"a":2},"$inc":{"s":1}}"#).as_ref(),
        );
        assert!(matches!(e, Err(Error::TypeMismatch(_))));
        assert_eq!(old, before);
    }

    #[test]
    fn other_msgpack_kinds_survive() {
        // Bytes, extensions and non-string keys come through a patch unchanged.
        let mut old = Vec::new();
        let v = Mp::Map(vec![
            (Mp::from(7), Mp::Binary(vec![1, 2])),
            (Mp::from("e"), Mp::Ext(5, vec![9])),
            (Mp::from("n"), Mp::F32(1.5)),
        ]);
        rmpv::encode::write_value(&mut old, &v).unwrap();
        let new = apply(ValueRef::Object(&old), obj(r#"{"$inc":{"n":1}}"#).as_ref()).unwrap();
        let Value::Object(b) = new else { panic!() };
        let got = rmpv::decode::read_value(&mut &b[..]).unwrap();
        assert_eq!(
            got,
            Mp::Map(vec![
                (Mp::from(7), Mp::Binary(vec![1, 2])),
                (Mp::from("e"), Mp::Ext(5, vec![9])),
                (Mp::from("n"), Mp::F64(2.5)),
            ])
        );
        // A path segment "7" does not match the integer key 7: it makes a string key.
        let new = apply(ValueRef::Object(&old), obj(r#"{"$set":{"7":0}}"#).as_ref()).unwrap();
        let Value::Object(b) = new else { panic!() };
        let Mp::Map(m) = rmpv::decode::read_value(&mut &b[..]).unwrap() else {
            panic!()
        };
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn a_parsed_patch_applies_again() {
        let p =
            Patch::parse(obj(r#"{"$inc":{"n":1},"$push":{"l":{"$each":[1]}}}"#).as_ref()).unwrap();
        let mut v = Value::Undefined;
        for _ in 0..3 {
            v = p.apply(v.as_ref()).unwrap();
        }
        assert_eq!(v.as_ref().to_json().unwrap(), r#"{"n":3,"l":[1,1,1]}"#);
    }
}
