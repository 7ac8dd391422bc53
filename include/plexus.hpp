/*
 * plexus.hpp — header-only C++17 wrapper over plexus.h.
 *
 * Everything lives in namespace `plexus`; every function is inline, so there is no
 * library to build beyond libplexus itself. Include it alone (it includes plexus.h).
 *
 *   plexus::Region r = plexus::Region::open("jobs");            // open or create
 *   plexus::Array cells = r.array("cells", 16);                  // 16 elements
 *   cells.write_ef(0, "hello");                                  // wait EMPTY, write
 *   if (auto v = cells.read_fe_for(0, std::chrono::seconds(1)))  // wait FULL, consume
 *       std::cout << v->to_json() << "\n";
 *   plexus::Queue work = r.queue("work", 64);                    // FIFO of up to 64 values
 *   bool pushed = work.push("resize photo 17");                  // false: queue shut down
 *   while (std::optional<plexus::Value> job = work.pop())        // until shut down and empty
 *       std::cout << job->as_string() << "\n";
 *
 * RULES
 *   - Owners are move-only RAII classes (Region, Array, Map, Queue, Bus, Subscription,
 *     Mutex, Barrier, Semaphore). One verb per meaning, as in C: close() gives the handle
 *     back early (plexus_<kind>_close) and never changes the object; the destructor
 *     (noexcept) does the same. Ending a Queue or a Bus for every process is shutdown()
 *     (plexus_queue_shutdown / plexus_bus_shutdown). A moved-from or closed owner is
 *     empty (`operator bool` is false) and any call on it throws plexus::Error with
 *     PLEXUS_E_BAD_HANDLE. `raw()` returns the C handle for calls the wrapper does not
 *     cover (it stays owned by the wrapper).
 *   - Failures throw plexus::Error, which carries the plexus_status. Expected outcomes
 *     are not exceptions: `try_*` (try once) and `*_for` (wait up to a duration) return
 *     `bool` or `std::optional` and report PLEXUS_TIMEOUT as false / std::nullopt.
 *     Calls without a suffix block without limit. A queue or bus that is shut down
 *     (PLEXUS_CLOSED) is an expected outcome too: Queue::push returns false, Queue::pop
 *     std::nullopt.
 *   - Timeouts are std::chrono durations of any representation: durations <= 0 mean
 *     "try once", durations of about 292 years or more (and plexus::forever) mean
 *     "without limit".
 *   - plexus::Value owns its data (deep copies), so it outlives the call, the array
 *     and the region it came from.
 *   - Thread safety is that of the C library: handles may be used from any thread. A
 *     single wrapper object may be used from several threads as long as none of them
 *     moves, assigns or destroys it meanwhile.
 */

#ifndef PLEXUS_HPP
#define PLEXUS_HPP

#include <plexus.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace plexus {

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// The name of a status as a static string ("PLEXUS_TIMEOUT"). Never throws.
inline const char *status_name(plexus_status status) noexcept {
    return plexus_status_name(status);
}

/// The library's runtime version, `(major << 16) | (minor << 8) | patch`; compare it
/// with PLEXUS_VERSION_MAJOR/MINOR/PATCH of the header compiled against.
inline std::uint32_t version() noexcept { return plexus_version(); }

/// How many locks inside regions this process has taken over from owners that died
/// holding them (plexus_recovered_locks); a diagnostic, never throws.
inline std::uint64_t recovered_locks() noexcept { return plexus_recovered_locks(); }

/// A failed plexus call. `status()` is the C status (PLEXUS_E_* for errors; also
/// PLEXUS_TIMEOUT when a call that cannot time out reported one). `what()` is the
/// status name, ": ", and the library's message (plexus_last_error()).
class Error : public std::runtime_error {
  public:
    /// An error for `status` whose message is taken from plexus_last_error(); build it
    /// right after the failing call, on the same thread.
    explicit Error(plexus_status status)
        : std::runtime_error(std::string(plexus_status_name(status)) + ": " +
                             plexus_last_error()),
          status_(status) {}

    /// An error for `status` with a message of the wrapper's own (used for failures
    /// detected in C++, such as reading a STRING Value as an INT).
    Error(plexus_status status, const std::string &message)
        : std::runtime_error(std::string(plexus_status_name(status)) + ": " + message),
          status_(status) {}

    /// The plexus_status that caused this error.
    plexus_status status() const noexcept { return status_; }

  private:
    plexus_status status_;
};

/// Throws plexus::Error for any status except PLEXUS_OK (outcomes such as
/// PLEXUS_TIMEOUT included; callers that expect them test for them first).
inline void check(plexus_status status) {
    if (status != PLEXUS_OK) {
        throw Error(status);
    }
}

// ---------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------

/// The wrapper's timeout type. Any std::chrono duration converts to it.
using Timeout = std::chrono::nanoseconds;

/// Wait without limit (converts to PLEXUS_FOREVER).
inline constexpr Timeout forever = Timeout::max();

