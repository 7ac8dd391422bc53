/* plexus.h survives double inclusion (ctest: hygiene.plexus_h_twice.c11). */
#include <plexus.h>
#include <plexus.h>

int plexus_hygiene_check(void) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  plexus_value v = plexus_int(PLEXUS_VERSION_MAJOR);
  return (int)v.type + (int)o.mode;
}
