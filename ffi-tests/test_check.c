/* plexus_region_check from C: a consistent region, the stale entries of a process that
 * died holding a mutex (found, then cleaned by repair), a damaged header reported as
 * corrupt and never repaired, and bad arguments. */
#include "common.h"

#include <sys/wait.h>

static int contains(const plexus_value *v, const char *needle) {
  return v->type == PLEXUS_STRING && strstr((const char *)v->as.buf.ptr, needle) != NULL;
}

int main(void) {
  char name[64];
  unique_name(name, sizeof name, "ccheck");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 1 << 20;
  o.mode = PLEXUS_CREATE;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  plexus_array a;
  MUST(plexus_array_open(r, "cells", 4, 0, &a));
  plexus_value v = plexus_string("a string long enough to live in the region's heap");
  MUST(plexus_array_write_xf(a, 0, &v));
  plexus_mutex m;
  MUST(plexus_mutex_open(r, "m", &m));

  plexus_check_result res;
  plexus_value report;
  MUST(plexus_region_check(name, 0, &res, &report));
  CHECK(res.verdict == PLEXUS_CHECK_CONSISTENT);
  CHECK(res.live_processes == 1); /* this process */
  CHECK(res.problems == 0 && res.leaked_blocks == 0 && res.dead_processes == 0);
  CHECK(res.heap_used > 0);
  CHECK(contains(&report, ": consistent"));
  plexus_value_free(&report);
  CHECK(report.type == PLEXUS_UNDEFINED);
  MUST(plexus_region_check(name, 0, &res, NULL)); /* the report is optional */

  /* A child process attaches, locks the mutex and dies without closing anything. */
  pid_t pid = fork();
  if (pid == 0) {
    plexus_region cr;
    plexus_mutex cm;
    plexus_region_options co = PLEXUS_REGION_OPTIONS_INIT;
    co.mode = PLEXUS_OPEN;
    if (plexus_region_open(name, &co, &cr) != PLEXUS_OK ||
        plexus_mutex_open(cr, "m", &cm) != PLEXUS_OK ||
        plexus_mutex_lock(cm, PLEXUS_FOREVER) != PLEXUS_OK) {
      _exit(3);
    }
    _exit(0);
  }
  int ws = 0;
  waitpid(pid, &ws, 0);
  CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  MUST(plexus_region_check(name, 0, &res, &report));
  CHECK(res.verdict == PLEXUS_CHECK_RECLAIMABLE);
  CHECK(res.dead_processes == 1);
  CHECK(res.dead_locks == 1);
  CHECK(res.stale_entries >= 2); /* the attachment and the mutex */
  CHECK(res.problems == 0);
  CHECK(contains(&report, "lock held: mutex 'm' by dead pid"));
  plexus_value_free(&report);

  /* Repair cleans up (this process's own attachment counts as idle). */
  MUST(plexus_region_check(name, PLEXUS_CHECK_REPAIR, &res, &report));
  CHECK(res.verdict == PLEXUS_CHECK_CONSISTENT);
  CHECK(res.repairs >= 1 && res.repair_skipped == 0);
  CHECK(res.dead_processes == 0 && res.dead_locks == 0);
  CHECK(contains(&report, "repaired: cleared"));
  plexus_value_free(&report);
  /* The mutex is free, and its next locker still learns that the holder died. */
  EXPECT(plexus_mutex_lock(m, 0), PLEXUS_OWNER_DEAD);
  MUST(plexus_mutex_unlock(m));
  MUST(plexus_mutex_lock(m, 0));
  MUST(plexus_mutex_unlock(m));
  MUST(plexus_region_close(r));

  /* Bad arguments: a clear status, and *out untouched. */
  res.verdict = (plexus_check_verdict)77;
  EXPECT_MSG(plexus_region_check(NULL, 0, &res, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_check(name, 0, NULL, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_check(name, 2, &res, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_check("bad name!", 0, &res, NULL), PLEXUS_E_INVALID_ARGUMENT);
  char absent[96];
  snprintf(absent, sizeof absent, "%s-absent", name);
  EXPECT_MSG(plexus_region_check(absent, 0, &res, NULL), PLEXUS_E_NOT_FOUND);
  CHECK((int)res.verdict == 77);

  /* One damaged byte in the header (the region id, under the checksum). */
  char path[128];
  snprintf(path, sizeof path, "/dev/shm/plexus.%s", name);
  FILE *f = fopen(path, "r+b");
  CHECK(f != NULL);
  if (f) {
    int c;
    CHECK(fseek(f, 40, SEEK_SET) == 0 && (c = fgetc(f)) != EOF);
    CHECK(fseek(f, 40, SEEK_SET) == 0 && fputc(c ^ 0x5a, f) != EOF);
    fclose(f);
  }
  MUST(plexus_region_check(name, 0, &res, &report));
  CHECK(res.verdict == PLEXUS_CHECK_CORRUPT);
  CHECK(res.problems >= 1);
  CHECK(contains(&report, "CORRUPT: header: header checksum mismatch"));
  plexus_value_free(&report);
  MUST(plexus_region_check(name, PLEXUS_CHECK_REPAIR, &res, NULL));
  CHECK(res.verdict == PLEXUS_CHECK_CORRUPT && res.repair_skipped == 1 && res.repairs == 0);
  MUST(plexus_region_remove(name));
  return finish("test_check");
}
