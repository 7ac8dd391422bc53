/* plexus.h compiles on its own as C11 with -Wall -Wextra -Wpedantic -Werror (ctest:
 * hygiene.plexus_h.c11). Nothing is included before it. */
#include <plexus.h>

/* Uses the macros, types and a few functions, so their declarations are checked too. */
int plexus_hygiene_check(void) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  plexus_value v = plexus_int(PLEXUS_VERSION_MAJOR);
  plexus_region r = {0};
  plexus_array a = {0};
  (void)a;
  o.wait_ns = PLEXUS_FOREVER;
  return (int)v.type + (int)o.mode + (plexus_region_open("x", &o, &r) == PLEXUS_OK);
}
