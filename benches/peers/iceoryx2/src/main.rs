//! benches/peers/iceoryx2: publish/subscribe latency of iceoryx2 against the plexus bus,
//! two processes, interleaved runs. Prints one JSON line per measurement (the format of
//! benches/peers/common.hpp), read by benches/peers/analyze.py.
//!
//!   plexus-iceoryx2 [--runs N] [--rt N] [--warm N] [--paced-n N] [--interval-us U] [--samples DIR]
//!
//! Methods (each: a "ping" topic parent -> child and a "pong" topic child -> parent):
//!   plexus-bus       plexus buses, blocking `Subscription::next` (spins briefly, then futex)
//!   iceoryx2-poll    iceoryx2 publish_subscribe, the receiver polls `receive()` in a loop
//!                    (yielding the CPU every 4096 empty polls): iceoryx2's lowest latency
//!   iceoryx2-event   the same plus an iceoryx2 event service per topic: the sender notifies
//!                    after each sample, the receiver sleeps in `Listener::blocking_wait_one`
//!                    when nothing is there (iceoryx2's way to wait without spinning)
//! Shapes: rt (ping-pong round trip, ns) and paced (the parent publishes its clock every
//! interval_us; the child's CPU use while it waits, and its wake-up latency).
use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn cpu_us_self() -> f64 {
    // SAFETY: getrusage writes the struct we own; all-zero bytes are a valid rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    (u.ru_utime.tv_sec + u.ru_stime.tv_sec) as f64 * 1e6
        + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) as f64
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = q * (v.len() - 1) as f64;
    let i = pos as usize;
    if i + 1 >= v.len() {
        return v[v.len() - 1];
    }
    v[i] + (v[i + 1] - v[i]) * (pos - i as f64)
}

/// One process's ends: it sends on one topic and receives on the other.
trait End {
    fn send(&mut self, v: i64) -> Res<()>;
    /// Waits for the next value; `None` when `spin_budget` polls passed without one
    /// (only the handshake uses a budget).
    fn recv(&mut self, spin_budget: Option<u64>) -> Res<Option<i64>>;
}

struct PlexusEnd {
    _region: plexus::Region,
    tx: plexus::Bus,
    rx: plexus::Subscription,
}

