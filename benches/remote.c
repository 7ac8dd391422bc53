/*
 * benches/remote.c: plexus on a Redis server (a `redis://` region) against the raw Redis
 * commands that do the same work, in the same run (not a test: nothing here asserts a
 * time).
 *
 * Rows, measured in jobs (a plexus row with its raw baselines; see call_job), the jobs
 * interleaved run by run (run 1 of every job, then run 2, ...; the order alternates):
 *   one call at a time, one process (latency per call):
 *     ping     raw PING: one command round trip, the floor
 *     set      raw SET k <i>            xf    plexus_map_write_xf(m, "k", INT i)
 *     get      raw GET k                ff    plexus_map_read_ff(m, "k")
 *     incrby   raw INCRBY c 1           faa   plexus_array_faa(a, 0, INT 1)
 *     evalsha  raw EVALSHA of `return 1` (one key): the cost of calling any script
 *   hand-off between two processes (latency per round trip = two hand-offs):
 *     fe       plexus write_ef -> read_fe (the reader blocked), and back
 *     blpop    raw RPUSH -> BLPOP, and back
 *     xread    raw XADD -> XREAD BLOCK, and back
 *   stream from a producer process to a consumer process (values per second):
 *     queue    plexus_queue_push / plexus_queue_pop, one value per call
 *     qb16     plexus_queue_push_many / plexus_queue_pop_many, 16 values per call
 *     qb64     the same, 64 values per call
 *     bus      plexus_bus_publish / plexus_sub_next, one message per publish (the bus
 *              retains every message of the run: a gap fails the row)
 *     bb16     plexus_bus_publish_many, 16 messages per call / plexus_sub_next
 *     bb64     the same, 64 messages per call
 *     lpipe    raw RPUSH / BLPOP, pipelined in batches of --batch
 *     list1    raw RPUSH / BLPOP, one command per round trip
 *     xpipe    raw XADD pipelined / XREAD BLOCK COUNT --batch
 *
 * Within a job, the latency of the rows comes from blocks of calls taking turns, so both
 * sides of a ratio see the same state of the machine. For every row it also records, in
 * a statistics phase of the row alone, what the server did: requests and commands per
 * operation and the server's time in them (INFO commandstats, reset before the phase),
 * the server's CPU per operation (/proc/<server pid>/schedstat) and the client's CPU.
 *
 * The raw side is a minimal RESP client in this file (plain blocking sockets,
 * TCP_NODELAY, one buffered read per reply): it is only a baseline. plexus talks to the
 * server through its own client inside libplexus.
 *
 * Build and run through benches/remote.sh, which starts a private redis-server.
 * Options: see usage(). Every key and region this program makes carries "pxbench-<pid>"
 * and is deleted before exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define BENCH_MAX_CHILDREN 1
#include "bench_common.h"

/* ------------------------------------------------------------------ options */

static struct {
    const char *host;
    int port;
    int server_pid;    /* for the server's CPU (0: not measured) */
    int runs;
    long ops;          /* calls per run, one-call rows */
    long rt;           /* round trips per run, hand-off rows */
    long stream_n;     /* values per run, stream rows */
    long stats_ops;    /* calls per run of the statistics phase of a one-call row */
    long stats_rt;     /* round trips per run of the statistics phase of a hand-off row */
    long warm;         /* untimed calls / round trips / values before each row */
    int batch;         /* pipeline depth of lpipe and xpipe */
    long cap;          /* capacity of the plexus queue */
    int timeout_s;     /* watchdog per row and run */
    int quiet_wait_s;  /* before each run, wait for other load to stop */
    const char *only;  /* comma-separated rows, for profiling */
} O = {"127.0.0.1", 0, 0, 5, 20000, 3000, 20000, 2000, 300, 500, 64, 1024, 120, 0, NULL};

/* A run during which other processes (not ours, not the server) used more CPU than
 * this (in CPUs) is marked noisy. */
#define NOISY_CPUS 0.3

static void usage(FILE *f) {
    fprintf(f,
            "usage: remote --port P [--host H] [--server-pid PID] [--runs N] [--ops N] [--rt N]\n"
            "              [--stream-n N] [--stats-ops N] [--stats-rt N] [--warm N] [--batch B]\n"
            "              [--cap N] [--timeout S]\n"
            "              [--quiet-wait S] [--only ROW,ROW...]\n"
            "  --port P        the Redis server (required; benches/remote.sh starts one)\n"
            "  --host H        its address (default 127.0.0.1)\n"
            "  --server-pid N  its pid, to measure its CPU per operation (default: not measured)\n"
            "  --runs N        interleaved runs (default 5; remote.sh passes 7)\n"
            "  --ops N         calls per run of each one-call row (default 20000)\n"
            "  --rt N          round trips per run of each hand-off row (default 3000)\n"
            "  --stream-n N    values per run of each stream row (default 20000)\n"
            "  --stats-ops N   calls per run of the statistics phase of a one-call row (default 2000)\n"
            "  --stats-rt N    round trips per run of the statistics phase of a hand-off row (default 300)\n"
            "  --warm N        untimed calls/round trips/values before each row (default 500)\n"
            "  --batch B       pipeline depth of the raw pipelined stream rows (default 64)\n"
            "  --cap N         capacity of the plexus queue of the stream row (default 1024)\n"
            "  --timeout S     watchdog per row and run, seconds (default 120)\n"
            "  --quiet-wait S  before each run wait up to S s until other processes use\n"
            "                  < 0.1 CPU (default 0: do not wait)\n"
            "  --only R,R      run only these rows (no report; one line per run on stderr)\n"
            "rows: ping set xf get ff incrby faa evalsha fe blpop xread queue qb16 qb64 bus bb16 bb64\n"
            "      lpipe list1 xpipe\n");
}

/* ------------------------------------------------------------------ a minimal RESP client */

#define RC_ATOMS 512
#define RC_ARENA (1 << 16)

/* One reply, flattened: its scalars in order (nested arrays are walked depth first). */
typedef struct {
    int n;                  /* atoms (more than RC_ATOMS are parsed and dropped) */
    char type[RC_ATOMS];    /* '+' simple, '-' error, ':' integer, '$' bulk, '_' nil */
    long long num[RC_ATOMS];/* ':' value; '$' length */
    char *s[RC_ATOMS];      /* '+', '-', '$': NUL-terminated text in the arena */
    char arena[RC_ARENA];
    size_t used;
} rc_reply;

typedef struct {
    int fd;
    char in[1 << 16];
    size_t r, n; /* unread bytes: in[r..n) */
    char *out;
    size_t olen, ocap;
    rc_reply rep;
} rc;

static void (*g_fail)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void rc_fail_parent(const char *fmt, ...) {
    char m[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    die("%s", m);
}

static rc *rc_connect(void) {
    rc *c = calloc(1, sizeof *c);
    if (!c) g_fail("out of memory");
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof port, "%d", O.port);
    int e = getaddrinfo(O.host, port, &hints, &ai);
    if (e != 0) g_fail("resolve %s: %s", O.host, gai_strerror(e));
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0)
        g_fail("connect %s:%d: %s", O.host, O.port, strerror(errno));
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ocap = 1 << 16;
    c->out = malloc(c->ocap);
    if (!c->out) g_fail("out of memory");
    return c;
}

static void rc_close(rc *c) {
    close(c->fd);
    free(c->out);
    free(c);
}

static void rc_put(rc *c, const void *p, size_t len) {
    if (c->olen + len > c->ocap) {
        while (c->olen + len > c->ocap) c->ocap *= 2;
        c->out = realloc(c->out, c->ocap);
        if (!c->out) g_fail("out of memory");
    }
    memcpy(c->out + c->olen, p, len);
    c->olen += len;
}

/* Appends one command (its arguments are NUL-terminated strings, the list ends with
 * NULL) to the output buffer; rc_flush sends what is buffered. */
__attribute__((sentinel)) static void rc_cmd(rc *c, const char *first, ...) {
    const char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 32; a = va_arg(ap, const char *)) args[n++] = a;
    va_end(ap);
    char h[32];
    int hl = snprintf(h, sizeof h, "*%d\r\n", n);
    rc_put(c, h, (size_t)hl);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(args[i]);
        hl = snprintf(h, sizeof h, "$%zu\r\n", l);
        rc_put(c, h, (size_t)hl);
        rc_put(c, args[i], l);
        rc_put(c, "\r\n", 2);
    }
}

