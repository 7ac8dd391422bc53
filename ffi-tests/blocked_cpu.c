/* blocked_cpu <region>: blocks for one second each in read_fe on an element nobody
 * fills, in plexus_tarray_wait on a typed array element nobody changes, and in
 * plexus_tarray_begin_read on a block nobody writes, and reports the CPU time each used
 * meanwhile. A sleeping waiter uses almost none (the spin phase is bounded at ~100 us);
 * the test fails above 50 ms. Removes the region. */
#include "common.h"

#include <sys/resource.h>
#include <time.h>

static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec +
         ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) / 1e6;
}

static double wall_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 1 << 20;
  plexus_region r;
  MUST(plexus_region_open(argv[1], &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "never-filled", 1, 0, &a));
  plexus_value out;
  double c0 = cpu_seconds(), w0 = wall_seconds();
  EXPECT(plexus_array_read_fe(a, 0, &out, 1000LL * 1000 * 1000), PLEXUS_TIMEOUT);
  double cpu = cpu_seconds() - c0, wall = wall_seconds() - w0;
  printf("read_fe blocked %.3f s, used %.2f ms CPU\n", wall, cpu * 1e3);
  CHECK(wall >= 0.99);  /* the timeout is honoured, not shortened */
  CHECK(cpu < 0.050);   /* it slept instead of spinning */

  plexus_tarray t;
  MUST(plexus_tarray_open(r, "never-changed", PLEXUS_DTYPE_I32, 64, 16, 0, &t));
  c0 = cpu_seconds(), w0 = wall_seconds();
  EXPECT(plexus_tarray_wait(t, 3, 0, 1000LL * 1000 * 1000), PLEXUS_TIMEOUT);
  cpu = cpu_seconds() - c0, wall = wall_seconds() - w0;
  printf("tarray_wait blocked %.3f s, used %.2f ms CPU\n", wall, cpu * 1e3);
  CHECK(wall >= 0.99);
  CHECK(cpu < 0.050);

  const void *p = NULL;
  c0 = cpu_seconds(), w0 = wall_seconds();
  EXPECT(plexus_tarray_begin_read(t, 1, 1000LL * 1000 * 1000, &p), PLEXUS_TIMEOUT);
  cpu = cpu_seconds() - c0, wall = wall_seconds() - w0;
  printf("tarray_begin_read blocked %.3f s, used %.2f ms CPU\n", wall, cpu * 1e3);
  CHECK(wall >= 0.99);
  CHECK(cpu < 0.050);
  CHECK(p == NULL);
  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(argv[1]));
  return finish("blocked_cpu");
}
