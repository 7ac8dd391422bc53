/* Every bad input of the C boundary gets its status and a message, never a crash, and
 * never changes data that was already stored. */
#include "common.h"

#include <stdint.h>

int main(void) {
  char name[64];
  unique_name(name, sizeof name, "badin");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 1 << 20;
  o.mode = PLEXUS_RECREATE;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "a", 4, 0, &a));
  plexus_value keep = plexus_string("the stored value, long enough for the heap");
  MUST(plexus_array_write_xf(a, 0, &keep));
  plexus_value out = plexus_undefined();
  plexus_value v = plexus_int(1);

  /* NULL pointers */
  EXPECT_MSG(plexus_region_open(NULL, NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open(name, NULL, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_remove(NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_get_info(r, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_wait_object(r, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, NULL, 4, 0, &a), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, "a", 4, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_read(a, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_write(a, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_read_fe(a, 0, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_write_ef(a, 1, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_faa(a, 0, NULL, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_cas(a, 0, NULL, &v, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_cas(a, 0, &v, NULL, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_exchange(a, 0, NULL, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_is_full(a, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_version(a, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_wait_change(a, 0, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_len(a, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json(NULL, &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json("1", NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_to_json(NULL, NULL, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value_free(NULL); /* a no-op */
  CHECK(!plexus_value_equal(NULL, &v));

  /* Bad names and options */
  EXPECT_MSG(plexus_region_open("", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open("bad name with spaces", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open(".hidden", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open("/tmp/", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_open("\xff\xfe", NULL, &r), PLEXUS_E_INVALID_ARGUMENT);
  plexus_region_options bad = o;
  bad.struct_size = 4;
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  bad = o;
  bad.mode = (plexus_open_mode)77;
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  bad = o;
  bad.size = 1000; /* too small */
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  bad = o;
  bad.permissions = 0100000;
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  bad = o;
  bad.mode = PLEXUS_OPEN;
  bad.wait_ns = -5;
  EXPECT_MSG(plexus_region_open(name, &bad, &r), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, "", 4, 0, &a), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, "\xc3\x28", 4, 0, &a), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_open(r, "flags", 4, 0x80, &a), PLEXUS_E_INVALID_ARGUMENT);
  char longname[200];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  EXPECT_MSG(plexus_array_open(r, longname, 4, 0, &a), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_remove("no-such-region-for-plexus-tests"), PLEXUS_E_NOT_FOUND);
  EXPECT_MSG(plexus_array_read_fe(a, 1, &out, -7), PLEXUS_E_INVALID_ARGUMENT);

  /* Out of range */
  EXPECT_MSG(plexus_array_read(a, 4, &out), PLEXUS_E_OUT_OF_RANGE);
  EXPECT_MSG(plexus_array_write(a, UINT64_MAX, &v), PLEXUS_E_OUT_OF_RANGE);
  EXPECT_MSG(plexus_array_read_fe(a, 99, &out, 0), PLEXUS_E_OUT_OF_RANGE);
  EXPECT_MSG(plexus_array_set_tag(a, 4, true), PLEXUS_E_OUT_OF_RANGE);

  /* Invalid values: bad UTF-8, unknown type tags, NULL buffers, bad MessagePack */
  plexus_value badstr = plexus_string("\xc3\x28 invalid");
  EXPECT_MSG(plexus_array_write(a, 0, &badstr), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value nullstr = plexus_string(NULL);
  EXPECT_MSG(plexus_array_write(a, 0, &nullstr), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value nullbytes = plexus_bytes(NULL, 10);
  EXPECT_MSG(plexus_array_write(a, 0, &nullbytes), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value empty_ok = plexus_bytes(NULL, 0);
  EXPECT(plexus_array_write(a, 3, &empty_ok), PLEXUS_OK);
  plexus_value badtype = plexus_int(5);
  badtype.type = (plexus_type)42;
  EXPECT_MSG(plexus_array_write(a, 0, &badtype), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_array_faa(a, 0, &badtype, NULL), PLEXUS_E_INVALID_ARGUMENT);
  const unsigned char badpack[] = {0x92, 0x01}; /* array of 2 with one element */
  plexus_value badobj = plexus_object_msgpack(badpack, sizeof badpack);
  EXPECT_MSG(plexus_array_write(a, 0, &badobj), PLEXUS_E_INVALID_ARGUMENT);
  const unsigned char reserved[] = {0xc1};
  plexus_value badobj2 = plexus_object_msgpack(reserved, 1);
  EXPECT_MSG(plexus_array_write_xf(a, 0, &badobj2), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value obj = plexus_object_msgpack(badpack, 1); /* fixarray 0x92 cut: invalid */
  EXPECT_MSG(plexus_array_exchange(a, 0, &obj, &out), PLEXUS_E_INVALID_ARGUMENT);

  /* Bad JSON */
  EXPECT_MSG(plexus_value_from_json("{\"a\":", &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json("", &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json("[1,2]]", &out), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_from_json("\xff", &out), PLEXUS_E_INVALID_ARGUMENT);
  char small[4];
  size_t needed = 0;
  plexus_value s = plexus_string("longer than four");
  EXPECT_MSG(plexus_value_to_json(&s, small, sizeof small, &needed), PLEXUS_E_BUFFER_TOO_SMALL);
  CHECK(needed == strlen("\"longer than four\"") + 1);
  EXPECT_MSG(plexus_value_to_json(&s, NULL, 0, &needed), PLEXUS_E_BUFFER_TOO_SMALL);
  EXPECT_MSG(plexus_value_to_json(&s, NULL, 100, &needed), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_value_to_json(&badtype, small, sizeof small, NULL), PLEXUS_E_INVALID_ARGUMENT);

  /* Type errors leave the value alone */
  plexus_value bytes = plexus_bytes("ab", 2);
  EXPECT_MSG(plexus_array_faa(a, 0, &bytes, NULL), PLEXUS_E_TYPE_MISMATCH);

  /* Wrong-kind, zero, forged, stale handles and double close */
  plexus_region zero_r = {0};
  plexus_array zero_a = {0};
  EXPECT_MSG(plexus_array_read(zero_a, 0, &out), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_region_flush(zero_r), PLEXUS_E_BAD_HANDLE);
  plexus_array forged = {0xdeadbeef12345678ull};
  EXPECT_MSG(plexus_array_write(forged, 0, &v), PLEXUS_E_BAD_HANDLE);
  plexus_array forged2 = {a.id + (1ull << 32)}; /* right slot, wrong generation */
  EXPECT_MSG(plexus_array_read(forged2, 0, &out), PLEXUS_E_BAD_HANDLE);
  plexus_array as_array = {r.id}; /* a region handle used as an array */
  EXPECT_MSG(plexus_array_read(as_array, 0, &out), PLEXUS_E_BAD_HANDLE);
  plexus_region as_region = {a.id};
  EXPECT_MSG(plexus_region_flush(as_region), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_array_open(as_region, "x", 1, 0, &a), PLEXUS_E_BAD_HANDLE);

  /* Objects of another kind / shape */
  EXPECT_MSG(plexus_array_open(r, "a", 5, 0, &a), PLEXUS_E_INCOMPATIBLE);
  EXPECT_MSG(plexus_array_open(r, "a", 4, PLEXUS_EXCLUSIVE, &a), PLEXUS_E_EXISTS);
  EXPECT_MSG(plexus_array_open(r, "missing", 0, 0, &a), PLEXUS_E_NOT_FOUND);

  /* The stored value survived every failed call. */
  MUST(plexus_array_read(a, 0, &out));
  CHECK(plexus_value_equal(&out, &keep));
  plexus_value_free(&out);
  plexus_value_free(&out); /* twice is fine */
  CHECK(out.type == PLEXUS_UNDEFINED && out.owner == NULL);

  CHECK(strcmp(plexus_status_name(PLEXUS_E_CORRUPT), "PLEXUS_E_CORRUPT") == 0);
  CHECK(strcmp(plexus_status_name((plexus_status)12345), "PLEXUS_UNKNOWN_STATUS") == 0);

  /* Timeouts, on every blocking call: a negative timeout other than PLEXUS_FOREVER is
   * PLEXUS_E_INVALID_ARGUMENT with a message naming PLEXUS_FOREVER, and the call does
   * nothing (each would have succeeded at once here); PLEXUS_FOREVER returns as soon as
   * the call can complete (here at once); 0 tries once (PLEXUS_TIMEOUT instead of
   * waiting). */
  plexus_array t;
  MUST(plexus_array_open(r, "timeouts", 2, 0, &t));
  MUST(plexus_array_write_xf(t, 0, &v)); /* t[0] FULL, t[1] EMPTY */
  plexus_map m;
  MUST(plexus_map_open(r, "timeouts-map", 8, 0, &m));
  MUST(plexus_map_write_xf(m, "full", &v));
  plexus_queue q;
  MUST(plexus_queue_open(r, "timeouts-queue", 4, 0, &q));
  MUST(plexus_queue_push(q, &v, 0));
  plexus_bus b;
  MUST(plexus_bus_open(r, "timeouts-bus", 4, 0, &b));
  plexus_sub sub;
  MUST(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &sub));
  MUST(plexus_bus_publish(b, &v, NULL));
  plexus_mutex mx;
  MUST(plexus_mutex_open(r, "timeouts-mutex", &mx));
  plexus_barrier one, two;
  MUST(plexus_barrier_open(r, "timeouts-barrier-1", 1, &one));
  MUST(plexus_barrier_open(r, "timeouts-barrier-2", 2, &two));
  plexus_semaphore sem;
  MUST(plexus_semaphore_open(r, "timeouts-semaphore", 1, &sem));
  uint64_t version = 0, len = 0;
  size_t count = 0;
  uint32_t available = 0;
  bool flag = false;
  plexus_region r2;
#define EXPECT_BAD_TIMEOUT(call)                                                     \
  do {                                                                               \
    EXPECT_MSG(call, PLEXUS_E_INVALID_ARGUMENT);                                     \
    if (!strstr(plexus_last_error(), "PLEXUS_FOREVER")) {                            \
      fprintf(stderr, "%s:%d: %s (timeout %lld): the message does not name "         \
              "PLEXUS_FOREVER: %s\n", __FILE__, __LINE__, #call, (long long)ns,      \
              plexus_last_error());                                                  \
      failures++;                                                                    \
    }                                                                                \
  } while (0)
  const int64_t bad_timeouts[] = {-2, -1000000000, INT64_MIN};
  for (size_t i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++) {
    const int64_t ns = bad_timeouts[i];
    EXPECT_BAD_TIMEOUT(plexus_array_read_fe(t, 0, &out, ns));
    EXPECT_BAD_TIMEOUT(plexus_array_read_ff(t, 0, &out, ns));
    EXPECT_BAD_TIMEOUT(plexus_array_write_ef(t, 1, &v, ns));
    EXPECT_BAD_TIMEOUT(plexus_array_read_rw(t, 0, &out, ns));
    version = 0;
    EXPECT_BAD_TIMEOUT(plexus_array_wait_change(t, 0, &version, ns));
    CHECK(version == 0);
    EXPECT_BAD_TIMEOUT(plexus_map_read_fe(m, "full", &out, ns));
    EXPECT_BAD_TIMEOUT(plexus_map_read_ff(m, "full", &out, ns));
    EXPECT_BAD_TIMEOUT(plexus_map_write_ef(m, "empty", &v, ns));
    EXPECT_BAD_TIMEOUT(plexus_map_read_rw(m, "full", &out, ns));
    EXPECT_BAD_TIMEOUT(plexus_map_wait_change(m, "full", &version, ns));
    EXPECT_BAD_TIMEOUT(plexus_queue_push(q, &v, ns));
    EXPECT_BAD_TIMEOUT(plexus_queue_pop(q, &out, ns));
    EXPECT_BAD_TIMEOUT(plexus_queue_push_many(q, &v, 1, ns, &count));
    EXPECT_BAD_TIMEOUT(plexus_queue_pop_many(q, &out, 1, ns, &count));
    EXPECT_BAD_TIMEOUT(plexus_sub_next(sub, &out, NULL, ns));
    EXPECT_BAD_TIMEOUT(plexus_mutex_lock(mx, ns));
    EXPECT_BAD_TIMEOUT(plexus_barrier_wait(one, ns));
    EXPECT_BAD_TIMEOUT(plexus_barrier_wait_last(one, ns, &flag));
    EXPECT_BAD_TIMEOUT(plexus_semaphore_acquire(sem, ns));
    EXPECT_BAD_TIMEOUT(plexus_region_wait_object(r, "timeouts", ns));
    plexus_region_options wait_bad = PLEXUS_REGION_OPTIONS_INIT;
    wait_bad.mode = PLEXUS_OPEN;
    wait_bad.wait_ns = ns;
    EXPECT_BAD_TIMEOUT(plexus_region_open(name, &wait_bad, &r2));
#undef EXPECT_BAD_TIMEOUT
  }
  CHECK(out.type == PLEXUS_UNDEFINED); /* nothing was read */
  /* ... and nothing happened: */
  MUST(plexus_array_is_full(t, 0, &flag));
  CHECK(flag);
  MUST(plexus_array_is_full(t, 1, &flag));
  CHECK(!flag);
  MUST(plexus_map_is_full(m, "full", &flag));
  CHECK(flag);
  MUST(plexus_map_is_full(m, "empty", &flag));
  CHECK(!flag);
  MUST(plexus_queue_len(q, &len));
  CHECK(len == 1);
  MUST(plexus_mutex_is_locked(mx, &flag));
  CHECK(!flag);
  MUST(plexus_semaphore_available(sem, &available));
  CHECK(available == 1);

  /* PLEXUS_FOREVER: the call completes (no PLEXUS_TIMEOUT); 0: tries once. */
  EXPECT(plexus_array_read_ff(t, 0, &out, PLEXUS_FOREVER), PLEXUS_OK);
  plexus_value_free(&out);
  EXPECT(plexus_array_read_fe(t, 0, &out, PLEXUS_FOREVER), PLEXUS_OK);
  plexus_value_free(&out);
  EXPECT(plexus_array_read_fe(t, 0, &out, 0), PLEXUS_TIMEOUT); /* now EMPTY */
  EXPECT(plexus_array_read_ff(t, 0, &out, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_array_read_rw(t, 0, &out, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_array_write_ef(t, 0, &v, PLEXUS_FOREVER), PLEXUS_OK);
  EXPECT(plexus_array_write_ef(t, 0, &v, 0), PLEXUS_TIMEOUT); /* now FULL */
  EXPECT(plexus_array_read_rw(t, 0, &out, PLEXUS_FOREVER), PLEXUS_OK);
  plexus_value_free(&out);
  MUST(plexus_array_release_rw(t, 0));
  MUST(plexus_array_version(t, 0, &version));
  EXPECT(plexus_array_wait_change(t, 0, &version, 0), PLEXUS_TIMEOUT);
  uint64_t old_version = version - 1;
  EXPECT(plexus_array_wait_change(t, 0, &old_version, PLEXUS_FOREVER), PLEXUS_OK);
  CHECK(old_version == version);
  EXPECT(plexus_map_read_fe(m, "full", &out, PLEXUS_FOREVER), PLEXUS_OK);
  plexus_value_free(&out);
  EXPECT(plexus_map_read_fe(m, "full", &out, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_map_read_fe(m, "absent", &out, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_map_write_ef(m, "empty", &v, PLEXUS_FOREVER), PLEXUS_OK);
  EXPECT(plexus_map_write_ef(m, "empty", &v, 0), PLEXUS_TIMEOUT);
  MUST(plexus_map_version(m, "empty", &version));
  EXPECT(plexus_map_wait_change(m, "empty", &version, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_queue_pop(q, &out, PLEXUS_FOREVER), PLEXUS_OK);
  plexus_value_free(&out);
  EXPECT(plexus_queue_pop(q, &out, 0), PLEXUS_TIMEOUT); /* empty */
  for (int i = 0; i < 4; i++) EXPECT(plexus_queue_push(q, &v, PLEXUS_FOREVER), PLEXUS_OK);
  EXPECT(plexus_queue_push(q, &v, 0), PLEXUS_TIMEOUT); /* full */
  EXPECT(plexus_queue_push_many(q, &v, 1, 0, &count), PLEXUS_TIMEOUT);
  CHECK(count == 0);
  EXPECT(plexus_queue_pop_many(q, &out, 1, PLEXUS_FOREVER, &count), PLEXUS_OK);
  CHECK(count == 1);
  plexus_value_free(&out);
  EXPECT(plexus_queue_push_many(q, &v, 1, PLEXUS_FOREVER, &count), PLEXUS_OK);
  CHECK(count == 1);
  EXPECT(plexus_sub_next(sub, &out, NULL, PLEXUS_FOREVER), PLEXUS_OK);
  plexus_value_free(&out);
  EXPECT(plexus_sub_next(sub, &out, NULL, 0), PLEXUS_TIMEOUT); /* no new message */
  EXPECT(plexus_mutex_lock(mx, PLEXUS_FOREVER), PLEXUS_OK);
  MUST(plexus_mutex_unlock(mx));
  EXPECT(plexus_mutex_lock(mx, 0), PLEXUS_OK);
  MUST(plexus_mutex_unlock(mx));
  EXPECT(plexus_barrier_wait(one, PLEXUS_FOREVER), PLEXUS_OK);
  EXPECT(plexus_barrier_wait(one, 0), PLEXUS_OK); /* one party: every call completes */
  EXPECT(plexus_barrier_wait(two, 0), PLEXUS_TIMEOUT); /* the other party is not there */
  EXPECT(plexus_semaphore_acquire(sem, PLEXUS_FOREVER), PLEXUS_OK);
  EXPECT(plexus_semaphore_acquire(sem, 0), PLEXUS_TIMEOUT); /* no permit left */
  MUST(plexus_semaphore_release(sem));
  EXPECT(plexus_region_wait_object(r, "timeouts-bus", PLEXUS_FOREVER), PLEXUS_OK);
  EXPECT(plexus_region_wait_object(r, "no-such-object", 0), PLEXUS_TIMEOUT);
  MUST(plexus_sub_close(sub));

  /* Closing: object handles die with their region; double close is an error. */
  plexus_array a_again;
  MUST(plexus_array_open(r, "a", 0, 0, &a_again));
  CHECK(a_again.id == a.id);
  MUST(plexus_region_close(r));
  EXPECT_MSG(plexus_region_close(r), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_array_read(a, 0, &out), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_array_close(a), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_region_get_info(r, &(plexus_region_info){0}), PLEXUS_E_BAD_HANDLE);
  MUST(plexus_region_remove(name));
  return finish("test_bad_inputs");
}
