//! Region permissions across users: a region created with the default mode (0600) cannot
//! be opened by another user (`Permission`, with a message naming the mode and owner);
//! an explicit mode (0666, or 0660 and a shared group) lets other users in; the umask
//! never narrows an explicit mode. Both kinds of region: /dev/shm (bare name) and a path.
//!
//! Root ignores file modes, so the other user is a child process: this test binary run
//! again in a role (`open`, `create`) with its uid and gid switched to 65534 (`nobody` /
//! `nogroup` on Debian), or 65533 for a user outside that group. That needs root; run
//! as another user, only the single-user checks run, the cross-user part prints a loud
//! SKIPPED line, and fails when the environment variable `CI` is set (CI runs as root).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::process::{copy_program, output_of_copied_program, play_role, role_command_of};
use common::{is_root, RegionName, TempDir};
use plexus::{Error, OpenMode, OpenOptions, Region, Value, ValueRef};

const OTHER_UID: u32 = 65534;
const OTHER_GID: u32 = 65534;
/// A user in neither the creator's group nor [`OTHER_GID`].
const STRANGER: u32 = 65533;

fn small(mode: OpenMode, permissions: u32) -> OpenOptions {
    OpenOptions {
        mode,
        size: 1 << 20,
        permissions,
        ..Default::default()
    }
}

fn mode_of(region: &Region) -> u32 {
    std::fs::metadata(region.path()).unwrap().mode() & 0o7777
}

// ---- the child: opens a region as another user ----

