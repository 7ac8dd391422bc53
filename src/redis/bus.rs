//! The bus on Redis. (Being written: every call answers UNSUPPORTED.)

use std::time::Duration;

use crate::error::{Error, Result};
use crate::redis::Region;
use crate::semantics::options::Start;
use crate::semantics::value::{Value, ValueRef};

fn todo_remote() -> Error {
    Error::Unsupported("buses are not available on remote regions yet".into())
}

/// A broadcast bus on a remote region.
#[derive(Clone)]
pub struct Bus {
    name: String,
}

/// One subscriber's cursor over a remote bus.
pub struct Subscription {
    _bus: Bus,
}

impl Bus {
    pub(crate) fn open(_region: &Region, _name: &str, _capacity: u64, _flags: u32) -> Result<Bus> {
        Err(todo_remote())
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn capacity(&self) -> u64 {
        0
    }
    pub fn publish(&self, _v: ValueRef<'_>) -> Result<u64> {
        Err(todo_remote())
    }
    pub fn shutdown(&self) -> Result<()> {
        Err(todo_remote())
    }
    pub fn is_shutdown(&self) -> Result<bool> {
        Err(todo_remote())
    }
    pub fn next_seq(&self) -> Result<u64> {
        Err(todo_remote())
    }
    pub fn subscribe(&self, _from: Start) -> Result<Subscription> {
        Err(todo_remote())
    }
}

impl Subscription {
    pub fn next(&mut self, _timeout: Option<Duration>) -> Result<(Value, u64)> {
        Err(todo_remote())
    }
}
