/* open_race <region> <start_unix_ns>: sleeps until the given instant, then opens (or
 * creates) the region, adds 1 to array "hits" and prints the region id. Run many at
 * once: all must succeed and share one region. */
#include "common.h"

#include <inttypes.h>
#include <time.h>

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long long start = atoll(argv[2]);
  struct timespec now;
  do {
    clock_gettime(CLOCK_REALTIME, &now);
  } while ((long long)now.tv_sec * 1000000000LL + now.tv_nsec < start);
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 1 << 20;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "hits", 1, 0, &a));
  plexus_value one = plexus_int(1);
  MUST(plexus_array_faa(a, 0, &one, NULL));
  plexus_region_info info;
  MUST(plexus_region_get_info(r, &info));
  printf("region_id %016" PRIx64 "\n", info.region_id);
  MUST(plexus_region_close(r));
  return 0;
}
