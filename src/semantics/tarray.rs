//! Typed arrays: `length` numbers of one [`Dtype`], contiguous, zero-filled, split into
//! blocks of `block_len` elements that carry a full/empty state, the same on every
//! backend.
//!
//! * Open rules (as every kind, see `crate::semantics::open`): `length > 0` creates the
//!   array if absent; an existing one must have the same dtype, length and block length
//!   (`Incompatible`); `length == 0` opens an existing one, whose dtype must still be the
//!   one asked for (`Incompatible`), and `block_len == 0` then accepts any block length.
//!   When creating, `block_len == 0` means one block of the whole array.
//! * Blocks start EMPTY (FULL with `FLAG_FULL`). `begin_write(block)` waits until the
//!   block is EMPTY and gives the caller sole access (WRITING); `end_write` leaves it
//!   FULL and wakes a reader. `begin_read(block)` waits until it is FULL (READING);
//!   `end_read` leaves it EMPTY and wakes a writer. One reader takes a FULL block: a
//!   second reader waiting for the same block waits for its next fill.
//! * A holder that dies (or detaches its region) between begin and end: a writer's
//!   block goes back to EMPTY (its partial data is never handed to a reader as FULL), a
//!   reader's back to FULL (the next reader reads it again). Whoever waits for the block
//!   notices (on shared memory within about [`DEAD_HOLDER_NOTICE`]; remotely once the
//!   holder's lease expired), and so does the region's sweep.
//! * Element atomics (`load`, `store`, `faa`, `cas`, `wait`, `notify`) exist for the
//!   32- and 64-bit integer dtypes only (`TypeMismatch` otherwise), as JavaScript's
//!   `Atomics` does across threads. Values travel as `i64` (see [`Dtype::check_value`]):
//!   a U64 element's value is its bit pattern. `faa` adds modulo 2^bits (so a delta of
//!   -1 decrements an unsigned element) and returns the value before. `wait` sleeps
//!   while the element equals `expected`, re-checking after every wake; `notify` wakes
//!   up to `count` waiters ([`NOTIFY_ALL`]: all) and says how many it woke.

use std::time::Duration;

use crate::error::{Error, Result};

/// `count` for `notify` that wakes every waiter.
pub const NOTIFY_ALL: u32 = u32::MAX;

/// On shared memory, how long at most a waiter sleeps between looks at whether the
/// process holding the block it waits for is still alive.
pub const DEAD_HOLDER_NOTICE: Duration = Duration::from_millis(50);

/// The element type of a typed array (the numbers are the C enum's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Dtype {
    I8 = 1,
    U8 = 2,
    I16 = 3,
    U16 = 4,
    I32 = 5,
    U32 = 6,
    I64 = 7,
    U64 = 8,
    F32 = 9,
    F64 = 10,
}

impl Dtype {
    pub const ALL: [Dtype; 10] = [
        Dtype::I8,
        Dtype::U8,
        Dtype::I16,
        Dtype::U16,
        Dtype::I32,
        Dtype::U32,
        Dtype::I64,
        Dtype::U64,
        Dtype::F32,
        Dtype::F64,
    ];

