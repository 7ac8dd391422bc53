/*
 * benches/bus.c: bus latency and fan-out throughput, mutex cost (not a test: nothing here
 * asserts a time). Part of `bash benches/run.sh`, which appends this report to the others.
 *
 * Measures, interleaved run by run (run 1 of every method, then run 2, ...):
 *   b0. baseline: plexus array write_ef/read_fe round trip, 2 processes (as row 1 of
 *       pingpong.c), measured here so that the bus ratio has a baseline of the same run
 *   b1. bus ping-pong, 1 subscriber each way: the parent publishes INT i on bus "ping",
 *       the child receives it and publishes it on bus "pong", the parent receives it;
 *       latency = round trip / 2 (clock-free; the target row)
 *   b2. bus one-way publish -> receive, 1 subscriber, paced: the publisher publishes its
 *       rdtscp timestamp, the subscriber takes rdtscp when plexus_sub_next returns; the
 *       next message goes out only after the subscriber acknowledged (through a raw
 *       shared word), so there is never a queue. Preceded by a TSC cross-check.
 *   b3. the same one-way latency with S subscriber processes (default 30), one message
 *       every --interval-us (default 50 us, clock_nanosleep): receive - publish time of
 *       every delivery, and per message the time until the last subscriber had it;
 *       b3s: the same at a low rate (--slow-interval-us, default 1000 us)
 *   b4. aggregate delivered messages/s with S subscribers: one publisher publishes N INTs
 *       as fast as it can into a bus of capacity --tput-cap, every subscriber receives
 *       until the bus is closed; delivered = messages received by all subscribers (a
 *       subscriber that falls more than the capacity behind skips: gaps are counted,
 *       skipped messages are not)
 *   b5. the same with 1 subscriber (information)
 *   b6, b7. b5 with the publisher publishing batches of 16 (b6) and 64 (b7) messages
 *       with plexus_bus_publish_many; reported as ratios against b5 of the same run
 *   x1. mutex lock + unlock pair, uncontended, 1 process (plexus_mutex_*), and x3 the same
 *       with a robust process-shared pthread mutex (baseline)
 *   x2. mutex contended by 2 processes: each does lock; counter++; unlock, N times; the
 *       counter (a plain shared word) must end exact; x4 the same with the pthread mutex
 * and prints a Markdown report on stdout (progress goes to stderr).
 *
 * Every region this program creates carries the tag "pxbench-<pid>-" in its name and is
 * removed before exit, also on error, timeout, SIGINT and SIGTERM (children are killed).
 * Nothing else in /dev/shm is touched.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mman.h>

#define MAX_SUBS 64
#define MAXCH (MAX_SUBS + 1)

/* Failure and cleanup (die, PX, bench_fork, bench_reap_one, the regions created), clocks,
 * CPU accounting, the quiet-machine wait and statistics; plexus.h. */
#define BENCH_MAX_CHILDREN MAXCH
#include "bench_common.h"

/* ------------------------------------------------------------------ options */

static struct {
    int runs;          /* interleaved runs */
    long rt;           /* round trips (b0, b1) and paced messages (b2) per run */
    long warm;         /* untimed warm-up round trips / messages (b0-b2) */
    int subs;          /* subscriber processes of b3 and b4 */
    long lat_n;        /* timed messages per run, b3 */
    long interval_us;  /* publish interval, b3 */
    long slow_n;       /* timed messages per run, b3s */
    long slow_interval_us; /* publish interval, b3s */
    long tput_n;       /* messages per run, b4-b7 */
    long tput_cap;     /* bus capacity, b4 and b5 */
    long mutex_ops;    /* lock + unlock pairs per run, x1 and x3 */
    long mutex_n;      /* acquisitions per process and run, x2 and x4 */
    int timeout_s;     /* watchdog per method and run */
    int quiet_wait_s;  /* before each run, wait up to this long for other load to stop */
    const char *only;  /* NULL: all methods; else one method (profiling; no report) */
} O = {5, 200000, 2000, 30, 10000, 50, 1000, 1000, 1000000, 65536, 2000000, 1000000, 120, 0, NULL};

#define NOISY_CPUS 0.15
#define FAST_MODE_NS 200   /* cache-line probe RT below this: the VM's fast mode */
#define LAT_WARM 1000      /* untimed messages before the timed ones, b3 */
#define LAT_CAP 4096       /* bus capacity, b3 (a subscriber 200 ms behind still gets all) */
#define PP_CAP 64          /* bus capacity, b1 and b2 */

static void usage(FILE *f) {
    fprintf(f,
            "usage: bus [--runs N] [--rt N] [--warm N] [--subs N] [--lat-n N] [--interval-us U]\n"
            "           [--tput-n N] [--tput-cap N] [--mutex-ops N] [--mutex-n N]\n"
            "           [--timeout S] [--quiet-wait S] [--only METHOD]\n"
            "  --runs N         interleaved runs (default 5)\n"
            "  --rt N           round trips per run, b0 b1; paced messages, b2 (default 200000)\n"
            "  --warm N         untimed warm-up round trips / messages, b0-b2 (default 2000)\n"
            "  --subs N         subscriber processes, b3 b4 (default 30, at most %d)\n"
            "  --lat-n N        timed messages per run, b3 (default 10000)\n"
            "  --interval-us U  publish interval, b3 (default 50)\n"
            "  --slow-n N       timed messages per run, b3s (default 1000)\n"
            "  --slow-interval-us U  publish interval, b3s (default 1000)\n"
            "  --tput-n N       messages per run, b4-b7 (default 1000000)\n"
            "  --tput-cap N     bus capacity, b4-b7 (default 65536; 128 bytes each)\n"
            "  --mutex-ops N    lock + unlock pairs per run, x1 x3 (default 2000000)\n"
            "  --mutex-n N      acquisitions per process and run, x2 x4 (default 1000000)\n"
            "  --timeout S      watchdog per method and run, seconds (default 120)\n"
            "  --quiet-wait S   before each run wait up to S seconds until other processes\n"
            "                   use < 0.1 CPU (default 0: do not wait)\n"
            "  --only M         run only array, buspp, oneway, fanout, tput, tput1, tput1-b16,\n"
            "                   tput1-b64, mutex, mutex2 or pmutex2 (for profiling; no report)\n",
            MAX_SUBS);
}

/* ------------------------------------------------------------------ statistics */

/* Latency statistics of one run of one method, in ns. */
typedef struct {
    double p50, p90, p99, p999, max, mean;
    long n;
} lat_stats;

/* Sorts s[0..n) (ticks) and summarises it. */
static void lat_summarize(uint64_t *s, long n, lat_stats *o) {
    qsort(s, n, sizeof *s, cmp_u64);
    double sum = 0;
    for (long k = 0; k < n; k++) sum += (double)s[k];
    o->p50 = interpolated_median(s, n) * ns_per_tick;
    o->p90 = q_u64(s, n, 0.90) * ns_per_tick;
    o->p99 = q_u64(s, n, 0.99) * ns_per_tick;
    o->p999 = q_u64(s, n, 0.999) * ns_per_tick;
    o->max = s[n - 1] * ns_per_tick;
    o->mean = sum / n * ns_per_tick;
    o->n = n;
}

/* ts[0..n] are the start times of round trips 0..n-1 plus the end time: turned into
 * round-trip durations, then summarised. */
static void rt_summarize(uint64_t *ts, long n, lat_stats *o) {
    for (long k = 0; k < n; k++) ts[k] = ts[k + 1] - ts[k];
    lat_summarize(ts, n, o);
}

/* ------------------------------------------------------------------ shared control block */

/* What each child reports (in the shared control block, written at its end). */
typedef struct {
    _Alignas(64) int ok;
    char msg[200];
    uint64_t t_first, t_last; /* CLOCK_MONOTONIC: start / last timed operation */
    double cpu_us;            /* CPU time over the timed part */
    long vcsw, icsw;          /* voluntary / involuntary context switches, timed part */
    uint64_t count;           /* subscribers: messages received (timed); lockers: acquisitions */
    uint64_t gaps, missed;    /* subscribers: sequence jumps, messages skipped by them */
    uint64_t negative;        /* one-way samples whose receive time was before the publish */
} child_res;

typedef struct {
    _Alignas(64) atomic_ulong pp;      /* cache-line probe; TSC check: parent -> child */
    _Alignas(64) atomic_ulong pp2;     /* TSC check: child -> parent */
    _Alignas(64) atomic_ulong ack;     /* b2: messages the subscriber has received */
    _Alignas(64) atomic_int ready;     /* children that opened everything */
    _Alignas(64) atomic_int go;        /* set by the parent: start */
    _Alignas(64) atomic_int warm_done; /* x2, x4: lockers done with their warm-up */
    _Alignas(64) volatile uint64_t counter; /* x2, x4: incremented under the mutex */
    volatile int last_owner;           /* x2, x4: locker that held the mutex last */
    volatile uint64_t handoffs;        /* x2, x4: acquisitions by the other locker */
    _Alignas(64) pthread_mutex_t pm;   /* x3, x4: robust process-shared pthread mutex */
    child_res res[MAXCH];
} ctl_t;

