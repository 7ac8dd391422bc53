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
 *     cover (it stays owned by the wrapper). All owners share one template,
 *     detail::Owner, so they behave alike.
 *   - A Region opens every kind of object, with the same rules for each: r.array,
 *     r.map, r.queue, r.bus, r.mutex, r.barrier, r.semaphore (Kind::open(r, ...) is the
 *     same call).
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
 *   - Remote regions ('redis://[user:password@]host[:port]/NAME', 'rediss://' for TLS)
 *     use the same classes and calls. Three statuses are theirs, thrown as plexus::Error
 *     like any failure: PLEXUS_E_UNAVAILABLE (the server did not answer in time; the
 *     same objects work again once it is back), PLEXUS_E_REGION_LOST (the region's
 *     state vanished from the server: open it again) and PLEXUS_E_UNSUPPORTED (a call
 *     this backend cannot have; the message names the alternative). A password in the
 *     name never appears in what().
 *   - Thread safety is that of the C library: handles may be used from any thread. A
 *     single wrapper object may be used from several threads as long as none of them
 *     moves, assigns or destroys it meanwhile.
 */

#ifndef PLEXUS_HPP
#define PLEXUS_HPP

#include <plexus.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
#endif

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
    // (No std::exchange with a temporary Data: GCC 12 at -O2/-O3 reports the temporary
    // variant as maybe-uninitialized, which -Werror builds of users' code would fail on.)
    Value(Value &&other) noexcept : type_(other.type_), data_(std::move(other.data_)) {
        other.type_ = PLEXUS_UNDEFINED;
        other.data_.template emplace<std::monostate>();
    }
    /// Moves the data; `other` becomes UNDEFINED.
    Value &operator=(Value &&other) noexcept {
        if (this != &other) {
            type_ = other.type_;
            data_ = std::move(other.data_);
            other.type_ = PLEXUS_UNDEFINED;
            other.data_.template emplace<std::monostate>();
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

/// The C views of `n` Values for a batch call (they borrow the Values' data: valid while
/// the Values live unchanged), kept on the stack for batches of up to 64.
class CValues {
  public:
    CValues(const Value *values, std::size_t n) {
        if (n > small_.size()) {
            large_.resize(n);
            data_ = large_.data();
        }
        for (std::size_t i = 0; i < n; i++) {
            data_[i] = values[i].c_value();
        }
    }
    CValues(const CValues &) = delete;
    CValues &operator=(const CValues &) = delete;
    const plexus_value *data() const noexcept { return data_; }

  private:
    std::array<plexus_value, 64> small_;
    std::vector<plexus_value> large_;
    plexus_value *data_ = small_.data();
};

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

/// An object name as the C calls take it: a NUL-terminated copy of `name`. Throws
/// PLEXUS_E_INVALID_ARGUMENT if `name` holds a NUL byte (C would see a shorter name).
inline std::string object_name(std::string_view name) {
    if (name.find('\0') != std::string_view::npos) {
        throw Error(PLEXUS_E_INVALID_ARGUMENT, "object name contains a NUL byte");
    }
    return std::string(name);
}

/// `true` for PLEXUS_OK, `false` for PLEXUS_TIMEOUT, throws otherwise.
inline bool ok_or_timeout(plexus_status s) {
    if (s == PLEXUS_TIMEOUT) {
        return false;
    }
    check(s);
    return true;
}

/// A running observer (see Elements::observe): a thread of its own that calls the
/// callback with each new value of one element and its version. Move-only RAII: the
/// destructor (or stop()) asks the thread to stop and joins it (it notices within
/// `observe_slice_ns`). The thread also ends when the callback throws or a call fails
/// (the handle closed, the object or region removed): running() is then false and
/// error() says why.
class Observer {
  public:
    Observer() noexcept = default;
    Observer(Observer &&) noexcept = default;
    Observer &operator=(Observer &&other) noexcept {
        if (this != &other) {
            stop();
            state_ = std::move(other.state_);
            thread_ = std::move(other.thread_);
        }
        return *this;
    }
    Observer(const Observer &) = delete;
    Observer &operator=(const Observer &) = delete;
    ~Observer() { stop(); }

    /// Stops the thread and waits for it (a callback running now finishes first). Must
    /// not be called from the callback itself.
    void stop() noexcept {
        if (state_) {
            state_->stop.store(true);
        }
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    /// Whether the thread still observes.
    bool running() const noexcept { return state_ && !state_->done.load(); }
    /// Why the thread ended by itself ("" while running or after stop()).
    std::string error() const {
        if (!state_ || !state_->done.load()) {
            return "";
        }
        return state_->error;
    }

    /// Starts `loop(stop_flag, error_out)` on a thread (for Elements::observe).
    template <class Loop> static Observer start(Loop loop) {
        Observer o;
        o.state_ = std::make_shared<State>();
        std::shared_ptr<State> st = o.state_;
        o.thread_ = std::thread([st, loop = std::move(loop)]() mutable {
            try {
                loop(st->stop);
            } catch (const std::exception &e) {
                st->error = e.what();
            } catch (...) {
                st->error = "the callback threw";
            }
            st->done.store(true);
        });
        return o;
    }

  private:
    struct State {
        std::atomic<bool> stop{false};
        std::atomic<bool> done{false};
        std::string error;
    };
    std::shared_ptr<State> state_;
    std::thread thread_;
};

/// The owner of one C handle, which every owner class derives from (Region, Array, Map,
/// Queue, Bus, Subscription, Mutex, Barrier, Semaphore). Move-only: a move leaves the
/// source empty (id 0). close(), the destructor and a move-assignment over a live handle
/// give the handle back with `Close` (plexus_<kind>_close), ignoring its status, so none
/// of them throws.
template <class Handle, plexus_status (*Close)(Handle)> class Owner {
  public:
    Owner(const Owner &) = delete;
    Owner &operator=(const Owner &) = delete;
    /// Takes over `other`'s handle; `other` becomes empty.
    Owner(Owner &&other) noexcept : h_(std::exchange(other.h_, Handle{0})) {}
    /// Gives back this object's handle (as close() does), then takes over `other`'s;
    /// `other` becomes empty.
    Owner &operator=(Owner &&other) noexcept {
        if (this != &other) {
            close();
            h_ = std::exchange(other.h_, Handle{0});
        }
        return *this;
    }

    /// Gives the handle back now (plexus_<kind>_close), before the destructor would; this
    /// object becomes empty. It never changes the object in the region, which stays for
    /// every other handle and process (closing a Region also closes every object handle
    /// opened through it). Never throws: closing an empty owner does nothing, and
    /// PLEXUS_E_BAD_HANDLE (the region handle was closed first) is ignored.
    void close() noexcept {
        if (h_.id != 0) {
            (void)Close(std::exchange(h_, Handle{0}));
        }
    }

    /// The C handle, for calls the wrapper does not cover. It stays owned by this object:
    /// do not give it back with plexus_<kind>_close.
    Handle raw() const noexcept { return h_; }
    /// True unless empty (default-constructed, moved-from or closed). A handle made
    /// invalid by closing its region handle is not detected here.
    explicit operator bool() const noexcept { return h_.id != 0; }

  protected:
    Owner() noexcept = default;
    /// Owns one open of `h`.
    explicit Owner(Handle h) noexcept : h_(h) {}
    /// Gives the handle back (close()). Not virtual: owners are never deleted through a
    /// pointer to this base, which is why it is protected.
    ~Owner() { close(); }

    Handle h_{0};
};

/// The C calls of array elements (keyed by index), for Elements.
struct ArrayCalls {
    using Handle = plexus_array;
    using Key = std::uint64_t;
    static std::uint64_t c_key(std::uint64_t i) noexcept { return i; }
    static constexpr auto close = plexus_array_close;
    static constexpr auto read = plexus_array_read;
    static constexpr auto write = plexus_array_write;
    static constexpr auto read_fe = plexus_array_read_fe;
    static constexpr auto read_ff = plexus_array_read_ff;
    static constexpr auto read_rw = plexus_array_read_rw;
    static constexpr auto release_rw = plexus_array_release_rw;
    static constexpr auto write_ef = plexus_array_write_ef;
    static constexpr auto write_xf = plexus_array_write_xf;
    static constexpr auto write_xe = plexus_array_write_xe;
    static constexpr auto set_tag = plexus_array_set_tag;
    static constexpr auto is_full = plexus_array_is_full;
    static constexpr auto faa = plexus_array_faa;
    static constexpr auto cas = plexus_array_cas;
    static constexpr auto exchange = plexus_array_exchange;
    static constexpr auto patch = plexus_array_patch;
    static constexpr auto version = plexus_array_version;
    static constexpr auto wait_change = plexus_array_wait_change;
    static constexpr auto watch = plexus_array_watch;
};

/// The C calls of map elements (keyed by string), for Elements.
struct MapCalls {
    using Handle = plexus_map;
    using Key = const std::string &;
    static const char *c_key(const std::string &key) noexcept { return key.c_str(); }
    static constexpr auto close = plexus_map_close;
    static constexpr auto read = plexus_map_read;
    static constexpr auto write = plexus_map_write;
    static constexpr auto read_fe = plexus_map_read_fe;
    static constexpr auto read_ff = plexus_map_read_ff;
    static constexpr auto read_rw = plexus_map_read_rw;
    static constexpr auto release_rw = plexus_map_release_rw;
    static constexpr auto write_ef = plexus_map_write_ef;
    static constexpr auto write_xf = plexus_map_write_xf;
    static constexpr auto write_xe = plexus_map_write_xe;
    static constexpr auto set_tag = plexus_map_set_tag;
    static constexpr auto is_full = plexus_map_is_full;
    static constexpr auto faa = plexus_map_faa;
    static constexpr auto cas = plexus_map_cas;
    static constexpr auto exchange = plexus_map_exchange;
    static constexpr auto patch = plexus_map_patch;
    static constexpr auto version = plexus_map_version;
    static constexpr auto wait_change = plexus_map_wait_change;
    static constexpr auto watch = plexus_map_watch;
};

/// The callback of an Observer.
using ObserveFn = std::function<void(const Value &, std::uint64_t)>;

/// How long an Observer's thread waits in one piece before it looks whether it was
/// asked to stop (the longest a destructor waits for it).
inline constexpr std::int64_t observe_slice_ns = 50 * 1000 * 1000;

/// The element operations that Array and Map share, written once over the C calls `C`
/// (ArrayCalls or MapCalls). `k` is an element's index in an Array and its key in a
/// Map; Array and Map document what their keys add.
///
/// Every element holds a value, a FULL/EMPTY tag and a version. Unless stated
/// otherwise a call throws plexus::Error on failure (PLEXUS_E_INVALID_ARGUMENT for a
/// value the library rejects, i.e. invalid UTF-8 or MessagePack; PLEXUS_E_NO_SPACE
/// when the region heap is full; PLEXUS_E_BAD_HANDLE for an empty, moved-from or closed
/// owner, or one whose Region was closed). Blocking calls without a suffix wait without
/// limit; `try_*` try once; `*_for` wait up to the given duration; both report
/// PLEXUS_TIMEOUT as false / std::nullopt.
template <class C> class Elements : public Owner<typename C::Handle, C::close> {
  public:
    /// std::uint64_t for an Array, const std::string & for a Map.
    using Key = typename C::Key;

    /// Reads element `k` whatever its tag (tag unchanged). Never blocks on the tag;
    /// waits only for the element's internal lock. Atomic (never torn).
    Value read(Key k) const {
        return *read_into(
            [&](plexus_value *out) { return C::read(this->h_, C::c_key(k), out); }, false);
    }
    /// Writes `v` into element `k` whatever its tag (tag unchanged). Waits while
    /// read_rw readers hold the element.
    void write(Key k, const Value &v) const { put(C::write, k, v); }

    /// Blocks without limit until element `k` is FULL (and not held by read_rw), reads
    /// it and leaves it EMPTY (consume).
    Value read_fe(Key k) const { return *wait_read(C::read_fe, k, PLEXUS_FOREVER); }
    /// read_fe if element `k` is FULL now; std::nullopt (element untouched) if not.
    std::optional<Value> try_read_fe(Key k) const { return wait_read(C::read_fe, k, 0); }
    /// read_fe waiting at most `d`; std::nullopt when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_fe_for(Key k, const std::chrono::duration<Rep, Period> &d) const {
        return wait_read(C::read_fe, k, to_timeout_ns(d));
    }

    /// Blocks without limit until element `k` is FULL, reads it and leaves it FULL (peek).
    Value read_ff(Key k) const { return *wait_read(C::read_ff, k, PLEXUS_FOREVER); }
    /// read_ff if element `k` is FULL now; std::nullopt if not.
    std::optional<Value> try_read_ff(Key k) const { return wait_read(C::read_ff, k, 0); }
    /// read_ff waiting at most `d`; std::nullopt when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_ff_for(Key k, const std::chrono::duration<Rep, Period> &d) const {
        return wait_read(C::read_ff, k, to_timeout_ns(d));
    }

    /// Blocks without limit until element `k` is EMPTY, writes `v` and leaves it FULL
    /// (produce).
    void write_ef(Key k, const Value &v) const { check(write_ef_ns(k, v, PLEXUS_FOREVER)); }
    /// write_ef if element `k` is EMPTY now: true when written, false (nothing written)
    /// if it is FULL.
    bool try_write_ef(Key k, const Value &v) const { return ok_or_timeout(write_ef_ns(k, v, 0)); }
    /// write_ef waiting at most `d`: true when written, false when `d` passed first.
    template <class Rep, class Period>
    bool write_ef_for(Key k, const Value &v, const std::chrono::duration<Rep, Period> &d) const {
        return ok_or_timeout(write_ef_ns(k, v, to_timeout_ns(d)));
    }

    /// Writes `v` and leaves element `k` FULL whatever the tag was (waits only while
    /// read_rw readers hold it).
    void write_xf(Key k, const Value &v) const { put(C::write_xf, k, v); }
    /// Writes `v` and leaves element `k` EMPTY whatever the tag was (waits only while
    /// read_rw readers hold it).
    void write_xe(Key k, const Value &v) const { put(C::write_xe, k, v); }

    /// Sets element `k` FULL (`full` true) or EMPTY without touching its value (waits
    /// only while read_rw readers hold it).
    void set_tag(Key k, bool full) const { check(C::set_tag(this->h_, C::c_key(k), full)); }
    /// Whether element `k` is FULL (a snapshot; never blocks on the tag).
    bool is_full(Key k) const {
        bool full = false;
        check(C::is_full(this->h_, C::c_key(k), &full));
        return full;
    }

    /// Blocks without limit until element `k` is FULL, reads it and takes a shared read
    /// lock: until release_rw(k), calls that would change the element wait (read_fe,
    /// write*, set_tag, faa, cas, exchange, patch, Map::remove); read, read_ff and other
    /// read_rw proceed. At most 28 locks per region handle at once (PLEXUS_E_NO_SPACE).
    Value read_rw(Key k) const { return *wait_read(C::read_rw, k, PLEXUS_FOREVER); }
    /// read_rw if element `k` is FULL now (lock taken); std::nullopt (no lock) if not.
    std::optional<Value> try_read_rw(Key k) const { return wait_read(C::read_rw, k, 0); }
    /// read_rw waiting at most `d`; std::nullopt (no lock taken) when `d` passes first.
    template <class Rep, class Period>
    std::optional<Value> read_rw_for(Key k, const std::chrono::duration<Rep, Period> &d) const {
        return wait_read(C::read_rw, k, to_timeout_ns(d));
    }
    /// Releases one read_rw lock this process holds on element `k`. Throws
    /// PLEXUS_E_INVALID_ARGUMENT if it holds none.
    void release_rw(Key k) const { check(C::release_rw(this->h_, C::c_key(k))); }

    /// Atomically adds `delta` to element `k` with JavaScript `+` semantics (int+int
    /// wraps; a float on either side gives FLOAT; a string on either side concatenates;
    /// bytes+bytes concatenates; UNDEFINED counts as 0 or ""); tag unchanged. Returns the
    /// previous value. Throws PLEXUS_E_TYPE_MISMATCH for other combinations (element
    /// unchanged).
    Value faa(Key k, const Value &delta) const {
        const plexus_value d = delta.c_value();
        return *read_into(
            [&](plexus_value *old) { return C::faa(this->h_, C::c_key(k), &d, old); }, false);
    }

    /// Atomically: if element `k` equals `expected` (same type and value, as
    /// Value::operator==), store `desired`. Returns true when it swapped. If `old` is not
    /// null it receives the previous value either way. Tag unchanged.
    bool cas(Key k, const Value &expected, const Value &desired, Value *old = nullptr) const {
        const plexus_value e = expected.c_value();
        const plexus_value d = desired.c_value();
        Value prev = *read_into(
            [&](plexus_value *out) { return C::cas(this->h_, C::c_key(k), &e, &d, out); },
            false);
        const bool swapped = (prev == expected);
        if (old != nullptr) {
            *old = std::move(prev);
        }
        return swapped;
    }

    /// Atomically stores `v` in element `k` and returns the previous value; tag
    /// unchanged.
    Value exchange(Key k, const Value &v) const {
        const plexus_value c = v.c_value();
        return *read_into(
            [&](plexus_value *old) { return C::exchange(this->h_, C::c_key(k), &c, old); },
            false);
    }

    /// Atomically applies a MongoDB-style update document to element `k` and returns
    /// the value after it (plexus_array_patch): `$set`, `$unset`, `$inc`, `$mul`, `$min`,
    /// `$max`, `$push` (with `$each`), `$pull`, `$addToSet` on dotted paths
    /// ("stats.hits", "items.2.name"); an UNDEFINED element counts as `{}`. Tag
    /// unchanged, version +1. All or nothing: throws PLEXUS_E_INVALID_ARGUMENT for a bad
    /// document and PLEXUS_E_TYPE_MISMATCH when the value does not fit (the message names
    /// the operator and path), the element untouched.
    Value patch(Key k, const Value &update) const {
        const plexus_value u = update.c_value();
        return *read_into(
            [&](plexus_value *out) { return C::patch(this->h_, C::c_key(k), &u, out); },
            false);
    }
    /// patch() with the update document given as JSON text, e.g.
    /// `m.patch("cfg", R"({"$inc": {"stats.hits": 1}})")`. Throws
    /// PLEXUS_E_INVALID_ARGUMENT for bad JSON.
    Value patch(Key k, std::string_view json) const { return patch(k, Value::from_json(json)); }
    /// (A string literal or std::string is JSON text here, not a STRING value.)
    Value patch(Key k, const char *json) const {
        if (json == nullptr) {
            throw Error(PLEXUS_E_INVALID_ARGUMENT, "patch given a null JSON pointer");
        }
        return patch(k, std::string_view(json));
    }
    Value patch(Key k, const std::string &json) const { return patch(k, std::string_view(json)); }

    /// Element `k`'s version, bumped by every change of its value or tag.
    std::uint64_t version(Key k) const {
        std::uint64_t v = 0;
        check(C::version(this->h_, C::c_key(k), &v));
        return v;
    }
    /// Blocks without limit until element `k`'s version differs from `version`, then
    /// stores the new version in `version` (returns at once if it already differs). To
    /// watch an element: `auto v = a.version(k); for (;;) { a.wait_change(k, v); ... }`.
    void wait_change(Key k, std::uint64_t &version) const {
        check(C::wait_change(this->h_, C::c_key(k), &version, PLEXUS_FOREVER));
    }
    /// wait_change waiting at most `d`: true (and `version` updated) when the version
    /// moved, false (`version` unchanged) when `d` passed first.
    template <class Rep, class Period>
    bool wait_change_for(Key k, std::uint64_t &version,
                         const std::chrono::duration<Rep, Period> &d) const {
        return ok_or_timeout(C::wait_change(this->h_, C::c_key(k), &version, to_timeout_ns(d)));
    }

    /// Waits until element `k`'s version differs from `version`, then returns its value
    /// with the version that value belongs to (plexus_*_watch: a consistent pair). Start
    /// with version 0 to get the current value at once (a map key: once present).
    /// Observer guarantee: a caller looping on it sees every value that stayed longer
    /// than it took to come back, and always the last one; bursts are coalesced.
    std::pair<Value, std::uint64_t> watch(Key k, std::uint64_t version) const {
        return *watch_ns(k, version, PLEXUS_FOREVER);
    }
    /// watch() waiting at most `d`: std::nullopt when the version did not move in time.
    template <class Rep, class Period>
    std::optional<std::pair<Value, std::uint64_t>>
    watch_for(Key k, std::uint64_t version, const std::chrono::duration<Rep, Period> &d) const {
        return watch_ns(k, version, to_timeout_ns(d));
    }
    /// Calls `fn(value, version)` on a thread of its own: first with the current value
    /// (a map key once it is present; an array element once written), then with every
    /// new value under the observer guarantee of watch(). The returned Observer stops
    /// and joins the thread when destroyed; keep it as long as you want the calls. The
    /// thread uses this handle: close it only after the Observer is gone.
    Observer observe(Key k, ObserveFn fn) const {
        using Stored = std::remove_cv_t<std::remove_reference_t<Key>>;
        Stored key(k);
        const typename C::Handle h = this->h_;
        return Observer::start([h, key, fn = std::move(fn)](std::atomic<bool> &stop) {
            std::uint64_t version = 0;
            while (!stop.load()) {
                plexus_value out = out_value();
                const plexus_status s =
                    C::watch(h, C::c_key(key), &version, &out, observe_slice_ns);
                if (s == PLEXUS_TIMEOUT) {
                    continue;
                }
                check(s);
                const Value v = Value::adopt(out);
                fn(v, version);
            }
        });
    }

  protected:
    Elements() noexcept = default;
    /// Owns one open of `h`.
    explicit Elements(typename C::Handle h) noexcept : Owner<typename C::Handle, C::close>(h) {}

  private:
    std::optional<std::pair<Value, std::uint64_t>> watch_ns(Key k, std::uint64_t version,
                                                            std::int64_t t) const {
        std::uint64_t v = version;
        std::optional<Value> got = read_into(
            [&](plexus_value *out) { return C::watch(this->h_, C::c_key(k), &v, out, t); }, true);
        if (!got) {
            return std::nullopt;
        }
        return std::make_pair(std::move(*got), v);
    }

    /// read_fe, read_ff or read_rw with timeout `t`: std::nullopt on PLEXUS_TIMEOUT.
    template <class Read>
    std::optional<Value> wait_read(Read call, Key k, std::int64_t t) const {
        return read_into(
            [&](plexus_value *out) { return call(this->h_, C::c_key(k), out, t); }, true);
    }
    /// write, write_xf or write_xe.
    template <class Write> void put(Write call, Key k, const Value &v) const {
        const plexus_value c = v.c_value();
        check(call(this->h_, C::c_key(k), &c));
    }
    plexus_status write_ef_ns(Key k, const Value &v, std::int64_t t) const {
        const plexus_value c = v.c_value();
        return C::write_ef(this->h_, C::c_key(k), &c, t);
    }
};
}  // namespace detail

