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