static ctl_t *g_ctl;
static int g_me = -1; /* index of this child in g_ctl->res */
static uint64_t *g_samples; /* shared: latency samples (ticks) written by the children */
static size_t g_samples_bytes;

static void child_fail(const char *fmt, ...) {
    child_res *r = &g_ctl->res[g_me];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->ok = 0;
    _exit(1);
}

#define CPX(call)                                                                       \
    do {                                                                                \
        plexus_status st_ = (call);                                                     \
        if (st_ != PLEXUS_OK)                                                           \
            child_fail("child %d: %s -> %s: %s", g_me, #call, plexus_status_name(st_),   \
                       plexus_last_error());                                            \
    } while (0)

/* Spins (yielding: up to 32 processes share 2 CPUs here) until the parent says go. */
static void wait_go(void) {
    atomic_fetch_add(&g_ctl->ready, 1);
    for (unsigned k = 1; !atomic_load_explicit(&g_ctl->go, memory_order_acquire); k++) {
        cpu_relax();
        if ((k & 63) == 0) sched_yield();
    }
}

/* Spins until *w >= want; yields every 4096 polls (both processes on one CPU). */
static void spin_at_least(atomic_ulong *w, uint64_t want) {
    for (unsigned k = 1; atomic_load_explicit(w, memory_order_acquire) < want; k++) {
        cpu_relax();
        if ((k & 4095) == 0) sched_yield();
    }
}

static void open_region(const char *name, plexus_region *r) {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_OPEN;
    o.wait_ns = 10LL * 1000 * 1000 * 1000;
    CPX(plexus_region_open(name, &o, r)); /* opened after fork, by the child itself */
}

static void finish_child(child_res *res, usage_t u0) {
    usage_t u1 = usage_self();
    res->cpu_us = u1.cpu_us - u0.cpu_us;
    res->vcsw = u1.vcsw - u0.vcsw;
    res->icsw = u1.icsw - u0.icsw;
    res->ok = 1;
    _exit(0);
}

/* ------------------------------------------------------------------ methods */

typedef enum {
    M_ARRAY,   /* b0 */
    M_BUSPP,   /* b1 */
    M_ONEWAY,  /* b2 (+ TSC check) */
    M_FANOUT,  /* b3 */
    M_FANOUT2, /* b3s: the same at a low rate */
    M_TPUT,    /* b4 */
    M_TPUT1,   /* b5 */
    M_TPUTB16, /* b6: b5 in batches of 16 */
    M_TPUTB64, /* b7: b5 in batches of 64 */
    M_MUTEX,   /* x1 + x3 */
    M_MUTEX2,  /* x2 */
    M_PMUTEX2, /* x4 */
    NMETHODS
} method;
static const char *const M_NAME[NMETHODS] = {"array", "buspp",  "oneway", "fanout",
                                             "fanout-slow", "tput", "tput1", "tput1-b16",
                                             "tput1-b64", "mutex",
                                             "mutex2", "pmutex2"};

typedef struct {
    method m;
    int subs;
    int batch;          /* b6, b7: messages per plexus_bus_publish_many (0: single publishes) */
    long n, warm;       /* b2, b3: timed and warm-up messages */
    long interval_us;   /* b3: publish interval (0: paced by acks, b2) */
    long cap;           /* b2, b3: bus capacity */
    char region[160];
} job;

/* Everything one run of one method yields. */
typedef struct {
    lat_stats lat;       /* b0, b1: round trip; b2, b3: one-way, every delivery */
    lat_stats all;       /* b3: per message, until the last subscriber had it */
    double cpu_per_op;   /* ns of CPU (all processes) per round trip / delivery / op */
    double csw_per_op;   /* sleeps (voluntary context switches) per round trip / delivery */
    double icsw_per_op;  /* preemptions per round trip / delivery */
    double probe_ns;     /* cache-line round trip just before (b0-b2) */
    double tsc_off_ns;   /* b2: TSC offset child - parent (ns) */
    double tsc_oneway;   /* b2: raw one-way store -> load (ns) */
    double rate;         /* b4, b5: delivered M/s; x2, x4: M acquisitions/s */
    double pub_rate;     /* b4, b5: publisher M/s */
    double per_sub;      /* b4: delivered M/s per subscriber (median subscriber) */
    double delivered;    /* b4, b5: share of the published messages delivered */
    uint64_t gaps, missed, negative;
    double ns_per_op;    /* x1, x2, x4: ns per pair / acquisition */
    double ns_per_op2;   /* x1: pthread pair (x3) */
    double handoffs_k;   /* x2, x4: acquisitions by the other process per 1000 */
    double cpus;         /* b3, b4: CPUs used by the subscribers (CPU time / wall) */
    double interval_ns;  /* b3: achieved mean interval between timed publishes */
} m_stats;

static pid_t fork_child(const job *j, int idx, void (*body)(const job *, int)) {
    memset(&g_ctl->res[idx], 0, sizeof g_ctl->res[idx]);
    pid_t pid = bench_fork(idx);
    if (pid == 0) {
        g_me = idx;
        body(j, idx);
        _exit(1); /* not reached */
    }
    return pid;
}

/* A child's own account of how it ended (for bench_reap_one and bench_start). */
static bench_outcome child_outcome(int idx) {
    return (bench_outcome){g_ctl->res[idx].ok, g_ctl->res[idx].msg};
}

/* Waits for any child; dies at once if one failed. Returns its index. */
static int reap_one(void) { return bench_reap_one(child_outcome); }

/* Waits until nch children said ready (dies if one exits before), then says go. */
static void start_children(int nch) {
    bench_start(&g_ctl->ready, &g_ctl->go, nch, 200 * 1000, child_outcome);
}

static void *shared_alloc(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap %zu bytes: %s", bytes, strerror(errno));
    return p;
}

/* ---- cache-line probe (as in queue.c): median of 40 batches of 100 raw round trips */

#define PROBE_BATCH 100
#define PROBE_BATCHES 40

static void probe_spin(uint64_t want) {
    for (unsigned k = 1; atomic_load_explicit(&g_ctl->pp, memory_order_acquire) != want; k++) {
        cpu_relax();
        if ((k & 4095) == 0) sched_yield();
    }
}

static void probe_child(const job *j, int idx) {
    (void)j;
    (void)idx;
    const long rts = (long)(PROBE_BATCHES + 1) * PROBE_BATCH;
    for (long k = 0; k < rts; k++) {
        probe_spin(2 * (uint64_t)k + 1);
        atomic_store_explicit(&g_ctl->pp, 2 * (uint64_t)k + 2, memory_order_release);
    }
    g_ctl->res[0].ok = 1;
    _exit(0);
}

static double probe_rt_ns(void) {
    atomic_store(&g_ctl->pp, 0);
    const long rts = (long)(PROBE_BATCHES + 1) * PROBE_BATCH; /* the first batch: warm-up */
    job j = {0};
    alarm(O.timeout_s);
    fork_child(&j, 0, probe_child);
    double batch[PROBE_BATCHES];
    uint64_t t0 = 0;
    for (long k = 0; k < rts; k++) {
        if (k % PROBE_BATCH == 0) {
            uint64_t t = now_ns();
            if (k >= 2 * PROBE_BATCH) batch[k / PROBE_BATCH - 2] = (double)(t - t0) / PROBE_BATCH;
            t0 = t;
        }
        atomic_store_explicit(&g_ctl->pp, 2 * (uint64_t)k + 1, memory_order_release);
        probe_spin(2 * (uint64_t)k + 2);
    }
    batch[PROBE_BATCHES - 1] = (double)(now_ns() - t0) / PROBE_BATCH;
    reap_one();
    alarm(0);
    return median_d(batch, PROBE_BATCHES);
}

/* ---- TSC cross-check: are the two CPUs' TSCs in step?
 *
 * TSC_N exchanges: the parent stores its rdtscp value in pp, the child spins until it sees
 * it and takes its own rdtscp: d1 = t_child - t_parent = latency + offset; then the
 * child stores a fresh rdtscp in pp2 and the parent computes d2 = t_parent - t_child =
 * latency - offset. offset (child - parent) = (median d1 - median d2) / 2, and the raw
 * one-way store -> load latency = (median d1 + median d2) / 2. */
#define TSC_N 20000

