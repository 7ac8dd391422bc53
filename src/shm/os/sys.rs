//! The only module that calls libc: futexes, files, mappings, process liveness.
//!
//! A macOS or Windows port replaces this file (and nothing else in the engine).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Longest one futex sleep lasts, whatever the caller's timeout: a sleeper wakes this
/// often to see whether its region was removed (callers check after every sleep).
pub const SLEEP_SLICE: Duration = Duration::from_millis(80);

/// Blocks while `*word == expected`, for at most `timeout` (None: no limit) and at most
/// [`SLEEP_SLICE`].
///
/// Shared futex (no `FUTEX_PRIVATE_FLAG`), so it works between processes that map the
/// same file at different addresses. Returns on wake, timeout, value mismatch or signal;
/// callers re-check their condition, their deadline and the region's removal in a loop.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let timeout = Some(timeout.map_or(SLEEP_SLICE, |t| t.min(SLEEP_SLICE)));
    let ts;
    let ts_ptr = match timeout {
        Some(d) => {
            ts = libc::timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            };
            &ts as *const libc::timespec
        }
        None => std::ptr::null(),
    };
    // SAFETY: `word` is a live, 4-byte aligned atomic inside a mapping that outlives the
    // call; FUTEX_WAIT only reads it. The timespec (if any) lives on this stack frame.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes up to `count` processes blocked in [`futex_wait`] on `word`.
pub fn futex_wake(word: &AtomicU32, count: i32) {
    futex_wake_count(word, count);
}

/// Wakes up to `count` processes blocked on `word`; returns how many it woke.
pub fn futex_wake_count(word: &AtomicU32, count: i32) -> u32 {
    // SAFETY: FUTEX_WAKE does not access the word's memory beyond identifying it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            count,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    r.max(0) as u32
}

/// Longest one sleep of [`futex_wait_either`] lasts: its second word (the region's
/// removal word, which every removal bumps and wakes) makes the short slice unnecessary.
pub const LONG_SLICE: Duration = Duration::from_secs(1);

/// Whether the kernel has `futex_waitv` (Linux 5.16+); cleared on the first ENOSYS.
static WAITV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// One entry of `futex_waitv`'s array (`struct futex_waitv` of the kernel's uapi).
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}
/// `FUTEX2_SIZE_U32`: a 32-bit futex word (shared: no `FUTEX2_PRIVATE`).
const FUTEX2_SIZE_U32: u32 = 0x02;

/// Blocks while `*a == a_expected` and `*b == b_expected`, for at most `timeout` and at
/// most [`LONG_SLICE`]: a wake of either word ends it. Returns false, having done nothing,
/// when the kernel lacks `futex_waitv` (the caller then sleeps on `a` alone with
/// [`futex_wait`], whose short slice stands in for the wake of `b`).
pub fn futex_wait_either(
    a: &AtomicU32,
    a_expected: u32,
    b: &AtomicU32,
    b_expected: u32,
    timeout: Option<Duration>,
) -> bool {
    if !WAITV.load(Ordering::Relaxed) {
        return false;
    }
    let d = timeout.map_or(LONG_SLICE, |t| t.min(LONG_SLICE));
    // futex_waitv takes an absolute CLOCK_MONOTONIC time.
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `now`, which lives on this frame.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let nanos = now.tv_nsec as u64 + d.subsec_nanos() as u64;
    let abs = libc::timespec {
        tv_sec: now.tv_sec + d.as_secs() as libc::time_t + (nanos / 1_000_000_000) as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    };
    let waiters = [
        FutexWaitv {
            val: a_expected as u64,
            uaddr: a.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        },
        FutexWaitv {
            val: b_expected as u64,
            uaddr: b.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        },
    ];
    // SAFETY: both words are live, 4-byte aligned atomics inside mappings that outlive
    // the call; futex_waitv only reads them. The array and the timespec live on this
    // stack frame.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            waiters.as_ptr(),
            2u32,
            0u32,
            &abs as *const libc::timespec,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        WAITV.store(false, Ordering::Relaxed);
        return false;
    }
    true
}

