// Tests of Region::remove_object and Region::try_remove_object in include/plexus.hpp:
// for every kind, owners of a removed object throw PLEXUS_E_REMOVED and close normally;
// removing again throws PLEXUS_E_NOT_FOUND (try_remove_object: false); the name is used
// again at once, as another kind or the same; a blocked pop and a blocked subscriber wake
// with PLEXUS_E_REMOVED; a shut-down Queue starts again by remove + open; names given as
// string_view. Uses a region of its own, "cpprmobj-<pid>", removed at the end.

#include <plexus.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

#include "cpp_checks.hpp"

using namespace std::chrono_literals;
using plexus::Region;
using plexus::Value;

namespace {

/// Removes the test's region at exit, also after a failure.
struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        try {
            Region::try_remove(name);
        } catch (...) {
        }
    }
};

/// `name` is gone: removing it again throws NOT_FOUND, try_remove_object says false,
/// and an open-only open finds nothing.
void check_gone(const Region &r, const std::string &name) {
    CHECK_THROWS(r.remove_object(name), PLEXUS_E_NOT_FOUND);
    CHECK(!r.try_remove_object(name));
    CHECK_THROWS(r.array(name), PLEXUS_E_NOT_FOUND);
    for (const plexus::ObjectInfo &o : r.objects()) {
        CHECK(o.name != name);
    }
}

void test_every_kind(const Region &r) {
    {
        plexus::Array a = r.array("a", 2);
        a.write(0, 1);
        r.remove_object("a");
        CHECK_THROWS(a.read(0), PLEXUS_E_REMOVED);
        CHECK_THROWS(a.write(1, 2), PLEXUS_E_REMOVED);
        CHECK_THROWS(a.try_read_fe(0), PLEXUS_E_REMOVED);
        a.close();
        check_gone(r, "a");
        plexus::Map m = r.map("a", 4);  // the name again, as a map
        CHECK(m.size() == 0);
        m.close();
        CHECK(r.try_remove_object("a"));
    }
    {
        plexus::Map m = r.map("m", 4);
        m.write("k", "v");
        r.remove_object("m");
        CHECK_THROWS(m.read("k"), PLEXUS_E_REMOVED);
        CHECK_THROWS(m.size(), PLEXUS_E_REMOVED);
        m.close();
        check_gone(r, "m");
    }
    {
        plexus::Queue q = r.queue("q", 4);
        CHECK(q.push(1));
        r.remove_object("q");
        CHECK_THROWS(q.try_pop(), PLEXUS_E_REMOVED);  // removed is not "empty"
        CHECK_THROWS(q.try_push(2), PLEXUS_E_REMOVED);
        CHECK_THROWS(q.size(), PLEXUS_E_REMOVED);
        q.close();
        check_gone(r, "q");
    }
    {
        plexus::Bus b = r.bus("b", 4);
        plexus::Subscription s = b.subscribe(PLEXUS_FROM_OLDEST);
        CHECK(b.publish(1) == 1);
        r.remove_object("b");
        CHECK_THROWS(b.publish(2), PLEXUS_E_REMOVED);
        CHECK_THROWS(s.try_next(), PLEXUS_E_REMOVED);
        CHECK_THROWS(b.subscribe(), PLEXUS_E_REMOVED);
        s.close();
        b.close();
        check_gone(r, "b");
        plexus::Bus again = r.bus("b", 4);  // a new bus: numbering starts again
        CHECK(again.publish(1) == 1);
        again.close();
        r.remove_object("b");
    }
    {
        plexus::Mutex m = r.mutex("mx");
        m.lock();
        r.remove_object("mx");
        CHECK_THROWS(m.unlock(), PLEXUS_E_REMOVED);
        CHECK_THROWS(m.try_lock(), PLEXUS_E_REMOVED);
        m.close();
        check_gone(r, "mx");
        plexus::Mutex again = r.mutex("mx");  // new and unlocked
        CHECK(again.try_lock());
        again.unlock();
        again.close();
        r.remove_object("mx");
    }
    {
        plexus::Barrier b = r.barrier("br", 2);
        r.remove_object("br");
        CHECK_THROWS(b.wait_for(0ms), PLEXUS_E_REMOVED);
        b.close();
        check_gone(r, "br");
        plexus::Semaphore s = r.semaphore("br", 2);  // the name again, as a semaphore
        CHECK(s.available() == 2);
        s.close();
        r.remove_object("br");
    }
    {
        plexus::Semaphore s = r.semaphore("s", 1);
        s.acquire();
        r.remove_object("s");
        CHECK_THROWS(s.release(), PLEXUS_E_REMOVED);
        CHECK_THROWS(s.try_acquire(), PLEXUS_E_REMOVED);
        s.close();
        check_gone(r, "s");
    }
}