static void tsc_child(const job *j, int idx) {
    (void)j;
    (void)idx;
    uint64_t seen = 0;
    for (long k = 0; k < TSC_N; k++) {
        uint64_t v;
        for (unsigned s = 1; (v = atomic_load_explicit(&g_ctl->pp, memory_order_acquire)) == seen; s++) {
            cpu_relax();
            if ((s & 4095) == 0) sched_yield();
        }
        uint64_t t = ticks();
        seen = v;
        g_samples[k] = t - v; /* may wrap if the child's TSC is behind: signed below */
        atomic_store_explicit(&g_ctl->pp2, ticks(), memory_order_release);
    }
    g_ctl->res[0].ok = 1;
    _exit(0);
}

static double signed_median_ticks(const uint64_t *s, long n) {
    /* the differences may be negative (a TSC behind the other): shift by the smallest */
    uint64_t *t = malloc(n * sizeof *t);
    if (!t) die("out of memory");
    int64_t lo = INT64_MAX;
    for (long k = 0; k < n; k++) lo = (int64_t)s[k] < lo ? (int64_t)s[k] : lo;
    for (long k = 0; k < n; k++) t[k] = (uint64_t)((int64_t)s[k] - lo);
    qsort(t, n, sizeof *t, cmp_u64);
    double m = interpolated_median(t, n) + (double)lo;
    free(t);
    return m;
}

static void tsc_check(m_stats *s) {
    atomic_store(&g_ctl->pp, 0);
    atomic_store(&g_ctl->pp2, 0);
    job j = {0};
    alarm(O.timeout_s);
    fork_child(&j, 0, tsc_child);
    uint64_t *d2 = malloc(TSC_N * sizeof *d2);
    if (!d2) die("out of memory");
    uint64_t seen = 0;
    for (long k = 0; k < TSC_N; k++) {
        atomic_store_explicit(&g_ctl->pp, ticks() | 1, memory_order_release); /* never 0 */
        uint64_t v;
        for (unsigned q = 1; (v = atomic_load_explicit(&g_ctl->pp2, memory_order_acquire)) == seen; q++) {
            cpu_relax();
            if ((q & 4095) == 0) sched_yield();
        }
        d2[k] = ticks() - v;
        seen = v;
    }
    reap_one();
    alarm(0);
    /* Drop the first 10 % (start-up placement). */
    long skip = TSC_N / 10;
    double m1 = signed_median_ticks(g_samples + skip, TSC_N - skip);
    double m2 = signed_median_ticks(d2 + skip, TSC_N - skip);
    free(d2);
    s->tsc_off_ns = (m1 - m2) / 2 * ns_per_tick;
    s->tsc_oneway = (m1 + m2) / 2 * ns_per_tick;
}

/* ---- b0: array write_ef/read_fe ping-pong (the baseline, as pingpong.c row 1) */

static void array_child(const job *j, int idx) {
    (void)idx;
    plexus_region r;
    open_region(j->region, &r);
    plexus_array arr;
    CPX(plexus_array_open(r, "pp", 2, 0, &arr));
    wait_go();
    child_res *res = &g_ctl->res[g_me];
    usage_t u0 = {0};
    for (long i = 0; i < O.warm + O.rt; i++) {
        if (i == O.warm) u0 = usage_self();
        plexus_value v;
        CPX(plexus_array_read_fe(arr, 0, &v, PLEXUS_FOREVER));
        if (v.type != PLEXUS_INT || v.as.i != i)
            child_fail("array child: read_fe got %" PRId64 ", expected %ld", v.as.i, i);
        plexus_value w = plexus_int(i);
        CPX(plexus_array_write_ef(arr, 1, &w, PLEXUS_FOREVER));
    }
    CPX(plexus_region_close(r));
    finish_child(res, u0);
}

/* ---- b1: bus ping-pong: "ping" parent -> child, "pong" child -> parent */

static void buspp_child(const job *j, int idx) {
    (void)idx;
    plexus_region r;
    open_region(j->region, &r);
    plexus_bus ping, pong;
    plexus_sub sub;
    CPX(plexus_bus_open(r, "ping", PP_CAP, 0, &ping));
    CPX(plexus_bus_open(r, "pong", PP_CAP, 0, &pong));
    /* The parent publishes message i + 1 only after it received our reply to message i,
     * so from the oldest retained message on we miss nothing. */
    CPX(plexus_bus_subscribe(ping, PLEXUS_FROM_OLDEST, &sub));
    wait_go();
    child_res *res = &g_ctl->res[g_me];
    usage_t u0 = {0};
    for (long i = 0; i < O.warm + O.rt; i++) {
        if (i == O.warm) u0 = usage_self();
        plexus_value v;
        uint64_t seq;
        CPX(plexus_sub_next(sub, &v, &seq, PLEXUS_FOREVER));
        if (v.type != PLEXUS_INT || v.as.i != i || seq != (uint64_t)i + 1)
            child_fail("bus child: got %" PRId64 " (seq %" PRIu64 "), expected %ld", v.as.i, seq, i);
        CPX(plexus_bus_publish(pong, &v, NULL));
    }
    CPX(plexus_sub_close(sub));
    CPX(plexus_region_close(r));
    finish_child(res, u0);
}

static void run_pingpong(method m, int run, m_stats *s) {
    job j = {.m = m};
    snprintf(j.region, sizeof j.region, "%sb-%s-%d", g_tag, M_NAME[m], run);
    memset(g_ctl, 0, offsetof(ctl_t, res));
    alarm(O.timeout_s);
    fork_child(&j, 0, m == M_ARRAY ? array_child : buspp_child);
    plexus_region r = bench_create_region(j.region, 1 << 20);
    plexus_array arr = {0};
    plexus_bus ping = {0}, pong = {0};
    plexus_sub sub = {0};
    if (m == M_ARRAY) {
        PX(plexus_array_open(r, "pp", 2, 0, &arr));
    } else {
        PX(plexus_bus_open(r, "ping", PP_CAP, 0, &ping));
        PX(plexus_bus_open(r, "pong", PP_CAP, 0, &pong));
        PX(plexus_bus_subscribe(pong, PLEXUS_FROM_OLDEST, &sub));
    }
    start_children(1);
    static uint64_t *ts;
    static long ts_n;
    if (ts_n < O.rt + 1) {
        free(ts);
        ts = malloc((O.rt + 1) * sizeof *ts);
        if (!ts) die("out of memory");
        ts_n = O.rt + 1;
    }
    usage_t u0 = {0};
    for (long i = 0; i < O.warm + O.rt; i++) {
        if (i >= O.warm) {
            if (i == O.warm) u0 = usage_self();
            ts[i - O.warm] = ticks();
        }
        plexus_value w = plexus_int(i), v;
        if (m == M_ARRAY) {
            PX(plexus_array_write_ef(arr, 0, &w, PLEXUS_FOREVER));
            PX(plexus_array_read_fe(arr, 1, &v, PLEXUS_FOREVER));
            if (v.type != PLEXUS_INT || v.as.i != i)
                die("array ping-pong: got %" PRId64 ", expected %ld", v.as.i, i);
        } else {
            uint64_t seq;
            PX(plexus_bus_publish(ping, &w, NULL));
            PX(plexus_sub_next(sub, &v, &seq, PLEXUS_FOREVER));
            if (v.type != PLEXUS_INT || v.as.i != i || seq != (uint64_t)i + 1)
                die("bus ping-pong: got %" PRId64 " (seq %" PRIu64 "), expected %ld", v.as.i, seq, i);
        }
    }
    ts[O.rt] = ticks();
    usage_t u1 = usage_self();
    reap_one();
    alarm(0);
    if (m == M_BUSPP) PX(plexus_sub_close(sub));
    bench_remove_region(r, j.region);
    rt_summarize(ts, O.rt, &s->lat);
    child_res *c = &g_ctl->res[0];
    s->cpu_per_op = (u1.cpu_us - u0.cpu_us + c->cpu_us) * 1e3 / O.rt;
    s->csw_per_op = (double)(u1.vcsw - u0.vcsw + c->vcsw) / O.rt;
    s->icsw_per_op = (double)(u1.icsw - u0.icsw + c->icsw) / O.rt;
}

/* ---- b2 (1 subscriber, paced by acks) and b3 (S subscribers, paced by the clock):
 * one-way publish -> receive latency. The message is an INT holding the publisher's
 * rdtscp taken right before plexus_bus_publish; the subscriber takes rdtscp right after
 * plexus_sub_next returns. Message k has sequence number k + 1 (the bus is new). */

