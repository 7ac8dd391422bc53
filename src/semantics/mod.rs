//! What plexus means, whatever the backend: values and their encoding (MessagePack for
//! objects, JSON conversion), JavaScript `+` for `faa`, MongoDB-style patches, deadlines,
//! and the rules for names and keys. Written once; both backends and the FFI use it.

pub mod deadline;
pub mod json;
pub mod names;
pub mod open;
pub mod service;
pub mod tarray;
pub mod options;
pub mod patch;
pub mod topics;
pub mod value;
pub mod watch;
