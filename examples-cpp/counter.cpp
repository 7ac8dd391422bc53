// counter <region> <processes> <increments>
//
// Start <processes> copies at once: each adds 1 to one shared element <increments> times
// with Array::faa (atomic fetch-and-add in shared memory, no lock), waits for the others
// and checks that the total is exactly processes * increments. Same protocol as
// examples-c/counter.c, so C and C++ copies can count together:
//
//   for i in 1 2 3 4; do ./counter count 4 100000 & done; wait
//
// Array "counter": [0] the count, [1] how many processes have finished. Both start
// UNDEFINED, which faa treats as 0, so nobody initialises them; the last process to
// finish removes the region.
//
// Exit status: 0 when the total is right, 1 otherwise, 2 on bad usage.

#include <plexus.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

using namespace std::chrono_literals;

namespace {

/// The non-negative integer in `text`, or -1 if it is not one.
std::int64_t parse_count(const char *text) {
    try {
        std::size_t used = 0;
        const long long n = std::stoll(text, &used);
        return used == std::string(text).size() && n >= 0 ? n : -1;
    } catch (const std::exception &) {
        return -1;
    }
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4 || parse_count(argv[2]) < 1 || parse_count(argv[3]) < 1) {
        std::cerr << "usage: counter <region> <processes> <increments>" << std::endl;
        return 2;
    }
    const std::string name = argv[1];
    const std::int64_t processes = parse_count(argv[2]);
    const std::int64_t increments = parse_count(argv[3]);
    try {
        plexus::RegionOptions options;  // open or create
        options.size = 1 << 20;
        plexus::Region region = plexus::Region::open(name, options);
        plexus::Array counter = region.array("counter", 2);  // created by the first

        for (std::int64_t i = 0; i < increments; ++i) {
            (void)counter.faa(0, 1);  // counter[0] += 1, atomically
        }
        (void)counter.faa(1, 1);  // one more process finished counting

        // Wait (sleeping) until every process has finished: watch counter[1]'s version.
        for (;;) {
            std::uint64_t version = counter.version(1);
            const plexus::Value done = counter.read(1);
            if (done.as_int() >= processes) {
                break;
            }
            if (!counter.wait_change_for(1, version, 30s)) {
                std::cerr << "counter: only " << done.as_int() << " of " << processes
                          << " processes finished within 30 s" << std::endl;
                return 1;
            }
        }

        const plexus::Value total = counter.read(0);
        const std::int64_t expected = processes * increments;
        const bool ok = total == plexus::Value(expected);
        std::cout << "counter: total " << total.to_json() << ", expected " << expected << " ("
                  << processes << " processes x " << increments << "): " << (ok ? "OK" : "WRONG")
                  << std::endl;
        // The last one to have read the total removes the region (a removal is seen by
        // every process still using it: removing it earlier would end the others' reads).
        const bool last = counter.faa(1, 1) == plexus::Value(2 * processes - 1);
        region.close();
        if (last) {
            plexus::Region::try_remove(name);
        }
        return ok ? 0 : 1;
    } catch (const plexus::Error &e) {
        std::cerr << "counter: " << e.what() << std::endl;
        return 1;
    }
}