static void lat_subscriber(const job *j, int idx) {
    plexus_region r;
    open_region(j->region, &r);
    plexus_bus b;
    plexus_sub sub;
    const bool paced = j->interval_us == 0;
    const long warm = j->warm, n = j->n;
    CPX(plexus_bus_open(r, "lat", j->cap, 0, &b));
    CPX(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &sub));
    wait_go();
    child_res *res = &g_ctl->res[g_me];
    uint64_t *out = g_samples + (size_t)(idx - 1) * n; /* index 0 is the publisher */
    for (long k = 0; k < n; k++) out[k] = UINT64_MAX;   /* "not delivered" */
    usage_t u0 = usage_self();
    uint64_t prev = 0;
    for (;;) {
        plexus_value v;
        uint64_t seq;
        plexus_status st = plexus_sub_next(sub, &v, &seq, PLEXUS_FOREVER);
        uint64_t t = ticks();
        if (st == PLEXUS_CLOSED) break;
        if (st != PLEXUS_OK)
            child_fail("subscriber %d: plexus_sub_next -> %s: %s", idx, plexus_status_name(st),
                       plexus_last_error());
        if (v.type != PLEXUS_INT) child_fail("subscriber %d: message of type %d", idx, v.type);
        if (seq != prev + 1) {
            if (seq <= prev) child_fail("subscriber %d: seq %" PRIu64 " after %" PRIu64, idx, seq, prev);
            res->gaps++;
            res->missed += seq - prev - 1;
        }
        prev = seq;
        if (paced) atomic_store_explicit(&g_ctl->ack, seq, memory_order_release);
        if (seq == (uint64_t)warm + 1) u0 = usage_self();
        if (seq > (uint64_t)warm) {
            long k = (long)(seq - 1 - (uint64_t)warm);
            if (k >= n) child_fail("subscriber %d: seq %" PRIu64 " beyond the last", idx, seq);
            int64_t d = (int64_t)(t - (uint64_t)v.as.i);
            if (d < 0) {
                res->negative++;
                d = 0;
            }
            out[k] = (uint64_t)d;
            res->count++;
        }
    }
    if (prev != (uint64_t)(warm + n))
        child_fail("subscriber %d: last seq %" PRIu64 ", expected %ld", idx, prev, warm + n);
    CPX(plexus_sub_close(sub));
    CPX(plexus_region_close(r));
    finish_child(res, u0);
}

static void lat_publisher(const job *j, int idx) {
    (void)idx;
    plexus_region r;
    open_region(j->region, &r);
    plexus_bus b;
    const bool paced = j->interval_us == 0;
    const long warm = j->warm, n = j->n;
    CPX(plexus_bus_open(r, "lat", j->cap, 0, &b));
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake-ups on time (default slack: 50 us) */
    wait_go();
    child_res *res = &g_ctl->res[g_me];
    usage_t u0 = usage_self();
    const uint64_t interval = (uint64_t)j->interval_us * 1000;
    uint64_t next = now_ns() + interval;
    for (long k = 0; k < warm + n; k++) {
        if (paced) {
            spin_at_least(&g_ctl->ack, (uint64_t)k); /* the subscriber has message k */
        } else {
            struct timespec at = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR) {}
            uint64_t now = now_ns();
            next += interval;
            if (next < now) next = now + interval; /* fell behind: no burst to catch up */
        }
        if (k == warm) res->t_first = now_ns(); /* the timed messages start */
        uint64_t seq;
        plexus_value v = plexus_int((int64_t)ticks());
        CPX(plexus_bus_publish(b, &v, &seq));
        if (seq != (uint64_t)k + 1) child_fail("publisher: seq %" PRIu64 ", expected %ld", seq, k + 1);
    }
    if (paced) spin_at_least(&g_ctl->ack, (uint64_t)(warm + n));
    res->t_last = now_ns();
    CPX(plexus_bus_shutdown(b));
    CPX(plexus_region_close(r));
    finish_child(res, u0);
}

static void run_latency(method m, int run, m_stats *s) {
    job j = {.m = m, .subs = m == M_ONEWAY ? 1 : O.subs, .cap = LAT_CAP, .warm = LAT_WARM};
    if (m == M_ONEWAY) {
        j.n = O.rt;
        j.warm = O.warm;
        j.cap = PP_CAP;
    } else if (m == M_FANOUT) {
        j.n = O.lat_n;
        j.interval_us = O.interval_us;
    } else {
        j.n = O.slow_n;
        j.interval_us = O.slow_interval_us;
        j.warm = LAT_WARM / 10;
    }
    snprintf(j.region, sizeof j.region, "%sb-%s-%d", g_tag, M_NAME[m], run);
    const long n = j.n;
    memset(g_ctl, 0, offsetof(ctl_t, res));
    alarm(O.timeout_s + (int)((n + j.warm) * j.interval_us / 1000000));
    fork_child(&j, 0, lat_publisher);
    for (int i = 1; i <= j.subs; i++) fork_child(&j, i, lat_subscriber);
    plexus_region r = bench_create_region(j.region, (uint64_t)LAT_CAP * 128 + (4 << 20));
    plexus_bus b;
    PX(plexus_bus_open(r, "lat", j.cap, 0, &b));
    start_children(j.subs + 1);
    for (int left = j.subs + 1; left > 0; left--) reap_one();
    alarm(0);
    PX(plexus_bus_close(b));
    bench_remove_region(r, j.region);

    /* Every delivery; and per message, the latest subscriber's latency. */
    size_t total = (size_t)j.subs * n, got = 0;
    uint64_t *all = malloc(total * sizeof *all), *last = malloc(n * sizeof *last);
    if (!all || !last) die("out of memory");
    long nlast = 0;
    for (long k = 0; k < n; k++) {
        uint64_t worst = 0;
        bool complete = true;
        for (int i = 0; i < j.subs; i++) {
            uint64_t x = g_samples[(size_t)i * n + k];
            if (x == UINT64_MAX) {
                complete = false;
                continue;
            }
            all[got++] = x;
            worst = x > worst ? x : worst;
        }
        if (complete) last[nlast++] = worst;
    }
    double cpu = 0, vcsw = 0, icsw = 0;
    s->gaps = s->missed = s->negative = 0;
    for (int i = 1; i <= j.subs; i++) {
        child_res *c = &g_ctl->res[i];
        cpu += c->cpu_us;
        vcsw += c->vcsw;
        icsw += c->icsw;
        s->gaps += c->gaps;
        s->missed += c->missed;
        s->negative += c->negative;
    }
    if (got == 0) die("%s: no message delivered", M_NAME[m]);
    lat_summarize(all, (long)got, &s->lat);
    if (nlast) lat_summarize(last, nlast, &s->all);
    else memset(&s->all, 0, sizeof s->all);
    child_res *p = &g_ctl->res[0];
    double wall = (double)(p->t_last - p->t_first);
    s->cpu_per_op = (cpu + p->cpu_us) * 1e3 / (double)got;
    s->csw_per_op = vcsw / (double)got;
    s->icsw_per_op = icsw / (double)got;
    s->cpus = cpu * 1e3 / wall;
    s->interval_ns = wall / (double)n;
    s->delivered = (double)got / (double)total;
    free(all);
    free(last);
}

/* ---- b4, b5: aggregate delivered messages/s. The publisher publishes INT i as message i
 * (i = 1..N) as fast as it can, then closes the bus; every subscriber receives until
 * PLEXUS_CLOSED and checks that each value equals its sequence number. */

static void tput_subscriber(const job *j, int idx) {
    plexus_region r;
    open_region(j->region, &r);
    plexus_bus b;
    plexus_sub sub;
    CPX(plexus_bus_open(r, "t", O.tput_cap, 0, &b));
    CPX(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &sub));
    wait_go();
    child_res *res = &g_ctl->res[g_me];
    usage_t u0 = usage_self();
    uint64_t prev = 0, last_tsc = 0;
    for (;;) {
        plexus_value v;
        uint64_t seq;
        plexus_status st = plexus_sub_next(sub, &v, &seq, PLEXUS_FOREVER);
        if (st == PLEXUS_CLOSED) break;
        if (st != PLEXUS_OK)
            child_fail("subscriber %d: plexus_sub_next -> %s: %s", idx, plexus_status_name(st),
                       plexus_last_error());
        last_tsc = ticks();
        if (v.type != PLEXUS_INT || (uint64_t)v.as.i != seq)
            child_fail("subscriber %d: message %" PRIu64 " holds %" PRId64, idx, seq, v.as.i);
        if (seq != prev + 1) {
            if (seq <= prev) child_fail("subscriber %d: seq %" PRIu64 " after %" PRIu64, idx, seq, prev);
            res->gaps++;
            res->missed += seq - prev - 1;
        }
        prev = seq;
        res->count++;
    }
    uint64_t t_end = now_ns(), tsc_end = ticks();
    if (prev != (uint64_t)O.tput_n)
        child_fail("subscriber %d: last seq %" PRIu64 ", expected %ld", idx, prev, O.tput_n);
    /* back-date the end to the last message received (not the CLOSED) */
    res->t_last = t_end - (uint64_t)((double)(tsc_end - last_tsc) * ns_per_tick);
    CPX(plexus_sub_close(sub));
    CPX(plexus_region_close(r));
    finish_child(res, u0);
}