/// Threads blocked in a pop and in a subscriber's next wake with PLEXUS_E_REMOVED. (They
/// are given a moment to block first; a call that had not blocked yet finds the object
/// removed: the same outcome.)
void test_blocked_calls_wake(const Region &r) {
    plexus::Queue q = r.queue("jobs", 4);
    std::thread popper([&] { CHECK_THROWS(q.pop(), PLEXUS_E_REMOVED); });
    plexus::Bus b = r.bus("events", 4);
    plexus::Subscription s = b.subscribe();
    std::thread subscriber([&] { CHECK_THROWS(s.next(), PLEXUS_E_REMOVED); });
    std::this_thread::sleep_for(50ms);
    r.remove_object("jobs");
    r.remove_object("events");
    popper.join();
    subscriber.join();
}

/// A Queue that was shut down starts again by being removed and opened again; the old
/// owner (alive meanwhile, through the same Region) throws PLEXUS_E_REMOVED, the new one
/// is a working queue.
void test_queue_restart(const Region &r) {
    plexus::Queue q = r.queue("work", 4);
    q.shutdown();
    CHECK(!q.try_push(1));
    CHECK(q.pop() == std::nullopt);
    r.remove_object("work");
    plexus::Queue fresh = r.queue("work", 4);
    CHECK(fresh.raw().id != q.raw().id);
    CHECK(!fresh.is_shutdown());
    CHECK(fresh.push(7));
    std::optional<Value> v = fresh.try_pop();
    CHECK(v && v->as_int() == 7);
    CHECK_THROWS(q.push(1), PLEXUS_E_REMOVED);
    CHECK_THROWS(q.is_shutdown(), PLEXUS_E_REMOVED);
    q.close();
    fresh.close();
    r.remove_object("work");
}

void test_names(const Region &r) {
    plexus::Array a = r.array("view", 1);
    const char buffer[] = {'v', 'i', 'e', 'w', 'X', 'Y'};  // not NUL-terminated
    r.remove_object(std::string_view(buffer, 4));
    CHECK_THROWS(a.read(0), PLEXUS_E_REMOVED);
    CHECK_THROWS(r.remove_object(std::string_view("vi\0ew", 5)), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(r.try_remove_object(std::string_view("vi\0ew", 5)), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(r.remove_object(""), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(r.remove_object(std::string(97, 'n')), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(Region().remove_object("view"), PLEXUS_E_BAD_HANDLE);
}

/// The region itself removed: PLEXUS_E_REMOVED.
void test_removed_region(const std::string &name) {
    Region g = Region::create(name, 1u << 20);
    plexus::Array a = g.array("x", 1);
    Region::remove(name);
    CHECK_THROWS(g.remove_object("x"), PLEXUS_E_REMOVED);
    CHECK_THROWS(g.try_remove_object("x"), PLEXUS_E_REMOVED);
}

}  // namespace

int main() {
    const std::string name = "cpprmobj-" + std::to_string(getpid());
    try {
        RegionCleanup cleanup{name};
        RegionCleanup cleanup_gone{name + "-gone"};
        Region r = Region::create(name, 4u << 20);
        test_every_kind(r);
        test_blocked_calls_wake(r);
        test_queue_restart(r);
        test_names(r);
        test_removed_region(name + "-gone");
        CHECK(r.info().object_count == 0);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++failures;
    }
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp_remove_object: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_remove_object: OK\n");
    return 0;
}
