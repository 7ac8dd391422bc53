//! `plexus serve`: the real binary on a free 127.0.0.1 port, real HTTP requests (ureq,
//! and raw sockets for what a client library would refuse to send), real event streams
//! read while this process writes the regions, on shared memory and on a redis:// region.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::process::{wait_within, Kid};
use common::RegionName;
use plexus::{backend, OpenOptions, Value, ValueRef};
use serde_json::{json, Value as Json};

const BIN: &str = env!("CARGO_BIN_EXE_plexus");
/// How long a test waits for an answer or an event before it fails (a hang guard, not a
/// timing requirement).
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `plexus serve`, SIGKILLed when dropped (tests that stop it use SIGTERM).
struct Served {
    kid: Kid,
    /// `http://127.0.0.1:PORT`
    base: String,
    /// `127.0.0.1:PORT`
    addr: String,
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let kid = Kid::from(child);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in the first line of plexus serve: {line:?}"));
    let base = url.trim_end_matches("/regions").to_owned();
    let addr = base.trim_start_matches("http://").to_owned();
    Served { kid, base, addr }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(PATIENCE))
        .build()
        .into()
}

/// GET `path`: the status and the JSON body (every answer, errors included, is JSON).
fn get(s: &Served, path: &str) -> (u16, Json) {
    let mut resp = agent()
        .get(format!("{}{path}", s.base))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.body_mut().read_to_string().unwrap();
    assert_eq!(ctype, "application/json", "GET {path}: {text}");
    let j = serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"));
    (status, j)
}

fn get_ok(s: &Served, path: &str) -> Json {
    let (status, j) = get(s, path);
    assert_eq!(status, 200, "GET {path}: {j}");
    j
}

/// An error answer: the status, and a JSON body with the message and the same status.
fn get_err(s: &Served, path: &str, status: u16) -> String {
    let (got, j) = get(s, path);
    assert_eq!(got, status, "GET {path}: {j}");
    assert_eq!(j["status"], json!(status), "{j}");
    j["error"].as_str().unwrap().to_owned()
}

/// Sends `request` as it is over a raw socket and reads the answer to its end: the
/// status and the body.
fn raw(s: &Served, request: &[u8]) -> (u16, String) {
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    // The server may answer (and stop reading) before the whole request is sent.
    let _ = c.write_all(request);
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|b| b.1).unwrap_or_default();
    (status, body.to_owned())
}

/// What the tool itself writes for `plexus ARGS...` (`dump --json`, `info --json`).
fn tool_json(args: &[&str]) -> Json {
    let o = Command::new(BIN).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A path segment for `name` (percent-encoded as the server expects).
fn seg(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One server-sent event.
#[derive(Debug)]
struct Event {
    /// None only for `end` (see [`Event::id`]).
    id_field: Option<u64>,
    kind: String,
    data: Json,
}

/// An event stream read on a thread (ureq), its events handed over as they arrive.
struct Stream {
    rx: mpsc::Receiver<Event>,
}

fn watch(s: &Served, path: &str, last_event_id: Option<u64>) -> Stream {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(None)
        .build()
        .into();
    let mut req = agent.get(format!("{}{path}", s.base));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let resp = req.call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut lines = BufReader::new(resp.into_body().into_reader()).lines();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut id, mut kind, mut data) = (None, String::new(), String::new());
        while let Some(Ok(line)) = lines.next() {
            if line.is_empty() {
                if !data.is_empty() {
                    let e = Event {
                        id_field: id.take(),
                        kind: std::mem::take(&mut kind),
                        data: serde_json::from_str(&std::mem::take(&mut data)).unwrap(),
                    };
                    if tx.send(e).is_err() {
                        return;
                    }
                }
            } else if line.starts_with(':') {
                // A comment (the greeting, keep-alives).
            } else if let Some((field, value)) = line.split_once(": ") {
                match field {
                    "id" => id = Some(value.parse().unwrap()),
                    "event" => kind = value.to_owned(),
                    "data" => data.push_str(value),
                    other => panic!("unknown field {other:?}"),
                }
            } else {
                panic!("not an event-stream line: {line:?}");
            }
        }
    });
    Stream { rx }
}

