//! Remote region names: `redis://[user:password@]host[:port]/NAME[?options]` and
//! `rediss://` (TLS).
//!
//! Options: `db=N` (the logical database, default 0), `lease_ms=N` (how long a process
//! that stopped renewing its lease still counts as alive; default 5000, at least 500),
//! `timeout_ms=N` (how long a call without a timeout of its own, a write say, may wait
//! for the server before it returns UNAVAILABLE; default 5000), and for `rediss://`
//! `ca_file=PATH` (a PEM file of the certificate authorities to trust instead of the
//! system's, for servers with certificates of a private CA).
//!
//! The password is kept for connecting and never shown: [`RemoteName::display`] and every
//! message use `redis://user:***@host:port/NAME`.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::semantics::names::MAX_NAME_LEN;

/// A parsed remote region name.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteName {
    pub tls: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub db: i64,
    pub lease: Duration,
    pub timeout: Duration,
    /// `rediss://` only: the CA certificates (PEM) to trust instead of the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// The region's name on the server (every key is `px:{NAME}:...`).
    pub region: String,
}

impl std::fmt::Debug for RemoteName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

const DEFAULT_PORT: u16 = 6379;
const DEFAULT_LEASE: Duration = Duration::from_millis(5000);
const MIN_LEASE: Duration = Duration::from_millis(500);
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);

fn bad(name: &str, why: &str) -> Error {
    Error::invalid(format!("remote region name '{}': {why}", redact(name)))
}

pub use crate::semantics::names::redact;

