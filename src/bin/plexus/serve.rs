//! `plexus serve`: a read-only HTTP view of regions, for dashboards and `curl`
//! (docs/cli.md has the routes and the event-stream format).
//!
//! Connections: one thread accepts; every connection gets a thread of its own (at most
//! [`MAX_CONNECTIONS`] at once, then 503), with read and write timeouts, so a slow or
//! stalled client holds only its own thread and never anything in a region. A request
//! head is parsed by `httparse` from a buffer of at most [`MAX_HEAD`] bytes (larger:
//! 431) that must arrive within [`HEAD_TIMEOUT`] (408); only GET is served (405), and a
//! request that announces a body is refused (413) without reading it. One request per
//! connection (`Connection: close`).
//!
//! Event streams (`?watch`, at most `--max-streams` at once, then 503) wait on an
//! element's version or a map's change count, in slices of [`SLICE`]: between slices
//! they look whether the client has gone and whether the server is stopping, and every
//! [`KEEPALIVE`] without an event they send a comment line, so a dead peer is noticed
//! and its thread ends. No polling of the region: nothing runs while nothing changes.
//!
//! Read only: values are read with the calls `dump` uses (`read`, `is_full`, `version`,
//! `watch`, `change_count`, `wait_changes`, `changes`, the snapshot of each kind), never
//! with a call that changes a value or a tag or waits on a tag (no `read_fe`, `read_ff`,
//! `read_rw`): an element lock is held only while a value is copied, as by any reader,
//! and a writer never waits for this server longer than that. Crash safety: the server
//! is one more attached reader; killed at any instant (kill -9), it leaves at most its
//! process-table entry in a local region (cleared by the next open, as for any process)
//! and its lease on a remote one (which expires).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use plexus::{backend, Error, ObjectSummary, Value};
use serde_json::{json, Value as Json};

use super::{
    element_json, fail, info_json, listed, listed_json, remote_info_json, shm_regions, shown,
    snapshot_json, Listed, Opened, RemoteSummary, Res,
};

/// The largest request head (request line and headers) read: larger ones get 431.
const MAX_HEAD: usize = 16 * 1024;
/// The most header lines in a request: more get 431.
const MAX_HEADERS: usize = 64;
/// Connections served at once (event streams included): more get 503.
const MAX_CONNECTIONS: usize = 128;
/// The time a client has to send its whole request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The time one write to a client may take before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The slices an event stream waits in (between them it checks its client).
const SLICE: Duration = Duration::from_millis(500);
/// An event stream that sent nothing for this long sends a comment line.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Set by SIGINT or SIGTERM: the server stops accepting, streams end, handles close.
static STOP: AtomicBool = AtomicBool::new(false);

/// A path segment as it is written in a URL: everything but letters, digits and `-._~`
/// percent-encoded (so `/`, `:`, `@`, `?`, `%` and spaces inside a name are too).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The path segment for `name`.
fn encode(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// An answer other than 200: its status and message (sent as a JSON error body).
#[derive(Debug)]
struct Refusal {
    status: u16,
    message: String,
    /// From `Error::Removed`: the region (or object) was removed since it was opened.
    removed: bool,
}

fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
        removed: false,
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        let status = match &e {
            Error::NotFound(_) | Error::Removed(_) => 404,
            Error::InvalidArgument(_) | Error::OutOfRange { .. } => 400,
            Error::Unsupported(_) => 501,
            Error::Unavailable(_) => 503,
            _ => 500,
        };
        Refusal {
            removed: matches!(e, Error::Removed(_)),
            ..refuse(status, e.to_string())
        }
    }
}

type Answer<T> = std::result::Result<T, Refusal>;

/// What a request asks for.
enum Reply {
    Json(Json),
    Watch(Watch),
}

/// An event stream.
enum Watch {
    /// Of one map key or array element.
    Element(backend::Region, ObjectSummary, String),
    /// Of a whole map.
    Map(backend::Region, ObjectSummary),
}

struct Server {
    /// The regions named on the command line; empty: the regions in /dev/shm.
    named: Vec<String>,
    /// Regions opened so far (by their real name), kept open for the next requests.
    open: Mutex<HashMap<String, Arc<Opened>>>,
    connections: AtomicUsize,
    streams: AtomicUsize,
    max_streams: usize,
}

