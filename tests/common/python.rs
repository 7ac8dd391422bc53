//! The Python extension of this checkout, for the tests that start Python processes
//! (the Python binding's suite, and the Node binding's cross-language hand-off): built
//! with `cargo build -p plexus-python` (no maturin needed) and placed into the source
//! tree as `bindings/python/plexus/_plexus.abi3.so` (git ignores it), where
//! `maturin develop` would put it. Test binaries run one after another, so each test that
//! needs the extension installs it itself rather than relying on another having run.

use std::path::PathBuf;
use std::process::Command;

use super::root;

/// Builds the extension (`cargo build -p plexus-python`, the profile of this test) and
/// returns the path of the built library.
pub fn build_extension() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "-p",
        "plexus-python",
        "--message-format=json-render-diagnostics",
    ])
    .current_dir(root());
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo} to build the Python extension: {e}"));
    assert!(
        out.status.success(),
        "cargo build -p plexus-python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The compiler-artifact message of the cdylib names the built file.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "_plexus")
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "so" || e == "dylib"))
        .expect("cargo build -p plexus-python named no built library")
}

/// Puts the built extension into the package of the source tree as
/// `plexus/_plexus.abi3.so` (copied beside it, then renamed: an import never sees half a
/// file).
pub fn install_extension_in_tree() {
    let built = build_extension();
    let dir = root().join("bindings/python/plexus");
    let part = dir.join(format!("._plexus.{}.part", std::process::id()));
    std::fs::copy(&built, &part).expect("copy the built extension");
    std::fs::rename(&part, dir.join("_plexus.abi3.so")).expect("place the built extension");
}
