//! The Java binding (`bindings/java`): builds it and its tests with plain `javac`
//! (`bindings/java/build.sh --tests`, into target/<profile>/java), runs its own test suite
//! (`dev.plexus.tests.Main`: every class, every call, values, statuses, timeouts,
//! interrupts, and a remote region on a private redis-server this test starts), and
//! puts Java processes beside C and C++ processes on one region: full/empty hand-offs
//! both ways, a queue whose values arrive exactly once, and a counter both add to.
//!
//! Needs a JDK (`javac`, `java`) and Debian's `libjna-java` and
//! `libjackson2-core-java` (or PLEXUS_JNA_JAR / PLEXUS_JACKSON_JAR). Without them every
//! test here prints a loud SKIPPED line and passes, except when the environment
//! variable `CI` is set: CI installs them, and must not skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::c::{assert_ok, build, Lib};
use common::process::{spawn_ready, wait_within};
use common::redis::RedisServer;
use common::{RegionName, TempDir};
use plexus::{Value, ValueRef};

fn jar(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// What is missing to build the binding, if anything.
fn missing() -> Option<String> {
    if !common::found("javac", "-version") || !common::found("java", "-version") {
        return Some("javac/java not found (apt-get install openjdk-17-jdk-headless)".into());
    }
    for (var, default, package) in [
        ("PLEXUS_JNA_JAR", "/usr/share/java/jna.jar", "libjna-java"),
        (
            "PLEXUS_JACKSON_JAR",
            "/usr/share/java/jackson-core.jar",
            "libjackson2-core-java",
        ),
    ] {
        let path = jar(var, default);
        if !path.is_file() {
            return Some(format!(
                "{} not found (apt-get install {package}, or set {var})",
                path.display()
            ));
        }
    }
    None
}

/// The class path of the built binding and its tests, built once per test process; None
/// (after a loud SKIPPED, or a panic under CI) without a JDK or the JARs.
fn classpath(what: &str) -> Option<String> {
    static BUILT: OnceLock<Result<String, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        if let Some(why) = missing() {
            return Err(why);
        }
        let out_dir = common::lib_dir().parent().unwrap().join("java");
        let out = Command::new("bash")
            .arg(common::root().join("bindings/java/build.sh"))
            .arg("--tests")
            .env("PLEXUS_JAVA_OUT", &out_dir)
            .output()
            .expect("run bindings/java/build.sh");
        assert!(
            out.status.success(),
            "bindings/java/build.sh --tests failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        Ok(stdout
            .lines()
            .last()
            .expect("build.sh prints the class path")
            .to_owned())
    });
    match built {
        Ok(cp) => Some(cp.clone()),
        Err(why) => {
            common::skip_loudly(
                why,
                what,
                "run the Java binding tests (.ci/run installs openjdk-17-jdk-headless, libjna-java and libjackson2-core-java)",
            );
            None
        }
    }
}

