//! Runs the README's main command, `./demo.sh`, against the library of this build
//! (`PLEXUS_DEMO_LIBDIR`, so it does not build the release library) and checks what it
//! printed: every language took part, each greeted and was greeted, the shared counter
//! came out right in every process, the nested object edit by Python was seen by C++,
//! the background updater stopped at the marker, and the region was removed. Then the
//! same over the network: `./demo.sh --redis` (a private redis-server the script starts)
//! and `PLEXUS_REDIS_URL` (a server this test starts, with a password in the URL that
//! must never be printed). And what the first run on a fresh machine says while it builds
//! the release library (with a stand-in cargo).
//!
//! The Node process takes part when node is installed (demo.sh installs the binding's
//! koffi dependency); under CI (`CI` set) it must take part. The remote runs need
//! `redis-server`: without it they are skipped loudly (and fail under CI).

mod common;

use std::process::{Command, Output};

/// One demo at a time: each run may do `npm ci` in bindings/node the first time, and
/// two of those at once in one directory fail.
static ONE_DEMO_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs demo.sh with `args` and `env`, and checks that it succeeded; returns stdout.
fn run_demo(args: &[&str], env: &[(&str, &str)]) -> String {
    let _turn = ONE_DEMO_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = common::root();
    let deps = common::lib_dir();
    assert!(
        deps.join("libplexus.so").exists(),
        "libplexus.so was not built in {}",
        deps.display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("demo.sh"))
        .args(args)
        .env("PLEXUS_DEMO_LIBDIR", &deps)
        .env_remove("PLEXUS_REDIS_URL")
        .current_dir(root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().expect("run demo.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo.sh {args:?} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// The checks every run of the demo must pass; `region` starts the region's name as
/// the demo prints it (`plexus-demo-` or `redis://127.0.0.1:PORT/plexus-demo-`).
fn check_demo(stdout: &str, region: &str, finished: &str) {
    check_demo_with(stdout, region, finished, true)
}

/// [`check_demo`]; `java_possible` false: the run was made to leave Java out.
fn check_demo_with(stdout: &str, region: &str, finished: &str, java_possible: bool) {
    let has = |needle: &str| stdout.lines().any(|l| l.contains(needle));
    let node = has("[Node]");
    if !node {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Node process did not take part, and CI is set (CI installs node)\n{stdout}"
        );
        eprintln!("note: node is not installed here, so the demo ran without the Node process");
    }
    let java = has("[Java]");
    if !java {
        assert!(
            !java_possible || std::env::var_os("CI").is_none(),
            "the Java process did not take part, and CI is set (CI installs a JDK, JNA and Jackson core)\n{stdout}"
        );
        assert!(
            has("running without the Java process") || has("Java left out"),
            "the demo did not say that it ran without Java:\n{stdout}"
        );
        if java_possible {
            eprintln!("note: no JDK (or JNA, or Jackson core) here, so the demo ran without the Java process");
        }
    }
    let mut langs = vec!["[C] ", "[C++] ", "[Python] "];
    let mut ids = String::from("c, cpp, python");
    if node {
        langs.push("[Node] ");
        ids.push_str(", node");
    }
    if java {
        langs.push("[Java] ");
        ids.push_str(", java");
    }
    let parties = langs.len();
    assert!(
        has(&format!("starting {ids} at once on region '{region}")),
        "{stdout}"
    );
    for lang in &langs {
        let lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with(lang.trim_end()))
            .collect();
        assert!(lines.len() >= 3, "too little from {lang}:\n{stdout}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("read_fe hello/") || l.contains("readFE hello/")),
            "{lang} did not print its greeting:\n{stdout}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("counter = {}", parties * 10000))
                    && l.ends_with("correct")),
            "{lang} did not confirm the counter:\n{stdout}"
        );
    }
    // Every greeting came from another language.
    for (lang, from) in [
        ("C", "hello/c ->"),
        ("C++", "hello/cpp ->"),
        ("Python", "hello/python ->"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.contains(from))
            .unwrap_or_else(|| panic!("no {from} in\n{stdout}"));
        assert!(
            line.contains("hello from ") && !line.contains(&format!("hello from {lang} ")),
            "{line}"
        );
    }
    assert!(has("the shared config still says 64"), "{stdout}");
    assert!(
        has("\"queue\":128") && has("\"edited_by\":\"Python (pid "),
        "C++ did not see Python's edit:\n{stdout}"
    );
    assert!(
        has("read_fe ack -> \"C++ updater stopped after "),
        "{stdout}"
    );
    assert!(has(&format!("removed region '{region}")), "{stdout}");
    assert!(has(finished), "{stdout}");
    for round in 1..=6 {
        let n = stdout
            .lines()
            .filter(|l| {
                l.contains(&format!(
                    "barrier 'meet' round {round}: all {parties} processes arrived"
                ))
            })
            .count();
        assert_eq!(
            n, 1,
            "round {round} of the barrier should have exactly one last party:\n{stdout}"
        );
    }
}

#[test]
fn the_cross_language_demo_runs_and_checks_itself() {
    let stdout = run_demo(&[], &[]);
    check_demo(
        &stdout,
        "plexus-demo-",
        "== demo finished: every process exited cleanly and the region is gone",
    );
}

