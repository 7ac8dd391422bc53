/* plexus_region_remove_object within one process (threads stand in for blocked users in
 * other processes; a second region handle for another process's handles): for every
 * kind, the handle returns PLEXUS_E_REMOVED after the removal, closing it is PLEXUS_OK,
 * removing the name again gives PLEXUS_E_NOT_FOUND, and the name can be created again at
 * once, as another kind or the same; calls blocked in a removed object wake with
 * PLEXUS_E_REMOVED; a reopen never hands back a handle on the removed object; bad
 * inputs. (The two-process case is remove_object_worker.c.) */
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define MS 1000000LL

static plexus_region r;

/* `name` is gone: removing it again gives NOT_FOUND, an open-only open finds nothing,
 * and the region's object list does not have it. */
static void expect_gone(const char *name) {
  EXPECT_MSG(plexus_region_remove_object(r, name), PLEXUS_E_NOT_FOUND);
  plexus_array a;
  EXPECT(plexus_array_open(r, name, 0, 0, &a), PLEXUS_E_NOT_FOUND);
  plexus_queue q;
  EXPECT(plexus_queue_open(r, name, 0, 0, &q), PLEXUS_E_NOT_FOUND);
  plexus_region_info info;
  MUST(plexus_region_get_info(r, &info));
  uint64_t cursor = 0, listed = 0;
  plexus_object_info o;
  bool found = true;
  for (;;) {
    MUST(plexus_region_next_object(r, &cursor, &o, &found));
    if (!found) break;
    listed++;
    if (strcmp(o.name, name) == 0) {
      fprintf(stderr, "removed object '%s' is still listed (as a %s)\n", name, o.kind);
      failures++;
    }
  }
  CHECK(listed == info.object_count);
}

static void test_array(void) {
  plexus_array a;
  MUST(plexus_array_open(r, "rm-array", 4, 0, &a));
  plexus_value v = plexus_int(42), out;
  MUST(plexus_array_write_xf(a, 0, &v));
  MUST(plexus_region_remove_object(r, "rm-array"));
  EXPECT_MSG(plexus_array_read(a, 0, &out), PLEXUS_E_REMOVED);
  EXPECT_MSG(plexus_array_write(a, 1, &v), PLEXUS_E_REMOVED);
  EXPECT(plexus_array_read_fe(a, 0, &out, 0), PLEXUS_E_REMOVED);
  EXPECT(plexus_array_faa(a, 0, &v, NULL), PLEXUS_E_REMOVED);
  uint64_t version;
  EXPECT(plexus_array_version(a, 0, &version), PLEXUS_E_REMOVED);
  EXPECT(plexus_array_read(a, 0, &out), PLEXUS_E_REMOVED); /* and again */
  EXPECT(plexus_array_close(a), PLEXUS_OK);
  EXPECT(plexus_array_close(a), PLEXUS_E_BAD_HANDLE);
  expect_gone("rm-array");
  /* Created again at once, as a map: a new, empty object. */
  plexus_map m;
  MUST(plexus_map_open(r, "rm-array", 8, 0, &m));
  uint64_t len = 99;
  MUST(plexus_map_len(m, &len));
  CHECK(len == 0);
  MUST(plexus_map_close(m));
  MUST(plexus_region_remove_object(r, "rm-array"));
}

static void test_map(void) {
  plexus_map m;
  MUST(plexus_map_open(r, "rm-map", 8, 0, &m));
  plexus_value v = plexus_string("x"), out;
  MUST(plexus_map_write_xf(m, "k", &v));
  MUST(plexus_region_remove_object(r, "rm-map"));
  EXPECT_MSG(plexus_map_read(m, "k", &out), PLEXUS_E_REMOVED);
  EXPECT(plexus_map_write(m, "k", &v), PLEXUS_E_REMOVED);
  EXPECT(plexus_map_remove(m, "k"), PLEXUS_E_REMOVED);
  uint64_t len;
  EXPECT(plexus_map_len(m, &len), PLEXUS_E_REMOVED);
  EXPECT(plexus_map_close(m), PLEXUS_OK);
  expect_gone("rm-map");
  /* Created again at once, as a queue. */
  plexus_queue q;
  MUST(plexus_queue_open(r, "rm-map", 2, 0, &q));
  MUST(plexus_queue_push(q, &v, 0));
  MUST(plexus_queue_pop(q, &out, 0));
  plexus_value_free(&out);
  MUST(plexus_queue_close(q));
  MUST(plexus_region_remove_object(r, "rm-map"));
}