/// Takes one from `counter` when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Adds one to `counter` if it is below `max`; false if it is not.
fn reserve(counter: &AtomicUsize, max: usize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

pub fn serve(listen: &str, regions: &[String], max_streams: usize) -> Res<u8> {
    let addrs: Vec<_> = listen
        .to_socket_addrs()
        .map_err(|e| fail(2, format!("--listen {listen}: {e} (give HOST:PORT)")))?
        .collect();
    let listener = TcpListener::bind(&addrs[..])
        .map_err(|e| fail(5, format!("cannot listen on {listen}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| fail(5, format!("cannot listen on {listen}: {e}")))?;
    if let Some(warning) = exposure_warning(bound) {
        eprintln!("plexus serve: WARNING: {warning}");
    }
    // Regions named are checked once at the start (a typo is better said now); they
    // may still vanish and come back later.
    for r in regions {
        if let Err(e) = listed(r) {
            if matches!(e, Error::InvalidArgument(_) | Error::Unsupported(_)) {
                return Err(e.into());
            }
            eprintln!("plexus serve: {}: {e} (served anyway)", shown(r));
        }
    }
    stop_on_signals(&listener)?;
    let server = Arc::new(Server {
        named: regions.to_vec(),
        open: Mutex::new(HashMap::new()),
        connections: AtomicUsize::new(0),
        streams: AtomicUsize::new(0),
        max_streams,
    });
    // The first line says where (tests read the port of `--listen 127.0.0.1:0` here).
    println!(
        "plexus serve: listening on http://{bound}/regions ({}; Ctrl-C to stop)",
        if regions.is_empty() {
            "the regions in /dev/shm".to_string()
        } else {
            format!("{} region(s)", regions.len())
        }
    );
    let _ = std::io::stdout().flush();
    for conn in listener.incoming() {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else {
            // Out of file descriptors, or the like: do not spin on it.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if !reserve(&server.connections, MAX_CONNECTIONS) {
            // Answered from here, without reading the request: a new socket's send
            // buffer takes the short answer at once, and the timeout bounds the rest.
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            send_refusal(
                &stream,
                &refuse(503, "too many connections; try again later"),
            );
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        // The place reserved is given back by the connection's thread.
        let this = server.clone();
        let spawned = std::thread::Builder::new()
            .name("plexus-serve".into())
            .spawn(move || {
                let _slot = Slot(&this.connections);
                this.connection(stream);
            });
        if spawned.is_err() {
            server.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
    // Streams notice STOP within a slice; plain requests end within their timeouts.
    let deadline = Instant::now() + HEAD_TIMEOUT;
    while server.connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server
        .open
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    eprintln!("plexus serve: stopped");
    Ok(0)
}

/// What to say when the server listens where other machines may reach it (any address
/// but a loopback one: 0.0.0.0, ::, a LAN address); None for 127.0.0.0/8 and ::1.
fn exposure_warning(addr: std::net::SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "listening on {addr}: the regions served are readable from other machines, by \
             anyone who can reach this address, with no authentication"
        )
    })
}

/// SIGINT and SIGTERM stop the server: they are blocked in every thread (the threads
/// made later inherit the mask) and taken by one thread with `sigwait`, which shuts
/// the listening socket down so that `accept` returns, and sets [`STOP`].
fn stop_on_signals(listener: &TcpListener) -> Res<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain libc calls on a local signal set; `sigwait` writes the signal number
    // into a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(fail(5, "cannot block SIGINT and SIGTERM"));
        }
        let fd = listener.as_raw_fd();
        let set = SigSet(set);
        std::thread::Builder::new()
            .name("plexus-serve-signals".into())
            .spawn(move || {
                let set = set;
                let mut sig = 0;
                while libc::sigwait(&set.0, &mut sig) != 0 {}
                // Linux: accept() on a listening socket shut down returns EINVAL at
                // once; the accept loop then sees STOP. (In this order, so that the
                // socket is still open when it is shut down: the loop ends, and the
                // socket is closed, only once STOP is set.)
                libc::shutdown(fd, libc::SHUT_RDWR);
                STOP.store(true, Ordering::SeqCst);
            })
            .map_err(|e| fail(5, format!("cannot start the signal thread: {e}")))?;
    }
    Ok(())
}

struct SigSet(libc::sigset_t);
// SAFETY: a sigset_t is plain data.
unsafe impl Send for SigSet {}

/// A request head, parsed.
struct Request {
    method: String,
    target: String,
    last_event_id: Option<String>,
    /// Content-Length above 0, or any Transfer-Encoding.
    has_body: bool,
}

/// Reads and parses the request head (never more than [`MAX_HEAD`] bytes, within
/// [`HEAD_TIMEOUT`]); never reads a body.
fn read_head(stream: &mut TcpStream) -> Answer<Option<Request>> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(refuse(408, "the request head did not arrive in time"));
        }
        let _ = stream.set_read_timeout(Some(left));
        let n = match stream.read(&mut buf[len..]) {
            Ok(0) => return Ok(None), // closed before a whole request
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(refuse(408, "the request head did not arrive in time"))
            }
            Err(_) => return Ok(None),
        };
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
                };
                let has_body = header("transfer-encoding").is_some()
                    || header("content-length").is_some_and(|v| v != "0");
                return Ok(Some(Request {
                    method: req.method.unwrap_or_default().to_owned(),
                    target: req.path.unwrap_or_default().to_owned(),
                    last_event_id: header("last-event-id"),
                    has_body,
                }));
            }
            Ok(httparse::Status::Partial) if len == buf.len() => {
                return Err(refuse(
                    431,
                    format!("request head larger than {MAX_HEAD} bytes"),
                ))
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(refuse(431, format!("more than {MAX_HEADERS} header lines")))
            }
            Err(e) => return Err(refuse(400, format!("bad request: {e}"))),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Writes a whole response (the connection closes after it).
