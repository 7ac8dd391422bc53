//! Status codes, the thread-local last error and the panic boundary.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::Error;

/// Result of every plexus call. Values below 100 are outcomes (the call did what it
/// could); 100 and above are errors, with a message in `plexus_last_error()`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum plexus_status {
    /// Success.
    PLEXUS_OK = 0,
    /// A wait ended before its condition held (with timeout 0: it would block).
    PLEXUS_TIMEOUT = 1,
    /// The queue or bus was shut down (and, for pops and subscribers, drained).
    PLEXUS_CLOSED = 2,
    /// Mutex acquired; its previous owner died holding it.
    PLEXUS_OWNER_DEAD = 3,
    /// NULL pointer, bad name, option or flag, invalid UTF-8, unknown type tag, bad JSON.
    PLEXUS_E_INVALID_ARGUMENT = 100,
    /// Handle closed, never issued, zero, of another kind, or inherited across fork().
    PLEXUS_E_BAD_HANDLE = 101,
    /// Region, object or key does not exist.
    PLEXUS_E_NOT_FOUND = 102,
    /// Exclusive creation, but it exists.
    PLEXUS_E_EXISTS = 103,
    /// Object of another kind under that name, or an operation undefined for the value's type.
    PLEXUS_E_TYPE_MISMATCH = 104,
    /// Index >= length.
    PLEXUS_E_OUT_OF_RANGE = 105,
    /// Region heap, directory or process table full (or /dev/shm full at creation).
    PLEXUS_E_NO_SPACE = 106,
    /// Format version, byte order or object shape (length, capacity) differs.
    PLEXUS_E_INCOMPATIBLE = 107,
    /// The region failed validation (not a region, damaged, truncated).
    PLEXUS_E_CORRUPT = 108,
    /// The OS denied access.
    PLEXUS_E_PERMISSION = 109,
    /// Other OS error (the message has the errno text).
    PLEXUS_E_OS = 110,
    /// A caller buffer is too small (the needed size is reported).
    PLEXUS_E_BUFFER_TOO_SMALL = 111,
    /// The region was removed (`plexus_region_remove`, or a `PLEXUS_RECREATE` of its
    /// name) while this handle was open: every call on a handle of it returns this, and
    /// calls blocked in it wake with it within 100 ms. Or the object this handle is on
    /// was removed (`plexus_region_remove_object`): every call on a handle of it returns
    /// this, and calls blocked in it wake with it. Open the name again to reach the
    /// region or object that now has it.
    PLEXUS_E_REMOVED = 112,
    /// A remote region's server could not be reached, or did not answer within the
    /// call's time. Nothing was changed, or the message says the change is not known.
    PLEXUS_E_UNAVAILABLE = 113,
    /// A remote region's state vanished on the server (flushed, restarted without
    /// persistence, failed over to a replica that lacked it, or the region was replaced):
    /// every handle of it returns this; open it again to start anew.
    PLEXUS_E_REGION_LOST = 114,
    /// This operation cannot exist on this backend (or this build); the message names
    /// the alternative.
    PLEXUS_E_UNSUPPORTED = 115,
    /// A service handler replied with an error (plexus_service_reply_error); its message
    /// is in `plexus_last_error()`.
    PLEXUS_E_SERVICE = 116,
    /// A bug in plexus, caught at the boundary; please report the message.
    PLEXUS_E_INTERNAL = 199,
}

use plexus_status::*;

/// Status as a C argument: plain integer in Rust (any value a C caller passes is
/// defined behaviour), shown as `plexus_status` in the header.
pub type PlexusStatusArg = i32;

