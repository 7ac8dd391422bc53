/* benches/mutex_handoff.c: how soon a waiter gets a mutex that another process held for
 * a while. The holder (parent) locks, lets the waiter (a child process) start waiting,
 * keeps the lock for HOLD ns (busy, on its own CPU), stamps the clock and unlocks; the
 * waiter stamps the clock when its lock call returns. The hand-off is the difference.
 * Methods, interleaved run by run:
 *
 *   raw     a test-and-test-and-set spin lock on one word of a shared mapping, a `pause`
 *           between reads (the physical limit: one cache-line transfer each way);
 *   plexus  plexus_mutex_lock / plexus_mutex_unlock.
 *
 * For each hold the p50, p90 and p99 hand-off over all runs are printed, and the ratio
 * of plexus's p50 to raw's per run (median and range over runs). A contended lock's
 * spin backs off at first (src/shm/wait/mod.rs, LOCK_BACKOFF_MAX): holds shorter than
 * that phase (about 2 µs where a pause takes 10 ns) show its cost here, longer ones
 * should not. See benches/README.md ("Contended locks back off").
 *
 *   gcc -std=c11 -O2 -o mutex_handoff benches/mutex_handoff.c -Iinclude \
 *       -Ltarget/release -l:libplexus.so -Wl,-rpath,$PWD/target/release
 *   ./mutex_handoff [RUNS [HANDOFFS]]     (default 5 runs of 2000 hand-offs per hold)
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "mutex_handoff"
#include "standalone.h"

enum { M_RAW, M_PLEXUS, NM };
static const char *const NAME[NM] = {"raw", "plexus"};
static const long HOLDS_NS[] = {500, 2000, 20000};
#define NH (sizeof HOLDS_NS / sizeof HOLDS_NS[0])
#define MAX_N 100000
#define MAX_RUNS 50

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Shared between holder and waiter (an anonymous shared mapping). */
struct shared {
    _Alignas(64) _Atomic uint32_t spin; /* the raw lock */
    _Alignas(64) _Atomic long go;       /* iteration the waiter may start */
    _Alignas(64) _Atomic long done;     /* iteration the waiter finished */
    _Atomic int64_t t_unlock;           /* holder's stamp just before unlocking */
    _Alignas(64) int64_t handoff[MAX_N];
};

