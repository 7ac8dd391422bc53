// benches/peers/common.hpp: the timing, statistics, process and result helpers the C++
// peer benchmarks share (benches/peers/peers.cpp). The same method as benches/pingpong.c:
// CLOCK_MONOTONIC per operation, getrusage for the CPU a side used, fork()ed children
// that report through shared memory, and a watchdog so that a wedged peer cannot hang a run.
//
// Every measurement is printed as one JSON line on stdout (see emit_*); benches/peers/
// analyze.py turns the lines of all peers into the table, the ratios and the plots.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace bench {

[[noreturn]] inline void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "peers: ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
    va_end(ap);
    std::_Exit(2);
}

inline uint64_t now_ns() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

/// CPU time (user + system) this process used so far, in microseconds.
inline double cpu_us_self() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

/// Sleeps until the absolute CLOCK_MONOTONIC time `t` (ns).
inline void sleep_until(uint64_t t) {
    timespec ts{time_t(t / 1000000000ull), long(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// Anonymous shared memory, inherited by fork()ed children.
template <class T> T *shared_new() {
    void *p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap: %s", std::strerror(errno));
    return new (p) T();
}
template <class T> void shared_delete(T *p) {
    p->~T();
    munmap(p, sizeof(T));
}

/// What a child tells its parent: start/end stamps, the CPU it used, errors.
struct Ctl {
    std::atomic<int> ready{0};
    std::atomic<int> go{0};
    std::atomic<uint64_t> t_end{0};
    double child_cpu_us = 0;
    double child_wall_us = 0;
    uint64_t child_count = 0;
    // One-way latencies measured by the receiving child (paced workloads).
    static constexpr int kMaxLat = 4096;
    uint32_t lat_ns[kMaxLat];
    int n_lat = 0;
    char err[256] = {0};
};

/// Forks `body(ctl)`; the child exits 0 after it, 3 after a C++ exception.
template <class F> pid_t spawn(Ctl *ctl, F body) {
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", std::strerror(errno));
    if (pid == 0) {
        alarm(120); // the watchdog: a wedged child dies instead of hanging the run
        try {
            body(ctl);
        } catch (const std::exception &e) {
            std::snprintf(ctl->err, sizeof ctl->err, "%s", e.what());
            std::_Exit(3);
        }
        std::_Exit(0);
    }
    return pid;
}

inline void reap(pid_t pid, Ctl *ctl, const char *what) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) die("waitpid: %s", std::strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("%s: child failed (status %#x) %s", what, st, ctl->err);
}

inline void wait_ready(Ctl *ctl, int n = 1) {
    uint64_t t0 = now_ns();
    while (ctl->ready.load() < n) {
        if (now_ns() - t0 > 30'000'000'000ull) die("child did not get ready in 30 s");
        usleep(100);
    }
}

// ------------------------------------------------------------------ statistics

inline double quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    double pos = q * double(v.size() - 1);
    size_t i = size_t(pos);
    if (i + 1 >= v.size()) return v.back();
    return v[i] + (v[i + 1] - v[i]) * (pos - double(i));
}

// ------------------------------------------------------------------ results

struct Out {
    std::string group;
    std::string samples_dir; // where the last run's latency samples go (for the plots)
};
inline Out g_out;

inline std::string cpu_model() {
    FILE *f = std::fopen("/proc/cpuinfo", "r");
    if (!f) return "?";
    char line[512];
    std::string m = "?";
    while (std::fgets(line, sizeof line, f)) {
        if (!std::strncmp(line, "model name", 10)) {
            const char *c = std::strchr(line, ':');
            if (c) m = std::string(c + 2, std::strcspn(c + 2, "\n"));
            break;
        }
    }
    std::fclose(f);
    return m;
}

/// A latency row: per-operation samples (ns) of one run. Prints the median and p99 and
/// keeps the samples of the run for the plots (up to 20000 of them, evenly strided).
inline void emit_lat(const char *cas, const char *method, int run, const std::vector<double> &ns,
                     const char *unit = "ns/rt", const char *extra = "") {
    double med = quantile(ns, 0.5), p99 = quantile(ns, 0.99);
    std::printf("{\"group\":\"%s\",\"case\":\"%s\",\"method\":\"%s\",\"run\":%d,\"kind\":\"lat\","
                "\"unit\":\"%s\",\"value\":%.1f,\"p99\":%.1f,\"n\":%zu%s}\n",
                g_out.group.c_str(), cas, method, run, unit, med, p99, ns.size(), extra);
    std::fflush(stdout);
    if (!g_out.samples_dir.empty() && !ns.empty()) {
        std::string p = g_out.samples_dir + "/" + g_out.group + "__" + cas + "__" + method + ".txt";
        FILE *f = std::fopen(p.c_str(), "w");
        if (f) {
            size_t stride = ns.size() > 20000 ? ns.size() / 20000 : 1;
            for (size_t i = 0; i < ns.size(); i += stride) std::fprintf(f, "%.0f\n", ns[i]);
            std::fclose(f);
        }
    }
}

/// A rate row: operations per second of one run.
inline void emit_rate(const char *cas, const char *method, int run, double per_s, uint64_t n) {
    std::printf("{\"group\":\"%s\",\"case\":\"%s\",\"method\":\"%s\",\"run\":%d,\"kind\":\"rate\","
                "\"unit\":\"ops/s\",\"value\":%.1f,\"n\":%" PRIu64 "}\n",
                g_out.group.c_str(), cas, method, run, per_s, n);
    std::fflush(stdout);
}

/// A paced row: the waiting side's CPU (percent of one CPU) while a producer sends every
/// `interval_us`, and its one-way wake-up latency (median, p99).
inline void emit_paced(const char *method, int run, const Ctl *ctl, int interval_us) {
    std::vector<double> lat(ctl->lat_ns, ctl->lat_ns + ctl->n_lat);
    double pct = ctl->child_wall_us > 0 ? 100.0 * ctl->child_cpu_us / ctl->child_wall_us : 0;
    std::printf("{\"group\":\"%s\",\"case\":\"paced\",\"method\":\"%s\",\"run\":%d,\"kind\":\"cpu\","
                "\"unit\":\"%% CPU\",\"value\":%.2f,\"cpu_us_per_msg\":%.2f,\"interval_us\":%d,"
                "\"wake_med_ns\":%.0f,\"wake_p99_ns\":%.0f,\"n\":%" PRIu64 "}\n",
                g_out.group.c_str(), method, run, pct,
                ctl->child_count ? ctl->child_cpu_us / double(ctl->child_count) : 0, interval_us,
                quantile(lat, 0.5), quantile(lat, 0.99), ctl->child_count);
    std::fflush(stdout);
}

inline void skip(const char *cas, const char *method, const char *why) {
    std::printf("{\"group\":\"%s\",\"case\":\"%s\",\"method\":\"%s\",\"kind\":\"skip\",\"why\":\"%s\"}\n",
                g_out.group.c_str(), cas, method, why);
    std::fprintf(stderr, "SKIP %s/%s %s: %s\n", g_out.group.c_str(), cas, method, why);
    std::fflush(stdout);
}

} // namespace bench