impl Event {
    /// The id of an event that must have one (every event but `end`).
    fn id(&self) -> u64 {
        self.id_field
            .unwrap_or_else(|| panic!("an event without an id: {self:?}"))
    }
}

impl Stream {
    fn next(&self) -> Event {
        self.rx
            .recv_timeout(PATIENCE)
            .expect("an event from the stream")
    }
}

/// Reads a key's (or element's) events until one has `last` as its value: the values
/// and versions arrive in the order they were written (each a later write than the one
/// before; some may be skipped, as a watcher that is slower than the writer is told in
/// the version), and the last write is seen.
fn follow_key(st: &Stream, key: Json, first: i64, last: i64) {
    let mut prev: Option<(i64, u64)> = None;
    loop {
        let e = st.next();
        assert_eq!(e.kind, "value", "{e:?}");
        assert_eq!(e.data["key"], key, "{e:?}");
        assert_eq!(e.data["version"], json!(e.id()), "{e:?}");
        let v = e.data["value"].as_i64().unwrap();
        assert!(v >= first && v <= last, "{e:?}");
        if let Some((pv, pid)) = prev {
            assert!(v > pv && e.id() > pid, "out of order: {e:?} after {prev:?}");
            // Plain writes move the version by one each.
            assert_eq!(e.id() - pid, (v - pv) as u64, "{e:?} after {prev:?}");
        }
        prev = Some((v, e.id()));
        if v == last {
            return;
        }
    }
}

/// Reads a map's `change` events after the id `after` until one for the key `until`:
/// ids (change counts) increasing, each key's integer values increasing (write order).
/// Returns the last id and the last event of each key.
fn follow_map(st: &Stream, after: u64, until: &str) -> (u64, BTreeMap<String, Json>) {
    let mut last_id = after;
    let mut seen: BTreeMap<String, Json> = Default::default();
    loop {
        let e = st.next();
        assert_eq!(e.kind, "change", "{e:?}");
        assert!(e.id() > last_id, "{e:?} after id {last_id}");
        last_id = e.id();
        let k = e.data["key"].as_str().unwrap().to_owned();
        if let (Some(before), Some(now)) = (
            seen.get(&k).and_then(|p| p["value"].as_i64()),
            e.data["value"].as_i64(),
        ) {
            assert!(now > before, "{k}: {now} after {before}");
        }
        let done = k == until;
        seen.insert(k, e.data);
        if done {
            return (last_id, seen);
        }
    }
}

// ---- shared memory ----

/// A region with a map (keys with '/', ' ' and non-ASCII in them, every kind of value),
/// an array and a queue.
fn populate(r: &backend::Region) {
    let m = r.map("conf/main", 16, 0).unwrap();
    m.write_xf("a/b c", ValueRef::Int(7)).unwrap();
    m.write("é", ValueRef::Bytes(b"hi")).unwrap();
    m.write_xf("f", ValueRef::Float(1.0)).unwrap();
    m.write_xf("u", ValueRef::Undefined).unwrap();
    m.write_xf(
        "o",
        Value::object(&json!({"x": [1, 2.5, "s"]}))
            .unwrap()
            .as_ref(),
    )
    .unwrap();
    let a = r.array("cells", 3, 0).unwrap();
    a.write_xf(0, ValueRef::String("hello")).unwrap();
    a.write(1, ValueRef::Int(42)).unwrap();
    let q = r.queue("work", 4, 0).unwrap();
    q.push(ValueRef::Int(1), None).unwrap();
    q.push(ValueRef::String("two"), None).unwrap();
}

fn shm(tag: &str) -> (backend::Region, RegionName) {
    let (r, name) = common::region(tag, 1 << 20);
    drop(r);
    let r = backend::Region::open(&name, &OpenOptions::default()).unwrap();
    (r, name)
}

/// A region with a map `m` whose key `k` holds 1.
fn with_key(tag: &str) -> (backend::Region, RegionName) {
    let (r, name) = shm(tag);
    r.map("m", 4, 0)
        .unwrap()
        .write("k", ValueRef::Int(1))
        .unwrap();
    (r, name)
}

