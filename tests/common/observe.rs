//! Observer scenarios run on both backends (by `tests/ffi.rs` and `tests/remote.rs`).

use std::path::Path;
use std::process::Command;

use super::c::{assert_ok, run};
use super::process::{spawn_ready, Kid};

/// Three watcher processes (ffi-tests/watch_worker.c, `exe`) follow one key of the map
/// "observed" in region `name` while a writer process writes 1..N to it as fast as it
/// can: each watcher sees only consistent (value, version) pairs, in order, and every
/// one of them sees the last value.
pub fn observers_never_miss_the_last_value(exe: &Path, name: &str) {
    const N: &str = "20000";
    let watchers: Vec<Kid> = (0..3)
        .map(|_| spawn_ready(Command::new(exe).args([name, "watcher", "key", N]), "ready"))
        .collect();
    assert_ok(
        "watch_worker writer",
        &run(exe, &[name, "writer", "key", N]),
    );
    for mut w in watchers {
        // A watcher ends by itself: with the last value, or failing its 60 s watch.
        let mut text = String::new();
        std::io::Read::read_to_string(&mut w.stdout.take().unwrap(), &mut text).unwrap();
        let status = w.wait().unwrap();
        assert!(status.success(), "watch_worker watcher: {status}\n{text}");
        assert!(text.contains(&format!("the last {N}")), "{text}");
    }
}

/// Eight processes (ffi-tests/init_race.c, `exe`) open the new map "raced" of region `name`
/// (which exists) at the same instant, each with its own initial data: all must report
/// the same, complete winner.
pub fn initial_data_race(exe: &Path, name: &str) {
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + std::time::Duration::from_millis(400);
    let start = start.as_nanos().to_string();
    let procs: Vec<std::process::Child> = (0..8)
        .map(|i| {
            Command::new(exe)
                .args([name, &start, &i.to_string()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut winners = Vec::new();
    for p in procs {
        let out = p.wait_with_output().unwrap();
        assert_ok("init_race", &out);
        winners.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    winners.dedup();
    assert_eq!(winners.len(), 1, "openers saw different data: {winners:?}");
    assert!(winners[0].starts_with("winner p"), "{winners:?}");
}

/// The map-wide calls (`change_count`, `wait_changes`, `changes`) of a map made before
/// change tracking: each gives Unsupported, with the way out in its message.
pub fn assert_map_wide_unsupported(results: [plexus::Result<()>; 3]) {
    for got in results {
        match got {
            Err(plexus::Error::Unsupported(msg)) => {
                assert!(
                    msg.contains("older version") && msg.contains("watch"),
                    "{msg}"
                )
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
}