/// A running observer: see detail::Observer and Array::observe / Map::observe.
using Observer = detail::Observer;
/// The callback type of observe(): `void(const Value &value, std::uint64_t version)`.
using ObserveFn = detail::ObserveFn;

// ---------------------------------------------------------------------------------------
// Regions
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

/// One named object of a region (Region::objects).
struct ObjectInfo {
    std::string name;
    /// "array", "map", "queue", "stack", "bus", "mutex", "barrier" or "semaphore".
    std::string kind;
    /// Length, capacity, parties or permits (1 for a mutex).
    std::uint64_t shape;
};

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
/// and PLEXUS_E_UNSUPPORTED for a remote region (its server keeps it consistent).
inline CheckReport check_region(const std::string &name, bool repair = false) {
    CheckReport r{};
    plexus_value text = plexus_undefined();
    check(plexus_region_check(name.c_str(), repair ? PLEXUS_CHECK_REPAIR : 0u, &r, &text));
    r.text = Value::adopt(text).as_string();
    return r;
}

class Array;
class Map;
class Queue;
class Bus;
class Mutex;
class Barrier;
class Semaphore;
class Service;
template <class T> class TypedArray;

/// An open region handle. Move-only; close() (and the destructor) gives it back, and with
/// it every object handle opened through it, so an Array used after its Region is gone
/// throws PLEXUS_E_BAD_HANDLE. The region itself stays until removed.
///
/// A Region opens every kind of object, each with the same rules: a size argument
/// (length, capacity, parties, permits) of 0 opens an existing object only
/// (PLEXUS_E_NOT_FOUND if absent); a nonzero size creates the object if absent and must
/// equal the existing object's size otherwise (PLEXUS_E_INCOMPATIBLE); a name used by
/// another kind of object gives PLEXUS_E_TYPE_MISMATCH; PLEXUS_EXCLUSIVE in `flags`
/// gives PLEXUS_E_EXISTS if it is present. Opening the same object twice through one
/// Region gives two owners that share one C handle; each close() gives back one open.
/// remove_object removes an object for every process; its name can be used again at once.
///
/// Calls throw plexus::Error on failure (PLEXUS_E_BAD_HANDLE on an empty or moved-from
/// Region, PLEXUS_E_INVALID_ARGUMENT for a bad name, PLEXUS_E_NO_SPACE when the region
/// is full, and the statuses listed below).
class Region : public detail::Owner<plexus_region, plexus_region_close> {
  public:
    /// An empty Region (no handle).
    Region() noexcept = default;

