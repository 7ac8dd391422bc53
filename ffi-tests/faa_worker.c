/* faa_worker <region> <count>: adds 1 to element 0 of array "counter" count times. */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long count = atol(argv[2]);
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  o.wait_ns = 10LL * 1000 * 1000 * 1000;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "counter", 1, 0, &a));
  plexus_value one = plexus_int(1);
  for (long i = 0; i < count; i++) MUST(plexus_array_faa(a, 0, &one, NULL));
  MUST(plexus_region_close(r));
  printf("faa_worker: OK %ld\n", count);
  return 0;
}