static void rc_flush(rc *c) {
    size_t off = 0;
    while (off < c->olen) {
        ssize_t w = write(c->fd, c->out + off, c->olen - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) g_fail("write to the server: %s", strerror(errno));
        off += (size_t)w;
    }
    c->olen = 0;
}

static int rc_byte(rc *c) {
    if (c->r == c->n) {
        ssize_t got;
        do got = read(c->fd, c->in, sizeof c->in);
        while (got < 0 && errno == EINTR);
        if (got <= 0) g_fail("read from the server: %s", got == 0 ? "closed" : strerror(errno));
        c->r = 0;
        c->n = (size_t)got;
    }
    return (unsigned char)c->in[c->r++];
}

/* One line without its CRLF, truncated to cap - 1 bytes. */
static size_t rc_line(rc *c, char *dst, size_t cap) {
    size_t len = 0;
    for (;;) {
        int b = rc_byte(c);
        if (b == '\r') {
            if (rc_byte(c) != '\n') g_fail("protocol: CR without LF");
            break;
        }
        if (len + 1 < cap) dst[len++] = (char)b;
    }
    dst[len] = 0;
    return len;
}

static char *rc_keep(rc_reply *p, const char *s, size_t len) {
    if (p->used + len + 1 > RC_ARENA) g_fail("reply larger than %d bytes", RC_ARENA);
    char *d = p->arena + p->used;
    memcpy(d, s, len);
    d[len] = 0;
    p->used += len + 1;
    return d;
}

static void rc_atom(rc_reply *p, char type, long long num, char *s) {
    if (p->n >= RC_ATOMS) return;
    p->type[p->n] = type;
    p->num[p->n] = num;
    p->s[p->n] = s;
    p->n++;
}

static void rc_parse(rc *c, rc_reply *p) {
    char line[1024];
    size_t len = rc_line(c, line, sizeof line);
    if (len == 0) g_fail("protocol: empty line");
    long long num = strtoll(line + 1, NULL, 10);
    switch (line[0]) {
    case '+':
    case '-':
        rc_atom(p, line[0], 0, rc_keep(p, line + 1, len - 1));
        break;
    case ':':
        rc_atom(p, ':', num, NULL);
        break;
    case '$': {
        if (num < 0) {
            rc_atom(p, '_', 0, NULL);
            break;
        }
        if (p->used + (size_t)num + 1 > RC_ARENA) g_fail("reply larger than %d bytes", RC_ARENA);
        char *d = p->arena + p->used;
        for (long long i = 0; i < num; i++) d[i] = (char)rc_byte(c);
        d[num] = 0;
        p->used += (size_t)num + 1;
        if (rc_byte(c) != '\r' || rc_byte(c) != '\n') g_fail("protocol: bulk without CRLF");
        rc_atom(p, '$', num, d);
        break;
    }
    case '*':
        if (num < 0) rc_atom(p, '_', 0, NULL);
        for (long long i = 0; i < num; i++) rc_parse(c, p);
        break;
    default:
        g_fail("protocol: unexpected reply type '%c'", line[0]);
    }
}

/* Reads one reply into c->rep; an error reply fails (with what the server said). */
static rc_reply *rc_get(rc *c) {
    rc_reply *p = &c->rep;
    p->n = 0;
    p->used = 0;
    rc_parse(c, p);
    if (p->n > 0 && p->type[0] == '-') g_fail("the server said: %s", p->s[0]);
    return p;
}

/* Sends what is buffered and reads one reply. */
static rc_reply *rc_call(rc *c) {
    rc_flush(c);
    return rc_get(c);
}

/* ------------------------------------------------------------------ clocks, CPU */

static double cpu_us_now(void) { return usage_self().cpu_us; }

/* The server's CPU time so far in ns (its main thread, where commands run), or 0. */
static uint64_t server_cpu_ns(void) {
    if (O.server_pid <= 0) return 0;
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/schedstat", O.server_pid);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    unsigned long long ns = 0;
    if (fscanf(f, "%llu", &ns) != 1) ns = 0;
    fclose(f);
    return ns;
}

/* ------------------------------------------------------------------ results */

#define MAX_RUNS 64
#define MAX_CMDS 10

typedef struct {
    char name[64];
    double per_op; /* calls per operation */
    double usec;   /* server µs per call */
} cmd_stat;

typedef struct {
    bool done;
    double p50, p99, mean; /* ns per op (latency rows) */
    double rate;           /* values/s (stream rows) */
    double client_cpu;     /* ns of client CPU per op (all our processes of the row) */
    double server_cpu;     /* ns of server CPU per op (0: not measured) */
    double cmds;           /* commands the server ran per op, inside scripts too */
    double requests;       /* requests the client sent per op (see stats_read) */
    double cmd_us;         /* server µs per op in the requests (a script: with its commands) */
    cmd_stat top[MAX_CMDS];
    int ntop;
    double others;         /* CPUs used by other processes during the row */
} result;

typedef enum { G_CALL, G_HANDOFF, G_STREAM } group;

typedef struct row {
    const char *id;
    group g;
    bool plexus;
    const char *what;
    result res[MAX_RUNS];
    bool skipped;
    char skip_msg[400];
} row;

/* ------------------------------------------------------------------ server statistics */

static rc *g_admin; /* the parent's connection for CONFIG RESETSTAT / INFO / DEL */

static void stats_reset(void) {
    rc_cmd(g_admin, "CONFIG", "RESETSTAT", NULL);
    rc_call(g_admin);
}