static void tput_publisher(const job *j, int idx) {
    (void)idx;
    plexus_region r;
    open_region(j->region, &r);
    plexus_bus b;
    CPX(plexus_bus_open(r, "t", O.tput_cap, 0, &b));
    wait_go();
    child_res *res = &g_ctl->res[g_me];
    usage_t u0 = usage_self();
    res->t_first = now_ns();
    if (j->batch > 0) {
        plexus_value vs[64];
        for (long i = 1; i <= O.tput_n; i += j->batch) {
            long n = O.tput_n - i + 1 < j->batch ? O.tput_n - i + 1 : j->batch;
            for (long k = 0; k < n; k++) vs[k] = plexus_int(i + k);
            uint64_t first;
            CPX(plexus_bus_publish_many(b, vs, (size_t)n, &first));
            if (first != (uint64_t)i)
                child_fail("publisher: first seq %" PRIu64 ", expected %ld", first, i);
        }
    } else {
        for (long i = 1; i <= O.tput_n; i++) {
            uint64_t seq;
            plexus_value v = plexus_int(i);
            CPX(plexus_bus_publish(b, &v, &seq));
            if (seq != (uint64_t)i) child_fail("publisher: seq %" PRIu64 ", expected %ld", seq, i);
        }
    }
    res->t_last = now_ns();
    CPX(plexus_bus_shutdown(b));
    CPX(plexus_region_close(r));
    finish_child(res, u0);
}

static void run_tput(method m, int run, m_stats *s) {
    job j = {.m = m,
             .subs = m == M_TPUT ? O.subs : 1,
             .batch = m == M_TPUTB16 ? 16 : m == M_TPUTB64 ? 64 : 0};
    snprintf(j.region, sizeof j.region, "%sb-%s-%d", g_tag, M_NAME[m], run);
    memset(g_ctl, 0, offsetof(ctl_t, res));
    alarm(O.timeout_s);
    fork_child(&j, 0, tput_publisher);
    for (int i = 1; i <= j.subs; i++) fork_child(&j, i, tput_subscriber);
    plexus_region r = bench_create_region(j.region, (uint64_t)O.tput_cap * 128 + (4 << 20));
    plexus_bus b;
    PX(plexus_bus_open(r, "t", O.tput_cap, 0, &b));
    start_children(j.subs + 1);
    for (int left = j.subs + 1; left > 0; left--) reap_one();
    alarm(0);
    PX(plexus_bus_close(b));
    bench_remove_region(r, j.region);
    child_res *p = &g_ctl->res[0];
    uint64_t t_last = 0, count = 0;
    double cpu = p->cpu_us, vcsw = p->vcsw, icsw = p->icsw, per[MAX_SUBS];
    s->gaps = s->missed = 0;
    for (int i = 1; i <= j.subs; i++) {
        child_res *c = &g_ctl->res[i];
        if (c->t_last > t_last) t_last = c->t_last;
        if (c->count + c->missed != (uint64_t)O.tput_n)
            die("%s: subscriber %d received %" PRIu64 " and skipped %" PRIu64 " of %ld", M_NAME[m],
                i, c->count, c->missed, O.tput_n);
        count += c->count;
        s->gaps += c->gaps;
        s->missed += c->missed;
        cpu += c->cpu_us;
        vcsw += c->vcsw;
        icsw += c->icsw;
        per[i - 1] = (double)c->count / (double)(c->t_last - p->t_first) * 1e3;
    }
    if (t_last <= p->t_first) die("%s: bad timestamps", M_NAME[m]);
    double wall = (double)(t_last - p->t_first);
    s->rate = (double)count / wall * 1e3;
    s->pub_rate = (double)O.tput_n / (double)(p->t_last - p->t_first) * 1e3;
    s->per_sub = median_d(per, j.subs);
    s->delivered = (double)count / ((double)O.tput_n * j.subs);
    s->cpu_per_op = cpu * 1e3 / (double)count;
    s->csw_per_op = vcsw / (double)count;
    s->icsw_per_op = icsw / (double)count;
    s->cpus = cpu * 1e3 / wall;
}

/* ---- x1, x3: uncontended mutex, one process */

static void init_pthread_mutex(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (pthread_mutex_init(&g_ctl->pm, &a) != 0) die("pthread_mutex_init failed");
    pthread_mutexattr_destroy(&a);
}

static void run_mutex1(int run, m_stats *s) {
    job j = {.m = M_MUTEX};
    snprintf(j.region, sizeof j.region, "%sb-%s-%d", g_tag, M_NAME[M_MUTEX], run);
    plexus_region r = bench_create_region(j.region, 1 << 20);
    plexus_mutex mx;
    PX(plexus_mutex_open(r, "m", &mx));
    const long n = O.mutex_ops, warm = n / 20 > 1000 ? n / 20 : 1000;
    uint64_t t0 = 0;
    volatile uint64_t c = 0;
    for (long i = -warm; i < n; i++) {
        if (i == 0) t0 = now_ns();
        PX(plexus_mutex_lock(mx, PLEXUS_FOREVER));
        c++;
        PX(plexus_mutex_unlock(mx));
    }
    s->ns_per_op = (double)(now_ns() - t0) / n;
    bool locked = true;
    PX(plexus_mutex_is_locked(mx, &locked));
    if (locked || c != (uint64_t)(n + warm)) die("mutex: left locked or count wrong");
    PX(plexus_mutex_close(mx));
    bench_remove_region(r, j.region);

    init_pthread_mutex();
    for (long i = -warm; i < n; i++) {
        if (i == 0) t0 = now_ns();
        if (pthread_mutex_lock(&g_ctl->pm) != 0) die("pthread_mutex_lock failed");
        c++;
        pthread_mutex_unlock(&g_ctl->pm);
    }
    s->ns_per_op2 = (double)(now_ns() - t0) / n;
    pthread_mutex_destroy(&g_ctl->pm);
}

/* ---- x2, x4: 2 processes contend: lock; counter++ (a plain read and write of a shared
 * word: lost updates would show a broken mutual exclusion); unlock */

static void locker(const job *j, int idx) {
    const bool px = j->m == M_MUTEX2;
    plexus_region r = {0};
    plexus_mutex mx = {0};
    if (px) {
        open_region(j->region, &r);
        CPX(plexus_mutex_open(r, "m", &mx));
    }
    wait_go();
    child_res *res = &g_ctl->res[g_me];
    const long n = O.mutex_n, warm = n / 20 > 1000 ? n / 20 : 1000;
    usage_t u0 = {0};
    for (long i = 0; i < warm + n; i++) {
        if (i == warm) { /* both done with the warm-up: start the clock */
            atomic_fetch_add(&g_ctl->warm_done, 1);
            for (unsigned k = 1; atomic_load(&g_ctl->warm_done) < 2; k++) {
                cpu_relax();
                if ((k & 1023) == 0) sched_yield();
            }
            u0 = usage_self();
            res->t_first = now_ns();
        }
        if (px) {
            CPX(plexus_mutex_lock(mx, PLEXUS_FOREVER));
        } else {
            int e = pthread_mutex_lock(&g_ctl->pm);
            if (e != 0) child_fail("pthread_mutex_lock: %s", strerror(e));
        }
        uint64_t c = g_ctl->counter;
        g_ctl->counter = c + 1;
        if (g_ctl->last_owner != idx + 1) {
            g_ctl->last_owner = idx + 1;
            g_ctl->handoffs++;
        }
        if (px) CPX(plexus_mutex_unlock(mx));
        else pthread_mutex_unlock(&g_ctl->pm);
    }
    res->t_last = now_ns();
    res->count = (uint64_t)(warm + n);
    if (px) CPX(plexus_region_close(r));
    finish_child(res, u0);
}

static void run_mutex2(method m, int run, m_stats *s) {
    job j = {.m = m};
    snprintf(j.region, sizeof j.region, "%sb-%s-%d", g_tag, M_NAME[m], run);
    memset(g_ctl, 0, offsetof(ctl_t, res));
    alarm(O.timeout_s);
    if (m == M_PMUTEX2) init_pthread_mutex();
    fork_child(&j, 0, locker);
    fork_child(&j, 1, locker);
    plexus_region r = {0};
    plexus_mutex mx;
    if (m == M_MUTEX2) {
        r = bench_create_region(j.region, 1 << 20);
        PX(plexus_mutex_open(r, "m", &mx));
    }
    start_children(2);
    reap_one();
    reap_one();
    alarm(0);
    if (m == M_MUTEX2) {
        bool locked = true;
        PX(plexus_mutex_is_locked(mx, &locked));
        if (locked) die("mutex left locked");
        PX(plexus_mutex_close(mx));
        bench_remove_region(r, j.region);
    } else {
        pthread_mutex_destroy(&g_ctl->pm);
    }
    child_res *a = &g_ctl->res[0], *b = &g_ctl->res[1];
    uint64_t want = a->count + b->count;
    if (g_ctl->counter != want)
        die("%s: counter %" PRIu64 " after %" PRIu64 " locked increments (mutual exclusion broken)",
            M_NAME[m], g_ctl->counter, want);
    uint64_t t0 = a->t_first < b->t_first ? a->t_first : b->t_first;
    uint64_t t1 = a->t_last > b->t_last ? a->t_last : b->t_last;
    double timed = 2.0 * O.mutex_n, wall = (double)(t1 - t0);
    s->rate = timed / wall * 1e3;
    s->ns_per_op = wall / timed;
    s->cpu_per_op = (a->cpu_us + b->cpu_us) * 1e3 / timed;
    s->csw_per_op = (double)(a->vcsw + b->vcsw) / timed;
    s->icsw_per_op = (double)(a->icsw + b->icsw) / timed;
    s->handoffs_k = (double)g_ctl->handoffs * 1e3 / (double)want;
}

