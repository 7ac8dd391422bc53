//! Arrays: a fixed number of full/empty elements under one name.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::check_object_name;
use crate::semantics::open::KindWords;
pub use crate::semantics::options::{FLAG_EXCLUSIVE, FLAG_FULL};
use crate::semantics::patch::Patch;
use crate::semantics::value::{Value, ValueRef};
use crate::shm::format::layout::{ObjectHeader, KIND_ARRAY};
use crate::shm::format::region::{Held, KindSpec, Region};
use crate::shm::kinds::element::Cell;
use crate::shm::kinds::element::{self, Element, TAG_FULL};
use crate::shm::kinds::KindOps;
use crate::shm::wait::Deadline;

/// An indexed array of elements, each holding a value, a full/empty tag and a version.
#[derive(Clone)]
pub struct Array {
    held: Held,
    elements: u64,
    length: u64,
    name: String,
}

const HEADER: u64 = std::mem::size_of::<ObjectHeader>() as u64;
const ELEM: u64 = std::mem::size_of::<Element>() as u64;

fn array_body_size(len: u64) -> Option<u64> {
    len.checked_mul(ELEM).and_then(|b| b.checked_add(HEADER))
}

pub(crate) const ARRAY_KIND: KindSpec = KindSpec {
    words: KindWords {
        code: KIND_ARRAY,
        name: "array",
        article: "an",
        shape: "length",
        items: "elements",
    },
    size_of: array_body_size,
};

