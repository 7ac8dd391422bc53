// Tests of plexus::Mutex, plexus::Barrier and plexus::Semaphore in include/plexus.hpp.
// A standalone program like test_cpp_map.cpp; uses the region "cpplocks-<pid>" and
// removes it at the end.

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
using plexus::Barrier;
using plexus::Mutex;
using plexus::Region;
using plexus::Semaphore;

namespace {


template <class T> constexpr bool move_only_owner_v =
    !std::is_copy_constructible_v<T> && std::is_nothrow_move_constructible_v<T> &&
    std::is_nothrow_move_assignable_v<T> && std::is_nothrow_destructible_v<T>;
static_assert(move_only_owner_v<Mutex>, "Mutex is a move-only owner");
static_assert(move_only_owner_v<Barrier>, "Barrier is a move-only owner");
static_assert(move_only_owner_v<Semaphore>, "Semaphore is a move-only owner");

struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        try {
            Region::try_remove(name);
        } catch (...) {
        }
    }
};

void test_mutex(const Region &r, const std::string &name) {
    Mutex m = Mutex::open(r, "m");
    CHECK(static_cast<bool>(m));
    CHECK(!m.is_locked());

    // std::lock_guard and std::unique_lock.
    {
        std::lock_guard<Mutex> guard(m);
        CHECK(m.is_locked());
        CHECK(!m.owner_died());
        CHECK_THROWS(m.lock(), PLEXUS_E_INVALID_ARGUMENT);  // not recursive
    }
    CHECK(!m.is_locked());
    {
        std::unique_lock<Mutex> lock(m, std::try_to_lock);
        CHECK(lock.owns_lock());
        lock.unlock();
        CHECK(lock.try_lock_for(10ms));
        lock.unlock();
        CHECK(lock.try_lock_until(std::chrono::steady_clock::now() + 10ms));
    }
    CHECK(!m.is_locked());
    CHECK_THROWS(m.unlock(), PLEXUS_E_INVALID_ARGUMENT);  // not held

    // Another thread: cannot take it or unlock it while this one holds it; gets it
    // after.
    m.lock();
    std::thread other([&] {
        CHECK(!m.try_lock());
        CHECK(!m.try_lock_for(20ms));
        CHECK_THROWS(m.unlock(), PLEXUS_E_INVALID_ARGUMENT);
    });
    other.join();
    std::atomic<bool> got{false};
    std::thread waiter([&] {
        std::unique_lock<Mutex> lock(m);
        got = true;
    });
    std::this_thread::sleep_for(20ms);
    CHECK(!got);
    m.unlock();
    waiter.join();
    CHECK(got);

    // Mutual exclusion with lock_guard from several threads.
    long counter = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) {
                std::lock_guard<Mutex> guard(m);
                ++counter;
            }
        });
    }
    for (auto &t : threads) {
        t.join();
    }
    CHECK(counter == 40000);

    // OWNER_DEAD: the holder's region handle goes away while it holds the mutex. lock()
    // succeeds and owner_died() says so; the next lock is clean again.
    {
        Region r2 = Region::open_existing(name);
        Mutex m2 = Mutex::open(r2, "m");
        CHECK(m2.lock_status(0ms) == PLEXUS_OK);
        CHECK(m.lock_status(0ms) == PLEXUS_TIMEOUT);
    }
    {
        std::lock_guard<Mutex> guard(m);
        CHECK(m.owner_died());
    }
    m.lock();
    CHECK(!m.owner_died());
    m.unlock();
    {
        Region r2 = Region::open_existing(name);
        Mutex m2 = Mutex::open(r2, "m");
        m2.lock();
    }
    CHECK(m.lock_status(5s) == PLEXUS_OWNER_DEAD);
    CHECK(m.owner_died());
    m.unlock();

    // Moves, close, empty.
    Mutex moved(std::move(m));
    CHECK(!m && moved);
    CHECK_THROWS(m.lock(), PLEXUS_E_BAD_HANDLE);
    moved.close();
    CHECK(!moved);
    CHECK_THROWS(moved.try_lock(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(Mutex::open(r, ""), PLEXUS_E_INVALID_ARGUMENT);
}

void test_barrier(const Region &r) {
    CHECK_THROWS(Barrier::open(r, "b"), PLEXUS_E_NOT_FOUND);
    Barrier b = Barrier::open(r, "b", 3);
    CHECK(b.parties() == 3);
    CHECK(Barrier::open(r, "b").parties() == 3);
    CHECK_THROWS(Barrier::open(r, "b", 2), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(Mutex::open(r, "b"), PLEXUS_E_TYPE_MISMATCH);

    // Timeouts withdraw the arrival.
    CHECK(!b.wait_for(20ms));
    CHECK(!b.wait_for(0ms));
    CHECK(!b.wait_last_for(20ms).has_value());

    // Three threads, 300 rounds with wait_last, then 100 with wait / wait_for /
    // wait_last: nobody passes round k before all arrived at it, and exactly one party
    // per round is the last.
    std::atomic<long> progress[3];
    std::atomic<int> lasts{0};
    for (auto &p : progress) {
        p = 0;
    }
    std::vector<std::thread> threads;
    for (int p = 0; p < 3; ++p) {
        threads.emplace_back([&, p] {
            for (long round = 1; round <= 400; ++round) {
                progress[p] = round;
                if (round <= 300 || p == 2) {
                    if (b.wait_last() && round <= 300) {
                        ++lasts;
                    }
                } else if (p == 1) {
                    const bool passed = b.wait_for(10s);
                    CHECK(passed);
                } else if (round % 2 == 0) {
                    b.wait();
                } else {
                    CHECK(b.wait_last_for(10s).has_value());
                }
                for (auto &q : progress) {
                    const long seen = q;
                    CHECK(seen == round || seen == round + 1);
                }
            }
        });
    }
    for (auto &t : threads) {
        t.join();
    }
    CHECK(lasts == 300);

    Barrier moved = std::move(b);
    CHECK(!b && moved);
    CHECK_THROWS(b.wait(), PLEXUS_E_BAD_HANDLE);
    Barrier solo = Barrier::open(r, "solo", 1);
    CHECK(solo.wait_last());
    CHECK(solo.wait_for(0ms));
    CHECK(solo.wait_last_for(0ms) == std::optional<bool>(true));
}

void test_semaphore(const Region &r, const std::string &name) {
    CHECK_THROWS(Semaphore::open(r, "s"), PLEXUS_E_NOT_FOUND);
    Semaphore s = Semaphore::open(r, "s", 2);
    CHECK(s.permits() == 2 && s.available() == 2 && s.held() == 0);
    CHECK_THROWS(Semaphore::open(r, "s", 3), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(s.release(), PLEXUS_E_INVALID_ARGUMENT);  // holds none

    // Count limits.
    s.acquire();
    CHECK(s.try_acquire());
    CHECK(!s.try_acquire());
    CHECK(!s.acquire_for(20ms));
    CHECK(!s.try_acquire_for(1ms));
    CHECK(s.available() == 0 && s.held() == 2);

    // A waiter in another thread is woken by a release.
    std::atomic<bool> got{false};
    std::thread waiter([&] {
        CHECK(s.acquire_for(10s));
        got = true;
    });
    std::this_thread::sleep_for(20ms);
    CHECK(!got);
    s.release();
    waiter.join();
    CHECK(got);
    s.release();
    s.release();
    CHECK_THROWS(s.release(), PLEXUS_E_INVALID_ARGUMENT);
    CHECK(s.available() == 2);

    // At most `permits` threads inside at once.
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 5; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 500; ++i) {
                s.acquire();
                const int now = ++inside;
                int seen = most;
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                --inside;
                s.release();
            }
        });
    }
    for (auto &t : threads) {
        t.join();
    }
    CHECK(most <= 2 && most >= 1);

    // Permits of a region handle that goes away come back.
    {
        Region r2 = Region::open_existing(name);
        Semaphore s2 = Semaphore::open(r2, "s");
        s2.acquire();
        s2.acquire();
        CHECK(!s.try_acquire());
    }
    CHECK(s.try_acquire());
    s.release();

    Semaphore moved(std::move(s));
    CHECK(!s && moved);
    CHECK_THROWS(s.acquire(), PLEXUS_E_BAD_HANDLE);
    moved.close();
    CHECK_THROWS(moved.available(), PLEXUS_E_BAD_HANDLE);
}

}  // namespace

int main() {
    const std::string name = "cpplocks-" + std::to_string(getpid());
    try {
        RegionCleanup cleanup{name};
        Region r = Region::create(name, 1 << 20);
        test_mutex(r, name);
        test_barrier(r);
        test_semaphore(r, name);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++failures;
    }
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp_locks: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_locks: OK\n");
    return 0;
}