static int cmp_cmd(const void *a, const void *b) {
    double x = ((const cmd_stat *)a)->per_op, y = ((const cmd_stat *)b)->per_op;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* What a plexus client sends itself (everything else in its rows runs inside scripts and
 * functions, which INFO commandstats counts too): scripts, functions, waits (XREAD BLOCK,
 * and BLPOP of a parked read_fe), and the lease renewals (SET, one per lease_ms / 3, not
 * counted here: they are not per operation). */
static bool client_request(const char *name) {
    static const char *const sent[] = {"evalsha", "eval", "evalsha_ro", "eval_ro", "fcall",
                                       "fcall_ro", "function|load", "xread", "blpop",
                                       "script|load", "waitaof", "wait", "scan", "unlink"};
    for (size_t i = 0; i < sizeof sent / sizeof *sent; i++)
        if (!strcmp(name, sent[i])) return true;
    return false;
}

/* Reads INFO commandstats: commands per op and their server time per op (leaving out
 * the CONFIG and INFO of the measurement itself); for a plexus row, the requests per op
 * are the commands client_request names, for a raw row every command. */
static void stats_read(double ops, bool plexus, result *res) {
    rc_cmd(g_admin, "INFO", "commandstats", NULL);
    rc_reply *p = rc_call(g_admin);
    if (p->n < 1 || p->type[0] != '$') die("INFO commandstats: unexpected reply");
    cmd_stat all[64];
    int n = 0;
    double calls_sum = 0, usec_sum = 0, req_sum = 0;
    char *save = NULL;
    for (char *line = strtok_r(p->s[0], "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char name[64];
        double calls, usec;
        if (sscanf(line, "cmdstat_%63[^:]:calls=%lf,usec=%lf", name, &calls, &usec) != 3) continue;
        if (!strncmp(name, "config", 6) || !strcmp(name, "info")) continue;
        calls_sum += calls;
        if (!plexus || client_request(name)) {
            req_sum += calls;
            usec_sum += usec; /* a script's time includes the commands it runs */
        }
        if (n < 64) {
            snprintf(all[n].name, sizeof all[n].name, "%s", name);
            all[n].per_op = calls / ops;
            all[n].usec = calls > 0 ? usec / calls : 0;
            n++;
        }
    }
    qsort(all, n, sizeof *all, cmp_cmd);
    res->ntop = n < MAX_CMDS ? n : MAX_CMDS;
    memcpy(res->top, all, res->ntop * sizeof *all);
    res->cmds = calls_sum / ops;
    res->requests = req_sum / ops;
    res->cmd_us = usec_sum / ops;
}

/* Deletes keys of the raw rows. */
static void del_keys(const char *k1, const char *k2) {
    rc_cmd(g_admin, "DEL", k1, k2 ? k2 : k1, NULL);
    rc_call(g_admin);
}

/* ------------------------------------------------------------------ measurement frame */

typedef struct {
    cpu_snap sys0;
    double cpu0;
    uint64_t srv0;
} frame;

static void frame_start(frame *f) {
    stats_reset();
    snap(&f->sys0);
    f->cpu0 = cpu_us_now();
    f->srv0 = server_cpu_ns();
}

/* Fills the CPU and server columns of res for `ops` operations; child_cpu_us is the CPU
 * of the row's child process (0 for one-process rows). */
static void frame_end(frame *f, double ops, double child_cpu_us, bool plexus, result *res) {
    uint64_t srv1 = server_cpu_ns();
    cpu_snap sys1;
    snap(&sys1);
    double own_us = cpu_us_now() - f->cpu0 + child_cpu_us;
    res->client_cpu = own_us * 1e3 / ops;
    res->server_cpu = f->srv0 && srv1 ? (double)(srv1 - f->srv0) / ops : 0;
    double wall_s = (sys1.wall_ns - f->sys0.wall_ns) / 1e9;
    double o = others_cpus(&f->sys0, &sys1) - (wall_s > 0 ? (srv1 - f->srv0) / 1e9 / wall_s : 0);
    res->others = o > 0 ? o : 0;
    stats_read(ops, plexus, res);
    res->done = true;
}

static void latency_stats(uint64_t *ns, long n, uint64_t wall_ns, result *res) {
    qsort(ns, n, sizeof *ns, cmp_u64);
    res->p50 = (double)q_u64(ns, n, 0.5);
    res->p99 = (double)q_u64(ns, n, 0.99);
    res->mean = (double)wall_ns / n;
}

/* ------------------------------------------------------------------ names */

static char g_keyp[64]; /* "pxbench-<pid>:" prefix of raw keys */

static void region_url(char *out, size_t cap, const char *row, int run) {
    snprintf(out, cap, "redis://%s:%d/%s%s-%d", O.host, O.port, g_tag, row, run);
}

static plexus_region region_create(const char *url) {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_RECREATE;
    plexus_region r;
    PX(plexus_region_open(url, &o, &r));
    return r;
}

static void region_drop(plexus_region r, const char *url) {
    PX(plexus_region_close(r));
    PX(plexus_region_remove(url));
}

static const char *num(char *buf, long long v) {
    snprintf(buf, 24, "%lld", v);
    return buf;
}

/* ------------------------------------------------------------------ one-call rows */

/* Rows are measured in jobs: a plexus row with its raw baseline (and the hand-off rows
 * all together), in three phases: warm-up; a statistics phase per row (--stats-ops
 * calls of one row alone, for the server and CPU columns); and the latency phase, where
 * the rows of the job take turns in blocks of BLOCK calls, so that whatever the machine
 * does (on this VM a loopback round trip takes 20 µs while the vCPUs are busy and 80 µs
 * when they idle) affects plexus and its baseline alike. */
#define BLOCK 50

/* One one-call row's state in a job. */
typedef struct {
    row *rw;
    rc *c;
    char key[96], sha[64], url[256];
    plexus_region r;
    plexus_map m;
    plexus_array a;
    long done;         /* calls made (the next value written; the count INCRBY/faa must see) */
    long long sum;     /* of the values GET / read_ff read */
    uint64_t *lat;     /* latency phase */
    long nlat;
    uint64_t busy_ns;
} caller;

static void caller_setup(caller *x, row *rw, int run) {
    memset(x, 0, sizeof *x);
    x->rw = rw;
    x->lat = malloc(O.ops * sizeof *x->lat);
    if (!x->lat) die("out of memory");
    const char *id = rw->id;
    if (!rw->plexus) {
        x->c = rc_connect();
        snprintf(x->key, sizeof x->key, "%s%s", g_keyp, id);
        del_keys(x->key, NULL);
        if (!strcmp(id, "get")) {
            rc_cmd(x->c, "SET", x->key, "12345", NULL);
            rc_call(x->c);
        }
        if (!strcmp(id, "evalsha")) {
            rc_cmd(x->c, "SCRIPT", "LOAD", "return 1", NULL);
            snprintf(x->sha, sizeof x->sha, "%s", rc_call(x->c)->s[0]);
        }
        return;
    }
    region_url(x->url, sizeof x->url, id, run);
    x->r = region_create(x->url);
    if (!strcmp(id, "faa")) {
        PX(plexus_array_open(x->r, "c", 1, PLEXUS_FULL, &x->a));
        plexus_value zero = plexus_int(0);
        PX(plexus_array_write_xf(x->a, 0, &zero));
    } else {
        PX(plexus_map_open(x->r, "m", 16, 0, &x->m));
    }
    if (!strcmp(id, "ff")) {
        plexus_value v = plexus_int(12345);
        PX(plexus_map_write_xf(x->m, "k", &v));
    }
}

/* One call of the row, its result checked. */
static void caller_op(caller *x) {
    const char *id = x->rw->id;
    char nb[24];
    long i = x->done++;
    if (!x->rw->plexus) {
        switch (id[0]) {
        case 'p': rc_cmd(x->c, "PING", NULL); break;
        case 's': rc_cmd(x->c, "SET", x->key, num(nb, i), NULL); break;
        case 'g': rc_cmd(x->c, "GET", x->key, NULL); break;
        case 'i': rc_cmd(x->c, "INCRBY", x->key, "1", NULL); break;
        case 'e': rc_cmd(x->c, "EVALSHA", x->sha, "1", x->key, NULL); break;
        default: die("row %s", id);
        }
        rc_reply *p = rc_call(x->c);
        if (id[0] == 'g') x->sum += strtoll(p->s[0], NULL, 10);
        if (id[0] == 'i' && p->num[0] != i + 1) die("INCRBY returned %lld, expected %ld", p->num[0], i + 1);
        return;
    }
    plexus_value v = plexus_int(i), out;
    if (!strcmp(id, "xf")) {
        PX(plexus_map_write_xf(x->m, "k", &v));
    } else if (!strcmp(id, "ff")) {
        PX(plexus_map_read_ff(x->m, "k", &out, PLEXUS_FOREVER));
        x->sum += out.as.i;
    } else {
        plexus_value one = plexus_int(1);
        PX(plexus_array_faa(x->a, 0, &one, &out));
        if (out.type != PLEXUS_INT || out.as.i != i) die("faa returned %lld, expected %ld", (long long)out.as.i, i);
    }
}

static void caller_teardown(caller *x) {
    const char *id = x->rw->id;
    if ((!strcmp(id, "get") || !strcmp(id, "ff")) && x->sum != 12345LL * x->done)
        die("%s read wrong values", id);
    if (x->rw->plexus) {
        region_drop(x->r, x->url);
    } else {
        rc_close(x->c);
        del_keys(x->key, NULL);
    }
    free(x->lat);
}

static void call_job(row **rows, int n, int run) {
    caller x[4];
    for (int k = 0; k < n; k++) caller_setup(&x[k], rows[k], run);
    for (int k = 0; k < n; k++)
        for (long i = 0; i < O.warm; i++) caller_op(&x[k]);
    for (int k = 0; k < n; k++) {
        frame f;
        frame_start(&f);
        for (long i = 0; i < O.stats_ops; i++) caller_op(&x[k]);
        frame_end(&f, (double)O.stats_ops, 0, rows[k]->plexus, &rows[k]->res[run]);
    }
    for (long b = 0; b * BLOCK < O.ops; b++) {
        long cnt = O.ops - b * BLOCK < BLOCK ? O.ops - b * BLOCK : BLOCK;
        for (int j = 0; j < n; j++) {
            caller *c = &x[(b + j) % n];
            for (long i = 0; i < cnt; i++) {
                uint64_t t0 = now_ns();
                caller_op(c);
                uint64_t d = now_ns() - t0;
                c->lat[c->nlat++] = d;
                c->busy_ns += d;
            }
        }
    }
    for (int k = 0; k < n; k++) {
        latency_stats(x[k].lat, x[k].nlat, x[k].busy_ns, &rows[k]->res[run]);
        caller_teardown(&x[k]);
    }
}

/* ------------------------------------------------------------------ forked rows */

/* Shared with the row's child (anonymous shared mapping). */
typedef struct {
    atomic_int created; /* the parent made the region / keys */
    atomic_int ready;   /* the child is connected and opened what it needs */
    atomic_int warm_done;
    int ok;
    char msg[400];
    double cpu_us;      /* the child's CPU over the timed part */
    double cpu_m[4];    /* hand-off: the child's CPU in the statistics block of each method */
    uint64_t t_end;     /* stream rows: when the consumer had the last value */
} ctl_t;

static ctl_t *g_ctl;

__attribute__((format(printf, 1, 2))) static void child_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_ctl->msg, sizeof g_ctl->msg, fmt, ap);
    va_end(ap);
    g_ctl->ok = 0;
    _exit(1);
}

