//! Child processes of the tests: this test binary re-run in a role, programs waited for
//! until they say they are ready, killed when the test ends, or waited for within a
//! limit.
//!
//! A test file with roles has one test `child_entry` that hands them to [`play_role`]:
//!
//! ```ignore
//! #[test]
//! fn child_entry() {
//!     common::process::play_role(child_main); // fn child_main(role: &str, region: &str)
//! }
//! ```
//!
//! and starts a role with `spawn_ready(&mut role_command("stall", &region), READY)`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Names the role a re-run test binary plays.
const ROLE: &str = "PLEXUS_TEST_ROLE";
/// Names the region the role works on.
const REGION: &str = "PLEXUS_TEST_REGION";

/// What a role prints (with [`say_ready`]) once the test may go on.
pub const READY: &str = "PLEXUS-CHILD-READY";

/// A command that runs this test binary as a child process playing `role` on the region
/// `region`: it runs only the test `child_entry`, which calls [`play_role`]. Further
/// parameters go into environment variables of the caller's choice.
pub fn role_command(role: &str, region: &str) -> Command {
    role_command_of(&std::env::current_exe().unwrap(), role, region)
}

/// [`role_command`] running `exe`, a copy of this test binary.
pub fn role_command_of(exe: &Path, role: &str, region: &str) -> Command {
    let mut c = Command::new(exe);
    c.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(REGION, region);
    c
}

/// The body of a test file's `child_entry` test. In a child process started by
/// [`role_command`], runs `play(role, region)` and exits with status 0 (a role that
/// fails panics, and the child exits with another status); in a normal test run it does
/// nothing.
pub fn play_role(play: impl FnOnce(&str, &str)) {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let region = std::env::var(REGION).unwrap();
    play(&role, &region);
    std::process::exit(0);
}

/// Tells the test that started this role that it is ready: [`READY`] on a line of its
/// own (the test harness has written "test child_entry ... " without a line end), flushed.
pub fn say_ready() {
    println!("\n{READY}");
    std::io::stdout().flush().unwrap();
}

/// A child process that is SIGKILLed and reaped when dropped, also when the test fails
/// (a child left behind could run, or hold a region, forever).
pub struct Kid(Child);

impl Kid {
    /// Kills the child with SIGKILL and reaps it.
    pub fn sigkill(mut self) {
        self.0.kill().unwrap(); // SIGKILL
        self.0.wait().unwrap();
    }
}

impl From<Child> for Kid {
    fn from(c: Child) -> Kid {
        Kid(c)
    }
}

impl std::ops::Deref for Kid {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Kid {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` with its stdout piped and reads it until a line that starts with `ready`
/// (a test binary's role: [`READY`]; a C program: the word it prints when it holds what
/// the test needs). Panics, with what it printed, if the child ends its output first.
/// The rest of its stdout stays in the child for the test to read (it is read byte by
/// byte, so nothing past that line is consumed).
pub fn spawn_ready(cmd: &mut Command, ready: &str) -> Kid {
    let mut kid = Kid(cmd.stdout(Stdio::piped()).spawn().unwrap());
    let out = kid.0.stdout.as_mut().unwrap();
    let mut seen = Vec::new();
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8];
        if out.read(&mut byte).unwrap() == 0 {
            seen.extend_from_slice(&line);
            panic!(
                "{cmd:?} exited before it printed {ready:?}; its output:\n{}",
                String::from_utf8_lossy(&seen)
            );
        }
        if byte[0] != b'\n' {
            line.push(byte[0]);
            continue;
        }
        if line.starts_with(ready.as_bytes()) {
            return kid;
        }
        seen.append(&mut line);
        seen.push(b'\n');
    }
}

/// A pipe read to its end on a thread, into a buffer that can be looked at any time.
struct Drain {
    buf: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Drain {
    fn start(mut from: impl Read + Send + 'static) -> Drain {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let to = buf.clone();
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = from.read(&mut chunk) {
                to.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Drain { buf, reader }
    }

    /// What was read so far.
    fn text(d: &Option<Drain>) -> String {
        d.as_ref()
            .map(|d| String::from_utf8_lossy(&d.buf.lock().unwrap()).into_owned())
            .unwrap_or_default()
    }

    /// Everything, once the pipe has ended.
    fn finish(d: Option<Drain>) -> Vec<u8> {
        let Some(d) = d else { return Vec::new() };
        d.reader.join().unwrap();
        // The reader's handle went with its thread: the buffer is ours alone.
        Arc::try_unwrap(d.buf).unwrap().into_inner().unwrap()
    }
}

/// Waits up to `limit` for `child` to exit and returns its output (of the pipes it was
/// started with; they are drained meanwhile, so a chatty child never blocks on a full
/// pipe). A child that does not finish in time is wedged: it is killed and the test
/// fails, showing what it printed.
pub fn wait_within(what: &str, mut child: Child, limit: Duration) -> Output {
    let stdout = child.stdout.take().map(Drain::start);
    let stderr = child.stderr.take().map(Drain::start);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(50)); // the last of its output
            panic!(
                "{what} did not finish within {limit:?} (wedged?); killed it. Its output:\n\
                 stdout:\n{}\nstderr:\n{}",
                Drain::text(&stdout),
                Drain::text(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: Drain::finish(stdout),
        stderr: Drain::finish(stderr),
    }
}

/// Runs `cmd` for its output, retrying while the kernel says the program is busy
/// (ETXTBSY): a program this test process just copied can still be open for writing in
/// a child that another test thread forked meanwhile, until that child's exec.
pub fn output_of_copied_program(cmd: &mut Command) -> Output {
    let mut tries = 0;
    loop {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.expect("run the copied program"),
        }
    }
}

/// Copies the program `exe` into `dir` (a [`super::TempDir::shared`]) as `name`, mode
/// 0755, so that other users can run it. Run it with [`output_of_copied_program`].
pub fn copy_program(exe: &Path, dir: &super::TempDir, name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let copy = dir.join(name);
    std::fs::copy(exe, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}
