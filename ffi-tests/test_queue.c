/* Every plexus_queue function, used the way plexus.h documents it: values of every type
 * (a string over 100 KB and an OBJECT included), FIFO and LIFO order, full and empty
 * queues with timeout 0 and a short positive timeout, close (pushes refused, pops drain,
 * waiters blocked in other threads wake), batches (plexus_queue_push_many and
 * plexus_queue_pop_many: partial batches, the counts on every status, a batch larger
 * than the queue; plexus_queue_push_many_cancellable: a waiting batch cancelled by
 * another thread, kept together while another producer waits behind it), the open
 * rules, and bad inputs, each with its documented status and a message.
 *
 * With a region name as argument (a redis:// URL: tests/ffi.rs passes one), only the
 * batch tests run, on that region. */
#include "common.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define MS 1000000LL
/* The short positive timeout of the "full" and "empty" checks. */
#define SHORT_NS (30 * MS)

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int is_int(const plexus_value *v, int64_t i) { return v->type == PLEXUS_INT && v->as.i == i; }

/* An INT that no queue in this test holds: pops that fail must leave it in `*out`. */
static plexus_value sentinel(void) { return plexus_int(-777); }

static void push_int(plexus_queue q, int64_t i) {
  plexus_value v = plexus_int(i);
  MUST(plexus_queue_push(q, &v, 0));
}

/* Pops (timeout 0) and checks that the value is INT `want`. */
static void expect_pop_int(plexus_queue q, int64_t want, int line) {
  plexus_value out = sentinel();
  plexus_status s = plexus_queue_pop(q, &out, 0);
  if (s != PLEXUS_OK || !is_int(&out, want)) {
    fprintf(stderr, "%s:%d: pop gave %s, type %d, int %lld; expected INT %lld (last error: %s)\n",
            __FILE__, line, plexus_status_name(s), (int)out.type, (long long)out.as.i,
            (long long)want, plexus_last_error());
    failures++;
  }
  plexus_value_free(&out);
}
#define EXPECT_POP_INT(q, want) expect_pop_int((q), (want), __LINE__)

static uint64_t queue_len(plexus_queue q) {
  uint64_t n = 999;
  MUST(plexus_queue_len(q, &n));
  return n;
}

/* `call` (a push or pop with timeout SHORT_NS) returns PLEXUS_TIMEOUT, no sooner than
 * SHORT_NS after it started. */
