//! C and C++ programs built against `include/` and the library of this build, as the
//! house style asks: with `-Wall -Wextra -Werror`, once against the shared library and
//! once against the static one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

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
/// an absolute one; `.cpp` is C++17, anything else C11) once per library kind and test
/// process, with warnings as errors, into target/<profile>/ffi-tests/. Returns the
/// executable.
pub fn build(src: &str, lib: Lib) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<(String, Lib), PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let map = built.get_or_insert_with(HashMap::new);
    if let Some(p) = map.get(&(src.to_owned(), lib)) {
        return p.clone();
    }
    let deps = lib_dir();
    let out_dir = deps.parent().unwrap().join("ffi-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let path = root().join(src);
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let exe = out_dir.join(format!("{stem}-{lib:?}").to_lowercase());
    let cpp = src.ends_with(".cpp");
    let mut cmd = Command::new(compiler(cpp));
    if cpp {
        cmd.args(["-std=c++17"]);
    } else {
        cmd.args(["-std=c11", "-D_GNU_SOURCE"]);
    }
    cmd.args(["-Wall", "-Wextra", "-Werror", "-O1", "-g"])
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("ffi-tests"))
        .arg(&path)
        .arg("-o")
        .arg(&exe);
    match lib {
        Lib::Shared => {
            cmd.arg(format!("-L{}", deps.display()))
                .arg("-lplexus")
                .arg(format!("-Wl,-rpath,{}", deps.display()))
                // DT_RPATH, not RUNPATH: cargo test sets LD_LIBRARY_PATH to a list that
                // may hold an older uplifted target/debug/libplexus.so, and RUNPATH would
                // let that one win over the library of this build.
                .arg("-Wl,--disable-new-dtags");
        }
        Lib::Static => {
            cmd.arg(deps.join("libplexus.a"))
                .args(["-lpthread", "-ldl", "-lm"]);
        }
    }
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {src} ({lib:?}) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    map.insert((src.to_owned(), lib), exe.clone());
    exe
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