fn send(mut stream: &TcpStream, status: u16, extra_headers: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n{extra_headers}\r\n",
        reason(status),
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush());
}

fn send_json(stream: &TcpStream, status: u16, extra_headers: &str, j: &Json) {
    let mut body = serde_json::to_vec_pretty(j).unwrap_or_default();
    body.push(b'\n');
    send(stream, status, extra_headers, &body);
}

fn send_refusal(stream: &TcpStream, r: &Refusal) {
    let allow = if r.status == 405 {
        "Allow: GET\r\n"
    } else {
        ""
    };
    send_json(
        stream,
        r.status,
        allow,
        &json!({ "error": r.message, "status": r.status }),
    );
}

/// Ends a connection whose request may not have been read whole: stops writing, then
/// reads (and drops) what the client still sends, a bounded amount for a bounded time,
/// so that closing does not reset the connection before the client read the answer.
fn finish(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut sink = [0u8; 16 * 1024];
    let mut total = 0usize;
    let mut s = stream;
    while total < (1 << 20) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// A query parameter, decoded: `?watch` is `("watch", "")`.
type Param = (String, String);

/// Splits a request target into its decoded path segments and query parameters.
/// Every `%` must start a `%XX` escape and the decoded text must be UTF-8 (else 400).
fn parse_target(target: &str) -> Answer<(Vec<String>, Vec<Param>)> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(path) = path.strip_prefix('/') else {
        return Err(refuse(400, format!("bad request target {target:?}")));
    };
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').map(decode).collect::<Answer<_>>()?
    };
    let mut params = Vec::new();
    for p in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        params.push((decode(k)?, decode(v)?));
    }
    Ok((segments, params))
}

fn decode(s: &str) -> Answer<String> {
    let b = s.as_bytes();
    for (i, _) in b.iter().enumerate().filter(|(_, c)| **c == b'%') {
        let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
        if !(hex(i + 1) && hex(i + 2)) {
            return Err(refuse(
                400,
                format!("bad percent-encoding in {s:?} (a % starts %XX)"),
            ));
        }
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| refuse(400, format!("{s:?} does not decode to UTF-8 text")))
}