#define CPX(call)                                                                       \
    do {                                                                                \
        plexus_status st_ = (call);                                                     \
        if (st_ != PLEXUS_OK)                                                           \
            child_fail("child: %s -> %s: %s", #call, plexus_status_name(st_),            \
                       plexus_last_error());                                            \
    } while (0)

static void pause_us(long us) {
    struct timespec t = {0, us * 1000};
    nanosleep(&t, NULL);
}

static void wait_flag(atomic_int *f) {
    while (!atomic_load(f)) pause_us(100);
}

static bench_outcome child_outcome(int idx) {
    (void)idx;
    bench_outcome o = {g_ctl->ok, g_ctl->msg};
    return o;
}

/* Forks the row's child, which runs body(rw, run) and exits 0. */
static void spawn(void (*body)(const row *, int), const row *rw, int run) {
    memset(g_ctl, 0, sizeof *g_ctl);
    if (bench_fork(0) == 0) {
        g_fail = child_fail;
        body(rw, run);
        g_ctl->ok = 1;
        _exit(0);
    }
}

static void open_remote(const char *url, plexus_region *r) {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_OPEN;
    o.wait_ns = 10 * 1000000000LL;
    CPX(plexus_region_open(url, &o, r));
}

/* ------------------------------------------------------------------ hand-off rows */

/* One hand-off method's state in one of the two processes. */
typedef struct {
    row *rw;
    char url[256], k0[96], k1[96], last[64];
    plexus_region r;
    plexus_array a;
    rc *c;
    long done; /* round trips so far: the next value */
    uint64_t *lat;
    long nlat;
    uint64_t busy_ns;
} hside;

/* The schedule both processes follow: warm-up of every method, a statistics block of
 * every method, then the latency phase in blocks taking turns. */
typedef void (*hstep)(hside *hs, int m, long count, int phase);

static void handoff_schedule(hside *hs, int n, hstep step) {
    for (int m = 0; m < n; m++) step(&hs[m], m, O.warm, 0);
    for (int m = 0; m < n; m++) step(&hs[m], m, O.stats_rt, 1);
    for (long b = 0; b * BLOCK < O.rt; b++) {
        long cnt = O.rt - b * BLOCK < BLOCK ? O.rt - b * BLOCK : BLOCK;
        for (int j = 0; j < n; j++) step(&hs[(b + j) % n], (int)((b + j) % n), cnt, 2);
    }
}

static void hside_names(hside *hs, row *rw, int run) {
    hs->rw = rw;
    region_url(hs->url, sizeof hs->url, rw->id, run);
    snprintf(hs->k0, sizeof hs->k0, "%s%s:0", g_keyp, rw->id);
    snprintf(hs->k1, sizeof hs->k1, "%s%s:1", g_keyp, rw->id);
    snprintf(hs->last, sizeof hs->last, "0-0");
}

/* The child: takes each value from the parent and hands it back. */
static void child_step(hside *hs, int m, long count, int phase) {
    double c0 = cpu_us_now();
    for (long k = 0; k < count; k++) {
        long i = hs->done++;
        char val[32];
        if (hs->rw->plexus) {
            plexus_value v;
            CPX(plexus_array_read_fe(hs->a, 0, &v, PLEXUS_FOREVER));
            if (v.type != PLEXUS_INT || v.as.i != i) child_fail("child: read_fe got a wrong value at %ld", i);
            CPX(plexus_array_write_ef(hs->a, 1, &v, PLEXUS_FOREVER));
            continue;
        }
        if (hs->rw->id[0] == 'b') {
            rc_cmd(hs->c, "BLPOP", hs->k0, "0", NULL);
            rc_reply *p = rc_call(hs->c);
            if (p->n != 2) child_fail("child: BLPOP reply of %d parts", p->n);
            snprintf(val, sizeof val, "%s", p->s[1]);
            rc_cmd(hs->c, "RPUSH", hs->k1, val, NULL);
        } else {
            rc_cmd(hs->c, "XREAD", "BLOCK", "0", "STREAMS", hs->k0, hs->last, NULL);
            rc_reply *p = rc_call(hs->c);
            if (p->n != 4) child_fail("child: XREAD reply of %d parts", p->n);
            snprintf(hs->last, sizeof hs->last, "%s", p->s[1]);
            snprintf(val, sizeof val, "%s", p->s[3]);
            rc_cmd(hs->c, "XADD", hs->k1, "MAXLEN", "~", "1000", "*", "v", val, NULL);
        }
        if (strtol(val, NULL, 10) != i) child_fail("child: got %s, expected %ld", val, i);
        rc_call(hs->c);
    }
    if (phase == 1) g_ctl->cpu_m[m] = cpu_us_now() - c0;
}

static row *g_hrows[4];
static int g_hn;

static void handoff_child(const row *unused, int run) {
    (void)unused;
    hside hs[4];
    memset(hs, 0, sizeof hs);
    wait_flag(&g_ctl->created);
    for (int m = 0; m < g_hn; m++) {
        hside_names(&hs[m], g_hrows[m], run);
        if (hs[m].rw->plexus) {
            open_remote(hs[m].url, &hs[m].r);
            CPX(plexus_array_open(hs[m].r, "pp", 0, 0, &hs[m].a));
        } else {
            hs[m].c = rc_connect();
        }
    }
    atomic_store(&g_ctl->ready, 1);
    handoff_schedule(hs, g_hn, child_step);
    for (int m = 0; m < g_hn; m++) {
        if (hs[m].rw->plexus)
            CPX(plexus_region_close(hs[m].r));
        else
            rc_close(hs[m].c);
    }
}

static int g_run;
static frame g_frame;

/* The parent: hands a value over and waits for it to come back (one round trip). */
static void parent_step(hside *hs, int m, long count, int phase) {
    (void)m;
    if (phase == 1) frame_start(&g_frame);
    for (long k = 0; k < count; k++) {
        long i = hs->done++;
        char nb[24];
        uint64_t t0 = now_ns();
        if (hs->rw->plexus) {
            plexus_value v = plexus_int(i), back;
            PX(plexus_array_write_ef(hs->a, 0, &v, PLEXUS_FOREVER));
            PX(plexus_array_read_fe(hs->a, 1, &back, PLEXUS_FOREVER));
            if (back.type != PLEXUS_INT || back.as.i != i) die("read_fe got a wrong value at %ld", i);
        } else if (hs->rw->id[0] == 'b') {
            rc_cmd(hs->c, "RPUSH", hs->k0, num(nb, i), NULL);
            rc_call(hs->c);
            rc_cmd(hs->c, "BLPOP", hs->k1, "0", NULL);
            rc_reply *p = rc_call(hs->c);
            if (p->n != 2 || strtol(p->s[1], NULL, 10) != i) die("BLPOP got a wrong value at %ld", i);
        } else {
            rc_cmd(hs->c, "XADD", hs->k0, "MAXLEN", "~", "1000", "*", "v", num(nb, i), NULL);
            rc_call(hs->c);
            rc_cmd(hs->c, "XREAD", "BLOCK", "0", "STREAMS", hs->k1, hs->last, NULL);
            rc_reply *p = rc_call(hs->c);
            if (p->n != 4 || strtol(p->s[3], NULL, 10) != i) die("XREAD got a wrong value at %ld", i);
            snprintf(hs->last, sizeof hs->last, "%s", p->s[1]);
        }
        uint64_t d = now_ns() - t0;
        if (phase == 2) {
            hs->lat[hs->nlat++] = d;
            hs->busy_ns += d;
        }
    }
    if (phase == 1) frame_end(&g_frame, (double)O.stats_rt, 0, hs->rw->plexus, &hs->rw->res[g_run]);
}

