/* Observing from C: plexus_map_watch / plexus_array_watch (value and version together),
 * the first write of a new key moving its version exactly once, map-wide change
 * tracking and initial data. Runs on the region named by argv[1] when given (a
 * redis:// URL), else on a fresh shared-memory region. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>

static int is_int(const plexus_value *v, int64_t i) {
  return v->type == PLEXUS_INT && v->as.i == i;
}

static plexus_map shared_map;

/* Writes 7 to "later" after a pause, while the main thread watches the absent key. */
static void *late_writer(void *arg) {
  (void)arg;
  usleep(50 * 1000);
  plexus_value v = plexus_int(7);
  MUST(plexus_map_write(shared_map, "later", &v));
  return NULL;
}

static void watch_calls(plexus_region r) {
  plexus_map m;
  MUST(plexus_map_open(r, "watched", 8, 0, &m));
  shared_map = m;
  plexus_value out = plexus_null();
  uint64_t ver = 0;

  /* Absent key, version 0: nothing to report; out-parameters untouched. */
  EXPECT(plexus_map_watch(m, "k", &ver, &out, 0), PLEXUS_TIMEOUT);
  CHECK(ver == 0 && out.type == PLEXUS_NULL);

  /* The first write moves the version exactly once: 0 -> 1. */
  plexus_value v = plexus_int(10);
  MUST(plexus_map_write(m, "k", &v));
  MUST(plexus_map_version(m, "k", &ver));
  CHECK(ver == 1);
  ver = 0;
  MUST(plexus_map_watch(m, "k", &ver, &out, 0));
  CHECK(ver == 1 && is_int(&out, 10));
  EXPECT(plexus_map_watch(m, "k", &ver, &out, 1000000), PLEXUS_TIMEOUT);
  CHECK(ver == 1 && is_int(&out, 10));

  /* Every inserting call moves a new key's version once. */
  plexus_value one = plexus_int(1), five = plexus_int(5);
  MUST(plexus_map_faa(m, "f", &one, NULL));
  MUST(plexus_map_cas(m, "c", &five, &one, NULL)); /* does not match: inserts only */
  MUST(plexus_map_set_tag(m, "t", false));
  const char *keys[] = {"f", "c", "t"};
  for (int i = 0; i < 3; i++) {
    MUST(plexus_map_version(m, keys[i], &ver));
    if (ver != 1) fprintf(stderr, "key %s: version %llu\n", keys[i], (unsigned long long)ver);
    CHECK(ver == 1);
  }

  /* A blocked watcher of an absent key wakes with the written value, not UNDEFINED. */
  pthread_t t;
  pthread_create(&t, NULL, late_writer, NULL);
  ver = 0;
  MUST(plexus_map_watch(m, "later", &ver, &out, PLEXUS_FOREVER));
  CHECK(ver == 1 && is_int(&out, 7));
  pthread_join(t, NULL);

  /* Removal: UNDEFINED with version 0. */
  MUST(plexus_map_remove(m, "later"));
  ver = 1;
  MUST(plexus_map_watch(m, "later", &ver, &out, 0));
  CHECK(ver == 0 && out.type == PLEXUS_UNDEFINED);

  /* Bad inputs: a clear status, nothing stored. */
  ver = 0;
  EXPECT_MSG(plexus_map_watch(m, "k", NULL, &out, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_watch(m, "k", &ver, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_watch(m, NULL, &ver, &out, 0), PLEXUS_E_INVALID_ARGUMENT);
  plexus_map bad = {0};
  EXPECT_MSG(plexus_map_watch(bad, "k", &ver, &out, 0), PLEXUS_E_BAD_HANDLE);
  CHECK(ver == 0);

  /* Arrays: the same call by index. */
  plexus_array a;
  MUST(plexus_array_open(r, "watched-arr", 4, 0, &a));
  ver = 0;
  EXPECT(plexus_array_watch(a, 2, &ver, &out, 0), PLEXUS_TIMEOUT);
  plexus_value s = plexus_string("a string longer than eight bytes");
  MUST(plexus_array_write(a, 2, &s));
  MUST(plexus_array_watch(a, 2, &ver, &out, 0));
  CHECK(ver == 1 && out.type == PLEXUS_STRING && out.as.buf.len == strlen(s.as.buf.ptr));
  plexus_value_free(&out);
  EXPECT_MSG(plexus_array_watch(a, 4, &ver, &out, 0), PLEXUS_E_OUT_OF_RANGE);
  CHECK(ver == 1);
  MUST(plexus_array_close(a));
  MUST(plexus_map_close(m));
}

/* Map-wide: change count, waits, listing since a count (present and removed keys). */
static void map_changes(plexus_region r) {
  plexus_map m;
  MUST(plexus_map_open(r, "followed", 8, 0, &m));
  uint64_t count = 99;
  MUST(plexus_map_change_count(m, &count));
  CHECK(count == 0);
  EXPECT(plexus_map_wait_changes(m, &count, 0), PLEXUS_TIMEOUT);
  CHECK(count == 0);
  plexus_value v = plexus_int(1);
  MUST(plexus_map_write(m, "a", &v));
  MUST(plexus_map_write(m, "b", &v));
  MUST(plexus_map_wait_changes(m, &count, PLEXUS_FOREVER));
  CHECK(count == 2);
  uint64_t since = count;
  MUST(plexus_map_write(m, "a", &v));
  MUST(plexus_map_remove(m, "b"));
  MUST(plexus_map_change_count(m, &count));
  CHECK(count == since + 2);

  /* Since `since`: "a" present (version 2) and "b" removed, in some order. */
  uint64_t cursor = 0;
  plexus_map_change c;
  int saw_a = 0, saw_b = 0;
  plexus_status st;
  while ((st = plexus_map_next_change(m, since, &cursor, &c)) == PLEXUS_OK) {
    CHECK(c.key.type == PLEXUS_STRING && c.key.as.buf.len == 1);
    char k = ((const char *)c.key.as.buf.ptr)[0];
    if (k == 'a') {
      saw_a++;
      CHECK(!c.removed && c.version == 2 && c.counter == since + 1);
    } else if (k == 'b') {
      saw_b++;
      CHECK(c.removed && c.version == 0 && c.counter == since + 2);
    } else {
      CHECK(!"an unexpected key");
    }
    plexus_value_free(&c.key);
  }
  EXPECT(st, PLEXUS_E_NOT_FOUND);
  CHECK(saw_a == 1 && saw_b == 1);
  /* Since the current count: nothing. */
  cursor = 0;
  EXPECT(plexus_map_next_change(m, count, &cursor, &c), PLEXUS_E_NOT_FOUND);

  /* More than the 16 recorded removals since `since`: OUT_OF_RANGE, list from 0. */
  for (int i = 0; i < 17; i++) {
    char key[16];
    snprintf(key, sizeof key, "tmp%d", i);
    MUST(plexus_map_write(m, key, &v));
    MUST(plexus_map_remove(m, key));
  }
  cursor = 0;
  EXPECT_MSG(plexus_map_next_change(m, since, &cursor, &c), PLEXUS_E_OUT_OF_RANGE);
  cursor = 0;
  int present = 0;
  while (plexus_map_next_change(m, 0, &cursor, &c) == PLEXUS_OK) {
    if (!c.removed) present++;
    plexus_value_free(&c.key);
  }
  CHECK(present == 1); /* "a" */

  EXPECT_MSG(plexus_map_change_count(m, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_wait_changes(m, NULL, 0), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_next_change(m, 0, NULL, &c), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_next_change(m, 0, &cursor, NULL), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_map_close(m));
}

/* Initial data: stored only by the open that creates the map; checked always. */
static void initial_data(plexus_region r) {
  plexus_value init;
  MUST(plexus_value_from_json("{\"mode\": \"auto\", \"limit\": 10, \"tags\": [1, 2]}", &init));
  plexus_map m;
  MUST(plexus_map_open_with(r, "cfg", 8, 0, &init, &m));
  uint64_t n = 0, ver = 0;
  MUST(plexus_map_len(m, &n));
  CHECK(n == 3);
  plexus_value out;
  MUST(plexus_map_read(m, "limit", &out));
  CHECK(is_int(&out, 10));
  bool full = false;
  MUST(plexus_map_is_full(m, "mode", &full));
  CHECK(full);
  MUST(plexus_map_version(m, "tags", &ver));
  CHECK(ver == 1);
  MUST(plexus_map_read(m, "tags", &out));
  CHECK(out.type == PLEXUS_OBJECT);
  plexus_value_free(&out);
  MUST(plexus_map_change_count(m, &n));
  CHECK(n == 3);

  /* Exists: other data is ignored, and the same handle comes back. */
  plexus_value other;
  MUST(plexus_value_from_json("{\"limit\": 99}", &other));
  plexus_map again;
  MUST(plexus_map_open_with(r, "cfg", 8, 0, &other, &again));
  CHECK(again.id == m.id);
  MUST(plexus_map_read(m, "limit", &out));
  CHECK(is_int(&out, 10));
  MUST(plexus_map_close(again));
  plexus_value_free(&other);

  /* Bad initial data: nothing is created. */
  plexus_map bad;
  plexus_value not_object = plexus_int(1);
  EXPECT_MSG(plexus_map_open_with(r, "bad", 8, 0, &not_object, &bad), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_value_from_json("[1, 2]", &other));
  EXPECT_MSG(plexus_map_open_with(r, "bad", 8, 0, &other, &bad), PLEXUS_E_INVALID_ARGUMENT);
  plexus_value_free(&other);
  /* {1: "x"}: a MessagePack map with an integer key. */
  static const unsigned char int_key[] = {0x81, 0x01, 0xa1, 'x'};
  plexus_value ik = plexus_object_msgpack(int_key, sizeof int_key);
  EXPECT_MSG(plexus_map_open_with(r, "bad", 8, 0, &ik, &bad), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_map_open_with(r, "bad", 2, 0, &init, &bad), PLEXUS_E_NO_SPACE);
  EXPECT(plexus_map_open(r, "bad", 0, 0, &bad), PLEXUS_E_NOT_FOUND);
  /* NULL: no initial data, as plexus_map_open. */
  MUST(plexus_map_open_with(r, "plain", 8, 0, NULL, &bad));
  MUST(plexus_map_len(bad, &n));
  CHECK(n == 0);
  MUST(plexus_map_close(bad));
  plexus_value_free(&init);
  MUST(plexus_map_close(m));
}

int main(int argc, char **argv) {
  char local[64];
  const char *name = local;
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 4 << 20;
  if (argc > 1) {
    name = argv[1];
  } else {
    unique_name(local, sizeof local, "cobserve");
    o.mode = PLEXUS_CREATE;
  }
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  watch_calls(r);
  map_changes(r);
  initial_data(r);
  MUST(plexus_region_close(r));
  return finish("test_observe");
}
