// Tests of plexus::Bus and plexus::Subscription.
#include <plexus.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

static int failures = 0;
#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) {                                                            \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                           \
        }                                                                         \
    } while (0)

int main() {
    const std::string name = "test-cpp-bus-" + std::to_string(getpid());
    plexus::RegionOptions o;
    o.mode = PLEXUS_RECREATE;
    {
        plexus::Region r = plexus::Region::open(name, o);
        plexus::Bus b = plexus::Bus::open(r, "events", 4);
        CHECK(b.capacity() == 4 && b.next_seq() == 1 && !b.is_shutdown());
        plexus::Subscription now = b.subscribe();
        CHECK(b.publish(plexus::Value(std::int64_t{1})) == 1);
        CHECK(b.publish(plexus::Value("a string longer than the inline eight")) == 2);
        plexus::Subscription oldest = b.subscribe(PLEXUS_FROM_OLDEST);
        for (plexus::Subscription *s : {&now, &oldest}) {
            auto m1 = s->try_next();
            CHECK(m1 && m1->seq == 1 && m1->value.as_int() == 1);
            auto m2 = s->next();
            CHECK(m2 && m2->seq == 2 && m2->value.as_string() == "a string longer than the inline eight");
            bool shut_down = true;
            CHECK(!s->next_for(std::chrono::milliseconds(10), &shut_down) && !shut_down);
        }
        // Falling behind: 10 more on a bus of 4: the next is seq 9.
        for (int i = 0; i < 10; i++) (void)b.publish(plexus::Value(std::int64_t{i}));
        auto behind = now.next();
        CHECK(behind && behind->seq == 9);
        // A waiting subscriber in a thread gets the message, then nullopt on shutdown.
        plexus::Subscription waiter = b.subscribe();
        std::thread t([&] {
            auto m = waiter.next();
            CHECK(m && m->value.as_int() == 42);
            CHECK(!waiter.next());
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        (void)b.publish(plexus::Value(std::int64_t{42}));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        b.shutdown();
        t.join();
        CHECK(b.is_shutdown());
        CHECK(b.publish(plexus::Value(std::int64_t{7})) == 0);
        bool shut_down = false;
        while (oldest.try_next(&shut_down)) {
        }
        CHECK(shut_down);
        // Errors throw.
        bool threw = false;
        try {
            (void)b.subscribe(99);
        } catch (const plexus::Error &e) {
            threw = e.status() == PLEXUS_E_INVALID_ARGUMENT;
        }
        CHECK(threw);
        plexus::Subscription moved = std::move(now);
        CHECK(moved && !now && now.raw().id == 0);
        plexus::Bus moved_bus = std::move(b);
        CHECK(moved_bus && !b && b.raw().id == 0);
        threw = false;
        try {
            (void)b.next_seq();
        } catch (const plexus::Error &e) {
            threw = e.status() == PLEXUS_E_BAD_HANDLE;
        }
        CHECK(threw);

        // publish_many: consecutive sequence numbers, one call; a vector, an array, a
        // pointer and a count; 0 for an empty batch; an invalid value publishes nothing.
        {
            plexus::Bus batch = r.bus("batch", 8);
            plexus::Subscription bs = batch.subscribe();
            std::vector<plexus::Value> vals = {plexus::Value(std::int64_t{10}),
                                               plexus::Value("eleven"),
                                               plexus::Value(std::string(200, 'x'))};
            CHECK(batch.publish_many(vals) == 1);
            plexus::Value arr[2] = {plexus::Value(std::int64_t{12}), plexus::Value(nullptr)};
            CHECK(batch.publish_many(arr) == 4);
            CHECK(batch.publish_many(vals.data(), 1) == 6);
            CHECK(batch.publish_many(std::vector<plexus::Value>{}) == 0);
            std::vector<plexus::Value> bad = {plexus::Value(std::int64_t{1}),
                                              plexus::Value::object_msgpack({0xc1})};
            bool threw_bad = false;
            try {
                (void)batch.publish_many(bad);
            } catch (const plexus::Error &e) {
                threw_bad = e.status() == PLEXUS_E_INVALID_ARGUMENT;
            }
            CHECK(threw_bad && batch.next_seq() == 7);
            const std::int64_t want_ints[] = {10, -1, -1, 12, -1, 10};
            for (std::uint64_t seq = 1; seq <= 6; seq++) {
                auto m = bs.try_next();
                CHECK(m && m->seq == seq);
                if (m && want_ints[seq - 1] >= 0) CHECK(m->value.as_int() == want_ints[seq - 1]);
            }
            CHECK(!bs.try_next());
            batch.shutdown();
            CHECK(batch.publish_many(vals) == 0);
        }

        // close() gives a handle back and never ends the bus; shutdown() through one
        // region handle ends it for every other handle.
        plexus::Region other = plexus::Region::open_existing(name);
        plexus::Bus theirs = other.bus("news", 8);
        plexus::Bus mine = r.bus("news");
        CHECK(mine.raw().id != theirs.raw().id);  // handles of two region handles
        plexus::Subscription sub = theirs.subscribe(PLEXUS_FROM_OLDEST);
        CHECK(mine.publish("one") == 1);
        mine.close();
        CHECK(!mine && !theirs.is_shutdown());
        CHECK(theirs.publish("two") == 2);
        mine = plexus::Bus::open(r, "news");  // opened again by name: state kept
        CHECK(mine.next_seq() == 3 && !mine.is_shutdown());
        theirs.shutdown();
        CHECK(mine.is_shutdown() && theirs.is_shutdown());
        CHECK(mine.publish("three") == 0);
        theirs.close();  // the subscription made through it stays valid
        CHECK(!theirs);
        auto one = sub.next();
        auto two = sub.next();
        CHECK(one && one->seq == 1 && one->value.as_string() == "one");
        CHECK(two && two->seq == 2 && two->value.as_string() == "two");
        CHECK(!sub.next());  // shut down and drained
    }
    plexus::Region::remove(name);
    if (failures) {
        std::fprintf(stderr, "test_cpp_bus: %d failure(s)\n", failures);
        return 1;
    }
    std::printf("test_cpp_bus: OK\n");
    return 0;
}