impl From<&Error> for plexus_status {
    fn from(e: &Error) -> plexus_status {
        match e {
            Error::Timeout => PLEXUS_TIMEOUT,
            Error::Closed => PLEXUS_CLOSED,
            Error::OwnerDead => PLEXUS_OWNER_DEAD,
            Error::InvalidArgument(_) => PLEXUS_E_INVALID_ARGUMENT,
            Error::BadHandle(_) => PLEXUS_E_BAD_HANDLE,
            Error::NotFound(_) => PLEXUS_E_NOT_FOUND,
            Error::Exists(_) => PLEXUS_E_EXISTS,
            Error::TypeMismatch(_) => PLEXUS_E_TYPE_MISMATCH,
            Error::OutOfRange { .. } => PLEXUS_E_OUT_OF_RANGE,
            Error::NoSpace(_) => PLEXUS_E_NO_SPACE,
            Error::Incompatible(_) => PLEXUS_E_INCOMPATIBLE,
            Error::Corrupt(_) => PLEXUS_E_CORRUPT,
            Error::Permission(_) => PLEXUS_E_PERMISSION,
            Error::Os(_) => PLEXUS_E_OS,
            Error::BufferTooSmall { .. } => PLEXUS_E_BUFFER_TOO_SMALL,
            Error::Removed(_) => PLEXUS_E_REMOVED,
            Error::Unavailable(_) => PLEXUS_E_UNAVAILABLE,
            Error::RegionLost(_) => PLEXUS_E_REGION_LOST,
            Error::Unsupported(_) => PLEXUS_E_UNSUPPORTED,
            Error::Service(_) => PLEXUS_E_SERVICE,
            Error::Internal(_) | Error::Signal(_) => PLEXUS_E_INTERNAL,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // try_with: during thread or process teardown (atexit handlers, TLS destructors)
    // the thread-local may be gone; the message is then dropped, the status still returned.
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut slot) = e.try_borrow_mut() {
            *slot = c;
        }
    });
}

/// Runs an exported function's body: maps its error to a status and a message, and
/// turns a panic into `PLEXUS_E_INTERNAL` instead of unwinding into C.
pub(crate) fn guard(f: impl FnOnce() -> Result<(), Error>) -> plexus_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => PLEXUS_OK,
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            plexus_status::from(&e)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (please report): {what}"));
            PLEXUS_E_INTERNAL
        }
    }
}

/// The message of the last failing plexus call on this thread ("" if none). Meaningful
/// only right after a call returned a status other than PLEXUS_OK, on the same thread.
/// The string belongs to plexus and stays valid until the next failing call on this
/// thread; never NULL.
#[no_mangle]
pub extern "C" fn plexus_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The name of a status as a static string ("PLEXUS_TIMEOUT"); "PLEXUS_UNKNOWN_STATUS"
/// for a value that is not a status. Never NULL.
#[no_mangle]
pub extern "C" fn plexus_status_name(status: PlexusStatusArg) -> *const c_char {
    let name: &CStr = match status {
        0 => c"PLEXUS_OK",
        1 => c"PLEXUS_TIMEOUT",
        2 => c"PLEXUS_CLOSED",
        3 => c"PLEXUS_OWNER_DEAD",
        100 => c"PLEXUS_E_INVALID_ARGUMENT",
        101 => c"PLEXUS_E_BAD_HANDLE",
        102 => c"PLEXUS_E_NOT_FOUND",
        103 => c"PLEXUS_E_EXISTS",
        104 => c"PLEXUS_E_TYPE_MISMATCH",
        105 => c"PLEXUS_E_OUT_OF_RANGE",
        106 => c"PLEXUS_E_NO_SPACE",
        107 => c"PLEXUS_E_INCOMPATIBLE",
        108 => c"PLEXUS_E_CORRUPT",
        109 => c"PLEXUS_E_PERMISSION",
        110 => c"PLEXUS_E_OS",
        111 => c"PLEXUS_E_BUFFER_TOO_SMALL",
        112 => c"PLEXUS_E_REMOVED",
        113 => c"PLEXUS_E_UNAVAILABLE",
        114 => c"PLEXUS_E_REGION_LOST",
        115 => c"PLEXUS_E_UNSUPPORTED",
        116 => c"PLEXUS_E_SERVICE",
        199 => c"PLEXUS_E_INTERNAL",
        _ => c"PLEXUS_UNKNOWN_STATUS",
    };
    name.as_ptr()
}

/// A required out-pointer, or `InvalidArgument` naming the parameter.
pub(crate) fn out_ref<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    // SAFETY: non-NULL pointers from C are trusted to point to a writable T (the
    // documented contract of every function taking one).
    unsafe { p.as_mut() }.ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

/// A required C string argument as UTF-8.
pub(crate) fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the contract says NUL-terminated.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}
