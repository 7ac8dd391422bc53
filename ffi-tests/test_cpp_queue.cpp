// Tests of plexus::Queue in include/plexus.hpp. A standalone program like
// test_cpp_map.cpp; uses the region "cppqueue-<pid>" and removes it at the end.

#include <plexus.hpp>

#include "cpp_checks.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using plexus::Queue;
using plexus::Region;
using plexus::Value;
using Clock = std::chrono::steady_clock;

namespace {


static_assert(!std::is_copy_constructible_v<Queue>, "Queue is move-only");
static_assert(!std::is_copy_assignable_v<Queue>, "Queue is move-only");
static_assert(std::is_nothrow_move_constructible_v<Queue>, "Queue moves never throw");
static_assert(std::is_nothrow_move_assignable_v<Queue>, "Queue moves never throw");
static_assert(std::is_nothrow_destructible_v<Queue>, "Queue destructor is noexcept");
static_assert(std::is_same_v<decltype(std::declval<Queue &>().pop()), std::optional<Value>>,
              "pop() returns std::optional<Value>");
static_assert(std::is_same_v<decltype(std::declval<Queue &>().push(1)), bool>,
              "push() returns bool");

struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        try {
            Region::try_remove(name);
        } catch (...) {
        }
    }
};

/// The values of every type, a string over 100 KB and an OBJECT among them.
std::vector<Value> every_type() {
    std::string big(150 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
    }
    return {Value(),
            Value(nullptr),
            Value(true),
            Value(false),
            Value(INT64_MIN),
            Value(42),
            Value(-0.25),
            Value(""),
            Value("12345678"),
            Value("123456789"),
            Value(std::string("nul\0inside", 10)),
            Value(big),
            Value(plexus::Bytes{0, 1, 0xff, 0}),
            Value(plexus::Bytes{}),
            Value::from_json(R"({"a":[1,2.5,{"b":null}],"c":"x"})")};
}

void test_values_and_order(Region &r) {
    const std::vector<Value> values = every_type();
    for (std::uint32_t flags : {0u, static_cast<std::uint32_t>(PLEXUS_LIFO)}) {
        Queue q = r.queue(flags ? "types-lifo" : "types", 32, flags);
        CHECK(q && q.capacity() == 32 && q.size() == 0 && !q.is_shutdown());
        for (const Value &v : values) {
            CHECK(q.try_push(v));
        }
        CHECK(q.size() == values.size());
        for (std::size_t k = 0; k < values.size(); ++k) {
            const std::size_t i = flags ? values.size() - 1 - k : k;
            std::optional<Value> v = q.try_pop();
            CHECK(v && *v == values[i]);
        }
        CHECK(q.size() == 0);
        CHECK(values.back().to_json() == R"({"a":[1,2.5,{"b":null}],"c":"x"})");
    }

    // FIFO: oldest first; full and empty, with timeout 0 and with a short timeout.
    Queue q = Queue::open(r, "fifo", 3);
    bool shut_down = true;
    CHECK(!q.try_pop(&shut_down) && !shut_down);
    auto t0 = Clock::now();
    CHECK(!q.pop_for(30ms, &shut_down) && !shut_down);
    CHECK(Clock::now() - t0 >= 30ms);
    CHECK(q.push(1) && q.push("two") && q.push_for(3.0, 0ms));
    shut_down = true;
    CHECK(!q.try_push(4, &shut_down) && !shut_down);
    t0 = Clock::now();
    CHECK(!q.push_for(4, 30ms, &shut_down) && !shut_down);
    CHECK(Clock::now() - t0 >= 30ms);
    CHECK(q.size() == 3);
    CHECK(q.pop()->as_int() == 1);
    CHECK(q.push(4));
    CHECK(q.pop_for(plexus::forever)->as_string() == "two");
    CHECK(q.pop_for(1s)->as_float() == 3.0);
    CHECK(q.try_pop()->as_int() == 4);

    // LIFO: newest first.
    Queue s = r.queue("stack", 3, PLEXUS_LIFO);
    CHECK(s.push(1) && s.push(2) && s.push(3) && !s.try_push(4));
    CHECK(!s.push_for(4, 10ms));
    CHECK(s.pop()->as_int() == 3);
    CHECK(s.push(5));
    CHECK(s.pop()->as_int() == 5);
    CHECK(s.pop()->as_int() == 2);
    CHECK(s.pop()->as_int() == 1);
    CHECK(!s.try_pop());
}

