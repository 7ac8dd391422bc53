// benches/peers/peers.cpp: plexus against kernel IPC, a raw shared-memory word,
// Boost.Interprocess and Redis, measured in one process tree with interleaved runs.
//
//   peers --group pipe|boost|redis|plexusc [--runs N] [--rt N] [--stream-n N]
//         [--paced-n N] [--interval-us U] [--samples DIR] [--redis-port P]
//         [--case rt|stream|paced] [--method NAME]
//
// Every measurement is a JSON line on stdout (see common.hpp); benches/peers/run.sh runs
// the groups and benches/peers/analyze.py makes the table and the plots. Within a run,
// every method of a case runs once, in an order that rotates from run to run, so that
// plexus and each peer see the same machine noise.
//
// Shapes (all with 8-byte integer messages, two processes made by fork()):
//   rt      ping-pong: the parent sends i, the child sends it back; ns per round trip
//   stream  the parent sends n values as fast as the channel takes them, the child
//           receives them; values per second
//   paced   the parent sends its clock every interval_us, the child blocks for each; the
//           child's CPU use (% of one CPU) and its wake-up latency
//   single  one process, no peer process: ns per call (plexusc: faa, write_xf+read_ff;
//           redis: SET/GET against the plexus array)
#include "common.hpp"
#include "plexus.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>

#if __has_include(<boost/interprocess/ipc/message_queue.hpp>)
#define HAVE_BOOST 1
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/sync/interprocess_condition.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>
#else
#define HAVE_BOOST 0
#endif

using namespace bench;

static struct {
    std::string group = "pipe";
    int runs = 5;
    long rt = 50000;
    long warm = 2000;
    long stream_n = 1000000;
    long paced_n = 300;
    int interval_us = 1000;
    int redis_port = 0;
    std::string only_case, only_method; // --case / --method: one row alone (profiling)
} O;

static std::string g_tag; // "pxpeers-<pid>"

#define PX(call)                                                                              \
    do {                                                                                      \
        plexus_status s_ = (call);                                                            \
        if (s_ != PLEXUS_OK)                                                                  \
            die("%s:%d %s: %s (%s)", __FILE__, __LINE__, #call, plexus_status_name(s_),     \
                plexus_last_error());                                                         \
    } while (0)

// ------------------------------------------------------------------ channels

/// A two-way channel of int64 values between the parent and one fork()ed child.
/// Direction 0 = parent to child, 1 = child to parent.
struct Chan {
    virtual ~Chan() = default;
    virtual void create() = 0; // in the parent, before fork
    virtual void attach() {}   // in the child, after fork
    virtual void send(int dir, int64_t v) = 0;
    virtual int64_t recv(int dir) = 0;
    virtual void flush(int) {} // sends what send() kept back (batching channels)
    virtual void detach() {}  // in the child, at the end
    virtual void destroy() {} // in the parent, after the child exited
};

struct PlexusRegion {
    std::string name;
    plexus_region r{};
    void create(const char *what) {
        static int seq = 0;
        name = g_tag + "-" + what + "-" + std::to_string(seq++);
        plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
        o.mode = PLEXUS_CREATE;
        o.size = 1 << 20;
        PX(plexus_region_open(name.c_str(), &o, &r));
    }
    void attach() {
        plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
        o.mode = PLEXUS_OPEN;
        o.wait_ns = 10'000'000'000LL;
        PX(plexus_region_open(name.c_str(), &o, &r));
    }
    void close() { PX(plexus_region_close(r)); }
    void destroy() {
        PX(plexus_region_close(r));
        PX(plexus_region_remove(name.c_str()));
    }
};

static int64_t int_of(const plexus_value &v) {
    if (v.type != PLEXUS_INT) die("expected an INT, got type %d", int(v.type));
    return v.as.i;
}

