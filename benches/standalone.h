/* benches/standalone.h: what the one-file benchmarks (wake_cost.c, mutex_handoff.c,
 * heap_merge.c; each built with one gcc line) share: failing with the call and
 * plexus's message. Define BENCH_NAME (the program's name, for messages) first. */
#ifndef PLEXUS_BENCH_STANDALONE_H
#define PLEXUS_BENCH_STANDALONE_H

#include <stdio.h>
#include <stdlib.h>

#include "plexus.h"

/* The region the program is using, removed by die() (empty: none). */
static char bench_region[128];

/* Exits with `what` failed; `st` a plexus status (0: not a plexus call). Removes
 * bench_region first, so a failed run leaves nothing in /dev/shm. */
static void die(const char *what, int st) {
    fprintf(stderr, "%s: %s: %d %s\n", BENCH_NAME, what, st, st ? plexus_last_error() : "");
    if (bench_region[0]) plexus_region_remove(bench_region);
    exit(1);
}

/* A plexus call that must succeed. */
#define CK(x)                                                                              \
    do {                                                                                   \
        int s_ = (x);                                                                      \
        if (s_) die(#x, s_);                                                               \
    } while (0)

#endif
