/* persist write <path> | persist read <path>
 * write: creates a persistent region at <path>, stores every type in array "all",
 *        flushes and exits. read: a new process opens it and checks every value. */
#include "common.h"

#include <stdint.h>

static const unsigned char BLOB[] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7};
#define JSON "{\"persisted\":true,\"n\":[1,2,3],\"nested\":{\"s\":\"x\"}}"

static void expected(plexus_value *vals, plexus_value *obj) {
  MUST(plexus_value_from_json(JSON, obj));
  plexus_value v[] = {plexus_undefined(), plexus_null(), plexus_bool(true), plexus_int(-1234567890123LL),
                      plexus_float(2.718281828), plexus_string("persistent string value, longer than inline"),
                      plexus_bytes(BLOB, sizeof BLOB), *obj};
  memcpy(vals, v, sizeof v);
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  plexus_value vals[8], obj;
  expected(vals, &obj);
  plexus_region r;
  plexus_array a;
  if (strcmp(argv[1], "write") == 0) {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_CREATE;
    o.size = 1 << 20;
    MUST(plexus_region_open(argv[2], &o, &r));
    MUST(plexus_array_open(r, "all", 8, 0, &a));
    for (int i = 0; i < 8; i++) MUST(plexus_array_write_ef(a, (uint64_t)i, &vals[i], 0));
    MUST(plexus_region_flush(r));
    MUST(plexus_region_close(r));
  } else {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.mode = PLEXUS_OPEN;
    MUST(plexus_region_open(argv[2], &o, &r));
    MUST(plexus_array_open(r, "all", 0, 0, &a));
    for (int i = 0; i < 8; i++) {
      plexus_value out;
      MUST(plexus_array_read_fe(a, (uint64_t)i, &out, 0)); /* FULL survived too */
      if (!plexus_value_equal(&out, &vals[i])) {
        fprintf(stderr, "persist: element %d differs (type %d)\n", i, (int)out.type);
        failures++;
      }
      plexus_value_free(&out);
    }
    plexus_region_info info;
    MUST(plexus_region_get_info(r, &info));
    CHECK(info.attached_processes == 1); /* the writer's entry was cleared */
    MUST(plexus_region_close(r));
  }
  plexus_value_free(&obj);
  return finish(argv[1]);
}
