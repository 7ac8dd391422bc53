//! `plexus`: the command-line tool to look inside regions (docs/cli.md).
//!
//! Exit codes (also in `plexus --help`):
//! 0 success (`check`: consistent); 1 problems found or a refusal for safety (`check`:
//! leaks or stale entries remain; `rm`: the region is in use); 2 usage error; 3 region or
//! object not found; 4 region corrupt or incompatible (`check`: corrupt); 5 any other
//! failure (permissions, I/O, a remote server that does not answer, ...); 6 not possible
//! for this region (`check` of a remote region: what could be checked was, and the
//! structure check does not apply).
//!
//! `ls`, `info`, `dump`, `load`, `watch`, `serve`, `rm` and `check` also take remote regions
//! (`redis://[user:password@]host[:port]/NAME`); they read them through the same backend
//! API the C library uses, and never print a password.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use plexus::backend;
use plexus::{
    CheckOptions, Error, ObjectSummary, OpenMode, OpenOptions, Region, RegionInfo, RegionSummary,
    Start, Value, ValueRef, Verdict,
};
use serde_json::{json, Value as Json};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (check: the region is consistent)
  1  problems found, or refused for safety (check: leaked blocks or stale entries
     remain; rm: live processes use the region)
  2  usage error
  3  region or object not found
  4  region corrupt or incompatible (check: corrupt)
  5  any other failure (permissions, I/O, a remote server that does not answer, ...)
  6  not possible for this region (check of a remote region: its reachability, objects
     and values were checked; the structure check applies to region files only)

A REGION is a bare name (the file /dev/shm/plexus.NAME), a path containing '/', or a
remote region redis://[user:password@]host[:port]/NAME[?db=N] (rediss:// for TLS);
passwords are never printed.";

/// Look inside plexus shared-memory regions: list, inspect, dump, watch, check, remove.
#[derive(Parser)]
#[command(name = "plexus", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List regions with their size, heap use, objects and attached processes
    ///
    /// Lists every region in /dev/shm, plus the regions named as arguments. A region
    /// whose every attached process is dead is flagged ABANDONED (the next open clears
    /// those entries). Never attaches to or changes a local region; a remote region
    /// (redis://...) is read through a handle held for the moment (not counted in LIVE).
    #[command(after_help = EXIT_CODES)]
    Ls {
        /// More regions to list (names or paths of file-backed regions, redis:// URLs).
        regions: Vec<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show a region's header, objects and process table
    ///
    /// Reads the file without attaching to the region or changing it. A remote region
    /// (redis://...): its server, key prefix, objects and other attachments.
    #[command(after_help = EXIT_CODES)]
    Info {
        /// Region name, path or redis:// URL.
        region: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print every object and every value in it
    ///
    /// Array elements and map entries with their FULL/EMPTY tag and version, queued
    /// values in pop order, the messages a bus retains, the state of mutexes, barriers
    /// and semaphores. Opens the region like any user (attaching briefly; like every
    /// open, that clears the entries of processes that died and releases what they
    /// held) and reads without waiting and without changing any value. On a remote
    /// region (redis://...) the same.
    #[command(after_help = EXIT_CODES)]
    Dump {
        /// Region name, path or redis:// URL.
        region: String,
        /// Only these objects.
        objects: Vec<String>,
        /// Machine-readable output: the data itself (docs/cli.md), which `load` reads.
        #[arg(long)]
        json: bool,
        /// Do not shorten long values (text output shows the first 120 characters).
        #[arg(long)]
        full: bool,
    },
    /// Create a region's objects from a `dump --json` file
    ///
    /// Reads FILE (or standard input for `-`), opens REGION (creating it if absent; a
    /// new local region gets the dumped region's size) and creates every object of the
    /// dump with its shape and contents: element values with their tags and versions,
    /// queued values in order, bus messages, shut-down queues and buses. An object that
    /// exists already is an error (exit 1) unless --replace, which removes it first.
    /// Locks come back free: a dumped mutex that was locked, or a semaphore with permits
    /// taken, is loaded free, with a note. `dump` of the loaded region gives the dump
    /// back (versions included, as long as nothing else changed the region meanwhile).
    /// This also moves a region between /dev/shm and a redis:// server.
    #[command(after_help = EXIT_CODES)]
    Load {
        /// Region name, path or redis:// URL.
        region: String,
        /// A `dump --json` file, or - for standard input.
        file: String,
        /// Remove existing objects of the same names first.
        #[arg(long)]
        replace: bool,
    },
    /// Print the changes of a region (or of one object) as they happen
    ///
    /// Prints each changed item with a timestamp, until Ctrl-C, --count changes or
    /// --timeout. Maps (through their change count), arrays of up to 64 elements
    /// (through their versions) and buses (through a subscription) are waited on: a
    /// change shows at once and nothing runs while nothing changes. Queues, stacks,
    /// locks, larger arrays and the list of objects have no change signal and are
    /// compared with a snapshot every --interval milliseconds.
    #[command(after_help = EXIT_CODES)]
    Watch {
        /// Region name, path or redis:// URL.
        region: String,
        /// Only this object.
        object: Option<String>,
        /// Milliseconds between snapshots of what has no change signal.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        interval: u64,
        /// Stop after this many changes.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds (fractions allowed).
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// Serve a read-only HTTP view of regions (JSON, and changes as server-sent events)
    ///
    /// GET /regions, /regions/NAME (as `info --json`), /regions/NAME/OBJECT (as `dump
    /// --json` writes the object), /regions/NAME/OBJECT/KEY (one map key or array
    /// element); ?watch after a map or a key streams its changes as server-sent events,
    /// waiting on versions and the map's change count. Names are percent-encoded in
    /// paths ('/' as %2F). Serves the REGIONs named, or with none every region in
    /// /dev/shm. Never changes a value; runs until Ctrl-C or SIGTERM.
    #[command(after_help = EXIT_CODES)]
    Serve {
        /// Regions to serve (names, paths, redis:// URLs); none: the regions in /dev/shm.
        regions: Vec<String>,
        /// Address to listen on. Another host than 127.0.0.1 makes the regions readable
        /// from other machines, with no authentication (a warning says so). Port 0: any
        /// free port (the first line printed says which).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8700")]
        listen: String,
        /// Event streams (?watch) open at once; more are refused with 503.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
        max_streams: u64,
    },
    /// Remove regions, or objects of a region
    ///
    /// Processes that have a removed region open get PLEXUS_E_REMOVED from their next
    /// call on it. A region that live processes have attached, or that cannot be read, is
    /// only removed with --force. A remote region's keys are deleted from its server.
    ///
    /// With --object NAME (repeatable): removes those objects of the one REGION instead,
    /// for every process, whoever uses them: their handles get PLEXUS_E_REMOVED from
    /// their next call (calls blocked in them wake with it), and each name can be created
    /// again at once, as any kind. A queue or bus that was shut down starts again this way.
    #[command(after_help = EXIT_CODES)]
    Rm {
        /// Region names, paths or redis:// URLs (one, with --object).
        #[arg(required = true)]
        regions: Vec<String>,
        /// Remove even when live processes use it, or when it cannot be read.
        #[arg(long, conflicts_with = "objects")]
        force: bool,
        /// Remove the object NAME of the region instead of the region (repeatable).
        #[arg(long = "object", short = 'o', value_name = "NAME")]
        objects: Vec<String>,
    },
    /// Validate every structure; list dead processes, held locks, leaks
    ///
    /// Checks the header, directory, heap and free lists, and every array, map, queue,
    /// stack, bus, mutex, barrier and semaphore; lists dead processes, held locks,
    /// leaked heap blocks and stale entries. A plain check never writes to the region.
    /// --repair cleans up stale entries of dead processes (safe while others work) and
    /// reclaims leaked blocks when no other process is attached. A remote region
    /// (redis://...) has no file to check: check says whether its server answers, and
    /// opens every object and reads every value, then exits with 6.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// Region name, path or redis:// URL.
        region: String,
        /// Clean up stale entries of dead processes, and reclaim leaked heap blocks when
        /// no other process is attached (never touches a corrupt region).
        #[arg(long)]
        repair: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Quick benchmarks (a few seconds), medians and 99th percentiles
    ///
    /// Atomic add in one process, write_ef/read_fe round trips between two processes,
    /// and queue throughput from a producer process to a consumer process, in a
    /// temporary region that is removed afterwards.
    #[command(after_help = EXIT_CODES)]
    Bench {
        /// Round trips to time (the queue test moves 10 times as many values).
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
        rounds: u64,
    },
    /// The other process of `bench` (internal).
    #[command(hide = true)]
    BenchChild {
        region: String,
        role: String,
        rounds: u64,
    },
}

// The module lives in src/bin/plexus/ (a file in src/bin/ would be a binary of its own).
#[cfg(feature = "serve")]
#[path = "plexus/serve.rs"]
mod serve;

#[cfg(feature = "serve")]
fn serve(listen: &str, regions: &[String], max_streams: usize) -> Res<u8> {
    serve::serve(listen, regions, max_streams)
}

#[cfg(not(feature = "serve"))]
fn serve(_listen: &str, _regions: &[String], _max_streams: usize) -> Res<u8> {
    Err(fail(
        EXIT_NOT_POSSIBLE,
        "this build of plexus has no `serve` (build it with the default `serve` feature)",
    ))
}

/// A failure with its exit code.
struct Fail {
    code: u8,
    message: String,
}

fn fail(code: u8, message: impl Into<String>) -> Fail {
    Fail {
        code,
        message: message.into(),
    }
}

/// Exit code of `check` for a remote region (and of other calls a backend cannot make).
const EXIT_NOT_POSSIBLE: u8 = 6;

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let code = match &e {
            Error::NotFound(_) => 3,
            Error::Corrupt(_) | Error::Incompatible(_) => 4,
            Error::InvalidArgument(_) => 2,
            Error::Unsupported(_) => EXIT_NOT_POSSIBLE,
            _ => 5,
        };
        fail(code, e.to_string())
    }
}

