// The C++ participant of the cross-language demo (./demo.sh; see demo.c for the plan).
//
//   demo_cpp REGION IDS        e.g. demo_cpp plexus-demo-42 c,cpp,python,node
//
// Opens the region the C process creates (waiting for it), and besides the steps every
// participant takes (greeting, barrier, shared counter) runs a background updater
// thread: it adds 1 to "ticks" every millisecond until it reads the stop marker
// control == "stop" (written by the C process), then acknowledges with
// write_ef("ack"). After Python has edited the nested "config" object, it prints it.
// REGION may be redis://host:port/NAME (./demo.sh --redis); a password is never printed.
// Every line starts with "[C++]". Exit status 0 on success, 1 on any failure.

#include <plexus.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kIncrements = 10000;
// Generous limits: over the network (./demo.sh --redis) every call is a round trip.
constexpr auto kWait = 60s;
constexpr auto kBarrierWait = 120s;

// `name` as it may be printed: a remote name's password replaced by "***".
std::string shown(const std::string &name) {
    const std::size_t scheme = name.find("://");
    if (scheme == std::string::npos) return name;
    const std::size_t host = scheme + 3;
    const std::size_t end = std::min(name.find('/', host), name.size());
    const std::size_t at = name.rfind('@', end == 0 ? 0 : end - 1);  // the authority's last '@'
    if (at == std::string::npos || at < host) return name;
    const std::size_t colon = name.find(':', host);
    const std::string user = colon < at ? name.substr(host, colon - host) + ":" : "";
    return name.substr(0, host) + user + "***" + name.substr(at);
}

void say(const std::string &line) { std::cout << "[C++]    " << line << std::endl; }

struct Meet {
    plexus::Barrier barrier;
    int round = 0;
    std::size_t parties = 0;

    // Waits at the barrier (kBarrierWait at most); whoever arrives last in a round says so.
    void wait() {
        ++round;
        const std::optional<bool> last = barrier.wait_last_for(kBarrierWait);
        if (!last) {
            throw std::runtime_error("barrier round " + std::to_string(round) +
                                     ": the others did not arrive within " +
                                     std::to_string(kBarrierWait.count()) + " s");
        }
        if (*last) {
            say("barrier 'meet' round " + std::to_string(round) + ": all " +
                std::to_string(parties) + " processes arrived (C++ was last)");
        }
    }
};

int run(const std::string &name, const std::vector<std::string> &ids) {
    std::size_t me = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] == "cpp") me = i;
    }
    const std::string right = ids[(me + 1) % ids.size()];

    plexus::RegionOptions options;
    options.mode = PLEXUS_OPEN;
    options.wait = kWait;  // the C process creates it
    plexus::Region region = plexus::Region::open(name, options);
    if (!region.wait_object_for("meet", kWait)) {
        throw std::runtime_error("the barrier 'meet' did not appear in time");
    }
    plexus::Map map = plexus::Map::open(region, "demo");
    Meet meet{plexus::Barrier::open(region, "meet"), 0, ids.size()};

    // The background updater: ticks until the stop marker appears.
    std::atomic<bool> updater_ok{false};
    std::thread updater([&map, &updater_ok] {
        try {
            std::int64_t ticks = 0;
            while (map.read("control") != plexus::Value("stop")) {
                map.faa("ticks", 1);
                ++ticks;
                std::this_thread::sleep_for(1ms);
            }
            say("background updater: read control == \"stop\" after " +
                std::to_string(ticks) + " ticks; acknowledging");
            updater_ok = map.write_ef_for(
                "ack", "C++ updater stopped after " + std::to_string(ticks) + " ticks", kWait);
        } catch (const std::exception &e) {
            std::cerr << "[C++]    background updater failed: " << e.what() << std::endl;
        }
    });
    // On an early failure the thread is left running; the process exits anyway.
    struct Detach {
        std::thread &t;
        ~Detach() {
            if (t.joinable()) t.detach();
        }
    } detach{updater};
    say("opened region '" + shown(name) + "'; background updater thread started (faa ticks +1 every ms)");

    // 1. greetings around the ring
    const std::string text = "hello from C++ (pid " + std::to_string(getpid()) + ")";
    map.write_ef("hello/" + right, text);
    say("write_ef hello/" + right + " <- \"" + text + "\"");
    const std::optional<plexus::Value> got = map.read_fe_for("hello/cpp", kWait);
    if (!got) throw std::runtime_error("no greeting in time");
    say("read_fe hello/cpp -> \"" + got->as_string() + "\"");
    meet.wait();

    // 2. the shared counter
    for (std::int64_t i = 0; i < kIncrements; ++i) map.faa("counter", 1);
    meet.wait();
    const std::int64_t total = map.read("counter").as_int();
    const std::int64_t want = static_cast<std::int64_t>(ids.size()) * kIncrements;
    if (total != want) {
        throw std::runtime_error("counter is " + std::to_string(total) + ", expected " +
                                 std::to_string(want));
    }
    say("counter = " + std::to_string(total) + ": correct");
    meet.wait();

    // 3. Python edits "config" between rounds 3 and 4; show what it wrote
    meet.wait();
    say("config after Python's write: " + map.read("config").to_json());
    meet.wait();

    // 4. the C process writes the stop marker; the updater acknowledges it
    meet.wait();
    updater.join();
    if (!updater_ok) throw std::runtime_error("the background updater did not acknowledge");
    map.faa("done", plexus::Value(int64_t{1}));  // past the last barrier (C waits for it)
    say("background updater joined; done");
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::cerr << "usage: demo_cpp REGION IDS (e.g. demo_cpp plexus-demo c,cpp,python)\n";
        return 2;
    }
    std::vector<std::string> ids;
    std::stringstream list(argv[2]);
    for (std::string id; std::getline(list, id, ',');) ids.push_back(id);
    try {
        return run(argv[1], ids);
    } catch (const std::exception &e) {
        std::cerr << "[C++]    failed: " << e.what() << std::endl;
        return 1;
    }
}