impl Server {
    fn connection(&self, mut stream: TcpStream) {
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let req = match read_head(&mut stream) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(r) => {
                send_refusal(&stream, &r);
                return finish(&stream);
            }
        };
        if req.method != "GET" {
            send_refusal(
                &stream,
                &refuse(
                    405,
                    format!("{} is not served: this view is read only (GET)", req.method),
                ),
            );
            return finish(&stream);
        }
        if req.has_body {
            send_refusal(&stream, &refuse(413, "a GET here takes no request body"));
            return finish(&stream);
        }
        match self.route(&req.target) {
            Ok(Reply::Json(j)) => send_json(&stream, 200, "", &j),
            Ok(Reply::Watch(watch)) => {
                if !reserve(&self.streams, self.max_streams) {
                    return send_refusal(
                        &stream,
                        &refuse(
                            503,
                            format!(
                                "{} event streams are open already (--max-streams); try again later",
                                self.max_streams
                            ),
                        ),
                    );
                }
                let _slot = Slot(&self.streams);
                let last = req.last_event_id.as_deref().and_then(|s| s.parse().ok());
                match watch {
                    Watch::Element(r, o, key) => stream_element(&stream, &r, &o, &key, last),
                    Watch::Map(r, o) => stream_map(&stream, &r, &o, last),
                }
            }
            Err(r) => send_refusal(&stream, &r),
        }
    }

    fn route(&self, target: &str) -> Answer<Reply> {
        let (segments, params) = parse_target(target)?;
        let mut watch = false;
        for (k, _) in &params {
            match k.as_str() {
                "watch" => watch = true,
                other => {
                    return Err(refuse(
                        400,
                        format!("unknown query parameter {other:?} (there is only ?watch)"),
                    ))
                }
            }
        }
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        if watch && s.len() < 3 {
            return Err(refuse(
                400,
                "?watch follows an object (/regions/NAME/MAP) or a key (/regions/NAME/OBJECT/KEY)",
            ));
        }
        match s[..] {
            [] => Ok(Reply::Json(json!({
                "routes": {
                    "/regions": "the regions served",
                    "/regions/NAME": "a region's information and objects",
                    "/regions/NAME/OBJECT": "an object's contents (as dump --json writes it)",
                    "/regions/NAME/OBJECT/KEY": "one map key or array element",
                    "/regions/NAME/MAP?watch": "the map's changes as server-sent events",
                    "/regions/NAME/OBJECT/KEY?watch": "the key's or element's changes as server-sent events",
                },
                "names": "percent-encoded: / as %2F, : as %3A",
            }))),
            ["regions"] => Ok(Reply::Json(self.list())),
            ["regions", region] => self.info(region),
            ["regions", region, object] => self.with_region(region, |_, r| {
                let o = find(r, object)?;
                if !watch {
                    return Ok(Reply::Json(snapshot_json(&r.snapshot(&o)?)));
                }
                match o.kind {
                    "map" => Ok(Reply::Watch(Watch::Map(r.backend(), o))),
                    kind => Err(refuse(
                        400,
                        format!(
                            "a whole {kind} has no change stream: watch a map, or one key or \
                             element (/regions/NAME/OBJECT/KEY?watch)"
                        ),
                    )),
                }
            }),
            ["regions", region, object, key] => self.with_region(region, |_, r| {
                let o = find(r, object)?;
                let br = r.backend();
                if watch {
                    // Checked now, so that a bad key is a 404/400, not an empty stream.
                    element(&br, &o, key)?;
                    return Ok(Reply::Watch(Watch::Element(br, o, key.to_owned())));
                }
                let (value, full, version) = element(&br, &o, key)?;
                if o.kind == "map" && version == 0 {
                    return Err(refuse(404, format!("map '{}' has no key {key:?}", o.name)));
                }
                Ok(Reply::Json(element_json(&value, Some((full, version)))))
            }),
            _ => Err(refuse(
                404,
                format!("no such page: {target} (GET / lists the routes)"),
            )),
        }
    }

    /// The real name of a region a request names (its name, or the name as shown, with
    /// the password of a remote one replaced by `***`), if it is served.
    fn resolve(&self, name: &str) -> Answer<String> {
        let found = if self.named.is_empty() {
            shm_regions().into_iter().find(|n| n == name)
        } else {
            self.named
                .iter()
                .find(|n| *n == name || shown(n) == name)
                .cloned()
        };
        found.ok_or_else(|| {
            refuse(
                404,
                format!("no region {name:?} is served here (GET /regions lists them)"),
            )
        })
    }

    /// Runs `f` on the open region named `name` (opened now if it is not yet); a region
    /// removed or replaced since it was opened is opened again, once.
    fn with_region<T>(&self, name: &str, f: impl Fn(&str, &Opened) -> Answer<T>) -> Answer<T> {
        let real = self.resolve(name)?;
        for attempt in 0..2 {
            let cached = self
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&real)
                .cloned();
            let r = match cached {
                Some(r) => r,
                None => {
                    // Opened without the lock held: a slow server delays only this request.
                    let r = Arc::new(
                        Opened::open(&real).map_err(|e| refuse(status_of(e.code), e.message))?,
                    );
                    self.open
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(real.clone(), r.clone());
                    r
                }
            };
            match f(&real, &r) {
                Err(e) if attempt == 0 && e.removed => {
                    self.open
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&real);
                }
                other => return other,
            }
        }
        Err(refuse(404, format!("region {name:?} was removed")))
    }

    /// `GET /regions`: a row of `ls --json` for each region served, with its `href`.
    fn list(&self) -> Json {
        let names = if self.named.is_empty() {
            shm_regions()
        } else {
            self.named.clone()
        };
        Json::Array(
            names
                .iter()
                .map(|n| {
                    let row = listed(n).unwrap_or_else(Listed::Unreadable);
                    let mut j = listed_json(&shown(n), &row);
                    j["href"] = json!(format!("/regions/{}", encode(&shown(n))));
                    j
                })
                .collect(),
        )
    }

    /// `GET /regions/NAME`: what `info --json` writes. A local region is read as `info`
    /// reads it, from its file, without attaching to it.
    fn info(&self, name: &str) -> Answer<Reply> {
        let real = self.resolve(name)?;
        if !backend::is_remote(&real) {
            return Ok(Reply::Json(info_json(&real, &plexus::inspect(&real)?)));
        }
        self.with_region(name, |real, r| {
            let info = r.info()?;
            let summary = RemoteSummary {
                // This server's own handle is left out, as `info` leaves out its own.
                others: info.attached_processes.saturating_sub(1),
                info,
            };
            Ok(Reply::Json(remote_info_json(real, &summary, &r.objects()?)))
        })
    }
}

