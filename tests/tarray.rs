//! Typed arrays in shared memory across processes, and where regions are mapped: a region
//! of at least one huge page is mapped at a huge-page-aligned address in every process
//! (so that the kernel can map huge pages of it with one page-table entry each), which
//! puts an array's elements at the same address modulo the huge page size everywhere.
//!
//! The checking process is this test binary re-run in a role (`check`).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::process::{play_role, role_command, wait_within};
use plexus::shm::os::sys;
use plexus::Dtype;

/// Elements of the large array: 5 MiB of f64, more than two huge pages.
const BIG: u64 = 5 << 17;
/// Region size: not a multiple of the huge page size.
const REGION: u64 = (16 << 20) + 12 * 4096;

fn pattern(i: u64) -> f64 {
    i as f64 * 0.5 + 1.0
}

/// The elements of `t` as a slice (the test's processes take turns: each makes its slice
/// anew after the other process's turn).
#[allow(clippy::mut_from_ref)]
fn elements(t: &plexus::TArray) -> &mut [f64] {
    let (p, n) = t.data().unwrap();
    assert_eq!(p as usize % 64, 0, "elements are 64-byte aligned");
    // SAFETY: `n` f64 in place, valid while `t` lives; the two processes take turns.
    unsafe { std::slice::from_raw_parts_mut(p.cast::<f64>(), n as usize) }
}

fn child_main(role: &str, region: &str) {
    assert_eq!(role, "check");
    let r = common::open(region);
    let t = r.tarray("big", Some(Dtype::F64), 0, 0, 0).unwrap();
    let a = elements(&t);
    assert_eq!(a.len() as u64, BIG);
    let half = a.len() / 2;
    for (i, x) in a[..half].iter().enumerate() {
        assert_eq!(*x, pattern(i as u64), "element {i} as the creator wrote it");
    }
    for (i, x) in a[half..].iter_mut().enumerate() {
        *x = -((half + i) as f64);
    }
    let small = r.tarray("small", Some(Dtype::U32), 0, 0, 0).unwrap();
    assert_eq!(small.load(7).unwrap(), 77);
    small.store(8, 88).unwrap();
    println!("\nBIG-MOD {}", a.as_ptr() as usize % sys::huge_page_size());
}

#[test]
fn child_entry() {
    play_role(child_main);
}

/// A large and a small array written by one process and read and written by another:
/// the same data in both, and the large array's elements at the same address modulo
/// the huge page size (with unaligned mappings the two would differ but by chance).
#[test]
fn regions_open_across_processes_at_huge_page_aligned_addresses() {
    let (r, name) = common::region("huge", REGION);
    let t = r.tarray("big", Some(Dtype::F64), BIG, 0, 0).unwrap();
    let a = elements(&t);
    for (i, x) in a.iter_mut().enumerate() {
        *x = pattern(i as u64);
    }
    let small = r.tarray("small", Some(Dtype::U32), 16, 0, 0).unwrap();
    small.store(7, 77).unwrap();

    let child = role_command("check", &name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_within("the checking process", child, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the checking process failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = elements(&t);
    let half = a.len() / 2;
    for (i, x) in a.iter().enumerate() {
        let want = if i < half {
            pattern(i as u64)
        } else {
            -(i as f64)
        };
        assert_eq!(*x, want, "element {i} as the checking process left it");
    }
    assert_eq!(small.load(8).unwrap(), 88);
    let theirs: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("BIG-MOD "))
        .unwrap_or_else(|| panic!("no BIG-MOD line in:\n{text}"))
        .trim()
        .parse()
        .unwrap();
    let huge = sys::huge_page_size();
    if REGION < huge as u64 {
        return; // huge pages larger than the region (64 KiB base pages): not aligned
    }
    assert_eq!(
        a.as_ptr() as usize % huge,
        theirs,
        "the elements' address modulo the huge page size ({huge} bytes) differs between the processes"
    );
}
