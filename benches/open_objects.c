/* open_objects: the cost of opening an existing object by name in a region holding 10
 * objects and in one holding 10,000 (the directory is a hash table on the name, so the
 * two should cost the same). Each open is plexus_array_open(r, name, 0, 0, &a) +
 * plexus_array_close(a) of a random existing name; batches of 1000, the two regions
 * take turns batch by batch (so both see the same state of the machine), and the report
 * gives the medians and 99th percentiles of the per-open batch means and their ratio.
 *
 *   open_objects [runs] [batches]       (defaults 7 and 200)
 *
 * Run by benches/open_objects.sh. Regions: "bench-open-<pid>-10" and "-10000", removed
 * at the end. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plexus.h"

static void must(plexus_status s, const char *what) {
  if (s != PLEXUS_OK) {
    fprintf(stderr, "open_objects: %s: %s\n", what, plexus_last_error());
    exit(1);
  }
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p) {
  qsort(v, n, sizeof *v, cmp);
  return v[(int)(p * (n - 1))];
}

static plexus_region make(const char *name, int objects) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT; /* the default 64 MiB */
  o.mode = PLEXUS_RECREATE;
  plexus_region r;
  must(plexus_region_open(name, &o, &r), "creating the region");
  for (int i = 0; i < objects; i++) {
    char n[32];
    snprintf(n, sizeof n, "cell-%d", i);
    plexus_array a;
    must(plexus_array_open(r, n, 1, 0, &a), "creating an object");
    must(plexus_array_close(a), "closing");
  }
  return r;
}

/* Mean ns per open over one batch of 1000 random names among `objects`. */
static double batch(plexus_region r, int objects, unsigned *seed) {
  char names[1000][32];
  for (int i = 0; i < 1000; i++) snprintf(names[i], 32, "cell-%d", (int)(rand_r(seed) % objects));
  double t = now_ns();
  for (int i = 0; i < 1000; i++) {
    plexus_array a;
    must(plexus_array_open(r, names[i], 0, 0, &a), "opening an object");
    must(plexus_array_close(a), "closing");
  }
  return (now_ns() - t) / 1000;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 7, batches = argc > 2 ? atoi(argv[2]) : 200;
  char small[64], big[64];
  snprintf(small, sizeof small, "bench-open-%d-10", (int)getpid());
  snprintf(big, sizeof big, "bench-open-%d-10000", (int)getpid());
  plexus_region rs = make(small, 10), rb = make(big, 10000);
  double *s = calloc(batches, sizeof *s), *b = calloc(batches, sizeof *b);
  unsigned seed = 1;
  printf("| run | 10 objects: p50 / p99 (ns per open) | 10,000 objects: p50 / p99 | ratio of p50s |\n");
  printf("|---|---|---|---|\n");
  double ratios[64];
  for (int run = 0; run < runs && run < 64; run++) {
    for (int i = 0; i < batches; i++) {
      s[i] = batch(rs, 10, &seed);
      b[i] = batch(rb, 10000, &seed);
    }
    double s50 = pct(s, batches, 0.5), s99 = pct(s, batches, 0.99);
    double b50 = pct(b, batches, 0.5), b99 = pct(b, batches, 0.99);
    ratios[run] = b50 / s50;
    printf("| %d | %.0f / %.0f | %.0f / %.0f | %.2fx |\n", run + 1, s50, s99, b50, b99, ratios[run]);
  }
  printf("\nmedian ratio (10,000 vs 10 objects) over %d runs: %.2fx\n", runs, pct(ratios, runs, 0.5));
  must(plexus_region_close(rs), "closing");
  must(plexus_region_close(rb), "closing");
  plexus_region_remove(small);
  plexus_region_remove(big);
  return 0;
}