/// Converts a duration to the C `timeout_ns` convention: <= 0 (and NaN) gives 0 (try
/// once); a positive duration is rounded up to whole nanoseconds (so it never becomes
/// "try once"); anything that does not fit in int64 nanoseconds (and plexus::forever)
/// gives PLEXUS_FOREVER.
template <class Rep, class Period>
inline std::int64_t to_timeout_ns(const std::chrono::duration<Rep, Period> &d) {
    // Compare in long double so that huge or fractional durations never overflow.
    const long double ns =
        std::chrono::duration_cast<std::chrono::duration<long double, std::nano>>(d)
            .count();
    if (!(ns > 0.0L)) {
        return 0;  // zero, negative or NaN
    }
    const long double up = std::ceil(ns);
    if (up >= static_cast<long double>(std::numeric_limits<std::int64_t>::max())) {
        return PLEXUS_FOREVER;
    }
    return static_cast<std::int64_t>(up);
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

/// Bytes of a BYTES value or the MessagePack of an OBJECT value.
using Bytes = std::vector<std::uint8_t>;

/// "UNDEFINED", "NULL", "BOOL", "INT", "FLOAT", "STRING", "BYTES", "OBJECT" (or
/// "UNKNOWN" for a value that is not a plexus_type).
inline const char *type_name(plexus_type t) noexcept {
    switch (t) {
    case PLEXUS_UNDEFINED: return "UNDEFINED";
    case PLEXUS_NULL: return "NULL";
    case PLEXUS_BOOL: return "BOOL";
    case PLEXUS_INT: return "INT";
    case PLEXUS_FLOAT: return "FLOAT";
    case PLEXUS_STRING: return "STRING";
    case PLEXUS_BYTES: return "BYTES";
    case PLEXUS_OBJECT: return "OBJECT";
    }
    return "UNKNOWN";
}

/// A dynamically typed plexus value that owns its data.
///
/// Implicit construction: `bool` -> BOOL; integer types -> INT (an unsigned value above
/// INT64_MAX throws PLEXUS_E_INVALID_ARGUMENT); `float`/`double`/`long double` -> FLOAT;
/// `const char*`, `std::string`, `std::string_view` -> STRING; `Bytes` -> BYTES;
/// `nullptr` -> NULL; `Value()` is UNDEFINED. Character types (`char`, `wchar_t`,
/// `char8_t`, `char16_t`, `char32_t`) and pointers other than `const char*` are
/// deliberately rejected at compile time, so `Value('a')` does not silently become INT 97
/// and `Value(&x)` does not become BOOL true.
///
/// Copies are deep; moves are cheap. Strings are not checked for UTF-8 here: the library
/// rejects invalid UTF-8 (PLEXUS_E_INVALID_ARGUMENT) when the value is used.
class Value {
    template <class T>
    static constexpr bool is_character_v =
        std::is_same_v<T, char> || std::is_same_v<T, wchar_t> ||
#if defined(__cpp_char8_t)
        std::is_same_v<T, char8_t> ||
#endif
        std::is_same_v<T, char16_t> || std::is_same_v<T, char32_t>;

  public:
    /// UNDEFINED.
    Value() noexcept : type_(PLEXUS_UNDEFINED), data_() {}
    /// NULL.
    Value(std::nullptr_t) noexcept : type_(PLEXUS_NULL), data_() {}
    /// BOOL.
    Value(bool b) noexcept : type_(PLEXUS_BOOL), data_(b) {}
    /// INT from any integer type except bool and character types.
    template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                            !is_character_v<T>,
                                        int> = 0>
    Value(T i) : type_(PLEXUS_INT), data_(checked_int(i)) {}
    /// FLOAT from any floating-point type.
    template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
    Value(T f) noexcept : type_(PLEXUS_FLOAT), data_(static_cast<double>(f)) {}
    /// STRING (copied). Throws PLEXUS_E_INVALID_ARGUMENT for a null pointer.
    Value(const char *s) : type_(PLEXUS_STRING), data_(std::string(non_null(s))) {}
    /// STRING (copied; may contain NUL bytes).
    Value(std::string_view s) : type_(PLEXUS_STRING), data_(std::string(s)) {}
    /// STRING (moved in).
    Value(std::string s) noexcept : type_(PLEXUS_STRING), data_(std::move(s)) {}
    /// BYTES (moved in).
    Value(Bytes b) noexcept : type_(PLEXUS_BYTES), data_(std::move(b)) {}

    /// Deep copy.
    Value(const Value &) = default;
    /// Deep copy.
    Value &operator=(const Value &) = default;
    /// Moves the data; `other` becomes UNDEFINED.
    Value(Value &&other) noexcept
        : type_(std::exchange(other.type_, PLEXUS_UNDEFINED)),
          data_(std::exchange(other.data_, Data())) {}
    /// Moves the data; `other` becomes UNDEFINED.
    Value &operator=(Value &&other) noexcept {
        if (this != &other) {
            type_ = std::exchange(other.type_, PLEXUS_UNDEFINED);
            data_ = std::exchange(other.data_, Data());
        }
        return *this;
    }
    ~Value() = default;

    /// Character types are rejected (use a string, or cast to an integer type).
    template <class T, std::enable_if_t<is_character_v<T>, int> = 0> Value(T) = delete;
    /// Other pointers are rejected (they would silently become BOOL true).
    template <class T> Value(const T *) = delete;

    /// UNDEFINED (what a fresh element holds).
    static Value undefined() noexcept { return Value(); }
    /// NULL.
    static Value null() noexcept { return Value(nullptr); }
    /// OBJECT from MessagePack bytes (checked by the library when the value is stored or
    /// converted to JSON: one well-formed MessagePack value).
    static Value object_msgpack(Bytes msgpack) noexcept {
        Value v;
        v.type_ = PLEXUS_OBJECT;
        v.data_ = std::move(msgpack);
        return v;
    }
    /// Parses JSON: null, booleans, integers (INT when they fit in 64 bits, else FLOAT),
    /// other numbers (FLOAT), strings (STRING); objects and arrays become OBJECT.
    /// Throws plexus::Error (PLEXUS_E_INVALID_ARGUMENT) for bad JSON.
    static Value from_json(std::string_view json) {
        const std::string text(json);  // the C call needs a terminator
        plexus_value out = empty_c_value();
        check(plexus_value_from_json(text.c_str(), &out));
        return adopt(out);
    }

    /// Copies a C value (borrowed or owned) without taking ownership of it: `v` is left
    /// as it was. Throws PLEXUS_E_INVALID_ARGUMENT for an unknown type tag.
    static Value copy_from(const plexus_value &v) {
        // Read the tag as an integer: an out-of-range plexus_type must not be loaded as
        // the enum (undefined behaviour in C++).
        std::uint32_t tag = 0;
        static_assert(sizeof(v.type) == sizeof(tag), "plexus_type is 32 bits");
        std::memcpy(&tag, &v.type, sizeof(tag));
        switch (tag) {
        case PLEXUS_UNDEFINED: return Value();
        case PLEXUS_NULL: return Value(nullptr);
        case PLEXUS_BOOL: return Value(static_cast<bool>(v.as.b));
        case PLEXUS_INT: return Value(static_cast<std::int64_t>(v.as.i));
        case PLEXUS_FLOAT: return Value(static_cast<double>(v.as.f));
        case PLEXUS_STRING: {
            const char *p = static_cast<const char *>(v.as.buf.ptr);
            return Value(p == nullptr ? std::string() : std::string(p, v.as.buf.len));
        }
        case PLEXUS_BYTES: return Value(buf_bytes(v.as.buf));
        case PLEXUS_OBJECT: return object_msgpack(buf_bytes(v.as.buf));
        }
        throw Error(PLEXUS_E_INVALID_ARGUMENT,
                    "plexus_value has unknown type tag " + std::to_string(tag));
    }

    /// Takes ownership of a value the library filled in (any read): copies its data, then
    /// releases it with plexus_value_free, which leaves `v` UNDEFINED. `v` is released
    /// even when this throws (out of memory, unknown type tag).
    static Value adopt(plexus_value &v) {
        struct Release {
            plexus_value &v;
            ~Release() { plexus_value_free(&v); }
        } release{v};
        return copy_from(v);
    }

    /// The type of the value.
    plexus_type type() const noexcept { return type_; }
    bool is_undefined() const noexcept { return type_ == PLEXUS_UNDEFINED; }
    bool is_null() const noexcept { return type_ == PLEXUS_NULL; }
    bool is_bool() const noexcept { return type_ == PLEXUS_BOOL; }
    bool is_int() const noexcept { return type_ == PLEXUS_INT; }
    bool is_float() const noexcept { return type_ == PLEXUS_FLOAT; }
    /// INT or FLOAT.
    bool is_number() const noexcept { return is_int() || is_float(); }
    bool is_string() const noexcept { return type_ == PLEXUS_STRING; }
    bool is_bytes() const noexcept { return type_ == PLEXUS_BYTES; }
    bool is_object() const noexcept { return type_ == PLEXUS_OBJECT; }

    /// The BOOL. Throws plexus::Error (PLEXUS_E_TYPE_MISMATCH) for any other type; so do
    /// all the accessors below for a type other than theirs.
    bool as_bool() const { return std::get<bool>(expect(PLEXUS_BOOL)); }
    /// The INT.
    std::int64_t as_int() const { return std::get<std::int64_t>(expect(PLEXUS_INT)); }
    /// The FLOAT (strict: an INT throws; use as_number() to accept both).
    double as_float() const { return std::get<double>(expect(PLEXUS_FLOAT)); }
    /// An INT or FLOAT as double.
    double as_number() const {
        if (type_ == PLEXUS_INT) {
            return static_cast<double>(std::get<std::int64_t>(data_));
        }
        return as_float();
    }
    /// The STRING (UTF-8; may contain NUL bytes). Valid while this Value is unchanged.
    const std::string &as_string() const { return std::get<std::string>(expect(PLEXUS_STRING)); }
    /// The BYTES. Valid while this Value is unchanged.
    const Bytes &as_bytes() const { return std::get<Bytes>(expect(PLEXUS_BYTES)); }
    /// The MessagePack of an OBJECT. Valid while this Value is unchanged.
    const Bytes &msgpack() const { return std::get<Bytes>(expect(PLEXUS_OBJECT)); }

    /// JSON text of the value (plexus_value_to_json): UNDEFINED and non-finite floats
    /// become `null`, BYTES an array of numbers. Throws plexus::Error for invalid UTF-8
    /// (PLEXUS_E_INVALID_ARGUMENT) or an OBJECT that is not valid MessagePack.
    std::string to_json() const {
        const plexus_value v = c_value();
        std::size_t needed = 0;
        plexus_status s = plexus_value_to_json(&v, nullptr, 0, &needed);
        std::string text;
        while (s == PLEXUS_E_BUFFER_TOO_SMALL) {
            text.resize(needed);  // includes the terminating NUL
            s = plexus_value_to_json(&v, text.data(), text.size(), &needed);
        }
        check(s);
        text.resize(needed > 0 ? needed - 1 : 0);  // drop the NUL
        return text;
    }

    /// Same type and value, as plexus_value_equal (and as `cas` compares): numbers
    /// numerically (NaN equals nothing), strings, bytes and objects byte for byte. INT 1
    /// and FLOAT 1.0 are different. Never throws; an invalid value equals nothing.
    friend bool operator==(const Value &a, const Value &b) noexcept {
        const plexus_value ca = a.c_value();
        const plexus_value cb = b.c_value();
        return plexus_value_equal(&ca, &cb);
    }
    friend bool operator!=(const Value &a, const Value &b) noexcept { return !(a == b); }

    /// A C view of this value for passing to plexus.h calls. It borrows this Value's
    /// memory: valid until this Value is modified or destroyed; never plexus_value_free
    /// it (that is a harmless no-op) and never let the library write into it.
    plexus_value c_value() const noexcept {
        plexus_value v = empty_c_value();
        v.type = type_;
        switch (type_) {
        case PLEXUS_BOOL: v.as.b = std::get<bool>(data_); break;
        case PLEXUS_INT: v.as.i = std::get<std::int64_t>(data_); break;
        case PLEXUS_FLOAT: v.as.f = std::get<double>(data_); break;
        case PLEXUS_STRING: {
            const std::string &s = std::get<std::string>(data_);
            v.as.buf.ptr = s.data();
            v.as.buf.len = s.size();
            break;
        }
        case PLEXUS_BYTES:
        case PLEXUS_OBJECT: {
            const Bytes &b = std::get<Bytes>(data_);
            v.as.buf.ptr = b.data();
            v.as.buf.len = b.size();
            break;
        }
        case PLEXUS_UNDEFINED:
        case PLEXUS_NULL: break;
        }
        return v;
    }

  private:
    using Data = std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes>;

    static plexus_value empty_c_value() noexcept {
        plexus_value v;
        v.type = PLEXUS_UNDEFINED;
        v.as.buf.ptr = nullptr;
        v.as.buf.len = 0;
        v.owner = nullptr;
        return v;
    }

    template <class T> static std::int64_t checked_int(T i) {
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
            if (i > static_cast<T>(std::numeric_limits<std::int64_t>::max())) {
                throw Error(PLEXUS_E_INVALID_ARGUMENT,
                            "unsigned integer " + std::to_string(i) +
                                " does not fit in a plexus INT (int64)");
            }
        }
        return static_cast<std::int64_t>(i);
    }

    static const char *non_null(const char *s) {
        if (s == nullptr) {
            throw Error(PLEXUS_E_INVALID_ARGUMENT, "Value(const char*) given a null pointer");
        }
        return s;
    }

    static Bytes buf_bytes(const plexus_buf &b) {
        if (b.ptr == nullptr || b.len == 0) {
            return Bytes();
        }
        const std::uint8_t *p = static_cast<const std::uint8_t *>(b.ptr);
        return Bytes(p, p + b.len);
    }

    const Data &expect(plexus_type wanted) const {
        if (type_ != wanted) {
            throw Error(PLEXUS_E_TYPE_MISMATCH, std::string("value is ") + type_name(type_) +
                                                    ", not " + type_name(wanted));
        }
        return data_;
    }

    plexus_type type_ = PLEXUS_UNDEFINED;
    Data data_;
};

