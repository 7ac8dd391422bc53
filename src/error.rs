//! The engine's one error type; each variant maps 1:1 onto a `plexus_status`.

use std::io;

/// Everything that can go wrong in the engine. `Display` gives the message that the C
/// API returns from `plexus_last_error()`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A wait ended before its condition held (with a zero timeout: it would block).
    #[error("timed out")]
    Timeout,
    /// Queue or bus closed.
    #[error("closed")]
    Closed,
    /// Lock acquired; its previous owner died holding it.
    #[error("acquired; the previous owner died holding it")]
    OwnerDead,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("bad handle: {0}")]
    BadHandle(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Exists(String),
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    #[error("index {index} out of range (length {length})")]
    OutOfRange { index: u64, length: u64 },
    #[error("no space: {0}")]
    NoSpace(String),
    #[error("incompatible: {0}")]
    Incompatible(String),
    #[error("corrupt region: {0}")]
    Corrupt(String),
    #[error("permission denied: {0}")]
    Permission(String),
    #[error("OS error: {0}")]
    Os(String),
    #[error("buffer too small: {needed} bytes needed")]
    BufferTooSmall { needed: usize },
    /// The region was removed (or replaced by a RECREATE of its name) while this handle
    /// was open, or the object was removed: open it again by name to reach the new one.
    #[error("removed: {0}")]
    Removed(String),
    /// A remote region's server could not be reached, or did not answer within the
    /// call's time. The message says whether the change is known not to have happened.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A remote region's state vanished on the server (flushed, restarted without
    /// persistence, failed over to a replica that lacked it, or replaced).
    #[error("region lost: {0}")]
    RegionLost(String),
    /// The operation cannot exist on this backend; the message names the alternative.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A service handler replied with an error; the payload is its message, exactly.
    #[error("{0}")]
    Service(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A signal between parts of the engine, never returned by a public call (one that
    /// escaped would be a bug: the C API reports it as PLEXUS_E_INTERNAL). Its payload
    /// is private: code outside the crate can neither make nor inspect one.
    #[doc(hidden)]
    #[error("internal signal: {0:?}")]
    Signal(Signal),
}

/// The engine's internal signals (see [`Error::Signal`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(pub(crate) SignalKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalKind {
    /// A map slot changed owner (its key was removed, the slot reused) while a call on
    /// it waited: the map looks the key up again.
    SlotMoved,
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Maps an OS error on `what` (a path or an action) to the matching variant.
    pub fn from_io(err: &io::Error, what: &str) -> Error {
        match err.raw_os_error() {
            Some(libc::ENOENT) => Error::NotFound(format!("{what}: {err}")),
            Some(libc::EEXIST) => Error::Exists(format!("{what}: {err}")),
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                Error::Permission(format!("{what}: {err}"))
            }
            Some(libc::ENOSPC) | Some(libc::ENOMEM) | Some(libc::EFBIG) => {
                Error::NoSpace(format!("{what}: {err}"))
            }
            Some(libc::ENAMETOOLONG) | Some(libc::ENOTDIR) | Some(libc::EISDIR) => {
                Error::InvalidArgument(format!("{what}: {err}"))
            }
            _ => Error::Os(format!("{what}: {err}")),
        }
    }

    pub fn corrupt(msg: impl Into<String>) -> Error {
        Error::Corrupt(msg.into())
    }

    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn signal(kind: SignalKind) -> Error {
        Error::Signal(Signal(kind))
    }

    /// True for the internal signal `kind`.
    pub(crate) fn is_signal(&self, kind: SignalKind) -> bool {
        matches!(self, Error::Signal(Signal(k)) if *k == kind)
    }
}