    pub fn from_u32(code: u32) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| *d as u32 == code)
    }

    /// The C enum value, checked (`InvalidArgument` naming the valid ones otherwise).
    pub fn from_code(code: u32) -> Result<Dtype> {
        Dtype::from_u32(code).ok_or_else(|| {
            Error::invalid(format!(
                "unknown dtype {code} (valid: 1 = i8 ... 10 = f64, see plexus_dtype)"
            ))
        })
    }

    /// By name: "i8", "u8", ..., "f64" (also numpy's "int32", "float64", ...).
    pub fn from_name(name: &str) -> Result<Dtype> {
        let n = name.to_ascii_lowercase();
        let d = match n.as_str() {
            "i8" | "int8" => Dtype::I8,
            "u8" | "uint8" => Dtype::U8,
            "i16" | "int16" => Dtype::I16,
            "u16" | "uint16" => Dtype::U16,
            "i32" | "int32" => Dtype::I32,
            "u32" | "uint32" => Dtype::U32,
            "i64" | "int64" => Dtype::I64,
            "u64" | "uint64" => Dtype::U64,
            "f32" | "float32" => Dtype::F32,
            "f64" | "float64" => Dtype::F64,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown dtype '{name}' (i8 u8 i16 u16 i32 u32 i64 u64 f32 f64)"
                )))
            }
        };
        Ok(d)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::I8 => "i8",
            Dtype::U8 => "u8",
            Dtype::I16 => "i16",
            Dtype::U16 => "u16",
            Dtype::I32 => "i32",
            Dtype::U32 => "u32",
            Dtype::I64 => "i64",
            Dtype::U64 => "u64",
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Dtype::I8 | Dtype::U8 => 1,
            Dtype::I16 | Dtype::U16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::U64 | Dtype::F64 => 8,
        }
    }

    /// Whether the element atomics exist for this dtype (32- and 64-bit integers).
    pub fn is_atomic(self) -> bool {
        matches!(self, Dtype::I32 | Dtype::U32 | Dtype::I64 | Dtype::U64)
    }

    /// `TypeMismatch` unless the element atomics exist for this dtype.
    pub fn check_atomic(self, name: &str) -> Result<()> {
        if self.is_atomic() {
            Ok(())
        } else {
            Err(Error::TypeMismatch(format!(
                "typed array '{name}' holds {}: atomic element calls exist for i32, u32, i64 \
                 and u64 only (use read/write for other dtypes)",
                self.name()
            )))
        }
    }

    /// The element's bits for the `i64` value `v` (`InvalidArgument` if an I32 or U32
    /// element cannot hold it; I64 and U64 take every value, U64 as its bit pattern).
    pub fn check_value(self, v: i64, what: &str) -> Result<u64> {
        let ok = match self {
            Dtype::I32 => i32::try_from(v).is_ok(),
            Dtype::U32 => u32::try_from(v).is_ok(),
            _ => true,
        };
        if !ok {
            return Err(Error::invalid(format!(
                "{what} {v} does not fit a {} element",
                self.name()
            )));
        }
        Ok(self.truncate(v as u64))
    }

    /// `bits` cut to the element's width.
    pub fn truncate(self, bits: u64) -> u64 {
        match self.size() {
            8 => bits,
            n => bits & ((1u64 << (n * 8)) - 1),
        }
    }

    /// The `i64` a caller sees for an element's bits (sign-extended for signed dtypes;
    /// a U64 element's bit pattern).
    pub fn to_i64(self, bits: u64) -> i64 {
        match self {
            Dtype::I8 => bits as u8 as i8 as i64,
            Dtype::I16 => bits as u16 as i16 as i64,
            Dtype::I32 => bits as u32 as i32 as i64,
            Dtype::U8 | Dtype::U16 | Dtype::U32 => self.truncate(bits) as i64,
            _ => bits as i64,
        }
    }

    /// An element (little-endian bytes) as a JSON number, for dumps.
    pub fn element_json(self, b: &[u8]) -> serde_json::Value {
        use serde_json::Value as J;
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        let bits = u64::from_le_bytes(w);
        match self {
            Dtype::F32 => float_json(f32::from_bits(bits as u32) as f64),
            Dtype::F64 => float_json(f64::from_bits(bits)),
            Dtype::U64 => J::from(bits),
            _ => J::from(self.to_i64(bits)),
        }
    }

    /// A JSON number as an element's little-endian bytes (for `plexus load`).
    pub fn element_from_json(self, v: &serde_json::Value) -> Result<Vec<u8>> {
        let bad = || Error::invalid(format!("{v} is not a {} value", self.name()));
        let bits: u64 = match self {
            Dtype::F32 => (json_float(v).ok_or_else(bad)? as f32).to_bits() as u64,
            Dtype::F64 => json_float(v).ok_or_else(bad)?.to_bits(),
            Dtype::U64 => v.as_u64().ok_or_else(bad)?,
            _ => {
                let i = v.as_i64().ok_or_else(bad)?;
                let fits = match self {
                    Dtype::I8 => i8::try_from(i).is_ok(),
                    Dtype::U8 => u8::try_from(i).is_ok(),
                    Dtype::I16 => i16::try_from(i).is_ok(),
                    Dtype::U16 => u16::try_from(i).is_ok(),
                    Dtype::I32 => i32::try_from(i).is_ok(),
                    Dtype::U32 => u32::try_from(i).is_ok(),
                    _ => true,
                };
                if !fits {
                    return Err(bad());
                }
                i as u64
            }
        };
        Ok(bits.to_le_bytes()[..self.size() as usize].to_vec())
    }
}