namespace detail {

/// An UNDEFINED C value to pass as an out-parameter (owns nothing).
inline plexus_value out_value() noexcept {
    plexus_value v;
    v.type = PLEXUS_UNDEFINED;
    v.as.buf.ptr = nullptr;
    v.as.buf.len = 0;
    v.owner = nullptr;
    return v;
}

/// Runs `call(plexus_value *out)`; on PLEXUS_OK returns the adopted value, on
/// PLEXUS_TIMEOUT (only when `timeout_is_outcome`) std::nullopt, otherwise throws.
template <class Call>
inline std::optional<Value> read_into(Call &&call, bool timeout_is_outcome) {
    plexus_value out = out_value();
    const plexus_status s = call(&out);
    if (s != PLEXUS_OK) {
        Error e(s);  // capture plexus_last_error() before any other call
        plexus_value_free(&out);  // documented unchanged; free defensively (no-op)
        if (s == PLEXUS_TIMEOUT && timeout_is_outcome) {
            return std::nullopt;
        }
        throw e;
    }
    return Value::adopt(out);
}

/// `true` for PLEXUS_OK, `false` for PLEXUS_TIMEOUT, throws otherwise.
inline bool ok_or_timeout(plexus_status s) {
    if (s == PLEXUS_TIMEOUT) {
        return false;
    }
    check(s);
    return true;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Regions and arrays
// ---------------------------------------------------------------------------------------

/// Options of Region::open, mapped onto plexus_region_options (PLEXUS_REGION_OPTIONS_INIT
/// defaults: open or create, default size 64 MiB, mode 0600, no wait).
struct RegionOptions {
    /// PLEXUS_OPEN_OR_CREATE, PLEXUS_CREATE, PLEXUS_OPEN or PLEXUS_RECREATE.
    plexus_open_mode mode = PLEXUS_OPEN_OR_CREATE;
    /// Bytes, when creating (rounded up to 4 KiB by the library); 0 = 64 MiB.
    std::uint64_t size = 0;
    /// File mode when creating, applied exactly; 0 = 0600.
    std::uint32_t permissions = 0;
    /// PLEXUS_OPEN only: how long to wait for the region to appear (0 = do not wait,
    /// plexus::forever = without limit).
    Timeout wait = Timeout::zero();

    /// The C options struct (struct_size filled in as PLEXUS_REGION_OPTIONS_INIT does).
    plexus_region_options c_options() const {
        plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
        o.mode = mode;
        o.size = size;
        o.permissions = permissions;
        o.wait_ns = to_timeout_ns(wait);
        return o;
    }
};

/// Region statistics: size, heap_size/used/free, object_count, attached_processes,
/// format_version, region_id, created_unix_ns (see plexus_region_info in plexus.h).
using RegionInfo = plexus_region_info;

/// What check_region found: the counts of plexus_check_result (verdict, live_processes,
/// dead_processes, dead_locks, leaked_blocks, leaked_bytes, stale_entries, problems,
/// repairs, repair_skipped, heap_used; see plexus.h) and the human-readable report.
struct CheckReport : plexus_check_result {
    /// One finding per line, with its place in the region.
    std::string text;
    /// Every structure valid, nothing leaked, nothing stale.
    bool consistent() const noexcept { return verdict == PLEXUS_CHECK_CONSISTENT; }
    /// Valid, but leaked heap blocks or stale entries of dead processes remain.
    bool reclaimable() const noexcept { return verdict == PLEXUS_CHECK_RECLAIMABLE; }
    /// Something is damaged: `text` says what and where.
    bool corrupt() const noexcept { return verdict == PLEXUS_CHECK_CORRUPT; }
};

/// Checks region `name` without opening a handle (plexus_region_check): validates every
/// structure, counts dead processes, their locks, leaked heap blocks and stale entries.
/// Only reads, unless `repair`: then stale entries of dead processes are cleaned up, and
/// leaked blocks are reclaimed when no other process is attached (never in a corrupt
/// region). A damaged region is a result (`corrupt()`), not an exception; throws
/// plexus::Error for PLEXUS_E_NOT_FOUND, PLEXUS_E_INCOMPATIBLE, PLEXUS_E_PERMISSION, ...
inline CheckReport check_region(const std::string &name, bool repair = false) {
    CheckReport r{};
    plexus_value text = plexus_undefined();
    check(plexus_region_check(name.c_str(), repair ? PLEXUS_CHECK_REPAIR : 0u, &r, &text));
    r.text = Value::adopt(text).as_string();
    return r;
}

class Region;

/// An open array handle (indexed elements, each a value + FULL/EMPTY tag + version).
/// Move-only; obtained from Region::array. The destructor undoes its open
/// (plexus_array_close) and ignores errors, including PLEXUS_E_BAD_HANDLE when the region
/// was closed first (closing a region closes its arrays). Every call on an Array whose region has been closed throws
/// PLEXUS_E_BAD_HANDLE.
///
/// Unless stated otherwise a call throws plexus::Error on failure, e.g.
/// PLEXUS_E_OUT_OF_RANGE for `index >= len()`, PLEXUS_E_INVALID_ARGUMENT for a value
/// the library rejects (invalid UTF-8 or MessagePack), PLEXUS_E_NO_SPACE when the region
/// heap is full, PLEXUS_E_BAD_HANDLE for an empty, moved-from or closed Array.
/// Blocking calls without a suffix wait without limit; `try_*` try once; `*_for` wait up
/// to the given duration; both report PLEXUS_TIMEOUT as false / std::nullopt.
///
/// Handle sharing: one region handle hands out one handle per array name, so Arrays
/// opened twice through the same Region share a handle; the library counts the opens
/// and the handle stays valid until the last of them is closed.
class Array {
  public:
    /// An empty Array (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Array() noexcept = default;
    Array(const Array &) = delete;
    Array &operator=(const Array &) = delete;
    Array(Array &&other) noexcept : h_(std::exchange(other.h_, plexus_array{0})) {}
    Array &operator=(Array &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_array{0});
        }
        return *this;
    }
    ~Array() { close(); }

    /// Opens (or, with `length > 0`, creates) the array `name` in `region`; same as
    /// region.array(name, length, flags).
    static Array open(const Region &region, const std::string &name, std::uint64_t length = 0,
                      std::uint32_t flags = 0);

    /// Closes the handle now (see the class comment); the Array becomes empty. Never
    /// throws. The array itself stays in the region.
    void close() noexcept {
        if (h_.id == 0) {
            return;
        }
        const plexus_array h = std::exchange(h_, plexus_array{0});
        (void)plexus_array_close(h);  // BAD_HANDLE when the region went first: fine
    }

    /// The C handle (still owned by this Array: do not plexus_array_close it).
    plexus_array raw() const noexcept { return h_; }
    /// True unless empty or moved-from (a closed region is not detected here).
    explicit operator bool() const noexcept { return h_.id != 0; }

    /// Number of elements (plexus_array_len).
    std::uint64_t len() const {
        std::uint64_t n = 0;
        check(plexus_array_len(h_, &n));
        return n;
    }

    /// Reads element `i` whatever its tag (tag unchanged). Never blocks on the tag;
    /// waits only for the element's internal lock. Atomic (never torn).
    Value read(std::uint64_t i) const {
        return *detail::read_into(
            [&](plexus_value *out) { return plexus_array_read(h_, i, out); }, false);
    }
    /// Writes `v` into element `i` whatever its tag (tag unchanged). Waits while
    /// read_rw readers hold the element.
    void write(std::uint64_t i, const Value &v) const {
        const plexus_value c = v.c_value();
        check(plexus_array_write(h_, i, &c));
    }

