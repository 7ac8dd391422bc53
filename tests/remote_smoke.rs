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
        matches!(a.read(0), Err(plexus::Error::RegionLost(_))),
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
