/* counter <region> <processes> <increments>
 *
 * Start <processes> copies at once: each adds 1 to one shared element <increments>
 * times with plexus_array_faa (an atomic fetch-and-add in shared memory, no lock), then
 * waits for the others and checks that the total is exactly processes * increments.
 *
 *   for i in 1 2 3 4; do ./counter count 4 100000 & done; wait
 *
 * Array "counter": [0] the count, [1] how many processes have finished counting. Both
 * start UNDEFINED, which faa treats as 0, so no process has to initialise them and it
 * does not matter which one creates the region (creation is race-free). The last process
 * to finish removes the region.
 *
 * Exit status: 0 when the total is right, 1 otherwise, 2 on bad usage. */
#include <plexus.h>
#include <stdio.h>
#include <stdlib.h>

#define SECONDS(n) ((int64_t)(n) * 1000 * 1000 * 1000)

static int failed(const char *what, plexus_status s) {
  fprintf(stderr, "counter: %s: %s: %s\n", what, plexus_status_name(s), plexus_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4 || atol(argv[2]) < 1 || atol(argv[3]) < 1) {
    fprintf(stderr, "usage: counter <region> <processes> <increments>\n");
    return 2;
  }
  const char *name = argv[1];
  long processes = atol(argv[2]), increments = atol(argv[3]);

  plexus_region_options opts = PLEXUS_REGION_OPTIONS_INIT; /* open or create */
  opts.size = 1 << 20;
  plexus_region region;
  plexus_status s = plexus_region_open(name, &opts, &region);
  if (s != PLEXUS_OK) return failed("opening the region", s);
  plexus_array counter;
  s = plexus_array_open(region, "counter", 2, 0, &counter); /* created by the first */
  if (s != PLEXUS_OK) return failed("opening the array \"counter\"", s);

  plexus_value one = plexus_int(1);
  for (long i = 0; i < increments; i++) {
    s = plexus_array_faa(counter, 0, &one, NULL); /* counter[0] += 1, atomically */
    if (s != PLEXUS_OK) return failed("faa", s);
  }
  s = plexus_array_faa(counter, 1, &one, NULL); /* one more process finished counting */
  if (s != PLEXUS_OK) return failed("faa", s);

  /* Wait (sleeping) until every process has finished: watch counter[1]'s version. */
  uint64_t version;
  plexus_value done = plexus_int(0);
  for (;;) {
    s = plexus_array_version(counter, 1, &version);
    if (s == PLEXUS_OK) s = plexus_array_read(counter, 1, &done);
    if (s != PLEXUS_OK) return failed("reading counter[1]", s);
    if (done.type == PLEXUS_INT && done.as.i >= processes) break;
    s = plexus_array_wait_change(counter, 1, &version, SECONDS(30));
    if (s == PLEXUS_TIMEOUT) {
      fprintf(stderr, "counter: only %lld of %ld processes finished within 30 s\n",
              (long long)done.as.i, processes);
      return 1;
    }
    if (s != PLEXUS_OK) return failed("wait_change", s);
  }

  plexus_value total;
  s = plexus_array_read(counter, 0, &total);
  if (s != PLEXUS_OK) return failed("reading counter[0]", s);
  long long expected = (long long)processes * increments;
  int ok = total.type == PLEXUS_INT && total.as.i == expected;
  printf("counter: total %lld, expected %lld (%ld processes x %ld): %s\n",
         (long long)total.as.i, expected, processes, increments, ok ? "OK" : "WRONG");
  /* The last one to have read the total removes the region (a removal is seen by every
   * process still using it: removing it earlier would end the others' reads). */
  plexus_value before;
  s = plexus_array_faa(counter, 1, &one, &before);
  if (s != PLEXUS_OK) return failed("faa", s);
  int last = before.type == PLEXUS_INT && before.as.i == 2 * processes - 1;
  plexus_region_close(region);
  if (last) plexus_region_remove(name);
  return ok ? 0 : 1;
}
