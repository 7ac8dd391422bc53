/* benches/wake_cost.c: what one wake-up costs a blocked receiver, at one message per
 * millisecond. A sender process sends a message every 1 ms; the receiver blocks for
 * each, and its CPU time over the whole stretch (getrusage) divided by the messages is
 * the figure. Methods, interleaved run by run:
 *
 *   pipe    read() of 8 bytes from a pipe (the baseline);
 *   futex   the raw mechanism plexus uses: a counter in a shared file mapping of
 *           /dev/shm, a sleeper count, FUTEX_WAIT / FUTEX_WAKE (no library code);
 *   futex-t the same, each FUTEX_WAIT with an 80 ms timeout, as the library's sleeps
 *           have (the slice after which a sleeper looks again whatever happened: a
 *           waker killed between its change and its FUTEX_WAKE cannot strand it);
 *   futex-v the same as one futex_waitv on the counter and a second word with a 1 s
 *           absolute timeout (a clock read first), as a bus subscriber sleeps (the
 *           second word is the region's removal word);
 *   queue   plexus_queue_pop (the sender: plexus_queue_push);
 *   fe      plexus_array_read_fe (the sender: plexus_array_write_ef);
 *   bus     plexus_sub_next of a subscription (the sender: plexus_bus_publish).
 *
 * Ratios are per run against the pipe of the same run; the median and range over the
 * runs are printed. Also the wake-up latency: each message carries the sender's clock
 * (CLOCK_MONOTONIC) read just before its send call (the 8 bytes of the pipe, a word
 * beside the futex counter, the INT value of the plexus calls), and the receiver reads
 * the clock when its receive call returns; per run the median over the messages. See
 * benches/README.md ("The CPU of a waiter at one message per ms").
 *
 *   gcc -std=c11 -O2 -o wake_cost benches/wake_cost.c -Iinclude -Ltarget/release \
 *       -l:libplexus.so -Wl,-rpath,$PWD/target/release
 *   ./wake_cost [RUNS [MESSAGES]]        (default 6 runs of 2000 messages)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "wake_cost"
#include "standalone.h"

enum { M_PIPE, M_FUTEX, M_FUTEX_T, M_FUTEX_V, M_QUEUE, M_FE, M_BUS, NM };
static const char *const NAME[NM] = {"pipe", "futex", "futex-t", "futex-v", "queue", "fe", "bus"};

static double cpu_seconds(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec / 1e6;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void sleep_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

static long futex(void *word, int op, uint32_t val) {
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* One sleep of method m (futex, futex-t or futex-v) while *word == val. */
static void futex_sleep(int m, _Atomic uint32_t *word, uint32_t val) {
    if (m == M_FUTEX) {
        futex((void *)word, FUTEX_WAIT, val);
    } else if (m == M_FUTEX_T) {
        struct timespec t = {0, 80 * 1000 * 1000};
        syscall(SYS_futex, (void *)word, FUTEX_WAIT, val, &t, NULL, 0);
    } else {
        static _Atomic uint32_t other; /* never changes */
        struct futex_waitv w[2] = {
            {.val = val, .uaddr = (uintptr_t)word, .flags = FUTEX_32},
            {.val = 0, .uaddr = (uintptr_t)&other, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
        };
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_sec += 1;
        syscall(449 /* futex_waitv */, w, 2, 0, &t, CLOCK_MONOTONIC);
    }
}

/* One run of one method: CPU microseconds per message of the receiver, and the median
 * wake-up latency in microseconds (*lat_us). */
static double run(int m, int n, double *lat_us) {
    int data[2], result[2];
    if (pipe(data) || pipe(result)) die("pipe", 0);
    char name[64];
    snprintf(name, sizeof name, "wake-cost-%d-%d", getpid(), m);
    /* futex: one page of a /dev/shm file, as a region is. */
    _Atomic uint32_t *word = NULL;
    if (m == M_FUTEX || m == M_FUTEX_T || m == M_FUTEX_V) {
        int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0 || ftruncate(fd, 4096)) die("shm_open", 0);
        word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        shm_unlink(name);
        if (word == MAP_FAILED) die("mmap", 0);
    }
    _Atomic uint32_t *seq = word, *sleepers = word ? word + 16 : NULL;
    /* futex methods: the sender's clock, written before the counter moves. */
    _Atomic int64_t *stamp = word ? (_Atomic int64_t *)(word + 32) : NULL;
    plexus_region r = {0};
    plexus_queue q = {0};
    plexus_array a = {0};
    plexus_bus b = {0};
    int lib = m == M_QUEUE || m == M_FE || m == M_BUS;
    if (lib) {
        plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
        o.mode = PLEXUS_CREATE;
        o.size = 4u << 20;
        CK(plexus_region_open(name, &o, &r));
        snprintf(bench_region, sizeof bench_region, "%s", name); /* die() removes it */
        CK(plexus_queue_open(r, "q", 64, 0, &q));
        CK(plexus_array_open(r, "a", 1, 0, &a));
        CK(plexus_bus_open(r, "b", 64, 0, &b));
    }
    /* The receiver subscribes before the sender starts (the sender waits for its word). */
    int ready[2];
    if (pipe(ready)) die("pipe", 0);
    pid_t child = fork();
    if (child < 0) die("fork", 0);
    if (child == 0) {
        plexus_region r2;
        plexus_queue q2;
        plexus_array a2;
        plexus_bus b2;
        plexus_sub sub;
        if (lib) {
            plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
            o.mode = PLEXUS_OPEN;
            CK(plexus_region_open(name, &o, &r2));
            CK(plexus_queue_open(r2, "q", 64, 0, &q2));
            CK(plexus_array_open(r2, "a", 1, 0, &a2));
            CK(plexus_bus_open(r2, "b", 0, 0, &b2));
            CK(plexus_bus_subscribe(b2, PLEXUS_FROM_NOW, &sub));
        }
        if (write(ready[1], "r", 1) != 1) _exit(1);
        uint32_t last = 0;
        int64_t *lat = malloc(sizeof(int64_t) * (size_t)n);
        int got = 0;
        if (!lat) _exit(1);
        double c0 = cpu_seconds();
        for (int i = 0; i < n; i++) {
            plexus_value v;
            int64_t x = 0, s0 = 0;
            switch (m) {
            case M_PIPE:
                if (read(data[0], &x, sizeof x) != sizeof x) die("read", 0);
                s0 = x;
                break;
            case M_FUTEX:
            case M_FUTEX_T:
            case M_FUTEX_V:
                for (;;) {
                    uint32_t s = atomic_load(seq);
                    if (s != last) {
                        /* Two sends may come before the receiver looks (a late wake-up):
                         * each increment is a message. */
                        i += (int)(s - last) - 1;
                        last = s;
                        s0 = atomic_load(stamp);
                        break;
                    }
                    atomic_fetch_add(sleepers, 1);
                    if (atomic_load(seq) == last) futex_sleep(m, seq, last);
                    atomic_fetch_sub(sleepers, 1);
                }
                break;
            case M_QUEUE:
                CK(plexus_queue_pop(q2, &v, PLEXUS_FOREVER));
                s0 = v.as.i;
                plexus_value_free(&v);
                break;
            case M_FE:
                CK(plexus_array_read_fe(a2, 0, &v, PLEXUS_FOREVER));
                s0 = v.as.i;
                plexus_value_free(&v);
                break;
            case M_BUS:
                CK(plexus_sub_next(sub, &v, NULL, PLEXUS_FOREVER));
                s0 = v.as.i;
                plexus_value_free(&v);
                break;
            }
            lat[got++] = now_ns() - s0;
        }
        double c = cpu_seconds() - c0;
        qsort(lat, (size_t)got, sizeof *lat, cmp_i64);
        double res[2] = {c, lat[got / 2] / 1e3};
        if (write(result[1], res, sizeof res) != sizeof res) _exit(1);
        _exit(0);
    }
    char c1;
    if (read(ready[0], &c1, 1) != 1) die("receiver failed to start", 0);
    sleep_us(20000);
    for (int i = 0; i < n; i++) {
        sleep_us(1000);
        int64_t x = now_ns();
        plexus_value v = plexus_int(x);
        switch (m) {
        case M_PIPE:
            if (write(data[1], &x, sizeof x) != sizeof x) die("write", 0);
            break;
        case M_FUTEX:
        case M_FUTEX_T:
        case M_FUTEX_V:
            atomic_store(stamp, x);
            atomic_fetch_add(seq, 1);
            if (atomic_load(sleepers)) futex((void *)seq, FUTEX_WAKE, 1);
            break;
        case M_QUEUE:
            CK(plexus_queue_push(q, &v, PLEXUS_FOREVER));
            break;
        case M_FE:
            CK(plexus_array_write_ef(a, 0, &v, PLEXUS_FOREVER));
            break;
        case M_BUS:
            CK(plexus_bus_publish(b, &v, NULL));
            break;
        }
    }
    double res[2];
    if (read(result[0], res, sizeof res) != sizeof res) die("receiver failed", 0);
    double c = res[0];
    *lat_us = res[1];
    int status;
    waitpid(child, &status, 0);
    if (lib) {
        CK(plexus_region_close(r));
        CK(plexus_region_remove(name));
        bench_region[0] = 0;
    }
    if (word) munmap((void *)word, 4096);
    close(data[0]);
    close(data[1]);
    close(result[0]);
    close(result[1]);
    close(ready[0]);
    close(ready[1]);
    return c * 1e6 / n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 6;
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (runs < 1 || runs > 100 || n < 10) {
        fprintf(stderr, "usage: wake_cost [RUNS (1-100) [MESSAGES (>= 10)]]\n");
        return 2;
    }
    double us[NM][100], ratio[NM][100], lat[NM][100], lat_ratio[NM][100];
    printf("receiver CPU per message at 1 message/ms, %d runs of %d messages\n", runs, n);
    for (int k = 0; k < runs; k++) {
        printf("run %d:", k + 1);
        for (int i = 0; i < NM; i++) {
            int m = (i + k) % NM; /* the order rotates from run to run */
            us[m][k] = run(m, n, &lat[m][k]);
        }
        for (int m = 0; m < NM; m++) {
            ratio[m][k] = us[m][k] / us[M_PIPE][k];
            lat_ratio[m][k] = lat[m][k] / lat[M_PIPE][k];
            printf("  %s %.2f us (%.2fx), wake %.1f us", NAME[m], us[m][k], ratio[m][k], lat[m][k]);
        }
        printf("\n");
        fflush(stdout);
    }
    printf("\n| method | CPU per message, median | vs pipe, per run: median (range) | wake-up "
           "latency, median of runs | vs pipe, per run: median (range) |\n|---|---|---|---|---|\n");
    for (int m = 0; m < NM; m++) {
        double lo = ratio[m][0], hi = ratio[m][0], llo = lat_ratio[m][0], lhi = lat_ratio[m][0];
        for (int k = 1; k < runs; k++) {
            if (ratio[m][k] < lo) lo = ratio[m][k];
            if (ratio[m][k] > hi) hi = ratio[m][k];
            if (lat_ratio[m][k] < llo) llo = lat_ratio[m][k];
            if (lat_ratio[m][k] > lhi) lhi = lat_ratio[m][k];
        }
        double med_us = median(us[m], runs), med_r = median(ratio[m], runs);
        printf("| %s | %.2f us | %.2fx (%.2f-%.2f) | %.1f us | %.2fx (%.2f-%.2f) |\n", NAME[m],
               med_us, med_r, lo, hi, median(lat[m], runs), median(lat_ratio[m], runs), llo, lhi);
    }
    return 0;
}
