//! Values as JSON data, exactly: the form `plexus dump --json` writes, `plexus load`
//! reads and the HTTP view serves. Every value round-trips, whatever its type.
//!
//! | value | JSON |
//! |---|---|
//! | NULL, BOOL, STRING | `null`, `true`/`false`, `"text"` |
//! | INT | an integer: `42` |
//! | FLOAT | a number with a fraction or exponent: `1.0`, `2.5e-7` (never `1`) |
//! | OBJECT | its JSON: `{"a": [1, 2.0]}`, `[1, 2]` |
//! | UNDEFINED | `{"$undefined": true}` |
//! | BYTES | `{"$bytes": "68690a"}` (hexadecimal) |
//! | FLOAT NaN, ±infinity | `{"$float": "NaN"}`, `{"$float": "Infinity"}`, `{"$float": "-Infinity"}` |
//! | OBJECT with no exact JSON form (byte strings, non-string map keys, NaN inside, MessagePack extensions) | `{"$msgpack": "81a161..."}` (its MessagePack bytes, hexadecimal) |
//! | OBJECT that is itself a one-key JSON object whose key starts with `$` | `{"$object": {...}}` |
//!
//! The tagged forms are JSON objects of exactly one key starting with `$`, so nothing
//! else is ever read as one: an OBJECT of that shape is wrapped in `$object`.

use serde_json::{Map, Number, Value as Json};

use crate::error::{Error, Result};
use crate::semantics::value::{msgpack_check, Value, ValueRef};

/// The JSON form of `v` (see the module's table).
pub fn to_json(v: ValueRef<'_>) -> Json {
    match v {
        ValueRef::Undefined => tagged("$undefined", Json::Bool(true)),
        ValueRef::Null => Json::Null,
        ValueRef::Bool(b) => Json::Bool(b),
        ValueRef::Int(i) => Json::from(i),
        ValueRef::Float(f) => match Number::from_f64(f) {
            Some(n) => Json::Number(n),
            None => tagged(
                "$float",
                Json::from(if f.is_nan() {
                    "NaN"
                } else if f > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                }),
            ),
        },
        ValueRef::String(s) => Json::from(s),
        ValueRef::Bytes(b) => tagged("$bytes", Json::from(hex(b))),
        ValueRef::Object(o) => match rmp_serde::from_slice::<Exact>(o) {
            Ok(Exact(j)) if tag_of(&j).is_some() => tagged("$object", j),
            Ok(Exact(j)) => j,
            Err(_) => tagged("$msgpack", Json::from(hex(o))),
        },
    }
}

/// The value whose JSON form is `j` (the inverse of [`to_json`]). Numbers without a
/// fraction or exponent that fit in 64 bits are INT; other numbers FLOAT.
pub fn from_json(j: &Json) -> Result<Value> {
    Ok(match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => number(n)?,
        Json::String(s) => Value::String(s.clone()),
        Json::Array(_) => Value::object(j)?,
        Json::Object(_) => match tag_of(j) {
            None => Value::object(j)?,
            Some((tag, inner)) => match tag {
                "$undefined" if inner == &Json::Bool(true) => Value::Undefined,
                "$bytes" => Value::Bytes(unhex(tag, inner)?),
                "$float" => Value::Float(match inner.as_str() {
                    Some("NaN") => f64::NAN,
                    Some("Infinity") => f64::INFINITY,
                    Some("-Infinity") => f64::NEG_INFINITY,
                    _ => {
                        return Err(Error::invalid(format!(
                        "{{\"$float\": {inner}}}: expected \"NaN\", \"Infinity\" or \"-Infinity\""
                    )))
                    }
                }),
                "$msgpack" => {
                    let b = unhex(tag, inner)?;
                    msgpack_check(&b)?;
                    Value::Object(b)
                }
                "$object" if inner.is_object() => Value::object(inner)?,
                "$object" => {
                    return Err(Error::invalid(format!(
                        "{{\"$object\": {inner}}}: $object wraps a JSON object"
                    )))
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "{{\"{tag}\": ...}} is not a value: a one-key object whose key starts \
                         with '$' is one of $undefined, $bytes, $float, $msgpack, $object \
                         (an object of that shape is written {{\"$object\": {{...}}}})"
                    )));
                }
            },
        },
    })
}

/// JSON text of `v` (compact).
pub fn to_json_text(v: ValueRef<'_>) -> String {
    to_json(v).to_string()
}

/// The value of JSON text `text`.
pub fn from_json_text(text: &str) -> Result<Value> {
    let j: Json =
        serde_json::from_str(text).map_err(|e| Error::invalid(format!("bad JSON: {e}")))?;
    from_json(&j)
}

fn number(n: &Number) -> Result<Value> {
    if let Some(i) = n.as_i64() {
        return Ok(Value::Int(i));
    }
    if n.is_u64() {
        return Err(Error::invalid(format!(
            "{n} does not fit in a 64-bit signed INT (write it as {n}.0 for a FLOAT)"
        )));
    }
    Ok(Value::Float(n.as_f64().unwrap_or(f64::NAN)))
}

/// `Some((key, value))` when `j` is a one-key object whose key starts with `$`.
fn tag_of(j: &Json) -> Option<(&str, &Json)> {
    match j {
        Json::Object(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            k.starts_with('$').then_some((k.as_str(), v))
        }
        _ => None,
    }
}

