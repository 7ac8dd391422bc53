// producer <region> <count>
//
// The C++ producer of the producer/consumer pair: the same protocol as
// examples-c/producer.c (read that for the details), so it works with either consumer.
// Creates the region and the 8-slot ring "queue", sends INT 0 .. count-1 and then the
// STRING "end", each with write_ef into slot i % 8 (waits until the slot is EMPTY).
//
// Exit status: 0 when every item was handed over, 1 on an error or a 30 s wait, 2 on
// bad usage.

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
    if (argc != 3 || parse_count(argv[2]) < 0) {
        std::cerr << "usage: producer <region> <count>" << std::endl;
        return 2;
    }
    const std::string name = argv[1];
    const std::int64_t count = parse_count(argv[2]);
    constexpr std::int64_t slots = 8;
    try {
        // A new 1 MiB region (PLEXUS_E_EXISTS if a leftover has that name).
        plexus::Region region = plexus::Region::create(name, 1 << 20);
        plexus::Array queue = region.array("queue", slots);  // the consumer waits for it

        for (std::int64_t i = 0; i <= count; ++i) {
            const plexus::Value item = i < count ? plexus::Value(i) : plexus::Value("end");
            if (!queue.write_ef_for(i % slots, item, 30s)) {
                std::cerr << "producer: slot " << i % slots
                          << " stayed FULL for 30 s: is a consumer running?" << std::endl;
                return 1;
            }
        }
        std::cout << "producer: sent " << count << " items and \"end\" through region \"" << name
                  << "\"" << std::endl;
    } catch (const plexus::Error &e) {  // every failure, with its status and message
        std::cerr << "producer: " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