static void raw_lock(_Atomic uint32_t *w) {
    for (;;) {
        if (atomic_load_explicit(w, memory_order_relaxed) == 0 &&
            atomic_exchange_explicit(w, 1, memory_order_acquire) == 0)
            return;
        cpu_pause();
    }
}
static void raw_unlock(_Atomic uint32_t *w) { atomic_store_explicit(w, 0, memory_order_release); }

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One run of one method and hold: the waiter's hand-off times go to s->handoff. */
static void run(int m, long hold, int n, struct shared *s, const char *region) {
    atomic_store(&s->spin, 0);
    atomic_store(&s->go, -1);
    atomic_store(&s->done, -1);
    plexus_region r = {0};
    plexus_mutex mx = {0};
    if (m == M_PLEXUS) {
        CK(plexus_region_open(region, NULL, &r));
        CK(plexus_mutex_open(r, "m", &mx));
    }
    pid_t pid = fork();
    if (pid < 0) die("fork", 0);
    if (pid == 0) {
        plexus_region r2 = {0};
        plexus_mutex m2 = {0};
        if (m == M_PLEXUS) {
            CK(plexus_region_open(region, NULL, &r2));
            CK(plexus_mutex_open(r2, "m", &m2));
        }
        for (long i = 0; i < n; i++) {
            while (atomic_load(&s->go) != i) cpu_pause();
            if (m == M_RAW)
                raw_lock(&s->spin);
            else
                CK(plexus_mutex_lock(m2, PLEXUS_FOREVER));
            int64_t t1 = now_ns();
            s->handoff[i] = t1 - atomic_load(&s->t_unlock);
            if (m == M_RAW)
                raw_unlock(&s->spin);
            else
                CK(plexus_mutex_unlock(m2));
            atomic_store(&s->done, i);
        }
        if (m == M_PLEXUS) plexus_region_close(r2);
        _exit(0);
    }
    for (long i = 0; i < n; i++) {
        if (m == M_RAW)
            raw_lock(&s->spin);
        else
            CK(plexus_mutex_lock(mx, PLEXUS_FOREVER));
        atomic_store(&s->go, i);
        int64_t until = now_ns() + hold;
        while (now_ns() < until) cpu_pause();
        atomic_store(&s->t_unlock, now_ns());
        if (m == M_RAW)
            raw_unlock(&s->spin);
        else
            CK(plexus_mutex_unlock(mx));
        while (atomic_load(&s->done) != i) cpu_pause();
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) die("waiter", 0);
    if (m == M_PLEXUS) {
        CK(plexus_mutex_close(mx));
        plexus_region_close(r);
    }
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (runs < 1 || runs > MAX_RUNS || n < 100 || n > MAX_N) {
        fprintf(stderr, "usage: mutex_handoff [RUNS (1-%d) [HANDOFFS (100-%d)]]\n", MAX_RUNS,
                MAX_N);
        return 2;
    }
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) die("mmap", 0);
    char *region = bench_region;
    snprintf(region, sizeof bench_region, "mutex-handoff-%d", getpid());
    plexus_region keep = {0};
    CK(plexus_region_open(region, NULL, &keep)); /* removed at the end */

    /* all[h][m]: every run's hand-offs (after the first tenth of each run, a warm-up);
     * p50[h][m][run]: each run's median. */
    int warm = n / 10, kept = n - warm;
    int64_t *all[NH][NM];
    double p50[NH][NM][MAX_RUNS];
    for (size_t h = 0; h < NH; h++)
        for (int m = 0; m < NM; m++) {
            all[h][m] = malloc(sizeof(int64_t) * (size_t)kept * (size_t)runs);
            if (!all[h][m]) die("malloc", 0);
        }
    for (int k = 0; k < runs; k++)
        for (size_t h = 0; h < NH; h++)
            for (int m = 0; m < NM; m++) {
                run(m, HOLDS_NS[h], n, s, region);
                int64_t *dst = all[h][m] + (size_t)k * (size_t)kept;
                memcpy(dst, s->handoff + warm, sizeof(int64_t) * (size_t)kept);
                int64_t *tmp = malloc(sizeof(int64_t) * (size_t)kept);
                if (!tmp) die("malloc", 0);
                memcpy(tmp, dst, sizeof(int64_t) * (size_t)kept);
                qsort(tmp, (size_t)kept, sizeof(int64_t), cmp_i64);
                p50[h][m][k] = (double)tmp[kept / 2];
                free(tmp);
                fprintf(stderr, "run %d/%d hold %ld ns %s: p50 %.0f ns\n", k + 1, runs,
                        HOLDS_NS[h], NAME[m], p50[h][m][k]);
            }
    plexus_region_close(keep);
    plexus_region_remove(region);

    printf("# Mutex hand-off after a hold, 2 processes\n\n");
    printf("%d interleaved runs of %d hand-offs per hold and method (first %d of each run "
           "not counted).\n\n",
           runs, n, warm);
    printf("| hold | method | p50 | p90 | p99 | p50 vs raw, per run: median (range) |\n");
    printf("|---|---|---|---|---|---|\n");
    for (size_t h = 0; h < NH; h++)
        for (int m = 0; m < NM; m++) {
            size_t tot = (size_t)kept * (size_t)runs;
            qsort(all[h][m], tot, sizeof(int64_t), cmp_i64);
            int64_t *a = all[h][m];
            double ratio[MAX_RUNS];
            for (int k = 0; k < runs; k++) ratio[k] = p50[h][m][k] / p50[h][M_RAW][k];
            for (int i = 1; i < runs; i++) /* insertion sort: few runs */
                for (int j = i; j > 0 && ratio[j - 1] > ratio[j]; j--) {
                    double t = ratio[j];
                    ratio[j] = ratio[j - 1];
                    ratio[j - 1] = t;
                }
            printf("| %ld ns | %s | %lld ns | %lld ns | %lld ns | %.2f× (%.2f–%.2f) |\n",
                   HOLDS_NS[h], NAME[m], (long long)a[tot / 2], (long long)a[tot * 9 / 10],
                   (long long)a[tot * 99 / 100], ratio[runs / 2], ratio[0], ratio[runs - 1]);
            free(a);
        }
    return 0;
}
