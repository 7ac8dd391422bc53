// CHECK and CHECK_THROWS for the C++ tests: a failed check is printed with its place
// and counted in `failures` (the test's exit status comes from it); CHECK_THROWS
// expects a plexus::Error with the given status.
#ifndef PLEXUS_FFI_TESTS_CPP_CHECKS_HPP
#define PLEXUS_FFI_TESTS_CPP_CHECKS_HPP

#include <plexus.hpp>

#include <cstdio>

namespace {

int failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                              \
        }                                                                            \
    } while (0)

#define CHECK_THROWS(expr, st)                                                       \
    do {                                                                             \
        try {                                                                        \
            (void)(expr);                                                            \
            std::fprintf(stderr, "%s:%d: %s did not throw\n", __FILE__, __LINE__, #expr); \
            ++failures;                                                              \
        } catch (const plexus::Error &e_) {                                          \
            if (e_.status() != (st)) {                                               \
                std::fprintf(stderr, "%s:%d: %s threw %s\n", __FILE__, __LINE__, #expr, \
                             e_.what());                                             \
                ++failures;                                                          \
            }                                                                        \
        }                                                                            \
    } while (0)

}  // namespace

#endif
