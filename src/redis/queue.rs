//! Queues and stacks on Redis. (Being written: every call answers UNSUPPORTED.)

use std::time::Duration;

use crate::error::{Error, Result};
use crate::redis::Region;
use crate::semantics::value::{Value, ValueRef};

fn todo_remote() -> Error {
    Error::Unsupported("queues are not available on remote regions yet".into())
}

/// A queue (FIFO) or stack (LIFO) on a remote region.
#[derive(Clone)]
pub struct Queue {
    name: String,
}

impl Queue {
    pub(crate) fn open(
        _region: &Region,
        _name: &str,
        _capacity: u64,
        _flags: u32,
    ) -> Result<Queue> {
        Err(todo_remote())
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn capacity(&self) -> u64 {
        0
    }
    pub fn len(&self) -> Result<u64> {
        Err(todo_remote())
    }
    pub fn is_empty(&self) -> Result<bool> {
        Err(todo_remote())
    }
    pub fn push(&self, _v: ValueRef<'_>, _timeout: Option<Duration>) -> Result<()> {
        Err(todo_remote())
    }
    pub fn pop(&self, _timeout: Option<Duration>) -> Result<Value> {
        Err(todo_remote())
    }
    pub fn shutdown(&self) -> Result<()> {
        Err(todo_remote())
    }
    pub fn is_shutdown(&self) -> Result<bool> {
        Err(todo_remote())
    }
}