type Res<T = ()> = std::result::Result<T, Fail>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ls { regions, json } => ls(&regions, json),
        Command::Info { region, json } => info(&region, json),
        Command::Dump {
            region,
            objects,
            json,
            full,
        } => dump(&region, &objects, json, full),
        Command::Load {
            region,
            file,
            replace,
        } => load(&region, &file, replace),
        Command::Watch {
            region,
            object,
            interval,
            count,
            timeout,
        } => watch(&region, object.as_deref(), interval, count, timeout),
        Command::Serve {
            regions,
            listen,
            max_streams,
        } => serve(&listen, &regions, max_streams as usize),
        Command::Rm {
            regions,
            force,
            objects,
        } if objects.is_empty() => rm(&regions, force),
        Command::Rm {
            regions, objects, ..
        } => rm_objects(&regions, &objects),
        Command::Check {
            region,
            repair,
            json,
        } => check(&region, repair, json),
        Command::Bench { rounds } => bench(rounds),
        Command::BenchChild {
            region,
            role,
            rounds,
        } => bench_child(&region, &role, rounds),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            // A closed stdout (`plexus dump x | head`) is not worth a message.
            if !f.message.is_empty() {
                eprintln!("plexus: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

/// Writes to stdout; a closed pipe ends the command quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            return Err(fail(0, ""));
        }
    };
}

fn print_json(j: &Json) -> Res<u8> {
    out!(
        "{}",
        serde_json::to_string_pretty(j).map_err(|e| fail(5, e.to_string()))?
    );
    Ok(0)
}

// ---- formatting helpers ----

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `2026-11-24 10:05:03 UTC` for nanoseconds since the Unix epoch.
fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A value as text: JSON-like literals, strings quoted, bytes in hex, objects as JSON.
fn show(v: &Value, full: bool) -> String {
    let s = match v {
        Value::Undefined => "undefined".into(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Bytes(b) => format!("bytes[{}] {}", b.len(), hex(b)),
        Value::Object(o) => match v.as_ref().to_json() {
            Ok(j) => format!("object {j}"),
            Err(_) => format!("object (MessagePack, {} bytes) {}", o.len(), hex(o)),
        },
    };
    const MAX: usize = 120;
    if full || s.chars().count() <= MAX {
        s
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}... ({} characters)", s.chars().count())
    }
}

// ---- ls / info ----

/// The regions in /dev/shm: bare names of `plexus.*` files (temporary files of
/// creators in progress start with '.' and are skipped).
fn shm_regions() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| n.strip_prefix("plexus.").map(str::to_owned))
                .filter(|n| !n.is_empty() && plexus::region_path(n).is_ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Regions of /dev/shm that were removed while processes still map them: name -> the
/// pids that map it (from `/proc/<pid>/maps`, of the processes this user may read). A
/// mapping of a deleted file whose inode no region file in /dev/shm has any more is a
/// removed region (its creator's mapping carries the name of the temporary file it was
/// built in: `.plexus.<name>.<pid>.<random>.tmp`).
fn removed_but_mapped() -> Vec<(String, Vec<u32>)> {
    use std::os::unix::fs::MetadataExt;
    let linked: std::collections::HashSet<u64> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("plexus."))
                .filter_map(|e| e.metadata().ok().map(|m| m.ino()))
                .collect()
        })
        .unwrap_or_default();
    let mut found: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for p in procs.filter_map(|e| e.ok()) {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        for line in maps.lines() {
            let Some(path) = line.strip_suffix(" (deleted)") else {
                continue;
            };
            let mut fields = path.split_ascii_whitespace();
            let (Some(inode), Some(file)) = (fields.nth(4), fields.next()) else {
                continue;
            };
            let Some(base) = file.strip_prefix("/dev/shm/") else {
                continue;
            };
            let name = match base.strip_prefix("plexus.") {
                Some(n) => n.to_owned(),
                None => match base
                    .strip_prefix(".plexus.")
                    .and_then(|b| b.strip_suffix(".tmp"))
                {
                    // `<name>.<pid>.<random>`
                    Some(b) => match b.rsplitn(3, '.').nth(2) {
                        Some(n) => n.to_owned(),
                        None => continue,
                    },
                    None => continue,
                },
            };
            let Ok(inode) = inode.parse::<u64>() else {
                continue;
            };
            if linked.contains(&inode) || plexus::region_path(&name).is_err() {
                continue;
            }
            let pids = found.entry(name).or_default();
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
    }
    found.into_iter().collect()
}

fn status_of(s: &RegionSummary) -> String {
    let (live, dead) = (s.live_processes(), s.dead_processes());
    if s.abandoned() {
        format!("ABANDONED: every attached process ({dead}) is dead")
    } else if live == 0 {
        "idle".into()
    } else if dead > 0 {
        format!("in use; {dead} dead")
    } else {
        "in use".into()
    }
}

fn summary_json(name: &str, s: &RegionSummary) -> Json {
    json!({
        "name": name,
        "path": s.path,
        "size": s.file_size,
        "heap_size": s.heap_size,
        "heap_used": s.heap_used,
        "objects": s.objects.len(),
        "live_processes": s.live_processes(),
        "dead_processes": s.dead_processes(),
        "abandoned": s.abandoned(),
        "status": status_of(s),
    })
}

/// What `ls` shows of one region.
enum Listed {
    Local(RegionSummary),
    Remote(RemoteSummary),
    Unreadable(Error),
    /// Removed, still mapped by these processes (its memory goes when they let go).
    Removed(Vec<u32>),
}

/// What `ls` shows of the region `name`.
fn listed(name: &str) -> plexus::Result<Listed> {
    if backend::is_remote(name) {
        remote_summary(name).map(Listed::Remote)
    } else {
        plexus::inspect(name).map(Listed::Local)
    }
}

/// One row of `ls --json` (and of `GET /regions` of `serve`); `n` is the name as shown.
fn listed_json(n: &str, r: &Listed) -> Json {
    match r {
        Listed::Local(s) => summary_json(n, s),
        Listed::Remote(s) => remote_summary_json(n, s),
        Listed::Unreadable(e) => json!({ "name": n, "error": e.to_string() }),
        Listed::Removed(pids) => json!({
            "name": n.trim_end_matches(" (removed)"),
            "removed": true,
            "mapped_by": pids,
        }),
    }
}