/// Non-finite floats have no JSON number: they are written as values are in dumps
/// (`crate::semantics::json`): `{"$float": "NaN"}`, `"Infinity"`, `"-Infinity"`.
fn float_json(f: f64) -> serde_json::Value {
    if f.is_finite() {
        return serde_json::json!(f);
    }
    let name = if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    };
    serde_json::json!({ "$float": name })
}

fn json_float(v: &serde_json::Value) -> Option<f64> {
    match v.get("$float").and_then(|n| n.as_str()) {
        Some("NaN") => Some(f64::NAN),
        Some("Infinity") => Some(f64::INFINITY),
        Some("-Infinity") => Some(f64::NEG_INFINITY),
        Some(_) => None,
        None => v.as_f64(),
    }
}

/// A block's state as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    Empty,
    Writing,
    Full,
    Reading,
}

impl BlockState {
    pub fn name(self) -> &'static str {
        match self {
            BlockState::Empty => "empty",
            BlockState::Writing => "writing",
            BlockState::Full => "full",
            BlockState::Reading => "reading",
        }
    }

    pub fn from_name(s: &str) -> Option<BlockState> {
        [
            BlockState::Empty,
            BlockState::Writing,
            BlockState::Full,
            BlockState::Reading,
        ]
        .into_iter()
        .find(|b| b.name() == s)
    }
}

/// The shape of a typed array: dtype, length, elements per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub dtype: Dtype,
    pub length: u64,
    pub block_len: u64,
}

