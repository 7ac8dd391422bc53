/* consumer <region> <count>
 *
 * The consuming half of the producer/consumer pair (see producer.c for the protocol).
 * It may start before the producer: it waits up to 10 s for the region to appear
 * (PLEXUS_OPEN with wait_ns), then up to 10 s for the array "queue"
 * (plexus_region_wait_object). It takes items with read_fe, checks that item i is INT i,
 * in order, and that exactly <count> items come before "end", then removes the region.
 *
 * Exit status: 0 when every item arrived in order, 1 otherwise (the reason on stderr),
 * 2 on bad usage. */
#include <plexus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 8
#define SECONDS(n) ((int64_t)(n) * 1000 * 1000 * 1000)

static int failed(const char *what, plexus_status s) {
  fprintf(stderr, "consumer: %s: %s: %s\n", what, plexus_status_name(s), plexus_last_error());
  return 1;
}

/* Takes the next item from slot i % 8 into *out (owned: free it). */
static plexus_status take(plexus_array queue, long i, plexus_value *out) {
  return plexus_array_read_fe(queue, (uint64_t)(i % SLOTS), out, SECONDS(30));
}

int main(int argc, char **argv) {
  if (argc != 3 || atol(argv[2]) < 0) {
    fprintf(stderr, "usage: consumer <region> <count>\n");
    return 2;
  }
  const char *name = argv[1];
  long count = atol(argv[2]);

  plexus_region_options opts = PLEXUS_REGION_OPTIONS_INIT;
  opts.mode = PLEXUS_OPEN;      /* never create it: that is the producer's job */
  opts.wait_ns = SECONDS(10);   /* but wait for it to appear */
  plexus_region region;
  plexus_status s = plexus_region_open(name, &opts, &region);
  if (s != PLEXUS_OK) return failed("opening the region (is a producer running?)", s);
  s = plexus_region_wait_object(region, "queue", SECONDS(10));
  if (s != PLEXUS_OK) return failed("waiting for the array \"queue\"", s);
  plexus_array queue;
  s = plexus_array_open(region, "queue", 0, 0, &queue); /* length 0: existing only */
  if (s != PLEXUS_OK) return failed("opening the array \"queue\"", s);

  long long sum = 0;
  for (long i = 0; i < count; i++) {
    plexus_value item;
    s = take(queue, i, &item);
    if (s != PLEXUS_OK) return failed("read_fe", s);
    if (item.type != PLEXUS_INT || item.as.i != i) {
      char json[64] = "?";
      plexus_value_to_json(&item, json, sizeof json, NULL);
      fprintf(stderr, "consumer: item %ld: expected INT %ld, received %s\n", i, i, json);
      plexus_value_free(&item);
      return 1;
    }
    sum += item.as.i;
  }
  plexus_value end;
  s = take(queue, count, &end);
  if (s != PLEXUS_OK) return failed("read_fe of \"end\"", s);
  int ok = end.type == PLEXUS_STRING && end.as.buf.len == 3 &&
           memcmp(end.as.buf.ptr, "end", 3) == 0;
  plexus_value_free(&end); /* values read out own their memory */
  if (!ok) {
    fprintf(stderr, "consumer: expected \"end\" after %ld items\n", count);
    return 1;
  }
  printf("consumer: received %ld items in order (sum %lld), then \"end\"\n", count, sum);
  plexus_region_close(region);
  plexus_region_remove(name); /* the pair is done with it */
  return 0;
}