static void test_queue(void) {
  plexus_queue q;
  MUST(plexus_queue_open(r, "rm-queue", 4, 0, &q));
  plexus_value v = plexus_int(1), out;
  MUST(plexus_queue_push(q, &v, 0));
  MUST(plexus_region_remove_object(r, "rm-queue"));
  EXPECT_MSG(plexus_queue_pop(q, &out, 0), PLEXUS_E_REMOVED); /* its value went with it */
  EXPECT(plexus_queue_push(q, &v, 0), PLEXUS_E_REMOVED);
  uint64_t len;
  EXPECT(plexus_queue_len(q, &len), PLEXUS_E_REMOVED);
  bool shut = false;
  EXPECT(plexus_queue_is_shutdown(q, &shut), PLEXUS_E_REMOVED);
  EXPECT(plexus_queue_shutdown(q), PLEXUS_E_REMOVED);
  EXPECT(plexus_queue_close(q), PLEXUS_OK);
  expect_gone("rm-queue");
  /* Created again at once, as a queue of another capacity: new and empty. */
  plexus_queue q2;
  MUST(plexus_queue_open(r, "rm-queue", 8, 0, &q2));
  uint64_t cap = 0;
  MUST(plexus_queue_capacity(q2, &cap));
  CHECK(cap == 8);
  EXPECT(plexus_queue_pop(q2, &out, 0), PLEXUS_TIMEOUT);
  MUST(plexus_queue_close(q2));
  MUST(plexus_region_remove_object(r, "rm-queue"));
}

/* A queue that was shut down starts again by being removed and created again. */
static void test_queue_restart(void) {
  plexus_queue q, q2;
  MUST(plexus_queue_open(r, "rm-restart", 4, 0, &q));
  MUST(plexus_queue_shutdown(q));
  plexus_value v = plexus_int(7), out;
  EXPECT(plexus_queue_push(q, &v, 0), PLEXUS_CLOSED);
  MUST(plexus_region_remove_object(r, "rm-restart"));
  MUST(plexus_queue_open(r, "rm-restart", 4, 0, &q2));
  CHECK(q2.id != q.id);
  bool shut = true;
  MUST(plexus_queue_is_shutdown(q2, &shut));
  CHECK(!shut);
  EXPECT(plexus_queue_push(q2, &v, 0), PLEXUS_OK);
  EXPECT(plexus_queue_pop(q2, &out, 0), PLEXUS_OK);
  CHECK(out.type == PLEXUS_INT && out.as.i == 7);
  EXPECT(plexus_queue_push(q, &v, 0), PLEXUS_E_REMOVED); /* the old handle */
  MUST(plexus_queue_close(q));
  MUST(plexus_queue_close(q2));
  MUST(plexus_region_remove_object(r, "rm-restart"));
}

static void test_bus(void) {
  plexus_bus b;
  plexus_sub s;
  MUST(plexus_bus_open(r, "rm-bus", 8, 0, &b));
  MUST(plexus_bus_subscribe(b, PLEXUS_FROM_OLDEST, &s));
  plexus_value v = plexus_int(1), out;
  uint64_t seq = 0;
  MUST(plexus_bus_publish(b, &v, &seq));
  MUST(plexus_bus_publish(b, &v, &seq));
  CHECK(seq == 2);
  MUST(plexus_region_remove_object(r, "rm-bus"));
  EXPECT_MSG(plexus_bus_publish(b, &v, &seq), PLEXUS_E_REMOVED);
  EXPECT(plexus_sub_next(s, &out, &seq, 0), PLEXUS_E_REMOVED);
  plexus_sub s2;
  EXPECT(plexus_bus_subscribe(b, PLEXUS_FROM_NOW, &s2), PLEXUS_E_REMOVED);
  EXPECT(plexus_bus_shutdown(b), PLEXUS_E_REMOVED);
  EXPECT(plexus_sub_close(s), PLEXUS_OK);
  EXPECT(plexus_bus_close(b), PLEXUS_OK);
  expect_gone("rm-bus");
  /* Created again at once, as a bus: a new one, numbering from 1. */
  MUST(plexus_bus_open(r, "rm-bus", 8, 0, &b));
  MUST(plexus_bus_publish(b, &v, &seq));
  CHECK(seq == 1);
  MUST(plexus_bus_close(b));
  MUST(plexus_region_remove_object(r, "rm-bus"));
}

