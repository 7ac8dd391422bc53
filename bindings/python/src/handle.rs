//! Handles: what a Python object holds of its engine object, given back by `close()`, by
//! its region's `close()`, or when the Python object is garbage-collected.
//!
//! A [`Slot`] holds the engine object until it is closed. A call takes a shared lock
//! for its duration when it keeps the GIL (so a close, which needs the GIL too, cannot
//! run meanwhile), or clones the `Arc` when it releases the GIL (a blocking call), so a
//! close from another thread never waits for a blocked call: the call keeps its
//! reference until it returns, as the C API's handles do.

use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

/// Something a region closes when it is closed.
pub(crate) trait Close: Send + Sync {
    fn close(&self);
}

/// One engine object, until closed.
pub(crate) struct Slot<T> {
    inner: RwLock<Option<Arc<T>>>,
}

impl<T: Send + Sync> Slot<T> {
    pub fn new(object: T) -> Arc<Slot<T>> {
        Arc::new(Slot {
            inner: RwLock::new(Some(Arc::new(object))),
        })
    }

    /// Runs `f` on the object (None once closed), holding the shared lock.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.inner.read().as_deref().map(f)
    }

    /// A reference of the object for a call that releases the GIL.
    pub fn get(&self) -> Option<Arc<T>> {
        self.inner.read().clone()
    }

    pub fn is_open(&self) -> bool {
        self.inner.read().is_some()
    }
}

impl<T: Send + Sync> Close for Slot<T> {
    fn close(&self) {
        let taken = self.inner.write().take();
        drop(taken); // after the lock is released: dropping may unmap a region
    }
}

/// The objects opened through one region handle (weakly: an object that is collected
/// drops out), closed with it.
#[derive(Default)]
pub(crate) struct Children {
    list: Mutex<Vec<Weak<dyn Close>>>,
}

impl Children {
    pub fn add(&self, child: Weak<dyn Close>) {
        let mut list = self.list.lock();
        // Forget collected objects now and then, so a program that opens objects in a
        // loop does not grow the list without bound.
        if list.len() >= 64 && list.len().is_power_of_two() {
            list.retain(|c| c.strong_count() > 0);
        }
        list.push(child);
    }

    pub fn close_all(&self) {
        let list = std::mem::take(&mut *self.list.lock());
        for child in list {
            if let Some(c) = child.upgrade() {
                c.close();
            }
        }
    }
}
