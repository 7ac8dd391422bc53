//! Dynamically typed values (DESIGN §3) and their JavaScript-like arithmetic.

use crate::error::{Error, Result};

/// Type tags; the numbers are the C enum `plexus_type` and the region encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Type {
    Undefined = 0,
    Null = 1,
    Bool = 2,
    Int = 3,
    Float = 4,
    String = 5,
    Bytes = 6,
    Object = 7,
}

impl Type {
    pub fn from_u32(t: u32) -> Option<Type> {
        Some(match t {
            0 => Type::Undefined,
            1 => Type::Null,
            2 => Type::Bool,
            3 => Type::Int,
            4 => Type::Float,
            5 => Type::String,
            6 => Type::Bytes,
            7 => Type::Object,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Type::Undefined => "undefined",
            Type::Null => "null",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Float => "float",
            Type::String => "string",
            Type::Bytes => "bytes",
            Type::Object => "object",
        }
    }
}

/// An owned value, as read out of a region.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    /// Structured data encoded as MessagePack.
    Object(Vec<u8>),
}

/// A borrowed value, as written into a region (no copy until it lands in the heap).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Undefined,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(&'a str),
    Bytes(&'a [u8]),
    /// MessagePack bytes; validated before they are stored.
    Object(&'a [u8]),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Undefined => ValueRef::Undefined,
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::String(s) => ValueRef::String(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::Object(o) => ValueRef::Object(o),
        }
    }

    pub fn type_of(&self) -> Type {
        self.as_ref().type_of()
    }

    /// Builds an OBJECT from any serde-serializable data.
    pub fn object<T: serde::Serialize + ?Sized>(data: &T) -> Result<Value> {
        rmp_serde::to_vec_named(data)
            .map(Value::Object)
            .map_err(|e| Error::invalid(format!("cannot encode object: {e}")))
    }

    /// Parses JSON text: objects and arrays become OBJECT, numbers INT when they are
    /// integers that fit in 64 bits (FLOAT otherwise).
    pub fn from_json(text: &str) -> Result<Value> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::invalid(format!("bad JSON: {e}")))?;
        Ok(match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s),
            other => Value::object(&other)?,
        })
    }
}

impl<'a> ValueRef<'a> {
    pub fn type_of(&self) -> Type {
        match self {
            ValueRef::Undefined => Type::Undefined,
            ValueRef::Null => Type::Null,
            ValueRef::Bool(_) => Type::Bool,
            ValueRef::Int(_) => Type::Int,
            ValueRef::Float(_) => Type::Float,
            ValueRef::String(_) => Type::String,
            ValueRef::Bytes(_) => Type::Bytes,
            ValueRef::Object(_) => Type::Object,
        }
    }

    pub fn to_owned(&self) -> Value {
        match *self {
            ValueRef::Undefined => Value::Undefined,
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::String(s) => Value::String(s.to_owned()),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::Object(o) => Value::Object(o.to_vec()),
        }
    }