/// Two plexus queues (one per direction), plexus_queue_push / plexus_queue_pop.
struct PlexusQueue : Chan {
    PlexusRegion reg;
    plexus_queue q[2]{};
    void open_objects() {
        PX(plexus_queue_open(reg.r, "a", 1024, 0, &q[0]));
        PX(plexus_queue_open(reg.r, "b", 1024, 0, &q[1]));
    }
    void create() override {
        reg.create("queue");
        open_objects();
    }
    void attach() override {
        reg.attach();
        open_objects();
    }
    void send(int d, int64_t v) override {
        plexus_value x = plexus_int(v);
        PX(plexus_queue_push(q[d], &x, PLEXUS_FOREVER));
    }
    int64_t recv(int d) override {
        plexus_value x;
        PX(plexus_queue_pop(q[d], &x, PLEXUS_FOREVER));
        return int_of(x);
    }
    void detach() override { reg.close(); }
    void destroy() override { reg.destroy(); }
};

/// The plexus queues of PlexusQueue, moved in batches of 64 (plexus_queue_push_many /
/// plexus_queue_pop_many): the sender gathers 64 values and pushes them with one call,
/// the receiver takes up to 64 with one call and hands them out one by one. Streams
/// only (a round trip of one value cannot batch); flush() pushes a last partial batch.
struct PlexusQueueBatch : PlexusQueue {
    static constexpr size_t BATCH = 64;
    plexus_value out[BATCH];
    size_t n_out = 0;
    plexus_value in[BATCH];
    size_t n_in = 0, next_in = 0;
    void send(int d, int64_t v) override {
        out[n_out++] = plexus_int(v);
        if (n_out == BATCH) flush(d);
    }
    void flush(int d) override {
        if (!n_out) return;
        size_t pushed = 0;
        PX(plexus_queue_push_many(q[d], out, n_out, PLEXUS_FOREVER, &pushed));
        if (pushed != n_out) die("push_many pushed %zu of %zu", pushed, n_out);
        n_out = 0;
    }
    int64_t recv(int d) override {
        if (next_in == n_in) {
            PX(plexus_queue_pop_many(q[d], in, BATCH, PLEXUS_FOREVER, &n_in));
            next_in = 0;
        }
        return int_of(in[next_in++]);
    }
};

/// One plexus array of 2 full/empty cells: plexus_array_write_ef / plexus_array_read_fe.
struct PlexusFE : Chan {
    PlexusRegion reg;
    plexus_array a{};
    void create() override {
        reg.create("fe");
        PX(plexus_array_open(reg.r, "pp", 2, 0, &a));
    }
    void attach() override {
        reg.attach();
        PX(plexus_array_open(reg.r, "pp", 2, 0, &a));
    }
    void send(int d, int64_t v) override {
        plexus_value x = plexus_int(v);
        PX(plexus_array_write_ef(a, uint64_t(d), &x, PLEXUS_FOREVER));
    }
    int64_t recv(int d) override {
        plexus_value x;
        PX(plexus_array_read_fe(a, uint64_t(d), &x, PLEXUS_FOREVER));
        return int_of(x);
    }
    void detach() override { reg.close(); }
    void destroy() override { reg.destroy(); }
};

static void write_all(int fd, const void *p, size_t n) {
    const char *c = static_cast<const char *>(p);
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) die("write: %s", std::strerror(errno));
        c += k;
        n -= size_t(k);
    }
}
static void read_all(int fd, void *p, size_t n) {
    char *c = static_cast<char *>(p);
    while (n) {
        ssize_t k = read(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) die("read: %s", k == 0 ? "end of file" : std::strerror(errno));
        c += k;
        n -= size_t(k);
    }
}

/// Two pipes, one 8-byte write() / read() per value.
struct Pipe : Chan {
    int fd[2][2];
    void create() override {
        for (auto &p : fd)
            if (pipe(p)) die("pipe: %s", std::strerror(errno));
    }
    void send(int d, int64_t v) override { write_all(fd[d][1], &v, 8); }
    int64_t recv(int d) override {
        int64_t v;
        read_all(fd[d][0], &v, 8);
        return v;
    }
    void destroy() override {
        for (auto &p : fd) close(p[0]), close(p[1]);
    }
};