static void test_mutex(void) {
  plexus_mutex m;
  MUST(plexus_mutex_open(r, "rm-mutex", &m));
  MUST(plexus_mutex_lock(m, 0));
  MUST(plexus_region_remove_object(r, "rm-mutex"));
  EXPECT_MSG(plexus_mutex_unlock(m), PLEXUS_E_REMOVED);
  EXPECT(plexus_mutex_lock(m, 0), PLEXUS_E_REMOVED);
  EXPECT(plexus_mutex_close(m), PLEXUS_OK);
  expect_gone("rm-mutex");
  /* Created again at once, as a mutex: a new one, unlocked (the held lock went with the
   * old one: no PLEXUS_OWNER_DEAD). */
  MUST(plexus_mutex_open(r, "rm-mutex", &m));
  EXPECT(plexus_mutex_lock(m, 0), PLEXUS_OK);
  EXPECT(plexus_mutex_unlock(m), PLEXUS_OK);
  MUST(plexus_mutex_close(m));
  MUST(plexus_region_remove_object(r, "rm-mutex"));
}

static void test_barrier(void) {
  plexus_barrier b;
  MUST(plexus_barrier_open(r, "rm-barrier", 2, &b));
  MUST(plexus_region_remove_object(r, "rm-barrier"));
  EXPECT_MSG(plexus_barrier_wait(b, 0), PLEXUS_E_REMOVED);
  bool last = false;
  EXPECT(plexus_barrier_wait_last(b, 0, &last), PLEXUS_E_REMOVED);
  EXPECT(plexus_barrier_close(b), PLEXUS_OK);
  expect_gone("rm-barrier");
  /* Created again at once, as a semaphore. */
  plexus_semaphore s;
  MUST(plexus_semaphore_open(r, "rm-barrier", 3, &s));
  uint32_t n = 0;
  MUST(plexus_semaphore_available(s, &n));
  CHECK(n == 3);
  MUST(plexus_semaphore_close(s));
  MUST(plexus_region_remove_object(r, "rm-barrier"));
}

static void test_semaphore(void) {
  plexus_semaphore s;
  MUST(plexus_semaphore_open(r, "rm-sem", 2, &s));
  MUST(plexus_semaphore_acquire(s, 0));
  MUST(plexus_region_remove_object(r, "rm-sem"));
  EXPECT_MSG(plexus_semaphore_release(s), PLEXUS_E_REMOVED);
  EXPECT(plexus_semaphore_acquire(s, 0), PLEXUS_E_REMOVED);
  uint32_t n;
  EXPECT(plexus_semaphore_available(s, &n), PLEXUS_E_REMOVED);
  EXPECT(plexus_semaphore_close(s), PLEXUS_OK);
  expect_gone("rm-sem");
  /* Created again at once with another number of permits (the old one would make that
   * PLEXUS_E_INCOMPATIBLE): all available. */
  MUST(plexus_semaphore_open(r, "rm-sem", 1, &s));
  MUST(plexus_semaphore_available(s, &n));
  CHECK(n == 1);
  MUST(plexus_semaphore_close(s));
  MUST(plexus_region_remove_object(r, "rm-sem"));
}

/* Opening a name again after its object was removed gives a handle on the new object,
 * never the old handle, even while the old handle is still open: through the region
 * handle that removed it, and through another one (another process's, in effect). */