fn ls(extra: &[String], json_out: bool) -> Res<u8> {
    let mut names = shm_regions();
    names.extend(extra.iter().cloned());
    let mut rows = Vec::new();
    let mut code = 0;
    for name in &names {
        match listed(name) {
            Ok(l) => rows.push((shown(name), l)),
            Err(e) => {
                if extra.contains(name)
                    && matches!(
                        e,
                        Error::NotFound(_) | Error::InvalidArgument(_) | Error::Unsupported(_)
                    )
                {
                    eprintln!("plexus: {e}");
                    code = Fail::from(e).code;
                    continue;
                }
                rows.push((shown(name), Listed::Unreadable(e)));
            }
        }
    }
    if extra.is_empty() {
        for (name, pids) in removed_but_mapped() {
            rows.push((format!("{name} (removed)"), Listed::Removed(pids)));
        }
    }
    if json_out {
        let list: Vec<Json> = rows.iter().map(|(n, r)| listed_json(n, r)).collect();
        print_json(&Json::Array(list))?;
        return Ok(code);
    }
    if rows.is_empty() {
        out!("no regions in /dev/shm");
        return Ok(code);
    }
    let w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(4).max(6);
    out!(
        "{:<w$}  {:>10}  {:>18}  {:>7}  {:>4}  {:>4}  STATUS",
        "REGION",
        "SIZE",
        "HEAP USED",
        "OBJECTS",
        "LIVE",
        "DEAD"
    );
    for (n, r) in &rows {
        match r {
            Listed::Local(s) => {
                let pct = s.heap_used as f64 * 100.0 / s.heap_size.max(1) as f64;
                out!(
                    "{:<w$}  {:>10}  {:>18}  {:>7}  {:>4}  {:>4}  {}",
                    n,
                    human(s.file_size),
                    format!("{} ({pct:.1}%)", human(s.heap_used)),
                    s.objects.len(),
                    s.live_processes(),
                    s.dead_processes(),
                    status_of(s)
                );
            }
            Listed::Remote(s) => out!(
                "{:<w$}  {:>10}  {:>18}  {:>7}  {:>4}  {:>4}  {}",
                n,
                "remote",
                "-",
                s.info.object_count,
                s.others,
                "-",
                remote_status(s)
            ),
            Listed::Unreadable(e) => out!("{n:<w$}  UNREADABLE: {e}"),
            Listed::Removed(pids) => out!(
                "{:<w$}  {:>10}  {:>18}  {:>7}  {:>4}  {:>4}  REMOVED: still mapped by pid {}",
                n,
                "-",
                "-",
                "-",
                pids.len(),
                "-",
                pids.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(code)
}

fn info(region: &str, json_out: bool) -> Res<u8> {
    if backend::is_remote(region) {
        return remote_info(region, json_out);
    }
    let s = plexus::inspect(region)?;
    if json_out {
        return print_json(&info_json(region, &s));
    }
    out!("region {region}");
    out!("  path       {}", s.path.display());
    out!(
        "  size       {} ({} bytes)",
        human(s.file_size),
        s.file_size
    );
    out!(
        "  heap       {} used of {} ({:.1}%)",
        human(s.heap_used),
        human(s.heap_size),
        s.heap_used as f64 * 100.0 / s.heap_size.max(1) as f64
    );
    out!("  format     version {}", s.format_version);
    out!("  id         {:016x}", s.region_id);
    out!("  created    {}", utc(s.created_unix_ns));
    out!("  status     {}", status_of(&s));
    out!("objects ({}):", s.objects.len());
    for o in &s.objects {
        out!(
            "  {:<10} {:<24} {:<18} {:>10}",
            o.kind,
            format!("'{}'", o.name),
            shape_text(o),
            human(o.bytes)
        );
    }
    if s.damaged_entries > 0 {
        out!(
            "  ({} damaged directory entries: run `plexus check {region}`)",
            s.damaged_entries
        );
    }
    out!("processes ({}):", s.processes.len());
    let now = now_ns();
    for p in &s.processes {
        let ago = now.saturating_sub(p.attached_unix_ns) / 1_000_000_000;
        out!(
            "  pid {:<8} {:<5} attached {} ({}s ago){}",
            p.pid,
            if p.alive { "live" } else { "DEAD" },
            utc(p.attached_unix_ns),
            ago,
            if p.read_locks > 0 {
                format!(", holds {} read_rw lock(s)", p.read_locks)
            } else {
                String::new()
            }
        );
    }
    Ok(0)
}

/// `info --json` of a local region (and `GET /regions/NAME` of `serve`).
fn info_json(region: &str, s: &RegionSummary) -> Json {
    let mut j = summary_json(region, s);
    j["format_version"] = json!(s.format_version);
    j["region_id"] = json!(format!("{:016x}", s.region_id));
    j["created_unix_ns"] = json!(s.created_unix_ns);
    j["objects"] = Json::Array(s.objects.iter().map(object_json).collect());
    j["processes"] = Json::Array(
        s.processes
            .iter()
            .map(|p| {
                json!({ "slot": p.slot, "pid": p.pid, "alive": p.alive,
                        "attached_unix_ns": p.attached_unix_ns, "read_locks": p.read_locks })
            })
            .collect(),
    );
    j
}

fn shape_text(o: &ObjectSummary) -> String {
    match o.kind {
        "array" => format!("{} elements", o.shape),
        "map" => format!("capacity {} keys", o.shape),
        "queue" | "stack" | "bus" => format!("capacity {}", o.shape),
        "barrier" => format!("{} parties", o.shape),
        "semaphore" => format!("{} permits", o.shape),
        "service" => format!("capacity {} requests", o.shape),
        "typed array" => format!("{} elements", o.shape),
        _ => String::new(),
    }
}

/// The name of an object's shape field, as `dump --json` and `info --json` both write it.
fn shape_field(kind: &str) -> &'static str {
    match kind {
        "array" | "typed array" => "length",
        "map" | "queue" | "stack" | "bus" | "service" => "capacity",
        "barrier" => "parties",
        "semaphore" => "permits",
        _ => "shape",
    }
}

fn object_json(o: &ObjectSummary) -> Json {
    let mut j = json!({ "name": o.name, "kind": o.kind, "shape": o.shape, "offset": o.offset, "bytes": o.bytes });
    j[shape_field(o.kind)] = json!(o.shape);
    j
}

// ---- dump / watch ----

fn open_existing(region: &str) -> Res<Region> {
    Ok(Region::open(
        region,
        &OpenOptions {
            mode: OpenMode::Open,
            ..OpenOptions::default()
        },
    )?)
}

/// One value-holding item of an object.
struct Item {
    /// `[3]`, `"key"`, `#17`, `1st`...
    key: String,
    /// What `dump --json` calls it: the map key itself, the bus sequence number (none
    /// for array elements and queue values, which are listed in order).
    data_key: DataKey,
    /// FULL/EMPTY and version, for elements.
    tag: Option<(bool, u64)>,
    value: Value,
}

enum DataKey {
    Position,
    Key(String),
    /// A bus message: its sequence number and topic ("" for none).
    Seq(u64, String),
}

/// A snapshot of one object.
struct Snapshot {
    name: String,
    kind: &'static str,
    /// One line about the whole object.
    summary: String,
    /// The object's fields for `dump --json` besides its name, kind and items (its
    /// shape under the name `info --json` gives it, and its state).
    extra: Json,
    items: Vec<Item>,
    /// Why the object could not be read (a kind the remote backend cannot read).
    unreadable: Option<String>,
}

fn selected(r: &Opened, names: &[String]) -> Res<Vec<ObjectSummary>> {
    let all = r.objects()?;
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|o| &o.name == n).cloned().ok_or_else(|| {
                fail(
                    3,
                    format!("region {} has no object named '{n}'", r.shown_name()),
                )
            })
        })
        .collect()
}

fn item_text(it: &Item, full: bool) -> String {
    match it.tag {
        Some((f, v)) => format!(
            "{:<5} v{:<4} {}",
            if f { "FULL" } else { "EMPTY" },
            v,
            show(&it.value, full)
        ),
        None => show(&it.value, full),
    }
}

/// The version of the `dump --json` document (its field `plexus_dump`), which `load`
/// checks.
const DUMP_FORMAT: u64 = 1;

/// One object as `dump --json` writes it (docs/cli.md): data, not display text. Values
/// in the exact JSON form of `plexus::semantics::json`.
fn snapshot_json(s: &Snapshot) -> Json {
    let mut j = json!({ "name": s.name, "kind": s.kind });
    if let (Json::Object(m), Json::Object(x)) = (&mut j, &s.extra) {
        m.extend(x.clone());
    }
    if s.unreadable.is_some() {
        return j;
    }
    let value = |it: &Item| plexus::semantics::json::to_json(it.value.as_ref());
    let element = |it: &Item| element_json(&it.value, it.tag);
    match s.kind {
        "array" => j["elements"] = s.items.iter().map(element).collect(),
        "map" => {
            let mut entries = serde_json::Map::new();
            for it in &s.items {
                if let DataKey::Key(k) = &it.data_key {
                    entries.insert(k.clone(), element(it));
                }
            }
            j["entries"] = Json::Object(entries);
        }
        "queue" | "stack" => j["values"] = s.items.iter().map(value).collect(),
        "bus" => {
            j["messages"] = s
                .items
                .iter()
                .map(|it| {
                    let mut m = json!({ "value": value(it) });
                    if let DataKey::Seq(n, topic) = &it.data_key {
                        m["seq"] = json!(n);
                        if !topic.is_empty() {
                            m["topic"] = json!(topic);
                        }
                    }
                    m
                })
                .collect()
        }
        _ => {}
    }
    j
}

/// An array element or map entry as `dump --json` writes it: `{"value": ..., "full":
/// true, "version": 3}` (the tag and version when it has them).
fn element_json(value: &Value, tag: Option<(bool, u64)>) -> Json {
    let mut e = json!({ "value": plexus::semantics::json::to_json(value.as_ref()) });
    if let Some((f, v)) = tag {
        e["full"] = json!(f);
        e["version"] = json!(v);
    }
    e
}

fn dump(region: &str, names: &[String], json_out: bool, full: bool) -> Res<u8> {
    let r = Opened::open(region)?;
    let objects = selected(&r, names)?;
    let mut snaps = Vec::new();
    for o in &objects {
        snaps.push(r.snapshot(o)?);
    }
    let info = r.info()?;
    if json_out {
        let list: Vec<Json> = snaps.iter().map(snapshot_json).collect();
        let mut j = match &r {
            Opened::Local(l) => json!({
                "region": region,
                "path": l.path(),
                "size": info.size,
                "heap_size": info.heap_size,
                "heap_used": info.heap_used,
            }),
            Opened::Remote(..) => json!({ "region": r.shown_name(), "remote": true }),
        };
        j["plexus_dump"] = json!(DUMP_FORMAT);
        j["objects"] = Json::Array(list);
        return print_json(&j);
    }
    match &r {
        Opened::Local(l) => out!(
            "region {region} ({}): {}, heap {} used, {} objects",
            l.path().display(),
            human(info.size),
            human(info.heap_used),
            info.object_count
        ),
        Opened::Remote(..) => out!(
            "region {} (remote): {} objects",
            r.shown_name(),
            info.object_count
        ),
    }
    for s in &snaps {
        out!("{} '{}': {}", s.kind, s.name, s.summary);
        let w = s.items.iter().map(|i| i.key.len()).max().unwrap_or(0);
        for it in &s.items {
            out!("  {:<w$}  {}", it.key, item_text(it, full));
        }
    }
    Ok(0)
}

