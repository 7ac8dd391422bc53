#!/usr/bin/env python3
"""benches/peers/analyze.py: the table, the ratios and the plots of benches/peers/run.sh.

Reads the JSON lines the peer programs printed (one per method, case and run), and
  - per method and case: the median over the runs of the per-run median (and of the
    per-run p99), and the spread (lowest and highest per-run median);
  - per peer: the ratio to its plexus counterpart computed run by run (the runs of a
    group alternate plexus and the peer in the same invocation), then the median and the
    spread of those ratios. The ratio is "plexus advantage": > 1 means plexus is better
    (faster, more values per second, or less CPU while waiting);
  - plots (PNG; needs matplotlib, else only the table): latency distributions of the last
    run per case, and the CPU of blocked waiters.
Writes OUT/results.md and OUT/summary.json and prints the table.
"""
import argparse
import json
import os
import statistics
import sys
from collections import defaultdict

GROUP_TITLES = {
    "pipe": "Kernel IPC and the physical limit (C++: plexus C API vs pipe, Unix socket, raw shared atomic)",
    "boost": "Boost.Interprocess (C++: plexus C API vs message_queue and interprocess_mutex + interprocess_condition)",
    "redis": "Redis (C++ client speaking RESP over 127.0.0.1 TCP vs the plexus C API)",
    "iceoryx2": "iceoryx2 (Rust: plexus Rust API bus vs iceoryx2 publish/subscribe)",
    "ems": "EMS (Node.js: EMS vs plexus's Node binding; plexus-c = the same calls through the C API)",
}
CASE_TITLES = {
    "rt": "round trip, 2 processes, 8-byte integer (ns per round trip)",
    "rt_fe": "writeEF/readFE round trip, 2 processes (ns per round trip)",
    "stream": "one-way stream, 2 processes, 8-byte integers (values per second)",
    "paced": "blocked waiter: a message every interval, the receiver's CPU and wake-up latency",
    "faa": "fetch-and-add, 1 process (ns per call)",
    "xf_ff": "writeXF + readFF pair, 1 process (ns per pair)",
    "set": "store a value others can read, 1 client (ns per operation)",
    "get": "read that value back, 1 client (ns per operation)",
}


# The queue moved in batches of 64 (streams only), compared with every peer as well.
BATCH_METHOD = "plexus-queue-batch64"


def ref_method(group, case, method):
    """The plexus method a peer is compared with (None for plexus methods themselves)."""
    if method.startswith("plexus"):
        return None
    if group == "boost":
        return "plexus-fe" if method == "boost-mutex-cond" else "plexus-queue"
    if group == "redis":
        return {"set": "plexus-array-write", "get": "plexus-array-read"}.get(case, "plexus-queue")
    if group == "iceoryx2":
        return "plexus-bus"
    if group == "ems":
        return "plexus-node"
    return "plexus-queue"


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.0f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def fmt_val(kind, v):
    if kind == "rate":
        return f"{v / 1e6:.2f} M/s" if v >= 1e5 else f"{v / 1e3:.1f} k/s"
    if kind == "cpu":
        return f"{v:.2f} %"
    return fmt_ns(v)


def fmt_ratio(rs):
    if not rs:
        return ""
    m = statistics.median(rs)
    lo, hi = min(rs), max(rs)
    def f(x):
        return f"{x:.2f}" if x < 10 else f"{x:.0f}"

    return f"**{f(m)}×** ({f(lo)}–{f(hi)})" if len(rs) > 1 else f"**{f(m)}×**"