    /// The bytes stored in the heap for variable-size types.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            ValueRef::String(s) => Some(s.as_bytes()),
            ValueRef::Bytes(b) | ValueRef::Object(b) => Some(b),
            _ => None,
        }
    }

    /// Checks what the type system cannot: OBJECT bytes must be one well-formed
    /// MessagePack value.
    pub fn validate(&self) -> Result<()> {
        if let ValueRef::Object(b) = self {
            msgpack_check(b)?;
        }
        Ok(())
    }

    /// Equality for `cas`: same type and same value (numbers compare numerically, so
    /// NaN never equals anything; strings, bytes and objects byte for byte).
    pub fn same_as(&self, other: &ValueRef<'_>) -> bool {
        match (self, other) {
            (ValueRef::Undefined, ValueRef::Undefined) | (ValueRef::Null, ValueRef::Null) => true,
            (ValueRef::Bool(a), ValueRef::Bool(b)) => a == b,
            (ValueRef::Int(a), ValueRef::Int(b)) => a == b,
            (ValueRef::Float(a), ValueRef::Float(b)) => a == b,
            (ValueRef::String(a), ValueRef::String(b)) => a == b,
            (ValueRef::Bytes(a), ValueRef::Bytes(b))
            | (ValueRef::Object(a), ValueRef::Object(b)) => a == b,
            _ => false,
        }
    }

    /// JSON text for this value. UNDEFINED becomes `null`, non-finite floats `null`,
    /// BYTES an array of byte values, OBJECT its MessagePack decoded.
    pub fn to_json(&self) -> Result<String> {
        let j = match *self {
            ValueRef::Undefined | ValueRef::Null => serde_json::Value::Null,
            ValueRef::Bool(b) => serde_json::Value::Bool(b),
            ValueRef::Int(i) => serde_json::Value::from(i),
            ValueRef::Float(f) => {
                serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
            }
            ValueRef::String(s) => serde_json::Value::String(s.to_owned()),
            ValueRef::Bytes(b) => serde_json::Value::from(b.to_vec()),
            ValueRef::Object(o) => {
                rmp_serde::from_slice::<AsJson>(o)
                    .map_err(|e| {
                        Error::TypeMismatch(format!("object cannot be shown as JSON: {e}"))
                    })?
                    .0
            }
        };
        Ok(j.to_string())
    }
}

/// A MessagePack object decoded for JSON: byte strings become arrays of byte values (as
/// top-level BYTES do), non-finite floats `null`, and map keys that are not strings their
/// JSON text (`1`, `true`, `[1,2]` for a byte string, ...), since JSON keys are strings.
/// A map or array used as a key is refused.
struct AsJson(serde_json::Value);

impl<'de> serde::Deserialize<'de> for AsJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(AsJsonVisitor).map(AsJson)
    }
}

struct AsJsonVisitor;