fn percent_decode(s: &str, name: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(name, "a % is not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(name, "not UTF-8 after %-decoding"))
}

impl RemoteName {
    /// Parses a `redis://` or `rediss://` name (see the module docs).
    pub fn parse(name: &str) -> Result<RemoteName> {
        let (tls, rest) = if let Some(r) = name.strip_prefix("rediss://") {
            (true, r)
        } else if let Some(r) = name.strip_prefix("redis://") {
            (false, r)
        } else {
            return Err(bad(name, "it must start with redis:// or rediss://"));
        };
        let slash = rest
            .find('/')
            .ok_or_else(|| bad(name, "no /NAME after the host"))?;
        let (authority, path_query) = (&rest[..slash], &rest[slash + 1..]);
        let (path, query) = match path_query.find('?') {
            Some(q) => (&path_query[..q], Some(&path_query[q + 1..])),
            None => (path_query, None),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.find(':') {
                Some(c) => (
                    Some(percent_decode(&u[..c], name)?).filter(|s| !s.is_empty()),
                    Some(percent_decode(&u[c + 1..], name)?),
                ),
                None => (None, Some(percent_decode(u, name)?)),
            },
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let end = h
                .find(']')
                .ok_or_else(|| bad(name, "an IPv6 address without its closing ]"))?;
            let port = match &h[end + 1..] {
                "" => DEFAULT_PORT,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| bad(name, "the port is not a number from 1 to 65535"))?,
            };
            (h[..end].to_owned(), port)
        } else {
            match hostport.rfind(':') {
                Some(c) => (
                    hostport[..c].to_owned(),
                    hostport[c + 1..]
                        .parse()
                        .ok()
                        .filter(|&p| p != 0)
                        .ok_or_else(|| bad(name, "the port is not a number from 1 to 65535"))?,
                ),
                None => (hostport.to_owned(), DEFAULT_PORT),
            }
        };
        if host.is_empty() {
            return Err(bad(name, "no host"));
        }
        let region = percent_decode(path, name)?;
        if region.is_empty() || region.len() > MAX_NAME_LEN {
            return Err(bad(
                name,
                &format!("the region name must be 1 to {MAX_NAME_LEN} bytes"),
            ));
        }
        if region
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "{}/?#*[]\\".contains(c))
        {
            return Err(bad(
                name,
                "the region name must not contain spaces, control characters or any of {}/?#*[]\\",
            ));
        }
        let mut parsed = RemoteName {
            tls,
            user,
            password,
            host,
            port,
            db: 0,
            lease: DEFAULT_LEASE,
            timeout: DEFAULT_TIMEOUT,
            ca_file: None,
            region,
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || -> Result<u64> {
                v.parse::<u64>()
                    .map_err(|_| bad(name, &format!("option {k}={v} is not a whole number")))
            };
            match k {
                "db" => parsed.db = number()?.min(i64::MAX as u64) as i64,
                "lease_ms" => {
                    parsed.lease = Duration::from_millis(number()?);
                    if parsed.lease < MIN_LEASE {
                        return Err(bad(name, "lease_ms must be at least 500"));
                    }
                }
                "timeout_ms" => {
                    parsed.timeout = Duration::from_millis(number()?);
                    if parsed.timeout.is_zero() {
                        return Err(bad(name, "timeout_ms must be at least 1"));
                    }
                }
                "ca_file" => {
                    if !tls {
                        return Err(bad(name, "ca_file applies to rediss:// only"));
                    }
                    parsed.ca_file = Some(percent_decode(v, name)?.into());
                }
                _ => {
                    return Err(bad(
                        name,
                        &format!("unknown option '{k}' (known: db, lease_ms, timeout_ms, ca_file)"),
                    ))
                }
            }
        }
        Ok(parsed)
    }

    /// The name as it may be shown: the password replaced by `***`.
    pub fn display(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = match (&self.user, &self.password) {
            (Some(u), Some(_)) => format!("{u}:***@"),
            (None, Some(_)) => "***@".to_owned(),
            (Some(u), None) => format!("{u}@"),
            (None, None) => String::new(),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{auth}{host}:{}/{}", self.port, self.region)
    }

    /// `host:port` for messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The prefix of every key of the region: `px:{NAME}:`. The braces make `NAME` the
    /// hash tag, so a whole region lives in one slot of a Redis Cluster.
    pub fn key_prefix(&self) -> String {
        format!("px:{{{}}}:", self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_part_and_never_shows_the_password() {
        let n = RemoteName::parse("redis://me:s%3Acret@example.org:7000/jobs?db=2&lease_ms=800")
            .unwrap();
        assert_eq!(n.user.as_deref(), Some("me"));
        assert_eq!(n.password.as_deref(), Some("s:cret"));
        assert_eq!((n.host.as_str(), n.port, n.db), ("example.org", 7000, 2));
        assert_eq!(n.lease, Duration::from_millis(800));
        assert_eq!(n.region, "jobs");
        assert_eq!(n.display(), "redis://me:***@example.org:7000/jobs");
        assert!(!format!("{n:?}").contains("cret"));
        assert_eq!(n.key_prefix(), "px:{jobs}:");
        let d = RemoteName::parse("rediss://127.0.0.1/r").unwrap();
        assert!(d.tls);
        assert_eq!((d.port, d.db, d.lease), (6379, 0, DEFAULT_LEASE));
        let v6 = RemoteName::parse("redis://[::1]:6380/r").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 6380));
        assert_eq!(v6.display(), "redis://[::1]:6380/r");
        let only_password = RemoteName::parse("redis://:pw@h/r").unwrap();
        assert_eq!(only_password.display(), "redis://***@h:6379/r");
    }

    #[test]
    fn bad_names_are_invalid_arguments_without_the_password() {
        for bad in [
            "redis://h",
            "redis://h/",
            "redis://:pw@h:0/r",
            "redis://u:secret@h:99999/r",
            "redis://h/a{b}",
            "redis://h/a*",
            "redis://h/r?lease_ms=10",
            "redis://u:secret@h/r?color=blue",
            "redis:///r",
            "redis://h/r%zz",
        ] {
            let e = RemoteName::parse(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        assert_eq!(
            redact("redis://u:secret@h/r"),
            "redis://u:***@h/r".to_owned()
        );
    }
}
