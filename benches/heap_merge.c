/* benches/heap_merge.c: what an allocation that has to merge free blocks costs. When an
 * allocation finds no room (no free block of its size, no new space, no larger block to
 * cut), the heap merges adjacent free blocks in one pass over all its blocks, under the
 * allocator lock, and tries again; every other allocation meanwhile waits. This measures
 * that pass against an ordinary write of the same value, in one run:
 *
 *   1. a region of SIZE MiB; an array of N elements, each written a 100-byte value, then
 *      more values until the heap refuses one (its new space used up);
 *   2. the first half of the values freed (written INT 0): adjacent blocks of 128 bytes,
 *      none large enough for the next value;
 *   3. timed: one write of a 1 MiB value (it needs the merge), then the same write to
 *      another element (room left by the merge: an ordinary write, the baseline).
 *
 * Prints the blocks in the heap, both times and the merge's cost per block. Repeated
 * RUNS times with a fresh region; medians and ranges.
 *
 *   gcc -std=c11 -O2 -o heap_merge benches/heap_merge.c -Iinclude -Ltarget/release \
 *       -l:libplexus.so -Wl,-rpath,$PWD/target/release
 *   ./heap_merge [RUNS [SIZE_MIB]]        (default 5 runs of a 256 MiB region)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "heap_merge"
#include "standalone.h"

#define MAX_RUNS 50

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    long mib = argc > 2 ? atol(argv[2]) : 256;
    if (runs < 1 || runs > MAX_RUNS || mib < 16 || mib > 4096) {
        fprintf(stderr, "usage: heap_merge [RUNS (1-%d) [SIZE_MIB (16-4096)]]\n", MAX_RUNS);
        return 2;
    }
    char *name = bench_region;
    snprintf(name, sizeof bench_region, "heap-merge-%d", getpid());
    static char small[100], big[1 << 20];
    memset(small, 's', sizeof small);
    memset(big, 'b', sizeof big);
    double merge[MAX_RUNS], plain[MAX_RUNS];
    uint64_t blocks = 0;
    for (int k = 0; k < runs; k++) {
        plexus_region_remove(name);
        plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
        o.size = (uint64_t)mib << 20;
        plexus_region r;
        CK(plexus_region_open(name, &o, &r));
        /* Each element takes 64 bytes of the array's body, each 100-byte value a block of
         * 128: 160 bytes per element leaves more elements than the heap holds values. */
        uint64_t n = ((uint64_t)mib << 20) / 160;
        plexus_array a;
        CK(plexus_array_open(r, "a", n, 0, &a));
        plexus_value v = plexus_bytes(small, sizeof small);
        uint64_t filled = 0;
        while (filled < n && plexus_array_write(a, filled, &v) == PLEXUS_OK) filled++;
        if (filled == n) die("the heap did not fill up", 0);
        plexus_value zero = plexus_int(0);
        for (uint64_t i = 0; i < filled / 2; i++) CK(plexus_array_write(a, i, &zero));
        plexus_value b = plexus_bytes(big, sizeof big);
        double t0 = now_s();
        CK(plexus_array_write(a, 0, &b));
        double t1 = now_s();
        CK(plexus_array_write(a, 1, &b));
        double t2 = now_s();
        merge[k] = t1 - t0;
        plain[k] = t2 - t1;
        blocks = filled;
        fprintf(stderr, "run %d/%d: %llu values; merge write %.2f ms, plain write %.3f ms\n",
                k + 1, runs, (unsigned long long)filled, merge[k] * 1e3, plain[k] * 1e3);
        CK(plexus_array_close(a));
        plexus_region_close(r);
        plexus_region_remove(name);
    }
    double ratio[MAX_RUNS];
    for (int k = 0; k < runs; k++) ratio[k] = merge[k] / plain[k];
    qsort(merge, (size_t)runs, sizeof(double), cmp_d);
    qsort(plain, (size_t)runs, sizeof(double), cmp_d);
    qsort(ratio, (size_t)runs, sizeof(double), cmp_d);
    printf("# A write that merges the heap's free blocks\n\n");
    printf("%d runs, %ld MiB region, about %llu blocks in its heap (half of them free, in "
           "one run).\n\n",
           runs, mib, (unsigned long long)blocks);
    printf("| write of 1 MiB | median | range |\n|---|---|---|\n");
    printf("| with the merge | %.2f ms | %.2f–%.2f ms |\n", merge[runs / 2] * 1e3,
           merge[0] * 1e3, merge[runs - 1] * 1e3);
    printf("| ordinary (baseline) | %.3f ms | %.3f–%.3f ms |\n", plain[runs / 2] * 1e3,
           plain[0] * 1e3, plain[runs - 1] * 1e3);
    printf("\nThe merge write / the ordinary one, per run: %.0f× (%.0f–%.0f); the merge "
           "costs about %.1f ns per heap block.\n",
           ratio[runs / 2], ratio[0], ratio[runs - 1],
           (merge[runs / 2] - plain[runs / 2]) * 1e9 / (double)blocks);
    return 0;
}
