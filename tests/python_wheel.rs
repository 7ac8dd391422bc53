//! The Python package as users get it: `pip install ./bindings/python` builds it from
//! source, and `pip wheel ./bindings/python` (maturin, the
//! PEP 517 backend, fetched from PyPI by pip) makes one abi3 wheel; the wheel installs
//! into a fresh virtual environment with no cargo, no C compiler and no index on the
//! PATH, and the README's Python quick start runs there as written and prints what the
//! README says.
//!
//! Needs `python3` with `venv` (or `$PYTHON`). Without PyPI (maturin cannot be fetched)
//! the test is skipped loudly, and fails when `CI` is set.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{root, skip_loudly, TempDir};

/// The README's Python quick start: its code, and the output it says it prints.
fn quick_start() -> (String, String) {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## Python quick start\n")
        .nth(1)
        .expect("README.md has a '## Python quick start' section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let code = section
        .split("```python\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the quick start has a python block");
    let printed = section
        .split("prints:\n\n```\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the quick start shows its output after 'prints:'");
    (code.to_owned(), printed.to_owned())
}

fn show(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether pip failed because it could not reach the package index.
fn offline(out: &Output) -> bool {
    let text = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    [
        "No matching distribution found for maturin",
        "Could not find a version that satisfies the requirement maturin",
        "Failed to establish a new connection",
        "Temporary failure in name resolution",
        "Network is unreachable",
    ]
    .iter()
    .any(|s| text.contains(s))
}

#[test]
fn wheel_installs_and_runs_the_quick_start_without_rust() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let tmp = TempDir::new("python-wheel");
    let wheels = tmp.join("wheels");

    // Two fresh venvs: one to build the wheel in (its pip; Debian's python3 may have
    // none of its own), one to install it into.
    let venv = |name: &str| -> Option<std::path::PathBuf> {
        let dir = tmp.join(name);
        let out = Command::new(&python)
            .args(["-m", "venv"])
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python} -m venv ({e})"));
        out.status.success().then(|| dir.join("bin"))
    };
    let (Some(build_bin), Some(bin)) = (venv("build-venv"), venv("venv")) else {
        skip_loudly(
            "python3 -m venv failed (install python3-venv)",
            "the Python wheel test",
            "install python3-venv (.ci/run does)",
        );
        return;
    };

    // The wheel: maturin builds the extension with this checkout's target directory and
    // the dev profile, so the crates `cargo test` just compiled are reused.
    let out = Command::new(build_bin.join("python"))
        .args([
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(["--timeout", "30", "--retries", "1", "-w"])
        .arg(&wheels)
        .arg(root().join("bindings/python"))
        .env("CARGO_TARGET_DIR", root().join("target"))
        .env("MATURIN_PEP517_ARGS", "--profile dev")
        .env_remove("PYTHONPATH")
        .output()
        .expect("pip wheel");
    if !out.status.success() && offline(&out) {
        skip_loudly(
            "pip could not fetch maturin from PyPI (offline?)",
            "the Python wheel test",
            "reach PyPI",
        );
        return;
    }
    assert!(out.status.success(), "pip wheel failed: {}", show(&out));
    let wheel = std::fs::read_dir(&wheels)
        .expect("the wheel directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("pip wheel made no .whl");
    let file = wheel.file_name().unwrap().to_string_lossy().into_owned();
    // One wheel for every CPython >= 3.8 of this platform.
    assert!(file.contains("-cp38-abi3-"), "not an abi3 wheel: {file}");

    // `pip install ./bindings/python`: built from source (cargo on the PATH), into the
    // build venv; the quick start runs there too.
    let out = Command::new(build_bin.join("python"))
        .args(["-m", "pip", "install", "--disable-pip-version-check"])
        .args(["--timeout", "30", "--retries", "1"])
        .arg(root().join("bindings/python"))
        .env("CARGO_TARGET_DIR", root().join("target"))
        .env("MATURIN_PEP517_ARGS", "--profile dev")
        .env_remove("PYTHONPATH")
        .current_dir(tmp.path())
        .output()
        .expect("pip install ./bindings/python");
    assert!(
        out.status.success(),
        "pip install ./bindings/python failed: {}",
        show(&out)
    );
    let (code, printed) = quick_start();
    let from_source = tmp.join("quickstart-from-source.py");
    std::fs::write(&from_source, code).unwrap();
    let out = Command::new(build_bin.join("python"))
        .arg(&from_source)
        .env_remove("PYTHONPATH")
        .current_dir(tmp.path())
        .output()
        .expect("run the quick start");
    assert!(
        out.status.success(),
        "the quick start after pip install from source failed: {}",
        show(&out)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), printed);

    // The install venv, with a PATH of nothing but its bin: no cargo, cc, gcc, rustc.
    let venv = bin.parent().unwrap().to_path_buf();
    let bare = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", &bin)
            .env("HOME", tmp.path())
            .env("LANG", "C.UTF-8")
            .current_dir(tmp.path());
    };
    let mut check = Command::new(bin.join("python"));
    check.args([
        "-c",
        "import shutil, sys\n\
         found = [t for t in ('cargo', 'rustc', 'cc', 'gcc', 'c++') if shutil.which(t)]\n\
         sys.exit(f'on PATH: {found}' if found else 0)",
    ]);
    bare(&mut check);
    let out = check.output().expect("the venv's python");
    assert!(
        out.status.success(),
        "the bare PATH has tools: {}",
        show(&out)
    );

    let mut install = Command::new(bin.join("python"));
    install
        .args([
            "-m",
            "pip",
            "install",
            "--no-index",
            "--disable-pip-version-check",
        ])
        .arg(&wheel);
    bare(&mut install);
    let out = install.output().expect("pip install of the wheel");
    assert!(
        out.status.success(),
        "pip install of the wheel failed: {}",
        show(&out)
    );

    // The quick start, as written, from a directory with no plexus source in sight.
    let (code, printed) = quick_start();
    let script = tmp.join("quickstart.py");
    std::fs::write(&script, code).unwrap();
    let mut run = Command::new(bin.join("python"));
    run.arg(&script);
    bare(&mut run);
    let out = run.output().expect("run the quick start");
    assert!(
        out.status.success(),
        "the quick start failed: {}",
        show(&out)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), printed);

    // It ran the installed package, with the compiled extension inside the venv.
    let mut whence = Command::new(bin.join("python"));
    whence.args(["-c", "import plexus; print(plexus.library_path)"]);
    bare(&mut whence);
    let out = whence.output().unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        Path::new(&path).starts_with(&venv),
        "plexus came from {path}, not the venv"
    );
    assert!(path.ends_with("_plexus.abi3.so"), "{path}");
}
