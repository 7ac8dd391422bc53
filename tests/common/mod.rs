//! Helpers shared by the integration tests. Each test file that needs them says
//! `mod common;` (Cargo builds only the files directly in `tests/` as tests, so this
//! folder is not a test of its own):
//!
//! - regions: names no other test or process uses, whose regions are removed when the
//!   test ends ([`RegionName`], [`region`], [`open`]), and temporary directories
//!   ([`TempDir`]);
//! - processes ([`process`]): this test binary re-run in a role, programs waited for
//!   until they are ready, killed when the test ends or waited for within a limit;
//! - C and C++ programs built against `include/` and the library of this build ([`c`]);
//! - the paths of this build ([`root`], [`lib_dir`], [`shared_library`]), loud skips
//!   ([`skip_loudly`]) and the tests' reproducible random numbers ([`XorShift`]).

// Each test file uses some of these helpers, none uses all.
#![allow(dead_code)]

/// `$call` fails with an error matching `$pat` (the value, if any, need not be `Debug`).
#[allow(unused_macros)]
macro_rules! assert_err {
    ($call:expr, $pat:pat) => {
        match $call {
            Err($pat) => {}
            Err(other) => panic!(
                "{}: expected {}, got Err({other:?})",
                stringify!($call),
                stringify!($pat)
            ),
            Ok(_) => panic!(
                "{}: expected {}, but it succeeded",
                stringify!($call),
                stringify!($pat)
            ),
        }
    };
}

pub mod c;
pub mod observe;
pub mod process;
pub mod python;
pub mod redis;

use std::fmt;
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use plexus::{OpenMode, OpenOptions, Region};

/// The repository (where Cargo.toml is).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>/deps: where cargo put this test binary, and beside it the libplexus.so
/// and libplexus.a of this build (the uplifted copies one directory up may be older).
pub fn lib_dir() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The shared library of this build, in [`lib_dir`] (it may not exist: callers check).
pub fn shared_library() -> PathBuf {
    lib_dir().join(if cfg!(target_os = "macos") {
        "libplexus.dylib"
    } else {
        "libplexus.so"
    })
}

/// The libplexus.so for a program this test starts to load by path (PLEXUS_LIBRARY):
/// [`shared_library`], beside the test binary in target/<profile>/deps (the uplifted
/// target/<profile>/libplexus.so may be older, and is taken only when the first is
/// missing).
pub fn loadable_library() -> PathBuf {
    let lib = shared_library();
    if lib.exists() {
        lib
    } else {
        lib.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join(lib.file_name().unwrap())
    }
}

/// Whether `program` can be started at all (run with `arg`, such as `--version`).
pub fn found(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// `<what>-<tag>-<pid>-<n>`, with `what` the test binary's name and `n` counting the
/// calls of this process: unique among the tests running on the machine.
fn unique(tag: &str) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{tag}-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A region name that no other test, test binary or process uses
/// (`<test binary>-<tag>-<pid>-<n>`). The region of that name is removed when the guard
/// drops, also when the test fails. Names come only from here, so the guard can remove
/// only a region the test (or a process it started) created, never someone else's.
///
/// Keep the guard in a named binding (`let (r, n) = ...`): `_` would drop it at once.
#[must_use = "the region is removed when this guard drops"]
pub struct RegionName(String);

impl RegionName {
    pub fn new(tag: &str) -> RegionName {
        RegionName(unique(tag))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file of the region, `/dev/shm/plexus.<name>`.
    pub fn path(&self) -> String {
        shm_path(&self.0)
    }
}

impl Deref for RegionName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for RegionName {
    fn drop(&mut self) {
        let _ = Region::remove(&self.0);
    }
}

/// The file of the region `name` (a bare name: /dev/shm).
pub fn shm_path(name: &str) -> String {
    format!("/dev/shm/plexus.{name}")
}

/// Creates a region of `size` bytes on a fresh [`RegionName`] (tagged `tag`), which
/// removes it when the test ends. `Recreate`: a leftover of an earlier run of this test
/// that was killed with the same pid is replaced, not reused.
pub fn region(tag: &str, size: u64) -> (Region, RegionName) {
    let name = RegionName::new(tag);
    (create(&name, size), name)
}

/// Creates (or recreates) the region `name` of `size` bytes.
pub fn create(name: &str, size: u64) -> Region {
    Region::open(
        name,
        &OpenOptions {
            size,
            mode: OpenMode::Recreate,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Opens the existing region `name`: another attachment of it, as another process would
/// have.
pub fn open(name: &str) -> Region {
    Region::open(
        name,
        &OpenOptions {
            mode: OpenMode::Open,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A fresh, empty temporary directory, removed with everything in it when dropped (also
/// when the test fails).
pub struct TempDir(PathBuf);

impl TempDir {
    /// `<temp dir>/plexus-<test binary>-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("plexus-{}", unique(tag)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A [`TempDir::new`] every user may enter (mode 0755): for programs run as another
    /// user (the build directory may sit below one they cannot enter, such as a home
    /// directory).
    pub fn shared(tag: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new(tag);
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The path of the file `name` in this directory, as a region name.
    pub fn region(&self, name: &str) -> String {
        self.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether this process runs as root (needed to run a program as another user).
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Skips the rest of a test loudly, or fails it when the environment variable `CI` is
/// set (CI must run everything). `why`: what is missing; `what`: what did not run;
/// `ci_must`: what CI must do instead. The banner goes to the process's stderr itself:
/// `eprintln!` would be captured by the test harness and hidden, since the test passes.
pub fn skip_loudly(why: &str, what: &str, ci_must: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why}, and CI is set: CI must {ci_must}");
    }
    let bar = "*".repeat(78);
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\nSKIPPED: {why}: {what} did not run\n{bar}\n"
    );
}

/// xorshift64 (shifts 13, 7, 17): the tests' reproducible random choices (delays, kill
/// moments, operations).
pub struct XorShift(u64);

impl XorShift {
    /// `seed` must not be 0 (the sequence would stay 0).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next number, below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
