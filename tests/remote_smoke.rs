mod common;
use plexus::backend::Region;
use plexus::{OpenOptions, Value, ValueRef};
use std::time::Duration;

#[test]
fn smoke() {
    let Some(srv) = common::redis::RedisServer::start("smoke") else {
        return;
    };
    let url = srv.url("smoke");
    let r = Region::open(&url, &OpenOptions::default()).unwrap();
    let a = r.array("a", 4, 0).unwrap();
    a.write_ef(0, ValueRef::Int(5), None).unwrap();
    assert_eq!(a.read_fe(0, Some(Duration::ZERO)).unwrap(), Value::Int(5));
    assert!(a.read_fe(0, Some(Duration::from_millis(100))).is_err());
    assert_eq!(a.faa(1, ValueRef::Int(3)).unwrap(), Value::Undefined);
    assert_eq!(a.faa(1, ValueRef::Int(3)).unwrap(), Value::Int(3));
    assert_eq!(a.read(1).unwrap(), Value::Int(6));
    let m = r.map("m", 10, 0).unwrap();
    m.write_xf("k", ValueRef::String("v")).unwrap();
    assert_eq!(m.read_ff("k", None).unwrap(), Value::String("v".into()));
    assert_eq!(m.len().unwrap(), 1);
    let mut c = 0;
    assert_eq!(m.next_key(&mut c).unwrap().as_deref(), Some("k"));
    assert_eq!(m.next_key(&mut c).unwrap(), None);
    m.remove("k").unwrap();
    assert_eq!(m.len().unwrap(), 0);
    let r2 = r.clone();
    let t = std::thread::spawn(move || {
        let a = r2.array("a", 4, 0).unwrap();
        a.read_fe(2, None).unwrap()
    });
    std::thread::sleep(Duration::from_millis(200));
    a.write_ef(2, ValueRef::String("wake"), None).unwrap();
    assert_eq!(t.join().unwrap(), Value::String("wake".into()));
    let info = r.info().unwrap();
    assert_eq!(info.object_count, 2);
    Region::remove(&url).unwrap();
    assert!(
        matches!(a.read(0), Err(plexus::Error::Removed(_))),
        "{:?}",
        a.read(0)
    );
}

/// rediss://: a server with a certificate of a private CA, trusted through `ca_file`;
/// without it (the system's CAs) the connection is refused, never made unverified.
#[test]
fn tls_with_a_private_ca() {
    if common::redis::server_binary().is_none() {
        common::skip_loudly(
            "redis-server is not installed",
            "tls_with_a_private_ca",
            "install redis-server",
        );
        return;
    }
    let dir = common::TempDir::new("tls");
    let openssl = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=plexus-test-ca",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.crt",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(common::redis::server_binary().unwrap())
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args([
            "--tls-cert-file",
            "srv.crt",
            "--tls-key-file",
            "srv.key",
            "--tls-ca-cert-file",
            "ca.crt",
            "--tls-auth-clients",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ca = dir.join("ca.crt");
    let url = format!("rediss://127.0.0.1:{port}/tls?ca_file={}", ca.display());
    let start = std::time::Instant::now();
    let r = loop {
        match Region::open(&url, &OpenOptions::default()) {
            Ok(r) => break r,
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                assert!(matches!(e, plexus::Error::Unavailable(_)), "{e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let m = r.map("m", 4, 0).unwrap();
    m.write_xf("k", ValueRef::Int(7)).unwrap();
    assert_eq!(m.read_ff("k", None).unwrap(), Value::Int(7));
    drop((m, r));
    let untrusted = format!("rediss://127.0.0.1:{port}/tls?timeout_ms=1000");
    let e = Region::open(&untrusted, &OpenOptions::default())
        .err()
        .expect("refused");
    assert!(matches!(e, plexus::Error::Unavailable(_)), "{e}");
    let plain = format!("redis://127.0.0.1:{port}/tls?timeout_ms=1000");
    assert!(Region::open(&plain, &OpenOptions::default()).is_err());
    let _ = server.kill();
    let _ = server.wait();
}

/// A faa whose reply was lost (the server stopped mid-call: UNAVAILABLE), retried by the
/// same thread through the same handle once the server is back, is applied once, and
/// the retry answers the value the first attempt replaced.
#[test]
fn a_retried_faa_after_unavailable_is_applied_once() {
    let Some(srv) =
        common::redis::RedisServer::start("a_retried_faa_after_unavailable_is_applied_once")
    else {
        return;
    };
    let url = format!("{}?timeout_ms=300", srv.url("retry"));
    let r = Region::open(&url, &OpenOptions::default()).unwrap();
    let m = r.map("m", 8, 0).unwrap();
    m.write("n", ValueRef::Int(9)).unwrap();
    // The handle now knows the element's version: the next faa is one commit.
    assert_eq!(m.faa("n", ValueRef::Int(1)).unwrap(), Value::Int(9));
    // SAFETY: sending a signal to the test's own redis-server child.
    unsafe { libc::kill(srv.pid() as i32, libc::SIGSTOP) };
    let lost = m.faa("n", ValueRef::Int(1));
    assert!(
        matches!(lost, Err(plexus::Error::Unavailable(_))),
        "{lost:?}"
    );
    let msg = lost.unwrap_err().to_string();
    assert!(msg.contains("not known"), "{msg}");
    // SAFETY: as above.
    unsafe { libc::kill(srv.pid() as i32, libc::SIGCONT) };
    let mut retried = None;
    for _ in 0..50 {
        match m.faa("n", ValueRef::Int(1)) {
            Ok(old) => {
                retried = Some(old);
                break;
            }
            Err(plexus::Error::Unavailable(_)) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("{e}"),
        }
    }
    let old = retried.expect("the server came back");
    assert_eq!(m.read("n").unwrap(), Value::Int(11), "applied once");
    assert_eq!(
        old,
        Value::Int(10),
        "the retry answers what the first attempt replaced"
    );
    // A new faa (not a retry) applies again.
    assert_eq!(m.faa("n", ValueRef::Int(1)).unwrap(), Value::Int(11));
    assert_eq!(m.read("n").unwrap(), Value::Int(12));
}