/// The calling process id.
pub fn pid() -> u32 {
    std::process::id()
}

/// The effective user and group ids of the calling process.
pub fn effective_ids() -> (u32, u32) {
    // SAFETY: geteuid and getegid cannot fail and touch no memory.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Kernel thread id of the calling thread (`gettid`), cached per thread: a
/// thread-local read on the hot path. The cache is keyed by the fork epoch, so the
/// thread of a child created by `fork()` gets its own id.
#[inline]
pub fn thread_id() -> u32 {
    thread_local! {
        static TID: std::cell::Cell<(u64, u32)> = const { std::cell::Cell::new((0, 0)) };
    }
    let epoch = current_fork_epoch();
    TID.try_with(|c| match c.get() {
        (e, tid) if e == epoch && tid != 0 => tid,
        _ => {
            let tid = gettid();
            c.set((epoch, tid));
            tid
        }
    })
    .unwrap_or_else(|_| gettid())
}

#[cold]
fn gettid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// Number of CPUs online on this machine (1 disables spinning). Deliberately not the
/// CPUs this process may use: a process pinned to one CPU still hands off to peers
/// running on other CPUs, and must spin for them.
pub fn usable_cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        if n > 0 {
            n as usize
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    })
}

/// What `/proc/<pid>/stat` says about a process.
pub enum ProcState {
    /// Running (or sleeping); `start_ticks` is its start time in clock ticks after boot.
    Alive { start_ticks: u64 },
    /// Gone, or a zombie that will never run again.
    Dead,
    /// Exists but could not be inspected (another user's process in a restricted /proc).
    Unknown,
}

/// Looks a process up. A zombie counts as dead: it holds no locks any more.
pub fn process_state(pid: u32) -> ProcState {
    if pid == 0 || pid > i32::MAX as u32 {
        return ProcState::Dead;
    }
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_stat(&stat).unwrap_or(ProcState::Unknown),
        Err(e) if e.kind() == io::ErrorKind::NotFound => ProcState::Dead,
        Err(_) => {
            // SAFETY: kill with signal 0 only checks for existence and permission.
            let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
            if rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) {
                ProcState::Unknown
            } else {
                ProcState::Dead
            }
        }
    }
}

fn parse_stat(stat: &[u8]) -> Option<ProcState> {
    // The command name (field 2) may contain spaces and parentheses: skip to the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?; // field 3
    if state == "Z" || state == "X" || state == "x" {
        return Some(ProcState::Dead);
    }
    // Field 22 (starttime) is the 20th field after the state.
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(ProcState::Alive { start_ticks })
}

/// Whether process `pid` is stopped (SIGSTOP, a debugger) or in an uninterruptible wait
/// (`T`, `t` or `D` in `/proc/<pid>/stat`): a process that may hold a lock without running.
pub fn process_is_paused(pid: u32) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    matches!(
        stat.get(close + 1..)
            .and_then(|rest| rest.iter().find(|b| !b.is_ascii_whitespace())),
        Some(b'T' | b't' | b'D')
    )
}

