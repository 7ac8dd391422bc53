//! The Node binding installs like any npm package, with no environment variable: in a
//! new project, `npm install <bindings/node of a fresh clone>` and `npm install <the
//! tarball of npm pack>` each give a `require('plexus')` that runs the README's Node
//! quick start on a region.
//!
//! - The folder: a copy of what a fresh clone has (Cargo.toml, include/plexus.h, the
//!   package's files without node_modules), with this build's library as
//!   target/debug/libplexus.so. It is installed with npm's default, then with the other
//!   of npm's two ways of installing a folder (`--install-links=false`: a symbolic link,
//!   the default since npm 9.3; `--install-links=true`: a copy, the default of npm 9.0 to
//!   9.2, which Debian ships), and must load the clone's library each time.
//! - The tarball: `npm pack` in bindings/node builds the release library with cargo
//!   (its prepack step, the slow part of this test the first time) and packs it under
//!   prebuilds/; installed, it must load that copy, and bindings/node must be left
//!   without prebuilds/ (postpack).
//!
//! Needs node and npm, and the npm registry (koffi is installed from it, as users get
//! it). Without node or npm the test prints a loud SKIPPED line and passes, except when
//! the environment variable `CI` is set: CI must not skip it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::process::wait_within;
use common::{root, shared_library, RegionName, TempDir};

/// What the README's Node quick start prints.
const QUICK_START_OUTPUT: &str = "hello\n5\n{ job: 17 }\n";

/// Whether `program` can be started at all.
fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The libplexus.so of this build (target/<profile>/deps, else target/<profile>).
fn library() -> PathBuf {
    let lib = shared_library();
    if lib.exists() {
        return lib;
    }
    let up = lib.parent().unwrap().parent().unwrap();
    up.join(lib.file_name().unwrap())
}

/// `program args` in `dir`, killed after `limit`, with none of the variables that would
/// tell the binding or npm where to look (the point is that nothing needs them) and none
/// of those cargo sets for this test: a cargo run by `npm pack` must see the environment
/// of a shell, or build scripts that watch them (ring's watches CARGO_MANIFEST_DIR)
/// would rebuild the release library for nothing. `CARGO_TARGET_DIR` is kept for
/// `npm pack` only (`keep_target_dir`): it is where the user's release build is.
fn run(program: &str, args: &[&str], dir: &Path, limit: Duration) -> Output {
    run_env(program, args, dir, limit, false)
}

fn run_env(
    program: &str,
    args: &[&str],
    dir: &Path,
    limit: Duration,
    keep_target_dir: bool,
) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "PLEXUS_LIBRARY",
        "LD_LIBRARY_PATH",
        "NODE_PATH",
        "NODE_OPTIONS",
        "OUT_DIR",
    ] {
        cmd.env_remove(var);
    }
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy().to_ascii_lowercase();
        let cargo_set = name.starts_with("cargo")
            && name != "cargo_home"
            && (name != "cargo_target_dir" || !keep_target_dir);
        if name.starts_with("npm_") || cargo_set {
            cmd.env_remove(key);
        }
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    wait_within(
        &format!("{program} {args:?} in {}", dir.display()),
        child,
        limit,
    )
}

/// Runs `program args` in `dir` and fails the test unless it succeeds; returns stdout.
fn run_ok(program: &str, args: &[&str], dir: &Path, limit: Duration) -> String {
    let out = run(program, args, dir, limit);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} in {} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The README's Node quick start, with its region renamed to `region`.
fn quick_start(region: &str) -> String {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Node quick start")
        .expect("README has a Node quick start")..];
    let start = section.find("```js\n").expect("a js block") + "```js\n".len();
    let code = &section[start..start + section[start..].find("```").unwrap()];
    let name = code
        .split("Region.open('")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the quick start opens plexus.Region.open('NAME')");
    let literal = format!("'{name}'");
    assert!(
        code.matches(&literal).count() >= 2,
        "the quick start opens and removes its region"
    );
    assert!(code.contains("require('plexus')"));
    code.replace(&literal, &format!("'{region}'"))
}

/// A new npm project in `dir`.
fn new_project(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("package.json"),
        "{ \"name\": \"plexus-consumer\", \"version\": \"1.0.0\", \"private\": true }\n",
    )
    .unwrap();
}

