/* lock_worker <role> <region> [args]: one process of the multi-process lock tests
 * (tests/ffi.rs and scenarios.sh). The region must exist (it is opened, waiting up to
 * 5 s for it; `create` makes it). Exit status 0 when the role's checks pass, 1 (with a message) when one
 * fails, 2 on bad usage.
 *
 *   create <region>              creates the region (1 MiB) and exits
 *   mutex-hold <region>          locks mutex "m", prints "locked", then sleeps until
 *                                killed
 *   mutex-after-kill <region>    the holder was killed: lock gives PLEXUS_OWNER_DEAD
 *                                within 5 s, then unlock, lock (PLEXUS_OK), unlock
 *   sem-hold <region>            takes the one permit of semaphore "s" (1 permit),
 *                                prints "held", then sleeps until killed
 *   sem-busy <region>            the holder lives: a try-once acquire of "s" times out
 *   sem-acquire <region>         acquire of "s" succeeds within 5 s (then releases it)
 *   barrier <region> <index> <parties> <rounds>
 *                                meets the others at barrier "b" for <rounds> rounds;
 *                                before each wait it writes its round number to element
 *                                <index> of array "progress", after passing round k it
 *                                checks that every party's element is k or k + 1 (nobody
 *                                passed round k before all arrived at it)
 */
#include "common.h"

#include <stdint.h>

#define MS 1000000LL

static plexus_region open_region(const char *name) {
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  o.wait_ns = 5000 * MS;
  plexus_region r;
  MUST(plexus_region_open(name, &o, &r));
  return r;
}

static void sleep_until_killed(void) {
  for (;;) pause();
}

static int fail(const char *role, const char *what, plexus_status s) {
  fprintf(stderr, "lock_worker %s: %s: %s (%s)\n", role, what, plexus_status_name(s),
          plexus_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: lock_worker <role> <region> [args]\n");
    return 2;
  }
  const char *role = argv[1];
  if (strcmp(role, "create") == 0) {
    plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
    o.size = 1 << 20;
    plexus_region created;
    MUST(plexus_region_open(argv[2], &o, &created));
    MUST(plexus_region_close(created));
    return 0;
  }
  plexus_region r = open_region(argv[2]);
  plexus_status s;

  if (strcmp(role, "mutex-hold") == 0) {
    plexus_mutex m;
    MUST(plexus_mutex_open(r, "m", &m));
    if ((s = plexus_mutex_lock(m, 0)) != PLEXUS_OK) return fail(role, "lock", s);
    printf("locked\n");
    fflush(stdout);
    sleep_until_killed();
  }
  if (strcmp(role, "mutex-after-kill") == 0) {
    plexus_mutex m;
    MUST(plexus_mutex_open(r, "m", &m));
    if ((s = plexus_mutex_lock(m, 5000 * MS)) != PLEXUS_OWNER_DEAD)
      return fail(role, "lock after the holder was killed", s);
    if ((s = plexus_mutex_unlock(m)) != PLEXUS_OK) return fail(role, "unlock", s);
    if ((s = plexus_mutex_lock(m, 0)) != PLEXUS_OK) return fail(role, "second lock", s);
    if ((s = plexus_mutex_unlock(m)) != PLEXUS_OK) return fail(role, "second unlock", s);
    printf("owner dead, recovered\n");
    return 0;
  }
  if (strcmp(role, "sem-hold") == 0 || strcmp(role, "sem-busy") == 0 ||
      strcmp(role, "sem-acquire") == 0) {
    plexus_semaphore sem;
    MUST(plexus_semaphore_open(r, "s", 1, &sem));
    if (strcmp(role, "sem-hold") == 0) {
      if ((s = plexus_semaphore_acquire(sem, 0)) != PLEXUS_OK) return fail(role, "acquire", s);
      printf("held\n");
      fflush(stdout);
      sleep_until_killed();
    }
    if (strcmp(role, "sem-busy") == 0) {
      if ((s = plexus_semaphore_acquire(sem, 0)) != PLEXUS_TIMEOUT)
        return fail(role, "acquire while the holder lives", s);
      return 0;
    }
    if ((s = plexus_semaphore_acquire(sem, 5000 * MS)) != PLEXUS_OK)
      return fail(role, "acquire after the holder was killed", s);
    if ((s = plexus_semaphore_release(sem)) != PLEXUS_OK) return fail(role, "release", s);
    printf("acquired\n");
    return 0;
  }
  if (strcmp(role, "barrier") == 0 && argc == 6) {
    uint64_t index = strtoull(argv[3], NULL, 10);
    uint32_t parties = (uint32_t)strtoul(argv[4], NULL, 10);
    long rounds = strtol(argv[5], NULL, 10);
    plexus_barrier b;
    plexus_array progress;
    MUST(plexus_barrier_open(r, "b", parties, &b));
    MUST(plexus_array_open(r, "progress", parties, 0, &progress));
    for (long k = 1; k <= rounds; k++) {
      plexus_value mine = plexus_int(k);
      MUST(plexus_array_write(progress, index, &mine));
      if ((s = plexus_barrier_wait(b, 10000 * MS)) != PLEXUS_OK)
        return fail(role, "barrier wait", s);
      for (uint64_t j = 0; j < parties; j++) {
        plexus_value v;
        MUST(plexus_array_read(progress, j, &v));
        if (v.type != PLEXUS_INT || v.as.i < k || v.as.i > k + 1) {
          fprintf(stderr,
                  "lock_worker barrier: party %llu passed round %ld while party %llu was at "
                  "%lld\n",
                  (unsigned long long)index, k, (unsigned long long)j,
                  v.type == PLEXUS_INT ? (long long)v.as.i : -1LL);
          return 1;
        }
      }
    }
    printf("barrier: %ld rounds\n", rounds);
    return 0;
  }
  fprintf(stderr, "lock_worker: unknown role '%s' (or wrong arguments)\n", role);
  return 2;
}
