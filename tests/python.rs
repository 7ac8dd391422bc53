//! Runs the Python binding's test suite (bindings/python/tests, unittest) against the
//! extension built from this checkout, so `cargo test` (= `./test.sh`) covers Python
//! too: every value type, every call, exceptions, the timeout convention, the asyncio
//! twins, multi-process runs with Python, C and C++ processes, Ctrl-C while blocked
//! (also on a remote region), remote (`redis://`) regions and the README's Python quick
//! start, as written and on a `redis://` region.
//!
//! The extension is built here (`cargo build -p plexus-python`, no maturin needed) and
//! placed into the source tree as `bindings/python/plexus/_plexus.abi3.so` (git ignores
//! it), where `maturin develop` would put it; the C and C++ programs of the
//! cross-language tests link the C library of this build (`PLEXUS_LIBRARY`).
//!
//! Needs `python3` (or `$PYTHON`) on PATH: a missing interpreter fails this test. The
//! remote tests start their own `redis-server` on a free 127.0.0.1 port; without it they
//! are skipped loudly (and fail when `CI` is set, which the child inherits).

mod common;

use std::process::Command;

use common::python::install_extension_in_tree;
use common::{root, shared_library};

#[test]
fn python_binding_test_suite() {
    install_extension_in_tree();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let tests = root().join("bindings/python/tests");
    let library = shared_library();
    assert!(library.exists(), "{} was not built", library.display());
    let out = Command::new(&python)
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(&tests)
        .arg("-t")
        .arg(&tests)
        .current_dir(root())
        .env("PLEXUS_LIBRARY", library)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{python}` for the Python binding's tests ({e}): \
                 install python3 (3.8 or later) or set PYTHON to an interpreter"
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    // unittest writes its report to stderr; show it when asked (--nocapture) or failing.
    println!("{stderr}");
    assert!(
        out.status.success(),
        "the Python binding's tests failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr
    );
    assert!(
        stderr.contains("\nOK"),
        "unexpected unittest report:\n{stderr}"
    );
}