void test_shutdown(Region &r, const std::string &region_name) {
    for (std::uint32_t flags : {0u, static_cast<std::uint32_t>(PLEXUS_LIFO)}) {
        Queue q = r.queue(flags ? "shutdown-lifo" : "shutdown", 4, flags);
        CHECK(q.push("a value long enough for the heap") && q.push(2));
        q.shutdown();
        CHECK(q.is_shutdown());
        q.shutdown();  // twice is fine
        // Pushes are refused (false, not an exception), whatever the timeout.
        bool shut_down = false;
        CHECK(!q.push(3));
        CHECK(!q.try_push(3, &shut_down) && shut_down);
        shut_down = false;
        CHECK(!q.push_for(3, 1s, &shut_down) && shut_down);
        CHECK(q.size() == 2);
        // Pops drain, then report the shutdown.
        std::optional<Value> first = q.pop();
        std::optional<Value> second = q.try_pop(&shut_down);
        CHECK(first && second && !shut_down);
        CHECK(flags ? first->as_int() == 2 : first->as_string().size() > 8);
        CHECK(!q.pop());
        CHECK(!q.try_pop(&shut_down) && shut_down);
        shut_down = false;
        const auto t0 = Clock::now();
        CHECK(!q.pop_for(10s, &shut_down) && shut_down);
        CHECK(Clock::now() - t0 < 5s);  // at once, not after the timeout
        // Shut down for every opener, for good.
        q.close();
        CHECK(r.queue(flags ? "shutdown-lifo" : "shutdown").is_shutdown());
    }

    // close() gives a handle back and never ends the queue; shutdown() through one region
    // handle ends it for every other handle.
    {
        Region other = Region::open_existing(region_name);
        Queue mine = r.queue("ends", 4);
        Queue theirs = other.queue("ends");
        CHECK(mine.raw().id != theirs.raw().id);  // handles of two region handles
        CHECK(mine.push(1) && mine.push(2));
        mine.close();
        CHECK(!mine);
        CHECK_THROWS(mine.push(0), PLEXUS_E_BAD_HANDLE);
        CHECK(!theirs.is_shutdown() && theirs.size() == 2 && theirs.push(3));
        mine = r.queue("ends");  // opened again by name: values and state kept
        CHECK(mine.size() == 3 && !mine.is_shutdown());
        theirs.shutdown();
        CHECK(mine.is_shutdown() && theirs.is_shutdown());
        bool shut_down = false;
        CHECK(!mine.try_push(4, &shut_down) && shut_down);
        CHECK(mine.pop()->as_int() == 1);
        theirs.close();  // gives back other's handle only
        CHECK(mine.pop()->as_int() == 2 && mine.pop()->as_int() == 3 && !mine.pop());
        CHECK_THROWS(theirs.shutdown(), PLEXUS_E_BAD_HANDLE);
    }

    // Threads blocked in pop() and push() wake when the queue is shut down: pop() gives
    // std::nullopt, push() false.
    for (std::uint32_t flags : {0u, static_cast<std::uint32_t>(PLEXUS_LIFO)}) {
        Queue empty = r.queue(flags ? "empty-lifo" : "empty", 2, flags);
        Queue full = r.queue(flags ? "full-lifo" : "full", 2, flags);
        CHECK(full.push(1) && full.push(2));
        std::atomic<int> woke{0};
        std::vector<std::thread> waiters;
        for (int i = 0; i < 2; ++i) {
            waiters.emplace_back([&] {
                CHECK(!empty.pop());
                ++woke;
            });
            waiters.emplace_back([&] {
                bool shut_down = false;
                CHECK(!full.push_for(3, 20s, &shut_down) && shut_down);
                ++woke;
            });
        }
        std::this_thread::sleep_for(100ms);
        CHECK(woke == 0);
        empty.shutdown();
        full.shutdown();
        for (std::thread &t : waiters) {
            t.join();
        }
        CHECK(woke == 4);
        CHECK(full.size() == 2);  // the blocked pushes stored nothing
    }
}

