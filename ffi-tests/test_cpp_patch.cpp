// Tests of Array::patch and Map::patch in include/plexus.hpp (the update document as a
// Value and as JSON text). Uses the region "cpppatch-<pid>" and removes it at the end.

#include <plexus.hpp>

#include "cpp_checks.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

using plexus::Array;
using plexus::Map;
using plexus::Region;
using plexus::Value;

namespace {

struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        try {
            Region::try_remove(name);
        } catch (...) {
        }
    }
};

/// Throws `status`, with a message naming `names`, and leaves the element as it was.
template <class Elements, class Key, class Update>
void check_refused(const Elements &e, Key k, const Update &update, plexus_status status,
                   const char *names) {
    const Value before = e.read(k);
    const auto version = e.version(k);
    try {
        (void)e.patch(k, update);
        std::fprintf(stderr, "a patch that should fail succeeded (%s)\n", names);
        ++failures;
    } catch (const plexus::Error &err) {
        CHECK(err.status() == status);
        if (std::strstr(err.what(), names) == nullptr) {
            std::fprintf(stderr, "message '%s' does not name '%s'\n", err.what(), names);
            ++failures;
        }
    }
    CHECK(e.read(k) == before);
    CHECK(e.version(k) == version);
}

void test_map(Region &r) {
    Map m = r.map("m", 8);
    // JSON text (string literal, std::string, std::string_view) or a Value.
    Value v = m.patch("cfg", R"({"$inc": {"stats.hits": 1}})");
    CHECK(v == Value::from_json(R"({"stats": {"hits": 1}})"));
    const std::string inc = R"({"$inc": {"stats.hits": 2}, "$push": {"log": "a"}})";
    v = m.patch("cfg", inc);
    CHECK(v.to_json() == R"({"stats":{"hits":3},"log":["a"]})");
    const auto version = m.version("cfg");
    v = m.patch("cfg", Value::from_json(R"({"$set": {"name": "door"}, "$unset": {"log": 1}})"));
    CHECK(v.to_json() == R"({"stats":{"hits":3},"name":"door"})");
    CHECK(m.read("cfg") == v);
    CHECK(m.version("cfg") == version + 1);
    CHECK(!m.is_full("cfg"));
    v = m.patch("cfg", std::string_view(R"({"$max": {"stats.hits": 10}, "$min": {"lo": 2}})"));
    CHECK(v.to_json() == R"({"stats":{"hits":10},"name":"door","lo":2})");

    check_refused(m, std::string("cfg"), R"({"$inc": {"name": 1}})", PLEXUS_E_TYPE_MISMATCH,
                  "$inc 'name'");
    check_refused(m, std::string("cfg"), R"({"$set": {"name.x": 1}})", PLEXUS_E_TYPE_MISMATCH,
                  "$set 'name.x'");
    check_refused(m, std::string("cfg"), R"({"$nope": {"a": 1}})", PLEXUS_E_INVALID_ARGUMENT,
                  "$nope");
    check_refused(m, std::string("cfg"), R"({"$set": {"a": 1}, "$inc": {"a": 1}})",
                  PLEXUS_E_INVALID_ARGUMENT, "same field");
    check_refused(m, std::string("cfg"), Value(5), PLEXUS_E_INVALID_ARGUMENT, "OBJECT");
    check_refused(m, std::string("cfg"), "{bad json", PLEXUS_E_INVALID_ARGUMENT, "JSON");
    m.write("text", Value("s"));
    check_refused(m, std::string("text"), R"({"$set": {"a": 1}})", PLEXUS_E_TYPE_MISMATCH,
                  "string");
}

void test_array(Region &r) {
    Array a = r.array("a", 2);
    a.set_tag(1, true);
    Value v = a.patch(1, R"({"$push": {"items": {"$each": [{"n": "x"}, {"n": "y"}]}}})");
    CHECK(v.to_json() == R"({"items":[{"n":"x"},{"n":"y"}]})");
    v = a.patch(1, R"({"$set": {"items.1.n": "z"}, "$addToSet": {"tags": "t"}})");
    CHECK(v.to_json() == R"({"items":[{"n":"x"},{"n":"z"}],"tags":["t"]})");
    v = a.patch(1, R"({"$pull": {"items": {"n": "x"}}, "$mul": {"k": 2}})");
    CHECK(v.to_json() == R"({"items":[{"n":"z"}],"tags":["t"],"k":0})");
    CHECK(a.is_full(1));  // the tag is kept
    check_refused(a, std::uint64_t{1}, R"({"$set": {"items.3.n": 1}})", PLEXUS_E_TYPE_MISMATCH,
                  "past the end");
    check_refused(a, std::uint64_t{1}, R"({"$push": {"tags": {"$each": [1], "$sort": 1}}})",
                  PLEXUS_E_INVALID_ARGUMENT, "$sort");
    CHECK_THROWS(a.patch(2, R"({"$set": {"a": 1}})"), PLEXUS_E_OUT_OF_RANGE);
}

}  // namespace

int main() {
    const std::string name = "cpppatch-" + std::to_string(getpid());
    try {
        RegionCleanup cleanup{name};
        Region r = Region::create(name, 4 << 20);
        test_map(r);
        test_array(r);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++failures;
    }
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp_patch: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_patch: OK\n");
    return 0;
}
