/* remove_object_worker <role> <region>: the two processes of the object-removal test
 * (tests/ffi.rs and scenarios.sh). Exit status 0 when the role's checks pass, 1 (with
 * messages) when one fails, 2 on bad usage or when a step it depends on fails.
 *
 *   popper <region>   opens (creating it if needed) the region and the queue "jobs"
 *                     (capacity 4), prints "waiting", then blocks in pop without limit.
 *                     The pop must end with PLEXUS_E_REMOVED. Then it waits for the
 *                     name "jobs" to exist again, opens it as an array (size 0: open
 *                     only) and waits for element 0 to be FULL with "recreated". The
 *                     old queue handle keeps returning PLEXUS_E_REMOVED, opening "jobs"
 *                     as a queue gives PLEXUS_E_TYPE_MISMATCH, and closing the old
 *                     handle is PLEXUS_OK.
 *   remover <region>  removes the object "jobs", creates an array "jobs" of 1 element at
 *                     once and writes "recreated" to element 0 (FULL). Removing "jobs"
 *                     as the queue it was is then impossible: the name is the array's.
 */
#include "common.h"


static plexus_region open_region(const char *name) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 1 << 20;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  return r;
}

static int popper(const char *name) {
  plexus_region r = open_region(name);
  plexus_queue q;
  MUST(plexus_queue_open(r, "jobs", 4, 0, &q));
  printf("waiting\n");
  fflush(stdout);
  plexus_value out;
  EXPECT_MSG(plexus_queue_pop(q, &out, PLEXUS_FOREVER), PLEXUS_E_REMOVED);
  /* The remover creates the name again at once, as an array. */
  MUST(plexus_region_wait_object(r, "jobs", PLEXUS_FOREVER));
  plexus_array a;
  MUST(plexus_array_open(r, "jobs", 0, 0, &a));
  uint64_t len = 0;
  MUST(plexus_array_len(a, &len));
  CHECK(len == 1);
  MUST(plexus_array_read_ff(a, 0, &out, PLEXUS_FOREVER));
  CHECK(out.type == PLEXUS_STRING && out.as.buf.len == 9 &&
        memcmp(out.as.buf.ptr, "recreated", 9) == 0);
  plexus_value_free(&out);
  /* The old queue handle stays removed, whatever has the name now. */
  plexus_value v = plexus_int(1);
  EXPECT_MSG(plexus_queue_pop(q, &out, 0), PLEXUS_E_REMOVED);
  EXPECT(plexus_queue_pop(q, &out, PLEXUS_FOREVER), PLEXUS_E_REMOVED);
  EXPECT(plexus_queue_push(q, &v, 0), PLEXUS_E_REMOVED);
  EXPECT(plexus_queue_len(q, &len), PLEXUS_E_REMOVED);
  plexus_queue again;
  EXPECT_MSG(plexus_queue_open(r, "jobs", 0, 0, &again), PLEXUS_E_TYPE_MISMATCH);
  EXPECT(plexus_queue_close(q), PLEXUS_OK);
  MUST(plexus_array_close(a));
  MUST(plexus_region_close(r));
  return finish("remove_object_worker popper");
}

static int remover(const char *name) {
  plexus_region r = open_region(name);
  EXPECT(plexus_region_remove_object(r, "jobs"), PLEXUS_OK);
  if (failures) return finish("remove_object_worker remover");
  /* The name is free at once: created again, as another kind. */
  plexus_array a;
  MUST(plexus_array_open(r, "jobs", 1, PLEXUS_EXCLUSIVE, &a));
  plexus_value v = plexus_string("recreated");
  MUST(plexus_array_write_xf(a, 0, &v));
  plexus_queue q;
  EXPECT(plexus_queue_open(r, "jobs", 4, 0, &q), PLEXUS_E_TYPE_MISMATCH);
  MUST(plexus_array_close(a));
  MUST(plexus_region_close(r));
  return finish("remove_object_worker remover");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: remove_object_worker popper|remover <region>\n");
    return 2;
  }
  alarm(120); /* a pop that never wakes fails the test instead of hanging it */
  if (strcmp(argv[1], "popper") == 0) return popper(argv[2]);
  if (strcmp(argv[1], "remover") == 0) return remover(argv[2]);
  fprintf(stderr, "remove_object_worker: unknown role %s\n", argv[1]);
  return 2;
}
