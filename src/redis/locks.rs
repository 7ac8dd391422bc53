//! Mutexes, barriers and semaphores on Redis. (Being written: every call answers
//! UNSUPPORTED.)

use crate::error::{Error, Result};
use crate::redis::Region;
use crate::semantics::deadline::Deadline;
use crate::semantics::options::Acquired;

fn todo_remote(kind: &str) -> Error {
    Error::Unsupported(format!("{kind}es are not available on remote regions yet"))
}

/// A robust mutex on a remote region.
#[derive(Clone)]
pub struct Mutex {
    name: String,
}

impl Mutex {
    pub(crate) fn open(_region: &Region, _name: &str) -> Result<Mutex> {
        Err(todo_remote("mutex"))
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn lock_until(&self, _deadline: &Deadline) -> Result<Acquired> {
        Err(todo_remote("mutex"))
    }
    pub fn unlock(&self) -> Result<()> {
        Err(todo_remote("mutex"))
    }
    pub fn is_locked(&self) -> Result<bool> {
        Err(todo_remote("mutex"))
    }
}

/// A reusable barrier on a remote region.
#[derive(Clone)]
pub struct Barrier {
    name: String,
}

impl Barrier {
    pub(crate) fn open(_region: &Region, _name: &str, _parties: u32) -> Result<Barrier> {
        Err(todo_remote("barri"))
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn parties(&self) -> u32 {
        0
    }
    pub fn wait_until(&self, _deadline: &Deadline) -> Result<bool> {
        Err(todo_remote("barri"))
    }
}

/// A counting semaphore on a remote region.
#[derive(Clone)]
pub struct Semaphore {
    name: String,
}

impl Semaphore {
    pub(crate) fn open(_region: &Region, _name: &str, _permits: u32) -> Result<Semaphore> {
        Err(todo_remote("semaphor"))
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn permits(&self) -> u32 {
        0
    }
    pub fn available(&self) -> Result<u32> {
        Err(todo_remote("semaphor"))
    }
    pub fn held(&self) -> Result<u32> {
        Err(todo_remote("semaphor"))
    }
    pub fn acquire_until(&self, _deadline: &Deadline) -> Result<()> {
        Err(todo_remote("semaphor"))
    }
    pub fn release(&self) -> Result<()> {
        Err(todo_remote("semaphor"))
    }
}