    /// Blocks without limit until element `i` is FULL (and not held by read_rw), reads
    /// it and leaves it EMPTY (consume).
    Value read_fe(std::uint64_t i) const { return *read_fe_ns(i, PLEXUS_FOREVER); }
    /// read_fe if element `i` is FULL now; std::nullopt (element untouched) if not.
    std::optional<Value> try_read_fe(std::uint64_t i) const { return read_fe_ns(i, 0); }
    /// read_fe waiting at most `d`; std::nullopt when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_fe_for(std::uint64_t i,
                                     const std::chrono::duration<Rep, Period> &d) const {
        return read_fe_ns(i, to_timeout_ns(d));
    }

    /// Blocks without limit until element `i` is FULL, reads it and leaves it FULL (peek).
    Value read_ff(std::uint64_t i) const { return *read_ff_ns(i, PLEXUS_FOREVER); }
    /// read_ff if element `i` is FULL now; std::nullopt if not.
    std::optional<Value> try_read_ff(std::uint64_t i) const { return read_ff_ns(i, 0); }
    /// read_ff waiting at most `d`; std::nullopt when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_ff_for(std::uint64_t i,
                                     const std::chrono::duration<Rep, Period> &d) const {
        return read_ff_ns(i, to_timeout_ns(d));
    }

    /// Blocks without limit until element `i` is EMPTY, writes `v` and leaves it FULL
    /// (produce).
    void write_ef(std::uint64_t i, const Value &v) const {
        check(write_ef_ns(i, v, PLEXUS_FOREVER));
    }
    /// write_ef if element `i` is EMPTY now: true when written, false (nothing written)
    /// if it is FULL.
    bool try_write_ef(std::uint64_t i, const Value &v) const {
        return detail::ok_or_timeout(write_ef_ns(i, v, 0));
    }
    /// write_ef waiting at most `d`: true when written, false when `d` passed first.
    template <class Rep, class Period>
    bool write_ef_for(std::uint64_t i, const Value &v,
                      const std::chrono::duration<Rep, Period> &d) const {
        return detail::ok_or_timeout(write_ef_ns(i, v, to_timeout_ns(d)));
    }

    /// Writes `v` and leaves element `i` FULL whatever the tag was (waits only while
    /// read_rw readers hold it).
    void write_xf(std::uint64_t i, const Value &v) const {
        const plexus_value c = v.c_value();
        check(plexus_array_write_xf(h_, i, &c));
    }
    /// Writes `v` and leaves element `i` EMPTY whatever the tag was (waits only while
    /// read_rw readers hold it).
    void write_xe(std::uint64_t i, const Value &v) const {
        const plexus_value c = v.c_value();
        check(plexus_array_write_xe(h_, i, &c));
    }

    /// Sets element `i` FULL (`full` true) or EMPTY without touching its value (waits
    /// only while read_rw readers hold it).
    void set_tag(std::uint64_t i, bool full) const {
        check(plexus_array_set_tag(h_, i, full));
    }
    /// Whether element `i` is FULL (a snapshot; never blocks on the tag).
    bool is_full(std::uint64_t i) const {
        bool full = false;
        check(plexus_array_is_full(h_, i, &full));
        return full;
    }

    /// Blocks without limit until element `i` is FULL, reads it and takes a shared read
    /// lock: until release_rw(i), calls that would change the element wait (read_fe,
    /// write*, set_tag, faa, cas, exchange); read, read_ff and other read_rw proceed.
    /// At most 28 locks per region handle at once (PLEXUS_E_NO_SPACE).
    Value read_rw(std::uint64_t i) const { return *read_rw_ns(i, PLEXUS_FOREVER); }
    /// read_rw if element `i` is FULL now (lock taken); std::nullopt (no lock) if not.
    std::optional<Value> try_read_rw(std::uint64_t i) const { return read_rw_ns(i, 0); }
    /// read_rw waiting at most `d`; std::nullopt (no lock taken) when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_rw_for(std::uint64_t i,
                                     const std::chrono::duration<Rep, Period> &d) const {
        return read_rw_ns(i, to_timeout_ns(d));
    }
    /// Releases one read_rw lock this process holds on element `i`. Throws
    /// PLEXUS_E_INVALID_ARGUMENT if it holds none.
    void release_rw(std::uint64_t i) const { check(plexus_array_release_rw(h_, i)); }

    /// Atomically adds `delta` to element `i` with JavaScript `+` semantics (int+int
    /// wraps; a float on either side gives FLOAT; a string on either side concatenates;
    /// bytes+bytes concatenates; UNDEFINED counts as 0 or ""); tag unchanged. Returns the
    /// previous value. Throws PLEXUS_E_TYPE_MISMATCH for other combinations (element
    /// unchanged).
    Value faa(std::uint64_t i, const Value &delta) const {
        const plexus_value d = delta.c_value();
        return *detail::read_into(
            [&](plexus_value *old) { return plexus_array_faa(h_, i, &d, old); }, false);
    }

    /// Atomically: if element `i` equals `expected` (same type and value, as
    /// Value::operator==), store `desired`. Returns true when it swapped. If `old` is not
    /// null it receives the previous value either way. Tag unchanged.
    bool cas(std::uint64_t i, const Value &expected, const Value &desired,
             Value *old = nullptr) const {
        const plexus_value e = expected.c_value();
        const plexus_value d = desired.c_value();
        Value prev = *detail::read_into(
            [&](plexus_value *out) { return plexus_array_cas(h_, i, &e, &d, out); }, false);
        const bool swapped = (prev == expected);
        if (old != nullptr) {
            *old = std::move(prev);
        }
        return swapped;
    }

    /// Atomically stores `v` in element `i` and returns the previous value; tag
    /// unchanged.
    Value exchange(std::uint64_t i, const Value &v) const {
        const plexus_value c = v.c_value();
        return *detail::read_into(
            [&](plexus_value *old) { return plexus_array_exchange(h_, i, &c, old); }, false);
    }

    /// Element `i`'s version, bumped by every change of its value or tag.
    std::uint64_t version(std::uint64_t i) const {
        std::uint64_t v = 0;
        check(plexus_array_version(h_, i, &v));
        return v;
    }
    /// Blocks without limit until element `i`'s version differs from `version`, then
    /// stores the new version in `version` (returns at once if it already differs). To
    /// watch an element: `auto v = a.version(i); for (;;) { a.wait_change(i, v); ... }`.
    void wait_change(std::uint64_t i, std::uint64_t &version) const {
        check(plexus_array_wait_change(h_, i, &version, PLEXUS_FOREVER));
    }
    /// wait_change waiting at most `d`: true (and `version` updated) when the version
    /// moved, false (`version` unchanged) when `d` passed first.
    template <class Rep, class Period>
    bool wait_change_for(std::uint64_t i, std::uint64_t &version,
                         const std::chrono::duration<Rep, Period> &d) const {
        return detail::ok_or_timeout(
            plexus_array_wait_change(h_, i, &version, to_timeout_ns(d)));
    }

  private:
    friend class Region;
    /// Owns one open of `h`.
    explicit Array(plexus_array h) noexcept : h_(h) {}

    std::optional<Value> read_fe_ns(std::uint64_t i, std::int64_t t) const {
        return detail::read_into(
            [&](plexus_value *out) { return plexus_array_read_fe(h_, i, out, t); }, true);
    }
    std::optional<Value> read_ff_ns(std::uint64_t i, std::int64_t t) const {
        return detail::read_into(
            [&](plexus_value *out) { return plexus_array_read_ff(h_, i, out, t); }, true);
    }
    std::optional<Value> read_rw_ns(std::uint64_t i, std::int64_t t) const {
        return detail::read_into(
            [&](plexus_value *out) { return plexus_array_read_rw(h_, i, out, t); }, true);
    }
    plexus_status write_ef_ns(std::uint64_t i, const Value &v, std::int64_t t) const {
        const plexus_value c = v.c_value();
        return plexus_array_write_ef(h_, i, &c, t);
    }

    plexus_array h_{0};
};

/// An open map handle: UTF-8 string keys (at most PLEXUS_MAP_MAX_KEY_LEN bytes, no NUL),
/// each present key holding a value + FULL/EMPTY tag + version, up to capacity() keys.
/// Move-only; obtained from Region::map. Closing works as for Array.
///
/// An absent key behaves as EMPTY holding UNDEFINED with version 0: read() gives
/// UNDEFINED, is_full() false, and the waiting reads (read_fe, read_ff, read_rw) wait
/// until some process inserts the key and it is FULL. Every writing call (write*,
/// set_tag, faa, cas, exchange) inserts an absent key first (EMPTY, or FULL if the map
/// was created with PLEXUS_FULL). Inserting into a full map throws PLEXUS_E_NO_SPACE;
/// remove() makes room. A key longer than the limit or not valid UTF-8 throws
/// PLEXUS_E_INVALID_ARGUMENT. Timeouts follow Array: no suffix = without limit, `try_*`
/// = once, `*_for` = up to a duration (false / std::nullopt on PLEXUS_TIMEOUT).
class Map {
  public:
    /// An empty Map (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Map() noexcept = default;
    Map(const Map &) = delete;
    Map &operator=(const Map &) = delete;
    Map(Map &&other) noexcept : h_(std::exchange(other.h_, plexus_map{0})) {}
    Map &operator=(Map &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_map{0});
        }
        return *this;
    }
    ~Map() { close(); }

    /// Opens (or, with `capacity > 0`, creates) the map `name` in `region`; same as
    /// region.map(name, capacity, flags).
    static Map open(const Region &region, const std::string &name, std::uint64_t capacity = 0,
                    std::uint32_t flags = 0);

    /// Closes the handle now; the Map becomes empty. Never throws. The map itself stays
    /// in the region.
    void close() noexcept {
        if (h_.id == 0) {
            return;
        }
        const plexus_map h = std::exchange(h_, plexus_map{0});
        (void)plexus_map_close(h);  // BAD_HANDLE when the region went first: fine
    }

    /// The C handle (still owned by this Map: do not plexus_map_close it).
    plexus_map raw() const noexcept { return h_; }
    /// True unless empty or moved-from (a closed region is not detected here).
    explicit operator bool() const noexcept { return h_.id != 0; }

    /// Number of keys present (a snapshot).
    std::uint64_t size() const {
        std::uint64_t n = 0;
        check(plexus_map_len(h_, &n));
        return n;
    }
    /// Maximum number of keys, fixed at creation.
    std::uint64_t capacity() const {
        std::uint64_t n = 0;
        check(plexus_map_capacity(h_, &n));
        return n;
    }

    /// Reads the value of `key` whatever its tag (UNDEFINED if absent; nothing inserted).
    Value read(const std::string &key) const {
        return *detail::read_into(
            [&](plexus_value *out) { return plexus_map_read(h_, key.c_str(), out); }, false);
    }
    /// Writes `v` as the value of `key` (inserting it), keeping the tag.
    void write(const std::string &key, const Value &v) const {
        const plexus_value c = v.c_value();
        check(plexus_map_write(h_, key.c_str(), &c));
    }

    /// Blocks without limit until `key` is present and FULL, reads it, leaves it EMPTY.
    Value read_fe(const std::string &key) const { return *read_fe_ns(key, PLEXUS_FOREVER); }
    /// read_fe if `key` is FULL now; std::nullopt if not (or absent).
    std::optional<Value> try_read_fe(const std::string &key) const { return read_fe_ns(key, 0); }
    /// read_fe waiting at most `d`; std::nullopt when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_fe_for(const std::string &key,
                                     const std::chrono::duration<Rep, Period> &d) const {
        return read_fe_ns(key, to_timeout_ns(d));
    }

    /// Blocks without limit until `key` is present and FULL, reads it, leaves it FULL.
    Value read_ff(const std::string &key) const { return *read_ff_ns(key, PLEXUS_FOREVER); }
    /// read_ff if `key` is FULL now; std::nullopt if not (or absent).
    std::optional<Value> try_read_ff(const std::string &key) const { return read_ff_ns(key, 0); }
    /// read_ff waiting at most `d`; std::nullopt when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_ff_for(const std::string &key,
                                     const std::chrono::duration<Rep, Period> &d) const {
        return read_ff_ns(key, to_timeout_ns(d));
    }

    /// Inserts `key` if absent, blocks without limit until it is EMPTY, writes `v` and
    /// leaves it FULL.
    void write_ef(const std::string &key, const Value &v) const {
        check(write_ef_ns(key, v, PLEXUS_FOREVER));
    }
    /// write_ef if `key` is EMPTY now: true when written, false if FULL.
    bool try_write_ef(const std::string &key, const Value &v) const {
        return detail::ok_or_timeout(write_ef_ns(key, v, 0));
    }
    /// write_ef waiting at most `d`: true when written, false when `d` passed first.
    template <class Rep, class Period>
    bool write_ef_for(const std::string &key, const Value &v,
                      const std::chrono::duration<Rep, Period> &d) const {
        return detail::ok_or_timeout(write_ef_ns(key, v, to_timeout_ns(d)));
    }

    /// Writes `v` and leaves `key` FULL (inserting it).
    void write_xf(const std::string &key, const Value &v) const {
        const plexus_value c = v.c_value();
        check(plexus_map_write_xf(h_, key.c_str(), &c));
    }
    /// Writes `v` and leaves `key` EMPTY (inserting it).
    void write_xe(const std::string &key, const Value &v) const {
        const plexus_value c = v.c_value();
        check(plexus_map_write_xe(h_, key.c_str(), &c));
    }
    /// Sets `key` FULL or EMPTY without touching its value (inserting it).
    void set_tag(const std::string &key, bool full) const {
        check(plexus_map_set_tag(h_, key.c_str(), full));
    }
    /// Whether `key` is present and FULL (a snapshot).
    bool is_full(const std::string &key) const {
        bool full = false;
        check(plexus_map_is_full(h_, key.c_str(), &full));
        return full;
    }

    /// Blocks without limit until `key` is present and FULL, reads it and takes a shared
    /// read lock (writers and remove of that key wait until release_rw).
    Value read_rw(const std::string &key) const { return *read_rw_ns(key, PLEXUS_FOREVER); }
    /// read_rw if `key` is FULL now (lock taken); std::nullopt (no lock) if not.
    std::optional<Value> try_read_rw(const std::string &key) const { return read_rw_ns(key, 0); }
    /// read_rw waiting at most `d`; std::nullopt (no lock taken) when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_rw_for(const std::string &key,
                                     const std::chrono::duration<Rep, Period> &d) const {
        return read_rw_ns(key, to_timeout_ns(d));
    }
    /// Releases one read_rw lock this process holds on `key` (PLEXUS_E_INVALID_ARGUMENT
    /// if none).
    void release_rw(const std::string &key) const {
        check(plexus_map_release_rw(h_, key.c_str()));
    }

    /// Atomic JavaScript `+=` on `key` (inserting it; UNDEFINED counts as 0 or "");
    /// returns the previous value.
    Value faa(const std::string &key, const Value &delta) const {
        const plexus_value d = delta.c_value();
        return *detail::read_into(
            [&](plexus_value *old) { return plexus_map_faa(h_, key.c_str(), &d, old); },
            false);
    }
    /// Atomically: if `key`'s value equals `expected`, store `desired`. True when it
    /// swapped; `old` (if not null) receives the previous value either way.
    bool cas(const std::string &key, const Value &expected, const Value &desired,
             Value *old = nullptr) const {
        const plexus_value e = expected.c_value();
        const plexus_value d = desired.c_value();
        Value prev = *detail::read_into(
            [&](plexus_value *out) { return plexus_map_cas(h_, key.c_str(), &e, &d, out); },
            false);
        const bool swapped = (prev == expected);
        if (old != nullptr) {
            *old = std::move(prev);
        }
        return swapped;
    }
    /// Atomically stores `v` as `key`'s value and returns the previous one.
    Value exchange(const std::string &key, const Value &v) const {
        const plexus_value c = v.c_value();
        return *detail::read_into(
            [&](plexus_value *old) { return plexus_map_exchange(h_, key.c_str(), &c, old); },
            false);
    }

    /// `key`'s version: 0 while absent, never repeated across remove and re-insert.
    std::uint64_t version(const std::string &key) const {
        std::uint64_t v = 0;
        check(plexus_map_version(h_, key.c_str(), &v));
        return v;
    }
    /// Blocks without limit until `key`'s version differs from `version` (insertion and
    /// removal count), storing the new one in `version`.
    void wait_change(const std::string &key, std::uint64_t &version) const {
        check(plexus_map_wait_change(h_, key.c_str(), &version, PLEXUS_FOREVER));
    }
    /// wait_change waiting at most `d`: true when the version moved, false when `d`
    /// passed first.
    template <class Rep, class Period>
    bool wait_change_for(const std::string &key, std::uint64_t &version,
                         const std::chrono::duration<Rep, Period> &d) const {
        return detail::ok_or_timeout(
            plexus_map_wait_change(h_, key.c_str(), &version, to_timeout_ns(d)));
    }

    /// Removes `key` (waiting while read_rw readers hold it): true if it was present,
    /// false if absent.
    bool remove(const std::string &key) const {
        const plexus_status s = plexus_map_remove(h_, key.c_str());
        if (s == PLEXUS_E_NOT_FOUND) {
            return false;
        }
        check(s);
        return true;
    }

    /// The next key at or after `cursor` (start with 0), advancing `cursor`;
    /// std::nullopt at the end. Keys present during the whole iteration come exactly
    /// once, even while other processes insert and remove.
    std::optional<std::string> next_key(std::uint64_t &cursor) const {
        plexus_value k;
        const plexus_status s = plexus_map_next_key(h_, &cursor, &k);
        if (s == PLEXUS_E_NOT_FOUND) {
            return std::nullopt;
        }
        check(s);
        Value v = Value::adopt(k);
        return v.as_string();
    }
    /// All keys, collected with next_key (same guarantee), in unspecified order.
    std::vector<std::string> keys() const {
        std::vector<std::string> out;
        std::uint64_t cursor = 0;
        while (auto k = next_key(cursor)) {
            out.push_back(std::move(*k));
        }
        return out;
    }

  private:
    friend class Region;
    /// Owns one open of `h`.
    explicit Map(plexus_map h) noexcept : h_(h) {}

    std::optional<Value> read_fe_ns(const std::string &key, std::int64_t t) const {
        return detail::read_into(
            [&](plexus_value *out) { return plexus_map_read_fe(h_, key.c_str(), out, t); },
            true);
    }
    std::optional<Value> read_ff_ns(const std::string &key, std::int64_t t) const {
        return detail::read_into(
            [&](plexus_value *out) { return plexus_map_read_ff(h_, key.c_str(), out, t); },
            true);
    }
    std::optional<Value> read_rw_ns(const std::string &key, std::int64_t t) const {
        return detail::read_into(
            [&](plexus_value *out) { return plexus_map_read_rw(h_, key.c_str(), out, t); },
            true);
    }
    plexus_status write_ef_ns(const std::string &key, const Value &v, std::int64_t t) const {
        const plexus_value c = v.c_value();
        return plexus_map_write_ef(h_, key.c_str(), &c, t);
    }

    plexus_map h_{0};
};

