/* Single-process tests of the C bus API: every function, order, every type, falling
 * behind, close, timeouts, open rules and bad inputs. */
#include <pthread.h>
#include <time.h>

#include "common.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static plexus_bus closing_bus;

static void *wait_for_close(void *arg) {
  plexus_sub s;
  plexus_value v;
  uint64_t seq = 0;
  plexus_status *result = arg;
  if (plexus_bus_subscribe(closing_bus, PLEXUS_FROM_NOW, &s) != PLEXUS_OK) {
    *result = PLEXUS_E_INTERNAL;
    return NULL;
  }
  *result = plexus_sub_next(s, &v, &seq, PLEXUS_FOREVER);
  plexus_sub_close(s);
  return NULL;
}

int main(void) {
  char name[64];
  unique_name(name, sizeof name, "test-bus");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_RECREATE;
  o.size = 16 << 20;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));

  /* Open rules. */
  plexus_bus b, b2, none = {0};
  MUST(plexus_bus_open(r, "events", 8, 0, &b));
  MUST(plexus_bus_open(r, "events", 0, 0, &b2));
  CHECK(b.id == b2.id); /* same handle, counted twice */
  MUST(plexus_bus_close(b2));
  EXPECT_MSG(plexus_bus_open(r, "events", 9, 0, &b2), PLEXUS_E_INCOMPATIBLE);
  EXPECT_MSG(plexus_bus_open(r, "events", 8, PLEXUS_EXCLUSIVE, &b2), PLEXUS_E_EXISTS);
  EXPECT_MSG(plexus_bus_open(r, "missing", 0, 0, &b2), PLEXUS_E_NOT_FOUND);
  EXPECT_MSG(plexus_bus_open(r, "x", 8, 0x80, &b2), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_open(r, NULL, 8, 0, &b2), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_open(r, "x", 8, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  plexus_array a;
  MUST(plexus_array_open(r, "arr", 1, 0, &a));
  EXPECT_MSG(plexus_bus_open(r, "arr", 8, 0, &b2), PLEXUS_E_TYPE_MISMATCH);
  plexus_queue q;
  EXPECT_MSG(plexus_queue_open(r, "events", 8, 0, &q), PLEXUS_E_TYPE_MISMATCH);

  uint64_t cap = 0, next = 0;
  MUST(plexus_bus_capacity(b, &cap));
  CHECK(cap == 8);
  MUST(plexus_bus_next_seq(b, &next));
  CHECK(next == 1);

  /* Every type, in order, to two subscribers. */
  plexus_sub early, late;
  MUST(plexus_bus_subscribe(b, PLEXUS_FROM_NOW, &early));
  char big[3000];
  memset(big, 'q', sizeof big);
  plexus_value vals[] = {
      plexus_null(),          plexus_bool(true),
      plexus_int(-7),         plexus_float(1.5),
      plexus_string("short"), plexus_string("a string of more than eight bytes"),
      plexus_bytes(big, sizeof big),
  };
  size_t nvals = sizeof vals / sizeof vals[0];
  for (size_t i = 0; i < nvals; i++) {
    uint64_t seq = 0;
    MUST(plexus_bus_publish(b, &vals[i], &seq));
    CHECK(seq == i + 1);
  }
  MUST(plexus_bus_publish(b, &vals[2], NULL)); /* seq is optional */
  MUST(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &late));
  plexus_sub subs[2] = {early, late};
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < nvals + 1; i++) {
      plexus_value v;
      uint64_t seq = 0;
      MUST(plexus_sub_next(subs[k], &v, &seq, 0));
      CHECK(seq == i + 1);
      CHECK(plexus_value_equal(&v, &vals[i < nvals ? i : 2]));
      plexus_value_free(&v);
    }
    plexus_value v = plexus_int(99);
    uint64_t seq = 12345;
    EXPECT(plexus_sub_next(subs[k], &v, &seq, 0), PLEXUS_TIMEOUT);
    CHECK(v.type == PLEXUS_INT && v.as.i == 99 && seq == 12345); /* unchanged */
  }

  /* A positive timeout waits at least that long. */
  plexus_value v;
  double t0 = now_s();
  EXPECT(plexus_sub_next(early, &v, NULL, 30 * 1000 * 1000), PLEXUS_TIMEOUT);
  CHECK(now_s() - t0 >= 0.029);

  /* Falling behind: 20 more messages on a bus of 8; the next one received is the
   * oldest retained, and the sequence number shows the gap. */
  for (int i = 0; i < 20; i++) {
    plexus_value x = plexus_int(1000 + i);
    MUST(plexus_bus_publish(b, &x, NULL));
  }
  uint64_t seq = 0;
  MUST(plexus_sub_next(early, &v, &seq, 0));
  CHECK(seq == 21 && v.type == PLEXUS_INT && v.as.i == 1012);
  for (uint64_t want = 22; want <= 28; want++) {
    MUST(plexus_sub_next(early, &v, &seq, 0));
    CHECK(seq == want);
  }
  EXPECT(plexus_sub_next(early, &v, &seq, 0), PLEXUS_TIMEOUT);

  /* Close: waiters wake with CLOSED, publishing fails, the rest drains. */
  closing_bus = b;
  pthread_t th[3];
  plexus_status results[3];
  for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, wait_for_close, &results[i]);
  usleep(200 * 1000);
  bool closed = true;
  MUST(plexus_bus_is_shutdown(b, &closed));
  CHECK(!closed);
  MUST(plexus_bus_shutdown(b));
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    CHECK(results[i] == PLEXUS_CLOSED);
  }
  MUST(plexus_bus_is_shutdown(b, &closed));
  CHECK(closed);
  EXPECT_MSG(plexus_bus_publish(b, &vals[0], NULL), PLEXUS_CLOSED);
  MUST(plexus_bus_shutdown(b)); /* twice is fine */
  plexus_sub after;
  MUST(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &after));
  int drained = 0;
  while (plexus_sub_next(after, &v, NULL, 0) == PLEXUS_OK) {
    plexus_value_free(&v);
    drained++;
  }
  CHECK(drained == 8);
  EXPECT(plexus_sub_next(after, &v, NULL, PLEXUS_FOREVER), PLEXUS_CLOSED);

  /* Bad inputs. */
  plexus_sub bad_sub = {0};
  EXPECT_MSG(plexus_bus_publish(none, &vals[0], NULL), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_bus_publish(b, NULL, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_subscribe(b, 7, &bad_sub), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_subscribe(b, PLEXUS_FROM_NOW, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_sub_next(bad_sub, &v, NULL, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_sub_next(late, NULL, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_sub_next(late, &v, NULL, -5), PLEXUS_E_INVALID_ARGUMENT);
  plexus_sub wrong = {a.id};
  EXPECT_MSG(plexus_sub_next(wrong, &v, NULL, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_bus_capacity(b, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_next_seq(b, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_is_shutdown(b, NULL), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_sub_close(after));
  EXPECT_MSG(plexus_sub_close(after), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_sub_close(early));
  MUST(plexus_bus_close(b));
  EXPECT_MSG(plexus_bus_close(b), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_bus_capacity(b, &cap), PLEXUS_E_BAD_HANDLE);
  /* Closing the region closes its subscriptions. */
  MUST(plexus_region_close(r));
  EXPECT_MSG(plexus_sub_next(late, &v, NULL, 0), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_region_remove(name));
  return finish("test_bus");
}