static void test_reopen_gives_the_new_object(void) {
  plexus_queue q, again, q2;
  MUST(plexus_queue_open(r, "rm-reopen", 4, 0, &q));
  MUST(plexus_queue_open(r, "rm-reopen", 4, 0, &again));
  CHECK(q.id == again.id); /* one handle, two opens */
  MUST(plexus_region_remove_object(r, "rm-reopen"));
  MUST(plexus_queue_open(r, "rm-reopen", 4, 0, &q2));
  CHECK(q2.id != q.id);
  plexus_value v = plexus_int(5), out;
  EXPECT(plexus_queue_push(q2, &v, 0), PLEXUS_OK);
  EXPECT(plexus_queue_push(q, &v, 0), PLEXUS_E_REMOVED);
  uint64_t len = 0;
  MUST(plexus_queue_len(q2, &len));
  CHECK(len == 1);
  /* The old handle is closed as many times as it was opened, then it is gone. */
  EXPECT(plexus_queue_close(q), PLEXUS_OK);
  EXPECT(plexus_queue_close(q), PLEXUS_OK);
  EXPECT(plexus_queue_close(q), PLEXUS_E_BAD_HANDLE);
  EXPECT(plexus_queue_pop(q2, &out, 0), PLEXUS_OK);
  MUST(plexus_queue_close(q2));
  MUST(plexus_region_remove_object(r, "rm-reopen"));

  /* Another region handle of the same region. */
  plexus_region r2;
  MUST(plexus_region_open(created_region, NULL, &r2));
  const char *kinds[] = {"array", "map", "queue", "bus", "mutex", "semaphore"};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    uint64_t old_id = 0, new_id = 0;
    plexus_status st = PLEXUS_OK;
    const char *n = "rm-other";
    switch (k) {
    case 0: {
      plexus_array a1, a2;
      MUST(plexus_array_open(r2, n, 2, 0, &a1));
      MUST(plexus_region_remove_object(r, n));
      MUST(plexus_array_open(r, n, 3, 0, &a2)); /* created again through r */
      MUST(plexus_array_close(a2));
      MUST(plexus_array_open(r2, n, 3, 0, &a2)); /* and opened again through r2 */
      old_id = a1.id;
      new_id = a2.id;
      st = plexus_array_read(a2, 2, &out);
      if (st == PLEXUS_OK) plexus_value_free(&out);
      EXPECT(plexus_array_read(a1, 0, &out), PLEXUS_E_REMOVED);
      MUST(plexus_array_close(a1));
      MUST(plexus_array_close(a2));
      break;
    }
    case 1: {
      plexus_map m1, m2;
      MUST(plexus_map_open(r2, n, 2, 0, &m1));
      MUST(plexus_region_remove_object(r, n));
      MUST(plexus_map_open(r, n, 3, 0, &m2));
      MUST(plexus_map_close(m2));
      MUST(plexus_map_open(r2, n, 3, 0, &m2));
      old_id = m1.id;
      new_id = m2.id;
      st = plexus_map_write(m2, "k", &v);
      EXPECT(plexus_map_write(m1, "k", &v), PLEXUS_E_REMOVED);
      MUST(plexus_map_close(m1));
      MUST(plexus_map_close(m2));
      break;
    }
    case 2: {
      plexus_queue q1, qq;
      MUST(plexus_queue_open(r2, n, 2, 0, &q1));
      MUST(plexus_region_remove_object(r, n));
      MUST(plexus_queue_open(r, n, 3, 0, &qq));
      MUST(plexus_queue_close(qq));
      MUST(plexus_queue_open(r2, n, 3, 0, &qq));
      old_id = q1.id;
      new_id = qq.id;
      st = plexus_queue_push(qq, &v, 0);
      EXPECT(plexus_queue_push(q1, &v, 0), PLEXUS_E_REMOVED);
      MUST(plexus_queue_close(q1));
      MUST(plexus_queue_close(qq));
      break;
    }
    case 3: {
      plexus_bus b1, b2;
      MUST(plexus_bus_open(r2, n, 2, 0, &b1));
      MUST(plexus_region_remove_object(r, n));
      MUST(plexus_bus_open(r, n, 3, 0, &b2));
      MUST(plexus_bus_close(b2));
      MUST(plexus_bus_open(r2, n, 3, 0, &b2));
      old_id = b1.id;
      new_id = b2.id;
      st = plexus_bus_publish(b2, &v, NULL);
      EXPECT(plexus_bus_publish(b1, &v, NULL), PLEXUS_E_REMOVED);
      MUST(plexus_bus_close(b1));
      MUST(plexus_bus_close(b2));
      break;
    }
    case 4: {
      plexus_mutex m1, m2;
      MUST(plexus_mutex_open(r2, n, &m1));
      MUST(plexus_region_remove_object(r, n));
      MUST(plexus_mutex_open(r, n, &m2));
      MUST(plexus_mutex_close(m2));
      MUST(plexus_mutex_open(r2, n, &m2));
      old_id = m1.id;
      new_id = m2.id;
      st = plexus_mutex_lock(m2, 0);
      if (st == PLEXUS_OK) MUST(plexus_mutex_unlock(m2));
      EXPECT(plexus_mutex_lock(m1, 0), PLEXUS_E_REMOVED);
      MUST(plexus_mutex_close(m1));
      MUST(plexus_mutex_close(m2));
      break;
    }
    case 5: {
      plexus_semaphore s1, s2;
      MUST(plexus_semaphore_open(r2, n, 2, &s1));
      MUST(plexus_region_remove_object(r, n));
      MUST(plexus_semaphore_open(r, n, 3, &s2));
      MUST(plexus_semaphore_close(s2));
      MUST(plexus_semaphore_open(r2, n, 3, &s2));
      old_id = s1.id;
      new_id = s2.id;
      st = plexus_semaphore_acquire(s2, 0);
      if (st == PLEXUS_OK) MUST(plexus_semaphore_release(s2));
      EXPECT(plexus_semaphore_acquire(s1, 0), PLEXUS_E_REMOVED);
      MUST(plexus_semaphore_close(s1));
      MUST(plexus_semaphore_close(s2));
      break;
    }
    }
    if (old_id == new_id || st != PLEXUS_OK) {
      fprintf(stderr,
              "%s removed and created again: reopening it through another region handle "
              "gave %s handle, whose first call returned %s (%s)\n",
              kinds[k], old_id == new_id ? "the old" : "a new", plexus_status_name(st),
              plexus_last_error());
      failures++;
    }
    MUST(plexus_region_remove_object(r, n));
  }
  /* A barrier: once a wait through the old handle reported the removal, reopening the
   * name gives a handle on the new barrier. */
  plexus_barrier b1, b2;
  MUST(plexus_barrier_open(r2, "rm-other", 2, &b1));
  MUST(plexus_region_remove_object(r, "rm-other"));
  MUST(plexus_barrier_open(r, "rm-other", 1, &b2));
  MUST(plexus_barrier_close(b2));
  EXPECT(plexus_barrier_wait(b1, 0), PLEXUS_E_REMOVED);
  MUST(plexus_barrier_open(r2, "rm-other", 1, &b2));
  CHECK(b2.id != b1.id);
  EXPECT(plexus_barrier_wait(b2, 0), PLEXUS_OK); /* one party: passes at once */
  MUST(plexus_barrier_close(b1));
  MUST(plexus_barrier_close(b2));
  MUST(plexus_region_remove_object(r, "rm-other"));
  MUST(plexus_region_close(r2));
}