static void handoff_job(row **rows, int n, int run) {
    g_hn = n;
    g_run = run;
    for (int m = 0; m < n; m++) g_hrows[m] = rows[m];
    /* fork first: the child inherits no plexus handle and no lease thread */
    spawn(handoff_child, rows[0], run);
    hside hs[4];
    memset(hs, 0, sizeof hs);
    for (int m = 0; m < n; m++) {
        hside_names(&hs[m], rows[m], run);
        hs[m].lat = malloc(O.rt * sizeof *hs[m].lat);
        if (!hs[m].lat) die("out of memory");
        if (rows[m]->plexus) {
            hs[m].r = region_create(hs[m].url);
            PX(plexus_array_open(hs[m].r, "pp", 2, 0, &hs[m].a));
        } else {
            del_keys(hs[m].k0, hs[m].k1);
            hs[m].c = rc_connect();
        }
    }
    atomic_store(&g_ctl->created, 1);
    atomic_int go;
    bench_start(&g_ctl->ready, &go, 1, 200000, child_outcome);
    handoff_schedule(hs, n, parent_step);
    bench_reap_one(child_outcome);
    for (int m = 0; m < n; m++) {
        result *res = &rows[m]->res[run];
        res->client_cpu += g_ctl->cpu_m[m] * 1e3 / O.stats_rt;
        latency_stats(hs[m].lat, hs[m].nlat, hs[m].busy_ns, res);
        if (rows[m]->plexus) {
            region_drop(hs[m].r, hs[m].url);
        } else {
            rc_close(hs[m].c);
            del_keys(hs[m].k0, hs[m].k1);
        }
        free(hs[m].lat);
    }
}

/* ------------------------------------------------------------------ stream rows */

/* Values of a stream row: warm-up and timed, both multiples of the batch. */
static long stream_warm(void) { return (O.warm + O.batch - 1) / O.batch * O.batch; }
static long stream_n(void) { return (O.stream_n + O.batch - 1) / O.batch * O.batch; }

/* The consumer (the row's child): takes every value, checks the order, records when it
 * had the last one. */
static double g_c0; /* the consumer's CPU when the warm-up ended */

static void stream_took(long *next, long warm) {
    if (++*next == warm) {
        g_c0 = cpu_us_now();
        atomic_store(&g_ctl->warm_done, 1);
    }
}

/* Values per call of a plexus stream row (0: one push and one pop per value). */
static int plexus_batch(const row *rw) {
    return !strcmp(rw->id, "qb16") || !strcmp(rw->id, "bb16")   ? 16
           : !strcmp(rw->id, "qb64") || !strcmp(rw->id, "bb64") ? 64
                                                                : 0;
}

/* The next batch of a producer at value i: INT values i, i+1, ... into vals (room for
 * 64), as many as `batch` allows without crossing the end of the warm-up (the clock
 * starts there) or the end of the run; returns how many. */
static long next_batch(plexus_value *vals, long i, int batch, long warm, long total) {
    long b = batch;
    if (i < warm && i + b > warm) b = warm - i;
    if (i + b > total) b = total - i;
    for (long k = 0; k < b; k++) vals[k] = plexus_int(i + k);
    return b;
}

/* A bus row (bus, bb16, bb64) rather than a queue row. */
static bool bus_row(const row *rw) {
    return !strcmp(rw->id, "bus") || !strncmp(rw->id, "bb", 2);
}

static void stream_child(const row *rw, int run) {
    long warm = stream_warm(), total = warm + stream_n();
    wait_flag(&g_ctl->created);
    if (atomic_load(&g_ctl->created) == 2) return; /* the row is skipped */
    long next = 0;
    if (warm == 0) {
        g_c0 = cpu_us_now();
        atomic_store(&g_ctl->warm_done, 1);
    }
    if (rw->plexus) {
        char url[256];
        region_url(url, sizeof url, rw->id, run);
        plexus_region r;
        plexus_queue q;
        open_remote(url, &r);
        if (bus_row(rw)) {
            /* The subscriber: every message, numbered from 1, holding 0, 1, 2, ... */
            plexus_bus b;
            plexus_sub sub;
            CPX(plexus_bus_open(r, "b", 0, 0, &b));
            CPX(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &sub));
            atomic_store(&g_ctl->ready, 1);
            while (next < total) {
                plexus_value got;
                uint64_t seq;
                CPX(plexus_sub_next(sub, &got, &seq, PLEXUS_FOREVER));
                if (got.type != PLEXUS_INT || got.as.i != next || seq != (uint64_t)next + 1)
                    child_fail("child: message %" PRIu64 " is wrong at %ld (a gap?)", seq, next);
                stream_took(&next, warm);
            }
            g_ctl->t_end = now_ns();
            g_ctl->cpu_us = cpu_us_now() - g_c0;
            CPX(plexus_region_close(r));
            return;
        }
        CPX(plexus_queue_open(r, "q", 0, 0, &q));
        atomic_store(&g_ctl->ready, 1);
        const int batch = plexus_batch(rw);
        while (next < total) {
            plexus_value got[64];
            size_t n = 1;
            if (batch)
                CPX(plexus_queue_pop_many(q, got, (size_t)batch, PLEXUS_FOREVER, &n));
            else
                CPX(plexus_queue_pop(q, &got[0], PLEXUS_FOREVER));
            for (size_t k = 0; k < n; k++) {
                if (got[k].type != PLEXUS_INT || got[k].as.i != next) child_fail("child: popped a wrong value at %ld", next);
                stream_took(&next, warm);
            }
        }
        g_ctl->t_end = now_ns();
        g_ctl->cpu_us = cpu_us_now() - g_c0;
        CPX(plexus_region_close(r));
        return;
    }
    rc *c = rc_connect();
    char key[96], last[64] = "0-0", cnt[24];
    snprintf(key, sizeof key, "%s%s", g_keyp, rw->id);
    int per = !strcmp(rw->id, "list1") ? 1 : O.batch;
    atomic_store(&g_ctl->ready, 1);
    while (next < total) {
        if (rw->id[0] == 'x') {
            rc_cmd(c, "XREAD", "COUNT", num(cnt, per), "BLOCK", "0", "STREAMS", key, last, NULL);
            rc_reply *p = rc_call(c);
            /* [key, id, "v", value, id, "v", value, ...] */
            if (p->n < 4 || (p->n - 1) % 3) child_fail("child: XREAD reply of %d parts", p->n);
            for (int j = 1; j < p->n; j += 3) {
                if (strtol(p->s[j + 2], NULL, 10) != next) child_fail("child: XREAD got a wrong value at %ld", next);
                stream_took(&next, warm);
            }
            snprintf(last, sizeof last, "%s", p->s[p->n - 3]);
            continue;
        }
        for (int j = 0; j < per; j++) rc_cmd(c, "BLPOP", key, "0", NULL);
        rc_flush(c);
        for (int j = 0; j < per; j++) {
            rc_reply *p = rc_get(c);
            if (p->n != 2 || strtol(p->s[1], NULL, 10) != next) child_fail("child: BLPOP got a wrong value at %ld", next);
            stream_took(&next, warm);
        }
    }
    g_ctl->t_end = now_ns();
    g_ctl->cpu_us = cpu_us_now() - g_c0;
    rc_close(c);
}

static bool is_unsupported(plexus_status st) {
    return !strcmp(plexus_status_name(st), "PLEXUS_E_UNSUPPORTED");
}