fn tagged(tag: &str, inner: Json) -> Json {
    let mut m = Map::new();
    m.insert(tag.to_owned(), inner);
    Json::Object(m)
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(2 * b.len()), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

fn unhex(tag: &str, j: &Json) -> Result<Vec<u8>> {
    let bad = || {
        Error::invalid(format!(
            "{{\"{tag}\": ...}} needs a string of hexadecimal digit pairs"
        ))
    };
    let s = j.as_str().ok_or_else(bad)?;
    if s.len() % 2 != 0 {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// A MessagePack value that has an exact JSON form: no byte strings, no extension types,
/// no map keys other than strings, no non-finite floats. Anything else fails to decode
/// (and the value is written as `$msgpack`).
struct Exact(Json);

impl<'de> serde::Deserialize<'de> for Exact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ExactVisitor).map(Exact)
    }
}

struct ExactVisitor;

impl<'de> serde::de::Visitor<'de> for ExactVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a MessagePack value with an exact JSON form")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Json, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Json, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Json, E> {
        Ok(v.into())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Json, E> {
        Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a non-finite float"))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Json, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> std::result::Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(Exact(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Json, A::Error> {
        let mut out = Map::new();
        while let Some((k, Exact(v))) = map.next_entry::<Exact, Exact>()? {
            let Json::String(k) = k.0 else {
                return Err(serde::de::Error::custom("a map key that is not a string"));
            };
            if out.insert(k, v).is_some() {
                return Err(serde::de::Error::custom("a repeated map key"));
            }
        }
        Ok(Json::Object(out))
    }
    // Byte strings, extension types (a newtype to rmp-serde) and anything else: the
    // default methods refuse them.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(v: Value) {
        let j = to_json(v.as_ref());
        let text = j.to_string();
        let back = from_json_text(&text).unwrap();
        match (&v, &back) {
            (Value::Float(a), Value::Float(b)) if a.is_nan() => assert!(b.is_nan(), "{text}"),
            _ => assert_eq!(format!("{v:?}"), format!("{back:?}"), "{text}"),
        }
        // And the text is stable: JSON → value → JSON gives the same text.
        assert_eq!(to_json(back.as_ref()).to_string(), text);
    }

    fn obj(json: &str) -> Value {
        Value::object(&serde_json::from_str::<Json>(json).unwrap()).unwrap()
    }

    #[test]
    fn every_type_round_trips() {
        round(Value::Undefined);
        round(Value::Null);
        round(Value::Bool(true));
        round(Value::Bool(false));
        round(Value::Int(0));
        round(Value::Int(i64::MIN));
        round(Value::Int(i64::MAX));
        for f in [
            0.0,
            -0.0,
            1.0,
            -2.5,
            1e300,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            round(Value::Float(f));
        }
        round(Value::String(String::new()));
        round(Value::String("h\u{e9}llo \"x\" \n".into()));
        round(Value::Bytes(vec![]));
        round(Value::Bytes(vec![0, 1, 0xfe, 0xff]));
        round(obj(
            r#"{"a": [1, 2.0, "x", null, true, {"b": {}}], "c": []}"#,
        ));
        round(obj("[]"));
        round(obj(r#"{"$bytes": "00"}"#));
        round(obj(r#"{"$x": 1}"#));
        round(obj(r#"{"$x": 1, "y": 2}"#));
        // No exact JSON form: a byte string inside (MessagePack written by hand:
        // {"b": bin8 [1, 2]}), a non-string key, NaN inside.
        round(Value::Object(vec![0x81, 0xa1, b'b', 0xc4, 2, 1, 2]));
        let mut m = std::collections::BTreeMap::new();
        m.insert(1i64, "one");
        round(Value::object(&m).unwrap());
        round(Value::object(&vec![f64::NAN]).unwrap());
    }

    #[test]
    fn forms() {
        assert_eq!(to_json_text(Value::Float(1.0).as_ref()), "1.0");
        assert_eq!(to_json_text(Value::Int(1).as_ref()), "1");
        assert_eq!(
            to_json_text(Value::Undefined.as_ref()),
            r#"{"$undefined":true}"#
        );
        assert_eq!(
            to_json_text(Value::Bytes(b"hi".to_vec()).as_ref()),
            r#"{"$bytes":"6869"}"#
        );
        assert_eq!(
            to_json_text(obj(r#"{"$bytes": "00"}"#).as_ref()),
            r#"{"$object":{"$bytes":"00"}}"#
        );
        assert_eq!(to_json_text(obj(r#"{"a": 1}"#).as_ref()), r#"{"a":1}"#);
    }

    #[test]
    fn bad_input_is_refused_with_a_message() {
        for bad in [
            r#"{"$bytes": "0"}"#,
            r#"{"$bytes": "zz"}"#,
            r#"{"$bytes": 1}"#,
            r#"{"$float": "nan"}"#,
            r#"{"$undefined": false}"#,
            r#"{"$msgpack": "c1"}"#,
            r#"{"$msgpack": "910101"}"#,
            r#"{"$what": 1}"#,
            r#"{"$object": 1}"#,
            "18446744073709551615",
            "{",
        ] {
            let e = from_json_text(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e:?}");
        }
    }
}