impl<'de> serde::de::Visitor<'de> for AsJsonVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a MessagePack value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_bytes<E>(self, v: &[u8]) -> std::result::Result<Self::Value, E> {
        Ok(v.to_vec().into())
    }
    fn visit_none<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(AsJsonVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(AsJson(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(serde_json::Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some((AsJson(k), AsJson(v))) = map.next_entry()? {
            let key = match k {
                serde_json::Value::String(s) => s,
                // Byte strings (arrays of numbers) and scalars: their JSON text.
                serde_json::Value::Array(a) if a.iter().all(|x| x.is_number()) => {
                    serde_json::Value::Array(a).to_string()
                }
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    // Their JSON text would be escaped again at every level of nesting
                    // (a 200-byte object would expand to gigabytes).
                    return Err(serde::de::Error::custom(
                        "a map or array used as a map key has no JSON form",
                    ));
                }
                other => other.to_string(),
            };
            out.insert(key, v);
        }
        Ok(serde_json::Value::Object(out))
    }
}

/// JavaScript `+` (DESIGN §3) for `faa`: int+int wraps, any float makes a float, a
/// string on either side concatenates, BYTES+BYTES concatenates. UNDEFINED (a fresh
/// element) is the empty accumulator: it counts as 0 beside a number and as "" beside a
/// string. NULL and BOOL count as numbers (0, 0/1) as in JavaScript.
pub fn js_add(old: ValueRef<'_>, delta: ValueRef<'_>) -> Result<Value> {
    use ValueRef as V;
    fn num(v: &ValueRef<'_>) -> Option<Result<i64, f64>> {
        match *v {
            V::Undefined | V::Null => Some(Ok(0)),
            V::Bool(b) => Some(Ok(b as i64)),
            V::Int(i) => Some(Ok(i)),
            V::Float(f) => Some(Err(f)),
            _ => None,
        }
    }
    match (old, delta) {
        (V::Undefined, V::String(s)) | (V::String(s), V::Undefined) => {
            Ok(Value::String(s.to_owned()))
        }
        (V::String(_), _) | (_, V::String(_)) => match (js_string(&old), js_string(&delta)) {
            (Some(a), Some(b)) => Ok(Value::String(a + &b)),
            _ => Err(mismatch(old, delta)),
        },
        (V::Bytes(a), V::Bytes(b)) => Ok(Value::Bytes([a, b].concat())),
        (V::Undefined, V::Bytes(b)) | (V::Bytes(b), V::Undefined) => Ok(Value::Bytes(b.to_vec())),
        _ => match (num(&old), num(&delta)) {
            (Some(Ok(a)), Some(Ok(b))) => Ok(Value::Int(a.wrapping_add(b))),
            (Some(a), Some(b)) => {
                let f = |x: Result<i64, f64>| x.map_or_else(|f| f, |i| i as f64);
                Ok(Value::Float(f(a) + f(b)))
            }
            _ => Err(mismatch(old, delta)),
        },
    }
}

fn mismatch(a: ValueRef<'_>, b: ValueRef<'_>) -> Error {
    Error::TypeMismatch(format!(
        "faa is not defined for {} + {}",
        a.type_of().name(),
        b.type_of().name()
    ))
}

/// JavaScript's String(v) for scalars and strings; None for bytes and objects.
fn js_string(v: &ValueRef<'_>) -> Option<String> {
    Some(match *v {
        ValueRef::Undefined => String::new(),
        ValueRef::Null => "null".into(),
        ValueRef::Bool(b) => b.to_string(),
        ValueRef::Int(i) => i.to_string(),
        ValueRef::Float(f) if f.is_nan() => "NaN".into(),
        ValueRef::Float(f) if f.is_infinite() => {
            if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
        }
        ValueRef::Float(f) => js_number(f),
        ValueRef::String(s) => s.to_owned(),
        ValueRef::Bytes(_) | ValueRef::Object(_) => return None,
    })
}

/// JavaScript's Number.prototype.toString for finite numbers: shortest round-trip digits,
/// decimal notation for 1e-6 <= |x| < 1e21, exponential ("1e+21", "5e-7") outside.
fn js_number(f: f64) -> String {
    let a = f.abs();
    if a == 0.0 || (1e-6..1e21).contains(&a) {
        return format!("{f}");
    }
    let e = format!("{f:e}"); // "1.5e-7", "1e21"
    match e.split_once('e') {
        Some((m, x)) if !x.starts_with('-') => format!("{m}e+{x}"),
        _ => e,
    }
}

/// The entries of an OBJECT that is a MessagePack map with string keys (a map's initial
/// data), in their order: scalars become the value of that type (nil NULL, integers
/// INT, floats FLOAT, strings STRING, binaries BYTES), arrays and maps stay OBJECT
/// (their bytes unchanged). InvalidArgument for anything else (not a map, a key that is
/// not a string, a key twice, an integer beyond i64).
pub fn object_entries(b: &[u8]) -> Result<Vec<(String, Value)>> {
    msgpack_check(b)?;
    let not_map = || Error::invalid("initial data must be an OBJECT holding a map of string keys");
    let (n, mut at) = match *b.first().ok_or_else(not_map)? {
        m @ 0x80..=0x8f => ((m & 0x0f) as usize, 1),
        0xde => (u16::from_be_bytes([b[1], b[2]]) as usize, 3),
        0xdf => (u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize, 5),
        _ => return Err(not_map()),
    };
    let mut out: Vec<(String, Value)> = Vec::with_capacity(n.min(4096));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..n {
        let key_end = msgpack_skip(b, at, 1)?;
        let key: String = rmp_serde::from_slice(&b[at..key_end]).map_err(|_| {
            Error::invalid("initial data: every key must be a string (a map key is UTF-8 text)")
        })?;
        let end = msgpack_skip(b, key_end, 1)?;
        let raw = &b[key_end..end];
        let value = match raw[0] {
            0x80..=0x9f | 0xdc..=0xdf => Value::Object(raw.to_vec()),
            _ => {
                rmp_serde::from_slice::<Scalar>(raw)
                    .map_err(|e| Error::invalid(format!("initial data: key '{key}': {e}")))?
                    .0
            }
        };
        if !seen.insert(key.clone()) {
            return Err(Error::invalid(format!(
                "initial data: key '{key}' appears twice"
            )));
        }
        out.push((key, value));
        at = end;
    }
    Ok(out)
}

/// A MessagePack scalar as a [`Value`] (see [`object_entries`]).
struct Scalar(Value);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor).map(Scalar)
    }
}