fn load(region: &str, file: &str, replace: bool) -> Res<u8> {
    let text = if file == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
            .map_err(|e| fail(5, format!("cannot read standard input: {e}")))?;
        t
    } else {
        std::fs::read_to_string(file).map_err(|e| fail(5, format!("cannot read {file}: {e}")))?
    };
    let doc: Json =
        serde_json::from_str(&text).map_err(|e| fail(2, format!("{file} is not JSON: {e}")))?;
    let bad = |what: String| fail(2, format!("{file}: {what}"));
    match doc.get("plexus_dump").and_then(Json::as_u64) {
        Some(DUMP_FORMAT) => {}
        Some(n) => {
            return Err(bad(format!(
                "a dump of format {n}; this plexus reads {DUMP_FORMAT}"
            )))
        }
        None => {
            return Err(bad(
                "not a `plexus dump --json` document (no \"plexus_dump\")".into(),
            ))
        }
    }
    let objects = doc
        .get("objects")
        .and_then(Json::as_array)
        .ok_or_else(|| bad("no \"objects\" array".into()))?;
    // Everything is checked before anything is created.
    let plan = objects
        .iter()
        .enumerate()
        .map(|(i, o)| LoadObject::parse(o).map_err(|e| bad(format!("object {i}: {e}"))))
        .collect::<Res<Vec<_>>>()?;
    let size = if backend::is_remote(region) {
        0
    } else {
        doc.get("size").and_then(Json::as_u64).unwrap_or(0)
    };
    let r = backend::Region::open(
        region,
        &OpenOptions {
            mode: OpenMode::OpenOrCreate,
            size,
            ..OpenOptions::default()
        },
    )?;
    let existing: Vec<String> = r.objects()?.into_iter().map(|o| o.name).collect();
    for o in &plan {
        if existing.contains(&o.name) {
            if !replace {
                return Err(fail(
                    1,
                    format!(
                        "region {} has an object named '{}' already (--replace removes it first)",
                        shown(region),
                        o.name
                    ),
                ));
            }
            r.remove_object(&o.name)?;
        }
    }
    let mut values = 0;
    for o in &plan {
        values += o.create(&r).map_err(|e| {
            let f = Fail::from(e);
            fail(f.code, format!("{} '{}': {}", o.kind, o.name, f.message))
        })?;
    }
    eprintln!(
        "plexus: loaded {} objects ({values} values) into {}",
        plan.len(),
        shown(region)
    );
    Ok(0)
}

/// One object of a dump, checked.
struct LoadObject {
    name: String,
    kind: String,
    shape: u64,
    /// (value, full, version) of elements and map entries (`None` key: array order).
    elements: Vec<(Option<String>, Value, bool, u64)>,
    /// Queue values in pop order; bus messages with their sequence numbers.
    values: Vec<(u64, Value)>,
    /// The topics of bus messages ("" for none), beside `values`.
    topics: Vec<String>,
    /// An array made FULL (its untouched elements are).
    full: bool,
    shutdown: bool,
    note: Option<String>,
    /// A typed array: dtype, block length, the elements' bytes, which blocks are FULL.
    tarray: Option<(plexus::Dtype, u64, Vec<u8>, Vec<bool>)>,
}

impl LoadObject {
    fn parse(o: &Json) -> Result<LoadObject, String> {
        let field = |k: &str| o.get(k).ok_or_else(|| format!("no \"{k}\""));
        let text = |k: &str| {
            field(k)?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("\"{k}\" is not a string"))
        };
        let num = |k: &str| {
            field(k)?
                .as_u64()
                .ok_or_else(|| format!("\"{k}\" is not a number"))
        };
        let flag = |k: &str| {
            o.get(k).map_or(Ok(false), |v| {
                v.as_bool()
                    .ok_or_else(|| format!("\"{k}\" is not true or false"))
            })
        };
        let list = |k: &str| {
            field(k)?
                .as_array()
                .ok_or_else(|| format!("\"{k}\" is not an array"))
        };
        let value = |v: Option<&Json>, at: &str| -> Result<Value, String> {
            let v = v.ok_or_else(|| format!("{at} has no \"value\""))?;
            plexus::semantics::json::from_json(v).map_err(|e| format!("{at}: {e}"))
        };
        let element = |e: &Json, at: &str| -> Result<(Value, bool, u64), String> {
            let full = e
                .get("full")
                .and_then(Json::as_bool)
                .ok_or_else(|| format!("{at} has no \"full\""))?;
            let version = e
                .get("version")
                .and_then(Json::as_u64)
                .ok_or_else(|| format!("{at} has no \"version\""))?;
            Ok((value(e.get("value"), at)?, full, version))
        };
        let name = text("name")?;
        let kind = text("kind")?;
        let mut l = LoadObject {
            shape: num(shape_field(&kind)).unwrap_or(1),
            name,
            kind,
            elements: Vec::new(),
            values: Vec::new(),
            topics: Vec::new(),
            full: false,
            shutdown: flag("shutdown")?,
            note: None,
            tarray: None,
        };
        match l.kind.as_str() {
            "array" => {
                let all = list("elements")?;
                if all.len() as u64 != l.shape {
                    return Err(format!(
                        "\"length\" is {} but there are {} elements",
                        l.shape,
                        all.len()
                    ));
                }
                for (i, e) in all.iter().enumerate() {
                    let (v, full, version) = element(e, &format!("element {i}"))?;
                    if version == 0 {
                        // Untouched since the array was made: the array's initial tag.
                        l.full = full;
                    }
                    l.elements.push((None, v, full, version));
                }
            }
            "map" => {
                let all = field("entries")?
                    .as_object()
                    .ok_or("\"entries\" is not an object")?;
                for (k, e) in all {
                    let (v, full, version) = element(e, &format!("entry {k:?}"))?;
                    l.elements.push((Some(k.clone()), v, full, version));
                }
            }
            "queue" | "stack" => {
                for (i, v) in list("values")?.iter().enumerate() {
                    let v = plexus::semantics::json::from_json(v)
                        .map_err(|e| format!("value {i}: {e}"))?;
                    l.values.push((0, v));
                }
            }
            "bus" => {
                for (i, m) in list("messages")?.iter().enumerate() {
                    let at = format!("message {i}");
                    let seq = m
                        .get("seq")
                        .and_then(Json::as_u64)
                        .ok_or_else(|| format!("{at} has no \"seq\""))?;
                    let topic = match m.get("topic") {
                        None => String::new(),
                        Some(t) => t
                            .as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| format!("{at}: \"topic\" is not a string"))?,
                    };
                    l.values.push((seq, value(m.get("value"), &at)?));
                    l.topics.push(topic);
                }
            }
            "mutex" => {
                if flag("locked")? {
                    l.note = Some("was locked in the dump; it is loaded unlocked".into());
                }
            }
            "barrier" => {}
            "semaphore" => {
                if let Some(a) = o.get("available").and_then(Json::as_u64) {
                    if a != l.shape {
                        l.note = Some(format!("had {a} of {} permits available in the dump; it is loaded with all of them", l.shape));
                    }
                }
            }
            // Pending requests are not carried over: a loaded service starts empty.
            "service" => {}
            "typed array" => {
                let dtype = plexus::Dtype::from_name(&text("dtype")?).map_err(|e| e.to_string())?;
                let block_len = num("block_len")?;
                let shape = plexus::semantics::tarray::Shape::new(dtype, l.shape, block_len)
                    .map_err(|e| e.to_string())?;
                let data = list("data")?;
                if data.len() as u64 != l.shape {
                    return Err(format!(
                        "\"length\" is {} but there are {} elements",
                        l.shape,
                        data.len()
                    ));
                }
                let mut bytes = Vec::with_capacity(shape.bytes() as usize);
                for (i, v) in data.iter().enumerate() {
                    let b = dtype
                        .element_from_json(v)
                        .map_err(|e| format!("element {i}: {e}"))?;
                    bytes.extend_from_slice(&b);
                }
                let tags = list("blocks")?;
                if tags.len() as u64 != shape.blocks() {
                    return Err(format!(
                        "{} blocks of {block_len} need {} block states, not {}",
                        shape.blocks(),
                        shape.blocks(),
                        tags.len()
                    ));
                }
                let mut full = Vec::new();
                let mut held = 0;
                for (i, t) in tags.iter().enumerate() {
                    use plexus::BlockState as B;
                    let st = t
                        .as_str()
                        .and_then(B::from_name)
                        .ok_or_else(|| format!("block {i}: {t} is not a block state"))?;
                    held += usize::from(matches!(st, B::Writing | B::Reading));
                    // Being written: the writer never finished (EMPTY); being read: the
                    // data is still there (FULL).
                    full.push(matches!(st, B::Full | B::Reading));
                }
                if held > 0 {
                    l.note = Some(format!(
                        "had {held} block(s) being written or read in the dump; written ones are loaded EMPTY, read ones FULL"
                    ));
                }
                l.tarray = Some((dtype, block_len, bytes, full));
            }
            other => return Err(format!("unknown kind {other:?}")),
        }
        if l.shape == 0 && l.kind != "mutex" {
            return Err(format!("\"{}\" is 0", shape_field(&l.kind)));
        }
        Ok(l)
    }

    /// Creates the object and its contents; returns how many values went in.
    fn create(&self, r: &backend::Region) -> plexus::Result<usize> {
        let excl = plexus::FLAG_EXCLUSIVE;
        let n = self.name.as_str();
        match self.kind.as_str() {
            "array" => {
                let a = r.array(
                    n,
                    self.shape,
                    excl | if self.full { plexus::FLAG_FULL } else { 0 },
                )?;
                for (i, (_, v, full, version)) in self.elements.iter().enumerate() {
                    if *version > 0 {
                        a.restore(i as u64, v.as_ref(), *full, *version)?;
                    }
                }
            }
            "map" => {
                let m = r.map(n, self.shape, excl)?;
                for (k, v, full, version) in &self.elements {
                    m.restore(
                        k.as_deref().unwrap_or_default(),
                        v.as_ref(),
                        *full,
                        *version,
                    )?;
                }
            }
            "queue" | "stack" => {
                let lifo = self.kind == "stack";
                let q = r.queue(
                    n,
                    self.shape,
                    excl | if lifo { plexus::FLAG_LIFO } else { 0 },
                )?;
                let mut vals: Vec<ValueRef<'_>> =
                    self.values.iter().map(|(_, v)| v.as_ref()).collect();
                if lifo {
                    vals.reverse(); // pop order is top first: push bottom first
                }
                let (_, res) = q.push_many(&vals, Some(Duration::ZERO));
                res?;
                if self.shutdown {
                    q.shutdown()?;
                }
            }
            "bus" => {
                let b = r.bus(n, self.shape, excl)?;
                let mut renumbered = None;
                for ((seq, v), topic) in self.values.iter().zip(&self.topics) {
                    let got = if topic.is_empty() {
                        b.publish(v.as_ref())?
                    } else {
                        b.emit(topic, v.as_ref())?
                    };
                    if got != *seq && renumbered.is_none() {
                        renumbered = Some((*seq, got));
                    }
                }
                if let Some((was, now)) = renumbered {
                    eprintln!(
                        "plexus: bus '{n}': its messages are numbered from {now} here (from {was} in the dump)"
                    );
                }
                if self.shutdown {
                    b.shutdown()?;
                }
            }
            "mutex" => {
                r.mutex(n)?;
            }
            "barrier" => {
                r.barrier(n, self.shape as u32)?;
            }
            "semaphore" => {
                r.semaphore(n, self.shape as u32)?;
            }
            "service" => {
                r.service(n, self.shape, 0)?;
            }
            "typed array" => {
                let (dtype, block_len, bytes, full) =
                    self.tarray.as_ref().expect("parsed with its data");
                let t = r.tarray(n, Some(*dtype), self.shape, *block_len, excl)?;
                t.write(0, bytes)?;
                for (b, f) in full.iter().enumerate() {
                    if *f {
                        t.restore_block(b as u64, true)?;
                    }
                }
            }
            _ => unreachable!("checked by parse"),
        }
        if let Some(note) = &self.note {
            eprintln!("plexus: {} '{}' {note}", self.kind, self.name);
        }
        let data = self.tarray.as_ref().map_or(0, |_| self.shape as usize);
        Ok(self.elements.len() + self.values.len() + data)
    }
}

