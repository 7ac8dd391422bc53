//! What plexus means, whatever the backend: values and their encoding (MessagePack for
//! objects, JSON conversion), JavaScript `+` for `faa`, deadlines, and the rules for
//! names and keys. Written once; both backends and the FFI use it.

pub mod deadline;
pub mod names;
pub mod open;
pub mod options;
pub mod value;
pub mod watch;
