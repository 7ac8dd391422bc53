// consumer <region> <count>
//
// The C++ consumer of the producer/consumer pair (protocol: examples-c/producer.c). It
// may start first: it waits up to 10 s for the region to appear and up to 10 s for the
// array "queue", then takes items with read_fe, checks that item i is INT i, in order,
// and that exactly <count> items come before "end", and removes the region.
//
// Exit status: 0 when every item arrived in order, 1 otherwise (the reason on stderr),
// 2 on bad usage.

#include <plexus.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
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
    if (argc != 3 || parse_count(argv[2]) < 0) {
        std::cerr << "usage: consumer <region> <count>" << std::endl;
        return 2;
    }
    const std::string name = argv[1];
    const std::int64_t count = parse_count(argv[2]);
    constexpr std::int64_t slots = 8;
    try {
        // Never create the region (that is the producer's job), but wait for it.
        plexus::Region region = plexus::Region::open_existing(name, 10s);
        if (!region.wait_object_for("queue", 10s)) {
            std::cerr << "consumer: no array \"queue\" in region \"" << name << "\" after 10 s"
                      << std::endl;
            return 1;
        }
        plexus::Array queue = region.array("queue");  // length 0: existing only

        std::int64_t sum = 0;
        for (std::int64_t i = 0; i <= count; ++i) {
            const std::optional<plexus::Value> item = queue.read_fe_for(i % slots, 30s);
            if (!item) {
                std::cerr << "consumer: nothing in slot " << i % slots << " for 30 s" << std::endl;
                return 1;
            }
            const plexus::Value expected = i < count ? plexus::Value(i) : plexus::Value("end");
            if (*item != expected) {
                std::cerr << "consumer: item " << i << ": expected " << expected.to_json()
                          << ", received " << plexus::type_name(item->type()) << " "
                          << item->to_json() << std::endl;
                return 1;
            }
            if (i < count) {
                sum += item->as_int();
            }
        }
        std::cout << "consumer: received " << count << " items in order (sum " << sum
                  << "), then \"end\"" << std::endl;
        region.close();
        plexus::Region::remove(name);  // the pair is done with it
    } catch (const plexus::Error &e) {
        std::cerr << "consumer: " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
