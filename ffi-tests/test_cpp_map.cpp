// Tests of plexus::Map in include/plexus.hpp. A standalone program like
// test_cpp_wrapper.cpp; uses the region "cppmap-<pid>" and removes it at the end.

#include <plexus.hpp>

#include "cpp_checks.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using plexus::Map;
using plexus::Region;
using plexus::Value;

namespace {


static_assert(!std::is_copy_constructible_v<Map>, "Map is move-only");
static_assert(std::is_nothrow_move_constructible_v<Map>, "Map moves never throw");
static_assert(std::is_nothrow_move_assignable_v<Map>, "Map moves never throw");
static_assert(std::is_nothrow_destructible_v<Map>, "Map destructor is noexcept");

struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        try {
            Region::try_remove(name);
        } catch (...) {
        }
    }
};

void test_map(Region &r) {
    Map m = r.map("m", 3);
    CHECK(m && m.capacity() == 3 && m.size() == 0);
    // Absent keys.
    CHECK(m.read("x").is_undefined());
    CHECK(!m.is_full("x"));
    CHECK(m.version("x") == 0);
    CHECK(!m.try_read_fe("x"));
    CHECK(!m.read_ff_for("x", 1ms));
    CHECK(!m.try_read_rw("x"));
    std::uint64_t v = 0;
    CHECK(!m.wait_change_for("x", v, 0ms));
    CHECK(!m.remove("x"));
    CHECK_THROWS(m.release_rw("x"), PLEXUS_E_INVALID_ARGUMENT);
    // Writing inserts.
    m.write("a", "a string longer than eight");
    CHECK(m.read("a").as_string() == "a string longer than eight");
    CHECK(m.try_write_ef("a", 1));
    CHECK(!m.try_write_ef("a", 2));
    CHECK(m.read_ff("a").as_int() == 1);
    CHECK(m.read_fe("a").as_int() == 1);
    CHECK(m.write_ef_for("b", 5, 1ms));
    CHECK(m.is_full("b"));
    m.write_xe("b", 6);
    CHECK(!m.is_full("b"));
    m.set_tag("b", true);
    CHECK(m.try_read_rw("b")->as_int() == 6);
    m.release_rw("b");
    m.write_xf("c", 1.5);
    CHECK(m.faa("c", 1).as_float() == 1.5);
    Value old;
    CHECK(m.cas("c", 2.5, Value(nullptr), &old) && old.as_float() == 2.5);
    CHECK(m.exchange("c", 3).is_null());
    CHECK(m.size() == 3);
    // Full map.
    CHECK_THROWS(m.write("d", 1), PLEXUS_E_NO_SPACE);
    std::uint64_t cv = m.version("c");
    CHECK(cv > 0);
    CHECK(m.remove("c"));
    CHECK(m.wait_change_for("c", cv, 0ms) && cv == 0);
    m.faa("d", 1);
    // Keys.
    std::vector<std::string> keys = m.keys();
    std::sort(keys.begin(), keys.end());
    CHECK((keys == std::vector<std::string>{"a", "b", "d"}));
    std::uint64_t cursor = 0;
    int n = 0;
    while (m.next_key(cursor)) {
        ++n;
    }
    CHECK(n == 3);
    // Blocking read of an absent key, written by another thread.
    CHECK(m.remove("d"));
    std::thread writer([&] {
        std::this_thread::sleep_for(30ms);
        m.write_xf("late", 42);
    });
    CHECK(m.read_fe("late").as_int() == 42);
    writer.join();
    std::uint64_t lv = 0;
    std::thread inserter([&] {
        std::this_thread::sleep_for(30ms);
        CHECK(m.remove("late"));
        m.write("late2", 1);
    });
    lv = m.version("late2");
    CHECK(lv == 0);
    m.wait_change("late2", lv);
    CHECK(lv > 0);
    inserter.join();
    // Bad keys and kinds.
    CHECK_THROWS(m.read(std::string(PLEXUS_MAP_MAX_KEY_LEN + 1, 'k')), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(m.write("\xff", 1), PLEXUS_E_INVALID_ARGUMENT);
    CHECK(m.remove("late2"));
    const std::string longkey(PLEXUS_MAP_MAX_KEY_LEN, 'k');
    m.write(longkey, 7);
    CHECK(m.read(longkey).as_int() == 7);
    r.array("arr", 1);
    CHECK_THROWS(r.map("arr", 1), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(r.map("m", 4), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.map("m", 3, PLEXUS_EXCLUSIVE), PLEXUS_E_EXISTS);
    Map full = Map::open(r, "full", 2, PLEXUS_FULL);
    full.faa("k", 1);
    CHECK(full.is_full("k"));
    // Ownership.
    Map moved = std::move(m);
    CHECK(!m && moved);
    CHECK_THROWS(m.size(), PLEXUS_E_BAD_HANDLE);
    moved.close();
    CHECK(!moved);
    Map again = r.map("m");
    CHECK(again.size() == 3);
    r.close();
    CHECK_THROWS(again.size(), PLEXUS_E_BAD_HANDLE);
}

}  // namespace

int main() {
    const std::string name = "cppmap-" + std::to_string(getpid());
    try {
        RegionCleanup cleanup{name};
        Region r = Region::create(name, 4 << 20);
        test_map(r);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++failures;
    }
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp_map: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_map: OK\n");
    return 0;
}