impl Shape {
    /// The checks of an open call, on every backend: the name, the flags (FULL,
    /// EXCLUSIVE), and the shape a create call asks for (`block_len` 0: one block;
    /// `dtype` `None` is refused when creating). `None` for an open-only call.
    pub fn wanted(
        dtype: Option<Dtype>,
        length: u64,
        block_len: u64,
        flags: u32,
        name: &str,
    ) -> Result<Option<Shape>> {
        use crate::semantics::options::{FLAG_EXCLUSIVE, FLAG_FULL};
        crate::semantics::names::check_object_name(name)?;
        if flags & !(FLAG_FULL | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!(
                "unknown typed array flags {flags:#x}"
            )));
        }
        if length == 0 {
            return Ok(None);
        }
        let dtype = dtype.ok_or_else(|| {
            Error::invalid(format!("creating typed array '{name}' needs a dtype"))
        })?;
        Shape::new(dtype, length, block_len).map(Some)
    }

    /// The shape a create call asks for (`block_len` 0: one block).
    pub fn new(dtype: Dtype, length: u64, block_len: u64) -> Result<Shape> {
        if length == 0 {
            return Err(Error::invalid("a typed array's length must be above 0"));
        }
        if block_len > length {
            return Err(Error::invalid(format!(
                "block length {block_len} is above the array's length {length}"
            )));
        }
        length
            .checked_mul(dtype.size())
            .filter(|&b| b <= i64::MAX as u64 / 2)
            .ok_or_else(|| {
                Error::NoSpace(format!("{length} {} elements are too many", dtype.name()))
            })?;
        let block_len = if block_len == 0 { length } else { block_len };
        Ok(Shape {
            dtype,
            length,
            block_len,
        })
    }

    pub fn blocks(&self) -> u64 {
        self.length.div_ceil(self.block_len)
    }

    pub fn bytes(&self) -> u64 {
        self.length * self.dtype.size()
    }

    /// Elements `first .. first + count` of block `block` (the last block may be short).
    pub fn block_range(&self, block: u64) -> Result<(u64, u64)> {
        if block >= self.blocks() {
            return Err(Error::OutOfRange {
                index: block,
                length: self.blocks(),
            });
        }
        let first = block * self.block_len;
        Ok((first, self.block_len.min(self.length - first)))
    }

    /// `InvalidArgument` naming both when `buf_len` bytes are not `count` elements.
    pub fn check_buffer(&self, count: u64, buf_len: usize) -> Result<()> {
        if count.checked_mul(self.dtype.size()) != Some(buf_len as u64) {
            return Err(Error::invalid(format!(
                "a buffer of {buf_len} bytes for {count} {} elements ({} bytes)",
                self.dtype.name(),
                count.saturating_mul(self.dtype.size())
            )));
        }
        Ok(())
    }

    /// `OutOfRange` unless elements `first .. first + count` exist.
    pub fn check_range(&self, first: u64, count: u64) -> Result<()> {
        if first.checked_add(count).is_none_or(|end| end > self.length) {
            return Err(Error::OutOfRange {
                index: first.saturating_add(count).saturating_sub(1).max(first),
                length: self.length,
            });
        }
        Ok(())
    }

    /// `OutOfRange` unless element `index` exists.
    pub fn check_index(&self, index: u64) -> Result<()> {
        if index >= self.length {
            return Err(Error::OutOfRange {
                index,
                length: self.length,
            });
        }
        Ok(())
    }

    /// The open rules against an existing array of shape `found`: `want` is what the
    /// caller asked for (`length` 0: open only; `block_len` 0 with length 0: any; dtype
    /// `None`, with length 0 only: any, for tools that show whatever is there).
    pub fn check_found(name: &str, want: (Option<Dtype>, u64, u64), found: &Shape) -> Result<()> {
        let (dtype, length, block_len) = want;
        let differs = |what: String| {
            Err(Error::Incompatible(format!(
                "typed array '{name}' has {what}"
            )))
        };
        match dtype {
            Some(d) if d != found.dtype => {
                return differs(format!("dtype {}, not {}", found.dtype.name(), d.name()))
            }
            None if length != 0 => {
                return Err(Error::invalid(format!(
                    "creating typed array '{name}' needs a dtype"
                )))
            }
            _ => {}
        }
        if length != 0 && length != found.length {
            return differs(format!("length {}, not {length}", found.length));
        }
        let asked = if block_len == 0 && length != 0 {
            length
        } else {
            block_len
        };
        if asked != 0 && asked != found.block_len {
            return differs(format!("block length {}, not {asked}", found.block_len));
        }
        Ok(())
    }
}

/// The message for an end_* call on a block this process does not hold that way.
pub fn not_held(name: &str, block: u64, verb: &str, state: BlockState) -> Error {
    Error::invalid(format!(
        "block {block} of typed array '{name}' is not being {verb} by this process (it is {})",
        state.name()
    ))
}

/// The message for the zero-copy calls on a remote region.
pub fn no_pointer_remotely(name: &str) -> Error {
    Error::Unsupported(format!(
        "typed array '{name}' is in a remote region, which has no pointer into its memory; \
         use the copying calls (plexus_tarray_read/_write, _read_block/_write_block)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_ranges() {
        assert!(Dtype::U32.check_value(-1, "v").is_err());
        assert_eq!(
            Dtype::U32.check_value(4_294_967_295, "v").unwrap(),
            u32::MAX as u64
        );
        assert!(Dtype::I32.check_value(1 << 31, "v").is_err());
        assert_eq!(Dtype::I32.to_i64(u32::MAX as u64), -1);
        assert_eq!(Dtype::U64.to_i64(u64::MAX), -1);
        let s = Shape::new(Dtype::F64, 10, 4).unwrap();
        assert_eq!(s.blocks(), 3);
        assert_eq!(s.block_range(2).unwrap(), (8, 2));
        assert!(s.block_range(3).is_err());
        assert!(Shape::check_found("x", (Some(Dtype::F64), 0, 0), &s).is_ok());
        assert!(Shape::check_found("x", (Some(Dtype::F64), 10, 0), &s).is_err());
        assert!(Shape::check_found("x", (Some(Dtype::F32), 0, 0), &s).is_err());
        for d in Dtype::ALL {
            let b = d.element_from_json(&serde_json::json!(5)).unwrap();
            assert_eq!(d.element_json(&b).as_f64(), Some(5.0), "{d:?}");
        }
    }
}
