// Tests of plexus::Service in include/plexus.hpp: call / call_for, next / next_for,
// reply / reply_error, serve() on a stoppable thread (handler exceptions become error
// replies), PLEXUS_E_SERVICE as plexus::Error, timeouts as std::nullopt. Uses the
// region "cppservice-<pid>" and removes it at the end.

#include <plexus.hpp>

#include "cpp_checks.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

using namespace std::chrono_literals;
using plexus::Region;
using plexus::Service;
using plexus::Value;

namespace {

static_assert(!std::is_copy_constructible_v<Service>, "Service is move-only");
static_assert(std::is_nothrow_move_constructible_v<Service>, "Service moves");

struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        try {
            Region::try_remove(name);
        } catch (...) {
        }
    }
};

void test_serve(Region &r) {
    Service s = r.service("calc", 4);
    CHECK(s.capacity() == 4);
    CHECK(s.pending() == 0);
    {
        Service::Server server = s.serve([](const Value &req) {
            if (req.as_int() < 0) throw std::runtime_error("negative: " + std::to_string(req.as_int()));
            return Value(req.as_int() * 2 + 1);
        });
        CHECK(s.call(Value(std::int64_t{20})).as_int() == 41);
        auto r2 = s.call_for(Value(std::int64_t{1}), 10s);
        CHECK(r2 && r2->as_int() == 3);
        try {
            (void)s.call(Value(std::int64_t{-4}));
            CHECK(!"an error reply must throw");
        } catch (const plexus::Error &e) {
            CHECK(e.status() == PLEXUS_E_SERVICE);
            CHECK(std::strstr(e.what(), "negative: -4") != nullptr);
        }
        server.stop();
    }
    // Nobody serving now: a timeout is std::nullopt.
    CHECK(!s.call_for(Value(std::int64_t{1}), 20ms));
    CHECK(s.pending() == 0);
    CHECK(!s.next_for(0ms));
}

void test_manual(Region &r) {
    Service s = Service::open(r, "manual", 2);
    std::optional<Value> got;
    std::thread caller([&] { got = s.call_for(Value("hello"), 10s); });
    Service::Request req = s.next();
    CHECK(req.value.as_string() == "hello");
    s.reply(req.id, Value(std::string("world")));
    CHECK_THROWS(s.reply(req.id, Value(nullptr)), PLEXUS_E_INVALID_ARGUMENT);
    caller.join();
    CHECK(got && got->as_string() == "world");
    CHECK_THROWS(s.reply_error(req.id, "late"), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(Service::open(r, "manual", 3), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.service("absent"), PLEXUS_E_NOT_FOUND);
    Service empty;
    CHECK_THROWS(empty.pending(), PLEXUS_E_BAD_HANDLE);
}

// call_cancellable: a reply as with call; storing 1 in the cancel word withdraws the
// request (std::nullopt, nothing left pending, nothing sent again).
void test_cancellable(Region &r) {
    Service s = Service::open(r, "cancellable", 2);
    std::atomic<std::uint32_t> cancel{0};
    std::optional<Value> got = Value(std::int64_t{-1});
    std::thread caller([&] { got = s.call_cancellable(Value(std::int64_t{7}), cancel); });
    while (s.pending() == 0) std::this_thread::sleep_for(1ms);
    cancel.store(1);
    caller.join();
    CHECK(!got);
    CHECK(s.pending() == 0);
    CHECK(!s.next_for(0ms));
    cancel.store(0);
    std::thread caller2(
        [&] { got = s.call_cancellable_for(Value(std::int64_t{8}), cancel, 10s); });
    Service::Request req = s.next();
    s.reply(req.id, Value(std::int64_t{80}));
    caller2.join();
    CHECK(got && got->as_int() == 80);
}

}  // namespace

int main() {
    const std::string name = "cppservice-" + std::to_string(getpid());
    try {
        RegionCleanup cleanup{name};
        Region r = Region::create(name, 1 << 20);
        test_serve(r);
        test_manual(r);
        test_cancellable(r);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++failures;
    }
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp_service: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_service: OK\n");
    return 0;
}