/// A Unix stream socket pair, one 8-byte send / read per value.
struct UnixSock : Chan {
    int sv[2];
    bool child = false;
    void create() override {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair: %s", std::strerror(errno));
    }
    void attach() override { child = true; }
    void send(int, int64_t v) override { write_all(sv[child ? 1 : 0], &v, 8); }
    int64_t recv(int) override {
        int64_t v;
        read_all(sv[child ? 1 : 0], &v, 8);
        return v;
    }
    void destroy() override { close(sv[0]), close(sv[1]); }
};

/// The physical limit: one shared cache line per direction, a sequence number and a
/// value, the receiver spinning on it (yielding the CPU after 256 spins, so that two
/// spinners sharing one CPU still make progress). Ping-pong only (it has no buffer).
struct RawAtomic : Chan {
    struct alignas(64) Slot {
        std::atomic<uint64_t> seq{0};
        int64_t val = 0;
    };
    struct Shm {
        Slot s[2];
    };
    Shm *m = nullptr;
    uint64_t seen[2] = {0, 0};
    void create() override { m = shared_new<Shm>(); }
    void send(int d, int64_t v) override {
        m->s[d].val = v;
        m->s[d].seq.store(m->s[d].seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
    int64_t recv(int d) override {
        unsigned spins = 0;
        while (m->s[d].seq.load(std::memory_order_acquire) == seen[d]) {
            cpu_relax();
            if (++spins % 256 == 0) sched_yield();
        }
        seen[d]++;
        return m->s[d].val;
    }
    void destroy() override { shared_delete(m); }
};

/// The physical reference for streams: a single-producer single-consumer ring of
/// int64 in shared memory, written the best way known (rigtorp's SPSCQueue): the
/// producer's and the consumer's indices on cache lines of their own, each side keeping
/// a private copy of the other's index and reading the shared one only when the copy
/// says the ring is full (empty). Busy-waits (yielding now and then): a reference for
/// throughput, not a waiter.
struct SpscRing : Chan {
    static constexpr uint64_t CAP = 1024;
    struct Shm {
        alignas(64) std::atomic<uint64_t> head{0}; // next to read: the consumer's
        alignas(64) std::atomic<uint64_t> tail{0}; // next to write: the producer's
        alignas(64) int64_t slot[CAP];
    };
    Shm *m[2] = {nullptr, nullptr};
    uint64_t head_seen[2] = {0, 0}; // the producer's copy of head
    uint64_t tail_seen[2] = {0, 0}; // the consumer's copy of tail
    void create() override {
        for (auto &x : m) x = shared_new<Shm>();
    }
    void send(int d, int64_t v) override {
        Shm &q = *m[d];
        uint64_t t = q.tail.load(std::memory_order_relaxed);
        unsigned spins = 0;
        while (t - head_seen[d] >= CAP) {
            head_seen[d] = q.head.load(std::memory_order_acquire);
            cpu_relax();
            if (++spins % 256 == 0) sched_yield();
        }
        q.slot[t % CAP] = v;
        q.tail.store(t + 1, std::memory_order_release);
    }
    int64_t recv(int d) override {
        Shm &q = *m[d];
        uint64_t h = q.head.load(std::memory_order_relaxed);
        unsigned spins = 0;
        while (h == tail_seen[d]) {
            tail_seen[d] = q.tail.load(std::memory_order_acquire);
            cpu_relax();
            if (++spins % 256 == 0) sched_yield();
        }
        int64_t v = q.slot[h % CAP];
        q.head.store(h + 1, std::memory_order_release);
        return v;
    }
    void destroy() override {
        for (auto &x : m) shared_delete(x);
    }
};

#if HAVE_BOOST
namespace bip = boost::interprocess;

/// Two boost::interprocess::message_queue (1024 messages of 8 bytes), send / receive.
struct BoostMQ : Chan {
    std::string name[2];
    std::unique_ptr<bip::message_queue> q[2];
    void create() override {
        static int seq = 0;
        for (int d = 0; d < 2; d++) {
            name[d] = g_tag + "-mq" + std::to_string(seq++);
            bip::message_queue::remove(name[d].c_str());
            q[d] = std::make_unique<bip::message_queue>(bip::create_only, name[d].c_str(), 1024, 8);
        }
    }
    void attach() override {
        for (int d = 0; d < 2; d++)
            q[d] = std::make_unique<bip::message_queue>(bip::open_only, name[d].c_str());
    }
    void send(int d, int64_t v) override { q[d]->send(&v, 8, 0); }
    int64_t recv(int d) override {
        int64_t v;
        bip::message_queue::size_type got;
        unsigned prio;
        q[d]->receive(&v, 8, got, prio);
        if (got != 8) die("message_queue: got %zu bytes", size_t(got));
        return v;
    }
    void detach() override { q[0].reset(), q[1].reset(); }
    void destroy() override {
        for (int d = 0; d < 2; d++) {
            q[d].reset();
            bip::message_queue::remove(name[d].c_str());
        }
    }
};

/// A full/empty cell per direction made the textbook way: an interprocess_mutex, an
/// interprocess_condition, a flag and the value, in shared memory.
struct BoostCond : Chan {
    struct Cell {
        bip::interprocess_mutex m;
        bip::interprocess_condition c;
        bool full = false;
        int64_t val = 0;
    };
    struct Shm {
        Cell cell[2];
    };
    Shm *s = nullptr;
    void create() override { s = shared_new<Shm>(); }
    void send(int d, int64_t v) override {
        Cell &c = s->cell[d];
        bip::scoped_lock<bip::interprocess_mutex> lock(c.m);
        while (c.full) c.c.wait(lock);
        c.val = v;
        c.full = true;
        c.c.notify_one();
    }
    int64_t recv(int d) override {
        Cell &c = s->cell[d];
        bip::scoped_lock<bip::interprocess_mutex> lock(c.m);
        while (!c.full) c.c.wait(lock);
        c.full = false;
        int64_t v = c.val;
        c.c.notify_one();
        return v;
    }
    void destroy() override { shared_delete(s); }
};
#endif

// ------------------------------------------------------------------ Redis (RESP over TCP)

struct Redis {
    int fd = -1;
    std::string buf;
    size_t pos = 0;
    void connect_to(int port) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) die("socket: %s", std::strerror(errno));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a))
            die("connect to redis on 127.0.0.1:%d: %s", port, std::strerror(errno));
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    void close_() {
        if (fd >= 0) close(fd);
        fd = -1;
    }
    void command(std::initializer_list<std::string> args) {
        std::string c = "*" + std::to_string(args.size()) + "\r\n";
        for (auto &a : args) c += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
        write_all(fd, c.data(), c.size());
    }
    char getc_() {
        if (pos == buf.size()) {
            buf.resize(4096);
            ssize_t k;
            do k = read(fd, &buf[0], buf.size());
            while (k < 0 && errno == EINTR);
            if (k <= 0) die("redis read: %s", k == 0 ? "closed" : std::strerror(errno));
            buf.resize(size_t(k));
            pos = 0;
        }
        return buf[pos++];
    }
    std::string line() {
        std::string s;
        for (char c; (c = getc_()) != '\r';) s += c;
        getc_(); // '\n'
        return s;
    }
    /// Reads one reply; returns the last bulk string or integer/status text in it.
    std::string reply() {
        char t = getc_();
        std::string l = line();
        switch (t) {
        case '+':
        case ':': return l;
        case '-': die("redis error: %s", l.c_str());
        case '$': {
            long n = std::atol(l.c_str());
            if (n < 0) return "";
            std::string s;
            for (long i = 0; i < n + 2; i++) s += getc_();
            s.resize(size_t(n));
            return s;
        }
        case '*': {
            long n = std::atol(l.c_str());
            std::string last;
            for (long i = 0; i < n; i++) last = reply();
            return last;
        }
        default: die("redis: unexpected reply type '%c'", t);
        }
    }
};

