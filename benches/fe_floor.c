/* benches/fe_floor.c: how much of a write_ef/read_fe round trip is the full/empty
 * protocol itself and how much the library around it, against the raw ping-pong. Two
 * processes, both fresh children of the benchmark: round trip i: the leader hands i
 * over on element 0, the echo takes it and hands it back on element 1, the leader takes
 * it (both check every value). Methods, interleaved run by run, the order rotating:
 *
 *   raw      one shared 64-bit word (as row 2 of pingpong.c): the leader stores 2i+1,
 *            the echo spins until it sees it and stores 2i+2;
 *   proto    plexus's element protocol written out in C, without the library: two
 *            64-byte elements (lock word, tag, version, two value slots) on one page of
 *            /dev/shm, and write_ef / read_fe done as the engine does them
 *            (src/shm/kinds/element.rs, Cell::locked): try the lock first; if the tag is
 *            not what the call needs, unlock and spin with plain loads until it is and
 *            the lock is free, then lock again; commit the value into the scratch slot,
 *            flip the tag with one store, bump the version, unlock with an exchange
 *            (the engine looks at the sleeper bits it returns);
 *   proto-w  the same, but write_ef looks at the tag (a plain load) before it tries the
 *            lock;
 *   proto-x  proto, but the waiter's spin reads the tag with an atomic read-modify-write
 *            that changes nothing (fetch_or 0), so the line comes over in the exclusive
 *            state and the lock that follows needs no second transfer;
 *   plexus   plexus_array_write_ef / plexus_array_read_fe (INT values, PLEXUS_FOREVER).
 *
 * Per run and method: the median round trip (rdtscp per round trip in the leader; the
 * median interpolated within the TSC's steps, as pingpong.c) and the mean (wall time /
 * round trips, which counts the tail). Ratios are per run against raw, then the median
 * and range over the runs. See benches/README.md ("The round trip's floor").
 *
 *   gcc -std=c11 -O2 -o fe_floor benches/fe_floor.c -Iinclude -Ltarget/release \
 *       -l:libplexus.so -Wl,-rpath,$PWD/target/release -lm
 *   ./fe_floor [RUNS [ROUND_TRIPS]]        (default 7 runs of 100000 round trips)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>

#define BENCH_MAX_CHILDREN 2
#include "bench_common.h"

enum { M_RAW, M_PROTO, M_PROTO_W, M_PROTO_X, M_PLEXUS, NM };
static const char *const NAME[NM] = {"raw", "proto", "proto-w", "proto-x", "plexus"};
/* How each proto method differs from the engine's protocol (proto). */
enum { LOOK_W = 1, EXCL = 2 };
static const int FLAGS[NM] = {0, 0, LOOK_W, EXCL, 0};
#define WARM 2000
#define MAX_RUNS 50

/* One element as the engine lays it out (src/shm/kinds/element.rs, Element). */
typedef struct {
    _Atomic uint32_t lock, tag; /* tag: bit 0 FULL, bit 1 the live slot */
    _Atomic uint64_t version, stamp;
    _Atomic uint64_t slot[2][2]; /* meta, payload */
    char pad[8];
} __attribute__((aligned(64))) elem_t;
_Static_assert(sizeof(elem_t) == 64, "one cache line");

/* What the leader child reports. */
typedef struct {
    double p50, p99, mean;
} result_t;

typedef struct {
    _Atomic uint64_t word; /* raw */
    char pad[56];
    elem_t el[2]; /* the proto methods */
    result_t res; /* the leader's report */
} shared_t;
_Static_assert(sizeof(shared_t) <= 4096, "one page");

/* A spin that gives the CPU away now and then, in case both processes share one. */
static inline void spin_pause(unsigned *spins) {
    cpu_relax();
    if ((++*spins & 0xffff) == 0) sched_yield();
}

/* write_ef (want_full 0: waits for EMPTY, stores *v) or read_fe (want_full 1: waits for
 * FULL, takes the value into *v) on e. */