/// Every route's JSON is what `info --json` and `dump --json` write for the same thing.
fn check_routes(s: &Served, region: &str, href: &str) {
    let info = get_ok(s, href);
    let expected = tool_json(&["info", "--json", region]);
    assert_eq!(info["objects"], expected["objects"], "{info}");
    assert_eq!(info["name"], expected["name"]);
    let names = |j: &Json| -> Vec<String> {
        let mut n: Vec<String> = j.as_object().unwrap().keys().cloned().collect();
        n.sort();
        n
    };
    assert_eq!(names(&info), names(&expected), "same fields as info --json");
    let dump = tool_json(&["dump", "--json", region]);
    for o in dump["objects"].as_array().unwrap() {
        let name = o["name"].as_str().unwrap();
        assert_eq!(&get_ok(s, &format!("{href}/{}", seg(name))), o, "{name}");
    }
    let map = &dump["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "conf/main")
        .unwrap()["entries"];
    for (k, e) in map.as_object().unwrap() {
        let one = get_ok(s, &format!("{href}/conf%2Fmain/{}", seg(k)));
        assert_eq!(&one, e, "{k}");
    }
    assert_eq!(
        get_ok(s, &format!("{href}/cells/0")),
        json!({"value": "hello", "full": true, "version": 1})
    );
    assert_eq!(
        get_ok(s, &format!("{href}/cells/1")),
        json!({"value": 42, "full": false, "version": 1})
    );
}

#[test]
fn routes_serve_what_info_and_dump_write() {
    let (r, name) = shm("serve_routes");
    populate(&r);
    let s = serve(&[&name]);
    let list = get_ok(&s, "/regions");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], json!(name.as_str()));
    assert_eq!(list[0]["objects"], json!(3));
    let href = list[0]["href"].as_str().unwrap().to_owned();
    assert_eq!(href, format!("/regions/{}", seg(&name)));
    check_routes(&s, &name, &href);
    // A trailing slash is the same page; the index lists the routes.
    assert_eq!(get_ok(&s, "/regions/"), get_ok(&s, "/regions"));
    assert!(get_ok(&s, "/")["routes"]["/regions"].is_string());
}

#[test]
fn a_region_file_named_by_its_path_is_served() {
    let dir = common::TempDir::new("serve_path");
    let path = dir.region("with space/and:colon");
    std::fs::create_dir_all(dir.join("with space")).unwrap();
    let r = backend::Region::open(&path, &OpenOptions::default()).unwrap();
    populate(&r);
    let s = serve(&[&path]);
    let list = get_ok(&s, "/regions");
    let href = list[0]["href"].as_str().unwrap().to_owned();
    assert_eq!(href, format!("/regions/{}", seg(&path)));
    assert!(href.contains("%2F") && href.contains("%20") && href.contains("%3A"));
    check_routes(&s, &path, &href);
    drop(s);
    drop(r);
    backend::Region::remove(&path).unwrap();
}