/// `java -cp <cp> <class> <args>` against the library of this build.
fn java(cp: &str, class: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("java");
    cmd.arg("-cp")
        .arg(cp)
        .arg(class)
        .args(args)
        .env("PLEXUS_LIBRARY", common::loadable_library())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts a Java role of `dev.plexus.tests.Roles`.
fn role(cp: &str, args: &[&str]) -> Child {
    java(cp, "dev.plexus.tests.Roles", args)
        .spawn()
        .expect("start java")
}

fn finish(what: &str, child: Child) -> Output {
    let out = wait_within(what, child, Duration::from_secs(300));
    assert_ok(what, &out);
    out
}

fn spawn_c(exe: &Path, args: &[&str]) -> Child {
    Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a C test program")
}

#[test]
fn java_binding_tests() {
    let Some(cp) = classpath("the Java binding tests (bindings/java)") else {
        return;
    };
    // The remote-region tests: a private redis-server (SKIPPED loudly without one, and
    // a failure under CI).
    let redis = RedisServer::start("the Java remote-region tests");
    let mut cmd = java(&cp, "dev.plexus.tests.Main", &[]);
    match &redis {
        Some(server) => cmd.env(
            "PLEXUS_TEST_REDIS",
            format!("redis://127.0.0.1:{}", server.port),
        ),
        None => cmd.env_remove("PLEXUS_TEST_REDIS"),
    };
    let child = cmd.spawn().expect("start java");
    let out = wait_within("the Java tests", child, Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Java tests failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("java tests: "))
        .unwrap_or_else(|| panic!("no summary from the Java tests:\n{stdout}"));
    println!("{summary}");
    assert!(summary.contains(" 0 failed"), "{stdout}");
    // Every test class ran (the runner counts each static test method).
    for class in [
        "RegionTests",
        "ValueTests",
        "ArrayTests",
        "MapTests",
        "QueueTests",
        "LockTests",
        "BusTests",
        "ServiceTests",
        "TypedArrayTests",
        "InterruptTests",
        "RemoteTests",
    ] {
        assert!(
            stdout.contains(&format!("ok   {class}.")),
            "{class} did not run:\n{stdout}"
        );
    }
}

#[test]
fn java_reads_2000_c_handshakes() {
    let Some(cp) = classpath("the Java/C full/empty hand-off") else {
        return;
    };
    let name = RegionName::new("java-c-handshake");
    let writer = build("ffi-tests/handshake_writer.c", Lib::Shared);
    // The Java reader starts first and waits for the region and the array.
    let reader = role(&cp, &["handshake-read", &name, "2000"]);
    let w = spawn_c(&writer, &[&name, "2000"]);
    let r = finish("the Java reader", reader);
    finish("handshake_writer", w);
    assert!(String::from_utf8_lossy(&r.stdout).contains("OK handshake-read 2000"));
}

#[test]
fn cpp_reads_2000_java_handshakes() {
    let Some(cp) = classpath("the Java/C++ full/empty hand-off") else {
        return;
    };
    let name = RegionName::new("java-cpp-handshake");
    let reader = build("ffi-tests/handshake_reader.cpp", Lib::Shared);
    let r = spawn_c(&reader, &[&name, "2000"]);
    let w = role(&cp, &["handshake-write", &name, "2000"]);
    finish("the Java writer", w);
    let r = finish("handshake_reader", r);
    assert!(String::from_utf8_lossy(&r.stdout).contains("handshake_reader: OK 2000"));
}

#[test]
fn java_and_c_share_a_queue_and_every_value_arrives_once() {
    let Some(cp) = classpath("the Java/C queue") else {
        return;
    };
    const COUNT: &str = "20000";
    let name = RegionName::new("java-c-queue");
    let dir = TempDir::new("java-c-queue");
    let exe = build("ffi-tests/queue_worker.c", Lib::Shared);
    let run = |args: &[&str]| finish(&format!("queue_worker {args:?}"), spawn_c(&exe, args));
    run(&[&name, "init", "16", "fifo"]);
    let c_file = dir.join("c-consumer").display().to_string();
    let java_file = dir.join("java-consumer").display().to_string();
    let consumers = [
        spawn_c(&exe, &[&name, "consume", &c_file, "fifo"]),
        role(&cp, &["queue-consume", &name, &java_file]),
    ];
    let producers = [
        spawn_c(&exe, &[&name, "produce", "0", COUNT, "int"]),
        role(&cp, &["queue-produce", &name, "1", COUNT]),
    ];
    for p in producers {
        finish("a producer", p);
    }
    run(&[&name, "close"]);
    let mut took = Vec::new();
    for c in consumers {
        took.push(String::from_utf8_lossy(&finish("a consumer", c).stdout).into_owned());
    }
    // Both runtimes took part, and the verifier finds every value exactly once.
    assert!(!took[1].contains("OK queue-consume 0\n"), "{took:?}");
    let out = run(&[&name, "verify", "all", "2", COUNT, &c_file, &java_file]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("40000 values, each delivered exactly once"),
        "{out:?}"
    );
}

#[test]
fn java_and_c_add_to_one_counter_exactly() {
    let Some(cp) = classpath("the Java/C counter") else {
        return;
    };
    let name = RegionName::new("java-c-counter");
    let region = common::create(&name, 1 << 20);
    let counter = region.array("counter", 1, 0).unwrap();
    counter.write(0, ValueRef::Int(0)).unwrap();
    let exe = build("ffi-tests/faa_worker.c", Lib::Shared);
    let c = spawn_c(&exe, &[&name, "50000"]);
    let j = role(&cp, &["faa", &name, "50000"]);
    finish("faa_worker", c);
    finish("the Java faa", j);
    assert_eq!(counter.read(0).unwrap(), Value::Int(100_000));
}

/// The README's Java quick start, with its region name made unique.
fn readme_quick_start(region: &str) -> String {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Java quick start")
        .expect("README has a Java quick start")..];
    let start = section.find("```java\n").expect("a java block") + "```java\n".len();
    let code = &section[start..start + section[start..].find("```").unwrap()];
    assert!(code.contains("\"quickstart-java\""), "{code}");
    code.replace("\"quickstart-java\"", &format!("\"{region}\""))
}

/// Runs the quick start (as a single-file source program) and checks what it prints.
fn run_quick_start(cp: &str, region: &str) {
    let dir = TempDir::new("java-readme");
    let file = dir.join("QuickStart.java");
    std::fs::write(&file, readme_quick_start(region)).unwrap();
    let child = java(cp, file.to_str().unwrap(), &[])
        .spawn()
        .expect("start java");
    let out = finish("the README's Java quick start", child);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n5\n{job=17}\n");
}

#[test]
fn the_readme_java_quick_start_runs_as_written() {
    let Some(cp) = classpath("the README's Java quick start") else {
        return;
    };
    let name = RegionName::new("java-readme");
    run_quick_start(&cp, &name);
    assert!(
        !Path::new(&name.path()).exists(),
        "the quick start removes its region"
    );
}

#[test]
fn the_readme_java_quick_start_runs_on_a_remote_region() {
    let Some(cp) = classpath("the README's Java quick start on a remote region") else {
        return;
    };
    let Some(server) = RedisServer::start("the README's Java quick start on a remote region")
    else {
        return;
    };
    run_quick_start(
        &cp,
        &server.url(&format!("java-readme-{}", std::process::id())),
    );
}

#[test]
fn a_killed_java_holder_is_taken_over() {
    let Some(cp) = classpath("the Java owner-dead takeovers") else {
        return;
    };
    let name = RegionName::new("java-owner-dead");
    let _region = common::create(&name, 1 << 20);
    let holder = spawn_ready(
        java(&cp, "dev.plexus.tests.Roles", &["hold-mutex", &name]).stderr(Stdio::inherit()),
        "HOLDING",
    );
    holder.sigkill();
    let out = finish("the Java taker", role(&cp, &["take-dead-mutex", &name]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK owner died"));

    // A service call whose server was killed holding its request: OwnerDead.
    let caller = role(&cp, &["call", &name]);
    let server = spawn_ready(
        java(&cp, "dev.plexus.tests.Roles", &["take-request", &name]).stderr(Stdio::inherit()),
        "TOOK",
    );
    server.sigkill();
    let out = finish("the Java caller", caller);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK call: PLEXUS_OWNER_DEAD"),
        "{out:?}"
    );
}
