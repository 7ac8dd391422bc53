/* rw_holder <region>: takes a read_rw lock on element 0 of array "rw", prints "held",
 * then sleeps until killed — a reader that dies without releasing. */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "rw", 1, 0, &a));
  plexus_value v;
  MUST(plexus_array_read_rw(a, 0, &v, PLEXUS_FOREVER));
  printf("held\n");
  fflush(stdout);
  for (;;) pause();
}
