// Tests of observing in include/plexus.hpp: watch / watch_for (value and version
// together), observe() on a thread the Observer stops and joins, map-wide changes and
// initial data in Region::map. Uses the region "cppobserve-<pid>" and removes it.

#include <plexus.hpp>

#include "cpp_checks.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using plexus::Array;
using plexus::Map;
using plexus::Observer;
using plexus::Region;
using plexus::Value;

namespace {

static_assert(!std::is_copy_constructible_v<Observer>, "Observer is move-only");

struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        try {
            Region::try_remove(name);
        } catch (...) {
        }
    }
};

void test_watch(Region &r) {
    Map m = r.map("w", 8);
    CHECK(!m.watch_for("k", 0, 0ms));
    m.write("k", 5);
    auto got = m.watch_for("k", 0, 0ms);
    CHECK(got && got->first == Value(5) && got->second == 1);
    CHECK(!m.watch_for("k", 1, 10ms));
    std::thread writer([&] {
        std::this_thread::sleep_for(30ms);
        m.write("k", "next");
    });
    auto [v, ver] = m.watch("k", 1);
    CHECK(v.as_string() == "next" && ver == 2);
    writer.join();

    Array a = r.array("wa", 2);
    CHECK(!a.watch_for(1, 0, 0ms));
    a.write(1, 2.5);
    auto e = a.watch_for(1, 0, 0ms);
    CHECK(e && e->first == Value(2.5) && e->second == 1);
    CHECK_THROWS(a.watch_for(2, 0, 0ms), PLEXUS_E_OUT_OF_RANGE);
}

void test_observe(Region &r) {
    Map m = r.map("obs", 8);
    m.write("k", 0);
    std::mutex mu;
    std::vector<std::pair<std::int64_t, std::uint64_t>> seen;
    {
        Observer o = m.observe("k", [&](const Value &v, std::uint64_t version) {
            std::lock_guard<std::mutex> g(mu);
            seen.emplace_back(v.as_int(), version);
        });
        CHECK(o.running());
        // The first call brings the current value (waited for, bounded).
        for (int n = 0; n < 1000; n++) {
            {
                std::lock_guard<std::mutex> g(mu);
                if (!seen.empty()) break;
            }
            std::this_thread::sleep_for(2ms);
        }
        for (int i = 1; i <= 200; i++) {
            m.write("k", i);
        }
        // Never misses the last value: wait (bounded) until it arrives.
        for (int n = 0; n < 1000; n++) {
            {
                std::lock_guard<std::mutex> g(mu);
                if (!seen.empty() && seen.back().first == 200) break;
            }
            std::this_thread::sleep_for(5ms);
        }
    }  // the destructor stops and joins the thread
    std::lock_guard<std::mutex> g(mu);
    CHECK(!seen.empty() && seen.front().first == 0);  // the current value first
    CHECK(!seen.empty() && seen.back().first == 200);
    for (std::size_t i = 0; i < seen.size(); i++) {
        // Plain writes: value i at version i + 1 (the key's first write was version 1).
        CHECK(seen[i].second == static_cast<std::uint64_t>(seen[i].first) + 1);
        if (i > 0) CHECK(seen[i].first > seen[i - 1].first);
    }
    const std::size_t count = seen.size();
    m.write("k", 999);
    std::this_thread::sleep_for(20ms);
    CHECK(seen.size() == count);  // stopped: no more calls

    // A callback that throws ends the observer, with the reason.
    Observer bad = m.observe("k", [](const Value &, std::uint64_t) {
        throw std::runtime_error("callback failed");
    });
    for (int n = 0; n < 1000 && bad.running(); n++) std::this_thread::sleep_for(2ms);
    CHECK(!bad.running() && bad.error() == "callback failed");
}

void test_map_wide(Region &r) {
    Map m = r.map("mw", 8);
    CHECK(m.change_count() == 0);
    std::uint64_t c = 0;
    CHECK(!m.wait_changes_for(c, 1ms));
    m.write("a", 1);
    m.write("b", 2);
    CHECK(m.wait_changes_for(c, 0ms) && c == 2);
    m.remove("a");
    auto changes = m.changes_since(2);
    CHECK(changes.size() == 1 && changes[0].key == "a" && changes[0].removed &&
          changes[0].counter == 3);
    auto all = m.changes_since(0);
    int present = 0;
    for (const auto &ch : all) {
        if (!ch.removed) {
            CHECK(ch.key == "b" && ch.version == 1 && ch.counter == 2);
            present++;
        }
    }
    CHECK(present == 1);
    std::thread writer([&] {
        std::this_thread::sleep_for(20ms);
        m.write("c", 3);
    });
    c = m.change_count();
    m.wait_changes(c);
    CHECK(c == 4);
    writer.join();
}

void test_initial(Region &r) {
    Map m = r.map("cfg", 8, 0, Value::from_json(R"({"mode": "auto", "limit": 10})"));
    CHECK(m.size() == 2 && m.read("limit") == Value(10) && m.is_full("mode"));
    CHECK(m.version("mode") == 1);
    Map again = r.map("cfg", 8, 0, Value::from_json(R"({"mode": "other"})"));
    CHECK(again.read("mode").as_string() == "auto");
    CHECK_THROWS(r.map("bad", 8, 0, Value(1)), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(r.map("bad", 1, 0, Value::from_json(R"({"a": 1, "b": 2})")),
                 PLEXUS_E_NO_SPACE);
}

}  // namespace

int main(int argc, char **argv) {
    const std::string name = argc > 1 ? argv[1] : "cppobserve-" + std::to_string(getpid());
    try {
        RegionCleanup cleanup{argc > 1 ? "" : name};
        Region r = argc > 1 ? Region::open(name) : Region::create(name, 4 << 20);
        test_watch(r);
        test_observe(r);
        test_map_wide(r);
        test_initial(r);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++failures;
    }
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp_observe: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_observe: OK\n");
    return 0;
}