impl Region {
    /// Opens the array `name`; `length > 0` creates it if missing (an existing one must
    /// have that length), `length == 0` opens an existing one only. Flags: [`FLAG_FULL`],
    /// [`FLAG_EXCLUSIVE`].
    pub fn array(&self, name: &str, length: u64, flags: u32) -> Result<Array> {
        let r = &self.inner;
        r.check_usable()?;
        check_object_name(name)?;
        if flags & !(FLAG_FULL | FLAG_EXCLUSIVE) != 0 {
            return Err(Error::invalid(format!("unknown array flags {flags:#x}")));
        }
        let (obj, held) = self.open_held(
            name,
            &ARRAY_KIND,
            length,
            flags & FLAG_EXCLUSIVE != 0,
            flags & FLAG_FULL,
            |off| {
                if flags & FLAG_FULL != 0 {
                    for i in 0..length {
                        let e: &Element = r.map.get(off + HEADER + i * ELEM)?;
                        e.tag.store(TAG_FULL, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Ok(())
            },
        )?;
        Ok(Array {
            held,
            elements: obj.offset + HEADER,
            length: obj.shape,
            name: name.to_owned(),
        })
    }
}

impl Array {
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn region(&self) -> &Region {
        self.held.region()
    }

    fn cell(&self, index: u64) -> Result<Cell<'_>> {
        if index >= self.length {
            return Err(Error::OutOfRange {
                index,
                length: self.length,
            });
        }
        Cell::of(&self.held, self.elements + index * ELEM)
    }

    /// Reads the value whatever the tag (atomic: never torn).
    pub fn read(&self, index: u64) -> Result<Value> {
        self.cell(index)?.read()
    }
    /// Writes the value, keeping the tag.
    pub fn write(&self, index: u64, v: ValueRef<'_>) -> Result<()> {
        self.cell(index)?.write(v)
    }
    /// Waits until FULL, reads, leaves EMPTY.
    pub fn read_fe(&self, index: u64, timeout: Option<Duration>) -> Result<Value> {
        self.cell(index)?.read_fe(&Deadline::after(timeout))
    }
    /// Waits until FULL, reads, leaves FULL.
    pub fn read_ff(&self, index: u64, timeout: Option<Duration>) -> Result<Value> {
        self.cell(index)?.read_ff(&Deadline::after(timeout))
    }
    /// Waits until EMPTY, writes, leaves FULL.
    pub fn write_ef(&self, index: u64, v: ValueRef<'_>, timeout: Option<Duration>) -> Result<()> {
        self.cell(index)?.write_ef(v, &Deadline::after(timeout))
    }
    /// Writes and leaves FULL whatever the tag was.
    pub fn write_xf(&self, index: u64, v: ValueRef<'_>) -> Result<()> {
        self.cell(index)?.write_xf(v)
    }
    /// Writes and leaves EMPTY whatever the tag was.
    pub fn write_xe(&self, index: u64, v: ValueRef<'_>) -> Result<()> {
        self.cell(index)?.write_xe(v)
    }
    /// Sets the tag without touching the value.
    pub fn set_tag(&self, index: u64, full: bool) -> Result<()> {
        self.cell(index)?.set_tag(full)
    }
    /// Stores a value and tag, moving the version to at least `version` (`plexus load`).
    pub fn restore(&self, index: u64, v: ValueRef<'_>, full: bool, version: u64) -> Result<()> {
        self.cell(index)?.restore(v, full, version)
    }
    pub fn is_full(&self, index: u64) -> Result<bool> {
        self.cell(index)?.is_full()
    }
    /// Waits until FULL and takes a shared read lock (blocks writers until `release_rw`).
    pub fn read_rw(&self, index: u64, timeout: Option<Duration>) -> Result<Value> {
        self.cell(index)?.read_rw(&Deadline::after(timeout))
    }
    pub fn release_rw(&self, index: u64) -> Result<()> {
        self.cell(index)?.release_rw()
    }
    /// Atomic JavaScript-like `+=`; returns the old value.
    pub fn faa(&self, index: u64, delta: ValueRef<'_>) -> Result<Value> {
        self.cell(index)?.faa(delta)
    }
    /// Stores `desired` if the value equals `expected`; returns the old value either way.
    pub fn cas(&self, index: u64, expected: ValueRef<'_>, desired: ValueRef<'_>) -> Result<Value> {
        self.cell(index)?.cas(expected, desired)
    }
    /// Stores `v`, returns the old value; the tag is unchanged.
    pub fn exchange(&self, index: u64, v: ValueRef<'_>) -> Result<Value> {
        self.cell(index)?.exchange(v)
    }
    /// Applies a MongoDB-style patch to the element's OBJECT value atomically (tag kept,
    /// version +1); returns the new value.
    pub fn patch(&self, index: u64, patch: ValueRef<'_>) -> Result<Value> {
        let p = Patch::parse(patch)?;
        self.cell(index)?.patch(&p)
    }
    pub fn version(&self, index: u64) -> Result<u64> {
        self.cell(index)?.version()
    }
    /// Returns the value and stores its version in `*seen` as soon as the version differs
    /// from `*seen` (see `crate::semantics::watch`).
    pub fn watch(&self, index: u64, seen: &mut u64, timeout: Option<Duration>) -> Result<Value> {
        self.cell(index)?.watch(seen, &Deadline::after(timeout))
    }
    /// Blocks until the version differs from `*seen`; stores the new one there.
    pub fn wait_change(&self, index: u64, seen: &mut u64, timeout: Option<Duration>) -> Result<()> {
        self.cell(index)?
            .wait_change(seen, &Deadline::after(timeout))
    }
}

// ---- checker and sweep ----

pub(crate) const OPS: KindOps = KindOps {
    spec: &ARRAY_KIND,
    label: |_| "array",
    scan: |s, o| {
        for i in 0..o.shape {
            element::scan(s, o.body + i * ELEM, true, &|| {
                format!("{} element {i}", o.loc)
            });
        }
    },
    sweep: |r, o, done| {
        for i in 0..o.shape {
            element::sweep(r, o.body + i * ELEM, done)?;
        }
        Ok(())
    },
    release: |r, o| {
        for i in 0..o.shape {
            element::release(r, o.body + i * ELEM)?;
        }
        Ok(())
    },
};
