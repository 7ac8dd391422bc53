// app <tag>: a consumer of an installed or embedded plexus, in C++ (plexus.hpp). Opens
// a region of its own ("<tag>-<pid>", 1 MiB), uses an array and checks the values, then
// removes the region. Prints "<tag>: OK" and exits 0, or explains and exits 1.
// Built by tests/cmake/{subdirectory,find_package,pkgconfig}.
#include <plexus.hpp>

#include <unistd.h>

#include <iostream>
#include <string>

int main(int argc, char **argv) {
    const std::string tag = argc > 1 ? argv[1] : "app_cpp";
    const std::string name = tag + "-" + std::to_string(getpid());
    try {
        bool ok = false;
        {
            plexus::Region region = plexus::Region::create(name, 1 << 20);
            plexus::Array cells = region.array("cells", 4);
            cells.write_xf(2, 41);
            (void)cells.faa(2, 1);
            const auto v = cells.try_read_fe(2);
            ok = v && *v == plexus::Value(42);
            cells.write(3, "from C++");
            ok = ok && cells.read(3).as_string() == "from C++";
        }
        plexus::Region::remove(name);
        if (!ok) {
            std::cerr << tag << ": the values read back are wrong" << std::endl;
            return 1;
        }
    } catch (const plexus::Error &e) {
        std::cerr << tag << ": " << e.what() << std::endl;
        plexus::Region::try_remove(name);
        return 1;
    }
    std::cout << tag << ": OK (plexus " << (plexus::version() >> 16) << "."
              << ((plexus::version() >> 8) & 0xff) << "." << (plexus::version() & 0xff) << ")"
              << std::endl;
    return 0;
}
