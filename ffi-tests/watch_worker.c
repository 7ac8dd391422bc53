/* One process of the "an observer never misses the last value" test.
 *   watch_worker REGION watcher KEY N   prints "ready", then watches KEY until it holds
 *       N: every (value, version) pair must belong together (the writer writes 1..N
 *       with plain writes to a fresh key, so value i has version i); prints how many
 *       distinct values it saw.
 *   watch_worker REGION writer KEY N    writes 1..N to KEY. */
#include "common.h"

#include <stdint.h>

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: watch_worker REGION watcher|writer KEY N\n");
    return 2;
  }
  const char *role = argv[2], *key = argv[3];
  int64_t n = atoll(argv[4]);
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  o.wait_ns = 10LL * 1000 * 1000 * 1000;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  plexus_map m;
  MUST(plexus_map_open(r, "observed", 16, 0, &m));
  if (strcmp(role, "writer") == 0) {
    for (int64_t i = 1; i <= n; i++) {
      plexus_value v = plexus_int(i);
      MUST(plexus_map_write(m, key, &v));
    }
    return finish("watch_worker writer");
  }
  printf("ready\n");
  fflush(stdout);
  uint64_t ver = 0, seen = 0;
  int64_t last = 0;
  for (;;) {
    plexus_value v;
    MUST(plexus_map_watch(m, key, &ver, &v, 60LL * 1000 * 1000 * 1000));
    CHECK(v.type == PLEXUS_INT);
    if (v.type != PLEXUS_INT) break;
    if ((uint64_t)v.as.i != ver) {
      fprintf(stderr, "value %lld came with version %llu\n", (long long)v.as.i,
              (unsigned long long)ver);
      failures++;
    }
    CHECK(v.as.i > last);
    last = v.as.i;
    seen++;
    if (v.as.i == n) break;
  }
  printf("saw %llu distinct values, the last %lld\n", (unsigned long long)seen, (long long)last);
  return finish("watch_worker watcher");
}