/// Redis lists as a channel: RPUSH to send, BLPOP (without timeout) to receive; each
/// process has its own connection.
struct RedisList : Chan {
    Redis r;
    std::string key[2];
    void create() override {
        for (int d = 0; d < 2; d++) key[d] = g_tag + "-list" + std::to_string(d);
        r.connect_to(O.redis_port);
        r.command({"DEL", key[0], key[1]});
        r.reply();
    }
    void attach() override {
        r.close_();
        r = Redis();
        r.connect_to(O.redis_port);
    }
    void send(int d, int64_t v) override {
        r.command({"RPUSH", key[d], std::to_string(v)});
        r.reply();
    }
    int64_t recv(int d) override {
        r.command({"BLPOP", key[d], "0"});
        return std::atoll(r.reply().c_str());
    }
    void detach() override { r.close_(); }
    void destroy() override {
        r.command({"DEL", key[0], key[1]});
        r.reply();
        r.close_();
    }
};

// ------------------------------------------------------------------ the three shapes

static std::vector<double> measure_rt(Chan &c) {
    Ctl *ctl = shared_new<Ctl>();
    c.create();
    long total = O.warm + O.rt;
    pid_t pid = spawn(ctl, [&](Ctl *k) {
        c.attach();
        k->ready = 1;
        for (long i = 0; i < total; i++) c.send(1, c.recv(0));
        c.detach();
    });
    wait_ready(ctl);
    std::vector<double> lat;
    lat.reserve(size_t(O.rt));
    for (long i = 0; i < total; i++) {
        uint64_t t0 = now_ns();
        c.send(0, i);
        int64_t v = c.recv(1);
        uint64_t t1 = now_ns();
        if (v != i) die("round trip %ld came back as %" PRId64, i, v);
        if (i >= O.warm) lat.push_back(double(t1 - t0));
    }
    reap(pid, ctl, "rt");
    c.destroy();
    shared_delete(ctl);
    return lat;
}