/* ---- blocked calls wake with PLEXUS_E_REMOVED ---- */

enum blocker { POP, PUSH, READ_FE, WRITE_EF, WAIT_CHANGE, MAP_READ_FE, SUB_NEXT, LOCK, BARRIER,
               ACQUIRE, N_BLOCKERS };
static const char *blocker_names[] = {"queue pop", "queue push (full)", "array read_fe",
                                      "array write_ef (full)", "array wait_change",
                                      "map read_fe", "sub next", "mutex lock (held)",
                                      "barrier wait", "semaphore acquire (none left)"};

struct blocked {
  enum blocker what;
  uint64_t id; /* the handle it blocks on */
  plexus_status status;
};

static void *block(void *arg) {
  struct blocked *b = arg;
  plexus_value out, v = plexus_int(1);
  uint64_t version = 0;
  switch (b->what) {
  case POP: b->status = plexus_queue_pop((plexus_queue){b->id}, &out, PLEXUS_FOREVER); break;
  case PUSH: b->status = plexus_queue_push((plexus_queue){b->id}, &v, PLEXUS_FOREVER); break;
  case READ_FE:
    b->status = plexus_array_read_fe((plexus_array){b->id}, 0, &out, PLEXUS_FOREVER);
    break;
  case WRITE_EF:
    b->status = plexus_array_write_ef((plexus_array){b->id}, 0, &v, PLEXUS_FOREVER);
    break;
  case WAIT_CHANGE:
    MUST(plexus_array_version((plexus_array){b->id}, 0, &version));
    b->status = plexus_array_wait_change((plexus_array){b->id}, 0, &version, PLEXUS_FOREVER);
    break;
  case MAP_READ_FE:
    b->status = plexus_map_read_fe((plexus_map){b->id}, "k", &out, PLEXUS_FOREVER);
    break;
  case SUB_NEXT: b->status = plexus_sub_next((plexus_sub){b->id}, &out, NULL, PLEXUS_FOREVER); break;
  case LOCK: b->status = plexus_mutex_lock((plexus_mutex){b->id}, PLEXUS_FOREVER); break;
  case BARRIER: b->status = plexus_barrier_wait((plexus_barrier){b->id}, PLEXUS_FOREVER); break;
  case ACQUIRE:
    b->status = plexus_semaphore_acquire((plexus_semaphore){b->id}, PLEXUS_FOREVER);
    break;
  case N_BLOCKERS: break;
  }
  if (b->status == PLEXUS_OK && (b->what == POP || b->what == READ_FE || b->what == MAP_READ_FE ||
                                 b->what == SUB_NEXT)) {
    plexus_value_free(&out);
  }
  return NULL;
}