impl End for PlexusEnd {
    fn send(&mut self, v: i64) -> Res<()> {
        self.tx.publish(plexus::ValueRef::Int(v))?;
        Ok(())
    }
    fn recv(&mut self, budget: Option<u64>) -> Res<Option<i64>> {
        let t = budget.map(|_| Duration::from_millis(1));
        match self.rx.next(t) {
            Ok((plexus::Value::Int(i), _)) => Ok(Some(i)),
            Ok((other, _)) => Err(format!("plexus bus: unexpected {other:?}").into()),
            Err(plexus::Error::Timeout) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn plexus_end(name: &str, parent: bool) -> Res<PlexusEnd> {
    let opts = plexus::OpenOptions {
        mode: if parent {
            plexus::OpenMode::Create
        } else {
            plexus::OpenMode::Open
        },
        size: 1 << 20,
        wait: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    let region = plexus::Region::open(name, &opts)?;
    let ping = region.bus("ping", 64, 0)?;
    let pong = region.bus("pong", 64, 0)?;
    let (tx, rxbus) = if parent { (ping, pong) } else { (pong, ping) };
    let rx = rxbus.subscribe(plexus::Start::Now)?;
    Ok(PlexusEnd {
        _region: region,
        tx,
        rx,
    })
}

struct IceEnd {
    _node: Node<ipc::Service>,
    tx: Publisher<ipc::Service, i64, ()>,
    rx: Subscriber<ipc::Service, i64, ()>,
    events: Option<(Notifier<ipc::Service>, Listener<ipc::Service>)>,
}

impl End for IceEnd {
    fn send(&mut self, v: i64) -> Res<()> {
        self.tx.send_copy(v)?;
        if let Some((n, _)) = &self.events {
            n.notify()?;
        }
        Ok(())
    }
    fn recv(&mut self, budget: Option<u64>) -> Res<Option<i64>> {
        let mut spins = 0u64;
        loop {
            if let Some(s) = self.rx.receive()? {
                return Ok(Some(*s));
            }
            spins += 1;
            if budget.is_some_and(|b| spins >= b) {
                return Ok(None);
            }
            match &self.events {
                Some((_, l)) => {
                    if budget.is_some() {
                        l.timed_wait_one(Duration::from_millis(1))?;
                    } else {
                        l.blocking_wait_one()?;
                    }
                }
                None => {
                    std::hint::spin_loop();
                    if spins % 4096 == 0 {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }
}

fn ice_end(name: &str, parent: bool, events: bool) -> Res<IceEnd> {
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let svc = |topic: &str| -> Res<_> {
        Ok(node
            .service_builder(&format!("{name}/{topic}").as_str().try_into()?)
            .publish_subscribe::<i64>()
            .subscriber_max_buffer_size(64)
            .open_or_create()?)
    };
    let ping = svc("ping")?;
    let pong = svc("pong")?;
    let (txs, rxs) = if parent {
        (&ping, &pong)
    } else {
        (&pong, &ping)
    };
    let rx = rxs.subscriber_builder().create()?;
    let tx = txs.publisher_builder().create()?;
    let events = if events {
        let ev = |topic: &str| -> Res<_> {
            Ok(node
                .service_builder(&format!("{name}/{topic}-ev").as_str().try_into()?)
                .event()
                .open_or_create()?)
        };
        let pe = ev("ping")?;
        let qe = ev("pong")?;
        let (txe, rxe) = if parent { (&pe, &qe) } else { (&qe, &pe) };
        Some((
            txe.notifier_builder().create()?,
            rxe.listener_builder().create()?,
        ))
    } else {
        None
    };
    Ok(IceEnd {
        _node: node,
        tx,
        rx,
        events,
    })
}

fn make_end(method: &str, name: &str, parent: bool) -> Res<Box<dyn End>> {
    Ok(match method {
        "plexus-bus" => Box::new(plexus_end(name, parent)?),
        "iceoryx2-poll" => Box::new(ice_end(name, parent, false)?),
        "iceoryx2-event" => Box::new(ice_end(name, parent, true)?),
        _ => return Err(format!("unknown method {method}").into()),
    })
}

struct Opts {
    runs: usize,
    rt: u64,
    warm: u64,
    paced_n: u64,
    interval_us: u64,
    samples: Option<String>,
}

/// The child: `--child METHOD NAME rt|paced N RUN INTERVAL_US`.
fn child(args: &[String]) -> Res<()> {
    let (method, name, shape) = (&args[0], &args[1], args[2].as_str());
    let n: u64 = args[3].parse()?;
    let run: usize = args[4].parse()?;
    let interval_us: u64 = args[5].parse()?;
    let mut e = make_end(method, name, false)?;
    // Handshake: answer the first -1 (the parent repeats it until it hears back).
    loop {
        if e.recv(None)? == Some(-1) {
            e.send(-1)?;
            break;
        }
    }
    let mut got = 0u64;
    let (mut c0, mut w0) = (0.0, 0u64);
    let mut lat = Vec::with_capacity(n as usize);
    while got < n {
        let v = e.recv(None)?.unwrap_or(-1);
        if v < 0 {
            continue; // a late handshake repeat
        }
        if shape == "rt" {
            e.send(v)?;
            got += 1;
        } else {
            let t = now_ns();
            if got == 0 {
                c0 = cpu_us_self();
                w0 = t;
            } else {
                lat.push(t.saturating_sub(v as u64) as f64);
            }
            got += 1;
        }
    }
    if shape == "paced" {
        let cpu = cpu_us_self() - c0;
        let wall = (now_ns() - w0) as f64 / 1e3;
        let (m, p) = (quantile(&mut lat, 0.5), quantile(&mut lat, 0.99));
        println!(
            "{{\"group\":\"iceoryx2\",\"case\":\"paced\",\"method\":\"{method}\",\"run\":{run},\"kind\":\"cpu\",\"unit\":\"% CPU\",\"value\":{:.2},\"cpu_us_per_msg\":{:.2},\"interval_us\":{interval_us},\"wake_med_ns\":{m:.0},\"wake_p99_ns\":{p:.0},\"n\":{}}}",
            100.0 * cpu / wall,
            cpu / (n - 1) as f64,
            n - 1
        );
        std::io::stdout().flush()?;
    }
    Ok(())
}

fn run_one(o: &Opts, method: &str, shape: &str, run: usize, seq: usize) -> Res<()> {
    let name = format!("pxpeers-ice-{}-{seq}", std::process::id());
    let n = if shape == "rt" {
        o.warm + o.rt
    } else {
        o.paced_n + 1
    };
    let mut parent = make_end(method, &name, true)?;
    let mut ch = Command::new(std::env::current_exe()?)
        .args(["--child", method, &name, shape])
        .arg(n.to_string())
        .arg(run.to_string())
        .arg(o.interval_us.to_string())
        .stdin(Stdio::null())
        .spawn()?;
    // Handshake.
    let t0 = now_ns();
    loop {
        parent.send(-1)?;
        if parent.recv(Some(2000))? == Some(-1) {
            break;
        }
        if now_ns() - t0 > 20_000_000_000 {
            let _ = ch.kill();
            return Err(format!("{method}: the child did not answer in 20 s").into());
        }
    }
    if shape == "rt" {
        let mut lat = Vec::with_capacity(o.rt as usize);
        for i in 0..n as i64 {
            let t0 = now_ns();
            parent.send(i)?;
            let v = loop {
                match parent.recv(None)? {
                    Some(v) if v >= 0 => break v,
                    _ => continue, // a late handshake answer
                }
            };
            let t1 = now_ns();
            if v != i {
                return Err(format!("{method}: round trip {i} came back as {v}").into());
            }
            if i as u64 >= o.warm {
                lat.push((t1 - t0) as f64);
            }
        }
        let st = ch.wait()?;
        if !st.success() {
            return Err(format!("{method}: child failed: {st}").into());
        }
        if let (Some(dir), true) = (&o.samples, run + 1 == o.runs) {
            let stride = (lat.len() / 20000).max(1);
            let body: String = lat
                .iter()
                .step_by(stride)
                .map(|x| format!("{x:.0}\n"))
                .collect();
            std::fs::write(format!("{dir}/iceoryx2__rt__{method}.txt"), body)?;
        }
        let mut s = lat.clone();
        let (m, p) = (quantile(&mut s, 0.5), quantile(&mut s, 0.99));
        println!(
            "{{\"group\":\"iceoryx2\",\"case\":\"rt\",\"method\":\"{method}\",\"run\":{run},\"kind\":\"lat\",\"unit\":\"ns/rt\",\"value\":{m:.1},\"p99\":{p:.1},\"n\":{}}}",
            lat.len()
        );
    } else {
        std::thread::sleep(Duration::from_millis(5));
        let mut t = now_ns();
        for _ in 0..n {
            t += o.interval_us * 1000;
            while now_ns() < t {
                let left = t - now_ns();
                if left > 1000 {
                    std::thread::sleep(Duration::from_nanos(left));
                }
            }
            parent.send(now_ns() as i64)?;
        }
        let st = ch.wait()?;
        if !st.success() {
            return Err(format!("{method}: child failed: {st}").into());
        }
    }
    std::io::stdout().flush()?;
    drop(parent);
    if method == "plexus-bus" {
        plexus::Region::remove(&name)?;
    }
    Ok(())
}

fn main() -> Res<()> {
    set_log_level(LogLevel::Error);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let mut o = Opts {
        runs: 5,
        rt: 50000,
        warm: 2000,
        paced_n: 300,
        interval_us: 1000,
        samples: None,
    };
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--runs" => o.runs = v.parse()?,
            "--rt" => o.rt = v.parse()?,
            "--warm" => o.warm = v.parse()?,
            "--paced-n" => o.paced_n = v.parse()?,
            "--interval-us" => o.interval_us = v.parse()?,
            "--samples" => o.samples = Some(v),
            other => return Err(format!("unknown option {other}").into()),
        }
        i += 2;
    }
    eprintln!("== iceoryx2 vs plexus bus: {} runs", o.runs);
    let mut methods = vec!["plexus-bus", "iceoryx2-poll", "iceoryx2-event"];
    let mut seq = 0;
    for run in 0..o.runs {
        eprintln!("   run {}/{}", run + 1, o.runs);
        for shape in ["rt", "paced"] {
            for m in &methods {
                run_one(&o, m, shape, run, seq)?;
                seq += 1;
            }
        }
        methods.rotate_left(1);
    }
    Ok(())
}