def advantage(kind, peer, plexus):
    if peer <= 0 or plexus <= 0:
        return None
    return plexus / peer if kind == "rate" else peer / plexus


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--samples")
    ap.add_argument("--machine")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    rows, skips = [], []
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            (skips if r.get("kind") == "skip" else rows).append(r)

    # (group, case) -> method -> run -> record
    data = defaultdict(lambda: defaultdict(dict))
    order = []
    for r in rows:
        key = (r["group"], r["case"])
        if key not in order:
            order.append(key)
        data[key][r["method"]][r["run"]] = r

    summary = []
    md = []
    if a.machine and os.path.exists(a.machine):
        md.append("Machine and settings:\n\n```\n" + open(a.machine).read().strip() + "\n```\n")
    for s in skips:
        md.append(f"**SKIPPED {s['group']}**: {s.get('why', '')}\n")
    groups = []
    for g, _ in order:
        if g not in groups:
            groups.append(g)
    for g in groups:
        md.append(f"\n### {GROUP_TITLES.get(g, g)}\n")
        for (gg, case) in [k for k in order if k[0] == g]:
            methods = data[(gg, case)]
            kind = next(iter(next(iter(methods.values())).values()))["kind"]
            md.append(f"\n**{case}**: {CASE_TITLES.get(case, case)}\n")
            if kind == "cpu":
                md.append("| method | waiter CPU (% of one CPU) | CPU per message | wake-up median | wake-up p99 | CPU vs plexus |")
                md.append("|---|---|---|---|---|---|")
            elif kind == "rate":
                md.append("| method | median | runs (lowest–highest) | plexus advantage (median of per-run ratios, range) |")
                md.append("|---|---|---|---|")
            else:
                md.append("| method | median | p99 | runs' medians (lowest–highest) | plexus advantage (median of per-run ratios, range) |")
                md.append("|---|---|---|---|---|")
            for m, runs in methods.items():
                vals = [runs[k]["value"] for k in sorted(runs)]
                med = statistics.median(vals)
                ref = ref_method(g, case, m)
                ratios = []
                if ref and ref in methods:
                    for k, rec in runs.items():
                        if k in methods[ref]:
                            x = advantage(kind, rec["value"], methods[ref][k]["value"])
                            if x is not None:
                                ratios.append(x)
                ent = {"group": g, "case": case, "method": m, "kind": kind, "unit": next(iter(runs.values()))["unit"],
                       "runs": len(vals), "median": med, "min": min(vals), "max": max(vals),
                       "vs": ref if ratios else None,
                       "advantage_median": statistics.median(ratios) if ratios else None,
                       "advantage_min": min(ratios) if ratios else None,
                       "advantage_max": max(ratios) if ratios else None}
                rtxt = (fmt_ratio(ratios) + f" vs {ref}") if ratios else ""
                # Streams: the batched plexus queue against every peer too.
                if ref and BATCH_METHOD in methods and kind == "rate":
                    bratios = [x for k, rec in runs.items() if k in methods[BATCH_METHOD]
                               for x in [advantage(kind, rec["value"], methods[BATCH_METHOD][k]["value"])]
                               if x is not None]
                    if bratios:
                        ent.update(batch_vs=BATCH_METHOD,
                                   batch_advantage_median=statistics.median(bratios),
                                   batch_advantage_min=min(bratios), batch_advantage_max=max(bratios))
                        rtxt += f"; {fmt_ratio(bratios)} vs {BATCH_METHOD}"
                if kind == "cpu":
                    cpm = statistics.median([r["cpu_us_per_msg"] for r in runs.values()])
                    wm = statistics.median([r["wake_med_ns"] for r in runs.values()])
                    wp = statistics.median([r["wake_p99_ns"] for r in runs.values()])
                    ent.update(cpu_us_per_msg=cpm, wake_med_ns=wm, wake_p99_ns=wp)
                    md.append(f"| {m} | {med:.2f} % | {cpm:.1f} µs | {fmt_ns(wm)} | {fmt_ns(wp)} | {rtxt} |")
                elif kind == "rate":
                    md.append(f"| {m} | {fmt_val(kind, med)} | {fmt_val(kind, min(vals))} – {fmt_val(kind, max(vals))} | {rtxt} |")
                else:
                    p99 = statistics.median([r["p99"] for r in runs.values()])
                    ent["p99"] = p99
                    md.append(f"| {m} | {fmt_ns(med)} | {fmt_ns(p99)} | {fmt_ns(min(vals))} – {fmt_ns(max(vals))} | {rtxt} |")
                summary.append(ent)
    text = "\n".join(md) + "\n"
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("<!-- written by benches/peers/run.sh (analyze.py); overwritten by every run -->\n\n" + text)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(text)
    plots(a, data, order, summary)


def plots(a, data, order, summary):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("analyze.py: matplotlib not available: no plots (run.sh installs it into benches/peers/.venv)",
              file=sys.stderr)
        return
    written = []
    # Latency distributions: one figure per group, one panel per latency case.
    groups = []
    for g, _ in order:
        if g not in groups:
            groups.append(g)
    for g in groups:
        cases = [c for (gg, c) in order if gg == g
                 and next(iter(next(iter(data[(gg, c)].values())).values()))["kind"] == "lat"]
        panels = []
        for c in cases:
            series = []
            for m in data[(g, c)]:
                p = os.path.join(a.samples or "", f"{g}__{c}__{m}.txt")
                if a.samples and os.path.exists(p):
                    xs = [float(x) for x in open(p).read().split()]
                    if xs:
                        series.append((m, sorted(xs)))
            if series:
                panels.append((c, series))
        if not panels:
            continue
        fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
        for ax, (c, series) in zip(axes[0], panels):
            for m, xs in series:
                n = len(xs)
                ax.plot(xs, [(i + 1) / n for i in range(n)], label=m,
                        linewidth=2.2 if m.startswith("plexus") else 1.4,
                        linestyle="-" if m.startswith("plexus") else "--")
            ax.set_xscale("log")
            ax.set_xlabel("ns per operation (log scale)")
            ax.set_ylabel("fraction of operations ≤ x")
            ax.set_title(f"{g}: {c} (last run)")
            ax.axhline(0.99, color="grey", linewidth=0.6, linestyle=":")
            ax.grid(True, which="both", alpha=0.25)
            ax.legend(fontsize=8)
        fig.tight_layout()
        p = os.path.join(a.out, f"latency-{g}.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        written.append(p)
    # Blocked waiters: CPU used and wake-up latency, every method of every group.
    cpu = [e for e in summary if e["kind"] == "cpu"]
    if cpu:
        labels = [f"{e['group']}: {e['method']}" for e in cpu]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 0.38 * len(cpu) + 1.5))
        colors = ["tab:blue" if e["method"].startswith("plexus") else "tab:orange" for e in cpu]
        a1.barh(labels, [e["median"] for e in cpu], color=colors)
        a1.set_xscale("log")
        a1.set_xlabel("waiter CPU, % of one CPU (log scale)")
        a1.invert_yaxis()
        a1.grid(True, axis="x", which="both", alpha=0.25)
        a2.barh(labels, [e["wake_med_ns"] / 1e3 for e in cpu], color=colors)
        a2.set_xscale("log")
        a2.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        a2.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        a2.set_xlabel("wake-up latency, median µs (log scale)")
        a2.invert_yaxis()
        a2.set_yticklabels([])
        a2.grid(True, axis="x", which="both", alpha=0.25)
        fig.suptitle("blocked waiters: the receiver of a paced stream (blue: plexus), median over runs")
        fig.tight_layout()
        p = os.path.join(a.out, "waiters.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        written.append(p)
    for p in written:
        print(f"plot: {os.path.relpath(p)}", file=sys.stderr)


if __name__ == "__main__":
    main()
