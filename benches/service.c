/* benches/service.c: the round trip of one service call (plexus_service_call to a server
 * process that answers with plexus_service_next + plexus_service_reply) against the same
 * request/response over a Unix stream socket (a small framed request and reply), and on
 * a remote region (redis://, a redis-server started by benches/service.sh).
 *
 * Two processes per method: this one calls, a child serves. The plexus servers are this
 * program re-executed (`--serve REGION`), so no plexus state crosses a fork; the socket
 * server is a plain fork that only reads and writes. The methods run interleaved, `runs`
 * times each (shm, socket, redis, shm, socket, redis, ...); each run starts its server,
 * makes `warm` untimed calls, then times `n` calls one by one (CLOCK_MONOTONIC around each
 * call). Reported per method: the median over runs of the run's median and of its p99,
 * and the ratios to the socket. Requests and replies are 8-byte integers (the reply is
 * the request + 1, checked). Nothing is asserted: a benchmark, not a test.
 *
 *   service [--runs N] [--n N] [--redis-n N] [--warm N] [--port P] [--quiet-wait S]
 *
 * --port 0 (the default) leaves out the redis row. */
#define _GNU_SOURCE
#define BENCH_MAX_CHILDREN 1
#include "bench_common.h"

#include <sys/socket.h>

typedef struct {
    int runs;
    long n, redis_n, warm;
    int port;
    int quiet_wait_s;
} options;

static options O = {7, 20000, 2000, 1000, 0, 10};
static const char *g_self; /* /proc/self/exe, to start the plexus servers */

/* ---- the plexus server (this program, re-executed) ---- */

/* Answers every int request n with n + 1 until it gets -1 (answered too). */
static int serve(const char *region_name) {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_OPEN;
    plexus_region r;
    PX(plexus_region_open(region_name, &o, &r));
    plexus_service s;
    PX(plexus_service_open(r, "bench", 0, 0, &s));
    for (;;) {
        plexus_request req;
        plexus_value v;
        PX(plexus_service_next(s, &req, &v, PLEXUS_FOREVER));
        plexus_value out = plexus_int(v.as.i + 1);
        PX(plexus_service_reply(s, req, &out));
        if (v.as.i == -1) break;
    }
    PX(plexus_region_close(r));
    return 0;
}

static pid_t start_plexus_server(const char *region_name) {
    pid_t pid = bench_fork(0);
    if (pid == 0) {
        execl(g_self, g_self, "--serve", region_name, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    g_children[0] = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("server failed (status %#x)", status);
}

/* One plexus run: `n` timed calls into samples (ns). */
static void run_plexus(const char *region_name, long n, uint64_t *samples) {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_CREATE;
    o.size = 1 << 20;
    char path[320];
    bool local = strncmp(region_name, "redis://", 8) != 0;
    if (local) {
        snprintf(path, sizeof path, "/dev/shm/plexus.%s", region_name);
        bench_track(path);
    }
    plexus_region r;
    PX(plexus_region_open(region_name, &o, &r));
    plexus_service s;
    PX(plexus_service_open(r, "bench", 16, 0, &s));
    pid_t pid = start_plexus_server(region_name);
    plexus_value out;
    for (long i = 0; i < O.warm + n; i++) {
        plexus_value in = plexus_int(i);
        uint64_t t0 = now_ns();
        PX(plexus_service_call(s, &in, &out, 60LL * 1000000000));
        uint64_t t1 = now_ns();
        if (out.type != PLEXUS_INT || out.as.i != i + 1) die("wrong reply to %ld", i);
        if (i >= O.warm) samples[i - O.warm] = t1 - t0;
    }
    plexus_value stop = plexus_int(-1);
    PX(plexus_service_call(s, &stop, &out, 60LL * 1000000000));
    reap(pid);
    PX(plexus_region_close(r));
    PX(plexus_region_remove(region_name));
    if (local) bench_untrack(path);
}

/* ---- the socket baseline ---- */

/* A frame: a 4-byte length, then that many bytes (here an 8-byte integer). */
static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) die("write: %s", strerror(errno));
        c += k;
        n -= (size_t)k;
    }
}

static bool read_all(int fd, void *p, size_t n) {
    char *c = p;
    while (n > 0) {
        ssize_t k = read(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) return false;
        if (k < 0) die("read: %s", strerror(errno));
        c += k;
        n -= (size_t)k;
    }
    return true;
}

static void send_frame(int fd, int64_t v) {
    char buf[12];
    uint32_t len = 8;
    memcpy(buf, &len, 4);
    memcpy(buf + 4, &v, 8);
    write_all(fd, buf, sizeof buf); /* one write per frame, as a real protocol would */
}

static bool recv_frame(int fd, int64_t *v) {
    uint32_t len;
    if (!read_all(fd, &len, 4)) return false;
    if (len != 8) die("bad frame length %u", len);
    return read_all(fd, v, 8);
}

