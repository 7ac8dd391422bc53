//! The region format: the file's header, the process table, the heap allocator, the
//! directory of named objects, and the region itself (create, attach, look up and open
//! objects). Knows no kind of object beyond the header every object starts with.

pub mod heap;
pub mod layout;
pub mod proctable;
pub mod region;
pub mod scan;
