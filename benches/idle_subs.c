/*
 * benches/idle_subs.c: what idle subscribers cost (not a test: nothing here asserts a
 * time). N subscriber processes block in plexus_sub_next on a bus on which nothing is
 * published, for S seconds; their CPU time over those seconds (the run time in
 * /proc/PID/schedstat, in nanoseconds, read before and after) is the cost. Baseline in the same run: N
 * processes blocked in read() on a pipe nobody writes. Runs alternate (plexus, pipe,
 * plexus, ...).
 *
 *   gcc -std=c11 -O2 -o idle_subs benches/idle_subs.c -Iinclude -Ltarget/release \
 *       -l:libplexus.so -Wl,-rpath,$PWD/target/release
 *   ./idle_subs [SUBSCRIBERS (30)] [SECONDS (5)] [RUNS (3)]
 *
 * Prints, per run and method, the subscribers' total CPU as a percentage of one CPU.
 * Regions it creates are named "pxidle-<pid>-<run>" and removed before it exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plexus.h"

#define MAX_SUBS 256

static void die(const char *what) {
    fprintf(stderr, "idle_subs: %s (%s)\n", what, plexus_last_error());
    exit(1);
}

/* Nanoseconds `pid` has run on a CPU (first field of /proc/PID/schedstat), -1 if unknown. */
static long long cpu_ns(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long ns = -1;
    if (fscanf(f, "%lld", &ns) != 1) ns = -1;
    fclose(f);
    return ns;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs one method: starts `subs` blocked children, measures them for `secs`. Returns
 * their CPU in percent of one CPU. */
static double measure(int plexus, int subs, int secs, int run) {
    char name[64];
    snprintf(name, sizeof name, "pxidle-%d-%d", (int)getpid(), run);
    int fds[2];
    plexus_region r;
    plexus_bus bus;
    if (plexus) {
        plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
        o.mode = PLEXUS_RECREATE;
        o.size = 4 << 20;
        if (plexus_region_open(name, &o, &r) != PLEXUS_OK) die("region open");
        if (plexus_bus_open(r, "idle", 64, 0, &bus) != PLEXUS_OK) die("bus open");
    } else if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    int ready[2];
    if (pipe(ready) != 0) exit(1);
    pid_t kids[MAX_SUBS];
    for (int i = 0; i < subs; i++) {
        pid_t pid = fork();
        if (pid < 0) exit(1);
        if (pid == 0) {
            if (plexus) {
                plexus_region cr;
                plexus_bus cb;
                plexus_sub sub;
                plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
                o.mode = PLEXUS_OPEN;
                if (plexus_region_open(name, &o, &cr) != PLEXUS_OK) die("child open");
                if (plexus_bus_open(cr, "idle", 0, 0, &cb) != PLEXUS_OK) die("child bus");
                if (plexus_bus_subscribe(cb, PLEXUS_FROM_NOW, &sub) != PLEXUS_OK)
                    die("subscribe");
                if (write(ready[1], "x", 1) != 1) _exit(1);
                plexus_value v;
                uint64_t seq;
                plexus_status s = plexus_sub_next(sub, &v, &seq, PLEXUS_FOREVER);
                _exit(s == PLEXUS_CLOSED ? 0 : 2);
            }
            close(fds[1]);
            if (write(ready[1], "x", 1) != 1) _exit(1);
            char c;
            _exit(read(fds[0], &c, 1) == 0 ? 0 : 2);
        }
        kids[i] = pid;
    }
    for (int i = 0; i < subs; i++) {
        char c;
        if (read(ready[0], &c, 1) != 1) exit(1);
    }
    usleep(200 * 1000); /* let every child reach its sleep */
    long long before = 0, after = 0;
    for (int i = 0; i < subs; i++) before += cpu_ns(kids[i]);
    double t0 = now_s();
    sleep((unsigned)secs);
    double t1 = now_s();
    for (int i = 0; i < subs; i++) after += cpu_ns(kids[i]);
    if (plexus) {
        if (plexus_bus_shutdown(bus) != PLEXUS_OK) die("shutdown");
    } else {
        close(fds[1]);
        close(fds[0]);
    }
    for (int i = 0; i < subs; i++) {
        int st;
        waitpid(kids[i], &st, 0);
    }
    close(ready[0]);
    close(ready[1]);
    if (plexus) {
        plexus_region_close(r);
        plexus_region_remove(name);
    }
    double secs_cpu = (double)(after - before) / 1e9;
    return 100.0 * secs_cpu / (t1 - t0);
}

int main(int argc, char **argv) {
    int subs = argc > 1 ? atoi(argv[1]) : 30;
    int secs = argc > 2 ? atoi(argv[2]) : 5;
    int runs = argc > 3 ? atoi(argv[3]) : 3;
    if (subs < 1 || subs > MAX_SUBS || secs < 1 || runs < 1) {
        fprintf(stderr, "usage: idle_subs [SUBSCRIBERS 1-%d] [SECONDS] [RUNS]\n", MAX_SUBS);
        return 2;
    }
    printf("| run | %d idle plexus subscribers (%% of one CPU) | %d processes blocked in read() on a pipe |\n|---|---|---|\n",
           subs, subs);
    for (int run = 0; run < runs; run++) {
        double p = measure(1, subs, secs, run);
        double q = measure(0, subs, secs, run);
        printf("| %d | %.3f %% | %.3f %% |\n", run + 1, p, q);
        fflush(stdout);
    }
    return 0;
}
