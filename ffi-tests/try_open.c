/* try_open <name>: opens an existing region and prints the status name (exit 0). */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  plexus_region r;
  plexus_status s = plexus_region_open(argv[1], &o, &r);
  printf("%s\n%s\n", plexus_status_name(s), plexus_last_error());
  /* Opening with OPEN_OR_CREATE must not replace or repair a bad file either. */
  plexus_region_options c = PLEXUS_REGION_OPTIONS_INIT;
  plexus_status s2 = plexus_region_open(argv[1], &c, &r);
  printf("%s\n", plexus_status_name(s2));
  if (s == PLEXUS_OK) plexus_region_close(r);
  return 0;
}
