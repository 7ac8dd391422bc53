//! Talking to the server: a small pool of synchronous connections per region, a time
//! budget on every request, reconnection, Redis Cluster redirections, and the mapping
//! of what went wrong onto plexus statuses.
//!
//! Every request gets a budget (the caller's remaining time, or the region's
//! `timeout_ms` for calls without a timeout): the connection's read and write timeouts
//! are set from it, so a stalled or vanished server costs a call its budget and no
//! more. A connection that failed in any way is dropped, never reused (a reply that
//! arrives late would otherwise be read as the answer to the next request). Requests
//! are retried on a fresh connection until the budget is spent: reads are idempotent,
//! and every mutation carries an operation id its script recognises (see `scripts`),
//! so a retried mutation whose first reply was lost is not applied twice.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{ConnectionAddr, ConnectionInfo, ProtocolVersion, RedisConnectionInfo};

use crate::error::{Error, Result};
use crate::redis::url::RemoteName;

/// Idle connections kept per region.
const POOL_MAX: usize = 8;
/// Extra time a request may take beyond the caller's timeout: one round trip to a
/// server that is far away, not a stalled one.
pub(crate) const REPLY_MARGIN: Duration = Duration::from_millis(250);
/// Pause between reconnection attempts (doubling up to 200 ms).
const RETRY_PAUSE: Duration = Duration::from_millis(10);

pub(crate) struct Server {
    pub name: RemoteName,
    /// The node that serves the region's slot (changes on a Cluster redirection).
    node: Mutex<(String, u16)>,
    idle: Mutex<Vec<Pooled>>,
}

/// A connection and the socket timeout last set on it.
struct Pooled {
    conn: redis::Connection,
    io: Duration,
}

impl Pooled {
    /// Sets the read and write timeouts to `io`, unless they are already within a few
    /// milliseconds of it (two system calls saved on nearly every request: calls without
    /// a timeout of their own all get the region's `timeout_ms`).
    fn set_timeouts(&mut self, io: Duration) {
        let slack = (io / 8).min(Duration::from_millis(20));
        if self.io.abs_diff(io) <= slack {
            return;
        }
        let _ = self.conn.set_read_timeout(Some(io));
        let _ = self.conn.set_write_timeout(Some(io));
        self.io = io;
    }
}

/// Why a request failed, before it becomes an [`Error`].
enum Failure {
    /// The server could not be reached or did not answer: retry on a new connection.
    Transport(String),
    /// The region's slot is served by another node (Redis Cluster).
    Moved(String, u16),
    /// The server answered with an error: final.
    Reply(String),
}

fn classify(e: &redis::RedisError) -> Failure {
    if let Some((addr, _slot)) = e.redirect_node() {
        if let Some((host, port)) = addr.rsplit_once(':') {
            if let Ok(port) = port.parse() {
                return Failure::Moved(host.trim_matches(['[', ']']).to_owned(), port);
            }
        }
    }
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::TryAgain
                | redis::ErrorKind::ClusterDown
                | redis::ErrorKind::MasterDown
                | redis::ErrorKind::BusyLoadingError
                | redis::ErrorKind::ReadOnly
        )
    {
        Failure::Transport(e.to_string())
    } else {
        Failure::Reply(e.to_string())
    }
}

