/* Every plexus_mutex, plexus_barrier and plexus_semaphore function, used the way the
 * header documents it, within one process (threads stand in for other lockers; a
 * second region handle for another process), and bad inputs. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define MS 1000000LL

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static plexus_mutex shared_mutex;
static plexus_barrier shared_barrier;
static plexus_semaphore shared_semaphore;

/* Another thread: cannot lock (timeout) or unlock the mutex the main thread holds. */
static void *mutex_intruder(void *arg) {
  (void)arg;
  EXPECT(plexus_mutex_lock(shared_mutex, 0), PLEXUS_TIMEOUT);
  EXPECT(plexus_mutex_lock(shared_mutex, 20 * MS), PLEXUS_TIMEOUT);
  EXPECT_MSG(plexus_mutex_unlock(shared_mutex), PLEXUS_E_INVALID_ARGUMENT);
  return NULL;
}

/* Another thread: blocks until the main thread unlocks, then holds it briefly. */
static void *mutex_waiter(void *arg) {
  (void)arg;
  EXPECT(plexus_mutex_lock(shared_mutex, 10000 * MS), PLEXUS_OK);
  EXPECT(plexus_mutex_unlock(shared_mutex), PLEXUS_OK);
  return NULL;
}

/* Counts increments under the mutex from several threads. */
static long counter = 0;
static void *mutex_incrementer(void *arg) {
  (void)arg;
  for (int i = 0; i < 20000; i++) {
    MUST(plexus_mutex_lock(shared_mutex, PLEXUS_FOREVER));
    long v = counter; /* not atomic: only correct under mutual exclusion */
    counter = v + 1;
    MUST(plexus_mutex_unlock(shared_mutex));
  }
  return NULL;
}

/* A barrier party: waits once, reports its status. */
static void *barrier_party(void *arg) {
  plexus_status *status = arg;
  *status = plexus_barrier_wait(shared_barrier, 10000 * MS);
  return NULL;
}

/* Waits for a permit (given back by the main thread after a pause); records when it
 * got it. */
static void *semaphore_waiter(void *arg) {
  double *acquired_at = arg;
  EXPECT(plexus_semaphore_acquire(shared_semaphore, 10000 * MS), PLEXUS_OK);
  *acquired_at = now_ms();
  return NULL;
}

/* Releases a permit acquired by another thread of the same region handle. */
static void *semaphore_releaser(void *arg) {
  (void)arg;
  EXPECT(plexus_semaphore_release(shared_semaphore), PLEXUS_OK);
  return NULL;
}

