//! The OS layer: the only code that calls libc (files, mmap, futex, pids, clocks), so a
//! port to another OS touches this folder alone.

pub mod mem;
pub mod sys;
