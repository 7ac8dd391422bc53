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