/// The HTTP status for an exit code of the tool's failures.
fn status_of(code: u8) -> u16 {
    match code {
        2 => 400,
        3 => 404,
        6 => 501,
        _ => 500,
    }
}

fn find(r: &Opened, name: &str) -> Answer<ObjectSummary> {
    r.objects()?
        .into_iter()
        .find(|o| o.name == name)
        .ok_or_else(|| {
            refuse(
                404,
                format!("region {} has no object named {name:?}", r.shown_name()),
            )
        })
}

/// One map key's or array element's value, tag and version (version 0: an absent map
/// key). The value and version are read as one consistent pair (a watch that returns
/// at once: no version is `u64::MAX`).
fn element(r: &backend::Region, o: &ObjectSummary, key: &str) -> Answer<(Value, bool, u64)> {
    let mut version = u64::MAX;
    match o.kind {
        "map" => {
            let m = r.map(&o.name, 0, 0)?;
            let v = m.watch(key, &mut version, Some(Duration::ZERO))?;
            let full = version != 0 && m.is_full(key)?;
            Ok((v, full, version))
        }
        "array" => {
            let a = r.array(&o.name, 0, 0)?;
            let i = index(key, a.len())?;
            let v = a.watch(i, &mut version, Some(Duration::ZERO))?;
            Ok((v, a.is_full(i)?, version))
        }
        kind => Err(refuse(
            404,
            format!(
                "{kind} '{}' has no keys (GET /regions/NAME/{} gives its contents)",
                o.name,
                encode(&o.name)
            ),
        )),
    }
}

fn index(key: &str, len: u64) -> Answer<u64> {
    match key.parse::<u64>() {
        Ok(i) if i < len => Ok(i),
        Ok(i) => Err(refuse(
            404,
            format!("index {i} out of range (length {len})"),
        )),
        Err(_) => Err(refuse(
            400,
            format!("{key:?} is not an array index (0, 1, ...)"),
        )),
    }
}

/// An event stream's connection: writes events, keep-alive comments, and notices a
/// client that has gone.
struct Events<'a> {
    stream: &'a TcpStream,
    last_write: Instant,
}

