// handshake_reader <region-name> <count>
//
// The C++ side of the cross-language handshake test. Opens an existing region (waiting
// up to 10 s for it to appear), waits up to 10 s for the array "handshake", then
// consumes `count` messages from element 0 with read_fe. Message i must be INT i when
// i % 3 != 2 and the STRING "msg-<i>" when i % 3 == 2.
//
// Exit status: 0 after printing "handshake_reader: OK <count>"; 1 on a timeout, a wrong
// value or type, or any plexus error (with a message on stderr naming i and what was
// received); 2 on bad usage. The region is left in place: the writer removes it.

#include <plexus.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

using namespace std::chrono_literals;

namespace {

/// "INT 5", "STRING \"msg-2\"": a value's type and JSON, for messages.
std::string describe(const plexus::Value &v) {
    std::string json;
    try {
        json = v.to_json();
    } catch (const plexus::Error &e) {
        json = std::string("<not representable as JSON: ") + e.what() + ">";
    }
    return std::string(plexus::type_name(v.type())) + " " + json;
}

bool parse_count(const char *text, std::uint64_t &out) {
    if (text == nullptr || *text == '\0' || *text == '-') {
        return false;
    }
    char *end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(text, &end, 10);
    if (errno != 0 || end == nullptr || *end != '\0') {
        return false;
    }
    out = n;
    return true;
}

}  // namespace

int main(int argc, char **argv) {
    std::uint64_t count = 0;
    if (argc != 3 || !parse_count(argv[2], count)) {
        std::cerr << "usage: handshake_reader <region-name> <count>" << std::endl;
        return 2;
    }
    const std::string name = argv[1];

    try {
        plexus::RegionOptions options;
        options.mode = PLEXUS_OPEN;
        options.wait = 10s;
        plexus::Region region = plexus::Region::open(name, options);

        if (!region.wait_object_for("handshake", 10s)) {
            std::cerr << "handshake_reader: array \"handshake\" did not appear in region \""
                      << name << "\" within 10 s" << std::endl;
            return 1;
        }
        plexus::Array handshake = region.array("handshake");  // length 0: existing only

        for (std::uint64_t i = 0; i < count; ++i) {
            const std::optional<plexus::Value> got = handshake.read_fe_for(0, 10s);
            if (!got) {
                std::cerr << "handshake_reader: message " << i
                          << ": timed out after 10 s (received nothing)" << std::endl;
                return 1;
            }
            const plexus::Value expected =
                (i % 3 != 2) ? plexus::Value(i) : plexus::Value("msg-" + std::to_string(i));
            if (got->type() != expected.type() || *got != expected) {
                std::cerr << "handshake_reader: message " << i << ": expected "
                          << describe(expected) << ", received " << describe(*got)
                          << std::endl;
                return 1;
            }
        }
    } catch (const plexus::Error &e) {
        std::cerr << "handshake_reader: " << e.what() << std::endl;
        return 1;
    } catch (const std::exception &e) {
        std::cerr << "handshake_reader: unexpected error: " << e.what() << std::endl;
        return 1;
    }

    std::cout << "handshake_reader: OK " << count << std::endl;
    return 0;
}
