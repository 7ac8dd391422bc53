// pipeline server|middle|client <region> <count>
//
// A three-stage pipeline that works whatever order its stages start in, and whatever
// is left in /dev/shm from an earlier run that was killed (PicklingTools users call
// left-over files one of their biggest headaches: a client that starts before the new
// run's server attaches to the old run's pool and waits there for ever).
//
//   server  RECREATEs the region (whatever was there is replaced), creates the queue
//           "stage1" and pushes INT 0 .. count-1, then the STRING "end".
//   middle  opens the region (waiting for it to exist), pops "stage1", pushes each
//           item * 10 into "stage2", and "end" after the last.
//   client  opens the region, pops "stage2" until "end" and checks it got
//           0, 10, 20, ... in order.
//
// The middle and the client may attach to a left-over region before the server has
// started. When the server replaces it, their next call (or the call they are blocked
// in) fails with PLEXUS_E_REMOVED: they open the name again, which reaches the new
// region, and start their stage over. Nothing from the old region reaches the new one.
//
// Exit status: 0 when the stage did its part (the client: got every item in order), 1
// on an error or a 60 s wait, 2 on bad usage.

#include <plexus.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

using namespace std::chrono_literals;

namespace {

constexpr auto kPatience = 60s;

// Opens the region (waiting for it to appear) and the queue `name` in it (waiting for
// the server to create it).
plexus::Queue attach(const std::string &region, const std::string &name,
                     std::optional<plexus::Region> &r) {
    r.emplace(plexus::Region::open_existing(region, kPatience));
    if (!r->wait_object_for(name, kPatience)) {
        throw std::runtime_error("no queue \"" + name + "\" appeared within 60 s");
    }
    return r->queue(name);
}

plexus::Value pop_or_fail(const plexus::Queue &q, const char *who) {
    std::optional<plexus::Value> v = q.pop_for(kPatience);
    if (!v) {
        throw std::runtime_error(std::string(who) + ": nothing arrived for 60 s");
    }
    return *v;
}

int server(const std::string &region, std::int64_t count) {
    plexus::Region r = plexus::Region::recreate(region, 4 << 20);
    plexus::Queue out = r.queue("stage1", 16);
    for (std::int64_t i = 0; i <= count; ++i) {
        const plexus::Value item = i < count ? plexus::Value(i) : plexus::Value("end");
        if (!out.push_for(item, kPatience)) {
            std::cerr << "server: stage1 stayed full for 60 s" << std::endl;
            return 1;
        }
    }
    std::cout << "server: sent " << count << " items" << std::endl;
    return 0;
}

// Runs `stage` on a freshly opened region; starts over on the region that has the name
// now whenever the one it works on is removed or replaced.
template <class Stage>
int restarting(const char *who, Stage stage) {
    for (int attempt = 1;; ++attempt) {
        try {
            return stage();
        } catch (const plexus::Error &e) {
            if (e.status() != PLEXUS_E_REMOVED || attempt > 20) {
                throw;
            }
            std::cout << who << ": the region was replaced; starting over on the new one"
                      << std::endl;
        }
    }
}

int middle(const std::string &region) {
    return restarting("middle", [&] {
        std::optional<plexus::Region> r;
        plexus::Queue in = attach(region, "stage1", r);
        plexus::Queue out = r->queue("stage2", 16);
        std::int64_t forwarded = 0;
        for (;;) {
            const plexus::Value v = pop_or_fail(in, "middle");
            const plexus::Value next = v.is_string() ? v : plexus::Value(v.as_int() * 10);
            if (!out.push_for(next, kPatience)) {
                throw std::runtime_error("middle: stage2 stayed full for 60 s");
            }
            if (v.is_string()) {
                std::cout << "middle: forwarded " << forwarded << " items" << std::endl;
                return 0;
            }
            ++forwarded;
        }
    });
}

int client(const std::string &region, std::int64_t count) {
    return restarting("client", [&] {
        std::optional<plexus::Region> r;
        r.emplace(plexus::Region::open_existing(region, kPatience));
        if (!r->wait_object_for("stage2", kPatience)) {
            throw std::runtime_error("client: no stage2 appeared within 60 s");
        }
        plexus::Queue in = r->queue("stage2");
        std::int64_t got = 0;
        for (;;) {
            const plexus::Value v = pop_or_fail(in, "client");
            if (v.is_string()) {
                break;
            }
            if (v.as_int() != got * 10) {
                std::cerr << "client: item " << got << " was " << v.as_int() << std::endl;
                return 1;
            }
            ++got;
        }
        if (got != count) {
            std::cerr << "client: got " << got << " items, expected " << count << std::endl;
            return 1;
        }
        std::cout << "client: received " << got << " items in order" << std::endl;
        return 0;
    });
}

}  // namespace

int main(int argc, char **argv) {
    const std::string role = argc == 4 ? argv[1] : "";
    if (role != "server" && role != "middle" && role != "client") {
        std::cerr << "usage: pipeline server|middle|client <region> <count>" << std::endl;
        return 2;
    }
    const std::string region = argv[2];
    const std::int64_t count = std::stoll(argv[3]);
    try {
        if (role == "server") return server(region, count);
        if (role == "middle") return middle(region);
        return client(region, count);
    } catch (const std::exception &e) {
        std::cerr << role << ": " << e.what() << std::endl;
        return 1;
    }
}