/// Without what the Java participant needs (here: JNA, as on a machine without
/// libjna-java), the demo says so and runs with the other languages.
#[test]
fn the_demo_runs_without_java_and_says_so() {
    let stdout = run_demo(&[], &[("PLEXUS_JNA_JAR", "/nonexistent/jna.jar")]);
    assert!(
        stdout.contains("JNA or Jackson core not found") && !stdout.contains("[Java]"),
        "{stdout}"
    );
    check_demo_with(
        &stdout,
        "plexus-demo-",
        "== demo finished: every process exited cleanly and the region is gone",
        false,
    );
}

/// The first `./demo.sh` on a machine compiles plexus and its dependencies for minutes:
/// it says so and lets cargo show its progress; later runs build quietly. A stand-in
/// `cargo` on the PATH records its arguments, leaves a `libplexus.so` in
/// `CARGO_TARGET_DIR`/release (as a real build would) and fails, which stops the demo
/// right after its build step.
#[test]
fn the_first_demo_says_it_is_building_the_library_and_later_ones_stay_quiet() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::TempDir::new("demo-first-build");
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/sh\n\
         echo \"$*\" >>\"$STAND_IN_CARGO_LOG\"\n\
         mkdir -p \"$CARGO_TARGET_DIR/release\"\n\
         : >\"$CARGO_TARGET_DIR/release/libplexus.so\"\n\
         echo 'stand-in cargo: stopping the demo here' >&2\n\
         exit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let target = dir.join("target");
    let log = dir.join("cargo-calls");
    // Runs demo.sh, which must stop with the stand-in's status; returns stdout.
    let run = || {
        let out = Command::new("bash")
            .arg(common::root().join("demo.sh"))
            .env_remove("PLEXUS_DEMO_LIBDIR")
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", &target)
            .env("STAND_IN_CARGO_LOG", &log)
            .current_dir(common::root())
            .output()
            .expect("run demo.sh");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "demo.sh did not stop at the stand-in cargo\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        assert!(
            stderr.contains("stand-in cargo: stopping the demo here"),
            "{stderr}"
        );
        stdout
    };

    let first = run();
    assert_eq!(
        first.lines().collect::<Vec<_>>(),
        [
            "== building the release library for the first time (cargo build --release; \
          this takes a few minutes, cargo's progress follows)"
        ],
        "the first run"
    );
    assert!(target.join("release/libplexus.so").exists());
    let second = run();
    assert_eq!(
        second.lines().collect::<Vec<_>>(),
        ["== building plexus (cargo build --release) and the C and C++ participants"],
        "a later run"
    );
    // cargo's own output: shown the first time, --quiet later.
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["build --release", "build --release --quiet"],
        "the stand-in cargo's calls"
    );
}

const OVER_THE_NETWORK: &str =
    "== demo finished over the network: every process exited cleanly and the remote region is gone";

#[test]
fn the_demo_runs_over_redis_with_a_private_server() {
    if common::redis::server_binary().is_none() {
        common::skip_loudly(
            "redis-server is not installed (apt-get install redis-server)",
            "./demo.sh --redis",
            "install redis-server (.ci/run does)",
        );
        return;
    }
    let stdout = run_demo(&["--redis"], &[]);
    assert!(
        stdout.contains("== started a private redis-server on 127.0.0.1:"),
        "{stdout}"
    );
    check_demo(&stdout, "redis://127.0.0.1:", OVER_THE_NETWORK);
}

#[test]
fn the_demo_runs_on_the_server_of_plexus_redis_url_and_never_prints_its_password() {
    let Some(srv) = common::redis::RedisServer::start("./demo.sh --redis with PLEXUS_REDIS_URL")
    else {
        return;
    };
    assert_eq!(
        srv.command("ACL SETUSER demo on >pw-secret ~* &* +@all"),
        "+OK"
    );
    let url = format!("redis://demo:pw-secret@127.0.0.1:{}", srv.port);
    let stdout = run_demo(&["--redis"], &[("PLEXUS_REDIS_URL", &url)]);
    assert!(
        !stdout.contains("pw-secret"),
        "the password was printed:\n{stdout}"
    );
    let shown = format!("redis://demo:***@127.0.0.1:{}", srv.port);
    assert!(
        stdout.contains(&format!(
            "== using the Redis server {shown} (PLEXUS_REDIS_URL)"
        )),
        "{stdout}"
    );
    check_demo(&stdout, &format!("{shown}/plexus-demo-"), OVER_THE_NETWORK);
    // The server stays; the demo's region is gone from it: what its removal leaves
    // (the record that it was removed, for handles still open) expires on its own.
    let keyspace = srv.command("INFO keyspace");
    let db0 = keyspace
        .lines()
        .find(|l| l.starts_with("db0:"))
        .unwrap_or("");
    let count = |what: &str| {
        db0.split([':', ','])
            .find_map(|kv| kv.strip_prefix(what))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        count("keys="),
        count("expires="),
        "keys without an expiry left on the server: {keyspace}"
    );
}
