/* Tests of plexus_bus_publish_many: order and sequence numbers, batches that stay
 * contiguous while another thread publishes single messages, bad input that publishes
 * nothing, n == 0, batches larger than the capacity, shutdown. With an argument (a
 * region name or redis:// URL) the same tests run on that region. */
#include <pthread.h>

#include "common.h"

#define BATCHES 200
#define BATCH 16
#define SINGLES 2000

static plexus_bus shared_bus;

/* Publishes SINGLES single messages: ints -1, -2, ... */
static void *single_publisher(void *arg) {
  plexus_status *result = arg;
  *result = PLEXUS_OK;
  for (int i = 1; i <= SINGLES; i++) {
    plexus_value v = plexus_int(-i);
    plexus_status s = plexus_bus_publish(shared_bus, &v, NULL);
    if (s != PLEXUS_OK) {
      *result = s;
      return NULL;
    }
  }
  return NULL;
}

/* A string "b<batch>:<k>" (long enough for the heap when `pad`). */
static void batch_text(char *buf, size_t cap, int batch, int k, int pad) {
  int n = snprintf(buf, cap, "b%d:%d:", batch, k);
  if (pad) {
    while ((size_t)n + 1 < cap) buf[n++] = 'x';
    buf[n] = 0;
  }
}

static void test_order_and_seqs(plexus_region r) {
  plexus_bus b;
  MUST(plexus_bus_open(r, "batch-order", 64, 0, &b));
  plexus_sub s;
  MUST(plexus_bus_subscribe(b, PLEXUS_FROM_NOW, &s));
  uint64_t first = 0, next = 0;
  MUST(plexus_bus_next_seq(b, &next));
  plexus_value one = plexus_int(7);
  MUST(plexus_bus_publish(b, &one, NULL));
  char big[300];
  memset(big, 'z', sizeof big);
  plexus_value vals[] = {plexus_int(1), plexus_string("two"),
                         plexus_string("three, longer than eight"), plexus_bytes(big, sizeof big),
                         plexus_null()};
  MUST(plexus_bus_publish_many(b, vals, 5, &first));
  CHECK(first == next + 1);
  MUST(plexus_bus_publish_many(b, vals, 2, NULL)); /* first_seq is optional */
  MUST(plexus_bus_next_seq(b, &next));
  CHECK(next == first + 7);
  plexus_value v;
  uint64_t seq = 0;
  MUST(plexus_sub_next(s, &v, &seq, 0));
  CHECK(v.type == PLEXUS_INT && v.as.i == 7 && seq == first - 1);
  for (int k = 0; k < 7; k++) {
    MUST(plexus_sub_next(s, &v, &seq, 0));
    CHECK(seq == first + (uint64_t)k);
    plexus_value *want = &vals[k % 5];
    CHECK(v.type == want->type);
    if (k == 0 || k == 5) CHECK(v.as.i == 1);
    if (k == 1 || k == 6) CHECK(v.as.buf.len == 3 && memcmp(v.as.buf.ptr, "two", 3) == 0);
    if (k == 3) CHECK(v.as.buf.len == sizeof big && memcmp(v.as.buf.ptr, big, sizeof big) == 0);
    plexus_value_free(&v);
  }
  EXPECT(plexus_sub_next(s, &v, &seq, 0), PLEXUS_TIMEOUT);

  /* n == 0: nothing published, *first_seq = 0, values may be NULL. */
  first = 99;
  MUST(plexus_bus_publish_many(b, NULL, 0, &first));
  CHECK(first == 0);
  MUST(plexus_bus_next_seq(b, &seq));
  CHECK(seq == next);

  /* Bad input anywhere: nothing published, *first_seq unchanged. */
  plexus_value bad[3] = {plexus_int(1), plexus_string("ok"), plexus_string("\xc3\x28 invalid")};
  first = 42;
  EXPECT_MSG(plexus_bus_publish_many(b, bad, 3, &first), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(strstr(plexus_last_error(), "index 2") != NULL);
  plexus_value badtype[2] = {plexus_int(1), plexus_int(2)};
  badtype[1].type = (plexus_type)77;
  EXPECT_MSG(plexus_bus_publish_many(b, badtype, 2, &first), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_bus_publish_many(b, NULL, 2, &first), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(first == 42);
  MUST(plexus_bus_next_seq(b, &seq));
  CHECK(seq == next);
  EXPECT(plexus_sub_next(s, &v, &seq, 0), PLEXUS_TIMEOUT);
  plexus_bus none = {0};
  EXPECT_MSG(plexus_bus_publish_many(none, vals, 1, NULL), PLEXUS_E_BAD_HANDLE);

  /* A batch larger than the capacity: allowed; the bus keeps its last 64 messages and
   * the subscriber that was behind sees the gap. */
  plexus_value many[100];
  for (int k = 0; k < 100; k++) many[k] = plexus_int(1000 + k);
  MUST(plexus_bus_publish_many(b, many, 100, &first));
  CHECK(first == next);
  MUST(plexus_sub_next(s, &v, &seq, 0));
  CHECK(seq == first + 36 && v.type == PLEXUS_INT && v.as.i == 1036);
  for (int k = 37; k < 100; k++) {
    MUST(plexus_sub_next(s, &v, &seq, 0));
    CHECK(seq == first + (uint64_t)k && v.as.i == 1000 + k);
  }
  EXPECT(plexus_sub_next(s, &v, &seq, 0), PLEXUS_TIMEOUT);

  /* Shutdown: the status publish gives, nothing published. */
  MUST(plexus_bus_shutdown(b));
  first = 5;
  EXPECT(plexus_bus_publish_many(b, vals, 2, &first), PLEXUS_CLOSED);
  EXPECT(plexus_bus_publish(b, vals, NULL), PLEXUS_CLOSED);
  CHECK(first == 5);
  EXPECT(plexus_sub_next(s, &v, &seq, 0), PLEXUS_CLOSED);
  MUST(plexus_sub_close(s));
  MUST(plexus_bus_close(b));
}

/* Batches published while another thread publishes single messages: every batch's
 * messages have consecutive sequence numbers, in order, nothing between them. */
static void test_contiguous_under_contention(plexus_region r) {
  MUST(plexus_bus_open(r, "batch-mixed", 8192, 0, &shared_bus));
  plexus_sub s;
  MUST(plexus_bus_subscribe(shared_bus, PLEXUS_FROM_NOW, &s));
  pthread_t t;
  plexus_status single_result = PLEXUS_E_INTERNAL;
  CHECK(pthread_create(&t, NULL, single_publisher, &single_result) == 0);
  char text[BATCH][160];
  plexus_value vals[BATCH];
  uint64_t firsts[BATCHES];
  for (int i = 0; i < BATCHES; i++) {
    for (int k = 0; k < BATCH; k++) {
      batch_text(text[k], sizeof text[k], i, k, k % 4 == 3);
      vals[k] = plexus_string(text[k]);
    }
    MUST(plexus_bus_publish_many(shared_bus, vals, BATCH, &firsts[i]));
  }
  pthread_join(t, NULL);
  EXPECT(single_result, PLEXUS_OK);
  int singles = 0, batch = -1, pos = BATCH;
  uint64_t last = 0;
  plexus_value v;
  uint64_t seq;
  for (int n = 0; n < SINGLES + BATCHES * BATCH; n++) {
    MUST(plexus_sub_next(s, &v, &seq, 0));
    CHECK(last == 0 || seq == last + 1); /* no gap: the capacity holds everything */
    last = seq;
    if (v.type == PLEXUS_INT) {
      CHECK(pos == BATCH); /* never inside a batch */
      CHECK(v.as.i == -(++singles));
      continue;
    }
    CHECK(v.type == PLEXUS_STRING);
    char want[160];
    if (pos == BATCH) {
      batch++;
      pos = 0;
      CHECK(batch < BATCHES && seq == firsts[batch]);
    }
    batch_text(want, sizeof want, batch, pos, pos % 4 == 3);
    CHECK(v.as.buf.len == strlen(want) && memcmp(v.as.buf.ptr, want, strlen(want)) == 0);
    pos++;
    plexus_value_free(&v);
  }
  CHECK(singles == SINGLES && batch == BATCHES - 1 && pos == BATCH);
  EXPECT(plexus_sub_next(s, &v, &seq, 0), PLEXUS_TIMEOUT);
  MUST(plexus_sub_close(s));
  MUST(plexus_bus_close(shared_bus));
}

int main(int argc, char **argv) {
  alarm(120);
  char name[128];
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_RECREATE;
  o.size = 16 << 20;
  if (argc > 1) {
    if (take_region_name(argv[1], name, sizeof name)) return 2;
  } else {
    unique_name(name, sizeof name, "test-bus-batch");
  }
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  test_order_and_seqs(r);
  test_contiguous_under_contention(r);
  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish("test_bus_batch");
}