/// An open queue handle: a bounded queue of values shared by every process that opens
/// it, FIFO by default, a LIFO stack when created with PLEXUS_LIFO. Move-only; obtained
/// from Region::queue (or Queue::open).
///
/// Two verbs, as in C:
///   - shutdown() (plexus_queue_shutdown) ends the *queue*, for every process, for good:
///     pushes fail, pops drain what is left and then report it, every blocked push and
///     pop wakes. The handle stays usable.
///   - close() (plexus_queue_close; also the destructor) gives back this *handle*, as
///     every owner's close() does; the queue, its values and its state stay in the
///     region for every other handle.
///
/// Expected outcomes are not exceptions: a full or empty queue (PLEXUS_TIMEOUT) and a
/// queue that is shut down (PLEXUS_CLOSED) come back as `false` / std::nullopt. Failures
/// throw plexus::Error: PLEXUS_E_INVALID_ARGUMENT for a value the library rejects
/// (invalid UTF-8 or MessagePack), PLEXUS_E_NO_SPACE when the region heap cannot hold a
/// value, PLEXUS_E_BAD_HANDLE for an empty, moved-from or closed Queue or one whose
/// Region was closed, PLEXUS_E_CORRUPT.
///
///   - push(v) waits without limit while the queue is full: true once `v` is in the
///     queue, false if the queue is shut down (nothing stored). try_push tries once,
///     push_for waits up to a duration: false when full (or shut down) throughout.
///   - pop() waits without limit while the queue is empty: the oldest value (the newest,
///     for a LIFO), or std::nullopt once the queue is shut down *and* empty, which is
///     final (no push succeeds after shutdown), so `while (auto v = q.pop()) use(*v);`
///     consumes until the producers shut the queue down. try_pop / pop_for return
///     std::nullopt both when the queue stayed empty and when it is shut down and
///     drained; pass `shut_down` to tell them apart (it is set to true only for the
///     latter).
///   - try_push / push_for also take an optional `shut_down`; for pushes, is_shutdown()
///     tells the same thing (a queue that is shut down refuses every later push).
///
/// Values are copied in (the caller keeps its Value) and popped values are owned
/// plexus::Values. A value is delivered to exactly one pop.
class Queue {
  public:
    /// An empty Queue (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Queue() noexcept = default;
    Queue(const Queue &) = delete;
    Queue &operator=(const Queue &) = delete;
    Queue(Queue &&other) noexcept : h_(std::exchange(other.h_, plexus_queue{0})) {}
    Queue &operator=(Queue &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_queue{0});
        }
        return *this;
    }
    ~Queue() { close(); }

    /// Opens (or, with `capacity > 0`, creates) the queue `name` in `region`; same as
    /// region.queue(name, capacity, flags).
    static Queue open(const Region &region, const std::string &name, std::uint64_t capacity = 0,
                      std::uint32_t flags = 0);

    /// Gives back the handle now (plexus_queue_close); the Queue becomes empty. Never
    /// throws. The queue itself, its values and whether it is shut down stay in the
    /// region: ending the queue for every process is shutdown().
    void close() noexcept {
        if (h_.id == 0) {
            return;
        }
        const plexus_queue h = std::exchange(h_, plexus_queue{0});
        (void)plexus_queue_close(h);  // BAD_HANDLE when the region went first: fine
    }

    /// The C handle (still owned by this Queue: do not plexus_queue_close it).
    plexus_queue raw() const noexcept { return h_; }
    /// True unless empty, moved-from or closed (a closed region is not detected here;
    /// neither is a queue that is shut down: see is_shutdown()).
    explicit operator bool() const noexcept { return h_.id != 0; }

    /// Appends a copy of `v`, waiting without limit while the queue is full. True once
    /// `v` is in the queue; false if the queue is shut down (nothing stored).
    [[nodiscard]] bool push(const Value &v) const {
        return push_ns(v, PLEXUS_FOREVER, nullptr, false);
    }
    /// push if there is room now: true when stored; false if the queue is full or shut
    /// down (`*shut_down`, if given, says which).
    [[nodiscard]] bool try_push(const Value &v, bool *shut_down = nullptr) const {
        return push_ns(v, 0, shut_down, true);
    }
    /// push waiting at most `d` while the queue is full: true when stored; false when `d`
    /// passed first or the queue is shut down (`*shut_down`, if given, says which).
    template <class Rep, class Period>
    [[nodiscard]] bool push_for(const Value &v, const std::chrono::duration<Rep, Period> &d,
                                bool *shut_down = nullptr) const {
        return push_ns(v, to_timeout_ns(d), shut_down, true);
    }

    /// Removes the oldest value (the newest, for a LIFO), waiting without limit while the
    /// queue is empty; std::nullopt once the queue is shut down and empty (final).
    [[nodiscard]] std::optional<Value> pop() const {
        return pop_ns(PLEXUS_FOREVER, nullptr, false);
    }
    /// pop if a value is there now; std::nullopt if the queue is empty, or shut down and
    /// empty (`*shut_down`, if given, is true only in the latter case).
    [[nodiscard]] std::optional<Value> try_pop(bool *shut_down = nullptr) const {
        return pop_ns(0, shut_down, true);
    }
    /// pop waiting at most `d` while the queue is empty; std::nullopt when `d` passed
    /// first, or the queue is shut down and empty (`*shut_down`, if given, is true only
    /// then).
    template <class Rep, class Period>
    [[nodiscard]] std::optional<Value> pop_for(const std::chrono::duration<Rep, Period> &d,
                                               bool *shut_down = nullptr) const {
        return pop_ns(to_timeout_ns(d), shut_down, true);
    }

    /// Number of values in the queue (plexus_queue_len: a snapshot, which counts a push
    /// that is storing its value).
    std::uint64_t size() const {
        std::uint64_t n = 0;
        check(plexus_queue_len(h_, &n));
        return n;
    }
    /// Maximum number of values, fixed at creation.
    std::uint64_t capacity() const {
        std::uint64_t n = 0;
        check(plexus_queue_capacity(h_, &n));
        return n;
    }

    /// Ends the queue for every process (plexus_queue_shutdown): pushes fail from now on,
    /// pops return the values left and then report the end, every blocked push and pop
    /// wakes. Shutting down a queue that is shut down is fine; it stays shut down. The
    /// handle stays valid (give it back with close()).
    void shutdown() const { check(plexus_queue_shutdown(h_)); }
    /// Whether the queue was shut down (by any process).
    bool is_shutdown() const {
        bool out = false;
        check(plexus_queue_is_shutdown(h_, &out));
        return out;
    }

  private:
    friend class Region;
    /// Owns one open of `h`.
    explicit Queue(plexus_queue h) noexcept : h_(h) {}

    /// PLEXUS_OK: true; PLEXUS_CLOSED (shut down): false; PLEXUS_TIMEOUT: false if
    /// `timeout_is_outcome`; anything else throws.
    bool push_ns(const Value &v, std::int64_t t, bool *shut_down, bool timeout_is_outcome) const {
        if (shut_down != nullptr) {
            *shut_down = false;
        }
        const plexus_value c = v.c_value();
        const plexus_status s = plexus_queue_push(h_, &c, t);
        if (s == PLEXUS_CLOSED) {
            if (shut_down != nullptr) {
                *shut_down = true;
            }
            return false;
        }
        if (s == PLEXUS_TIMEOUT && timeout_is_outcome) {
            return false;
        }
        check(s);
        return true;
    }

    /// PLEXUS_OK: the value; PLEXUS_CLOSED (shut down and drained): std::nullopt;
    /// PLEXUS_TIMEOUT: std::nullopt if `timeout_is_outcome`; anything else throws.
    std::optional<Value> pop_ns(std::int64_t t, bool *shut_down, bool timeout_is_outcome) const {
        if (shut_down != nullptr) {
            *shut_down = false;
        }
        plexus_value out = detail::out_value();
        const plexus_status s = plexus_queue_pop(h_, &out, t);
        if (s == PLEXUS_OK) {
            return Value::adopt(out);
        }
        // On any other status `out` is documented unchanged (it owns nothing).
        if (s == PLEXUS_CLOSED) {
            if (shut_down != nullptr) {
                *shut_down = true;
            }
            return std::nullopt;
        }
        if (s == PLEXUS_TIMEOUT && timeout_is_outcome) {
            return std::nullopt;
        }
        Error e(s);  // capture plexus_last_error() before any other call
        plexus_value_free(&out);  // free defensively (a no-op)
        throw e;
    }

    plexus_queue h_{0};
};

