//! The three-stage pipeline example (examples-cpp/pipeline.cpp) started in all six
//! orders, each time over a region left in /dev/shm by a server killed in the middle of
//! an earlier run: the middle stage and the client may attach to that stale region
//! first; when the new server replaces it they get PLEXUS_E_REMOVED, open the name
//! again and finish on the new region. Real processes, the C++ wrapper, the shared
//! library.

#[macro_use]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::c::{build, Lib};
use common::process::{wait_within, Kid};

const COUNT: &str = "300";

#[test]
fn the_pipeline_finishes_in_every_start_order_over_a_left_over_region() {
    let exe = build("examples-cpp/pipeline.cpp", Lib::Shared);
    let orders = [
        ["server", "middle", "client"],
        ["server", "client", "middle"],
        ["middle", "server", "client"],
        ["middle", "client", "server"],
        ["client", "server", "middle"],
        ["client", "middle", "server"],
    ];
    for (n, order) in orders.iter().enumerate() {
        let name = format!("pipeline-{}-{n}", std::process::id());
        let file = format!("/dev/shm/plexus.{name}");
        left_over_from_a_killed_run(&exe, &name, Path::new(&file));
        let mut running = Vec::new();
        for role in order {
            let child = Command::new(&exe)
                .args([role, name.as_str(), COUNT])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            running.push((*role, child));
            std::thread::sleep(Duration::from_millis(300));
        }
        let server_at = order.iter().position(|r| *r == "server").unwrap();
        for (at, (role, child)) in running.into_iter().enumerate() {
            let out = wait_within(role, child, Duration::from_secs(90));
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
            assert!(
                out.status.success(),
                "order {order:?}: {role} failed ({}):\n{stdout}{stderr}",
                out.status
            );
            // Started before the server, it attached to the stale region first.
            if at < server_at {
                assert!(
                    stdout.contains("the region was replaced; starting over"),
                    "order {order:?}: {role} never saw the region replaced:\n{stdout}"
                );
            }
            if role == "client" {
                assert!(
                    stdout.contains(&format!("client: received {COUNT} items in order")),
                    "order {order:?}:\n{stdout}"
                );
            }
        }
        let _ = plexus::Region::remove(&name);
    }
}

/// A server of an earlier run, SIGKILLed while its first queue was full: it leaves the
/// region with 16 stale items and no end.
fn left_over_from_a_killed_run(exe: &Path, name: &str, file: &Path) {
    let server = Command::new(exe)
        .args(["server", name, "100000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Kid::from(server);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    server.sigkill();
    assert!(file.exists(), "the killed server left no region");
}