static inline void fe_op(elem_t *e, int want_full, uint64_t *v, int excl, int look_first) {
    unsigned spins = 0;
    for (;;) {
        uint32_t z = 0;
        if (look_first) {
            uint32_t t = atomic_load_explicit(&e->tag, memory_order_acquire);
            if ((int)(t & 1) != want_full || atomic_load_explicit(&e->lock, memory_order_relaxed))
                goto spin;
        }
        if (atomic_compare_exchange_strong_explicit(&e->lock, &z, 1, memory_order_acquire,
                                                    memory_order_relaxed)) {
            uint32_t t = atomic_load_explicit(&e->tag, memory_order_acquire);
            if ((int)(t & 1) == want_full) {
                uint32_t cur = (t >> 1) & 1;
                if (want_full) {
                    *v = atomic_load_explicit(&e->slot[cur][1], memory_order_relaxed);
                    atomic_store_explicit(&e->tag, t & ~1u, memory_order_release);
                } else {
                    atomic_store_explicit(&e->slot[cur ^ 1][0], 1, memory_order_relaxed);
                    atomic_store_explicit(&e->slot[cur ^ 1][1], *v, memory_order_relaxed);
                    atomic_store_explicit(&e->tag, (t ^ 2u) | 1u, memory_order_release);
                }
                uint64_t ver = atomic_load_explicit(&e->version, memory_order_relaxed);
                atomic_store_explicit(&e->version, ver + 1, memory_order_release);
                if (atomic_exchange_explicit(&e->lock, 0, memory_order_release) != 1)
                    die("a sleeper bit in a benchmark without sleepers");
                return;
            }
            atomic_store_explicit(&e->lock, 0, memory_order_release);
        }
    spin:
        for (;;) {
            uint32_t t = excl ? atomic_fetch_or_explicit(&e->tag, 0, memory_order_acquire)
                              : atomic_load_explicit(&e->tag, memory_order_acquire);
            if ((int)(t & 1) == want_full &&
                atomic_load_explicit(&e->lock, memory_order_relaxed) == 0)
                break;
            spin_pause(&spins);
        }
    }
}

static void raw_wait(_Atomic uint64_t *w, uint64_t want) {
    unsigned spins = 0;
    while (atomic_load_explicit(w, memory_order_acquire) != want) spin_pause(&spins);
}

typedef struct {
    shared_t *sh;
    plexus_array a; /* plexus */
} side_t;

/* One hand-off from this side: the parent sends on element 0 and takes on element 1, the
 * child the other way round. Returns the value taken. */
static inline uint64_t send(int m, side_t *s, int el, uint64_t x) {
    switch (m) {
    case M_PLEXUS: {
        plexus_value v = plexus_int((int64_t)x);
        PX(plexus_array_write_ef(s->a, (uint64_t)el, &v, PLEXUS_FOREVER));
        return x;
    }
    default:
        fe_op(&s->sh->el[el], 0, &x, FLAGS[m] & EXCL, FLAGS[m] & LOOK_W);
        return x;
    }
}

static inline uint64_t take(int m, side_t *s, int el) {
    uint64_t x = 0;
    switch (m) {
    case M_PLEXUS: {
        plexus_value v;
        PX(plexus_array_read_fe(s->a, (uint64_t)el, &v, PLEXUS_FOREVER));
        if (v.type != PLEXUS_INT) die("read_fe: not an INT");
        return (uint64_t)v.as.i;
    }
    default:
        fe_op(&s->sh->el[el], 1, &x, FLAGS[m] & EXCL, 0);
        return x;
    }
}

/* One side of a run of method m: the leader (who times round trips into `samples` and
 * reports into *res) or the echo. */
static void side(int m, int leader, shared_t *sh, const char *name, long n, uint64_t *samples,
                 result_t *res) {
    side_t me = {.sh = sh};
    plexus_region r = {0};
    if (m == M_PLEXUS) {
        plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
        o.mode = leader ? PLEXUS_CREATE : PLEXUS_OPEN;
        o.size = 1 << 20;
        o.wait_ns = 10000000000ull; /* the echo waits for the leader to create it */
        PX(plexus_region_open(name, &o, &r));
        PX(plexus_array_open(r, "a", 2, 0, &me.a));
    }
    long total = WARM + n;
    int out = leader ? 0 : 1, in = leader ? 1 : 0;
    uint64_t t0 = 0, prev = 0;
    for (long i = 0; i < total; i++) {
        if (leader) {
            uint64_t t = ticks();
            if (i == WARM) t0 = t;
            if (i > WARM) samples[i - WARM - 1] = t - prev;
            prev = t;
        }
        if (m == M_RAW) {
            if (leader) {
                atomic_store_explicit(&sh->word, 2 * (uint64_t)i + 1, memory_order_release);
                raw_wait(&sh->word, 2 * (uint64_t)i + 2);
            } else {
                raw_wait(&sh->word, 2 * (uint64_t)i + 1);
                atomic_store_explicit(&sh->word, 2 * (uint64_t)i + 2, memory_order_release);
            }
            continue;
        }
        if (leader) send(m, &me, out, (uint64_t)i);
        uint64_t x = take(m, &me, in);
        if (x != (uint64_t)i) die("%s: got %" PRIu64 ", expected %ld", leader ? "leader" : "echo", x, i);
        if (!leader) send(m, &me, out, x);
    }
    if (leader) {
        uint64_t t1 = ticks();
        samples[n - 1] = t1 - prev;
        qsort(samples, (size_t)n, sizeof *samples, cmp_u64);
        res->p50 = interpolated_median(samples, n) * ns_per_tick;
        res->p99 = (double)q_u64(samples, (size_t)n, 0.99) * ns_per_tick;
        res->mean = (double)(t1 - t0) * ns_per_tick / (double)n;
    }
    if (m == M_PLEXUS) PX(plexus_region_close(r));
}