/// An open region handle. Move-only; the destructor closes it (and with it every object
/// handle opened through it, so an Array used after its Region is gone throws
/// PLEXUS_E_BAD_HANDLE). The region itself stays until removed.
///
/// Calls throw plexus::Error on failure (PLEXUS_E_BAD_HANDLE on an empty or moved-from
/// Region, PLEXUS_E_INVALID_ARGUMENT for a bad name, and the statuses listed below).
class Region {
  public:
    /// An empty Region (no handle).
    Region() noexcept = default;
    Region(const Region &) = delete;
    Region &operator=(const Region &) = delete;
    Region(Region &&other) noexcept : h_(std::exchange(other.h_, plexus_region{0})) {}
    Region &operator=(Region &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_region{0});
        }
        return *this;
    }
    ~Region() { close(); }

    /// Opens or creates region `name` (no '/': volatile, /dev/shm/plexus.<name>; with '/':
    /// a persistent file at that path) as `options` say. Blocks only with PLEXUS_OPEN, up
    /// to options.wait, for the region to appear. Throws PLEXUS_E_NOT_FOUND (PLEXUS_OPEN,
    /// still absent), PLEXUS_E_EXISTS (PLEXUS_CREATE), PLEXUS_E_CORRUPT,
    /// PLEXUS_E_INCOMPATIBLE, PLEXUS_E_PERMISSION, PLEXUS_E_NO_SPACE,
    /// PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_OS.
    static Region open(const std::string &name, const RegionOptions &options = {}) {
        const plexus_region_options o = options.c_options();
        plexus_region h{0};
        check(plexus_region_open(name.c_str(), &o, &h));
        return Region(h);
    }
    /// Creates region `name`; PLEXUS_E_EXISTS if it exists. `size` 0 = 64 MiB,
    /// `permissions` 0 = 0600.
    static Region create(const std::string &name, std::uint64_t size = 0,
                         std::uint32_t permissions = 0) {
        RegionOptions o;
        o.mode = PLEXUS_CREATE;
        o.size = size;
        o.permissions = permissions;
        return open(name, o);
    }
    /// Opens an existing region, waiting up to `wait` for it to appear (default: do not
    /// wait); PLEXUS_E_NOT_FOUND if it is still absent.
    static Region open_existing(const std::string &name, Timeout wait = Timeout::zero()) {
        RegionOptions o;
        o.mode = PLEXUS_OPEN;
        o.wait = wait;
        return open(name, o);
    }
    /// Removes any existing region `name`, then creates it afresh (processes that have
    /// the old one open keep using the old one).
    static Region recreate(const std::string &name, std::uint64_t size = 0,
                           std::uint32_t permissions = 0) {
        RegionOptions o;
        o.mode = PLEXUS_RECREATE;
        o.size = size;
        o.permissions = permissions;
        return open(name, o);
    }

    /// Closes the handle now, and every object handle opened through it; the Region
    /// becomes empty. Never throws.
    void close() noexcept {
        if (h_.id != 0) {
            (void)plexus_region_close(std::exchange(h_, plexus_region{0}));
        }
    }

    /// Makes everything written so far durable (msync + fsync); blocks until it is on
    /// stable storage. Harmless for volatile regions.
    void flush() const { check(plexus_region_flush(h_)); }

    /// Size, heap use, object count, live attachments, format version and id.
    RegionInfo info() const {
        RegionInfo i{};
        check(plexus_region_get_info(h_, &i));
        return i;
    }

    /// Unlinks region `name`; processes that have it open keep using it. Throws
    /// PLEXUS_E_NOT_FOUND if it does not exist.
    static void remove(const std::string &name) { check(plexus_region_remove(name.c_str())); }
    /// Unlinks region `name` if it exists: true if removed, false if it did not exist;
    /// throws on other errors.
    static bool try_remove(const std::string &name) {
        const plexus_status s = plexus_region_remove(name.c_str());
        if (s == PLEXUS_E_NOT_FOUND) {
            return false;
        }
        check(s);
        return true;
    }

    /// Blocks without limit until an object called `name` (of any kind) exists.
    void wait_object(const std::string &name) const {
        check(plexus_region_wait_object(h_, name.c_str(), PLEXUS_FOREVER));
    }
    /// Waits at most `d` for an object called `name`: true if it exists, false when `d`
    /// passed first.
    template <class Rep, class Period>
    bool wait_object_for(const std::string &name,
                         const std::chrono::duration<Rep, Period> &d) const {
        return detail::ok_or_timeout(
            plexus_region_wait_object(h_, name.c_str(), to_timeout_ns(d)));
    }

    /// Opens the array `name`: `length > 0` creates it if missing (elements UNDEFINED,
    /// EMPTY unless `flags` has PLEXUS_FULL) and otherwise requires that length
    /// (PLEXUS_E_INCOMPATIBLE); `length == 0` opens an existing one only
    /// (PLEXUS_E_NOT_FOUND). PLEXUS_EXCLUSIVE in `flags`: PLEXUS_E_EXISTS if present.
    /// PLEXUS_E_TYPE_MISMATCH if another kind of object has that name. Opening the same
    /// array twice gives two Arrays sharing one handle; it closes with the last of them.
    Array array(const std::string &name, std::uint64_t length = 0, std::uint32_t flags = 0) const {
        plexus_array h{0};
        check(plexus_array_open(h_, name.c_str(), length, flags, &h));
        return Array(h);
    }

    /// Opens the map `name`: `capacity > 0` (maximum number of keys) creates it if
    /// missing and otherwise requires that capacity (PLEXUS_E_INCOMPATIBLE);
    /// `capacity == 0` opens an existing one only (PLEXUS_E_NOT_FOUND). Flags:
    /// PLEXUS_FULL (inserted keys start FULL), PLEXUS_EXCLUSIVE. PLEXUS_E_TYPE_MISMATCH
    /// if another kind of object has that name.
    Map map(const std::string &name, std::uint64_t capacity = 0, std::uint32_t flags = 0) const {
        plexus_map h{0};
        check(plexus_map_open(h_, name.c_str(), capacity, flags, &h));
        return Map(h);
    }

    /// Opens the queue `name`: `capacity > 0` (maximum number of values) creates it if
    /// missing (empty; a LIFO stack if `flags` has PLEXUS_LIFO, else FIFO) and otherwise
    /// requires that capacity and the same kind (PLEXUS_E_INCOMPATIBLE); `capacity == 0`
    /// opens an existing one only (PLEXUS_E_NOT_FOUND), of either kind unless `flags` has
    /// PLEXUS_LIFO. PLEXUS_EXCLUSIVE in `flags`: PLEXUS_E_EXISTS if present.
    /// PLEXUS_E_TYPE_MISMATCH if another kind of object has that name;
    /// PLEXUS_E_INVALID_ARGUMENT for other flags (PLEXUS_FULL included).
    Queue queue(const std::string &name, std::uint64_t capacity = 0,
                std::uint32_t flags = 0) const {
        plexus_queue h{0};
        check(plexus_queue_open(h_, name.c_str(), capacity, flags, &h));
        return Queue(h);
    }

    /// The C handle (still owned by this Region: do not plexus_region_close it).
    plexus_region raw() const noexcept { return h_; }
    /// True unless empty or moved-from.
    explicit operator bool() const noexcept { return h_.id != 0; }

  private:
    explicit Region(plexus_region h) noexcept : h_(h) {}

    plexus_region h_{0};
};