static void run_socket(long n, uint64_t *samples) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair: %s", strerror(errno));
    pid_t pid = bench_fork(0);
    if (pid == 0) {
        close(sv[0]);
        int64_t v;
        while (recv_frame(sv[1], &v)) send_frame(sv[1], v + 1);
        _exit(0);
    }
    close(sv[1]);
    for (long i = 0; i < O.warm + n; i++) {
        int64_t got;
        uint64_t t0 = now_ns();
        send_frame(sv[0], i);
        if (!recv_frame(sv[0], &got)) die("socket server gone");
        uint64_t t1 = now_ns();
        if (got != i + 1) die("wrong socket reply to %ld", i);
        if (i >= O.warm) samples[i - O.warm] = t1 - t0;
    }
    close(sv[0]);
    reap(pid);
}

/* ---- report ---- */

enum { SHM, SOCK, REDIS, METHODS };
static const char *NAMES[METHODS] = {"plexus service, shared memory", "Unix stream socket",
                                     "plexus service, redis://"};

static long long arg(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) die("%s needs a value", argv[*i]);
    return atoll(argv[++*i]);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--serve")) {
        g_prog = "service-server";
        return serve(argv[2]);
    }
    bench_init("service");
    static char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) die("readlink /proc/self/exe: %s", strerror(errno));
    self[k] = 0;
    g_self = self;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--runs")) O.runs = (int)arg(argc, argv, &i);
        else if (!strcmp(a, "--n")) O.n = arg(argc, argv, &i);
        else if (!strcmp(a, "--redis-n")) O.redis_n = arg(argc, argv, &i);
        else if (!strcmp(a, "--warm")) O.warm = arg(argc, argv, &i);
        else if (!strcmp(a, "--port")) O.port = (int)arg(argc, argv, &i);
        else if (!strcmp(a, "--quiet-wait")) O.quiet_wait_s = (int)arg(argc, argv, &i);
        else die("unknown option %s (see the comment at the top of benches/service.c)", a);
    }
    if (O.runs < 1 || O.runs > 64 || O.n < 100 || O.redis_n < 100) die("bad --runs/--n/--redis-n");
    int methods = O.port > 0 ? METHODS : REDIS;
    double med[METHODS][64], p99[METHODS][64];
    uint64_t *samples = malloc(sizeof *samples * (size_t)(O.n > O.redis_n ? O.n : O.redis_n));
    if (!samples) die("out of memory");
    for (int run = 0; run < O.runs; run++) {
        for (int m = 0; m < methods; m++) {
            bench_wait_quiet("service", O.quiet_wait_s);
            long n = m == REDIS ? O.redis_n : O.n;
            char name[320];
            alarm(600);
            if (m == SHM) {
                snprintf(name, sizeof name, "%ssvc-%d", g_tag, run);
                run_plexus(name, n, samples);
            } else if (m == REDIS) {
                snprintf(name, sizeof name, "redis://127.0.0.1:%d/%ssvc-%d", O.port, g_tag, run);
                run_plexus(name, n, samples);
            } else {
                run_socket(n, samples);
            }
            alarm(0);
            qsort(samples, (size_t)n, sizeof *samples, cmp_u64);
            med[m][run] = interpolated_median(samples, n) / 1000.0;
            p99[m][run] = (double)q_u64(samples, (size_t)n, 0.99) / 1000.0;
            fprintf(stderr, "run %d %-30s median %8.2f us  p99 %8.2f us\n", run + 1, NAMES[m],
                    med[m][run], p99[m][run]);
        }
    }
    free(samples);
    printf("# Service call round trip (benches/service.c)\n\n");
    printf("A caller process and a server process; %d interleaved runs of %ld calls (redis: %ld)\n"
           "after %ld untimed ones; each call timed alone. Medians over the runs of each run's\n"
           "median and p99. Ratio: the socket's time divided by the row's (above 1: faster than\n"
           "the socket).\n\n",
           O.runs, O.n, O.redis_n, O.warm);
    printf("| method | median (us) | p99 (us) | median range over runs (us) | ratio, median | ratio, p99 |\n");
    printf("|---|---|---|---|---|---|\n");
    double sock_med = median_d(med[SOCK], O.runs), sock_p99 = median_d(p99[SOCK], O.runs);
    for (int m = 0; m < methods; m++) {
        double mm = median_d(med[m], O.runs), pp = median_d(p99[m], O.runs);
        printf("| %s | %.2f | %.2f | %.2f - %.2f | %.2fx | %.2fx |\n", NAMES[m], mm, pp,
               min_d(med[m], O.runs), max_d(med[m], O.runs), sock_med / mm, sock_p99 / pp);
    }
    /* The same ratio run by run (the socket and the shared-memory call of one run saw
     * the same machine): the load of a shared machine moves both a lot. */
    double per_run[64];
    for (int run = 0; run < O.runs; run++) per_run[run] = med[SOCK][run] / med[SHM][run];
    double ratio = median_d(per_run, O.runs);
    printf("\nRatio of the medians run by run (socket / shared memory, the same run): median "
           "%.2fx, range %.2fx - %.2fx.\n",
           ratio, min_d(per_run, O.runs), max_d(per_run, O.runs));
    printf("\nTarget: a shared-memory call at least 10x faster than the socket (median of the "
           "run-by-run ratios): %s (%.2fx).\n",
           ratio >= 10 ? "met" : "NOT met", ratio);
    return 0;
}