static double measure_stream(Chan &c, long n) {
    Ctl *ctl = shared_new<Ctl>();
    c.create();
    pid_t pid = spawn(ctl, [&](Ctl *k) {
        c.attach();
        k->ready = 1;
        for (long i = 0; i < n; i++) {
            int64_t v = c.recv(0);
            if (v != i) die("stream: value %ld arrived as %" PRId64, i, v);
        }
        k->t_end = now_ns();
        c.detach();
    });
    wait_ready(ctl);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) c.send(0, i);
    c.flush(0);
    reap(pid, ctl, "stream");
    double rate = double(n) * 1e9 / double(ctl->t_end.load() - t0);
    c.destroy();
    shared_delete(ctl);
    return rate;
}

static Ctl *measure_paced(Chan &c) {
    Ctl *ctl = shared_new<Ctl>();
    c.create();
    long n = std::min<long>(O.paced_n, Ctl::kMaxLat);
    pid_t pid = spawn(ctl, [&](Ctl *k) {
        c.attach();
        k->ready = 1;
        c.recv(0); // the first message starts the clock
        double c0 = cpu_us_self();
        uint64_t w0 = now_ns();
        for (long i = 0; i < n; i++) {
            int64_t sent = c.recv(0);
            uint64_t t = now_ns();
            k->lat_ns[k->n_lat++] = uint32_t(std::min<uint64_t>(t - uint64_t(sent), UINT32_MAX));
        }
        k->child_cpu_us = cpu_us_self() - c0;
        k->child_wall_us = double(now_ns() - w0) / 1e3;
        k->child_count = uint64_t(n);
        c.detach();
    });
    wait_ready(ctl);
    usleep(5000); // let the child block
    c.send(0, int64_t(now_ns()));
    uint64_t t = now_ns();
    for (long i = 0; i < n; i++) {
        t += uint64_t(O.interval_us) * 1000;
        sleep_until(t);
        c.send(0, int64_t(now_ns()));
    }
    reap(pid, ctl, "paced");
    c.destroy();
    return ctl;
}

// ------------------------------------------------------------------ single-process rows