/* Gives back the handle a blocker used (a removed object's handle closes normally). */
static void close_blocked(const struct blocked *b) {
  switch (b->what) {
  case POP:
  case PUSH: EXPECT(plexus_queue_close((plexus_queue){b->id}), PLEXUS_OK); break;
  case READ_FE:
  case WRITE_EF:
  case WAIT_CHANGE: EXPECT(plexus_array_close((plexus_array){b->id}), PLEXUS_OK); break;
  case MAP_READ_FE: EXPECT(plexus_map_close((plexus_map){b->id}), PLEXUS_OK); break;
  case SUB_NEXT: EXPECT(plexus_sub_close((plexus_sub){b->id}), PLEXUS_OK); break;
  case LOCK: EXPECT(plexus_mutex_close((plexus_mutex){b->id}), PLEXUS_OK); break;
  case BARRIER: EXPECT(plexus_barrier_close((plexus_barrier){b->id}), PLEXUS_OK); break;
  case ACQUIRE: EXPECT(plexus_semaphore_close((plexus_semaphore){b->id}), PLEXUS_OK); break;
  case N_BLOCKERS: break;
  }
}

/* A thread blocks without limit in each kind of wait; the object is removed; the thread
 * wakes with PLEXUS_E_REMOVED. (The thread is given a moment to block first; if it has
 * not blocked yet, its call finds the object removed: the same status.) */
static void test_blocked_calls_wake(void) {
  const char *n = "rm-blocked";
  for (int w = 0; w < N_BLOCKERS; w++) {
    struct blocked b = {(enum blocker)w, 0, PLEXUS_E_INTERNAL};
    plexus_value v = plexus_int(1);
    plexus_region holder = {0}; /* LOCK: the mutex's holder, another owner */
    plexus_bus bus = {0};       /* SUB_NEXT: the subscription's bus */
    switch (b.what) {
    case POP: {
      plexus_queue q;
      MUST(plexus_queue_open(r, n, 1, 0, &q));
      b.id = q.id;
      break;
    }
    case PUSH: {
      plexus_queue q;
      MUST(plexus_queue_open(r, n, 1, 0, &q));
      MUST(plexus_queue_push(q, &v, 0)); /* full */
      b.id = q.id;
      break;
    }
    case READ_FE:
    case WAIT_CHANGE: {
      plexus_array a;
      MUST(plexus_array_open(r, n, 1, 0, &a)); /* EMPTY */
      b.id = a.id;
      break;
    }
    case WRITE_EF: {
      plexus_array a;
      MUST(plexus_array_open(r, n, 1, PLEXUS_FULL, &a));
      b.id = a.id;
      break;
    }
    case MAP_READ_FE: {
      plexus_map m;
      MUST(plexus_map_open(r, n, 4, 0, &m));
      b.id = m.id;
      break;
    }
    case SUB_NEXT: {
      plexus_sub s;
      MUST(plexus_bus_open(r, n, 4, 0, &bus));
      MUST(plexus_bus_subscribe(bus, PLEXUS_FROM_NOW, &s));
      b.id = s.id;
      break;
    }
    case LOCK: {
      plexus_mutex held, m;
      MUST(plexus_region_open(created_region, NULL, &holder));
      MUST(plexus_mutex_open(holder, n, &held));
      MUST(plexus_mutex_lock(held, 0));
      MUST(plexus_mutex_open(r, n, &m));
      b.id = m.id;
      break;
    }
    case BARRIER: {
      plexus_barrier bar;
      MUST(plexus_barrier_open(r, n, 2, &bar));
      b.id = bar.id;
      break;
    }
    case ACQUIRE: {
      plexus_semaphore s;
      MUST(plexus_semaphore_open(r, n, 1, &s));
      MUST(plexus_semaphore_acquire(s, 0)); /* none left */
      b.id = s.id;
      break;
    }
    case N_BLOCKERS: break;
    }
    pthread_t t;
    MUST(pthread_create(&t, NULL, block, &b) == 0 ? PLEXUS_OK : PLEXUS_E_OS);
    struct timespec moment = {0, 50 * MS};
    nanosleep(&moment, NULL);
    MUST(plexus_region_remove_object(r, n));
    pthread_join(t, NULL);
    if (b.status != PLEXUS_E_REMOVED) {
      fprintf(stderr, "%s blocked in a removed object returned %s, expected PLEXUS_E_REMOVED\n",
              blocker_names[w], plexus_status_name(b.status));
      failures++;
    }
    close_blocked(&b);
    if (bus.id) EXPECT(plexus_bus_close(bus), PLEXUS_OK);
    if (holder.id) MUST(plexus_region_close(holder));
  }
}

