// demo_reader <region-name>
//
// The C++ half of the writer/reader example pair; the C half is examples-c/demo_writer.c. Run the
// writer and this reader with the same region name, in either order:
//
//   ./demo_writer demo &  ./demo_reader demo
//
// Protocol (arrays in the region the writer creates):
//   mailbox[0]  writer -> reader messages      mailbox[1]  reader -> writer replies
//   counter[0]  a shared counter (the writer leaves it FULL; both sides add to it)
//
//   1. 5 times: the writer sends a value in mailbox[0]; the reader prints its type and
//      JSON and replies "C++ got <json>" in mailbox[1].
//   2. Both sides add 1 to counter[0] 100000 times (fetch-and-add, no lock). The reader
//      then sends "done counting"; the writer, once it has finished too and read that,
//      answers "done counting", and the reader checks that counter[0] is INT 200000.
//   3. The writer sends "bye".
//
// Every line printed starts with "[C++ reader] " and is flushed at once. Exit status 0
// on success, 1 on a timeout or an unexpected value (explained on stderr), 2 on bad usage.

#include <plexus.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

using namespace std::chrono_literals;

namespace {

void say(const std::string &line) { std::cout << "[C++ reader] " << line << std::endl; }

int problem(const std::string &what) {
    std::cerr << "[C++ reader] problem: " << what << std::endl;
    return 1;
}

/// "INT 5", "STRING \"bye\"": a value's type and JSON, for messages.
std::string describe(const plexus::Value &v) {
    try {
        return std::string(plexus::type_name(v.type())) + " " + v.to_json();
    } catch (const plexus::Error &e) {
        return std::string(plexus::type_name(v.type())) + " (no JSON form: " + e.what() + ")";
    }
}

int run(const std::string &name) {
    say("opening region \"" + name + "\" (waiting up to 10 s for the writer to create it)");
    plexus::RegionOptions options;
    options.mode = PLEXUS_OPEN;
    options.wait = 10s;
    plexus::Region region = plexus::Region::open(name, options);

    say("waiting up to 10 s for the writer's \"mailbox\" array");
    if (!region.wait_object_for("mailbox", 10s)) {
        return problem("the \"mailbox\" array did not appear within 10 s");
    }
    plexus::Array mailbox = region.array("mailbox");  // length 0: open the existing one
    plexus::Array counter = region.array("counter");
    say("found \"mailbox\" (" + std::to_string(mailbox.len()) + " elements) and \"counter\" (" +
        std::to_string(counter.len()) + " element)");

    // 1. Five messages, each answered.
    for (int n = 1; n <= 5; ++n) {
        const std::optional<plexus::Value> msg = mailbox.read_fe_for(0, 10s);
        if (!msg) {
            return problem("no message " + std::to_string(n) + " of 5 in mailbox[0] within 10 s");
        }
        const std::string json = msg->to_json();
        say("message " + std::to_string(n) + " of 5: received a value of type " +
            plexus::type_name(msg->type()) + ", as JSON: " + json);
        mailbox.write_ef(1, plexus::Value("C++ got " + json));
        say("replied to message " + std::to_string(n) + ": C++ got " + json);
    }

    // 2. Count together with the writer.
    say("adding 1 to counter[0] 100000 times, at the same time as the writer");
    for (int k = 0; k < 100000; ++k) {
        (void)counter.faa(0, 1);
    }
    say("finished my 100000 additions; telling the writer \"done counting\"");
    mailbox.write_ef(1, "done counting");

    const std::optional<plexus::Value> done = mailbox.read_fe_for(0, 30s);
    if (!done) {
        return problem("the writer did not say \"done counting\" within 30 s");
    }
    if (*done != plexus::Value("done counting")) {
        return problem("expected STRING \"done counting\" from the writer, received " +
                       describe(*done));
    }
    say("the writer is done counting too");

    const std::optional<plexus::Value> total = counter.read_ff_for(0, 10s);
    if (!total) {
        return problem("counter[0] is not FULL (the writer should leave it FULL); waited 10 s");
    }
    say("counter[0] = " + describe(*total));
    if (*total != plexus::Value(200000)) {
        return problem("expected counter[0] to be INT 200000, found " + describe(*total));
    }
    say("that is 2 x 100000: no addition was lost");

    // 3. Goodbye.
    const std::optional<plexus::Value> bye = mailbox.read_fe_for(0, 10s);
    if (!bye) {
        return problem("no \"bye\" from the writer within 10 s");
    }
    if (*bye != plexus::Value("bye")) {
        return problem("expected STRING \"bye\", received " + describe(*bye));
    }
    say("the writer said \"bye\"; goodbye!");
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "[C++ reader] usage: demo_reader <region-name>" << std::endl;
        return 2;
    }
    try {
        return run(argv[1]);
    } catch (const plexus::Error &e) {
        return problem(e.what());
    } catch (const std::exception &e) {
        return problem(std::string("unexpected error: ") + e.what());
    }
}
