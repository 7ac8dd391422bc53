/* Helpers shared by the benchmarks in this directory (pingpong.c, queue.c, bus.c):
 * failure and cleanup (child processes, the regions and files created, watchdog and
 * signals), clocks, CPU accounting (own and other processes'), waiting for a quiet
 * machine, comparators and summary statistics.
 *
 * Define _GNU_SOURCE first thing, and BENCH_MAX_CHILDREN (the most child processes alive
 * at once; default 1) before including it. It includes plexus.h and the C library
 * headers it needs, and defines HAVE_TSC (1 on x86: rdtsc and rdtscp are used). */
#ifndef PLEXUS_BENCH_COMMON_H
#define PLEXUS_BENCH_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#include "plexus.h"

/* ------------------------------------------------------------------ failure and cleanup */

/* Every file a benchmark creates in /dev/shm (regions, raw shared words) carries the tag
 * "pxbench-<pid>-" (g_tag) in its name and is removed before exit, also on error (die),
 * watchdog timeout (SIGALRM: arm it with alarm() around each measurement), SIGINT and
 * SIGTERM; its children are killed then. Nothing else in /dev/shm is touched.
 *
 * A benchmark calls bench_init first, forks its children with bench_fork, creates its
 * regions with bench_create_region (other files: bench_track) and fails with die or PX. */

#ifndef BENCH_MAX_CHILDREN
#define BENCH_MAX_CHILDREN 1
#endif
#define BENCH_MAX_PATHS 8

static const char *g_prog = "bench";                 /* the program: prefix of messages */
static char g_tag[64];                                /* "pxbench-<pid>-" */
static pid_t g_parent;                                /* the benchmark, not a child */
static volatile pid_t g_children[BENCH_MAX_CHILDREN]; /* live children (0: free slot) */
static char g_paths[BENCH_MAX_PATHS][320];            /* created, not removed yet */
static char g_msg_timeout[160], g_msg_interrupted[96]; /* what the signal handler prints */

/* Records a file to remove at exit (until bench_untrack). */
static inline void bench_track(const char *path) {
    for (int i = 0; i < BENCH_MAX_PATHS; i++)
        if (!g_paths[i][0]) {
            snprintf(g_paths[i], sizeof g_paths[i], "%s", path);
            return;
        }
    fprintf(stderr, "%s: too many tracked files\n", g_prog);
    exit(1);
}

static inline void bench_untrack(const char *path) {
    for (int i = 0; i < BENCH_MAX_PATHS; i++)
        if (!strcmp(g_paths[i], path)) g_paths[i][0] = 0;
}

/* Async-signal-safe: kill our children (and reap them: no zombie left behind), unlink
 * the files we created. */
static inline void bench_cleanup_fast(void) {
    for (int i = 0; i < BENCH_MAX_CHILDREN; i++)
        if (g_children[i] > 0) {
            pid_t c = g_children[i];
            g_children[i] = 0;
            kill(c, SIGKILL);
            waitpid(c, NULL, 0);
        }
    for (int i = 0; i < BENCH_MAX_PATHS; i++)
        if (g_paths[i][0]) {
            unlink(g_paths[i]);
            g_paths[i][0] = 0;
        }
}

/* At exit: also removes plexus's creation temp files (".plexus.<name>.<pid>.<rand>.tmp")
 * that carry our tag, should a creation have been interrupted. Only names containing our
 * tag. */
static inline void bench_cleanup_atexit(void) {
    if (getpid() != g_parent) return;
    bench_cleanup_fast();
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    DIR *d = opendir("/dev/shm");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, g_tag)) {
            char p[512];
            snprintf(p, sizeof p, "/dev/shm/%s", e->d_name);
            unlink(p);
        }
    closedir(d);
}

static inline void bench_on_signal(int sig) {
    const char *m = sig == SIGALRM ? g_msg_timeout : g_msg_interrupted;
    if (write(2, m, strlen(m)) < 0) {}
    bench_cleanup_fast();
    _exit(3);
}

/* First thing in main: names the program `prog` (in messages), makes the tag, installs
 * the cleanup at exit and the handlers of SIGALRM (the watchdog), SIGINT and SIGTERM. */
static inline void bench_init(const char *prog) {
    g_prog = prog;
    g_parent = getpid();
    snprintf(g_tag, sizeof g_tag, "pxbench-%d-", (int)g_parent);
    snprintf(g_msg_timeout, sizeof g_msg_timeout,
             "\n%s: watchdog timeout, aborting (%s killed, files removed)\n", prog,
             BENCH_MAX_CHILDREN == 1 ? "child" : "children");
    snprintf(g_msg_interrupted, sizeof g_msg_interrupted, "\n%s: interrupted, cleaning up\n",
             prog);
    atexit(bench_cleanup_atexit);
    struct sigaction sa = {0};
    sa.sa_handler = bench_on_signal;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

__attribute__((format(printf, 1, 2))) static inline void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: FAILED: ", g_prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1); /* atexit kills the children and removes the files */
}

