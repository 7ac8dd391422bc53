// Tests of include/plexus.hpp, the header-only C++17 wrapper.
//
// A standalone program (no framework): every failed CHECK prints file:line and the
// expression, and main returns 1 if any failed. It uses a region of its own,
// "cppwrap-<pid>" (4 MiB), and removes it at the end, also after a failure.
//
// Build and run from the repository root, against the shared library:
//   g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -Iinclude ffi-tests/test_cpp_wrapper.cpp
//       -Ltarget/debug -lplexus -Wl,-rpath,$PWD/target/debug -o test_cpp_wrapper
// or the static one:
//   g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -Iinclude ffi-tests/test_cpp_wrapper.cpp
//       target/debug/libplexus.a -lpthread -ldl -lm -o test_cpp_wrapper
//
// The remote-region checks start a private redis-server on a free port of 127.0.0.1
// (without persistence, in a temporary directory, killed at the end); without
// redis-server on the PATH they print a loud SKIPPED (and fail when CI is set).

#include <plexus.hpp>
#include <plexus.hpp>  // double inclusion must be harmless

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using plexus::Array;
using plexus::Bytes;
using plexus::Region;
using plexus::Value;

namespace {

int failures = 0;

void fail(const char *file, int line, const std::string &what) {
    std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what.c_str());
    std::fflush(stderr);
    ++failures;
}

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fail(__FILE__, __LINE__, #cond);                                             \
        }                                                                                \
    } while (0)