static void test_mutex(plexus_region r, plexus_region r2) {
  plexus_mutex m, again;
  MUST(plexus_mutex_open(r, "m", &m));
  MUST(plexus_mutex_open(r, "m", &again));
  CHECK(m.id == again.id); /* same handle, two opens */
  bool locked = true;
  MUST(plexus_mutex_is_locked(m, &locked));
  CHECK(!locked);

  EXPECT(plexus_mutex_lock(m, 0), PLEXUS_OK);
  MUST(plexus_mutex_is_locked(m, &locked));
  CHECK(locked);
  /* Not recursive: the holder locking again is an error, not a deadlock. */
  EXPECT_MSG(plexus_mutex_lock(m, PLEXUS_FOREVER), PLEXUS_E_INVALID_ARGUMENT);
  CHECK(strstr(plexus_last_error(), "already holds") != NULL);
  EXPECT_MSG(plexus_mutex_lock(m, -5), PLEXUS_E_INVALID_ARGUMENT);

  shared_mutex = m;
  pthread_t t;
  pthread_create(&t, NULL, mutex_intruder, NULL);
  pthread_join(t, NULL);

  /* Another region handle (as another process would): neither lock nor unlock. */
  plexus_mutex m2;
  MUST(plexus_mutex_open(r2, "m", &m2));
  CHECK(m2.id != m.id);
  EXPECT(plexus_mutex_lock(m2, 10 * MS), PLEXUS_TIMEOUT);
  EXPECT_MSG(plexus_mutex_unlock(m2), PLEXUS_E_INVALID_ARGUMENT);

  /* A blocked locker is woken by the unlock. */
  pthread_create(&t, NULL, mutex_waiter, NULL);
  usleep(30 * 1000);
  EXPECT(plexus_mutex_unlock(m), PLEXUS_OK);
  pthread_join(t, NULL);
  EXPECT_MSG(plexus_mutex_unlock(m), PLEXUS_E_INVALID_ARGUMENT); /* not locked */
  CHECK(strstr(plexus_last_error(), "not locked") != NULL);

  /* Mutual exclusion between threads. */
  pthread_t ts[4];
  for (int i = 0; i < 4; i++) pthread_create(&ts[i], NULL, mutex_incrementer, NULL);
  for (int i = 0; i < 4; i++) pthread_join(ts[i], NULL);
  CHECK(counter == 80000);

  /* The holder's region handle closes while holding it: the next locker gets
   * PLEXUS_OWNER_DEAD, and holds the mutex. */
  plexus_region r3;
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  char name[128];
  snprintf(name, sizeof name, "%s", created_region);
  MUST(plexus_region_open(name, &o, &r3));
  plexus_mutex m3;
  MUST(plexus_mutex_open(r3, "m", &m3));
  EXPECT(plexus_mutex_lock(m3, 0), PLEXUS_OK);
  EXPECT(plexus_mutex_lock(m, 0), PLEXUS_TIMEOUT);
  uint64_t recovered = plexus_recovered_locks();
  MUST(plexus_region_close(r3));
  EXPECT(plexus_mutex_lock(m3, 0), PLEXUS_E_BAD_HANDLE); /* closed with its region */
  EXPECT(plexus_mutex_lock(m, 5000 * MS), PLEXUS_OWNER_DEAD);
  CHECK(plexus_recovered_locks() > recovered);
  EXPECT(plexus_mutex_lock(m2, 0), PLEXUS_TIMEOUT); /* we hold it */
  EXPECT(plexus_mutex_unlock(m), PLEXUS_OK);
  EXPECT(plexus_mutex_lock(m, 0), PLEXUS_OK); /* back to normal */
  EXPECT(plexus_mutex_unlock(m), PLEXUS_OK);

  /* Handle release: counted opens, then BAD_HANDLE. */
  EXPECT(plexus_mutex_close(again), PLEXUS_OK);
  EXPECT(plexus_mutex_lock(m, 0), PLEXUS_OK); /* one open left */
  EXPECT(plexus_mutex_unlock(m), PLEXUS_OK);
  EXPECT(plexus_mutex_close(m), PLEXUS_OK);
  EXPECT_MSG(plexus_mutex_close(m), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_mutex_lock(m, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_mutex_unlock(m), PLEXUS_E_BAD_HANDLE);
  EXPECT(plexus_mutex_close(m2), PLEXUS_OK);
}

static void test_barrier(plexus_region r) {
  plexus_barrier b, b1;
  EXPECT_MSG(plexus_barrier_open(r, "b", 0, &b), PLEXUS_E_NOT_FOUND);
  MUST(plexus_barrier_open(r, "b", 2, &b));
  uint32_t parties = 0;
  MUST(plexus_barrier_parties(b, &parties));
  CHECK(parties == 2);
  plexus_barrier b_again;
  MUST(plexus_barrier_open(r, "b", 0, &b_again));
  CHECK(b_again.id == b.id);
  EXPECT_MSG(plexus_barrier_open(r, "b", 3, &b_again), PLEXUS_E_INCOMPATIBLE);

  /* One party: every wait passes at once and is the last. */
  MUST(plexus_barrier_open(r, "solo", 1, &b1));
  bool last = false;
  EXPECT(plexus_barrier_wait(b1, 0), PLEXUS_OK);
  EXPECT(plexus_barrier_wait_last(b1, PLEXUS_FOREVER, &last), PLEXUS_OK);
  CHECK(last);

  /* Alone at a barrier of two: timeout, and the arrival is withdrawn... */
  double t = now_ms();
  EXPECT(plexus_barrier_wait(b, 30 * MS), PLEXUS_TIMEOUT);
  CHECK(now_ms() - t >= 29.0);
  EXPECT(plexus_barrier_wait(b, 0), PLEXUS_TIMEOUT);
  /* ...so a try-once arrival cannot complete the round with the withdrawn ones: it
   * still takes two parties, a waiting thread and this one. */
  shared_barrier = b;
  plexus_status other = PLEXUS_E_INTERNAL;
  pthread_t th;
  pthread_create(&th, NULL, barrier_party, &other);
  usleep(30 * 1000);
  last = false;
  EXPECT(plexus_barrier_wait_last(b, 0, &last), PLEXUS_OK);
  CHECK(last); /* this arrival completed the round */
  pthread_join(th, NULL);
  CHECK(other == PLEXUS_OK);

  /* Reusable: 200 rounds with a thread. */
  for (int round = 0; round < 200; round++) {
    pthread_create(&th, NULL, barrier_party, &other);
    EXPECT(plexus_barrier_wait(b, 10000 * MS), PLEXUS_OK);
    pthread_join(th, NULL);
    CHECK(other == PLEXUS_OK);
  }

  EXPECT_MSG(plexus_barrier_wait(b, -2), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_barrier_wait_last(b, 0, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_barrier_parties(b, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT(plexus_barrier_close(b_again), PLEXUS_OK);
  EXPECT(plexus_barrier_close(b), PLEXUS_OK);
  EXPECT_MSG(plexus_barrier_close(b), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_barrier_wait(b, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT(plexus_barrier_close(b1), PLEXUS_OK);
}

static void test_semaphore(plexus_region r, plexus_region r2) {
  plexus_semaphore s, s2, s_again;
  EXPECT_MSG(plexus_semaphore_open(r, "s", 0, &s), PLEXUS_E_NOT_FOUND);
  MUST(plexus_semaphore_open(r, "s", 2, &s));
  MUST(plexus_semaphore_open(r, "s", 2, &s_again));
  CHECK(s_again.id == s.id);
  EXPECT_MSG(plexus_semaphore_open(r, "s", 3, &s_again), PLEXUS_E_INCOMPATIBLE);
  MUST(plexus_semaphore_open(r2, "s", 0, &s2));
  uint32_t n = 0;
  MUST(plexus_semaphore_permits(s2, &n));
  CHECK(n == 2);
  MUST(plexus_semaphore_available(s, &n));
  CHECK(n == 2);

  /* Releasing without holding a permit is an error. */
  EXPECT_MSG(plexus_semaphore_release(s), PLEXUS_E_INVALID_ARGUMENT);
  /* Count limits: two permits, then none. */
  EXPECT(plexus_semaphore_acquire(s, 0), PLEXUS_OK);
  EXPECT(plexus_semaphore_acquire(s2, 0), PLEXUS_OK);
  EXPECT(plexus_semaphore_acquire(s, 0), PLEXUS_TIMEOUT);
  double t = now_ms();
  EXPECT(plexus_semaphore_acquire(s2, 20 * MS), PLEXUS_TIMEOUT);
  CHECK(now_ms() - t >= 19.0);
  MUST(plexus_semaphore_available(s, &n));
  CHECK(n == 0);
  MUST(plexus_semaphore_held(s, &n));
  CHECK(n == 1);
  MUST(plexus_semaphore_held(s2, &n));
  CHECK(n == 1);

  /* A waiter is woken by a release. */
  shared_semaphore = s;
  double acquired_at = -1;
  pthread_t th;
  pthread_create(&th, NULL, semaphore_waiter, &acquired_at);
  usleep(30 * 1000);
  double released_at = now_ms();
  EXPECT(plexus_semaphore_release(s2), PLEXUS_OK);
  pthread_join(th, NULL);
  CHECK(acquired_at >= released_at); /* it waited for the release */
  EXPECT_MSG(plexus_semaphore_release(s2), PLEXUS_E_INVALID_ARGUMENT); /* holds none now */
  MUST(plexus_semaphore_held(s, &n));
  CHECK(n == 2); /* this region handle: main thread's and the waiter thread's */

  /* Any thread of the holding region handle may release. */
  pthread_create(&th, NULL, semaphore_releaser, NULL);
  pthread_join(th, NULL);
  EXPECT(plexus_semaphore_release(s), PLEXUS_OK);
  EXPECT(plexus_semaphore_release(s), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_semaphore_available(s, &n));
  CHECK(n == 2);

  /* Permits of a closed region handle come back. */
  plexus_region r3;
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_OPEN;
  char name[128];
  snprintf(name, sizeof name, "%s", created_region);
  MUST(plexus_region_open(name, &o, &r3));
  plexus_semaphore s3;
  MUST(plexus_semaphore_open(r3, "s", 0, &s3));
  EXPECT(plexus_semaphore_acquire(s3, 0), PLEXUS_OK);
  EXPECT(plexus_semaphore_acquire(s3, 0), PLEXUS_OK);
  EXPECT(plexus_semaphore_acquire(s, 0), PLEXUS_TIMEOUT);
  MUST(plexus_region_close(r3));
  EXPECT(plexus_semaphore_acquire(s, 0), PLEXUS_OK);
  EXPECT(plexus_semaphore_acquire(s2, 0), PLEXUS_OK);
  EXPECT(plexus_semaphore_release(s), PLEXUS_OK);
  EXPECT(plexus_semaphore_release(s2), PLEXUS_OK);

  /* Bad inputs. */
  EXPECT_MSG(plexus_semaphore_acquire(s, -3), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_semaphore_available(s, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_semaphore_permits(s, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_semaphore_held(s, NULL), PLEXUS_E_INVALID_ARGUMENT);

  /* Handle close (not a permit release). */
  EXPECT(plexus_semaphore_close(s_again), PLEXUS_OK);
  EXPECT(plexus_semaphore_close(s), PLEXUS_OK);
  EXPECT_MSG(plexus_semaphore_close(s), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_semaphore_acquire(s, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_semaphore_release(s), PLEXUS_E_BAD_HANDLE);
  EXPECT(plexus_semaphore_close(s2), PLEXUS_OK);
}

static void test_bad_inputs(plexus_region r) {
  plexus_mutex m = {12345};
  plexus_barrier b = {12345};
  plexus_semaphore s = {12345};
  plexus_region none = {0};
  bool flag;
  uint32_t n;

  EXPECT_MSG(plexus_mutex_open(r, NULL, &m), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_mutex_open(r, "m", NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_mutex_open(r, "", &m), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_mutex_open(r, "\xff\xfe", &m), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_mutex_open(none, "m", &m), PLEXUS_E_BAD_HANDLE);
  CHECK(m.id == 12345); /* unchanged on failure */
  EXPECT_MSG(plexus_barrier_open(r, NULL, 2, &b), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_barrier_open(r, "b", 2, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_barrier_open(none, "b", 2, &b), PLEXUS_E_BAD_HANDLE);
  CHECK(b.id == 12345);
  EXPECT_MSG(plexus_semaphore_open(r, NULL, 1, &s), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_semaphore_open(r, "s", 1, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_semaphore_open(none, "s", 1, &s), PLEXUS_E_BAD_HANDLE);
  CHECK(s.id == 12345);

  /* Kinds: each name belongs to one kind of object. */
  plexus_array a;
  MUST(plexus_array_open(r, "an-array", 1, 0, &a));
  EXPECT_MSG(plexus_mutex_open(r, "an-array", &m), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_barrier_open(r, "an-array", 2, &b), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_semaphore_open(r, "an-array", 1, &s), PLEXUS_E_TYPE_MISMATCH);
  plexus_mutex km;
  MUST(plexus_mutex_open(r, "kind-m", &km));
  EXPECT_MSG(plexus_semaphore_open(r, "kind-m", 1, &s), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_barrier_open(r, "kind-m", 0, &b), PLEXUS_E_TYPE_MISMATCH);
  EXPECT_MSG(plexus_array_open(r, "kind-m", 1, 0, &a), PLEXUS_E_TYPE_MISMATCH);

  /* Zero, forged and wrong-kind handles. */
  plexus_mutex zero_m = {0};
  plexus_barrier zero_b = {0};
  plexus_semaphore zero_s = {0};
  EXPECT_MSG(plexus_mutex_lock(zero_m, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_mutex_unlock(zero_m), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_mutex_is_locked(zero_m, &flag), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_mutex_close(zero_m), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_barrier_wait(zero_b, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_barrier_wait_last(zero_b, 0, &flag), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_barrier_parties(zero_b, &n), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_barrier_close(zero_b), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_semaphore_acquire(zero_s, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_semaphore_release(zero_s), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_semaphore_close(zero_s), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_semaphore_available(zero_s, &n), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_mutex_lock(m, 0), PLEXUS_E_BAD_HANDLE); /* forged */
  plexus_mutex as_mutex = {a.id};
  plexus_semaphore as_semaphore = {km.id};
  plexus_barrier as_barrier = {r.id};
  EXPECT_MSG(plexus_mutex_lock(as_mutex, 0), PLEXUS_E_BAD_HANDLE);
  CHECK(strstr(plexus_last_error(), "array") != NULL);
  EXPECT_MSG(plexus_semaphore_acquire(as_semaphore, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_barrier_wait(as_barrier, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_mutex_is_locked(km, NULL), PLEXUS_E_INVALID_ARGUMENT);
  MUST(plexus_mutex_close(km));
  MUST(plexus_array_close(a));
}

int main(void) {
  char name[64];
  unique_name(name, sizeof name, "clocks");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.size = 1 << 20;
  o.mode = PLEXUS_CREATE;
  plexus_region r, r2;
  MUST(plexus_region_open(name, &o, &r));
  o.mode = PLEXUS_OPEN;
  MUST(plexus_region_open(name, &o, &r2)); /* a second attachment, as another process */

  test_mutex(r, r2);
  test_barrier(r);
  test_semaphore(r, r2);
  test_bad_inputs(r);

  /* Closing the region closes the lock handles opened through it. */
  plexus_mutex m;
  plexus_semaphore s;
  plexus_barrier b;
  MUST(plexus_mutex_open(r2, "late", &m));
  MUST(plexus_semaphore_open(r2, "late-s", 1, &s));
  MUST(plexus_barrier_open(r2, "late-b", 1, &b));
  MUST(plexus_region_close(r2));
  EXPECT_MSG(plexus_mutex_lock(m, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_semaphore_acquire(s, 0), PLEXUS_E_BAD_HANDLE);
  EXPECT_MSG(plexus_barrier_wait(b, 0), PLEXUS_E_BAD_HANDLE);

  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish("test_locks");
}
