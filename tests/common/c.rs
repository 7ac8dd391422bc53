//! C and C++ programs built against `include/` and the library of this build, as the
//! house style asks: with `-Wall -Wextra -Werror`, once against the shared library and
//! once against the static one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use super::{lib_dir, root};

/// Which libplexus a program links.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Lib {
    Shared,
    Static,
}

/// Runs `f` for the shared library, then for the static one.
pub fn both(f: impl Fn(Lib)) {
    f(Lib::Shared);
    f(Lib::Static);
}

/// The C (or C++) compiler: `$CC` (`$CXX`), else `cc` (`c++`).
pub fn compiler(cpp: bool) -> String {
    let (var, default) = if cpp { ("CXX", "c++") } else { ("CC", "cc") };
    std::env::var(var).unwrap_or_else(|_| default.into())
}

/// Compiles `src` (a path relative to the repository, such as `ffi-tests/test_map.c`, or
/// an absolute one; `.cpp` is C++17, anything else C11) with warnings as errors, once per
/// test process, into target/<profile>/ffi-tests/, and links it once per library kind.
/// Returns the executable. Compiling is the slow part (seconds for a C++ test), so the
/// object file is shared by both links, and different programs compile at the same time
/// on different test threads (only the same program waits for its first build).
pub fn build(src: &str, lib: Lib) -> PathBuf {
    type Cell<T> = Arc<OnceLock<T>>;
    type Steps = HashMap<(String, Option<Lib>), Cell<PathBuf>>;
    static BUILT: Mutex<Option<Steps>> = Mutex::new(None);
    // The cell of one step (compile: `None`, link: `Some(lib)`), made on first use; the
    // step itself runs outside the table's lock.
    let cell = |key: (String, Option<Lib>)| -> Cell<PathBuf> {
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        built
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_default()
            .clone()
    };
    let deps = lib_dir();
    let out_dir = deps.parent().unwrap().join("ffi-tests");
    let path = root().join(src);
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let cpp = src.ends_with(".cpp");
    let object = cell((src.to_owned(), None));
    let object = object.get_or_init(|| {
        std::fs::create_dir_all(&out_dir).unwrap();
        let obj = out_dir.join(format!("{stem}.o"));
        let mut cmd = Command::new(compiler(cpp));
        if cpp {
            // -O0: optimising a C++ test takes twice as long to compile and checks
            // nothing more here (the sanitizer builds of the CMake checks compile these
            // programs optimised).
            cmd.args(["-std=c++17", "-O0"]);
        } else {
            cmd.args(["-std=c11", "-D_GNU_SOURCE", "-O1"]);
        }
        cmd.args(["-Wall", "-Wextra", "-Werror", "-g", "-c"])
            .arg("-I")
            .arg(root().join("include"))
            .arg("-I")
            .arg(root().join("ffi-tests"))
            .arg(&path)
            .arg("-o")
            .arg(&obj);
        let out = cmd.output().expect("run the C compiler");
        assert!(
            out.status.success(),
            "compiling {src} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        obj
    });
    let exe = cell((src.to_owned(), Some(lib)));
    exe.get_or_init(|| {
        let exe = out_dir.join(format!("{stem}-{lib:?}").to_lowercase());
        let mut cmd = Command::new(compiler(cpp));
        cmd.arg(object).arg("-o").arg(&exe);
        match lib {
            Lib::Shared => {
                cmd.arg(format!("-L{}", deps.display()))
                    .arg("-lplexus")
                    .arg(format!("-Wl,-rpath,{}", deps.display()))
                    // DT_RPATH, not RUNPATH: cargo test sets LD_LIBRARY_PATH to a list that
                    // may hold an older uplifted target/debug/libplexus.so, and RUNPATH
                    // would let that one win over the library of this build.
                    .arg("-Wl,--disable-new-dtags");
            }
            Lib::Static => {
                cmd.arg(deps.join("libplexus.a"))
                    .args(["-lpthread", "-ldl", "-lm"]);
            }
        }
        let out = cmd.output().expect("run the linker");
        assert!(
            out.status.success(),
            "linking {src} ({lib:?}) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        exe
    })
    .clone()
}

/// Runs a built program to its end.
pub fn run(exe: &Path, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .output()
        .expect("run test program")
}

/// Fails the test, showing the program's output, unless it exited with status 0.
pub fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
