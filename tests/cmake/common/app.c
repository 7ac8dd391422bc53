/* app <tag>: a consumer of an installed or embedded plexus, in C. Opens a region of its
 * own ("<tag>-<pid>", 1 MiB), uses an array and checks the values, then removes the
 * region. Prints "<tag>: OK" and exits 0, or explains and exits 1.
 * Built by tests/cmake/{subdirectory,find_package,pkgconfig}. */
#include <plexus.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int failed(const char *tag, const char *what, plexus_status s) {
  fprintf(stderr, "%s: %s: %s: %s\n", tag, what, plexus_status_name(s), plexus_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "app_c";
  if (plexus_version() != ((PLEXUS_VERSION_MAJOR << 16) | (PLEXUS_VERSION_MINOR << 8) | PLEXUS_VERSION_PATCH)) {
    fprintf(stderr, "%s: header and library versions differ\n", tag);
    return 1;
  }
  char name[128];
  snprintf(name, sizeof name, "%s-%ld", tag, (long)getpid());
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_CREATE;
  o.size = 1 << 20;
  plexus_region r;
  plexus_array a;
  plexus_status s = plexus_region_open(name, &o, &r);
  if (s != PLEXUS_OK) return failed(tag, "plexus_region_open", s);
  int ok = 0;
  if ((s = plexus_array_open(r, "cells", 4, 0, &a)) == PLEXUS_OK) {
    plexus_value v = plexus_int(41), one = plexus_int(1), out;
    if ((s = plexus_array_write_xf(a, 2, &v)) == PLEXUS_OK &&
        (s = plexus_array_faa(a, 2, &one, NULL)) == PLEXUS_OK &&
        (s = plexus_array_read_fe(a, 2, &out, 0)) == PLEXUS_OK) {
      ok = out.type == PLEXUS_INT && out.as.i == 42;
      plexus_value_free(&out);
    }
  }
  if (s != PLEXUS_OK) failed(tag, "array calls", s);
  plexus_region_close(r);
  plexus_region_remove(name);
  if (!ok) {
    fprintf(stderr, "%s: cells[2] is not INT 42\n", tag);
    return 1;
  }
  printf("%s: OK (plexus %d.%d.%d)\n", tag, PLEXUS_VERSION_MAJOR, PLEXUS_VERSION_MINOR, PLEXUS_VERSION_PATCH);
  return 0;
}