#define PX(call)                                                                        \
    do {                                                                                \
        plexus_status st_ = (call);                                                     \
        if (st_ != PLEXUS_OK)                                                           \
            die("%s:%d: %s -> %s: %s", __FILE__, __LINE__, #call, plexus_status_name(st_), \
                plexus_last_error());                                                   \
    } while (0)

/* Forks child number idx (a slot of the child table, killed by the cleanup). Returns 0
 * in the child, which dies with the parent (PR_SET_PDEATHSIG) and has the default
 * SIGINT, SIGTERM and SIGALRM actions (the parent's handlers would clean up the parent's
 * files); it must end with _exit. Returns the child's pid in the parent. */
static inline pid_t bench_fork(int idx) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != g_parent) _exit(1);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        return 0;
    }
    g_children[idx] = pid;
    return pid;
}

/* A child's own account of how it ended (queue.c and bus.c keep it in their shared
 * control block); msg may be empty. */
typedef struct {
    bool ok;
    const char *msg;
} bench_outcome;

/* Waits for any child of the table; dies at once if it failed (exited other than 0, or
 * its outcome says so; the atexit handler kills the others). Returns its slot. */
static inline int bench_reap_one(bench_outcome (*outcome)(int idx)) {
    int status;
    pid_t pid;
    do pid = waitpid(-1, &status, 0);
    while (pid < 0 && errno == EINTR);
    if (pid < 0) die("waitpid: %s", strerror(errno));
    int idx = -1;
    for (int i = 0; i < BENCH_MAX_CHILDREN; i++)
        if (g_children[i] == pid) idx = i;
    if (idx < 0) return bench_reap_one(outcome); /* not ours (cannot happen) */
    g_children[idx] = 0;
    bench_outcome o = outcome(idx);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !o.ok)
        die("child %d failed: %s (status %#x)", idx, o.msg[0] ? o.msg : "no message", status);
    return idx;
}

/* Waits until nch children counted themselves in *ready (polling every poll_ns; dies if
 * one exits before), then sets *go. */
static inline void bench_start(atomic_int *ready, atomic_int *go, int nch, long poll_ns,
                               bench_outcome (*outcome)(int idx)) {
    while (atomic_load(ready) < nch) {
        struct timespec t = {0, poll_ns};
        nanosleep(&t, NULL);
        int status;
        pid_t dead = waitpid(-1, &status, WNOHANG);
        if (dead > 0)
            for (int i = 0; i < BENCH_MAX_CHILDREN; i++)
                if (g_children[i] == dead) {
                    g_children[i] = 0;
                    const char *msg = outcome(i).msg;
                    die("child %d exited before the start: %s (status %#x)", i,
                        msg[0] ? msg : "no message", status);
                }
    }
    atomic_store(go, 1);
}

/* Creates the region `name` (which carries g_tag) of `size` bytes; removed at exit
 * unless bench_remove_region removes it first. */
static inline plexus_region bench_create_region(const char *name, uint64_t size) {
    char path[320];
    snprintf(path, sizeof path, "/dev/shm/plexus.%s", name);
    bench_track(path);
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_CREATE;
    o.size = size;
    plexus_region r;
    PX(plexus_region_open(name, &o, &r));
    return r;
}

static inline void bench_remove_region(plexus_region r, const char *name) {
    char path[320];
    snprintf(path, sizeof path, "/dev/shm/plexus.%s", name);
    PX(plexus_region_close(r));
    PX(plexus_region_remove(name));
    bench_untrack(path);
}

/* ------------------------------------------------------------------ clocks and CPU */

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if HAVE_TSC
    _mm_pause();
#endif
}

/* rdtscp: waits for earlier instructions; ~10 ns here. Timestamps of latency samples. */
static inline uint64_t ticks(void) {
#if HAVE_TSC
    unsigned aux;
    return __rdtscp(&aux);
#else
    return now_ns();
#endif
}

static double ns_per_tick = 1.0; /* set by calibrate_ticks */

static inline void calibrate_ticks(void) {
#if HAVE_TSC
    uint64_t t0 = now_ns(), c0 = ticks();
    struct timespec s = {0, 100 * 1000 * 1000};
    nanosleep(&s, NULL);
    uint64_t t1 = now_ns(), c1 = ticks();
    ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
#endif
}

typedef struct {
    double cpu_us;
    long vcsw, icsw;
} usage_t;

