// Tests of plexus::TypedArray in include/plexus.hpp: open rules, view() in place,
// RAII block guards (write_block / read_block and their _for forms), copies, atomics,
// wait / notify. Uses the region "cpptarray-<pid>" and removes it at the end.
//
// Also the producer of the cross-language hand-off tests (tests/ffi.rs):
//   test_cpp_tarray writer REGION NAME BLOCKS   writes BLOCKS blocks through the ring of
//       the existing f64 typed array NAME, block i holding i * block_len + k at k.

#include <plexus.hpp>

#include "cpp_checks.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

using namespace std::chrono_literals;
using plexus::Region;
using plexus::TypedArray;

namespace {

static_assert(!std::is_copy_constructible_v<TypedArray<double>>, "move-only");
static_assert(std::is_nothrow_move_constructible_v<TypedArray<double>>, "moves");
static_assert(TypedArray<float>::dtype == PLEXUS_DTYPE_F32, "dtype of float");
static_assert(TypedArray<std::uint16_t>::dtype == PLEXUS_DTYPE_U16, "dtype of u16");

struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        if (!name.empty()) (void)plexus_region_remove(name.c_str());
    }
};

void test_open_and_view(const Region &r) {
    auto a = r.tarray<double>("frames", 40, 10);
    CHECK(a.size() == 40 && a.block_len() == 10 && a.blocks() == 4);
    auto again = TypedArray<double>::open(r, "frames");
    CHECK(again.raw().id == a.raw().id);
    CHECK_THROWS(r.tarray<float>("frames"), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.tarray<double>("frames", 41, 10), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.tarray<double>("absent"), PLEXUS_E_NOT_FOUND);
    plexus::View<double> v = a.view();
    CHECK(v.size() == 40 && reinterpret_cast<std::uintptr_t>(v.data()) % 64 == 0);
    for (double x : v) CHECK(x == 0.0);
    v[5] = 2.5;
    CHECK(a.read(5, 1)[0] == 2.5);
    a.write(0, std::vector<double>{1, 2, 3});
    CHECK(v[2] == 3.0);
#if __cplusplus >= 202002L && __has_include(<span>)
    std::span<double> s = v;
    CHECK(s.size() == 40);
#endif
    TypedArray<double> empty;
    CHECK(!empty);
    CHECK_THROWS(empty.view(), PLEXUS_E_BAD_HANDLE);
}

void test_blocks(const Region &r) {
    auto a = r.tarray<std::int32_t>("ring", 12, 4);
    CHECK(!a.read_block_for(0, 0ms));
    {
        auto w = a.write_block(1);
        CHECK(w.view().size() == 4 && w.index() == 1);
        for (std::size_t k = 0; k < 4; k++) w.view()[k] = static_cast<std::int32_t>(10 + k);
        CHECK(!a.is_full(1));
    }  // end_write
    CHECK(a.is_full(1));
    CHECK(!a.write_block_for(1, 1ms));
    {
        auto rd = a.read_block_for(1, 1s);
        CHECK(rd.has_value());
        CHECK(rd->view()[3] == 13);
        rd->end();
        rd->end();  // ended already: nothing more
    }
    CHECK(!a.is_full(1));
    // Moved guards end once.
    {
        auto w = a.write_block(2);
        auto w2 = std::move(w);
        w2.view()[0] = 7;
    }
    CHECK(a.is_full(2));
    std::int32_t out[4] = {0, 0, 0, 0};
    CHECK(a.copy_out_block(2, out, 1s));
    CHECK(out[0] == 7);
    CHECK(!a.copy_out_block(2, out, 0ms));
    const std::int32_t in[4] = {1, 2, 3, 4};
    CHECK(a.copy_in_block(0, in));
    CHECK(!a.copy_in_block(0, in, 0ms));
    CHECK(a.copy_out_block(0, out, 1s));  // every block EMPTY again
    CHECK(out[3] == 4);
    CHECK_THROWS(a.write_block(3), PLEXUS_E_OUT_OF_RANGE);

    // A thread hands 200 blocks through the ring of 3 to this one.
    std::thread writer([&a] {
        for (int i = 0; i < 200; i++) {
            auto w = a.write_block(static_cast<std::uint64_t>((i + 1) % 3));
            for (auto &x : w.view()) x = i;
        }
    });
    for (int i = 0; i < 200; i++) {
        auto rd = a.read_block(static_cast<std::uint64_t>((i + 1) % 3));
        for (auto x : rd.view()) CHECK(x == i);
    }
    writer.join();
}

void test_atomics(const Region &r) {
    auto c = r.tarray<std::uint32_t>("counters", 4);
    CHECK(c.load(0) == 0u);
    c.store(0, 41);
    CHECK(c.faa(0, 1) == 41u);
    CHECK(c.cas(0, 42, 50) == 42u);
    CHECK(c.cas(0, 42, 60) == 50u);
    CHECK(c.faa(1, static_cast<std::uint32_t>(-1)) == 0u);  // wraps
    CHECK(c.load(1) == 4294967295u);
    CHECK(!c.wait_for(0, 50u, 10ms));
    CHECK(c.wait_for(0, 49u, 10ms));
    CHECK(c.notify(0) == 0u);
    auto big = r.tarray<std::int64_t>("big", 2);
    std::atomic<bool> done{false};
    std::thread sleeper([&big, &done] {
        big.wait(0, 0);
        done = true;
    });
    big.store(0, 1LL << 40);
    // (A sleeper that had not slept yet sees the new value and returns by itself.)
    while (!done && big.notify(0, 1) == 0) std::this_thread::sleep_for(2ms);
    sleeper.join();
    CHECK(big.load(0) == (1LL << 40));
    auto f = r.tarray<float>("floats", 2);
    CHECK(f.size() == 2);  // (load() on a float array does not compile)
}

int writer(const char *region, const char *name, long blocks) {
    Region r = Region::open_existing(region);
    auto a = r.tarray<double>(name);
    const std::uint64_t ring = a.blocks(), bl = a.block_len();
    for (long i = 0; i < blocks; i++) {
        auto w = a.write_block(static_cast<std::uint64_t>(i) % ring);
        double *p = w.view().data();
        for (std::uint64_t k = 0; k < bl; k++) p[k] = static_cast<double>(i) * bl + k;
    }
    std::printf("wrote %ld\n", blocks);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    alarm(120);
    if (argc == 5 && !std::strcmp(argv[1], "writer")) return writer(argv[2], argv[3], std::atol(argv[4]));
    const std::string name = "cpptarray-" + std::to_string(getpid());
    RegionCleanup cleanup{name};
    try {
        Region r = Region::create(name, 8 << 20);
        test_open_and_view(r);
        test_blocks(r);
        test_atomics(r);
    } catch (const plexus::Error &e) {
        std::fprintf(stderr, "unexpected plexus::Error: %s\n", e.what());
        return 1;
    }
    if (failures) {
        std::fprintf(stderr, "test_cpp_tarray: %d failure(s)\n", failures);
        return 1;
    }
    std::printf("test_cpp_tarray: OK\n");
    return 0;
}