/* One run of method m: the median and the mean round trip, ns. Both sides run in fresh
 * child processes, the same for every method. */
static void run(int m, long n, uint64_t *samples, double *p50, double *p99, double *mean) {
    char path[128], name[96], rpath[160];
    snprintf(path, sizeof path, "/dev/shm/%sfe-floor", g_tag);
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 4096)) die("%s: %s", path, strerror(errno));
    bench_track(path);
    shared_t *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (sh == MAP_FAILED) die("mmap: %s", strerror(errno));
    snprintf(name, sizeof name, "%sfe-floor", g_tag);
    snprintf(rpath, sizeof rpath, "/dev/shm/plexus.%s", name);
    if (m == M_PLEXUS) bench_track(rpath);
    result_t *res = &sh->res;
    for (int c = 0; c < 2; c++)
        if (bench_fork(c) == 0) {
            side(m, c == 0, sh, name, n, samples, res);
            _exit(0);
        }
    for (int c = 0; c < 2; c++) {
        int status;
        waitpid(g_children[c], &status, 0);
        g_children[c] = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child failed (%#x)", status);
    }
    *p50 = res->p50;
    *p99 = res->p99;
    *mean = res->mean;
    if (m == M_PLEXUS) {
        PX(plexus_region_remove(name));
        bench_untrack(rpath);
    }
    munmap(sh, 4096);
    unlink(path);
    bench_untrack(path);
}

static void ratio_line(const char *what, double (*x)[NM], int runs, int m) {
    double q[MAX_RUNS] = {0};
    for (int k = 0; k < runs; k++) q[k] = x[k][m] / x[k][M_RAW];
    printf(" %s %.2fx (%.2f-%.2f) |", what, median_d(q, runs), min_d(q, runs), max_d(q, runs));
}

int main(int argc, char **argv) {
    bench_init("fe_floor");
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    long n = argc > 2 ? atol(argv[2]) : 100000;
    if (runs < 1 || runs > MAX_RUNS || n < 100 || n > 10000000) {
        fprintf(stderr, "usage: fe_floor [RUNS (1-%d) [ROUND_TRIPS (100-10000000)]]\n",
                MAX_RUNS);
        return 2;
    }
    calibrate_ticks();
    uint64_t *samples = malloc((size_t)n * sizeof *samples);
    if (!samples) die("out of memory");
    double p50[MAX_RUNS][NM], p99[MAX_RUNS][NM], mean[MAX_RUNS][NM];
    for (int k = 0; k < runs; k++) {
        printf("run %d:", k + 1);
        for (int m = 0; m < NM; m++) {
            int mm = (m + k) % NM; /* the order rotates from run to run */
            alarm(120);
            run(mm, n, samples, &p50[k][mm], &p99[k][mm], &mean[k][mm]);
            alarm(0);
        }
        for (int m = 0; m < NM; m++)
            printf("  %s %.0f / %.0f / %.0f ns", NAME[m], p50[k][m], p99[k][m], mean[k][m]);
        printf("\n");
        fflush(stdout);
    }
    printf("\nround trip, %d runs of %ld (per run: p50 / p99 / mean; below: the median over "
           "the runs, and ratios per run against raw: median (range))\n\n",
           runs, n);
    printf("| method | p50 | p99 | mean | p50 vs raw | mean vs raw |\n|---|---|---|---|---|---|\n");
    for (int m = 0; m < NM; m++) {
        double a[MAX_RUNS], b[MAX_RUNS], c[MAX_RUNS];
        for (int k = 0; k < runs; k++) a[k] = p50[k][m], b[k] = mean[k][m], c[k] = p99[k][m];
        printf("| %s | %.0f ns | %.0f ns | %.0f ns |", NAME[m], median_d(a, runs),
               median_d(c, runs), median_d(b, runs));
        ratio_line("", p50, runs, m);
        ratio_line("", mean, runs, m);
        printf("\n");
    }
    free(samples);
    return 0;
}
