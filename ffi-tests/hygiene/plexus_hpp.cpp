// plexus.hpp compiles on its own with -Wall -Wextra -Wpedantic -Werror (ctest:
// hygiene.plexus_hpp.cxx17 and .cxx20): it includes everything it uses.
#include <plexus.hpp>

int plexus_hygiene_check() {
    plexus::Value v(42);
    plexus::RegionOptions options;
    options.wait = plexus::forever;
    return static_cast<int>(v.as_int()) + static_cast<int>(options.c_options().wait_ns);
}