// Threads of one process: 2 producers x 2 consumers through a queue of 8; every value
// arrives exactly once, and (FIFO) each producer's values in the order it pushed them.
void test_threads(Region &r) {
    constexpr int kProducers = 2, kConsumers = 2, kPerProducer = 10000;
    for (std::uint32_t flags : {0u, static_cast<std::uint32_t>(PLEXUS_LIFO)}) {
        Queue q = r.queue(flags ? "mt-lifo" : "mt", 8, flags);
        std::vector<std::vector<std::int64_t>> got(kConsumers);
        std::vector<std::thread> consumers;
        for (int c = 0; c < kConsumers; ++c) {
            consumers.emplace_back([&, c] {
                while (std::optional<Value> v = q.pop()) {  // until shut down and drained
                    got[c].push_back(v->as_int());
                }
            });
        }
        std::vector<std::thread> producers;
        for (int p = 0; p < kProducers; ++p) {
            producers.emplace_back([&, p] {
                for (int i = 0; i < kPerProducer; ++i) {
                    CHECK(q.push(std::int64_t{p} << 32 | i));
                }
            });
        }
        for (std::thread &t : producers) {
            t.join();
        }
        q.shutdown();
        for (std::thread &t : consumers) {
            t.join();
        }
        std::vector<std::int64_t> all;
        for (const auto &g : got) {
            if (!flags) {
                std::vector<std::int64_t> last(kProducers, -1);
                for (std::int64_t v : g) {
                    const auto p = static_cast<std::size_t>(v >> 32);
                    CHECK(p < last.size() && (v & 0xffffffff) > last[p]);
                    if (p < last.size()) {
                        last[p] = v & 0xffffffff;
                    }
                }
            }
            all.insert(all.end(), g.begin(), g.end());
        }
        std::sort(all.begin(), all.end());
        std::vector<std::int64_t> want;
        for (int p = 0; p < kProducers; ++p) {
            for (int i = 0; i < kPerProducer; ++i) {
                want.push_back(std::int64_t{p} << 32 | i);
            }
        }
        CHECK(all == want);
    }
}

