//! Runs the README's main command, `./demo.sh`, against the library of this build
//! (`PLEXUS_DEMO_LIBDIR`, so it does not build the release library) and checks what it
//! printed: every language took part, each greeted and was greeted, the shared counter
//! came out right in every process, the nested object edit by Python was seen by C++,
//! the background updater stopped at the marker, and the region was removed.
//!
//! The Node process takes part when node is installed (demo.sh installs the binding's
//! koffi dependency); under CI (`CI` set) it must take part.

mod common;

use std::process::Command;

#[test]
fn the_cross_language_demo_runs_and_checks_itself() {
    let root = common::root();
    let deps = common::lib_dir();
    assert!(
        deps.join("libplexus.so").exists(),
        "libplexus.so was not built in {}",
        deps.display()
    );
    let out = Command::new("bash")
        .arg(root.join("demo.sh"))
        .env("PLEXUS_DEMO_LIBDIR", &deps)
        .current_dir(root)
        .output()
        .expect("run demo.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo.sh failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let has = |needle: &str| stdout.lines().any(|l| l.contains(needle));
    let node = has("[Node]");
    if !node {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Node process did not take part, and CI is set (CI installs node)\n{stdout}"
        );
        eprintln!("note: node is not installed here, so the demo ran without the Node process");
    }
    let mut langs = vec!["[C] ", "[C++] ", "[Python] "];
    let ids = if node {
        "c, cpp, python, node"
    } else {
        "c, cpp, python"
    };
    if node {
        langs.push("[Node] ");
    }
    let parties = langs.len();
    assert!(has(&format!("starting {ids} at once")), "{stdout}");
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
    assert!(has("removed region 'plexus-demo-"), "{stdout}");
    assert!(
        has("== demo finished: every process exited cleanly and the region is gone"),
        "{stdout}"
    );
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