#[cfg(feature = "redis")]
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when the application installed one first: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Server {
    pub fn new(name: RemoteName) -> Server {
        let node = (name.host.clone(), name.port);
        Server {
            name,
            node: Mutex::new(node),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn info(&self) -> ConnectionInfo {
        let (host, port) = self.node.lock().clone();
        let addr = if self.name.tls {
            install_crypto_provider();
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host, port)
        };
        ConnectionInfo {
            addr,
            redis: RedisConnectionInfo {
                db: self.name.db,
                username: self.name.user.clone(),
                password: self.name.password.clone(),
                protocol: ProtocolVersion::RESP2,
            },
        }
    }

    fn client(&self) -> std::result::Result<redis::Client, Failure> {
        let info = self.info();
        match &self.name.ca_file {
            Some(path) if self.name.tls => {
                let pem = std::fs::read(path).map_err(|e| {
                    Failure::Reply(format!("cannot read ca_file {}: {e}", path.display()))
                })?;
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
            }
            _ => redis::Client::open(info),
        }
        .map_err(|e| Failure::Reply(e.to_string()))
    }

    fn connect(&self, budget: Duration) -> std::result::Result<redis::Connection, Failure> {
        let client = self.client()?;
        client
            .get_connection_with_timeout(budget.max(Duration::from_millis(1)))
            .map_err(|e| match classify(&e) {
                // Authentication and the like: the server answered, retrying won't help.
                Failure::Reply(m) => Failure::Reply(m),
                _ => Failure::Transport(e.to_string()),
            })
    }

    /// Runs `request` on a connection, with `wait` (how long the request itself may block
    /// on the server, e.g. an `XREAD BLOCK`) plus a margin as the socket timeouts,
    /// retrying on new connections until `deadline`. `Err(Unavailable)` when the server
    /// did not answer in time; the message says whether a request was sent at all
    /// (`changes`: whether the request changes anything, for the wording).
    pub fn run<T>(
        &self,
        deadline: Instant,
        wait: Duration,
        changes: bool,
        request: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        self.run_replies(deadline, wait, changes, 1, request)
    }

    /// [`Server::run`] for a pipeline of `replies` requests: each reply may take its
    /// share of the budget (the connection reads them one by one, each under the read
    /// timeout, even after the first timed out), so the whole stays within it.
    pub fn run_replies<T>(
        &self,
        deadline: Instant,
        wait: Duration,
        changes: bool,
        replies: u32,
        mut request: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut pause = RETRY_PAUSE;
        let mut sent = false;
        let mut last = String::new();
        loop {
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() && !last.is_empty() {
                return Err(self.unavailable(&last, sent && changes));
            }
            let pooled = self.idle.lock().pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => match self.connect(left.min(self.name.timeout)) {
                    Ok(conn) => Pooled {
                        conn,
                        io: Duration::ZERO,
                    },
                    Err(Failure::Reply(m)) => return Err(self.refused(&m)),
                    Err(Failure::Transport(m) | Failure::Moved(m, _)) => {
                        last = m;
                        if Instant::now() >= deadline {
                            return Err(self.unavailable(&last, sent && changes));
                        }
                        std::thread::sleep(
                            pause.min(deadline.saturating_duration_since(Instant::now())),
                        );
                        pause = (pause * 2).min(Duration::from_millis(200));
                        continue;
                    }
                },
            };
            // `deadline` already holds the margin, and `wait` for a blocking request.
            debug_assert!(wait <= deadline.saturating_duration_since(now) + REPLY_MARGIN);
            let io = (left / replies.max(1)).max(Duration::from_millis(1));
            conn.set_timeouts(io);
            sent = true;
            match request(&mut conn.conn) {
                Ok(v) => {
                    let mut idle = self.idle.lock();
                    if idle.len() < POOL_MAX {
                        idle.push(conn);
                    }
                    return Ok(v);
                }
                Err(e) => match classify(&e) {
                    Failure::Reply(m) => {
                        // The connection is healthy (the server answered).
                        let mut idle = self.idle.lock();
                        if idle.len() < POOL_MAX {
                            idle.push(conn);
                        }
                        return Err(self.reply_error(&m));
                    }
                    Failure::Moved(host, port) => {
                        *self.node.lock() = (host, port);
                        self.idle.lock().clear();
                        last = e.to_string();
                    }
                    Failure::Transport(m) => {
                        // Dropped: a late reply must never be read by the next request.
                        last = m;
                        if Instant::now() >= deadline {
                            return Err(self.unavailable(&last, changes));
                        }
                        std::thread::sleep(
                            pause.min(deadline.saturating_duration_since(Instant::now())),
                        );
                        pause = (pause * 2).min(Duration::from_millis(200));
                    }
                },
            }
        }
    }

    fn unavailable(&self, why: &str, maybe_changed: bool) -> Error {
        Error::Unavailable(format!(
            "the server {} of {} did not answer in time ({why}); {}",
            self.name.server(),
            self.name.display(),
            if maybe_changed {
                "whether the change was made is not known (the same call retried by the same thread through the same handle will not make it twice)"
            } else {
                "nothing was changed"
            }
        ))
    }

    fn refused(&self, why: &str) -> Error {
        let lower = why.to_ascii_lowercase();
        if lower.contains("auth") || lower.contains("password") || lower.contains("noperm") {
            Error::Permission(format!("{}: {why}", self.name.display()))
        } else {
            Error::Unavailable(format!(
                "cannot use the server {} of {}: {why}; nothing was changed",
                self.name.server(),
                self.name.display()
            ))
        }
    }

    fn reply_error(&self, why: &str) -> Error {
        let lower = why.to_ascii_lowercase();
        if lower.contains("noperm") || lower.contains("noauth") {
            Error::Permission(format!("{}: {why}", self.name.display()))
        } else if lower.contains("unknown command") && lower.contains("fcall") {
            // A server older than Redis 7.0 (array and map element calls are a function).
            Error::Unsupported(format!(
                "{}: the server has no functions (FCALL); remote regions need Redis 7.0 \
                 or later, or Valkey ({why})",
                self.name.display()
            ))
        } else if lower.contains("oom") {
            Error::NoSpace(format!("{}: {why}", self.name.display()))
        } else {
            Error::Internal(format!("{}: the server said: {why}", self.name.display()))
        }
    }
}