/// Child roles: open the region (`open`: and write to it) or create it (`create`), and
/// print the outcome.
fn child_main(role: &str, name: &str) {
    match role {
        "open" => {
            let opts = small(OpenMode::Open, 0);
            match Region::open(name, &opts) {
                Ok(r) => {
                    let a = r.array("shared", 0, 0).unwrap();
                    a.write(0, ValueRef::String("written by the other user"))
                        .unwrap();
                    println!("RESULT OK");
                }
                Err(Error::Permission(m)) => println!("RESULT PERMISSION {m}"),
                Err(e) => println!("RESULT OTHER {e:?}"),
            }
        }
        "create" => {
            // Runs with umask 077: the explicit mode must still be applied exactly.
            let mode = u32::from_str_radix(&std::env::var("PLEXUS_PERM_MODE").unwrap(), 8).unwrap();
            let r = Region::open(name, &small(OpenMode::Create, mode)).unwrap();
            println!("RESULT MODE {:o}", mode_of(&r));
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    play_role(child_main);
}

/// Runs the child role `role` on `region`, as `ids` (uid, gid) when given, with umask
/// `umask` when given; returns the RESULT line.
fn child(
    role: &str,
    region: &str,
    ids: Option<(u32, u32)>,
    umask: Option<u32>,
    mode: u32,
) -> String {
    // A copy of this test binary in a directory every user may enter: the build
    // directory may sit below one that other users cannot (a home directory in CI).
    let dir = TempDir::shared("exe");
    let exe = copy_program(&std::env::current_exe().unwrap(), &dir, "permissions-child");
    let mut c = role_command_of(&exe, role, region);
    c.env("PLEXUS_PERM_MODE", format!("{mode:o}"));
    if let Some((uid, gid)) = ids {
        // std drops the supplementary groups (setgroups(0)) when root sets a uid.
        c.uid(uid).gid(gid);
    }
    if let Some(mask) = umask {
        // SAFETY: umask is async-signal-safe and touches no memory.
        unsafe {
            c.pre_exec(move || {
                libc::umask(mask as libc::mode_t);
                Ok(())
            });
        }
    }
    let out = output_of_copied_program(&mut c);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {role} failed ({}):\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.find("RESULT ").map(|at| &l[at + 7..]))
        .unwrap_or_else(|| panic!("child {role} printed no result:\n{text}"))
        .to_owned()
}

/// Skips the cross-user checks loudly, or fails under CI (which runs as root).
fn skip_cross_user() {
    common::skip_loudly(
        "not running as root: cannot switch to another user",
        "the cross-user permission checks",
        "run the cross-user permission tests as root",
    );
}

/// Creates the region `name` with `permissions` and an array in it.
fn create(name: &str, permissions: u32) -> Region {
    let r = Region::open(name, &small(OpenMode::Create, permissions)).unwrap();
    r.array("shared", 2, 0).unwrap();
    r
}

fn check_denied(result: &str, name: &str) {
    let msg = result
        .strip_prefix("PERMISSION ")
        .unwrap_or_else(|| panic!("{name}: expected PERMISSION, got {result}"));
    // The message says which file, its mode and owner, and who we were.
    assert!(
        msg.contains("mode 0600") || msg.contains("mode 0660"),
        "{msg}"
    );
    assert!(msg.contains("owner uid"), "{msg}");
    assert!(msg.contains("this process runs as uid"), "{msg}");
    assert!(msg.contains("permissions"), "{msg}");
}

/// The cross-user checks on the region `name` (the caller removes it at the end).
fn cross_user_case(name: &str) {
    // Default mode: 0600, owner only.
    let r = create(name, 0);
    assert_eq!(mode_of(&r), 0o600);
    let result = child("open", name, Some((OTHER_UID, OTHER_GID)), None, 0);
    check_denied(&result, name);
    drop(r);
    Region::remove(name).unwrap();

    // 0666: everybody may open and write.
    let r = create(name, 0o666);
    assert_eq!(mode_of(&r), 0o666);
    let result = child("open", name, Some((OTHER_UID, OTHER_GID)), None, 0);
    assert_eq!(result, "OK", "{name}");
    let a = r.array("shared", 0, 0).unwrap();
    assert_eq!(
        a.read(0).unwrap(),
        Value::String("written by the other user".into())
    );
    drop(a);
    drop(r);
    Region::remove(name).unwrap();

    // 0660 with a shared group: members may open, others may not. The file's group is
    // the creator's (or the directory's, if setgid); here the test hands it to the group.
    let r = create(name, 0o660);
    std::os::unix::fs::chown(r.path(), None, Some(OTHER_GID)).unwrap();
    let result = child("open", name, Some((OTHER_UID, OTHER_GID)), None, 0);
    assert_eq!(result, "OK", "{name}: a member of the file's group");
    let result = child("open", name, Some((STRANGER, STRANGER)), None, 0);
    check_denied(&result, name);
    drop(r);
}

#[test]
fn default_mode_keeps_other_users_out_and_explicit_modes_share() {
    if !is_root() {
        skip_cross_user();
        return;
    }
    cross_user_case(&RegionName::new("shm"));
    let dir = TempDir::shared("dir");
    cross_user_case(&dir.region("region.plexus"));
}

/// The umask does not narrow an explicit mode (nor the default 0600), for both kinds of
/// region. Runs as any user.
#[test]
fn umask_does_not_narrow_the_mode() {
    let dir = TempDir::shared("umask");
    let shm = RegionName::new("umask");
    for name in [shm.to_string(), dir.region("umask.plexus")] {
        for mode in [0o666, 0o640, 0o600, 0] {
            let result = child("create", &name, None, Some(0o077), mode);
            let want = if mode == 0 { 0o600 } else { mode };
            assert_eq!(
                result,
                format!("MODE {want:o}"),
                "{name} created with {mode:o}"
            );
            Region::remove(&name).unwrap();
        }
    }
}

/// A file the caller may not read and write gives `Permission` (not Corrupt or Os),
/// whatever the open mode; root cannot be refused, so this part needs another user.
#[test]
fn unreadable_region_is_permission() {
    let dir = TempDir::shared("unreadable");
    let name = dir.region("locked.plexus");
    let r = create(&name, 0o600);
    drop(r);
    if is_root() {
        // As root, the owner and mode that matter are those of a file root does not own.
        std::os::unix::fs::chown(Path::new(&name), Some(OTHER_UID), Some(OTHER_GID)).unwrap();
        let result = child("open", &name, Some((STRANGER, STRANGER)), None, 0);
        check_denied(&result, &name);
    } else {
        std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o000)).unwrap();
        for mode in [OpenMode::Open, OpenMode::OpenOrCreate] {
            match Region::open(&name, &small(mode, 0)) {
                Err(Error::Permission(m)) => assert!(m.contains("mode 0000"), "{m}"),
                Err(e) => panic!("{mode:?}: expected Permission, got {e:?}"),
                Ok(_) => panic!("{mode:?}: opened a mode 0000 file"),
            }
        }
        // The file was left alone.
        assert_eq!(std::fs::metadata(&name).unwrap().mode() & 0o7777, 0);
    }
}
