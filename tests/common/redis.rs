//! A private `redis-server` per test: on a free port of 127.0.0.1, with its own
//! temporary directory, stopped (SIGKILL) when the guard drops. Without `redis-server`
//! on the PATH, [`RedisServer::start`] prints a loud SKIPPED and returns None (and
//! panics instead when `CI` is set: CI installs it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{skip_loudly, TempDir};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
    extra: Vec<String>,
}

/// `redis-server` (or `valkey-server`) on the PATH, if any.
pub fn server_binary() -> Option<PathBuf> {
    for name in ["redis-server", "valkey-server"] {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RedisServer {
    /// Starts a server without persistence; None (after a loud SKIPPED) without
    /// `redis-server`. `what` names the test for the SKIPPED line.
    pub fn start(what: &str) -> Option<RedisServer> {
        Self::start_with(what, &[])
    }

    /// Starts a server with extra `redis-server` arguments (e.g. `--appendonly yes`).
    pub fn start_with(what: &str, extra: &[&str]) -> Option<RedisServer> {
        if server_binary().is_none() {
            skip_loudly(
                "redis-server is not installed (apt-get install redis-server)",
                what,
                "install redis-server (.ci/run does)",
            );
            return None;
        }
        let mut s = RedisServer {
            child: None,
            port: free_port(),
            dir: TempDir::new("redis"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.launch();
        Some(s)
    }

    fn launch(&mut self) {
        let bin = server_binary().expect("redis-server");
        let mut args: Vec<String> = vec![
            "--port".into(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            self.dir.path().display().to_string(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--protected-mode".into(),
            "yes".into(),
        ];
        args.extend(self.extra.iter().cloned());
        let child = Command::new(bin)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let start = Instant::now();
        while !self.ping() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>/<region>`.
    pub fn url(&self, region: &str) -> String {
        format!("redis://127.0.0.1:{}/{region}", self.port)
    }

    /// Sends one command (inline protocol) and returns the first reply line (a bulk
    /// string: its text).
    pub fn command(&self, line: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut reply = String::new();
        r.read_line(&mut reply).unwrap();
        // A bulk string (`$<len>` then the bytes, e.g. INFO): its text.
        if let Some(len) = reply
            .strip_prefix('$')
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            let mut body = vec![0u8; len + 2];
            std::io::Read::read_exact(&mut r, &mut body).unwrap();
            body.truncate(len);
            return String::from_utf8_lossy(&body).into_owned();
        }
        reply.trim_end().to_owned()
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// The server's pid (for SIGSTOP/SIGCONT tests).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and directory
    /// (with its persistence settings: without AOF its data is gone).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A reply of the server, as [`query`] reads it (RESP2).
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    /// A simple string, or a bulk string's bytes as text.
    Text(String),
    Int(i64),
    Error(String),
    Nil,
    Array(Vec<Resp>),
}

impl Resp {
    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(n) => *n,
            Resp::Text(t) => t.parse().unwrap_or_else(|_| panic!("not a number: {t:?}")),
            other => panic!("not a number: {other:?}"),
        }
    }

    pub fn items(&self) -> &[Resp] {
        match self {
            Resp::Array(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Resp::Text(t) => t,
            other => panic!("not a string: {other:?}"),
        }
    }
}

fn read_resp(r: &mut impl BufRead) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" => Resp::Text(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(rest.parse().unwrap()),
        "$" => {
            let len: i64 = rest.parse().unwrap();
            if len < 0 {
                return Resp::Nil;
            }
            let mut body = vec![0u8; len as usize + 2];
            r.read_exact(&mut body).unwrap();
            body.truncate(len as usize);
            Resp::Text(String::from_utf8_lossy(&body).into_owned())
        }
        "*" => {
            let n: i64 = rest.parse().unwrap();
            if n < 0 {
                return Resp::Nil;
            }
            Resp::Array((0..n).map(|_| read_resp(r)).collect())
        }
        _ => panic!("unexpected reply line {line:?}"),
    }
}

/// Sends one command to the server on 127.0.0.1:`port` and reads its whole reply.
pub fn query(port: u16, args: &[&str]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req += &format!("${}\r\n{a}\r\n", a.len());
    }
    s.write_all(req.as_bytes()).unwrap();
    read_resp(&mut BufReader::new(s))
}

/// Every key matching `pattern` on the server on 127.0.0.1:`port` (SCAN), sorted.
pub fn keys(port: u16, pattern: &str) -> Vec<String> {
    let mut cursor = "0".to_owned();
    let mut out = Vec::new();
    loop {
        let r = query(port, &["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"]);
        let items = r.items();
        cursor = items[0].text().to_owned();
        out.extend(items[1].items().iter().map(|k| k.text().to_owned()));
        if cursor == "0" {
            break;
        }
    }
    out.sort();
    out.dedup();
    out
}