#define EXPECT_SHORT_TIMEOUT(call)                                                            \
  do {                                                                                        \
    int64_t t0_ = now_ns();                                                                   \
    EXPECT(call, PLEXUS_TIMEOUT);                                                             \
    int64_t took_ = now_ns() - t0_;                                                           \
    if (took_ < SHORT_NS) {                                                                   \
      fprintf(stderr, "%s:%d: %s timed out after %lld ns, before its %lld ns timeout\n",      \
              __FILE__, __LINE__, #call, (long long)took_, (long long)SHORT_NS);              \
      failures++;                                                                             \
    }                                                                                         \
  } while (0)

/* ---- every value type, FIFO and LIFO ---- */

#define BIG_LEN (150 * 1024)

static void test_every_type(plexus_region r, uint32_t flags) {
  /* `big` is pushed, then overwritten: the queue must have kept a copy (`big_copy`). */
  static char big[BIG_LEN], big_copy[BIG_LEN];
  for (size_t i = 0; i < BIG_LEN; i++) big[i] = (char)('a' + (i * 7 + i / 1000) % 26);
  memcpy(big_copy, big, BIG_LEN);
  static const unsigned char raw[] = {0, 1, 0xff, 0, 0x80, 'x', 0, 0, 0, 0, 0x7f};
  const char *json = "{\"a\":[1,2.5,{\"b\":null}],\"c\":\"x\",\"d\":true}";
  plexus_value object;
  MUST(plexus_value_from_json(json, &object));
  CHECK(object.type == PLEXUS_OBJECT);
  plexus_value values[] = {
      plexus_undefined(),
      plexus_null(),
      plexus_bool(true),
      plexus_bool(false),
      plexus_int(0),
      plexus_int(INT64_MIN),
      plexus_int(INT64_MAX),
      plexus_float(-0.25),
      plexus_float(1e300),
      plexus_string(""),
      plexus_string("12345678"),  /* 8 bytes: kept in the slot */
      plexus_string("123456789"), /* 9 bytes: kept in the heap */
      plexus_string_n("nul\0inside", 10),
      plexus_string("\xc3\xa9t\xc3\xa9 \xe2\x82\xac"), /* UTF-8 */
      plexus_string_n(big, BIG_LEN),
      plexus_bytes(raw, sizeof raw),
      plexus_bytes(raw, 3),
      plexus_bytes(NULL, 0),
      object,
  };
  const size_t n = sizeof values / sizeof values[0];
  plexus_queue q;
  MUST(plexus_queue_open(r, flags ? "types-lifo" : "types", 32, flags, &q));
  for (size_t i = 0; i < n; i++) MUST(plexus_queue_push(q, &values[i], 0));
  CHECK(queue_len(q) == n);
  memset(big, '#', BIG_LEN);
  for (size_t k = 0; k < n; k++) {
    size_t i = flags & PLEXUS_LIFO ? n - 1 - k : k; /* LIFO: newest first */
    plexus_value want = values[i];
    if (want.type == PLEXUS_STRING && want.as.buf.ptr == big) want.as.buf.ptr = big_copy;
    plexus_value out = sentinel();
    MUST(plexus_queue_pop(q, &out, 0));
    if (!plexus_value_equal(&out, &want)) {
      fprintf(stderr, "%s: value %zu (type %d) came back as type %d\n", flags ? "LIFO" : "FIFO",
              i, (int)want.type, (int)out.type);
      failures++;
    }
    if (out.type == PLEXUS_STRING) {
      /* The library puts a NUL after the strings it owns. */
      CHECK(((const char *)out.as.buf.ptr)[out.as.buf.len] == '\0');
    }
    if (out.type == PLEXUS_OBJECT) {
      char text[128];
      MUST(plexus_value_to_json(&out, text, sizeof text, NULL));
      CHECK(strcmp(text, json) == 0);
    }
    plexus_value_free(&out);
  }
  CHECK(queue_len(q) == 0);
  /* NaN is stored as a NaN (it equals nothing, so it is checked by hand). */
  plexus_value nan_value = plexus_float(NAN);
  MUST(plexus_queue_push(q, &nan_value, 0));
  plexus_value out = sentinel();
  MUST(plexus_queue_pop(q, &out, 0));
  CHECK(out.type == PLEXUS_FLOAT && isnan(out.as.f));
  plexus_value_free(&object);
  MUST(plexus_queue_close(q));
}

/* ---- order, full and empty ---- */

static void test_fifo(plexus_region r) {
  plexus_queue q;
  MUST(plexus_queue_open(r, "fifo", 4, 0, &q));
  uint64_t cap = 0;
  MUST(plexus_queue_capacity(q, &cap));
  CHECK(cap == 4);
  CHECK(queue_len(q) == 0);
  bool closed = true;
  MUST(plexus_queue_is_shutdown(q, &closed));
  CHECK(!closed);

  /* Empty: a pop times out and leaves `*out` alone. */
  plexus_value out = sentinel();
  EXPECT(plexus_queue_pop(q, &out, 0), PLEXUS_TIMEOUT);
  CHECK(is_int(&out, -777));
  EXPECT_SHORT_TIMEOUT(plexus_queue_pop(q, &out, SHORT_NS));
  CHECK(is_int(&out, -777));

  /* Full: a push times out and stores nothing. */
  for (int i = 1; i <= 4; i++) push_int(q, i);
  CHECK(queue_len(q) == 4);
  plexus_value five = plexus_int(5);
  EXPECT(plexus_queue_push(q, &five, 0), PLEXUS_TIMEOUT);
  EXPECT_SHORT_TIMEOUT(plexus_queue_push(q, &five, SHORT_NS));
  CHECK(queue_len(q) == 4);
  EXPECT_POP_INT(q, 1);
  MUST(plexus_queue_push(q, &five, PLEXUS_FOREVER)); /* room now: does not wait */
  for (int i = 2; i <= 5; i++) EXPECT_POP_INT(q, i);
  CHECK(queue_len(q) == 0);

  /* Many laps around the ring of 4, at every fill level: always oldest first. */
  int64_t pushed = 0, popped = 0;
  for (int round = 0; round < 600; round++) {
    int64_t pushes = round % 5 <= 4 - (int64_t)queue_len(q) ? round % 5 : 0;
    for (int64_t k = 0; k < pushes; k++) push_int(q, 100 + pushed++);
    int64_t pops = round * 7 % 4;
    for (int64_t k = 0; k < pops && popped < pushed; k++) EXPECT_POP_INT(q, 100 + popped++);
    CHECK(queue_len(q) == (uint64_t)(pushed - popped));
  }
  while (popped < pushed) EXPECT_POP_INT(q, 100 + popped++);
  CHECK(pushed > 500);
  EXPECT(plexus_queue_pop(q, &out, 0), PLEXUS_TIMEOUT);
  MUST(plexus_queue_close(q));
}

static void test_lifo(plexus_region r) {
  plexus_queue s;
  MUST(plexus_queue_open(r, "stack", 3, PLEXUS_LIFO, &s));
  uint64_t cap = 0;
  MUST(plexus_queue_capacity(s, &cap));
  CHECK(cap == 3);
  plexus_value out = sentinel();
  EXPECT(plexus_queue_pop(s, &out, 0), PLEXUS_TIMEOUT);
  EXPECT_SHORT_TIMEOUT(plexus_queue_pop(s, &out, SHORT_NS));
  CHECK(is_int(&out, -777));
  for (int i = 1; i <= 3; i++) push_int(s, i);
  CHECK(queue_len(s) == 3);
  plexus_value four = plexus_int(4);
  EXPECT(plexus_queue_push(s, &four, 0), PLEXUS_TIMEOUT);
  EXPECT_SHORT_TIMEOUT(plexus_queue_push(s, &four, SHORT_NS));
  CHECK(queue_len(s) == 3);
  for (int i = 3; i >= 1; i--) EXPECT_POP_INT(s, i); /* newest first */
  EXPECT(plexus_queue_pop(s, &out, 0), PLEXUS_TIMEOUT);
  push_int(s, 10);
  push_int(s, 20);
  EXPECT_POP_INT(s, 20);
  push_int(s, 30);
  EXPECT_POP_INT(s, 30);
  EXPECT_POP_INT(s, 10);
  CHECK(queue_len(s) == 0);
  MUST(plexus_queue_close(s));
}

/* ---- close ---- */

static void test_close(plexus_region r, uint32_t flags) {
  plexus_queue q;
  MUST(plexus_queue_open(r, flags ? "close-lifo" : "close", 4, flags, &q));
  plexus_value a = plexus_string("first value, long enough for the heap");
  plexus_value b = plexus_int(2);
  MUST(plexus_queue_push(q, &a, 0));
  MUST(plexus_queue_push(q, &b, 0));
  MUST(plexus_queue_shutdown(q));
  bool closed = false;
  MUST(plexus_queue_is_shutdown(q, &closed));
  CHECK(closed);
  /* Pushes fail, whatever their timeout, and store nothing. */
  plexus_value c = plexus_int(3);
  EXPECT(plexus_queue_push(q, &c, 0), PLEXUS_CLOSED);
  EXPECT(plexus_queue_push(q, &c, SHORT_NS), PLEXUS_CLOSED);
  EXPECT(plexus_queue_push(q, &c, PLEXUS_FOREVER), PLEXUS_CLOSED);
  CHECK(queue_len(q) == 2);
  /* Pops drain what is left, then report CLOSED at once (without waiting). */
  plexus_value out = sentinel();
  MUST(plexus_queue_pop(q, &out, 0));
  CHECK(flags ? is_int(&out, 2) : plexus_value_equal(&out, &a));
  plexus_value_free(&out);
  MUST(plexus_queue_pop(q, &out, PLEXUS_FOREVER));
  CHECK(flags ? plexus_value_equal(&out, &a) : is_int(&out, 2));
  plexus_value_free(&out);
  out = sentinel();
  EXPECT(plexus_queue_pop(q, &out, 0), PLEXUS_CLOSED);
  int64_t t0 = now_ns();
  EXPECT(plexus_queue_pop(q, &out, PLEXUS_FOREVER), PLEXUS_CLOSED);
  EXPECT(plexus_queue_pop(q, &out, 10000 * MS), PLEXUS_CLOSED);
  CHECK(now_ns() - t0 < 5000 * MS);
  CHECK(is_int(&out, -777));
  /* Closing again is fine; the queue stays closed for every later opener. */
  MUST(plexus_queue_shutdown(q));
  MUST(plexus_queue_close(q));
  MUST(plexus_queue_open(r, flags ? "close-lifo" : "close", 0, 0, &q));
  closed = false;
  MUST(plexus_queue_is_shutdown(q, &closed));
  CHECK(closed);
  EXPECT(plexus_queue_push(q, &c, 0), PLEXUS_CLOSED);
  MUST(plexus_queue_close(q));
}

/* A thread that pushes or pops once and records what happened. */
typedef struct {
  plexus_queue q;
  int push;           /* 1: push `value`; 0: pop into `got` */
  int64_t timeout_ns; /* of the push or pop */
  plexus_value value;
  plexus_value got;
  plexus_status status;
  int64_t returned_ns; /* now_ns() when the call returned */
} waiter;

static void *waiter_main(void *arg) {
  waiter *w = arg;
  if (w->push)
    w->status = plexus_queue_push(w->q, &w->value, w->timeout_ns);
  else
    w->status = plexus_queue_pop(w->q, &w->got, w->timeout_ns);
  __atomic_store_n(&w->returned_ns, now_ns(), __ATOMIC_SEQ_CST);
  return NULL;
}

static void start_waiter(pthread_t *t, waiter *w, plexus_queue q, int push, int64_t timeout_ns,
                         int64_t value) {
  memset(w, 0, sizeof *w);
  w->q = q;
  w->push = push;
  w->timeout_ns = timeout_ns;
  w->value = plexus_int(value);
  w->got = sentinel();
  w->status = (plexus_status)-1;
  CHECK(pthread_create(t, NULL, waiter_main, w) == 0);
}

#define WAITERS 3

static void test_blocked_waiters(plexus_region r, uint32_t flags) {
  char name[32];
  plexus_queue q, empty, full;
  snprintf(name, sizeof name, "wait-%u", flags);
  MUST(plexus_queue_open(r, name, 2, flags, &q));
  snprintf(name, sizeof name, "empty-%u", flags);
  MUST(plexus_queue_open(r, name, 2, flags, &empty));
  snprintf(name, sizeof name, "full-%u", flags);
  MUST(plexus_queue_open(r, name, 2, flags, &full));
  pthread_t t[WAITERS * 2];
  waiter w[WAITERS * 2];

  /* A pop blocked on an empty queue returns the value another thread pushes. */
  start_waiter(&t[0], &w[0], q, 0, PLEXUS_FOREVER, 0);
  usleep(50 * 1000);
  push_int(q, 7);
  pthread_join(t[0], NULL);
  EXPECT(w[0].status, PLEXUS_OK);
  CHECK(is_int(&w[0].got, 7));
  /* A push blocked on a full queue completes when another thread pops. */
  push_int(q, 1);
  push_int(q, 2);
  start_waiter(&t[0], &w[0], q, 1, PLEXUS_FOREVER, 3);
  usleep(50 * 1000);
  CHECK(queue_len(q) == 2);
  EXPECT_POP_INT(q, flags ? 2 : 1);
  pthread_join(t[0], NULL);
  EXPECT(w[0].status, PLEXUS_OK);
  if (flags) {
    EXPECT_POP_INT(q, 3);
    EXPECT_POP_INT(q, 1);
  } else {
    EXPECT_POP_INT(q, 2);
    EXPECT_POP_INT(q, 3);
  }

  /* Waiters blocked in pops of an empty queue and in pushes to a full one all wake
   * with PLEXUS_CLOSED when the queues close (one waits without limit, the others with a
   * long timeout, so that a missed wake-up fails the test instead of hanging it). */
  push_int(full, 10);
  push_int(full, 11);
  for (int i = 0; i < WAITERS; i++) {
    int64_t timeout = i == 0 ? PLEXUS_FOREVER : 20000 * MS;
    start_waiter(&t[i], &w[i], empty, 0, timeout, 0);
    start_waiter(&t[WAITERS + i], &w[WAITERS + i], full, 1, timeout, 100 + i);
  }
  usleep(100 * 1000); /* let them block */
  for (int i = 0; i < WAITERS * 2; i++) CHECK(__atomic_load_n(&w[i].returned_ns, __ATOMIC_SEQ_CST) == 0);
  int64_t closed_at = now_ns();
  MUST(plexus_queue_shutdown(empty));
  MUST(plexus_queue_shutdown(full));
  for (int i = 0; i < WAITERS * 2; i++) {
    pthread_join(t[i], NULL);
    EXPECT(w[i].status, PLEXUS_CLOSED);
    CHECK(w[i].returned_ns - closed_at < 5000 * MS);
    CHECK(is_int(&w[i].got, -777)); /* pops: `*out` unchanged */
  }
  /* The blocked pushes stored nothing; the full queue drains its two values. */
  CHECK(queue_len(full) == 2);
  EXPECT_POP_INT(full, flags ? 11 : 10);
  EXPECT_POP_INT(full, flags ? 10 : 11);
  plexus_value out = sentinel();
  EXPECT(plexus_queue_pop(full, &out, PLEXUS_FOREVER), PLEXUS_CLOSED);
  MUST(plexus_queue_close(q));
  MUST(plexus_queue_close(empty));
  MUST(plexus_queue_close(full));
}

/* ---- open rules ---- */

/* plexus_queue_open must fail with `expected` and leave `*out` unchanged. */
#define EXPECT_OPEN_FAILS(r, name, cap, flags, expected)                     \
  do {                                                                       \
    plexus_queue out_ = {424242};                                            \
    EXPECT_MSG(plexus_queue_open((r), (name), (cap), (flags), &out_), expected); \
    CHECK(out_.id == 424242);                                                \
  } while (0)

static void test_open_rules(plexus_region r) {
  EXPECT_OPEN_FAILS(r, "absent", 0, 0, PLEXUS_E_NOT_FOUND);
  EXPECT_OPEN_FAILS(r, "absent", 0, PLEXUS_LIFO, PLEXUS_E_NOT_FOUND);
  EXPECT(plexus_region_wait_object(r, "absent", 0), PLEXUS_TIMEOUT);

  /* A FIFO queue. */
  plexus_queue q, again;
  MUST(plexus_queue_open(r, "rules", 4, 0, &q));
  CHECK(q.id != 0);
  MUST(plexus_region_wait_object(r, "rules", 0));
  MUST(plexus_queue_open(r, "rules", 4, 0, &again)); /* same capacity: the same queue */
  CHECK(again.id == q.id);
  MUST(plexus_queue_open(r, "rules", 0, 0, &again)); /* capacity 0: open only */
  CHECK(again.id == q.id);
  EXPECT_OPEN_FAILS(r, "rules", 5, 0, PLEXUS_E_INCOMPATIBLE);           /* capacity */
  EXPECT_OPEN_FAILS(r, "rules", 4, PLEXUS_LIFO, PLEXUS_E_INCOMPATIBLE); /* kind */
  EXPECT_OPEN_FAILS(r, "rules", 0, PLEXUS_LIFO, PLEXUS_E_INCOMPATIBLE);
  EXPECT_OPEN_FAILS(r, "rules", 4, PLEXUS_EXCLUSIVE, PLEXUS_E_EXISTS);
  EXPECT_OPEN_FAILS(r, "rules", 0, PLEXUS_EXCLUSIVE, PLEXUS_E_EXISTS);
  /* Three opens through this region handle: three releases. */
  MUST(plexus_queue_close(again));
  MUST(plexus_queue_close(again));
  uint64_t n;
  MUST(plexus_queue_len(q, &n));
  MUST(plexus_queue_close(q));
  EXPECT_MSG(plexus_queue_close(q), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_queue_len(q, &n), PLEXUS_E_BAD_HANDLE);

  /* A LIFO stack: opening with capacity 0 needs no flag; creating needs the right one. */
  plexus_queue s, s2;
  MUST(plexus_queue_open(r, "rules-lifo", 2, PLEXUS_LIFO | PLEXUS_EXCLUSIVE, &s));
  EXPECT_OPEN_FAILS(r, "rules-lifo", 2, 0, PLEXUS_E_INCOMPATIBLE);
  EXPECT_OPEN_FAILS(r, "rules-lifo", 3, PLEXUS_LIFO, PLEXUS_E_INCOMPATIBLE);
  EXPECT_OPEN_FAILS(r, "rules-lifo", 2, PLEXUS_LIFO | PLEXUS_EXCLUSIVE, PLEXUS_E_EXISTS);
  MUST(plexus_queue_open(r, "rules-lifo", 0, 0, &s2));
  CHECK(s2.id == s.id);
  push_int(s2, 1);
  push_int(s2, 2);
  EXPECT_POP_INT(s2, 2); /* it is the stack */
  EXPECT_POP_INT(s2, 1);
  MUST(plexus_queue_close(s2));
  MUST(plexus_queue_open(r, "rules-lifo", 2, PLEXUS_LIFO, &s2));
  CHECK(s2.id == s.id);
  MUST(plexus_queue_close(s2));
  MUST(plexus_queue_close(s));

  /* Other kinds of object under the name. */
  plexus_array a;
  MUST(plexus_array_open(r, "an-array", 2, 0, &a));
  EXPECT_OPEN_FAILS(r, "an-array", 2, 0, PLEXUS_E_TYPE_MISMATCH);
  EXPECT_OPEN_FAILS(r, "an-array", 0, 0, PLEXUS_E_TYPE_MISMATCH);
  EXPECT_OPEN_FAILS(r, "an-array", 0, PLEXUS_LIFO, PLEXUS_E_TYPE_MISMATCH);
  plexus_map m;
  MUST(plexus_map_open(r, "a-map", 2, 0, &m));
  EXPECT_OPEN_FAILS(r, "a-map", 2, 0, PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_array_open(r, "rules", 4, 0, &a), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_array_open(r, "rules", 0, 0, &a), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_map_open(r, "rules-lifo", 0, 0, &m), PLEXUS_E_TYPE_MISMATCH);

  /* Flags, names, sizes. */
  EXPECT_OPEN_FAILS(r, "flags", 4, PLEXUS_FULL, PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_OPEN_FAILS(r, "flags", 4, 0x80, PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_OPEN_FAILS(r, "flags", 0, 0x80000000u, PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_OPEN_FAILS(r, NULL, 4, 0, PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_OPEN_FAILS(r, "", 4, 0, PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_OPEN_FAILS(r, "\xc3\x28", 4, 0, PLEXUS_E_INVALID_ARGUMENT);
  char longname[98];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = 0; /* 97 bytes */
  EXPECT_OPEN_FAILS(r, longname, 4, 0, PLEXUS_E_INVALID_ARGUMENT);
  longname[96] = 0; /* 96 bytes: fine */
  MUST(plexus_queue_open(r, longname, 1, 0, &q));
  MUST(plexus_queue_close(q));
  EXPECT_OPEN_FAILS(r, "huge", UINT64_MAX, 0, PLEXUS_E_NO_SPACE);
  EXPECT_OPEN_FAILS(r, "huge", 1ULL << 40, 0, PLEXUS_E_NO_SPACE);
  EXPECT_OPEN_FAILS(r, "huge", 0, 0, PLEXUS_E_NOT_FOUND); /* nothing was left behind */
  EXPECT_MSG(plexus_queue_open(r, "rules", 4, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
}

/* ---- bad inputs ---- */

/* ---- batches ---- */

static void *batch_pusher_main(void *arg) {
  plexus_queue q = *(plexus_queue *)arg;
  plexus_value vals[100];
  for (int i = 0; i < 100; i++) vals[i] = plexus_int(i);
  size_t pushed = 999;
  plexus_status s = plexus_queue_push_many(q, vals, 100, 10000 * MS, &pushed);
  return (void *)(intptr_t)(s == PLEXUS_OK && pushed == 100);
}

static void test_batches(plexus_region r, uint32_t flags) {
  plexus_queue q;
  MUST(plexus_queue_open(r, flags ? "batch-lifo" : "batch-fifo", 4, flags, &q));
  plexus_value vals[10];
  char texts[10][40];
  for (int i = 0; i < 10; i++) {
    /* Alternately INTs and strings long enough for the heap. */
    snprintf(texts[i], sizeof texts[i], "batch value %d, on the heap", i);
    vals[i] = i % 2 ? plexus_string(texts[i]) : plexus_int(i);
  }
  size_t n = 999;
  /* Room for 4: TIMEOUT, with the count of the first values that went in. */
  EXPECT(plexus_queue_push_many(q, vals, 10, 0, &n), PLEXUS_TIMEOUT);
  CHECK(n == 4);
  CHECK(queue_len(q) == 4);
  n = 999;
  EXPECT_SHORT_TIMEOUT(plexus_queue_push_many(q, vals + 4, 6, SHORT_NS, &n));
  CHECK(n == 0);
  /* Pop up to 3, then the rest (up to 10: only 1 is there). */
  plexus_value out[10];
  for (int i = 0; i < 10; i++) out[i] = sentinel();
  MUST(plexus_queue_pop_many(q, out, 3, 0, &n));
  CHECK(n == 3);
  for (int i = 0; i < 3; i++) {
    int want = flags ? 3 - i : i;
    CHECK(plexus_value_equal(&out[i], &vals[want]));
  }
  CHECK(is_int(&out[3], -777)); /* beyond *popped: untouched */
  for (int i = 0; i < 3; i++) plexus_value_free(&out[i]);
  out[1] = sentinel();
  MUST(plexus_queue_pop_many(q, out, 10, 0, &n));
  CHECK(n == 1 && plexus_value_equal(&out[0], &vals[flags ? 0 : 3]));
  CHECK(is_int(&out[1], -777));
  plexus_value_free(&out[0]);
  n = 999;
  EXPECT(plexus_queue_pop_many(q, out, 10, 0, &n), PLEXUS_TIMEOUT);
  CHECK(n == 0 && out[0].type == PLEXUS_UNDEFINED);
  n = 999;
  EXPECT_SHORT_TIMEOUT(plexus_queue_pop_many(q, out, 10, SHORT_NS, &n));
  CHECK(n == 0);
  /* Nothing to push: OK (values may then be NULL). */
  n = 999;
  EXPECT(plexus_queue_push_many(q, NULL, 0, 0, &n), PLEXUS_OK);
  CHECK(n == 0);
  /* A batch of 100 into a queue of 4, popped in batches by this thread as it goes in. */
  pthread_t t;
  CHECK(pthread_create(&t, NULL, batch_pusher_main, &q) == 0);
  int64_t seen = 0, sum = 0, last = -1;
  int ordered = 1;
  while (seen < 100) {
    size_t got = 0;
    plexus_value some[7];
    MUST(plexus_queue_pop_many(q, some, 7, 10000 * MS, &got));
    CHECK(got >= 1 && got <= 7);
    for (size_t i = 0; i < got; i++) {
      CHECK(some[i].type == PLEXUS_INT);
      if (some[i].as.i <= last) ordered = 0;
      last = some[i].as.i;
      sum += some[i].as.i;
    }
    seen += (int64_t)got;
  }
  void *ok = NULL;
  pthread_join(t, &ok);
  CHECK(ok == (void *)1);
  CHECK(seen == 100 && sum == 99 * 100 / 2);
  if (!flags) CHECK(ordered);
  /* Shut down: a batch push is refused with nothing stored; pops drain, then CLOSED. */
  MUST(plexus_queue_push_many(q, vals, 2, 0, &n));
  MUST(plexus_queue_shutdown(q));
  n = 999;
  EXPECT(plexus_queue_push_many(q, vals, 2, PLEXUS_FOREVER, &n), PLEXUS_CLOSED);
  CHECK(n == 0);
  MUST(plexus_queue_pop_many(q, out, 10, PLEXUS_FOREVER, &n));
  CHECK(n == 2);
  for (size_t i = 0; i < n; i++) plexus_value_free(&out[i]);
  n = 999;
  EXPECT(plexus_queue_pop_many(q, out, 10, PLEXUS_FOREVER, &n), PLEXUS_CLOSED);
  CHECK(n == 0);
  MUST(plexus_queue_close(q));
}

/* ---- cancellable batches ---- */

#define CANCEL_N 1000          /* the batch: INTs 0 .. CANCEL_N - 1 */
#define CANCEL_POPPED 100      /* how many of them are popped before the cancel */
#define OTHER_BASE 1000000     /* the other producer's values: OTHER_BASE + 0, 1, ... */
#define OTHER_N 20

typedef struct {
  plexus_queue q;
  _Atomic uint32_t cancel;
  plexus_status status;
  size_t pushed;
} batch_args;

static void *cancellable_pusher(void *arg) {
  batch_args *b = arg;
  static plexus_value vals[CANCEL_N];
  for (int i = 0; i < CANCEL_N; i++) vals[i] = plexus_int(i);
  b->status = plexus_queue_push_many_cancellable(b->q, vals, CANCEL_N, PLEXUS_FOREVER,
                                                 &b->pushed, (const uint32_t *)&b->cancel);
  return NULL;
}

typedef struct {
  plexus_queue q;
  atomic_int started;
  plexus_status status;
} other_args;

static void *other_producer(void *arg) {
  other_args *o = arg;
  o->status = PLEXUS_OK;
  atomic_store(&o->started, 1);
  for (int i = 0; i < OTHER_N; i++) {
    plexus_value v = plexus_int(OTHER_BASE + i);
    plexus_status s = plexus_queue_push(o->q, &v, PLEXUS_FOREVER);
    if (s != PLEXUS_OK) o->status = s;
  }
  return NULL;
}

/* A FIFO batch of CANCEL_N into a queue of 4 waits for room without a time limit while
 * another producer's pushes wait behind it; this thread pops CANCEL_POPPED values, waits
 * until the batch has filled the queue again, and sets the cancel word: the batch
 * returns PLEXUS_TIMEOUT with the first CANCEL_POPPED + 4 in, and the other producer's
 * values come after all of them, none in between. */
static void test_cancel_keeps_batch_together(plexus_region r) {
  plexus_queue q;
  MUST(plexus_queue_open(r, "batch-cancel", 4, 0, &q));
  batch_args b = {q, 0, -1, 999};
  other_args o = {q, 0, -1};
  pthread_t pusher, other;
  CHECK(pthread_create(&pusher, NULL, cancellable_pusher, &b) == 0);
  while (queue_len(q) < 4) usleep(1000); /* its first 4 are in: it waits for room */
  CHECK(pthread_create(&other, NULL, other_producer, &o) == 0);
  while (!atomic_load(&o.started)) usleep(1000);
  usleep(50 * 1000); /* let the other producer block behind the batch */
  static int64_t got[CANCEL_POPPED + 4 + OTHER_N];
  size_t n_got = 0;
  for (; n_got < CANCEL_POPPED; n_got++) {
    plexus_value v = sentinel();
    MUST(plexus_queue_pop(q, &v, PLEXUS_FOREVER));
    CHECK(v.type == PLEXUS_INT);
    got[n_got] = v.as.i;
  }
  while (queue_len(q) < 4) usleep(1000);
  atomic_store(&b.cancel, 1);
  CHECK(pthread_join(pusher, NULL) == 0);
  EXPECT(b.status, PLEXUS_TIMEOUT);
  CHECK(b.pushed == CANCEL_POPPED + 4);
  /* The rest of the batch, then the other producer's values (it can push now). */
  size_t want = b.pushed + OTHER_N;
  if (want > sizeof got / sizeof got[0]) want = sizeof got / sizeof got[0];
  for (; n_got < want; n_got++) {
    plexus_value v = sentinel();
    MUST(plexus_queue_pop(q, &v, PLEXUS_FOREVER));
    CHECK(v.type == PLEXUS_INT);
    got[n_got] = v.as.i;
  }
  CHECK(pthread_join(other, NULL) == 0);
  EXPECT(o.status, PLEXUS_OK);
  for (size_t i = 0; i < n_got; i++) {
    int64_t expected = i < b.pushed ? (int64_t)i : OTHER_BASE + (int64_t)(i - b.pushed);
    if (got[i] != expected) {
      fprintf(stderr, "%s:%d: value %zu popped is %lld, expected %lld (the batch pushed %zu)\n",
              __FILE__, __LINE__, i, (long long)got[i], (long long)expected, b.pushed);
      failures++;
      break;
    }
  }
  CHECK(queue_len(q) == 0);
  MUST(plexus_queue_close(q));
}

/* The other statuses and arguments, FIFO and LIFO: a word set before the call (the part
 * that fits goes in, then TIMEOUT), a batch that fits (OK without looking at the word),
 * NULL (plexus_queue_push_many), shut down, a misaligned word, NULL `pushed`. */
static void test_cancellable_statuses(plexus_region r, uint32_t flags) {
  plexus_queue q;
  MUST(plexus_queue_open(r, flags ? "cancel-lifo" : "cancel-fifo", 4, flags, &q));
  plexus_value vals[6];
  for (int i = 0; i < 6; i++) vals[i] = plexus_int(i);
  _Atomic uint32_t cancel = 1;
  const uint32_t *word = (const uint32_t *)&cancel;
  size_t n = 999;
  EXPECT(plexus_queue_push_many_cancellable(q, vals, 6, PLEXUS_FOREVER, &n, word), PLEXUS_TIMEOUT);
  CHECK(n == 4 && queue_len(q) == 4);
  n = 999;
  EXPECT(plexus_queue_push_many_cancellable(q, vals, 2, PLEXUS_FOREVER, &n, word), PLEXUS_TIMEOUT);
  CHECK(n == 0 && queue_len(q) == 4);
  for (int i = 0; i < 4; i++) EXPECT_POP_INT(q, flags ? 3 - i : i);
  n = 999;
  MUST(plexus_queue_push_many_cancellable(q, vals, 3, PLEXUS_FOREVER, &n, word));
  CHECK(n == 3);
  n = 999;
  EXPECT(plexus_queue_push_many_cancellable(q, vals, 2, 0, &n, NULL), PLEXUS_TIMEOUT);
  CHECK(n == 1);
  n = 999;
  EXPECT_SHORT_TIMEOUT(plexus_queue_push_many_cancellable(q, vals, 2, SHORT_NS, &n, NULL));
  CHECK(n == 0);
  uint32_t words[2] = {0, 0};
  const uint32_t *misaligned = (const uint32_t *)((char *)words + 1);
  MUST(plexus_queue_pop(q, &(plexus_value){0}, 0));
  n = 999;
  EXPECT_MSG(plexus_queue_push_many_cancellable(q, vals, 1, 0, &n, misaligned), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(n == 0 && queue_len(q) == 3);
  EXPECT_MSG(plexus_queue_push_many_cancellable(q, vals, 1, 0, NULL, words), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(queue_len(q) == 3);
  MUST(plexus_queue_shutdown(q));
  n = 999;
  EXPECT(plexus_queue_push_many_cancellable(q, vals, 1, PLEXUS_FOREVER, &n, words), PLEXUS_CLOSED);
  CHECK(n == 0);
  MUST(plexus_queue_close(q));
}

static void test_bad_inputs(const char *region_name, plexus_region r) {
  plexus_queue q;
  MUST(plexus_queue_open(r, "bad", 2, 0, &q));
  plexus_value keep = plexus_string("the stored value, long enough for the heap");
  MUST(plexus_queue_push(q, &keep, 0));
  plexus_value out = sentinel();
  plexus_value v = plexus_int(1);
  uint64_t n = 0;
  bool closed = false;

  /* NULL pointers. */
  EXPECT_MSG(plexus_queue_push(q, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_queue_pop(q, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_queue_len(q, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_queue_capacity(q, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_queue_is_shutdown(q, NULL), PLEXUS_E_INVALID_ARGUMENT);

  /* Invalid values: refused before anything is stored. */
  plexus_value badstr = plexus_string("\xc3\x28 invalid");
  EXPECT_MSG(plexus_queue_push(q, &badstr, 0), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value nullstr = plexus_string(NULL);
  EXPECT_MSG(plexus_queue_push(q, &nullstr, 0), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value nullbytes = plexus_bytes(NULL, 10);
  EXPECT_MSG(plexus_queue_push(q, &nullbytes, 0), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value badtype = plexus_int(5);
  badtype.type = (plexus_type)42;
  EXPECT_MSG(plexus_queue_push(q, &badtype, 0), PLEXUS_E_INVALID_ARGUMENT);
  const unsigned char badpack[] = {0x92, 0x01}; /* array of 2 with one element */
  plexus_value badobj = plexus_object_msgpack(badpack, sizeof badpack);
  EXPECT_MSG(plexus_queue_push(q, &badobj, 0), PLEXUS_E_INVALID_ARGUMENT);

  /* Negative timeouts other than PLEXUS_FOREVER. */
  EXPECT_MSG(plexus_queue_push(q, &v, -2), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_queue_push(q, &v, INT64_MIN), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_queue_pop(q, &out, -5), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_queue_pop(q, &out, INT64_MIN), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(is_int(&out, -777));

  /* A value the region's heap cannot hold (the region has 8 MiB). */
  size_t huge_len = 16u << 20;
  char *huge = malloc(huge_len);
  memset(huge, 'h', huge_len);
  plexus_value hv = plexus_string_n(huge, huge_len);
  EXPECT_MSG(plexus_queue_push(q, &hv, 0), PLEXUS_E_NO_SPACE);
  plexus_value with_huge[2] = {plexus_int(1), hv};
  size_t hn = 999;
  EXPECT_MSG(plexus_queue_push_many(q, with_huge, 2, 0, &hn), PLEXUS_E_NO_SPACE);
  CHECK(hn == 0);
  free(huge);

  /* Batches: NULL arrays with a count, NULL counts, max 0, an invalid value anywhere
   * in the batch, a value larger than the heap: refused with nothing stored, and the
   * count out-parameter set to 0 whenever it is given. */
  plexus_value batch[3] = {plexus_int(7), plexus_int(8), plexus_int(9)};
  plexus_value outs[3] = {sentinel(), sentinel(), sentinel()};
  size_t cnt = 999;
  EXPECT_MSG(plexus_queue_push_many(q, NULL, 3, 0, &cnt), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(cnt == 0);
  EXPECT_MSG(plexus_queue_push_many(q, batch, 3, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  cnt = 999;
  EXPECT_MSG(plexus_queue_push_many(q, batch, 3, -2, &cnt), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(cnt == 0);
  plexus_value with_bad[3] = {plexus_int(1), badstr, plexus_int(2)};
  cnt = 999;
  EXPECT_MSG(plexus_queue_push_many(q, with_bad, 3, 0, &cnt), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(cnt == 0);
  CHECK(strstr(plexus_last_error(), "index 1") != NULL);
  plexus_value with_badobj[2] = {plexus_int(1), badobj};
  EXPECT_MSG(plexus_queue_push_many(q, with_badobj, 2, 0, &cnt), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(cnt == 0);
  cnt = 999;
  EXPECT_MSG(plexus_queue_pop_many(q, NULL, 3, 0, &cnt), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(cnt == 0);
  EXPECT_MSG(plexus_queue_pop_many(q, outs, 3, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  cnt = 999;
  EXPECT_MSG(plexus_queue_pop_many(q, outs, 0, 0, &cnt), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(cnt == 0);
  EXPECT_MSG(plexus_queue_pop_many(q, outs, 3, INT64_MIN, &cnt), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_queue_pop_many(q, outs, SIZE_MAX, 0, &cnt), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(is_int(&outs[0], -777));

  /* Zero, forged, stale and wrong-kind handles. */
  plexus_queue zero = {0};
  plexus_queue forged = {0xdeadbeef12345678ull};
  plexus_queue stale = {q.id + (1ull << 32)}; /* right slot, wrong generation */
  plexus_array arr;
  MUST(plexus_array_open(r, "arr", 1, 0, &arr));
  plexus_queue as_queue[] = {zero, forged, stale, {r.id}, {arr.id}};
  for (size_t i = 0; i < sizeof as_queue / sizeof as_queue[0]; i++) {
    plexus_queue h = as_queue[i];
    EXPECT_MSG(plexus_queue_push(h, &v, 0), PLEXUS_E_BAD_HANDLE);
    EXPECT_MSG(plexus_queue_pop(h, &out, 0), PLEXUS_E_BAD_HANDLE);
    size_t c = 999;
    EXPECT_MSG(plexus_queue_push_many(h, &v, 1, 0, &c), PLEXUS_E_BAD_HANDLE);
    CHECK(c == 0);
    EXPECT_MSG(plexus_queue_pop_many(h, &out, 1, 0, &c), PLEXUS_E_BAD_HANDLE);
    CHECK(c == 0);
    EXPECT_MSG(plexus_queue_len(h, &n), PLEXUS_E_BAD_HANDLE);
    EXPECT_MSG(plexus_queue_capacity(h, &n), PLEXUS_E_BAD_HANDLE);
    EXPECT_MSG(plexus_queue_shutdown(h), PLEXUS_E_BAD_HANDLE);
    EXPECT_MSG(plexus_queue_is_shutdown(h, &closed), PLEXUS_E_BAD_HANDLE);
    EXPECT_MSG(plexus_queue_close(h), PLEXUS_E_BAD_HANDLE);
  }
  EXPECT_MSG(plexus_queue_open((plexus_region){q.id}, "x", 1, 0, &(plexus_queue){0}),
             PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_array_read((plexus_array){q.id}, 0, &out), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_map_len((plexus_map){q.id}, &n), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_region_flush((plexus_region){q.id}), PLEXUS_E_BAD_HANDLE);
  CHECK(is_int(&out, -777));

  /* The queue survived every failed call: its one value, and nothing else. */
  MUST(plexus_queue_is_shutdown(q, &closed));
  CHECK(!closed);
  CHECK(queue_len(q) == 1);
  MUST(plexus_queue_pop(q, &out, 0));
  CHECK(plexus_value_equal(&out, &keep));
  plexus_value_free(&out);
  out = sentinel();
  EXPECT(plexus_queue_pop(q, &out, 0), PLEXUS_TIMEOUT);

  /* A released handle is refused by every call. */
  MUST(plexus_queue_close(q));
  EXPECT_MSG(plexus_queue_push(q, &v, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_queue_pop(q, &out, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_queue_len(q, &n), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_queue_capacity(q, &n), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_queue_shutdown(q), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_queue_is_shutdown(q, &closed), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_queue_close(q), PLEXUS_E_BAD_HANDLE);

  /* Handles opened through a region handle die with it; the queue stays. */
  plexus_region r2;
  MUST(plexus_region_open(region_name, NULL, &r2));
  plexus_queue q2;
  MUST(plexus_queue_open(r2, "bad", 0, 0, &q2));
  CHECK(q2.id != q.id);
  MUST(plexus_queue_push(q2, &v, 0));
  MUST(plexus_region_close(r2));
  EXPECT_MSG(plexus_queue_len(q2, &n), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_queue_close(q2), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_queue_open(r, "bad", 0, 0, &q));
  EXPECT_POP_INT(q, 1);
  MUST(plexus_queue_close(q));
}

int main(int argc, char **argv) {
  alarm(120); /* a wake-up that never comes fails the test instead of hanging it */
  char name[128];
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 8 << 20;
  o.mode = PLEXUS_CREATE;
  plexus_region r;
  if (argc > 1) {
    if (take_region_name(argv[1], name, sizeof name)) return 2;
    o.mode = PLEXUS_RECREATE;
    MUST(plexus_region_open(name, &o, &r));
    test_batches(r, 0);
    test_batches(r, PLEXUS_LIFO);
    test_cancel_keeps_batch_together(r);
    test_cancellable_statuses(r, 0);
    test_cancellable_statuses(r, PLEXUS_LIFO);
    MUST(plexus_region_close(r));
    MUST(plexus_region_remove(name));
    return finish("test_queue (batches)");
  }
  unique_name(name, sizeof name, "cqueue");
  MUST(plexus_region_open(name, &o, &r));
  plexus_region_info before;
  MUST(plexus_region_get_info(r, &before));

  test_every_type(r, 0);
  test_every_type(r, PLEXUS_LIFO);
  test_fifo(r);
  test_lifo(r);
  test_close(r, 0);
  test_close(r, PLEXUS_LIFO);
  test_blocked_waiters(r, 0);
  test_blocked_waiters(r, PLEXUS_LIFO);
  test_batches(r, 0);
  test_batches(r, PLEXUS_LIFO);
  test_cancel_keeps_batch_together(r);
  test_cancellable_statuses(r, 0);
  test_cancellable_statuses(r, PLEXUS_LIFO);
  test_open_rules(r);
  test_bad_inputs(name, r);

  /* Popped values gave their heap blocks back (every queue is empty now, and the only
   * other heap users are the objects' bodies). */
  plexus_region_info after;
  MUST(plexus_region_get_info(r, &after));
  CHECK(after.heap_used - before.heap_used < 64 * 1024);

  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish("test_queue");
}