/// What wakes `watch`: a change of one object, found without polling.
enum Signal {
    /// A map's change count moved: these keys changed (value line, or None: removed).
    MapKeys(String, Vec<(String, Option<String>)>),
    /// An element of this array changed.
    Element(String, u64, String),
    /// A message on this bus.
    Message(String, String),
    /// A waiting thread stopped (its object was removed, or it failed): sample it.
    Stopped(String),
}

/// The largest array whose elements `watch` waits on one by one (one thread each);
/// larger ones are sampled every --interval.
const WATCH_MAX_ELEMENTS: u64 = 64;

/// Starts a thread that waits for changes of `o` and sends them; false when the kind
/// has no change signal (queues, stacks, locks, large arrays, maps made by older
/// versions): those are sampled.
#[allow(unreachable_patterns)]
fn watch_object(
    r: &backend::Region,
    o: &ObjectSummary,
    tx: &std::sync::mpsc::Sender<Signal>,
) -> bool {
    const SLICE: Option<Duration> = Some(Duration::from_secs(1));
    let name = o.name.clone();
    match o.kind {
        "map" => {
            let Ok(m) = r.map(&o.name, 0, 0) else {
                return false;
            };
            let Ok(mut counter) = m.change_count() else {
                return false;
            };
            let tx = tx.clone();
            // `listed`: the change count up to which keys were reported.
            let mut listed = counter;
            std::thread::spawn(move || loop {
                match m.wait_changes(&mut counter, SLICE) {
                    Ok(()) => {}
                    Err(Error::Timeout) => continue,
                    Err(_) => return tx.send(Signal::Stopped(name)).unwrap_or(()),
                }
                let since = listed;
                let mut keys = Vec::new();
                let mut cursor = 0;
                loop {
                    match m.changes(since, &mut cursor, 256) {
                        Ok(batch) if batch.is_empty() => break,
                        Ok(batch) => {
                            for c in batch {
                                listed = listed.max(c.counter);
                                let line = if c.removed {
                                    None
                                } else {
                                    element_line(
                                        m.is_full(&c.key),
                                        m.version(&c.key),
                                        m.read(&c.key),
                                    )
                                };
                                keys.push((c.key, line));
                            }
                        }
                        Err(_) => break,
                    }
                }
                if !keys.is_empty() && tx.send(Signal::MapKeys(name.clone(), keys)).is_err() {
                    return;
                }
            });
            true
        }
        "array" if o.shape <= WATCH_MAX_ELEMENTS => {
            let Ok(a) = r.array(&o.name, 0, 0) else {
                return false;
            };
            for i in 0..a.len() {
                let (a, tx, name) = (a.clone(), tx.clone(), name.clone());
                let Ok(mut seen) = a.version(i) else {
                    return false;
                };
                std::thread::spawn(move || loop {
                    match a.watch(i, &mut seen, SLICE) {
                        Ok(v) => {
                            let line = element_line(a.is_full(i), Ok(seen), Ok(v));
                            if let Some(l) = line {
                                if tx.send(Signal::Element(name.clone(), i, l)).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(Error::Timeout) => {}
                        Err(_) => return tx.send(Signal::Stopped(name)).unwrap_or(()),
                    }
                });
            }
            true
        }
        "bus" => {
            let Ok(b) = r.bus(&o.name, 0, 0) else {
                return false;
            };
            let Ok(mut sub) = b.subscribe(Start::Now) else {
                return false;
            };
            let tx = tx.clone();
            std::thread::spawn(move || loop {
                match sub.next_event(SLICE) {
                    Ok((topic, v, seq)) => {
                        let key = if topic.is_empty() {
                            format!("#{seq}")
                        } else {
                            format!("#{seq} {topic:?}")
                        };
                        if tx
                            .send(Signal::Message(
                                name.clone(),
                                format!("{key}: {}", show(&v, false)),
                            ))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(Error::Timeout) => {}
                    Err(_) => return tx.send(Signal::Stopped(name)).unwrap_or(()),
                }
            });
            true
        }
        _ => false,
    }
}

/// `FULL  v3    "text"`, as `dump` shows an element; None if it cannot be read (gone).
fn element_line(
    full: plexus::Result<bool>,
    version: plexus::Result<u64>,
    value: plexus::Result<Value>,
) -> Option<String> {
    let (f, v, value) = (full.ok()?, version.ok()?, value.ok()?);
    Some(item_text(
        &Item {
            key: String::new(),
            data_key: DataKey::Position,
            tag: Some((f, v)),
            value,
        },
        false,
    ))
}

fn watch(
    region: &str,
    object: Option<&str>,
    interval: u64,
    count: Option<u64>,
    timeout: Option<f64>,
) -> Res<u8> {
    let deadline = match timeout {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            return Err(fail(2, format!("--timeout {t}: give seconds, 0 or more")))
        }
        Some(t) => Some(Instant::now() + Duration::from_secs_f64(t)),
        None => None,
    };
    let r = Opened::open(region)?;
    let br = r.backend();
    let names: Vec<String> = object.map(|o| vec![o.to_owned()]).unwrap_or_default();
    // Objects with a change signal are waited on (no polling); the others, and the list
    // of objects itself when no object is named, are sampled every --interval.
    let (tx, rx) = std::sync::mpsc::channel::<Signal>();
    let mut waited: std::collections::BTreeSet<String> = Default::default();
    // A snapshot of the sampled objects (the waited ones appear by name only).
    let take = |r: &Opened,
                waited: &std::collections::BTreeSet<String>|
     -> Res<BTreeMap<(String, String), String>> {
        let mut map = BTreeMap::new();
        for o in selected(r, &names)? {
            map.insert((o.name.clone(), String::new()), String::new());
            if waited.contains(&o.name) {
                continue;
            }
            let s = r.snapshot(&o)?;
            map.insert(
                (o.name.clone(), String::new()),
                format!("{} '{}': {}", s.kind, s.name, s.summary),
            );
            for it in &s.items {
                map.insert((o.name.clone(), it.key.clone()), item_text(it, false));
            }
        }
        Ok(map)
    };
    for o in selected(&r, &names)? {
        if watch_object(&br, &o, &tx) {
            waited.insert(o.name.clone());
        }
    }
    // The last line shown for each item (elements, map keys) of the waited objects, so a
    // change prints as `old  ->  new` as for sampled ones.
    let mut last = take(&r, &Default::default())?;
    let mut before = take(&r, &waited)?;
    let sampled = before
        .keys()
        .filter(|k| k.1.is_empty() && !waited.contains(&k.0))
        .count();
    out!(
        "watching {} of region {} ({}; Ctrl-C to stop)",
        object.map_or("every object".to_string(), |o| format!("'{o}'")),
        r.shown_name(),
        if sampled == 0 && object.is_some() {
            "waiting for changes".to_string()
        } else if waited.is_empty() {
            format!("every {interval} ms")
        } else {
            format!("waiting for changes; queues, locks and new objects every {interval} ms")
        }
    );
    let stamp = || {
        let ns = now_ns();
        let ms = ns / 1_000_000 % 1000;
        format!("{}.{ms:03}", &utc(ns)[11..19])
    };
    let mut changes = 0u64;
    let mut next_sample = Instant::now() + Duration::from_millis(interval);
    let emit = |lines: Vec<String>, changes: &mut u64| -> Res<bool> {
        for l in lines {
            if count.is_some_and(|c| *changes >= c) {
                return Ok(false);
            }
            out!("{l}");
            *changes += 1;
        }
        Ok(count.is_none_or(|c| *changes < c))
    };
    let need_sampling = sampled > 0 || object.is_none();
    loop {
        if count.is_some_and(|c| changes >= c) {
            return Ok(0);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(0);
        }
        let mut wake = if need_sampling {
            next_sample
        } else {
            now + Duration::from_secs(3600)
        };
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(sig) => {
                let t = stamp();
                let mut change = |o: String, key: String, new: Option<String>| -> String {
                    let line = match (last.get(&(o.clone(), key.clone())), &new) {
                        (Some(old), Some(new)) => format!("{t} '{o}' {key}: {old}  ->  {new}"),
                        (None, Some(new)) => format!("{t} '{o}' {key}: {new}"),
                        (_, None) => format!("{t} '{o}' {key}: removed"),
                    };
                    match new {
                        Some(n) => last.insert((o, key), n),
                        None => last.remove(&(o, key)),
                    };
                    line
                };
                let lines = match sig {
                    Signal::MapKeys(o, keys) => keys
                        .into_iter()
                        .map(|(k, line)| {
                            change(
                                o.clone(),
                                serde_json::to_string(&k).unwrap_or_default(),
                                line,
                            )
                        })
                        .collect(),
                    Signal::Element(o, i, l) => vec![change(o, format!("[{i}]"), Some(l))],
                    Signal::Message(o, m) => vec![format!("{t} '{o}' {m}")],
                    Signal::Stopped(o) => {
                        waited.remove(&o);
                        Vec::new()
                    }
                };
                if !emit(lines, &mut changes)? {
                    return Ok(0);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
        }
        if !need_sampling || Instant::now() < next_sample {
            continue;
        }
        next_sample = Instant::now() + Duration::from_millis(interval);
        let after = take(&r, &waited)?;
        let t = stamp();
        let mut lines = Vec::new();
        for (k, new) in &after {
            let label = if k.1.is_empty() {
                format!("'{}'", k.0)
            } else {
                format!("'{}' {}", k.0, k.1)
            };
            match before.get(k) {
                Some(old) if old == new => {}
                Some(old) => lines.push(format!("{t} {label}: {old}  ->  {new}")),
                None if k.1.is_empty() => {
                    lines.push(format!("{t} new object: {new}"));
                }
                None => lines.push(format!("{t} {label}: {new}")),
            }
        }
        for k in before.keys() {
            // Bus messages overwritten by newer ones are not news.
            if !after.contains_key(k) && !k.1.starts_with('#') {
                let label = format!("'{}' {}", k.0, k.1);
                lines.push(format!("{t} {label}: removed"));
            }
        }
        // Objects that appeared: wait on them from now on.
        for o in selected(&r, &names)? {
            if !before.contains_key(&(o.name.clone(), String::new())) && watch_object(&br, &o, &tx)
            {
                waited.insert(o.name.clone());
            }
        }
        before = after;
        if !emit(lines, &mut changes)? {
            return Ok(0);
        }
    }
}

// ---- rm / check ----

fn rm(regions: &[String], force: bool) -> Res<u8> {
    let mut code = 0;
    for name in regions {
        if backend::is_remote(name) {
            match rm_remote(name, force) {
                Ok(()) => out!("removed {}", shown(name)),
                Err(f) => {
                    eprintln!("plexus: {}", f.message);
                    code = code.max(f.code);
                }
            }
            continue;
        }
        let verdict = match plexus::inspect(name) {
            Ok(s) if s.live_processes() > 0 && !force => Err(fail(
                1,
                format!(
                    "{name}: not removed: {} live process(es) use it (pid {}); --force removes it anyway",
                    s.live_processes(),
                    s.processes
                        .iter()
                        .filter(|p| p.alive)
                        .map(|p| p.pid.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Ok(_) => Ok(()),
            Err(e @ (Error::Corrupt(_) | Error::Incompatible(_))) if !force => Err(fail(
                4,
                format!("{name}: not removed: {e}; --force removes it anyway"),
            )),
            Err(Error::NotFound(m)) => Err(fail(3, m)),
            Err(Error::InvalidArgument(m)) => Err(fail(2, m)),
            Err(_) => Ok(()),
        };
        let result = verdict.and_then(|_| Region::remove(name).map_err(Fail::from));
        match result {
            Ok(()) => out!("removed {name}"),
            Err(f) => {
                eprintln!("plexus: {}", f.message);
                code = code.max(f.code);
            }
        }
    }
    Ok(code)
}

/// `rm REGION --object NAME...`: removes those objects of one region (local or remote).
/// Every name is tried; the exit code is the worst of their failures.
fn rm_objects(regions: &[String], objects: &[String]) -> Res<u8> {
    let [region] = regions else {
        return Err(fail(
            2,
            format!(
                "--object removes objects of one region, but {} regions were named",
                regions.len()
            ),
        ));
    };
    let r = backend::Region::open(
        region,
        &OpenOptions {
            mode: OpenMode::Open,
            ..OpenOptions::default()
        },
    )?;
    let mut code = 0;
    for name in objects {
        match r.remove_object(name) {
            Ok(()) => out!("removed object '{name}' of {}", shown(region)),
            Err(e) => {
                let f = Fail::from(e);
                eprintln!(
                    "plexus: {}: object '{name}' not removed: {}",
                    shown(region),
                    f.message
                );
                code = code.max(f.code);
            }
        }
    }
    Ok(code)
}

fn check(region: &str, repair: bool, json_out: bool) -> Res<u8> {
    if backend::is_remote(region) {
        return remote_check(region, repair, json_out);
    }
    let report = plexus::check(region, &CheckOptions { repair })?;
    let code = match report.verdict() {
        Verdict::Consistent => 0,
        Verdict::Reclaimable => 1,
        Verdict::Corrupt => 4,
    };
    if json_out {
        let findings = |v: &[plexus::Finding]| -> Json {
            v.iter()
                .map(|f| json!({ "location": f.location, "message": f.message }))
                .collect()
        };
        print_json(&json!({
            "region": region,
            "path": report.path,
            "verdict": match report.verdict() {
                Verdict::Consistent => "consistent",
                Verdict::Reclaimable => "reclaimable",
                Verdict::Corrupt => "corrupt",
            },
            "size": report.file_size,
            "heap_size": report.heap_size,
            "heap_used": report.heap_used,
            "heap_free_blocks": report.heap_free_blocks,
            "heap_untouched": report.heap_untouched,
            "live_processes": report.live_processes,
            "objects": report.objects.iter().map(object_json).collect::<Vec<_>>(),
            "processes": report.processes.iter().map(|p| json!({
                "slot": p.slot, "pid": p.pid, "alive": p.alive, "read_locks": p.read_locks,
                "attached_unix_ns": p.attached_unix_ns })).collect::<Vec<_>>(),
            "locks": report.locks.iter().map(|l| json!({
                "location": l.location, "pid": l.pid, "alive": l.alive })).collect::<Vec<_>>(),
            "leaks": report.leaks.iter().map(|l| json!({
                "offset": l.offset, "size": l.size, "reason": l.reason.as_str() })).collect::<Vec<_>>(),
            "leaked_bytes": report.leaked_bytes(),
            "stale": findings(&report.stale),
            "problems": findings(&report.problems),
            "repaired": report.repaired,
            "repair_skipped": report.repair_skipped,
        }))?;
    } else {
        for line in report.to_string().lines() {
            out!("{line}");
        }
    }
    Ok(code)
}

// ---- remote regions ----

/// A region name as it may be printed: the password of a remote name replaced by `***`.
fn shown(name: &str) -> String {
    plexus::semantics::names::redact(name)
}

/// The server (`host:port`) and key prefix (`px:{NAME}:`) of a remote region's name.
#[cfg(feature = "redis")]
fn remote_place(name: &str) -> Option<(String, String)> {
    let r = plexus::redis::RemoteName::parse(name).ok()?;
    Some((r.server(), r.key_prefix()))
}

#[cfg(not(feature = "redis"))]
fn remote_place(_name: &str) -> Option<(String, String)> {
    None
}

/// Opens an existing remote region (without waiting for it).
fn open_remote(name: &str) -> plexus::Result<backend::Region> {
    backend::Region::open(
        name,
        &OpenOptions {
            mode: OpenMode::Open,
            ..OpenOptions::default()
        },
    )
}

/// What `ls` shows of a remote region.
struct RemoteSummary {
    info: RegionInfo,
    /// Attachments (live region handles, each holding a lease) other than this tool's.
    others: u32,
}

/// Attaches briefly (a remote region is read through a handle, whose lease this tool
/// holds for the moment) and reads the statistics.
fn remote_summary(name: &str) -> plexus::Result<RemoteSummary> {
    let r = open_remote(name)?;
    let info = r.info()?;
    Ok(RemoteSummary {
        others: info.attached_processes.saturating_sub(1),
        info,
    })
}

fn remote_status(s: &RemoteSummary) -> String {
    if s.others == 0 {
        "remote; idle".into()
    } else {
        "remote; in use".into()
    }
}

fn remote_summary_json(name: &str, s: &RemoteSummary) -> Json {
    let mut j = json!({
        "name": name,
        "remote": true,
        "objects": s.info.object_count,
        "live_processes": s.others,
        "status": remote_status(s),
    });
    if let Some((server, prefix)) = remote_place(name) {
        j["server"] = json!(server);
        j["key_prefix"] = json!(prefix);
    }
    j
}

fn remote_object_json(o: &ObjectSummary) -> Json {
    let mut j = json!({ "name": o.name, "kind": o.kind, "shape": o.shape });
    j[shape_field(o.kind)] = json!(o.shape);
    j
}

/// `info --json` of a remote region (and `GET /regions/NAME` of `serve`).
fn remote_info_json(region: &str, summary: &RemoteSummary, objects: &[ObjectSummary]) -> Json {
    let info = &summary.info;
    let mut j = remote_summary_json(&shown(region), summary);
    j["format_version"] = json!(info.format_version);
    j["region_id"] = json!(format!("{:016x}", info.region_id));
    j["created_unix_ns"] = json!(info.created_unix_ns);
    j["objects"] = Json::Array(objects.iter().map(remote_object_json).collect());
    j
}

fn remote_info(region: &str, json_out: bool) -> Res<u8> {
    let name = shown(region);
    let r = open_remote(region)?;
    let info = r.info()?;
    let objects = r.objects()?;
    let summary = RemoteSummary {
        others: info.attached_processes.saturating_sub(1),
        info,
    };
    if json_out {
        return print_json(&remote_info_json(region, &summary, &objects));
    }
    out!("region {name}");
    if let Some((server, prefix)) = remote_place(region) {
        out!("  server     {server} (remote region; keys {prefix}*)");
    }
    out!("  format     remote version {}", info.format_version);
    out!("  id         {:016x}", info.region_id);
    out!("  created    {}", utc(info.created_unix_ns));
    out!(
        "  status     {} ({} other attachment(s) holding a lease)",
        remote_status(&summary),
        summary.others
    );
    out!("objects ({}):", objects.len());
    for o in &objects {
        out!(
            "  {:<10} {:<24} {}",
            o.kind,
            format!("'{}'", o.name),
            shape_text(o)
        );
    }
    Ok(0)
}

/// `rm` of a remote region: refused while other attachments hold a lease, unless forced.
fn rm_remote(name: &str, force: bool) -> Res<()> {
    match remote_summary(name) {
        Ok(s) if s.others > 0 && !force => {
            return Err(fail(
                1,
                format!(
                    "{}: not removed: {} other attachment(s) use it; --force removes it anyway",
                    shown(name),
                    s.others
                ),
            ))
        }
        Ok(_) => {}
        Err(Error::NotFound(m)) => return Err(fail(3, m)),
        Err(e @ (Error::InvalidArgument(_) | Error::Unsupported(_) | Error::Unavailable(_))) => {
            return Err(Fail::from(e))
        }
        Err(_) if force => {}
        Err(e) => return Err(Fail::from(e)),
    }
    backend::Region::remove(name).map_err(Fail::from)
}

/// What `check` says of a remote region, after the checks it can make.
const REMOTE_CHECK_NOTE: &str = "\
the structure check (header, directory, heap, free lists, leaks) applies to region
files; a remote region has none of these: its state lives on its Redis server and
changes only through atomic scripts that check the region's epoch, and what a dead
process held is taken back when its lease expires, by the next call that meets it.
Nothing to repair here. For the server itself: redis-cli INFO persistence / replication.";

/// `check` of a remote region: whether the server answers, the region exists, and every
/// object and value can be read (each decoded as `dump` does). Exit code 6 when all of
/// that holds (the structure check does not apply), or the usual code of the failure.
fn remote_check(region: &str, repair: bool, json_out: bool) -> Res<u8> {
    let name = shown(region);
    // The library's own answer for a remote name (UNSUPPORTED), kept as the reason.
    let why = match backend::check(region, &CheckOptions { repair }) {
        Err(Error::Unsupported(m)) => m,
        Err(e) => return Err(Fail::from(e)),
        Ok(_) => String::new(),
    };
    let r = Opened::open(region)?;
    let info = r.info()?;
    let objects = r.objects()?;
    let mut values = 0usize;
    let mut unreadable = Vec::new();
    for o in &objects {
        let s = r.snapshot(o)?;
        values += s.items.len();
        if let Some(reason) = s.unreadable {
            unreadable.push(format!("{} '{}': {reason}", s.kind, s.name));
        }
    }
    let others = info.attached_processes.saturating_sub(1);
    if json_out {
        print_json(&json!({
            "region": name,
            "remote": true,
            "verdict": "not-applicable",
            "reachable": true,
            "objects": objects.len(),
            "values_read": values,
            "unreadable": unreadable,
            "live_processes": others,
            "repaired": false,
            "reason": why,
            "note": REMOTE_CHECK_NOTE.replace('\n', " "),
        }))?;
    } else {
        out!("remote region {name}: the server answers and the region exists");
        out!(
            "  {} objects opened and {values} values read and decoded{}",
            objects.len(),
            if unreadable.is_empty() {
                String::new()
            } else {
                format!("; {} not readable on this server:", unreadable.len())
            }
        );
        for u in &unreadable {
            out!("    {u}");
        }
        out!("  {others} other attachment(s) holding a lease");
        if repair {
            out!("  --repair: nothing to repair on a remote region");
        }
        out!("not checked (exit code {EXIT_NOT_POSSIBLE}):");
        for line in REMOTE_CHECK_NOTE.lines() {
            out!("  {line}");
        }
    }
    Ok(EXIT_NOT_POSSIBLE)
}

/// A region opened to read its objects (`dump`, `watch`, remote `check`): a local one
/// through the shared-memory API (which can also show what a queue holds), a remote one
/// through the backend API.
enum Opened {
    Local(Region),
    Remote(String, backend::Region),
}

impl Opened {
    fn open(region: &str) -> Res<Opened> {
        if backend::is_remote(region) {
            Ok(Opened::Remote(shown(region), open_remote(region)?))
        } else {
            Ok(Opened::Local(open_existing(region)?))
        }
    }

    /// The region as the backend API sees it (a handle to the same region).
    fn backend(&self) -> backend::Region {
        match self {
            Opened::Local(l) => backend::Region::Shm(l.clone()),
            Opened::Remote(_, b) => b.clone(),
        }
    }

    fn shown_name(&self) -> String {
        match self {
            Opened::Local(r) => r.name().to_owned(),
            Opened::Remote(name, _) => name.clone(),
        }
    }

    /// The region's objects, by the listing cursor (each object that exists throughout
    /// once, whatever is created meanwhile), sorted by name.
    fn objects(&self) -> plexus::Result<Vec<ObjectSummary>> {
        let mut all = Vec::new();
        let mut cursor = 0;
        while let Some(o) = match self {
            Opened::Local(r) => r.next_object(&mut cursor)?,
            Opened::Remote(_, r) => r.next_object(&mut cursor)?,
        } {
            all.push(o);
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn info(&self) -> plexus::Result<RegionInfo> {
        match self {
            Opened::Local(r) => r.info(),
            Opened::Remote(_, r) => r.info(),
        }
    }

    fn snapshot(&self, o: &ObjectSummary) -> plexus::Result<Snapshot> {
        match self {
            Opened::Local(r) => snapshot(&backend::Region::Shm(r.clone()), o),
            Opened::Remote(_, r) => match snapshot(r, o) {
                // A kind this server's backend cannot read: shown, not fatal.
                Err(Error::Unsupported(m)) => Ok(Snapshot {
                    name: o.name.clone(),
                    kind: o.kind,
                    summary: format!("not readable: {m}"),
                    extra: json!({ "unreadable": m }),
                    items: Vec::new(),
                    unreadable: Some(m),
                }),
                other => other,
            },
        }
    }
}

/// A snapshot of one object, through the backend API, for local and remote regions
/// alike: what `dump` and `watch` show. A local queue also shows its values and a local
/// barrier its arrivals (the shared-memory backend can read them without changing
/// anything; a remote one cannot).
#[allow(unreachable_patterns)] // without the redis feature the backends have one variant
fn snapshot(r: &backend::Region, o: &ObjectSummary) -> plexus::Result<Snapshot> {
    let mut items = Vec::new();
    let (summary, extra) = match o.kind {
        "array" => {
            let a = r.array(&o.name, 0, 0)?;
            for i in 0..a.len() {
                items.push(Item {
                    key: format!("[{i}]"),
                    data_key: DataKey::Position,
                    tag: Some((a.is_full(i)?, a.version(i)?)),
                    value: a.read(i)?,
                });
            }
            (
                format!("{} elements", a.len()),
                json!({ "length": a.len() }),
            )
        }
        "map" => {
            let m = r.map(&o.name, 0, 0)?;
            let mut keys = Vec::new();
            let mut cursor = 0;
            while let Some(k) = m.next_key(&mut cursor)? {
                keys.push(k);
            }
            keys.sort();
            for k in keys {
                // A key removed meanwhile reads as UNDEFINED with version 0: skip it.
                let version = m.version(&k)?;
                if version == 0 {
                    continue;
                }
                items.push(Item {
                    key: serde_json::to_string(&k).unwrap_or_default(),
                    tag: Some((m.is_full(&k)?, version)),
                    value: m.read(&k)?,
                    data_key: DataKey::Key(k),
                });
            }
            (
                format!("{} keys (capacity {})", items.len(), m.capacity()),
                json!({ "capacity": m.capacity() }),
            )
        }
        "queue" | "stack" => {
            let q = r.queue(&o.name, 0, 0)?;
            let lifo = o.kind == "stack";
            let closed = q.is_shutdown()?;
            for (i, v) in q.peek_all()?.into_iter().enumerate() {
                items.push(Item {
                    key: if lifo {
                        format!("top-{i}")
                    } else {
                        format!("next+{i}")
                    },
                    data_key: DataKey::Position,
                    tag: None,
                    value: v,
                });
            }
            (
                format!(
                    "{} values (capacity {}{})",
                    items.len(),
                    q.capacity(),
                    if closed { ", CLOSED" } else { "" }
                ),
                json!({ "capacity": q.capacity(), "shutdown": closed }),
            )
        }
        "bus" => {
            let b = r.bus(&o.name, 0, 0)?;
            let next = b.next_seq()?;
            let mut sub = b.subscribe(Start::Oldest)?;
            // Only what was published before the snapshot began.
            loop {
                match sub.next_event(Some(Duration::ZERO)) {
                    Ok((topic, v, seq)) => {
                        if seq >= next {
                            break;
                        }
                        items.push(Item {
                            // The message's topic, if it has one: `#3 "job.done"`.
                            key: if topic.is_empty() {
                                format!("#{seq}")
                            } else {
                                format!("#{seq} {topic:?}")
                            },
                            data_key: DataKey::Seq(seq, topic.clone()),
                            tag: None,
                            value: v,
                        });
                        if seq + 1 >= next {
                            break;
                        }
                    }
                    Err(Error::Timeout) | Err(Error::Closed) => break,
                    Err(e) => return Err(e),
                }
            }
            let closed = b.is_shutdown()?;
            (
                format!(
                    "capacity {}, {} published, {} retained{}",
                    b.capacity(),
                    next - 1,
                    items.len(),
                    if closed { ", CLOSED" } else { "" }
                ),
                json!({ "capacity": b.capacity(), "next_seq": next, "shutdown": closed }),
            )
        }
        "mutex" => {
            let locked = r.mutex(&o.name)?.is_locked()?;
            (
                if locked { "locked" } else { "unlocked" }.into(),
                json!({ "locked": locked }),
            )
        }
        "barrier" => {
            let b = r.barrier(&o.name, 0)?;
            match &b {
                backend::Barrier::Shm(local) => {
                    let arrived = local.arrived()?;
                    (
                        format!("{arrived} of {} parties arrived", b.parties()),
                        json!({ "parties": b.parties(), "arrived": arrived }),
                    )
                }
                _ => (
                    format!("{} parties", b.parties()),
                    json!({ "parties": b.parties() }),
                ),
            }
        }
        "semaphore" => {
            let s = r.semaphore(&o.name, 0)?;
            let available = s.available()?;
            (
                format!("{available} of {} permits available", s.permits()),
                json!({ "permits": s.permits(), "available": available }),
            )
        }
        "service" => {
            let s = r.service(&o.name, 0, 0)?;
            let pending = s.pending()?;
            (
                format!("{pending} of {} requests pending", s.capacity()),
                json!({ "capacity": s.capacity(), "pending": pending }),
            )
        }
        "typed array" => tarray_snapshot(r, &o.name)?,
        other => (format!("unknown kind {other}"), json!({})),
    };
    Ok(Snapshot {
        name: o.name.clone(),
        kind: o.kind,
        summary,
        extra,
        items,
        unreadable: None,
    })
}

/// A typed array's summary (dtype, shape, block states, its first elements) and its
/// JSON form for `dump --json` (every element as a JSON number, the block states).
fn tarray_snapshot(r: &backend::Region, name: &str) -> plexus::Result<(String, Json)> {
    let t = r.tarray(name, None, 0, 0, 0)?;
    let s = t.shape();
    let size = s.dtype.size() as usize;
    let mut bytes = vec![0u8; s.bytes() as usize];
    t.read(0, &mut bytes)?;
    let blocks: Vec<&str> = (0..s.blocks())
        .map(|b| t.block_state(b).map(|st| st.name()))
        .collect::<plexus::Result<_>>()?;
    let data: Vec<Json> = bytes
        .chunks(size)
        .map(|c| s.dtype.element_json(c))
        .collect();
    const SHOWN: usize = 8;
    let first: Vec<String> = data
        .iter()
        .take(SHOWN)
        .map(|v| match v.get("$float").and_then(Json::as_str) {
            Some(special) => special.to_owned(), // NaN, Infinity, -Infinity
            None => v.to_string(),
        })
        .collect();
    let more = if data.len() > SHOWN { ", ..." } else { "" };
    const TAGS: usize = 16;
    let tags: Vec<&str> = blocks.iter().take(TAGS).copied().collect();
    let full = blocks.iter().filter(|b| **b == "full").count();
    let summary = format!(
        "{} x {}, {} block(s) of {} ({full} full): [{}{}]; elements [{}{more}]",
        s.dtype.name(),
        s.length,
        s.blocks(),
        s.block_len,
        tags.join(" "),
        if blocks.len() > TAGS { " ..." } else { "" },
        first.join(", "),
    );
    let extra = json!({
        "dtype": s.dtype.name(),
        "length": s.length,
        "block_len": s.block_len,
        "blocks": blocks,
        "data": data,
    });
    Ok((summary, extra))
}

// ---- bench ----

struct RemoveOnDrop(String);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = Region::remove(&self.0);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn ns_text(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn spawn_child(region: &str, role: &str, rounds: u64) -> Res<std::process::Child> {
    let exe = std::env::current_exe().map_err(|e| fail(5, format!("current_exe: {e}")))?;
    std::process::Command::new(exe)
        .args(["bench-child", region, role, &rounds.to_string()])
        .spawn()
        .map_err(|e| {
            fail(
                5,
                format!("cannot start the benchmark's second process: {e}"),
            )
        })
}

const CHILD_WAIT: Option<Duration> = Some(Duration::from_secs(30));

fn bench(rounds: u64) -> Res<u8> {
    let name = format!("plexus-bench-{}", std::process::id());
    let _cleanup = RemoveOnDrop(name.clone());
    let r = Region::open(
        &name,
        &OpenOptions {
            mode: OpenMode::Create,
            size: 16 << 20,
            ..OpenOptions::default()
        },
    )?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    out!(
        "plexus bench: {rounds} round trips per test, {cpus} CPUs, region {}",
        r.path().display()
    );

    // 1. faa in one process, in batches of 1000.
    let a = r.array("bench", 2, 0)?;
    a.write(0, ValueRef::Int(0))?;
    let mut per_op = Vec::new();
    for _ in 0..(rounds / 100).clamp(20, 1000) {
        let t = Instant::now();
        for _ in 0..1000 {
            a.faa(0, ValueRef::Int(1))?;
        }
        per_op.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    let s = sorted(per_op);
    out!(
        "  faa (atomic add), one process:              median {:>9} per op   p99 {:>9}",
        ns_text(percentile(&s, 0.5)),
        ns_text(percentile(&s, 0.99))
    );

    // 2. write_ef/read_fe ping-pong between two processes.
    let p = r.array("pingpong", 2, 0)?;
    let mut child = spawn_child(&name, "pingpong", rounds)?;
    let mut rt = Vec::with_capacity(rounds as usize);
    let result = (|| -> plexus::Result<()> {
        for i in 0..rounds {
            let t = Instant::now();
            p.write_ef(0, ValueRef::Int(i as i64), CHILD_WAIT)?;
            p.read_fe(1, CHILD_WAIT)?;
            rt.push(t.elapsed().as_nanos() as f64);
        }
        Ok(())
    })();
    let status = child.wait().map_err(|e| fail(5, e.to_string()))?;
    result?;
    if !status.success() {
        return Err(fail(5, "the benchmark's second process failed"));
    }
    let s = sorted(rt);
    out!(
        "  write_ef/read_fe round trip, 2 processes:  median {:>9}          p99 {:>9}",
        ns_text(percentile(&s, 0.5)),
        ns_text(percentile(&s, 0.99))
    );

    // 3. Queue throughput: a producer process pushes, this one pops; three runs.
    let q = r.queue("throughput", 1024, 0)?;
    let n = rounds * 10;
    let mut rates = Vec::new();
    for _ in 0..3 {
        let mut child = spawn_child(&name, "producer", n)?;
        let first = q.pop(CHILD_WAIT)?; // the clock starts at the first value
        let t = Instant::now();
        let mut ok = first == Value::Int(0);
        for i in 1..n {
            ok &= q.pop(CHILD_WAIT)? == Value::Int(i as i64);
        }
        let secs = t.elapsed().as_secs_f64();
        let status = child.wait().map_err(|e| fail(5, e.to_string()))?;
        if !ok || !status.success() {
            return Err(fail(
                5,
                "queue benchmark: values arrived wrong or the producer failed",
            ));
        }
        rates.push((n - 1) as f64 / secs);
    }
    let s = sorted(rates);
    out!(
        "  queue push -> pop, 2 processes:            median {:>6.2} M values/s (3 runs of {n})",
        percentile(&s, 0.5) / 1e6
    );
    Ok(0)
}

fn bench_child(region: &str, role: &str, rounds: u64) -> Res<u8> {
    let r = open_existing(region)?;
    match role {
        "pingpong" => {
            let p = r.array("pingpong", 0, 0)?;
            for _ in 0..rounds {
                let v = p.read_fe(0, CHILD_WAIT)?;
                p.write_ef(1, v.as_ref(), CHILD_WAIT)?;
            }
        }
        "producer" => {
            let q = r.queue("throughput", 0, 0)?;
            for i in 0..rounds {
                q.push(ValueRef::Int(i as i64), CHILD_WAIT)?;
            }
        }
        other => return Err(fail(2, format!("unknown role {other}"))),
    }
    Ok(0)
}