impl<'a> Events<'a> {
    /// Sends the response head of an event stream.
    fn start(stream: &'a TcpStream) -> Option<Events<'a>> {
        let mut e = Events {
            stream,
            last_write: Instant::now(),
        };
        e.write(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
             Connection: close\r\n\r\n: plexus serve: one event per change\n\n",
        )
        .then_some(e)
    }

    fn write(&mut self, text: &str) -> bool {
        let mut s = self.stream;
        let ok = s
            .write_all(text.as_bytes())
            .and_then(|()| s.flush())
            .is_ok();
        self.last_write = Instant::now();
        ok
    }

    /// Sends one event; false when the client has gone.
    fn event(&mut self, kind: &str, id: u64, data: &Json) -> bool {
        self.write(&format!("id: {id}\nevent: {kind}\ndata: {data}\n\n"))
    }

    /// Between two wait slices: false when the server stops or the client has gone
    /// (it closed its side, or a keep-alive comment cannot be written).
    fn alive(&mut self) -> bool {
        if STOP.load(Ordering::SeqCst) {
            return false;
        }
        if self.last_write.elapsed() >= KEEPALIVE && !self.write(": keep-alive\n\n") {
            return false;
        }
        !self.client_gone()
    }

    /// An event-stream client sends nothing after its request: a socket that has
    /// something to read is closed (end of file) or reset, or the client is not one.
    fn client_gone(&self) -> bool {
        let mut b = [0u8; 1];
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let r = self.stream.peek(&mut b);
        let restored = self.stream.set_nonblocking(false).is_ok();
        !restored || !matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Ends a stream with an `end` event saying why (the object was removed, ...). It
    /// has no id: a client's last event id stays the last change it was sent.
    fn end(&mut self, e: &Error) {
        let data = json!({ "error": e.to_string() });
        self.write(&format!("event: end\ndata: {data}\n\n"));
    }
}

/// The data of an element event: `{"key": ..., "value": ..., "full": ..., "version": ...}`
/// (`{"key": ..., "removed": true, "version": 0}` for an absent map key).
fn element_event(key: Json, value: &Value, full: bool, version: u64, absent: bool) -> Json {
    let mut j = json!({ "key": key });
    if absent {
        j["removed"] = json!(true);
        j["version"] = json!(0);
    } else if let (Json::Object(j), Json::Object(e)) =
        (&mut j, element_json(value, Some((full, version))))
    {
        j.extend(e);
    }
    j
}

/// `GET /regions/NAME/OBJECT/KEY?watch`: an event per new state of one map key or
/// array element (the current state first, unless the client's Last-Event-ID is the
/// current version), waiting on its version.
fn stream_element(
    stream: &TcpStream,
    r: &backend::Region,
    o: &ObjectSummary,
    key: &str,
    last_event_id: Option<u64>,
) {
    let Some(mut ev) = Events::start(stream) else {
        return;
    };
    // No real version is u64::MAX: the first watch returns the current state.
    let mut seen = last_event_id.unwrap_or(u64::MAX);
    enum Target {
        Map(backend::Map, String),
        Array(backend::Array, u64),
    }
    let target = match o.kind {
        "map" => r.map(&o.name, 0, 0).map(|m| Target::Map(m, key.to_owned())),
        _ => r
            .array(&o.name, 0, 0)
            .map(|a| Target::Array(a, key.parse().unwrap_or(u64::MAX))),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => return ev.end(&e),
    };
    let watch = |seen: &mut u64| -> plexus::Result<(Value, bool, Json)> {
        match &target {
            Target::Map(m, key) => {
                let v = m.watch(key, seen, Some(SLICE))?;
                let full = *seen != 0 && m.is_full(key)?;
                Ok((v, full, json!(key)))
            }
            Target::Array(a, i) => {
                let v = a.watch(*i, seen, Some(SLICE))?;
                Ok((v, a.is_full(*i)?, json!(i)))
            }
        }
    };
    loop {
        match watch(&mut seen) {
            Ok((v, full, k)) => {
                let absent = seen == 0 && matches!(target, Target::Map(..));
                if !ev.event("value", seen, &element_event(k, &v, full, seen, absent)) {
                    return;
                }
            }
            Err(Error::Timeout) => {}
            Err(e) => return ev.end(&e),
        }
        if !ev.alive() {
            return;
        }
    }
}

/// `GET /regions/NAME/MAP?watch`: a `snapshot` event with every entry (id: the map's
/// change count it was listed at), then a `change` event per changed key (id: the
/// change count of that change), waiting on the map's change count. With a
/// Last-Event-ID, the changes after it instead of the snapshot (a snapshot when the
/// map no longer records them all).
fn stream_map(stream: &TcpStream, r: &backend::Region, o: &ObjectSummary, last: Option<u64>) {
    let m = match r.map(&o.name, 0, 0) {
        Ok(m) => m,
        Err(e) => return send_refusal(stream, &e.into()),
    };
    let mut counter = match m.change_count() {
        Ok(c) => c,
        Err(e) => return send_refusal(stream, &e.into()),
    };
    let Some(mut ev) = Events::start(stream) else {
        return;
    };
    // The last version sent per key, so that a key listed twice (it changed again while
    // being read) is sent once per new state.
    let mut sent: HashMap<String, u64> = HashMap::new();
    let snapshot = |ev: &mut Events, sent: &mut HashMap<String, u64>| -> plexus::Result<u64> {
        let at = m.change_count()?;
        let mut entries = serde_json::Map::new();
        let mut cursor = 0;
        sent.clear();
        while let Some(k) = m.next_key(&mut cursor)? {
            let mut version = u64::MAX;
            let v = m.watch(&k, &mut version, Some(Duration::ZERO))?;
            if version == 0 {
                continue; // removed meanwhile
            }
            let full = m.is_full(&k)?;
            sent.insert(k.clone(), version);
            entries.insert(k, element_json(&v, Some((full, version))));
        }
        ev.event("snapshot", at, &json!({ "entries": entries }));
        Ok(at)
    };
    let mut listed = match last {
        // (An id above the count now is from another map of that name: a snapshot.)
        Some(id) if id <= counter => id,
        _ => match snapshot(&mut ev, &mut sent) {
            Ok(at) => at,
            Err(e) => return ev.end(&e),
        },
    };
    loop {
        if counter != listed {
            // The changes after `listed`, in the order they were made.
            let mut changes = Vec::new();
            let mut cursor = 0;
            let listing = loop {
                match m.changes(listed, &mut cursor, 256) {
                    Ok(batch) if batch.is_empty() => break Ok(()),
                    Ok(batch) => changes.extend(batch),
                    Err(e) => break Err(e),
                }
            };
            match listing {
                Ok(()) => {}
                // Removals after `listed` are no longer all recorded: start again.
                Err(Error::OutOfRange { .. }) => match snapshot(&mut ev, &mut sent) {
                    Ok(at) => {
                        listed = at;
                        continue;
                    }
                    Err(e) => return ev.end(&e),
                },
                Err(e) => return ev.end(&e),
            }
            changes.sort_by_key(|c| c.counter);
            for c in changes {
                listed = listed.max(c.counter);
                let (v, full, version) = if c.removed {
                    (Value::Undefined, false, 0)
                } else {
                    let mut version = u64::MAX;
                    let v = match m.watch(&c.key, &mut version, Some(Duration::ZERO)) {
                        Ok(v) => v,
                        Err(e) => return ev.end(&e),
                    };
                    let full = version != 0 && m.is_full(&c.key).unwrap_or(false);
                    (v, full, version)
                };
                if sent.insert(c.key.clone(), version) == Some(version) {
                    continue;
                }
                if !ev.event(
                    "change",
                    c.counter,
                    &element_event(json!(c.key), &v, full, version, version == 0),
                ) {
                    return;
                }
            }
            listed = listed.max(counter);
        }
        match m.wait_changes(&mut counter, Some(SLICE)) {
            Ok(()) | Err(Error::Timeout) => {}
            Err(e) => return ev.end(&e),
        }
        if !ev.alive() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_go_without_a_warning() {
        for quiet in ["127.0.0.1:8700", "127.1.2.3:1", "[::1]:8700"] {
            assert_eq!(exposure_warning(quiet.parse().unwrap()), None, "{quiet}");
        }
        for loud in [
            "0.0.0.0:8700",
            "[::]:8700",
            "192.168.1.5:80",
            "10.0.0.1:8700",
        ] {
            let w = exposure_warning(loud.parse().unwrap());
            assert!(w.is_some_and(|w| w.contains("no authentication")), "{loud}");
        }
    }

    #[test]
    fn paths_are_split_then_decoded() {
        let (segs, params) = parse_target("/regions/redis%3A%2F%2Fh%3A1%2Fx/a%20b/?watch").unwrap();
        assert_eq!(segs, ["regions", "redis://h:1/x", "a b"]);
        assert_eq!(params, [("watch".to_owned(), String::new())]);
        assert_eq!(parse_target("/").unwrap().0, Vec::<String>::new());
        for bad in ["/x%", "/x%4", "/x%zz", "/%C3%28", "x", "?watch"] {
            assert_eq!(
                parse_target(bad).err().map(|r| r.status),
                Some(400),
                "{bad}"
            );
        }
        assert_eq!(encode("redis://h:1/x y"), "redis%3A%2F%2Fh%3A1%2Fx%20y");
    }
}
