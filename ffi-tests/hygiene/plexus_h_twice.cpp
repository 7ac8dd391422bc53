// plexus.h survives double inclusion in C++ (ctest: hygiene.plexus_h_twice.cxx17).
#include <plexus.h>
#include <plexus.h>

int plexus_hygiene_check() {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    return static_cast<int>(o.mode) + static_cast<int>(plexus_int(1).type);
}