#[test]
fn errors_have_their_status_and_a_json_body() {
    let (r, name) = shm("serve_errors");
    populate(&r);
    let (_other, other) = shm("serve_errors_other");
    let s = serve(&[&name]);
    let n = name.as_str();
    assert!(get_err(&s, "/nothing", 404).contains("no such page"));
    assert!(get_err(&s, "/regions/a/b/c/d/e", 404).contains("no such page"));
    // Only the regions named are served, even if others exist.
    get_err(&s, &format!("/regions/{other}"), 404);
    get_err(&s, "/regions/no-such-region", 404);
    get_err(&s, &format!("/regions/{}", seg(&common::shm_path(n))), 404);
    assert!(get_err(&s, &format!("/regions/{n}/nope"), 404).contains("no object"));
    assert!(get_err(&s, &format!("/regions/{n}/conf%2Fmain/nope"), 404).contains("no key"));
    assert!(get_err(&s, &format!("/regions/{n}/cells/3"), 404).contains("out of range"));
    get_err(&s, &format!("/regions/{n}/cells/x"), 400);
    assert!(get_err(&s, &format!("/regions/{n}/work/0"), 404).contains("no keys"));
    get_err(&s, &format!("/regions/{n}?nope"), 400);
    get_err(&s, "/regions?watch", 400);
    get_err(&s, &format!("/regions/{n}/work?watch"), 400);
    // Not UTF-8 once decoded.
    get_err(&s, "/regions/%FF%FE", 400);
    // Raw requests: what a client library would not send.
    let req = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    let (st, body) = raw(&s, &req("/regions/%zz"));
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("percent-encoding"), "{body}");
    assert_eq!(raw(&s, &req("/regions/%4")).0, 400);
    assert_eq!(raw(&s, b"HELLO\r\n\r\n").0, 400);
    for method in ["POST", "PUT", "DELETE", "HEAD"] {
        let (st, body) = raw(
            &s,
            format!("{method} /regions HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        assert_eq!(st, 405, "{method}: {body}");
    }
    let (st, body) = raw(
        &s,
        b"GET /regions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(st, 413, "{body}");
    assert!(serde_json::from_str::<Json>(&body).is_ok(), "{body}");
    let (st, _) = raw(
        &s,
        b"GET /regions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(st, 413);
    // A huge header, and too many headers: refused without reading them all.
    let mut big = b"GET /regions HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    big.extend_from_slice(b"\r\n\r\n");
    let (st, body) = raw(&s, &big);
    assert_eq!(st, 431, "{body}");
    let mut many = b"GET /regions HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..200 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(raw(&s, &many).0, 431);
    // The server is still there for the next request.
    assert_eq!(get_ok(&s, "/regions").as_array().unwrap().len(), 1);
}

#[test]
fn without_regions_it_serves_those_in_dev_shm() {
    let (r, name) = shm("serve_all");
    populate(&r);
    let s = serve(&[]);
    let list = get_ok(&s, "/regions");
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == json!(name.as_str()))
        .unwrap_or_else(|| panic!("{name} not in {list}"))
        .clone();
    check_routes(&s, &name, row["href"].as_str().unwrap());
    // Only bare names of /dev/shm: not a path, not a region that does not exist.
    get_err(
        &s,
        &format!("/regions/{}", seg(&common::shm_path(&name))),
        404,
    );
    get_err(&s, "/regions/%2Fetc%2Fpasswd", 404);
    get_err(&s, &format!("/regions/{name}-not-there"), 404);
}

#[test]
fn streams_a_key_and_a_map_as_they_change() {
    let (r, name) = shm("serve_stream");
    let m = r.map("m/1", 64, 0).unwrap();
    m.write("k", ValueRef::Int(0)).unwrap();
    m.write("gone", ValueRef::Int(-1)).unwrap();
    let a = r.array("a", 2, 0).unwrap();
    let s = serve(&[&name]);
    let n = name.as_str();

    // One key: its current state first, then every write (or the newest of several).
    let key = watch(&s, &format!("/regions/{n}/m%2F1/k?watch"), None);
    let first = key.next();
    assert_eq!(first.kind, "value");
    assert_eq!(
        first.data,
        json!({"key": "k", "value": 0, "full": false, "version": 1})
    );
    assert_eq!(first.id(), 1);
    // The whole map: a snapshot, then the changes.
    let all = watch(&s, &format!("/regions/{n}/m%2F1?watch"), None);
    let snap = all.next();
    assert_eq!(snap.kind, "snapshot");
    assert_eq!(
        snap.data["entries"],
        json!({"k": {"value": 0, "full": false, "version": 1},
               "gone": {"value": -1, "full": false, "version": 1}})
    );
    // An array element.
    let elem = watch(&s, &format!("/regions/{n}/a/1?watch"), None);
    assert_eq!(elem.next().data["version"], json!(0));

    for i in 1..=200 {
        m.write("k", ValueRef::Int(i)).unwrap();
        a.write(1, ValueRef::Int(i)).unwrap();
    }
    follow_key(&key, json!("k"), 1, 200);
    follow_key(&elem, json!(1), 1, 200);

    m.remove("gone").unwrap();
    for i in 1..=50 {
        m.write("x", ValueRef::Int(i)).unwrap();
        m.write("y", ValueRef::Int(i)).unwrap();
    }
    m.write_xf("z", ValueRef::String("last")).unwrap();
    // The map's events: ids (change counts) increasing, each key's values in write
    // order, the removal seen, and the last write of every key.
    let (last_id, seen) = follow_map(&all, snap.id(), "z");
    assert_eq!(
        seen["gone"],
        json!({"key": "gone", "removed": true, "version": 0})
    );
    assert_eq!(seen["k"]["value"], json!(200));
    assert_eq!(seen["x"]["value"], json!(50));
    assert_eq!(seen["y"]["value"], json!(50));
    assert_eq!(
        seen["z"],
        json!({"key": "z", "value": "last", "full": true, "version": m.version("z").unwrap()})
    );

    // Reconnecting with the last id seen: only what came after it.
    let again_key = watch(&s, &format!("/regions/{n}/m%2F1/k?watch"), Some(201));
    m.write("k", ValueRef::Int(201)).unwrap();
    let e = again_key.next();
    assert_eq!(
        (e.id(), e.data["value"].clone()),
        (202, json!(201)),
        "{e:?}"
    );
    // (The write of "k" just above came after `last_id` too.)
    let again = watch(&s, &format!("/regions/{n}/m%2F1?watch"), Some(last_id));
    m.write("x", ValueRef::Int(51)).unwrap();
    for (k, v) in [("k", 201), ("x", 51)] {
        let e = again.next();
        assert_eq!(e.kind, "change", "{e:?}");
        assert!(e.id() > last_id, "{e:?}");
        assert_eq!(e.data["key"], json!(k), "{e:?}");
        assert_eq!(e.data["value"], json!(v), "{e:?}");
    }

    // An id the map never reached (another map of that name gave it): a snapshot.
    let fresh = watch(&s, &format!("/regions/{n}/m%2F1?watch"), Some(1 << 40));
    let e = fresh.next();
    assert_eq!(e.kind, "snapshot", "{e:?}");
    assert_eq!(e.data["entries"]["x"]["value"], json!(51), "{e:?}");

    // A key that does not exist yet: absent first, then its insertion.
    let new = watch(&s, &format!("/regions/{n}/m%2F1/new?watch"), None);
    assert_eq!(
        new.next().data,
        json!({"key": "new", "removed": true, "version": 0})
    );
    m.write("new", ValueRef::Bool(true)).unwrap();
    assert_eq!(new.next().data["value"], json!(true));

    // Removing the object ends its streams with an `end` event.
    r.remove_object("m/1").unwrap();
    let end = again_key.next();
    assert_eq!(end.kind, "end", "{end:?}");
    assert_eq!(end.id_field, None, "an end event leaves the last id alone");
    assert!(
        end.data["error"].as_str().unwrap().contains("removed"),
        "{end:?}"
    );
}

#[test]
fn streams_beyond_the_cap_get_503() {
    let (_r, name) = with_key("serve_cap");
    let s = serve(&["--max-streams", "1", &name]);
    let first = watch(&s, &format!("/regions/{name}/m/k?watch"), None);
    assert_eq!(first.next().data["value"], json!(1));
    assert!(get_err(&s, &format!("/regions/{name}/m?watch"), 503).contains("--max-streams"));
    // Plain requests are still served.
    get_ok(&s, &format!("/regions/{name}/m/k"));
}

/// Sends a request over a raw socket and reads the answer's head (the body, if any,
/// is left unread): the status.
fn raw_head(c: &mut TcpStream, target: &str) -> u16 {
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut byte).unwrap(), 1, "{head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head)[9..12].parse().unwrap()
}

/// Asks for `target` until the answer is not 503 any more (a place was given back),
/// which must happen within [`PATIENCE`]; then it must be 200.
fn served_again(s: &Served, target: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let mut next = TcpStream::connect(&s.addr).unwrap();
        match raw_head(&mut next, target) {
            200 => return,
            503 => assert!(
                std::time::Instant::now() < deadline,
                "{target}: still 503: the place was not given back"
            ),
            other => panic!("{target}: status {other}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_closed_stream_gives_its_place_back() {
    let (_r, name) = with_key("serve_closed");
    let s = serve(&["--max-streams", "1", &name]);
    let path = format!("/regions/{name}/m/k?watch");
    let mut first = TcpStream::connect(&s.addr).unwrap();
    assert_eq!(raw_head(&mut first, &path), 200);
    let mut second = TcpStream::connect(&s.addr).unwrap();
    assert_eq!(raw_head(&mut second, &path), 503);
    // The first client goes away without a word (nothing changes in the region): the
    // server notices between two wait slices, and the place is free again.
    drop(first);
    served_again(&s, &path);
}

#[test]
fn connections_beyond_the_cap_get_503() {
    let (r, name) = shm("serve_conns");
    r.map("m", 4, 0).unwrap();
    let s = serve(&[&name]);
    // 128 clients (the cap) that each send half a request head and wait.
    let idle: Vec<TcpStream> = (0..128)
        .map(|_| {
            let mut c = TcpStream::connect(&s.addr).unwrap();
            c.write_all(b"GET /regions HTTP/1.1\r\n").unwrap();
            c
        })
        .collect();
    let mut over = TcpStream::connect(&s.addr).unwrap();
    assert_eq!(raw_head(&mut over, "/regions"), 503);
    // They leave: their places are free again.
    drop(idle);
    served_again(&s, "/regions");
}

#[test]
fn a_region_made_again_is_opened_again() {
    let (r, name) = with_key("serve_again");
    let s = serve(&[&name]);
    let value = || get_ok(&s, &format!("/regions/{name}/m/k"))["value"].clone();
    assert_eq!(value(), json!(1));
    // Removes the region and makes it again, with `k` holding `v`.
    let again = |r: backend::Region, v: i64| {
        drop(r);
        backend::Region::remove(&name).unwrap();
        let r = backend::Region::open(&name, &OpenOptions::default()).unwrap();
        let m = r.map("m", 4, 0).unwrap();
        m.write("k", ValueRef::Int(v)).unwrap();
        r
    };
    // Removed (404), then made again.
    drop(r);
    backend::Region::remove(&name).unwrap();
    get_err(&s, &format!("/regions/{name}/m/k"), 404);
    let r = backend::Region::open(&name, &OpenOptions::default()).unwrap();
    r.map("m", 4, 0)
        .unwrap()
        .write("k", ValueRef::Int(2))
        .unwrap();
    assert_eq!(value(), json!(2));
    // Replaced between two requests: the next request reaches the new region.
    let _r = again(r, 3);
    assert_eq!(value(), json!(3));
}

#[test]
fn a_bad_listen_address_is_a_usage_error() {
    let o = Command::new(BIN)
        .args(["serve", "--listen", "no-port-here"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("HOST:PORT"),
        "{o:?}"
    );
}

/// Shrinks a socket's receive buffer, so that a server writing to it blocks soon.
fn small_receive_buffer(c: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt on an open socket with a pointer to a local int.
    let rc = unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

#[test]
fn slow_clients_block_neither_others_nor_writers() {
    let (r, name) = common::region("serve_slow", 32 << 20);
    drop(r);
    let r = backend::Region::open(&name, &OpenOptions::default()).unwrap();
    // A big object: its JSON is several MiB, more than socket buffers hold.
    let big = r.map("big", 64, 0).unwrap();
    let text = "x".repeat(100_000);
    for i in 0..64 {
        big.write(&format!("k{i}"), ValueRef::String(&text))
            .unwrap();
    }
    let m = r.map("m", 4, 0).unwrap();
    m.write("k", ValueRef::Int(0)).unwrap();
    let s = serve(&[&name]);
    // A client that sends half a request head and then nothing.
    let mut half = TcpStream::connect(&s.addr).unwrap();
    half.write_all(b"GET /regions HTTP/1.1\r\nHo").unwrap();
    // A client that asks for the big object and never reads the answer.
    let stalled = TcpStream::connect(&s.addr).unwrap();
    small_receive_buffer(&stalled);
    (&stalled)
        .write_all(format!("GET /regions/{name}/big HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    // A client that opens an event stream and never reads it.
    let deaf = TcpStream::connect(&s.addr).unwrap();
    small_receive_buffer(&deaf);
    (&deaf)
        .write_all(format!("GET /regions/{name}/m/k?watch HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    // Meanwhile this process writes the key the deaf stream watches, many times, with
    // big values: none of its writes waits for the server.
    for i in 0..2000 {
        m.write("k", ValueRef::String(&format!("{i}{}", &text[..1000])))
            .unwrap();
    }
    // And other clients are answered.
    for _ in 0..3 {
        assert_eq!(get_ok(&s, "/regions")[0]["name"], json!(name.as_str()));
        let one = get_ok(&s, &format!("/regions/{name}/m/k"));
        assert_eq!(one["version"], json!(2001));
    }
    let live = watch(&s, &format!("/regions/{name}/m/k?watch"), None);
    assert_eq!(live.next().id(), 2001);
    m.write("k", ValueRef::Int(-1)).unwrap();
    assert_eq!(live.next().data["value"], json!(-1));
    drop((half, stalled, deaf));
}

#[test]
fn sigterm_and_ctrl_c_stop_it_and_it_lets_go_of_the_region() {
    for (signal, what) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let (_r, name) = with_key("serve_stop");
        let mut s = serve(&[&name]);
        let st = watch(&s, &format!("/regions/{name}/m/k?watch"), None);
        assert_eq!(st.next().data["value"], json!(1));
        get_ok(&s, &format!("/regions/{name}/m"));
        let pid = s.kid.id();
        let attached = |pid: u32| {
            plexus::inspect(&name)
                .unwrap()
                .processes
                .iter()
                .any(|p| p.pid == pid)
        };
        assert!(attached(pid), "the server has the region open");
        // SAFETY: a signal to our own child.
        assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
        // The child itself, to wait for it with a bound (a stand-in takes its place in
        // the guard).
        let child = std::mem::replace(&mut *s.kid, Command::new("true").spawn().unwrap());
        let out = wait_within(&format!("plexus serve after {what}"), child, PATIENCE);
        assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("stopped"),
            "{what}: {out:?}"
        );
        assert!(
            !attached(pid),
            "{what}: the server detached from the region when it stopped"
        );
        // Its stream ended.
        assert!(st.rx.recv_timeout(PATIENCE).is_err(), "{what}");
    }
}

// ---- redis:// ----

#[test]
fn a_redis_region_is_served_the_same() {
    let Some(srv) = common::redis::RedisServer::start("plexus serve of a redis:// region") else {
        return;
    };
    let url = srv.url(&format!("serve-{}", std::process::id()));
    let r = backend::Region::open(&url, &OpenOptions::default()).unwrap();
    populate(&r);
    let s = serve(&[&url]);
    let list = get_ok(&s, "/regions");
    let row = &list.as_array().unwrap()[0];
    assert_eq!(row["remote"], json!(true), "{row}");
    let href = row["href"].as_str().unwrap().to_owned();
    assert_eq!(href, format!("/regions/{}", seg(&url)));
    check_routes(&s, &url, &href);

    let m = r.map("conf/main", 16, 0).unwrap();
    let key = watch(&s, &format!("{href}/conf%2Fmain/a%2Fb%20c?watch"), None);
    let first = key.next();
    assert_eq!(first.data["value"], json!(7), "{first:?}");
    let all = watch(&s, &format!("{href}/conf%2Fmain?watch"), None);
    let snap = all.next();
    assert_eq!(snap.kind, "snapshot");
    assert_eq!(snap.data["entries"]["a/b c"]["value"], json!(7));
    for i in 8..=60 {
        m.write("a/b c", ValueRef::Int(i)).unwrap();
    }
    follow_key(&key, json!("a/b c"), 8, 60);
    m.remove("f").unwrap();
    m.write("z", ValueRef::Int(1)).unwrap();
    let (_, seen) = follow_map(&all, snap.id(), "z");
    assert_eq!(seen["a/b c"]["value"], json!(60));
    assert_eq!(seen["f"]["removed"], json!(true));
    get_err(&s, &format!("{href}/conf%2Fmain/nope"), 404);
    backend::Region::remove(&url).unwrap();
}
