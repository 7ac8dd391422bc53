//! The object kinds. Each module is a kind's whole life: its shared layout, its
//! operations, its open rules, how it is recovered after a crash and how the checker
//! scans it. [`KINDS`] is the table the checker and the sweep-on-open ask.

pub mod array;
pub mod barrier;
pub mod bus;
pub mod element;
pub mod map;
pub mod mutex;
pub mod queue;
pub mod semaphore;