static void test_bad_inputs(void) {
  EXPECT_MSG(plexus_region_remove_object(r, NULL), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_remove_object(r, ""), PLEXUS_E_INVALID_ARGUMENT);
  char long_name[98];
  memset(long_name, 'n', 97);
  long_name[97] = '\0';
  EXPECT_MSG(plexus_region_remove_object(r, long_name), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_remove_object(r, "\xff\xfe"), PLEXUS_E_INVALID_ARGUMENT);
  EXPECT_MSG(plexus_region_remove_object(r, "never-created"), PLEXUS_E_NOT_FOUND);
  plexus_region zero = {0};
  EXPECT_MSG(plexus_region_remove_object(zero, "x"), PLEXUS_E_BAD_HANDLE);
  /* An object handle is not a region handle. */
  plexus_array a;
  MUST(plexus_array_open(r, "rm-bad", 1, 0, &a));
  EXPECT_MSG(plexus_region_remove_object((plexus_region){a.id}, "rm-bad"),
             PLEXUS_E_BAD_HANDLE);
  MUST(plexus_array_close(a));
  MUST(plexus_region_remove_object(r, "rm-bad"));
  /* A closed region handle. */
  plexus_region r2;
  MUST(plexus_region_open(created_region, NULL, &r2));
  MUST(plexus_region_close(r2));
  EXPECT_MSG(plexus_region_remove_object(r2, "x"), PLEXUS_E_BAD_HANDLE);
}

/* The region itself was removed: PLEXUS_E_REMOVED. */
static void test_removed_region(void) {
  char other[sizeof created_region + 8];
  snprintf(other, sizeof other, "%s-gone", created_region);
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_CREATE;
  o.size = 1 << 20;
  plexus_region g;
  MUST(plexus_region_open(other, &o, &g));
  plexus_array a;
  MUST(plexus_array_open(g, "x", 1, 0, &a));
  MUST(plexus_region_remove(other));
  EXPECT_MSG(plexus_region_remove_object(g, "x"), PLEXUS_E_REMOVED);
  MUST(plexus_region_close(g));
}

int main(void) {
  alarm(120); /* a call that never wakes fails the test instead of hanging it */
  char name[64];
  unique_name(name, sizeof name, "rmobj");
  plexus_region_options o = PLEXUS_REGION_OPTIONS_INIT;
  o.mode = PLEXUS_CREATE;
  o.size = 4 << 20;
  MUST(plexus_region_open(name, &o, &r));
  test_array();
  test_map();
  test_queue();
  test_queue_restart();
  test_bus();
  test_mutex();
  test_barrier();
  test_semaphore();
  test_reopen_gives_the_new_object();
  test_blocked_calls_wake();
  test_bad_inputs();
  test_removed_region();
  /* Everything this test created was removed again. */
  plexus_region_info info;
  MUST(plexus_region_get_info(r, &info));
  if (info.object_count != 0) {
    uint64_t cursor = 0;
    plexus_object_info o;
    bool found = false;
    while (plexus_region_next_object(r, &cursor, &o, &found) == PLEXUS_OK && found)
      fprintf(stderr, "left: %s (%s)\n", o.name, o.kind);
  }
  CHECK(info.object_count == 0);
  MUST(plexus_region_close(r));
  MUST(plexus_region_remove(name));
  return finish("test_remove_object");
}