/// `npm install <what> [extra]` in a new project `dir`; then, in that project,
/// `require('plexus')` must load a library below `library_under` and run the README's
/// Node quick start.
fn install_and_run(dir: &Path, what: &Path, extra: &[&str], library_under: &Path) {
    new_project(dir);
    let mut args = vec!["install", "--no-audit", "--no-fund"];
    args.extend_from_slice(extra);
    let what = what.to_str().unwrap();
    args.push(what);
    run_ok("npm", &args, dir, Duration::from_secs(600));

    let loaded = run_ok(
        "node",
        &["-e", "process.stdout.write(require('plexus').libraryPath)"],
        dir,
        Duration::from_secs(60),
    );
    assert!(
        Path::new(&loaded).starts_with(library_under),
        "after npm install {extra:?} {what}, the binding loaded {loaded}, not the library below {}",
        library_under.display()
    );

    let region = RegionName::new("npm-quickstart");
    let printed = run_ok(
        "node",
        &["-e", &quick_start(&region)],
        dir,
        Duration::from_secs(60),
    );
    assert_eq!(
        printed, QUICK_START_OUTPUT,
        "the quick start after npm install {extra:?} {what}"
    );
    assert!(
        !Path::new(&region.path()).exists(),
        "the quick start removes its region"
    );
}

/// Copies `from` into `to`, leaving out what a fresh clone does not have.
fn copy_package(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["node_modules", "prebuilds", "checkout.json", "test"]
            .iter()
            .any(|skip| name == *skip)
        {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_package(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}

#[test]
fn npm_installs_the_node_package_from_a_folder_and_from_a_tarball() {
    for program in ["node", "npm"] {
        if !found(program) {
            common::skip_loudly(
                &format!("{program} not found"),
                "the Node package install test (tests/node_package.rs)",
                "install the Node package with npm (.ci/run installs nodejs and npm)",
            );
            return;
        }
    }
    let tmp = TempDir::new("npm");
    let tmp_path = fs::canonicalize(tmp.path()).unwrap();
    let package = root().join("bindings/node");

    // A fresh clone whose library was built (as target/debug/libplexus.so).
    let clone = tmp_path.join("clone");
    fs::create_dir_all(clone.join("include")).unwrap();
    fs::create_dir_all(clone.join("target/debug")).unwrap();
    fs::copy(root().join("Cargo.toml"), clone.join("Cargo.toml")).unwrap();
    fs::copy(
        root().join("include/plexus.h"),
        clone.join("include/plexus.h"),
    )
    .unwrap();
    std::os::unix::fs::symlink(library(), clone.join("target/debug/libplexus.so")).unwrap();
    let folder = clone.join("bindings/node");
    copy_package(&package, &folder);

    let default_links = run_ok(
        "npm",
        &["config", "get", "install-links"],
        tmp.path(),
        Duration::from_secs(60),
    );
    let other = if default_links.trim() == "true" {
        "--install-links=false"
    } else {
        "--install-links=true"
    };
    install_and_run(
        &tmp.join("from-folder"),
        &folder,
        &[],
        &clone.join("target"),
    );
    install_and_run(
        &tmp.join("from-folder-other-way"),
        &folder,
        &[other],
        &clone.join("target"),
    );

    // The tarball, packed from this checkout.
    let pack = [
        "pack",
        "--json",
        "--pack-destination",
        tmp.path().to_str().unwrap(),
    ];
    let out = run_env("npm", &pack, &package, Duration::from_secs(1800), true);
    let packed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "npm pack in {} failed ({}):\n--- stdout\n{packed}\n--- stderr\n{}",
        package.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !package.join("prebuilds").exists(),
        "npm pack left bindings/node/prebuilds behind (postpack removes it)"
    );
    let json = &packed[packed.find('[').expect("npm pack --json printed JSON")..];
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    let tarball = tmp.join(report[0]["filename"].as_str().unwrap());
    let files: Vec<&str> = report[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("prebuilds/") && f.ends_with("/libplexus.so")),
        "the tarball has no prebuilds/<platform>/libplexus.so: {files:?}"
    );
    for file in [
        "index.js",
        "index.d.ts",
        "package.json",
        "scripts/install.js",
    ] {
        assert!(files.contains(&file), "the tarball lacks {file}: {files:?}");
    }
    assert!(
        !files.contains(&"checkout.json"),
        "a tarball must not name a checkout of this machine"
    );
    let app = tmp_path.join("from-tarball");
    install_and_run(
        &app,
        &tarball,
        &[],
        &app.join("node_modules/plexus/prebuilds"),
    );
}