static std::vector<double> single_ops(const char *what, PlexusRegion &reg) {
    plexus_array a;
    PX(plexus_array_open(reg.r, what, 4, 0, &a));
    std::vector<double> lat;
    long n = O.rt;
    lat.reserve(size_t(n));
    plexus_value one = plexus_int(1);
    for (long i = 0; i < O.warm + n; i++) {
        plexus_value v = plexus_int(i), out;
        uint64_t t0 = now_ns();
        if (!std::strcmp(what, "faa")) {
            PX(plexus_array_faa(a, 0, &one, &out));
        } else if (!std::strcmp(what, "xf_ff")) {
            PX(plexus_array_write_xf(a, 1, &v));
            PX(plexus_array_read_ff(a, 1, &out, PLEXUS_FOREVER));
        } else if (!std::strcmp(what, "set")) {
            PX(plexus_array_write(a, 2, &v));
        } else {
            PX(plexus_array_read(a, 2, &out));
        }
        uint64_t t1 = now_ns();
        if (i >= O.warm) lat.push_back(double(t1 - t0));
    }
    PX(plexus_array_close(a));
    return lat;
}

// ------------------------------------------------------------------ driver

using Factory = std::function<std::unique_ptr<Chan>()>;
struct Method {
    const char *name;
    Factory make;
};
template <class T> Method M(const char *n) {
    return {n, [] { return std::unique_ptr<Chan>(new T()); }};
}

static void run_chan_cases(int run, const char *cas, std::vector<Method> ms) {
    if (!O.only_case.empty() && O.only_case != cas) return;
    if (!O.only_method.empty()) {
        ms.erase(std::remove_if(ms.begin(), ms.end(),
                                [](const Method &m) { return O.only_method != m.name; }),
                 ms.end());
        if (ms.empty()) return;
    }
    std::rotate(ms.begin(), ms.begin() + (run % int(ms.size())), ms.end());
    for (auto &m : ms) {
        auto c = m.make();
        if (!std::strcmp(cas, "rt")) {
            emit_lat("rt", m.name, run, measure_rt(*c));
        } else if (!std::strcmp(cas, "stream")) {
            long n = O.stream_n;
            if (!std::strncmp(m.name, "redis", 5)) n = std::min<long>(n, O.rt);
            emit_rate("stream", m.name, run, measure_stream(*c, n), uint64_t(n));
        } else {
            Ctl *k = measure_paced(*c);
            emit_paced(m.name, run, k, O.interval_us);
            shared_delete(k);
        }
    }
}

