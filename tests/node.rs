//! Runs the Node binding's tests (`bindings/node/test/*.test.js`, node's own test runner)
//! against the library of this build, so `./test.sh` covers the binding too.
//!
//! Needs `node` (and, the first time, `npm`, to install koffi with `npm ci` from the
//! committed package-lock.json). Without node the test prints a loud SKIPPED line and
//! passes, except when the environment variable `CI` is set: CI must not skip it. The
//! remote-region tests (remote.test.js, readme.test.js) start their own `redis-server` on
//! a free 127.0.0.1 port, and skip loudly without it (failing under CI, likewise).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::process::wait_within;
use common::python::install_extension_in_tree;
use common::{found, loadable_library, root};

fn package_dir() -> PathBuf {
    root().join("bindings/node")
}

/// Skips the test loudly, or fails it under CI.
fn skip(why: &str) {
    common::skip_loudly(
        why,
        "the Node binding tests (bindings/node)",
        "run the Node binding tests (.ci/run installs nodejs and npm)",
    );
}

/// Runs `cmd` to completion, killing it after `limit`; returns its output.
fn run_with_limit(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    wait_within(&format!("{cmd:?}"), child, limit)
}

#[test]
fn node_binding_tests() {
    if !found("node", "--version") {
        skip("node not found");
        return;
    }
    let pkg = package_dir();
    if !pkg.join("node_modules/koffi/package.json").exists() {
        if !found("npm", "--version") {
            skip("npm not found (needed once, to install koffi into bindings/node/node_modules)");
            return;
        }
        // --ignore-scripts: koffi ships prebuilt binaries as platform packages; its
        // install script would only check for them (and build from source if missing).
        let mut npm = Command::new("npm");
        npm.args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(&pkg);
        let out = run_with_limit(npm, Duration::from_secs(600));
        assert!(
            out.status.success(),
            "npm ci in bindings/node failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut files: Vec<String> = std::fs::read_dir(pkg.join("test"))
        .expect("bindings/node/test")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".test.js"))
        .map(|f| format!("test/{f}"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 9,
        "expected the binding's test files, found {files:?}"
    );

    let lib = loadable_library();
    assert!(lib.exists(), "{} was not built", lib.display());
    // The cross-language hand-off test (tarray.test.js) starts a Python writer: the
    // extension of this checkout must be in bindings/python, whether or not the Python
    // suite has run before this one.
    if found(
        &std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()),
        "--version",
    ) {
        install_extension_in_tree();
    }
    let mut node = Command::new("node");
    node.arg("--test")
        .args(&files)
        .current_dir(&pkg)
        .env("PLEXUS_LIBRARY", &lib)
        // The command-line tool of this build, for serve.test.js.
        .env("PLEXUS_CLI", env!("CARGO_BIN_EXE_plexus"));
    let out = run_with_limit(node, Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node --test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // The runner's summary ("# tests 62", "# pass 62", ...), shown with --nocapture.
    const SUMMARY: [&str; 8] = [
        "tests",
        "suites",
        "pass",
        "fail",
        "cancelled",
        "skipped",
        "todo",
        "duration_ms",
    ];
    for line in stdout.lines() {
        let mut words = line.split(' ');
        if words.next() == Some("#") && words.next().is_some_and(|w| SUMMARY.contains(&w)) {
            println!("node --test {}", &line[2..]);
        }
    }
    assert!(
        stdout.contains("# fail 0"),
        "node --test reported failures:\n{stdout}"
    );
}