static void stream(row *rw, int run, result *res) {
    long warm = stream_warm(), n = stream_n(), total = warm + n;
    char url[256], key[96], nb[24];
    snprintf(key, sizeof key, "%s%s", g_keyp, rw->id);
    plexus_region r = {0};
    plexus_queue q = {0};
    plexus_bus bus = {0};
    rc *c = NULL;
    /* fork first: the child inherits no plexus handle and no lease thread */
    spawn(stream_child, rw, run);
    if (rw->plexus) {
        region_url(url, sizeof url, rw->id, run);
        r = region_create(url);
        /* A bus retains every message of the run, so that the subscriber never skips. */
        plexus_status st = bus_row(rw) ? plexus_bus_open(r, "b", (uint64_t)total, 0, &bus)
                                       : plexus_queue_open(r, "q", (uint64_t)O.cap, 0, &q);
        if (st != PLEXUS_OK && is_unsupported(st)) {
            rw->skipped = true;
            snprintf(rw->skip_msg, sizeof rw->skip_msg, "%s", plexus_last_error());
            atomic_store(&g_ctl->created, 2);
            bench_reap_one(child_outcome);
            region_drop(r, url);
            return;
        }
        PX(st);
    } else {
        del_keys(key, NULL);
        c = rc_connect();
    }
    atomic_store(&g_ctl->created, 1);
    atomic_int go;
    bench_start(&g_ctl->ready, &go, 1, 200000, child_outcome);
    int per = !strcmp(rw->id, "list1") ? 1 : O.batch;
    frame f;
    uint64_t t0 = 0;
    for (long i = 0; i < total;) {
        if (i == warm) {
            wait_flag(&g_ctl->warm_done);
            frame_start(&f);
            t0 = now_ns();
        }
        if (rw->plexus && bus_row(rw)) {
            const int batch = plexus_batch(rw);
            uint64_t first = 0;
            if (!batch) {
                plexus_value v = plexus_int(i);
                PX(plexus_bus_publish(bus, &v, &first));
                i++;
                continue;
            }
            plexus_value vals[64];
            long b = next_batch(vals, i, batch, warm, total);
            PX(plexus_bus_publish_many(bus, vals, (size_t)b, &first));
            if (first != (uint64_t)i + 1) die("%s: first seq %" PRIu64 " at %ld", rw->id, first, i);
            i += b;
            continue;
        }
        if (rw->plexus) {
            const int batch = plexus_batch(rw);
            if (!batch) {
                plexus_value v = plexus_int(i);
                PX(plexus_queue_push(q, &v, PLEXUS_FOREVER));
                i++;
                continue;
            }
            plexus_value vals[64];
            long b = next_batch(vals, i, batch, warm, total);
            size_t pushed = 0;
            PX(plexus_queue_push_many(q, vals, (size_t)b, PLEXUS_FOREVER, &pushed));
            i += b;
            continue;
        }
        for (int j = 0; j < per; j++, i++) {
            if (rw->id[0] == 'x')
                rc_cmd(c, "XADD", key, "*", "v", num(nb, i), NULL);
            else
                rc_cmd(c, "RPUSH", key, num(nb, i), NULL);
        }
        rc_flush(c);
        for (int j = 0; j < per; j++) rc_get(c);
    }
    bench_reap_one(child_outcome);
    uint64_t wall = g_ctl->t_end - t0;
    frame_end(&f, (double)n, g_ctl->cpu_us, rw->plexus, res);
    res->rate = n / (wall / 1e9);
    res->mean = (double)wall / n;
    if (rw->plexus)
        region_drop(r, url);
    else {
        rc_close(c);
        del_keys(key, NULL);
    }
}

/* ------------------------------------------------------------------ the rows */

static void stream_job(row **rows, int n, int run) {
    (void)n;
    stream(rows[0], run, &rows[0]->res[run]);
}

static row ROWS[] = {
    {.id = "ping", .g = G_CALL, .plexus = false, .what = "raw PING (one command round trip)"},
    {.id = "set", .g = G_CALL, .plexus = false, .what = "raw SET k i"},
    {.id = "xf", .g = G_CALL, .plexus = true, .what = "plexus map write_xf(\"k\", INT i)"},
    {.id = "get", .g = G_CALL, .plexus = false, .what = "raw GET k"},
    {.id = "ff", .g = G_CALL, .plexus = true, .what = "plexus map read_ff(\"k\")"},
    {.id = "incrby", .g = G_CALL, .plexus = false, .what = "raw INCRBY c 1"},
    {.id = "faa", .g = G_CALL, .plexus = true, .what = "plexus array faa(0, INT 1)"},
    {.id = "evalsha", .g = G_CALL, .plexus = false, .what = "raw EVALSHA of `return 1` (1 key)"},
    {.id = "fe", .g = G_HANDOFF, .plexus = true, .what = "plexus write_ef -> read_fe, and back"},
    {.id = "blpop", .g = G_HANDOFF, .plexus = false, .what = "raw RPUSH -> BLPOP, and back"},
    {.id = "xread", .g = G_HANDOFF, .plexus = false, .what = "raw XADD -> XREAD BLOCK, and back"},
    {.id = "queue", .g = G_STREAM, .plexus = true, .what = "plexus queue push -> pop, one value per call"},
    {.id = "qb16", .g = G_STREAM, .plexus = true, .what = "plexus queue push_many -> pop_many, 16 values per call"},
    {.id = "qb64", .g = G_STREAM, .plexus = true, .what = "plexus queue push_many -> pop_many, 64 values per call"},
    {.id = "bus", .g = G_STREAM, .plexus = true, .what = "plexus bus publish -> sub_next, one message per publish"},
    {.id = "bb16", .g = G_STREAM, .plexus = true, .what = "plexus bus publish_many -> sub_next, 16 messages per publish"},
    {.id = "bb64", .g = G_STREAM, .plexus = true, .what = "plexus bus publish_many -> sub_next, 64 messages per publish"},
    {.id = "lpipe", .g = G_STREAM, .plexus = false, .what = "raw RPUSH -> BLPOP, pipelined"},
    {.id = "list1", .g = G_STREAM, .plexus = false, .what = "raw RPUSH -> BLPOP, one per round trip"},
    {.id = "xpipe", .g = G_STREAM, .plexus = false, .what = "raw XADD pipelined -> XREAD COUNT"},
};
#define NROWS ((int)(sizeof ROWS / sizeof ROWS[0]))

/* What is measured together (see call_job): a plexus row first, then its baselines. */
typedef struct {
    const char *ids[4];
    void (*fn)(row **rows, int n, int run);
} job;

static const job JOBS[] = {
    {{"xf", "set"}, call_job},
    {{"ff", "get"}, call_job},
    {{"faa", "incrby"}, call_job},
    {{"evalsha", "ping"}, call_job},
    {{"fe", "blpop", "xread"}, handoff_job},
    {{"queue"}, stream_job},
    {{"qb16"}, stream_job},
    {{"qb64"}, stream_job},
    {{"bus"}, stream_job},
    {{"bb16"}, stream_job},
    {{"bb64"}, stream_job},
    {{"lpipe"}, stream_job},
    {{"list1"}, stream_job},
    {{"xpipe"}, stream_job},
};
#define NJOBS ((int)(sizeof JOBS / sizeof JOBS[0]))

static row *find(const char *id) {
    for (int i = 0; i < NROWS; i++)
        if (!strcmp(ROWS[i].id, id)) return &ROWS[i];
    die("no row %s", id);
    return NULL;
}

static bool selected(const row *rw) {
    if (!O.only) return true;
    char buf[256];
    snprintf(buf, sizeof buf, ",%s,", O.only);
    char pat[32];
    snprintf(pat, sizeof pat, ",%s,", rw->id);
    return strstr(buf, pat) != NULL;
}

/* ------------------------------------------------------------------ the report */

static double med_of(const row *rw, double (*get)(const result *)) {
    double x[MAX_RUNS];
    int n = 0;
    for (int r = 0; r < O.runs; r++)
        if (rw->res[r].done) x[n++] = get(&rw->res[r]);
    return n ? median_d(x, n) : NAN;
}

