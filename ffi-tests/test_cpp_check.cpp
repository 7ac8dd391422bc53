// plexus::check_region from C++: a consistent region, a process that died holding a
// mutex (reclaimable, then cleaned by repair), and a missing region (an exception).
#include <plexus.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

static int failures = 0;
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

int main() {
    const std::string name = "cppcheck-" + std::to_string(getpid());
    {
        auto region = plexus::Region::recreate(name, 1 << 20);
        auto cells = region.array("cells", 2);
        cells.write_xf(0, std::string(100, 'x'));
        auto m = plexus::Mutex::open(region, "m");

        auto ok = plexus::check_region(name);
        CHECK(ok.consistent());
        CHECK(ok.live_processes == 1);
        CHECK(ok.text.find(": consistent") != std::string::npos);

        const pid_t pid = fork();
        if (pid == 0) {
            try {
                auto child = plexus::Region::open_existing(name);
                auto cm = plexus::Mutex::open(child, "m");
                cm.lock();
                _exit(0);  // dies holding the mutex, still attached (no destructors)
            } catch (...) {
                _exit(3);
            }
        }
        int ws = 0;
        waitpid(pid, &ws, 0);
        CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

        auto stale = plexus::check_region(name);
        CHECK(stale.reclaimable());
        CHECK(stale.dead_processes == 1 && stale.dead_locks == 1);
        CHECK(stale.text.find("mutex 'm'") != std::string::npos);

        auto fixed = plexus::check_region(name, true);
        CHECK(fixed.consistent());
        CHECK(fixed.repairs >= 1);
        m.lock();
        CHECK(m.owner_died());
        m.unlock();
    }
    bool threw = false;
    try {
        plexus::check_region(name + "-absent");
    } catch (const plexus::Error &e) {
        threw = e.status() == PLEXUS_E_NOT_FOUND;
    }
    CHECK(threw);
    plexus::Region::remove(name);
    if (failures) {
        std::fprintf(stderr, "test_cpp_check: %d failure(s)\n", failures);
        return 1;
    }
    std::printf("test_cpp_check: OK\n");
    return 0;
}