static void usage() {
    std::fprintf(stderr, "usage: peers --group pipe|boost|redis|plexusc [--runs N] [--rt N] "
                         "[--stream-n N] [--paced-n N] [--interval-us U] [--samples DIR] "
                         "[--redis-port P] [--case rt|stream|paced] [--method NAME]\n");
    std::exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&] {
            if (i + 1 >= argc) usage();
            return std::string(argv[++i]);
        };
        if (a == "--group") O.group = val();
        else if (a == "--runs") O.runs = std::stoi(val());
        else if (a == "--rt") O.rt = std::stol(val());
        else if (a == "--warm") O.warm = std::stol(val());
        else if (a == "--stream-n") O.stream_n = std::stol(val());
        else if (a == "--paced-n") O.paced_n = std::stol(val());
        else if (a == "--interval-us") O.interval_us = std::stoi(val());
        else if (a == "--samples") g_out.samples_dir = val();
        else if (a == "--redis-port") O.redis_port = std::stoi(val());
        else if (a == "--case") O.only_case = val();
        else if (a == "--method") O.only_method = val();
        else usage();
    }
    g_out.group = O.group;
    g_tag = "pxpeers-" + std::to_string(getpid());
    signal(SIGPIPE, SIG_IGN);

    std::vector<Method> rt, stream, paced;
    if (O.group == "pipe") {
        rt = {M<PlexusFE>("plexus-fe"), M<PlexusQueue>("plexus-queue"), M<Pipe>("pipe"),
              M<UnixSock>("unix-socket"), M<RawAtomic>("raw-atomic")};
        stream = {M<PlexusQueue>("plexus-queue"), M<PlexusQueueBatch>("plexus-queue-batch64"),
                  M<Pipe>("pipe"), M<UnixSock>("unix-socket"), M<SpscRing>("spsc-ring")};
        paced = {M<PlexusFE>("plexus-fe"), M<PlexusQueue>("plexus-queue"), M<Pipe>("pipe"),
                 M<UnixSock>("unix-socket")};
    } else if (O.group == "boost") {
#if HAVE_BOOST
        rt = {M<PlexusQueue>("plexus-queue"), M<BoostMQ>("boost-mq"), M<PlexusFE>("plexus-fe"),
              M<BoostCond>("boost-mutex-cond")};
        stream = {M<PlexusQueue>("plexus-queue"), M<PlexusQueueBatch>("plexus-queue-batch64"),
                  M<BoostMQ>("boost-mq")};
        paced = {M<PlexusQueue>("plexus-queue"), M<BoostMQ>("boost-mq"), M<PlexusFE>("plexus-fe"),
                 M<BoostCond>("boost-mutex-cond")};
#else
        skip("all", "boost", "built without Boost.Interprocess headers (apt-get install libboost-dev)");
        return 0;
#endif
    } else if (O.group == "redis") {
        if (!O.redis_port) usage();
        rt = {M<PlexusQueue>("plexus-queue"), M<RedisList>("redis-blpop")};
        paced = {M<PlexusQueue>("plexus-queue"), M<RedisList>("redis-blpop")};
    } else if (O.group != "plexusc") {
        usage();
    }

    std::fprintf(stderr, "== peers --group %s: %d runs, cpu %s\n", O.group.c_str(), O.runs,
                 cpu_model().c_str());
    std::string samples = g_out.samples_dir;
    for (int run = 0; run < O.runs; run++) {
        // Samples (for the plots) of the last run only.
        g_out.samples_dir = run == O.runs - 1 ? samples : "";
        if (O.group == "plexusc" && O.only_case.empty()) {
            emit_lat("rt_fe", "plexus-c", run, measure_rt(*M<PlexusFE>("").make()));
            PlexusRegion reg;
            reg.create("single");
            emit_lat("faa", "plexus-c", run, single_ops("faa", reg), "ns/op");
            emit_lat("xf_ff", "plexus-c", run, single_ops("xf_ff", reg), "ns/pair");
            reg.destroy();
            continue;
        }
        if (O.group == "redis" && O.only_case.empty()) {
            Redis r;
            r.connect_to(O.redis_port);
            PlexusRegion reg;
            reg.create("single");
            for (const char *op : {"set", "get"}) {
                std::vector<double> lat;
                std::string key = g_tag + "-k";
                for (long i = 0; i < O.warm / 4 + O.rt / 4; i++) {
                    uint64_t t0 = now_ns();
                    if (op[0] == 's') r.command({"SET", key, std::to_string(i)});
                    else r.command({"GET", key});
                    r.reply();
                    if (i >= O.warm / 4) lat.push_back(double(now_ns() - t0));
                }
                std::string m = std::string("redis-") + op;
                std::string pm = std::string("plexus-array-") + (op[0] == 's' ? "write" : "read");
                if (run % 2) emit_lat(op, m.c_str(), run, lat, "ns/op");
                emit_lat(op, pm.c_str(), run, single_ops(op, reg), "ns/op");
                if (!(run % 2)) emit_lat(op, m.c_str(), run, lat, "ns/op");
            }
            r.command({"DEL", g_tag + "-k"});
            r.reply();
            r.close_();
            reg.destroy();
        }
        std::fprintf(stderr, "   run %d/%d\n", run + 1, O.runs);
        if (!rt.empty()) run_chan_cases(run, "rt", rt);
        if (!stream.empty()) run_chan_cases(run, "stream", stream);
        if (!paced.empty()) run_chan_cases(run, "paced", paced);
    }
    return 0;
}
