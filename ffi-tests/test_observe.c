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
  MUST(plexus_region_close(r));
  return finish("test_observe");
}