inline Array Array::open(const Region &region, const std::string &name, std::uint64_t length,
                         std::uint32_t flags) {
    return region.array(name, length, flags);
}

inline Map Map::open(const Region &region, const std::string &name, std::uint64_t capacity,
                     std::uint32_t flags) {
    return region.map(name, capacity, flags);
}

inline Queue Queue::open(const Region &region, const std::string &name, std::uint64_t capacity,
                         std::uint32_t flags) {
    return region.queue(name, capacity, flags);
}

// =======================================================================================
// Bus: broadcast (plexus_bus, plexus_sub)
// =======================================================================================

/// One received bus message: its value and its sequence number (1, 2, 3, ... per bus; a
/// jump of more than one means the subscriber fell behind and missed messages).
struct Message {
    Value value;
    std::uint64_t seq = 0;
};

/// A subscription to a bus (plexus_sub): a private cursor of this process. Move-only;
/// obtained from Bus::subscribe. The destructor ends it (plexus_sub_close).
///
///     plexus::Subscription sub = bus.subscribe();          // from now on
///     while (auto m = sub.next()) handle(m->seq, m->value);  // until the bus is shut down
///
/// next() waits without limit and returns std::nullopt once the bus is shut down and
/// every message published before was received (final). try_next / next_for return
/// std::nullopt also when no message came in time; pass `shut_down` to tell them apart.
/// close() (and the destructor) ends the subscription (plexus_sub_close). Failures throw
/// plexus::Error.
class Subscription {
  public:
    Subscription() noexcept = default;
    Subscription(const Subscription &) = delete;
    Subscription &operator=(const Subscription &) = delete;
    Subscription(Subscription &&other) noexcept : h_(std::exchange(other.h_, plexus_sub{0})) {}
    Subscription &operator=(Subscription &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_sub{0});
        }
        return *this;
    }
    ~Subscription() { close(); }

    /// Ends the subscription now (plexus_sub_close); never throws.
    void close() noexcept {
        if (h_.id != 0) {
            (void)plexus_sub_close(std::exchange(h_, plexus_sub{0}));
        }
    }

    /// The next message, waiting without limit; std::nullopt once the bus is shut down
    /// and drained.
    [[nodiscard]] std::optional<Message> next() const {
        return next_ns(PLEXUS_FOREVER, nullptr, false);
    }
    /// The next message if one is there now (`*shut_down`, if given, is true only when
    /// the bus is shut down and drained).
    [[nodiscard]] std::optional<Message> try_next(bool *shut_down = nullptr) const {
        return next_ns(0, shut_down, true);
    }
    /// The next message, waiting at most `d` (`*shut_down` as for try_next).
    template <class Rep, class Period>
    [[nodiscard]] std::optional<Message> next_for(const std::chrono::duration<Rep, Period> &d,
                                                  bool *shut_down = nullptr) const {
        return next_ns(to_timeout_ns(d), shut_down, true);
    }

    /// The C handle (still owned by this Subscription).
    plexus_sub raw() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_.id != 0; }

  private:
    friend class Bus;
    explicit Subscription(plexus_sub h) noexcept : h_(h) {}

    std::optional<Message> next_ns(std::int64_t t, bool *shut_down,
                                   bool timeout_is_outcome) const {
        if (shut_down != nullptr) {
            *shut_down = false;
        }
        plexus_value out = detail::out_value();
        std::uint64_t seq = 0;
        const plexus_status s = plexus_sub_next(h_, &out, &seq, t);
        if (s == PLEXUS_OK) {
            return Message{Value::adopt(out), seq};
        }
        if (s == PLEXUS_CLOSED) {
            if (shut_down != nullptr) {
                *shut_down = true;
            }
            return std::nullopt;
        }
        if (s == PLEXUS_TIMEOUT && timeout_is_outcome) {
            return std::nullopt;
        }
        throw Error(s);
    }

    plexus_sub h_{0};
};

/// An open bus handle (plexus_bus): broadcast of values to every subscriber, in one order
/// for all. Move-only; obtained with Bus::open(region, name, capacity). close() (and the
/// destructor) gives back the handle (plexus_bus_close; subscriptions stay valid);
/// shutdown() ends the bus itself for every process (plexus_bus_shutdown).
///
/// publish() never waits for subscribers and returns the message's sequence number (0
/// if the bus is shut down). Failures throw plexus::Error.
class Bus {
  public:
    Bus() noexcept = default;
    Bus(const Bus &) = delete;
    Bus &operator=(const Bus &) = delete;
    Bus(Bus &&other) noexcept : h_(std::exchange(other.h_, plexus_bus{0})) {}
    Bus &operator=(Bus &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_bus{0});
        }
        return *this;
    }
    ~Bus() { close(); }

    /// Opens the bus `name` in `region`: `capacity > 0` (messages retained) creates it if
    /// missing and otherwise requires that capacity (PLEXUS_E_INCOMPATIBLE);
    /// `capacity == 0` opens an existing one only. Flags: PLEXUS_EXCLUSIVE.
    static Bus open(const Region &region, const std::string &name, std::uint64_t capacity = 0,
                    std::uint32_t flags = 0);

    /// Gives back the handle now (plexus_bus_close); never throws. The bus and its
    /// subscriptions stay: ending the bus for every process is shutdown().
    void close() noexcept {
        if (h_.id != 0) {
            (void)plexus_bus_close(std::exchange(h_, plexus_bus{0}));
        }
    }

    /// Publishes a copy of `v`; its sequence number, or 0 if the bus is shut down.
    [[nodiscard]] std::uint64_t publish(const Value &v) const {
        const plexus_value c = v.c_value();
        std::uint64_t seq = 0;
        const plexus_status s = plexus_bus_publish(h_, &c, &seq);
        if (s == PLEXUS_CLOSED) {
            return 0;
        }
        check(s);
        return seq;
    }

    /// A new subscription: from the next message (PLEXUS_FROM_NOW, the default) or from
    /// the oldest one retained (PLEXUS_FROM_OLDEST).
    Subscription subscribe(std::uint32_t from = PLEXUS_FROM_NOW) const {
        plexus_sub h{0};
        check(plexus_bus_subscribe(h_, from, &h));
        return Subscription(h);
    }

    /// Ends the bus for every process (plexus_bus_shutdown): publish() returns 0 from now
    /// on; subscribers receive what was published before, then std::nullopt. The handle
    /// stays valid (give it back with close()).
    void shutdown() const { check(plexus_bus_shutdown(h_)); }
    /// Whether the bus was shut down (by any process).
    bool is_shutdown() const {
        bool out = false;
        check(plexus_bus_is_shutdown(h_, &out));
        return out;
    }
    /// Messages retained, fixed at creation.
    std::uint64_t capacity() const {
        std::uint64_t n = 0;
        check(plexus_bus_capacity(h_, &n));
        return n;
    }
    /// The sequence number the next message will get.
    std::uint64_t next_seq() const {
        std::uint64_t n = 0;
        check(plexus_bus_next_seq(h_, &n));
        return n;
    }

    plexus_bus raw() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_.id != 0; }

  private:
    explicit Bus(plexus_bus h) noexcept : h_(h) {}
    plexus_bus h_{0};
};

inline Bus Bus::open(const Region &region, const std::string &name, std::uint64_t capacity,
                     std::uint32_t flags) {
    plexus_bus h{0};
    check(plexus_bus_open(region.raw(), name.c_str(), capacity, flags, &h));
    return Bus(h);
}

// =======================================================================================
// Locks: Mutex, Barrier, Semaphore (plexus_mutex, plexus_barrier, plexus_semaphore)
// =======================================================================================

