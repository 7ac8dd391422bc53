// plexus.hpp survives double inclusion, also with plexus.h in between (ctest:
// hygiene.plexus_hpp_twice.cxx17 and .cxx20).
#include <plexus.hpp>
#include <plexus.h>
#include <plexus.hpp>

int plexus_hygiene_check() {
    return static_cast<int>(plexus::Value("twice").as_string().size());
}