static void run_method(method m, int run, m_stats *s) {
    memset(s, 0, sizeof *s);
    switch (m) {
    case M_ARRAY:
    case M_BUSPP:
        s->probe_ns = probe_rt_ns();
        run_pingpong(m, run, s);
        break;
    case M_ONEWAY:
        s->probe_ns = probe_rt_ns();
        tsc_check(s);
        run_latency(m, run, s);
        break;
    case M_FANOUT:
    case M_FANOUT2: run_latency(m, run, s); break;
    case M_TPUT:
    case M_TPUT1:
    case M_TPUTB16:
    case M_TPUTB64:
        s->probe_ns = probe_rt_ns();
        run_tput(m, run, s);
        break;
    case M_MUTEX: run_mutex1(run, s); break;
    case M_MUTEX2:
    case M_PMUTEX2: run_mutex2(m, run, s); break;
    default: break;
    }
}

/* ------------------------------------------------------------------ report */

static const char *fmt_ns(double ns, char *buf) {
    if (ns < 100) sprintf(buf, "%.1f ns", ns);
    else if (ns < 10000) sprintf(buf, "%.0f ns", ns);
    else if (ns < 1e6) sprintf(buf, "%.1f µs", ns / 1e3);
    else sprintf(buf, "%.2f ms", ns / 1e6);
    return buf;
}

static const char *fmt_rate(double mps, char *buf) {
    if (mps >= 10) sprintf(buf, "%.1f M/s", mps);
    else if (mps >= 0.1) sprintf(buf, "%.2f M/s", mps);
    else sprintf(buf, "%.1f k/s", mps * 1e3);
    return buf;
}

#define MAXRUNS 64
typedef double series[MAXRUNS];

static m_stats ST[NMETHODS][MAXRUNS];
static bool USE[MAXRUNS];
static int NRUNS;

/* Collects field `off` (a double inside m_stats) of method m over the used runs. */
static int collect(method m, size_t off, double scale, double *out) {
    int k = 0;
    for (int i = 0; i < NRUNS; i++)
        if (USE[i]) out[k++] = *(const double *)((const char *)&ST[m][i] + off) * scale;
    return k;
}

#define F(field) offsetof(m_stats, field)

/* "median (min .. max)" of a field, ns. */
static const char *med_range_ns(method m, size_t off, double scale, char *buf) {
    series x = {0};
    int k = collect(m, off, scale, x);
    char a[32], b[32], c[32];
    snprintf(buf, 128, "%s (%s .. %s)", fmt_ns(median_d(x, k), a), fmt_ns(min_d(x, k), b),
             fmt_ns(max_d(x, k), c));
    return buf;
}

static double med(method m, size_t off, double scale) {
    series x = {0};
    int k = collect(m, off, scale, x);
    return median_d(x, k);
}

/* A latency row: median of run p50s (range), median of run p90 / p99 / p99.9, max of run
 * maxima, median mean, CPU per op, sleeps / preemptions per op, samples per run. */
