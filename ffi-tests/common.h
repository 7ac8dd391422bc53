/* Helpers shared by the C test programs: checks that count failures, unique names. */
#ifndef PLEXUS_FFI_TEST_COMMON_H
#define PLEXUS_FFI_TEST_COMMON_H

#include <plexus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, plexus_last_error());                                              \
      failures++;                                                                       \
    }                                                                                   \
  } while (0)

/* The call must return `expected`; on failure print both names and the message. */
#define EXPECT(call, expected)                                                        \
  do {                                                                                \
    plexus_status s_ = (call);                                                        \
    if (s_ != (expected)) {                                                           \
      fprintf(stderr, "%s:%d: %s\n  returned %s, expected %s (last error: %s)\n",     \
              __FILE__, __LINE__, #call, plexus_status_name(s_),                      \
              plexus_status_name(expected), plexus_last_error());                     \
      failures++;                                                                     \
    }                                                                                 \
  } while (0)

/* The call must succeed, or the program stops (later steps depend on it). */
#define MUST(call)                                                                   \
  do {                                                                               \
    plexus_status s_ = (call);                                                       \
    if (s_ != PLEXUS_OK) {                                                           \
      fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,       \
              plexus_status_name(s_), plexus_last_error());                          \
      exit(2);                                                                       \
    }                                                                                \
  } while (0)

/* A failing status must come with a non-empty message. */
#define EXPECT_MSG(call, expected)                                             \
  do {                                                                         \
    EXPECT(call, expected);                                                    \
    if ((expected) != PLEXUS_OK && plexus_last_error()[0] == '\0') {           \
      fprintf(stderr, "%s:%d: %s gave no message\n", __FILE__, __LINE__, #call); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* The region a test created, removed at exit even when a MUST stops the test early.
 * (This also checks that plexus calls work from atexit handlers, after the library's
 * thread-locals are gone: the region is usually removed already, so the call takes the
 * error path.) */
static char created_region[128];

static void remove_created_region(void) {
  if (created_region[0]) plexus_region_remove(created_region);
}

/* Makes a region name unique to this process and removes that region at exit. */
static inline void unique_name(char *buf, size_t cap, const char *tag) {
  snprintf(buf, cap, "%s-%ld", tag, (long)getpid());
  snprintf(created_region, sizeof created_region, "%s", buf);
  atexit(remove_created_region);
}

/* Takes the region name a test was given on its command line (a redis:// URL from the
 * test runner, say) and removes that region at exit; -1 when it does not fit `cap`. */
static inline int take_region_name(const char *arg, char *buf, size_t cap) {
  size_t n = strlen(arg);
  if (n >= cap || n >= sizeof created_region) return -1;
  memcpy(buf, arg, n + 1);
  memcpy(created_region, arg, n + 1);
  atexit(remove_created_region);
  return 0;
}

static inline int finish(const char *test) {
  if (failures) {
    fprintf(stderr, "%s: %d failure(s)\n", test, failures);
    return 1;
  }
  printf("%s: OK\n", test);
  return 0;
}

#endif
