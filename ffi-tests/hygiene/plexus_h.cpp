// plexus.h compiles on its own as C++17 with -Wall -Wextra -Wpedantic -Werror (ctest:
// hygiene.plexus_h.cxx17): its declarations get C linkage and it needs no C-only syntax.
#include <plexus.h>

int plexus_hygiene_check() {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    plexus_value v = plexus_int(PLEXUS_VERSION_MAJOR);
    plexus_region r = {0};
    o.wait_ns = PLEXUS_FOREVER;
    return static_cast<int>(v.type) + static_cast<int>(o.mode) +
           (plexus_region_open("x", &o, &r) == PLEXUS_OK);
}
