/* benches/ab_instructions.c: one plexus operation, N times, in one process, for counting
 * instructions per operation under callgrind (benches/ab.sh runs it against two builds
 * of the library and reports the difference). Uses only calls that every 0.x version
 * has, so the same program links against an older library too.
 *
 *   ab_instructions <op> <n>     op: map-read | map-write | array-faa | fe-pair |
 *                                    queue-push-pop | bus-publish-next | mutex
 *
 * Exit status 0 on success; any failing call prints its status and exits 1. */
#include <plexus.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void ok(plexus_status st, const char *what) {
  if (st != PLEXUS_OK) {
    fprintf(stderr, "ab_instructions: %s: %s: %s\n", what, plexus_status_name(st),
            plexus_last_error());
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ab_instructions <op> <n>\n");
    return 2;
  }
  const char *op = argv[1];
  long n = atol(argv[2]);
  char name[64];
  snprintf(name, sizeof name, "plexus-ab-%d", (int)getpid());
  plexus_region r;
  ok(plexus_region_open(name, NULL, &r), "region_open");
  plexus_value v = plexus_int(1), out = plexus_undefined();
  uint64_t seq = 0;
  if (strcmp(op, "map-read") == 0 || strcmp(op, "map-write") == 0) {
    plexus_map m;
    ok(plexus_map_open(r, "m", 64, 0, &m), "map_open");
    ok(plexus_map_write_xf(m, "key", &v), "map_write_xf");
    int read = strcmp(op, "map-read") == 0;
    for (long i = 0; i < n; i++) {
      if (read) {
        ok(plexus_map_read_ff(m, "key", &out, 0), "map_read_ff");
      } else {
        ok(plexus_map_write_xf(m, "key", &v), "map_write_xf");
      }
    }
  } else if (strcmp(op, "array-faa") == 0 || strcmp(op, "fe-pair") == 0) {
    plexus_array a;
    ok(plexus_array_open(r, "a", 4, 0, &a), "array_open");
    int faa = strcmp(op, "array-faa") == 0;
    for (long i = 0; i < n; i++) {
      if (faa) {
        ok(plexus_array_faa(a, 0, &v, NULL), "array_faa");
      } else {
        ok(plexus_array_write_ef(a, 1, &v, 0), "array_write_ef");
        ok(plexus_array_read_fe(a, 1, &out, 0), "array_read_fe");
      }
    }
  } else if (strcmp(op, "queue-push-pop") == 0) {
    plexus_queue q;
    ok(plexus_queue_open(r, "q", 64, 0, &q), "queue_open");
    for (long i = 0; i < n; i++) {
      ok(plexus_queue_push(q, &v, 0), "queue_push");
      ok(plexus_queue_pop(q, &out, 0), "queue_pop");
    }
  } else if (strcmp(op, "bus-publish-next") == 0) {
    plexus_bus b;
    plexus_sub s;
    ok(plexus_bus_open(r, "b", 64, 0, &b), "bus_open");
    ok(plexus_bus_subscribe(b, PLEXUS_FROM_NOW, &s), "bus_subscribe");
    for (long i = 0; i < n; i++) {
      ok(plexus_bus_publish(b, &v, NULL), "bus_publish");
      ok(plexus_sub_next(s, &out, &seq, 0), "sub_next");
    }
  } else if (strcmp(op, "mutex") == 0) {
    plexus_mutex mx;
    ok(plexus_mutex_open(r, "mx", &mx), "mutex_open");
    for (long i = 0; i < n; i++) {
      ok(plexus_mutex_lock(mx, 0), "mutex_lock");
      ok(plexus_mutex_unlock(mx), "mutex_unlock");
    }
  } else {
    fprintf(stderr, "ab_instructions: unknown op '%s'\n", op);
    plexus_region_close(r);
    plexus_region_remove(name);
    return 2;
  }
  plexus_value_free(&out);
  ok(plexus_region_close(r), "region_close");
  ok(plexus_region_remove(name), "region_remove");
  return 0;
}