static double g_p50(const result *r) { return r->p50; }
static double g_p99(const result *r) { return r->p99; }
static double g_mean(const result *r) { return r->mean; }
static double g_rate(const result *r) { return r->rate; }
static double g_ccpu(const result *r) { return r->client_cpu; }
static double g_scpu(const result *r) { return r->server_cpu; }
static double g_cmds(const result *r) { return r->cmds; }
static double g_cmdus(const result *r) { return r->cmd_us; }
static double g_req(const result *r) { return r->requests; }

static const char *us(char *b, double ns) {
    if (isnan(ns)) snprintf(b, 32, "—");
    else if (ns >= 1e6) snprintf(b, 32, "%.2f ms", ns / 1e6);
    else snprintf(b, 32, "%.1f µs", ns / 1e3);
    return b;
}

/* Per-run ratio a/b of a column: median and range over the runs where both ran. */
typedef struct {
    double med, lo, hi;
    int n;
} ratio;

static ratio ratio_of(const row *a, const row *b, double (*get)(const result *)) {
    double x[MAX_RUNS];
    int n = 0;
    for (int r = 0; r < O.runs; r++)
        if (a->res[r].done && b->res[r].done && get(&b->res[r]) > 0)
            x[n++] = get(&a->res[r]) / get(&b->res[r]);
    ratio q = {NAN, NAN, NAN, n};
    if (n) q = (ratio){median_d(x, n), min_d(x, n), max_d(x, n), n};
    return q;
}

static void print_row_table(group g) {
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    const char *per = g == G_CALL ? "call" : g == G_HANDOFF ? "RT" : "value";
    if (g == G_STREAM)
        printf("| row | what | values/s (median) | range over runs | wall per value |");
    else
        printf("| row | what | p50 | p99 | mean |");
    printf(" requests per %s | commands run per %s | server time in the requests | server CPU per %s | client CPU per %s |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n", per, per, per, per);
    for (int i = 0; i < NROWS; i++) {
        row *rw = &ROWS[i];
        if (rw->g != g || !selected(rw)) continue;
        if (rw->skipped) {
            printf("| %s | %s | **SKIPPED** | | | | | | | |\n", rw->id, rw->what);
            continue;
        }
        if (g == G_STREAM) {
            double x[MAX_RUNS];
            int n = 0;
            for (int r = 0; r < O.runs; r++)
                if (rw->res[r].done) x[n++] = rw->res[r].rate;
            printf("| %s | %s | %.0f | %.0f–%.0f | %s |", rw->id, rw->what, med_of(rw, g_rate),
                   n ? min_d(x, n) : NAN, n ? max_d(x, n) : NAN, us(b1, med_of(rw, g_mean)));
        } else {
            printf("| %s | %s | %s | %s | %s |", rw->id, rw->what, us(b1, med_of(rw, g_p50)),
                   us(b2, med_of(rw, g_p99)), us(b3, med_of(rw, g_mean)));
        }
        printf(" %.2f | %.2f | %s | %s | %s |\n", med_of(rw, g_req), med_of(rw, g_cmds),
               us(b4, med_of(rw, g_cmdus) * 1e3), us(b5, med_of(rw, g_scpu)), us(b6, med_of(rw, g_ccpu)));
    }
    printf("\n");
}

/* Target lines: a/b (time ratio, lower is better, or rate ratio, higher is better). */
static void target(const char *what, const char *a_id, const char *b_id, bool rate, double limit) {
    row *a = find(a_id), *b = find(b_id);
    if (!selected(a) || !selected(b)) return;
    if (a->skipped || b->skipped) {
        printf("| %s | `%s` vs `%s` | **SKIPPED**: %s | | | %s %.1f× | SKIPPED |\n", what, a_id, b_id,
               a->skipped ? a->skip_msg : b->skip_msg, rate ? "≥" : "≤", limit);
        return;
    }
    ratio m = ratio_of(a, b, rate ? g_rate : g_p50);
    ratio p = ratio_of(a, b, g_p99);
    char added[64] = "";
    if (!rate) {
        /* the per-run difference of the medians: what plexus adds per operation */
        double x[MAX_RUNS];
        int n = 0;
        for (int r = 0; r < O.runs; r++)
            if (a->res[r].done && b->res[r].done) x[n++] = a->res[r].p50 - b->res[r].p50;
        char b1[32];
        if (n) snprintf(added, sizeof added, "+%s", us(b1, median_d(x, n)));
    }
    bool met = rate ? m.med >= limit : m.med <= limit;
    if (rate)
        printf("| %s | `%s` vs `%s` | **%.2f×** (%.2f–%.2f) | — | — | ≥ %.1f× | %s |\n", what, a_id, b_id, m.med,
               m.lo, m.hi, limit, met ? "met" : "**not met**");
    else
        printf("| %s | `%s` vs `%s` | **%.2f×** (%.2f–%.2f) | %.2f× (%.2f–%.2f) | %s | ≤ %.1f× | %s |\n", what,
               a_id, b_id, m.med, m.lo, m.hi, p.med, p.lo, p.hi, added, limit, met ? "met" : "**not met**");
}

static void info_ratio(const char *what, const char *a_id, const char *b_id, bool rate) {
    row *a = find(a_id), *b = find(b_id);
    if (!selected(a) || !selected(b) || a->skipped || b->skipped) return;
    ratio m = ratio_of(a, b, rate ? g_rate : g_p50);
    printf("| %s | `%s` vs `%s` | %.2f× (%.2f–%.2f) | | | | information |\n", what, a_id, b_id, m.med, m.lo, m.hi);
}

