// Tests of named events in the C++ wrapper: Bus::emit, Bus::subscribe(prefix),
// Subscription::next_event / try_next_event / next_event_for.
#include <plexus.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <unistd.h>

#include "cpp_checks.hpp"

int main() {
    const std::string name = "test-cpp-events-" + std::to_string(getpid());
    plexus::RegionOptions o;
    o.mode = PLEXUS_RECREATE;
    {
        plexus::Region r = plexus::Region::open(name, o);
        plexus::Bus b = plexus::Bus::open(r, "events", 16);
        plexus::Subscription all = b.subscribe();
        plexus::Subscription jobs = b.subscribe("job.");
        plexus::Subscription oldest_jobs = b.subscribe("job.", PLEXUS_FROM_OLDEST);
        CHECK(b.emit("job.start", plexus::Value(std::int64_t{1})) == 1);
        CHECK(b.publish(plexus::Value(std::int64_t{2})) == 2);
        CHECK(b.emit("user.login", plexus::Value("ann")) == 3);
        CHECK(b.emit("job.done", plexus::Value("a value longer than the inline bytes")) == 4);
        auto e1 = all.try_next_event();
        CHECK(e1 && e1->topic == "job.start" && e1->seq == 1 && e1->value.as_int() == 1);
        auto e2 = all.next_event();
        CHECK(e2 && e2->topic.empty() && e2->seq == 2);
        for (plexus::Subscription *s : {&jobs, &oldest_jobs}) {
            auto j1 = s->next_event_for(std::chrono::seconds(5));
            CHECK(j1 && j1->topic == "job.start" && j1->seq == 1);
            auto j2 = s->next();  // the value-only call filters too
            CHECK(j2 && j2->seq == 4 &&
                  j2->value.as_string() == "a value longer than the inline bytes");
            bool shut_down = true;
            CHECK(!s->try_next_event(&shut_down) && !shut_down);
        }
        // Bad topics throw INVALID_ARGUMENT.
        CHECK_THROWS(b.emit(std::string(PLEXUS_MAX_TOPIC_LEN + 1, 't'), plexus::Value()),
                     PLEXUS_E_INVALID_ARGUMENT);
        CHECK_THROWS(b.subscribe(std::string("\xff")), PLEXUS_E_INVALID_ARGUMENT);
        // A blocked filtered subscriber wakes for its topic only; shutdown ends it.
        plexus::Subscription waiter = b.subscribe("wake.");
        std::optional<plexus::Event> got;
        std::optional<plexus::Event> after;
        std::thread t([&] {
            got = waiter.next_event_for(std::chrono::seconds(10));
            after = waiter.next_event();
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        (void)b.emit("other", plexus::Value(std::int64_t{0}));
        const std::uint64_t seq = b.emit("wake.up", plexus::Value(std::int64_t{7}));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        b.shutdown();
        t.join();
        CHECK(got && got->topic == "wake.up" && got->seq == seq && got->value.as_int() == 7);
        CHECK(!after);
        CHECK(b.emit("wake.up", plexus::Value()) == 0);
    }
    plexus::Region::remove(name);
    if (failures) {
        std::fprintf(stderr, "test_cpp_events: %d failure(s)\n", failures);
        return 1;
    }
    std::printf("test_cpp_events: OK\n");
    return 0;
}