/// A robust, process-shared mutex (plexus_mutex). Move-only; obtained with
/// Mutex::open(region, name), which creates it (unlocked) if missing. The destructor
/// gives back the handle (plexus_mutex_close) — it does not unlock.
///
/// Meets the standard Lockable and TimedLockable requirements, so it works with
/// std::lock_guard, std::unique_lock (including try_lock_for / try_lock_until) and
/// std::scoped_lock:
///
///     plexus::Mutex m = plexus::Mutex::open(region, "accounts");
///     {
///         std::lock_guard<plexus::Mutex> guard(m);
///         if (m.owner_died()) repair_accounts();  // the previous holder died holding it
///         ...
///     }
///
/// Ownership is per thread (the thread that locked it must unlock it); it is not
/// recursive: lock() by the thread that holds it throws PLEXUS_E_INVALID_ARGUMENT, and
/// unlock() by a thread that does not hold it throws PLEXUS_E_INVALID_ARGUMENT (so a
/// misused std::lock_guard terminates the program from its destructor, like any
/// exception thrown there).
///
/// PLEXUS_OWNER_DEAD is not an exception: lock(), try_lock() and try_lock_for() succeed
/// (the mutex is held) and owner_died() tells that the previous holder died holding it,
/// so the data it protects may need repair. lock_status() returns the raw outcome
/// (PLEXUS_OK, PLEXUS_OWNER_DEAD or PLEXUS_TIMEOUT) for callers that prefer it.
class Mutex {
  public:
    /// An empty Mutex (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Mutex() noexcept = default;
    Mutex(const Mutex &) = delete;
    Mutex &operator=(const Mutex &) = delete;
    Mutex(Mutex &&other) noexcept
        : h_(std::exchange(other.h_, plexus_mutex{0})),
          owner_died_(std::exchange(other.owner_died_, false)) {}
    Mutex &operator=(Mutex &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_mutex{0});
            owner_died_ = std::exchange(other.owner_died_, false);
        }
        return *this;
    }
    ~Mutex() { close(); }

    /// Opens the mutex `name` in `region`, creating it (unlocked) if missing. Throws
    /// PLEXUS_E_TYPE_MISMATCH if another kind of object has that name.
    static Mutex open(const Region &region, const std::string &name) {
        plexus_mutex h{0};
        check(plexus_mutex_open(region.raw(), name.c_str(), &h));
        return Mutex(h);
    }

    /// Gives back the handle now (plexus_mutex_close; does not unlock); the Mutex
    /// becomes empty. Never throws.
    void close() noexcept {
        if (h_.id != 0) {
            (void)plexus_mutex_close(std::exchange(h_, plexus_mutex{0}));
        }
    }

    /// Blocks without limit until the calling thread holds the mutex.
    void lock() { (void)lock_status(forever); }
    /// Locks the mutex if it is free now: true if locked.
    bool try_lock() { return lock_status(Timeout::zero()) != PLEXUS_TIMEOUT; }
    /// Locks the mutex, waiting at most `d`: true if locked, false when `d` passed first.
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period> &d) {
        return lock_status(d) != PLEXUS_TIMEOUT;
    }
    /// Locks the mutex, waiting until `t` at most (measured as a duration from now on
    /// plexus's monotonic clock): true if locked.
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration> &t) {
        return try_lock_for(t - Clock::now());
    }
    /// Unlocks the mutex (the calling thread must hold it).
    void unlock() { check(plexus_mutex_unlock(h_)); }

    /// Locks, waiting at most `d` (plexus::forever: without limit; zero: try once), and
    /// returns the outcome: PLEXUS_OK (locked), PLEXUS_OWNER_DEAD (locked; the previous
    /// holder died holding it) or PLEXUS_TIMEOUT (not locked). Throws for errors.
    template <class Rep, class Period>
    plexus_status lock_status(const std::chrono::duration<Rep, Period> &d) {
        const plexus_status s = plexus_mutex_lock(h_, to_timeout_ns(d));
        if (s == PLEXUS_OK || s == PLEXUS_OWNER_DEAD) {
            owner_died_ = (s == PLEXUS_OWNER_DEAD);
            return s;
        }
        if (s == PLEXUS_TIMEOUT) {
            return s;
        }
        throw Error(s);
    }

    /// Whether the last successful lock through this object (lock, try_lock,
    /// try_lock_for, try_lock_until, lock_status) took the mutex over from a holder that
    /// died holding it. Read it while holding the mutex.
    bool owner_died() const noexcept { return owner_died_; }

    /// Whether anyone holds the mutex (a snapshot).
    bool is_locked() const {
        bool locked = false;
        check(plexus_mutex_is_locked(h_, &locked));
        return locked;
    }

    /// The C handle (still owned by this Mutex: do not plexus_mutex_close it).
    plexus_mutex raw() const noexcept { return h_; }
    /// True unless empty or moved-from.
    explicit operator bool() const noexcept { return h_.id != 0; }

  private:
    explicit Mutex(plexus_mutex h) noexcept : h_(h) {}

    plexus_mutex h_{0};
    bool owner_died_ = false;
};

/// A reusable barrier for a fixed number of parties (plexus_barrier). Move-only;
/// obtained with Barrier::open(region, name, parties). The destructor gives back the
/// handle (plexus_barrier_close).
///
/// wait() returns once all parties have called it in the current round; then the next
/// round begins. wait_for(d) returns false when `d` passed first: its arrival was then
/// withdrawn, as if it had never been made (the barrier stays usable). A party that
/// dies after arriving counts as arrived; one that dies before arriving leaves the
/// others waiting until their timeouts.
class Barrier {
  public:
    /// An empty Barrier (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Barrier() noexcept = default;
    Barrier(const Barrier &) = delete;
    Barrier &operator=(const Barrier &) = delete;
    Barrier(Barrier &&other) noexcept : h_(std::exchange(other.h_, plexus_barrier{0})) {}
    Barrier &operator=(Barrier &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_barrier{0});
        }
        return *this;
    }
    ~Barrier() { close(); }

    /// Opens the barrier `name` in `region`: `parties > 0` creates it if missing and
    /// otherwise requires that number of parties (PLEXUS_E_INCOMPATIBLE); `parties == 0`
    /// opens an existing one only (PLEXUS_E_NOT_FOUND). PLEXUS_E_TYPE_MISMATCH if
    /// another kind of object has that name.
    static Barrier open(const Region &region, const std::string &name,
                        std::uint32_t parties = 0) {
        plexus_barrier h{0};
        check(plexus_barrier_open(region.raw(), name.c_str(), parties, &h));
        return Barrier(h);
    }

    /// Gives back the handle now (plexus_barrier_close); the Barrier becomes empty.
    /// Never throws.
    void close() noexcept {
        if (h_.id != 0) {
            (void)plexus_barrier_close(std::exchange(h_, plexus_barrier{0}));
        }
    }

    /// Arrives and blocks without limit until all parties have arrived in this round.
    void wait() const { (void)wait_last(); }
    /// Like wait(); returns true for exactly one party of each round (the one whose
    /// arrival completed it), false for the others.
    bool wait_last() const {
        bool last = false;
        check(plexus_barrier_wait_last(h_, PLEXUS_FOREVER, &last));
        return last;
    }
    /// Arrives and waits at most `d`: true when the round completed, false when `d`
    /// passed first (the arrival was withdrawn).
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period> &d) const {
        return detail::ok_or_timeout(plexus_barrier_wait(h_, to_timeout_ns(d)));
    }

    /// wait_last() waiting at most `d`: true for the party whose arrival completed the
    /// round, false for the others, std::nullopt when `d` passed first (the arrival was
    /// withdrawn).
    template <class Rep, class Period>
    std::optional<bool> wait_last_for(const std::chrono::duration<Rep, Period> &d) const {
        bool last = false;
        if (!detail::ok_or_timeout(plexus_barrier_wait_last(h_, to_timeout_ns(d), &last))) {
            return std::nullopt;
        }
        return last;
    }

    /// Number of parties, fixed at creation.
    std::uint32_t parties() const {
        std::uint32_t n = 0;
        check(plexus_barrier_parties(h_, &n));
        return n;
    }

    /// The C handle (still owned by this Barrier: do not plexus_barrier_close it).
    plexus_barrier raw() const noexcept { return h_; }
    /// True unless empty or moved-from.
    explicit operator bool() const noexcept { return h_.id != 0; }

  private:
    explicit Barrier(plexus_barrier h) noexcept : h_(h) {}

    plexus_barrier h_{0};
};

/// A counting semaphore whose permits come back when their holder dies
/// (plexus_semaphore). Move-only; obtained with Semaphore::open(region, name, permits).
/// The destructor gives back the handle (plexus_semaphore_close) — not the permits.
///
/// Permits belong to the region handle that acquired them (any of its threads may
/// release them); release() when it holds none throws PLEXUS_E_INVALID_ARGUMENT.
/// Permits of a process that dies (or of a region handle that is closed) return to the
/// semaphore.
class Semaphore {
  public:
    /// An empty Semaphore (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Semaphore() noexcept = default;
    Semaphore(const Semaphore &) = delete;
    Semaphore &operator=(const Semaphore &) = delete;
    Semaphore(Semaphore &&other) noexcept : h_(std::exchange(other.h_, plexus_semaphore{0})) {}
    Semaphore &operator=(Semaphore &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, plexus_semaphore{0});
        }
        return *this;
    }
    ~Semaphore() { close(); }

    /// Opens the semaphore `name` in `region`: `permits > 0` creates it if missing (all
    /// permits available) and otherwise requires that number of permits
    /// (PLEXUS_E_INCOMPATIBLE); `permits == 0` opens an existing one only
    /// (PLEXUS_E_NOT_FOUND). PLEXUS_E_TYPE_MISMATCH if another kind of object has that
    /// name.
    static Semaphore open(const Region &region, const std::string &name,
                          std::uint32_t permits = 0) {
        plexus_semaphore h{0};
        check(plexus_semaphore_open(region.raw(), name.c_str(), permits, &h));
        return Semaphore(h);
    }

    /// Gives back the handle now (plexus_semaphore_close; permits held stay held); the
    /// Semaphore becomes empty. Never throws.
    void close() noexcept {
        if (h_.id != 0) {
            (void)plexus_semaphore_close(std::exchange(h_, plexus_semaphore{0}));
        }
    }

    /// Takes a permit, blocking without limit while none is available.
    void acquire() const { check(plexus_semaphore_acquire(h_, PLEXUS_FOREVER)); }
    /// Takes a permit if one is available now: true if taken.
    bool try_acquire() const {
        return detail::ok_or_timeout(plexus_semaphore_acquire(h_, 0));
    }
    /// Takes a permit, waiting at most `d`: true if taken, false when `d` passed first.
    template <class Rep, class Period>
    bool acquire_for(const std::chrono::duration<Rep, Period> &d) const {
        return detail::ok_or_timeout(plexus_semaphore_acquire(h_, to_timeout_ns(d)));
    }
    /// Same as acquire_for (the name std::counting_semaphore uses).
    template <class Rep, class Period>
    bool try_acquire_for(const std::chrono::duration<Rep, Period> &d) const {
        return acquire_for(d);
    }
    /// Gives back one permit held by this region handle and wakes waiters.
    void release() const { check(plexus_semaphore_release(h_)); }

    /// Number of permits, fixed at creation.
    std::uint32_t permits() const {
        std::uint32_t n = 0;
        check(plexus_semaphore_permits(h_, &n));
        return n;
    }
    /// Permits available now (a snapshot).
    std::uint32_t available() const {
        std::uint32_t n = 0;
        check(plexus_semaphore_available(h_, &n));
        return n;
    }
    /// Permits held by this object's region handle.
    std::uint32_t held() const {
        std::uint32_t n = 0;
        check(plexus_semaphore_held(h_, &n));
        return n;
    }

    /// The C handle (still owned by this Semaphore: do not plexus_semaphore_close it).
    plexus_semaphore raw() const noexcept { return h_; }
    /// True unless empty or moved-from.
    explicit operator bool() const noexcept { return h_.id != 0; }

  private:
    explicit Semaphore(plexus_semaphore h) noexcept : h_(h) {}

    plexus_semaphore h_{0};
};

// =======================================================================================
// (end of the locks block)
// =======================================================================================

}  // namespace plexus

#endif  // PLEXUS_HPP