/// Start time of the calling process (clock ticks after boot), 0 if unknown.
pub fn own_start_ticks() -> u64 {
    match process_state(pid()) {
        ProcState::Alive { start_ticks } => start_ticks,
        _ => 0,
    }
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn unix_time_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// 64 random bits from the kernel (falls back to time and pid mixing).
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == 8 {
        return u64::from_ne_bytes(buf);
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut x = unix_time_ns() ^ ((pid() as u64) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// Creates a new file exclusively with exactly `mode` (not masked by the umask).
pub fn create_exclusive(path: &Path, mode: u32) -> io::Result<File> {
    let c = cpath(path)?;
    // SAFETY: `c` is a valid NUL-terminated path; the flags create a new file only.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    // SAFETY: fchmod on a descriptor we own.
    if unsafe { libc::fchmod(file.as_raw_fd(), mode as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

/// Reserves `len` bytes of backing store so that later page faults cannot fail with SIGBUS.
/// Falls back to a sparse `ftruncate` where the filesystem cannot reserve space; returns
/// whether the space is really reserved.
pub fn reserve(file: &File, len: u64) -> io::Result<bool> {
    // SAFETY: posix_fallocate on a descriptor we own; it returns an errno value.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    match rc {
        0 => Ok(true),
        libc::EOPNOTSUPP | libc::EINVAL => {
            file.set_len(len)?;
            Ok(false)
        }
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Publishes `tmp` under `path` without ever replacing an existing file.
pub fn link_no_replace(tmp: &Path, path: &Path) -> io::Result<()> {
    let (a, b) = (cpath(tmp)?, cpath(path)?);
    // SAFETY: both are valid NUL-terminated paths.
    if unsafe { libc::link(a.as_ptr(), b.as_ptr()) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // Filesystems without hard links: an atomic rename that refuses to replace.
        Some(libc::EPERM) | Some(libc::EOPNOTSUPP) => {
            // SAFETY: as above; RENAME_NOREPLACE never overwrites `b`.
            let rc = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        }
        _ => Err(err),
    }
}

/// Flushes a mapped range and the file to stable storage.
pub fn sync_mapping(ptr: *mut u8, len: usize, file: &File) -> io::Result<()> {
    // SAFETY: `ptr..ptr+len` is a live MAP_SHARED mapping owned by the caller.
    if unsafe { libc::msync(ptr.cast(), len, libc::MS_SYNC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    file.sync_all()
}

/// The size of a huge page that one page-table entry maps (PMD size: 2 MiB on x86-64
/// and on arm64 with 4 KiB pages), as the kernel says in
/// `/sys/kernel/mm/transparent_hugepage/hpage_pmd_size`; 2 MiB where it does not say
/// (no transparent huge pages), which only decides where large mappings start.
pub fn huge_page_size() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| {
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|s| s.is_power_of_two() && *s >= 4096)
            .unwrap_or(2 << 20)
    })
}

/// `madvise(MADV_COLLAPSE)` (Linux 6.1; `<asm-generic/mman-common.h>`), which the libc
/// crate does not name yet.
const MADV_COLLAPSE: libc::c_int = 25;

/// Maps the first `len` bytes of `file`, `MAP_SHARED`, readable and (with `writable`)
/// writable. A mapping of at least [`huge_page_size`] bytes starts at an address
/// aligned to it, so that addresses and file offsets agree modulo the huge page size in
/// every process: the kernel can then map a huge page of the file's page cache with one
/// page-table entry (it cannot at other addresses). Free with [`unmap`].
pub fn map_shared(file: &File, len: usize, writable: bool) -> io::Result<*mut u8> {
    let prot = if writable {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    let fd = file.as_raw_fd();
    // A few tries: another thread may map something into the hole between finding it
    // and taking it.
    let tries = if len >= huge_page_size() { 4 } else { 0 };
    for _ in 0..tries {
        let Some(at) = aligned_hole(len) else { break };
        // SAFETY: a new shared mapping of a descriptor we own. MAP_FIXED_NOREPLACE never
        // replaces a mapping: if another thread took the hole meanwhile, this fails with
        // EEXIST. (A kernel older than 4.17 takes the address as a hint.)
        let p = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                len,
                prot,
                libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE,
                fd,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            return Ok(p.cast());
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
            break; // the plain mmap below reports it
        }
    }
    // SAFETY: a new shared mapping of a descriptor we own, placed by the kernel.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// A free range of address space of `len` bytes starting at a multiple of
/// [`huge_page_size`]: found by reserving `len` plus one huge page (`PROT_NONE`, no
/// memory) and giving the reservation back at once.
fn aligned_hole(len: usize) -> Option<usize> {
    let huge = huge_page_size();
    let span = len.checked_add(huge)?;
    // SAFETY: a new private anonymous mapping placed by the kernel; nothing else touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: exactly the reservation just made, which nothing else knows of.
    unsafe { libc::munmap(p, span) };
    Some((p as usize).next_multiple_of(huge))
}

/// Unmaps a mapping made by [`map_shared`].
///
/// # Safety
/// `ptr` and `len` are those of a live mapping from [`map_shared`], which nothing uses
/// afterwards.
pub unsafe fn unmap(ptr: *mut u8, len: usize) {
    // SAFETY: the caller's contract; munmap rounds len up to whole pages.
    unsafe { libc::munmap(ptr.cast(), len) };
}

/// Asks for huge pages where the kernel allows them on request
/// (`madvise(MADV_HUGEPAGE)`: tmpfs mounted with `huge=advise` or `within_size`): page
/// faults that allocate may take huge pages, and khugepaged may later merge the range's
/// small pages. A hint: a kernel that refuses it changes nothing.
///
/// # Safety
/// `ptr..ptr+len` is inside a live mapping of the caller's.
pub unsafe fn advise_huge_pages(ptr: *mut u8, len: usize) {
    // SAFETY: madvise with a hint flag only changes how the kernel backs the range.
    unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) };
}

/// Moves the data of `ptr..ptr+len` (whole, aligned huge pages of a shared file mapping)
/// into huge pages now (`madvise(MADV_COLLAPSE)`, Linux 6.1), whatever the tmpfs `huge=`
/// option, unless transparent huge pages are denied (`shmem_enabled` `deny`, a process
/// that disabled them with `prctl`) or the filesystem is not tmpfs. Synchronous: copies
/// the range (about as long as writing it once); where the pages already are huge it
/// only maps them. The data does not change; other processes fault the pages in again.
/// Errors (no huge page free, an older kernel, another filesystem) change nothing.
///
/// # Safety
/// `ptr..ptr+len` is inside a live mapping of the caller's.
pub unsafe fn collapse_huge_pages(ptr: *mut u8, len: usize) -> io::Result<()> {
    // SAFETY: MADV_COLLAPSE replaces the backing pages of the range with huge pages of
    // the same contents; it changes no data and no mapping's extent.
    if unsafe { libc::madvise(ptr.cast(), len, MADV_COLLAPSE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Counts forks: a child gets a new epoch, so handles inherited across `fork` can be
/// detected and refused (their process-table identity belongs to the parent).
static FORK_EPOCH: AtomicU64 = AtomicU64::new(1);

extern "C" fn on_fork_child() {
    FORK_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// The current fork epoch (registers the fork handler on first use).
pub fn fork_epoch() -> u64 {
    static REGISTER: OnceLock<()> = OnceLock::new();
    REGISTER.get_or_init(|| {
        // SAFETY: registers a handler that only touches an atomic; async-signal-safe.
        unsafe {
            libc::pthread_atfork(None, None, Some(on_fork_child));
        }
    });
    FORK_EPOCH.load(Ordering::Relaxed)
}

/// The epoch without registering (hot path; the handler is registered at open).
#[inline]
pub fn current_fork_epoch() -> u64 {
    FORK_EPOCH.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_with_a_start_time() {
        match process_state(pid()) {
            ProcState::Alive { start_ticks } => assert!(start_ticks > 0),
            _ => panic!("own process not alive"),
        }
        assert!(matches!(process_state(0), ProcState::Dead));
    }

    #[test]
    fn stat_parsing_handles_odd_command_names() {
        let line = b"123 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 99";
        match parse_stat(line) {
            Some(ProcState::Alive { start_ticks }) => assert_eq!(start_ticks, 4242),
            _ => panic!("parse failed"),
        }
        assert!(matches!(parse_stat(b"1 (x) Z 0"), Some(ProcState::Dead)));
    }
}