struct ScalarVisitor;

impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a MessagePack scalar")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("integer {v} does not fit in 64 signed bits")))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> std::result::Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Verifies that `b` is exactly one well-formed MessagePack value (bounded depth).
pub fn msgpack_check(b: &[u8]) -> Result<()> {
    let end = msgpack_skip(b, 0, 0)?;
    if end != b.len() {
        return Err(Error::invalid(format!(
            "object is not one MessagePack value ({} trailing bytes)",
            b.len() - end
        )));
    }
    Ok(())
}

const MSGPACK_MAX_DEPTH: u32 = 512;

fn msgpack_skip(b: &[u8], at: usize, depth: u32) -> Result<usize> {
    let bad = || Error::invalid("object is not valid MessagePack (truncated or malformed)");
    if depth > MSGPACK_MAX_DEPTH {
        return Err(Error::invalid("object nests deeper than 512 levels"));
    }
    let m = *b.get(at).ok_or_else(bad)?;
    let be = |n: usize| -> Result<u64> {
        let s = b.get(at + 1..at + 1 + n).ok_or_else(bad)?;
        Ok(s.iter().fold(0u64, |acc, &x| acc << 8 | x as u64))
    };
    let data = |hdr: usize, len: u64| -> Result<usize> {
        let end = (at + 1 + hdr).checked_add(len as usize).ok_or_else(bad)?;
        if end > b.len() {
            return Err(bad());
        }
        Ok(end)
    };
    let items = |start: usize, n: u64| -> Result<usize> {
        let mut p = start;
        for _ in 0..n {
            p = msgpack_skip(b, p, depth + 1)?;
        }
        Ok(p)
    };
    match m {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Ok(at + 1),
        0x80..=0x8f => items(at + 1, 2 * (m & 0x0f) as u64),
        0x90..=0x9f => items(at + 1, (m & 0x0f) as u64),
        0xa0..=0xbf => data(0, (m & 0x1f) as u64),
        0xc4 | 0xd9 => data(1, be(1)?),
        0xc5 | 0xda => data(2, be(2)?),
        0xc6 | 0xdb => data(4, be(4)?),
        0xc7 => data(2, be(1)?),
        0xc8 => data(3, be(2)?),
        0xc9 => data(5, be(4)?),
        0xca => data(4, 0),
        0xcb => data(8, 0),
        0xcc | 0xd0 => data(1, 0),
        0xcd | 0xd1 => data(2, 0),
        0xce | 0xd2 => data(4, 0),
        0xcf | 0xd3 => data(8, 0),
        0xd4 => data(2, 0),
        0xd5 => data(3, 0),
        0xd6 => data(5, 0),
        0xd7 => data(9, 0),
        0xd8 => data(17, 0),
        0xdc => items(at + 3, be(2)?),
        0xdd => items(at + 5, be(4)?),
        0xde => items(at + 3, 2 * be(2)?),
        0xdf => items(at + 5, 2 * be(4)?),
        0xc1 => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_add_follows_javascript_plus() {
        use ValueRef as V;
        assert_eq!(js_add(V::Int(2), V::Int(3)).unwrap(), Value::Int(5));
        assert_eq!(
            js_add(V::Int(i64::MAX), V::Int(1)).unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(js_add(V::Int(1), V::Float(0.5)).unwrap(), Value::Float(1.5));
        assert_eq!(js_add(V::Undefined, V::Int(1)).unwrap(), Value::Int(1));
        assert_eq!(js_add(V::Bool(true), V::Bool(true)).unwrap(), Value::Int(2));
        assert_eq!(
            js_add(V::String("stop"), V::Int(1)).unwrap(),
            Value::String("stop1".into())
        );
        assert_eq!(
            js_add(V::Int(1), V::String("x")).unwrap(),
            Value::String("1x".into())
        );
        assert_eq!(
            js_add(V::Float(1.5), V::String("x")).unwrap(),
            Value::String("1.5x".into())
        );
        assert_eq!(
            js_add(V::Float(2.0), V::String("")).unwrap(),
            Value::String("2".into())
        );
        assert_eq!(
            js_add(V::Undefined, V::String("a")).unwrap(),
            Value::String("a".into())
        );
        assert_eq!(
            js_add(V::Null, V::String("a")).unwrap(),
            Value::String("nulla".into())
        );
        assert_eq!(
            js_add(V::Bytes(b"a"), V::Bytes(b"b")).unwrap(),
            Value::Bytes(b"ab".to_vec())
        );
        assert!(matches!(
            js_add(V::Object(&[0x90]), V::Int(1)),
            Err(Error::TypeMismatch(_))
        ));
        assert!(matches!(
            js_add(V::String("a"), V::Bytes(b"b")),
            Err(Error::TypeMismatch(_))
        ));
    }

    #[test]
    fn msgpack_validation() {
        let good = rmp_serde::to_vec(&serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {}}))
            .unwrap();
        msgpack_check(&good).unwrap();
        for cut in 0..good.len() {
            assert!(
                msgpack_check(&good[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
        assert!(msgpack_check(&[0xc1]).is_err());
        assert!(msgpack_check(&[0x90, 0x90]).is_err());
        let deep = vec![0x91u8; 100_000];
        assert!(msgpack_check(&deep).is_err());
    }

    #[test]
    fn json_round_trip() {
        assert_eq!(Value::from_json("42").unwrap(), Value::Int(42));
        assert_eq!(Value::from_json("1.5").unwrap(), Value::Float(1.5));
        assert_eq!(
            Value::from_json("\"hi\"").unwrap(),
            Value::String("hi".into())
        );
        assert_eq!(
            Value::from_json("18446744073709551615").unwrap(),
            Value::Float(18446744073709551615.0)
        );
        let o = Value::from_json(r#"{"k":[1,"two",{"x":null}]}"#).unwrap();
        assert_eq!(o.type_of(), Type::Object);
        assert_eq!(
            o.as_ref().to_json().unwrap(),
            r#"{"k":[1,"two",{"x":null}]}"#
        );
        assert!(Value::from_json("{").is_err());
        // Bytes inside an object come out as arrays of byte values, like top-level
        // BYTES; non-string keys as their JSON text.
        let mut packed = vec![0x82, 0xa1, b'b', 0xc4, 0x02, 0x01, 0xff, 0x07, 0xc0];
        assert_eq!(
            ValueRef::Object(&packed).to_json().unwrap(),
            r#"{"b":[1,255],"7":null}"#
        );
        packed[3] = 0xc1; // never used: invalid
        assert!(ValueRef::Object(&packed).to_json().is_err());
        // A map as a key has no JSON form: refused (nested, its text would be escaped
        // again at every level: 2^depth bytes).
        let nested = [0x81u8, 0x81, 0x01, 0x02, 0x03];
        assert!(matches!(
            ValueRef::Object(&nested).to_json(),
            Err(Error::TypeMismatch(_))
        ));
        let bytes_key = [0x81u8, 0xc4, 0x02, 0x01, 0x02, 0xc3];
        assert_eq!(
            ValueRef::Object(&bytes_key).to_json().unwrap(),
            r#"{"[1,2]":true}"#
        );
    }
}