    /// Opens or creates region `name` (no '/': volatile, /dev/shm/plexus.<name>; with '/':
    /// a persistent file at that path; 'redis://host:port/NAME': a remote region, where
    /// size and permissions do not apply) as `options` say. Blocks only with PLEXUS_OPEN,
    /// up to options.wait, for the region to appear. Throws PLEXUS_E_NOT_FOUND
    /// (PLEXUS_OPEN, still absent), PLEXUS_E_EXISTS (PLEXUS_CREATE), PLEXUS_E_CORRUPT,
    /// PLEXUS_E_INCOMPATIBLE, PLEXUS_E_PERMISSION, PLEXUS_E_NO_SPACE,
    /// PLEXUS_E_INVALID_ARGUMENT, PLEXUS_E_OS; for a remote region also
    /// PLEXUS_E_UNAVAILABLE (server unreachable within the URL's timeout_ms).
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
    /// the old one open get PLEXUS_E_REMOVED from their next call on it).
    static Region recreate(const std::string &name, std::uint64_t size = 0,
                           std::uint32_t permissions = 0) {
        RegionOptions o;
        o.mode = PLEXUS_RECREATE;
        o.size = size;
        o.permissions = permissions;
        return open(name, o);
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

    /// The region's named objects (plexus_region_next_object), sorted by name: each
    /// object that exists throughout the call once, whatever other processes create
    /// meanwhile.
    std::vector<ObjectInfo> objects() const {
        std::vector<ObjectInfo> all;
        std::uint64_t cursor = 0;
        for (;;) {
            plexus_object_info o{};
            bool found = false;
            check(plexus_region_next_object(h_, &cursor, &o, &found));
            if (!found) {
                std::sort(all.begin(), all.end(),
                          [](const ObjectInfo &a, const ObjectInfo &b) { return a.name < b.name; });
                return all;
            }
            all.push_back(ObjectInfo{o.name, o.kind, o.shape});
        }
    }

    /// Removes region `name`: every object of it, in every process, throws
    /// PLEXUS_E_REMOVED from its next call, and calls blocked in it wake with that status
    /// (open the name again to reach the region that has it now). Throws
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

    /// Removes the object `name` (of any kind) for every process
    /// (plexus_region_remove_object): every owner of it, in every process, throws
    /// PLEXUS_E_REMOVED from its next call (closing it still works), and calls blocked in
    /// it wake with that status. The name is free at once: opening it with a size creates
    /// a new object of any kind (through this Region too, even while an owner of the
    /// removed one is alive). The object's memory is reclaimed once no process can still
    /// be reading it. A shut-down Queue or Bus starts again this way: remove it, open it
    /// again with its capacity. Throws PLEXUS_E_NOT_FOUND if no object has that name,
    /// PLEXUS_E_REMOVED if the region itself was removed, PLEXUS_E_INVALID_ARGUMENT for a
    /// bad name (a NUL byte in `name` included).
    void remove_object(std::string_view name) const {
        check(plexus_region_remove_object(h_, detail::object_name(name).c_str()));
    }
    /// remove_object if an object called `name` exists: true if it was removed, false if
    /// there was none; throws on other errors.
    bool try_remove_object(std::string_view name) const {
        const plexus_status s = plexus_region_remove_object(h_, detail::object_name(name).c_str());
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

    /// Opens the array `name` of `length` elements (see the class comment for the
    /// rules). New elements hold UNDEFINED, EMPTY unless `flags` has PLEXUS_FULL.
    Array array(const std::string &name, std::uint64_t length = 0,
                std::uint32_t flags = 0) const;

    /// Opens the map `name` of up to `capacity` keys (see the class comment for the
    /// rules). Flags: PLEXUS_FULL (inserted keys start FULL), PLEXUS_EXCLUSIVE.
    Map map(const std::string &name, std::uint64_t capacity = 0, std::uint32_t flags = 0) const;

    /// Opens the map `name` like map(), with `initial` data (an OBJECT holding a map of
    /// string keys, e.g. Value::from_json(R"({"mode": "auto"})")) stored, keys FULL at
    /// version 1, if and only if this call creates the map (plexus_map_open_with:
    /// atomic; of several creators exactly one stores its data).
    Map map(const std::string &name, std::uint64_t capacity, std::uint32_t flags,
            const Value &initial) const;

    /// Opens the queue `name` of up to `capacity` values (see the class comment for the
    /// rules): a new queue is empty, a LIFO stack if `flags` has PLEXUS_LIFO, else FIFO;
    /// an existing one must be of the same kind (PLEXUS_E_INCOMPATIBLE), except that
    /// `capacity == 0` without PLEXUS_LIFO opens either kind. PLEXUS_E_INVALID_ARGUMENT
    /// for other flags (PLEXUS_FULL included).
    Queue queue(const std::string &name, std::uint64_t capacity = 0,
                std::uint32_t flags = 0) const;

    /// Opens the bus `name` that retains `capacity` messages (see the class comment for
    /// the rules). Flags: PLEXUS_EXCLUSIVE.
    Bus bus(const std::string &name, std::uint64_t capacity = 0, std::uint32_t flags = 0) const;

    /// Opens the mutex `name`, creating it (unlocked) if missing. PLEXUS_E_TYPE_MISMATCH
    /// if another kind of object has that name.
    Mutex mutex(const std::string &name) const;

    /// Opens the barrier `name` for `parties` parties (see the class comment for the
    /// rules; a new barrier has no party waiting).
    Barrier barrier(const std::string &name, std::uint32_t parties = 0) const;

    /// Opens the semaphore `name` with `permits` permits (see the class comment for the
    /// rules; a new semaphore has all its permits available).
    Semaphore semaphore(const std::string &name, std::uint32_t permits = 0) const;
    /// Opens (or, with `capacity > 0` pending requests, creates) the service `name`.
    Service service(const std::string &name, std::uint64_t capacity = 0,
                    std::uint32_t flags = 0) const;
    /// Opens (or, with `length > 0`, creates) the typed array `name` of `length`
    /// elements of T (std::int8_t ... std::uint64_t, float, double), in blocks of
    /// `block_len` elements (0 = one block); see TypedArray.
    template <class T>
    TypedArray<T> tarray(const std::string &name, std::uint64_t length = 0,
                         std::uint64_t block_len = 0, std::uint32_t flags = 0) const;

  private:
    explicit Region(plexus_region h) noexcept : Owner(h) {}
};

// ---------------------------------------------------------------------------------------
// Arrays and maps
// ---------------------------------------------------------------------------------------

/// An open array handle: indexed elements, each a value + FULL/EMPTY tag + version.
/// Move-only; obtained from Region::array (or Array::open). close() (and the
/// destructor) gives the handle back; the array stays in the region.
///
/// The element operations (read, write, read_fe, read_ff, write_ef, write_xf, write_xe,
/// set_tag, is_full, read_rw, release_rw, faa, cas, exchange, patch, version, wait_change
/// and their try_/_for forms) are those of detail::Elements, with `k` an index:
/// PLEXUS_E_OUT_OF_RANGE for `k >= len()`.
class Array : public detail::Elements<detail::ArrayCalls> {
  public:
    /// An empty Array (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Array() noexcept = default;

    /// Opens (or, with `length > 0`, creates) the array `name` in `region`; same as
    /// region.array(name, length, flags).
    static Array open(const Region &region, const std::string &name, std::uint64_t length = 0,
                      std::uint32_t flags = 0) {
        return region.array(name, length, flags);
    }

    /// Number of elements (plexus_array_len).
    std::uint64_t len() const {
        std::uint64_t n = 0;
        check(plexus_array_len(h_, &n));
        return n;
    }

  private:
    friend class Region;
    explicit Array(plexus_array h) noexcept : Elements(h) {}
};

/// An open map handle: UTF-8 string keys (at most PLEXUS_MAP_MAX_KEY_LEN bytes, no NUL),
/// each present key holding a value + FULL/EMPTY tag + version, up to capacity() keys.
/// Move-only; obtained from Region::map (or Map::open). close() (and the destructor)
/// gives the handle back; the map stays in the region.
///
/// The element operations are those of detail::Elements (as for Array), with `k` a key.
/// An absent key behaves as EMPTY holding UNDEFINED with version 0: read() gives
/// UNDEFINED, is_full() false, and the waiting reads (read_fe, read_ff, read_rw) wait
/// until some process inserts the key and it is FULL. Every writing call (write*,
/// set_tag, faa, cas, exchange, patch) inserts an absent key first (EMPTY, or FULL if the map
/// was created with PLEXUS_FULL). Inserting into a full map throws PLEXUS_E_NO_SPACE;
/// remove() makes room. A key's version is never repeated across remove and re-insert,
/// and wait_change counts insertion and removal as changes. A key longer than the limit
/// or not valid UTF-8 throws PLEXUS_E_INVALID_ARGUMENT.
class Map : public detail::Elements<detail::MapCalls> {
  public:
    /// An empty Map (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Map() noexcept = default;

    /// Opens (or, with `capacity > 0`, creates) the map `name` in `region`; same as
    /// region.map(name, capacity, flags).
    static Map open(const Region &region, const std::string &name, std::uint64_t capacity = 0,
                    std::uint32_t flags = 0) {
        return region.map(name, capacity, flags);
    }

    /// Number of keys present (plexus_map_len: a snapshot).
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

    /// One key changed after a change count (plexus_map_change).
    struct Change {
        std::string key;
        std::uint64_t version = 0;  ///< its version now (0 when removed)
        std::uint64_t counter = 0;  ///< the map's change count at its last change
        bool removed = false;
    };
    /// The map's change count (plexus_map_change_count): +1 per change of any key.
    /// Throws PLEXUS_E_UNSUPPORTED for a map made by an older version.
    std::uint64_t change_count() const {
        std::uint64_t n = 0;
        check(plexus_map_change_count(h_, &n));
        return n;
    }
    /// Waits until the change count differs from `counter`, then stores it there.
    void wait_changes(std::uint64_t &counter) const {
        check(plexus_map_wait_changes(h_, &counter, PLEXUS_FOREVER));
    }
    /// wait_changes waiting at most `d`: false when the count did not move in time.
    template <class Rep, class Period>
    bool wait_changes_for(std::uint64_t &counter,
                          const std::chrono::duration<Rep, Period> &d) const {
        return detail::ok_or_timeout(plexus_map_wait_changes(h_, &counter, to_timeout_ns(d)));
    }
    /// The next key changed after the count `since`, from `cursor` (start with 0);
    /// std::nullopt at the end (plexus_map_next_change). Throws PLEXUS_E_OUT_OF_RANGE
    /// when removals after `since` are no longer all recorded (list again from 0).
    std::optional<Change> next_change(std::uint64_t since, std::uint64_t &cursor) const {
        plexus_map_change c;
        const plexus_status s = plexus_map_next_change(h_, since, &cursor, &c);
        if (s == PLEXUS_E_NOT_FOUND) {
            return std::nullopt;
        }
        check(s);
        Value key = Value::adopt(c.key);
        return Change{key.as_string(), c.version, c.counter, c.removed};
    }
    /// Every change after `since`, collected with next_change (same guarantees).
    std::vector<Change> changes_since(std::uint64_t since) const {
        std::vector<Change> out;
        std::uint64_t cursor = 0;
        while (auto c = next_change(since, cursor)) {
            out.push_back(std::move(*c));
        }
        return out;
    }

  private:
    friend class Region;
    explicit Map(plexus_map h) noexcept : Elements(h) {}
};

// ---------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------

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
class Queue : public detail::Owner<plexus_queue, plexus_queue_close> {
  public:
    /// An empty Queue (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Queue() noexcept = default;

    /// Opens (or, with `capacity > 0`, creates) the queue `name` in `region`; same as
    /// region.queue(name, capacity, flags).
    static Queue open(const Region &region, const std::string &name, std::uint64_t capacity = 0,
                      std::uint32_t flags = 0) {
        return region.queue(name, capacity, flags);
    }

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

    /// Appends copies of `values` in order with one call (plexus_queue_push_many: the
    /// values that fit go in at once, with one wake-up; then it waits for room for the
    /// rest), waiting at most `timeout` (default: without limit) while the queue is full.
    /// `values` is any contiguous range of Value: std::vector<Value>, std::array<Value,
    /// N>, a Value[N] (anything std::data and std::size accept). In a FIFO queue the
    /// values of one batch stay together: no other producer's value comes between them.
    ///
    /// Returns how many went in, always the first ones: all of them, or fewer when
    /// `timeout` passed first or the queue is shut down (`*shut_down`, if given, says
    /// which), or when the region's heap cannot hold the next value (the next call throws
    /// PLEXUS_E_NO_SPACE). Throws when nothing went in for another reason
    /// (PLEXUS_E_INVALID_ARGUMENT for an invalid value anywhere in the batch,
    /// PLEXUS_E_NO_SPACE, ...).
    template <class Values, class Rep = Timeout::rep, class Period = Timeout::period,
              class = std::enable_if_t<std::is_convertible_v<
                  decltype(std::data(std::declval<const Values &>())), const Value *>>>
    std::size_t push_many(const Values &values,
                          const std::chrono::duration<Rep, Period> &timeout = forever,
                          bool *shut_down = nullptr) const {
        return push_many(std::data(values), std::size(values), timeout, shut_down);
    }
    /// push_many of the `n` values at `values`.
    template <class Rep = Timeout::rep, class Period = Timeout::period>
    std::size_t push_many(const Value *values, std::size_t n,
                          const std::chrono::duration<Rep, Period> &timeout = forever,
                          bool *shut_down = nullptr) const {
        return push_many_ns(values, n, to_timeout_ns(timeout), shut_down);
    }

    /// push_many that another thread (or a signal handler) can cancel
    /// (plexus_queue_push_many_cancellable): the batch keeps its place in a FIFO queue
    /// while it waits for room, and storing a nonzero value in `cancel` stops the wait
    /// within about 10 ms, as a timeout does. Returns how many went in (always the first
    /// ones): all of them, or fewer when cancelled, when `d` passed first, or when the
    /// queue is shut down (`*shut_down`, if given, says so); throws as push_many does.
    /// `cancel` must outlive the call.
    template <class Values, class Rep, class Period,
              class = std::enable_if_t<std::is_convertible_v<
                  decltype(std::data(std::declval<const Values &>())), const Value *>>>
    std::size_t push_many_cancellable_for(const Values &values,
                                          const std::atomic<std::uint32_t> &cancel,
                                          const std::chrono::duration<Rep, Period> &d,
                                          bool *shut_down = nullptr) const {
        return push_many_ns(std::data(values), std::size(values), to_timeout_ns(d), shut_down,
                            &cancel);
    }
    /// push_many_cancellable_for without a time limit: fewer than all only when
    /// cancelled or shut down.
    template <class Values,
              class = std::enable_if_t<std::is_convertible_v<
                  decltype(std::data(std::declval<const Values &>())), const Value *>>>
    std::size_t push_many_cancellable(const Values &values,
                                      const std::atomic<std::uint32_t> &cancel,
                                      bool *shut_down = nullptr) const {
        return push_many_ns(std::data(values), std::size(values), PLEXUS_FOREVER, shut_down,
                            &cancel);
    }
    /// push_many_cancellable_for of the `n` values at `values`.
    template <class Rep, class Period>
    std::size_t push_many_cancellable_for(const Value *values, std::size_t n,
                                          const std::atomic<std::uint32_t> &cancel,
                                          const std::chrono::duration<Rep, Period> &d,
                                          bool *shut_down = nullptr) const {
        return push_many_ns(values, n, to_timeout_ns(d), shut_down, &cancel);
    }
    /// push_many_cancellable of the `n` values at `values`.
    std::size_t push_many_cancellable(const Value *values, std::size_t n,
                                      const std::atomic<std::uint32_t> &cancel,
                                      bool *shut_down = nullptr) const {
        return push_many_ns(values, n, PLEXUS_FOREVER, shut_down, &cancel);
    }

    /// Removes up to `max` values with one call (plexus_queue_pop_many): waits at most
    /// `timeout` (default: without limit) while the queue is empty, then takes the values
    /// that are there, up to `max`, without waiting for more: the oldest first (a LIFO:
    /// the newest first). Empty when `timeout` passed first or the queue is shut down and
    /// empty (`*shut_down`, if given, is true only then). Throws PLEXUS_E_INVALID_ARGUMENT
    /// for `max == 0`.
    template <class Rep = Timeout::rep, class Period = Timeout::period>
    std::vector<Value> pop_many(std::size_t max,
                                const std::chrono::duration<Rep, Period> &timeout = forever,
                                bool *shut_down = nullptr) const {
        return pop_many_ns(max, to_timeout_ns(timeout), shut_down);
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
    /// handle stays valid (give it back with close()). To start it again, remove it
    /// (Region::remove_object) and open it again with its capacity: every owner of the
    /// old queue, in every process, then throws PLEXUS_E_REMOVED, so each process learns
    /// to open it again.
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
    explicit Queue(plexus_queue h) noexcept : Owner(h) {}

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

    /// The count when anything went in or the status is TIMEOUT or CLOSED; else throws.
    std::size_t push_many_ns(const Value *values, std::size_t n, std::int64_t t,
                             bool *shut_down,
                             const std::atomic<std::uint32_t> *cancel = nullptr) const {
        static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                          std::atomic<std::uint32_t>::is_always_lock_free,
                      "the cancel word is read by the library as a plain uint32_t");
        if (shut_down != nullptr) {
            *shut_down = false;
        }
        const detail::CValues c(values, n);
        std::size_t pushed = 0;
        const auto *word = reinterpret_cast<const std::uint32_t *>(cancel);
        const plexus_status s =
            cancel == nullptr ? plexus_queue_push_many(h_, c.data(), n, t, &pushed)
                              : plexus_queue_push_many_cancellable(h_, c.data(), n, t, &pushed, word);
        if (s == PLEXUS_CLOSED && shut_down != nullptr) {
            *shut_down = true;
        }
        if (s != PLEXUS_OK && s != PLEXUS_TIMEOUT && s != PLEXUS_CLOSED && pushed == 0) {
            throw Error(s);
        }
        return pushed;
    }

    /// The values popped; empty on PLEXUS_TIMEOUT and PLEXUS_CLOSED; anything else throws.
    std::vector<Value> pop_many_ns(std::size_t max, std::int64_t t, bool *shut_down) const {
        if (shut_down != nullptr) {
            *shut_down = false;
        }
        if (max == 0) {
            throw Error(PLEXUS_E_INVALID_ARGUMENT, "pop_many: max is 0");
        }
        std::vector<plexus_value> c(max, detail::out_value());
        std::size_t popped = 0;
        const plexus_status s = plexus_queue_pop_many(h_, c.data(), max, t, &popped);
        std::vector<Value> out;
        if (s == PLEXUS_OK) {
            out.reserve(popped);
            // Every value is adopted (and so released) even if one adoption throws.
            struct Release {
                std::vector<plexus_value> &c;
                std::size_t from;
                ~Release() {
                    for (; from < c.size(); from++) {
                        plexus_value_free(&c[from]);
                    }
                }
            } rest{c, 0};
            for (; rest.from < popped; rest.from++) {
                out.push_back(Value::adopt(c[rest.from]));
            }
            return out;
        }
        if (s == PLEXUS_CLOSED) {
            if (shut_down != nullptr) {
                *shut_down = true;
            }
            return out;
        }
        if (s == PLEXUS_TIMEOUT) {
            return out;
        }
        throw Error(s);
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

};

// ---------------------------------------------------------------------------------------
// Bus: broadcast (plexus_bus, plexus_sub)
// ---------------------------------------------------------------------------------------

/// One received bus message: its value and its sequence number (1, 2, 3, ... per bus; a
/// jump of more than one means the subscriber fell behind and missed messages).
struct Message {
    Value value;
    std::uint64_t seq = 0;
};

/// One received bus message with its topic (a named event; "" for a plain message).
struct Event {
    std::string topic;
    Value value;
    std::uint64_t seq = 0;
};

/// A subscription to a bus (plexus_sub): a private cursor of this process. Move-only;
/// obtained from Bus::subscribe.
///
///     plexus::Subscription sub = bus.subscribe();          // from now on
///     while (auto m = sub.next()) handle(m->seq, m->value);  // until the bus is shut down
///
/// next() waits without limit and returns std::nullopt once the bus is shut down and
/// every message published before was received (final). try_next / next_for return
/// std::nullopt also when no message came in time; pass `shut_down` to tell them apart.
/// close() (and the destructor) ends the subscription (plexus_sub_close). Failures throw
/// plexus::Error.
class Subscription : public detail::Owner<plexus_sub, plexus_sub_close> {
  public:
    /// An empty Subscription (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Subscription() noexcept = default;

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

    /// The next message with its topic (plexus_sub_next_event), waiting without limit;
    /// std::nullopt once the bus is shut down and drained. A subscription made with
    /// Bus::subscribe(prefix) receives only the messages whose topic starts with it.
    [[nodiscard]] std::optional<Event> next_event() const {
        return next_event_ns(PLEXUS_FOREVER, nullptr, false);
    }
    /// The next message with its topic if one is there now (`*shut_down` as for try_next).
    [[nodiscard]] std::optional<Event> try_next_event(bool *shut_down = nullptr) const {
        return next_event_ns(0, shut_down, true);
    }
    /// The next message with its topic, waiting at most `d` (`*shut_down` as for try_next).
    template <class Rep, class Period>
    [[nodiscard]] std::optional<Event>
    next_event_for(const std::chrono::duration<Rep, Period> &d, bool *shut_down = nullptr) const {
        return next_event_ns(to_timeout_ns(d), shut_down, true);
    }

  private:
    friend class Bus;
    explicit Subscription(plexus_sub h) noexcept : Owner(h) {}

    std::optional<Event> next_event_ns(std::int64_t t, bool *shut_down,
                                       bool timeout_is_outcome) const {
        if (shut_down != nullptr) {
            *shut_down = false;
        }
        plexus_value out = detail::out_value();
        std::uint64_t seq = 0;
        char topic[PLEXUS_MAX_TOPIC_LEN + 1];
        std::size_t len = 0;
        const plexus_status s = plexus_sub_next_event(h_, topic, sizeof topic, &len, &out, &seq, t);
        if (s == PLEXUS_OK) {
            return Event{std::string(topic, len), Value::adopt(out), seq};
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
};

/// An open bus handle (plexus_bus): broadcast of values to every subscriber, in one order
/// for all. Move-only; obtained from Region::bus (or Bus::open). close() (and the
/// destructor) gives back the handle (plexus_bus_close; subscriptions stay valid);
/// shutdown() ends the bus itself for every process (plexus_bus_shutdown).
///
/// publish() never waits for subscribers and returns the message's sequence number (0
/// if the bus is shut down). Failures throw plexus::Error.
class Bus : public detail::Owner<plexus_bus, plexus_bus_close> {
  public:
    /// An empty Bus (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Bus() noexcept = default;

    /// Opens (or, with `capacity > 0`, creates) the bus `name` in `region`; same as
    /// region.bus(name, capacity, flags).
    static Bus open(const Region &region, const std::string &name, std::uint64_t capacity = 0,
                    std::uint32_t flags = 0) {
        return region.bus(name, capacity, flags);
    }

    /// Publishes a copy of `v`; its sequence number, or 0 if the bus is shut down.
    [[nodiscard]] std::uint64_t publish(const Value &v) const {
        const plexus_value c = v.c_value();
        std::uint64_t seq = 0;
        const plexus_status s = plexus_bus_publish(h_, &c, &seq);
        return seq_unless_closed(s, seq);
    }

    /// Publishes copies of `values` in order as consecutive messages with one call
    /// (plexus_bus_publish_many: no other publisher's message comes between them, and
    /// sleeping subscribers are woken once); the first one's sequence number (message `k`
    /// has first + k), or 0 if the bus is shut down or `values` is empty. `values` is any
    /// contiguous range of Value: std::vector<Value>, std::array<Value, N>, a Value[N]
    /// (anything std::data and std::size accept). Throws PLEXUS_E_INVALID_ARGUMENT for an
    /// invalid value anywhere in the batch (nothing is published then).
    template <class Values,
              class = std::enable_if_t<std::is_convertible_v<
                  decltype(std::data(std::declval<const Values &>())), const Value *>>>
    [[nodiscard]] std::uint64_t publish_many(const Values &values) const {
        return publish_many(std::data(values), std::size(values));
    }
    /// publish_many of the `n` values at `values`.
    [[nodiscard]] std::uint64_t publish_many(const Value *values, std::size_t n) const {
        const detail::CValues c(values, n);
        std::uint64_t first = 0;
        const plexus_status s = plexus_bus_publish_many(h_, c.data(), n, &first);
        return seq_unless_closed(s, first);
    }

    /// A new subscription: from the next message (PLEXUS_FROM_NOW, the default) or from
    /// the oldest one retained (PLEXUS_FROM_OLDEST).
    Subscription subscribe(std::uint32_t from = PLEXUS_FROM_NOW) const {
        plexus_sub h{0};
        check(plexus_bus_subscribe(h_, from, &h));
        return Subscription(h);
    }

    /// Publishes a copy of `v` with the topic `topic` (a named event, MemSync's
    /// `events.emit(name, data)`; at most PLEXUS_MAX_TOPIC_LEN bytes of UTF-8; "" is a
    /// plain publish), in the bus's one order; its sequence number, or 0 if the bus is shut
    /// down. Throws PLEXUS_E_INVALID_ARGUMENT for a bad topic, PLEXUS_E_UNSUPPORTED on a
    /// bus made by a version of plexus without topics.
    [[nodiscard]] std::uint64_t emit(const std::string &topic, const Value &v) const {
        const plexus_value c = v.c_value();
        std::uint64_t seq = 0;
        const plexus_status s = plexus_bus_emit(h_, topic.c_str(), &c, &seq);
        return seq_unless_closed(s, seq);
    }

    /// A new subscription receiving only the messages whose topic starts with `prefix`
    /// (plexus_bus_subscribe_topic; "" receives every message). Read them with
    /// Subscription::next_event (topic, value, seq) or next (value, seq).
    Subscription subscribe(const std::string &prefix, std::uint32_t from = PLEXUS_FROM_NOW) const {
        plexus_sub h{0};
        check(plexus_bus_subscribe_topic(h_, from, prefix.c_str(), &h));
        return Subscription(h);
    }

    /// Ends the bus for every process (plexus_bus_shutdown): publish() returns 0 from now
    /// on; subscribers receive what was published before, then std::nullopt. The handle
    /// stays valid (give it back with close()). To start it again, remove it
    /// (Region::remove_object) and open it again with its capacity: every owner of the
    /// old bus and its subscriptions, in every process, then throws PLEXUS_E_REMOVED, so
    /// each process learns to open it (and subscribe) again.
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

  private:
    friend class Region;
    explicit Bus(plexus_bus h) noexcept : Owner(h) {}

    /// A publish's outcome: its sequence number, 0 when the bus is shut down; throws
    /// for other failures.
    static std::uint64_t seq_unless_closed(plexus_status s, std::uint64_t seq) {
        if (s == PLEXUS_CLOSED) {
            return 0;
        }
        check(s);
        return seq;
    }
};

// ---------------------------------------------------------------------------------------
// Locks: Mutex, Barrier, Semaphore (plexus_mutex, plexus_barrier, plexus_semaphore)
// ---------------------------------------------------------------------------------------

/// A robust, process-shared mutex (plexus_mutex). Move-only; obtained from
/// Region::mutex (or Mutex::open), which creates it (unlocked) if missing. close() (and
/// the destructor) gives back the handle (plexus_mutex_close); it does not unlock.
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
class Mutex : public detail::Owner<plexus_mutex, plexus_mutex_close> {
  public:
    /// An empty Mutex (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Mutex() noexcept = default;

    /// Opens the mutex `name` in `region`, creating it (unlocked) if missing; same as
    /// region.mutex(name).
    static Mutex open(const Region &region, const std::string &name) { return region.mutex(name); }

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

  private:
    friend class Region;
    explicit Mutex(plexus_mutex h) noexcept : Owner(h) {}

    bool owner_died_ = false;
};

/// A reusable barrier for a fixed number of parties (plexus_barrier). Move-only;
/// obtained from Region::barrier (or Barrier::open). close() (and the destructor) gives
/// back the handle (plexus_barrier_close).
///
/// wait() returns once all parties have called it in the current round; then the next
/// round begins. wait_for(d) returns false when `d` passed first: its arrival was then
/// withdrawn, as if it had never been made (the barrier stays usable). A party that
/// dies after arriving counts as arrived; one that dies before arriving leaves the
/// others waiting until their timeouts.
class Barrier : public detail::Owner<plexus_barrier, plexus_barrier_close> {
  public:
    /// An empty Barrier (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Barrier() noexcept = default;

    /// Opens (or, with `parties > 0`, creates) the barrier `name` in `region`; same as
    /// region.barrier(name, parties).
    static Barrier open(const Region &region, const std::string &name,
                        std::uint32_t parties = 0) {
        return region.barrier(name, parties);
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

  private:
    friend class Region;
    explicit Barrier(plexus_barrier h) noexcept : Owner(h) {}
};

/// A counting semaphore whose permits come back when their holder dies
/// (plexus_semaphore). Move-only; obtained from Region::semaphore (or Semaphore::open).
/// close() (and the destructor) gives back the handle (plexus_semaphore_close), not the
/// permits.
///
/// Permits belong to the region handle that acquired them (any of its threads may
/// release them); release() when it holds none throws PLEXUS_E_INVALID_ARGUMENT.
/// Permits of a process that dies (or of a region handle that is closed) return to the
/// semaphore.
class Semaphore : public detail::Owner<plexus_semaphore, plexus_semaphore_close> {
  public:
    /// An empty Semaphore (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Semaphore() noexcept = default;

    /// Opens (or, with `permits > 0`, creates) the semaphore `name` in `region`; same as
    /// region.semaphore(name, permits).
    static Semaphore open(const Region &region, const std::string &name,
                          std::uint32_t permits = 0) {
        return region.semaphore(name, permits);
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

  private:
    friend class Region;
    explicit Semaphore(plexus_semaphore h) noexcept : Owner(h) {}
};


// ---------------------------------------------------------------------------------------
// Region's factories (defined here, where every kind of owner is complete)
// ---------------------------------------------------------------------------------------

inline Array Region::array(const std::string &name, std::uint64_t length,
                           std::uint32_t flags) const {
    plexus_array h{0};
    check(plexus_array_open(h_, name.c_str(), length, flags, &h));
    return Array(h);
}

inline Map Region::map(const std::string &name, std::uint64_t capacity,
                       std::uint32_t flags) const {
    plexus_map h{0};
    check(plexus_map_open(h_, name.c_str(), capacity, flags, &h));
    return Map(h);
}

inline Map Region::map(const std::string &name, std::uint64_t capacity, std::uint32_t flags,
                       const Value &initial) const {
    plexus_map h{0};
    const plexus_value init = initial.c_value();
    check(plexus_map_open_with(h_, name.c_str(), capacity, flags, &init, &h));
    return Map(h);
}

inline Queue Region::queue(const std::string &name, std::uint64_t capacity,
                           std::uint32_t flags) const {
    plexus_queue h{0};
    check(plexus_queue_open(h_, name.c_str(), capacity, flags, &h));
    return Queue(h);
}

inline Bus Region::bus(const std::string &name, std::uint64_t capacity,
                       std::uint32_t flags) const {
    plexus_bus h{0};
    check(plexus_bus_open(h_, name.c_str(), capacity, flags, &h));
    return Bus(h);
}

inline Mutex Region::mutex(const std::string &name) const {
    plexus_mutex h{0};
    check(plexus_mutex_open(h_, name.c_str(), &h));
    return Mutex(h);
}

inline Barrier Region::barrier(const std::string &name, std::uint32_t parties) const {
    plexus_barrier h{0};
    check(plexus_barrier_open(h_, name.c_str(), parties, &h));
    return Barrier(h);
}

inline Semaphore Region::semaphore(const std::string &name, std::uint32_t permits) const {
    plexus_semaphore h{0};
    check(plexus_semaphore_open(h_, name.c_str(), permits, &h));
    return Semaphore(h);
}

// ---------------------------------------------------------------------------------------
// Services

/// A request/response service (plexus_service): callers' call()s go to exactly one
/// server's next(); each request is answered with reply() or reply_error().
///
///     // server                                     // caller
///     auto stop = svc.serve([](const Value &req) {   auto r = svc.call_for(Value(20), 1s);
///         return Value(req.as_int() * 2 + 1);        // r: std::optional<Value>; 41
///     });                                            // nullopt: no reply in time
///
/// call() and call_for() throw plexus::Error with status PLEXUS_E_SERVICE (the handler's
/// message in what()) when the server replied with an error, and PLEXUS_OWNER_DEAD when
/// the server that took the request died before replying; a timeout is std::nullopt
/// from call_for (and from try_call).
class Service : public detail::Owner<plexus_service, plexus_service_close> {
  public:
    /// An empty Service (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    Service() noexcept = default;

    /// Opens (or, with `capacity > 0`, creates) the service `name` in `region`; same as
    /// region.service(name, capacity, flags).
    static Service open(const Region &region, const std::string &name,
                        std::uint64_t capacity = 0, std::uint32_t flags = 0) {
        return region.service(name, capacity, flags);
    }

    /// Sends `request` and waits without limit for the reply.
    Value call(const Value &request) const {
        std::optional<Value> r = call_ns(request, PLEXUS_FOREVER);
        return std::move(*r);
    }
    /// call, waiting at most `d` (for room and for the reply): std::nullopt when no reply
    /// came in time (the request is withdrawn; a later reply is discarded).
    template <class Rep, class Period>
    std::optional<Value> call_for(const Value &request,
                                  const std::chrono::duration<Rep, Period> &d) const {
        return call_ns(request, to_timeout_ns(d));
    }

    /// call that another thread (or a signal handler) can cancel
    /// (plexus_service_call_cancellable): storing a nonzero value in `cancel` withdraws
    /// the request, as a timeout does, within about 10 ms. std::nullopt when cancelled or
    /// when no reply came within `d`. `cancel` must outlive the call.
    template <class Rep, class Period>
    std::optional<Value> call_cancellable_for(const Value &request,
                                              const std::atomic<std::uint32_t> &cancel,
                                              const std::chrono::duration<Rep, Period> &d) const {
        return call_ns(request, to_timeout_ns(d), &cancel);
    }
    /// call_cancellable_for without a time limit: std::nullopt only when cancelled.
    std::optional<Value> call_cancellable(const Value &request,
                                          const std::atomic<std::uint32_t> &cancel) const {
        return call_ns(request, PLEXUS_FOREVER, &cancel);
    }

    /// One request taken by next(): its id and value.
    struct Request {
        plexus_request id;
        Value value;
    };
    /// Takes the oldest pending request, waiting without limit.
    Request next() const { return *next_ns(PLEXUS_FOREVER); }
    /// next, waiting at most `d`: std::nullopt if none came.
    template <class Rep, class Period>
    std::optional<Request> next_for(const std::chrono::duration<Rep, Period> &d) const {
        return next_ns(to_timeout_ns(d));
    }
    /// Answers request `id` (taken through this region handle) with `response`.
    /// Throws PLEXUS_E_INVALID_ARGUMENT when it was already answered or is not ours.
    void reply(plexus_request id, const Value &response) const {
        const plexus_value v = response.c_value();
        check(plexus_service_reply(h_, id, &v));
    }
    /// Answers request `id` with an error: its caller's call throws PLEXUS_E_SERVICE.
    void reply_error(plexus_request id, const std::string &message) const {
        check(plexus_service_reply_error(h_, id, message.c_str()));
    }

    /// Most requests in the service at once.
    std::uint64_t capacity() const {
        std::uint64_t n = 0;
        check(plexus_service_capacity(h_, &n));
        return n;
    }
    /// Requests in the service now (placed and not yet collected), a snapshot.
    std::uint64_t pending() const {
        std::uint64_t n = 0;
        check(plexus_service_pending(h_, &n));
        return n;
    }

    /// A server thread started by serve(): stop() (or the destructor) ends it within
    /// about 50 ms and joins it. Move-only.
    class Server {
      public:
        Server() noexcept = default;
        Server(Server &&) noexcept = default;
        Server &operator=(Server &&other) noexcept {
            stop();
            stop_ = std::move(other.stop_);
            thread_ = std::move(other.thread_);
            return *this;
        }
        ~Server() { stop(); }
        /// Ends the loop (a request being handled is answered first) and joins the thread.
        void stop() noexcept {
            if (stop_) stop_->store(true);
            if (thread_.joinable()) thread_.join();
        }

      private:
        friend class Service;
        std::shared_ptr<std::atomic<bool>> stop_;
        std::thread thread_;
    };

    /// Serves requests on a new thread until the returned Server is stopped: each
    /// request's reply is `handler(request)`; an exception thrown by the handler becomes
    /// reply_error(what()) (any other exception: "unknown exception"). The Service must
    /// outlive the Server. Errors of the service itself (PLEXUS_E_REMOVED, ...) end the
    /// loop.
    [[nodiscard]] Server serve(std::function<Value(const Value &)> handler) const {
        Server s;
        s.stop_ = std::make_shared<std::atomic<bool>>(false);
        auto stop = s.stop_;
        const plexus_service h = h_;
        s.thread_ = std::thread([h, stop, handler = std::move(handler)] {
            while (!stop->load()) {
                plexus_request id{0};
                plexus_value in;
                const plexus_status st =
                    plexus_service_next(h, &id, &in, 50 * 1000 * 1000);
                if (st == PLEXUS_TIMEOUT) continue;
                if (st != PLEXUS_OK) return;
                Value request = Value::adopt(in);
                try {
                    const Value out = handler(request);
                    const plexus_value v = out.c_value();
                    (void)plexus_service_reply(h, id, &v);
                } catch (const std::exception &e) {
                    (void)plexus_service_reply_error(h, id, e.what());
                } catch (...) {
                    (void)plexus_service_reply_error(h, id, "unknown exception");
                }
            }
        });
        return s;
    }

  private:
    friend class Region;
    explicit Service(plexus_service h) noexcept : Owner(h) {}

    std::optional<Value> call_ns(const Value &request, std::int64_t timeout_ns,
                                 const std::atomic<std::uint32_t> *cancel = nullptr) const {
        static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                          std::atomic<std::uint32_t>::is_always_lock_free,
                      "the cancel word is read by the library as a plain uint32_t");
        const plexus_value in = request.c_value();
        plexus_value out;
        const plexus_status st =
            cancel == nullptr
                ? plexus_service_call(h_, &in, &out, timeout_ns)
                : plexus_service_call_cancellable(
                      h_, &in, &out, timeout_ns, reinterpret_cast<const std::uint32_t *>(cancel));
        if (st == PLEXUS_TIMEOUT) return std::nullopt;
        check(st);
        return Value::adopt(out);
    }
    std::optional<Request> next_ns(std::int64_t timeout_ns) const {
        plexus_request id{0};
        plexus_value out;
        const plexus_status st = plexus_service_next(h_, &id, &out, timeout_ns);
        if (st == PLEXUS_TIMEOUT) return std::nullopt;
        check(st);
        return Request{id, Value::adopt(out)};
    }
};

inline Service Region::service(const std::string &name, std::uint64_t capacity,
                               std::uint32_t flags) const {
    plexus_service h{0};
    check(plexus_service_open(h_, name.c_str(), capacity, flags, &h));
    return Service(h);
}


// ---------------------------------------------------------------------------------------
// Typed arrays
// ---------------------------------------------------------------------------------------

namespace detail {
template <class T> struct dtype_of;
template <> struct dtype_of<std::int8_t> { static constexpr plexus_dtype value = PLEXUS_DTYPE_I8; };
template <> struct dtype_of<std::uint8_t> { static constexpr plexus_dtype value = PLEXUS_DTYPE_U8; };
template <> struct dtype_of<std::int16_t> { static constexpr plexus_dtype value = PLEXUS_DTYPE_I16; };
template <> struct dtype_of<std::uint16_t> { static constexpr plexus_dtype value = PLEXUS_DTYPE_U16; };
template <> struct dtype_of<std::int32_t> { static constexpr plexus_dtype value = PLEXUS_DTYPE_I32; };
template <> struct dtype_of<std::uint32_t> { static constexpr plexus_dtype value = PLEXUS_DTYPE_U32; };
template <> struct dtype_of<std::int64_t> { static constexpr plexus_dtype value = PLEXUS_DTYPE_I64; };
template <> struct dtype_of<std::uint64_t> { static constexpr plexus_dtype value = PLEXUS_DTYPE_U64; };
template <> struct dtype_of<float> { static constexpr plexus_dtype value = PLEXUS_DTYPE_F32; };
template <> struct dtype_of<double> { static constexpr plexus_dtype value = PLEXUS_DTYPE_F64; };
}  // namespace detail

/// A pointer and an element count over shared memory (no copy): what C++17 has of
/// std::span. Under C++20 it converts to std::span<T> (and span() returns one).
template <class T> class View {
  public:
    View() noexcept = default;
    View(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    T *data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    T *begin() const noexcept { return data_; }
    T *end() const noexcept { return data_ + size_; }
    T &operator[](std::size_t i) const noexcept { return data_[i]; }
#if __cplusplus >= 202002L && __has_include(<span>)
    std::span<T> span() const noexcept { return {data_, size_}; }
    operator std::span<T>() const noexcept { return span(); }
#endif

  private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};

/// An open typed array: `length` numbers of type T, contiguous in the region and
/// mapped in place (view() is the whole array, no copy), in blocks that are FULL or
/// EMPTY for handing data from producers to consumers without copies:
///
///     auto frames = r.tarray<double>("frames", 8 * 4096, 4096);
///     { auto w = frames.write_block(i % 8);   // waits EMPTY; w.view() is the block
///       fill(w.view()); }                     // destructor: end_write (FULL)
///     { auto rd = frames.read_block(i % 8);   // waits FULL
///       use(rd.view()); }                     // destructor: end_read (EMPTY)
///
/// A writer that dies inside its block leaves it EMPTY (never handed out as FULL), a
/// reader leaves it FULL (see plexus_tarray in plexus.h). The block guards end their
/// block in the destructor, also during an exception: a WriteBlock destroyed by an
/// exception still makes its block FULL (there is no "abandon" call), so fill the block
/// before anything can throw.
///
/// The 32- and 64-bit integer arrays have atomics (load, store, faa, cas, wait, notify),
/// across processes as std::atomic is across threads. Remote regions have no pointer:
/// view(), write_block() and read_block() throw PLEXUS_E_UNSUPPORTED there; read(),
/// write(), copy_in_block() / copy_out_block() and the atomics work on both backends.
template <class T> class TypedArray : public detail::Owner<plexus_tarray, plexus_tarray_close> {
    static constexpr bool atomic_ok =
        std::is_integral<T>::value && (sizeof(T) == 4 || sizeof(T) == 8);

  public:
    /// An empty TypedArray (no handle); every call on it throws PLEXUS_E_BAD_HANDLE.
    TypedArray() noexcept = default;

    static constexpr plexus_dtype dtype = detail::dtype_of<T>::value;

    /// Same as region.tarray<T>(name, length, block_len, flags).
    static TypedArray open(const Region &region, const std::string &name,
                           std::uint64_t length = 0, std::uint64_t block_len = 0,
                           std::uint32_t flags = 0) {
        return region.tarray<T>(name, length, block_len, flags);
    }

    std::uint64_t size() const { return shape().length; }
    std::uint64_t block_len() const { return shape().block_len; }
    std::uint64_t blocks() const { return shape().blocks; }

    /// Every element, in place (valid while this TypedArray is open).
    View<T> view() const {
        void *p = nullptr;
        std::uint64_t n = 0;
        check(plexus_tarray_data(h_, &p, &n));
        return View<T>(static_cast<T *>(p), static_cast<std::size_t>(n));
    }

    /// A block held for writing (from write_block) or reading (read_block): view() is
    /// its elements; the destructor (or end()) ends it. Move-only.
    template <bool Write> class Block {
      public:
        Block(Block &&o) noexcept : h_(std::exchange(o.h_, plexus_tarray{0})), b_(o.b_), v_(o.v_) {}
        Block &operator=(Block &&o) noexcept {
            if (this != &o) {
                end_noexcept();
                h_ = std::exchange(o.h_, plexus_tarray{0});
                b_ = o.b_;
                v_ = o.v_;
            }
            return *this;
        }
        Block(const Block &) = delete;
        Block &operator=(const Block &) = delete;
        ~Block() { end_noexcept(); }
        using Elem = typename std::conditional<Write, T, const T>::type;
        View<Elem> view() const noexcept { return v_; }
        std::uint64_t index() const noexcept { return b_; }
        /// Ends the block now (end_write: FULL; end_read: EMPTY); throws on failure.
        void end() {
            const plexus_tarray h = std::exchange(h_, plexus_tarray{0});
            if (h.id != 0) check(Write ? plexus_tarray_end_write(h, b_) : plexus_tarray_end_read(h, b_));
        }

      private:
        friend class TypedArray;
        Block(plexus_tarray h, std::uint64_t b, View<Elem> v) noexcept : h_(h), b_(b), v_(v) {}
        void end_noexcept() noexcept {
            const plexus_tarray h = std::exchange(h_, plexus_tarray{0});
            if (h.id != 0) (void)(Write ? plexus_tarray_end_write(h, b_) : plexus_tarray_end_read(h, b_));
        }
        plexus_tarray h_{0};
        std::uint64_t b_ = 0;
        View<Elem> v_;
    };
    using WriteBlock = Block<true>;
    using ReadBlock = Block<false>;

    /// Waits (without limit) until block `b` is EMPTY and holds it for writing.
    WriteBlock write_block(std::uint64_t b) const { return *begin_write_ns(b, PLEXUS_FOREVER); }
    /// write_block, waiting at most `d`: std::nullopt on timeout.
    template <class Rep, class Period>
    std::optional<WriteBlock> write_block_for(std::uint64_t b,
                                              const std::chrono::duration<Rep, Period> &d) const {
        return begin_write_ns(b, to_timeout_ns(d));
    }
    /// Waits (without limit) until block `b` is FULL and holds it for reading.
    ReadBlock read_block(std::uint64_t b) const { return *begin_read_ns(b, PLEXUS_FOREVER); }
    template <class Rep, class Period>
    std::optional<ReadBlock> read_block_for(std::uint64_t b,
                                            const std::chrono::duration<Rep, Period> &d) const {
        return begin_read_ns(b, to_timeout_ns(d));
    }

    /// Copies `count` elements from `first` into `out` (every backend).
    void read(std::uint64_t first, std::uint64_t count, T *out) const {
        check(plexus_tarray_read(h_, first, count, out));
    }
    std::vector<T> read(std::uint64_t first, std::uint64_t count) const {
        std::vector<T> v(static_cast<std::size_t>(count));
        read(first, count, v.data());
        return v;
    }
    /// Copies `count` elements from `in` to `first ..` (every backend).
    void write(std::uint64_t first, const T *in, std::uint64_t count) const {
        check(plexus_tarray_write(h_, first, count, in));
    }
    void write(std::uint64_t first, const std::vector<T> &in) const {
        write(first, in.data(), in.size());
    }
    /// Waits for block `b` FULL, copies it into `out` (its element count), leaves it
    /// EMPTY; false on timeout (every backend).
    template <class Rep = std::int64_t, class Period = std::nano>
    bool copy_out_block(std::uint64_t b, T *out,
                        const std::chrono::duration<Rep, Period> &d = forever) const {
        return ok_or_timeout(plexus_tarray_read_block(h_, b, to_timeout_ns(d), out));
    }
    /// Waits for block `b` EMPTY, copies it from `in`, leaves it FULL; false on timeout.
    template <class Rep = std::int64_t, class Period = std::nano>
    bool copy_in_block(std::uint64_t b, const T *in,
                       const std::chrono::duration<Rep, Period> &d = forever) const {
        return ok_or_timeout(plexus_tarray_write_block(h_, b, to_timeout_ns(d), in));
    }
    /// Whether block `b` is FULL now (being read counts as FULL), a snapshot.
    bool is_full(std::uint64_t b) const {
        bool f = false;
        check(plexus_tarray_is_full(h_, b, &f));
        return f;
    }

    // Atomics (32- and 64-bit integers only).
    T load(std::uint64_t i) const {
        static_assert(atomic_ok, "atomics exist for 32- and 64-bit integers");
        std::int64_t v = 0;
        check(plexus_tarray_load(h_, i, &v));
        return static_cast<T>(v);
    }
    void store(std::uint64_t i, T v) const {
        static_assert(atomic_ok, "atomics exist for 32- and 64-bit integers");
        check(plexus_tarray_store(h_, i, static_cast<std::int64_t>(v)));
    }
    /// Adds `delta` (wrapping); returns the value before.
    T faa(std::uint64_t i, T delta) const {
        static_assert(atomic_ok, "atomics exist for 32- and 64-bit integers");
        std::int64_t old = 0;
        const std::int64_t d = std::is_signed<T>::value
                                   ? static_cast<std::int64_t>(delta)
                                   : static_cast<std::int64_t>(static_cast<std::uint64_t>(delta));
        check(plexus_tarray_faa(h_, i, d, &old));
        return static_cast<T>(old);
    }
    /// Stores `desired` if the element equals `expected`; returns the value before.
    T cas(std::uint64_t i, T expected, T desired) const {
        static_assert(atomic_ok, "atomics exist for 32- and 64-bit integers");
        std::int64_t old = 0;
        check(plexus_tarray_cas(h_, i, static_cast<std::int64_t>(expected),
                                static_cast<std::int64_t>(desired), &old));
        return static_cast<T>(old);
    }
    /// Sleeps while element `i` equals `expected`, until a notify finds it changed.
    void wait(std::uint64_t i, T expected) const { (void)wait_ns(i, expected, PLEXUS_FOREVER); }
    /// wait, at most `d`: false on timeout.
    template <class Rep, class Period>
    bool wait_for(std::uint64_t i, T expected, const std::chrono::duration<Rep, Period> &d) const {
        return wait_ns(i, expected, to_timeout_ns(d));
    }
    /// Wakes up to `count` waiters on element `i` (default: all); returns how many.
    std::uint32_t notify(std::uint64_t i, std::uint32_t count = PLEXUS_NOTIFY_ALL) const {
        static_assert(atomic_ok, "atomics exist for 32- and 64-bit integers");
        std::uint32_t n = 0;
        check(plexus_tarray_notify(h_, i, count, &n));
        return n;
    }

  private:
    friend class Region;
    explicit TypedArray(plexus_tarray h) noexcept : Owner(h) {}

    struct Shape {
        std::uint64_t length, block_len, blocks;
    };
    Shape shape() const {
        Shape s{0, 0, 0};
        check(plexus_tarray_shape(h_, nullptr, &s.length, &s.block_len, &s.blocks));
        return s;
    }
    static bool ok_or_timeout(plexus_status st) {
        if (st == PLEXUS_TIMEOUT) return false;
        check(st);
        return true;
    }
    std::size_t block_size(std::uint64_t b) const {
        const Shape s = shape();
        const std::uint64_t first = b * s.block_len;
        return static_cast<std::size_t>(first < s.length ? std::min(s.block_len, s.length - first) : 0);
    }
    std::optional<WriteBlock> begin_write_ns(std::uint64_t b, std::int64_t ns) const {
        void *p = nullptr;
        const plexus_status st = plexus_tarray_begin_write(h_, b, ns, &p);
        if (st == PLEXUS_TIMEOUT) return std::nullopt;
        check(st);
        return WriteBlock(h_, b, View<T>(static_cast<T *>(p), block_size(b)));
    }
    std::optional<ReadBlock> begin_read_ns(std::uint64_t b, std::int64_t ns) const {
        const void *p = nullptr;
        const plexus_status st = plexus_tarray_begin_read(h_, b, ns, &p);
        if (st == PLEXUS_TIMEOUT) return std::nullopt;
        check(st);
        return ReadBlock(h_, b, View<const T>(static_cast<const T *>(p), block_size(b)));
    }
    bool wait_ns(std::uint64_t i, T expected, std::int64_t ns) const {
        static_assert(atomic_ok, "atomics exist for 32- and 64-bit integers");
        return ok_or_timeout(plexus_tarray_wait(h_, i, static_cast<std::int64_t>(expected), ns));
    }
};

template <class T>
inline TypedArray<T> Region::tarray(const std::string &name, std::uint64_t length,
                                    std::uint64_t block_len, std::uint32_t flags) const {
    plexus_tarray h{0};
    check(plexus_tarray_open(h_, name.c_str(), detail::dtype_of<T>::value, length, block_len,
                             flags, &h));
    return TypedArray<T>(h);
}

}  // namespace plexus

#endif  // PLEXUS_HPP
