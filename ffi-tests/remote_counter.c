/* remote_counter <region> <expected>: opens the existing region (waiting up to 10 s for
 * it), checks that element 0 of its array "counter" (what faa_worker adds to) holds the
 * INT <expected>, and removes the region. scripts/redis-cluster.sh runs it after the
 * faa_worker processes. Exit status 0 when the count is right, 1 otherwise, 2 on bad
 * usage. */
#include <inttypes.h>

#include "common.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: remote_counter <region> <expected>\n");
    return 2;
  }
  long long expected = atoll(argv[2]);
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  o.wait_ns = 10LL * 1000 * 1000 * 1000;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "counter", 0, 0, &a));
  plexus_value v;
  MUST(plexus_array_read(a, 0, &v));
  CHECK(v.type == PLEXUS_INT);
  if (v.type == PLEXUS_INT && v.as.i != expected) {
    fprintf(stderr, "remote_counter: the counter holds %" PRId64 ", expected %lld\n", v.as.i,
            expected);
    failures++;
  }
  plexus_value_free(&v);
  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(argv[1]));
  return finish("remote_counter");
}
