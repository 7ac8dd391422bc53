/* Helpers shared by the benchmarks in this directory (bus.c, queue.c): clocks, CPU
 * accounting (own and other processes'), waiting for a quiet machine, comparators.
 * Include after <x86intrin.h> and the HAVE_TSC definition. */
#ifndef PLEXUS_BENCH_COMMON_H
#define PLEXUS_BENCH_COMMON_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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

/* Comparators for qsort. */
static inline int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static inline int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#endif