static void report(const char *server_version) {
    char host[256] = "?", cpu[256] = "?", date[64];
    gethostname(host, sizeof host);
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *c = strchr(line, ':');
                if (c) snprintf(cpu, sizeof cpu, "%s", c + 2);
                cpu[strcspn(cpu, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    uint32_t v = plexus_version();
    printf("# plexus on Redis against raw Redis commands\n\n");
    printf("%s; %s (%ld CPUs), %s; Redis %s on %s:%d (no persistence); libplexus %u.%u.%u; "
           "%d interleaved runs; %ld calls, %ld round trips, %ld values per row and run "
           "(after %ld untimed); pipeline depth %d; queue capacity %ld.\n\n",
           date, cpu, sysconf(_SC_NPROCESSORS_ONLN), host, server_version, O.host, O.port,
           v >> 16, (v >> 8) & 0xff, v & 0xff, O.runs, O.ops, O.rt, stream_n(), O.warm, O.batch, O.cap);
    printf("## Targets\n\nLatencies come from the latency phase, where a plexus row and its "
           "baselines take turns in blocks of %d calls (round trips), so both see the same state "
           "of the machine; ratios are computed per run and given as the median over runs "
           "(lowest–highest run). The server and CPU columns come from a separate statistics "
           "phase of each row alone (%ld calls, %ld round trips).\n\n", BLOCK, O.stats_ops, O.stats_rt);
    printf("| target | rows | p50 ratio (runs) | p99 ratio (runs) | plexus adds (p50) | target | verdict |\n"
           "|---|---|---|---|---|---|---|\n");
    target("map write_xf vs SET", "xf", "set", false, 1.3);
    target("map read_ff vs GET", "ff", "get", false, 1.3);
    target("array faa vs INCRBY", "faa", "incrby", false, 1.3);
    target("write_ef → blocked read_fe vs RPUSH → BLPOP", "fe", "blpop", false, 1.5);
    target("queue stream vs pipelined RPUSH/BLPOP", "queue", "lpipe", true, 0.8);
    target("queue stream in batches of 64 vs pipelined RPUSH/BLPOP (depth 64)", "qb64", "lpipe", true, 0.8);
    info_ratio("queue stream in batches of 16 vs pipelined RPUSH/BLPOP", "qb16", "lpipe", true);
    info_ratio("queue stream in batches of 64 vs one value per call", "qb64", "queue", true);
    info_ratio("bus stream in batches of 16 vs one message per publish", "bb16", "bus", true);
    info_ratio("bus stream in batches of 64 vs one message per publish", "bb64", "bus", true);
    info_ratio("EVALSHA `return 1` vs PING", "evalsha", "ping", false);
    info_ratio("write_ef → read_fe vs XADD → XREAD", "fe", "xread", false);
    info_ratio("queue stream vs RPUSH/BLPOP one at a time", "queue", "list1", true);
    printf("\n*Requests* are what the client sends (for plexus: scripts and `XREAD BLOCK` "
           "waits, leaving out the lease renewal every `lease_ms`/3); *commands run* also "
           "counts the commands scripts run inside the server; *server time in the requests* "
           "is what INFO commandstats measured for them (a script with its commands; a "
           "blocking command without its blocked time); *server CPU* is the server's main "
           "thread (/proc/PID/schedstat), network system calls included; *client CPU* is "
           "all our processes of the row (for a hand-off, both). Medians over runs.\n");
    printf("\n## One call at a time, one process\n\n");
    print_row_table(G_CALL);
    printf("## Hand-off between two processes (a round trip is two hand-offs)\n\n");
    print_row_table(G_HANDOFF);
    printf("## Stream, producer process → consumer process\n\n");
    print_row_table(G_STREAM);
    for (int i = 0; i < NROWS; i++)
        if (ROWS[i].skipped && selected(&ROWS[i]))
            printf("SKIPPED `%s`: %s\n\n", ROWS[i].id, ROWS[i].skip_msg);
    printf("## Server commands per operation (INFO commandstats; the median run of each row)\n\n");
    printf("| row | commands (calls per operation, server µs per call) |\n|---|---|\n");
    for (int i = 0; i < NROWS; i++) {
        row *rw = &ROWS[i];
        if (!selected(rw) || rw->skipped) continue;
        /* the run whose p50 (rate) is the median */
        double m = med_of(rw, rw->g == G_STREAM ? g_rate : g_p50);
        int best = -1;
        double dist = INFINITY;
        for (int r = 0; r < O.runs; r++) {
            if (!rw->res[r].done) continue;
            double d = fabs((rw->g == G_STREAM ? rw->res[r].rate : rw->res[r].p50) - m);
            if (d < dist) dist = d, best = r;
        }
        if (best < 0) continue;
        printf("| %s |", rw->id);
        for (int k = 0; k < rw->res[best].ntop; k++) {
            cmd_stat *c = &rw->res[best].top[k];
            if (c->per_op < 0.0005) continue;
            printf(" %s %.3f (%.2f µs)%s", c->name, c->per_op, c->usec, k + 1 < rw->res[best].ntop ? ";" : "");
        }
        printf(" |\n");
    }
    printf("\n## Every run\n\nCPUs used by other processes during the row (not ours, not the server); "
           "runs above %.1f are marked *.\n\n", NOISY_CPUS);
    printf("| row |");
    for (int r = 0; r < O.runs; r++) printf(" run %d |", r + 1);
    printf("\n|---|");
    for (int r = 0; r < O.runs; r++) printf("---|");
    printf("\n");
    for (int i = 0; i < NROWS; i++) {
        row *rw = &ROWS[i];
        if (!selected(rw) || rw->skipped) continue;
        printf("| %s |", rw->id);
        for (int r = 0; r < O.runs; r++) {
            result *x = &rw->res[r];
            char b1[32], b2[32];
            if (!x->done) printf(" — |");
            else if (rw->g == G_STREAM)
                printf(" %.0f/s, others %.2f%s |", x->rate, x->others, x->others > NOISY_CPUS ? "*" : "");
            else
                printf(" %s / %s, others %.2f%s |", us(b1, x->p50), us(b2, x->p99), x->others,
                       x->others > NOISY_CPUS ? "*" : "");
        }
        printf("\n");
    }
    printf("\n(p50 / p99 per call or round trip; values/s for the stream rows.)\n");
}

/* ------------------------------------------------------------------ main */

static long arg_long(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        usage(stderr);
        exit(2);
    }
    char *end;
    long v = strtol(argv[++*i], &end, 10);
    if (*end || v < 0) {
        fprintf(stderr, "remote: bad number %s\n", argv[*i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    bench_init("remote");
    g_fail = rc_fail_parent;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--host") && i + 1 < argc) O.host = argv[++i];
        else if (!strcmp(a, "--port")) O.port = (int)arg_long(argc, argv, &i);
        else if (!strcmp(a, "--server-pid")) O.server_pid = (int)arg_long(argc, argv, &i);
        else if (!strcmp(a, "--runs")) O.runs = (int)arg_long(argc, argv, &i);
        else if (!strcmp(a, "--ops")) O.ops = arg_long(argc, argv, &i);
        else if (!strcmp(a, "--rt")) O.rt = arg_long(argc, argv, &i);
        else if (!strcmp(a, "--stream-n")) O.stream_n = arg_long(argc, argv, &i);
        else if (!strcmp(a, "--stats-ops")) O.stats_ops = arg_long(argc, argv, &i);
        else if (!strcmp(a, "--stats-rt")) O.stats_rt = arg_long(argc, argv, &i);
        else if (!strcmp(a, "--warm")) O.warm = arg_long(argc, argv, &i);
        else if (!strcmp(a, "--batch")) O.batch = (int)arg_long(argc, argv, &i);
        else if (!strcmp(a, "--cap")) O.cap = arg_long(argc, argv, &i);
        else if (!strcmp(a, "--timeout")) O.timeout_s = (int)arg_long(argc, argv, &i);
        else if (!strcmp(a, "--quiet-wait")) O.quiet_wait_s = (int)arg_long(argc, argv, &i);
        else if (!strcmp(a, "--only") && i + 1 < argc) O.only = argv[++i];
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (O.port <= 0 || O.runs < 1 || O.runs > MAX_RUNS || O.ops < 1 || O.rt < 1 || O.stream_n < 1 || O.stats_ops < 1 || O.stats_rt < 1 ||
        O.batch < 1 || O.batch > 150 || O.cap < 1) {
        usage(stderr);
        return 2;
    }
    if (O.only)
        for (char buf[256], *save = NULL, *t = (snprintf(buf, sizeof buf, "%s", O.only), strtok_r(buf, ",", &save));
             t; t = strtok_r(NULL, ",", &save))
            find(t);
    snprintf(g_keyp, sizeof g_keyp, "%s", g_tag);
    g_ctl = mmap(NULL, sizeof *g_ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_ctl == MAP_FAILED) die("mmap: %s", strerror(errno));

    g_admin = rc_connect();
    char version[32] = "?";
    rc_cmd(g_admin, "INFO", "server", NULL);
    rc_reply *p = rc_call(g_admin);
    char *vs = p->n ? strstr(p->s[0], "redis_version:") : NULL;
    if (vs) sscanf(vs, "redis_version:%31[^\r\n]", version);

    for (int run = 0; run < O.runs; run++) {
        bench_wait_quiet("remote", O.quiet_wait_s);
        fprintf(stderr, "run %d/%d:", run + 1, O.runs);
        /* the jobs forwards in even runs, backwards in odd ones */
        for (int k = 0; k < NJOBS; k++) {
            const job *jb = &JOBS[run % 2 ? NJOBS - 1 - k : k];
            row *rows[4];
            int n = 0;
            for (int i = 0; i < 4 && jb->ids[i]; i++) {
                row *rw = find(jb->ids[i]);
                if (selected(rw) && !rw->skipped) rows[n++] = rw;
            }
            if (!n) continue;
            for (int i = 0; i < n; i++) fprintf(stderr, "%s%s", i ? "+" : " ", rows[i]->id);
            alarm(O.timeout_s);
            jb->fn(rows, n, run);
            alarm(0);
            if (O.only)
                for (int i = 0; i < n; i++) {
                    result *x = &rows[i]->res[run];
                    if (rows[i]->skipped) continue;
                    if (rows[i]->g == G_STREAM)
                        fprintf(stderr, " [%s %.0f/s", rows[i]->id, x->rate);
                    else
                        fprintf(stderr, " [%s %.1f/%.1fus", rows[i]->id, x->p50 / 1e3, x->p99 / 1e3);
                    fprintf(stderr, " req %.2f cmds %.2f srv %.1fus cli %.1fus]", x->requests, x->cmds,
                            x->server_cpu / 1e3, x->client_cpu / 1e3);
                }
        }
        fprintf(stderr, "\n");
    }
    if (!O.only) report(version);
    rc_close(g_admin);
    return 0;
}
