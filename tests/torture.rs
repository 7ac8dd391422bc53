//! The crash torture in its short form: `plexus-torture` (src/bin/plexus-torture.rs) with
//! a few hundred SIGKILLs of worker processes doing random operations on every object
//! kind, then every check of the harness (no wedge, no torn or invented value, queue
//! values at most once and exactly once when the push returned, exact `faa` counters up to
//! the increments cut by a kill, lock and semaphore invariants, typed array frames never
//! read torn as FULL and consumed exactly once when their `end_write` returned, no block
//! stuck after its holder was killed). The long form is the same
//! binary run by hand: `cargo run --release --bin plexus-torture -- --kills 5000`.

mod common;

use std::process::Command;
use std::time::Instant;

use common::{RegionName, TempDir};

#[test]
fn torture_short_form_survives_hundreds_of_kills() {
    let exe = env!("CARGO_BIN_EXE_plexus-torture");
    // The harness removes its region and journals unless a check failed (then it keeps
    // them for inspection); these guards remove them in any case.
    let region = RegionName::new("short");
    let dir = TempDir::new("short");
    let t0 = Instant::now();
    let out = Command::new(exe)
        .args(["--kills", "600", "--workers", "4", "--interval-ms", "15"])
        .args(["--pause-every", "150", "--quiet", "--region", &region])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("plexus-torture runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}(took {:?})", t0.elapsed());
    assert!(
        out.status.success(),
        "the torture found failures ({}):\n{stdout}{stderr}",
        out.status
    );
    // It really ran: at least 600 kills (a burst may go beyond), and workers did
    // operations between them.
    let kills: u64 = stdout
        .split("plexus-torture: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no kill count in the summary:\n{stdout}"));
    assert!(kills >= 600, "{stdout}");
    let ops: u64 = stdout
        .split("operations journaled: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no operation count in the summary:\n{stdout}"));
    assert!(ops > 10 * kills, "{stdout}");
    assert!(stdout.contains("every check passed"), "{stdout}");
}

/// The checks are not vacuous: with `--inject`, one worker fakes a fault (a torn value, a
/// value nobody wrote, an increment it did not make, a value popped twice, a lock held by
/// a live process far beyond the others' timeout, a typed array frame with one element
/// changed handed on as FULL), and the run must fail and name it.
#[test]
fn torture_checks_catch_injected_faults() {
    let exe = env!("CARGO_BIN_EXE_plexus-torture");
    for (fault, expected) in [
        ("torn", "torn or altered value"),
        ("invented", "was never written"),
        ("lost-faa", "increments completed"),
        ("dup-pop", "delivered 2 times"),
        ("wedge", "mutex lock timed out"),
        ("wrong-reply", "got the reply"),
        ("torn-frame", "torn frame"),
    ] {
        let region = RegionName::new(fault);
        let dir = TempDir::new(fault);
        let out = Command::new(exe)
            // Workers live ~300 ms, long enough to time out (100 ms) on a wedged mutex
            // before they are killed.
            .args(["--kills", "15", "--workers", "3", "--interval-ms", "100"])
            .args(["--timeout-ms", "100", "--slack-ms", "1000", "--quiet"])
            .args(["--inject", fault, "--region", &region])
            .arg("--dir")
            .arg(dir.path())
            .output()
            .expect("plexus-torture runs");
        drop((region, dir));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "--inject {fault}:\n{stdout}");
        assert!(
            stdout.contains(expected),
            "--inject {fault}: no failure mentions {expected:?}:\n{stdout}"
        );
    }
}