// Expects `expr` to throw plexus::Error with status `st`.
#define CHECK_THROWS(expr, st)                                                           \
    do {                                                                                 \
        try {                                                                            \
            (void)(expr);                                                                \
            fail(__FILE__, __LINE__, std::string(#expr) + " did not throw " + #st);      \
        } catch (const plexus::Error &e_) {                                              \
            if (e_.status() != (st)) {                                                   \
                fail(__FILE__, __LINE__,                                                 \
                     std::string(#expr) + " threw " + e_.what() + ", expected " + #st);  \
            }                                                                            \
        } catch (const std::exception &e_) {                                             \
            fail(__FILE__, __LINE__,                                                     \
                 std::string(#expr) + " threw a non-plexus exception: " + e_.what());    \
        }                                                                                \
    } while (0)

// Expects `expr` not to throw.
#define CHECK_NOTHROW(expr)                                                              \
    do {                                                                                 \
        try {                                                                            \
            (void)(expr);                                                                \
        } catch (const std::exception &e_) {                                             \
            fail(__FILE__, __LINE__, std::string(#expr) + " threw " + e_.what());        \
        }                                                                                \
    } while (0)

bool starts_with(const std::string &s, std::string_view prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

// Compile-time properties of the owners: move-only, moves and destructor and close()
// noexcept, an empty default, raw() giving the C handle.
template <class T, class Handle>
constexpr bool move_only_owner_v =
    !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
    std::is_nothrow_default_constructible_v<T> && std::is_nothrow_move_constructible_v<T> &&
    std::is_nothrow_move_assignable_v<T> && std::is_nothrow_destructible_v<T> &&
    noexcept(std::declval<T &>().close()) &&
    std::is_same_v<decltype(std::declval<const T &>().raw()), Handle> &&
    !std::is_convertible_v<T, bool> && std::is_constructible_v<bool, const T &>;
static_assert(move_only_owner_v<Region, plexus_region>, "Region is a move-only owner");
static_assert(move_only_owner_v<Array, plexus_array>, "Array is a move-only owner");
static_assert(move_only_owner_v<plexus::Map, plexus_map>, "Map is a move-only owner");
static_assert(move_only_owner_v<plexus::Queue, plexus_queue>, "Queue is a move-only owner");
static_assert(move_only_owner_v<plexus::Bus, plexus_bus>, "Bus is a move-only owner");
static_assert(move_only_owner_v<plexus::Subscription, plexus_sub>,
              "Subscription is a move-only owner");
static_assert(move_only_owner_v<plexus::Mutex, plexus_mutex>, "Mutex is a move-only owner");
static_assert(move_only_owner_v<plexus::Barrier, plexus_barrier>,
              "Barrier is a move-only owner");
static_assert(move_only_owner_v<plexus::Semaphore, plexus_semaphore>,
              "Semaphore is a move-only owner");
static_assert(std::is_copy_constructible_v<Value> && std::is_nothrow_move_constructible_v<Value>,
              "Value is copyable and cheaply movable");
static_assert(!std::is_constructible_v<Value, char>, "Value('a') is rejected");
static_assert(!std::is_constructible_v<Value, wchar_t>, "Value(L'a') is rejected");
static_assert(!std::is_constructible_v<Value, const int *>, "pointers do not become BOOL");
static_assert(!std::is_constructible_v<Value, void *>, "pointers do not become BOOL");
static_assert(std::is_constructible_v<Value, char *>, "char* is a string");
static_assert(std::is_convertible_v<const char *, Value>, "implicit from const char*");
static_assert(std::is_convertible_v<std::string, Value>, "implicit from std::string");
static_assert(std::is_convertible_v<std::string_view, Value>, "implicit from string_view");
static_assert(std::is_convertible_v<Bytes, Value>, "implicit from Bytes");
static_assert(std::is_convertible_v<unsigned char, Value>, "uint8_t is an integer");
static_assert(std::is_same_v<plexus::Timeout, std::chrono::nanoseconds>, "Timeout type");
static_assert(std::is_base_of_v<std::runtime_error, plexus::Error>, "Error is a runtime_error");

// ---------------------------------------------------------------------------------------

void test_version_and_errors() {
    CHECK(plexus::version() == ((PLEXUS_VERSION_MAJOR << 16) | (PLEXUS_VERSION_MINOR << 8) |
                                PLEXUS_VERSION_PATCH));
    CHECK(std::string(plexus::status_name(PLEXUS_TIMEOUT)) == "PLEXUS_TIMEOUT");
    CHECK(plexus::recovered_locks() == 0);  // nobody died holding a lock of ours

    CHECK_NOTHROW(plexus::check(PLEXUS_OK));
    CHECK_THROWS(plexus::check(PLEXUS_TIMEOUT), PLEXUS_TIMEOUT);
    CHECK_THROWS(plexus::check(PLEXUS_E_INTERNAL), PLEXUS_E_INTERNAL);

    // The message is "<status name>: <plexus_last_error()>".
    try {
        Region::remove("cppwrap-missing-" + std::to_string(getpid()));
        fail(__FILE__, __LINE__, "removing a missing region did not throw");
    } catch (const plexus::Error &e) {
        CHECK(e.status() == PLEXUS_E_NOT_FOUND);
        const std::string what = e.what();
        CHECK(starts_with(what, "PLEXUS_E_NOT_FOUND: "));
        CHECK(what.size() > std::strlen("PLEXUS_E_NOT_FOUND: "));  // has a message
    }
    plexus::Error own(PLEXUS_E_TYPE_MISMATCH, "custom");
    CHECK(std::string(own.what()) == "PLEXUS_E_TYPE_MISMATCH: custom");
    CHECK(own.status() == PLEXUS_E_TYPE_MISMATCH);
}

void test_timeouts() {
    using plexus::to_timeout_ns;
    CHECK(to_timeout_ns(0s) == 0);
    CHECK(to_timeout_ns(-5s) == 0);
    CHECK(to_timeout_ns(plexus::Timeout(-1)) == 0);
    CHECK(to_timeout_ns(1ns) == 1);
    CHECK(to_timeout_ns(1500us) == 1500000);
    CHECK(to_timeout_ns(2s) == 2000000000);
    CHECK(to_timeout_ns(std::chrono::duration<double, std::nano>(1.5)) == 2);  // rounds up
    CHECK(to_timeout_ns(std::chrono::duration<double, std::nano>(0.1)) == 1);  // never 0
    CHECK(to_timeout_ns(std::chrono::duration<double>(0.25)) == 250000000);
    CHECK(to_timeout_ns(plexus::forever) == PLEXUS_FOREVER);
    CHECK(to_timeout_ns(std::chrono::hours::max()) == PLEXUS_FOREVER);  // saturates
    CHECK(to_timeout_ns(std::chrono::hours::min()) == 0);
    CHECK(to_timeout_ns(std::chrono::duration<double>(
              std::numeric_limits<double>::infinity())) == PLEXUS_FOREVER);
    CHECK(to_timeout_ns(std::chrono::duration<double>(
              std::numeric_limits<double>::quiet_NaN())) == 0);
}

void test_values() {
    // UNDEFINED and NULL
    Value u;
    CHECK(u.type() == PLEXUS_UNDEFINED && u.is_undefined());
    CHECK(Value::undefined().is_undefined());
    CHECK(Value::null().type() == PLEXUS_NULL && Value::null().is_null());
    CHECK(Value(nullptr).is_null());
    CHECK(u.to_json() == "null");
    CHECK(Value::null().to_json() == "null");
    CHECK(Value::undefined() == Value::undefined());
    CHECK(Value::undefined() != Value::null());

    // BOOL
    Value t = true;
    CHECK(t.is_bool() && t.as_bool() && t.type() == PLEXUS_BOOL);
    CHECK(!Value(false).as_bool());
    CHECK(t.to_json() == "true");
    CHECK(Value(false).to_json() == "false");

    // INT from every integer type
    CHECK(Value(42).is_int() && Value(42).as_int() == 42);
    CHECK(Value(static_cast<std::int8_t>(-5)).as_int() == -5);
    CHECK(Value(static_cast<std::uint8_t>(200)).as_int() == 200);
    CHECK(Value(static_cast<short>(-300)).as_int() == -300);
    CHECK(Value(4000000000u).as_int() == 4000000000LL);
    CHECK(Value(std::numeric_limits<std::int64_t>::min()).as_int() ==
          std::numeric_limits<std::int64_t>::min());
    CHECK(Value(std::numeric_limits<std::int64_t>::max()).as_int() ==
          std::numeric_limits<std::int64_t>::max());
    CHECK(Value(static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())).as_int() ==
          std::numeric_limits<std::int64_t>::max());
    CHECK_THROWS(Value(std::numeric_limits<std::uint64_t>::max()), PLEXUS_E_INVALID_ARGUMENT);
    CHECK(Value(-7).to_json() == "-7");

    // FLOAT
    CHECK(Value(1.5).is_float() && Value(1.5).as_float() == 1.5);
    CHECK(Value(0.25f).is_float() && Value(0.25f).as_float() == 0.25);
    CHECK(Value(1.5).to_json() == "1.5");
    CHECK(Value(std::nan("")).to_json() == "null");
    CHECK(Value(std::nan("")) != Value(std::nan("")));  // NaN equals nothing
    CHECK(Value(1) != Value(1.0));                       // type matters
    CHECK(Value(2).as_number() == 2.0 && Value(2.5).as_number() == 2.5);
    CHECK(Value(1).is_number() && Value(1.0).is_number() && !Value("1").is_number());

    // STRING from every string type
    const char *cs = "hello";
    std::string s = "world";
    std::string_view sv = "view";
    CHECK(Value(cs).is_string() && Value(cs).as_string() == "hello");
    CHECK(Value("literal").as_string() == "literal");
    CHECK(Value(s).as_string() == "world");
    CHECK(Value(sv).as_string() == "view");
    CHECK(Value(std::string("moved")).as_string() == "moved");
    const char *null_str = nullptr;
    CHECK_THROWS(Value(null_str), PLEXUS_E_INVALID_ARGUMENT);
    const std::string with_nul("a\0b", 3);
    CHECK(Value(with_nul).as_string().size() == 3);
    CHECK(Value("hi").to_json() == "\"hi\"");
    CHECK(Value("a\"b").to_json() == "\"a\\\"b\"");
    CHECK(Value("x") == Value(std::string("x")));
    CHECK(Value("x") != Value("y"));

    // BYTES
    const Bytes raw{0, 1, 2, 255};
    Value b = raw;
    CHECK(b.is_bytes() && b.type() == PLEXUS_BYTES && b.as_bytes() == raw);
    CHECK(b.to_json() == "[0,1,2,255]");
    CHECK(Value(Bytes{}).as_bytes().empty());
    CHECK(Value(Bytes{}).to_json() == "[]");
    CHECK(b == Value(Bytes{0, 1, 2, 255}));
    CHECK(b != Value(std::string("\x00\x01\x02\xff", 4)));  // bytes are not a string

    // OBJECT via JSON and MessagePack
    Value o = Value::from_json("{\"a\":1,\"b\":[true,null,\"x\"]}");
    CHECK(o.is_object() && o.type() == PLEXUS_OBJECT);
    CHECK(!o.msgpack().empty());
    CHECK(o.to_json() == "{\"a\":1,\"b\":[true,null,\"x\"]}");
    Value o2 = Value::object_msgpack(o.msgpack());
    CHECK(o2.is_object() && o2 == o);
    // A hand-written MessagePack fixarray [1, 2].
    Value arr = Value::object_msgpack(Bytes{0x92, 0x01, 0x02});
    CHECK(arr.to_json() == "[1,2]");
    CHECK(Value::from_json("[1,2]") == arr);
    CHECK_THROWS(Value::object_msgpack(Bytes{0xc1}).to_json(), PLEXUS_E_TYPE_MISMATCH);

    // from_json of scalars
    CHECK(Value::from_json("null").is_null());
    CHECK(Value::from_json("true").as_bool());
    CHECK(Value::from_json("12").as_int() == 12);
    CHECK(Value::from_json("-9223372036854775808").as_int() ==
          std::numeric_limits<std::int64_t>::min());
    CHECK(Value::from_json("18446744073709551616").is_float());  // too big for INT
    CHECK(Value::from_json("2.5").as_float() == 2.5);
    CHECK(Value::from_json("\"s\"").as_string() == "s");
    CHECK_THROWS(Value::from_json("{oops"), PLEXUS_E_INVALID_ARGUMENT);
    CHECK_THROWS(Value::from_json(""), PLEXUS_E_INVALID_ARGUMENT);

    // to_json -> from_json round trip for every type JSON can represent exactly.
    const std::vector<Value> samples = {Value::null(), Value(true), Value(-123456789012345LL),
                                        Value(0.5), Value("text \xc3\xa9"), o, arr};
    for (const Value &v : samples) {
        CHECK(Value::from_json(v.to_json()) == v);
    }
    // A long value exercises the BUFFER_TOO_SMALL sizing protocol with a big buffer.
    const std::string long_text(100000, 'z');
    CHECK(Value(long_text).to_json() == "\"" + long_text + "\"");

    // Invalid UTF-8 is rejected by the library when used.
    CHECK_THROWS(Value("\xff\xfe").to_json(), PLEXUS_E_INVALID_ARGUMENT);

    // Wrong-type access throws TYPE_MISMATCH.
    CHECK_THROWS(Value(1).as_string(), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(Value("1").as_int(), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(Value(1).as_float(), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(Value(1.0).as_int(), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(Value().as_bool(), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(Value::null().as_bool(), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(Value(raw).msgpack(), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(o.as_bytes(), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(Value("x").as_number(), PLEXUS_E_TYPE_MISMATCH);
    try {
        (void)Value(1).as_string();
    } catch (const plexus::Error &e) {
        CHECK(std::string(e.what()) == "PLEXUS_E_TYPE_MISMATCH: value is INT, not STRING");
    }

    // Copies are deep; moves leave UNDEFINED.
    Value original = std::string("original");
    Value copy = original;
    const char *copy_data = copy.as_string().data();
    CHECK(copy_data != original.as_string().data());
    original = Value("changed");
    CHECK(copy.as_string() == "original");
    Value moved = std::move(copy);
    CHECK(moved.as_string() == "original");
    CHECK(copy.is_undefined());  // NOLINT(bugprone-use-after-move): documented state
    Value assigned;
    assigned = std::move(moved);
    CHECK(assigned.as_string() == "original" && moved.is_undefined());
    Value bytes_copy = b;
    b = Value(1);
    CHECK(bytes_copy.as_bytes() == raw);
    assigned = assigned;  // self-assignment is harmless
    CHECK(assigned.as_string() == "original");

    // c_value(): a borrowed C view of the same data.
    const Value sval("view me");
    const plexus_value cv = sval.c_value();
    CHECK(cv.type == PLEXUS_STRING && cv.owner == nullptr);
    CHECK(cv.as.buf.len == 7 && cv.as.buf.ptr == sval.as_string().data());
    CHECK(Value(7).c_value().type == PLEXUS_INT && Value(7).c_value().as.i == 7);
    CHECK(Value(true).c_value().as.b);
    CHECK(Value(2.0).c_value().as.f == 2.0);
    CHECK(Value(raw).c_value().as.buf.len == 4);
    CHECK(Value::undefined().c_value().type == PLEXUS_UNDEFINED);
    const plexus_value cs2 = Value("abc").c_value();
    (void)cs2;

    // copy_from (borrowed C value, left alone) and adopt (owned C value, released).
    plexus_value borrowed = plexus_string("borrowed");
    Value from_borrowed = Value::copy_from(borrowed);
    CHECK(from_borrowed.as_string() == "borrowed");
    CHECK(borrowed.type == PLEXUS_STRING);
    plexus_value owned;
    CHECK(plexus_value_from_json("{\"k\":[1,2,3]}", &owned) == PLEXUS_OK);
    CHECK(owned.owner != nullptr);
    Value adopted = Value::adopt(owned);
    CHECK(owned.type == PLEXUS_UNDEFINED && owned.owner == nullptr);  // released
    CHECK(adopted.to_json() == "{\"k\":[1,2,3]}");
    plexus_value owned_str;
    CHECK(plexus_value_from_json("\"owned string\"", &owned_str) == PLEXUS_OK);
    CHECK(Value::adopt(owned_str).as_string() == "owned string");
    plexus_value scalar = plexus_int(9);
    CHECK(Value::adopt(scalar).as_int() == 9);
    plexus_value bad_tag = plexus_int(1);
    const std::uint32_t unknown_tag = 42;  // stored as bytes: not a valid enum value
    std::memcpy(&bad_tag.type, &unknown_tag, sizeof(unknown_tag));
    CHECK_THROWS(Value::copy_from(bad_tag), PLEXUS_E_INVALID_ARGUMENT);

    CHECK(std::string(plexus::type_name(PLEXUS_OBJECT)) == "OBJECT");
    CHECK(std::string(plexus::type_name(Value(1).type())) == "INT");
}

// ---------------------------------------------------------------------------------------

void test_regions(const std::string &name) {
    const std::uint64_t size = 4u << 20;

    CHECK(!Region::try_remove(name));  // not there yet
    CHECK_THROWS(Region::open_existing(name), PLEXUS_E_NOT_FOUND);
    CHECK_THROWS(Region::open_existing(name, 20ms), PLEXUS_E_NOT_FOUND);  // waited, absent
    CHECK_THROWS(Region::open("bad name!"), PLEXUS_E_INVALID_ARGUMENT);

    Region r = Region::create(name, size);
    CHECK(static_cast<bool>(r));
    CHECK(r.raw().id != 0);
    CHECK_THROWS(Region::create(name, size), PLEXUS_E_EXISTS);

    const plexus::RegionInfo info = r.info();
    CHECK(info.size >= size);
    CHECK(info.format_version == PLEXUS_FORMAT_VERSION);
    CHECK(info.object_count == 0);
    CHECK(info.attached_processes >= 1);
    CHECK(info.heap_free <= info.heap_size);
    CHECK_NOTHROW(r.flush());

    // Other ways to open the same region see the same region id.
    Region same = Region::open_existing(name, 1s);
    CHECK(same.info().region_id == info.region_id);
    plexus::RegionOptions opts;  // defaults: open or create
    Region same2 = Region::open(name, opts);
    CHECK(same2.info().region_id == info.region_id);
    plexus::RegionOptions open_opts;
    open_opts.mode = PLEXUS_OPEN;
    open_opts.wait = plexus::forever;  // exists: returns at once
    Region same3 = Region::open(name, open_opts);
    CHECK(same3.info().region_id == info.region_id);
    const plexus_region_options c = open_opts.c_options();
    CHECK(c.struct_size == sizeof(plexus_region_options));
    CHECK(c.mode == PLEXUS_OPEN && c.wait_ns == PLEXUS_FOREVER && c.size == 0);

    // Moves: the moved-from Region is empty and refuses calls with BAD_HANDLE.
    Region moved = std::move(same);
    CHECK(!same && moved);  // NOLINT(bugprone-use-after-move)
    CHECK_THROWS(same.info(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(same.array("x", 1), PLEXUS_E_BAD_HANDLE);
    CHECK(moved.info().region_id == info.region_id);
    same = std::move(moved);  // move-assign back
    CHECK(same && !moved);
    same2 = std::move(same3);  // move-assign over a live handle closes the old one
    CHECK(same2 && !same3);
    same2.close();
    CHECK(!same2);
    same2.close();  // twice is harmless
    Region empty;
    CHECK(!empty);
    CHECK_THROWS(empty.flush(), PLEXUS_E_BAD_HANDLE);

    // wait_object / wait_object_for
    CHECK(!r.wait_object_for("later", 0s));
    CHECK(!r.wait_object_for("later", 10ms));
    Array later = r.array("later", 1);
    CHECK(r.wait_object_for("later", 0s));
    CHECK_NOTHROW(same.wait_object("later"));  // exists: returns at once
    CHECK(r.info().object_count == 1);

    // recreate on a second region: the old contents are gone.
    const std::string other = name + "-b";
    Region::try_remove(other);
    {
        Region o1 = Region::recreate(other, size);
        Array stale = o1.array("stale", 1);
        stale.write(0, 1);
        const auto old_id = o1.info().region_id;
        Region o2 = Region::recreate(other, size);
        CHECK_THROWS(o2.array("stale"), PLEXUS_E_NOT_FOUND);
        CHECK(o2.info().region_id != old_id);
        // The replaced region's handles are told: nobody works on it unknowingly.
        CHECK_THROWS(stale.read(0), PLEXUS_E_REMOVED);
        CHECK_THROWS(o1.array("stale"), PLEXUS_E_REMOVED);
    }
    CHECK(Region::try_remove(other));
    CHECK(!Region::try_remove(other));
    CHECK_THROWS(Region::remove(other), PLEXUS_E_NOT_FOUND);
}

// ---------------------------------------------------------------------------------------

void test_array_basics(Region &r) {
    CHECK_THROWS(r.array("cells"), PLEXUS_E_NOT_FOUND);  // length 0 = existing only
    Array a = r.array("cells", 8);
    CHECK(a && a.raw().id != 0);
    CHECK(a.len() == 8);
    CHECK_NOTHROW(r.array("cells", 8));
    CHECK_THROWS(r.array("cells", 9), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.array("cells", 8, PLEXUS_EXCLUSIVE), PLEXUS_E_EXISTS);
    CHECK_THROWS(r.array("", 1), PLEXUS_E_INVALID_ARGUMENT);
    CHECK(Array::open(r, "cells").len() == 8);

    // The raw() escape hatch.
    std::uint64_t n = 0;
    CHECK(plexus_array_len(a.raw(), &n) == PLEXUS_OK && n == 8);

    // Fresh elements: UNDEFINED, EMPTY.
    CHECK(a.read(0).is_undefined());
    CHECK(!a.is_full(0));

    // Every index-taking call checks the index.
    CHECK_THROWS(a.read(8), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.write(8, 1), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.read_fe_for(8, 1ms), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.try_read_fe(100), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.try_read_ff(100), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.try_write_ef(100, 1), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.write_xf(8, 1), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.write_xe(8, 1), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.set_tag(8, true), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.is_full(8), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.faa(8, 1), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.cas(8, 1, 2), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.exchange(8, 1), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.version(8), PLEXUS_E_OUT_OF_RANGE);
    CHECK_THROWS(a.try_read_rw(8), PLEXUS_E_OUT_OF_RANGE);
    std::uint64_t ver = 0;
    CHECK_THROWS(a.wait_change_for(8, ver, 1ms), PLEXUS_E_OUT_OF_RANGE);

    // Every value type survives write/read, exchange and read_fe.
    const std::vector<Value> values = {
        Value::undefined(),
        Value::null(),
        Value(true),
        Value(false),
        Value(std::numeric_limits<std::int64_t>::min()),
        Value(-1.25),
        Value(""),
        Value("plain"),
        Value(std::string("nul\0inside", 10)),
        Value("\xe2\x82\xac uro"),
        Value(Bytes{}),
        Value(Bytes{0, 0, 7, 255}),
        Value::from_json("{\"nested\":{\"list\":[1,2.5,\"three\",null]}}"),
        Value(std::string(20000, 'L')),  // a larger heap allocation
    };
    for (const Value &v : values) {
        a.write(1, v);
        const Value back = a.read(1);
        CHECK(back == v);
        CHECK(back.type() == v.type());
        CHECK(!a.is_full(1));  // write keeps the tag
        a.write_xf(2, v);
        const std::optional<Value> fe = a.try_read_fe(2);
        CHECK(fe && *fe == v);
    }
    CHECK(a.read(1).as_string() == std::string(20000, 'L'));

    // Values the library rejects.
    CHECK_THROWS(a.write(1, Value("\xc3\x28")), PLEXUS_E_INVALID_ARGUMENT);  // bad UTF-8
    CHECK_THROWS(a.write(1, Value::object_msgpack(Bytes{0x92, 0x01})),
                 PLEXUS_E_INVALID_ARGUMENT);  // truncated MessagePack
    CHECK_THROWS(a.write(1, Value::object_msgpack(Bytes{})), PLEXUS_E_INVALID_ARGUMENT);
    CHECK(a.read(1).as_string() == std::string(20000, 'L'));  // unchanged

    // A value larger than the region: NO_SPACE, the old value is kept.
    CHECK_THROWS(a.write(1, Value(Bytes(8u << 20, 1))), PLEXUS_E_NO_SPACE);
    CHECK(a.read(1).as_string() == std::string(20000, 'L'));

    // Reading from a closed or empty Array.
    Array none;
    CHECK(!none);
    CHECK_THROWS(none.len(), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(none.read(0), PLEXUS_E_BAD_HANDLE);
}

void test_full_empty(Region &r) {
    Array a = r.array("fe", 4);

    // Empty element: the try and timed forms report "not now" without throwing.
    CHECK(!a.try_read_fe(0).has_value());
    CHECK(!a.read_fe_for(0, 10ms).has_value());
    CHECK(!a.try_read_ff(0).has_value());
    CHECK(!a.read_ff_for(0, 10ms).has_value());
    CHECK(!a.try_read_rw(0).has_value());
    CHECK(!a.read_rw_for(0, 10ms).has_value());

    // write_ef fills it; another write_ef must wait.
    a.write_ef(0, "first");
    CHECK(a.is_full(0));
    CHECK(!a.try_write_ef(0, "second"));
    CHECK(!a.write_ef_for(0, "second", 10ms));
    CHECK(a.read(0).as_string() == "first");  // nothing written by the failed tries

    // read_ff peeks (stays FULL), read_fe consumes (becomes EMPTY).
    CHECK(a.read_ff(0).as_string() == "first");
    CHECK(a.try_read_ff(0)->as_string() == "first");
    CHECK(a.read_ff_for(0, 1s)->as_string() == "first");
    CHECK(a.is_full(0));
    CHECK(a.read_fe(0).as_string() == "first");
    CHECK(!a.is_full(0));
    CHECK(!a.try_read_fe(0).has_value());

    // try_write_ef / write_ef_for succeed on EMPTY.
    CHECK(a.try_write_ef(0, 1));
    CHECK(a.read_fe_for(0, 1s)->as_int() == 1);
    CHECK(a.write_ef_for(0, 2, 1s));
    CHECK(a.try_read_fe(0)->as_int() == 2);

    // write_xf / write_xe / set_tag.
    a.write_xf(1, "xf");
    CHECK(a.is_full(1));
    a.write_xf(1, "xf again");  // regardless of the tag
    CHECK(a.read_ff(1).as_string() == "xf again");
    a.write_xe(1, "xe");
    CHECK(!a.is_full(1));
    CHECK(a.read(1).as_string() == "xe");
    a.set_tag(1, true);
    CHECK(a.is_full(1));
    CHECK(a.read(1).as_string() == "xe");  // value untouched
    a.set_tag(1, false);
    CHECK(!a.is_full(1));

    // PLEXUS_FULL: new elements start FULL (holding UNDEFINED).
    Array full = r.array("fe-full", 2, PLEXUS_FULL);
    CHECK(full.is_full(0) && full.is_full(1));
    const std::optional<Value> first = full.try_read_fe(0);
    CHECK(first && first->is_undefined());

    // read_rw: shared lock that holds off mutators until released.
    a.write_xf(2, "locked");
    const Value held = a.read_rw(2);
    CHECK(held.as_string() == "locked");
    const std::optional<Value> again = a.read_rw_for(2, 1s);  // readers share
    CHECK(again && again->as_string() == "locked");
    CHECK(a.read_ff(2).as_string() == "locked");           // read_ff proceeds
    CHECK(!a.read_fe_for(2, 20ms).has_value());             // read_fe waits
    a.release_rw(2);
    CHECK(!a.read_fe_for(2, 20ms).has_value());             // still one lock held
    a.release_rw(2);
    CHECK(a.read_fe_for(2, 1s)->as_string() == "locked");  // now it proceeds
    CHECK_THROWS(a.release_rw(2), PLEXUS_E_INVALID_ARGUMENT);  // none held
    a.write_xf(2, "try");
    const std::optional<Value> tried = a.try_read_rw(2);
    CHECK(tried && tried->as_string() == "try");
    a.release_rw(2);

    // Blocking calls without a limit, satisfied by another thread.
    std::thread producer([&a] {
        std::this_thread::sleep_for(30ms);
        a.write_ef(3, "from thread");
    });
    CHECK(a.read_fe(3).as_string() == "from thread");
    producer.join();

    a.write_xf(3, "occupied");
    std::thread consumer([&a] {
        std::this_thread::sleep_for(30ms);
        (void)a.read_fe(3);
    });
    a.write_ef(3, "after consumer");  // waits for the consumer to empty it
    consumer.join();
    CHECK(a.read_ff(3).as_string() == "after consumer");
}

void test_atomics(Region &r) {
    Array a = r.array("atomics", 6);

    // faa: int + int, returns the old value; the tag is unchanged.
    a.write(0, 5);
    CHECK(a.faa(0, 3).as_int() == 5);
    CHECK(a.read(0).as_int() == 8);
    CHECK(!a.is_full(0));
    a.set_tag(0, true);
    CHECK(a.faa(0, -10).as_int() == 8);
    CHECK(a.read(0).as_int() == -2);
    CHECK(a.is_full(0));
    // int wraps
    a.write(0, std::numeric_limits<std::int64_t>::max());
    (void)a.faa(0, 1);
    CHECK(a.read(0).as_int() == std::numeric_limits<std::int64_t>::min());

    // UNDEFINED is an empty accumulator.
    CHECK(a.faa(1, 1).is_undefined());
    CHECK(a.read(1).as_int() == 1);
    // "stop" + 1 -> "stop1"
    a.write(2, "stop");
    CHECK(a.faa(2, 1).as_string() == "stop");
    CHECK(a.read(2).as_string() == "stop1");
    // float on either side gives a float
    a.write(3, 1);
    CHECK(a.faa(3, 0.5).as_int() == 1);
    CHECK(a.read(3).as_float() == 1.5);
    // bytes + bytes concatenates
    a.write(4, Bytes{1, 2});
    CHECK(a.faa(4, Bytes{3}).as_bytes() == (Bytes{1, 2}));
    CHECK(a.read(4).as_bytes() == (Bytes{1, 2, 3}));
    // bytes + int is undefined: TYPE_MISMATCH, element unchanged
    CHECK_THROWS(a.faa(4, 1), PLEXUS_E_TYPE_MISMATCH);
    CHECK(a.read(4).as_bytes() == (Bytes{1, 2, 3}));

    // cas: swaps only when the element equals `expected` (type and value).
    a.write(5, 10);
    Value old;
    CHECK(a.cas(5, 10, 20, &old));
    CHECK(old.as_int() == 10);
    CHECK(a.read(5).as_int() == 20);
    CHECK(!a.cas(5, 10, 30, &old));
    CHECK(old.as_int() == 20);  // the previous value, reported either way
    CHECK(a.read(5).as_int() == 20);
    CHECK(!a.cas(5, 20.0, 30));  // FLOAT 20.0 is not INT 20
    CHECK(a.cas(5, 20, "str"));  // no old requested
    CHECK(a.cas(5, "str", Value::null(), &old) && old.as_string() == "str");
    CHECK(a.read(5).is_null());
    CHECK(a.cas(5, Value::null(), Value::from_json("[1]")));
    CHECK(a.read(5).to_json() == "[1]");

    // exchange returns the previous value.
    CHECK(a.exchange(5, Bytes{9}).to_json() == "[1]");
    CHECK(a.exchange(5, true).as_bytes() == (Bytes{9}));
    CHECK(a.read(5).as_bool());

    // faa from several threads is atomic.
    a.write(1, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&a] {
            for (int k = 0; k < 1000; ++k) {
                (void)a.faa(1, 1);
            }
        });
    }
    for (std::thread &t : threads) {
        t.join();
    }
    CHECK(a.read(1).as_int() == 4000);
}

void test_versions(Region &r) {
    Array a = r.array("versions", 2);
    std::uint64_t v = a.version(0);
    const std::uint64_t start = v;

    // Nothing changes: the timed wait reports false and leaves `v` alone.
    CHECK(!a.wait_change_for(0, v, 0s));
    CHECK(!a.wait_change_for(0, v, 20ms));
    CHECK(v == start);

    // A write bumps the version; a stale version returns at once with the new one.
    a.write(0, 1);
    CHECK(a.version(0) > start);
    CHECK(a.wait_change_for(0, v, 1s));
    CHECK(v == a.version(0));
    // Tag changes count too.
    a.set_tag(0, true);
    CHECK(a.wait_change_for(0, v, 0s));
    CHECK(v == a.version(0));

    // wait_change without a limit, woken by another thread.
    std::atomic<bool> wrote{false};
    std::thread writer([&] {
        std::this_thread::sleep_for(30ms);
        wrote = true;
        a.write(0, 2);
    });
    const std::uint64_t before = v;
    a.wait_change(0, v);
    CHECK(wrote.load());
    CHECK(v != before);
    writer.join();
    CHECK(a.read(0).as_int() == 2);
}

void test_array_ownership(Region &r, const std::string &name) {
    // Moves.
    Array a = r.array("own", 2);
    const std::uint64_t id = a.raw().id;
    Array b = std::move(a);
    CHECK(!a && b && b.raw().id == id);  // NOLINT(bugprone-use-after-move)
    CHECK_THROWS(a.len(), PLEXUS_E_BAD_HANDLE);
    CHECK(b.len() == 2);
    Array c;
    c = std::move(b);
    CHECK(c && !b && c.len() == 2);

    // Opening the same array twice gives the same handle; closing one Array must not
    // close it under the other.
    {
        Array twin = r.array("own");
        CHECK(twin.raw().id == c.raw().id);
        twin.write(0, "via twin");
    }  // twin destroyed here
    CHECK(c.read(0).as_string() == "via twin");
    {
        Array twin = r.array("own");
        twin.close();
        CHECK(!twin);
        twin.close();  // twice is harmless
    }
    CHECK(c.len() == 2);
    // Move-assigning over a live Array releases the old one.
    Array d = r.array("own-other", 1);
    d = r.array("own");
    CHECK(d.raw().id == c.raw().id);
    d = Array();
    CHECK(c.len() == 2);

    // Closing the region first: the Array reports BAD_HANDLE and destroys quietly.
    {
        Region second = Region::open_existing(name);
        Array orphan = second.array("own");
        CHECK(orphan.raw().id != c.raw().id);  // handles belong to their region handle
        CHECK(orphan.read(0).as_string() == "via twin");
        second.close();
        CHECK(static_cast<bool>(orphan));  // still holds its (now dead) handle
        CHECK_THROWS(orphan.len(), PLEXUS_E_BAD_HANDLE);
        CHECK_THROWS(orphan.read(0), PLEXUS_E_BAD_HANDLE);
        // A new region handle and array work; the dead id is not reused.
        Region third = Region::open_existing(name);
        Array fresh = third.array("own");
        CHECK(fresh.raw().id != orphan.raw().id);
        CHECK(fresh.len() == 2);
    }  // orphan's destructor ignores BAD_HANDLE
    {
        Array outlives;
        {
            Region temp = Region::open_existing(name);
            outlives = temp.array("own");
        }  // region handle closed before the Array
        CHECK_THROWS(outlives.len(), PLEXUS_E_BAD_HANDLE);
    }
    CHECK(c.len() == 2);

    // Kind and emptiness of the region handle.
    Region empty;
    CHECK_THROWS(empty.array("own"), PLEXUS_E_BAD_HANDLE);
}

// ---------------------------------------------------------------------------------------

/// Moves of an owner: the moved-from one is empty (false, raw() id 0, and `use` on it
/// throws PLEXUS_E_BAD_HANDLE), by construction and by assignment; moving back restores
/// `owner` with the same handle.
template <class T, class Use> void check_moves(T &owner, Use use, const char *kind) {
    const int before = failures;
    const std::uint64_t id = owner.raw().id;
    CHECK(owner && id != 0);
    T moved(std::move(owner));
    CHECK(!owner && owner.raw().id == 0 && moved.raw().id == id);
    CHECK_THROWS(use(owner), PLEXUS_E_BAD_HANDLE);
    CHECK_NOTHROW(use(moved));
    T assigned;
    CHECK(!assigned && assigned.raw().id == 0);
    CHECK_THROWS(use(assigned), PLEXUS_E_BAD_HANDLE);
    assigned = std::move(moved);
    CHECK(!moved && moved.raw().id == 0 && assigned.raw().id == id);
    CHECK_THROWS(use(moved), PLEXUS_E_BAD_HANDLE);
    owner = std::move(assigned);
    CHECK(owner && !assigned && owner.raw().id == id);
    CHECK_NOTHROW(use(owner));
    if (failures != before) {
        std::fprintf(stderr, "  (the checks above failed in check_moves for %s)\n", kind);
    }
}

/// close() gives one open back early and never changes the object: a second owner of
/// the same handle (`open()` through the same Region) still works, and once both are
/// closed, `open()` finds the object again by name (the caller then checks its state).
template <class T, class Open, class Use>
void check_close(T &owner, Open open, Use use, const char *kind) {
    const int before = failures;
    T twin = open();
    CHECK(twin.raw().id == owner.raw().id);  // one handle, opened twice
    owner.close();
    CHECK(!owner && owner.raw().id == 0);
    CHECK_THROWS(use(owner), PLEXUS_E_BAD_HANDLE);
    CHECK_NOTHROW(owner.close());  // an empty owner: nothing to do
    CHECK_NOTHROW(use(twin));      // the handle is still open once
    twin.close();
    CHECK_THROWS(use(twin), PLEXUS_E_BAD_HANDLE);
    owner = open();
    CHECK_NOTHROW(use(owner));
    if (failures != before) {
        std::fprintf(stderr, "  (the checks above failed in check_close for %s)\n", kind);
    }
}

/// Region's factory for every kind (each the same as the kind's open()), moves of every
/// owner, and close() of every owner giving its handle back early while the object
/// stays. Uses region `name` of its own.
void test_every_kind(const std::string &name) {
    using plexus::Barrier;
    using plexus::Bus;
    using plexus::Map;
    using plexus::Mutex;
    using plexus::Queue;
    using plexus::Semaphore;
    using plexus::Subscription;
    Region r = Region::create(name, 1 << 20);

    Array a = r.array("a", 2);
    Map m = r.map("m", 4);
    Queue q = r.queue("q", 4);
    Bus b = r.bus("b", 4);
    Subscription sub = b.subscribe(PLEXUS_FROM_OLDEST);
    Mutex mx = r.mutex("mx");
    Barrier br = r.barrier("br", 1);
    Semaphore sem = r.semaphore("sem", 2);
    CHECK(a && m && q && b && sub && mx && br && sem);
    CHECK(Bus::open(r, "b").raw().id == b.raw().id);
    CHECK(Mutex::open(r, "mx").raw().id == mx.raw().id);
    CHECK(Barrier::open(r, "br").raw().id == br.raw().id);
    CHECK(Semaphore::open(r, "sem").raw().id == sem.raw().id);
    CHECK(b.capacity() == 4 && br.parties() == 1 && sem.permits() == 2);
    // The open rules of every kind.
    CHECK_THROWS(r.bus("absent"), PLEXUS_E_NOT_FOUND);
    CHECK_THROWS(r.bus("b", 5), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.bus("b", 4, PLEXUS_EXCLUSIVE), PLEXUS_E_EXISTS);
    CHECK_THROWS(r.barrier("absent"), PLEXUS_E_NOT_FOUND);
    CHECK_THROWS(r.barrier("br", 2), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.semaphore("absent"), PLEXUS_E_NOT_FOUND);
    CHECK_THROWS(r.semaphore("sem", 3), PLEXUS_E_INCOMPATIBLE);
    CHECK_THROWS(r.mutex("a"), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(r.bus("mx", 4), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(r.barrier("sem", 2), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(r.semaphore("b", 2), PLEXUS_E_TYPE_MISMATCH);
    CHECK_THROWS(r.mutex(""), PLEXUS_E_INVALID_ARGUMENT);
    Region none;
    CHECK_THROWS(none.bus("b"), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(none.mutex("mx"), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(none.barrier("br"), PLEXUS_E_BAD_HANDLE);
    CHECK_THROWS(none.semaphore("sem"), PLEXUS_E_BAD_HANDLE);
    // The objects work through the factories' owners.
    {
        std::lock_guard<Mutex> guard(mx);
        CHECK(mx.is_locked());
    }
    CHECK(!mx.is_locked());
    CHECK(br.wait_for(0s));  // one party: the round completes at once
    CHECK(sem.try_acquire() && sem.available() == 1 && sem.held() == 1);
    CHECK(b.publish("hello") == 1);
    const auto hello = sub.try_next();
    CHECK(hello && hello->seq == 1 && hello->value.as_string() == "hello");

    // Moves, every kind.
    check_moves(r, [](const Region &x) { return x.info(); }, "Region");
    check_moves(a, [](const Array &x) { return x.len(); }, "Array");
    check_moves(m, [](const Map &x) { return x.size(); }, "Map");
    check_moves(q, [](const Queue &x) { return x.size(); }, "Queue");
    check_moves(b, [](const Bus &x) { return x.next_seq(); }, "Bus");
    check_moves(sub, [](const Subscription &x) { return x.try_next(); }, "Subscription");
    check_moves(mx, [](const Mutex &x) { return x.is_locked(); }, "Mutex");
    check_moves(br, [](const Barrier &x) { return x.parties(); }, "Barrier");
    check_moves(sem, [](const Semaphore &x) { return x.available(); }, "Semaphore");

    // close() early, every kind: the object and its state stay.
    a.write(1, "kept");
    m.write("k", "kept");
    CHECK(q.push(7));
    mx.lock();
    check_close(a, [&] { return r.array("a"); }, [](const Array &x) { return x.len(); }, "Array");
    CHECK(a.read(1).as_string() == "kept");
    check_close(m, [&] { return r.map("m"); }, [](const Map &x) { return x.size(); }, "Map");
    CHECK(m.read("k").as_string() == "kept");
    check_close(q, [&] { return r.queue("q"); }, [](const Queue &x) { return x.size(); },
                "Queue");
    CHECK(!q.is_shutdown() && q.try_pop()->as_int() == 7);
    check_close(b, [&] { return r.bus("b"); }, [](const Bus &x) { return x.next_seq(); },
                "Bus");
    CHECK(!b.is_shutdown() && b.next_seq() == 2);
    check_close(mx, [&] { return r.mutex("mx"); },
                [](const Mutex &x) { return x.is_locked(); }, "Mutex");
    CHECK(mx.is_locked());  // close() does not unlock; this thread still holds it
    mx.unlock();
    CHECK(!mx.is_locked());
    check_close(br, [&] { return r.barrier("br"); },
                [](const Barrier &x) { return x.parties(); }, "Barrier");
    CHECK(br.parties() == 1);
    check_close(sem, [&] { return r.semaphore("sem"); },
                [](const Semaphore &x) { return x.available(); }, "Semaphore");
    CHECK(sem.held() == 1 && sem.available() == 1);  // permits belong to the region handle
    sem.release();
    // A Subscription is not opened by name: close() ends it; the bus goes on.
    sub.close();
    CHECK(!sub);
    CHECK_THROWS(sub.try_next(), PLEXUS_E_BAD_HANDLE);
    CHECK(b.publish("again") == 2);
    // Closing a Bus leaves its subscriptions working.
    Subscription from_oldest = b.subscribe(PLEXUS_FROM_OLDEST);
    b.close();
    CHECK(!b);
    const auto first = from_oldest.try_next();
    CHECK(first && first->seq == 1);
    // A Region's close() gives back its handle and those opened through it; the region
    // and its objects stay for the other region handles.
    {
        Region r2 = Region::open_existing(name);
        Array through_r2 = r2.array("a");
        r2.close();
        CHECK(!r2);
        CHECK_THROWS(r2.info(), PLEXUS_E_BAD_HANDLE);
        CHECK_THROWS(through_r2.len(), PLEXUS_E_BAD_HANDLE);
    }
    CHECK(a.read(1).as_string() == "kept" && r.info().object_count == 7);
}

// ---- remote regions ----

/// A TCP port of 127.0.0.1 nothing listens on (at the time of the call).
int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/// Whether a server on `port` of 127.0.0.1 answers PING with +PONG.
bool ping(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    timeval tv{0, 500000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    char buf[8] = {0};
    const bool ok = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
                    send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6 &&
                    recv(fd, buf, 7, MSG_WAITALL) == 7 && std::string(buf) == "+PONG\r\n";
    close(fd);
    return ok;
}

/// The first executable `name` on the PATH, or "".
std::string on_path(const std::string &name) {
    const char *path = std::getenv("PATH");
    std::string dirs = path ? path : "";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string file = dirs.substr(start, end - start) + "/" + name;
        struct stat st {};
        if (end > start && stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            access(file.c_str(), X_OK) == 0) {
            return file;
        }
        start = end + 1;
    }
    return "";
}

/// A private redis-server on a free port of 127.0.0.1, without persistence, in a
/// temporary directory; killed (and the directory removed) by the destructor. `port` is 0
/// when redis-server is not installed (after a loud SKIPPED, or a failed CHECK under CI).
struct RedisServer {
    pid_t pid = -1;
    int port = 0;
    std::string dir;

    RedisServer() {
        std::string bin = on_path("redis-server");
        if (bin.empty()) {
            bin = on_path("valkey-server");
        }
        if (bin.empty()) {
            const char *why = "redis-server is not installed (apt-get install redis-server)";
            if (std::getenv("CI") != nullptr) {
                fail(__FILE__, __LINE__,
                     std::string(why) + ", and CI is set: CI must install redis-server");
            } else {
                const std::string bar(78, '*');
                std::fprintf(stderr,
                             "\n%s\nSKIPPED: %s: the remote-region checks of test_cpp_wrapper "
                             "did not run\n%s\n\n",
                             bar.c_str(), why, bar.c_str());
            }
            return;
        }
        char tmpl[] = "/tmp/plexus-redis-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) {
            fail(__FILE__, __LINE__, "mkdtemp failed");
            return;
        }
        dir = tmpl;
        for (int attempt = 0; attempt < 5 && port == 0; ++attempt) {
            const int p = free_port();
            const std::string ps = std::to_string(p);
            std::vector<std::string> args = {bin,          "--port", ps,   "--bind",
                                             "127.0.0.1",  "--save", "",   "--appendonly",
                                             "no",         "--dir",  dir};
            std::vector<char *> argv;
            for (auto &a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            posix_spawn_file_actions_t fa;
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
            posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
            const int err = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
            posix_spawn_file_actions_destroy(&fa);
            if (err != 0) {
                pid = -1;
                fail(__FILE__, __LINE__, "cannot start " + bin + ": " + std::strerror(err));
                return;
            }
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (std::chrono::steady_clock::now() < deadline) {
                if (ping(p)) {
                    port = p;
                    break;
                }
                int status = 0;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                    pid = -1;  // exited: the port was taken meanwhile
                    break;
                }
                std::this_thread::sleep_for(20ms);
            }
            if (port == 0) {
                stop();
            }
        }
        CHECK(port != 0);
    }

    void stop() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            pid = -1;
        }
    }

    ~RedisServer() {
        stop();
        if (!dir.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    }

    RedisServer(const RedisServer &) = delete;
    RedisServer &operator=(const RedisServer &) = delete;

    std::string url(const std::string &region) const {
        return "redis://127.0.0.1:" + std::to_string(port) + "/" + region;
    }
};

/// The statuses of remote regions, and what needs no server: an unreachable server, a
/// check of a remote region, a bad URL; passwords never in messages.
void test_remote_statuses() {
    CHECK(std::string(plexus::status_name(PLEXUS_E_UNAVAILABLE)) == "PLEXUS_E_UNAVAILABLE");
    CHECK(std::string(plexus::status_name(PLEXUS_E_REGION_LOST)) == "PLEXUS_E_REGION_LOST");
    CHECK(std::string(plexus::status_name(PLEXUS_E_UNSUPPORTED)) == "PLEXUS_E_UNSUPPORTED");
    CHECK(PLEXUS_E_UNAVAILABLE == 113 && PLEXUS_E_REGION_LOST == 114 &&
          PLEXUS_E_UNSUPPORTED == 115);
    CHECK_THROWS(plexus::check(PLEXUS_E_REGION_LOST), PLEXUS_E_REGION_LOST);

    const std::string gone = "redis://user:pw-secret@127.0.0.1:" + std::to_string(free_port()) +
                             "/cppwrap?timeout_ms=300";
    try {
        Region::open(gone);
        fail(__FILE__, __LINE__, "opening a region on an unreachable server did not throw");
    } catch (const plexus::Error &e) {
        const std::string what = e.what();
        CHECK(e.status() == PLEXUS_E_UNAVAILABLE);
        CHECK(starts_with(what, "PLEXUS_E_UNAVAILABLE: "));
        CHECK(what.find("pw-secret") == std::string::npos);
        CHECK(what.find("user:***@127.0.0.1") != std::string::npos);
    }
    CHECK_THROWS(plexus::check_region(gone), PLEXUS_E_UNSUPPORTED);
    try {
        Region::open("redis://u:topsecret@127.0.0.1:1/x?nope=1");
        fail(__FILE__, __LINE__, "a bad redis:// URL did not throw");
    } catch (const plexus::Error &e) {
        CHECK(e.status() == PLEXUS_E_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("topsecret") == std::string::npos);
    }
}

/// The same wrapper calls on a remote region of a private redis-server.
void test_remote_region() {
    RedisServer server;
    if (server.port == 0) {
        return;
    }
    const std::string url = server.url("cppwrap-" + std::to_string(getpid()));
    Region r = Region::create(url);
    CHECK_THROWS(Region::create(url), PLEXUS_E_EXISTS);
    Array a = r.array("a", 4);
    a.write_ef(0, "hello");
    CHECK(a.read_fe(0).as_string() == "hello");
    CHECK(!a.read_fe_for(0, 100ms));
    a.write(1, Value(std::int64_t{40}));
    CHECK(a.faa(1, Value(std::int64_t{2})).as_int() == 40);
    CHECK(a.read(1).as_int() == 42);
    plexus::Map m = r.map("m", 8);
    m.write_xf("k", Value::from_json("{\"x\":[1,2]}"));
    CHECK(m.read_ff("k").to_json() == "{\"x\":[1,2]}");
    // A reader blocked on the server is woken by a writer on another region handle.
    {
        Region other = Region::open_existing(url);
        Array b = other.array("a");
        std::thread reader([&] { CHECK(b.read_fe_for(2, 30s).value_or(Value()).as_string() == "wake"); });
        std::this_thread::sleep_for(100ms);
        CHECK(a.write_ef_for(2, "wake", 30s));
        reader.join();
    }
    const plexus::RegionInfo info = r.info();
    CHECK(info.object_count == 2);
    CHECK(info.attached_processes >= 1);
    CHECK_NOTHROW(r.flush());
    // Removal: every handle of the region gets REMOVED from its next call.
    Region::remove(url);
    CHECK_THROWS(a.read(0), PLEXUS_E_REMOVED);
    CHECK_THROWS(m.read("k"), PLEXUS_E_REMOVED);
    CHECK_THROWS(r.array("a"), PLEXUS_E_REMOVED);
    CHECK_THROWS(Region::open_existing(url), PLEXUS_E_NOT_FOUND);
    CHECK(!Region::try_remove(url));
    // The server gone: UNAVAILABLE (within the URL's timeout_ms), nothing hangs.
    Region again = Region::create(url + "?timeout_ms=300");
    Array c = again.array("c", 1);
    server.stop();
    CHECK_THROWS(c.read(0), PLEXUS_E_UNAVAILABLE);
}

/// Removes the test regions when the test ends, however it ends.
struct RegionCleanup {
    std::string name;
    ~RegionCleanup() {
        try {
            Region::try_remove(name);
            Region::try_remove(name + "-b");
            Region::try_remove(name + "-kinds");
        } catch (const std::exception &e) {
            std::fprintf(stderr, "cleanup of %s failed: %s\n", name.c_str(), e.what());
        }
    }
};

}  // namespace

// A region removed under open objects: every call throws PLEXUS_E_REMOVED, and a
// thread blocked in read_fe wakes with it.
void test_removed(const std::string &name) {
    Region r = Region::create(name, 1u << 20);
    Array a = r.array("a", 2);
    plexus::Queue stack = r.queue("s", 3, PLEXUS_LIFO);
    const std::vector<plexus::ObjectInfo> objects = r.objects();
    CHECK(objects.size() == 2);
    CHECK(objects.size() == 2 && objects[0].name == "a" && objects[0].kind == "array" &&
          objects[0].shape == 2);  // sorted by name
    CHECK(objects.size() == 2 && objects[1].name == "s" && objects[1].kind == "stack" &&
          objects[1].shape == 3);
    std::thread waiter([&] { CHECK_THROWS(a.read_fe(1), PLEXUS_E_REMOVED); });
    std::this_thread::sleep_for(50ms);
    Region::remove(name);
    waiter.join();
    CHECK_THROWS(a.read(0), PLEXUS_E_REMOVED);
    CHECK_THROWS(a.write(0, 1), PLEXUS_E_REMOVED);
    CHECK_THROWS(r.info(), PLEXUS_E_REMOVED);
    CHECK_THROWS(r.array("b", 1), PLEXUS_E_REMOVED);
    CHECK(!Region::try_remove(name));
}

int main() {
    const std::string name = "cppwrap-" + std::to_string(getpid());
    try {
        RegionCleanup cleanup{name};
        test_version_and_errors();
        test_timeouts();
        test_values();
        test_regions(name);
        Region r = Region::open_existing(name);
        test_array_basics(r);
        test_full_empty(r);
        test_atomics(r);
        test_versions(r);
        test_array_ownership(r, name);
        CHECK(r.info().object_count == 8);
        test_every_kind(name + "-kinds");
        test_removed(name + "-removed");
        test_remote_statuses();
        test_remote_region();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++failures;
    }
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp_wrapper: %d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test_cpp_wrapper: OK\n");
    return 0;
}
