/* producer <region> <count>
 *
 * The producing half of a producer/consumer pair (consumer.c is the other half; the
 * C++ pair in examples-cpp/ speaks the same protocol, so C and C++ halves mix). Start
 * them in either order:
 *
 *   ./producer jobs 1000 &  ./consumer jobs 1000
 *
 * Protocol: the producer creates the region and the array "queue" of 8 elements (a
 * ring). Item i (INT i, for i = 0 .. count-1) goes into slot i % 8 with write_ef, which
 * waits until the consumer has emptied that slot; after the last item the STRING "end"
 * follows. Each slot alternates between the two processes, so items arrive in order.
 * The consumer removes the region when it is done; values written before the producer
 * exits stay in the region until then.
 *
 * Exit status: 0 when every item was handed over, 1 on an error or a 30 s wait, 2 on
 * bad usage. */
#include <plexus.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 8
#define SECONDS(n) ((int64_t)(n) * 1000 * 1000 * 1000)

static int failed(const char *what, plexus_status s) {
  fprintf(stderr, "producer: %s: %s: %s\n", what, plexus_status_name(s), plexus_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3 || atol(argv[2]) < 0) {
    fprintf(stderr, "usage: producer <region> <count>\n");
    return 2;
  }
  const char *name = argv[1];
  long count = atol(argv[2]);

  /* A new 1 MiB region: PLEXUS_CREATE refuses to reuse a leftover with old items. */
  plexus_region_options opts = PLEXUS_REGION_OPTIONS_INIT;
  opts.mode = PLEXUS_CREATE;
  opts.size = 1 << 20;
  plexus_region region;
  plexus_status s = plexus_region_open(name, &opts, &region);
  if (s == PLEXUS_E_EXISTS) {
    fprintf(stderr, "producer: region \"%s\" exists already (left over from an earlier run?); "
                    "remove it or pick another name\n", name);
    return 1;
  }
  if (s != PLEXUS_OK) return failed("creating the region", s);

  plexus_array queue; /* the consumer waits for this name to appear */
  s = plexus_array_open(region, "queue", SLOTS, 0, &queue);
  if (s != PLEXUS_OK) return failed("creating the array \"queue\"", s);

  for (long i = 0; i <= count; i++) {
    plexus_value item = i < count ? plexus_int(i) : plexus_string("end");
    /* Blocks (sleeping) until slot i % 8 is EMPTY, writes, leaves it FULL. */
    s = plexus_array_write_ef(queue, (uint64_t)(i % SLOTS), &item, SECONDS(30));
    if (s == PLEXUS_TIMEOUT) {
      fprintf(stderr, "producer: slot %ld stayed FULL for 30 s: is a consumer running?\n", i % SLOTS);
      return 1;
    }
    if (s != PLEXUS_OK) return failed("write_ef", s);
  }
  printf("producer: sent %ld items and \"end\" through region \"%s\"\n", count, name);
  plexus_region_close(region);
  return 0;
}