static inline usage_t usage_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    usage_t u = {ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
                     ru.ru_stime.tv_usec,
                 ru.ru_nvcsw, ru.ru_nivcsw};
    return u;
}

/* System-wide CPU accounting (as in pingpong.c): others' load = busy - own. */
typedef struct {
    uint64_t total, busy, steal;
    double own_s;
    uint64_t wall_ns;
} cpu_snap;

static inline void snap(cpu_snap *c) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen("/proc/stat", "r");
    uint64_t v[8] = {0};
    if (f) {
        if (fscanf(f, "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                      " %" SCNu64 " %" SCNu64 " %" SCNu64,
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
            for (int i = 0; i < 8; i++) c->total += v[i];
            c->busy = v[0] + v[1] + v[2] + v[5] + v[6];
            c->steal = v[7];
        }
        fclose(f);
    }
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    c->own_s = a.ru_utime.tv_sec + a.ru_utime.tv_usec / 1e6 + a.ru_stime.tv_sec +
               a.ru_stime.tv_usec / 1e6 + b.ru_utime.tv_sec + b.ru_utime.tv_usec / 1e6 +
               b.ru_stime.tv_sec + b.ru_stime.tv_usec / 1e6;
    c->wall_ns = now_ns();
}

static inline double others_cpus(const cpu_snap *a, const cpu_snap *b) {
    double hz = (double)sysconf(_SC_CLK_TCK);
    double wall = (b->wall_ns - a->wall_ns) / 1e9;
    if (wall <= 0 || hz <= 0) return 0;
    double x = ((b->busy - a->busy) / hz - (b->own_s - a->own_s)) / wall;
    return x > 0 ? x : 0;
}

static inline double steal_share(const cpu_snap *a, const cpu_snap *b) {
    return b->total > a->total ? (double)(b->steal - a->steal) / (double)(b->total - a->total) : 0;
}

/* Before a run: waits up to `quiet_wait_s` seconds for other processes' load to stop. */
static inline void bench_wait_quiet(const char *prog, int quiet_wait_s) {
    if (quiet_wait_s <= 0) return;
    uint64_t give_up = now_ns() + (uint64_t)quiet_wait_s * 1000000000u;
    int said = 0;
    for (;;) {
        cpu_snap a, b;
        snap(&a);
        struct timespec t = {0, 250 * 1000 * 1000};
        nanosleep(&t, NULL);
        snap(&b);
        double o = others_cpus(&a, &b);
        if (o < 0.1) return;
        if (now_ns() > give_up) {
            fprintf(stderr, "\n%s: other processes still use %.2f CPUs; running anyway\n", prog, o);
            return;
        }
        if (!said++) fprintf(stderr, "(waiting for other load, %.2f CPUs, to stop) ", o);
    }
}

/* ------------------------------------------------------------------ statistics */

/* Comparators for qsort. */
static inline int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static inline int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of a sorted array. */
static inline uint64_t q_u64(const uint64_t *s, size_t n, double q) {
    size_t i = (size_t)ceil(q * (double)n);
    if (i < 1) i = 1;
    if (i > n) i = n;
    return s[i - 1];
}

/* Median of n <= 64 values (of the runs). */
static inline double median_d(const double *x, int n) {
    double t[64];
    memcpy(t, x, n * sizeof *t);
    qsort(t, n, sizeof *t, cmp_dbl);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static inline double min_d(const double *x, int n) {
    double m = x[0];
    for (int i = 1; i < n; i++) m = x[i] < m ? x[i] : m;
    return m;
}

static inline double max_d(const double *x, int n) {
    double m = x[0];
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* Median of sorted, quantised samples. The TSC here advances in steps of ~10 ns (26 ticks:
 * 100 MHz reference clock x multiplier), so a plain median snaps to 70, 80, 90 ns... and a
 * ratio of two medians jumps by 15 % between neighbouring steps. Each sample value v is
 * treated as a bin [v - q/2, v + q/2) (q = the smallest gap between distinct values) and
 * the median is interpolated inside its bin. With an unquantised clock (q = 1 tick) this
 * is the ordinary median. */
static inline double interpolated_median(const uint64_t *s, long n) {
    uint64_t q = 0;
    for (long k = 1; k < n; k++)
        if (s[k] != s[k - 1] && (q == 0 || s[k] - s[k - 1] < q)) q = s[k] - s[k - 1];
    long mid = n / 2;
    uint64_t m = s[mid];
    if (q <= 1) return (double)m;
    long lo = mid, hi = mid;
    while (lo > 0 && s[lo - 1] == m) lo--;
    while (hi < n && s[hi] == m) hi++;
    return (double)m - q / 2.0 + q * (n / 2.0 - lo) / (double)(hi - lo);
}

#endif