void test_errors_and_ownership(Region &r, const std::string &region_name) {
    CHECK_THROWS(r.queue("absent"), PLEXUS_E_NOT_FOUND);
    Queue q = r.queue("q", 4);
    CHECK_THROWS(r.queue("q", 5), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.queue("q", 4, PLEXUS_LIFO), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.queue("q", 4, PLEXUS_EXCLUSIVE), PLEXUS_E_EXISTS);
    CHECK_THROWS(r.queue("flags", 4, PLEXUS_FULL), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(r.queue("", 4), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(r.queue("huge", UINT64_MAX), PLEXUS_E_NO_SPACE);
    r.array("arr", 1);
    CHECK_THROWS(r.queue("arr", 1), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(r.map("q", 4), PLEXUS_E_TYPE_MISMATCH);
    // Rejected values throw (they are not "full"), from every kind of push.
    CHECK_THROWS(q.push("\xff bad UTF-8"), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(q.try_push("\xff bad UTF-8"), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(q.push_for(Value::object_msgpack({0xc1}), 1ms), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(q.push(std::string(16 << 20, 'h')), PLEXUS_E_NO_SPACE);
    CHECK(q.size() == 0);

    // Two Queues opened through one Region share a handle; each close() undoes one open.
    Queue q2 = Queue::open(r, "q");
    CHECK(q2.raw().id == q.raw().id);
    q2.close();
    CHECK(!q2);
    q2.close();  // an empty Queue: nothing to do
    CHECK(q.push(1));
    CHECK_THROWS(q2.size(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(q2.push(1), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(q2.try_pop(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(q2.pop(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(q2.shutdown(), PLEXUS_E_BAD_HANDLE);

    // Moves.
    Queue moved = std::move(q);
    CHECK(!q && moved);
    CHECK_THROWS(q.size(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(q.is_shutdown(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(q.capacity(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(q.pop_for(1ms), PLEXUS_E_BAD_HANDLE);
    q = std::move(moved);
    CHECK(q && !moved && q.size() == 1);
    Queue empty;
    CHECK(!empty);
    CHECK_THROWS(empty.push_for(1, 1ms), PLEXUS_E_BAD_HANDLE);

    // A Queue outlives its Region only as an empty shell: calls throw BAD_HANDLE, the
    // destructor is quiet; the queue itself stays in the region.
    {
        Region r2 = Region::open(region_name);
        Queue through_r2 = r2.queue("q");
        CHECK(through_r2.try_pop()->as_int() == 1);
        CHECK(through_r2.push(2));
        r2.close();
        CHECK_THROWS(through_r2.size(), PLEXUS_E_BAD_HANDLE);
    }
    CHECK(q.pop()->as_int() == 2);
}

}  // namespace

/// push_many / pop_many: every type, partial batches, timeouts, shutdown, a batch
/// larger than the queue across threads, and bad input.
void test_batches(Region &r) {
    const std::vector<Value> values = every_type();
    for (std::uint32_t flags : {0u, static_cast<std::uint32_t>(PLEXUS_LIFO)}) {
        Queue q = r.queue(flags ? "batch-lifo" : "batch", 32, flags);
        CHECK(q.push_many(values) == values.size());
        CHECK(q.size() == values.size());
        std::vector<Value> got;
        while (got.size() < values.size()) {
            std::vector<Value> some = q.pop_many(5, 0ms);
            CHECK(!some.empty() && some.size() <= 5);
            for (Value &v : some) {
                got.push_back(std::move(v));
            }
        }
        for (std::size_t k = 0; k < values.size(); ++k) {
            CHECK(got[k] == values[flags ? values.size() - 1 - k : k]);
        }
        bool shut_down = true;
        CHECK(q.pop_many(5, 0ms, &shut_down).empty() && !shut_down);
        auto t0 = Clock::now();
        CHECK(q.pop_many(5, 30ms).empty());
        CHECK(Clock::now() - t0 >= 30ms);

        // Partial: room for 4 of 10 in a queue of 4 (a std::array, then a C array).
        Queue small = r.queue(flags ? "batch-small-lifo" : "batch-small", 4, flags);
        std::array<Value, 10> ten = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        shut_down = true;
        CHECK(small.push_many(ten, 0ms, &shut_down) == 4 && !shut_down);
        t0 = Clock::now();
        CHECK(small.push_many(ten.data() + 4, 6, 30ms) == 0);
        CHECK(Clock::now() - t0 >= 30ms);
        std::vector<Value> four = small.pop_many(100);
        CHECK(four.size() == 4);
        CHECK(four.front().as_int() == (flags ? 3 : 0));
        Value two[2] = {Value("x"), Value(2.5)};
        CHECK(small.push_many(two) == 2);
        CHECK(small.push_many(std::vector<Value>{}) == 0);
        CHECK_THROWS(small.pop_many(0), PLEXUS_E_INVALID_ARGUMENT);
        const std::vector<Value> bad = {Value(1), Value(std::string("\xc3\x28"))};
        CHECK_THROWS(small.push_many(bad), PLEXUS_E_INVALID_ARGUMENT);
        CHECK(small.size() == 2);

        // Shut down: nothing goes in (count 0, *shut_down), pops drain then report it.
        small.shutdown();
        shut_down = false;
        CHECK(small.push_many(ten, 1s, &shut_down) == 0 && shut_down);
        CHECK(small.pop_many(10, 0ms, &shut_down).size() == 2 && !shut_down);
        CHECK(small.pop_many(10, plexus::forever, &shut_down).empty() && shut_down);

        // A batch of 100 through a queue of 4, popped in batches by another thread.
        Queue tiny = r.queue(flags ? "batch-tiny-lifo" : "batch-tiny", 4, flags);
        std::vector<Value> hundred;
        for (int i = 0; i < 100; ++i) {
            hundred.emplace_back(i);
        }
        std::vector<std::int64_t> popped;
        std::thread consumer([&] {
            while (popped.size() < 100) {
                for (const Value &v : tiny.pop_many(7, 10s)) {
                    popped.push_back(v.as_int());
                }
            }
        });
        CHECK(tiny.push_many(hundred, 10s) == 100);
        consumer.join();
        CHECK(popped.size() == 100);
        if (!flags) {
            CHECK(std::is_sorted(popped.begin(), popped.end()));
        }
        std::sort(popped.begin(), popped.end());
        CHECK(std::adjacent_find(popped.begin(), popped.end()) == popped.end());
    }
}

/// push_many_cancellable: a batch waiting for room keeps its place; storing 1 in the
/// cancel word ends the wait with the first values in (the count says how many).
void test_cancellable_batches(Region &r) {
    Queue q = r.queue("batch-cancel", 4);
    std::array<Value, 10> ten = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::atomic<std::uint32_t> cancel{0};
    std::size_t pushed = 999;
    std::thread pusher([&] { pushed = q.push_many_cancellable(ten, cancel); });
    while (q.size() < 4) std::this_thread::sleep_for(1ms);
    std::vector<Value> first = q.pop_many(2);
    CHECK(first.size() == 2 && first[0].as_int() == 0 && first[1].as_int() == 1);
    while (q.size() < 4) std::this_thread::sleep_for(1ms);
    cancel.store(1);
    pusher.join();
    CHECK(pushed == 6);
    std::vector<Value> rest = q.pop_many(10, 0ms);
    CHECK(rest.size() == 4);
    for (std::size_t k = 0; k < rest.size(); ++k) {
        CHECK(rest[k].as_int() == static_cast<std::int64_t>(k + 2));
    }

    // A batch that fits does not wait, and does not look at the word.
    CHECK(q.push_many_cancellable_for(ten.data(), 3, cancel, 0ms) == 3);
    CHECK(q.pop_many(10, 0ms).size() == 3);

    // Not cancelled: all of it goes in while another thread pops, in order.
    cancel.store(0);
    std::vector<std::int64_t> popped;
    std::thread consumer([&] {
        while (popped.size() < ten.size()) {
            for (const Value &v : q.pop_many(3, 10s)) {
                popped.push_back(v.as_int());
            }
        }
    });
    bool shut_down = true;
    CHECK(q.push_many_cancellable_for(ten, cancel, 10s, &shut_down) == ten.size() && !shut_down);
    consumer.join();
    CHECK(popped.size() == ten.size() && std::is_sorted(popped.begin(), popped.end()));

    // Shut down: nothing goes in, `*shut_down` says why.
    q.shutdown();
    CHECK(q.push_many_cancellable(ten.data(), ten.size(), cancel, &shut_down) == 0 && shut_down);
}

int main() {
    const std::string name = "cppqueue-" + std::to_string(getpid());
    try {
        RegionCleanup cleanup{name};
        Region r = Region::create(name, 8 << 20);
        test_values_and_order(r);
        test_shutdown(r, name);
        test_threads(r);
        test_batches(r);
        test_cancellable_batches(r);
        test_errors_and_ownership(r, name);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++failures;
    }
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp_queue: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_queue: OK\n");
    return 0;
}