static void lat_row(const char *id, const char *what, method m, size_t lat_off, double scale,
                    const char *unit_note, long samples) {
    char a[128], b[32], c[32], d[32], e[32], f[32], g[32];
    series mx = {0};
    int k = collect(m, lat_off + F(lat.max) - F(lat), scale, mx);
    printf("| %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %.3f / %.3f | %ld%s |\n", id, what,
           fmt_ns(med(m, lat_off + F(lat.p50) - F(lat), scale), g),
           med_range_ns(m, lat_off + F(lat.p50) - F(lat), scale, a),
           fmt_ns(med(m, lat_off + F(lat.p90) - F(lat), scale), b),
           fmt_ns(med(m, lat_off + F(lat.p99) - F(lat), scale), c),
           fmt_ns(med(m, lat_off + F(lat.p999) - F(lat), scale), d), fmt_ns(max_d(mx, k), e),
           fmt_ns(med(m, F(cpu_per_op), 1), f), med(m, F(csw_per_op), 1), med(m, F(icsw_per_op), 1),
           samples, unit_note);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "-h") || !strcmp(k, "--help")) { usage(stdout); return 0; }
        if (!v) { usage(stderr); return 2; }
        if (!strcmp(k, "--only")) {
            int ok = 0;
            for (int m = 0; m < NMETHODS; m++) ok |= !strcmp(v, M_NAME[m]);
            if (!ok) { usage(stderr); return 2; }
            O.only = v;
            i++;
            continue;
        }
        char *end;
        long x = strtol(v, &end, 10);
        if (*end || x < 0 || (x == 0 && strcmp(k, "--quiet-wait") && strcmp(k, "--warm"))) {
            fprintf(stderr, "bus: bad value '%s' for %s\n", v, k);
            return 2;
        }
        if (!strcmp(k, "--runs")) O.runs = (int)x;
        else if (!strcmp(k, "--rt")) O.rt = x;
        else if (!strcmp(k, "--warm")) O.warm = x;
        else if (!strcmp(k, "--subs")) O.subs = (int)x;
        else if (!strcmp(k, "--lat-n")) O.lat_n = x;
        else if (!strcmp(k, "--interval-us")) O.interval_us = x;
        else if (!strcmp(k, "--slow-n")) O.slow_n = x;
        else if (!strcmp(k, "--slow-interval-us")) O.slow_interval_us = x;
        else if (!strcmp(k, "--tput-n")) O.tput_n = x;
        else if (!strcmp(k, "--tput-cap")) O.tput_cap = x;
        else if (!strcmp(k, "--mutex-ops")) O.mutex_ops = x;
        else if (!strcmp(k, "--mutex-n")) O.mutex_n = x;
        else if (!strcmp(k, "--timeout")) O.timeout_s = (int)x;
        else if (!strcmp(k, "--quiet-wait")) O.quiet_wait_s = (int)x;
        else { usage(stderr); return 2; }
        i++;
    }
    if (O.runs > MAXRUNS) { fprintf(stderr, "bus: at most %d runs\n", MAXRUNS); return 2; }
    if (O.subs > MAX_SUBS) { fprintf(stderr, "bus: at most %d subscribers\n", MAX_SUBS); return 2; }

    bench_init("bus");

    uint32_t ver = plexus_version();
    if (ver >> 16 != PLEXUS_VERSION_MAJOR || (ver >> 8 & 0xff) != PLEXUS_VERSION_MINOR)
        die("library version %#x does not match the header", ver);
    calibrate_ticks();
    g_ctl = shared_alloc(sizeof *g_ctl);
    long most = O.rt > TSC_N ? O.rt : TSC_N;
    if ((long)O.subs * O.lat_n > most) most = (long)O.subs * O.lat_n;
    if ((long)O.subs * O.slow_n > most) most = (long)O.subs * O.slow_n;
    g_samples_bytes = (size_t)most * sizeof *g_samples;
    g_samples = shared_alloc(g_samples_bytes);

    double steal_pct[MAXRUNS], others[MAXRUNS];
    bool noisy[MAXRUNS];
    cpu_snap all_a;
    snap(&all_a);
    uint64_t bench_t0 = now_ns();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    for (int run = 0; run < O.runs; run++) {
        cpu_snap ca, cb;
        bench_wait_quiet("bus", O.quiet_wait_s);
        snap(&ca);
        fprintf(stderr, "bus run %d/%d:", run + 1, O.runs);
        for (int m = 0; m < NMETHODS; m++) {
            if (O.only && strcmp(O.only, M_NAME[m])) continue;
            m_stats *s = &ST[m][run];
            run_method((method)m, run, s);
            char a[32], b[32], c[32], d[32];
            switch (m) {
            case M_ARRAY:
            case M_BUSPP:
                fprintf(stderr, " %s RT p50 %s p99 %s (line RT %s);", M_NAME[m], fmt_ns(s->lat.p50, a),
                        fmt_ns(s->lat.p99, b), fmt_ns(s->probe_ns, c));
                break;
            case M_ONEWAY:
            case M_FANOUT:
            case M_FANOUT2:
                fprintf(stderr, " %s p50 %s p99 %s max %s, all-subs p50 %s, %.2f sleeps/msg, gaps %" PRIu64
                                ", interval %.1f us, subscribers use %.2f CPUs;",
                        M_NAME[m], fmt_ns(s->lat.p50, a), fmt_ns(s->lat.p99, b), fmt_ns(s->lat.max, c),
                        fmt_ns(s->all.p50, d), s->csw_per_op, s->gaps, s->interval_ns / 1e3, s->cpus);
                if (m == M_ONEWAY)
                    fprintf(stderr, " (TSC offset %.1f ns, raw one-way %.1f ns)", s->tsc_off_ns,
                            s->tsc_oneway);
                break;
            case M_TPUT:
            case M_TPUT1:
            case M_TPUTB16:
            case M_TPUTB64:
                fprintf(stderr, " %s %s delivered (publisher %s, %.1f %% delivered, %.2f CPUs, %.4f sleeps/msg, "
                                "%s CPU/msg, line RT %s);",
                        M_NAME[m], fmt_rate(s->rate, a), fmt_rate(s->pub_rate, b),
                        100 * s->delivered, s->cpus, s->csw_per_op, fmt_ns(s->cpu_per_op, c),
                        fmt_ns(s->probe_ns, d));
                break;
            case M_MUTEX:
                fprintf(stderr, " mutex pair %s (pthread %s);", fmt_ns(s->ns_per_op, a),
                        fmt_ns(s->ns_per_op2, b));
                break;
            default:
                fprintf(stderr, " %s %s/acq (%.1f handoffs/1k, %.3f sleeps/acq);", M_NAME[m],
                        fmt_ns(s->ns_per_op, a), s->handoffs_k, s->csw_per_op);
            }
        }
        snap(&cb);
        steal_pct[run] = 100 * steal_share(&ca, &cb);
        others[run] = others_cpus(&ca, &cb);
        noisy[run] = others[run] > NOISY_CPUS;
        fprintf(stderr, " others' load %.2f CPUs%s\n", others[run], noisy[run] ? " (NOISY)" : "");
    }
    if (O.only) return 0;

    const int n = NRUNS = O.runs;
    double secs = (now_ns() - bench_t0) / 1e9;
    cpu_snap all_b;
    snap(&all_b);
    int n_noisy = 0;
    for (int i = 0; i < n; i++) n_noisy += noisy[i];
    for (int i = 0; i < n; i++) USE[i] = !noisy[i] || n_noisy == n;
    char a[128], b[128], c[128], d[128];

    printf("### Bus and mutex\n\n");
    printf("%d interleaved runs (run 1 of every method, then run 2, ...), %.1f s in all. "
           "Pinning: none. %ld online CPUs. Steal time: %.1f %% of CPU time. Other processes "
           "used %.2f CPUs on average. Latencies from rdtscp (calibrated against "
           "CLOCK_MONOTONIC; the TSC advances in ~10 ns steps here, medians are interpolated "
           "inside their step); every message is an INT (stored in its slot). Columns p90 .. "
           "p99.9: median over runs of each run's percentile; max: over all runs.\n\n",
           n, secs, ncpu, 100 * steal_share(&all_a, &all_b), others_cpus(&all_a, &all_b));
    if (n_noisy)
        printf("**Warning: in %d of %d runs other processes used more than %.2f CPUs.** %s\n\n",
               n_noisy, n, NOISY_CPUS,
               n_noisy < n ? "The summary and the target verdicts use only the quiet runs; "
                             "the per-run table shows all."
                           : "No quiet run: the numbers below are not meaningful.");

    printf("| # | latency | median (of run medians) | range of run medians | p90 | p99 | p99.9 "
           "| max | CPU per op (all processes) | sleeps / preemptions per op | samples per run |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    lat_row("b0", "baseline: array write_ef→read_fe round trip, 2 processes", M_ARRAY, F(lat), 1,
            " RTs", O.rt);
    lat_row("b0½", "the same, half round trip (the reference of the bus target)", M_ARRAY, F(lat),
            0.5, " RTs", O.rt);
    lat_row("b1", "bus ping-pong round trip, 2 processes, 1 subscriber per bus (publish → "
                  "sub_next → publish → sub_next)", M_BUSPP, F(lat), 1, " RTs", O.rt);
    lat_row("b1½", "bus publish→receive latency, 1 subscriber = b1 / 2 (the target row)", M_BUSPP,
            F(lat), 0.5, " RTs", O.rt);
    lat_row("b2", "bus publish→receive one-way, 1 subscriber, paced by acks (rdtscp in both "
                  "processes)", M_ONEWAY, F(lat), 1, " msgs", O.rt);
    {
        char what[300];
        snprintf(what, sizeof what,
                 "bus publish→receive one-way, %d subscriber processes, one message every %ld "
                 "µs (achieved: %.1f µs; the subscribers used %.2f CPUs): every delivery",
                 O.subs, O.interval_us, med(M_FANOUT, F(interval_ns), 1e-3),
                 med(M_FANOUT, F(cpus), 1));
        lat_row("b3", what, M_FANOUT, F(lat), 1, " deliveries", O.lat_n * O.subs);
        snprintf(what, sizeof what,
                 "the same, per message: until the last of the %d subscribers had it", O.subs);
        lat_row("b3all", what, M_FANOUT, F(all), 1, " msgs", O.lat_n);
        snprintf(what, sizeof what,
                 "b3 at a low rate (information): one message every %ld µs (achieved: %.1f µs; "
                 "the subscribers used %.2f CPUs): every delivery",
                 O.slow_interval_us, med(M_FANOUT2, F(interval_ns), 1e-3),
                 med(M_FANOUT2, F(cpus), 1));
        lat_row("b3s", what, M_FANOUT2, F(lat), 1, " deliveries", O.slow_n * O.subs);
        lat_row("b3sall", "the same, per message: until the last subscriber had it", M_FANOUT2,
                F(all), 1, " msgs", O.slow_n);
    }

    printf("\n| # | throughput | delivered (median of runs) | range of runs | per subscriber "
           "(median subscriber) | publisher alone | delivered share (gaps: jumps / messages "
           "skipped, all runs) | CPU per delivery (all processes) | sleeps / preemptions per "
           "1000 deliveries | messages per run |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    static const char *const TPUT_ROW[] = {"b4", "b5", "b6", "b7"};
    for (int m = M_TPUT; m <= M_TPUTB64; m++) {
        series x;
        int k = collect((method)m, F(rate), 1, x);
        uint64_t gaps = 0, missed = 0;
        for (int i = 0; i < n; i++) gaps += ST[m][i].gaps, missed += ST[m][i].missed;
        char e[32], f[32], g[32], h[32], w[300];
        int subs = m == M_TPUT ? O.subs : 1;
        int batch = m == M_TPUTB16 ? 16 : m == M_TPUTB64 ? 64 : 0;
        char bw[64] = "";
        if (batch) snprintf(bw, sizeof bw, ", in batches of %d (plexus_bus_publish_many)", batch);
        snprintf(w, sizeof w,
                 "%d subscriber process%s, 1 publisher, capacity %ld, publishing as fast as it "
                 "can%s",
                 subs, subs == 1 ? "" : "es", O.tput_cap, bw);
        printf("| %s | %s%s | **%s** | %s .. %s | %s | %s | %.1f %% (%" PRIu64 " / %" PRIu64
               ") | %s | %.3f / %.3f | %ld |\n",
               TPUT_ROW[m - M_TPUT], w, m == M_TPUT ? " (the target row)" : " (information)",
               fmt_rate(median_d(x, k), e), fmt_rate(min_d(x, k), f), fmt_rate(max_d(x, k), g),
               fmt_rate(med((method)m, F(per_sub), 1), h),
               fmt_rate(med((method)m, F(pub_rate), 1), a), 100 * med((method)m, F(delivered), 1),
               gaps, missed, fmt_ns(med((method)m, F(cpu_per_op), 1), b),
               1e3 * med((method)m, F(csw_per_op), 1), 1e3 * med((method)m, F(icsw_per_op), 1),
               O.tput_n);
    }

    {
        /* Batches against single publishes, run by run (b6 / b5, b7 / b5). */
        series r16, r64, p16, p64;
        int k = 0;
        for (int i = 0; i < n; i++)
            if (USE[i] && ST[M_TPUT1][i].rate > 0 && ST[M_TPUT1][i].pub_rate > 0) {
                r16[k] = ST[M_TPUTB16][i].rate / ST[M_TPUT1][i].rate;
                r64[k] = ST[M_TPUTB64][i].rate / ST[M_TPUT1][i].rate;
                p16[k] = ST[M_TPUTB16][i].pub_rate / ST[M_TPUT1][i].pub_rate;
                p64[k] = ST[M_TPUTB64][i].pub_rate / ST[M_TPUT1][i].pub_rate;
                k++;
            }
        if (k)
            printf("\nBatches against single publishes, per run against b5 of the same run "
                   "(median, range): delivered b6/b5 %.2fx (%.2f .. %.2f), b7/b5 %.2fx (%.2f .. "
                   "%.2f); publisher alone b6/b5 %.2fx (%.2f .. %.2f), b7/b5 %.2fx (%.2f .. "
                   "%.2f).\n",
                   median_d(r16, k), min_d(r16, k), max_d(r16, k), median_d(r64, k),
                   min_d(r64, k), max_d(r64, k), median_d(p16, k), min_d(p16, k), max_d(p16, k),
                   median_d(p64, k), min_d(p64, k), max_d(p64, k));
    }

    printf("\n| # | mutex | ns per op (median of runs) | range of runs | throughput | other "
           "process took over, per 1000 acquisitions | CPU per acquisition (both) | sleeps / "
           "preemptions per 1000 acquisitions | ops per run |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    {
        char e[32];
        printf("| x1 | plexus_mutex_lock + plexus_mutex_unlock pair, uncontended, 1 process (the "
               "target row) | **%s** | %s | %s pairs | – | – | – | %ld |\n",
               fmt_ns(med(M_MUTEX, F(ns_per_op), 1), e), med_range_ns(M_MUTEX, F(ns_per_op), 1, a),
               fmt_rate(1e3 / med(M_MUTEX, F(ns_per_op), 1), b), O.mutex_ops);
        printf("| x3 | pthread_mutex_lock + unlock pair (robust, process-shared; baseline), "
               "uncontended, 1 process | **%s** | %s | %s pairs | – | – | – | %ld |\n",
               fmt_ns(med(M_MUTEX, F(ns_per_op2), 1), e), med_range_ns(M_MUTEX, F(ns_per_op2), 1, a),
               fmt_rate(1e3 / med(M_MUTEX, F(ns_per_op2), 1), b), O.mutex_ops);
        for (int m = M_MUTEX2; m <= M_PMUTEX2; m++) {
            printf("| %s | %s, 2 processes contending: lock; counter++; unlock (final counter "
                   "checked) | **%s** per acquisition | %s | %s acquisitions | %.1f | %s | %.3f "
                   "/ %.3f | 2 × %ld |\n",
                   m == M_MUTEX2 ? "x2" : "x4",
                   m == M_MUTEX2 ? "plexus mutex" : "pthread mutex (robust, process-shared; baseline)",
                   fmt_ns(med((method)m, F(ns_per_op), 1), e),
                   med_range_ns((method)m, F(ns_per_op), 1, a),
                   fmt_rate(med((method)m, F(rate), 1), b), med((method)m, F(handoffs_k), 1),
                   fmt_ns(med((method)m, F(cpu_per_op), 1), c), 1e3 * med((method)m, F(csw_per_op), 1),
                   1e3 * med((method)m, F(icsw_per_op), 1), O.mutex_n);
        }
    }

    /* Targets. */
    series ratio, ratio2, tput, mx;
    int k = 0, ok1 = 0, ok2 = 0, ok3 = 0;
    for (int i = 0; i < n; i++)
        if (USE[i]) {
            double half0 = ST[M_ARRAY][i].lat.p50 / 2;
            ratio[k] = ST[M_BUSPP][i].lat.p50 / 2 / half0;
            ratio2[k] = ST[M_ONEWAY][i].lat.p50 / half0;
            tput[k] = ST[M_TPUT][i].rate;
            mx[k] = ST[M_MUTEX][i].ns_per_op;
            ok1 += ratio[k] <= 3;
            ok2 += tput[k] >= 5;
            ok3 += mx[k] <= 40;
            k++;
        }
    double mr = median_d(ratio, k), mt = median_d(tput, k), mm = median_d(mx, k);
    printf("\n**Targets** (issue 5; each judged on the median over %d %srun%s; the latency ratio "
           "is computed per run against the array ping-pong of the same run):\n\n",
           k, n_noisy && n_noisy < n ? "quiet " : "", k == 1 ? "" : "s");
    printf("| target | measured | limit | met? |\n|---|---|---|---|\n");
    {
        char e[32], f[32];
        printf("| bus latency, 1 subscriber, ≤ 3× the array ping-pong half round trip (b1½ / "
               "b0½) | ratio %.2f (runs: %.2f .. %.2f; %d of %d runs ≤ 3); b1½ %s vs b0½ %s | "
               "3.00 | **%s** |\n",
               mr, min_d(ratio, k), max_d(ratio, k), ok1, k,
               fmt_ns(med(M_BUSPP, F(lat.p50), 0.5), e), fmt_ns(med(M_ARRAY, F(lat.p50), 0.5), f),
               mr <= 3 ? "yes" : "NO");
        printf("| (information) the same with the one-way latency (b2 / b0½) | ratio %.2f (runs: "
               "%.2f .. %.2f); b2 %s | 3.00 | (%s) |\n",
               median_d(ratio2, k), min_d(ratio2, k), max_d(ratio2, k),
               fmt_ns(med(M_ONEWAY, F(lat.p50), 1), e), median_d(ratio2, k) <= 3 ? "yes" : "no");
        printf("| ≥ 5 M delivered messages/s in all, %d subscribers (b4) | %s (runs: %s .. %s; %d "
               "of %d runs ≥ 5 M/s) | 5 M/s | **%s** |\n",
               O.subs, fmt_rate(mt, a), fmt_rate(min_d(tput, k), b), fmt_rate(max_d(tput, k), c),
               ok2, k, mt >= 5 ? "yes" : "NO");
        printf("| robust mutex uncontended ≤ 40 ns (x1: lock + unlock pair) | %s (runs: %s .. %s; "
               "%d of %d runs ≤ 40 ns) | 40 ns | **%s** |\n",
               fmt_ns(mm, a), fmt_ns(min_d(mx, k), b), fmt_ns(max_d(mx, k), c), ok3, k,
               mm <= 40 ? "yes" : "NO");
    }

    printf("\n**Per run** (latencies p50 / p99; throughputs; the cache-line round trip measured "
           "before b0 and b1; the TSC offset between the two processes' CPUs measured before b2, "
           "with the raw one-way store→load latency):\n\n");
    printf("| run | b0 array RT | b1 bus RT | b1½ / b0½ | b2 one-way | TSC offset (raw one-way) "
           "| b3 %d subs (p50 / p99 / all-subs p50) | b3s low rate (p50 / p99) | b4 %d subs "
           "(cache-line RT) | b5 1 sub | x1 mutex pair | x2 contended | x4 pthread contended "
           "| cache-line RT (b0, b1) | steal | others' load |\n",
           O.subs, O.subs);
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        m_stats *s0 = &ST[M_ARRAY][i], *s1 = &ST[M_BUSPP][i], *s2 = &ST[M_ONEWAY][i],
                *s3 = &ST[M_FANOUT][i], *s3s = &ST[M_FANOUT2][i];
        char e[32], f[32], g[32], h[32], p[32], q[32], t[32], u[32], v[32], w[32], y[32];
        printf("| %d | %s / %s | %s / %s | %.2f | %s / %s | %.1f ns (%.1f ns) | %s / %s / %s | "
               "%s / %s | %s (%s) | %s |",
               i + 1, fmt_ns(s0->lat.p50, a), fmt_ns(s0->lat.p99, b), fmt_ns(s1->lat.p50, c),
               fmt_ns(s1->lat.p99, d), s1->lat.p50 / s0->lat.p50, fmt_ns(s2->lat.p50, e),
               fmt_ns(s2->lat.p99, f), s2->tsc_off_ns, s2->tsc_oneway, fmt_ns(s3->lat.p50, g),
               fmt_ns(s3->lat.p99, h), fmt_ns(s3->all.p50, p), fmt_ns(s3s->lat.p50, v),
               fmt_ns(s3s->lat.p99, w), fmt_rate(ST[M_TPUT][i].rate, q),
               fmt_ns(ST[M_TPUT][i].probe_ns, y), fmt_rate(ST[M_TPUT1][i].rate, t));
        printf(" %s | %s | %s | %s, %s | %.1f %% | %.2f CPUs%s |\n",
               fmt_ns(ST[M_MUTEX][i].ns_per_op, u), fmt_ns(ST[M_MUTEX2][i].ns_per_op, a),
               fmt_ns(ST[M_PMUTEX2][i].ns_per_op, b), fmt_ns(s0->probe_ns, c),
               fmt_ns(s1->probe_ns, d), steal_pct[i], others[i], noisy[i] ? " (noisy)" : "");
    }
    fflush(stdout);
    return 0;
}
