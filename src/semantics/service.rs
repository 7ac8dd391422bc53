//! Services: request/response between processes, the same on every backend.
//!
//! A service is a named object with room for `capacity` pending requests. Any number
//! of callers and servers use it at once:
//!
//! * `call(request, timeout)`: places the request (waiting for room while `capacity`
//!   requests are pending), then waits for its reply. `Ok(response)` when a server
//!   replied; [`Error::Service`] carrying the server's message when it replied with an
//!   error; `Timeout` when no reply came in time (the request is withdrawn: if a server
//!   took it, its later reply is discarded, never delivered to another call);
//!   `OwnerDead` when the server that took the request died before replying (on shared
//!   memory within about [`DEAD_SERVER_NOTICE`]; on a remote region once its lease
//!   expired).
//! * `next(timeout)`: takes the oldest pending request. Each request goes to exactly one
//!   server. Returns a [`RequestId`] and the request value.
//! * `reply(id, response)` / `reply_error(id, message)`: answers a request this server
//!   handle took. A second reply, a reply to an id this handle did not take, or one
//!   that was already answered: `InvalidArgument`. A reply to a request whose caller
//!   gave up (timed out) succeeds and is discarded.
//!
//! Request ids carry the slot and a generation, so a stale id never reaches a reused
//! slot. A caller killed while waiting leaves nothing behind: its request is dropped
//! (by the server's reply, by the next caller that needs the room, or by the sweep).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::value::ValueRef;

/// The id of one request taken with `next`: `generation << 32 | slot + 1` (never 0).
pub type RequestId = u64;

/// On shared memory, how long at most a caller sleeps between looks at whether the
/// server that took its request is still alive.
pub const DEAD_SERVER_NOTICE: Duration = Duration::from_millis(50);

/// Longest handler error message kept (longer ones are cut at a character boundary).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// What a server answers: a value, or an error message for the caller.
#[derive(Debug, Clone, Copy)]
pub enum Reply<'a> {
    Value(ValueRef<'a>),
    Error(&'a str),
}

impl<'a> Reply<'a> {
    /// The value stored for this reply (an error is stored as its message string, cut
    /// to [`MAX_MESSAGE`] bytes), checked.
    pub fn stored(&self) -> Result<(ValueRef<'a>, bool)> {
        match *self {
            Reply::Value(v) => {
                v.validate()?;
                Ok((v, false))
            }
            Reply::Error(m) => {
                let mut end = m.len().min(MAX_MESSAGE);
                while !m.is_char_boundary(end) {
                    end -= 1;
                }
                Ok((ValueRef::String(&m[..end]), true))
            }
        }
    }
}

/// Splits a request id into (slot index, generation), checking it names a slot of a
/// service of `capacity` slots.
pub fn split_id(id: RequestId, capacity: u64, service: &str) -> Result<(u64, u32)> {
    let slot = id & 0xffff_ffff;
    if slot == 0 || slot > capacity {
        return Err(Error::invalid(format!(
            "{id:#x} is not a request id of service '{service}' (take requests with next)"
        )));
    }
    Ok((slot - 1, (id >> 32) as u32))
}

/// The request id of slot `index` in generation `gen`.
pub fn make_id(index: u64, gen: u32) -> RequestId {
    (gen as u64) << 32 | (index + 1)
}

/// The error a call returns for a reply stored as an error message.
pub fn handler_error(message: String) -> Error {
    Error::Service(message)
}

/// The outcome of a call whose request the server took and then died holding.
pub fn server_died() -> Error {
    Error::OwnerDead
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_bad_ids_are_refused() {
        let id = make_id(3, 77);
        assert_eq!(split_id(id, 4, "s").unwrap(), (3, 77));
        assert!(split_id(id, 3, "s").is_err());
        assert!(split_id(0, 3, "s").is_err());
    }

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        let m = "é".repeat(MAX_MESSAGE);
        let (v, err) = Reply::Error(&m).stored().unwrap();
        assert!(err);
        match v {
            ValueRef::String(s) => assert!(s.len() <= MAX_MESSAGE && s.len() >= MAX_MESSAGE - 1),
            _ => panic!("not a string"),
        }
    }
}
